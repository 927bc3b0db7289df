import Ledger
import Primitives
import StateTree

/// The ledger state as of a retained canonical height, read from the `state_history` family
/// (Specs/storage.md): for each key, the value the last canonical block at or below `height` wrote. A
/// `StateReader`, so the ledger's typed readers (`LedgerReader`) answer "as of block h" unchanged.
///
/// Reads go through the `ReadView`'s snapshot, so a view and its historical states are one consistent picture.
public struct HistoricalState: StateReader, Sendable {
    public let view: ReadView
    public let height: UInt64

    /// The state as of `height` in `view`; `height` must not be above the view's tip (the caller checks the
    /// retained range).
    public init(view: ReadView, height: UInt64) {
        self.view = view
        self.height = height
    }

    /// The value of `key` after block `height`, nil when absent then.
    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        let prefix = ChainSchema.historyKeyPrefix(key)
        let it = try view.database.makeIterator(view.columns.history, lowerBound: prefix,
                                                upperBound: prefix + KeyBytes.be64(height) + [0], snapshot: view.snapshot)
        it.seekToLast()
        try it.checkStatus()
        guard let value = it.value() else { return nil }
        return try Self.decodeValue(value, key: it.key() ?? [])
    }

    /// Entries under `prefix` present after block `height`, ascending, strictly after `after`, at most `limit`.
    /// Walks every key that has history under `prefix` (deleted ones too) until `limit` entries are found: callers
    /// serving untrusted requests use the budgeted form.
    public func scan(prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StorageError) -> [KeyValue] {
        try scan(prefix: prefix, after: after, limit: limit, visitBudget: .max).entries
    }

    /// `scan`, examining at most `visitBudget` keys with history under `prefix`, whether present at `height` or
    /// not: the history holds every key written since the retained range began (on an archive node, every ticket
    /// ever drawn), most of them deleted by `height`, and each costs two seeks.
    public func scan(prefix: [UInt8], after: [UInt8]?, limit: Int, visitBudget: Int) throws(StorageError) -> BoundedScan {
        guard limit > 0 else { return BoundedScan(entries: [], visited: 0, stoppedAfter: nil) }
        let budget = max(1, visitBudget)
        let it = try view.database.makeIterator(view.columns.history, prefix: ChainSchema.escapedPrefix(prefix), snapshot: view.snapshot)
        // Past every entry of `after` (heights are 8 bytes; FF × 9 is above them all).
        if let after { it.seek(ChainSchema.historyKeyPrefix(after) + [UInt8](repeating: 0xFF, count: 9)) } else { it.seekToFirst() }
        var out = [KeyValue]()
        var visited = 0
        var last: [UInt8]?
        while out.count < limit, visited < budget, let raw = it.key() {
            guard let (key, _) = ChainSchema.decodeHistoryKey(raw) else {
                throw .corruptRecord(record: "state history", key: raw, detail: "not a history key")
            }
            visited += 1
            last = key
            let keyPrefix = ChainSchema.historyKeyPrefix(key)
            // The key's last entry at or below `height` (none: the key did not exist yet).
            it.seekForPrev(keyPrefix + KeyBytes.be64(height))
            if let found = it.key(), found.count == keyPrefix.count + 8, found.starts(with: keyPrefix), let value = it.value(),
               let v = try Self.decodeValue(value, key: found) {
                out.append(KeyValue(key: key, value: v))
            }
            it.seek(keyPrefix + [UInt8](repeating: 0xFF, count: 9))
        }
        try it.checkStatus()
        // Stopped by the budget with keys left: resume after the last key examined.
        let more = out.count < limit && visited == budget && it.key() != nil
        return BoundedScan(entries: out, visited: visited, stoppedAfter: more ? last : nil)
    }

    static func decodeValue(_ bytes: [UInt8], key: [UInt8]) throws(StorageError) -> [UInt8]? {
        switch bytes.first {
        case 0 where bytes.count == 1: return nil
        case 1: return Array(bytes.dropFirst())
        default: throw .corruptRecord(record: "state history", key: key, detail: "value is neither 00 nor 01 ‖ value")
        }
    }
}

extension ReadView {
    /// The state as of canonical height `height` (the latest state itself at the tip).
    public func state(at height: UInt64) -> HistoricalState { HistoricalState(view: self, height: height) }

    /// The state tree's root at version `height` (the `stateRoot` of canonical block `height`).
    public func stateTreeRoot(height: UInt64) throws -> Hash32 {
        try StateTree.rootHash(treeReader(), version: height)
    }

    /// A proof of `key`'s value (or absence) in the state tree's version `height`, against block `height`'s
    /// `stateRoot` (Specs/state-tree.md §3). Throws `StateTreeError.missingNode` when the version is not stored.
    public func stateProof(height: UInt64, key: [UInt8]) throws -> StateProof {
        try StateTree.proof(treeReader(), version: height, keyHash: TreeHash.key(key))
    }

    func treeReader() throws(StorageError) -> RocksTreeReader {
        RocksTreeReader(database: database, nodes: try database.columnFamily(StateTreeSchema.Family.nodes), snapshot: snapshot)
    }
}

import Primitives
import StateTree

/// The state tree's on-disk layout (Specs/state-tree.md section 6 is normative; this must match it).
public enum StateTreeSchema {
    /// Column family names.
    public enum Family {
        /// Node key (`BE64(version) ‖ nibble path`) → encoded node.
        public static let nodes = "tree_nodes"
        /// `BE64(version)` → the list of nodes that version made stale, for pruning.
        public static let stale = "tree_stale"
    }

    /// The tree's column families. Nodes are written by the thousand per block and read at random (heavy);
    /// the stale index is appended in order and scanned only by pruning.
    public static let columnFamilies: [ColumnFamilyDescriptor] = [
        ColumnFamilyDescriptor(Family.nodes, profile: .heavyUnfiltered),
        ColumnFamilyDescriptor(Family.stale),
    ]

    /// Stale-index key of a version. One record per version (not one per node): a block makes thousands
    /// of nodes stale, and one value costs one memtable insert instead of thousands.
    public static func staleKey(_ version: UInt64) -> [UInt8] { KeyBytes.be64(version) }

    /// Most node keys in one stale record (a version replacing or deleting every node of a huge tree).
    public static let maxStaleNodesPerVersion = 1 << 28

    /// Stale record: `len n ‖ n node keys` in storage-key form, ascending as the update produced them.
    public static func encodeStale(_ keys: [NodeKey]) -> [UInt8] {
        var w = CanonicalWriter(capacity: 4 + keys.count * 40)
        w.list(keys)
        return w.bytes
    }

    /// Strict inverse of `encodeStale`.
    static func decodeStale(_ bytes: [UInt8], key: [UInt8]) throws(StorageError) -> [NodeKey] {
        do {
            var r = CanonicalReader(bytes)
            let keys = try r.list("stale nodes", max: maxStaleNodesPerVersion, minElementSize: 9) {
                (r: inout CanonicalReader) throws(CodecError) -> NodeKey in try NodeKey(from: &r)
            }
            try r.finish()
            return keys
        } catch {
            throw .corruptRecord(record: "state tree stale index", key: key, detail: error.description)
        }
    }

    /// `[BE64(version), BE64(version + 1))`: every key of one version in either family. The upper bound
    /// of the last version is `BE64(max) ‖ FF`, above every key of that version.
    static func versionRange(_ version: UInt64) -> (from: [UInt8], to: [UInt8]) {
        let from = KeyBytes.be64(version)
        return (from, version == .max ? from + [0xFF] : KeyBytes.be64(version + 1))
    }
}

/// Reads tree nodes from RocksDB, optionally through a snapshot (so a proof walk sees one consistent
/// version even while blocks are committed).
public struct RocksTreeReader: TreeNodeReader, Sendable {
    let database: Database
    let nodes: ColumnFamily
    let snapshot: DatabaseSnapshot?

    /// The stored node, nil when absent; an undecodable record is `StorageError.corruptRecord`.
    public func node(_ key: NodeKey) throws -> TreeNode? {
        let k = key.storageKey
        return try Self.decode(try database.get(nodes, k, snapshot: snapshot), key: k)
    }

    /// One batched RocksDB lookup (`multiGet`) for all of `keys`: the update prefetches a whole level
    /// of the tree at a time this way.
    public func nodes(_ keys: [NodeKey]) throws -> [TreeNode?] {
        let raw = keys.map(\.storageKey)
        let values = try database.multiGet(nodes, raw, snapshot: snapshot)
        var out: [TreeNode?] = []
        out.reserveCapacity(keys.count)
        for (k, v) in zip(raw, values) { out.append(try Self.decode(v, key: k)) }
        return out
    }

    private static func decode(_ bytes: [UInt8]?, key: [UInt8]) throws(StorageError) -> TreeNode? {
        guard let bytes else { return nil }
        do {
            return try TreeNode(canonicalEncoding: bytes)
        } catch {
            throw .corruptRecord(record: "state tree node", key: key, detail: error.description)
        }
    }
}

/// The state tree persisted in RocksDB: a node store for `StateTree`'s pure algorithms.
///
/// Writes go into a caller's `WriteBatch`, so a block's tree update is part of the block's single atomic
/// batch (nodes, stale index, state, undo, indexes, tip): after a crash the tree is at the same block as
/// everything else. A revert is two range deletions in the revert batch. Pruning deletes what the stale
/// index lists, never anything a retained version uses.
///
/// One writer (the chain's), many readers; `Sendable` because `Database` is thread-safe.
public final class StateTreeStore: Sendable {
    /// The database holding the tree's column families (normally the chain store's).
    public let database: Database
    let nodes: ColumnFamily
    let stale: ColumnFamily
    /// The nodes of the latest committed versions, which the next update reads first (`remember(committed:)`).
    let recent: RecentTreeNodes

    /// A tree store over `database`, which must have been opened with `StateTreeSchema.columnFamilies`, keeping up
    /// to `recentNodes` nodes of the latest committed versions in memory for the next updates.
    public init(database: Database, recentNodes: Int = 0) throws(StorageError) {
        self.database = database
        nodes = try database.columnFamily(StateTreeSchema.Family.nodes)
        stale = try database.columnFamily(StateTreeSchema.Family.stale)
        recent = RecentTreeNodes(capacity: recentNodes)
    }

    /// Keeps `batch`'s nodes in memory for the next updates: call once its write batch is written. Whatever deletes
    /// or replaces stored nodes here (`deleteNodes`, so `revert`; `ingest`) forgets them all, since a later commit
    /// may write the same node keys again.
    public func remember(committed batch: TreeBatch) { recent.remember(batch) }

    /// A reader of the latest written nodes, or of `snapshot`.
    public func reader(snapshot: DatabaseSnapshot? = nil) -> RocksTreeReader {
        RocksTreeReader(database: database, nodes: nodes, snapshot: snapshot)
    }

    /// What version `version` writes when `updates` (sorted by key hash) are applied to version `base`
    /// (nil: the empty tree), computed from the latest written nodes. Nothing is written. `parallel`
    /// updates the root's subtrees concurrently (same result; worth it for thousands of updates).
    public func prepare(base: UInt64?, version: UInt64, updates: [TreeUpdate], parallel: Bool = false) throws -> TreeBatch {
        let reader = RecentFirstTreeReader(recent: recent, base: reader())
        return parallel
            ? try StateTree.applyParallel(reader, base: base, version: version, updates: updates)
            : try StateTree.apply(reader, base: base, version: version, updates: updates)
    }

    /// Bulk-loads `batch`'s nodes by SST ingestion (`Database.ingest`): for a version built from nothing (a state
    /// snapshot), which has no stale-index entries. Not atomic with any write batch.
    public func ingest(_ batch: TreeBatch) throws(StorageError) {
        precondition(batch.staleNodes.isEmpty, "ingestion is for versions built from the empty tree")
        recent.forgetAll()
        let sorted = batch.nodes.map { (key: $0.key.storageKey, node: $0.node) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        try database.ingest(nodes, count: sorted.count) { (sorted[$0].key, sorted[$0].node.canonicalEncoding) }
    }

    /// Adds to `writeBatch` the deletion of every node of `version` (a revert, or recovering from an interrupted
    /// snapshot load): one point deletion per stored node, the keys with the prefix `BE64(version)`. Not a range
    /// deletion: `tree_nodes` keeps memtable insert hints (`ColumnFamilyProfile.insertHints`). Reading the version's
    /// keys costs a scan, once per revert or interrupted snapshot load, both rare.
    public func deleteNodes(version: UInt64, into writeBatch: WriteBatch) throws(StorageError) {
        recent.forgetAll()
        let prefix = KeyBytes.be64(version)
        let it = try database.makeIterator(nodes, prefix: prefix)
        it.seek(prefix)
        while it.isValid {
            it.withKey { writeBatch.delete(nodes, key: $0) }
            it.next()
        }
        try it.checkStatus()
    }

    /// Adds `batch`'s nodes and stale-index entries to `writeBatch`.
    public func write(_ batch: TreeBatch, into writeBatch: WriteBatch) {
        // In storage-key order: the builder emits nodes children first, and a memtable insert that follows the
        // previous key reuses its skip-list position (unsorted inserts cost about twice as much). `NodeKey`'s
        // order is its storage key's byte order, so the keys sort as plain values (with the nodes' positions,
        // not the nodes, moved by the sort), and each key and node is encoded into one reused buffer.
        var order = [(key: NodeKey, index: Int)]()
        order.reserveCapacity(batch.nodes.count)
        for (i, w) in batch.nodes.enumerated() { order.append((w.key, i)) }
        order.sort { $0.key < $1.key }
        var key = CanonicalWriter(capacity: 48), value = CanonicalWriter(capacity: 5 + 16 * 40)
        for (nodeKey, i) in order {
            key.reset()
            nodeKey.encode(to: &key)
            value.reset()
            batch.nodes[i].node.encode(to: &value)
            key.bytes.withUnsafeBytes { k in value.bytes.withUnsafeBytes { v in writeBatch.put(nodes, key: k, value: v) } }
        }
        if !batch.staleNodes.isEmpty {
            writeBatch.put(stale, StateTreeSchema.staleKey(batch.version), StateTreeSchema.encodeStale(batch.staleNodes))
        }
    }

    /// Adds to `writeBatch` the deletion of everything version `version` wrote (it must be the newest
    /// version): its nodes and its stale-index entries. The nodes it had made stale are live again.
    public func revert(version: UInt64, into writeBatch: WriteBatch) throws(StorageError) {
        try deleteNodes(version: version, into: writeBatch)
        writeBatch.delete(stale, StateTreeSchema.staleKey(version))
    }

    /// Adds to `writeBatch` the deletion of the nodes that no version `≥ keepFrom` uses (the stale records
    /// of versions `≤ keepFrom`), whole records at a time until at least `limit` nodes (or none are left),
    /// and of those records; returns how many records (versions) and nodes. Write the batch before calling
    /// again (records are found by reading the database). `keepFrom` must not exceed the finalized height,
    /// or a revert could find its parent version incomplete.
    public func pruneStep(
        keepingFrom keepFrom: UInt64, limit: Int, into writeBatch: WriteBatch
    ) throws(StorageError) -> (versions: Int, nodes: Int) {
        guard limit > 0 else { return (0, 0) }
        let upper = StateTreeSchema.versionRange(keepFrom).to
        let it = try database.makeIterator(stale, lowerBound: nil, upperBound: upper)
        it.seekToFirst()
        var versions = 0, n = 0
        while n < limit, let key = it.key(), let value = it.value() {
            guard key.count == 8 else {
                throw StorageError.corruptRecord(record: "state tree stale index", key: key, detail: "key is not 8 bytes")
            }
            let keys = try StateTreeSchema.decodeStale(value, key: key)
            for node in keys { writeBatch.delete(nodes, node.storageKey) }
            writeBatch.delete(stale, key)
            versions += 1
            n += keys.count
            it.next()
        }
        try it.checkStatus()
        return (versions, n)
    }

    /// Deletes every node no version `≥ keepFrom` uses, in batches of whole stale records of about `chunk`
    /// nodes, each one atomic (a record and its nodes go together, so an interrupted prune simply resumes).
    /// Returns the number of nodes deleted.
    @discardableResult
    public func prune(keepingFrom keepFrom: UInt64, chunk: Int = 10_000, sync: Bool = false) throws(StorageError) -> Int {
        var total = 0
        while true {
            let batch = try database.makeWriteBatch()
            let step = try pruneStep(keepingFrom: keepFrom, limit: chunk, into: batch)
            if step.versions == 0 { return total }
            try database.write(batch, sync: sync)
            total += step.nodes
        }
    }

    /// The root hash of version `version`.
    public func rootHash(version: UInt64, snapshot: DatabaseSnapshot? = nil) throws -> Hash32 {
        try StateTree.rootHash(reader(snapshot: snapshot), version: version)
    }

    /// A proof for `keyHash` in version `version`.
    public func proof(version: UInt64, keyHash: Hash32, snapshot: DatabaseSnapshot? = nil) throws -> StateProof {
        try StateTree.proof(reader(snapshot: snapshot), version: version, keyHash: keyHash)
    }
}

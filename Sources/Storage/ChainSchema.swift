import Primitives

/// The chain store's on-disk layout (Specs/storage.md is normative; this file must match it).
public enum ChainSchema {
    /// The layout version this build reads and writes. Any change to a key or value layout below bumps
    /// it; a database with another version is refused at open rather than misread.
    /// Version 4 also marks the ledger's own state layout of `Specs/state-machine.md` §1 (per-height queue records,
    /// no index entries): a version-3 store holds state this build would misread. Version 5 adds the `side_blocks`
    /// index (side blocks that fork below finality are deleted): a version-4 store's side blocks are not indexed.
    /// Version 6: the validator snapshot records (`schedule`, `nextSchedule`, checkpoint sets) carry a removed flag per
    /// entry (Specs/state-machine.md §5): a version-5 store's snapshots do not decode.
    public static let version: UInt32 = 6

    /// Column family names.
    public enum Family {
        /// Metadata records (schema version, genesis, tip, finalized height), ASCII keys.
        public static let meta = "meta"
        /// Ledger state: the ledger's own keys and values, byte for byte.
        public static let state = "state"
        /// Block hash → header bytes (canonical and side blocks).
        public static let headers = "headers"
        /// Block hash → body bytes (canonical and side blocks).
        public static let bodies = "bodies"
        /// Block hash → receipts bytes (canonical blocks only).
        public static let receipts = "receipts"
        /// Block hash → height and parent (canonical and side blocks).
        public static let blocks = "blocks"
        /// Height (8 bytes big-endian) → block hash of the canonical chain.
        public static let canonical = "canonical"
        /// Transaction hash → location (block hash, height, position) on the canonical chain.
        public static let txIndex = "tx_index"
        /// Address ‖ height BE ‖ position BE → transaction hash, canonical chain only.
        public static let addressIndex = "address_index"
        /// Address ‖ height BE ‖ receipt BE ‖ event BE → event summary (kind, pool, worker, transaction):
        /// every event of a canonical block that touches the address (schema version 2).
        public static let addressEvents = "address_events"
        /// Height BE ‖ block hash → undo record of a canonical block above the finalized height.
        public static let undo = "undo"
        /// `historyKey(state key, height)` → the value a canonical block wrote (`01 ‖ value`, or `00` for a
        /// deletion): the state as of any retained height.
        public static let history = "state_history"
        /// `BE64(height)` → the list of state keys canonical block `height` wrote: what pruning the history at
        /// that height deletes below it.
        public static let historyChanges = "history_changes"
        /// `BE64(height) ‖ block hash` → empty: every stored block that is not canonical (side blocks and reverted
        /// blocks), so the ones at or below the finalized height, which can never become canonical, are deleted.
        public static let sideBlocks = "side_blocks"
    }

    /// Every column family of a chain store, with its tuning profile.
    public static let columnFamilies: [ColumnFamilyDescriptor] = [
        ColumnFamilyDescriptor(Family.meta),
        ColumnFamilyDescriptor(Family.state, profile: .heavy),
        ColumnFamilyDescriptor(Family.headers),
        ColumnFamilyDescriptor(Family.bodies),
        ColumnFamilyDescriptor(Family.receipts),
        ColumnFamilyDescriptor(Family.blocks),
        ColumnFamilyDescriptor(Family.canonical),
        ColumnFamilyDescriptor(Family.txIndex),
        ColumnFamilyDescriptor(Family.addressIndex),
        ColumnFamilyDescriptor(Family.addressEvents),
        ColumnFamilyDescriptor(Family.undo),
        ColumnFamilyDescriptor(Family.history, profile: .heavyUnfiltered),
        ColumnFamilyDescriptor(Family.historyChanges),
        ColumnFamilyDescriptor(Family.sideBlocks),
    ] + StateTreeSchema.columnFamilies

    /// Keys of the `meta` column family.
    public enum MetaKey {
        /// Value: u32 LE schema version.
        public static let schema = Array("schema".utf8)
        /// Value: 32-byte genesis hash (chain identity) the database was created for.
        public static let genesis = Array("genesis".utf8)
        /// Value: tip hash (32) ‖ tip height (u64 LE). Absent before genesis is committed.
        public static let tip = Array("tip".utf8)
        /// Value: finalized height (u64 LE). Absent until a commit sets it.
        public static let finalized = Array("finalized".utf8)
        /// Value: the lowest height whose state is retained (u64 LE): history and tree versions below it are
        /// pruned. Absent: nothing pruned (everything from genesis is retained).
        public static let stateRetainedFrom = Array("state-retained-from".utf8)
        /// Value: the lowest height above genesis whose block is stored (u64 LE), set by a snapshot import (state
        /// sync): blocks `1 ..< value` are absent. Absent: every block from genesis is stored.
        public static let earliestBlock = Array("earliest-block".utf8)
        /// Value: the height (u64 LE) of a snapshot being loaded (`ChainStore.importSnapshot`): set before its state,
        /// history and tree are ingested, deleted by the batch that completes the import. Present at open: the load
        /// was interrupted, and `recoverInterruptedSnapshotImport` restores the genesis-only store.
        public static let snapshotImport = Array("snapshot-import".utf8)
    }

    /// A state key in the history family's order-preserving, prefix-free form: each `00` byte becomes `00 FF`,
    /// and `00 01` ends the key. So the entries of one key sit together, ascending by height, keys in the
    /// state's own order, and a state prefix `p` is the history prefix `escapedPrefix(p)`.
    public static func historyKeyPrefix(_ key: [UInt8]) -> [UInt8] { escapedPrefix(key) + [0x00, 0x01] }

    /// A state prefix escaped like a key, without the terminator (every key under it starts with the result).
    public static func escapedPrefix(_ prefix: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(prefix.count + 2)
        for b in prefix {
            out.append(b)
            if b == 0 { out.append(0xFF) }
        }
        return out
    }

    /// A `history_changes` record: the canonical list of the written keys (each `bytes`).
    public static func encodeKeyList(_ keys: [[UInt8]]) -> [UInt8] {
        var w = CanonicalWriter(capacity: 4 + keys.reduce(0) { $0 + $1.count + 2 })
        w.length(keys.count)
        for k in keys { w.bytes(k) }
        return w.bytes
    }

    /// Strict inverse of `encodeKeyList`.
    static func decodeKeyList(_ bytes: [UInt8], key: [UInt8]) throws(StorageError) -> [[UInt8]] {
        do {
            var r = CanonicalReader(bytes)
            let n = try r.length("keys", max: StorageLimits.maxWriteSetEntries, minElementSize: 1)
            var out = [[UInt8]]()
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try r.bytes("key", max: StorageLimits.maxStateKeyBytes)) }
            try r.finish()
            return out
        } catch {
            throw .corruptRecord(record: "history changes", key: key, detail: error.description)
        }
    }

    /// Key of the `state_history` family: `historyKeyPrefix(key) ‖ BE64(height)`.
    public static func historyKey(_ key: [UInt8], height: UInt64) -> [UInt8] { historyKeyPrefix(key) + KeyBytes.be64(height) }

    /// The state key and height of a history key; nil when it is not one.
    public static func decodeHistoryKey(_ bytes: [UInt8]) -> (key: [UInt8], height: UInt64)? {
        guard bytes.count >= 10 else { return nil }
        var key = [UInt8]()
        var i = 0
        let end = bytes.count - 8
        while i < end {
            let b = bytes[i]
            if b != 0 { key.append(b); i += 1; continue }
            guard i + 1 < end else { return nil }
            switch bytes[i + 1] {
            case 0xFF: key.append(0); i += 2
            case 0x01: return i + 2 == end ? (key, UInt64(bigEndianBytes: bytes[end...])) : nil
            default: return nil
            }
        }
        return nil
    }

    /// Key of the `canonical` column family: the height, big-endian so heights sort numerically.
    public static func canonicalKey(_ height: UInt64) -> [UInt8] { KeyBytes.be64(height) }

    /// Key of the `undo` column family: height BE ‖ block hash (height first, so pruning everything at or
    /// below the finalized height is one range deletion).
    public static func undoKey(height: UInt64, hash: Hash32) -> [UInt8] {
        var k = KeyBytes.be64(height)
        k.append(contentsOf: hash.bytes)
        return k
    }

    /// Key of the `side_blocks` column family: height BE ‖ block hash (height first: the side blocks at or below
    /// the finalized height are one bounded scan).
    public static func sideBlockKey(height: UInt64, hash: Hash32) -> [UInt8] { undoKey(height: height, hash: hash) }

    /// Key of the `address_index` column family: address ‖ height BE ‖ position BE (44 bytes), so one
    /// address's transactions are contiguous and ordered by chain position.
    public static func addressKey(_ address: Hash32, height: UInt64, position: UInt32) -> [UInt8] {
        var k = address.bytes
        k.reserveCapacity(44)
        k.append(contentsOf: KeyBytes.be64(height))
        k.append(contentsOf: KeyBytes.be32(position))
        return k
    }

    /// Length of an address index key.
    public static let addressKeyLength = 44

    /// Key of the `address_events` column family: address ‖ height BE ‖ receipt index BE ‖ event index BE
    /// (48 bytes), so one address's events are contiguous and ordered by chain position (block, then the
    /// receipt in block order, the block-processing receipt last, then the event within its receipt).
    public static func addressEventKey(_ address: Hash32, height: UInt64, receipt: UInt32, event: UInt32) -> [UInt8] {
        var k = address.bytes
        k.reserveCapacity(addressEventKeyLength)
        k.append(contentsOf: KeyBytes.be64(height))
        k.append(contentsOf: KeyBytes.be32(receipt))
        k.append(contentsOf: KeyBytes.be32(event))
        return k
    }

    /// Length of an address event key.
    public static let addressEventKeyLength = 48
}

/// Bounds on what one commit may contain, so every undo record this store writes is decodable by the
/// strict reader with these same maximums (a commit over a limit is refused before anything is written).
public enum StorageLimits {
    /// Longest state key.
    public static let maxStateKeyBytes = 4096
    /// Longest state value.
    public static let maxStateValueBytes = 64 << 20
    /// Most state entries in one block's write set.
    public static let maxWriteSetEntries = 1 << 24
    /// Most transactions in one block.
    public static let maxTransactionsPerBlock = 1 << 20
    /// Most indexed addresses per transaction.
    public static let maxAddressesPerTransaction = 1024
    /// Most address-event index entries in one block.
    public static let maxAddressEventsPerBlock = 1 << 22
}

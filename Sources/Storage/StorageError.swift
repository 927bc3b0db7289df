import Primitives

/// Every failure the Storage module reports. Nothing in this module traps on bad input, bad disk
/// contents or RocksDB errors; each becomes one of these cases, carrying the RocksDB message and the
/// path or record involved so an operator can act on it.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// RocksDB refused to open the database (bad path, permissions, corruption, incompatible options).
    case openFailed(path: String, message: String)
    /// The database directory is locked by another open handle, in this process or another one.
    case locked(path: String, message: String)
    /// A RocksDB call failed after the database was open.
    case rocksdb(operation: String, message: String)
    /// The database was closed; no further operation is possible on this handle.
    case closed(path: String)
    /// `close()` was called while iterators, snapshots or write batches were still alive.
    case busy(path: String, liveResources: Int)
    /// A column family name that was not opened.
    case unknownColumnFamily(String)
    /// A stored record failed strict decoding: the bytes on disk are not what this version wrote.
    case corruptRecord(record: String, key: [UInt8], detail: String)
    /// A record that must exist (by the store's own invariants) is missing.
    case missingRecord(record: String, key: [UInt8])
    /// The database was created for another chain.
    case genesisMismatch(path: String, stored: Hash32, expected: Hash32)
    /// The database was written by a schema version this build does not understand.
    case schemaMismatch(path: String, stored: UInt32, supported: UInt32)
    /// The directory holds a RocksDB database that is not a chain store (no schema record, not empty).
    case notAChainStore(path: String)
    /// A block that does not extend the current tip (wrong parent or height).
    case notExtendingTip(expectedParent: Hash32?, expectedHeight: UInt64, parent: Hash32, height: UInt64)
    /// Reverting is impossible: the chain is empty, the tip is genesis, or the tip is finalized.
    case cannotRevert(height: UInt64, reason: String)
    /// A finalized height that goes backwards or beyond the block being committed.
    case invalidFinalizedHeight(requested: UInt64, current: UInt64?, blockHeight: UInt64)
    /// A block hash already stored with another height or parent (a hash names one block only).
    case conflictingBlock(hash: Hash32, stored: BlockInfo, given: BlockInfo)
    /// A key, value or list longer than the limits undo records are decoded with.
    case limitExceeded(what: String, size: Int, limit: Int)
    /// A write batch held a range deletion on a column family whose memtables keep insert hints
    /// (`ColumnFamilyProfile.insertHints`); the batch was not written.
    case rangeDeletionRefused(family: String)

    public var description: String {
        switch self {
        case .openFailed(let path, let message):
            return "cannot open RocksDB database at '\(path)': \(message)"
        case .locked(let path, let message):
            return "database at '\(path)' is already open (locked by another handle or process): \(message)"
        case .rocksdb(let operation, let message):
            return "RocksDB \(operation) failed: \(message)"
        case .closed(let path):
            return "database at '\(path)' is closed"
        case .busy(let path, let live):
            return "cannot close database at '\(path)': \(live) iterators, snapshots or write batches are still alive"
        case .unknownColumnFamily(let name):
            return "column family '\(name)' is not open"
        case .corruptRecord(let record, let key, let detail):
            return "corrupt \(record) record at key \(Hex.encode(key)): \(detail)"
        case .missingRecord(let record, let key):
            return "missing \(record) record at key \(Hex.encode(key))"
        case .genesisMismatch(let path, let stored, let expected):
            return "database at '\(path)' belongs to genesis \(stored), not \(expected); use another data directory"
        case .schemaMismatch(let path, let stored, let supported):
            return "database at '\(path)' has storage schema version \(stored); this build supports version \(supported) "
                + "(move the directory aside and start again: the node syncs the chain from its peers)"
        case .notAChainStore(let path):
            return "database at '\(path)' is not a sharechain chain store (no schema record, but not empty)"
        case .notExtendingTip(let expectedParent, let expectedHeight, let parent, let height):
            let want = expectedParent.map { "parent \($0) at height \(expectedHeight)" } ?? "genesis (height 0, parent zero)"
            return "block at height \(height) with parent \(parent) does not extend the tip: expected \(want)"
        case .cannotRevert(let height, let reason):
            return "cannot revert block at height \(height): \(reason)"
        case .invalidFinalizedHeight(let requested, let current, let blockHeight):
            let cur = current.map(String.init) ?? "none"
            return "invalid finalized height \(requested): current \(cur), block height \(blockHeight) (must not decrease nor pass the block)"
        case .conflictingBlock(let hash, let stored, let given):
            return "block \(hash) is stored at height \(stored.height) with parent \(stored.parent), not height \(given.height) with parent \(given.parent)"
        case .limitExceeded(let what, let size, let limit):
            return "\(what) of \(size) exceeds the limit \(limit)"
        case .rangeDeletionRefused(let family):
            return "range deletion on column family '\(family)' refused: its memtables keep insert hints (delete its keys one by one)"
        }
    }
}

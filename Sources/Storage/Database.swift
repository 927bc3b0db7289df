import CRocksDB
import Ledger
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A column family of one open `Database`, obtained from `Database.columnFamily(_:)`.
public struct ColumnFamily: Sendable, Hashable, CustomStringConvertible {
    /// The column family's name.
    public let name: String
    let index: Int
    let databaseID: UInt64
    /// Whether its memtables keep insert hints (`RocksOptionObjects.insertHintOption`): such a family takes no
    /// range deletions (`WriteBatch.deleteRange` refuses them).
    let insertHints: Bool

    public var description: String { name }
}

/// Hands out a distinct id to every opened database, so a `ColumnFamily` of one database is rejected by
/// another instead of indexing its handle table.
private let nextDatabaseID = Atomic<UInt64>(1)

/// The raw RocksDB handles of an open database.
final class OpenHandles {
    let db: OpaquePointer
    let columnFamilies: [OpaquePointer]
    let readOptions: OpaquePointer
    let syncWrite: OpaquePointer
    let asyncWrite: OpaquePointer
    let options: RocksOptionObjects

    init(db: OpaquePointer, columnFamilies: [OpaquePointer], options: RocksOptionObjects) {
        self.db = db
        self.columnFamilies = columnFamilies
        self.options = options
        readOptions = rocksdb_readoptions_create()
        syncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()
    }

    /// Orderly close: option objects, then column family handles, then the database itself. The option
    /// objects (block cache included) are released by ARC after this returns.
    func close() {
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
        for cf in columnFamilies { rocksdb_column_family_handle_destroy(cf) }
        rocksdb_close(db)
    }
}

/// One RocksDB database opened with its column families.
///
/// Concurrency: every method may be called from any thread; RocksDB is internally synchronized. A
/// reader-writer lock makes `close()` wait for operations in flight, after which every call throws
/// `StorageError.closed` instead of touching freed memory. Iterators, snapshots and write batches keep
/// the database alive and count as live resources: `close()` refuses (`busy`) while any exists, and the
/// database also closes itself when its last reference goes away.
///
/// `@unchecked Sendable`: the only mutable state, `open`, is written solely under the exclusive lock and
/// read under the shared lock; the live-resource counter is atomic.
public final class Database: @unchecked Sendable {
    /// The directory the database lives in.
    public let path: String
    /// Every open column family, in handle order (existing ones first, then the ones created).
    public let columnFamilyNames: [String]
    /// Per column family (handle order), whether its memtables keep insert hints.
    let insertHints: [Bool]

    let id: UInt64
    let live = Atomic<Int>(0)
    /// The first write batch RocksDB refused (see `writeFailure`).
    let firstWriteFailure = Mutex<StorageError?>(nil)
    private let lock = ReadWriteLock()
    private var open: OpenHandles?

    private init(path: String, names: [String], insertHints: [Bool], handles: OpenHandles) {
        self.path = path
        self.columnFamilyNames = names
        self.insertHints = insertHints
        self.open = handles
        self.id = nextDatabaseID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    deinit {
        // Last reference: no operation, iterator or snapshot can exist any more.
        open?.close()
    }

    /// Opens (creating if missing) the database at `path` with `columnFamilies`. Column families that
    /// already exist on disk are always opened too (RocksDB requires it); missing ones are created.
    public static func open(
        path: String, columnFamilies: [ColumnFamilyDescriptor], options: DatabaseOptions = DatabaseOptions()
    ) throws(StorageError) -> Database {
        let objects = RocksOptionObjects(options)
        let existing = try listColumnFamilies(path: path, options: objects.db)

        var names = existing
        if !names.contains("default") { names.insert("default", at: 0) }
        for d in columnFamilies where !names.contains(d.name) { names.append(d.name) }
        let profiles = names.map { name in columnFamilies.first { $0.name == name }?.profile ?? .light }

        let cNames = names.map { strdup($0) }
        defer { for p in cNames { free(p) } }
        guard cNames.allSatisfy({ $0 != nil }) else { throw StorageError.openFailed(path: path, message: "out of memory") }
        let constNames: [UnsafePointer<CChar>?] = cNames.map { $0.map { UnsafePointer($0) } }
        let cfOptions: [OpaquePointer?] = profiles.map { objects.options(for: $0) }
        var handles = [OpaquePointer?](repeating: nil, count: names.count)
        var err: UnsafeMutablePointer<CChar>?
        let db = rocksdb_open_column_families(
            objects.db, path, Int32(names.count), constNames, cfOptions, &handles, &err)
        if let message = takeError(&err) { throw classifyOpenError(path: path, message: message) }
        guard let db else { throw StorageError.openFailed(path: path, message: "rocksdb_open_column_families returned no handle") }
        var cfs: [OpaquePointer] = []
        for h in handles {
            guard let h else {
                for c in cfs { rocksdb_column_family_handle_destroy(c) }
                rocksdb_close(db)
                throw StorageError.openFailed(path: path, message: "a column family handle is missing after open")
            }
            cfs.append(h)
        }
        return Database(path: path, names: names, insertHints: profiles.map(\.insertHints), handles: OpenHandles(db: db, columnFamilies: cfs, options: objects))
    }

    /// The column families stored at `path`; none when no database exists there yet.
    private static func listColumnFamilies(path: String, options: OpaquePointer) throws(StorageError) -> [String] {
        // A directory without CURRENT holds no database: RocksDB will create one.
        guard access(path + "/CURRENT", F_OK) == 0 else { return [] }
        var err: UnsafeMutablePointer<CChar>?
        var count = 0
        let list = rocksdb_list_column_families(options, path, &count, &err)
        defer { if let list { rocksdb_list_column_families_destroy(list, count) } }
        if let message = takeError(&err) { throw classifyOpenError(path: path, message: message) }
        guard let list else { return [] }
        return (0..<count).compactMap { i in list[i].map { String(cString: $0) } }
    }

    private static func classifyOpenError(path: String, message: String) -> StorageError {
        // RocksDB reports both the in-process and the cross-process case on the LOCK file.
        if message.contains("/LOCK") || message.lowercased().contains("lock hold") {
            return .locked(path: path, message: message)
        }
        return .openFailed(path: path, message: message)
    }

    /// The handle of an open column family.
    public func columnFamily(_ name: String) throws(StorageError) -> ColumnFamily {
        guard let i = columnFamilyNames.firstIndex(of: name) else { throw .unknownColumnFamily(name) }
        return ColumnFamily(name: name, index: i, databaseID: id, insertHints: insertHints[i])
    }

    /// Closes the database: column family handles first, then the database. Idempotent. Throws `busy`
    /// while iterators, snapshots or write batches are alive (they hold RocksDB objects that must be
    /// released before the database).
    public func close() throws(StorageError) {
        try lock.withWriteLock { () throws(StorageError) in
            guard let h = open else { return }
            let n = live.load(ordering: .acquiring)
            if n > 0 { throw .busy(path: path, liveResources: n) }
            h.close()
            open = nil
        }
    }

    /// The first write batch RocksDB refused (a full disk, an I/O error), nil while every write succeeded. RocksDB
    /// refuses every later write too (its background error stays set until the database is reopened), so an owner
    /// that must keep writing, like a node, stops and is restarted instead of failing every block for ever. Later
    /// `write` calls throw it again without reaching RocksDB.
    public var writeFailure: StorageError? { firstWriteFailure.withLock { $0 } }

    /// Whether `close()` has completed.
    public var isClosed: Bool { lock.withReadLock { open == nil } }

    // MARK: - Internal access

    /// Runs `body` with the open handles, holding the shared lock so `close()` cannot run meanwhile.
    func withOpen<R>(_ body: (OpenHandles) throws(StorageError) -> R) throws(StorageError) -> R {
        try lock.withReadLock { () throws(StorageError) -> R in
            guard let h = open else { throw .closed(path: path) }
            return try body(h)
        }
    }

    func handle(_ cf: ColumnFamily, in h: OpenHandles) throws(StorageError) -> OpaquePointer {
        guard cf.databaseID == id, h.columnFamilies.indices.contains(cf.index) else {
            throw .unknownColumnFamily("\(cf.name) (of another database)")
        }
        return h.columnFamilies[cf.index]
    }

    /// Registers a live iterator, snapshot or batch; `close()` refuses while any exists.
    func retainResource() { live.wrappingAdd(1, ordering: .acquiringAndReleasing) }
    func releaseResource() { live.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
}

/// Reads and clears a RocksDB error string (allocated by RocksDB, freed here).
func takeError(_ err: inout UnsafeMutablePointer<CChar>?) -> String? {
    guard let e = err else { return nil }
    let message = String(cString: e)
    rocksdb_free(e)
    err = nil
    return message
}

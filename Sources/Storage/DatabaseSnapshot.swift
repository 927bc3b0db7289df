import CRocksDB

/// A consistent point-in-time view of a `Database`: every read through it sees the database as it was
/// when the snapshot was taken, whatever is written afterwards.
///
/// `@unchecked Sendable`: the snapshot and its read options are immutable after creation and RocksDB
/// allows concurrent reads through one snapshot; the database cannot close while the snapshot lives
/// (it is counted as a live resource).
public final class DatabaseSnapshot: @unchecked Sendable {
    /// The database the snapshot belongs to (kept alive by it).
    public let database: Database
    let rawDB: OpaquePointer
    let raw: OpaquePointer
    let readOptions: OpaquePointer

    init(database: Database) throws(StorageError) {
        self.database = database
        let (db, snap) = try database.withOpen { (h: OpenHandles) throws(StorageError) -> (OpaquePointer, OpaquePointer) in
            guard let s = rocksdb_create_snapshot(h.db) else {
                throw StorageError.rocksdb(operation: "create snapshot", message: "no snapshot returned")
            }
            database.retainResource()
            return (h.db, s)
        }
        rawDB = db
        raw = snap
        readOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(readOptions, raw)
    }

    deinit {
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_release_snapshot(rawDB, raw)
        database.releaseResource()
    }
}

extension Database {
    /// Takes a snapshot for consistent reads.
    public func snapshot() throws(StorageError) -> DatabaseSnapshot {
        try DatabaseSnapshot(database: self)
    }
}

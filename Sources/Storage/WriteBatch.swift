import CRocksDB

/// Operations applied together by `Database.write(_:sync:)`: atomically, in order, across column
/// families. Building a batch touches no disk; nothing is visible until it is written.
///
/// Not thread-safe: build a batch on one thread. It counts as a live resource of its database.
public final class WriteBatch {
    let database: Database
    let raw: OpaquePointer
    private let handles: [OpaquePointer]
    /// Set when an operation named a column family of another database, or range-deleted in a family with insert
    /// hints; `write` then throws it instead of applying a partial batch.
    private(set) var misuse: StorageError?

    init(database: Database) throws(StorageError) {
        self.database = database
        handles = try database.withOpen { (h: OpenHandles) throws(StorageError) -> [OpaquePointer] in
            database.retainResource()
            return h.columnFamilies
        }
        raw = rocksdb_writebatch_create()
    }

    deinit {
        rocksdb_writebatch_destroy(raw)
        database.releaseResource()
    }

    private func handle(_ cf: ColumnFamily) -> OpaquePointer? {
        guard cf.databaseID == database.id, handles.indices.contains(cf.index) else {
            misuse = misuse ?? .unknownColumnFamily("\(cf.name) (of another database)")
            return nil
        }
        return handles[cf.index]
    }

    /// Sets `key` to `value`.
    public func put(_ cf: ColumnFamily, _ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in put(cf, key: k, value: v) } }
    }

    /// Sets the raw `key` bytes to the raw `value` bytes (both copied into the batch).
    public func put(_ cf: ColumnFamily, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let h = handle(cf) else { return }
        rocksdb_writebatch_put_cf(
            raw, h, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
            value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count)
    }

    /// Deletes `key`.
    public func delete(_ cf: ColumnFamily, _ key: [UInt8]) {
        key.withUnsafeBytes { delete(cf, key: $0) }
    }

    /// Deletes the raw `key` bytes.
    public func delete(_ cf: ColumnFamily, key: UnsafeRawBufferPointer) {
        guard let h = handle(cf) else { return }
        rocksdb_writebatch_delete_cf(raw, h, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count)
    }

    /// Deletes every key in `[from, to)`.
    public func deleteRange(_ cf: ColumnFamily, from: [UInt8], to: [UInt8]) {
        guard let h = handle(cf) else { return }
        if cf.insertHints {
            // RocksDB 7.8 would misplace later inserts (ColumnFamilyProfile.insertHints): refuse the whole batch.
            misuse = misuse ?? .rangeDeletionRefused(family: cf.name)
            return
        }
        from.withUnsafeBytes { f in
            to.withUnsafeBytes { t in
                rocksdb_writebatch_delete_range_cf(
                    raw, h, f.baseAddress?.assumingMemoryBound(to: CChar.self), f.count,
                    t.baseAddress?.assumingMemoryBound(to: CChar.self), t.count)
            }
        }
    }

    /// Number of operations in the batch.
    public var count: Int { Int(rocksdb_writebatch_count(raw)) }

    /// Size of the batch's serialized representation in bytes (what the write-ahead log receives).
    public var byteSize: Int {
        var size = 0
        _ = rocksdb_writebatch_data(raw, &size)
        return size
    }

    /// Removes every operation (and any recorded misuse), keeping the allocation for reuse.
    public func clear() {
        rocksdb_writebatch_clear(raw)
        misuse = nil
    }
}

extension Database {
    /// A new, empty write batch for this database.
    public func makeWriteBatch() throws(StorageError) -> WriteBatch {
        try WriteBatch(database: self)
    }
}

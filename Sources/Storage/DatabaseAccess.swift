import CRocksDB
import Ledger

/// Point reads and single writes.
extension Database {
    /// The value at `key`, or nil when absent (an empty value is present and returned as `[]`).
    public func get(_ cf: ColumnFamily, _ key: [UInt8], snapshot: DatabaseSnapshot? = nil) throws(StorageError) -> [UInt8]? {
        try withBytes(key) { (k: UnsafeRawBufferPointer) throws(StorageError) -> [UInt8]? in
            try get(cf, key: k, snapshot: snapshot)
        }
    }

    /// The value at the raw `key` bytes, or nil when absent.
    public func get(_ cf: ColumnFamily, key: UnsafeRawBufferPointer, snapshot: DatabaseSnapshot? = nil) throws(StorageError) -> [UInt8]? {
        try withOpen { (h: OpenHandles) throws(StorageError) -> [UInt8]? in
            let handle = try handle(cf, in: h)
            let ro = try readOptions(snapshot, h)
            var err: UnsafeMutablePointer<CChar>?
            let pinned = rocksdb_get_pinned_cf(
                h.db, ro, handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count, &err)
            if let message = takeError(&err) { throw .rocksdb(operation: "get(\(cf))", message: message) }
            // A null result is "not found"; a found empty value is a non-null slice of length 0.
            guard let pinned else { return nil }
            defer { rocksdb_pinnableslice_destroy(pinned) }
            var length = 0
            let p = rocksdb_pinnableslice_value(pinned, &length)
            return Array(UnsafeRawBufferPointer(start: p, count: length))
        }
    }

    /// The values at `keys`, in the same order, nil where absent; one batched lookup. `sortedInput`
    /// lets RocksDB skip sorting when the keys are already ascending (it is checked, never trusted).
    public func multiGet(
        _ cf: ColumnFamily, _ keys: [[UInt8]], sortedInput: Bool = false, snapshot: DatabaseSnapshot? = nil
    ) throws(StorageError) -> [[UInt8]?] {
        if keys.isEmpty { return [] }
        let sorted = sortedInput && zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) }
        return try withOpen { (h: OpenHandles) throws(StorageError) -> [[UInt8]?] in
            let handle = try handle(cf, in: h)
            let ro = try readOptions(snapshot, h)
            let n = keys.count
            // RocksDB wants an array of key pointers; copying the keys into one buffer gives stable
            // addresses without nesting a closure per key.
            let total = keys.reduce(0) { $0 + $1.count }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(total, 1), alignment: 8)
            let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: n)
            let sizes = UnsafeMutablePointer<Int>.allocate(capacity: n)
            let values = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: n)
            let errors = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: n)
            defer {
                buffer.deallocate(); pointers.deallocate(); sizes.deallocate(); values.deallocate(); errors.deallocate()
            }
            var offset = 0
            for (i, key) in keys.enumerated() {
                let dst = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + key.count)])
                dst.copyBytes(from: key)
                pointers[i] = UnsafePointer(buffer.baseAddress.map { ($0 + offset).assumingMemoryBound(to: CChar.self) })
                sizes[i] = key.count
                offset += key.count
            }
            values.initialize(repeating: nil, count: n)
            errors.initialize(repeating: nil, count: n)
            rocksdb_batched_multi_get_cf(h.db, ro, handle, n, pointers, sizes, values, errors, sorted)

            var out = [[UInt8]?]()
            out.reserveCapacity(n)
            var failure: String?
            for i in 0..<n {
                if errors[i] != nil, let message = takeError(&errors[i]) { failure = failure ?? message }
                if let v = values[i] {
                    var length = 0
                    let p = rocksdb_pinnableslice_value(v, &length)
                    out.append(Array(UnsafeRawBufferPointer(start: p, count: length)))
                    rocksdb_pinnableslice_destroy(v)
                } else {
                    out.append(nil)
                }
            }
            if let failure { throw .rocksdb(operation: "multiGet(\(cf))", message: failure) }
            return out
        }
    }

    /// Writes one key.
    public func put(_ cf: ColumnFamily, _ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws(StorageError) {
        try withOpen { (h: OpenHandles) throws(StorageError) in
            let handle = try handle(cf, in: h)
            var err: UnsafeMutablePointer<CChar>?
            key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    rocksdb_put_cf(
                        h.db, sync ? h.syncWrite : h.asyncWrite, handle,
                        k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                        v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, &err)
                }
            }
            if let message = takeError(&err) { throw .rocksdb(operation: "put(\(cf))", message: message) }
        }
    }

    /// Deletes one key (deleting an absent key is not an error).
    public func delete(_ cf: ColumnFamily, _ key: [UInt8], sync: Bool = false) throws(StorageError) {
        try withOpen { (h: OpenHandles) throws(StorageError) in
            let handle = try handle(cf, in: h)
            var err: UnsafeMutablePointer<CChar>?
            key.withUnsafeBytes { k in
                rocksdb_delete_cf(
                    h.db, sync ? h.syncWrite : h.asyncWrite, handle,
                    k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count, &err)
            }
            if let message = takeError(&err) { throw .rocksdb(operation: "delete(\(cf))", message: message) }
        }
    }

    /// Applies every operation of `batch` atomically: after a crash either all of it is visible or
    /// none. With `sync` the call returns only once the WAL is on stable storage.
    public func write(_ batch: WriteBatch, sync: Bool) throws(StorageError) {
        guard batch.database === self else { throw .unknownColumnFamily("batch of another database") }
        if let misuse = batch.misuse { throw misuse }
        // After a refused write RocksDB refuses the rest until reopened (and the distribution's build, with its
        // assertions on, can abort on a write to a log that already failed): fail at once instead.
        if let failure = writeFailure { throw failure }
        try withOpen { (h: OpenHandles) throws(StorageError) in
            var err: UnsafeMutablePointer<CChar>?
            rocksdb_write(h.db, sync ? h.syncWrite : h.asyncWrite, batch.raw, &err)
            if let message = takeError(&err) {
                let failure = StorageError.rocksdb(operation: "write batch", message: message)
                firstWriteFailure.withLock { if $0 == nil { $0 = failure } }
                throw failure
            }
        }
    }

    /// Entries of `cf` whose keys start with `prefix`, ascending, strictly after `after` when given, at
    /// most `limit` of them.
    public func scan(
        _ cf: ColumnFamily, prefix: [UInt8], after: [UInt8]? = nil, limit: Int = .max,
        snapshot: DatabaseSnapshot? = nil
    ) throws(StorageError) -> [KeyValue] {
        guard limit > 0 else { return [] }
        let it = try makeIterator(cf, prefix: prefix, snapshot: snapshot)
        if let after, !after.lexicographicallyPrecedes(prefix) {
            it.seek(after)
            if it.isValid, it.keyEquals(after) { it.next() }
        } else {
            it.seek(prefix)
        }
        var out = [KeyValue]()
        while it.isValid, out.count < limit {
            guard let kv = it.entry() else { break }
            out.append(kv)
            it.next()
        }
        try it.checkStatus()
        return out
    }

    func readOptions(_ snapshot: DatabaseSnapshot?, _ h: OpenHandles) throws(StorageError) -> OpaquePointer {
        guard let snapshot else { return h.readOptions }
        guard snapshot.database === self else { throw .unknownColumnFamily("snapshot of another database") }
        return snapshot.readOptions
    }
}

extension Database {
    /// Compacts every column family over its whole key range (drops deleted and overwritten entries from the
    /// files). Slow; for tools and measurements (disk use after pruning), not for the node's hot path.
    public func compactAll() throws(StorageError) {
        try withOpen { (h: OpenHandles) throws(StorageError) in
            for name in columnFamilyNames {
                let handle = try handle(try columnFamily(name), in: h)
                rocksdb_compact_range_cf(h.db, handle, nil, 0, nil, 0)
            }
        }
    }
}

extension ChainStore {
    /// Compacts the whole database (`Database.compactAll`).
    public func compact() throws(StorageError) { try database.compactAll() }
}

import CRocksDB
import Ledger

/// An ordered cursor over one column family, optionally bounded and optionally reading a snapshot.
///
/// Keys are visited in ascending unsigned-byte order. RocksDB keeps only pointers to the bound keys in
/// its read options, so the iterator owns copies of them for its whole life. Not thread-safe: use one
/// iterator from one thread at a time (create one per reader).
public final class DatabaseIterator {
    private let database: Database
    private let raw: OpaquePointer
    private let readOptions: OpaquePointer
    // Owned copies of the bounds; RocksDB points into them until the iterator is destroyed.
    private let lowerBound: UnsafeMutableRawBufferPointer?
    private let upperBound: UnsafeMutableRawBufferPointer?
    // Keeps the snapshot alive while the iterator reads through it.
    private let snapshot: DatabaseSnapshot?

    init(
        database: Database, columnFamily cf: ColumnFamily, lowerBound lower: [UInt8]?, upperBound upper: [UInt8]?,
        snapshot: DatabaseSnapshot?
    ) throws(StorageError) {
        self.database = database
        self.snapshot = snapshot
        let ro: OpaquePointer = rocksdb_readoptions_create()
        let lowerCopy = lower.map(Self.copy)
        let upperCopy = upper.map(Self.copy)
        if let snapshot { rocksdb_readoptions_set_snapshot(ro, snapshot.raw) }
        if let l = lowerCopy { rocksdb_readoptions_set_iterate_lower_bound(ro, l.baseAddress?.assumingMemoryBound(to: CChar.self), l.count) }
        if let u = upperCopy { rocksdb_readoptions_set_iterate_upper_bound(ro, u.baseAddress?.assumingMemoryBound(to: CChar.self), u.count) }
        let created: Result<OpaquePointer, StorageError>
        do {
            created = .success(try database.withOpen { (h: OpenHandles) throws(StorageError) -> OpaquePointer in
                if let snapshot, snapshot.database !== database {
                    throw StorageError.unknownColumnFamily("snapshot of another database")
                }
                let handle = try database.handle(cf, in: h)
                guard let it = rocksdb_create_iterator_cf(h.db, ro, handle) else {
                    throw StorageError.rocksdb(operation: "create iterator(\(cf))", message: "no iterator returned")
                }
                database.retainResource()
                return it
            })
        } catch {
            created = .failure(error)
        }
        switch created {
        case .success(let it):
            raw = it
            readOptions = ro
            lowerBound = lowerCopy
            upperBound = upperCopy
        case .failure(let error):
            rocksdb_readoptions_destroy(ro)
            lowerCopy?.deallocate()
            upperCopy?.deallocate()
            throw error
        }
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 1)
        b.copyBytes(from: bytes)
        return UnsafeMutableRawBufferPointer(rebasing: b[0..<bytes.count])
    }

    deinit {
        // The iterator before the read options and bounds it points into.
        rocksdb_iter_destroy(raw)
        rocksdb_readoptions_destroy(readOptions)
        lowerBound?.deallocate()
        upperBound?.deallocate()
        database.releaseResource()
    }

    /// Whether the iterator is positioned on an entry.
    public var isValid: Bool { rocksdb_iter_valid(raw) != 0 }

    /// Positions at the first entry (within the bounds).
    public func seekToFirst() { rocksdb_iter_seek_to_first(raw) }
    /// Positions at the last entry (within the bounds).
    public func seekToLast() { rocksdb_iter_seek_to_last(raw) }
    /// Positions at the first entry with key ≥ `key`.
    public func seek(_ key: [UInt8]) {
        key.withUnsafeBytes { rocksdb_iter_seek(raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }
    /// Positions at the last entry with key ≤ `key`.
    public func seekForPrev(_ key: [UInt8]) {
        key.withUnsafeBytes { rocksdb_iter_seek_for_prev(raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }
    /// Moves to the next entry (no-op when not valid).
    public func next() { if isValid { rocksdb_iter_next(raw) } }
    /// Moves to the previous entry (no-op when not valid).
    public func prev() { if isValid { rocksdb_iter_prev(raw) } }

    /// The current key, or nil when not valid.
    public func key() -> [UInt8]? { withKey { Array($0) } }
    /// The current value, or nil when not valid.
    public func value() -> [UInt8]? { withValue { Array($0) } }
    /// The current entry, or nil when not valid.
    public func entry() -> KeyValue? {
        guard let k = key(), let v = value() else { return nil }
        return KeyValue(key: k, value: v)
    }

    /// Calls `body` with the current key's bytes (valid only during the call), nil when not valid.
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard isValid else { return nil }
        var length = 0
        let p = rocksdb_iter_key(raw, &length)
        return try body(UnsafeRawBufferPointer(start: p, count: length))
    }

    /// Calls `body` with the current value's bytes (valid only during the call), nil when not valid.
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard isValid else { return nil }
        var length = 0
        let p = rocksdb_iter_value(raw, &length)
        return try body(UnsafeRawBufferPointer(start: p, count: length))
    }

    /// Whether the current key equals `key` (false when not valid).
    public func keyEquals(_ key: [UInt8]) -> Bool {
        withKey { k in k.elementsEqual(key) } ?? false
    }

    /// Throws the error that made the iterator invalid, if any (I/O error, corruption); an iterator
    /// that merely ran off its range has none.
    public func checkStatus() throws(StorageError) {
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(raw, &err)
        if let message = takeError(&err) { throw .rocksdb(operation: "iterate", message: message) }
    }
}

extension Database {
    /// An iterator over `cf` restricted to `lowerBound ≤ key < upperBound` (either bound optional).
    public func makeIterator(
        _ cf: ColumnFamily, lowerBound: [UInt8]? = nil, upperBound: [UInt8]? = nil, snapshot: DatabaseSnapshot? = nil
    ) throws(StorageError) -> DatabaseIterator {
        try DatabaseIterator(database: self, columnFamily: cf, lowerBound: lowerBound, upperBound: upperBound, snapshot: snapshot)
    }

    /// An iterator over the keys of `cf` that start with `prefix`.
    public func makeIterator(_ cf: ColumnFamily, prefix: [UInt8], snapshot: DatabaseSnapshot? = nil) throws(StorageError) -> DatabaseIterator {
        try makeIterator(
            cf, lowerBound: prefix.isEmpty ? nil : prefix, upperBound: KeyBytes.prefixSuccessor(prefix), snapshot: snapshot)
    }
}

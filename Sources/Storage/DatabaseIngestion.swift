import CRocksDB
import Foundation

extension Database {
    /// Bulk-loads `count` pairs, produced in strictly increasing bytewise key order by `pair(i)`, into `cf` by
    /// writing them to a new SST file and ingesting it: no memtable and no write-ahead log, so a large load costs a
    /// fraction of a write batch. The ingested data is visible at once and newer than everything already in `cf`;
    /// it is **not** atomic with any write batch: callers that need atomicity across column families guard the
    /// load with a marker they recover from (`ChainStore.importSnapshot`). Nothing is done for `count == 0`.
    public func ingest(_ cf: ColumnFamily, count: Int, pair: (Int) -> (key: [UInt8], value: [UInt8])) throws(StorageError) {
        guard count > 0 else { return }
        let file = (path as NSString).appendingPathComponent("ingest-\(cf.name)-\(UUID().uuidString).sst")
        defer { try? FileManager.default.removeItem(atPath: file) }
        try withOpen { (h: OpenHandles) throws(StorageError) in
            let handle = try self.handle(cf, in: h)
            let env = rocksdb_envoptions_create()
            defer { rocksdb_envoptions_destroy(env) }
            guard let writer = rocksdb_sstfilewriter_create(env, h.options.db) else {
                throw .rocksdb(operation: "create SST writer", message: "no writer")
            }
            defer { rocksdb_sstfilewriter_destroy(writer) }
            var err: UnsafeMutablePointer<CChar>?
            rocksdb_sstfilewriter_open(writer, file, &err)
            if let message = takeError(&err) { throw .rocksdb(operation: "open SST file", message: message) }
            for i in 0..<count {
                let (k, v) = pair(i)
                k.withUnsafeBytes { kb in
                    v.withUnsafeBytes { vb in
                        rocksdb_sstfilewriter_put(writer, kb.baseAddress?.assumingMemoryBound(to: CChar.self), kb.count,
                                                  vb.baseAddress?.assumingMemoryBound(to: CChar.self), vb.count, &err)
                    }
                }
                if let message = takeError(&err) { throw .rocksdb(operation: "write SST entry \(i) of \(cf.name)", message: message) }
            }
            rocksdb_sstfilewriter_finish(writer, &err)
            if let message = takeError(&err) { throw .rocksdb(operation: "finish SST file", message: message) }
            let options = rocksdb_ingestexternalfileoptions_create()
            defer { rocksdb_ingestexternalfileoptions_destroy(options) }
            rocksdb_ingestexternalfileoptions_set_move_files(options, 1)
            let name = strdup(file)
            defer { free(name) }
            var list: [UnsafePointer<CChar>?] = [UnsafePointer(name)]
            rocksdb_ingest_external_file_cf(h.db, handle, &list, 1, options, &err)
            if let message = takeError(&err) { throw .rocksdb(operation: "ingest SST file into \(cf.name)", message: message) }
        }
    }
}

import CRocksDB
import Foundation

/// Tuning for one RocksDB database. The defaults suit a node on a small machine: the memtable, not the
/// disk, bounds batched writes, so writes go to large memtables with a whole-key bloom filter (the
/// commit path reads every touched key's previous value, mostly misses), and SST reads use a shared LRU
/// block cache with full bloom filters so point lookups of absent keys rarely touch a data block.
public struct DatabaseOptions: Sendable {
    /// Shared LRU block cache for data, index and filter blocks.
    public var blockCacheBytes: Int = 128 << 20
    /// Bloom filter bits per key in SST files (10 gives about 1 % false positives).
    public var bloomBitsPerKey: Double = 10
    /// Memtable size of the heavy column families (state and the indexes).
    public var writeBufferBytes: Int = 64 << 20
    /// Memtable size of the light column families (metadata, canonical index, undo).
    public var smallWriteBufferBytes: Int = 16 << 20
    /// Memtables per column family before writes stall.
    public var maxWriteBufferNumber: Int32 = 4
    /// Background flush and compaction threads (the node shares two cores with block execution).
    public var maxBackgroundJobs: Int32 = 2
    /// The WAL size that forces rarely written column families to flush, so old WAL files can go.
    public var maxTotalWALBytes: UInt64 = 512 << 20
    /// Compress SST blocks with LZ4 (cheap; hashes do not compress, encoded records do).
    public var compression: Bool = true
    /// Caps RocksDB's own info log files.
    public var maxInfoLogBytes: Int = 16 << 20
    /// Whether chain-store writes wait for fsync of the log. Only in-process simulations and benchmarks
    /// that measure something else turn this off; a node always syncs (a crash must not lose a block
    /// that was reported committed).
    public var syncWrites: Bool = true
    /// State tree nodes of the latest commits kept in memory for the next blocks' tree updates (`ChainStore` only;
    /// about 1 KB each at most). 0 turns the cache off.
    public var recentTreeNodes: Int = 32_768
    /// Bytes of recently read or written latest state values kept in memory for the writer's reads (`ChainStore`
    /// only). 0 turns the cache off.
    public var latestStateCacheBytes: Int = 32 << 20
    /// Memtable sizes scaled down for many small databases in one process (tests, simulations).
    public static var small: DatabaseOptions {
        var o = DatabaseOptions()
        o.blockCacheBytes = 8 << 20
        o.writeBufferBytes = 4 << 20
        o.smallWriteBufferBytes = 1 << 20
        o.maxBackgroundJobs = 1
        o.recentTreeNodes = 4_096
        o.latestStateCacheBytes = 1 << 20
        return o
    }

    public init() {}
}

/// How a column family is used, which decides its memtable size.
public enum ColumnFamilyProfile: Sendable {
    /// Many random keys per commit, read by point lookups that often miss (the state): large memtable with a
    /// whole-key bloom filter.
    case heavy
    /// Many keys per commit, read only by iterator seeks or by lookups of keys known to exist (the state
    /// history, the state tree's nodes): large memtable, no memtable bloom filter (it would cost a hash per
    /// insert and spare no lookup).
    case heavyUnfiltered
    /// Few small records per commit.
    case light

    /// Whether the memtables keep insert hints (`RocksOptionObjects.insertHintOption`): the heavy families, whose
    /// batches are large and key-ordered. Such a family must never take a range deletion: RocksDB 7.8 keeps one hint
    /// table per memtable for both its point entries and its range tombstones, and a hint from one misplaces an insert
    /// into the other (fixed upstream later); `WriteBatch.deleteRange` refuses it.
    var insertHints: Bool { self != .light }
}

/// A column family to open (created when missing).
public struct ColumnFamilyDescriptor: Sendable, Hashable {
    public let name: String
    public let profile: ColumnFamilyProfile
    public init(_ name: String, profile: ColumnFamilyProfile = .light) {
        self.name = name
        self.profile = profile
    }
}

/// The C option objects of one open database. RocksDB copies what it needs at open, but the block cache
/// is shared by reference, so everything is kept until the database is closed and released after it.
final class RocksOptionObjects {
    let db: OpaquePointer
    let heavy: OpaquePointer
    let heavyUnfiltered: OpaquePointer
    let light: OpaquePointer
    private let table: OpaquePointer
    private let cache: OpaquePointer

    init(_ o: DatabaseOptions) {
        cache = rocksdb_cache_create_lru(o.blockCacheBytes)
        table = rocksdb_block_based_options_create()
        rocksdb_block_based_options_set_block_cache(table, cache)
        // The table options take ownership of the filter policy.
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom_full(o.bloomBitsPerKey))
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(table, 1)
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(table, 1)
        rocksdb_block_based_options_set_format_version(table, 5)

        db = Self.base(o, table: table, writeBuffer: o.writeBufferBytes, memtableBloom: true)
        rocksdb_options_set_create_if_missing(db, 1)
        rocksdb_options_set_create_missing_column_families(db, 1)
        rocksdb_options_set_max_background_jobs(db, o.maxBackgroundJobs)
        rocksdb_options_set_bytes_per_sync(db, 1 << 20)
        rocksdb_options_set_max_total_wal_size(db, o.maxTotalWALBytes)
        rocksdb_options_set_max_log_file_size(db, o.maxInfoLogBytes)
        rocksdb_options_set_keep_log_file_num(db, 4)
        rocksdb_options_set_paranoid_checks(db, 1)
        // Point-in-time recovery: after a crash the database is exactly the prefix of synced write
        // batches; a torn tail of the WAL is dropped, never half-applied (Specs/storage.md, "Recovery").
        rocksdb_options_set_wal_recovery_mode(db, 2)

        heavy = Self.withInsertHints(Self.base(o, table: table, writeBuffer: o.writeBufferBytes, memtableBloom: true))
        heavyUnfiltered = Self.withInsertHints(Self.base(o, table: table, writeBuffer: o.writeBufferBytes, memtableBloom: false))
        light = Self.base(o, table: table, writeBuffer: o.smallWriteBufferBytes, memtableBloom: false)
    }

    private static func base(_ o: DatabaseOptions, table: OpaquePointer, writeBuffer: Int, memtableBloom: Bool) -> OpaquePointer {
        let opt: OpaquePointer = rocksdb_options_create()
        rocksdb_options_set_block_based_table_factory(opt, table)
        rocksdb_options_set_write_buffer_size(opt, writeBuffer)
        rocksdb_options_set_max_write_buffer_number(opt, o.maxWriteBufferNumber)
        rocksdb_options_set_level_compaction_dynamic_level_bytes(opt, 1)
        rocksdb_options_set_compression(opt, o.compression ? Int32(rocksdb_lz4_compression) : Int32(rocksdb_no_compression))
        if memtableBloom {
            rocksdb_options_set_memtable_prefix_bloom_size_ratio(opt, 0.02)
            rocksdb_options_set_memtable_whole_key_filtering(opt, 1)
        }
        return opt
    }

    /// The RocksDB option string that keeps, per key prefix (the first byte: a state record type, a history
    /// key's type, the high byte of a tree node's version), the skip-list position of the last insert. A
    /// block's batch is written in key order, so each insert starts its search where the previous one
    /// ended instead of at the top of a 64 MB memtable (Specs/storage.md §10: the RocksDB write ≈ 20 %
    /// cheaper). The C API has no setter for it; the option-string parser does.
    static let insertHintOption = "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.1"

    /// `opt` with memtable insert hints, or `opt` itself if this RocksDB refuses the option (tuning only:
    /// the hints change no result). `opt` is consumed.
    static func withInsertHints(_ opt: OpaquePointer) -> OpaquePointer {
        let hinted: OpaquePointer = rocksdb_options_create()
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_get_options_from_string(opt, insertHintOption, hinted, &err)
        if let err {
            free(err)
            rocksdb_options_destroy(hinted)
            return opt
        }
        rocksdb_options_destroy(opt)
        return hinted
    }

    func options(for profile: ColumnFamilyProfile) -> OpaquePointer {
        switch profile {
        case .heavy: heavy
        case .heavyUnfiltered: heavyUnfiltered
        case .light: light
        }
    }

    deinit {
        rocksdb_options_destroy(db)
        rocksdb_options_destroy(heavy)
        rocksdb_options_destroy(heavyUnfiltered)
        rocksdb_options_destroy(light)
        rocksdb_block_based_options_destroy(table)
        rocksdb_cache_destroy(cache)
    }
}

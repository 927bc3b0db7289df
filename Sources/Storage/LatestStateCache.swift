import Ledger
import Synchronization

/// Latest committed state values (and absences) of recently read or written keys, in memory, for the reads of the
/// store's `current` view: the state the writer executes the next block against.
///
/// A block reads the records the blocks just before it wrote (a worker's stake, account and work record, a window),
/// and a RocksDB point lookup in a large memtable costs a few microseconds; a hit here costs a hash (Specs/storage.md
/// §10). Snapshot views never read through it.
///
/// Kept exact by the store's writes: a commit or a revert passes every key it wrote with its new value
/// (`committed`), a snapshot load forgets everything (`forgetAll`). Readers other than the writer may race a commit:
/// a value read from RocksDB is only kept if no write was applied since the read began (`generation`), so a value
/// read just before a commit can never outlive it.
///
/// Bounded by two generations of at most `capacityBytes / 2` each: entries go into the young one; when it is full it
/// becomes the old one (the previous old one is dropped), and a hit in the old one copies the entry back. A key's
/// newest value is therefore in the young generation when it is there at all, which lookups try first.
final class LatestStateCache: Sendable {
    /// A state key, hashed as one run of bytes.
    struct Key: Hashable, Sendable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        static func == (a: Key, b: Key) -> Bool { a.bytes == b.bytes }
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    /// A lookup's outcome: the cached value (nil inside: the key is known to be absent), or a miss with the
    /// generation to hand back to `remember`.
    enum Lookup: Equatable {
        case hit([UInt8]?)
        case miss(generation: UInt64)
    }

    private struct Contents {
        var young: [Key: [UInt8]?] = [:]
        var old: [Key: [UInt8]?] = [:]
        var youngBytes = 0
        /// Counts the writes applied; a read that began in an older generation is not kept.
        var generation: UInt64 = 0

        mutating func insert(_ key: Key, _ value: [UInt8]?, half: Int) {
            let size = key.bytes.count + (value?.count ?? 0) + LatestStateCache.entryOverhead
            if youngBytes + size > half {
                old = young
                // Sized like the one it replaces, so filling it never rehashes.
                young = Dictionary(minimumCapacity: old.count)
                youngBytes = 0
            }
            if young.updateValue(value, forKey: key) == nil { youngBytes += size }
        }
    }

    /// Bookkeeping bytes counted per entry besides its key and value (dictionary slot, array headers).
    static let entryOverhead = 96

    /// Most bytes kept (two generations of half each); 0 turns the cache off.
    let capacityBytes: Int
    private let contents = Mutex(Contents())

    init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    private var half: Int { capacityBytes / 2 }

    /// Entries kept now (both generations; a key in both counts twice).
    var count: Int { contents.withLock { $0.young.count + $0.old.count } }

    func lookup(_ key: [UInt8]) -> Lookup {
        guard capacityBytes > 0 else { return .miss(generation: 0) }
        let k = Key(key)
        return contents.withLock { c in
            if let v = c.young[k] { return .hit(v) }
            if let v = c.old[k] {
                c.insert(k, v, half: half)
                return .hit(v)
            }
            return .miss(generation: c.generation)
        }
    }

    /// Keeps `value`, read from the latest committed state after a miss that returned `generation`, unless a write
    /// was applied since.
    func remember(_ key: [UInt8], _ value: [UInt8]?, readAt generation: UInt64) {
        guard capacityBytes > 0 else { return }
        contents.withLock { c in
            guard c.generation == generation else { return }
            c.insert(Key(key), value, half: half)
        }
    }

    /// Applies a written batch: every key it wrote with its value now (nil: deleted). Call after the write.
    func committed(_ entries: [WriteEntry]) {
        contents.withLock { c in
            c.generation &+= 1
            guard capacityBytes > 0 else { return }
            // The old generation may still hold an earlier value of a key: harmless, since lookups try the young one
            // first and a rotation replaces the old one whole.
            for e in entries { c.insert(Key(e.key), e.value, half: half) }
        }
    }

    /// Forgets everything: after a write that changes state keys without listing them (a snapshot load).
    func forgetAll() {
        contents.withLock { c in
            let g = c.generation &+ 1
            c = Contents()
            c.generation = g
        }
    }
}

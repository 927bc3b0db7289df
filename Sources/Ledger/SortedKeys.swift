/// A set of state keys kept in byte order (`keyPrecedes`), for prefix scans of an overlay's pending writes.
///
/// Sorted chunks of at most `maxChunk` keys: an insert or removal moves at most one chunk's elements, and a prefix scan
/// finds its first key by binary search and then reads only the keys it returns. A hash set filtered and sorted at every
/// scan cost the size of the whole kind per scan, so a block whose transactions each scan and write one kind (payouts
/// scanning and deleting payer lanes) did work quadratic in its length.
struct SortedKeys: Sendable {
    private var chunks: [[[UInt8]]] = []
    private(set) var count = 0

    /// Chunks split in two above this size.
    static let maxChunk = 512

    init() {}

    /// Index of the first chunk whose last key is not below `key` (at `chunks.count` when none is).
    private func chunkIndex(notBelow key: [UInt8]) -> Int {
        var lo = 0, hi = chunks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            // Chunks are never empty.
            if keyPrecedes(chunks[mid][chunks[mid].count - 1], key) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Index in `chunk` of the first key not below `key`; `strictlyAbove` skips a key equal to it as well.
    private static func position(in chunk: [[UInt8]], of key: [UInt8], strictlyAbove: Bool = false) -> Int {
        var lo = 0, hi = chunk.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let below = keyPrecedes(chunk[mid], key) || (strictlyAbove && chunk[mid] == key)
            if below { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Adds `key`; returns false (and changes nothing) when it is present already.
    @discardableResult
    mutating func insert(_ key: [UInt8]) -> Bool {
        if chunks.isEmpty {
            chunks = [[key]]
            count = 1
            return true
        }
        // Past every chunk's end: it goes last in the last chunk.
        let c = Swift.min(chunkIndex(notBelow: key), chunks.count - 1)
        let i = Self.position(in: chunks[c], of: key)
        if i < chunks[c].count && chunks[c][i] == key { return false }
        chunks[c].insert(key, at: i)
        count += 1
        if chunks[c].count > Self.maxChunk {
            let upper = Array(chunks[c][(Self.maxChunk / 2)...])
            chunks[c].removeSubrange((Self.maxChunk / 2)...)
            chunks.insert(upper, at: c + 1)
        }
        return true
    }

    /// Removes `key`; returns false when it was not present.
    @discardableResult
    mutating func remove(_ key: [UInt8]) -> Bool {
        let c = chunkIndex(notBelow: key)
        guard c < chunks.count else { return false }
        let i = Self.position(in: chunks[c], of: key)
        guard i < chunks[c].count, chunks[c][i] == key else { return false }
        chunks[c].remove(at: i)
        count -= 1
        if chunks[c].isEmpty { chunks.remove(at: c) }
        return true
    }

    /// The keys that start with `prefix` and (when `after` is given) follow `after`, ascending.
    func keys(prefix: [UInt8], after: [UInt8]?) -> [[UInt8]] {
        // Keys with the prefix are contiguous and start at the first key not below it.
        var start = prefix, strictly = false
        if let after, !keyPrecedes(after, prefix) { start = after; strictly = true }
        var c = chunkIndex(notBelow: start)
        guard c < chunks.count else { return [] }
        var i = Self.position(in: chunks[c], of: start, strictlyAbove: strictly)
        var out = [[UInt8]]()
        while c < chunks.count {
            let chunk = chunks[c]
            while i < chunk.count {
                guard chunk[i].starts(with: prefix) else { return out }
                out.append(chunk[i])
                i += 1
            }
            c += 1
            i = 0
        }
        return out
    }
}

import Primitives
import Synchronization

/// One key-value pair of state.
public struct KeyValue: Equatable, Hashable, Sendable {
    public let key: [UInt8]
    public let value: [UInt8]
    public init(key: [UInt8], value: [UInt8]) { self.key = key; self.value = value }
}

/// Read access to committed state: the abstract key-value interface the ledger works over.
///
/// Implementations: `MemoryState` (tests, simulations) and the RocksDB state store (Storage module).
/// Keys compare as unsigned bytes, lexicographically; every scan returns keys in ascending order, which is
/// what makes iteration-dependent rules deterministic.
public protocol StateReader: Sendable {
    /// The value at `key`, or nil when absent (an empty value is present and distinct from absent).
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Up to `limit` entries whose keys start with `prefix`, ascending, strictly after `after` when given.
    func scan(prefix: [UInt8], after: [UInt8]?, limit: Int) throws -> [KeyValue]
    /// The values at `keys`, in the same order (nil where absent): `get` for many keys, which a store can
    /// answer in one batched lookup.
    func getMany(_ keys: [[UInt8]]) throws -> [[UInt8]?]
    /// `scan`, but examining at most `visitBudget` keys. A store where keys can be known and absent (the state as
    /// of a past height walks every key that ever had a value) counts the absent ones too, so one call's cost is
    /// bounded by the budget, not by how many keys were ever written under `prefix`.
    func scan(prefix: [UInt8], after: [UInt8]?, limit: Int, visitBudget: Int) throws -> BoundedScan
}

/// What a budgeted scan found (`StateReader.scan(prefix:after:limit:visitBudget:)`).
public struct BoundedScan: Sendable, Equatable {
    /// Entries present, ascending, at most `limit`.
    public var entries: [KeyValue]
    /// Keys examined, present or not (at most the budget).
    public var visited: Int
    /// Set when the budget ran out before `limit` entries were found or the prefix ended: the last key examined
    /// (present or not), to pass as `after` to continue. Nil when the scan reached `limit` or the end.
    public var stoppedAfter: [UInt8]?

    /// A result.
    public init(entries: [KeyValue], visited: Int, stoppedAfter: [UInt8]?) {
        self.entries = entries; self.visited = visited; self.stoppedAfter = stoppedAfter
    }
}

extension StateReader {
    /// A live state: every key examined is present, so the budget is a smaller limit.
    public func scan(prefix: [UInt8], after: [UInt8]?, limit: Int, visitBudget: Int) throws -> BoundedScan {
        let budget = max(1, visitBudget)
        guard budget < limit else {
            let entries = try scan(prefix: prefix, after: after, limit: limit)
            return BoundedScan(entries: entries, visited: entries.count, stoppedAfter: nil)
        }
        let entries = try scan(prefix: prefix, after: after, limit: budget)
        return BoundedScan(entries: entries, visited: entries.count, stoppedAfter: entries.count == budget ? entries.last?.key : nil)
    }

    /// One `get` per key.
    public func getMany(_ keys: [[UInt8]]) throws -> [[UInt8]?] {
        var out = [[UInt8]?]()
        out.reserveCapacity(keys.count)
        for k in keys { out.append(try get(k)) }
        return out
    }
}

/// One entry of a write set: the new value, or nil for a deletion.
public struct WriteEntry: Equatable, Hashable, Sendable {
    public let key: [UInt8]
    public let value: [UInt8]?
    public init(key: [UInt8], value: [UInt8]?) { self.key = key; self.value = value }
}

/// The state changes of one block, sorted by key, at most one entry per key.
public struct WriteSet: Equatable, Sendable {
    /// Entries in ascending key order.
    public let entries: [WriteEntry]

    /// Builds a write set; sorts and checks keys are unique.
    public init(_ entries: [WriteEntry]) {
        let sorted = entries.sorted { keyPrecedes($0.key, $1.key) }
        for i in sorted.indices.dropFirst() {
            precondition(sorted[i - 1].key != sorted[i].key, "duplicate key in write set")
        }
        self.entries = sorted
    }

    /// Entries already in ascending key order, one per key (checked, not sorted again).
    init(ascending entries: [WriteEntry]) {
        for i in entries.indices.dropFirst() {
            precondition(keyPrecedes(entries[i - 1].key, entries[i].key), "write set entries not strictly ascending")
        }
        self.entries = entries
    }

    public static let empty = WriteSet([])

    /// Digest of the write set (Specs/state-machine.md, "State commitment"): the tagged hash of the count
    /// followed by each entry as key bytes, a presence byte and the value bytes, all length-prefixed.
    public var digest: Hash32 {
        var w = CanonicalWriter(capacity: 64 + entries.count * 64)
        w.length(entries.count)
        for e in entries {
            w.bytes(e.key)
            w.optional(e.value) { $0.bytes($1) }
        }
        return Tags.writeSet.hash(w.bytes)
    }
}

/// The write-set hash chain that protocol version 2 headers committed to (Specs/state-machine.md §8). Headers
/// now commit to the state tree's root; the ledger tests keep this chain as a cheap determinism digest.
public enum StateCommitment {
    /// Root after applying a block at `height` with `writeSet` on top of `previous`.
    public static func next(previous: Hash32, height: UInt64, writeSet: WriteSet) -> Hash32 {
        var w = CanonicalWriter(capacity: 72)
        w.hash(previous)
        w.u64(height)
        w.hash(writeSet.digest)
        return Tags.state.hash(w.bytes)
    }
}

/// An in-memory `StateReader` with direct writes, for tests, simulations and benchmarks.
public final class MemoryState: StateReader, Sendable {
    private struct Sorted {
        var keys: [[UInt8]] = []
        var values: [[UInt8]] = []

        func index(of key: [UInt8]) -> (found: Bool, at: Int) {
            var lo = 0, hi = keys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if keyPrecedes(keys[mid], key) { lo = mid + 1 } else { hi = mid }
            }
            return (lo < keys.count && keys[lo] == key, lo)
        }
    }

    private let storage: Mutex<Sorted>

    public init() { storage = Mutex(Sorted()) }

    /// A state holding `entries`.
    public init(entries: [KeyValue]) {
        let sorted = entries.sorted { keyPrecedes($0.key, $1.key) }
        storage = Mutex(Sorted(keys: sorted.map(\.key), values: sorted.map(\.value)))
    }

    public func get(_ key: [UInt8]) -> [UInt8]? {
        storage.withLock { s in
            let (found, at) = s.index(of: key)
            return found ? s.values[at] : nil
        }
    }

    public func scan(prefix: [UInt8], after: [UInt8]?, limit: Int) -> [KeyValue] {
        storage.withLock { s in
            var i: Int
            if let after, !keyPrecedes(after, prefix) {
                let (found, at) = s.index(of: after)
                i = found ? at + 1 : at
            } else {
                i = s.index(of: prefix).at
            }
            var out = [KeyValue]()
            while i < s.keys.count, out.count < limit, s.keys[i].starts(with: prefix) {
                out.append(KeyValue(key: s.keys[i], value: s.values[i]))
                i += 1
            }
            return out
        }
    }

    /// Applies a write set: one merge of two sorted sequences, O(state + writes).
    public func apply(_ writeSet: WriteSet) {
        storage.withLock { s in
            let w = writeSet.entries
            if w.count < 8 {
                for e in w {
                    let (found, at) = s.index(of: e.key)
                    switch (found, e.value) {
                    case (true, let v?): s.values[at] = v
                    case (true, nil): s.keys.remove(at: at); s.values.remove(at: at)
                    case (false, let v?): s.keys.insert(e.key, at: at); s.values.insert(v, at: at)
                    case (false, nil): break
                    }
                }
                return
            }
            var keys = [[UInt8]](), values = [[UInt8]]()
            keys.reserveCapacity(s.keys.count + w.count)
            values.reserveCapacity(s.keys.count + w.count)
            var i = 0, j = 0
            while i < s.keys.count || j < w.count {
                if j == w.count || (i < s.keys.count && keyPrecedes(s.keys[i], w[j].key)) {
                    keys.append(s.keys[i]); values.append(s.values[i]); i += 1
                } else {
                    if i < s.keys.count && s.keys[i] == w[j].key { i += 1 }
                    if let v = w[j].value { keys.append(w[j].key); values.append(v) }
                    j += 1
                }
            }
            s.keys = keys
            s.values = values
        }
    }

    /// Every entry, ascending (for tests comparing full states).
    public func dump() -> [KeyValue] {
        storage.withLock { s in zip(s.keys, s.values).map { KeyValue(key: $0, value: $1) } }
    }

    /// Number of keys.
    public var count: Int { storage.withLock { $0.keys.count } }
}

/// Whether key `a` sorts before key `b` in the state's key order (unsigned bytes, lexicographic): the same answer as
/// `a.lexicographicallyPrecedes(b)`, which walks the arrays element by element through generic code, but eight bytes
/// per step. Write sets and scans sort thousands of keys per block with it.
func keyPrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { x in
        b.withUnsafeBytes { y in
            let n = Swift.min(x.count, y.count)
            var i = 0
            while i + 8 <= n {
                let u = UInt64(bigEndian: x.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let v = UInt64(bigEndian: y.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                if u != v { return u < v }
                i += 8
            }
            while i < n {
                if x[i] != y[i] { return x[i] < y[i] }
                i += 1
            }
            return x.count < y.count
        }
    }
}

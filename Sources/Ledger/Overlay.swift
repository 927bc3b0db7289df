import Primitives
import Synchronization

/// A state key as a dictionary key. `Array`'s own `hash(into:)` feeds the hasher one byte at a time (a call per
/// byte of a 33–110-byte key); this hashes the whole buffer in one call. Equality is the array's.
@usableFromInline
struct OverlayKey: Hashable, Sendable {
    @usableFromInline let bytes: [UInt8]

    @inlinable init(_ bytes: [UInt8]) { self.bytes = bytes }

    @inlinable static func == (a: OverlayKey, b: OverlayKey) -> Bool { a.bytes == b.bytes }

    @inlinable func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// Values an overlay has read from its base (nil: absent there), shared by the copies of one overlay.
///
/// The base does not change while an overlay is in use: the single writer executes a block against committed
/// state with no commit in between, and every other user makes a fresh overlay per question. So a key is read
/// from the base at most once per overlay, and `writeSet()` compares against the remembered value instead of
/// reading the key again.
final class BaseReads: Sendable {
    let values = Mutex<[OverlayKey: [UInt8]?]>([:])
    init() {}
}

/// Pending writes over a committed state: what a block (or a mempool check) sees while executing.
///
/// Reads see the pending value first, then the base. Checkpoints let a failed transaction roll back its
/// body's writes while keeping its fee and nonce changes. `writeSet()` yields the net changes, sorted.
public struct StateOverlay: Sendable {
    public let base: any StateReader
    // nil value = deleted. Dictionary order never leaks: writeSet() and scans sort.
    private var pending: [OverlayKey: [UInt8]?] = [:]
    // Undo journal for checkpoints: the key and its previous pending entry (outer nil = was not pending).
    private var journal: [(OverlayKey, [UInt8]??)] = []
    private var checkpoints: [Int] = []
    private let baseReads = BaseReads()
    // The pending keys by first byte (the record kind; -1 for the empty key), in key order. A scan reads only the
    // pending keys it returns: end-of-block steps scan small kinds (stake history, unbonding entries) once per
    // conviction while a block has written a hundred thousand keys of other kinds, and a block of payouts scans and
    // deletes the payer lanes of one kind in every transaction.
    private var pendingByKind: [Int: SortedKeys] = [:]

    public init(base: any StateReader) { self.base = base }

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        let k = OverlayKey(key)
        if let p = pending[k] { return p }
        if let remembered = baseReads.values.withLock({ $0[k] }) { return remembered }
        let value = try base.get(key)
        baseReads.values.withLock { $0[k] = value }
        return value
    }

    public mutating func set(_ key: [UInt8], _ value: [UInt8]?) {
        let k = OverlayKey(key)
        let previous = pending.updateValue(value, forKey: k)
        if !checkpoints.isEmpty { journal.append((k, previous)) }
        if previous == nil { pendingByKind[Self.kind(key), default: SortedKeys()].insert(key) }
    }

    private static func kind(_ key: [UInt8]) -> Int { key.first.map(Int.init) ?? -1 }

    public mutating func delete(_ key: [UInt8]) { set(key, nil) }

    /// Entries with the prefix, ascending, merging pending writes over the base.
    public func scan(prefix: [UInt8], after: [UInt8]? = nil, limit: Int = .max) throws -> [KeyValue] {
        // Pending keys in range, sorted.
        func inRange(_ k: [UInt8]) -> Bool { k.starts(with: prefix) && (after.map { keyPrecedes($0, k) } ?? true) }
        let local: [[UInt8]]
        if let first = prefix.first {
            local = pendingByKind[Int(first)]?.keys(prefix: prefix, after: after) ?? []
        } else {
            local = pending.keys.lazy.map(\.bytes).filter(inRange).sorted { keyPrecedes($0, $1) }
        }
        var out = [KeyValue]()
        var li = 0
        var cursor = after
        // Pull base entries in pages; deletions in pending can hide some, so loop until enough.
        var baseBuffer: [KeyValue] = []
        var bi = 0
        var baseDone = false
        let page = Swift.max(16, Swift.min(limit, 1024))
        func refill() throws {
            if bi >= baseBuffer.count && !baseDone {
                baseBuffer = try base.scan(prefix: prefix, after: cursor, limit: page)
                bi = 0
                if baseBuffer.count < page { baseDone = true }
            }
        }
        try refill()
        while out.count < limit {
            try refill()
            let b = bi < baseBuffer.count ? baseBuffer[bi] : nil
            let l = li < local.count ? local[li] : nil
            if b == nil && l == nil { break }
            if let b, l.map({ keyPrecedes(b.key, $0) }) ?? true {
                bi += 1
                cursor = b.key
                if pending[OverlayKey(b.key)] == nil { out.append(b) }  // not overridden
            } else if let l {
                li += 1
                if let b, b.key == l { bi += 1; cursor = b.key }
                if case .some(.some(let v)) = pending[OverlayKey(l)] { out.append(KeyValue(key: l, value: v)) }
            }
        }
        return out
    }

    /// Starts a nested checkpoint.
    public mutating func checkpoint() { checkpoints.append(journal.count) }

    /// Discards writes since the last checkpoint.
    public mutating func rollback() {
        guard let mark = checkpoints.popLast() else { return }
        while journal.count > mark {
            let (key, previous) = journal.removeLast()
            if let previous {
                pending[key] = previous
            } else {
                pending.removeValue(forKey: key)
                pendingByKind[Self.kind(key.bytes)]?.remove(key.bytes)
            }
        }
    }

    /// Keeps writes since the last checkpoint.
    public mutating func commit() {
        guard let mark = checkpoints.popLast() else { return }
        if checkpoints.isEmpty { journal.removeSubrange(mark...) }
    }

    /// Net changes against the base, sorted; writes that restore the base value are dropped.
    public func writeSet() throws -> WriteSet { try writeSetWithPrevious().writeSet }

    /// `writeSet()` and, for each of its entries in order, the key's value in the base: what the block replaces,
    /// which the store's undo record needs. Execution read most of them already;
    /// the keys written without being read (index entries) are fetched from the base in one batched read.
    public func writeSetWithPrevious() throws -> (writeSet: WriteSet, previous: [[UInt8]?]) {
        var changes = [(entry: WriteEntry, previous: [UInt8]?)]()
        changes.reserveCapacity(pending.count)
        let known = baseReads.values.withLock { $0 }
        var unread = [[UInt8]](), unreadValues = [[UInt8]?]()
        for (k, v) in pending {
            if let b = known[k] {
                if b != v { changes.append((WriteEntry(key: k.bytes, value: v), b)) }
            } else {
                unread.append(k.bytes)
                unreadValues.append(v)
            }
        }
        let previous = try base.getMany(unread)
        for i in unread.indices where previous[i] != unreadValues[i] {
            changes.append((WriteEntry(key: unread[i], value: unreadValues[i]), previous[i]))
        }
        changes.sort { keyPrecedes($0.entry.key, $1.entry.key) }
        return (WriteSet(ascending: changes.map(\.entry)), changes.map(\.previous))
    }

    /// Number of keys with pending writes.
    public var pendingCount: Int { pending.count }
}

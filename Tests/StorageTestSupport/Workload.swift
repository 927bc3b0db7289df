import Ledger
import Primitives
import Storage

/// SplitMix64: small, fast, deterministic; seeded tests and the crash child reproduce exactly.
extension SplitMix64 {
    /// Random bytes of `count`.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

/// Random state writes over a small key space, so blocks overwrite and delete each other's keys.
public enum RandomWrites {
    /// A key from a space of about 4 × `spread` keys under four prefixes, including 0xFF bytes (prefix
    /// bound edge cases) and, rarely, the empty key.
    public static func key(_ g: inout SplitMix64, spread: Int = 300) -> [UInt8] {
        let prefixes: [[UInt8]] = [[0x00], [0x01, 0xFF], [0x02], [0xFF, 0xFF]]
        if g.next() % 200 == 0 { return [] }
        let p = prefixes[Int(g.next() % UInt64(prefixes.count))]
        let i = UInt16(g.next() % UInt64(spread))
        return p + [UInt8(i >> 8), UInt8(i & 0xFF)]
    }

    /// A write set of up to `maxEntries` entries: about a quarter deletions, the rest values of 0 to 24
    /// bytes (empty values included, which are present and distinct from absent).
    public static func writeSet(_ g: inout SplitMix64, maxEntries: Int = 40, spread: Int = 300) -> WriteSet {
        let n = Int(g.next() % UInt64(maxEntries + 1))
        var byKey: [[UInt8]: [UInt8]?] = [:]
        var order: [[UInt8]] = []
        for _ in 0..<n {
            let k = key(&g, spread: spread)
            let v: [UInt8]? = g.chance(0.25) ? nil : g.bytes(Int(g.next() % 25))
            if byKey[k] == nil { order.append(k) }
            byKey[k] = .some(v)
        }
        return WriteSet(order.map { WriteEntry(key: $0, value: byKey[$0] ?? nil) })
    }
}

/// The deterministic chain the crash-test child builds, including short reorgs, as a pure function of
/// a seed and what the database already holds, so a restarted child continues where the killed one
/// stopped and the parent can replay any prefix in memory.
///
/// Blocks are identified by (height, variant): variant 0 is the main chain; at every reorg height n
/// (n % 5 == 3) the child first builds a two-block decoy branch (n, 1), (n + 1, 1), then reverts both
/// and builds the main blocks instead. The decoy's stored side headers tell a restarted child the decoy
/// was already built.
public struct CrashWorkload: Sendable {
    public let seed: UInt64
    /// Blocks below tip − depth are declared final (undo records pruned); deeper than the reorgs.
    public static let finalityDepth: UInt64 = 4

    public init(seed: UInt64) { self.seed = seed }

    /// The chain identity the child's database is created for.
    public var genesisID: Hash32 { digest([0x67], 0, 0) }

    public static func isReorgHeight(_ h: UInt64) -> Bool { h % 5 == 3 }

    public func blockHash(height: UInt64, variant: UInt8) -> Hash32 { digest([0x62], height, variant) }

    /// Parent of block (height, variant): the first decoy sits on the main chain, the second on the first.
    public func parentHash(height: UInt64, variant: UInt8) -> Hash32 {
        if height == 0 { return .zero }
        if variant == 1, Self.isReorgHeight(height - 1) { return blockHash(height: height - 1, variant: 1) }
        return blockHash(height: height - 1, variant: 0)
    }

    /// The variant of `hash` at `height`, nil when it is neither.
    public func variant(of hash: Hash32, height: UInt64) -> UInt8? {
        if hash == blockHash(height: height, variant: 0) { return 0 }
        if hash == blockHash(height: height, variant: 1) { return 1 }
        return nil
    }

    private func digest(_ domain: [UInt8], _ height: UInt64, _ variant: UInt8) -> Hash32 {
        var w = CanonicalWriter()
        w.raw(Array("crash-workload".utf8))
        w.raw(domain)
        w.u64(seed)
        w.u64(height)
        w.u8(variant)
        return SHA256.hash(w.bytes)
    }

    private func rng(_ height: UInt64, _ variant: UInt8, _ salt: UInt64) -> SplitMix64 {
        SplitMix64(seed: seed ^ (height &* 0x9E37_79B9) ^ (UInt64(variant) << 56) ^ salt)
    }

    public func writeSet(height: UInt64, variant: UInt8) -> WriteSet {
        var g = rng(height, variant, 0x5757)
        return RandomWrites.writeSet(&g, maxEntries: 60, spread: 200)
    }

    /// Addresses the workload's transactions use (few, so each has a long history).
    public func address(_ i: Int) -> Hash32 { digest([0x61], UInt64(i), 0) }

    public func transactions(height: UInt64, variant: UInt8) -> [TxIndexEntry] {
        var g = rng(height, variant, 0x7878)
        let n = Int(g.next() % 4)
        return (0..<n).map { i in
            let addresses = (0..<(1 + Int(g.next() % 3))).map { _ in address(Int(g.next() % 6)) }
            return TxIndexEntry(txHash: digest([0x74, UInt8(i)], height, variant), position: UInt32(i), addresses: addresses)
        }
    }

    /// Address event history entries of the block (unique keys, some with pool, worker or transaction).
    public func addressEvents(height: UInt64, variant: UInt8) -> [AddressEventEntry] {
        var g = rng(height, variant, 0x4545)
        var out = [AddressEventEntry]()
        for r in 0..<Int(g.next() % 4) {
            for e in 0..<Int(g.next() % 3) {
                out.append(AddressEventEntry(address: address((r + e) % 6), receipt: UInt32(r), event: UInt32(e), kind: UInt16(g.next() % 35),
                                             pool: g.next() % 2 == 0 ? UInt32(g.next() % 3) : nil, worker: g.next() % 2 == 0 ? address(0) : nil,
                                             txHash: g.next() % 2 == 0 ? digest([0x74, UInt8(r)], height, variant) : nil))
            }
        }
        return out
    }

    public func header(height: UInt64, variant: UInt8) -> [UInt8] {
        Array("header".utf8) + KeyBytes.be64(height) + [variant]
    }

    public func block(height: UInt64, variant: UInt8) -> BlockRecord {
        let hash = blockHash(height: height, variant: variant)
        return BlockRecord(
            hash: hash, height: height, parent: parentHash(height: height, variant: variant),
            header: header(height: height, variant: variant), body: Array("body".utf8) + hash.bytes,
            receipts: Array("receipts".utf8) + KeyBytes.be64(height), transactions: transactions(height: height, variant: variant),
            addressEvents: addressEvents(height: height, variant: variant))
    }

    /// One step of the workload.
    public enum Step: Sendable, Equatable, CustomStringConvertible {
        case commit(height: UInt64, variant: UInt8)
        case revert(height: UInt64, variant: UInt8)

        public var description: String {
            switch self {
            case .commit(let h, let v): "C \(h) \(v)"
            case .revert(let h, let v): "R \(h) \(v)"
            }
        }

        /// Parses `description`.
        public init?(_ line: Substring) {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let h = UInt64(parts[1]), let v = UInt8(parts[2]) else { return nil }
            switch parts[0] {
            case "C": self = .commit(height: h, variant: v)
            case "R": self = .revert(height: h, variant: v)
            default: return nil
            }
        }
    }

    /// The tip (height, variant) after `step`.
    public func tipAfter(_ step: Step) -> (height: UInt64, variant: UInt8)? {
        switch step {
        case .commit(let h, let v): return (h, v)
        case .revert(let h, let v):
            guard h > 0 else { return nil }
            return (h - 1, v == 1 && Self.isReorgHeight(h - 1) ? 1 : 0)
        }
    }

    /// The next step given the tip and whether a block's header is stored.
    public func nextStep(tip: (height: UInt64, variant: UInt8)?, hasHeader: (UInt64, UInt8) throws -> Bool) rethrows -> Step {
        guard let tip else { return .commit(height: 0, variant: 0) }
        let h = tip.height
        if tip.variant == 1 {
            if Self.isReorgHeight(h) {
                return try hasHeader(h + 1, 1) ? .revert(height: h, variant: 1) : .commit(height: h + 1, variant: 1)
            }
            return .revert(height: h, variant: 1)
        }
        let n = h + 1
        if Self.isReorgHeight(n), try !hasHeader(n, 1) { return .commit(height: n, variant: 1) }
        return .commit(height: n, variant: 0)
    }

    /// The finalized height to pass when committing at `height`, given the current one (never decreasing).
    public func finalizedHeight(committing height: UInt64, current: UInt64?) -> UInt64? {
        guard height >= Self.finalityDepth else { return nil }
        let f = height - Self.finalityDepth
        if let current, f <= current { return nil }
        return f
    }

    /// The tip of `store` as (height, variant); throws when the tip is not a workload block.
    public func currentTip(_ view: some ChainReader) throws -> (height: UInt64, variant: UInt8)? {
        guard let tip = try view.tip() else { return nil }
        guard let v = variant(of: tip.hash, height: tip.height) else { throw WorkloadError.unknownBlock(tip) }
        return (tip.height, v)
    }

    /// Performs the next step on `store` and returns it.
    public func perform(_ step: Step, on store: ChainStore) throws {
        switch step {
        case .commit(let h, let v):
            let f = finalizedHeight(committing: h, current: try store.finalizedHeight())
            try store.commit(block(height: h, variant: v), writeSet: writeSet(height: h, variant: v), finalizedHeight: f)
        case .revert(let h, let v):
            let reverted = try store.revertTip()
            guard reverted == blockHash(height: h, variant: v) else { throw WorkloadError.revertedUnexpected(reverted) }
        }
    }

    /// The step the workload takes next on `store`.
    public func nextStep(on store: ChainStore) throws -> Step {
        try nextStep(tip: currentTip(store.current)) { h, v in
            try store.current.header(blockHash(height: h, variant: v)) != nil
        }
    }
}

/// Inconsistencies the workload detects in a database.
public enum WorkloadError: Error, CustomStringConvertible {
    case unknownBlock(ChainTip)
    case revertedUnexpected(Hash32)

    public var description: String {
        switch self {
        case .unknownBlock(let tip): "tip \(tip) is not a workload block"
        case .revertedUnexpected(let h): "reverted \(h), which the workload did not expect"
        }
    }
}

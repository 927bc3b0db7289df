import Primitives
import Synchronization

/// Remembers the last verdicts of an adjudicator (a pure function of the pool's model, the shard's pinned weights, the
/// input, its position offset and token count), so one replay serves every execution of the same case: the producer
/// builds its block (replaying the block's queued cases) and then imports it (executing them again), and a reorg
/// re-executes blocks. Without it the producer replayed each case twice, and for a large model the second replays
/// alone could take the rest of its slot (ninth review). Errors are not remembered (the next execution tries again).
/// Within one chain a pool id names one model and its shards (genesis fixes them); the key also holds the shard's
/// weights hash.
public final class MemoizedAdjudicator: Adjudicator {
    public let base: any Adjudicator
    public let capacity: Int
    private let memo = Mutex<(verdicts: [Hash32: AdjudicationVerdict], order: [Hash32])>(([:], []))

    public init(_ base: any Adjudicator, capacity: Int = 256) {
        self.base = base
        self.capacity = max(1, capacity)
    }

    /// The case a verdict answers.
    static func key(_ r: AdjudicationRequest) -> Hash32 {
        var w = CanonicalWriter(capacity: 96)
        w.u32(r.pool.id)
        w.u32(UInt32(truncatingIfNeeded: r.shardIndex))
        w.hash(r.shardIndex >= 0 && r.shardIndex < r.pool.shards.count ? r.shard.weightsSHA256 : .zero)
        w.u64(r.positionOffset)
        w.u32(r.tokenCount)
        w.hash(SHA256.hash(r.input))
        return SHA256.hash(w.bytes)
    }

    public func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict {
        let key = Self.key(request)
        if let known = memo.withLock({ $0.verdicts[key] }) { return known }
        let verdict = try base.adjudicate(request)
        memo.withLock { m in
            guard m.verdicts.updateValue(verdict, forKey: key) == nil else { return }
            m.order.append(key)
            if m.order.count > capacity { m.verdicts[m.order.removeFirst()] = nil }
        }
        return verdict
    }

    /// Verdicts remembered now.
    public var count: Int { memo.withLock { $0.verdicts.count } }
}

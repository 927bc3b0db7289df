import Primitives

extension PoolConfig {
    /// The floating-point operations of the costliest replay an adjudication of this pool can need: a pass of
    /// `maxTokensPerPass` tokens through its largest shard (Specs/economics.md §6 **Replay budget**). Per layer and
    /// token the canonical executor multiplies and adds `2·H·q_w + 2·H·kv_w + 3·H·I` weights (the q, k, v and output
    /// projections, and the gate, up and down projections) and `2·q_w·T` attention terms over the pass's `T` tokens
    /// (a pass carries no cache of earlier positions); norms and rotary are linear in `H` and left out. Two operations
    /// per multiply-add. nil when the count does not fit 64 bits (no genesis with such a pool is valid).
    public var maxReplayFlops: UInt64? {
        let h = UInt64(model.hiddenSize), t = UInt64(maxTokensPerPass)
        let qw = UInt64(model.numHeads) * UInt64(model.headDim), kvw = UInt64(model.numKVHeads) * UInt64(model.headDim)
        let i = UInt64(model.intermediateSize)
        func product(_ factors: UInt64...) -> UInt64? {
            var p: UInt64 = 1
            for f in factors {
                let (r, o) = p.multipliedReportingOverflow(by: f)
                if o { return nil }
                p = r
            }
            return p
        }
        func sum(_ terms: UInt64?...) -> UInt64? {
            var s: UInt64 = 0
            for term in terms {
                guard let term else { return nil }
                let (r, o) = s.addingReportingOverflow(term)
                if o { return nil }
                s = r
            }
            return s
        }
        guard let perTokenLayer = sum(product(2, h, qw), product(2, h, kvw), product(3, h, i), product(2, qw, t)) else { return nil }
        var worst: UInt64 = 0
        for s in shards {
            let layers = UInt64(s.layerEnd >= s.layerStart ? s.layerEnd - s.layerStart : 0)
            guard let flops = product(2, layers, t, perTokenLayer) else { return nil }
            worst = max(worst, flops)
        }
        return worst
    }
}

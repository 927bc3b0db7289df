import Primitives

/// Exact integer splits (Specs/economics.md, "Splitting").
public enum Split {
    /// Splits `total` among `weights` (in the given order) by the cumulative floor rule:
    /// share_k = ⌊total·C_k/W⌋ − ⌊total·C_{k−1}/W⌋ with C_k the running weight sum and W the sum of all weights.
    /// The shares sum to exactly `total`. Returns nil when every weight is zero.
    public static func cumulativeFloor(_ total: Amount, weights: [UInt64]) -> [Amount]? {
        var sum: UInt64 = 0
        for w in weights {
            let (s, o) = sum.addingReportingOverflow(w)
            // Weights are bounded by share accounting; an overflowing sum cannot be split exactly.
            if o { return nil }
            sum = s
        }
        guard sum > 0 else { return nil }
        var out = [Amount]()
        out.reserveCapacity(weights.count)
        var cumulative: UInt64 = 0
        var previous: UInt64 = 0
        for w in weights {
            cumulative += w
            // total·C/W ≤ total since C ≤ W, so the quotient fits in 64 bits.
            let upTo = (try? Amount.mulDiv(total.units, cumulative, sum)) ?? 0
            out.append(Amount(upTo - previous))
            previous = upTo
        }
        return out
    }
}

extension Execution {
    /// Closes and settles windows of every pool whose boundaries fall at this height.
    mutating func processWindows() throws(ExecError) {
        for pool in try state.pools() {
            let L = pool.windowBlocks
            if height % L == 0 {
                let w = height / L - 1
                var record = try state.window(pool.id, w) ?? WindowRecord()
                record.status = .closed
                state.put(StateKey.window(pool.id, w), record)
                systemEvents.append(.windowClosed(pool: pool.id, window: w, revenue: record.revenue))
            }
            if height >= L + pool.challengeBlocks, (height - pool.challengeBlocks) % L == 0 {
                try settle(pool: pool, window: (height - pool.challengeBlocks) / L - 1)
            }
        }
    }

    /// Settles one window: the protocol share to validators by blocks produced in the window, the rest to
    /// non-forfeited workers by weighted shares; with no eligible shares everything carries to the next window.
    mutating func settle(pool: PoolConfig, window w: UInt64) throws(ExecError) {
        var record = try state.window(pool.id, w) ?? WindowRecord(status: .closed)
        let revenue: Amount
        do { revenue = try record.revenue.adding(record.carriedIn) } catch { throw .fault(LedgerFault("window revenue overflow")) }

        let (workers, weights) = try eligibleShares(pool: pool, window: w)
        let eligible = weights.reduce(UInt64(0)) { $0 &+ $1 }
        record.eligibleShares = eligible
        record.status = .settled

        guard revenue > .zero else {
            state.put(StateKey.window(pool.id, w), record)
            systemEvents.append(.windowSettled(pool: pool.id, window: w, revenue: .zero, protocolShare: .zero, workerShare: .zero, carried: .zero))
            return
        }
        guard eligible > 0 else {
            // Nobody to pay: carry the whole revenue to the next window.
            record.carriedOut = revenue
            state.put(StateKey.window(pool.id, w), record)
            var next = try state.window(pool.id, w + 1) ?? WindowRecord()
            do { next.carriedIn = try next.carriedIn.adding(revenue) } catch { throw .fault(LedgerFault("carry overflow")) }
            state.put(StateKey.window(pool.id, w + 1), next)
            systemEvents.append(.windowSettled(pool: pool.id, window: w, revenue: revenue, protocolShare: .zero, workerShare: .zero, carried: revenue))
            return
        }

        var protocolShare = revenue.basisPoints(params.protocolFeeBps)
        let (validators, blocks) = try blockCounts(from: w * pool.windowBlocks + 1, through: (w + 1) * pool.windowBlocks)
        if let split = Split.cumulativeFloor(protocolShare, weights: blocks) {
            for (v, amount) in zip(validators, split) where amount > .zero {
                try state.credit(v, amount)
                state.put(StateKey.payout(pool.id, w, .validator, v), amount)
                systemEvents.append(.payoutCredited(pool: pool.id, window: w, recipient: v, amount: amount, kind: .validator))
            }
        } else {
            // No recorded proposers (cannot happen after genesis): the protocol share goes to the workers.
            protocolShare = .zero
        }
        let workerShare = Amount(revenue.units - protocolShare.units)
        guard let split = Split.cumulativeFloor(workerShare, weights: weights) else {
            throw .fault(LedgerFault("share weights overflow in window \(w) of pool \(pool.id)"))
        }
        for (worker, amount) in zip(workers, split) where amount > .zero {
            try state.credit(worker, amount)
            state.put(StateKey.payout(pool.id, w, .worker, worker), amount)
            systemEvents.append(.payoutCredited(pool: pool.id, window: w, recipient: worker, amount: amount, kind: .worker))
        }
        record.protocolShare = protocolShare
        record.workerShare = workerShare
        state.put(StateKey.window(pool.id, w), record)
        systemEvents.append(.windowSettled(pool: pool.id, window: w, revenue: revenue, protocolShare: protocolShare,
                                           workerShare: workerShare, carried: .zero))
    }

    /// Workers (ascending key) and the weights they are paid by, excluding forfeited shares.
    func eligibleShares(pool: PoolConfig, window w: UInt64) throws(ExecError) -> ([PublicKey], [UInt64]) {
        var weights: [PublicKey: UInt64] = [:]
        func add(_ window: UInt64, limit: UInt64?) throws(ExecError) -> UInt64 {
            var entries = [(PublicKey, UInt64)]()
            var total: UInt64 = 0
            for kv in try state.scan(StateKey.shareTallies(pool.id, window)) {
                guard let worker = PublicKey(bytes: kv.key[(kv.key.count - 32)...]),
                      let shares = (try? ShareTally(canonicalEncoding: kv.value))?.shares else {
                    throw .fault(LedgerFault("corrupt share tally \(kv.key.hex)"))
                }
                if try isForfeited(worker, pool: pool.id, window: window) { continue }
                entries.append((worker, shares))
                total &+= shares
            }
            guard total > 0 else { return 0 }
            if let limit, limit < total {
                // The oldest window PPLNS reaches counts pro rata, so exactly `limit` shares (floored) count.
                var used: UInt64 = 0
                for (worker, shares) in entries {
                    let part = (try? Amount.mulDiv(shares, limit, total)) ?? 0
                    weights[worker, default: 0] &+= part
                    used &+= part
                }
                return used
            }
            for (worker, shares) in entries { weights[worker, default: 0] &+= shares }
            return total
        }
        switch pool.rewardScheme {
        case .proportional:
            _ = try add(w, limit: nil)
        case .pplns(let n):
            var remaining = n
            var window = w
            var looked: UInt64 = 0
            while remaining > 0 && looked <= params.pplnsMaxLookbackWindows {
                let used = try add(window, limit: remaining)
                remaining -= min(used, remaining)
                looked += 1
                if window == 0 { break }
                window -= 1
            }
        }
        // Sorted by key: the split order is part of consensus.
        let ordered = weights.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        return (ordered.map(\.key), ordered.map(\.value))
    }

    /// Validators (ascending key) and the number of blocks each proposed in the height range.
    func blockCounts(from start: UInt64, through end: UInt64) throws(ExecError) -> ([PublicKey], [UInt64]) {
        var counts: [PublicKey: UInt64] = [:]
        let prefix = [StateKey.Prefix.proposer.rawValue]
        let after = start == 0 ? nil : StateKey.proposer(start - 1)
        for kv in try state.scan(prefix, after: after, limit: Int(clamping: end &- start &+ 1)) {
            let h = UInt64(bigEndianBytes: kv.key[1...])
            guard h >= start, h <= end else { break }
            guard let key = PublicKey(bytes: kv.value) else { throw .fault(LedgerFault("corrupt proposer record at \(h)")) }
            counts[key, default: 0] += 1
        }
        let ordered = counts.sorted { $0.key < $1.key }
        return (ordered.map(\.key), ordered.map(\.value))
    }
}

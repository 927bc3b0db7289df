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
    /// Settles each pool's window whose settlement height is this block, and windows that were waiting for
    /// their last adjudication. Settling only marks the window: payouts are pulled by `claimPayout`, so the
    /// end-of-block work does not grow with the number of workers.
    mutating func processWindows() throws(ExecError) {
        for pool in try state.pools() {
            let offset = pool.settleHeight(ofWindow: 0, beaconDelay: params.selectionDelayBound) &- pool.windowBlocks
            if height >= offset &+ pool.windowBlocks, (height - offset) % pool.windowBlocks == 0 {
                let w = (height - offset) / pool.windowBlocks - 1
                if var record = try state.window(pool.id, w), record.status == .open {
                    if record.pendingAdjudications == 0 {
                        try settle(pool: pool.id, window: w, record: &record)
                    } else {
                        record.status = .awaitingAdjudication
                        state.put(StateKey.window(pool.id, w), record)
                        state.putRaw(StateKey.settlementQueue(pool.id, w), [])
                    }
                }
            }
        }
        for kv in try state.scan([StateKey.Prefix.settlementQueue.rawValue]) {
            let pool = UInt32(bigEndianBytes: kv.key[1..<5]), w = UInt64(bigEndianBytes: kv.key[5..<13])
            guard var record = try state.window(pool, w) else { throw .fault(LedgerFault("settlement queue without window")) }
            if record.pendingAdjudications == 0 {
                state.delete(kv.key)
                try settle(pool: pool, window: w, record: &record)
            }
        }
    }

    mutating func settle(pool: UInt32, window w: UInt64, record: inout WindowRecord) throws(ExecError) {
        record.status = .settled
        state.put(StateKey.window(pool, w), record)
        systemEvents.append(.windowSettled(pool: pool, window: w, earned: record.earned))
    }

    /// Pays a worker's settled window (Specs/economics.md §5): per shard, the net amount clients paid scaled by
    /// the share of paid tokens its surviving commitments cover; nothing if it was convicted; in total at most
    /// `payableCapBps` of its stake. The rest goes back to the escrow owners that paid it, in proportion to what
    /// each paid. The window's records of the worker are then pruned.
    mutating func claimPayout(pool poolId: UInt32, window w: UInt64, worker: PublicKey) throws(ExecError) {
        guard let pool = try poolConfig(poolId) else { throw .failed(.unknownPool) }
        guard var record = try state.window(poolId, w), record.status == .settled else { throw .failed(.windowNotSettled) }
        let workKey = StateKey.workRecord(poolId, w, worker)
        guard let work = try state.record(workKey, WorkRecord.self) else { throw .failed(.nothingToPay) }

        // Coverage per shard from the worker's commitments; prune them and their tickets on the way.
        var covered = [UInt32: UInt64]()
        for id in work.commitmentIds {
            guard let c = try state.record(StateKey.commitment(id), Commitment.self) else {
                throw .fault(LedgerFault("work record lists a missing commitment \(id)"))
            }
            let (sum, o) = covered[c.shard, default: 0].addingReportingOverflow(c.coveredTokens)
            covered[c.shard] = o ? .max : sum
            state.delete(StateKey.commitment(id))
            // Nothing can convict it again once it is gone (every conviction starts from its ticket or commitment).
            state.delete(StateKey.offence(LedgerIds.passOffence(commitment: id)))
            // Its tickets' ids derive from it, and it was drawn long before its window settled (a reveal-deadline
            // queue still naming one skips it once it is gone).
            for tid in c.ticketIds(id) {
                state.delete(StateKey.ticket(tid))
                state.delete(StateKey.ticketCheck(tid))
                state.delete(StateKey.sealedInput(tid))
            }
        }
        try pruneHopChallenges(pool: poolId, window: w, worker: worker)
        // No hop challenge of the window can reach the worker any more (they need its work record, deleted below).
        state.delete(StateKey.offence(LedgerIds.hopOffence(pool: poolId, window: w, worker: worker)))
        let earned = work.earned
        let convicted = try isForfeited(worker, pool: poolId, window: w)
        // Per shard, the part its coverage pays; the rest of the shard's earned goes back to that shard's payers.
        var payable: UInt64 = 0
        var shardRefunds = [(shard: UInt32, amount: UInt64)]()
        for s in work.shards {
            var part: UInt64 = 0
            if !convicted && s.paidTokens > 0 {
                let coveredTokens = min(covered[s.shard] ?? 0, s.paidTokens)
                part = (try? Amount.mulDiv(s.earned.units, coveredTokens, s.paidTokens)) ?? 0
            }
            payable = payable &+ part  // each part ≤ its earned; the sum ≤ the work record's earned
            if s.earned.units > part { shardRefunds.append((s.shard, s.earned.units - part)) }
        }
        var capped: UInt64 = 0
        if !convicted {
            let stake = min(try state.stake(.worker(pool: poolId), worker, atEndOf: pool.closeHeight(ofWindow: w)), work.minCommitStake)
            let cap = stake.basisPoints(pool.payableCapBps).units
            if payable > cap { capped = payable - cap; payable = cap }
        }
        // What the worker is not paid belongs to its clients, fees or not.
        let refund = earned - payable
        // Check fees come first (Specs/verification.md §5): the checkers did their work whatever the worker did. They
        // are paid from the worker's check-fee deposit, which covers every fee its samples can owe, and never from
        // its clients' refund (economics.md §7 row 52); what the deposit could not pay would come from the pay.
        let fees = try payCheckFees(pool: poolId, window: w, worker: worker, pay: payable, deposit: work.checkDeposit)
        payable -= fees
        try state.credit(worker, Amount(payable))

        // Refunds by cumulative-floor splits over the payers in escrow-id order, so they add up exactly.
        let lanes = try state.scan(StateKey.payerLanes(poolId, w, worker))
        var decoded = [PayerLane]()
        for kv in lanes {
            state.delete(kv.key)
            do { decoded.append(try PayerLane(canonicalEncoding: kv.value)) } catch { throw .fault(LedgerFault("corrupt payer lane")) }
        }
        // A shard's unpaid share goes to the payers of that shard, by what each paid on it: a payer never receives
        // what another shard's payers paid for work that was not done (§7 row 68). What the stake cap withholds goes
        // to every payer by what it was to pay the worker (its lane less the shard refunds it gets).
        var refunds = [UInt64](repeating: 0, count: decoded.count)
        func split(_ total: UInt64, weights: [UInt64]) throws(ExecError) {
            guard let parts = Split.cumulativeFloor(Amount(total), weights: weights) else {
                throw .fault(LedgerFault("refund of \(total) without payer lanes to take it"))
            }
            for (i, part) in parts.enumerated() { refunds[i] &+= part.units }  // Σ ≤ the work record's earned
        }
        for (shard, amount) in shardRefunds {
            try split(amount, weights: decoded.map { $0.net(shard: shard).units })
        }
        if capped > 0 {
            try split(capped, weights: decoded.indices.map { decoded[$0].amount.units &- refunds[$0] })
        }
        guard refunds.reduce(0, &+) == refund else {
            throw .fault(LedgerFault("payer lanes of \(worker) in pool \(poolId) window \(w) do not add up to its earned"))
        }
        for (lane, amount) in zip(decoded, refunds) where amount > 0 {
            try state.credit(lane.owner, Amount(amount))
            txEvents.append(.refundCredited(pool: poolId, window: w, worker: worker, owner: lane.owner, amount: Amount(amount)))
        }
        state.delete(workKey)
        let payoutKey = StateKey.payout(poolId, w, worker)
        state.put(payoutKey, PayoutRecord(paid: Amount(payable), refunded: Amount(refund), height: height))
        schedulePrune(payoutKey, at: height &+ params.revealedKeyRetentionBlocks)
        record.paid = Amount(record.paid.units &+ payable)
        record.refunded = Amount(record.refunded.units &+ refund)
        guard record.unpaidWorkers > 0 else { throw .fault(LedgerFault("window \(w) of pool \(poolId) paid out more work records than it counted")) }
        record.unpaidWorkers -= 1
        state.put(StateKey.window(poolId, w), record)
        // The last payout: nothing is left to pay or judge in the window (no work record can be made for it again:
        // its claims and commitments closed before it settled). It goes with the payout records, which explorers read
        // beside it (`window_getPayouts`).
        if record.unpaidWorkers == 0 { schedulePrune(StateKey.window(poolId, w), at: height &+ params.revealedKeyRetentionBlocks) }
        txEvents.append(.payoutCredited(pool: poolId, window: w, worker: worker, paid: Amount(payable), refunded: Amount(refund)))
    }

    /// Pays the check fees a worker's window owes, in key order (ticket id, then assignment order), from the check-fee
    /// deposit of its commitments, which covers every fee its samples can owe, then (never in practice) from the
    /// worker's pay `pay`; returns the rest of the deposit to the worker (Specs/verification.md §5). Never from the
    /// clients' refund. Returns what was taken from the pay.
    mutating func payCheckFees(pool: UInt32, window w: UInt64, worker: PublicKey, pay: UInt64,
                               deposit: Amount) throws(ExecError) -> UInt64 {
        var left = pay
        var depositLeft = deposit.units
        let prefix = StateKey.checkFeesOwed(pool, w, worker)
        for kv in try state.scan(prefix) {
            state.delete(kv.key)
            // The key ends with the ticket id and the slot (StateKey.checkFeeOwed).
            var r = CanonicalReader(kv.value)
            let checker: PublicKey, owed: Amount
            guard kv.key.count == prefix.count + 33, let ticketId = Hash32(bytes: kv.key[prefix.count..<(prefix.count + 32)]) else {
                throw .fault(LedgerFault("corrupt check fee key \(kv.key.hex)"))
            }
            do { checker = try r.decode(PublicKey.self); owed = try r.decode(Amount.self); try r.finish() } catch {
                throw .fault(LedgerFault("corrupt check fee record \(kv.key.hex)"))
            }
            let fromDeposit = min(owed.units, depositLeft)
            let part = min(owed.units - fromDeposit, left)
            left -= part
            depositLeft -= fromDeposit
            let paid = part &+ fromDeposit  // ≤ owed
            guard paid > 0 else { continue }
            try state.credit(checker, Amount(paid))
            txEvents.append(.checkFeePaid(pool: pool, window: w, worker: worker, ticketId: ticketId, checker: checker, amount: Amount(paid)))
        }
        if depositLeft > 0 { try state.credit(worker, Amount(depositLeft)) }
        return pay - left
    }

    /// Deletes records whose retention period ends at this block.
    /// Deletes `key` at the end of block `h` (`h ≥` this block).
    mutating func schedulePrune(_ key: [UInt8], at h: UInt64) { scheduledPrunes.append((h, key)) }

    /// Merges the block's scheduled deletions into their heights' records (ascending, distinct keys): one write per
    /// height instead of one queue entry per key. Runs before `pruneExpired`, so a deletion due this block is done.
    mutating func flushScheduledPrunes() throws(ExecError) {
        guard !scheduledPrunes.isEmpty else { return }
        var byHeight: [UInt64: [[UInt8]]] = [:]
        for p in scheduledPrunes { byHeight[p.height, default: []].append(p.key) }
        scheduledPrunes = []
        for (h, keys) in byHeight.sorted(by: { $0.key < $1.key }) {
            let recordKey = StateKey.pruneQueue(at: h)
            let queued = try state.record(recordKey, KeyQueue.self)?.keys ?? []
            let merged = Set(queued + keys).sorted { $0.lexicographicallyPrecedes($1) }
            state.put(recordKey, KeyQueue(merged))
        }
    }

    mutating func pruneExpired() throws(ExecError) {
        try flushScheduledPrunes()
        let recordKey = StateKey.pruneQueue(at: height)
        guard let queue = try state.record(recordKey, KeyQueue.self) else { return }
        state.delete(recordKey)
        for key in queue.keys { state.delete(key) }
    }
}

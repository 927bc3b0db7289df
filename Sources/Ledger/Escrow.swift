import Primitives

extension Execution {
    func escrowRecord(_ id: Hash32) throws(ExecError) -> Escrow {
        guard let e = try state.record(StateKey.escrow(id), Escrow.self) else { throw .failed(.unknownEscrow) }
        return e
    }

    mutating func escrowOpen(_ sender: PublicKey, nonce: UInt64, pool: UInt32, amount: Amount, expiry: UInt64) throws(ExecError) {
        guard try poolConfig(pool) != nil else { throw .failed(.unknownPool) }
        guard amount > .zero else { throw .failed(.zeroAmount) }
        guard expiry > height else { throw .failed(.expiryNotInFuture) }
        try state.debit(sender, amount)
        let id = LedgerIds.escrow(owner: sender, nonce: nonce)
        state.put(StateKey.escrow(id), Escrow(owner: sender, pool: pool, balance: amount, expiryHeight: expiry, openedHeight: height))
        state.putRaw(StateKey.escrowByOwner(sender, id), [])
        txEvents.append(.escrowOpened(escrowId: id, owner: sender, pool: pool, amount: amount, expiryHeight: expiry))
    }

    /// The owner's escrow that is still open (top-ups and allocations need it open, not closing).
    func ownedOpenEscrow(_ sender: PublicKey, _ id: Hash32) throws(ExecError) -> Escrow {
        let escrow = try escrowRecord(id)
        guard escrow.owner == sender else { throw .failed(.notEscrowOwner) }
        switch escrow.status {
        case .open: return escrow
        case .unlocking: throw .failed(.escrowUnlocking)
        }
    }

    mutating func escrowTopUp(_ sender: PublicKey, id: Hash32, amount: Amount, newExpiry: UInt64?) throws(ExecError) {
        var escrow = try ownedOpenEscrow(sender, id)
        guard amount > .zero || newExpiry != nil else { throw .failed(.zeroAmount) }
        if let newExpiry {
            // An expiry only moves later, and never into the past.
            guard newExpiry > height, newExpiry >= escrow.expiryHeight else { throw .failed(.expiryNotInFuture) }
            escrow.expiryHeight = newExpiry
        }
        try state.debit(sender, amount)
        do { escrow.balance = try escrow.balance.adding(amount) } catch { throw .failed(.amountOverflow) }
        state.put(StateKey.escrow(id), escrow)
        txEvents.append(.escrowToppedUp(escrowId: id, amount: amount, expiryHeight: escrow.expiryHeight))
    }

    /// Reserves part of the unallocated deposit for one payee. An allocation only shrinks by the payee's claims
    /// (and at the final refund), so the owner cannot drain it ahead of a payee it promised.
    mutating func escrowAllocate(_ sender: PublicKey, id: Hash32, payee: PublicKey, amount: Amount) throws(ExecError) {
        var escrow = try ownedOpenEscrow(sender, id)
        guard amount > .zero else { throw .failed(.zeroAmount) }
        guard escrow.balance.units - escrow.allocated.units >= amount.units else { throw .failed(.insufficientBalance) }
        let key = StateKey.allocation(id, payee)
        var allocation = try state.record(key, Allocation.self)
        if allocation == nil {
            let existing = try state.scan(StateKey.allocations(id), limit: params.maxAllocationsPerEscrow)
            guard existing.count < params.maxAllocationsPerEscrow else { throw .failed(.tooManyAllocations) }
            allocation = Allocation(remaining: .zero)
        }
        var a = allocation!
        a.remaining = Amount(a.remaining.units + amount.units)  // ≤ balance ≤ supply
        escrow.allocated = Amount(escrow.allocated.units + amount.units)
        state.put(key, a)
        state.put(StateKey.escrow(id), escrow)
        txEvents.append(.escrowAllocated(escrowId: id, payee: payee, amount: amount))
    }

    /// Two-phase close. The first call, at or after expiry, starts the unlock period: payees can still claim
    /// vouchers for every window they could have served. A call at or after its end refunds the rest to the
    /// owner and deletes the escrow: its record, its owner-index entry and its allocations. Nothing reads a
    /// closed escrow (refunds at payouts go to the payer lane's owner), and its id can never be opened again
    /// (`H_id(01 ‖ owner ‖ nonce)`, and an account that opened one never returns to nonce 0), so a late voucher
    /// for it fails as `unknownEscrow`. Explorers read closed escrows from their events.
    mutating func escrowClose(_ sender: PublicKey, id: Hash32) throws(ExecError) {
        var escrow = try escrowRecord(id)
        guard escrow.owner == sender else { throw .failed(.notEscrowOwner) }
        switch escrow.status {
        case .open:
            guard height >= escrow.expiryHeight else { throw .failed(.escrowNotExpired) }
            let until = height &+ params.escrowUnlockBlocks
            escrow.status = .unlocking(until: until)
            state.put(StateKey.escrow(id), escrow)
            txEvents.append(.escrowUnlocking(escrowId: id, untilHeight: until))
        case .unlocking(let until):
            guard height >= until else { throw .failed(.escrowStillUnlocking) }
            let refund = escrow.balance
            try state.credit(sender, refund)
            for kv in try state.scan(StateKey.allocations(id)) { state.delete(kv.key) }
            state.delete(StateKey.escrow(id))
            state.delete(StateKey.escrowByOwner(sender, id))
            txEvents.append(.escrowClosed(escrowId: id, refund: refund))
        }
    }

    /// Charges the delta of a cumulative voucher over the last claimed one of its `(escrow, payee, shard,
    /// window)` lane, at the shard's prices, from the payee's allocation. The protocol fee is burned; the rest
    /// is held for the worker until its window settles (Specs/economics.md §2).
    mutating func claimUsage(_ sender: PublicKey, _ v: UsageVoucher) throws(ExecError) {
        guard v.chainId == ledger.chainId else { throw .failed(.voucherWrongChain) }
        guard sender == v.payee else { throw .failed(.notVoucherPayee) }
        var escrow = try escrowRecord(v.escrowId)
        guard escrow.acceptsClaims(at: height) else {
            throw .failed(.claimPeriodOver)
        }
        guard let pool = try poolConfig(escrow.pool) else { throw .fault(LedgerFault("escrow of unknown pool \(escrow.pool)")) }
        guard Int(v.shard) < pool.shards.count else { throw .failed(.unknownShard) }
        // The voucher's window must have started and still accept claims.
        guard v.window <= pool.window(ofHeight: height) else { throw .failed(.wrongWindow) }
        guard height <= pool.commitDeadline(ofWindow: v.window) else { throw .failed(.claimPeriodOver) }
        // A convicted worker's window pays nothing: a claim would only burn the client's protocol fee (eighth review).
        guard try !isForfeited(v.payee, pool: pool.id, window: v.window) else { throw .failed(.payeeForfeited) }
        // A signature verified ahead of execution (VoucherSignature) is accepted only for this very owner, message
        // and signature, so skipping the check cannot change the outcome.
        let digest = v.signingHash
        guard verifiedVouchers.contains(VoucherSignature(owner: escrow.owner, digest: digest, signature: v.signature))
                || escrow.owner.verify(v.signature, digest: digest) else { throw .failed(.voucherBadSignature) }

        // The lane of this escrow's payments to the worker holds the last claimed counters of each shard.
        let laneKey = StateKey.payerLane(pool.id, v.window, v.payee, v.escrowId)
        var lane = try state.record(laneKey, PayerLane.self)
        let counters = lane?.counters(shard: v.shard) ?? VoucherCounters()  // zero before the shard's first claim
        // Strictly greater: no component may go back, and at least one must advance.
        guard v.cumulativeInputTokens >= counters.inputTokens, v.cumulativeOutputTokens >= counters.outputTokens,
              v.cumulativeInputTokens > counters.inputTokens || v.cumulativeOutputTokens > counters.outputTokens
        else { throw .failed(.voucherNotIncreasing) }
        let deltaIn = v.cumulativeInputTokens - counters.inputTokens
        let deltaOut = v.cumulativeOutputTokens - counters.outputTokens
        let shard = pool.shards[Int(v.shard)]
        let charge: Amount
        let tokens: UInt64
        do {
            charge = try shard.priceInputToken.multiplied(by: deltaIn).adding(try shard.priceOutputToken.multiplied(by: deltaOut))
            tokens = try Amount(deltaIn).adding(Amount(deltaOut)).units
        } catch { throw .failed(.amountOverflow) }

        let allocationKey = StateKey.allocation(v.escrowId, v.payee)
        guard var allocation = try state.record(allocationKey, Allocation.self) else { throw .failed(.noAllocation) }
        let charged = min(charge, allocation.remaining)
        let short = Amount(charge.units - charged.units)
        // Rounded up, so a cumulative voucher claimed in small steps burns at least what one claim would.
        let fee = charged.basisPointsRoundedUp(params.protocolFeeBps)
        let net = Amount(charged.units - fee.units)
        // Tokens count as paid in proportion to what was charged: a voucher beyond its allocation cannot dilute
        // the coverage of what the worker's other payers paid for.
        let paidTokens = short == .zero ? tokens : ((try? Amount.mulDiv(tokens, charged.units, charge.units)) ?? 0)

        // The worker's record of the window, and the lane refunds flow back through.
        let workKey = StateKey.workRecord(pool.id, v.window, v.payee)
        let existingWork = try state.record(workKey, WorkRecord.self)
        var work = existingWork ?? WorkRecord()
        if lane == nil {
            guard Int(work.payers) < params.maxPayersPerWorkerWindow else { throw .failed(.tooManyPayers) }
            work.payers += 1
            lane = PayerLane(owner: escrow.owner, amount: .zero)
        }
        try work.withShard(v.shard) { (s: inout ShardWork) throws(ExecError) in
            let (t, o1) = s.paidTokens.addingReportingOverflow(paidTokens)
            let (e, o2) = s.earned.units.addingReportingOverflow(net.units)
            guard !o1, !o2 else { throw .failed(.amountOverflow) }
            s.paidTokens = t
            s.earned = Amount(e)
        }
        var laneValue = lane!
        // The lane's totals stay ≤ the work record's earned, which did not overflow.
        laneValue.recordClaim(shard: v.shard, VoucherCounters(inputTokens: v.cumulativeInputTokens, outputTokens: v.cumulativeOutputTokens),
                              net: net)

        var window = try state.window(pool.id, v.window) ?? WindowRecord()
        // Unreachable by the deadlines (claims end before settlement), but never a reason to halt a block.
        guard window.status == .open else { throw .failed(.claimPeriodOver) }
        window.earned = Amount(window.earned.units &+ net.units)
        window.feesBurned = Amount(window.feesBurned.units &+ fee.units)
        if existingWork == nil { window.unpaidWorkers &+= 1 }  // at most one per payee key with an allocation

        allocation.remaining = Amount(allocation.remaining.units - charged.units)
        allocation.charged = Amount(allocation.charged.units &+ charged.units)
        escrow.balance = Amount(escrow.balance.units - charged.units)
        escrow.allocated = Amount(escrow.allocated.units - charged.units)
        escrow.totalCharged = Amount(escrow.totalCharged.units &+ charged.units)
        escrow.shortfall = Amount(escrow.shortfall.units &+ short.units)
        try state.burn(fee)
        state.put(allocationKey, allocation)
        state.put(StateKey.escrow(v.escrowId), escrow)
        state.put(workKey, work)
        state.put(laneKey, laneValue)
        state.put(StateKey.window(pool.id, v.window), window)
        txEvents.append(.usageClaimed(escrowId: v.escrowId, payee: v.payee, pool: pool.id, shard: v.shard, window: v.window,
                                      charged: charged, fee: fee, shortfall: short))
    }
}

/// One voucher signature check: the escrow owner's key, the voucher's signing hash and its signature. A block importer
/// can verify these for a block's claims before executing it (in parallel, like transaction signatures) and pass the
/// valid ones to `Ledger.applyBlock(_:transactions:to:signaturesChecked:verifiedVouchers:)`, which then skips exactly
/// those verifications; any other claim is verified during execution as usual.
public struct VoucherSignature: Hashable, Sendable {
    public let owner: PublicKey
    public let digest: Hash32
    public let signature: Signature

    public init(owner: PublicKey, digest: Hash32, signature: Signature) {
        self.owner = owner; self.digest = digest; self.signature = signature
    }

    /// Whether the signature is the owner's over the digest.
    public var isValid: Bool { owner.verify(signature, digest: digest) }
}

extension Ledger {
    /// The voucher signature checks of a block's claims whose escrow exists in `state` (the block's parent state):
    /// an escrow's owner never changes, so a check prepared from the parent state is the one execution makes. Claims
    /// on escrows opened in the same block are left to execution. Hop challenges' receipt signatures (the worker's
    /// over the receipt hash) are checks of the same shape and come along, so they too are verified on all cores.
    public func voucherSignatures(in transactions: [SignedTransaction], state: LedgerState) -> [VoucherSignature] {
        var out = [VoucherSignature]()
        for tx in transactions {
            let vouchers: [UsageVoucher]
            switch tx.transaction.body {
            case .claimUsage(let v): vouchers = [v]
            case .claimUsageBatch(let vs): vouchers = vs
            case .hopChallenge(let r):
                out.append(VoucherSignature(owner: r.worker, digest: r.signingHash(chainId: chainId), signature: r.signature))
                continue
            default: continue
            }
            for v in vouchers {
                guard let escrow = try? state.record(StateKey.escrow(v.escrowId), Escrow.self) else { continue }
                out.append(VoucherSignature(owner: escrow.owner, digest: v.signingHash, signature: v.signature))
            }
        }
        return out
    }
}

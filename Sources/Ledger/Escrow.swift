import Primitives

extension Execution {
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

    mutating func escrowTopUp(_ sender: PublicKey, id: Hash32, amount: Amount, newExpiry: UInt64?) throws(ExecError) {
        guard var escrow = try state.record(StateKey.escrow(id), Escrow.self) else { throw .failed(.unknownEscrow) }
        guard escrow.owner == sender else { throw .failed(.notEscrowOwner) }
        guard !escrow.closed else { throw .failed(.escrowClosed) }
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

    mutating func escrowClose(_ sender: PublicKey, id: Hash32) throws(ExecError) {
        guard var escrow = try state.record(StateKey.escrow(id), Escrow.self) else { throw .failed(.unknownEscrow) }
        guard escrow.owner == sender else { throw .failed(.notEscrowOwner) }
        guard !escrow.closed else { throw .failed(.escrowClosed) }
        guard height >= escrow.expiryHeight else { throw .failed(.escrowNotExpired) }
        let refund = escrow.balance
        try state.credit(sender, refund)
        escrow.balance = .zero
        escrow.closed = true
        state.put(StateKey.escrow(id), escrow)
        txEvents.append(.escrowClosed(escrowId: id, refund: refund))
    }

    /// Charges the delta of a cumulative voucher over the last claimed one, at pool prices, capped by the
    /// escrow balance, into the pool's current window revenue. Anyone may submit.
    mutating func claimUsage(_ v: UsageVoucher) throws(ExecError) {
        guard v.chainId == ledger.chainId else { throw .failed(.voucherWrongChain) }
        guard var escrow = try state.record(StateKey.escrow(v.escrowId), Escrow.self) else { throw .failed(.unknownEscrow) }
        guard !escrow.closed else { throw .failed(.escrowClosed) }
        guard escrow.owner.verify(v.signature, digest: v.signingHash) else { throw .failed(.voucherBadSignature) }
        // Strictly greater: no component may go back, and at least one must advance.
        guard v.cumulativeInputTokens >= escrow.claimedInputTokens,
              v.cumulativeOutputTokens >= escrow.claimedOutputTokens,
              v.cumulativeInputTokens > escrow.claimedInputTokens || v.cumulativeOutputTokens > escrow.claimedOutputTokens
        else { throw .failed(.voucherNotIncreasing) }
        guard let pool = try poolConfig(escrow.pool) else { throw .fault(LedgerFault("escrow of unknown pool \(escrow.pool)")) }
        let charge: Amount
        do {
            let input = try pool.priceInputToken.multiplied(by: v.cumulativeInputTokens - escrow.claimedInputTokens)
            let output = try pool.priceOutputToken.multiplied(by: v.cumulativeOutputTokens - escrow.claimedOutputTokens)
            charge = try input.adding(output)
        } catch { throw .failed(.amountOverflow) }
        let charged = min(charge, escrow.balance)
        let short = Amount(charge.units - charged.units)
        escrow.balance = Amount(escrow.balance.units - charged.units)
        escrow.claimedInputTokens = v.cumulativeInputTokens
        escrow.claimedOutputTokens = v.cumulativeOutputTokens
        do {
            escrow.totalCharged = try escrow.totalCharged.adding(charged)
            escrow.shortfall = try escrow.shortfall.adding(short)
        } catch { throw .failed(.amountOverflow) }
        state.put(StateKey.escrow(v.escrowId), escrow)
        let w = pool.window(ofHeight: height)
        var record = try state.window(pool.id, w) ?? WindowRecord()
        do { record.revenue = try record.revenue.adding(charged) } catch { throw .failed(.amountOverflow) }
        state.put(StateKey.window(pool.id, w), record)
        txEvents.append(.escrowCharged(escrowId: v.escrowId, pool: pool.id, window: w, amount: charged, shortfall: short))
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// Seventeenth review: attacks that cross roles or lifecycles (one key, or a coalition, as worker, escrow owner, fraud
/// prover and unbonding staker at once; deadlines exactly at their edges; an escrow's final close racing a payout).
/// Every test performs the attack on the in-memory chain, whose invariant tracker checks every block (supply, lanes
/// against earnings, holds), and asserts the outcome: refused, or the coalition loses money.
@Suite struct CrossRoleReview17Tests {
    static let client = testKey("r17-client"), worker = testKey("r17-worker"), prover = testKey("r17-prover")
    static let secondKey = testKey("r17-second-key"), lateProver = testKey("r17-late-prover")

    func workerStake(_ c: Chain, _ k: PrivateKey) throws -> UInt64 { try c.staker(.worker(pool: 0), k.publicKey)?.stake.units ?? 0 }
    func unbonding(_ c: Chain, _ k: PrivateKey) throws -> UInt64 {
        try LedgerReader(c.state).unbondings(.worker(pool: 0), k.publicKey).reduce(UInt64(0)) { $0 + $1.entry.amount.units }
    }
    func fees(_ txs: [SignedTransaction], of k: PrivateKey) -> UInt64 {
        txs.filter { $0.transaction.sender == k.publicKey }.reduce(0) { $0 + $1.transaction.fee.units }
    }

    /// Performed: every deadline of window 0 taken at its last height by a cheating worker and a prover: the worker
    /// commits fabricated passes and claims its client's voucher at the commit deadline (12), reveals at the reveal
    /// deadline, the prover commits its blind claim at the challenge end (19) and opens it at the settlement height
    /// (22), the last height its reveal period allows. One height later each step is refused. The claim opened in the
    /// settlement block is replayed in that block's end-block before settlement: the worker is slashed, the window
    /// settles forfeited and the client gets back everything but the protocol fee.
    @Test func deadlinesTakenAtTheirLastHeightStillConvictBeforeSettlement() throws {
        let (w, client, p, late) = (Self.worker, Self.client, Self.prover, Self.lateProver)
        var c = try Chain(accounts: [(client, 1_000_000), (w, 100_000), (p, 100_000), (late, 100_000)], workers: [(w, 0, 10_000)])
        let clientStart = try c.balance(client.publicKey)
        var clientTxs = [SignedTransaction]()
        let nonce0 = try c.account(client.publicKey).nonce
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(w, 100_000)])  // 1
        // openEscrow made nonce0 (open) and nonce0 + 1 (allocate); their fees are read back from the history.
        clientTxs += c.history.last!.1
        #expect(try c.account(client.publicKey).nonce == nonce0 + 2)
        let pool = c.pool
        let deadline = pool.commitDeadline(ofWindow: 0)
        #expect(deadline == 12)
        try c.advance(to: deadline - 1)
        let b = PassBatch.make(count: 12, shard: 0, seed: 1701, cheat: Set(0..<12))
        let atDeadline = try c.block([try c.tx(w, c.commit(b), nonce: 0),
                                      try c.tx(w, c.voucher(client, escrow: escrow, payee: w, input: b.tokenCount, output: 0), nonce: 1)])
        #expect(atDeadline.dropLast().allSatisfy { $0.succeeded }, "\(atDeadline.map(\.status))")
        // One height later: neither a claim nor a commitment of window 0.
        let b2 = PassBatch.make(count: 4, shard: 0, seed: 1702)
        let after = try c.block([try c.tx(w, c.voucher(client, escrow: escrow, payee: w, input: b.tokenCount + 10, output: 0), nonce: 2),
                                 try c.tx(w, c.commit(b2), nonce: 3)])
        #expect(after[0].failure == .claimPeriodOver && after[1].failure == .commitDeadlinePassed, "\(after.map(\.status))")

        let id = c.commitmentId(w, b)
        try c.advance(to: deadline + c.ledger.params.beaconDelay)
        let drawn = try c.tickets(id)
        #expect(!drawn.isEmpty)
        let revealDeadline = try #require(drawn.first?.ticket.revealDeadline)
        let challengeEnd = try #require(drawn.first?.ticket.challengeEnd)
        #expect(challengeEnd == pool.challengeEnd(ofWindow: 0, beaconDelay: c.ledger.params.selectionDelayBound))
        try c.advance(to: revealDeadline - 1)
        #expect(try c.revealAll(w, b, commitment: id).dropLast().allSatisfy { $0.succeeded }, "revealed at the last height")
        #expect(c.height == revealDeadline)
        #expect(try c.tickets(id).allSatisfy { $0.ticket.status == .revealed })

        // The prover's blind claim at the challenge end; a late prover one height after it.
        let (t0, ticket0) = drawn[0], (t1, ticket1) = drawn[1]
        let s = SHA256.hash([17]), sLate = SHA256.hash([18])
        try c.advance(to: challengeEnd - 1)
        let committed = try c.block([try c.tx(p, .fraudCommit(claim: fraudClaimHash(ticketId: t0, prover: p.publicKey, salt: s), pool: 0))])
        #expect(committed[0].succeeded)
        let lateCommitted = try c.block([try c.tx(late, .fraudCommit(claim: fraudClaimHash(ticketId: t1, prover: late.publicKey, salt: sLate), pool: 0))])
        #expect(lateCommitted[0].succeeded, "a commitment names no ticket; its opening is refused")
        let lateOpened = try c.block([try c.tx(late, .fraudReveal(ticketId: t1, salt: sLate, input: b.inputs[b.leafIndex(point: ticket1.point)]))])
        #expect(lateOpened[0].failure == .challengePeriodOver)
        let settle = c.settleHeight0
        #expect(settle == challengeEnd + pool.fraudRevealBlocks)
        try c.advance(to: settle - 1)
        let stakeBefore = try workerStake(c, w)
        #expect(stakeBefore == 10_000)
        let opened = try c.block([try c.tx(p, .fraudReveal(ticketId: t0, salt: s, input: b.inputs[b.leafIndex(point: ticket0.point)]))])
        #expect(opened[0].succeeded, "\(opened[0].status)")
        #expect(c.height == settle)
        #expect(try LedgerReader(c.state).ticket(t0)?.status == .fraudProven)
        #expect(try workerStake(c, w) == 5_000, "slashed in the settlement block, before settlement")
        #expect(try LedgerReader(c.state).window(0, 0)?.status == .settled)
        let bounty = opened.flatMap(\.events).reduce(UInt64(0)) { if case .bountyPaid(_, _, let a, _) = $1 { return $0 + a.units }; return $0 }
        #expect(bounty == 500, "a tenth of the slash to the prover, paid at the case's final height (the settlement height)")

        let paidOut = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: w.publicKey))])
        clientTxs += c.history.last!.1
        let po = try #require(payout(paidOut[0]))
        #expect(po.paid == 0)
        let charged = b.tokenCount * 2  // shard 0 input price 2
        let fee = Amount(charged).basisPointsRoundedUp(c.ledger.params.protocolFeeBps).units
        #expect(po.refunded == charged - fee)
        try c.advance(to: 1000)
        clientTxs += [try c.tx(client, .escrowClose(escrowId: escrow))]
        #expect(try c.block([clientTxs.last!])[0].succeeded)
        try c.advance(to: 1000 + c.ledger.params.escrowUnlockBlocks)
        clientTxs += [try c.tx(client, .escrowClose(escrowId: escrow))]
        #expect(try c.block([clientTxs.last!])[0].succeeded)
        #expect(try c.balance(client.publicKey) == clientStart - fee - fees(clientTxs, of: client),
                "the client loses only the protocol fee and its transaction fees")
        _ = try Invariants.check(c.state)  // throws on any violation (the tracker checked every block too)
    }

    /// Performed by one owner of three roles: a worker key (stake 10 000) opens an escrow that pays itself, commits
    /// fabricated passes and claims its own voucher; one block later it unbonds all but the minimum; its second key
    /// proves the fraud to win the bounty back. The slash reaches the unbonding entry (created after the offending
    /// commitment's inclusion), the self-paid lane is refunded (less the burned protocol fee), and the coalition's
    /// wealth falls by at least `σ(1 − β)` of the stake.
    @Test func aSelfPayingCheaterThatUnbondsAndProvesItselfLosesTheUnbountiedSlash() throws {
        let (w, second) = (Self.worker, Self.secondKey)
        var c = try Chain(accounts: [(w, 200_000), (second, 100_000)], workers: [(w, 0, 10_000)])
        let before = try c.wealth(w) + c.balance(second.publicKey)
        let escrow = try c.openEscrow(w, amount: 50_000, payees: [(w, 50_000)])  // 1: owner and payee
        let b = PassBatch.make(count: 16, shard: 0, seed: 1711, cheat: Set(0..<16))
        let n = try c.account(w.publicKey).nonce
        let r2 = try c.block([try c.tx(w, c.commit(b), nonce: n),
                              try c.tx(w, c.voucher(w, escrow: escrow, payee: w, input: b.tokenCount, output: 0), nonce: n + 1)])  // 2
        #expect(r2.dropLast().allSatisfy { $0.succeeded }, "\(r2.map(\.status))")
        #expect(try c.block([try c.tx(w, .unbond(role: .worker(pool: 0), amount: 9_900))])[0].succeeded)  // 3
        #expect(try workerStake(c, w) == 100 && unbonding(c, w) == 9_900)
        try c.advance(to: 4)
        let id = c.commitmentId(w, b)
        #expect(try c.revealAll(w, b, commitment: id).dropLast().allSatisfy { $0.succeeded })  // 5
        let (t, ticket) = try #require(try c.tickets(id).first)
        let proof = try c.proveFraud(second, ticket: t, input: b.inputs[b.leafIndex(point: ticket.point)])
        #expect(proof.commit.succeeded && proof.reveal.succeeded, "\(proof.reveal.status)")
        #expect(try LedgerReader(c.state).ticket(t)?.status == .fraudProven)
        #expect(try unbonding(c, w) == 4_900 && workerStake(c, w) == 100,
                "σ of the stake bonded at the commitment's inclusion, taken from the entry unbonded after it")
        try c.advance(to: c.settleHeight0)
        let paid = try c.block([try c.tx(second, .claimPayout(pool: 0, window: 0, worker: w.publicKey))])
        let po = try #require(payout(paid[0]))
        #expect(po.paid == 0)
        try c.advance(to: 60)  // the unbonding entry matured (unbondingBlocks 50 after height 3)
        #expect(try unbonding(c, w) == 0)
        let after = try c.wealth(w) + c.balance(second.publicKey)
        #expect(after + 4_500 <= before, "lost \(before - after): at least σ(1 − β) = 4 500 of the 10 000 at stake")
        _ = try Invariants.check(c.state)  // throws on any violation (the tracker checked every block too)
    }

    /// Performed: two windows' commitments made with one stake in one block (window 0 in its grace period, window 1
    /// at its start), then everything but the minimum unbonded, then every sample of both withheld. Each conviction
    /// slashes σ of the stake bonded at its commitment's inclusion, from the unbonding entry first: the worker loses
    /// its whole stake, not σ of it then σ of the rest. Unbonding between the commitments and their convictions
    /// escapes nothing.
    @Test func unbondingBetweenTwoWindowsCommitmentsAndTheirConvictionsEscapesNothing() throws {
        let w = Self.worker
        var c = try Chain(accounts: [(w, 100_000)], workers: [(w, 0, 10_000)])
        try c.advance(to: 10)
        let a = PassBatch.make(count: 8, shard: 0, seed: 1721), b = PassBatch.make(count: 8, shard: 0, seed: 1722)
        let r = try c.block([try c.tx(w, c.commit(a, window: 0), nonce: 0), try c.tx(w, c.commit(b, window: 1), nonce: 1)])  // 11
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        let wealthBefore = try c.wealth(w)
        #expect(try c.block([try c.tx(w, .unbond(role: .worker(pool: 0), amount: 9_900))])[0].succeeded)  // 12
        let unbondFee = c.history.last!.1[0].transaction.fee.units
        var receipts = [Receipt]()
        for _ in 0..<8 { receipts += try c.block() }  // both drawn at 13, withheld at 16
        #expect(try c.tickets(c.commitmentId(w, a, window: 0)).allSatisfy { $0.ticket.status == .withheld })
        #expect(try c.tickets(c.commitmentId(w, b, window: 1)).allSatisfy { $0.ticket.status == .withheld })
        #expect(slashed(receipts, w.publicKey) == 10_000, "5 000 twice: each σ of the 10 000 bonded at inclusion")
        #expect(try workerStake(c, w) == 0 && unbonding(c, w) == 0)
        #expect(try c.wealth(w) == wealthBefore - 10_000 - unbondFee)
    }

    /// Performed: one block in which the worker first unbonds all but the minimum and then commits (it orders its own
    /// transactions), so its payout cap is κ of the minimum; every sample withheld. The slash is σ of what was bonded
    /// in the inclusion block, the unbonded part included: ordering the unbond ahead of the commitment sheds nothing.
    @Test func anUnbondOrderedBeforeTheCommitmentInItsBlockIsStillSlashed() throws {
        let w = Self.worker
        var c = try Chain(accounts: [(w, 100_000)], workers: [(w, 0, 10_000)])
        let a = PassBatch.make(count: 8, shard: 0, seed: 1731)
        let r = try c.block([try c.tx(w, .unbond(role: .worker(pool: 0), amount: 9_900), nonce: 0), try c.tx(w, c.commit(a), nonce: 1)])  // 1
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: w.publicKey)?.minCommitStake.units == 100)
        var receipts = [Receipt]()
        for _ in 0..<6 { receipts += try c.block() }
        #expect(try c.tickets(c.commitmentId(w, a)).allSatisfy { $0.ticket.status == .withheld })
        #expect(slashed(receipts, w.publicKey) == 5_000, "σ of 10 000 bonded in the inclusion block")
        #expect(try unbonding(c, w) == 4_900 && workerStake(c, w) == 100)
    }

    /// Performed: a client whose escrow expired closes it while its worker's window is open; the worker withholds and is
    /// convicted; at the end of the unlock period, after settlement, the client sends its final close and the worker's
    /// payout in one block (in both orders, on two chains). The payout's refund goes to the lane's owner whether the
    /// escrow still exists or not, the final close refunds only what was never charged, and neither can be repeated:
    /// the client ends with its deposit less the protocol fee and its transaction fees, exactly, each way.
    @Test func anEscrowsFinalCloseRacingAConvictedWorkersPayoutRefundsEachUnitOnce() throws {
        for closeFirst in [true, false] {
            let (w, client) = (Self.worker, Self.client)
            var c = try Chain(accounts: [(client, 1_000_000), (w, 100_000)], workers: [(w, 0, 10_000)])
            let start = try c.balance(client.publicKey)
            var clientTxs = [SignedTransaction]()
            let escrow = try c.openEscrow(client, amount: 100_000, payees: [(w, 60_000)], expiry: 3)  // 1
            clientTxs += c.history.last!.1
            let b = PassBatch.make(count: 10, shard: 0, seed: 1741)
            let r2 = try c.block([try c.tx(w, c.commit(b), nonce: 0),
                                  try c.tx(w, c.voucher(client, escrow: escrow, payee: w, input: b.tokenCount, output: b.tokenCount), nonce: 1)])  // 2
            #expect(r2.dropLast().allSatisfy { $0.succeeded })
            clientTxs.append(try c.tx(client, .escrowClose(escrowId: escrow)))
            #expect(try c.block([clientTxs.last!])[0].succeeded)  // 3: unlocking until 23
            try c.advance(to: 8)
            #expect(try c.tickets(c.commitmentId(w, b)).allSatisfy { $0.ticket.status == .withheld })
            try c.advance(to: max(c.settleHeight0, 3 + c.ledger.params.escrowUnlockBlocks) - 1)
            let n = try c.account(client.publicKey).nonce
            let close = try c.tx(client, .escrowClose(escrowId: escrow), nonce: closeFirst ? n : n + 1)
            let pay = try c.tx(client, .claimPayout(pool: 0, window: 0, worker: w.publicKey), nonce: closeFirst ? n + 1 : n)
            let txs = closeFirst ? [close, pay] : [pay, close]
            clientTxs += txs
            let r = try c.block(txs)
            #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
            let po = try #require(payout(r[closeFirst ? 1 : 0]))
            let charge = b.tokenCount * (2 + 7)
            let fee = Amount(charge).basisPointsRoundedUp(c.ledger.params.protocolFeeBps).units
            #expect(po.paid == 0 && po.refunded == charge - fee)
            // Neither can be repeated.
            let m = try c.account(client.publicKey).nonce
            let again = [try c.tx(client, .escrowClose(escrowId: escrow), nonce: m),
                         try c.tx(client, .claimPayout(pool: 0, window: 0, worker: w.publicKey), nonce: m + 1)]
            clientTxs += again
            let r2nd = try c.block(again)
            #expect(r2nd[0].failure == .unknownEscrow && r2nd[1].failure == .nothingToPay)
            #expect(try c.balance(client.publicKey) == start - fee - fees(clientTxs, of: client), "close first: \(closeFirst)")
            _ = try Invariants.check(c.state)  // throws on any violation (the tracker checked every block too)
        }
    }
}

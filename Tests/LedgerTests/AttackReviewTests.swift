import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Red-team review of economy v2 and protocol 4: attacks that Specs/economics.md §7 does not list, or edge cases
/// of listed rows that their tests do not reach, each performed on the in-memory ledger. Every test asserts the
/// secure outcome (the attack fails or costs the attacker); a test whose secure assertion fails documents a hole
/// and is disabled with "HOLE: …" so the suite stays green (remove the trait to watch it fail: each fails only at
/// its secure assertion, marked "Secure outcome").
@Suite struct AttackReviewTests {
    let client = testKey("client"), worker = testKey("worker"), other = testKey("other-worker"),
        verifier = testKey("verifier"), sybil = testKey("sybil"), spammer = testKey("spammer")

    /// Input and output tokens of a voucher paying for exactly `tokens` tokens.
    func split(_ tokens: UInt64) -> (UInt64, UInt64) { (tokens - tokens / 5, tokens / 5) }

    /// Net a worker earns for `input`/`output` tokens on shard 0 of the default pool (prices 2 and 7, fee 5 %).
    func net(_ input: UInt64, _ output: UInt64) -> UInt64 {
        let charge = input * 2 + output * 7
        return charge - charge * 500 / 10_000
    }

    /// `count` honest passes of exactly `tokens` tokens each on shard 0.
    static func passes(count: Int, tokens: UInt32, seed: UInt64) -> [(PassLeaf, [UInt8], Bool)] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let input = testInput(tokens: tokens, seed: g.next())
            let position = UInt64(i) * UInt64(tokens)
            let output = FakeAdjudicator.canonicalOutput(input: input, shard: 0, positionOffset: position)
            return (PassLeaf(index: 0, shard: 0, positionOffset: position, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                             outputHash: output), input, false)
        }
    }

    /// The payout event of a receipt: (paid, refunded).
    func payout(_ r: Receipt) -> (paid: UInt64, refunded: UInt64)? {
        for e in r.events { if case .payoutCredited(_, _, _, let p, let f) = e { return (p.units, f.units) } }
        return nil
    }

    /// Everything slashed from `key` in these receipts.
    func slashed(_ receipts: [Receipt], _ key: PublicKey) -> UInt64 {
        receipts.flatMap(\.slashes).filter { $0.0 == key }.map(\.1).reduce(0, +)
    }

    // MARK: - Protocol 4: checkers

    /// With one registered checker and k = 3, the checker holds one slot (never two) and is paid once.
    @Test func aCheckerIsNeverAssignedTwiceToOneTicket() throws {
        var f = try CheckerFixture(register: 1)
        let s = SealedBatch.make(count: 24, seed: 94)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        #expect(slots.count == 1)
        #expect(slots.first?.checker == f.checkers[0].publicKey)
        let (commits, reveals, resolution) = try f.play(s, tid)
        #expect(commits.allSatisfy { $0.succeeded } && reveals.allSatisfy { $0.succeeded })
        #expect(resolution.events.contains { if case .checkPassed = $0 { return true }; return false })
        #expect(resolution.events.filter { if case .checkFeeOwed = $0 { return true }; return false }.count == 1)
        let p = try f.payout()
        let fees = p.events.compactMap { e -> UInt64? in if case .checkFeePaid(_, _, _, _, let a) = e { return a.units }; return nil }
        #expect(fees == [f.cfg.checkFee.units])
    }

    // MARK: - Boundaries and bindings (expected to hold)

    /// Claims and commitments land exactly at the commit deadline and not one block later; a voucher for a window
    /// that starts next block is refused; a reveal exactly at its deadline counts and one block later is withheld.
    @Test func deadlinesAreExactAtTheirBoundaries() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000), (other, 100_000)],
                          workers: [(worker, 0, 10_000), (other, 0, 10_000)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000), (other, 50_000)])
        try c.advance(to: 9)
        // 10: window 0's last block; window 1 has not started.
        #expect(try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: 1, input: 10, output: 0))])[0].failure == .wrongWindow)
        // 11: window 1's first block.
        #expect(try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: 1, input: 10, output: 0))])[0].succeeded)
        // 12 = commitDeadline(0).
        let a = PassBatch.make(count: 3, shard: 0, seed: 101), b = PassBatch.make(count: 3, shard: 0, seed: 102)
        var n = try c.account(worker.publicKey).nonce
        let r12 = try c.block([try c.tx(worker, c.commit(a), nonce: n),
                               try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 10, output: 0), nonce: n + 1),
                               try c.tx(other, c.commit(b))])
        #expect(r12.dropLast().allSatisfy { $0.succeeded }, "\(r12.map(\.status))")
        // 13: one block late.
        n = try c.account(worker.publicKey).nonce
        let r13 = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 20, output: 0), nonce: n),
                               try c.tx(worker, c.commit(PassBatch.make(count: 3, shard: 0, seed: 103)), nonce: n + 1)])
        #expect(r13[0].failure == .claimPeriodOver)
        #expect(r13[1].failure == .commitDeadlinePassed)
        try c.advance(to: 16)
        let aId = c.commitmentId(worker, a), bId = c.commitmentId(other, b)
        #expect(try c.tickets(aId).allSatisfy { $0.ticket.revealDeadline == 17 })
        #expect(try c.tickets(bId).allSatisfy { $0.ticket.revealDeadline == 17 })
        // 17: exactly at the deadline.
        #expect(try c.revealAll(worker, a, commitment: aId).dropLast().allSatisfy { $0.succeeded })
        #expect(try c.tickets(aId).allSatisfy { $0.ticket.status == .revealed })
        // 18: one block late: withheld at the end of 17, the late reveal is refused, the worker slashed.
        #expect(try c.tickets(bId).allSatisfy { $0.ticket.status == .withheld })
        let (bt, btk) = try c.tickets(bId)[0]
        #expect(try c.block([try c.tx(other, b.reveal(bt, point: btk.point))])[0].failure == .ticketNotAwaitingReveal)
        #expect(try c.staker(.worker(pool: 0), other.publicKey)!.stake == 5_000)
    }

    /// A voucher is bound to its escrow, shard and window: every altered copy fails the signature; a replay does
    /// not advance; the lane is charged once.
    @Test func vouchersCannotMoveAcrossShardsWindowsOrEscrows() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000)], workers: [(worker, 0, 10_000)])
        let e1 = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let e2 = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        try c.advance(to: 10)
        let base = UsageVoucher(chainId: Chain.chainId, escrowId: e1, payee: worker.publicKey, shard: 0, window: 0,
                                cumulativeInputTokens: 100, cumulativeOutputTokens: 10).signed(by: client)
        var shard = base; shard.shard = 1
        var window = base; window.window = 1
        var escrow = base; escrow.escrowId = e2
        var inflated = base; inflated.cumulativeOutputTokens = 1_000
        let bodies: [UsageVoucher] = [shard, window, escrow, inflated, base, base]
        let r = try c.block(try bodies.enumerated().map { try c.tx(worker, .claimUsage(voucher: $1), nonce: UInt64($0)) })  // 11
        #expect(r.prefix(4).allSatisfy { $0.failure == .voucherBadSignature }, "\(r.map(\.status))")
        #expect(r[4].succeeded)
        #expect(r[5].failure == .voucherNotIncreasing)
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: worker.publicKey)?.earned == net(100, 10))
        #expect(try LedgerReader(c.state).work(0, window: 1, worker: worker.publicKey) == nil)
        #expect(try LedgerReader(c.state).escrow(e2)?.totalCharged == 0)
    }

    /// The last claim races the final close: at `until − 1` a claim for the newest window lands; at `until` the claim
    /// is refused and the close refunds exactly what was never charged.
    @Test func finalEscrowCloseRacesTheLastClaimSafely() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000)], workers: [(worker, 0, 10_000)])
        let escrow = try c.openEscrow(client, amount: 10_000, payees: [(worker, 5_000)], expiry: 3)  // 1
        try c.advance(to: 2)
        let close = try c.block([try c.tx(client, .escrowClose(escrowId: escrow))])  // 3
        guard case .escrowUnlocking(_, let until)? = close[0].events.first else { Issue.record("no unlock"); return }
        #expect(until == 23)
        try c.advance(to: until - 2)
        // until − 1 = 22: window 2 started at 21.
        #expect(try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: 2, input: 10, output: 0))])[0].succeeded)
        // until: the claim (ordered first) is refused, the close refunds the rest.
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: 2, input: 20, output: 0)),
                             try c.tx(client, .escrowClose(escrowId: escrow))])
        #expect(r[0].failure == .claimPeriodOver)
        #expect(r[1].succeeded)
        let e = try LedgerReader(c.state).escrow(escrow)!
        #expect(e.status == .closed && e.balance == 0)
        #expect(r[1].events.contains(.escrowClosed(escrowId: escrow, refund: Amount(10_000 - e.totalCharged.units))))
        #expect(e.totalCharged == 20)
    }

    /// Blind claims: a claim cannot be opened by a key other than its committer's (its bond is burned when it
    /// expires); a claim against a ticket of a paid-out window, or committed after the challenge end, fails and
    /// burns its bond.
    @Test func fraudClaimsCannotBeStolenOrAimedPastTheirPeriod() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000), (verifier, 100_000), (spammer, 100_000)],
                          workers: [(worker, 0, 10_000)])
        let b = PassBatch.make(count: 12, shard: 0, seed: 121)
        try c.block([try c.tx(worker, c.commit(b))])  // 1
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)  // 4
        let (tid, t) = try c.tickets(cid)[0]
        let input = b.inputs[Int(t.leaf!.index)]
        let salt = SHA256.hash([7])
        let claim = fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: salt)
        try c.block([try c.tx(verifier, .fraudCommit(claim: claim, pool: 0))])  // 5
        // The spammer saw the commitment and the salt leaked: it still cannot open the verifier's claim.
        #expect(try c.block([try c.tx(spammer, .fraudReveal(ticketId: tid, salt: salt, input: input))])[0].failure == .unknownFraudClaim)  // 6
        let burned = try c.burned()
        try c.advance(to: 8)  // the verifier's claim expires at 5 + 3
        #expect(c.lastReceipts.last!.events.contains(.fraudBondBurned(claim: claim, prover: verifier.publicKey, amount: c.pool.fraudProofBond)))
        #expect(try c.burned() == burned + c.pool.fraudProofBond.units)
        // Committed after the challenge end (19): refused at opening.
        try c.advance(to: t.challengeEnd)
        let late = SHA256.hash([8])
        try c.block([try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: late), pool: 0))])
        #expect(try c.block([try c.tx(verifier, .fraudReveal(ticketId: tid, salt: late, input: input))])[0].failure == .challengePeriodOver)
        // Against a paid-out window: the ticket is gone.
        try c.advance(to: c.settleHeight0)
        try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let after = SHA256.hash([9])
        try c.block([try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: after), pool: 0))])
        #expect(try c.block([try c.tx(verifier, .fraudReveal(ticketId: tid, salt: after, input: input))])[0].failure == .unknownTicket)
    }

    // MARK: - More accounting edges

    /// A tree committed for another shard than its leaves name cannot be revealed (`leafMismatch`): withheld,
    /// slashed.
    @Test func aTreeCommittedForTheWrongShardIsWithheld() throws {
        var c = try Chain(accounts: [(worker, 100_000)], workers: [(worker, 0, 10_000)])
        let b = PassBatch.make(count: 20, shard: 0, seed: 131)
        #expect(try c.block([try c.tx(worker, c.commit(b, shard: 1))])[0].succeeded)  // 1
        let cid = c.commitmentId(worker, b, shard: 1)
        try c.advance(to: 3)
        let r = try c.revealAll(worker, b, commitment: cid)
        #expect(r.dropLast().allSatisfy { $0.failure == .leafMismatch })
        try c.advance(to: 6)
        #expect(try c.tickets(cid).allSatisfy { $0.ticket.status == .withheld })
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake == 5_000)
    }

    /// Protocol 4 at its horizon: commitment at the commit deadline, reveal at its deadline, a committee that all
    /// attests the false output (check passed), and a public claim committed at the challenge end and opened at the
    /// settlement height. The window still waits for the replay; the worker forfeits, the colluders are slashed.
    @Test func lastPublicClaimAgainstACollusivePassStillForfeits() throws {
        var f = try CheckerFixture()  // 1
        let s = SealedBatch.make(count: 24, seed: 141, cheat: true)
        let escrow = try f.c.openEscrow(f.client, amount: 100_000, payees: [(f.worker, 50_000)])  // 2
        let deadline = f.pool.commitDeadline(ofWindow: 0)
        try f.c.advance(to: deadline - 1)
        let tokens = s.batch.tokenCount
        let n = try f.c.account(f.worker.publicKey).nonce
        let r = try f.c.block([try f.c.tx(f.worker, f.c.commit(s.batch), nonce: n),
                               try f.c.tx(f.worker, f.c.voucher(f.client, escrow: escrow, payee: f.worker, input: tokens - tokens / 5,
                                                                output: tokens / 5), nonce: n + 1)])  // 12
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try f.c.advance(to: deadline + 2)
        let tickets = try f.c.tickets(f.c.commitmentId(f.worker, s.batch))
        try #require(tickets.count == 1)
        let t = tickets[0]
        #expect(t.ticket.revealDeadline == 17 && t.ticket.challengeEnd == 31 && f.settleHeight == 34)
        try f.c.advance(to: t.ticket.revealDeadline - 1)
        #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])[0].succeeded)  // 17
        let slots = try f.check(t.id)!.slots
        let i0 = s.batch.leafIndex(point: t.ticket.point)
        var moves = [Int: CheckerMove]()
        for slot in slots { moves[f.index(of: slot.checker)] = .answer(s.outputs[i0]) }
        let (_, _, resolution) = try f.play(s, t.id, moves: moves)
        #expect(resolution.has(.checkPassed(ticketId: t.id, outputHash: s.outputs[i0])))
        let salt = SHA256.hash([41])
        try f.c.advance(to: t.ticket.challengeEnd - 1)
        #expect(try f.c.block([try f.c.tx(f.verifier, .fraudCommit(claim: fraudClaimHash(ticketId: t.id, prover: f.verifier.publicKey, salt: salt), pool: 0))])[0].succeeded)
        try f.c.advance(to: f.settleHeight - 1)
        let open = try f.c.block([try f.c.tx(f.verifier, .fraudReveal(ticketId: t.id, salt: salt, input: s.batch.inputs[i0]))])  // 34
        #expect(open[0].succeeded, "\(open[0].status)")
        let verdict = open.last!
        #expect(verdict.events.contains { if case .fraudProven = $0 { return true }; return false })
        #expect(Set(verdict.slashes.filter { $0.2 == .checkerCollusion }.map(\.0)) == Set(slots.map(\.checker)))
        let p = try f.payout()
        #expect(payout(p)?.paid == 0)
        #expect(!p.events.contains { if case .checkFeePaid = $0 { return true }; return false })
    }
}

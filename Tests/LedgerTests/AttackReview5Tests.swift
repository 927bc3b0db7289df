import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Fifth independent attack review of economy v2 (review G): attacks not performed by `AttackReviewTests` …
/// `AttackReview4Tests`, each carried out through transactions in blocks on the in-memory ledger, each asserting the
/// secure outcome (Specs/economics.md §7 rows 52 and later were found here).
@Suite struct AttackReview5Tests {
    let client = testKey("client"), worker = testKey("worker"), verifier = testKey("verifier")

    /// The payout event of a receipt: (paid, refunded).
    func payout(_ r: Receipt) -> (paid: UInt64, refunded: UInt64)? {
        for e in r.events { if case .payoutCredited(_, _, _, let p, let f) = e { return (p.units, f.units) } }
        return nil
    }

    func feesPaid(_ r: Receipt) -> UInt64 {
        r.events.reduce(UInt64(0)) { if case .checkFeePaid(_, _, _, _, _, let a) = $1 { return $0 + a.units }; return $0 }
    }

    /// Commits `s` (shard 0, window 0) with a voucher of `voucherShard` for `input`/`output` tokens, reveals the
    /// ticket sealed, plays an honest check to `checkPassed`; returns the worker's net earned and the ticket.
    static func passedCheck(_ f: inout CheckerFixture, _ s: SealedBatch, voucherShard: UInt32, input: UInt64,
                            output: UInt64) throws -> UInt64 {
        let escrow = try f.c.openEscrow(f.client, amount: 100_000, payees: [(f.worker, 50_000)])
        let n = try f.c.account(f.worker.publicKey).nonce
        let r = try f.c.block([try f.c.tx(f.worker, f.c.commit(s.batch), nonce: n),
                               try f.c.tx(f.worker, f.c.voucher(f.client, escrow: escrow, payee: f.worker, shard: voucherShard,
                                                                input: input, output: output), nonce: n + 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "commit: \(r.map(\.status))")
        try f.c.advance(to: f.c.height + 2)
        let tickets = try f.c.tickets(f.c.commitmentId(f.worker, s.batch))
        try #require(tickets.count == 1)
        let t = tickets[0]
        #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])[0].succeeded)
        let (_, _, resolution) = try f.play(s, t.id)
        #expect(resolution.has(.checkPassed(ticketId: t.id, outputHash: s.outputs[s.batch.leafIndex(point: t.ticket.point)])))
        return try f.c.record(StateKey.workRecord(0, 0, f.worker.publicKey), WorkRecord.self)!.earned
    }

    // MARK: - Check fees and the clients' refunds

    /// Check fees were paid from the worker's window revenue before its pay (`payCheckFees`: `min(owed, earned)`,
    /// then `payable × (earned − fees) / earned`), and the refund was `earned − fees − payable`. Revenue the worker
    /// does not cover belongs to its clients, yet it paid the fees first. A worker paid for shard-1 tokens commits
    /// nothing for them and commits one small pass on shard 0 that nobody bought: its three checkers are paid out of the
    /// client's refund and the worker gets its whole check-fee deposit back. With the checkers its own keys (a
    /// registry it fills, or any of its slots) it turns the client's refund into its income at the price of one ticket
    /// fee. Found by this review: the client got back 1 875 of the 1 995 it paid for work never done (120 to the
    /// checkers). Defeated: check fees come from the check-fee deposit (which covers every fee a commitment's samples
    /// can owe) and never from the clients' share of the revenue (verification.md §5, economics.md §7 row 52).
    @Test func checksOfWorkNobodyBoughtArePaidFromTheClientsRefund() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 501)
        // The client pays for 400 input and 100 output tokens of shard 1 (prices 3 and 9): nothing on shard 1 is committed.
        let earned = try Self.passedCheck(&f, s, voucherShard: 1, input: 400, output: 100)
        let deposit = try f.c.record(StateKey.workRecord(0, 0, f.worker.publicKey), WorkRecord.self)!.checkDeposit.units
        let workerBefore = try f.c.balance(f.worker.publicKey)
        let p = try f.payout()
        #expect(p.succeeded)
        let (paid, refunded) = try #require(payout(p))
        let fees = feesPaid(p)
        print("uncovered revenue \(earned): refunded \(refunded), fees \(fees), worker paid \(paid), deposit \(deposit)")
        #expect(paid == 0 && fees == 3 * f.cfg.checkFee.units)
        // Secure outcome: the client gets back everything the worker did not earn, and the fees come out of the
        // worker's deposit.
        #expect(refunded == earned, "refunded \(refunded) of \(earned)")
        #expect(try f.c.balance(f.worker.publicKey) - workerBefore == deposit - fees,
                "the worker's deposit pays its checkers")
    }

    /// The same rule let a worker take more than `κ × stake` per window out of its clients: the fees came out of the
    /// revenue before the cap, so a capped worker's checkers were paid from what the cap refunds. With the checkers
    /// its own keys, the worker's coalition took the capped pay plus every fee, all from the client (here 20 + 120 of
    /// the client's money against a cap of 20). Defeated with row 52: the fees come from the deposit.
    @Test func aCappedWorkersCheckersWerePaidFromTheClientsRefund() throws {
        var f = try CheckerFixture()
        // 2: down to the pool minimum (100): the cap is 20.
        #expect(try f.c.block([try f.c.tx(f.worker, .unbond(role: .worker(pool: 0), amount: 9_900))])[0].succeeded)
        let s = SealedBatch.make(count: 24, seed: 502)
        let tokens = s.batch.tokenCount
        let earned = try Self.passedCheck(&f, s, voucherShard: 0, input: tokens - tokens / 5, output: tokens / 5)
        let p = try f.payout()
        #expect(p.succeeded)
        let (paid, refunded) = try #require(payout(p))
        let fees = feesPaid(p)
        let cap: UInt64 = 100 * 2_000 / 10_000
        let clientLoss = earned - refunded  // what the client paid the worker (net of the burned fee) and did not get back
        print("capped worker: earned \(earned), paid \(paid), fees \(fees), refunded \(refunded), client's loss \(clientLoss), cap \(cap)")
        #expect(fees == 3 * f.cfg.checkFee.units)
        // Secure outcome: the client pays the worker's coalition (the worker and the checkers it may own) at most the cap.
        #expect(paid <= cap)
        #expect(clientLoss <= cap, "the client lost \(clientLoss) against a cap of \(cap)")
    }
}

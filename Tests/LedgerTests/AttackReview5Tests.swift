import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Fifth independent attack review of economy v2 (review G): attacks not performed by `AttackReviewTests` …
/// `AttackReview4Tests`, each carried out through transactions in blocks on the in-memory ledger, each asserting the
/// secure outcome (Specs/economics.md §7 rows 52 and later were found here).
@Suite struct AttackReview5Tests {
    let client = testKey("client"), worker = testKey("worker"), verifier = testKey("verifier")

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
        _ = try f.revealSoleTicketAndPass(s)
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

extension AttackReview5Tests {
    // MARK: - The κ check and the bounty a cheater can win back

    /// Genesis checks `κ ≤ σ·v/(1−v)` (economics.md §5–§6) with the whole slash `σ` as the cheater's loss. But a cheater
    /// can always be the earliest claimant of its own fabricated ticket: a second key commits a blind claim on the
    /// ticket at the draw (its id is known once the commitment is drawn), before the worker even reveals; when an
    /// honest verifier opens a claim, the second key opens its own (committed earlier) and wins the bounty, even after
    /// the verdict (a claim committed earlier replaces the winner). Caught, the cheater loses `σ·(1 − β)`, not `σ`
    /// (β = `verifierBountyBps`), and the honest verifier gets only its bond back. Genesis accepted every β up to
    /// 10 000: at β = 10 000 a caught cheater lost nothing of its stake (slash 500, bounty 500 back to its second key),
    /// so with `v < 1` fabricating paid in expectation. Found by this review. Defeated: genesis checks
    /// `κ ≤ σ·(1 − β)·v/(1−v)` (economics.md §6, §7 row 53).
    @Test func aCheatersOwnEarlierClaimWinsBackTheBountyWhenCaught() throws {
        let sybil = testKey("cheaters-second-key")
        var pool = Chain.defaultPool()
        pool.verifierBountyBps = 10_000
        let accounts: [(PrivateKey, Amount)] = [(client, 10_000_000), (worker, 100_000), (sybil, 100_000), (verifier, 100_000)]
        var refused = false
        do { _ = try Chain(accounts: accounts, workers: [(worker, 0, 1_000)], pools: [pool]) } catch { refused = true }

        // The attack, at the default β (1 000, what genesis accepts in any case) and, when genesis takes it, at β = 10 000.
        func run(_ pool: PoolConfig) throws -> (slashed: UInt64, recovered: UInt64, verifierGain: Int) {
            var c = try Chain(accounts: accounts, workers: [(worker, 0, 1_000)], pools: [pool])
            let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
            let b = PassBatch.make(count: 40, shard: 0, seed: 531, cheat: Set(0..<40))
            #expect(try commitAndClaim(&c, b, escrow: escrow).dropLast().allSatisfy { $0.succeeded })  // 2
            try c.advance(to: 4)  // drawn at the end of 4
            let cid = c.commitmentId(worker, b)
            let (tid, _) = try c.tickets(cid)[0]
            let sybilStart = try c.balance(sybil.publicKey), verifierStart = try c.balance(verifier.publicKey)
            // 5: the second key's blind claim on the ticket comes first; then the worker reveals its fabricated leaves.
            let mine = SHA256.hash(Array("mine".utf8))
            let claim = fraudClaimHash(ticketId: tid, prover: sybil.publicKey, salt: mine)
            var txs = [try c.tx(sybil, .fraudCommit(claim: claim, pool: 0))]
            var n = try c.account(worker.publicKey).nonce
            for (id, t) in try c.tickets(cid) { txs.append(try c.tx(worker, b.reveal(id, point: t.point), nonce: n)); n += 1 }
            #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })
            let input = b.inputs[Int(try c.tickets(cid)[0].ticket.leaf!.index)]
            // 6–7: an honest verifier replays the ticket and proves the fraud (the verdict comes at the end of 7).
            let (_, opened) = try c.proveFraud(verifier, ticket: tid, input: input)
            #expect(opened.succeeded)
            let slashed = c.lastReceipts.flatMap(\.events).reduce(UInt64(0)) {
                if case .slashed(let k, _, let a, _, _) = $1, k == worker.publicKey { return $0 + a.units }; return $0
            }
            // 8: seeing the claim, the second key opens its own, committed earlier: it replaces the winner.
            #expect(try c.block([try c.tx(sybil, .fraudReveal(ticketId: tid, salt: mine, input: input))])[0].succeeded)
            try c.advance(to: c.settleHeight0)  // the bounty is paid at the end of the case's final height
            let recovered = c.lastReceipts.flatMap(\.events).reduce(UInt64(0)) {
                if case .bountyPaid(_, let p, let bounty, _) = $1, p == sybil.publicKey { return $0 + bounty.units }; return $0
            }
            let verifierGain = Int(try c.balance(verifier.publicKey)) - Int(verifierStart)
            _ = sybilStart
            return (slashed, recovered, verifierGain)
        }
        let atDefault = try run(Chain.defaultPool())
        print("β = 1 000: slashed \(atDefault.slashed), bounty won back by the cheater's second key \(atDefault.recovered), verifier's balance \(atDefault.verifierGain)")
        #expect(atDefault.slashed == 500)
        if !refused {
            let r = try run(pool)
            print("β = 10 000 accepted by genesis: slashed \(r.slashed), bounty won back by the cheater's second key \(r.recovered)")
            #expect(r.recovered == r.slashed, "the caught cheater's coalition keeps its stake")
        }
        // Secure outcome: genesis refuses a bounty share under which a caught cheater keeps its stake (κ = 2 000 >
        // σ·(1 − β)·v/(1−v) = 0), and at the default β the κ check uses the slash net of the bounty.
        #expect(refused, "genesis accepted verifierBountyBps 10 000 with payableCapBps 2 000")
        var atOldBound = Chain.defaultPool()
        atOldBound.payableCapBps = 2_499  // σ·v/(1−v) = 2 499 at v = 1/3: the old bound
        #expect(throws: (any Error).self) { try Ledger.checkHorizons(atOldBound, Chain.defaultParams()) }
        atOldBound.payableCapBps = 2_249  // σ·(1 − β)·v/(1−v) = 4 500 · 3 333 / 6 667
        #expect(throws: Never.self) { try Ledger.checkHorizons(atOldBound, Chain.defaultParams()) }
    }
}

extension AttackReview5Tests {
    // MARK: - Row 24's economic defence and the block proposer

    /// Row 24 (a client pre-reveals the passes it was served through a staked key of its own, so the honest worker's
    /// samples are voided and its pay refunded to the client) is "not defeated on chain but loses money": every
    /// pre-revealed pass needs its own commitment (a ticket fee) and a reveal transaction carrying its whole input,
    /// whose fee per byte far exceeds the pass's price (`AttackReviewTests.clientPreRevealVoidsTheHonestWorkersSamples`).
    /// Review G found that every transaction fee went to the block's proposer (economics.md §8): a client that is also a
    /// validator (or pays one to include its transactions) put its commitments and reveals into its own blocks and got
    /// their fees back, so the attack cost 14 for 188 of service, and the honest worker, which did the work, was paid
    /// nothing. Defeated: a reveal's per-byte floor is burned, not paid to the proposer (state-machine.md §3.2), so the
    /// coalition pays for the reveals' bytes like anyone else. Here the coalition (client, its worker key, the proposer
    /// of every block) performs the attack and spends more than the service's price. economics.md §7 row 24.
    @Test
    func aProposerPreRevealsTheClientsPassesForItsOwnFees() throws {
        let attacker = testKey("client-owned-worker"), honest = testKey("worker")
        // One validator (validator-0) proposes every block: the attacker's.
        var c = try Chain(accounts: [(client, 1_000_000), (honest, 100_000), (attacker, 100_000)],
                          workers: [(honest, 0, 10_000), (attacker, 0, 100)])
        let proposer = c.validators[0].key.publicKey
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(honest, 50_000)])  // 1
        func coalition() throws -> UInt64 {
            try c.balance(client.publicKey) + c.record(StateKey.escrow(escrow), Escrow.self)!.balance.units + c.wealth(attacker)
                + c.balance(proposer)
        }
        let start = try coalition()
        let served = AttackReviewTests.passes(count: 4, tokens: 16, seed: 81)
        let w = PassBatch.from(served)
        let singles = served.map { PassBatch.from([$0]) }
        // 2: the client's worker key commits each pass it was served, alone (in its own block).
        #expect(try c.block(try singles.enumerated().map { try c.tx(attacker, c.commit($1), nonce: UInt64($0)) })
            .dropLast().allSatisfy { $0.succeeded })
        // 3: the honest worker commits what it served and claims its voucher (its fees go to the proposer as any block's).
        let (i, o) = (w.tokenCount - w.tokenCount / 5, w.tokenCount / 5)
        let r = try c.block([try c.tx(honest, c.commit(w)),
                             try c.tx(honest, c.voucher(client, escrow: escrow, payee: honest, input: i, output: o), nonce: 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        var honestFees = r.dropLast().reduce(UInt64(0)) { $0 + $1.feePaid.units }
        try c.advance(to: 4)
        var txs = [SignedTransaction]()
        var n = try c.account(attacker.publicKey).nonce
        for s in singles {
            for (id, t) in try c.tickets(c.commitmentId(attacker, s)) { txs.append(try c.tx(attacker, s.reveal(id, point: t.point), nonce: n)); n += 1 }
        }
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })  // 5: the pre-reveals, in the attacker's block
        let wid = c.commitmentId(honest, w)
        let burnedBefore = try c.burned()
        let reveals = try c.revealAll(honest, w, commitment: wid)  // 6
        // What the proposer got of the honest reveals' fees: what they paid less the floors burned.
        honestFees += reveals.dropLast().reduce(UInt64(0)) { $0 + $1.feePaid.units } - (try c.burned() - burnedBefore)
        #expect(try c.tickets(wid).allSatisfy { $0.ticket.status == .voided })
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: honest.publicKey))])
        #expect(payout(p[0])?.paid == 0)
        // The proposer would have earned the honest worker's fees by producing blocks anyway: they are not the attack's.
        let spent = Int(start) - (Int(try coalition()) - Int(honestFees))
        let price = Int(i * 2 + o * 7)
        print("proposer-client pre-reveal: spent \(spent) for \(price) of service; the honest worker paid 0")
        // Secure outcome (row 24's claim): the attack costs more than paying for the service.
        #expect(spent > price, "spent \(spent) for \(price) of service")
    }
}

extension AttackReview5Tests {
    // MARK: - Reusing one's own passes after their draw

    /// Economics.md §3 prices the reuse of a worker's own pass in a second commitment at "caught when the pass is
    /// sampled in both (≈ m²/L per reuse)", a residual the cap accounts for. But a commitment's samples are drawn
    /// `beaconDelay` … `beaconMaxDelay` blocks after its inclusion, long before the window's commit deadline, and the
    /// revealed-pass index only knows revealed passes. A worker commits tree A, waits for its draw and reveals, then
    /// commits tree B = A without the sampled leaves in the same window (and C, D, … up to `maxCommitmentsPerWindow`):
    /// no pass of B was ever revealed, so B's samples are first reveals and the reuse can never be detected. Every
    /// token is paid twice for one computation, with zero risk (the `q ≥ c` of §5's bound is 0 for the reused part).
    /// Defeated by hop receipts (protocol 5, economics.md §4.1), not by the draw: to be paid for B the worker was paid
    /// for requests it served without computing them (B holds A's passes, not theirs). The client holds a receipt for
    /// each; it challenges one, no leaf answers it, and the worker is convicted and forfeits the window.
    /// (`HopChallengeTests.recommittingDrawnPassesIsCaughtByOneChallenge` performs the same attack in full.)
    @Test
    func passesRecommittedAfterTheirDrawAreCaughtByAHopChallenge() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        var g = SplitMix64(seed: 541)
        var passes = [(PassLeaf, [UInt8], Bool)]()
        for i in 0..<200 {
            let input = testInput(tokens: 4, seed: g.next())
            let position = UInt64(i) * 4
            passes.append((PassLeaf(index: 0, shard: 0, positionOffset: position, tokenCount: 4, inputHash: Tags.tensor.hash(input),
                                    outputHash: FakeAdjudicator.canonicalOutput(input: input, shard: 0, positionOffset: position)), input, false))
        }
        let a = PassBatch.from(passes)
        #expect(try c.block([try c.tx(worker, c.commit(a))])[0].succeeded)  // 2
        try c.advance(to: 4)  // A is drawn
        let aid = c.commitmentId(worker, a)
        #expect(try c.revealAll(worker, a, commitment: aid).dropLast().allSatisfy { $0.succeeded })  // 5
        let revealed = Set(try c.tickets(aid).map { a.leaves[a.leafIndex(point: $0.ticket.point)].contentKey })
        // 6: B = A without its revealed leaves, still in window 0; the client pays for both trees' tokens.
        let b = PassBatch.from(passes.filter { !revealed.contains($0.0.contentKey) })
        let tokens = a.tokenCount + b.tokenCount
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: tokens - tokens / 5,
                                                        output: tokens / 5), nonce: try c.account(worker.publicKey).nonce + 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 8)  // B is drawn
        let bid = c.commitmentId(worker, b)
        let reveals = try c.revealAll(worker, b, commitment: bid)
        #expect(reveals.dropLast().allSatisfy { $0.succeeded })
        let statuses = try c.tickets(bid).map(\.ticket.status)
        var (served, _) = HopChallengeTests.pass(seed: 54_054, position: 9_000)
        served.outputHash = SHA256.hash(Array("garbage".utf8))
        let receipt = HopReceipt(leaf: served, pool: 0, window: 0, worker: worker.publicKey, holder: client.publicKey)
            .signed(by: worker, chainId: Chain.chainId)
        try c.advance(to: 12)
        #expect(try c.block([try c.tx(client, .hopChallenge(receipt: receipt))])[0].succeeded)  // 13, unanswerable
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let (paid, refunded) = try #require(payout(p[0]))
        let stake = try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units
        print("recommitted after the draw: B's samples \(statuses), paid \(paid), refunded \(refunded), stake \(stake) of 100 000; "
              + "\(b.tokenCount) of \(tokens) paid tokens are A's passes again")
        // Secure outcome: the second sale of A's passes is punished, or at least not paid.
        #expect(stake < 100_000 || refunded * tokens >= (paid + refunded) * b.tokenCount,
                "paid \(paid) for \(tokens) tokens of which \(b.tokenCount) were computed once for A")
    }
}

extension AttackReview5Tests {
    // MARK: - Duplicates in one tree behind a seam

    /// Row 55 (found by review G). Economics.md §3 (row 1): a duplicate leaf in one tree is caught with probability at
    /// least the duplicates' token share per sample. With key order checked only between a sampled leaf and its two
    /// neighbours, a tree `R ‖ d_hi ‖ d_lo ‖ R` (R a sorted run of real passes, d_hi a one-token pass whose key is above
    /// all of R, d_lo one below) had a single descent, at the seam: every copy of every pass of R could be revealed and
    /// the worker was paid for `2|R| + 2` tokens having computed `|R| + 2` (518 for 260, all 16 samples revealed),
    /// caught only on the 2 seam tokens. Defeated: every node carries the key range below it and a path checks
    /// `left.maxKey < right.minKey` at every level, so of two copies of a pass at most one has a path that verifies
    /// (the node above both would need the first's range below the second's): samples on the other copy fail, are
    /// withheld and slashed, with at least the duplicates' token share per sample.
    @Test
    func duplicatesBehindASeamAreCaught() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let run = PassBatch.make(count: 100, shard: 0, seed: 551)  // sorted by content key
        let keys = run.leaves.map(\.contentKey)
        // Two one-token passes: one keyed above the whole run, one below (positions searched; the input is real).
        let seamInput = testInput(tokens: 1, seed: 552)
        func seamLeaf(_ wanted: (Hash32) -> Bool) -> PassLeaf {
            var p: UInt64 = 1_000_000
            while true {
                let leaf = PassLeaf(index: 0, shard: 0, positionOffset: p, tokenCount: 1, inputHash: Tags.tensor.hash(seamInput),
                                    outputHash: FakeAdjudicator.canonicalOutput(input: seamInput, shard: 0, positionOffset: p))
                if wanted(leaf.contentKey) { return leaf }
                p += 1
            }
        }
        let hi = seamLeaf { $0 > keys.last! }, lo = seamLeaf { $0 < keys.first! }
        let tree = unsortedTree(run.leaves + [hi, lo] + run.leaves)
        let b = PassBatch(tree: tree, inputs: run.inputs + [seamInput, seamInput] + run.inputs, cheated: [])
        let tokens = b.tokenCount
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: tokens - tokens / 5,
                                                        output: tokens / 5), nonce: 1)])  // 2
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 4)  // drawn
        let cid = c.commitmentId(worker, b)
        let sampled = try c.tickets(cid).map { b.leafIndex(point: $0.ticket.point) }
        let seam = Set([run.leaves.count, run.leaves.count + 1])
        try #require(sampled.allSatisfy { !seam.contains($0) }, "this seed samples the seam: pick another")
        let reveals = try c.revealAll(worker, b, commitment: cid)  // 5
        // Of two leaves with one key, at most one has a path that verifies (the node above both would need the left
        // one's range below the right one's): samples on the other copy fail, and one failure convicts.
        let failed = reveals.dropLast().filter { !$0.succeeded }
        #expect(!failed.isEmpty && failed.allSatisfy { $0.failure == .invalidSumProof || $0.failure == .neighbourMismatch },
                "\(reveals.dropLast().map(\.status))")
        let second = sampled.filter { $0 > run.leaves.count + 1 }.count
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let (paid, refunded) = try #require(payout(p[0]))
        let stake = try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units
        let distinct = run.tokenCount + 2
        print("seam: \(sampled.count) samples (\(second) on the second copy); paid \(paid), refunded \(refunded), "
              + "stake \(stake); \(tokens) tokens paid, \(distinct) computed; seam weight 2 of \(tokens)")
        // Secure outcome: a tree that sells its passes twice is caught or not paid for the copies.
        #expect(stake < 100_000 || refunded * tokens >= (paid + refunded) * run.tokenCount,
                "paid \(paid) for \(tokens) tokens of which \(run.tokenCount) are copies")
    }
}

extension AttackReview5Tests {
    // MARK: - A full fraud case keeps its earliest claims

    /// Review G's suspicion: a pending case took at most `maxClaimsPerTicket` (16) claims and refused the rest, so
    /// sixteen claims opened first (here one key's, committed after the honest verifier's) pushed out the earliest,
    /// rightful claim: refused, it could only be opened again after the verdict, and its bond burned when the verdict
    /// came after its reveal period. Now the case keeps its sixteen earliest-committed claims: the verifier's claim
    /// displaces the latest of the sybil's (whose bond comes back at once) and wins the bounty at the verdict, and a
    /// claim later than all sixteen gets its bond back at once.
    @Test
    func aFullFraudCaseKeepsItsEarliestClaims() throws {
        let sybil = testKey("claim-crowder")
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 100_000), (sybil, 1_000_000), (verifier, 100_000)],
                          workers: [(worker, 0, 1_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let b = PassBatch.make(count: 20, shard: 0, seed: 561, cheat: Set(0..<20))
        #expect(try commitAndClaim(&c, b, escrow: escrow).dropLast().allSatisfy { $0.succeeded })  // 2
        try c.advance(to: 4)
        let cid = c.commitmentId(worker, b)
        var n = try c.account(worker.publicKey).nonce
        var reveals = [SignedTransaction]()
        for (id, t) in try c.tickets(cid) { reveals.append(try c.tx(worker, b.reveal(id, point: t.point), nonce: n)); n += 1 }
        #expect(try c.block(reveals).dropLast().allSatisfy { $0.succeeded })  // 5
        let (tid, ticket) = try c.tickets(cid)[0]
        let input = b.inputs[Int(ticket.leaf!.index)]
        let bond = Chain.defaultPool().fraudProofBond.units
        // 6: the verifier commits its claim first.
        let mine = SHA256.hash(Array("verifier".utf8))
        #expect(try c.block([try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: mine), pool: 0))])[0].succeeded)
        // 7: the crowder commits seventeen claims, later.
        let salts = (0..<17).map { SHA256.hash(Array("crowd-\($0)".utf8)) }
        let s0 = try c.account(sybil.publicKey).nonce
        #expect(try c.block(try salts.enumerated().map { j, s in
            try c.tx(sybil, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: sybil.publicKey, salt: s), pool: 0), nonce: s0 + UInt64(j))
        }).dropLast().allSatisfy { $0.succeeded })
        let sybilBefore = try c.balance(sybil.publicKey), verifierBefore = try c.balance(verifier.publicKey)
        // 8: sixteen of the crowder's claims are opened first, then the verifier's (the 17th), then the crowder's 17th.
        var opens = try salts.prefix(16).enumerated().map { j, s in
            try c.tx(sybil, .fraudReveal(ticketId: tid, salt: s, input: input), nonce: s0 + 17 + UInt64(j))
        }
        opens.append(try c.tx(verifier, .fraudReveal(ticketId: tid, salt: mine, input: input)))
        opens.append(try c.tx(sybil, .fraudReveal(ticketId: tid, salt: salts[16], input: input), nonce: s0 + 33))
        let r = try c.block(opens)
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        let returned = r.dropLast().flatMap(\.events).filter { if case .fraudBondReturned = $0 { true } else { false } }
        #expect(returned.count == 2, "the displaced claim's bond and the 17th crowder claim's: \(returned)")
        try c.advance(to: c.settleHeight0)
        let verdict = try #require(try c.record(StateKey.fraudCase(tid), FraudCase.self))
        let verifierGain = Int(try c.balance(verifier.publicKey)) - Int(verifierBefore)
        print("full fraud case: winner is the verifier \(verdict.winner == verifier.publicKey), bounty \(verdict.bounty.units), "
              + "verifier's balance +\(verifierGain) (bond \(bond))")
        // Secure outcome: the earliest claim wins although sixteen were opened before it, and gets its bond and the
        // bounty; the crowder gets back all seventeen bonds and pays only its transactions' fees.
        #expect(verdict.status == .paid && verdict.winner == verifier.publicKey)
        #expect(verdict.bounty.units > 0)
        #expect(verifierGain == Int(bond + verdict.bounty.units) - Int(r[16].feePaid.units))
        let crowderFees = r.dropLast().enumerated().filter { $0.offset != 16 }.reduce(UInt64(0)) { $0 + $1.element.feePaid.units }
        #expect(try c.balance(sybil.publicKey) == sybilBefore + 17 * bond - crowderFees)
    }
}

extension AttackReview5Tests {
    /// Block 2 of these attacks: the worker commits `b` and claims a voucher from the client for all of its tokens
    /// (a fifth of them output).
    func commitAndClaim(_ c: inout Chain, _ b: PassBatch, escrow: Hash32) throws -> [Receipt] {
        let (i, o) = (b.tokenCount - b.tokenCount / 5, b.tokenCount / 5)
        return try c.block([try c.tx(worker, c.commit(b)),
                            try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
    }
}

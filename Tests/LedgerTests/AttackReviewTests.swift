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
        return charge - (charge * 500 + 9_999) / 10_000  // the fee is rounded up
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

    // MARK: - Stake accounting: the payout cap and the slash read the stake at different heights

    /// The payout cap reads the stake at the window's close height (`Settlement.swift`, `claimPayout`), the slash
    /// the stake at the commitment's inclusion (`Shares.swift`, `convict` → `slash(offenceHeight: includedHeight)`).
    /// A worker commits with the minimum stake and bonds 99× more before the window closes: if not caught it is paid
    /// against 100 000 of stake, if caught it loses half of 1 000. The deterrence bound of economics.md §5 needs
    /// one `S` on both sides (`G ≤ κS` against `σS`).
    /// Defeated by the work record's `minCommitStake` (economics.md §5): the cap takes the lowest stake of any
    /// commitment, so it pays against the 1 000 the slash answers for.
    @Test func stakeBondedAfterCommittingRaisesTheCapButNotTheSlash() throws {
        func run(cheat: Bool) throws -> (paid: UInt64, slashed: UInt64, capStake: UInt64) {
            var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (verifier, 100_000)], workers: [(worker, 0, 1_000)])
            let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // height 1
            let b = PassBatch.make(count: 400, shard: 0, seed: 71, cheat: cheat ? Set(0..<400) : [])
            let (i, o) = split(b.tokenCount)
            let r = try c.block([try c.tx(worker, c.commit(b)),
                                 try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])  // 2
            #expect(r.dropLast().allSatisfy { $0.succeeded })
            let cid = c.commitmentId(worker, b)
            // Height 3: after the commitment's inclusion, long before the window closes at 10.
            #expect(try c.block([try c.tx(worker, .bond(role: .worker(pool: 0), amount: 99_000, randaoCommitment: nil))])[0].succeeded)
            try c.advance(to: 4)
            #expect(try c.revealAll(worker, b, commitment: cid).dropLast().allSatisfy { $0.succeeded })  // 5
            var taken: UInt64 = 0
            if cheat {
                let (tid, t) = try c.tickets(cid)[0]
                let (_, opened) = try c.proveFraud(verifier, ticket: tid, input: b.inputs[Int(t.leaf!.index)])
                #expect(opened.succeeded)
                taken = slashed(c.lastReceipts, worker.publicKey)
            }
            try c.advance(to: c.settleHeight0)
            let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
            let capStake = try c.ledgerState.stake(.worker(pool: 0), worker.publicKey, atEndOf: c.pool.closeHeight(ofWindow: 0)).units
            return (payout(p[0])?.paid ?? 0, taken, capStake)
        }
        let honest = try run(cheat: false)
        // The stake at the close is 100 000, but the worker committed with 1 000.
        #expect(honest.capStake == 100_000)
        let caught = try run(cheat: true)
        // Secure outcome: uncaught, it is paid at most κ × the 1 000 it committed with (200); caught, it loses σ of
        // that stake (500): the one S of the deterrence bound.
        #expect(honest.paid > 0 && honest.paid <= 1_000 * 2_000 / 10_000, "paid \(honest.paid)")
        #expect(caught.slashed >= 1_000 * 5_000 / 10_000, "slashed \(caught.slashed)")
    }

    /// The same gap the other way round: the worker holds 100 000 at the window's close height (the cap), unbonds
    /// 99 000 in the grace period, and commits afterwards (still before the commit deadline). The unbonding entry was
    /// created before the offence height, so the slash cannot reach it.
    /// Defeated by `minCommitStake`: the late commitment's 1 000 of stake is the cap's stake, and the slash takes σ
    /// of it, so the unbonded 99 000 never backed any pay.
    @Test func unbondingInTheGracePeriodKeepsTheCapStakeOutOfReach() throws {
        func run(cheat: Bool) throws -> (paid: UInt64, slashed: UInt64, closeStake: UInt64) {
            var c = try Chain(accounts: [(client, 10_000_000), (worker, 100_000), (verifier, 100_000)], workers: [(worker, 0, 100_000)])
            let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])
            try c.advance(to: c.pool.closeHeight(ofWindow: 0))
            // Height 11: window 0's grace period.
            #expect(try c.block([try c.tx(worker, .unbond(role: .worker(pool: 0), amount: 99_000))])[0].succeeded)
            // Height 12 = commitDeadline(0): a batch (fabricated when cheating) and its voucher.
            let b = PassBatch.make(count: 400, shard: 0, seed: 72, cheat: cheat ? Set(0..<400) : [])
            let (i, o) = split(b.tokenCount)
            let r = try c.block([try c.tx(worker, c.commit(b)),
                                 try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 2)])
            #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
            let cid = c.commitmentId(worker, b)
            let closeStake = try c.ledgerState.stake(.worker(pool: 0), worker.publicKey, atEndOf: c.pool.closeHeight(ofWindow: 0)).units
            try c.advance(to: 14)
            #expect(try c.revealAll(worker, b, commitment: cid).dropLast().allSatisfy { $0.succeeded })
            var taken: UInt64 = 0
            if cheat {
                let (tid, t) = try c.tickets(cid)[0]
                let (_, opened) = try c.proveFraud(verifier, ticket: tid, input: b.inputs[Int(t.leaf!.index)])
                #expect(opened.succeeded)
                taken = slashed(c.lastReceipts, worker.publicKey)
            }
            try c.advance(to: c.settleHeight0)
            let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
            return (payout(p[0])?.paid ?? 0, taken, closeStake)
        }
        let honest = try run(cheat: false)
        #expect(honest.closeStake == 100_000, "at the close the worker held 100 000 (a cap of 20 000)")
        let caught = try run(cheat: true)
        // Secure outcome: the pay is capped by the 1 000 the late commitment was backed by, and a conviction takes σ
        // of it.
        #expect(honest.paid > 0 && honest.paid <= 1_000 * 2_000 / 10_000, "paid \(honest.paid)")
        #expect(caught.slashed >= 1_000 * 5_000 / 10_000, "slashed \(caught.slashed)")
    }

    // MARK: - The first reveal of a content key wins

    /// A client knows the passes it sent (input, position, token count; in a one-shard pool or for relayed hops also
    /// the output). Through a staked worker key of its own it commits each of them in a one-leaf tree (one sample,
    /// always that pass) and reveals them before the honest worker can. Every sample of the honest worker's
    /// commitment is then `voided` (`Shares.swift`, `recordReveal`: "another worker revealed it first"), its covered
    /// tokens drop to zero, and the client's payment comes back as a refund: the client was served for the ticket
    /// fees and the protocol fee.
    ///
    /// Not defeated on chain (economics.md §7 row 24: passes are not bound to who paid for them), but it loses
    /// money: every pre-revealed pass costs a reveal transaction carrying its whole input (fees per byte), far more
    /// than the pass's price at default parameters. The honest worker's loss is griefing, paid for by the attacker.
    @Test func clientPreRevealVoidsTheHonestWorkersSamples() throws {
        let attacker = testKey("client-owned-worker")
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000), (attacker, 100_000)],
                          workers: [(worker, 0, 10_000), (attacker, 0, 100)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])  // 1
        let served = Self.passes(count: 4, tokens: 16, seed: 81)
        let w = PassBatch.from(served)
        let singles = served.map { PassBatch.from([$0]) }
        let clientStart = try c.balance(client.publicKey) + c.wealth(attacker)
        // 2: the client's worker key commits each pass it sent, alone.
        let pre = try c.block(try singles.enumerated().map { try c.tx(attacker, c.commit($1), nonce: UInt64($0)) })
        #expect(pre.dropLast().allSatisfy { $0.succeeded })
        // 3: the honest worker commits what it served and claims its voucher.
        let (i, o) = split(w.tokenCount)
        let r = try c.block([try c.tx(worker, c.commit(w)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        let wid = c.commitmentId(worker, w)
        // The attacker's samples are drawn at the end of 4, the worker's at the end of 5.
        try c.advance(to: 4)
        var txs = [SignedTransaction]()
        var n = try c.account(attacker.publicKey).nonce
        for s in singles {
            for (id, t) in try c.tickets(c.commitmentId(attacker, s)) { txs.append(try c.tx(attacker, s.reveal(id, point: t.point), nonce: n)); n += 1 }
        }
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })  // 5
        // 6: the honest worker reveals at the first possible block.
        let reveals = try c.revealAll(worker, w, commitment: wid)
        #expect(reveals.dropLast().allSatisfy { $0.succeeded })
        let statuses = try c.tickets(wid).map { $0.ticket.status }
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let clientEnd = try c.balance(client.publicKey) + c.wealth(attacker)
        // The attack works on chain: the honest worker's samples are voided and its pay goes back to the client.
        #expect(statuses.allSatisfy { $0 == .voided }, "\(statuses)")
        #expect(payout(p[0])?.paid == 0)
        // Secure outcome (economic): the client and its worker key spent more than paying for the service would
        // have cost (the charge for the tokens served), so the attack loses money.
        let spent = Int(clientStart) - Int(clientEnd)
        #expect(spent > Int(i * 2 + o * 7), "spent \(spent) for \(i * 2 + o * 7) of service")
    }

    /// Row 10 punishes a worker that reveals its own pass in two commitments. The same pass sold under a second
    /// staked key is at worst `voided` (no slash), and only when both sales sample the same leaf; otherwise both are
    /// paid in full. The reseller computes nothing for its client (row 23 says a lazy server "saves no compute").
    /// Passes are bound to content, not to who paid, and slashing the second revealer would let a client frame an honest
    /// worker (row 24). Defeated by hop receipts (protocol 5, economics.md §4.1, row 25): the reseller's own client holds
    /// a receipt for each pass it was served (its own requests, answered with garbage); it challenges one, no leaf of the
    /// reseller's tree answers it, and the reseller is convicted and paid nothing.
    @Test
    func passesResoldUnderASecondKeyAreCaughtByAHopChallenge() throws {
        let reseller = testKey("reseller"), client2 = testKey("client-2")
        var c = try Chain(accounts: [(client, 10_000_000), (client2, 10_000_000), (worker, 100_000), (reseller, 100_000)],
                          workers: [(worker, 0, 100_000), (reseller, 0, 100_000)])
        let e1 = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])
        let e2 = try c.openEscrow(client2, amount: 1_000_000, payees: [(reseller, 1_000_000)])
        let b = PassBatch.make(count: 600, shard: 0, seed: 111)
        let (i, o) = split(b.tokenCount)
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: e1, payee: worker, input: i, output: o), nonce: 1),
                             try c.tx(reseller, c.commit(b)),
                             try c.tx(reseller, c.voucher(client2, escrow: e2, payee: reseller, input: i, output: o), nonce: 1)])  // 3
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: 5)
        #expect(try c.revealAll(worker, b, commitment: c.commitmentId(worker, b)).dropLast().allSatisfy { $0.succeeded })
        #expect(try c.revealAll(reseller, b, commitment: c.commitmentId(reseller, b)).dropLast().allSatisfy { $0.succeeded })
        let resold = try c.tickets(c.commitmentId(reseller, b)).map { $0.ticket.status }
        // The reseller's client challenges a receipt of one of its own requests (served garbage).
        var (served, _) = HopChallengeTests.pass(seed: 25_025, position: 64)
        served.outputHash = SHA256.hash(Array("garbage".utf8))
        let receipt = HopReceipt(leaf: served, pool: 0, window: 0, worker: reseller.publicKey, holder: client2.publicKey)
            .signed(by: reseller, chainId: Chain.chainId)
        try c.advance(to: 12)
        #expect(try c.block([try c.tx(client2, .hopChallenge(receipt: receipt))])[0].succeeded)  // 13, unanswerable
        try c.advance(to: c.settleHeight0)
        let p1 = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let p2 = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: reseller.publicKey))])
        let slashedReseller = try c.staker(.worker(pool: 0), reseller.publicKey)!.stake.units < 100_000
        print("resale: original paid \(String(describing: payout(p1[0]))), reseller paid \(String(describing: payout(p2[0]))), reseller tickets \(resold)")
        // Secure outcome: one computation is paid once; a resale is refunded or punished.
        #expect(payout(p2[0])?.paid == 0 || slashedReseller)
    }

    // MARK: - Protocol 4: checkers

    /// A checker is drawn with its stake at the draw; its collusion slash reads the stake at the worker's reveal
    /// (`Checking.swift`, `settleCheckers`: `offenceHeight: check.revealHeight`). The colluder unbonds between the
    /// draw and the reveal (the colluding worker waits a block): its unbonding entry predates the offence height,
    /// so attesting a false output costs it nothing. (It keeps its slot after leaving the registry.)
    /// Defeated: checker offences are dated at the draw (state-machine.md §4.2), so the unbonding entry created after
    /// it is within the slash's reach.
    @Test func checkerUnbondingBeforeTheRevealEscapesTheCollusionSlash() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 91, cheat: true)
        let t = try f.commit(s)  // drawn at the end of 5
        let slots = try f.check(t.id)!.slots
        let colluder = f.index(of: slots[0].checker)
        let falseOutput = s.outputs[s.batch.leafIndex(point: t.ticket.point)]
        // 6: drawn with 1 000 bonded, the colluder unbonds all of it.
        #expect(try f.c.block([try f.c.tx(f.checkers[colluder], .unbond(role: .checker(pool: 0), amount: 1_000))])[0].succeeded)
        // 7: the worker reveals to the drawn committee (deadline 8).
        let r = try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])
        #expect(r[0].succeeded, "\(r[0].status)")
        let (commits, reveals, _) = try f.play(s, t.id, moves: [colluder: .answer(falseOutput)])
        #expect(commits.allSatisfy { $0.succeeded } && reveals.allSatisfy { $0.succeeded })
        #expect(try f.check(t.id)?.status == .disputed)
        let v = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: t.id, ephemeralPrivateKey: CheckerFixture.ephemeral(t.id)))])
        let verdict = v.last!
        #expect(verdict.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        #expect(try f.check(t.id)?.status == .fraud)
        // Secure outcome: the colluder loses checkerCollusionSlashBps of the stake it was drawn with.
        let taken = slashed(v, slots[0].checker)
        #expect(taken >= 500, "colluder slashed \(taken)")
    }

    /// Commit–reveal with an optional reveal: a colluding checker commits the worker's false output, watches the
    /// reveal phase, and when an honest checker's dissenting answer appears (a dispute is certain) it simply does
    /// not reveal. It is then `absent` (checkerAbsentSlashBps, here 1 %) instead of a colluder (50 %).
    /// Defeated: on a fraud verdict a slot that committed and never revealed is slashed as a colluder (after its
    /// absent slash).
    @Test func colluderThatWithholdsItsRevealPaysOnlyTheAbsentSlash() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 92, cheat: true)
        let tid = try f.revealed(s)
        let check = try f.check(tid)!
        let rh = check.revealHeight
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        let falseOutput = s.outputs[i0]
        let colluderKey = check.slots[0].checker, colluder = f.index(of: colluderKey)
        var commits = [SignedTransaction](), answers = [Int: Hash32]()
        for slot in check.slots {
            let i = f.index(of: slot.checker)
            let answer = i == colluder ? falseOutput : try f.replay(i, tid)
            answers[i] = answer
            let h = checkCommitmentHash(ticketId: tid, checker: slot.checker, answer: answer, nonce: CheckerFixture.nonce(i, tid))
            commits.append(try f.c.tx(f.checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: tid, commitment: h)])))
        }
        #expect(try f.c.block(commits).dropLast().allSatisfy { $0.succeeded })
        try f.c.advance(to: rh + f.cfg.answerCommitBlocks)
        // First block of the reveal phase: the worker unblinds, the honest checkers reveal their (different) answers.
        var reveals = [try f.c.tx(f.worker, .unblindOutput(items: [UnblindItem(ticketId: tid, outputHash: s.outputs[i0], salt: s.salts[i0])]))]
        for slot in check.slots where slot.checker != colluderKey {
            let i = f.index(of: slot.checker)
            reveals.append(try f.c.tx(f.checkers[i], .checkReveal(items: [CheckRevealItem(ticketId: tid, answer: answers[i]!, nonce: CheckerFixture.nonce(i, tid))])))
        }
        #expect(try f.c.block(reveals).dropLast().allSatisfy { $0.succeeded })
        // The colluder sees the dissent and stays silent.
        try f.c.advance(to: rh + f.cfg.resolutionDelay - 1)
        let resolution = try f.c.block()
        #expect(try f.check(tid)?.status == .disputed)
        let v = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        #expect(v.last!.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        let taken = slashed(resolution + v, colluderKey)
        // Secure outcome: committing to a false output costs the collusion slash whether or not it is revealed.
        #expect(taken >= 500, "colluder slashed \(taken)")
    }

    /// Check fees come only out of the worker's window revenue (`payCheckFees`: `min(owed, earned)`). A worker
    /// that commits work nobody paid for (ticket fee 1 per sample) makes the assigned checkers replay for nothing;
    /// skipping costs them the absent slash and a bench. Checking no longer pays (verification.md §5).
    /// Defeated: each commitment deposits its samples' check fees, and what the revenue cannot pay comes from that
    /// deposit (verification.md §5), so griefing the checkers costs the worker the fees it would not pay.
    @Test func unpaidCommitmentsMakeCheckersWorkForNothing() throws {
        var f = try CheckerFixture()
        let stakeBefore = try f.c.record(StateKey.staker(.worker(pool: 0), f.worker.publicKey), Staker.self)!.stake.units
        let s = SealedBatch.make(count: 24, seed: 93)
        #expect(try f.c.block([try f.c.tx(f.worker, f.c.commit(s.batch))])[0].succeeded)  // 2, no voucher
        try f.c.advance(to: 4)
        let (t, resolution) = try f.revealSoleTicketAndPass(s)
        let owed = resolution.events.filter { if case .checkFeeOwed = $0 { return true }; return false }.count
        #expect(owed == 3)
        let p = try f.payout()
        let paid = p.events.reduce(UInt64(0)) { if case .checkFeePaid(_, _, _, _, _, let a) = $1 { return $0 + a.units }; return $0 }
        // Secure outcome: every checker that did the replay is paid its fee, out of the worker's check-fee deposit
        // (its stake untouched).
        #expect(paid == UInt64(owed) * f.cfg.checkFee.units, "paid \(paid) of \(owed) fees owed")
        let stake = try f.c.record(StateKey.staker(.worker(pool: 0), f.worker.publicKey), Staker.self)!.stake
        #expect(stake.units == stakeBefore, "stake \(stake), was \(stakeBefore)")
        // Nothing earned is no obstacle to the payout: it deletes the window's records of the worker, its check-fee
        // records included (they do not outlive an unpaid window).
        #expect(p.succeeded)
        let state = f.c.ledgerState
        #expect(try state.scan(StateKey.checkFeesOwed(0, 0, f.worker.publicKey)).isEmpty)
        #expect(try !state.exists(StateKey.workRecord(0, 0, f.worker.publicKey)))
        #expect(try !state.exists(StateKey.commitment(f.c.commitmentId(f.worker, s.batch))))
        #expect(try !state.exists(StateKey.ticket(t.id)))
    }

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
        let fees = p.events.compactMap { e -> UInt64? in if case .checkFeePaid(_, _, _, _, _, let a) = e { return a.units }; return nil }
        #expect(fees == [f.cfg.checkFee.units])
    }

    // MARK: - The adjudication queue against the unbonding delay

    /// Genesis sizes `unbondingBlocks ≥ 2 × settlementHorizon` so a cheater cannot unbond before its punishment,
    /// but the punishment of a fraud claim waits for the adjudication queue, which has no bound. The attacker fills
    /// the queue ahead of the verifier's claim with *true* claims against its own fraudulent sybil (minimum stake,
    /// bonds returned), so the backlog costs ticket and transaction fees and the sybil's 100. The cheater unbonds
    /// right after committing; its entry matures before its conviction, and the slash finds nothing.
    /// (`maxAdjudicationsPerBlock = 1` keeps the test small; at 4 the backlog needs 4× the tickets.)
    /// Defeated: while a ticket waits in the adjudication queue its worker's unbonding entries are held
    /// (state-machine.md §4, end-block step 1), so the verdict still finds them.
    @Test
    func adjudicationBacklogOutlastsTheCheatersUnbonding() throws {
        var params = Chain.defaultParams()
        params.maxAdjudicationsPerBlock = 1
        let cheat = testKey("cheater")
        var c = try Chain(accounts: [(cheat, 100_000), (sybil, 300_000), (spammer, 1_000_000), (verifier, 100_000)],
                          workers: [(cheat, 0, 1_000_000), (sybil, 0, 100)], params: params)
        let spam = (0..<4).map { PassBatch.make(count: 100, shard: 0, seed: 500 + UInt64($0), cheat: Set(0..<100)) }
        let bad = PassBatch.make(count: 12, shard: 0, seed: 600, cheat: Set(0..<12))
        let attackerStart = try c.wealth(sybil) + c.balance(spammer.publicKey)
        // 1: the sybil's fabricated batches and the cheater's.
        var txs = try spam.enumerated().map { try c.tx(sybil, c.commit($1), nonce: UInt64($0)) }
        txs.append(try c.tx(cheat, c.commit(bad)))
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })
        // 2: the cheater unbonds everything (reachable by a slash until it matures at 52).
        #expect(try c.block([try c.tx(cheat, .unbond(role: .worker(pool: 0), amount: 1_000_000))])[0].succeeded)
        try c.advance(to: 3)
        // 4: the sybil reveals its 64 tickets; the spammer commits a claim against each.
        var reveals = [SignedTransaction](), commits = [SignedTransaction](), spamTickets = [(Hash32, [UInt8], Hash32)]()
        var n = try c.account(sybil.publicKey).nonce
        for b in spam {
            for (id, t) in try c.tickets(c.commitmentId(sybil, b)) {
                reveals.append(try c.tx(sybil, b.reveal(id, point: t.point), nonce: n)); n += 1
                spamTickets.append((id, b.inputs[b.leafIndex(point: t.point)], SHA256.hash(Array("spam-\(spamTickets.count)".utf8))))
            }
        }
        for (j, (id, _, salt)) in spamTickets.enumerated() {
            commits.append(try c.tx(spammer, .fraudCommit(claim: fraudClaimHash(ticketId: id, prover: spammer.publicKey, salt: salt), pool: 0), nonce: UInt64(j)))
        }
        #expect(spamTickets.count == 64)
        #expect(try c.block(reveals + commits).dropLast().allSatisfy { $0.succeeded })
        // 5: the claims open; each ticket joins the queue.
        let opens = try spamTickets.enumerated().map { j, s in
            try c.tx(spammer, .fraudReveal(ticketId: s.0, salt: s.2, input: s.1), nonce: UInt64(spamTickets.count + j))
        }
        #expect(try c.block(opens).dropLast().allSatisfy { $0.succeeded })
        // 6: the cheater reveals at its deadline; 7–8: the verifier proves the fraud at once.
        let badId = c.commitmentId(cheat, bad)
        #expect(try c.revealAll(cheat, bad, commitment: badId).dropLast().allSatisfy { $0.succeeded })
        let (tid, t) = try c.tickets(badId)[0]
        let (_, opened) = try c.proveFraud(verifier, ticket: tid, input: bad.inputs[Int(t.leaf!.index)])
        #expect(opened.succeeded)
        var taken: UInt64 = 0, maturedAt: UInt64 = 0
        // While its ticket waits in the queue, the cheater's stake is held (what account_get shows as unbondingHeld).
        #expect(try LedgerReader(c.state).adjudicationHold(.worker(pool: 0), cheat.publicKey) == 1)
        while try c.record(StateKey.fraudCase(tid), FraudCase.self)?.status == .pending {
            try #require(c.height < 300)
            let rs = try c.block()
            taken += slashed(rs, cheat.publicKey)
            if rs.last!.events.contains(where: { if case .unbonded(cheat.publicKey, _, _, _) = $0 { return true }; return false }) { maturedAt = c.height }
        }
        let verdictAt = c.height
        #expect(try LedgerReader(c.state).adjudicationHold(.worker(pool: 0), cheat.publicKey) == 0, "the hold is released")
        let attackerEnd = try c.wealth(sybil) + c.balance(spammer.publicKey)
        print("backlog: unbonding matured at \(maturedAt), verdict at \(verdictAt), cheater slashed \(taken), attacker's cost \(Int(attackerStart) - Int(attackerEnd))")
        #expect(try c.record(StateKey.fraudCase(tid), FraudCase.self)?.status != .upheld)
        // Secure outcome: the cheater loses σ of the 1 000 000 bonded at its offence.
        #expect(taken >= 500_000, "slashed \(taken); unbonding matured at \(maturedAt), verdict at \(verdictAt)")
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
        let e = try LedgerReader(c.state).escrow(escrow)!
        #expect(e.totalCharged == 20)
        // until: the claim (ordered first) is refused, the close refunds the rest and deletes the escrow.
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: 2, input: 20, output: 0)),
                             try c.tx(client, .escrowClose(escrowId: escrow))])
        #expect(r[0].failure == .claimPeriodOver)
        #expect(r[1].succeeded)
        #expect(try LedgerReader(c.state).escrow(escrow) == nil)
        #expect(r[1].events.contains(.escrowClosed(escrowId: escrow, refund: Amount(10_000 - e.totalCharged.units))))
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

    /// A voucher's tokens count as paid tokens in full even when the allocation covers only part of its charge
    /// (`Escrow.swift`, `claimUsage`: `paidTokens += Δin + Δout`, while only `charged` is taken). Coverage is
    /// measured against paid tokens, so one voucher of a huge token count over a one-unit allocation dilutes the
    /// coverage of everything the worker's other payers paid for: the payout drops to ~0 and the window's revenue
    /// goes back to the payers. Here the client pays through a second escrow of its own and gets its real payment
    /// refunded. (It needs the worker to claim the inflated voucher, as a node that claims the newest cumulative
    /// voucher of each escrow does; the ledger gives no reason not to: the claim succeeds and pays the worker more.)
    /// Defeated: tokens count as paid in proportion to what was charged (economics.md §2), so the one-unit claim
    /// counts one token, not a million.
    @Test func shortfallTokensDiluteTheWorkersCoverage() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 100_000)], workers: [(worker, 0, 100_000)])
        let e1 = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])  // 1
        let e2 = try c.openEscrow(client, amount: 100_000, payees: [(worker, 1)])  // 2: one unit
        let b = PassBatch.make(count: 40, shard: 0, seed: 151)
        let (i, o) = split(b.tokenCount)
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: e1, payee: worker, input: i, output: o), nonce: 1),
                             try c.tx(worker, c.voucher(client, escrow: e2, payee: worker, input: 1_000_000, output: 0), nonce: 2)])  // 3
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 5)
        #expect(try c.revealAll(worker, b, commitment: c.commitmentId(worker, b)).dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let refunds = p[0].events.compactMap { e -> UInt64? in if case .refundCredited(_, _, _, _, let a) = e { return a.units }; return nil }
        // Secure outcome: the work the first escrow paid for, fully committed and revealed, is paid (less at most the
        // one unit the single counted token of the second claim dilutes).
        #expect((payout(p[0])?.paid ?? 0) + 1 >= net(i, o), "payout \(String(describing: payout(p[0]))), refunds \(refunds)")
    }

    /// The protocol fee is `⌊charged × 500 / 10 000⌋` per claim, so a claim charging at most 19 units burns nothing.
    /// Cumulative vouchers can be claimed in steps of any size: a worker that is also a block proposer gets the
    /// transaction fees of its own micro-claims back and evades the burn that economics.md §2 relies on ("self-dealing
    /// loses at least the fee"; "no payer, a validator-worker included, can recover it").
    /// Defeated: the fee is rounded up per claim (economics.md §2).
    @Test func microClaimsBurnNoProtocolFee() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000)], workers: [(worker, 0, 10_000)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let burned = try c.burned()
        // Ten cumulative vouchers, 9 input tokens (18 units) apart.
        let r = try c.block(try (1...10).map { k in
            try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: UInt64(9 * k), output: 0), nonce: UInt64(k - 1))
        })
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        let charged = r.flatMap(\.events).reduce(UInt64(0)) { if case .usageClaimed(_, _, _, _, _, let ch, _, _) = $1 { return $0 + ch.units }; return $0 }
        #expect(charged == 180)
        // Secure outcome: the burn does not depend on how a cumulative voucher is cut into claims (one claim: 9).
        let fees = try c.burned() - burned
        #expect(fees >= charged * 500 / 10_000, "burned \(fees) of \(charged) charged")
    }

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

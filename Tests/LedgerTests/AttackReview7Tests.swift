import Testing
@testable import Ledger
@testable import Primitives

/// The seventh attack review (Specs/economics.md §7 rows 66–69), each attack performed: refunds that crossed shards,
/// a garbage leaf shielded by another worker's earlier reveal of its content key, a client's worker voiding an honest
/// worker's samples with hop answers, a fee one unit too high for large claims, and horizons that wrapped around 2⁶⁴.
@Suite
struct AttackReview7Tests {
    let client = testKey("r7-client")
    let worker = testKey("r7-worker")
    let accomplice = testKey("r7-accomplice")
    let prover = testKey("r7-prover")
    let anyone = testKey("r7-anyone")

    /// A pass at `position`, honest or with a garbage output.
    static func pass(seed: UInt64, position: UInt64, tokens: UInt32, garbage: Bool = false) -> (PassLeaf, [UInt8], Bool) {
        let input = testInput(tokens: tokens, seed: seed)
        var out = FakeAdjudicator.canonicalOutput(input: input, shard: 0, positionOffset: position)
        if garbage { out = SHA256.hash(out.bytes) }
        return (PassLeaf(index: 0, shard: 0, positionOffset: position, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                         outputHash: out), input, garbage)
    }

    func refunds(_ r: Receipt) -> [PublicKey: UInt64] {
        var out = [PublicKey: UInt64]()
        for e in r.events { if case .refundCredited(_, _, _, let owner, let amount) = e { out[owner, default: 0] += amount.units } }
        return out
    }

    // MARK: - Row 68: a shard's refund goes to that shard's payers

    /// Row 68, performed: the client pays the worker on shard 0, where the worker commits nothing; the worker pays
    /// itself on shard 1 through its own escrow and covers that with real passes. The refunds used to be split over the
    /// lanes' totals across shards, so the worker's own lane took part of the client's refund and self-dealing paid.
    /// Now the client gets back all it paid on the uncovered shard, and the self-dealer loses the protocol fee.
    @Test
    func aSelfPaidShardTakesNothingOfAnotherShardsRefund() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 10_000_000), (anyone, 1_000_000)], workers: [(worker, 0, 1_000_000)])
        let ex = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 500_000)])  // 1
        let ew = try c.openEscrow(worker, amount: 1_000_000, payees: [(worker, 500_000)])  // 2
        let b = PassBatch.make(count: 24, shard: 1, seed: 68)
        let nonce = try c.account(worker.publicKey).nonce
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: ex, payee: worker, shard: 0, input: 100, output: 100), nonce: nonce),
                             try c.tx(worker, c.voucher(worker, escrow: ew, payee: worker, shard: 1, input: b.tokenCount, output: 0), nonce: nonce + 1),
                             try c.tx(worker, c.commit(b, shard: 1), nonce: nonce + 2)])  // 3
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        let clientNet = try #require(try c.record(StateKey.payerLane(0, 0, worker.publicKey, ex), PayerLane.self)).amount.units
        let selfNet = try #require(try c.record(StateKey.payerLane(0, 0, worker.publicKey, ew), PayerLane.self)).amount.units
        let selfCharged = b.tokenCount * 3  // shard 1's input price
        #expect(selfCharged > selfNet, "the protocol fee was burned")
        try c.advance(to: 5)
        let id = c.commitmentId(worker, b, shard: 1)
        #expect(try c.revealAll(worker, b, commitment: id).dropLast().allSatisfy { $0.succeeded })  // 6
        try c.advance(to: c.settleHeight0)
        let workerBefore = try c.balance(worker.publicKey)
        let p = try c.block([try c.tx(anyone, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])[0]
        #expect(p.succeeded, "\(p.status)")
        #expect(refunds(p)[client.publicKey] == clientNet, "the client gets back all it paid on the shard nobody covered")
        // Whatever the worker's own shard paid it, nothing of the client's money: paid plus its own refund is its own net.
        #expect(try c.balance(worker.publicKey) - workerBefore == selfNet)
        #expect(selfNet < selfCharged, "paying itself cost the worker the protocol fee")
    }

    // MARK: - Row 66: a garbage leaf behind another worker's earlier reveal

    /// Row 66, performed: an accomplice commits the worker's garbage leaf G alone (so its drawn sample reveals G first);
    /// the worker, which served the client garbage for G, answers the client's hop challenge with its leaf. The hop
    /// ticket used to be voided (another worker revealed the key first), so no fraud claim could target it and the bond
    /// went to the worker. Now it stays revealed: the fraud claim convicts the worker, which forfeits the window.
    @Test
    func anEarlierRevealOfTheSameKeyDoesNotShieldAGarbageAnswer() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (accomplice, 1_000_000), (prover, 1_000_000)],
                          workers: [(worker, 0, 100_000), (accomplice, 0, 1_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 500_000), (accomplice, 1_000)])  // 1
        let g = Self.pass(seed: 66, position: 300, tokens: 2, garbage: true)
        // The worker's tree: G and honest 16-token passes, so its samples (drawn with this chain's fixed beacon) miss G.
        let w = PassBatch.from([g] + (0..<12).map { Self.pass(seed: 6_600 + UInt64($0), position: 1_000 + UInt64($0) * 16, tokens: 16) })
        let s = PassBatch.from([g])
        var nonce = try c.account(worker.publicKey).nonce
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: w.tokenCount, output: 0), nonce: nonce),
                             try c.tx(worker, c.commit(w), nonce: nonce + 1),
                             try c.tx(accomplice, c.voucher(client, escrow: escrow, payee: accomplice, input: 1, output: 0)),
                             try c.tx(accomplice, c.commit(s), nonce: 1)])  // 2
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 4)
        let wid = c.commitmentId(worker, w), sid = c.commitmentId(accomplice, s)
        let gIndex = try #require(w.leaves.firstIndex { $0.contentKey == g.0.contentKey })
        try #require(try c.tickets(wid).allSatisfy { w.leafIndex(point: $0.ticket.point) != gIndex },
                     "precondition: the worker's own samples miss G (else its drawn reveal convicts it anyway)")
        nonce = try c.account(worker.publicKey).nonce
        var txs = [SignedTransaction]()
        for (i, t) in try c.tickets(wid).enumerated() {
            txs.append(try c.tx(worker, w.reveal(t.id, point: t.ticket.point), nonce: nonce + UInt64(i)))
        }
        for t in try c.tickets(sid) { txs.append(try c.tx(accomplice, s.reveal(t.id, point: t.ticket.point))) }
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })  // 5: the accomplice reveals G first
        #expect(try LedgerReader(c.state).revealedPass(pool: 0, g.0.contentKey)?.worker == accomplice.publicKey)

        let receipt = HopReceipt(leaf: w.leaves[gIndex], pool: 0, window: 0, worker: worker.publicKey, holder: client.publicKey)
            .signed(by: worker, chainId: Chain.chainId)
        try c.advance(to: 12)
        #expect(try c.block([try c.tx(client, .hopChallenge(receipt: receipt))])[0].succeeded)  // 13
        let challengeId = receipt.signingHash(chainId: Chain.chainId)
        let a = try c.block([try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: wid,
                                                                  leaf: w.tree.proof(gIndex), input: w.inputs[gIndex]))])[0]  // 14
        #expect(a.succeeded, "\(a.status)")
        let ticketId = LedgerIds.hopTicket(challenge: challengeId)
        #expect(try LedgerReader(c.state).ticket(ticketId)?.status == .revealed, "a hop ticket is never voided")
        let claim = try c.proveFraud(prover, ticket: ticketId, input: w.inputs[gIndex])  // 15, 16
        #expect(claim.reveal.succeeded, "\(claim.reveal.status)")
        try c.advance(to: c.settleHeight0)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000, "slashed by the fraud fraction")
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])[0]
        #expect(p.events.contains { if case .payoutCredited(_, _, _, let paid, _) = $0 { return paid == .zero }; return false },
                "the window is forfeited: nothing paid")
    }

    /// Row 66 for drawn samples, performed: an honest worker's one-leaf tree reveals pass X first; a cheater committed X
    /// with a garbage output. Its drawn sample of X used to be voided (no conviction, no claim possible). Now a reveal
    /// claiming another output than the first is revealed, and a fraud claim convicts the cheater.
    @Test
    func aDrawnSampleClaimingAnotherOutputThanTheFirstRevealIsProvable() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (accomplice, 1_000_000), (prover, 1_000_000)],
                          workers: [(worker, 0, 100_000), (accomplice, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 500_000), (accomplice, 500_000)])  // 1
        let honest = Self.pass(seed: 67, position: 400, tokens: 3)
        var garbage = honest
        garbage.0.outputHash = SHA256.hash(honest.0.outputHash.bytes)
        garbage.2 = true
        let h = PassBatch.from([honest]), g = PassBatch.from([garbage])
        #expect(try c.block([try c.tx(accomplice, c.commit(h)),
                             try c.tx(accomplice, c.voucher(client, escrow: escrow, payee: accomplice, input: 3, output: 0), nonce: 1)])
            .dropLast().allSatisfy { $0.succeeded })  // 2
        try c.advance(to: 4)
        #expect(try c.revealAll(accomplice, h, commitment: c.commitmentId(accomplice, h)).dropLast().allSatisfy { $0.succeeded })  // 5
        #expect(try c.block([try c.tx(worker, c.commit(g)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 3, output: 0), nonce: 1)])
            .dropLast().allSatisfy { $0.succeeded })  // 6
        try c.advance(to: 8)
        let gid = c.commitmentId(worker, g)
        #expect(try c.revealAll(worker, g, commitment: gid).dropLast().allSatisfy { $0.succeeded })  // 9
        let ticket = try #require(try c.tickets(gid).first)
        #expect(ticket.ticket.status == .revealed, "another output than the first reveal's is not a copy: it stays provable")
        let claim = try c.proveFraud(prover, ticket: ticket.id, input: g.inputs[0])
        #expect(claim.reveal.succeeded)
        try c.advance(to: c.settleHeight0)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
        #expect(try c.staker(.worker(pool: 0), accomplice.publicKey)!.stake.units == 100_000, "the honest first reveal is untouched")
    }

    // MARK: - Row 67: hop answers do not take a pass from a drawn sample

    /// Row 67, performed: the client runs a worker of its own that commits copies of the honest worker's passes and, once
    /// the honest worker's late commitment is drawn, challenges its own receipts for exactly the drawn leaves and answers
    /// them. Its answers used to reveal those passes first, so the honest worker's reveals were voided and its pay went
    /// back to the client. Now a hop answer takes no pass from anyone: the honest reveals count and it is paid in full.
    @Test
    func hopAnswersDoNotVoidAnotherWorkersDrawnSamples() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (accomplice, 1_000_000)],
                          workers: [(worker, 0, 100_000), (accomplice, 0, 1_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 500_000), (accomplice, 1_000)])  // 1
        let h = PassBatch.make(count: 6, shard: 0, seed: 6_700)
        try c.advance(to: 9)
        // The client's worker commits the same leaves (the client received their outputs) with a token of usage.
        #expect(try c.block([try c.tx(accomplice, c.commit(h)),
                             try c.tx(accomplice, c.voucher(client, escrow: escrow, payee: accomplice, input: 1, output: 0), nonce: 1)])
            .dropLast().allSatisfy { $0.succeeded })  // 10
        let aid = c.commitmentId(accomplice, h)
        // Its own samples, drawn at 12, are never revealed (its stake is the minimum; their withholding is its cost). It
        // commits late so that the conviction for them comes after its challenges: a window already forfeited takes no
        // hop challenge (tenth review, row 81).
        #expect(try c.block([try c.tx(worker, c.commit(h)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: h.tokenCount, output: 0), nonce: 1)])
            .dropLast().allSatisfy { $0.succeeded })  // 11: committed late, in the grace period
        try c.advance(to: 13)  // drawn at the end of 13, inside the challenge span
        let hid = c.commitmentId(worker, h)
        let drawn = Set(try c.tickets(hid).map { h.leafIndex(point: $0.ticket.point) })
        try #require(!drawn.isEmpty)
        var txs = [SignedTransaction]()
        var nonce = try c.account(accomplice.publicKey).nonce
        for i in drawn.sorted() {
            let r = HopReceipt(leaf: h.leaves[i], pool: 0, window: 0, worker: accomplice.publicKey, holder: testKey("r7-fresh-\(i)").publicKey)
                .signed(by: accomplice, chainId: Chain.chainId)
            txs.append(try c.tx(accomplice, .hopChallenge(receipt: r), nonce: nonce))
            txs.append(try c.tx(accomplice, .answerHopChallenge(challengeId: r.signingHash(chainId: Chain.chainId), commitmentId: aid,
                                                                leaf: h.tree.proof(i), input: h.inputs[i]), nonce: nonce + 1))
            nonce += 2
        }
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })  // 14: answered before the honest reveals
        #expect(try c.revealAll(worker, h, commitment: hid).dropLast().allSatisfy { $0.succeeded })  // 15
        #expect(try c.tickets(hid).allSatisfy { $0.ticket.status == .revealed }, "no honest sample voided")
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])[0]
        #expect(p.events.contains { if case .payoutCredited(_, _, _, _, let refunded) = $0 { return refunded == .zero }; return false },
                "the honest worker is paid in full: nothing refunded to the client")
    }

    // MARK: - Row 69: exact arithmetic at the edges

    /// The protocol fee is the exact ceiling of `charged × bps / 10 000` for every amount, including products above 2⁶⁴
    /// (it was one unit too high there, and at 10 000 bps above the payment, which trapped the claim's subtraction).
    @Test
    func theFeeIsTheExactCeilingForLargeAmounts() {
        #expect(Amount(36_893_488_147_419_120).basisPointsRoundedUp(500).units == 1_844_674_407_370_956)
        #expect(Amount(36_893_488_147_419_121).basisPointsRoundedUp(500).units == 1_844_674_407_370_957)
        #expect(Amount(UInt64.max).basisPointsRoundedUp(10_000).units == UInt64.max)
        #expect(Amount(1_844_674_407_370_956).basisPointsRoundedUp(10_000).units == 1_844_674_407_370_956)
        #expect(Amount(UInt64.max).basisPointsRoundedUp(1).units == 1_844_674_407_370_956)  // ⌈(2⁶⁴ − 1) / 10 000⌉
        #expect(Amount(0).basisPointsRoundedUp(500) == .zero)
        #expect(Amount(1).basisPointsRoundedUp(500).units == 1)
        var g = SplitMix64(seed: 69)
        for _ in 0..<2_000 {
            let units = g.next(), bps = BasisPoints(g.next() % 10_001)
            let fee = Amount(units).basisPointsRoundedUp(bps).units
            // fee is the least integer with fee × 10 000 ≥ units × bps (compared in 128 bits).
            let product = units.multipliedFullWidth(by: UInt64(bps))
            let mine = fee.multipliedFullWidth(by: 10_000)
            #expect((mine.high, mine.low) >= (product.high, product.low))
            if fee > 0 {
                let less = (fee - 1).multipliedFullWidth(by: 10_000)
                #expect((less.high, less.low) < (product.high, product.low))
            }
            #expect(fee <= units)
        }
    }

    /// Horizons that wrapped around 2⁶⁴ passed genesis: a settlement horizon of 50 from `challengeBlocks = 2⁶⁴ − 50`
    /// settled windows before their commit deadline (and later halted the chain), and `beaconMaxDelay = 2⁶⁴ − 1` made the
    /// proposer-record retention 0. Every block-count parameter is now at most 2³² − 1.
    @Test
    func genesisRefusesHorizonsThatWouldWrapAround() throws {
        var pool = Chain.defaultPool()
        pool.challengeBlocks = UInt64.max - 50
        #expect { try Chain(pools: [pool]) } throws: { "\($0)".contains("challengeBlocks") && "\($0)".contains("exceeds") }
        var params = Chain.defaultParams()
        params.beaconMaxDelay = UInt64.max
        #expect { try Chain(params: params) } throws: { "\($0)".contains("beaconMaxDelay") }
        params = Chain.defaultParams()
        params.escrowUnlockBlocks = UInt64.max - 3
        #expect { try Chain(params: params) } throws: { "\($0)".contains("escrowUnlockBlocks") }
        pool = Chain.defaultPool()
        pool.windowBlocks = Ledger.maxHorizonBlocks
        pool.commitGraceBlocks = 1
        params = Chain.defaultParams()
        params.unbondingBlocks = Ledger.maxHorizonBlocks
        // At the bound nothing wraps: the check that fails is the real one (unbonding shorter than twice the horizon).
        #expect { try Chain(pools: [pool], params: params) } throws: { "\($0)".contains("unbondingBlocks") && "\($0)".contains("twice") }
    }
}

/// Row 70: the draw block's proposer knows the beacon it draws with; it must not be able to choose the checkers.
@Suite
struct CheckerAssignmentGrindingTests {
    /// The committee of a cheated ticket drawn in a block where checker 0 (a colluder) bonds `extra` more, or nothing.
    func committee(extra: UInt64?) throws -> [PublicKey] {
        var f = try CheckerFixture()  // 1: four checkers of 1 000 registered
        let escrow = try f.c.openEscrow(f.client, amount: 100_000, payees: [(f.worker, 50_000)])  // 2
        let s = SealedBatch.make(count: 24, seed: 70, cheat: true)
        let tokens = s.batch.tokenCount
        let r = try f.c.block([try f.c.tx(f.worker, f.c.commit(s.batch)),
                               try f.c.tx(f.worker, f.c.voucher(f.client, escrow: escrow, payee: f.worker, input: tokens, output: 0), nonce: 1)])  // 3
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        _ = try f.c.block()  // 4
        // 5, the draw block: the proposer, which knows this block's beacon, includes the colluder's bond.
        let bond = try extra.map { [try f.c.tx(f.checkers[0], .bond(role: .checker(pool: 0), amount: Amount($0), randaoCommitment: nil), nonce: 2)] } ?? []
        let d = try f.c.block(bond)
        #expect(d.dropLast().allSatisfy { $0.succeeded }, "\(d.map(\.status))")
        let tickets = try f.c.tickets(f.c.commitmentId(f.worker, s.batch))
        let t = try #require(tickets.first, "drawn in block 5")
        return try #require(try f.check(t.id)).slots.map(\.checker)
    }

    /// Row 70, performed: the proposer tries bond amounts for a colluding checker in the draw block, as it could offline.
    /// The table used to come from the stakes after the block's transactions, so amounts reshuffled the committee
    /// (and some put all three slots on colluders); from the parent state no amount changes it.
    @Test func theDrawBlocksProposerCannotChooseTheCheckers() throws {
        let honest = try committee(extra: nil)
        #expect(honest.count == 3)
        for extra in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987] as [UInt64] {
            #expect(try committee(extra: extra) == honest, "a bond of \(extra) in the draw block changed the committee")
        }
    }
}

/// Row 71: a checker that answers "bad input" to every ticket without opening or replaying anything.
@Suite
struct LazyBadInputCheckerTests {
    /// The lazy checker's run on one ticket: it answers bad input, the others replay; at the dispute it publishes the
    /// input ahead of the worker's key. Returns what the checker earned (fee owed, bounty) and its stake change.
    func lazyRun(cheat: Bool) throws -> (feeOwed: Bool, balanceChange: Int, stakeChange: Int, fraud: Bool) {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: cheat ? 71 : 72, cheat: cheat)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let lazy = f.index(of: slots[0].checker)
        let (_, _, resolution) = try f.play(s, tid, moves: [lazy: .answer(badInputAnswer)])
        #expect(resolution.events.contains { if case .disputeOpened = $0 { true } else { false } })
        let role = StakeRole.checker(pool: 0)
        let stakeBefore = try f.c.staker(role, f.checkers[lazy].publicKey)!.stake.units
        let balanceBefore = try f.c.balance(f.checkers[lazy].publicKey)
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        // It wins the race to publish; since the tenth review the worker's key, in the same block after it, still
        // counts (a publication no longer cuts off the key, row 79) and judges the bad-input answer.
        let r = try f.c.block([try f.c.tx(f.checkers[lazy], .publishSealedInput(ticketId: tid, input: s.batch.inputs[i0])),
                               try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)),
                                          nonce: try f.c.account(f.worker.publicKey).nonce)])
        #expect(r[0].succeeded, "\(r[0].status)")
        #expect(r[1].succeeded, "the key after a publication: \(r[1].status)")
        let window = try f.c.record(StateKey.ticket(tid), Ticket.self)!.window
        let feeOwed = try f.c.ledgerState.raw(StateKey.checkFeeOwed(0, window, f.worker.publicKey, tid, 0)) != nil
        #expect(try f.c.ledgerState.raw(StateKey.checkFeeOwed(0, window, f.worker.publicKey, tid, 1)) != nil,
                "an honest checker's fee is owed (the test looks at the right records)")
        let fraud = try f.check(tid)?.status == .fraud
        return (feeOwed, Int(try f.c.balance(f.checkers[lazy].publicKey)) - Int(balanceBefore),
                Int(try f.c.staker(role, f.checkers[lazy].publicKey)!.stake.units) - Int(stakeBefore), fraud)
    }

    /// Row 71, performed: a bad-input answer after a published input counted as right on a fraud verdict (fee plus a
    /// share of the bounty) and stood on an upheld one (fee, no slash), so a checker that never replayed earned on every
    /// ticket where it won the race to publish the input. Now a publication does not cut off the worker's key, which
    /// opens the envelope and shows the bad-input answer wrong: the lazy checker earns nothing and is slashed for a
    /// false alarm. (Without a key, a published input's bad-input answers earn nothing on a fraud verdict.)
    @Test func aLazyBadInputAnswerEarnsNothingAfterAPublishedInput() throws {
        for cheat in [false, true] {
            let run = try lazyRun(cheat: cheat)
            #expect(run.fraud == cheat)
            #expect(!run.feeOwed, "the lazy checker is owed a fee (cheat \(cheat))")
            #expect(run.balanceChange < 0, "the lazy checker gained \(run.balanceChange) (cheat \(cheat))")
            #expect(run.stakeChange < 0, "the lazy checker was not slashed (cheat \(cheat))")
        }
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// Hop receipts and challenges (Specs/economics.md §4.1, protocol 5): a receipt binds a served pass to the holder that
/// paid for it; a challenge makes the worker show it. Window 0 of the test pool closes commitments at 12 and takes hop
/// challenges at 13–14 (`D = 2`); an answer is due three blocks after its challenge.
@Suite
struct HopChallengeTests {
    let client = testKey("hop-client")
    let worker = testKey("hop-worker")
    let verifier = testKey("hop-verifier")
    let stranger = testKey("hop-stranger")

    /// A paid pass: its leaf and input, computed honestly (the fake adjudicator's canonical output).
    static func pass(seed: UInt64, position: UInt64, tokens: UInt32 = 4, shard: UInt32 = 0) -> (PassLeaf, [UInt8]) {
        let input = testInput(tokens: tokens, seed: seed)
        return (PassLeaf(index: 0, shard: shard, positionOffset: position, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                         outputHash: FakeAdjudicator.canonicalOutput(input: input, shard: Int(shard), positionOffset: position)), input)
    }

    func receipt(for leaf: PassLeaf, window: UInt64 = 0, signer: PrivateKey? = nil, holder: PrivateKey? = nil) -> HopReceipt {
        HopReceipt(leaf: leaf, pool: 0, window: window, worker: worker.publicKey, holder: (holder ?? client).publicKey)
            .signed(by: signer ?? worker, chainId: Chain.chainId)
    }

    func answer(_ r: HopReceipt, in b: PassBatch, commitment: Hash32) -> TxBody {
        let i = b.leaves.firstIndex { $0.contentKey == r.contentKey }!
        return .answerHopChallenge(challengeId: r.signingHash(chainId: Chain.chainId), commitmentId: commitment,
                                   leaf: b.tree.proof(i), input: b.inputs[i])
    }

    /// An honest window: 40 passes committed, paid and revealed; returns the chain, the batch and the commitment id.
    func honestWindow(seed: UInt64) throws -> (Chain, PassBatch, Hash32) {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (verifier, 1_000_000), (stranger, 1_000_000)],
                          workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let passes = (0..<40).map { Self.pass(seed: seed &+ UInt64($0), position: UInt64($0) * 4) }
        let b = PassBatch.from(passes.map { ($0.0, $0.1, false) })
        let tokens = b.tokenCount
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: tokens - tokens / 4,
                                                        output: tokens / 4), nonce: 1)])  // 2
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 4)
        let id = c.commitmentId(worker, b)
        #expect(try c.revealAll(worker, b, commitment: id).dropLast().allSatisfy { $0.succeeded })  // 5
        return (c, b, id)
    }

    var bond: UInt64 { Chain.defaultPool().hopChallengeBond(minFeePerByte: 1)!.units }

    /// Block 2: the worker commits `b` (nonce 0) and claims all its tokens as input usage of the escrow (nonce 1); block
    /// 5 reveals its drawn samples. Returns the commitment id and the reveal block's receipts.
    func commitPaidAndReveal(_ c: inout Chain, _ b: PassBatch, escrow: Hash32) throws -> (Hash32, [Receipt]) {
        #expect(try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: b.tokenCount, output: 0), nonce: 1)])
            .dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: 4)
        let id = c.commitmentId(worker, b)
        return (id, try c.revealAll(worker, b, commitment: id))
    }

    // MARK: - Honest workers lose nothing

    /// An honest worker answers with the served leaf: the hop ticket is revealed, the bond (held until the payout) pays for
    /// its answer, its payout is unchanged, and everything is pruned with the payout.
    @Test
    func anHonestWorkerAnswersAndIsPaidInFull() throws {
        var (c, b, id) = try honestWindow(seed: 1_000)
        var (control, _, _) = try honestWindow(seed: 1_000)
        let r = receipt(for: b.leaves[7])
        try c.advance(to: 12)
        let holderBefore = try c.balance(client.publicKey)
        let ch = try c.block([try c.tx(client, .hopChallenge(receipt: r))])[0]  // 13
        #expect(ch.succeeded, "\(ch.status)")
        #expect(try c.balance(client.publicKey) == holderBefore - bond - ch.feePaid.units)
        let workerBefore = try c.balance(worker.publicKey)
        let a = try c.block([try c.tx(worker, answer(r, in: b, commitment: id))])[0]  // 14
        #expect(a.succeeded, "\(a.status)")
        let ticketId = LedgerIds.hopTicket(challenge: r.signingHash(chainId: Chain.chainId))
        #expect(a.events.contains(.hopChallengeAnswered(challengeId: r.signingHash(chainId: Chain.chainId), ticketId: ticketId,
                                                        bondTo: worker.publicKey, bond: Amount(bond))))
        // The bond is held until the payout (the answer may still be proven fraudulent).
        #expect(try c.balance(worker.publicKey) == workerBefore - a.feePaid.units)
        #expect(try LedgerReader(c.state).hopChallenge(pool: 0, window: 0, worker: worker.publicKey,
                                                       id: r.signingHash(chainId: Chain.chainId))?.heldBond == bond)
        let ticket = try #require(try LedgerReader(c.state).ticket(ticketId))
        #expect(ticket.status == .revealed && ticket.isHopTicket && ticket.leaf == b.leaves[7])
        // A fraud claim against the honest hop ticket is rejected: the prover's bond is burned.
        try c.proveFraud(verifier, ticket: ticketId, input: b.inputs[7])  // 15, 16
        try c.advance(to: c.settleHeight0)
        try control.advance(to: c.settleHeight0)
        let workerAtPayout = try c.balance(worker.publicKey)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let q = try control.block([try control.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(try #require(payout(p[0])) == (try #require(payout(q[0]))))
        // The answer stood: the payout pays the held bond to the worker, beside what the control chain pays.
        #expect(p[0].events.contains(.hopBondPaid(challengeId: r.signingHash(chainId: Chain.chainId), to: worker.publicKey, bond: Amount(bond))))
        let controlGain = try #require(payout(q[0])).paid
        #expect(try c.balance(worker.publicKey) == workerAtPayout + controlGain + bond)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)?.stake.units == 100_000)
        #expect(try c.keys(.hopChallenge) == 0 && c.keys(.hopDeadlineQueue) == 0)
        #expect(try LedgerReader(c.state).ticket(ticketId) == nil)
    }

    // MARK: - Row 54: passes recommitted after their draw

    /// Row 54, performed. The worker computed 200 passes for the client's requests A and committed them; after their
    /// draw it commits them again without the sampled ones, as tree B, in the same window, and claims payment for the
    /// client's other requests (R) it served with garbage: the paid tokens match both trees. The client holds a receipt
    /// for each pass it was served; it challenges one of R's. The worker has no leaf for it (B holds A's passes, not
    /// R's): the challenge goes unanswered, the worker is slashed and forfeits the window, and its clients get
    /// everything back. Its profit is below an honest worker's and below zero.
    @Test
    func recommittingDrawnPassesIsCaughtByOneChallenge() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let passes = (0..<200).map { Self.pass(seed: 54_000 &+ UInt64($0), position: UInt64($0) * 4) }
        let a = PassBatch.from(passes.map { ($0.0, $0.1, false) })
        #expect(try c.block([try c.tx(worker, c.commit(a))])[0].succeeded)  // 2
        try c.advance(to: 4)
        let aid = c.commitmentId(worker, a)
        #expect(try c.revealAll(worker, a, commitment: aid).dropLast().allSatisfy { $0.succeeded })  // 5
        let revealed = Set(try c.tickets(aid).map { a.leaves[a.leafIndex(point: $0.ticket.point)].contentKey })
        let b = PassBatch.from(passes.filter { !revealed.contains($0.0.contentKey) }.map { ($0.0, $0.1, false) })
        let tokens = a.tokenCount + b.tokenCount
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: tokens - tokens / 5,
                                                        output: tokens / 5), nonce: try c.account(worker.publicKey).nonce + 1)])  // 6
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 8)
        #expect(try c.revealAll(worker, b, commitment: c.commitmentId(worker, b)).dropLast().allSatisfy { $0.succeeded })  // 9
        // One of R's passes: the client's request, answered with garbage (its receipt names the garbage output).
        var (served, _) = Self.pass(seed: 99_999, position: 4_000)
        served.outputHash = SHA256.hash(Array("garbage".utf8))
        let stakeBefore = try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units
        try c.advance(to: 12)
        let holderBefore = try c.balance(client.publicKey)
        let ch = try c.block([try c.tx(client, .hopChallenge(receipt: receipt(for: served)))])[0]  // 13
        #expect(ch.succeeded, "\(ch.status)")
        try c.advance(to: 16)  // the answer deadline passes
        let expiry = try #require(c.lastReceipts.last)
        #expect(expiry.events.contains { if case .hopChallengeUnanswered = $0 { return true }; return false })
        #expect(expiry.events.contains { if case .slashed(_, _, _, .unansweredHopChallenge, _) = $0 { return true }; return false })
        #expect(try c.balance(client.publicKey) == holderBefore - ch.feePaid.units, "the holder gets its bond back")
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let (paid, _) = try #require(payout(p[0]))
        let stake = try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units
        #expect(paid == 0)
        #expect(stake == stakeBefore / 2)
        #expect(try c.keys(.hopChallenge) == 0)
    }

    /// The same attack, covered instead by a leaf for the served request with the garbage output it served (so the
    /// challenge can be answered): the answer makes it a hop ticket, and a verifier's replay proves it false.
    @Test
    func aGarbageLeafThatAnswersIsProvenFraud() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (verifier, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        var passes = (0..<30).map { Self.pass(seed: 55_000 &+ UInt64($0), position: UInt64($0) * 4) }
        // The served request the worker did not compute: committed with the garbage it served.
        var garbage = Self.pass(seed: 55_999, position: 9_000)
        garbage.0.outputHash = SHA256.hash(Array("garbage".utf8))
        passes.append(garbage)
        let b = PassBatch.from(passes.map { ($0.0, $0.1, false) })
        // The garbage leaf may or may not be sampled; what was sampled is revealed as committed.
        let (id, _) = try commitPaidAndReveal(&c, b, escrow: escrow)  // 2, 5
        try c.advance(to: 12)
        let r = receipt(for: garbage.0)
        let clientBefore = try c.balance(client.publicKey)
        let ch = try c.block([try c.tx(client, .hopChallenge(receipt: r))])[0]  // 13
        #expect(ch.succeeded, "\(ch.status)")
        let workerBefore = try c.balance(worker.publicKey)
        let a = try c.block([try c.tx(worker, answer(r, in: b, commitment: id))])[0]  // 14
        #expect(a.succeeded, "\(a.status)")
        // Tenth note, staking F3: the bond went to the worker with its answer, so the cheater kept the bond of the client
        // that caught it. It is held now.
        #expect(try c.balance(worker.publicKey) == workerBefore - a.feePaid.units)
        let ticketId = LedgerIds.hopTicket(challenge: r.signingHash(chainId: Chain.chainId))
        let (claim, open) = try c.proveFraud(verifier, ticket: ticketId, input: garbage.1)  // 15, 16
        #expect(claim.succeeded && open.succeeded, "\(claim.status) \(open.status)")
        try c.advance(to: c.settleHeight0)
        #expect(try LedgerReader(c.state).ticket(ticketId)?.status == .fraudProven)
        let workerAtPayout = try c.balance(worker.publicKey)
        let clientAtPayout = try c.balance(client.publicKey)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(try #require(payout(p[0])).paid == 0)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
        // The payout returns the bond to the client that caught the garbage; the worker gets none of it.
        #expect(p[0].events.contains(.hopBondPaid(challengeId: r.signingHash(chainId: Chain.chainId), to: client.publicKey, bond: Amount(bond))))
        #expect(try c.balance(worker.publicKey) == workerAtPayout)
        let refund = p[0].events.reduce(UInt64(0)) { sum, e in
            if case .refundCredited(_, _, _, let owner, let amount) = e, owner == client.publicKey { return sum + amount.units }
            return sum
        }
        #expect(try c.balance(client.publicKey) == clientAtPayout + bond + refund - p[0].feePaid.units)
        // In all, the challenge cost the client its fee only.
        #expect(clientAtPayout == clientBefore - ch.feePaid.units - bond)
    }

    /// A pass revealed for one commitment and answered again from another commitment's tree is a pass sold twice:
    /// conviction, and the holder's bond comes back.
    @Test
    func anAnswerThatReusesARevealedPassConvictsAndRefundsTheBond() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let passes = (0..<20).map { Self.pass(seed: 56_000 &+ UInt64($0), position: UInt64($0) * 4) }
        let a = PassBatch.from(passes.map { ($0.0, $0.1, false) })
        #expect(try c.block([try c.tx(worker, c.commit(a))])[0].succeeded)  // 2
        try c.advance(to: 4)
        let aid = c.commitmentId(worker, a)
        _ = try c.revealAll(worker, a, commitment: aid)  // 5
        let sampled = a.leafIndex(point: try c.tickets(aid)[0].ticket.point)
        // B: the revealed pass again, with ten new ones; the client pays for both trees.
        let fresh = (0..<10).map { Self.pass(seed: 57_000 &+ UInt64($0), position: 10_000 + UInt64($0) * 4) }
        let b = PassBatch.from([(a.leaves[sampled], a.inputs[sampled], false)] + fresh.map { ($0.0, $0.1, false) })
        let paid = a.tokenCount + b.tokenCount
        let nonce = try c.account(worker.publicKey).nonce
        #expect(try c.block([try c.tx(worker, c.commit(b), nonce: nonce),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: paid, output: 0), nonce: nonce + 1)])
            .dropLast().allSatisfy { $0.succeeded })  // 6
        try c.advance(to: 8)
        let bid = c.commitmentId(worker, b)
        _ = try c.revealAll(worker, b, commitment: bid)  // 9
        try c.advance(to: 12)
        let r = receipt(for: a.leaves[sampled])
        let holderBefore = try c.balance(client.publicKey)
        let ch = try c.block([try c.tx(client, .hopChallenge(receipt: r))])[0]  // 13
        #expect(ch.succeeded, "\(ch.status)")
        let ans = try c.block([try c.tx(worker, answer(r, in: b, commitment: bid))])[0]  // 14
        #expect(ans.succeeded, "\(ans.status)")
        #expect(ans.events.contains { if case .passReused = $0 { return true }; return false })
        #expect(ans.events.contains { if case .hopChallengeAnswered(_, _, let to, _) = $0 { return to == client.publicKey }; return false })
        #expect(try c.balance(client.publicKey) == holderBefore - ch.feePaid.units)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
    }

    // MARK: - Challenging from another account (privacy)

    /// A client keeps its escrow key away from its passes: every receipt names a fresh holder key, and a challenge is sent
    /// and paid for by an account with no escrow. Performed both ways: the honest answer pays that account's bond to the
    /// worker; a garbage pass's challenge goes unanswered, convicts the worker and returns the bond to that account. The
    /// client's key appears in neither challenge, answer, record nor event.
    @Test
    func anAccountWithoutAnEscrowChallengesAReceiptNamingAFreshHolder() throws {
        var (c, b, id) = try honestWindow(seed: 3_000)
        let oneTimeHolder = testKey("hop-one-time-holder")
        let honest = receipt(for: b.leaves[5], holder: oneTimeHolder)
        var (garbageLeaf, _) = Self.pass(seed: 3_999, position: 7_000)
        garbageLeaf.outputHash = SHA256.hash(Array("garbage".utf8))
        let garbage = receipt(for: garbageLeaf, holder: testKey("hop-another-one-time-holder"))
        try c.advance(to: 12)
        let before = try c.balance(stranger.publicKey)
        let n = try c.account(stranger.publicKey).nonce
        let chs = try c.block([try c.tx(stranger, .hopChallenge(receipt: honest), nonce: n),
                               try c.tx(stranger, .hopChallenge(receipt: garbage), nonce: n + 1)])  // 13
        #expect(chs.dropLast().allSatisfy { $0.succeeded }, "\(chs.map(\.status))")
        #expect(chs[0].events.contains { if case .hopChallenged(_, _, _, _, _, let by, _, _) = $0 { return by == stranger.publicKey }; return false })
        let fees = chs[0].feePaid.units + chs[1].feePaid.units
        #expect(try c.balance(stranger.publicKey) == before - fees - 2 * bond)
        let a = try c.block([try c.tx(worker, answer(honest, in: b, commitment: id))])[0]  // 14
        #expect(a.succeeded, "\(a.status)")
        #expect(a.events.contains { if case .hopChallengeAnswered(_, _, let to, _) = $0 { return to == worker.publicKey }; return false })
        let records = try c.state.scan(prefix: [StateKey.Prefix.hopChallenge.rawValue], after: nil, limit: 10)
            .map { try HopChallenge(canonicalEncoding: $0.value) }
        #expect(records.count == 2 && records.allSatisfy { $0.challenger == stranger.publicKey })
        try c.advance(to: 16)  // the garbage receipt's answer deadline passes
        #expect(try c.balance(stranger.publicKey) == before - fees - bond, "the unanswered bond comes back to the challenger")
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
        // Nothing the chain holds or emitted about these challenges carries the client's key.
        let clientKey = client.publicKey.bytes
        func mentionsClient(_ bytes: [UInt8]) -> Bool {
            bytes.count >= 32 && (0...(bytes.count - 32)).contains { Array(bytes[$0..<($0 + 32)]) == clientKey }
        }
        let hopEvents = (chs + [a] + c.lastReceipts).flatMap(\.events).filter {
            switch $0 { case .hopChallenged, .hopChallengeAnswered, .hopChallengeUnanswered: true; default: false }
        }
        #expect(hopEvents.count == 4)
        #expect(!hopEvents.contains { mentionsClient($0.canonicalEncoding) })
        for body in [TxBody.hopChallenge(receipt: honest), .hopChallenge(receipt: garbage), answer(honest, in: b, commitment: id)] {
            #expect(!mentionsClient(body.canonicalEncoding))
        }
        #expect(!c.state.scan(prefix: [StateKey.Prefix.hopChallenge.rawValue], after: nil, limit: 10).contains { mentionsClient($0.value) })
    }

    // MARK: - A pool with checkers keeps inputs off chain

    /// In a pool with checkers (none registered here, so drawn samples fall back to public reveals), an answer is the
    /// leaf and its path alone: one carrying the input is refused (`inputInClear`) and the accepted answers publish no
    /// input. The hop tickets are still provable: a prover holding the input (the client, or whoever it hands it to)
    /// proves the garbage one false through its blinded output, and a claim against the honest one fails.
    @Test
    func inAPoolWithCheckersAnAnswerCarriesNoInput() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000), (verifier, 1_000_000), (stranger, 1_000_000)],
                          workers: [(worker, 0, 100_000)], pools: [CheckerFixture.checkingPool()], params: CheckerFixture.params())
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        // Outputs blinded with the salt derived from each pass, as a worker of such a pool commits them; pass 7 is the
        // garbage it served.
        let passes = (0..<12).map { i -> (PassLeaf, [UInt8], Bool) in
            var (leaf, input) = Self.pass(seed: 8_000 &+ UInt64(i), position: UInt64(i) * 4)
            if i == 7 { leaf.outputHash = SHA256.hash(Array("garbage".utf8)) }
            leaf.outputHash = blindedOutputHash(leaf.outputHash, salt: derivedBlindingSalt(contentKey: leaf.contentKey, input: input))
            return (leaf, input, i == 7)
        }
        let b = PassBatch.from(passes)
        let (id, reveals) = try commitPaidAndReveal(&c, b, escrow: escrow)  // 2, 5
        #expect(reveals.dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: 12)
        let g = try #require(b.cheated.first)
        let honestIndex = (g + 1) % b.leaves.count
        let honest = receipt(for: b.leaves[honestIndex], holder: testKey("hop-one-time-3"))
        let garbage = receipt(for: b.leaves[g], holder: testKey("hop-one-time-4"))
        let n = try c.account(stranger.publicKey).nonce
        let before = try c.balance(stranger.publicKey)
        let chs = try c.block([try c.tx(stranger, .hopChallenge(receipt: honest), nonce: n),
                               try c.tx(stranger, .hopChallenge(receipt: garbage), nonce: n + 1)])  // 13
        #expect(chs.dropLast().allSatisfy { $0.succeeded })
        // The bond pays an answer without input: the fraud-claim bond and 4 096 bytes at the minimum fee.
        let privateBond = CheckerFixture.checkingPool().fraudProofBond.units + 4096
        #expect(CheckerFixture.checkingPool().hopChallengeBond(minFeePerByte: 1)?.units == privateBond && privateBond < bond)
        #expect(try c.balance(stranger.publicKey) == before - 2 * privateBond - chs[0].feePaid.units - chs[1].feePaid.units)
        let withInput = TxBody.answerHopChallenge(challengeId: honest.signingHash(chainId: Chain.chainId), commitmentId: id,
                                                  leaf: b.tree.proof(honestIndex), input: b.inputs[honestIndex])
        let answers: [TxBody] = [
            .answerHopChallenge(challengeId: honest.signingHash(chainId: Chain.chainId), commitmentId: id, leaf: b.tree.proof(honestIndex), input: []),
            .answerHopChallenge(challengeId: garbage.signingHash(chainId: Chain.chainId), commitmentId: id, leaf: b.tree.proof(g), input: []),
        ]
        let w = try c.account(worker.publicKey).nonce
        let rs = try c.block([try c.tx(worker, withInput, nonce: w), try c.tx(worker, answers[0], nonce: w + 1),
                              try c.tx(worker, answers[1], nonce: w + 2)])  // 14
        #expect(rs.dropLast().map(\.failure) == [.inputInClear, nil, nil])
        #expect(answers.allSatisfy { $0.revealedInput == nil }, "nothing for the public to replay")
        #expect(withInput.revealedInput == b.inputs[honestIndex])
        let tHonest = LedgerIds.hopTicket(challenge: honest.signingHash(chainId: Chain.chainId))
        let tGarbage = LedgerIds.hopTicket(challenge: garbage.signingHash(chainId: Chain.chainId))
        #expect(try LedgerReader(c.state).ticket(tGarbage)?.status == .revealed)
        // The client gives the inputs to a verifier, which claims both.
        let (gc, go) = try c.proveFraud(verifier, ticket: tGarbage, input: b.inputs[g])  // 15, 16
        let (hc, ho) = try c.proveFraud(verifier, ticket: tHonest, input: b.inputs[honestIndex], salt: 2)  // 17, 18
        #expect(gc.succeeded && go.succeeded && hc.succeeded && ho.succeeded, "\([gc, go, hc, ho].map(\.status))")
        #expect(try LedgerReader(c.state).ticket(tGarbage)?.status == .fraudProven)
        #expect(try LedgerReader(c.state).ticket(tHonest)?.status == .upheld)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
    }

    // MARK: - Refusals

    @Test
    func badChallengesAndAnswersAreRefusedAndCostOnlyTheFee() throws {
        var (c, b, id) = try honestWindow(seed: 2_000)
        let good = receipt(for: b.leaves[3])
        // Too early: the window still takes commitments (height 6 ≤ 12).
        #expect(try c.block([try c.tx(client, .hopChallenge(receipt: good))])[0].failure == .hopChallengeClosed)  // 6
        try c.advance(to: 12)
        let wrongCount = HopReceipt(pool: 0, shard: 0, window: 0, worker: worker.publicKey, holder: client.publicKey,
                                contentKey: good.contentKey, outputHash: good.outputHash, tokenCount: 17).signed(by: worker, chainId: Chain.chainId)
        let future = receipt(for: b.leaves[3], window: 5)
        let otherChain = HopReceipt(leaf: b.leaves[3], pool: 0, window: 0, worker: worker.publicKey, holder: client.publicKey)
            .signed(by: worker, chainId: SHA256.hash(Array("another chain".utf8)))
        let forged = receipt(for: b.leaves[3], signer: stranger)
        var shard1 = receipt(for: b.leaves[3]); shard1.shard = 1; shard1 = shard1.signed(by: worker, chainId: Chain.chainId)
        var pool9 = good; pool9.pool = 9
        let before = try c.balance(client.publicKey)
        let n0 = try c.account(client.publicKey).nonce
        let rs = try c.block([
            try c.tx(client, .hopChallenge(receipt: wrongCount), nonce: n0),
            try c.tx(client, .hopChallenge(receipt: future), nonce: n0 + 1),
            try c.tx(client, .hopChallenge(receipt: otherChain), nonce: n0 + 2),
            try c.tx(client, .hopChallenge(receipt: forged), nonce: n0 + 3),
            try c.tx(client, .hopChallenge(receipt: shard1), nonce: n0 + 4),
            try c.tx(client, .hopChallenge(receipt: pool9), nonce: n0 + 5),
            try c.tx(client, .hopChallenge(receipt: good), nonce: n0 + 6),
            try c.tx(client, .hopChallenge(receipt: good), nonce: n0 + 7),
            // Anyone may challenge a receipt, but each receipt once: the stranger comes second.
            try c.tx(stranger, .hopChallenge(receipt: good)),
        ])  // 13
        #expect(rs.dropLast().map(\.failure) == [.invalidReceipt, .hopChallengeClosed, .badReceiptSignature, .badReceiptSignature,
                                                 .nothingToChallenge, .unknownPool, nil, .duplicateHopChallenge, .duplicateHopChallenge])
        let fees = rs.dropLast(2).reduce(UInt64(0)) { $0 + $1.feePaid.units }
        #expect(try c.balance(client.publicKey) == before - fees - bond)

        // Answers: wrong commitment owner, another leaf, a broken path, a wrong input, then the right one, then again.
        let challengeId = good.signingHash(chainId: Chain.chainId)
        let i = b.leaves.firstIndex { $0.contentKey == good.contentKey }!
        var brokenPath = b.tree.proof(i); brokenPath.path[0].sum += 1
        let n = try c.account(worker.publicKey).nonce
        let answers = try c.block([
            try c.tx(stranger, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: b.tree.proof(i), input: b.inputs[i])),
            try c.tx(worker, .answerHopChallenge(challengeId: SHA256.hash([1]), commitmentId: id, leaf: b.tree.proof(i), input: b.inputs[i]), nonce: n),
            try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: b.tree.proof(i + 1), input: b.inputs[i + 1]),
                     nonce: n + 1),
            try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: brokenPath, input: b.inputs[i]), nonce: n + 2),
            try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: b.tree.proof(i), input: b.inputs[i + 1]),
                     nonce: n + 3),
            try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: b.tree.proof(i), input: b.inputs[i]), nonce: n + 4),
            try c.tx(worker, .answerHopChallenge(challengeId: challengeId, commitmentId: id, leaf: b.tree.proof(i), input: b.inputs[i]), nonce: n + 5),
        ])  // 14
        #expect(answers.dropLast().map(\.failure) == [.unknownHopChallenge, .unknownHopChallenge, .receiptMismatch, .invalidSumProof,
                                                      .inputHashMismatch, nil, .hopChallengeAnswered])
        // Too late: after the challenge period.
        try c.advance(to: 14)
        let late = receipt(for: b.leaves[4])
        #expect(try c.block([try c.tx(client, .hopChallenge(receipt: late))])[0].failure == .hopChallengeClosed)  // 15
    }

    /// An answer after the deadline is refused, and the deadline has already convicted the worker.
    @Test
    func anAnswerAfterTheDeadlineIsRefused() throws {
        var (c, b, id) = try honestWindow(seed: 3_000)
        try c.advance(to: 12)
        let r = receipt(for: b.leaves[0])
        #expect(try c.block([try c.tx(client, .hopChallenge(receipt: r))])[0].succeeded)  // 13, due by 16
        try c.advance(to: 16)
        let late = try c.block([try c.tx(worker, answer(r, in: b, commitment: id))])[0]  // 17
        #expect(late.failure == .revealDeadlinePassed)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000)
    }

    /// A block importer verifies receipt signatures ahead, with the vouchers' (on all cores): the check is the worker's
    /// key over the receipt hash with this chain id, so a forged receipt's check is invalid and execution refuses it.
    @Test
    func receiptSignaturesAreCheckedAheadLikeVouchers() throws {
        let c = try Chain(accounts: [(client, 1_000)], workers: [(worker, 0, 1_000)])
        let (leaf, _) = Self.pass(seed: 9, position: 0)
        let good = receipt(for: leaf), forged = receipt(for: leaf, signer: stranger)
        let txs = [try c.tx(client, .hopChallenge(receipt: good)), try c.tx(client, .hopChallenge(receipt: forged), nonce: 1)]
        let checks = c.ledger.voucherSignatures(in: txs, state: c.ledgerState)
        #expect(checks.map(\.owner) == [worker.publicKey, worker.publicKey])
        #expect(checks.map(\.digest) == [good.signingHash(chainId: Chain.chainId), forged.signingHash(chainId: Chain.chainId)])
        #expect(checks.map(\.isValid) == [true, false])
    }

    // MARK: - Encoding

    @Test
    func receiptsAndChallengeBodiesRoundTrip() throws {
        let (leaf, input) = Self.pass(seed: 7, position: 8)
        let r = receipt(for: leaf)
        #expect(try HopReceipt(canonicalEncoding: r.canonicalEncoding) == r)
        #expect(r.worker.verify(r.signature, digest: r.signingHash(chainId: Chain.chainId)))
        let tree = try SumTree.build([leaf])
        for body in [TxBody.hopChallenge(receipt: r),
                     .answerHopChallenge(challengeId: SHA256.hash([2]), commitmentId: SHA256.hash([3]), leaf: tree.proof(0), input: input)] {
            #expect(try TxBody(canonicalEncoding: body.canonicalEncoding) == body)
            // Truncated bodies are refused.
            let bytes = body.canonicalEncoding
            for cut in [1, 9, bytes.count - 1] { #expect(throws: CodecError.self) { try TxBody(canonicalEncoding: Array(bytes.prefix(cut))) } }
        }
        let ch = HopChallenge(challenger: client.publicKey, shard: 1, contentKey: leaf.contentKey, outputHash: leaf.outputHash, tokenCount: 4,
                              bond: 77, height: 5, deadline: 8, status: .answered, ticketId: SHA256.hash([4]))
        #expect(try HopChallenge(canonicalEncoding: ch.canonicalEncoding) == ch)
        var reused = ch
        reused.status = .reused
        #expect(try HopChallenge(canonicalEncoding: reused.canonicalEncoding) == reused)
        var bad = ch.canonicalEncoding
        bad[bad.count - 33] = 4  // unknown status
        #expect(throws: CodecError.self) { try HopChallenge(canonicalEncoding: bad) }
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// The economy v2 rules, and every attack of the economy issue performed against them (Specs/economics.md,
/// "Threat model"). Each attack test does the attack and asserts that it fails or loses money.
@Suite struct EconomyTests {
    let client = testKey("client"), worker = testKey("worker"), other = testKey("other-worker"),
        verifier = testKey("verifier"), sybil = testKey("sybil")

    func chain() throws -> Chain {
        try Chain(accounts: [(client, 1_000_000), (worker, 100_000), (other, 100_000), (verifier, 100_000), (sybil, 100_000)],
                  workers: [(worker, 0, 10_000), (other, 0, 10_000)])
    }

    /// Input and output tokens of a voucher that pays for exactly `tokens` tokens.
    func split(_ tokens: UInt64) -> (UInt64, UInt64) { (tokens - tokens / 5, tokens / 5) }

    /// Net amount a worker earns for `input`/`output` tokens on shard 0 (prices 2 and 7, fee 5 %).
    func net(_ input: UInt64, _ output: UInt64) -> UInt64 {
        let charge = input * 2 + output * 7
        return charge - (charge * 500 + 9_999) / 10_000  // the protocol fee is rounded up
    }

    /// An honest worker's window: escrow, commitment, voucher, reveals, settlement, payout.
    @Test func honestWorkIsPaidWhatTheClientPaidLessTheBurnedFee() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let b = PassBatch.make(count: 20, shard: 0, seed: 1)
        let (i, o) = split(b.tokenCount)
        let r = try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 4)
        let tickets = try c.tickets(cid)
        #expect(tickets.count == Int(c.pool.sampleCount(tokenTotal: b.tokenCount)))
        #expect(tickets.count >= 1)
        let reveals = try c.revealAll(worker, b, commitment: cid)
        #expect(reveals.dropLast().allSatisfy { $0.succeeded }, "\(reveals.map(\.status))")
        let burnedBefore = try c.burned()
        try c.advance(to: c.settleHeight0 - 1)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .open)
        try c.block()
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .settled)
        let before = try c.balance(worker.publicKey)
        let payout = try c.block([try c.tx(sybil, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(payout[0].succeeded)
        #expect(payout[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: Amount(net(i, o)), refunded: 0)))
        #expect(try c.balance(worker.publicKey) == before + net(i, o))
        #expect(try c.burned() == burnedBefore)
        // Everything of the window but its summary record and the payout receipt is gone from state.
        #expect(try c.keys(.commitment) == 0)
        #expect(try c.keys(.ticket) == 0)
        #expect(try c.keys(.workRecord) == 0)
        #expect(try c.keys(.payerLane) == 0)
        // A second payout has nothing to pay.
        #expect(try c.block([try c.tx(sybil, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])[0].failure == .nothingToPay)
    }

    /// Attack 1: one honest pass copied into every leaf. The copies share a content key, so every node above two of
    /// them is out of order and every sampled leaf's path fails (as would its neighbour check); the worker cannot
    /// reveal, is slashed as for fraud, and is paid nothing.
    @Test func duplicateLeavesCannotBeRevealedAndAreSlashed() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let honest = PassBatch.make(count: 1, shard: 0, seed: 7)
        let copy = honest.leaves[0]
        let tree = unsortedTree(Array(repeating: copy, count: 64))
        let b = PassBatch(tree: tree, inputs: Array(repeating: honest.inputs[0], count: 64), cheated: [])
        let (i, o) = split(b.tokenCount)
        let wealth = try c.wealth(worker)
        try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 4)
        let reveals = try c.revealAll(worker, b, commitment: cid)
        #expect(reveals.dropLast().allSatisfy { $0.failure == .invalidSumProof }, "\(reveals.map(\.status))")
        try c.advance(to: 7)  // deadline 4 + 3
        #expect(try c.tickets(cid).allSatisfy { $0.ticket.status == .withheld })
        guard case .jailed = try c.staker(.worker(pool: 0), worker.publicKey)?.status else { Issue.record("not jailed"); return }
        try c.advance(to: c.settleHeight0)
        let clientBefore = try c.balance(client.publicKey)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: 0, refunded: Amount(net(i, o)))))
        #expect(try c.balance(client.publicKey) > clientBefore)
        #expect(try c.wealth(worker) < wealth - 5_000 + 1)  // half the stake, and nothing earned
    }

    /// Attack 1b: a leaf that claims more tokens than its input holds cannot be revealed (the input's rows must
    /// equal the leaf's token count), and a tree whose sums do not add up fails the path check.
    @Test func inflatedTokenCountsCannotBeRevealed() throws {
        var c = try chain()
        let honest = PassBatch.make(count: 8, shard: 0, seed: 3)
        var leaves = honest.leaves
        var inputs = honest.inputs
        for k in leaves.indices { leaves[k].tokenCount = 16 }  // every leaf claims the maximum
        let tree = unsortedTree(leaves.sorted { $0.contentKey < $1.contentKey })
        inputs = tree.leaves.map { l in honest.inputs[honest.leaves.firstIndex { $0.inputHash == l.inputHash }!] }
        let b = PassBatch(tree: tree, inputs: inputs, cheated: [])
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        let reveals = try c.revealAll(worker, b, commitment: cid)
        #expect(reveals.dropLast().allSatisfy { $0.failure == .invalidInputTensor })
        try c.advance(to: 6)
        #expect(try c.tickets(cid).allSatisfy { $0.ticket.status == .withheld })
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake == 5_000)
    }

    /// Attack 2: a worker commits another worker's revealed pass. The pass counts once: the copy's sample is
    /// voided (its share of the tokens does not count) and the copier is paid only for what it covered.
    @Test func copiedRevealsAreVoidedAndNotPaid() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000), (other, 50_000)])
        let original = PassBatch.make(count: 1, shard: 0, seed: 11)
        try c.block([try c.tx(worker, c.commit(original))])
        try c.advance(to: 4)
        try c.revealAll(worker, original, commitment: c.commitmentId(worker, original))
        // The copier commits the revealed pass (public in the reveal transaction) and bills a client for it.
        let copy = PassBatch(tree: try SumTree.build(original.leaves), inputs: original.inputs, cheated: [])
        let (i, o) = split(copy.tokenCount)
        try c.block([try c.tx(other, c.commit(copy)), try c.tx(other, c.voucher(client, escrow: escrow, payee: other, input: i, output: o), nonce: 1)])
        let cid = c.commitmentId(other, copy)
        try c.advance(to: 8)
        let r = try c.revealAll(other, copy, commitment: cid)
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        #expect(try c.tickets(cid).allSatisfy { $0.ticket.status == .voided })
        #expect(try c.record(StateKey.commitment(cid), Commitment.self)?.coveredTokens == 0)
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(other, .claimPayout(pool: 0, window: 0, worker: other.publicKey))])
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: other.publicKey, paid: 0, refunded: Amount(net(i, o)))))
    }

    /// Attack 3: work nobody paid for earns nothing, and a voucher pays only the worker it names.
    @Test func unpaidWorkEarnsNothingAndVouchersPayOnlyTheirPayee() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let b = PassBatch.make(count: 30, shard: 0, seed: 5)
        let stolen = c.voucher(client, escrow: escrow, payee: worker, input: 100, output: 10)
        let forged = c.voucher(other, escrow: escrow, payee: other, input: 100, output: 10)
        let r = try c.block([try c.tx(other, c.commit(b)), try c.tx(other, stolen, nonce: 1), try c.tx(other, forged, nonce: 2)])
        #expect(r[1].failure == .notVoucherPayee)
        #expect(r[2].failure == .voucherBadSignature)
        try c.advance(to: 4)
        try c.revealAll(other, b, commitment: c.commitmentId(other, b))
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(other, .claimPayout(pool: 0, window: 0, worker: other.publicKey))])
        #expect(p[0].events == [.payoutCredited(pool: 0, window: 0, worker: other.publicKey, paid: 0, refunded: 0)])
    }

    /// Paid tokens beyond what the commitments cover are refunded to the payer, never paid to the worker.
    @Test func uncoveredPaidTokensAreRefundedToThePayer() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let b = PassBatch.make(count: 10, shard: 0, seed: 9)
        // Billed for twice the committed tokens: half is covered.
        let (i, o) = split(b.tokenCount * 2)
        try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        try c.advance(to: 4)
        try c.revealAll(worker, b, commitment: c.commitmentId(worker, b))
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(worker, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        let earned = net(i, o)
        let paid = earned * b.tokenCount / (i + o)
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: Amount(paid), refunded: Amount(earned - paid))))
        #expect(p[0].events.contains(.refundCredited(pool: 0, window: 0, worker: worker.publicKey, owner: client.publicKey, amount: Amount(earned - paid))))
    }

    /// Self-dealing (a worker paying itself through its own escrow) loses at least the protocol fee.
    @Test func selfDealingLosesTheProtocolFee() throws {
        var c = try chain()
        let start = try c.wealth(worker)
        let escrow = try c.openEscrow(worker, amount: 10_000, payees: [(worker, 10_000)])
        let b = PassBatch.make(count: 20, shard: 0, seed: 13)
        let (i, o) = split(b.tokenCount)
        let n = try c.account(worker.publicKey).nonce
        try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(worker, escrow: escrow, payee: worker, input: i, output: o), nonce: n + 1)])
        try c.advance(to: 4)
        try c.revealAll(worker, b, commitment: c.commitmentId(worker, b))
        try c.advance(to: c.settleHeight0)
        try c.block([try c.tx(worker, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        try c.advance(to: 1000)
        try c.block([try c.tx(worker, .escrowClose(escrowId: escrow))])
        try c.advance(to: c.height + c.ledger.params.escrowUnlockBlocks)
        try c.block([try c.tx(worker, .escrowClose(escrowId: escrow))])
        let charge = i * 2 + o * 7
        #expect(try c.wealth(worker) + charge * 500 / 10_000 <= start)
    }

    /// Attack 4: withholding every sampled leaf costs the fraud slash, a jail term and the window's pay.
    @Test func withholdingIsPunishedAsFraudAndForfeitsPay() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let (i, o) = (UInt64(800), UInt64(200))
        let start = try c.wealth(worker)
        // A random root claiming 1 000 tokens over 100 leaves: nothing behind it.
        try c.block([try c.tx(worker, .commitShares(pool: 0, window: 0, shard: 0, leafCount: 100, tokenTotal: 1_000, root: SHA256.hash([9]))),
                     try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        try c.advance(to: c.settleHeight0)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake == 5_000)
        guard case .jailed = try c.staker(.worker(pool: 0), worker.publicKey)!.status else { Issue.record("not jailed"); return }
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: 0, refunded: Amount(net(i, o)))))
        #expect(try c.wealth(worker) < start - 5_000)
    }

    /// Attack 5: no commitment after the window's deadline, and a fraud claim opened at the very end of the
    /// challenge period still forfeits the window (settlement waits for every check).
    @Test func lateCommitmentsAreRefusedAndLateFraudStillForfeits() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let b = PassBatch.make(count: 12, shard: 0, seed: 17, cheat: Set(0..<12))
        let deadline = c.pool.commitDeadline(ofWindow: 0)
        try c.advance(to: deadline - 1)
        let (i, o) = split(b.tokenCount)
        let r = try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        let late = PassBatch.make(count: 3, shard: 0, seed: 18)
        #expect(try c.block([try c.tx(worker, c.commit(late))])[0].failure == .commitDeadlinePassed)
        let cid = c.commitmentId(worker, b)
        try c.advance(to: deadline + c.ledger.params.beaconDelay)
        let tickets = try c.tickets(cid)
        #expect(!tickets.isEmpty)
        // Reveal as late as possible.
        try c.advance(to: tickets[0].ticket.revealDeadline - 1)
        try c.revealAll(worker, b, commitment: cid)
        let (tid, t) = try c.tickets(cid)[0]
        // The verifier commits its claim at the challenge end and opens it in the last allowed block.
        try c.advance(to: t.challengeEnd - 1)
        let s = SHA256.hash([42])
        try c.block([try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: s), pool: 0))])
        try c.advance(to: t.challengeEnd + c.pool.fraudRevealBlocks - 1)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .open)
        let input = b.inputs[Int(t.leaf!.index)]
        let opened = try c.block([try c.tx(verifier, .fraudReveal(ticketId: tid, salt: s, input: input))])
        #expect(opened[0].succeeded)
        #expect(c.height == c.settleHeight0)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .settled)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: 0, refunded: Amount(net(i, o)))))
    }

    /// Attack 6a: a fraud claim cannot be stolen. A copied claim hash names the original prover, so the copier
    /// cannot open it; the earliest committed claim wins the bounty even when a later one is opened first.
    @Test func fraudClaimsCannotBeFrontRun() throws {
        var c = try chain()
        let b = PassBatch.make(count: 12, shard: 0, seed: 19, cheat: Set(0..<12))
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)
        let (tid, t) = try c.tickets(cid)[0]
        let input = b.inputs[Int(t.leaf!.index)]
        let honestSalt = SHA256.hash([1]), thiefSalt = SHA256.hash([2])
        let honestClaim = fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: honestSalt)
        try c.block([try c.tx(verifier, .fraudCommit(claim: honestClaim, pool: 0))])
        // The thief copies the hash: it names the verifier, so the thief's reveal cannot match it; then it commits
        // its own claim, a block later.
        let thiefClaim = fraudClaimHash(ticketId: tid, prover: sybil.publicKey, salt: thiefSalt)
        let copied = try c.block([try c.tx(sybil, .fraudCommit(claim: honestClaim, pool: 0)),
                                  try c.tx(sybil, .fraudCommit(claim: thiefClaim, pool: 0), nonce: 1)])
        #expect(copied[0].succeeded, "a copy is a commitment of the copier's own (keyed by prover and claim), never openable")
        #expect(copied[1].succeeded)
        // The thief opens first (its copy cannot be opened); the verifier's earlier commitment still wins.
        let thiefStart = try c.balance(sybil.publicKey)
        let first = try c.block([try c.tx(sybil, .fraudReveal(ticketId: tid, salt: honestSalt, input: input), nonce: 2),
                                 try c.tx(sybil, .fraudReveal(ticketId: tid, salt: thiefSalt, input: input), nonce: 3)])
        #expect(first[0].failure == .unknownFraudClaim)
        #expect(first[1].succeeded)
        #expect(try c.block([try c.tx(verifier, .fraudReveal(ticketId: tid, salt: honestSalt, input: input), nonce: 1)])[0].succeeded)
        try c.advance(to: c.settleHeight0)
        let fc = try c.record(StateKey.fraudCase(tid), FraudCase.self)!
        #expect(fc.status == .paid)
        #expect(fc.winner == verifier.publicKey)
        #expect(fc.bounty > .zero)
        // The thief got its bond back, nothing more (less the fees it paid).
        #expect(try c.balance(sybil.publicKey) <= thiefStart + c.pool.fraudProofBond.units)
    }

    /// Attack 6b: false claims cannot crowd out a real one. More claims than a block can replay are queued, not
    /// refused; each false one burns its bond; the window waits for the last verdict, then the cheater forfeits.
    @Test func falseClaimsCannotCrowdOutARealProof() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let honest = PassBatch.make(count: 40, shard: 0, seed: 23)
        let cheat = PassBatch.make(count: 12, shard: 0, seed: 29, cheat: Set(0..<12))
        let (i, o) = split(cheat.tokenCount)
        try c.block([try c.tx(other, c.commit(honest)), try c.tx(worker, c.commit(cheat)),
                     try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i, output: o), nonce: 1)])
        try c.advance(to: 4)
        try c.revealAll(other, honest, commitment: c.commitmentId(other, honest))
        try c.revealAll(worker, cheat, commitment: c.commitmentId(worker, cheat))
        let honestTickets = try c.tickets(c.commitmentId(other, honest))
        #expect(honestTickets.count > c.ledger.params.maxAdjudicationsPerBlock)
        let (cheatTicket, ct) = try c.tickets(c.commitmentId(worker, cheat))[0]
        // The spammer commits a false claim against every honest ticket, the verifier one real claim.
        var commits = [SignedTransaction](), reveals = [SignedTransaction]()
        var n = try c.account(sybil.publicKey).nonce
        for (k, (tid, _)) in honestTickets.enumerated() {
            let s = SHA256.hash([UInt8(k)])
            commits.append(try c.tx(sybil, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: sybil.publicKey, salt: s), pool: 0), nonce: n))
            reveals.append(try c.tx(sybil, .fraudReveal(ticketId: tid, salt: s, input: honest.inputs[Int(try c.tickets(c.commitmentId(other, honest))[k].ticket.leaf!.index)]),
                                    nonce: n + UInt64(honestTickets.count)))
            n += 1
        }
        let s = SHA256.hash([0xFF])
        commits.append(try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: cheatTicket, prover: verifier.publicKey, salt: s), pool: 0)))
        try c.block(commits)
        reveals.append(try c.tx(verifier, .fraudReveal(ticketId: cheatTicket, salt: s, input: cheat.inputs[Int(ct.leaf!.index)]), nonce: 1))
        let burned = try c.burned()
        let r = try c.block(reveals)
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: c.settleHeight0)
        // Every false claim burned its bond; the real one was adjudicated.
        #expect(try c.burned() >= burned + UInt64(honestTickets.count) * c.pool.fraudProofBond.units)
        #expect(try c.record(StateKey.fraudCase(cheatTicket), FraudCase.self)?.status == .paid)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .settled)
        let p = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(p[0].events.contains(.payoutCredited(pool: 0, window: 0, worker: worker.publicKey, paid: 0, refunded: Amount(net(i, o)))))
    }

    /// A backlog longer than the settlement height holds the window until its last adjudication.
    @Test func settlementWaitsForQueuedAdjudications() throws {
        var params = Chain.defaultParams()
        params.maxAdjudicationsPerBlock = 1
        var c = try Chain(accounts: [(worker, 100_000), (verifier, 100_000)], workers: [(worker, 0, 10_000)], params: params)
        let b = PassBatch.make(count: 60, shard: 0, seed: 31)
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)
        let tickets = try c.tickets(cid)
        #expect(tickets.count >= 8)
        // All claims opened at the last possible block, so the queue outlasts the settlement height.
        let challengeEnd = tickets[0].ticket.challengeEnd
        try c.advance(to: challengeEnd - 1)
        var n = try c.account(verifier.publicKey).nonce
        var commits = [SignedTransaction](), reveals = [SignedTransaction]()
        for (k, (tid, t)) in tickets.enumerated() {
            let s = SHA256.hash([UInt8(k)])
            commits.append(try c.tx(verifier, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: verifier.publicKey, salt: s), pool: 0), nonce: n))
            reveals.append(try c.tx(verifier, .fraudReveal(ticketId: tid, salt: s, input: b.inputs[Int(t.leaf!.index)]), nonce: n + UInt64(tickets.count)))
            n += 1
        }
        try c.block(commits)
        try c.advance(to: c.settleHeight0 - 1)
        try c.block(reveals)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .awaitingAdjudication)
        while try c.record(StateKey.window(0, 0), WindowRecord.self)?.status != .settled {
            #expect(c.height < c.settleHeight0 + UInt64(tickets.count) + 2)
            try c.block()
        }
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.pendingAdjudications == 0)
        #expect(try c.keys(.adjudicationQueue) == 0)
    }

    /// Attack 9: a cheater proving fraud on itself through a second key recovers at most the bounty, a tenth of
    /// what it loses.
    @Test func selfProofThroughASecondKeyLosesMoney() throws {
        var c = try chain()
        let b = PassBatch.make(count: 12, shard: 0, seed: 37, cheat: Set(0..<12))
        let start = try c.wealth(worker) + c.balance(sybil.publicKey)
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)
        let (tid, t) = try c.tickets(cid)[0]
        try c.proveFraud(sybil, ticket: tid, input: b.inputs[Int(t.leaf!.index)])
        try c.advance(to: c.settleHeight0)
        let end = try c.wealth(worker) + c.balance(sybil.publicKey)
        #expect(end + 5_000 - 500 <= start)  // lost the slash less the bounty (and fees)
    }

    /// Attack 7: one client paying two workers pays both (one lane each); closing an escrow leaves payees their
    /// unlock period; the signer, not the holder, chooses the voucher's window.
    @Test func escrowsPayEveryPayeeAndCloseSafely() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 10_000, payees: [(worker, 2_000), (other, 2_000)], expiry: 3)
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 100, output: 10)),
                             try c.tx(other, c.voucher(client, escrow: escrow, payee: other, input: 100, output: 10))])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: worker.publicKey)?.earned == net(100, 10))
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: other.publicKey)?.earned == net(100, 10))
        // The owner closes at expiry: an unlock period starts, claims still land, the allocation cannot be drained.
        let close = try c.block([try c.tx(client, .escrowClose(escrowId: escrow))])
        guard case .escrowUnlocking(_, let until)? = close[0].events.first else { Issue.record("no unlock"); return }
        #expect(try c.block([try c.tx(client, .escrowClose(escrowId: escrow))])[0].failure == .escrowStillUnlocking)
        #expect(try c.block([try c.tx(client, .escrowAllocate(escrowId: escrow, payee: sybil.publicKey, amount: 1))])[0].failure == .escrowUnlocking)
        let last = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 200, output: 20))])
        #expect(last[0].succeeded)
        // A voucher for a window that has not started, or whose claims closed, is refused.
        #expect(try c.block([try c.tx(other, c.voucher(client, escrow: escrow, payee: other, window: 5, input: 300, output: 30))])[0].failure == .wrongWindow)
        try c.advance(to: until)
        let refund = try c.block([try c.tx(client, .escrowClose(escrowId: escrow))])
        #expect(refund[0].succeeded)
        // The closed escrow is gone from state (record, owner index, allocations): a late voucher and a second close
        // find no escrow, and nothing of it is left to grow the state.
        #expect(try c.block([try c.tx(other, c.voucher(client, escrow: escrow, payee: other, input: 300, output: 30))])[0].failure == .unknownEscrow)
        #expect(try c.block([try c.tx(client, .escrowClose(escrowId: escrow))])[0].failure == .unknownEscrow)
        #expect(try LedgerReader(c.state).escrow(escrow) == nil)
        #expect(try c.keys(.allocation) == 0)
        #expect(try c.keys(.escrow) == 0)
        #expect(try c.keys(.escrowByOwner) == 0)
    }

    /// A worker paid by several escrows claims them in one `claimUsageBatch`: each voucher is charged exactly as its own
    /// `claimUsage` would be, the batch is all or nothing (a bad voucher anywhere undoes the others, and the sender
    /// still pays the fee), an empty batch is refused, and a claimed voucher cannot be replayed in a later batch.
    @Test func aBatchClaimsEachVoucherAsItsOwnClaimWouldAllOrNothing() throws {
        var c = try chain()
        let e1 = try c.openEscrow(client, amount: 10_000, payees: [(worker, 3_000)])
        let e2 = try c.openEscrow(sybil, amount: 10_000, payees: [(worker, 3_000)])
        func v(_ signer: PrivateKey, _ e: Hash32, _ i: UInt64, _ o: UInt64) -> UsageVoucher {
            UsageVoucher(chainId: Chain.chainId, escrowId: e, payee: worker.publicKey, shard: 0, window: 0,
                         cumulativeInputTokens: i, cumulativeOutputTokens: o).signed(by: signer)
        }
        // One voucher signed by the wrong key: nothing of the batch lands, the fee is paid.
        let before = try c.balance(worker.publicKey)
        let bad = try c.block([try c.tx(worker, .claimUsageBatch(vouchers: [v(client, e1, 100, 10), v(client, e2, 50, 5)]))])
        #expect(bad[0].failure == .voucherBadSignature)
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: worker.publicKey) == nil)
        #expect(try LedgerReader(c.state).escrow(e1)?.totalCharged == 0)
        #expect(try c.balance(worker.publicKey) < before)
        #expect(try c.block([try c.tx(worker, .claimUsageBatch(vouchers: []))])[0].failure == .emptyBatch)
        // Both payers at once: two usage claims, the work record earns what two claims would.
        let ok = try c.block([try c.tx(worker, .claimUsageBatch(vouchers: [v(client, e1, 100, 10), v(sybil, e2, 50, 5)]))])
        #expect(ok[0].succeeded)
        #expect(ok[0].events.filter { if case .usageClaimed = $0 { true } else { false } }.count == 2)
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: worker.publicKey)?.earned == net(100, 10) + net(50, 5))
        #expect(try LedgerReader(c.state).escrow(e1)?.totalCharged == 270)
        // Replaying a claimed voucher inside a batch fails the batch (counters must increase).
        let replay = try c.block([try c.tx(worker, .claimUsageBatch(vouchers: [v(client, e1, 200, 20), v(sybil, e2, 50, 5)]))])
        #expect(replay[0].failure == .voucherNotIncreasing)
        #expect(try LedgerReader(c.state).escrow(e1)?.totalCharged == 270)
        // Another key cannot claim the worker's vouchers.
        #expect(try c.block([try c.tx(other, .claimUsageBatch(vouchers: [v(client, e1, 300, 30)]))])[0].failure == .notVoucherPayee)
    }

    /// A payee cannot claim beyond its allocation (the rest is recorded as a shortfall, never paid).
    @Test func claimsStopAtTheAllocation() throws {
        var c = try chain()
        let escrow = try c.openEscrow(client, amount: 10_000, payees: [(worker, 100)])
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 1_000, output: 0))])
        guard case .usageClaimed(_, _, _, _, _, let charged, _, let short)? = r[0].events.first else { Issue.record("no claim"); return }
        #expect(charged == 100)
        #expect(short == 1_900)
        #expect(try c.block([try c.tx(other, c.voucher(client, escrow: escrow, payee: other, input: 10, output: 0))])[0].failure == .noAllocation)
    }

    /// Cheating has negative expected value: a worker's window pays at most `payableCapBps` of its stake, the rest
    /// goes back to the payers.
    @Test func payoutIsCappedByStake() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 100_000)], workers: [(worker, 0, 1_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])
        let b = PassBatch.make(count: 40, shard: 0, seed: 41)
        let (i, o) = split(b.tokenCount)
        try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: i * 10, output: o * 10), nonce: 1)])
        try c.advance(to: 4)
        try c.revealAll(worker, b, commitment: c.commitmentId(worker, b))
        try c.advance(to: c.settleHeight0)
        let p = try c.block([try c.tx(worker, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        guard case .payoutCredited(_, _, _, let paid, _)? = p[0].events.last else { Issue.record("no payout"); return }
        #expect(paid == 200)  // 20 % of 1 000
    }

    /// The same pass revealed in two of a worker's commitments is sold twice: punished as fraud.
    @Test func reusingOnesOwnPassIsPunished() throws {
        var c = try chain()
        let b = PassBatch.make(count: 1, shard: 0, seed: 43)
        try c.block([try c.tx(worker, c.commit(b))])
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: c.commitmentId(worker, b))
        // Window 1: the same pass again.
        try c.advance(to: c.pool.startHeight(ofWindow: 1))
        try c.block([try c.tx(worker, c.commit(b, window: 1))])
        try c.advance(to: c.height + 2)
        let r = try c.revealAll(worker, b, commitment: c.commitmentId(worker, b, window: 1))
        #expect(r[0].events.contains { if case .passReused = $0 { return true }; return false })
        #expect(r[0].slashed == 5_000)
    }

    /// Attack 8: a commitment creates a bounded number of tickets, and settled records are pruned.
    /// Attack (found by measuring economics.md §9): fill blocks with commitments so that one end-block draws (and a
    /// later one expires) millions of samples, a write set above the store's limit that halts the chain. A block
    /// includes at most `maxCommitmentsPerBlock` commitments; the rest fail (fee paid), failed ones do not count,
    /// and a block builder leaves the surplus for the next block.
    @Test func commitmentsPerBlockAreCapped() throws {
        var params = Chain.defaultParams()
        params.maxCommitmentsPerBlock = 2
        let workers = (0..<4).map { testKey("capped-worker-\($0)") }
        var c = try Chain(accounts: workers.map { ($0, 100_000) }, workers: workers.map { ($0, 0, 1_000) }, params: params)
        let batches = (0..<4).map { PassBatch.make(count: 2, shard: 0, seed: 90 + UInt64($0)) }
        let bad = try c.tx(workers[0], .commitShares(pool: 9, window: 0, shard: 0, leafCount: 1, tokenTotal: 1, root: batches[0].root))
        let txs = [bad] + (try (0..<4).map { try c.tx(workers[$0], c.commit(batches[$0]), nonce: $0 == 0 ? 1 : nil) })
        let r = try c.block(txs)
        #expect(r.prefix(5).map(\.failure) == [.unknownPool, nil, nil, .tooManyCommitmentsInBlock, .tooManyCommitmentsInBlock])
        #expect(r[3].feePaid > .zero, "a refused commitment still pays its fee")
        // The next block takes two more.
        let again = try c.block(try (2..<4).map { try c.tx(workers[$0], c.commit(batches[$0])) })
        #expect(again.prefix(2).allSatisfy { $0.succeeded })
        // A block builder includes at most the cap and leaves the rest out (they would only fail).
        var state = c.ledgerState
        let more = (0..<4).map { PassBatch.make(count: 2, shard: 0, seed: 200 + UInt64($0)) }
        let candidates = try (0..<4).map { try c.tx(workers[$0], c.commit(more[$0])) }
        let built = try c.ledger.buildBlock(c.nextContext(), candidates: candidates, to: &state)
        #expect(built.transactions.count == 2)
        #expect(built.receipts.prefix(2).allSatisfy { $0.succeeded })
    }

    @Test func stateStaysBounded() throws {
        var c = try chain()
        let b = PassBatch.make(count: 4_000, shard: 0, seed: 47)
        try c.block([try c.tx(worker, c.commit(b))])
        try c.advance(to: 3)
        #expect(try c.tickets(c.commitmentId(worker, b)).count == Int(c.pool.maxTicketsPerCommitment))
        // Per-block chain records (proposers `14`, kept for a fixed window; checkpoints `30`, pruned below finality)
        // follow the chain's height, not the economy.
        let chainProgress: Set<UInt8> = [StateKey.Prefix.proposer.rawValue, StateKey.Prefix.checkpoint.rawValue]
        let economyKeys = { c.state.dump().filter { !chainProgress.contains($0.key[0]) }.count }
        let keys = economyKeys()
        try c.revealAll(worker, b, commitment: c.commitmentId(worker, b))
        try c.advance(to: c.settleHeight0)
        try c.block([try c.tx(worker, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(try c.keys(.ticket) == 0 && c.keys(.commitment) == 0 && c.keys(.workRecord) == 0)
        try c.advance(to: c.height + c.ledger.params.revealedKeyRetentionBlocks + 1)
        #expect(try c.keys(.revealedPass) == 0 && c.keys(.payout) == 0)
        #expect(try c.keys(.selectionQueue) == 0 && c.keys(.revealDeadlineQueue) == 0)
        #expect(economyKeys() < keys)
    }

    /// Genesis rejects parameters whose horizons conflict, naming them.
    @Test func genesisRejectsConflictingHorizons() throws {
        var params = Chain.defaultParams()
        params.unbondingBlocks = 10
        #expect { try Chain(params: params) } throws: { "\($0)".contains("unbondingBlocks") }
        params = Chain.defaultParams()
        params.escrowUnlockBlocks = 5
        #expect { try Chain(params: params) } throws: { "\($0)".contains("escrowUnlockBlocks") }
        var pool = Chain.defaultPool()
        pool.payableCapBps = 5_000
        #expect { try Chain(pools: [pool]) } throws: { "\($0)".contains("payableCapBps") }
        pool = Chain.defaultPool()
        pool.revealDeadlineBlocks = 1
        #expect { try Chain(pools: [pool]) } throws: { "\($0)".contains("revealDeadlineBlocks") }
    }

    /// The sum tree: a path proves its leaf's token range; flipped sums or hashes fail.
    @Test func sumTreePathsProveTokenRanges() throws {
        let b = PassBatch.make(count: 37, shard: 1, seed: 53)
        var start: UInt64 = 0
        for (i, leaf) in b.leaves.enumerated() {
            let proof = b.tree.proof(i)
            #expect(SumTree.verify(proof, leafCount: b.leafCount, root: b.root, tokenTotal: b.tokenCount) == start)
            var bad = proof
            if !bad.path.isEmpty {
                bad.path[0].sum &+= 1
                #expect(SumTree.verify(bad, leafCount: b.leafCount, root: b.root, tokenTotal: b.tokenCount) == nil)
            }
            bad = proof
            bad.leaf.tokenCount += 1
            #expect(SumTree.verify(bad, leafCount: b.leafCount, root: b.root, tokenTotal: b.tokenCount) == nil)
            start += UInt64(leaf.tokenCount)
            if i > 0 { #expect(b.leaves[i - 1].contentKey < leaf.contentKey) }
        }
        #expect(start == b.tokenCount)
        #expect(throws: SumTree.BuildError.self) { try SumTree.build(b.leaves + [b.leaves[0]]) }
        // A node's key range is bound by its parent's hash: a path with a sibling's range changed fails.
        for i in [0, 17, 36] {
            for change in [{ (n: inout SumNode) in n.minKey = SHA256.hash(n.minKey.bytes) }, { n in n.maxKey = SHA256.hash(n.maxKey.bytes) }] {
                var bad = b.tree.proof(i)
                change(&bad.path[bad.path.count / 2])
                #expect(SumTree.verify(bad, leafCount: b.leafCount, root: b.root, tokenTotal: b.tokenCount) == nil)
            }
        }
    }

    /// Economics.md §3, row 55: of two leaves with one content key, at most one has a path that verifies, wherever an
    /// adversary puts them (the node above both would need the left one's key range below the right one's). Random
    /// layouts of passes with copies, committed as given.
    @Test func twoLeavesWithOneKeyNeverBothVerify() throws {
        var rng = SplitMix64(seed: 55)
        for round in 0..<40 {
            let b = PassBatch.make(count: 3 + Int(rng.next() % 40), shard: 0, seed: 5_500 + UInt64(round))
            var layout = b.leaves
            for _ in 0..<(1 + Int(rng.next() % 6)) { layout.insert(b.leaves[Int(rng.next() % UInt64(b.leaves.count))], at: Int(rng.next() % UInt64(layout.count + 1))) }
            if round % 2 == 1 { for i in layout.indices.reversed() where i > 0 { layout.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
            let tree = SumTree.buildUnchecked(layout)!
            let verifies = layout.indices.map {
                SumTree.verify(tree.proof($0), leafCount: tree.leafCount, root: tree.root.hash, tokenTotal: tree.tokenTotal) != nil
            }
            for i in layout.indices {
                for j in layout.indices where j > i && layout[i].contentKey == layout[j].contentKey {
                    #expect(!(verifies[i] && verifies[j]), "round \(round): copies at \(i) and \(j) both verify")
                }
            }
        }
    }
}

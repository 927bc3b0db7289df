import Testing
@testable import Ledger
@testable import Primitives

/// The eighth attack review, each ledger attack performed (Specs/economics.md §7 rows 72–74, Specs/consensus.md §9):
/// a fraud claim squatted under another pool id, the same claim opened twice, claims into a forfeited window, finality
/// votes weighing stake their conflicting-vote slash cannot reach, and genesis values that halt or wrap.
@Suite
struct AttackReview8Tests: FinalityFixture {
    let worker = testKey("r8-worker")
    let prover = testKey("r8-prover")
    let squatter = testKey("r8-squatter")
    let client = testKey("r8-client")

    // MARK: - Row 72: a fraud commitment is keyed by its prover and claim

    /// Row 72, performed: commitments were keyed by the claim hash alone and kept the pool the first sender named, so
    /// a mempool watcher that copied a verifier's `fraudCommit` with another (cheaper) pool's id and a higher fee took
    /// the key: the verifier's commitment failed as a duplicate and its reveal as `wrongPool`, and the cheater kept its
    /// stake and pay. Now the copy is the squatter's own commitment, which it can never open, and the prover's proof
    /// lands.
    @Test
    func aFraudClaimCopiedUnderAnotherPoolDoesNotBlockItsProver() throws {
        var second = Chain.defaultPool(id: 1)
        second.modelId = "another-model"
        second.shards[0].weightsSHA256 = SHA256.hash(Array("another model's weights".utf8))
        var c = try Chain(accounts: [(worker, 100_000), (prover, 100_000), (squatter, 100_000)],
                          workers: [(worker, 0, 10_000)], pools: [Chain.defaultPool(), second])
        let b = PassBatch.make(count: 12, shard: 0, seed: 801, cheat: Set(0..<12))
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)
        let (tid, t) = try c.tickets(cid)[0]
        let salt = SHA256.hash([8])
        let claim = fraudClaimHash(ticketId: tid, prover: prover.publicKey, salt: salt)
        // The squatter's copy, under pool 1, is ordered first in the block (a higher fee).
        let commits = try c.block([try c.tx(squatter, .fraudCommit(claim: claim, pool: 1)),
                                   try c.tx(prover, .fraudCommit(claim: claim, pool: 0))])
        #expect(commits[0].succeeded, "the copy is a commitment of the squatter's own")
        #expect(commits[1].succeeded, "the prover's commitment was blocked by a copy: \(commits[1].status)")
        let reveal = try c.block([try c.tx(prover, .fraudReveal(ticketId: tid, salt: salt, input: b.inputs[Int(t.leaf!.index)]), nonce: 1)])
        #expect(reveal[0].succeeded, "\(reveal[0].status)")
        let fraudCase = try #require(try c.record(StateKey.fraudCase(tid), FraudCase.self))
        #expect(fraudCase.winner == prover.publicKey)
        // The squatter can never open its copy (the claim names the prover): its bond burns at the reveal deadline.
        let squatterBefore = try c.balance(squatter.publicKey)
        try c.advance(to: c.height + c.pool.fraudRevealBlocks + 1)
        #expect(try c.record(StateKey.fraudCommitment(squatter.publicKey, claim), FraudCommitment.self) == nil)
        #expect(try c.balance(squatter.publicKey) == squatterBefore, "the burned bond never comes back")
    }

    // MARK: - Row 73: the same claim cannot be opened twice

    /// Row 73, performed: a prover opened a claim, committed the same claim hash again while the case was pending (a
    /// replay backlog keeps it so), and opened it again: the second record overwrote the first, whose bond was then
    /// neither returned nor burned, so the supply stopped adding up and every node checking invariants halted (the
    /// test harness checks them after every block). Now the second opening is refused and its bond burns at expiry.
    @Test
    func theSameClaimOpenedTwiceIsRefused() throws {
        var params = Chain.defaultParams()
        params.maxAdjudicationsPerBlock = 1
        var c = try Chain(accounts: [(worker, 100_000), (prover, 1_000_000)], workers: [(worker, 0, 1_000)], params: params)
        let b = PassBatch.make(count: 12, shard: 0, seed: 802, cheat: Set(0..<12))
        try c.block([try c.tx(worker, c.commit(b))])
        let cid = c.commitmentId(worker, b)
        try c.advance(to: 3)
        try c.revealAll(worker, b, commitment: cid)
        let tickets = try c.tickets(cid)
        try #require(tickets.count >= 2)
        let (ta, tka) = tickets[0], (tb, tkb) = tickets[1]
        let ia = b.inputs[Int(tka.leaf!.index)], ib = b.inputs[Int(tkb.leaf!.index)]
        let sa = SHA256.hash([0xA]), sb = SHA256.hash([0xB])
        let xa = fraudClaimHash(ticketId: ta, prover: prover.publicKey, salt: sa)
        let xb = fraudClaimHash(ticketId: tb, prover: prover.publicKey, salt: sb)
        var n = try c.account(prover.publicKey).nonce
        try c.block([try c.tx(prover, .fraudCommit(claim: xa, pool: 0), nonce: n), try c.tx(prover, .fraudCommit(claim: xb, pool: 0), nonce: n + 1)])
        n += 2
        // Both opened; end-block replays one, the other stays pending; the same claim on b is committed again.
        var r = try c.block([try c.tx(prover, .fraudReveal(ticketId: ta, salt: sa, input: ia), nonce: n),
                             try c.tx(prover, .fraudReveal(ticketId: tb, salt: sb, input: ib), nonce: n + 1),
                             try c.tx(prover, .fraudCommit(claim: xb, pool: 0), nonce: n + 2)])
        n += 3
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        #expect(try c.record(StateKey.fraudCase(tb), FraudCase.self)?.status == .pending)
        r = try c.block([try c.tx(prover, .fraudReveal(ticketId: tb, salt: sb, input: ib), nonce: n)])
        #expect(r[0].failure == .duplicateFraudClaim)
        // The second commitment is never opened: its bond burns; the supply adds up through settlement.
        try c.advance(to: c.settleHeight0 + 1)
        #expect(try c.record(StateKey.fraudCommitment(prover.publicKey, xb), FraudCommitment.self) == nil)
        #expect(try Invariants.check(c.state) == c.tracker?.report)
    }

    // MARK: - Row 74: no claim into a forfeited window

    /// Row 74, performed: a worker convicted (here for withholding a drawn sample) forfeits its window, yet it could
    /// still claim its clients' vouchers into it until the commit deadline: each claim burned the protocol fee out of
    /// the client's escrow, and only the net came back at the payout. Now the claim is refused and costs the client
    /// nothing.
    @Test
    func aConvictedWorkerCannotClaimIntoItsForfeitedWindow() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])  // 1
        let bank = PassBatch.make(count: 3, shard: 0, seed: 803)
        try c.block([try c.tx(worker, c.commit(bank))])  // 2: drawn two blocks later, never revealed
        try c.advance(to: 8)
        #expect(try LedgerReader(c.state).forfeitedThrough(0, worker: worker.publicKey) == 0, "withheld: convicted, window 0 forfeited")
        #expect(c.height <= c.pool.commitDeadline(ofWindow: 0), "window 0 still takes claims")
        let escrowBefore = try #require(try c.record(StateKey.escrow(escrow), Escrow.self))
        let burnedBefore = try c.burned()
        let r = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 1_000, output: 500))])
        #expect(r[0].failure == .payeeForfeited, "\(r[0].status)")
        #expect(try c.record(StateKey.escrow(escrow), Escrow.self) == escrowBefore, "the client's escrow is untouched")
        #expect(try c.burned() - burnedBefore <= r[0].feePaid.units, "nothing of the client's burned, only the claim's own fee floor")
    }

    // MARK: - Row 75: the holder accepts only a receipt it could challenge

    /// Row 75: a challenge is accepted only for a window in which the worker was paid on the receipt's shard
    /// (`nothingToChallenge`), and the worker chooses the receipt's window: a worker paid in window 0 that hands out
    /// receipts naming window 1 serves garbage that nobody can ever challenge. The holder's check refuses such a
    /// receipt before it signs the next voucher (and a receipt of another shard, another worker or with a bad
    /// signature); a pass it sent as a repeat may name an earlier window.
    @Test
    func aHolderRefusesAReceiptItCouldNeverChallenge() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let b = PassBatch.make(count: 4, shard: 0, seed: 805)
        let voucher = UsageVoucher(chainId: Chain.chainId, escrowId: escrow, payee: worker.publicKey, shard: 0, window: 1,
                                   cumulativeInputTokens: 10, cumulativeOutputTokens: 2).signed(by: client)
        let holder = testKey("r8-holder").publicKey
        func receipt(window: UInt64, shard: UInt32 = 0, by key: PrivateKey? = nil) -> HopReceipt {
            var leaf = b.tree.leaves[0]
            leaf.shard = shard
            return HopReceipt(leaf: leaf, pool: 0, window: window, worker: worker.publicKey, holder: holder)
                .signed(by: key ?? worker, chainId: Chain.chainId)
        }
        #expect(receipt(window: 1).isAcceptable(for: voucher, chainId: Chain.chainId))
        #expect(!receipt(window: 2).isAcceptable(for: voucher, chainId: Chain.chainId), "a window the voucher does not pay")
        #expect(!receipt(window: 0).isAcceptable(for: voucher, chainId: Chain.chainId), "an earlier window for a fresh pass")
        #expect(receipt(window: 0).isAcceptable(for: voucher, chainId: Chain.chainId, servedFromCache: true), "a repeat")
        #expect(!receipt(window: 2).isAcceptable(for: voucher, chainId: Chain.chainId, servedFromCache: true))
        #expect(!receipt(window: 1, shard: 1).isAcceptable(for: voucher, chainId: Chain.chainId), "another shard")
        #expect(!receipt(window: 1, by: prover).isAcceptable(for: voucher, chainId: Chain.chainId), "not the payee's signature")
        #expect(!receipt(window: 1).isAcceptable(for: voucher, chainId: SHA256.hash([1])), "another chain")
        // Why it matters: the worker is paid in window 0 only; a challenge of a receipt naming window 1 is refused.
        let paid = try c.block([try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: 100, output: 20))])
        #expect(paid[0].succeeded, "\(paid[0].status)")
        try c.advance(to: c.pool.commitDeadline(ofWindow: 1) + 1)
        let r = try c.block([try c.tx(client, .hopChallenge(receipt: receipt(window: 1)))])
        #expect(r[0].failure == .nothingToChallenge, "\(r[0].status)")
    }

    // MARK: - Finality: a vote weighs no more than its conflicting-vote slash reaches

    /// consensus.md §9, performed: a key bonded after checkpoint 8 but before the epoch boundary entered the next
    /// snapshot, and its vote for 8 counted with its whole stake, though a double vote at target 8 is slashed on the
    /// stake bonded at 8, which was nothing: with two honest validators it justified 8 while risking nothing. Now a
    /// vote weighs at most the stake bonded at its target: 0 here, and 8 is not justified.
    @Test
    func stakeBondedAfterTheTargetCarriesNoVoteWeight() throws {
        let newcomer = testKey("r8-newcomer")
        var params = Chain.defaultParams()
        params.checkpointBlocks = 4
        params.slotsPerEpoch = 12
        var c = try Chain(validatorCount: 4, accounts: [(submitter, 10_000_000), (newcomer, 100_000)], params: params)
        c.pseudoBlockHashes = true
        try c.advance(to: 8)
        let r0 = try c.block([try c.tx(newcomer, .bond(role: .validator, amount: 3_000, randaoCommitment: SHA256.hash([9])))])  // 9
        #expect(r0[0].succeeded, "\(r0[0].status)")
        // Slot 12 opened epoch 1 and took the set of epoch 2 (consensus.md §2); slot 24 opened epoch 2, whose snapshot
        // holds the newcomer with 3 000 (7 000 in all).
        try c.advance(to: 24)
        let snapshot = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(snapshot.validators.contains { $0.key == newcomer.publicKey } && snapshot.totalStake == 7_000)
        let genesis = checkpoint(c, 0), eight = checkpoint(c, 8)
        let newVote = FinalityVote(validator: newcomer.publicKey, source: genesis, target: eight).signed(by: newcomer, chainId: Chain.chainId)
        let r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: eight),
                                                                        vote(c, 1, source: genesis, target: eight), newVote]))])
        #expect(r[0].succeeded, "\(r[0].status)")
        // Since the tenth review the newcomer is not in the finalized checkpoint's set (genesis), so its vote is not
        // counted at all; the weight-at-target rule still binds a validator of that set (vector
        // `rules/finality-weight-at-target`).
        #expect(!r[0].events.contains { if case .voteCounted(let v, _, _) = $0 { return v == newcomer.publicKey }; return false },
                "\(r[0].events)")
        #expect(try c.record(StateKey.global(.justified), Checkpoint.self) == genesis,
                "2 000 of 7 000 slashable justified nothing; with the newcomer's 3 000 it did, all of it unslashable")
    }

    /// consensus.md §9, performed: a surround pair was slashed on the stake bonded at the higher target only, so a
    /// validator that unbonded between the two targets (after its inner vote was counted with its full stake) lost 5 %
    /// of what was left. Now the base is the larger of the stakes at the two targets, reached from the lower target on.
    @Test
    func unbondingBetweenTheTargetsDoesNotShrinkASurroundSlash() throws {
        var c = try chain()
        let v3 = c.validators[3].key
        try c.block([try c.tx(submitter, .transfer(to: v3.publicKey, amount: 10_000))])  // its fees
        try c.advance(to: 10)
        #expect(try c.block([try c.tx(v3, .unbond(role: .validator, amount: 900))])[0].succeeded)  // 11
        try c.advance(to: 13)
        let inner = vote(c, 3, source: checkpoint(c, 4), target: checkpoint(c, 8))
        let outer = vote(c, 3, source: checkpoint(c, 0), target: checkpoint(c, 12))
        let r = try c.block([try c.tx(submitter, .voteEvidence(a: inner, b: outer))])
        #expect(r[0].succeeded, "\(r[0].status)")
        let offence = LedgerIds.voteOffence(validator: v3.publicKey, inner.signingHash(chainId: Chain.chainId), outer.signingHash(chainId: Chain.chainId))
        let due = Amount(1_000).basisPoints(c.ledger.params.equivocationSlashBps)
        #expect(due > Amount(100).basisPoints(c.ledger.params.equivocationSlashBps))
        #expect(r[0].events.contains(.slashed(staker: v3.publicKey, role: .validator, amount: due, offence: .finalityVote, offenceId: offence)),
                "5 % of the 1 000 bonded at the inner target, not of the 100 left at the outer one: \(r[0].events)")
    }

    // MARK: - Genesis

    /// A zero `validatorMinStake` let validators that unbonded everything stay in the next snapshot; with no stake left
    /// in it no slot has a leader, for good. A `minFeePerByte` whose product with `maxTransactionBytes` passes 2⁶⁴
    /// wrapped the minimum fee. Both are refused at genesis, naming the parameter.
    @Test
    func genesisRefusesAZeroValidatorMinimumAndAWrappingFee() throws {
        var params = Chain.defaultParams()
        params.validatorMinStake = .zero
        #expect { _ = try Chain(params: params) } throws: { "\($0)".contains("validatorMinStake must be at least 1") }
        params = Chain.defaultParams()
        params.minFeePerByte = UInt64.max / UInt64(params.maxTransactionBytes) + 1
        #expect { _ = try Chain(params: params) } throws: { "\($0)".contains("minFeePerByte × ledger.maxTransactionBytes") }
        params.minFeePerByte = UInt64.max / UInt64(params.maxTransactionBytes)
        _ = try Chain(params: params)  // the largest that fits
    }
}

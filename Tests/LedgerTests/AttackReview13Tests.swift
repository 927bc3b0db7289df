import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// An independent review (thirteenth session) of three rule changes of the twelfth: the next schedule (consensus §2
/// rule 4), finality votes kept across an epoch change (consensus §8 **Counting**) and a dispute's superseded publisher
/// (`3F`, verification §4.1). Each test performs an attack. Where the rule holds, the test asserts that the attack
/// fails. Three attacks succeeded when the review was written (marked "Found by this review, fixed"); they were fixed in
/// the same session, and their tests now assert that the attack fails.
@Suite struct NextScheduleReview13Tests {
    static let newcomer = testKey("r13-honest-newcomer")
    static let fresh = testKey("r13-fresh-key")

    static func key(_ i: Int) -> PrivateKey { testKey("validator-\(i)") }

    static func schedule(_ c: Chain) throws -> ValidatorSnapshot {
        try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
    }

    static func next(_ c: Chain) throws -> ValidatorSnapshot {
        try #require(try c.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self))
    }

    /// Performed: in one block a validator unbonds one unit and bonds it back (its stake ends where it was). The unbond
    /// took it out of both the current schedule (rule 3) and the next set (rule 4), and the bond does not put it back:
    /// it leads neither the rest of epoch 0 nor epoch 1, and returns in epoch 2's set with its bonded stake.
    @Test func unbondThenRebondInOneBlockDoesNotKeepTheNextSetsPlace() throws {
        var c = try Chain(validatorCount: 4, accounts: (0..<4).map { (Self.key($0), Amount(100_000)) })
        let v1 = c.validators[1].key
        let r = try c.block([try c.tx(v1, .unbond(role: .validator, amount: 1)),
                             try c.tx(v1, .bond(role: .validator, amount: 1, randaoCommitment: nil), nonce: 1)])
        for x in r.dropLast() { #expect(x.succeeded, "\(x.status)") }
        #expect(try c.staker(.validator, v1.publicKey)?.stake == 1_000)
        #expect(try !Self.schedule(c).validators.contains { $0.key == v1.publicKey })
        #expect(try !Self.next(c).validators.contains { $0.key == v1.publicKey })
        while c.slot < c.ledger.params.slotsPerEpoch { try c.block() }
        let s = try Self.schedule(c)
        #expect(s.epoch == 1 && s.validators.count == 3 && !s.validators.contains { $0.key == v1.publicKey })
        #expect(try Self.next(c).validators.first { $0.key == v1.publicKey }?.stake == 1_000)
    }

    /// Performed: a validator unbonds one unit in the first block of epoch 1, the block that stores epoch 2's next set
    /// (taken from the state before that block's transactions, with its full stake). The unbond still takes it out of
    /// the set just stored: the set never holds a stake the validator no longer has bonded.
    @Test func anUnbondInTheBlockThatTakesTheNextSetLeavesIt() throws {
        var c = try Chain(validatorCount: 4, accounts: (0..<4).map { (Self.key($0), Amount(100_000)) })
        let epoch = c.ledger.params.slotsPerEpoch
        try c.advance(to: epoch - 1)
        let v2 = c.validators[2].key
        let r = try c.block([try c.tx(v2, .unbond(role: .validator, amount: 1))])
        #expect(c.slot == epoch && r[0].succeeded, "\(r[0].status)")
        let s = try Self.schedule(c), n = try Self.next(c)
        #expect(s.epoch == 1 && n.epoch == 2)
        #expect(!s.validators.contains { $0.key == v2.publicKey }, "rule 3: below its scheduled stake")
        #expect(!n.validators.contains { $0.key == v2.publicKey }, "rule 4: below the stake the new next set holds")
        #expect(n.validators.count == 3)
    }

    /// Performed: the boundary proposer (last block of epoch 0) includes evidence that another validator of the next set
    /// double-signed. The offender is tombstoned and leads neither epoch 1 nor epoch 2: a punishment after the next set
    /// was taken removes it (a yes-or-no choice the spec accepts, not a reweighing).
    @Test func aValidatorTombstonedAfterTheNextSetWasTakenDoesNotLead() throws {
        var c = try Chain(validatorCount: 4, accounts: [(Self.newcomer, Amount(100_000))])
        let epoch = c.ledger.params.slotsPerEpoch
        try c.advance(to: epoch - 2)
        let offender = c.validators[3].key
        let a = FakeEquivocationVerifier.header(offender, height: 3, slot: 3, payload: 1)
        let b = FakeEquivocationVerifier.header(offender, height: 3, slot: 3, payload: 2)
        let r = try c.block([try c.tx(Self.newcomer, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)
        #expect(r[0].succeeded, "\(r[0].status)")
        #expect(c.slot == epoch - 1)
        try c.block(proposer: 0)
        let s = try Self.schedule(c)
        #expect(s.epoch == 1 && s.validators.count == 3 && !s.validators.contains { $0.key == offender.publicKey })
        #expect(try !Self.next(c).validators.contains { $0.key == offender.publicKey })
    }

    /// Performed: the last block before a gap of more than an epoch (slot 15, then slot 40: epoch 1 never has a block)
    /// bonds a fresh key. The block after the gap draws epoch 2 from the next set stored before the gap (genesis's),
    /// without the fresh key: a skipped epoch does not shorten the delay to one the boundary proposer could grind.
    @Test func anEpochSkipStillDrawsFromTheNextSetTakenBeforeTheSeedWasKnown() throws {
        var c = try Chain(validatorCount: 4, accounts: [(Self.fresh, Amount(100_000))])
        let epoch = c.ledger.params.slotsPerEpoch
        try c.advance(to: epoch - 2)
        let r = try c.block([try c.tx(Self.fresh, .bond(role: .validator, amount: 2_500, randaoCommitment: SHA256.hash([13])))])
        #expect(r[0].succeeded && c.slot == epoch - 1)
        try c.block(skipSlots: epoch * 2 + 8 - c.slot - 1)
        #expect(c.slot == 2 * epoch + 8)
        let s = try Self.schedule(c)
        #expect(s.epoch == 2 && s.validators.count == 4 && !s.validators.contains { $0.key == Self.fresh.publicKey })
        #expect(try Self.next(c).validators.contains { $0.key == Self.fresh.publicKey })
    }

    /// The chain of `epochOne(grinding:)`: one genesis validator (the attacker), an honest validator that joined in
    /// epoch 0, and in the last block of epoch 0 (whose proposer knows epoch 1's seed) the attacker's fresh key bonded
    /// with `amount` and the attacker's own validator unbonding one unit. Returns the chain after epoch 1's first block.
    static func epochOne(grinding amount: UInt64) throws -> Chain {
        var c = try Chain(validatorCount: 1, accounts: [(key(0), Amount(100_000)), (newcomer, Amount(100_000)), (fresh, Amount(100_000))])
        let epoch = c.ledger.params.slotsPerEpoch
        let joined = try c.block([try c.tx(newcomer, .bond(role: .validator, amount: 1_000, randaoCommitment: SHA256.hash([1])))])
        #expect(joined[0].succeeded, "\(joined[0].status)")
        try c.advance(to: epoch - 2)
        let r = try c.block([try c.tx(fresh, .bond(role: .validator, amount: Amount(amount), randaoCommitment: SHA256.hash([2]))),
                             try c.tx(key(0), .unbond(role: .validator, amount: 1))])
        for x in r.dropLast() { #expect(x.succeeded, "\(x.status)") }
        #expect(c.slot == epoch - 1)
        try c.block()
        return c
    }

    /// Found by this review, fixed (consensus §2 rule 1, `Ledger.snapshot(of:epoch:)` in Sources/Ledger/BlockProcessing.swift): when no
    /// member of the next set was active at the boundary, the snapshot fell back to the active validators of the state
    /// after the boundary block `P`, including validators bonded in `P` itself, with the amounts bonded there. `P`'s
    /// proposer knows the epoch's seed, so when it controls every member of the next set that is still active (here the
    /// only one; on a larger chain, the rest being jailed or tombstoned) it empties the next set with a one-unit unbond
    /// and bonds fresh keys with amounts found offline: exactly the grinding rule 4 was made to stop, and an honest
    /// validator that joined in epoch 0 shared the epoch with those keys. Now the fallback is the stored schedule's
    /// validators (fixed an epoch earlier) that are still active, then the stored schedule as it is.
    @Test func whenTheNextSetIsEmptiedAtTheBoundaryFreshBondsOfTheBoundaryBlockDoNotLead() throws {
        var schedules = Set<[ValidatorSnapshot.Entry]>()
        for amount: UInt64 in [1_000, 3_000, 7_777] {
            let c = try Self.epochOne(grinding: amount)
            let s = try Self.schedule(c)
            #expect(s.epoch == 1)
            schedules.insert(s.validators)
            #expect(!s.validators.contains { $0.key == Self.fresh.publicKey }, "\(s.validators)")
        }
        #expect(schedules.count == 1, "\(schedules.count) different schedules for epoch 1")
    }
}

/// Finality votes kept across an epoch change (consensus §8 **Counting**, twelfth session).
@Suite struct KeptVotesReview13Tests: FinalityFixture {
    static func params() -> LedgerParams {
        var p = Chain.defaultParams()
        p.checkpointBlocks = 4
        p.slotsPerEpoch = 8
        return p
    }

    func chain(funding: [PrivateKey] = []) throws -> Chain {
        var c = try Chain(validatorCount: 4, accounts: [(submitter, 10_000_000)] + funding.map { ($0, Amount(100_000)) },
                          params: Self.params())
        c.pseudoBlockHashes = true
        return c
    }

    func justified(_ r: [Receipt], _ h: UInt64) -> Bool {
        r.contains { $0.events.contains { if case .checkpointJustified(let x, _) = $0 { return x == h }; return false } }
    }

    /// Performed, with an epoch skipped at the change (block 10 at slot 24, epoch 1 to 3): votes for checkpoint 4 (an
    /// older target) and 8 (the latest recorded before the change, the off-by-one edge: block 9 recorded it and is the
    /// only block that could carry its votes) were counted. The change keeps 8's and drops 4's, so the old target's
    /// votes cannot help justify it; a third vote for 8 justifies it, a re-sent vote for 8 counts once.
    @Test func onlyTheLatestRecordedTargetsVotesSurviveAnEpochSkip() throws {
        var c = try chain()
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four), vote(c, 1, source: genesis, target: four)]))])
        try c.advance(to: 8)
        let eight = checkpoint(c, 8)
        let r9 = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 2, source: genesis, target: eight), vote(c, 3, source: genesis, target: eight)]))])
        #expect(r9[0].events.filter { if case .voteCounted = $0 { return true }; return false }.count == 2)
        #expect(c.height == 9 && c.slot == 9)
        try c.block(skipSlots: 14)
        #expect(c.slot == 24 && c.height == 10)
        #expect(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.epoch == 3)
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self) == nil, "an older target's votes are dropped")
        #expect(try c.record(StateKey.voteTally(8), VoteTally.self)?.votes == 2)
        // Validator 0 voted for 4 before the change: its vote for 4 counts again only from scratch (1 of 4).
        let again4 = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four),
                                                                              vote(c, 1, source: genesis, target: four)]))])
        #expect(!justified(again4, 4))
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.stake == 2_000)
        let dup = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 3, source: genesis, target: eight)]))])
        #expect(!dup[0].events.contains { if case .voteCounted = $0 { return true }; return false })
        let r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: eight)]))])
        #expect(justified(r, 8))
    }

    /// Found by this review, fixed (consensus §8 **Counting**; `punishValidator` and `withdrawVotes` in
    /// Sources/Ledger/Staking.swift). A kept vote may belong to a validator that
    /// is not in the new epoch's schedule: here validator 3 bonded 100 more in epoch 0 (its epoch-2 next-set stake is
    /// 1 100, its epoch-1 schedule stake 1 000), voted for checkpoint 12 in epoch 1 and unbonded one unit, which takes
    /// it out of the next set but not out of epoch 1's schedule (1 099 ≥ 1 000), so no withdrawal. Epoch 2 keeps its
    /// vote. Its double vote is then proven: tombstoned, it leaves the finalized checkpoint's set (the total drops to
    /// 3 000), but `dropFromSchedule` returns early for a validator not in the schedule, so `withdrawVotes` never runs and
    /// its 1 000 stays in the tally. Two honest validators (2 000, exactly two thirds of 3 000, not more) then justify 12
    /// with the tombstoned validator's vote: the rule "a punished validator's vote does not count" (§9 row) failed.
    /// Now a tombstoned validator's votes are withdrawn whether or not it is in the schedule, and a withdrawal deletes
    /// the vote records, so a validator dropped from the schedule and later tombstoned is not withdrawn twice.
    @Test func aTombstonedValidatorsVoteKeptAcrossTheEpochNoLongerCounts() throws {
        let d = testKey("validator-3")
        var c = try chain(funding: [d])
        let bonded = try c.block([try c.tx(d, .bond(role: .validator, amount: 100, randaoCommitment: nil))])
        #expect(bonded[0].succeeded, "\(bonded[0].status)")
        try c.advance(to: 12)
        let genesis = checkpoint(c, 0), twelve = checkpoint(c, 12)
        #expect(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.epoch == 1)
        let r13 = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 3, source: genesis, target: twelve)])),
                               try c.tx(d, .unbond(role: .validator, amount: 1))])
        #expect(r13[0].events.contains(.voteCounted(validator: d.publicKey, targetHeight: 12, stake: 1_000)), "\(r13[0].events)")
        #expect(r13[1].succeeded, "\(r13[1].status)")
        #expect(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.validators.contains { $0.key == d.publicKey } == true)
        try c.advance(to: 16)  // slot 16: epoch 2, without validator 3
        let s2 = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(s2.epoch == 2 && !s2.validators.contains { $0.key == d.publicKey })
        #expect(try c.record(StateKey.voteTally(12), VoteTally.self)?.stake == 1_000, "kept across the epoch change")
        // Its conflicting vote for 12 is proven: slashed and tombstoned.
        let conflicting = vote(c, 3, source: genesis, target: Checkpoint(height: 12, hash: SHA256.hash([12])))
        let ev = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 3, source: genesis, target: twelve), b: conflicting))])
        #expect(ev[0].events.contains(.tombstoned(staker: d.publicKey)), "\(ev[0].events)")
        let set = try #require(try c.record(StateKey.checkpointSet(0), ValidatorSnapshot.self))
        #expect(set.totalStake == 3_000, "the tombstoned validator left the finalized checkpoint's set")
        let left = try c.record(StateKey.voteTally(12), VoteTally.self)?.stake.units ?? 0
        #expect(left == 0, "the tombstoned validator's kept vote is withdrawn")
        #expect(try c.record(StateKey.finalityVote(12, d.publicKey), UInt64.self) == nil, "its vote record goes with it")
        // Two of the three remaining validators: 2 000 of 3 000 is not more than two thirds.
        let r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: twelve),
                                                                          vote(c, 1, source: genesis, target: twelve)]))])
        #expect(!justified(r, 12), "\(r[0].events)")
    }

    /// A validator whose votes were withdrawn when it left the schedule (an unbond below its scheduled stake) and which
    /// is then tombstoned is withdrawn once: the vote records go with the first withdrawal, so the second takes nothing
    /// from the honest validators' weight in the tally (withdrawing on every tombstoning, as the fix above does, would
    /// otherwise take its weight out twice and stall finality).
    @Test func aValidatorDroppedThenTombstonedIsWithdrawnOnce() throws {
        let d = testKey("validator-3")
        var c = try chain(funding: [d])
        try c.advance(to: 12)
        let genesis = checkpoint(c, 0), twelve = checkpoint(c, 12)
        let r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: twelve),
                                                                          vote(c, 3, source: genesis, target: twelve)]))])
        #expect(r[0].succeeded, "\(r[0].status)")
        #expect(try c.record(StateKey.voteTally(12), VoteTally.self)?.stake == 2_000)
        // Validator 3 unbonds below its scheduled stake: it leaves the schedule, its vote leaves the tally.
        let u = try c.block([try c.tx(d, .unbond(role: .validator, amount: 1))])
        #expect(u[0].succeeded, "\(u[0].status)")
        #expect(try c.record(StateKey.voteTally(12), VoteTally.self)?.stake == 1_000)
        // Its double vote is proven: tombstoned. Validator 0's vote still counts in full.
        let conflicting = vote(c, 3, source: genesis, target: Checkpoint(height: 12, hash: SHA256.hash([12])))
        let ev = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 3, source: genesis, target: twelve), b: conflicting))])
        #expect(ev[0].events.contains(.tombstoned(staker: d.publicKey)), "\(ev[0].events)")
        #expect(try c.record(StateKey.voteTally(12), VoteTally.self)?.stake == 1_000, "validator 0's vote is still counted")
        #expect(try c.record(StateKey.voteTally(12), VoteTally.self)?.votes == 1)
    }
}

/// A dispute's third-party publisher kept when the worker's key comes after it (`3F`, verification §4.1).
@Suite struct SupersededPublisherReview13Tests {
    static func bounties(_ r: Receipt, _ tid: Hash32) -> [(PublicKey, UInt64)] {
        r.events.compactMap { if case .disputeBountyPaid(tid, let to, let a) = $0 { return (to, a.units) }; return nil }
    }

    static func input(_ f: CheckerFixture, _ tid: Hash32, opener: Int) throws -> [UInt8] {
        let bytes = try #require(try f.c.ledgerState.raw(StateKey.sealedInput(tid)))
        let leaf = try #require(try f.c.record(StateKey.ticket(tid), Ticket.self)?.leaf)
        return try SealedEnvelope(decoding: bytes).open(keyPair: f.sealing[opener],
                                                        context: SealingContext(chainId: Chain.chainId, ticketId: tid, inputHash: leaf.inputHash))
    }

    /// Performed: a colluding checker attests the cheating worker's false output and, once the honest checkers dissent,
    /// races to publish the input itself; the worker then sends its key. The replay convicts, the colluder is slashed
    /// for collusion and, being slashed in that replay, earns no publisher share; `3F` is gone after the replay.
    @Test func aColluderThatPublishesBeforeTheKeyIsSlashedAndNotPaid() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 31, cheat: true)
        let tid = try f.revealed(s)
        let slots = try #require(try f.check(tid)).slots
        let i0 = s.batch.leafIndex(point: try #require(try f.c.record(StateKey.ticket(tid), Ticket.self)).point)
        let colluder = f.index(of: slots[0].checker)
        try f.play(s, tid, moves: [colluder: .answer(s.outputs[i0])])
        #expect(try f.check(tid)?.status == .disputed)
        let p = try f.c.block([try f.c.tx(f.checkers[colluder], .publishSealedInput(ticketId: tid, input: try Self.input(f, tid, opener: colluder)))])
        #expect(p[0].succeeded, "\(p[0].status)")
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = try #require(r.last)
        #expect(system.slashes.contains { $0.0 == slots[0].checker && $0.2 == .checkerCollusion })
        #expect(!Self.bounties(system, tid).contains { $0.0 == slots[0].checker }, "\(Self.bounties(system, tid))")
        #expect(try f.c.keys(.disputePublisher) == 0)
        #expect(try f.check(tid)?.status == .fraud)
    }

    /// Performed: an honest worker's ticket; a lying checker dissents with a made-up answer, publishes the input it opened
    /// (to be the publisher), and the worker answers with its key. The replay upholds the worker: the liar is slashed
    /// for a false alarm (its share going to the worker), earns nothing as the superseded publisher, and `3F` is gone.
    @Test func aSupersededPublisherEarnsNothingWhenTheReplayUpholdsTheWorker() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 32)
        let tid = try f.revealed(s)
        let slots = try #require(try f.check(tid)).slots
        let liar = f.index(of: slots[0].checker)
        try f.play(s, tid, moves: [liar: .answer(SHA256.hash([0x13]))])
        #expect(try f.check(tid)?.status == .disputed)
        let before = try f.c.balance(f.checkers[liar].publicKey)
        let p = try f.c.block([try f.c.tx(f.checkers[liar], .publishSealedInput(ticketId: tid, input: try Self.input(f, tid, opener: liar)))])
        #expect(p[0].succeeded, "\(p[0].status)")
        let fee = p[0].feePaid.units
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = try #require(r.last)
        #expect(try f.check(tid)?.status == .upheld)
        #expect(system.slashes.contains { $0.0 == slots[0].checker && $0.2 == .falseAlarm })
        #expect(Self.bounties(system, tid).map(\.0) == [f.worker.publicKey], "\(Self.bounties(system, tid))")
        #expect(try f.c.balance(f.checkers[liar].publicKey) == before - fee)
        #expect(try f.c.keys(.disputePublisher) == 0)
    }

    /// Found by this review, fixed (verification §4.1, economics §7 rows 85 and 87; `settleCheckers` in Sources/Ledger/Checking.swift, the
    /// `publisher` choice). The worker holds the input from the start, so at the dispute a second key of its own (here
    /// the fixture's `verifier` account, which is no checker) publishes it at once; the honest dissenter's publication
    /// is then refused (`inputAlreadyPublished`), and the worker still sends its key (since the twelfth session that
    /// keeps the publisher). The replay convicted, and the worker's second key took `verifierBountyBps` of the colluder's
    /// slash: the cartel won back a tenth of every colluder's slash and the honest dissenter, who was to be paid for
    /// publishing, was always front-run. Now only an assigned checker whose answer was right earns the publisher share;
    /// any other publisher's share is burned with the slash.
    @Test func aWorkersSecondKeyFrontRunningThePublicationEarnsNothing() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 33, cheat: true)
        let tid = try f.revealed(s)
        let slots = try #require(try f.check(tid)).slots
        let i0 = s.batch.leafIndex(point: try #require(try f.c.record(StateKey.ticket(tid), Ticket.self)).point)
        let colluder = f.index(of: slots[0].checker), honest = f.index(of: slots[1].checker)
        try f.play(s, tid, moves: [colluder: .answer(s.outputs[i0])])
        #expect(try f.check(tid)?.status == .disputed)
        let second = f.verifier
        #expect(!slots.contains { $0.checker == second.publicKey })
        let secondBefore = try f.c.balance(second.publicKey)
        let workerStake = try #require(try f.c.staker(.worker(pool: 0), f.worker.publicKey)).stake.units
        let colluderStake = try #require(try f.c.staker(.checker(pool: 0), slots[0].checker)).stake.units
        let p = try f.c.block([try f.c.tx(second, .publishSealedInput(ticketId: tid, input: s.batch.inputs[i0])),
                               try f.c.tx(f.checkers[honest], .publishSealedInput(ticketId: tid, input: try Self.input(f, tid, opener: honest)))])
        #expect(p[0].succeeded, "\(p[0].status)")
        #expect(p[1].failure == .inputAlreadyPublished, "the honest dissenter is front-run")
        let secondFee = p[0].feePaid.units
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = try #require(r.last)
        #expect(try f.check(tid)?.status == .fraud)
        let collusion = try #require(system.slashes.first { $0.0 == slots[0].checker && $0.2 == .checkerCollusion }).1
        let gained = Int64(try f.c.balance(second.publicKey)) - Int64(secondBefore) + Int64(secondFee)
        #expect(gained == 0, "second key gained \(gained) of a \(collusion) collusion slash")
        #expect(!Self.bounties(system, tid).contains { $0.0 == second.publicKey }, "\(Self.bounties(system, tid))")
        // The cartel (worker, colluder, second key) still loses: the fraud slash and the rest of the collusion slash.
        let workerAfter = try f.c.staker(.worker(pool: 0), f.worker.publicKey)?.stake.units ?? 0
        let colluderAfter = try f.c.staker(.checker(pool: 0), slots[0].checker)?.stake.units ?? 0
        let lost = Int64(workerStake - workerAfter) + Int64(colluderStake - colluderAfter)
        #expect(gained < lost, "cartel lost \(lost), won back \(gained)")
        #expect(try f.c.keys(.disputePublisher) == 0)
    }
}

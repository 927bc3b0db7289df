import Testing
@testable import Ledger
@testable import Primitives

/// The finality gadget's ledger rules (Specs/consensus.md §6): checkpoints, votes counted by stake,
/// justification by more than two thirds, finalization of a directly followed checkpoint, and slashing of
/// double and surround votes from the two signed votes alone.
@Suite struct FinalityTests: FinalityFixture {
    func global(_ c: Chain, _ g: StateKey.Global) throws -> Checkpoint? { try c.record(StateKey.global(g), Checkpoint.self) }

    @Test func twoThirdsOfTheStakeJustifyAndADirectSuccessorFinalizes() throws {
        var c = try chain()
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        #expect(try global(c, .justified) == genesis && global(c, .finalized) == genesis)
        // Half the stake: counted, not justified.
        var r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four), vote(c, 1, source: genesis, target: four)]))])
        #expect(r[0].events.filter { if case .voteCounted = $0 { return true }; return false }.count == 2)
        #expect(try global(c, .justified) == genesis)
        // A third validator: 3 000 of 4 000 > two thirds.
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 2, source: genesis, target: four)]))])
        #expect(r[0].events.contains(.checkpointJustified(height: 4, hash: four.hash)))
        #expect(!r[0].events.contains(.checkpointFinalized(height: 0, hash: genesis.hash)), "genesis was final already")
        #expect(try global(c, .justified) == four)
        // The next checkpoint, voted from 4: 4 is finalized.
        try c.advance(to: 9)
        let eight = checkpoint(c, 8)
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: (0..<3).map { vote(c, $0, source: four, target: eight) }))])
        #expect(r[0].events.contains(.checkpointFinalized(height: 4, hash: four.hash)))
        #expect(try global(c, .justified) == eight && global(c, .finalized) == four)
        // Tallies of the old source are gone.
        #expect(try c.keys(.voteTally) == 0 && c.keys(.finalityVote) == 0)
    }

    @Test func votesThatDoNotFitTheChainAreSkippedAndBadSignaturesFailTheTransaction() throws {
        var c = try chain()
        try c.advance(to: 9)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        let outsider = testKey("not-a-validator")
        let skipped = [
            vote(c, 0, source: four, target: checkpoint(c, 8)),                       // source is not the justified checkpoint
            vote(c, 0, source: genesis, target: Checkpoint(height: 4, hash: .zero)),  // not this chain's checkpoint
            vote(c, 0, source: genesis, target: checkpoint(c, 5)),                    // not a checkpoint height
            FinalityVote(validator: outsider.publicKey, source: genesis, target: four).signed(by: outsider, chainId: Chain.chainId),
        ]
        var r = try c.block([try c.tx(submitter, .finalityVotes(votes: skipped))])
        #expect(r[0].succeeded && r[0].events.isEmpty)
        // A duplicate counts once.
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 1, source: genesis, target: four), vote(c, 1, source: genesis, target: four)]))])
        #expect(r[0].events.count == 1)
        // A vote signed by someone else, or for another chain, fails the whole transaction.
        var forged = vote(c, 2, source: genesis, target: four)
        forged.signature = c.validators[3].key.sign(digest: forged.signingHash(chainId: Chain.chainId))
        let other = FinalityVote(validator: c.validators[2].key.publicKey, source: genesis, target: four)
            .signed(by: c.validators[2].key, chainId: SHA256.hash([1]))
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 3, source: genesis, target: four), forged])),
                         try c.tx(submitter, .finalityVotes(votes: [other]), nonce: try c.account(submitter.publicKey).nonce + 1)])
        #expect(r[0].failure == .invalidVoteSignature && r[1].failure == .invalidVoteSignature)
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.votes == 1)
        var params = c.ledger.params
        params.maxVotesPerTransaction = 1
        c.ledger = Ledger(params: params, chainId: Chain.chainId, adjudicator: FakeAdjudicator(), equivocationVerifier: FakeEquivocationVerifier())
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 2, source: genesis, target: four), vote(c, 3, source: genesis, target: four)]))])
        #expect(r[0].failure == .tooManyVotes)
    }

    /// Consensus F3 (tenth review), performed: the votes for checkpoint 4 straddle the epoch boundary at slot 8. The
    /// epoch change used to delete them, and a validator's slashing protection forbids signing target 4 again, so 4
    /// could not be justified and finality skipped it. Now they survive (they count against the finalized checkpoint's
    /// set, which the epoch leaves alone): a vote counted before adds nothing, a third validator's vote justifies 4.
    @Test func votesForTheCheckpointBeingVotedOnSurviveANewEpoch() throws {
        var params = Chain.defaultParams()
        params.checkpointBlocks = 4
        params.slotsPerEpoch = 8
        var c = try Chain(validatorCount: 4, accounts: [(submitter, 10_000_000)], params: params)
        c.pseudoBlockHashes = true
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four), vote(c, 1, source: genesis, target: four)]))])
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.votes == 2)
        try c.advance(to: 8)  // slot 8: epoch 1 begins
        #expect(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.epoch == 1)
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.votes == 2)
        let again = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four)]))])
        #expect(!again[0].events.contains { if case .voteCounted = $0 { return true }; return false }, "\(again[0].events)")
        let r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 2, source: genesis, target: four)]))])
        #expect(r[0].events.contains { if case .checkpointJustified(let h, _) = $0 { return h == 4 }; return false }, "\(r[0].events)")
    }

    /// Attack: a validator signs two votes for one target height (a double vote, to justify two forks), or a vote
    /// whose span surrounds its earlier one. Either pair alone slashes and tombstones it; a self-report with
    /// back-dated votes does not stop the genuine evidence.
    @Test func doubleAndSurroundVotesAreSlashedFromTheTwoVotesAlone() throws {
        var c = try chain()
        try c.advance(to: 13)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4), eight = checkpoint(c, 8), twelve = checkpoint(c, 12)
        let v = c.validators[1].key.publicKey
        // Double vote: same target height, different hashes.
        let a = vote(c, 1, source: genesis, target: four)
        let b = vote(c, 1, source: genesis, target: Checkpoint(height: 4, hash: SHA256.hash([4])))
        var r = try c.block([try c.tx(submitter, .voteEvidence(a: a, b: b))])
        #expect(r[0].succeeded)
        let offence = LedgerIds.voteOffence(validator: v, a.signingHash(chainId: Chain.chainId), b.signingHash(chainId: Chain.chainId))
        #expect(r[0].events == [.slashed(staker: v, role: .validator, amount: 50, offence: .finalityVote, offenceId: offence), .tombstoned(staker: v)])
        r = try c.block([try c.tx(submitter, .voteEvidence(a: b, b: a))])
        #expect(r[0].failure == .evidenceAlreadyProcessed)
        // Surround vote by another validator: 0 → 12 surrounds 4 → 8.
        let w = c.validators[2].key.publicKey
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 2, source: genesis, target: twelve), b: vote(c, 2, source: four, target: eight)))])
        #expect(r[0].succeeded)
        #expect(try c.staker(.validator, w)?.status == .tombstoned)
        // Not conflicting: consecutive links, or the same vote twice.
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 3, source: genesis, target: four), b: vote(c, 3, source: four, target: eight)))])
        #expect(r[0].failure == .invalidEvidence)
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 3, source: genesis, target: four), b: vote(c, 3, source: genesis, target: four)))])
        #expect(r[0].failure == .invalidEvidence)
        // Votes of two different validators prove nothing.
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 3, source: genesis, target: four), b: vote(c, 0, source: genesis, target: Checkpoint(height: 4, hash: .zero))))])
        #expect(r[0].failure == .invalidEvidence)
        // A self-report at a back-dated target (height 0) is its own offence: the genuine one still slashes.
        let fake1 = vote(c, 3, source: genesis, target: Checkpoint(height: 0, hash: SHA256.hash([1])))
        let fake2 = vote(c, 3, source: genesis, target: Checkpoint(height: 0, hash: SHA256.hash([2])))
        r = try c.block([try c.tx(submitter, .voteEvidence(a: fake1, b: fake2))])
        #expect(r[0].succeeded)
        let realA = vote(c, 3, source: four, target: twelve), realB = vote(c, 3, source: four, target: Checkpoint(height: 12, hash: .zero))
        r = try c.block([try c.tx(submitter, .voteEvidence(a: realA, b: realB))])
        #expect(r[0].succeeded && r[0].events.contains { if case .slashed = $0 { return true }; return false })
        // The punished validators left the schedule.
        let scheduled = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)).validators.map(\.key)
        #expect(!scheduled.contains(v) && !scheduled.contains(w))
    }
}

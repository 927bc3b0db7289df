import Testing
@testable import Ledger
@testable import Primitives

/// Independent security review (review A) of the finality gadget's ledger rules: each test performs an attack and
/// asserts the secure outcome.
@Suite struct FinalityAttackReviewTests: FinalityFixture {
    /// Finding A3: a validator punished after voting leaves the schedule (its stake leaves the total), but its vote
    /// stays in the tally. Three validators of 1 000: validator 0 votes 0 → 4, is then tombstoned for a double vote
    /// (total 2 000), and validator 1's vote alone (1 000, half of the remaining stake) justifies checkpoint 4.
    @Test func aPunishedValidatorsVoteDoesNotCountTowardsJustification() throws {
        var c = try chain(validators: 3)
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        var r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 0, source: genesis, target: four)]))])
        #expect(r[0].succeeded)
        // Validator 0 double-votes and is tombstoned (it could report itself): it leaves the schedule.
        let conflicting = vote(c, 0, source: genesis, target: Checkpoint(height: 4, hash: SHA256.hash([9])))
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 0, source: genesis, target: four), b: conflicting))])
        #expect(r[0].succeeded)
        let snapshot = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(snapshot.validators.count == 2 && snapshot.totalStake == 2000)
        // One honest validator, half of the remaining stake.
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 1, source: genesis, target: four)]))])
        #expect(r[0].succeeded)
        #expect(!r[0].events.contains(.checkpointJustified(height: 4, hash: four.hash)),
                "justified by one validator holding half of the scheduled stake plus the stale vote of a tombstoned one")
        #expect(try c.record(StateKey.global(.justified), Checkpoint.self) == genesis)
        // Both remaining validators: justified.
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 2, source: genesis, target: four)]))])
        #expect(r[0].events.contains(.checkpointJustified(height: 4, hash: four.hash)))
    }

    /// Finding A6: withholding is meant never to be free (consensus.md §5: a missed slot burns `missedSlotSlashBps` of
    /// the leader's bonded stake). A validator that unbonded all of it stayed in the stored schedule until the epoch
    /// ended, so it kept leading (and could skip, biasing the beacon) the rest of the epoch's slots at no cost while its
    /// stake sat in unbonding entries. Now a validator that unbonds below the stake it leads with (eighth review; first
    /// below `validatorMinStake`) leaves the schedule in the same block (§2 rule 3): the slots it would have led are
    /// drawn among the others.
    @Test func unbondingDoesNotMakeMissedSlotsFree() throws {
        var params = Chain.defaultParams()
        params.missedSlotSlashBps = 100
        params.slotsPerEpoch = 1_000
        let v1 = testKey("validator-1")
        var c = try Chain(validatorCount: 2, accounts: [(v1, 1_000_000)], params: params)
        let leaver = c.validators[1].key.publicKey
        #expect(leaver == v1.publicKey)
        try c.advance(to: 2)
        func scheduled() throws -> ValidatorSnapshot { try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)) }
        // Down to exactly the minimum: out of the schedule in the same block, so no later slot of the epoch is its to skip
        // (or to equivocate in) for the slash of the 100 left; before the eighth review it stayed, leading with 1 000.
        var r = try c.block([try c.tx(v1, .unbond(role: .validator, amount: Amount(1000 - params.validatorMinStake.units)))], proposer: 0)
        #expect(r[0].succeeded)
        #expect(!(try scheduled().validators.contains { $0.key == leaver }), "it leads with 1 000 while 900 of it is leaving")
        // The rest: still out.
        r = try c.block([try c.tx(v1, .unbond(role: .validator, amount: params.validatorMinStake))], proposer: 0)
        #expect(r[0].succeeded)
        #expect(try c.staker(.validator, leaver)?.stake == .zero)
        let snapshot = try scheduled()
        #expect(!snapshot.validators.contains { $0.key == leaver }, "a validator with no bonded stake still leads slots")
        #expect(snapshot.validators.count == 1, "every later slot of the epoch is drawn among the others")
    }
}

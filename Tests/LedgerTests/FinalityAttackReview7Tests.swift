import Testing
@testable import Ledger
@testable import Primitives

/// The seventh review of the finality gadget (Specs/consensus.md §9), each attack performed: conflicting finality is
/// only possible with a third of the vote weight slashable.
@Suite struct FinalityAttackReview7Tests: FinalityFixture {
    /// Partial unbonding kept the vote weight: votes weighed the epoch snapshot's stake, but a slash reaches only the
    /// unbonding entries created at or after the offence, so a validator that moved all but the minimum into unbonding
    /// voted with its whole snapshot stake while risking only what stayed bonded. Two such validators and one honest one
    /// (three quarters of the weight) justified a checkpoint on each of two forks with 200 of 3 000 slashable. Now a vote
    /// weighs the stake still bonded (at most the snapshot's), and a withdrawal takes back exactly that weight; since the
    /// eighth review a validator that unbonds below the stake it leads with also leaves the epoch's schedule, so the
    /// two unbonders do not vote at all this epoch.
    @Test func stakeMovedIntoUnbondingCarriesNoVoteWeight() throws {
        let v1 = testKey("validator-1"), v2 = testKey("validator-2")
        var c = try chain()
        _ = try c.block([try c.tx(submitter, .transfer(to: v1.publicKey, amount: 10_000)),
                         try c.tx(submitter, .transfer(to: v2.publicKey, amount: 10_000), nonce: 1)])  // 1
        let r0 = try c.block([try c.tx(v1, .unbond(role: .validator, amount: 900)), try c.tx(v2, .unbond(role: .validator, amount: 900))])  // 2
        #expect(r0.dropLast().allSatisfy { $0.succeeded }, "\(r0.map(\.status))")
        let snapshot = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(snapshot.validators.count == 2 && snapshot.totalStake == 2_000, "the unbonders left the schedule")
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0), four = checkpoint(c, 4)
        var r = try c.block([try c.tx(submitter, .finalityVotes(votes: (0...2).map { vote(c, $0, source: genesis, target: four) }))])
        #expect(r[0].succeeded)
        #expect(!r[0].events.contains { if case .voteCounted(let v, _, _) = $0 { v == v1.publicKey || v == v2.publicKey } else { false } },
                "an unbonder's vote counted")
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.stake.units == 1_000)
        #expect(try c.record(StateKey.global(.justified), Checkpoint.self) == genesis,
                "justified with 1 800 of the snapshot weight sitting in unbonding, out of the slash's reach")
        // Validator 1 double-votes and is tombstoned: it counted nothing, so the tally keeps validator 0's 1 000.
        let conflicting = vote(c, 1, source: genesis, target: Checkpoint(height: 4, hash: SHA256.hash([7])))
        r = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 1, source: genesis, target: four), b: conflicting))])
        #expect(r[0].succeeded, "\(r[0].status)")
        #expect(try c.record(StateKey.voteTally(4), VoteTally.self)?.stake.units == 1_000)
        // Validator 3's full 1 000 and validator 0's: 2 000 of the finality set's 3 000 (tenth review: the genesis
        // set without the tombstoned validator; validator 2's unbonded stake stays in it, its removal on one branch
        // being no proof of anything), not above two thirds.
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [vote(c, 3, source: genesis, target: four)]))])
        #expect(!r[0].events.contains(.checkpointJustified(height: 4, hash: four.hash)))
        // Once the stall outlasts `unbondingBlocks` (50), the schedule (2 000) is the set again: the two justify.
        try c.advance(to: 53)
        let fortyEight = checkpoint(c, 48)
        r = try c.block([try c.tx(submitter, .finalityVotes(votes: [0, 3].map { vote(c, $0, source: genesis, target: fortyEight) }))])
        #expect(r[0].events.contains(.checkpointJustified(height: 48, hash: fortyEight.hash)), "\(r[0].events)")
    }

    /// A surround vote with an old inner vote could never be slashed: the offence height was the lower target, so the
    /// evidence aged out (`evidenceTooOld`) `unbondingBlocks` after the inner vote, although the offence exists only
    /// once the outer vote is signed, and the validator never unbonded. A coalition could abstain for the unbonding
    /// period and then finalize a conflicting branch with nothing slashable. Now the offence height is the later target.
    @Test func aSurroundVoteWhoseInnerVoteIsOldIsStillSlashed() throws {
        var params = Chain.defaultParams()
        params.checkpointBlocks = 4
        params.slotsPerEpoch = 1_000
        params.unbondingBlocks = 12
        var c = try Chain(validatorCount: 4, accounts: [(submitter, 10_000_000)], pools: [], params: params)
        c.pseudoBlockHashes = true
        try c.advance(to: 34)
        let inner = vote(c, 3, source: checkpoint(c, 4), target: checkpoint(c, 8))
        let outer = vote(c, 3, source: checkpoint(c, 0), target: checkpoint(c, 28))
        let before = try #require(try c.staker(.validator, c.validators[3].key.publicKey)).stake.units
        let r = try c.block([try c.tx(submitter, .voteEvidence(a: inner, b: outer))])  // 35: 31 blocks after the inner target
        #expect(r[0].succeeded, "\(r[0].status)")
        let after = try #require(try c.staker(.validator, c.validators[3].key.publicKey))
        #expect(after.stake.units == before - Amount(before).basisPoints(params.equivocationSlashBps).units)
        #expect(after.status == .tombstoned)
        // Evidence still ages out, from the later target: the same shape 13 blocks after it is refused.
        try c.advance(to: 45)
        let late = try c.block([try c.tx(submitter, .voteEvidence(a: vote(c, 2, source: checkpoint(c, 4), target: checkpoint(c, 8)),
                                                                  b: vote(c, 2, source: checkpoint(c, 0), target: checkpoint(c, 32))))])
        #expect(late[0].status == .failed(.evidenceTooOld))
    }
}

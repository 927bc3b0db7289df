import Testing
@testable import Ledger
@testable import Primitives

/// Offence records (`11`) leave the state once nothing can be punished under them again (state-machine §1, §3.2
/// `doubleSignEvidence`, `voteEvidence`, `claimPayout`): a validator offence when its evidence is refused as too old, a
/// worker's pass and hop offences with the payout that deletes their commitments. Each test performs the double
/// punishment the record guards against after the record is gone and asserts that it fails and takes nothing.
@Suite struct OffencePruningTests: FinalityFixture {
    func bonded(_ c: Chain, _ key: PrivateKey) throws -> Amount { try c.staker(.validator, key.publicKey)?.stake ?? .zero }

    /// Equivocation at slot `s`: the record stays through height `s + unbondingBlocks` (re-sent evidence is already
    /// processed) and is deleted at its end; from then on the same evidence is too old. Mutation: a record pruned a block
    /// early would let the evidence slash a second time at height `s + unbondingBlocks`.
    @Test func anEquivocationRecordLeavesWithItsEvidenceAndNeverSlashesTwice() throws {
        var c = try Chain(validatorCount: 2, accounts: [(submitter, 100_000)])
        let u = c.ledger.params.unbondingBlocks
        let v = c.validators[1].key
        try c.advance(to: 3)
        let slot = c.slot
        let a = FakeEquivocationVerifier.header(v, height: 3, slot: slot, payload: 1)
        let b = FakeEquivocationVerifier.header(v, height: 3, slot: slot, payload: 2)
        let offence = StateKey.offence(LedgerIds.equivocationOffence(offender: v.publicKey, slot: slot))
        #expect(try c.block([try c.tx(submitter, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)[0].succeeded)
        let afterSlash = try bonded(c, v)
        #expect(c.state.get(offence) != nil)
        // The last height at which the evidence is still admissible (slots equal heights on this chain).
        while c.height < slot + u - 1 { try c.block(proposer: 0) }
        let last = try c.block([try c.tx(submitter, .doubleSignEvidence(headerA: b, headerB: a))], proposer: 0)
        #expect(c.height == slot + u && c.slot == slot + u)
        #expect(last[0].failure == .evidenceAlreadyProcessed)
        #expect(c.state.get(offence) == nil, "deleted at the end of height slot + unbondingBlocks")
        let late = try c.block([try c.tx(submitter, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)
        #expect(late[0].failure == .evidenceTooOld)
        #expect(try bonded(c, v) == afterSlash, "slashed once")
        #expect(try c.keys(.offence) == 0)
    }

    /// Votes may name targets above the chain's height; their evidence stays admissible until the height passes the
    /// higher target by `unbondingBlocks`, however early it was punished. The record is kept until then. Mutation:
    /// a record pruned `unbondingBlocks` after the punishment (instead of after the higher target) lets the same pair
    /// slash the tombstoned validator again.
    @Test func aVoteOffenceWithFutureTargetsIsKeptUntilItsEvidenceAgesOut() throws {
        var c = try chain()
        let u = c.ledger.params.unbondingBlocks
        try c.advance(to: 5)
        let genesis = checkpoint(c, 0)
        let far = c.height + 40
        let x = vote(c, 1, source: genesis, target: Checkpoint(height: far, hash: SHA256.hash([1])))
        let y = vote(c, 1, source: genesis, target: Checkpoint(height: far, hash: SHA256.hash([2])))
        let key = c.validators[1].key
        let offence = StateKey.offence(LedgerIds.voteOffence(validator: key.publicKey, x.signingHash(chainId: Chain.chainId),
                                                             y.signingHash(chainId: Chain.chainId)))
        let first = try c.block([try c.tx(submitter, .voteEvidence(a: x, b: y))])
        #expect(first[0].succeeded)
        let afterSlash = try bonded(c, key)
        #expect(afterSlash > .zero, "stake is left to take a second time")
        // Well past `unbondingBlocks` after the punishment, still below the target's horizon: still refused as done.
        try c.advance(to: c.height + u + 5)
        #expect(c.state.get(offence) != nil)
        let again = try c.block([try c.tx(submitter, .voteEvidence(a: y, b: x))])
        #expect(again[0].failure == .evidenceAlreadyProcessed)
        // Deleted at the end of height far + unbondingBlocks; then the pair is too old.
        try c.advance(to: far + u)
        #expect(c.state.get(offence) == nil)
        let late = try c.block([try c.tx(submitter, .voteEvidence(a: x, b: y))])
        #expect(late[0].failure == .evidenceTooOld)
        #expect(try bonded(c, key) == afterSlash, "slashed once")
    }
}

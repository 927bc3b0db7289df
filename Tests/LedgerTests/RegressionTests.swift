import Testing
@testable import Ledger
@testable import Primitives

/// Exploits seen in other systems, pinned as tests.
@Suite struct RegressionTests {
    let cheat = testKey("cheat"), verifier = testKey("verifier")

    /// A cheater commits a fraudulent batch and, in the same block, tries to escape by unbonding
    /// (optionally re-bonding). Returns the chain after the fraud proof and the stake at the offence.
    func escapeAttempt(rebond: Amount?) throws -> (Chain, Receipt, Amount) {
        var c = try Chain(accounts: [(cheat, 100_000), (verifier, 100_000)], workers: [(cheat, 0, 1_000)])
        let b = PassBatch.make(count: 30, shard: 0, seed: 1, cheat: Set(0..<30))
        var txs = [try c.tx(cheat, c.commit(b)),
                   try c.tx(cheat, .unbond(role: .worker(pool: 0), amount: 1_000), nonce: 1)]
        if let rebond { txs.append(try c.tx(cheat, .bond(role: .worker(pool: 0), amount: rebond, randaoCommitment: nil), nonce: 2)) }
        let r = try c.block(txs)
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        try c.block(); try c.block()
        let cid = c.commitmentId(cheat, b)
        // Unbonded, the worker is not active, but its selected passes must still be revealed.
        try c.revealAll(cheat, b, commitment: cid)
        let (tid, t) = try c.tickets(cid)[0]
        try c.proveFraud(verifier, ticket: tid, input: b.inputs[Int(t.leaf!.index)])
        // The verdict is in the block-processing receipt of the block that opened the claim.
        return (c, c.lastReceipts.last!, 1_000)
    }

    @Test func unbondInTheOffenceBlockIsStillSlashed() throws {
        let (c, receipt, stake) = try escapeAttempt(rebond: nil)
        #expect(receipt.succeeded)
        let slashed = receipt.events.compactMap { e -> Amount? in if case .slashed(_, _, let a, .fraud, _) = e { return a }; return nil }
        #expect(slashed == [stake.basisPoints(5000)])
        // Taken from the unbonding entry: it now holds half.
        let entries = try c.ledgerState.scan(StateKey.unbondings(.worker(pool: 0), cheat.publicKey))
        #expect(entries.count == 1)
        #expect(try UnbondingEntry(canonicalEncoding: entries[0].value).amount == 500)
    }

    @Test func unbondThenRebondInTheOffenceBlockIsStillSlashed() throws {
        let (c, receipt, stake) = try escapeAttempt(rebond: 400)
        let slashed = receipt.events.compactMap { e -> Amount? in if case .slashed(_, _, let a, .fraud, _) = e { return a }; return nil }
        // At least the fraction of the stake held at the offence.
        #expect(slashed.count == 1)
        #expect(slashed[0] >= stake.basisPoints(5000))
        let entries = try c.ledgerState.scan(StateKey.unbondings(.worker(pool: 0), cheat.publicKey))
        let left = try entries.map { try UnbondingEntry(canonicalEncoding: $0.value).amount.units }.reduce(0, +)
        let bonded = try c.staker(.worker(pool: 0), cheat.publicKey)!.stake.units
        #expect(left + bonded + slashed[0].units == 1_000 + 400)
    }

    @Test func maturedStakeIsUntouchedBySlashing() throws {
        var c = try Chain(accounts: [(cheat, 100_000)], workers: [(cheat, 0, 1_000)])
        // Offence at height 1 (a fake equivocation-free path: slash directly), stake partly unbonded at 2 and
        // matured at 52; the slash at 55 cannot reach the matured 300.
        try c.block()
        try c.block([try c.tx(cheat, .unbond(role: .worker(pool: 0), amount: 300))])
        try c.advance(to: 54)
        let balance = try c.balance(cheat.publicKey)
        var ls = c.ledgerState
        var exec = Execution(ledger: c.ledger, context: BlockContext(height: 55, slot: 55, proposer: c.validators[0].key.publicKey, randaoReveal: .zero), state: ls)
        let taken = try exec.slash(cheat.publicKey, role: .worker(pool: 0), bps: 5000, offenceHeight: 1, kind: .fraud, offenceId: .zero, into: .system)
        ls = exec.state
        // Half of the 1000 bonded at height 1, all of it from the 700 still bonded.
        #expect(taken == 500)
        #expect(try ls.staker(.worker(pool: 0), cheat.publicKey)!.stake == 200)
        #expect(try ls.account(cheat.publicKey).balance.units == balance)
    }

    @Test func equivocationIsPunishedOnceAndTombstones() throws {
        var c = try Chain(validatorCount: 2, accounts: [(verifier, 100_000)])
        try c.advance(to: 3)
        let v = c.validators[1].key
        let a = FakeEquivocationVerifier.header(v, height: 2, slot: 2, payload: 1)
        let b = FakeEquivocationVerifier.header(v, height: 2, slot: 2, payload: 2)
        let r = try c.block([
            try c.tx(verifier, .doubleSignEvidence(headerA: a, headerB: a)),
            try c.tx(verifier, .doubleSignEvidence(headerA: a, headerB: FakeEquivocationVerifier.header(v, height: 2, slot: 3, payload: 2)), nonce: 1),
            try c.tx(verifier, .doubleSignEvidence(headerA: a, headerB: b), nonce: 2),
            try c.tx(verifier, .doubleSignEvidence(headerA: b, headerB: a), nonce: 3),
        ], proposer: 0)
        #expect(r.prefix(4).map(\.failure) == [.invalidEvidence, .invalidEvidence, nil, .evidenceAlreadyProcessed])
        let offence = LedgerIds.equivocationOffence(offender: v.publicKey, slot: 2)
        #expect(r[2].events == [.slashed(staker: v.publicKey, role: .validator, amount: 50, offence: .equivocation, offenceId: offence),
                                .tombstoned(staker: v.publicKey)])
        #expect(try c.staker(.validator, v.publicKey)?.status == .tombstoned)
        #expect(try c.staker(.validator, v.publicKey)?.stake == 950)
        // Tombstoned: can neither unjail nor bond again.
        let again = try c.block([try c.tx(verifier, .doubleSignEvidence(headerA: b, headerB: FakeEquivocationVerifier.header(v, height: 2, slot: 2, payload: 3)), nonce: 4)], proposer: 0)
        #expect(again[0].failure == .evidenceAlreadyProcessed)
    }

    @Test func evidenceOlderThanTheUnbondingPeriodIsIgnored() throws {
        var c = try Chain(validatorCount: 2, accounts: [(verifier, 100_000)])
        try c.advance(to: 60)
        let v = c.validators[1].key
        let a = FakeEquivocationVerifier.header(v, height: 5, slot: 5, payload: 1)
        let b = FakeEquivocationVerifier.header(v, height: 5, slot: 5, payload: 2)
        let r = try c.block([try c.tx(verifier, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)
        #expect(r[0].failure == .evidenceTooOld)
        #expect(try c.staker(.validator, v.publicKey)?.stake == 1000)
    }

    @Test func livenessJailsAValidatorThatMissesMostOfItsSlots() throws {
        var c = try Chain(validatorCount: 2)
        let absent = c.validators[1].key.publicKey
        // Validator 0 produces every block; validator 1's slots (every other slot) are reported missed.
        for _ in 0..<9 {
            let missedSlot = c.slot + 1
            try c.block(proposer: 0, skipSlots: 1, missed: [.init(slot: missedSlot, leader: absent)])
        }
        // 16 slots per epoch: epoch 1 starts at slot 16; judging happens at the first block of epoch 1.
        #expect(c.slot >= 16)
        guard case .jailed(let until) = try c.staker(.validator, absent)?.status else {
            Issue.record("validator that missed every slot was not jailed")
            return
        }
        // Slots 2, 4, ...: slot 16 (the first of epoch 1) is block 8, which judges epoch 0.
        #expect(until == 8 + 8)
        let present = c.validators[0].key.publicKey
        #expect(try c.staker(.validator, present)?.status == .active)
        // The next epoch's schedule excludes the jailed validator.
        while c.slot < 32 { try c.block(proposer: 0) }
        let snap = try Ledger.currentSnapshot(of: c.ledgerState)!
        #expect(snap.validators.map(\.key) == [present])
    }

    /// Found by the Python model (tools/ledger_ref.py): the window's start height was computed with wrapping
    /// arithmetic, so a commitment for window ⌈2⁶⁴/10⌉ looked current. Window numbers are compared instead.
    @Test func aCommitmentForAWindowThatWrapsAroundIsRefused() throws {
        let w = testKey("wrap-worker")
        var c = try Chain(accounts: [(w, 100_000)], workers: [(w, 0, 1_000)])
        try c.advance(to: 4)
        let batch = PassBatch.make(count: 2, shard: 0, seed: 1)
        let window = UInt64.max / 10 + 1
        let r = try c.block([try c.tx(w, c.commit(batch, window: window))])
        #expect(r[0].failure == .wrongWindow)
    }
}

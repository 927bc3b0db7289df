import Ledger
import Primitives
import Testing

/// consensus.md §2 rule 4 (eighth review, open until the twelfth session): an epoch's schedule was taken from the state
/// after its first block's parent `P`, including `P`'s transactions, and seeded with the mix after `P`, which `P`'s
/// proposer knows in advance (its own reveal is mixed in last). So that proposer bonded fresh keys in `P` with amounts
/// found offline and chose where the next epoch's slots fell. Now the validators and stakes of epoch `e` are the next
/// set taken at the first block of epoch `e − 1`, before any of its reveals existed.
@Suite struct ScheduleGrindingTests {
    static let grinder = testKey("r12-grinder")

    /// A chain of four validators through the last block of epoch 0, where the grinder bonds `amount` (none: 0), then
    /// the first block of epoch 1.
    static func epochOne(grinding amount: UInt64) throws -> Chain {
        var c = try Chain(validatorCount: 4, accounts: [(grinder, 1_000_000)])
        let epoch = c.ledger.params.slotsPerEpoch
        try c.advance(to: epoch - 2)
        var txs = [SignedTransaction]()
        if amount > 0 {
            txs.append(try c.tx(grinder, .bond(role: .validator, amount: Amount(amount), randaoCommitment: SHA256.hash(Array("grind".utf8)))))
        }
        let r = try c.block(txs)  // the last block of epoch 0: its proposer knows the mix epoch 1 is seeded with
        #expect(c.slot == epoch - 1)
        for x in r { #expect(x.succeeded, "\(x.status)") }
        try c.block()
        #expect(c.slot == epoch)
        return c
    }

    /// Performed: the boundary proposer tries twelve bond amounts for a fresh key of its own in the last block of epoch
    /// 0. Before the fix each amount gave epoch 1 another validator list (the fresh key with that stake), so another
    /// leader for its slots; now every try gives epoch 1 the same schedule, the genesis set's, without the fresh key.
    @Test func theBoundaryProposerCannotChooseTheNextSchedule() throws {
        var schedules = Set<ValidatorSnapshot>()
        for amount: UInt64 in [0, 100, 101, 250, 999, 1_000, 1_001, 2_500, 4_000, 7_777, 10_000, 99_999] {
            let c = try Self.epochOne(grinding: amount)
            let s = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
            #expect(s.epoch == 1 && !s.validators.contains { $0.key == Self.grinder.publicKey })
            schedules.insert(s)
            // The bond is not lost: the key is in the set epoch 2 draws from.
            let next = try #require(try c.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self))
            #expect(next.epoch == 2 && next.validators.contains { $0.key == Self.grinder.publicKey } == (amount >= 100))
        }
        #expect(schedules.count == 1, "\(schedules.count) different schedules for epoch 1")
        #expect(schedules.first?.validators.map(\.stake) == [1_000, 1_000, 1_000, 1_000])
    }

    /// The next set's stakes are fixed too: an unbond that takes a validator below the stake the set holds for it removes
    /// it from the set (it would lead the next epoch with stake it no longer has bonded), and nothing else changes them
    /// (a partial unbond cannot reweigh the next schedule, which would again let the boundary proposer grind it).
    @Test func anUnbondBelowTheNextSetsStakeLeavesItAndNothingReweighsIt() throws {
        let keys = (0..<4).map { testKey("validator-\($0)") }
        var c = try Chain(validatorCount: 4, accounts: keys.map { ($0, Amount(100_000)) })
        let v = c.validators.map(\.key)
        #expect(v.map(\.publicKey) == keys.map(\.publicKey))
        // Validator 1 unbonds 1 of its 1 000; validator 2 bonds 500 and unbonds 400 (1 100, above the set's 1 000).
        let r = try c.block([try c.tx(v[1], .unbond(role: .validator, amount: 1)),
                             try c.tx(v[2], .bond(role: .validator, amount: 500, randaoCommitment: nil)),
                             try c.tx(v[2], .unbond(role: .validator, amount: 400), nonce: 1)])
        for x in r { #expect(x.succeeded, "\(x.status)") }
        let next = try #require(try c.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self))
        #expect(next.validators.map(\.key) == [v[0], v[2], v[3]].map(\.publicKey).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        #expect(next.validators.allSatisfy { $0.stake == 1_000 })
        let epoch = c.ledger.params.slotsPerEpoch
        while c.slot < epoch { try c.block() }
        let schedule = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(schedule.epoch == 1 && schedule.validators == next.validators)
        // Epoch 2's set is the state at epoch 1's first block: validator 1 is back with its 999, validator 2 with 1 100.
        let following = try #require(try c.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self))
        #expect(following.validators.first { $0.key == v[1].publicKey }?.stake == 999)
        #expect(following.validators.first { $0.key == v[2].publicKey }?.stake == 1_100)
    }

    /// Removals are marks (nineteenth session; consensus.md §2 rules 1–4): a validator leaving the next set at the
    /// boundary block, or the current schedule mid-epoch, keeps its place and stake in the list the draw runs over, so
    /// the list, the stakes and the seed every other validator's slots are drawn from are those without the removal
    /// (`MidEpochScheduleGrindingTests` shows that the draw then moves only the removed validator's slots).
    @Test func leavingASetMarksTheValidatorAndKeepsTheList() throws {
        func epochOne(unbonding: Bool) throws -> (Chain, [PrivateKey]) {
            var c = try Chain(validatorCount: 4, accounts: (0..<4).map { (testKey("validator-\($0)"), Amount(100_000)) })
            let v = c.validators.map(\.key)
            try c.advance(to: c.ledger.params.slotsPerEpoch - 2)
            let r = try c.block(unbonding ? [try c.tx(v[1], .unbond(role: .validator, amount: 1))] : [])
            for x in r { #expect(x.succeeded, "\(x.status)") }
            try c.block()
            #expect(c.slot == c.ledger.params.slotsPerEpoch)
            return (c, v)
        }
        let (plain, _) = try epochOne(unbonding: false)
        var (c, v) = try epochOne(unbonding: true)
        let kept = try #require(try plain.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        let marked = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(marked.seed == kept.seed && marked.entries.map(\.key) == kept.entries.map(\.key))
        #expect(marked.entries.map(\.stake) == kept.entries.map(\.stake))
        #expect(marked.entries.map(\.removed) == kept.entries.map { $0.key == v[1].publicKey })
        #expect(!marked.holds(v[1].publicKey) && marked.validators.count == 3)
        // Mid-epoch: validator 2 unbonds one unit; it is marked in the current schedule, which keeps the list.
        let r = try c.block([try c.tx(v[2], .unbond(role: .validator, amount: 1))])
        for x in r { #expect(x.succeeded, "\(x.status)") }
        let after = try #require(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self))
        #expect(after.entries.map(\.key) == kept.entries.map(\.key) && after.entries.map(\.stake) == kept.entries.map(\.stake))
        #expect(after.entries.filter(\.removed).map(\.key).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
                == [v[1], v[2]].map(\.publicKey).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        // A removed flag other than 0 or 1 is not a snapshot.
        var bytes = after.canonicalEncoding
        bytes[bytes.count - 1] = 2
        #expect(throws: CodecError.self) { _ = try ValidatorSnapshot(canonicalEncoding: bytes) }
    }
}

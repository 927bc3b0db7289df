import Testing
@testable import Ledger
@testable import Primitives

/// Tenth review, consensus F1: justification was counted against each branch's own schedule, which liveness jailing
/// shrinks on each branch alone. Two sides of a partition each jailed the other's validators for missed slots, held
/// all of their own schedule, and finalized conflicting checkpoints with nobody slashable. Votes now count against the
/// finalized checkpoint's validator set, which every branch above it shares (Specs/consensus.md §8).
@Suite struct FinalityPartitionTests: FinalityFixture {
    static let sideA = [0, 1, 2], sideB = [3, 4]

    /// Five validators of 1 000 each; epochs of 16 slots, liveness judged from 2 led slots.
    func fiveValidators(unbondingBlocks: UInt64 = 1_000) throws -> Chain {
        var params = Chain.defaultParams()
        params.checkpointBlocks = 4
        params.slotsPerEpoch = 16
        params.livenessMinSlots = 2
        params.unbondingBlocks = unbondingBlocks
        let funded = [(submitter, Amount(10_000_000))] + (0..<5).map { (testKey("validator-\($0)"), Amount(100_000)) }
        var c = try Chain(validatorCount: 5, accounts: funded, params: params)
        c.pseudoBlockHashes = true
        return c
    }

    /// One block of `side`'s next proposer after a slot that `other`'s next validator missed (what a side of a
    /// partition sees), carrying `txs`.
    /// Only validators still in the side's schedule lead slots there, as the engine's leader draw would have it.
    func sideBlock(_ c: inout Chain, side: [Int], other: [Int], _ txs: [SignedTransaction] = []) throws {
        let step = Int(c.height)
        let scheduled = try scheduled(c)
        let absent = other.map { c.validators[$0].key.publicKey }.filter(scheduled.contains)
        let proposer = side[step % side.count]
        if absent.isEmpty {
            try c.block(txs, proposer: proposer)
        } else {
            try c.block(txs, proposer: proposer, skipSlots: 1, missed: [.init(slot: c.slot + 1, leader: absent[step % absent.count])])
        }
    }

    /// The votes `voters` cast for the latest checkpoint below the next block, from the justified checkpoint.
    func votes(_ c: Chain, _ voters: [Int]) throws -> [SignedTransaction] {
        let justified = try Ledger.finality(of: c.ledgerState).justified
        let target = c.height / c.ledger.params.checkpointBlocks * c.ledger.params.checkpointBlocks
        guard target > justified.height else { return [] }
        return [try c.tx(submitter, .finalityVotes(votes: voters.map { vote(c, $0, source: justified, target: checkpoint(c, target)) }))]
    }

    /// Runs a side of the partition for `blocks` blocks, its validators voting at every checkpoint.
    func runSide(_ c: inout Chain, side: [Int], other: [Int], blocks: Int) throws {
        for _ in 0..<blocks { try sideBlock(&c, side: side, other: other, try votes(c, side)) }
    }

    func scheduled(_ c: Chain) throws -> Set<PublicKey> {
        Set(try #require(try Ledger.currentSnapshot(of: c.ledgerState)).validators.map(\.key))
    }

    @Test func twoSidesOfAPartitionCannotEachFinalizeByJailingTheOther() throws {
        var a = try fiveValidators(), b = try fiveValidators()
        try a.advance(to: 6)
        try b.advance(to: 6)
        #expect(a.stateRoot == b.stateRoot)
        // Three epochs apart: 60 % and 40 % of the stake, each side reporting the other's slots as missed.
        try runSide(&a, side: Self.sideA, other: Self.sideB, blocks: 24)
        try runSide(&b, side: Self.sideB, other: Self.sideA, blocks: 24)
        // The attack's precondition: each side jailed the other, so each side is all of its own schedule.
        #expect(try scheduled(a) == Set(Self.sideA.map { a.validators[$0].key.publicKey }))
        #expect(try scheduled(b) == Set(Self.sideB.map { b.validators[$0].key.publicKey }))
        // Neither side justified anything above genesis, so neither finalized a conflicting checkpoint.
        for c in [a, b] {
            let (justified, finalized) = try Ledger.finality(of: c.ledgerState)
            #expect(justified.height == 0 && finalized.height == 0, "justified \(justified.height), finalized \(finalized.height)")
            #expect(try c.ledger.finalitySet(of: c.ledgerState)?.totalStake == 5_000)
        }
    }

    @Test func afterThePartitionTheJailedSideUnjailsAndFinalityResumes() throws {
        var a = try fiveValidators()
        try a.advance(to: 6)
        try runSide(&a, side: Self.sideA, other: Self.sideB, blocks: 24)
        #expect(try Ledger.finality(of: a.ledgerState).justified.height == 0)
        // Healed: the other side's validators unjail once their jail ends and take part again from the next epoch.
        for _ in 0..<a.ledger.params.jailBlocks { try sideBlock(&a, side: Self.sideA, other: Self.sideB) }
        try sideBlock(&a, side: Self.sideA, other: Self.sideB, try Self.sideB.map { try a.tx(testKey("validator-\($0)"), .unjail(role: .validator)) })
        #expect(a.lastReceipts.allSatisfy { $0.succeeded }, "\(a.lastReceipts.map(\.failure))")
        repeat { try sideBlock(&a, side: Self.sideA, other: Self.sideB) } while try scheduled(a).count < 5
        // Every validator votes: the set of the finalized checkpoint (genesis) holds them all.
        for _ in 0..<12 { try a.block(try votes(a, Array(0..<5))) }
        let (justified, finalized) = try Ledger.finality(of: a.ledgerState)
        #expect(justified.height > 30 && finalized.height > 26, "justified \(justified.height), finalized \(finalized.height)")
    }

    @Test func aStallLongerThanTheUnbondingPeriodCountsAgainstTheSchedule() throws {
        var a = try fiveValidators(unbondingBlocks: 50)
        try a.advance(to: 6)
        // Within the unbonding period the three cannot justify; past it (the finalized set's stake may all have
        // been withdrawn by then) the schedule of the three is the set, and they finalize.
        var firstJustified: UInt64?
        for _ in 0..<70 {
            try sideBlock(&a, side: Self.sideA, other: Self.sideB, try votes(a, Self.sideA))
            let justified = try Ledger.finality(of: a.ledgerState).justified
            if justified.height > 0, firstJustified == nil { firstJustified = a.height }
        }
        let at = try #require(firstJustified)
        #expect(at > 50, "justified at height \(at), within the unbonding period")
        #expect(try Ledger.finality(of: a.ledgerState).finalized.height > 0)
    }

    @Test func aValidatorBondedAfterTheFinalizedCheckpointDoesNotCountUntilTheNextOne() throws {
        // A newcomer with more stake than everyone else is scheduled from the epoch after next (epoch 1 draws from the
        // set taken at epoch 0's first block, consensus.md §2); counted against the schedule, its vote alone would be
        // 10 000 of 15 000 and justify. Against the finalized set it does not count.
        var c = try fiveValidators()
        let newcomer = testKey("newcomer")
        try c.block([try c.tx(submitter, .transfer(to: newcomer.publicKey, amount: 20_000))])
        try c.block([try c.tx(newcomer, .bond(role: .validator, amount: 10_000, randaoCommitment: SHA256.hash([7])))])
        #expect(c.lastReceipts.allSatisfy { $0.succeeded })
        let epoch = c.ledger.params.slotsPerEpoch
        while c.slot / epoch < 1 { try c.block() }
        #expect(try !scheduled(c).contains(newcomer.publicKey))
        while c.slot / epoch < 2 { try c.block() }
        #expect(try scheduled(c).contains(newcomer.publicKey))
        let genesis = checkpoint(c, 0), target = checkpoint(c, c.height / 4 * 4)
        let newcomerVote = FinalityVote(validator: newcomer.publicKey, source: genesis, target: target).signed(by: newcomer, chainId: Chain.chainId)
        try c.block([try c.tx(submitter, .finalityVotes(votes: [newcomerVote]))])
        #expect(c.lastReceipts[0].succeeded && c.lastReceipts[0].events.isEmpty, "\(c.lastReceipts[0].events)")
        #expect(try Ledger.finality(of: c.ledgerState).justified.height == 0)
        // Four of the five genesis validators justify, then finalize: the set moves to the finalized checkpoint's
        // (which holds the newcomer) and the sets below it are deleted.
        try c.block([try c.tx(submitter, .finalityVotes(votes: (0..<4).map { vote(c, $0, source: genesis, target: target) }))])
        #expect(try Ledger.finality(of: c.ledgerState).justified == target)
        while c.height < target.height + 5 { try c.block() }
        let next = checkpoint(c, target.height + 4)
        try c.block([try c.tx(submitter, .finalityVotes(votes: (0..<4).map { vote(c, $0, source: target, target: next) }))])
        #expect(try Ledger.finality(of: c.ledgerState).finalized == target)
        #expect(try c.record(StateKey.checkpointSet(0), ValidatorSnapshot.self) == nil)
        let set = try #require(try c.ledger.finalitySet(of: c.ledgerState))
        #expect(set.validators.contains { $0.key == newcomer.publicKey } && set.totalStake == 15_000)
    }
}

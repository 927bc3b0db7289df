import Testing
@testable import Ledger
@testable import Primitives

/// The consensus v2 rules the state transition enforces (Specs/consensus.md §2, §3, §5), each tried as the
/// attacker would.
@Suite struct ConsensusV2Tests {
    let client = testKey("client"), worker = testKey("worker"), reporter = testKey("reporter")

    /// Attack: a proposer of two consecutive blocks registers a freshly ground hash chain in the first and
    /// reveals from it in the second, choosing the beacon. The new chain only takes over two epochs later.
    @Test func aNewRandaoChainCannotBeUsedBeforeTwoEpochsPass() throws {
        var c = try Chain(validatorCount: 1, accounts: [(testKey("validator-0"), 100_000)])
        let v = c.validators[0].key
        let ground = RandaoHashChain(seed: SHA256.hash(Array("ground".utf8)), length: 64)
        let r = try c.block([try c.tx(v, .bond(role: .validator, amount: .zero, randaoCommitment: ground.commitment))])
        #expect(r[0].succeeded)
        let pending = try #require(try c.staker(.validator, v.publicKey)?.pendingRandao)
        #expect(pending.commitment == ground.commitment)
        #expect(pending.epoch == 2, "registered in epoch 0: effective from epoch 2")
        // The very next block, revealing from the ground chain, is invalid.
        #expect(throws: BlockError.badRandaoReveal) { try c.block(randaoReveal: ground.value(63)) }
        // Blocks of epochs 0 and 1 still reveal from the old chain.
        try c.advance(to: 10)
        try c.block(skipSlots: 19 - c.slot)  // slot 20, epoch 1
        #expect(throws: BlockError.badRandaoReveal) { try c.block(randaoReveal: ground.value(63)) }
        try c.block(skipSlots: 30 - c.slot)  // slot 31: the last of epoch 1, from the old chain
        #expect(c.slot == 31)
        // From epoch 2 on only the new chain is accepted.
        let oldReveal = c.nextReveal(v.publicKey)
        #expect(throws: BlockError.badRandaoReveal) { try c.block(randaoReveal: oldReveal) }
        try c.block(randaoReveal: ground.value(63))
        #expect(try c.staker(.validator, v.publicKey)?.pendingRandao == nil)
        #expect(try c.staker(.validator, v.publicKey)?.randaoCommitment == ground.value(63))
    }

    /// Attack: a coalition that proposes every block after its commitment knows every reveal in advance (they
    /// come from registered chains), so it could predict the beacon and grind its commitment. Tickets wait for
    /// blocks of `beaconMinProposers` distinct proposers after the inclusion (or `beaconMaxDelay`).
    @Test func ticketsWaitForRevealsOfDistinctProposers() throws {
        var params = Chain.defaultParams()
        params.beaconMinProposers = 3
        params.beaconMaxDelay = 12
        params.unbondingBlocks = 80
        params.revealedKeyRetentionBlocks = 40
        var c = try Chain(validatorCount: 4, accounts: [(client, 1_000_000), (worker, 100_000)],
                          workers: [(worker, 0, 1_000)], params: params)
        try c.openEscrow(client, amount: 100_000, payees: [(worker, 100_000)])
        let batch = PassBatch.make(count: 6, shard: 0, seed: 7)
        try c.block([try c.tx(worker, c.commit(batch))], proposer: 0)
        let included = c.height
        let id = c.commitmentId(worker, batch)
        // The coalition (validators 0 and 1) proposes the next five blocks: past beaconDelay, but only two
        // distinct proposers mixed in, so nothing is selected.
        for i in 0..<5 { try c.block(proposer: i % 2) }
        #expect(try c.tickets(id).isEmpty, "tickets drawn from a beacon the coalition could predict")
        // An outsider's block brings the third distinct proposer: the tickets are drawn in that block.
        try c.block(proposer: 2)
        let tickets = try c.tickets(id)
        #expect(!tickets.isEmpty)
        #expect(tickets.allSatisfy { $0.ticket.selectedHeight == c.height })
        #expect(c.height == included + 6, "selected at the outsider's block, not at included + beaconDelay")

        // With only the coalition proposing, selection is forced after beaconMaxDelay blocks.
        let second = PassBatch.make(count: 6, shard: 0, seed: 8)
        try c.block([try c.tx(worker, c.commit(second))], proposer: 0)
        let included2 = c.height
        let id2 = c.commitmentId(worker, second)
        while c.height < included2 + params.beaconMaxDelay - 1 {
            try c.block(proposer: Int(c.height % 2))
            #expect(try c.tickets(id2).isEmpty)
        }
        try c.block(proposer: Int(c.height % 2))
        #expect(try c.tickets(id2).allSatisfy { $0.ticket.selectedHeight == included2 + params.beaconMaxDelay })
        #expect(try !c.tickets(id2).isEmpty)
    }

    /// Attack: the offender reports itself with one back-dated header (height 1, when it had little stake),
    /// hoping to be slashed on that stake, to block the genuine evidence, and to unbond the rest. The offence
    /// height comes from the slot, so the slash is the same as for the genuine evidence.
    @Test func aBackDatedHeaderNeitherReducesTheSlashNorBlocksIt() throws {
        var c = try Chain(validatorCount: 2, accounts: [(reporter, 100_000), (testKey("validator-1"), 1_000_000)])
        let v = c.validators[1].key
        // v has 1 000 bonded through height 2 and 10 000 from height 3 on.
        try c.advance(to: 2)
        try c.block([try c.tx(v, .bond(role: .validator, amount: 9_000, randaoCommitment: nil))], proposer: 0)
        try c.advance(to: 5)
        try c.block(proposer: 1)  // height 6, slot 6: v's real block
        let slot = c.slot
        // v unbonds most of its stake right after the offence.
        try c.block([try c.tx(v, .unbond(role: .validator, amount: 9_000))], proposer: 0)
        let genuine = FakeEquivocationVerifier.header(v, height: 6, slot: slot, payload: 1)
        let backDated = FakeEquivocationVerifier.header(v, height: 1, slot: slot, payload: 2)
        let r = try c.block([try c.tx(reporter, .doubleSignEvidence(headerA: backDated, headerB: genuine))], proposer: 0)
        #expect(r[0].succeeded)
        // 5 % of the 10 000 bonded at height 6 (not of the 1 000 at the back-dated height 1), taken from the unbonding entry.
        let offence = LedgerIds.equivocationOffence(offender: v.publicKey, slot: slot)
        #expect(r[0].events.first == .slashed(staker: v.publicKey, role: .validator, amount: 500, offence: .equivocation, offenceId: offence))
        let other = FakeEquivocationVerifier.header(v, height: 6, slot: slot, payload: 3)
        let again = try c.block([try c.tx(reporter, .doubleSignEvidence(headerA: genuine, headerB: other))], proposer: 0)
        #expect(again[0].failure == .evidenceAlreadyProcessed)
        // Headers for a slot that has not come yet prove nothing.
        let future = c.slot + 5
        let f = try c.block([try c.tx(reporter, .doubleSignEvidence(
            headerA: FakeEquivocationVerifier.header(c.validators[0].key, height: 1, slot: future, payload: 1),
            headerB: FakeEquivocationVerifier.header(c.validators[0].key, height: 1, slot: future, payload: 2)))], proposer: 0)
        #expect(f[0].failure == .invalidEvidence)
    }

    /// Proposer records are pruned to a window of `R = max(unbondingBlocks, beaconMaxDelay) + 1` heights, and
    /// evidence as old as the age limit allows still finds its offence height (the search never reads a pruned
    /// record: a missing one is a fault), with skipped slots in the pruned range.
    @Test func proposerRecordsStayBoundedAndOldestEvidenceStillWorks() throws {
        var c = try Chain(validatorCount: 2, accounts: [(reporter, 100_000)])
        let params = c.ledger.params, r = params.proposerRecordRetention
        #expect(r == params.unbondingBlocks + 1)
        try c.block(skipSlots: 3)  // slots and heights differ from here on
        while c.height < 2 * r + 5 { try c.block() }
        let records = c.state.scan(prefix: [StateKey.Prefix.proposer.rawValue], after: nil, limit: .max)
        #expect(UInt64(records.count) == r)
        #expect(records.first?.key == StateKey.proposer(c.height + 1 - r))
        // The evidence block is the next one (its slot is c.slot + 1): the oldest admissible slot, then one older.
        let v = c.validators[1].key
        let oldest = c.slot + 1 - params.unbondingBlocks
        let ok = try c.block([try c.tx(reporter, .doubleSignEvidence(
            headerA: FakeEquivocationVerifier.header(v, height: 1, slot: oldest, payload: 1),
            headerB: FakeEquivocationVerifier.header(v, height: 1, slot: oldest, payload: 2)))], proposer: 0)
        #expect(ok[0].succeeded)
        #expect(ok[0].events.contains { if case .slashed(staker: v.publicKey, _, _, .equivocation, _) = $0 { true } else { false } })
        let tooOld = c.slot + 1 - params.unbondingBlocks - 1
        let old = try c.block([try c.tx(reporter, .doubleSignEvidence(
            headerA: FakeEquivocationVerifier.header(c.validators[0].key, height: 1, slot: tooOld, payload: 1),
            headerB: FakeEquivocationVerifier.header(c.validators[0].key, height: 1, slot: tooOld, payload: 2)))], proposer: 0)
        #expect(old[0].failure == .evidenceTooOld)
    }

    /// A tombstoned or jailed validator leaves the epoch's schedule in the block that punishes it.
    @Test func punishedValidatorsStopLeadingAtOnce() throws {
        var c = try Chain(validatorCount: 3, accounts: [(reporter, 100_000)])
        try c.advance(to: 4)
        func scheduled() throws -> [PublicKey] {
            try #require(try c.ledgerState.record(StateKey.global(.schedule), ValidatorSnapshot.self)).validators.map(\.key)
        }
        #expect(try scheduled().count == 3)
        let v = c.validators[2].key
        let a = FakeEquivocationVerifier.header(v, height: 3, slot: 3, payload: 1)
        let b = FakeEquivocationVerifier.header(v, height: 3, slot: 3, payload: 2)
        try c.block([try c.tx(reporter, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)
        #expect(c.slot / c.ledger.params.slotsPerEpoch == 0, "still the same epoch")
        #expect(try !scheduled().contains(v.publicKey))
        #expect(try scheduled().count == 2)
    }

    /// Skipping one's own slot costs stake (burned), so withholding a block to drop one's reveal from the
    /// beacon is never free.
    @Test func missedSlotsCostStake() throws {
        var params = Chain.defaultParams()
        params.missedSlotSlashBps = 100
        var c = try Chain(validatorCount: 2, params: params)
        let absent = c.validators[1].key.publicKey
        let burned = try c.burned()
        let r = try c.block(proposer: 0, skipSlots: 1, missed: [.init(slot: c.slot + 1, leader: absent)])
        #expect(try c.staker(.validator, absent)?.stake == 990)
        #expect(try c.burned() == burned + 10)
        #expect(r.last?.events.contains(.slashed(staker: absent, role: .validator, amount: 10, offence: .missedSlot,
                                                   offenceId: LedgerIds.missedSlotOffence(leader: absent, slot: c.slot - 1))) == true)
    }
}

import Primitives

extension Execution {
    /// Begin-block: height and slot order, epoch change (schedule snapshot, liveness judgement), the
    /// proposer's RANDAO reveal and mix, proposer record, missed-slot accounting.
    mutating func beginBlock() throws {
        let (lastHeight, lastSlot) = try tip()
        guard context.height == lastHeight + 1 else { throw BlockError.wrongHeight(expected: lastHeight + 1, got: context.height) }
        guard context.slot > lastSlot else { throw BlockError.slotNotAfterParent(parentSlot: lastSlot, slot: context.slot) }
        let epoch = context.slot / params.slotsPerEpoch
        let lastEpoch = lastSlot / params.slotsPerEpoch

        pruneAgedCheckpoint()
        try recordCheckpointSet()
        if epoch > lastEpoch {
            // The schedule of the new epoch comes from the state before this block (consensus computes the
            // same snapshot from the parent state to check this block's leader).
            let snapshot = try ledger.snapshot(of: state, epoch: epoch)
            // The set the epoch after draws from is fixed now, before any reveal of this epoch exists; its seed is
            // not known until that epoch begins (Specs/consensus.md §2: the boundary proposer cannot grind it).
            let next = ValidatorSnapshot(epoch: epoch &+ 1, seed: .zero, validators: try ledger.activeValidators(in: state))
            state.put(StateKey.global(.schedule), snapshot)
            state.put(StateKey.global(.nextSchedule), next)
        }
        try clearVotesWhoseSetChanged(epochChanged: epoch > lastEpoch)
        try recordCheckpoint()

        // Missed slots count against the epoch they belong to; an epoch is judged once its last slot passed.
        for missed in context.missedSlots {
            try judgeLivenessIfEpochChanged(to: missed.slot / params.slotsPerEpoch)
            try countSlot(missed.leader, epoch: missed.slot / params.slotsPerEpoch, missed: true)
            try slashMissedSlot(missed.leader, slot: missed.slot)
        }
        try judgeLivenessIfEpochChanged(to: epoch)
        try countSlot(context.proposer, epoch: epoch, missed: false)

        guard var proposer = try state.staker(.validator, context.proposer) else { throw BlockError.unknownProposer }
        // A registered replacement chain takes over from its epoch on (Specs/consensus.md §3).
        if let pending = proposer.pendingRandao, epoch >= pending.epoch {
            proposer.randaoCommitment = pending.commitment
            proposer.pendingRandao = nil
        }
        guard Tags.randao.hash(context.randaoReveal.bytes) == proposer.randaoCommitment else { throw BlockError.badRandaoReveal }
        proposer.randaoCommitment = context.randaoReveal
        try state.setStaker(.validator, context.proposer, proposer, height: height)
        var mix = CanonicalWriter(capacity: 64)
        mix.hash(try state.randaoMix())
        mix.hash(context.randaoReveal)
        state.put(StateKey.global(.randaoMix), Tags.randao.hash(mix.bytes))
        var proposerRecord = CanonicalWriter(capacity: 40)
        proposerRecord.encode(context.proposer)
        proposerRecord.u64(context.slot)
        state.putRaw(StateKey.proposer(height), proposerRecord.bytes)
        // No reader looks further back (the beacon, equivocation evidence): the state keeps a bounded window.
        if height > params.proposerRecordRetention { state.delete(StateKey.proposer(height - params.proposerRecordRetention)) }
        var tipWriter = CanonicalWriter(capacity: 16)
        tipWriter.u64(context.height)
        tipWriter.u64(context.slot)
        state.putRaw(StateKey.global(.tip), tipWriter.bytes)
        try prepareCheckerTables()
    }

    /// The checker tables this block's draws assign from, taken from the state before its transactions
    /// (Specs/verification.md §3): the proposer knows the beacon it draws with, so nothing it puts in the block (a
    /// colluder's bond of a chosen amount, an unbond, an unjail) may change who checks which ticket. Bounded by
    /// `maxCheckers` per pool with a checking section.
    mutating func prepareCheckerTables() throws(ExecError) {
        checkerTables = [:]
        for pool in try state.pools() {
            guard let cfg = pool.checking else { continue }
            checkerTables[pool.id] = try checkerTable(pool: pool.id, cfg)
        }
    }

    /// End-block, in this order (Specs/state-machine.md §4): the block's commitments queued for drawing, unbonding
    /// maturity, ticket selection (with this block's mix and its checkers), reveal deadlines, check resolutions,
    /// dispute key deadlines, adjudications, bounties, expired fraud commitments, settlement, pruning.
    /// Each step's work is bounded by what earlier blocks queued for this height, or by a parameter.
    mutating func endBlock() throws {
        queueCommittedForSelection()
        try matureUnbondings()
        try selectTickets(beacon: try state.randaoMix())
        try expireRevealDeadlines()
        try expireHopChallenges()
        try resolveChecks()
        try expireDisputes()
        try processAdjudications()
        try finalizeCases()
        try expireFraudCommitments()
        try processWindows()
        try pruneExpired()
    }

    func tip() throws(ExecError) -> (height: UInt64, slot: UInt64) {
        guard let raw = try state.raw(StateKey.global(.tip)) else { return (0, 0) }
        var r = CanonicalReader(raw)
        do {
            let h = try r.u64("height"), s = try r.u64("slot")
            try r.finish()
            return (h, s)
        } catch { throw .fault(LedgerFault("corrupt tip record")) }
    }

    mutating func countSlot(_ key: PublicKey, epoch: UInt64, missed: Bool) throws(ExecError) {
        var l = try state.record(StateKey.liveness(key), Liveness.self) ?? Liveness(epoch: epoch)
        if l.epoch != epoch { l = Liveness(epoch: epoch) }
        l.led += 1
        if missed { l.missed += 1 }
        state.put(StateKey.liveness(key), l)
    }

    /// Judges every liveness record of an epoch before `epoch`: more than the allowed share of missed
    /// slots (with at least `livenessMinSlots` led) jails the validator. Records are then dropped.
    mutating func judgeLivenessIfEpochChanged(to epoch: UInt64) throws(ExecError) {
        for kv in try state.scan([StateKey.Prefix.liveness.rawValue]) {
            guard let key = PublicKey(bytes: kv.key[1...]) else { throw .fault(LedgerFault("corrupt liveness key")) }
            let l: Liveness
            do { l = try Liveness(canonicalEncoding: kv.value) } catch { throw .fault(LedgerFault("corrupt liveness record")) }
            guard l.epoch < epoch else { continue }
            state.delete(kv.key)
            let tooMany = l.missed.multipliedReportingOverflow(by: 10_000).partialValue
                > l.led.multipliedReportingOverflow(by: UInt64(params.livenessMaxMissedBps)).partialValue
            if l.led >= params.livenessMinSlots && tooMany {
                if let s = try state.staker(.validator, key), s.status == .active {
                    try jail(key, role: .validator, into: .system)
                }
            }
        }
    }
}

extension Ledger {
    /// The validator set and seed for `epoch`, from the state before its first block (Specs/consensus.md §2): the
    /// stored next set (`nextSchedule`, taken at the previous epoch's first block) with its stakes, in key order, each
    /// validator no longer active (jailed or tombstoned, stake below the minimum) or removed from the set marked
    /// removed, and the current RANDAO mix. Members are marked, not left out, so that whether one is still active moves
    /// no other validator's slots.
    /// The mix is known to the proposer of the block before, a moment after the set was fixed, so that proposer
    /// cannot choose where slots fall by bonding amounts found offline (eighth review). When none of the next set is
    /// active, the stored schedule's validators that are still active, with its stakes: never the state's active set,
    /// which holds what the block before bonded, with amounts its proposer chose knowing the seed (thirteenth review: it
    /// emptied the next set with a one-unit unbond of its own members to get there). When none of those is active
    /// either, the stored schedule as it is, so the chain cannot stall without leaders.
    public func snapshot(of state: LedgerState, epoch: UInt64) throws -> ValidatorSnapshot {
        let active = try activeValidators(in: state)
        var entries = active
        func markingInactive(_ set: ValidatorSnapshot) -> [ValidatorSnapshot.Entry] {
            let activeKeys = Set(active.map(\.key))
            return set.entries.map { .init(key: $0.key, stake: $0.stake, removed: $0.removed || !activeKeys.contains($0.key)) }
        }
        if let next = try state.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self) {
            entries = markingInactive(next)
            if !entries.contains(where: { !$0.removed }) {
                entries = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self).map(markingInactive) ?? []
            }
        }
        let seed = try state.randaoMix()
        if !entries.contains(where: { !$0.removed }), let previous = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self) {
            return ValidatorSnapshot(epoch: epoch, seed: seed, entries: previous.entries)
        }
        return ValidatorSnapshot(epoch: epoch, seed: seed, entries: entries)
    }

    /// The active validators of a state (not jailed or tombstoned, stake at least the minimum) with their bonded
    /// stakes, in key order.
    public func activeValidators(in state: LedgerState) throws -> [ValidatorSnapshot.Entry] {
        let minimum = params.validatorMinStake
        var entries = [ValidatorSnapshot.Entry]()
        for kv in try state.scan(StateKey.stakers(.validator)) {
            guard let key = PublicKey(bytes: kv.key[6...]) else { throw LedgerFault("corrupt staker key") }
            let s = try Staker(canonicalEncoding: kv.value)
            if s.isActive(minimum: minimum) { entries.append(.init(key: key, stake: s.stake)) }
        }
        return entries
    }

    /// The stored schedule snapshot (the epoch of the latest block).
    public static func currentSnapshot(of state: LedgerState) throws -> ValidatorSnapshot? {
        try state.record(StateKey.global(.schedule), ValidatorSnapshot.self)
    }

    /// Height and slot of the latest block applied to `state`.
    public static func tip(of state: LedgerState) throws -> (height: UInt64, slot: UInt64) {
        guard let raw = try state.raw(StateKey.global(.tip)) else { return (0, 0) }
        var r = CanonicalReader(raw)
        return (try r.u64("height"), try r.u64("slot"))
    }
}

import Primitives

extension Execution {
    /// Minimum stake of a role, or nil when the role names an unknown pool.
    mutating func minimumStake(_ role: StakeRole) throws(ExecError) -> Amount? {
        switch role {
        case .validator: return params.validatorMinStake
        case .worker(let p): return try poolConfig(p)?.minWorkerStake
        case .checker(let p): return try poolConfig(p)?.checking?.checkerMinStake
        }
    }

    mutating func bond(_ sender: PublicKey, role: StakeRole, amount: Amount, commitment: Hash32?) throws(ExecError) {
        guard let minimum = try minimumStake(role) else { throw .failed(.unknownPool) }
        var staker: Staker
        if let existing = try state.staker(role, sender) {
            if existing.status == .tombstoned { throw .failed(.tombstoned) }
            staker = existing
            // An existing validator may register a fresh hash chain, with or without adding stake. It takes over
            // two epochs later (Specs/consensus.md §3): by then nobody can know which slots the validator leads or
            // what they select, so choosing among chains cannot bias a beacon.
            if case .validator = role, let commitment {
                staker.pendingRandao = PendingRandao(commitment: commitment, epoch: context.slot / params.slotsPerEpoch &+ 2)
            } else if amount == .zero { throw .failed(.zeroAmount) }
        } else {
            guard amount > .zero else { throw .failed(.zeroAmount) }
            var c = Hash32.zero
            if case .validator = role {
                guard let commitment else { throw .failed(.missingRandaoCommitment) }
                c = commitment
            }
            staker = Staker(stake: .zero, randaoCommitment: c, since: height)
        }
        try state.debit(sender, amount)
        do { staker.stake = try staker.stake.adding(amount) } catch { throw .failed(.amountOverflow) }
        guard staker.stake >= minimum else { throw .failed(.belowMinimumStake) }
        try state.setStaker(role, sender, staker, height: height)
        txEvents.append(.bonded(staker: sender, role: role, amount: amount))
    }

    mutating func unbond(_ sender: PublicKey, role: StakeRole, amount: Amount) throws(ExecError) {
        guard amount > .zero else { throw .failed(.zeroAmount) }
        guard var staker = try state.staker(role, sender) else { throw .failed(.unknownStaker) }
        guard staker.stake >= amount else { throw .failed(.insufficientStake) }
        let open = try state.scan(StateKey.unbondings(role, sender), limit: params.maxUnbondingEntries)
        guard open.count < params.maxUnbondingEntries else { throw .failed(.tooManyUnbondingEntries) }
        let id = try state.globalU64(.nextUnbondingId)
        state.setGlobalU64(.nextUnbondingId, id + 1)
        let (mature, o) = height.addingReportingOverflow(params.unbondingBlocks)
        if o { throw .failed(.amountOverflow) }
        staker.stake = Amount(staker.stake.units - amount.units)
        try state.setStaker(role, sender, staker, height: height)
        switch role {
        case .checker(let pool): try deregisterIfUnderbonded(sender, pool: pool, stake: staker.stake)
        // Below the minimum, or below the stake it leads with this epoch, it stops leading now: else it could skip the
        // rest of this epoch's slots, or equivocate in them, for the slash of what is left bonded (the missed-slot and
        // equivocation slashes take bonded stake, and the rest is unbonding; eighth review: the minimum itself).
        case .validator:
            let scheduled = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self)?
                .stake(of: sender) ?? .zero
            if staker.stake < params.validatorMinStake || staker.stake < scheduled { try dropFromSchedule(sender) }
            // The same for the next epoch's set: it would lead there with stake it no longer has bonded.
            try dropFromNextSchedule(sender, below: staker.stake)
        case .worker: break
        }
        state.put(StateKey.unbonding(role, sender, id), UnbondingEntry(amount: amount, createdHeight: height, matureHeight: mature))
        state.putRaw(StateKey.unbondingQueue(mature, role, sender, id), [])
        txEvents.append(.unbondingStarted(staker: sender, role: role, amount: amount, entryId: id, matureHeight: mature))
    }

    mutating func unjail(_ sender: PublicKey, role: StakeRole) throws(ExecError) {
        guard var staker = try state.staker(role, sender) else { throw .failed(.unknownStaker) }
        switch staker.status {
        case .active: throw .failed(.notJailed)
        case .tombstoned: throw .failed(.tombstoned)
        case .jailed(let until):
            guard height >= until else { throw .failed(.jailPeriodNotOver) }
        }
        guard let minimum = try minimumStake(role), staker.stake >= minimum else { throw .failed(.belowMinimumStake) }
        staker.status = .active
        try state.setStaker(role, sender, staker, height: height)
        txEvents.append(.unjailed(staker: sender, role: role))
    }

    /// Pays back every unbonding entry maturing at this height (end-of-block).
    mutating func matureUnbondings() throws(ExecError) {
        for kv in try state.scan(StateKey.unbondingQueue(at: height)) {
            // Queue key: prefix(1) ‖ mature(8) ‖ role(5) ‖ key(32) ‖ id(8).
            let k = kv.key
            guard k.count == 54, let key = PublicKey(bytes: k[14..<46]), let role = StakeRole(keyBytes: Array(k[9..<14])) else {
                throw .fault(LedgerFault("malformed unbonding queue key \(k.hex)"))
            }
            let id = UInt64(bigEndianBytes: k[46..<54])
            let entryKey = StateKey.unbonding(role, key, id)
            state.delete(k)
            guard let entry = try state.record(entryKey, UnbondingEntry.self) else {
                throw .fault(LedgerFault("unbonding queue points at a missing entry \(entryKey.hex)"))
            }
            // A queued adjudication may still slash this staker: the entry is parked (its queue key is gone, the entry
            // kept) until the hold is released, which queues it again (`changeAdjudicationHolds`), so a backlog in the
            // queue cannot outlast the unbonding period (Specs/economics.md §4). Fourteenth review: the entry was
            // rewritten and queued for the next block in every block of the hold, work growing with the backlog.
            if try state.record(StateKey.adjudicationHold(role, key), UInt64.self) != nil { continue }
            state.delete(entryKey)
            do { try state.credit(key, entry.amount) } catch ExecError.failed { throw .fault(LedgerFault("unbonding credit overflow")) }
            systemEvents.append(.unbonded(staker: key, role: role, amount: entry.amount, entryId: id))
            if case .validator = role { try deleteValidatorIfEmpty(key) }
        }
    }

    /// Deletes a validator record that holds nothing any more: no stake, no unbonding entry, active (a jail or a
    /// tombstone stays on record), and in neither stored schedule (the last scheduled validator stays, a chain needs a
    /// leader). Fourteenth review: records of stake 0 were kept for ever, and every epoch change scans the validator
    /// records, so a key that bonded and unbonded the minimum added to that scan for good for two fees. Nothing is
    /// lost: evidence of an offence is refused after `unbondingBlocks`, which has passed since the last unbond, and
    /// there is nothing left to slash; bonding again starts a new record with a new RANDAO commitment.
    mutating func deleteValidatorIfEmpty(_ key: PublicKey) throws(ExecError) {
        guard let staker = try state.staker(.validator, key), staker.stake == .zero, staker.status == .active,
              try state.scan(StateKey.unbondings(.validator, key), limit: 1).isEmpty else { return }
        for which in [StateKey.Global.schedule, .nextSchedule] {
            if try state.record(StateKey.global(which), ValidatorSnapshot.self)?.holds(key) == true { return }
        }
        state.delete(StateKey.staker(.validator, key))
    }

    /// Slashes `bps` of the stake bonded at `offenceHeight`: first from unbonding entries created at or after
    /// that height (each capped at its balance, oldest first), then from bonded stake. Returns the amount
    /// taken; the caller decides what part is a bounty and burns the rest.
    /// With `lowerHeight` (conflicting finality votes, Specs/consensus.md §8) the base is the larger of the stakes bonded
    /// at the two heights, taken from unbonding entries created at or after the lower one: a surround vote cannot shed
    /// the stake its inner vote was counted with by unbonding between the two targets.
    mutating func slash(_ key: PublicKey, role: StakeRole, bps: BasisPoints, offenceHeight: UInt64, lowerHeight: UInt64? = nil,
                        kind: OffenceKind, offenceId: Hash32, into target: EventTarget) throws(ExecError) -> Amount {
        guard let staker = try state.staker(role, key) else { return .zero }
        let decoded = try unbondingEntries(role, key)
        // Stake bonded at a height: the end-of-block stake at that height plus what was moved into unbonding in that
        // very block (an unbond in the offence block does not escape).
        func bonded(at h: UInt64) throws(ExecError) -> Amount {
            var base = try state.stake(role, key, atEndOf: h)
            for d in decoded where d.entry.createdHeight == h { base = Amount(base.units &+ d.entry.amount.units) }
            return base
        }
        var base = try bonded(at: offenceHeight)
        var since = offenceHeight
        if let lowerHeight, lowerHeight < offenceHeight {
            base = max(base, try bonded(at: lowerHeight))
            since = lowerHeight
        }
        let taken = try takeStake(key, role: role, staker: staker, entries: decoded, due: base.basisPoints(bps), createdSince: since)
        if taken > .zero {
            emit(target, .slashed(staker: key, role: role, amount: taken, offence: kind, offenceId: offenceId))
            // A checker slashed below the pool's minimum leaves the registry, as one that unbonds below it does: it
            // can never be assigned again, and would otherwise hold a slot for good (Specs/verification.md §2).
            if case .checker(let pool) = role, let after = try state.staker(role, key) {
                try deregisterIfUnderbonded(key, pool: pool, stake: after.stake)
            }
        }
        return taken
    }

    /// Adds `delta` (±1) to the adjudication hold of a queued ticket's worker and of the checkers of its check
    /// record, if any: the stakers its verdict may slash. A count back at zero is deleted.
    mutating func changeAdjudicationHolds(_ ticketId: Hash32, _ ticket: Ticket, by delta: Int) throws(ExecError) {
        var holders = [(StakeRole.worker(pool: ticket.pool), ticket.worker)]
        if let check = try state.record(StateKey.ticketCheck(ticketId), SealedCheck.self) {
            holders += check.slots.map { (StakeRole.checker(pool: ticket.pool), $0.checker) }
        }
        for (role, key) in holders {
            let k = StateKey.adjudicationHold(role, key)
            let count = try state.record(k, UInt64.self) ?? 0
            let next = delta > 0 ? count &+ 1 : count &- 1
            guard delta > 0 || count > 0 else { throw .fault(LedgerFault("adjudication hold below zero at \(k.hex)")) }
            if next == 0 {
                state.delete(k)
                try requeueParkedUnbondings(role, key)
            } else {
                state.put(k, next)
            }
        }
    }

    /// A released hold (end-block step 6) queues the staker's parked entries, those that matured while it was held
    /// (`matureHeight ≤ height`), for the next block: at most `maxUnbondingEntries` per staker.
    mutating func requeueParkedUnbondings(_ role: StakeRole, _ key: PublicKey) throws(ExecError) {
        for (entryKey, entry) in try unbondingEntries(role, key) where entry.matureHeight <= height {
            guard entryKey.count == 46 else { throw .fault(LedgerFault("malformed unbonding entry key \(entryKey.hex)")) }
            let id = UInt64(bigEndianBytes: entryKey[38..<46])
            var moved = entry
            moved.matureHeight = height &+ 1
            state.put(entryKey, moved)
            state.putRaw(StateKey.unbondingQueue(moved.matureHeight, role, key, id), [])
        }
    }

    /// A staker's unbonding entries in entry-id order, decoded, with their keys.
    func unbondingEntries(_ role: StakeRole, _ key: PublicKey) throws(ExecError) -> [(key: [UInt8], entry: UnbondingEntry)] {
        var decoded = [(key: [UInt8], entry: UnbondingEntry)]()
        for kv in try state.scan(StateKey.unbondings(role, key)) {
            do { decoded.append((kv.key, try UnbondingEntry(canonicalEncoding: kv.value))) } catch {
                throw .fault(LedgerFault("corrupt unbonding entry at \(kv.key.hex)"))
            }
        }
        return decoded
    }

    /// Takes up to `due` from a staker: first from its unbonding entries created at or after `since` (entry-id order,
    /// each up to its amount; an emptied entry and its maturity key are deleted), then from its bonded stake (at most
    /// all of it); writes the staker record. Returns what was taken; the caller credits or burns it.
    mutating func takeStake(_ key: PublicKey, role: StakeRole, staker: Staker, entries decoded: [(key: [UInt8], entry: UnbondingEntry)],
                            due: Amount, createdSince since: UInt64) throws(ExecError) -> Amount {
        var staker = staker
        var remaining = due
        var taken = Amount.zero
        for d in decoded where d.entry.createdHeight >= since && remaining > .zero {
            let cut = min(remaining, d.entry.amount)
            var e = d.entry
            e.amount = Amount(e.amount.units - cut.units)
            remaining = Amount(remaining.units - cut.units)
            taken = Amount(taken.units + cut.units)
            if e.amount == .zero {
                state.delete(d.key)
                // Key: prefix(1) ‖ role(5) ‖ key(32) ‖ id(8).
                let id = UInt64(bigEndianBytes: d.key[38..<46])
                state.delete(StateKey.unbondingQueue(e.matureHeight, role, key, id))
            } else {
                state.put(d.key, e)
            }
        }
        let fromStake = min(remaining, staker.stake)
        staker.stake = Amount(staker.stake.units - fromStake.units)
        taken = Amount(taken.units + fromStake.units)
        try state.setStaker(role, key, staker, height: height)
        return taken
    }

    /// Jails a staker until `height + jailBlocks` (no effect on a tombstoned staker). A jailed validator stops
    /// leading at once: it leaves the current epoch's schedule.
    mutating func jail(_ key: PublicKey, role: StakeRole, into target: EventTarget) throws(ExecError) {
        guard var staker = try state.staker(role, key), staker.status != .tombstoned else { return }
        let until = height &+ params.jailBlocks
        staker.status = .jailed(until: until)
        try state.setStaker(role, key, staker, height: height)
        if case .validator = role { try dropFromSchedule(key) }
        emit(target, .jailed(staker: key, role: role, untilHeight: until))
    }

    /// Removes a tombstoned validator from every stored checkpoint set (Specs/consensus.md §8 **The finality set**),
    /// unless it is a set's last validator: its stake no longer counts towards the two thirds. Unlike a liveness jail
    /// this is safe on one branch alone: the offence is proven by the validator's own two signatures, so two
    /// conflicting justifications still need more than a third of the set's stake to be provably at fault, the
    /// tombstoned included.
    mutating func dropFromCheckpointSets(_ key: PublicKey) throws(ExecError) {
        for kv in try state.scan([StateKey.Prefix.checkpointSet.rawValue]) {
            var set: ValidatorSnapshot
            do { set = try ValidatorSnapshot(canonicalEncoding: kv.value) } catch {
                throw .fault(LedgerFault("corrupt checkpoint set \(kv.key.hex)"))
            }
            guard set.remove(key) else { continue }
            state.put(kv.key, set)
        }
    }

    /// Marks a validator removed in the stored schedule of the current epoch, so a later slot of the epoch drawn
    /// for it is drawn again among the others and no other slot moves (Specs/consensus.md §2), and withdraws its
    /// votes. The last scheduled validator stays: a chain needs a leader. Returns whether it left (and its votes were
    /// withdrawn).
    @discardableResult
    mutating func dropFromSchedule(_ key: PublicKey) throws(ExecError) -> Bool {
        guard var snapshot = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self),
              snapshot.remove(key) else { return false }
        state.put(StateKey.global(.schedule), snapshot)
        try withdrawVotes(of: key)
        return true
    }

    /// Marks a validator removed in the stored next set when its bonded stake fell below the stake the set holds for
    /// it (an unbond): the set's stakes stay those of the epoch's first block, so a partial unbond cannot reweigh the
    /// next schedule, it can only leave it, and its leaving moves no other validator's slots (Specs/consensus.md §2).
    /// Unlike the current schedule, the next set may lose its last member (the epoch change then falls back).
    mutating func dropFromNextSchedule(_ key: PublicKey, below bonded: Amount) throws(ExecError) {
        guard var next = try state.record(StateKey.global(.nextSchedule), ValidatorSnapshot.self),
              let i = next.entries.firstIndex(where: { $0.key == key && !$0.removed }),
              bonded < next.entries[i].stake || bonded < params.validatorMinStake else { return }
        next.entries[i].removed = true
        state.put(StateKey.global(.nextSchedule), next)
    }

    /// Takes a validator that left the schedule, or was tombstoned, out of every tally it was counted in, by the weight
    /// each vote was counted with: the tallies are compared with a total that no longer holds its stake, so its votes
    /// no longer count either (else a punished validator's vote plus less than two thirds of the remaining stake would
    /// justify). The vote records go with them, so a second withdrawal (dropped, then tombstoned) takes nothing twice;
    /// the validator can vote for the target again only once a schedule and the finality set hold it again, and then
    /// its vote counts once, with the weight it has then.
    ///
    /// Every vote record has a tally at its target, so the tallies (one per target with votes, at most the live
    /// checkpoints) are scanned and this validator's record read at each: not every validator's votes (fourteenth
    /// review: one leaver visited all of them, and a block of leavers the square of the set).
    mutating func withdrawVotes(of key: PublicKey) throws(ExecError) {
        for kv in try state.scan([StateKey.Prefix.voteTally.rawValue]) {
            // Key: prefix(1) ‖ target height BE(8).
            guard kv.key.count == 9 else { throw .fault(LedgerFault("corrupt vote tally key \(kv.key.hex)")) }
            let target = UInt64(bigEndianBytes: kv.key[1..<9])
            let voteKey = StateKey.finalityVote(target, key)
            guard let raw = try state.raw(voteKey) else { continue }
            let weight: UInt64
            do { weight = try UInt64(canonicalEncoding: raw) } catch { throw .fault(LedgerFault("corrupt finality vote record \(voteKey.hex)")) }
            state.delete(voteKey)
            var tally: VoteTally
            do { tally = try VoteTally(canonicalEncoding: kv.value) } catch { throw .fault(LedgerFault("corrupt vote tally \(kv.key.hex)")) }
            tally.stake = Amount(tally.stake.units - min(tally.stake.units, weight))
            tally.votes = tally.votes > 0 ? tally.votes - 1 : 0
            state.put(StateKey.voteTally(target), tally)
        }
    }

    /// The height a block of `slot` had, or would have had, on this chain: one above the last block of an
    /// earlier slot (a binary search over the proposer records, whose slots increase with height). The
    /// offender signs the headers but not this height, so it cannot choose the stake its slash is taken from.
    func height(ofSlot slot: UInt64) throws(ExecError) -> UInt64 {
        // Invariant: slot(lo) < slot ≤ slot(hi); slot(0) = 0 (genesis) and slot(height) = context.slot. Records below
        // `height − R` are pruned (R = proposerRecordRetention > unbondingBlocks); evidence is at most unbondingBlocks
        // slots old and slots rise at least one per height, so slot(height − R) ≤ context.slot − R < slot.
        let retention = params.proposerRecordRetention
        var lo: UInt64 = height > retention ? height - retention : 0, hi = height
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            guard let record = try state.raw(StateKey.proposer(mid)), record.count == 40 else {
                throw .fault(LedgerFault("missing or malformed proposer record at height \(mid)"))
            }
            // The record's slot is a canonical (little-endian) u64.
            var reader = CanonicalReader(Array(record[32..<40]))
            guard let recordSlot = try? reader.u64("slot") else { throw .fault(LedgerFault("malformed proposer record at height \(mid)")) }
            if recordSlot < slot { lo = mid } else { hi = mid }
        }
        return lo + 1
    }

    /// Equivocation evidence: slash and tombstone the proposer, once per (proposer, slot). The offence height is
    /// the slot's height on this chain (`height(ofSlot:)`), never a height written in the headers.
    mutating func doubleSign(_ a: [UInt8], _ b: [UInt8]) throws(ExecError) {
        guard let eq = ledger.equivocationVerifier.verify(headerA: a, headerB: b, chainId: ledger.chainId),
              eq.slot >= 1, eq.slot <= context.slot else { throw .failed(.invalidEvidence) }
        // Heights advance at most one per slot, so within `unbondingBlocks` slots every unbonding entry created
        // at or after the offence is still slashable.
        guard context.slot - eq.slot <= params.unbondingBlocks else { throw .failed(.evidenceTooOld) }
        let offence = LedgerIds.equivocationOffence(offender: eq.offender, slot: eq.slot)
        guard try !state.exists(StateKey.offence(offence)) else { throw .failed(.evidenceAlreadyProcessed) }
        guard try state.staker(.validator, eq.offender) != nil else { throw .failed(.unknownStaker) }
        // Refused as too old from slot `eq.slot + unbondingBlocks + 1` on, so from that height on (heights never pass slots).
        let (last, overflow) = eq.slot.addingReportingOverflow(params.unbondingBlocks)
        try punishValidator(eq.offender, offence: offence, offenceHeight: try height(ofSlot: eq.slot), kind: .equivocation,
                            lastAdmissibleHeight: overflow ? nil : last)
    }

    /// A validator's proven consensus offence (equivocation, conflicting votes): records the offence, slashes
    /// `equivocationSlashBps` of the stake bonded at `offenceHeight` (burned), tombstones it and drops it from
    /// the schedule. The offence record is deleted at the end of `lastAdmissibleHeight`, the last height at which the
    /// same evidence is not yet refused as too old (kept when that is beyond `UInt64`).
    mutating func punishValidator(_ key: PublicKey, offence: Hash32, offenceHeight: UInt64, lowerHeight: UInt64? = nil,
                                  kind: OffenceKind, lastAdmissibleHeight: UInt64?) throws(ExecError) {
        state.put(StateKey.offence(offence), height)
        if let last = lastAdmissibleHeight { schedulePrune(StateKey.offence(offence), at: max(height, last)) }
        let taken = try slash(key, role: .validator, bps: params.equivocationSlashBps, offenceHeight: offenceHeight,
                              lowerHeight: lowerHeight, kind: kind, offenceId: offence, into: .transaction)
        try state.burn(taken)
        guard var staker = try state.staker(.validator, key) else { throw .fault(LedgerFault("punished validator without a staker record")) }
        staker.status = .tombstoned
        try state.setStaker(.validator, key, staker, height: height)
        let withdrawn = try dropFromSchedule(key)
        try dropFromCheckpointSets(key)
        // Also when it was not in the current schedule: a vote kept across an epoch change counts against the finality
        // set, which it has just left (thirteenth review: its weight stayed in the tally).
        if !withdrawn { try withdrawVotes(of: key) }
        txEvents.append(.tombstoned(staker: key))
    }

    /// A skipped own slot costs `missedSlotSlashBps` of the leader's bonded stake, burned: withholding a block
    /// (to drop one's reveal from the beacon) is never free.
    mutating func slashMissedSlot(_ leader: PublicKey, slot: UInt64) throws(ExecError) {
        guard params.missedSlotSlashBps > 0, var staker = try state.staker(.validator, leader) else { return }
        let cut = staker.stake.basisPoints(params.missedSlotSlashBps)
        guard cut > .zero else { return }
        staker.stake = Amount(staker.stake.units - cut.units)
        try state.setStaker(.validator, leader, staker, height: height)
        try state.burn(cut)
        systemEvents.append(.slashed(staker: leader, role: .validator, amount: cut, offence: .missedSlot,
                                     offenceId: LedgerIds.missedSlotOffence(leader: leader, slot: slot)))
    }
}

extension StakeRole {
    /// Inverse of `keyBytes`.
    init?(keyBytes b: [UInt8]) {
        guard b.count == 5 else { return nil }
        switch b[0] {
        case 0 where b[1...].allSatisfy({ $0 == 0 }): self = .validator
        case 1: self = .worker(pool: UInt32(bigEndianBytes: b[1..<5]))
        case 2: self = .checker(pool: UInt32(bigEndianBytes: b[1..<5]))
        default: return nil
        }
    }
}


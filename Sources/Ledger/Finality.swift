import Primitives

/// Counted stake towards one target checkpoint (with the justified checkpoint as source).
public struct VoteTally: Hashable, Sendable {
    public var stake: Amount
    public var votes: UInt32
    public init(stake: Amount = .zero, votes: UInt32 = 0) { self.stake = stake; self.votes = votes }
}

extension VoteTally: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(stake); w.u32(votes) }
    public init(from r: inout CanonicalReader) throws(CodecError) { stake = try r.decode(Amount.self); votes = try r.u32("votes") }
}

extension Ledger {
    /// The justified and finalized checkpoints of a state (genesis before block 1 is applied: height 0, zero
    /// hash).
    public static func finality(of state: LedgerState) throws -> (justified: Checkpoint, finalized: Checkpoint) {
        let none = Checkpoint(height: 0, hash: .zero)
        return (try state.record(StateKey.global(.justified), Checkpoint.self) ?? none,
                try state.record(StateKey.global(.finalized), Checkpoint.self) ?? none)
    }

    /// Counted votes towards a target height (with the justified checkpoint as source).
    public static func voteTally(of state: LedgerState, target: UInt64) throws -> VoteTally? {
        try state.record(StateKey.voteTally(target), VoteTally.self)
    }

    /// Every stored tally, by target height ascending: one scan of the tallies that exist, rather than a read per
    /// checkpoint between the justified one and the tip (a stall makes that range long; epoch changes and
    /// justifications delete tallies, so few exist).
    public static func voteTallies(of state: LedgerState) throws -> [(target: UInt64, tally: VoteTally)] {
        try state.scan([StateKey.Prefix.voteTally.rawValue]).map { kv in
            guard kv.key.count == 9 else { throw LedgerFault("malformed tally key \(kv.key.hex)") }
            return (UInt64(bigEndianBytes: kv.key[1...]), try VoteTally(canonicalEncoding: kv.value))
        }
    }

    /// The validator set the next block's finality votes are counted against (Specs/consensus.md §8): the set
    /// stored in the finalized checkpoint's state, or the stored schedule once the finalized checkpoint is more than
    /// `unbondingBlocks` below the next height.
    public func finalitySet(of state: LedgerState) throws -> ValidatorSnapshot? {
        let (height, _) = try Ledger.tip(of: state)
        let finalized = try Ledger.finality(of: state).finalized
        guard let schedule = try Ledger.currentSnapshot(of: state) else { return nil }
        // Before any block above it (genesis alone), the next block records the finalized checkpoint's set from this
        // schedule.
        guard finalized.height < height else { return schedule }
        return try Self.finalitySet(in: state, countingAt: height &+ 1, finalized: finalized.height, schedule: schedule, params: params)
    }

    /// The set votes counted in the block at `height` weigh against (Specs/consensus.md §8, tenth review): the finalized
    /// checkpoint's set. Counting against each branch's own schedule let two sides of a partition each jail the other's
    /// validators for missed slots, hold all of their own schedule, and finalize conflicting checkpoints with nobody
    /// slashable. Once finality has stalled for more than `unbondingBlocks`, the finalized set's stake may all have been
    /// withdrawn, so it protects nothing any more and the stored schedule is used, as Ethereum's inactivity leak does.
    static func finalitySet(in state: LedgerState, countingAt height: UInt64, finalized: UInt64, schedule: ValidatorSnapshot,
                            params: LedgerParams) throws(ExecError) -> ValidatorSnapshot {
        guard height - finalized <= params.unbondingBlocks else { return schedule }
        guard let set = try state.record(StateKey.checkpointSet(finalized), ValidatorSnapshot.self) else {
            throw .fault(LedgerFault("no validator set recorded for the finalized checkpoint \(finalized)"))
        }
        return set
    }
}

/// The Casper-FFG finality gadget's state transition (Specs/consensus.md §8): checkpoints recorded from parent
/// hashes, votes counted by stake, justification and finalization, and slashing of conflicting votes.
extension Execution {
    /// Begin-block: the first block above a checkpoint height records the checkpoint's hash; block 1 makes
    /// genesis the justified and finalized checkpoint.
    mutating func recordCheckpoint() throws(ExecError) {
        let parent = height - 1
        guard parent % params.checkpointBlocks == 0 else { return }
        state.put(StateKey.checkpoint(parent), context.parentHash)
        if parent == 0 {
            let genesis = Checkpoint(height: 0, hash: context.parentHash)
            state.put(StateKey.global(.justified), genesis)
            state.put(StateKey.global(.finalized), genesis)
        }
    }

    /// Begin-block, first of the checkpoint steps: the checkpoint `unbondingBlocks + 1` below this block ages out, its
    /// hash and its validator set deleted (fourteenth review: only a finalization pruned them, so a stall grew the
    /// state by a validator set per checkpoint, at no fee). Nothing reads them again: a vote may not target a
    /// checkpoint more than `unbondingBlocks` below its block, and a finalized checkpoint that old counts votes against
    /// the stored schedule, not its set. So a state holds at most `⌊unbondingBlocks / checkpointBlocks⌋ + 1` of each,
    /// which also bounds a tombstoning's rewrite of the sets and a finalization's deletions (Specs/consensus.md §8).
    mutating func pruneAgedCheckpoint() {
        guard height > params.unbondingBlocks else { return }
        let aged = height - params.unbondingBlocks - 1
        guard aged % params.checkpointBlocks == 0 else { return }
        state.delete(StateKey.checkpoint(aged))
        state.delete(StateKey.checkpointSet(aged))
    }

    /// The lowest checkpoint height whose hash and set a block at `height` may still hold (`pruneAgedCheckpoint`).
    var oldestLiveCheckpoint: UInt64 {
        guard height > params.unbondingBlocks else { return 0 }
        let oldest = height - params.unbondingBlocks
        let offset = oldest % params.checkpointBlocks
        return offset == 0 ? oldest : oldest - offset &+ params.checkpointBlocks
    }

    /// Begin-block, before a new epoch's snapshot replaces the stored one: the first block above a checkpoint height
    /// keeps the validator set stored in the checkpoint block's state. Every branch that contains the checkpoint keeps
    /// the same set, so once the checkpoint is finalized, every branch above it counts justification against one set
    /// (Specs/consensus.md §8).
    mutating func recordCheckpointSet() throws(ExecError) {
        let parent = height - 1
        guard parent % params.checkpointBlocks == 0, let set = try state.raw(StateKey.global(.schedule)) else { return }
        state.putRaw(StateKey.checkpointSet(parent), set)
    }

    func justified() throws(ExecError) -> Checkpoint {
        try state.record(StateKey.global(.justified), Checkpoint.self) ?? Checkpoint(height: 0, hash: .zero)
    }

    func finalized() throws(ExecError) -> Checkpoint {
        try state.record(StateKey.global(.finalized), Checkpoint.self) ?? Checkpoint(height: 0, hash: .zero)
    }

    /// Drops every vote record and tally of a target below `below` (all of them when nil): a new justified checkpoint
    /// makes them count from an old source, a new snapshot past the stall limit changes the set they were counted
    /// against.
    mutating func clearVotes(below: UInt64? = nil) throws(ExecError) {
        for prefix in [StateKey.Prefix.finalityVote, StateKey.Prefix.voteTally] {
            for kv in try state.scan([prefix.rawValue]) {
                // Key: prefix(1) ‖ target height BE(8) [‖ validator(32)].
                guard let below else { state.delete(kv.key); continue }
                guard kv.key.count >= 9 else { throw .fault(LedgerFault("corrupt finality vote key \(kv.key.hex)")) }
                if UInt64(bigEndianBytes: kv.key[1..<9]) < below { state.delete(kv.key) }
            }
        }
    }

    /// Begin-block (Specs/consensus.md §8 Counting): votes go when the set they were counted against is replaced.
    /// Within the stall limit they count against the finalized checkpoint's set, which an epoch change leaves alone, so
    /// an epoch change keeps the votes for the checkpoint being voted on (deleting them lost a checkpoint whose votes
    /// straddled the boundary: slashing protection forbids signing it again) and drops older targets. Past the limit
    /// they count against the stored schedule: the first block past it (the set switches from the finalized
    /// checkpoint's, and a kept vote's validator may be missing from the schedule: thirteenth review) and every epoch
    /// change there (the schedule is replaced) delete every vote.
    mutating func clearVotesWhoseSetChanged(epochChanged: Bool) throws(ExecError) {
        let sinceFinalized = height &- (try finalized().height)
        if sinceFinalized > params.unbondingBlocks {
            if epochChanged || sinceFinalized == params.unbondingBlocks &+ 1 { try clearVotes() }
        } else if epochChanged {
            let latest = height >= 2 ? (height - 2) / params.checkpointBlocks * params.checkpointBlocks : 0
            try clearVotes(below: latest)
        }
    }

    /// `finalityVotes`: every signature must be valid (else the transaction fails); each vote then counts, or is
    /// skipped without effect, by the rules of Specs/consensus.md §8.
    mutating func countVotes(_ votes: [FinalityVote]) throws(ExecError) {
        guard votes.count <= params.maxVotesPerTransaction else { throw .failed(.tooManyVotes) }
        for v in votes where !v.hasValidSignature(chainId: ledger.chainId) { throw .failed(.invalidVoteSignature) }
        guard let snapshot = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self) else { return }
        // Read again only when a vote before finalized a checkpoint (decoding the set per vote is a cost per vote).
        var cached: (finalized: UInt64, set: ValidatorSnapshot)?
        for v in votes {
            let source = try justified()
            let finalizedHeight = try finalized().height
            let set: ValidatorSnapshot
            if let c = cached, c.finalized == finalizedHeight {
                set = c.set
            } else {
                set = try Ledger.finalitySet(in: state, countingAt: height, finalized: finalizedHeight, schedule: snapshot, params: params)
                cached = (finalizedHeight, set)
            }
            guard let scheduled = snapshot.stake(of: v.validator),
                  let counted = set.stake(of: v.validator), v.source == source,
                  v.target.height > source.height, v.target.height % params.checkpointBlocks == 0, v.target.height < height,
                  height - v.target.height <= params.unbondingBlocks,
                  try state.record(StateKey.checkpoint(v.target.height), Hash32.self) == v.target.hash,
                  try !state.exists(StateKey.finalityVote(v.target.height, v.validator)) else { continue }
            // A vote weighs what its validator still has bonded and had bonded at the vote's target, at most its
            // snapshot stake: a conflicting vote's slash is measured at the target and reaches only unbonding entries
            // created at or after it, so stake moved into unbonding since the snapshot, or bonded only after the
            // target, must not help finalize either (Specs/consensus.md §8; the target term: eighth review). The record
            // keeps the weight, which a withdrawal takes back out of the tally.
            let bonded = try state.staker(.validator, v.validator)?.stake ?? .zero
            let atTarget = try state.stake(.validator, v.validator, atEndOf: v.target.height)
            let weight = min(scheduled, counted, bonded, atTarget)
            state.put(StateKey.finalityVote(v.target.height, v.validator), weight.units)
            var tally = try state.record(StateKey.voteTally(v.target.height), VoteTally.self) ?? VoteTally()
            tally.stake = Amount(tally.stake.units &+ weight.units)
            tally.votes &+= 1
            state.put(StateKey.voteTally(v.target.height), tally)
            txEvents.append(.voteCounted(validator: v.validator, targetHeight: v.target.height, stake: weight))
            // More than two thirds of the finality set's stake (compared without overflow: stakes sum below 2⁶⁴).
            guard tally.stake.units.multipliedFullWidth(by: 3) > set.totalStake.multipliedFullWidth(by: 2) else { continue }
            try clearVotes()
            state.put(StateKey.global(.justified), v.target)
            txEvents.append(.checkpointJustified(height: v.target.height, hash: v.target.hash))
            let previous = try finalized()
            if v.target.height == source.height &+ params.checkpointBlocks, source.height > previous.height {
                state.put(StateKey.global(.finalized), source)
                txEvents.append(.checkpointFinalized(height: source.height, hash: source.hash))
                // Checkpoints below the finalized one can no longer be voted for; those aged out are gone already.
                var h = max(previous.height, oldestLiveCheckpoint)
                while h < source.height {
                    state.delete(StateKey.checkpoint(h))
                    state.delete(StateKey.checkpointSet(h))
                    h &+= params.checkpointBlocks
                }
            }
        }
    }

    /// `voteEvidence`: two conflicting votes of one validator (double or surround). Slashed like equivocation,
    /// once per pair, on the larger of the stakes bonded at the two target heights (capped at this height), reached
    /// from the lower one on, and tombstoned. The age limit runs from the higher target: a surround vote exists only
    /// once its later vote is signed, so an old inner vote cannot age the evidence out.
    mutating func voteEvidence(_ a: FinalityVote, _ b: FinalityVote) throws(ExecError) {
        guard a.conflicts(with: b), a.hasValidSignature(chainId: ledger.chainId), b.hasValidSignature(chainId: ledger.chainId) else {
            throw .failed(.invalidEvidence)
        }
        let offence = LedgerIds.voteOffence(validator: a.validator, a.signingHash(chainId: ledger.chainId), b.signingHash(chainId: ledger.chainId))
        guard try !state.exists(StateKey.offence(offence)) else { throw .failed(.evidenceAlreadyProcessed) }
        let offenceHeight = min(height, max(a.target.height, b.target.height))
        let lowerHeight = min(height, a.target.height, b.target.height)
        guard height - offenceHeight <= params.unbondingBlocks else { throw .failed(.evidenceTooOld) }
        guard try state.staker(.validator, a.validator) != nil else { throw .failed(.unknownStaker) }
        // Refused as too old once the height passes the higher target by `unbondingBlocks`, whenever it is punished.
        let (last, overflow) = max(a.target.height, b.target.height).addingReportingOverflow(params.unbondingBlocks)
        try punishValidator(a.validator, offence: offence, offenceHeight: offenceHeight, lowerHeight: lowerHeight, kind: .finalityVote,
                            lastAdmissibleHeight: overflow ? nil : last)
    }
}

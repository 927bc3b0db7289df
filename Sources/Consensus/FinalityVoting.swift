import Ledger
import Primitives

/// What a validator has signed, so that it never signs a slashable pair (Specs/consensus.md §8): no two votes
/// for one target height, no vote whose span surrounds or is surrounded by an earlier one. A value type; the
/// node persists it (`FinalityVoterService`) before a vote leaves the process.
public struct SlashingProtection: Codable, Sendable, Equatable {
    public struct Signed: Codable, Sendable, Equatable {
        public var sourceHeight: UInt64
        public var targetHeight: UInt64
        /// The checkpoint hashes (hex) of the vote signed: with them the identical vote can be sent again (`isIdentical`).
        /// Absent in records written before they were kept: such a vote is never sent again.
        public var sourceHash: String?
        public var targetHash: String?
        public init(sourceHeight: UInt64, targetHeight: UInt64, sourceHash: String? = nil, targetHash: String? = nil) {
            self.sourceHeight = sourceHeight; self.targetHeight = targetHeight; self.sourceHash = sourceHash; self.targetHash = targetHash
        }
    }

    /// Votes signed, oldest first.
    public private(set) var signed: [Signed] = []
    /// Votes kept at most: older ones cannot conflict with an honest new vote, whose source is at least the
    /// finalized checkpoint (above every old target once the chain moved on).
    public static let retained = 4096

    public init() {}

    /// Whether signing `vote` keeps every pair of signed votes unslashable. A vote for a target already voted is
    /// refused even when identical (it is not new: `isIdentical` says whether it may be sent again).
    public func permits(_ vote: FinalityVote) -> Bool {
        let s = vote.source.height, t = vote.target.height
        guard s < t else { return false }
        return !signed.contains { old in
            old.targetHeight == t || (old.sourceHeight < s && t < old.targetHeight) || (s < old.sourceHeight && old.targetHeight < t)
        }
    }

    /// Whether exactly `vote` (the same source and target checkpoints) was signed already. Sending it again is safe: the
    /// two copies sign one message, which conflicts with nothing it did not already conflict with (a double vote needs two
    /// different targets at one height, `FinalityVote.conflicts`), and the ledger counts one vote per validator and target
    /// (record 31). So a vote that never reached a block (a restart, an expired or refused submission) is not lost
    /// (tenth review, lifecycle F6).
    public func isIdentical(toSigned vote: FinalityVote) -> Bool {
        let (sh, th) = (vote.source.hash.hex, vote.target.hash.hex)
        return signed.contains {
            $0.sourceHeight == vote.source.height && $0.targetHeight == vote.target.height && $0.sourceHash == sh && $0.targetHash == th
        }
    }

    /// Records a vote about to be signed.
    public mutating func record(_ vote: FinalityVote) {
        signed.append(Signed(sourceHeight: vote.source.height, targetHeight: vote.target.height,
                             sourceHash: vote.source.hash.hex, targetHash: vote.target.hash.hex))
        if signed.count > Self.retained { signed.removeFirst(signed.count - Self.retained) }
    }
}

/// Conflicting finality votes seen in transactions (mempool or blocks), per validator: the pairs that prove a
/// double or surround vote (Specs/consensus.md §8). A value type owned by the chain service.
///
/// Bounded (tenth review, consensus F2): at most `perValidator` votes per key (the oldest evicted), and at most one
/// conflicting pair per offender, kept until the chain service forgets the offender (punished, or no longer
/// watched). A key with a pair on file records no more votes: one pair is all the evidence needs, and a flood of
/// conflicting votes by one key (k votes make k(k-1)/2 pairs) then costs neither memory nor signature checks.
struct VoteWatch {
    private var byValidator: [PublicKey: [FinalityVote]] = [:]
    /// One conflicting pair per offender, until it is forgotten.
    private(set) var evidence: [PublicKey: (FinalityVote, FinalityVote)] = [:]
    static let perValidator = 64

    /// Whether `vote` was recorded already (its signature was checked then: no need to check it again).
    func contains(_ vote: FinalityVote) -> Bool { byValidator[vote.validator]?.contains(vote) ?? false }

    /// Whether a conflicting pair of `validator` is on file (its further votes need not be examined).
    func hasEvidence(against validator: PublicKey) -> Bool { evidence[validator] != nil }

    /// Whether `vote` would form a double or surround pair with a recorded vote (before its signature is checked).
    func wouldConflict(_ vote: FinalityVote) -> Bool { byValidator[vote.validator]?.contains { $0.conflicts(with: vote) } ?? false }

    /// The keys with recorded votes or a pair on file (for pruning).
    var keys: Set<PublicKey> { Set(byValidator.keys).union(evidence.keys) }

    /// Records validly signed votes; returns the first conflicting pair found of each offender that had none on file.
    mutating func record(_ votes: [FinalityVote]) -> [(FinalityVote, FinalityVote)] {
        var found = [(FinalityVote, FinalityVote)]()
        for v in votes where evidence[v.validator] == nil {
            var known = byValidator[v.validator] ?? []
            guard !known.contains(v) else { continue }
            if let old = known.first(where: { $0.conflicts(with: v) }) {
                evidence[v.validator] = (old, v)
                found.append((old, v))
                // The pair is the evidence: the offender's other votes are no longer needed.
                byValidator[v.validator] = nil
                continue
            }
            known.append(v)
            if known.count > Self.perValidator { known.removeFirst(known.count - Self.perValidator) }
            byValidator[v.validator] = known
        }
        return found
    }

    /// Drops everything recorded of `validator` (punished, or no longer a key whose votes are watched).
    mutating func forget(_ validator: PublicKey) {
        byValidator[validator] = nil
        evidence[validator] = nil
    }
}

extension ChainEngine {
    /// The vote `validator` should sign now on `engine`'s canonical chain (Specs/consensus.md §8), or nil: it must
    /// be scheduled in the tip's epoch and in the finality set, and the highest checkpoint recorded on the tip (below the tip's height)
    /// must be above the justified one. Source: the tip state's justified checkpoint.
    public static func finalityVoteCandidate(for validator: PublicKey, engine: ChainEngine) throws -> FinalityVote? {
        let state = engine.tipState
        guard let snapshot = try Ledger.currentSnapshot(of: state), snapshot.holds(validator) else {
            return nil
        }
        // A vote of a validator outside the finality set (bonded after the finalized checkpoint) would be skipped, and
        // the voter would send it again every block while it is due, paying a fee each time.
        guard let set = try engine.ledger.finalitySet(of: state), set.holds(validator) else {
            return nil
        }
        let justified = try Ledger.finality(of: state).justified
        let interval = engine.genesis.ledger.checkpointBlocks, tip = engine.tipHeight
        guard tip >= 1 else { return nil }
        let target = (tip - 1) / interval * interval
        guard target > justified.height else { return nil }
        let hash = target == 0 ? engine.genesisHash : try engine.store.current.canonicalHash(at: target)
        guard let hash else { return nil }
        return FinalityVote(validator: validator, source: justified, target: Checkpoint(height: target, hash: hash))
    }
}

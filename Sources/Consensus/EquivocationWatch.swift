import Ledger
import Primitives

/// The first header seen for each (proposer, slot) within the evidence horizon, and the equivocations found:
/// a second, different header signed by the same proposer for the same slot. A value type owned by the chain
/// service; callers check signatures and the chain id before recording, and say how a new header is admitted.
///
/// No key can push out another key's entry (eighth review, F2): entries leave only when their slot falls behind the
/// local clock's slot by more than the horizon. Headers of a slot's scheduled leader (at most one key per slot and
/// schedule) are always kept; any other validator's are kept only up to a small number per key and in all, and past
/// those bounds new ones are not recorded rather than old ones evicted.
struct EquivocationWatch {
    /// How the caller admits a header not yet known for its (proposer, slot).
    enum Admission {
        /// Its proposer leads its slot under the schedule computed from the tip.
        case scheduled
        /// Its proposer is an active validator that the tip's schedule does not show leading the slot.
        case unscheduled
    }

    private struct SlotKey: Hashable {
        let proposer: PublicKey
        let slot: UInt64
    }

    private struct Entry {
        let hash: Hash32
        let encoded: [UInt8]
        let scheduled: Bool
    }

    private var first: [SlotKey: Entry] = [:]
    private var unscheduledByProposer: [PublicKey: Int] = [:]
    private var unscheduledCount = 0
    private var insertions = 0
    /// Equivocations found, oldest first (at most `maxDetected` kept).
    private(set) var detected: [Equivocation] = []
    static let maxDetected = 256
    /// Unscheduled entries kept at most in all (a key needs `validatorMinStake` bonded for each of its share).
    static let maxEntries = 16_384
    /// Unscheduled entries kept at most per proposer: an honest validator's headers are scheduled except for slots
    /// outside the tip's epoch and the next (a lagging tip, an old branch), which need far fewer.
    static let maxUnscheduledPerProposer = 16
    /// Scheduled entries kept at most (a memory bound only: the horizon holds one per slot and tip schedule).
    static let maxScheduled = 4 * maxEntries

    /// Whether a header of this proposer for this slot was recorded.
    func knows(proposer: PublicKey, slot: UInt64) -> Bool { first[SlotKey(proposer: proposer, slot: slot)] != nil }

    /// Records `header`; returns the encoding of the first, different header of the same proposer and slot when
    /// this one equivocates (once per proposer and slot), nil otherwise. A header not known yet is kept when
    /// `admission` is not nil, its slot is within `keepSlots` of `clockSlot` (older evidence is worthless) and the
    /// bounds of its kind allow.
    mutating func record(_ header: SignedHeader, admission: Admission?, clockSlot: UInt64, keepSlots: UInt64) -> [UInt8]? {
        let key = SlotKey(proposer: header.header.proposer, slot: header.header.slot)
        let hash = header.hash
        if let seen = first[key] {
            guard seen.hash != hash, !detected.contains(Equivocation(offender: key.proposer, slot: key.slot)) else { return nil }
            detected.append(Equivocation(offender: key.proposer, slot: key.slot))
            if detected.count > Self.maxDetected { detected.removeFirst(detected.count - Self.maxDetected) }
            return seen.encoded
        }
        let cutoff = clockSlot > keepSlots ? clockSlot - keepSlots : 0
        guard let admission, key.slot >= cutoff else { return nil }
        insertions += 1
        if insertions % 1024 == 0 || unscheduledCount >= Self.maxEntries || first.count - unscheduledCount >= Self.maxScheduled {
            prune(below: cutoff)
        }
        switch admission {
        case .scheduled:
            guard first.count - unscheduledCount < Self.maxScheduled else { return nil }
        case .unscheduled:
            guard unscheduledCount < Self.maxEntries, unscheduledByProposer[key.proposer, default: 0] < Self.maxUnscheduledPerProposer else {
                return nil
            }
            unscheduledCount += 1
            unscheduledByProposer[key.proposer, default: 0] += 1
        }
        first[key] = Entry(hash: hash, encoded: header.canonicalEncoding, scheduled: admission == .scheduled)
        return nil
    }

    /// Drops the entries of slots below `cutoff` (the local clock's slot minus the horizon).
    private mutating func prune(below cutoff: UInt64) {
        first = first.filter { $0.key.slot >= cutoff }
        unscheduledByProposer = [:]
        for (key, entry) in first where !entry.scheduled { unscheduledByProposer[key.proposer, default: 0] += 1 }
        unscheduledCount = unscheduledByProposer.values.reduce(0, +)
    }
}

import Ledger
import Primitives

/// The first header seen for each (proposer, slot) in a window of recent slots, and the equivocations found:
/// a second, different header signed by the same proposer for the same slot. A value type owned by the chain
/// service; callers check signatures and the chain id before recording.
struct EquivocationWatch {
    private struct SlotKey: Hashable {
        let proposer: PublicKey
        let slot: UInt64
    }

    private var first: [SlotKey: (hash: Hash32, encoded: [UInt8])] = [:]
    private var highestSlot: UInt64 = 0
    /// Equivocations found, oldest first (at most `maxDetected` kept).
    private(set) var detected: [Equivocation] = []
    static let maxDetected = 256
    /// Entries kept at most; older slots are dropped first when it is exceeded.
    static let maxEntries = 16_384

    /// Records `header`; returns the encoding of the first, different header of the same proposer and slot when
    /// this one equivocates (once per proposer and slot), nil otherwise.
    mutating func record(_ header: SignedHeader, keepSlots: UInt64) -> [UInt8]? {
        let key = SlotKey(proposer: header.header.proposer, slot: header.header.slot)
        let hash = header.hash
        if let seen = first[key] {
            guard seen.hash != hash, !detected.contains(Equivocation(offender: key.proposer, slot: key.slot)) else { return nil }
            detected.append(Equivocation(offender: key.proposer, slot: key.slot))
            if detected.count > Self.maxDetected { detected.removeFirst(detected.count - Self.maxDetected) }
            return seen.encoded
        }
        first[key] = (hash, header.canonicalEncoding)
        if key.slot > highestSlot { highestSlot = key.slot }
        // Evidence older than the unbonding period is worthless; so is remembering it.
        if first.count > Self.maxEntries || first.count % 1024 == 0 {
            let cutoff = highestSlot > keepSlots ? highestSlot - keepSlots : 0
            first = first.filter { $0.key.slot >= cutoff }
            if first.count > Self.maxEntries {
                let keep = first.keys.sorted { $0.slot > $1.slot }.prefix(Self.maxEntries / 2)
                first = Dictionary(uniqueKeysWithValues: keep.map { ($0, first[$0]!) })
            }
        }
        return nil
    }
}

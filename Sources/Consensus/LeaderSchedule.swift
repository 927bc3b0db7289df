import Ledger
import Primitives

/// Leader election (Specs/consensus.md section 2): one leader per slot, chosen with probability proportional
/// to stake from the epoch snapshot's seed.
public enum LeaderSchedule {
    /// How many draws a slot makes before its last draw runs over the validators still in the set only.
    public static let maxDraws: UInt32 = 64

    /// The leader of `slot` under `snapshot` (Specs/consensus.md §2 rule 2): draw `a = 0, 1, …` takes
    /// `r = H_leader(seed ‖ slot u64)` for `a = 0` and `H_leader(seed ‖ slot u64 ‖ a u32)` after, `x` its first 8 bytes
    /// big-endian, `target = ⌊x × total / 2⁶⁴⌋` with `total` the stake of every entry, removed ones included, and the
    /// first entry (key order) whose cumulative stake exceeds `target`; a removed entry draws again. So removing a
    /// validator moves only the slots drawn for it. After `maxDraws` removed entries the draw `maxDraws` runs over the
    /// validators still in the set alone (with a third of the stake removed, a slot gets there with probability 3⁻⁶⁴).
    public static func leader(of slot: UInt64, in snapshot: ValidatorSnapshot) -> PublicKey? {
        guard let total = stakeSum(snapshot.entries, includingRemoved: true), total > 0,
              let remaining = stakeSum(snapshot.entries, includingRemoved: false), remaining > 0 else { return nil }
        for draw in 0..<maxDraws {
            guard let entry = pick(snapshot.entries, total: total, x: point(slot, draw: draw, seed: snapshot.seed),
                                   includingRemoved: true) else { return nil }
            if !entry.removed { return entry.key }
        }
        return pick(snapshot.entries, total: remaining, x: point(slot, draw: maxDraws, seed: snapshot.seed), includingRemoved: false)?.key
    }

    private static func point(_ slot: UInt64, draw: UInt32, seed: Hash32) -> UInt64 {
        var w = CanonicalWriter(capacity: 44)
        w.hash(seed)
        w.u64(slot)
        if draw > 0 { w.u32(draw) }
        return Tags.leader.hash(w.bytes).prefixUInt64
    }

    private static func stakeSum(_ entries: [ValidatorSnapshot.Entry], includingRemoved: Bool) -> UInt64? {
        var total: UInt64 = 0
        for e in entries where includingRemoved || !e.removed {
            let (t, o) = total.addingReportingOverflow(e.stake.units)
            if o { return nil }
            total = t
        }
        return total
    }

    /// The first counted entry whose cumulative stake exceeds `⌊x × total / 2⁶⁴⌋`; with `total` the counted
    /// entries' stake sum (below 2⁶⁴) the target is below it, so one always does.
    private static func pick(_ entries: [ValidatorSnapshot.Entry], total: UInt64, x: UInt64,
                             includingRemoved: Bool) -> ValidatorSnapshot.Entry? {
        let target = x.multipliedFullWidth(by: total).high
        var cumulative: UInt64 = 0
        for e in entries where includingRemoved || !e.removed {
            cumulative &+= e.stake.units
            if cumulative > target { return e }
        }
        return nil
    }

    /// The snapshot that schedules `slot` for a block whose parent state is `parent`: the parent's stored
    /// snapshot when the slot is in the parent's epoch, otherwise a fresh snapshot of the parent state.
    public static func snapshot(for slot: UInt64, parentState: LedgerState, ledger: Ledger) throws -> ValidatorSnapshot {
        let epoch = slot / ledger.params.slotsPerEpoch
        if let stored = try Ledger.currentSnapshot(of: parentState), stored.epoch == epoch { return stored }
        return try ledger.snapshot(of: parentState, epoch: epoch)
    }
}

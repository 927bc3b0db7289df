import Ledger
import Primitives

/// Leader election (Specs/consensus.md section 2): one leader per slot, chosen with probability proportional
/// to stake from the epoch snapshot's seed.
public enum LeaderSchedule {
    /// The leader of `slot` under `snapshot`: `r = H_leader(seed ‖ slot u64)`, `x` its first 8 bytes
    /// big-endian, `target = ⌊x × totalStake / 2⁶⁴⌋`, and the first validator (key order) whose cumulative
    /// stake exceeds `target`.
    public static func leader(of slot: UInt64, in snapshot: ValidatorSnapshot) -> PublicKey? {
        guard !snapshot.validators.isEmpty else { return nil }
        var total: UInt64 = 0
        for v in snapshot.validators {
            let (t, o) = total.addingReportingOverflow(v.stake.units)
            if o { return nil }
            total = t
        }
        guard total > 0 else { return nil }
        var w = CanonicalWriter(capacity: 40)
        w.hash(snapshot.seed)
        w.u64(slot)
        let x = Tags.leader.hash(w.bytes).prefixUInt64
        let target = x.multipliedFullWidth(by: total).high
        var cumulative: UInt64 = 0
        for v in snapshot.validators {
            cumulative += v.stake.units
            if cumulative > target { return v.key }
        }
        return snapshot.validators.last?.key
    }

    /// The snapshot that schedules `slot` for a block whose parent state is `parent`: the parent's stored
    /// snapshot when the slot is in the parent's epoch, otherwise a fresh snapshot of the parent state.
    public static func snapshot(for slot: UInt64, parentState: LedgerState, ledger: Ledger) throws -> ValidatorSnapshot {
        let epoch = slot / ledger.params.slotsPerEpoch
        if let stored = try Ledger.currentSnapshot(of: parentState), stored.epoch == epoch { return stored }
        return try ledger.snapshot(of: parentState, epoch: epoch)
    }
}

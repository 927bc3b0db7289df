@testable import Ledger

/// An overlay beside the plain dictionary it should read as, driven by the same operations (writes, deletions,
/// checkpoints, rollbacks, commits), for property tests of its reads and scans.
struct OverlayModel {
    var overlay: StateOverlay
    var model: [[UInt8]: [UInt8]]
    private var saved: [[[UInt8]: [UInt8]]] = []

    init(base: MemoryState) {
        overlay = StateOverlay(base: base)
        model = Dictionary(uniqueKeysWithValues: base.dump().map { ($0.key, $0.value) })
    }

    /// One operation chosen by `roll`: 0 a checkpoint, 1 a rollback and 2 a commit (when one is open), 3–6 deleting
    /// `key`, anything else writing `value` to it.
    mutating func apply(roll: UInt64, key: [UInt8], value: [UInt8]) {
        switch roll {
        case 0: overlay.checkpoint(); saved.append(model)
        case 1 where !saved.isEmpty: overlay.rollback(); model = saved.removeLast()
        case 2 where !saved.isEmpty: overlay.commit(); saved.removeLast()
        case 3..<7: overlay.delete(key); model[key] = nil
        default: overlay.set(key, value); model[key] = value
        }
    }
}

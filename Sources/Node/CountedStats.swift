import Metrics
import Synchronization

/// A service's statistics behind a lock, with chosen integer fields mirrored as Prometheus counters (each
/// update adds the field's increase to its counter).
final class CountedStats<Stats: Sendable>: Sendable {
    typealias Field = any KeyPath<Stats, Int> & Sendable
    private let value: Mutex<Stats>
    private let counters: [(label: String, field: Field)]

    init(_ initial: Stats, counters: [(label: String, field: Field)]) {
        value = Mutex(initial)
        self.counters = counters
    }

    var current: Stats { value.withLock { $0 } }

    func update(_ change: (inout Stats) -> Void) {
        let (before, after) = value.withLock { s -> (Stats, Stats) in
            let b = s
            change(&s)
            return (b, s)
        }
        for (label, field) in counters {
            let delta = after[keyPath: field] - before[keyPath: field]
            if delta > 0 { Counter(label: label).increment(by: delta) }
        }
    }
}

import Synchronization

/// Bytes of HTTP answers held for their clients, all connections together, against a limit (`RPCConfiguration
/// .httpAnswerTotalBytes`).
final class AnswerBudget: Sendable {
    let limit: Int
    private let held = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// The bytes held now.
    var bytes: Int { held.load(ordering: .relaxed) }

    /// Counts `n` more bytes unless that passes the limit; one answer of any size fits when nothing is held.
    func reserve(_ n: Int) -> Bool {
        let total = held.wrappingAdd(n, ordering: .relaxed).newValue
        if total > limit && total != n {
            held.wrappingSubtract(n, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ n: Int) { held.wrappingSubtract(n, ordering: .relaxed) }
}

/// An answer's bytes, counted against its budget until they are freed: whether the response is written, fails, or is
/// dropped unwritten (its connection closed first), the count goes with the bytes.
final class HeldAnswer: Sendable {
    let bytes: [UInt8]
    let budget: AnswerBudget

    init(bytes: [UInt8], budget: AnswerBudget) {
        self.bytes = bytes
        self.budget = budget
    }

    deinit { budget.release(bytes.count) }
}

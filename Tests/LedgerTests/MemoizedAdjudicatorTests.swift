import Synchronization
import Testing
@testable import Ledger
@testable import Primitives

/// The producer executes a block's queued adjudications when it builds the block and again when it imports it; the
/// memo makes that one replay (ninth review: two replays per case on the producer, ~1 s each for a 0.5 B model).
@Suite struct MemoizedAdjudicatorTests {
    final class Counting: Adjudicator {
        let calls = Mutex(0)
        let failFirst: Bool
        init(failFirst: Bool = false) { self.failFirst = failFirst }
        func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict {
            let n = calls.withLock { c in c += 1; return c }
            if failFirst && n == 1 { throw LedgerFault("transient") }
            return try FakeAdjudicator().adjudicate(r)
        }
        var count: Int { calls.withLock { $0 } }
    }

    @Test func aCaseIsReplayedOnceHoweverOftenItIsExecuted() throws {
        let counting = Counting()
        let pool = Chain.defaultPool()
        let request = AdjudicationRequest(pool: pool, shardIndex: 0, input: [1, 2, 3, 4], positionOffset: 7, tokenCount: 1)
        let memo = MemoizedAdjudicator(counting)
        let first = try memo.adjudicate(request)
        #expect(try memo.adjudicate(request) == first)
        #expect(counting.count == 1)
        // Any field of the case makes another case.
        _ = try memo.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: [1, 2, 3, 5], positionOffset: 7, tokenCount: 1))
        _ = try memo.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: [1, 2, 3, 4], positionOffset: 8, tokenCount: 1))
        _ = try memo.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: [1, 2, 3, 4], positionOffset: 7, tokenCount: 2))
        #expect(counting.count == 4)
    }

    @Test func errorsAreNotRememberedAndTheMemoIsBounded() throws {
        let counting = Counting(failFirst: true)
        let memo = MemoizedAdjudicator(counting, capacity: 4)
        let pool = Chain.defaultPool()
        let request = AdjudicationRequest(pool: pool, shardIndex: 0, input: [9], positionOffset: 0, tokenCount: 1)
        #expect(throws: LedgerFault.self) { try memo.adjudicate(request) }
        _ = try memo.adjudicate(request)
        #expect(counting.count == 2)
        for i in 0..<10 { _ = try memo.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: [UInt8(i), 1], positionOffset: 0, tokenCount: 1)) }
        #expect(memo.count == 4)
    }
}


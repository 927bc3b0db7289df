import Foundation
import Ledger
import Primitives
import Testing

@testable import Storage
import TestSupport

/// Eighth review, finding 3: a list "at a height" walks `state_history`, which holds every key written under the
/// list's prefix since the retained range began — on an archive node every ticket ever drawn, almost all deleted
/// since. The walk was bounded only by the entries *present* at the height, so one `ticket_list` at `"finalized"`
/// visited every dead ticket key. Pages now examine a bounded number of keys, absent ones included.
@Suite struct HistoryScanBudgetTests {
    /// A store where block 0 writes `count` keys under each of `keys`, block 1 deletes all but every `keepEvery`-th
    /// (all of them for 0), and block 2 writes something else (so height 1 is a past height).
    static func store(_ path: String, count: Int, keepEvery: Int, keys: [(Hash32) -> [UInt8]]) throws -> (ChainStore, [Hash32]) {
        let store = try ChainStore(path: path, genesis: .test("history-budget"))
        let ids = (0..<count).map { Hash32.test("dead-\($0)") }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let b0 = testBlock("b0", height: 0, parent: .zero)
        try store.commit(b0, writeSet: WriteSet(keys.flatMap { k in ids.map { WriteEntry(key: k($0), value: [1, 2, 3]) } }))
        let b1 = testBlock("b1", height: 1, parent: b0.hash)
        try store.commit(b1, writeSet: WriteSet(keys.flatMap { k in
            ids.enumerated().filter { keepEvery == 0 || $0.offset % keepEvery != 0 }.map { WriteEntry(key: k($0.element), value: nil) }
        }))
        let b2 = testBlock("b2", height: 2, parent: b1.hash)
        try store.commit(b2, writeSet: writes([([0xEE], [1])]))
        return (store, ids)
    }

    /// The storage primitive: a budgeted scan examines at most the budget, absent keys included, and its resume
    /// point continues exactly where it stopped, so following it finds every present key once.
    @Test func aBudgetedHistoricalScanExaminesAtMostTheBudget() throws {
        try withTempDirectory("history-budget-scan") { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let prefix: [UInt8] = [0x42]
            let (store, ids) = try Self.store(path + "/db", count: 5000, keepEvery: 1000, keys: [{ prefix + $0.bytes }])
            let past = try store.readView().state(at: 1)
            var after: [UInt8]?
            var found = [[UInt8]](), calls = 0
            repeat {
                let s = try past.scan(prefix: prefix, after: after, limit: 100, visitBudget: 1000)
                #expect(s.visited <= 1000)
                found += s.entries.map(\.key)
                after = s.stoppedAfter
                calls += 1
            } while after != nil && calls < 100
            #expect(found == ids.enumerated().filter { $0.offset % 1000 == 0 }.map { prefix + $0.element.bytes })
            #expect(calls == 5, "5000 keys at 1000 a call: \(calls) calls")
            // The first call stopped after exactly the 1000th key, absent ones counted.
            let first = try past.scan(prefix: prefix, after: nil, limit: 100, visitBudget: 1000)
            #expect(first.visited == 1000 && first.stoppedAfter == prefix + ids[999].bytes && first.entries.count == 1)
            // Unbudgeted, as before (internal callers), and the live state is unchanged.
            #expect(try past.scan(prefix: prefix, after: nil, limit: .max).count == 5)
            #expect(try store.readView().scan(prefix: prefix, after: nil, limit: 10, visitBudget: 3).entries.count == 3)
        }
    }

    /// `ticket_list` and the other list pages at a past height: a page examines at most
    /// `LedgerReader.pageVisitBudget` keys and hands back a cursor, instead of walking every dead key in one call.
    @Test func listPagesAtAPastHeightVisitAtMostTheBudget() throws {
        try withTempDirectory("history-budget-pages") { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let count = 10_000
            // Every key is deleted at height 1: nothing is present, everything has history.
            let (store, ids) = try Self.store(path + "/db", count: count, keepEvery: 0,
                                              keys: [{ StateKey.ticket($0) }, { StateKey.fraudCase($0) }])
            let reader = LedgerReader(try store.readView().state(at: 1))
            let budget = LedgerReader.pageVisitBudget
            #expect(budget < count)
            // Tickets: the page stops after `budget` dead keys, at the budget-th key.
            var cursor: [UInt8]?, pages = 0
            repeat {
                let page = try reader.tickets(statuses: [.upheld], cursor: cursor, limit: 25)
                #expect(page.items.isEmpty)
                if let next = page.nextCursor {
                    let from = cursor.map { c in ids.firstIndex { StateKey.ticket($0) == c }.map { $0 + 1 } ?? -1 } ?? 0
                    let to = try #require(ids.firstIndex { StateKey.ticket($0) == next })
                    #expect(to + 1 - from <= budget, "a page examined \(to + 1 - from) ticket keys")
                }
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 100
            #expect(pages == (count + budget - 1) / budget, "\(pages) ticket pages")
            // A generic list page (fraud proofs) likewise.
            let first = try reader.fraudCases(cursor: nil, limit: 25)
            #expect(first.items.isEmpty && first.nextCursor == StateKey.fraudCase(ids[budget - 1]))
        }
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// Tickets by status are a filtered scan (no status index in state): following cursors returns every matching ticket
/// once, in id order, whatever the page limit and scan budget, and a page never exceeds its limit.
@Suite struct TicketListingTests {
    func state(_ count: Int, seed: UInt64) -> (MemoryState, [Hash32: TicketStatus]) {
        var g = SplitMix64(seed: seed)
        var entries = [KeyValue](), statuses = [Hash32: TicketStatus]()
        for i in 0..<count {
            let id = LedgerIds.ticket(commitment: SHA256.hash([UInt8(i % 251), UInt8(i / 251)]), sample: 0)
            let status = TicketStatus.allCases[Int(g.next() % UInt64(TicketStatus.allCases.count))]
            let t = Ticket(commitmentId: .zero, sample: 0, point: 0, worker: PublicKey(rawValue: .zero), pool: 0, window: 0, shard: 0,
                           status: status, selectedHeight: 1, revealDeadline: 2, challengeEnd: 3)
            entries.append(KeyValue(key: StateKey.ticket(id), value: t.canonicalEncoding))
            statuses[id] = status
        }
        // Other kinds around the ticket prefix must not leak into the listing.
        entries.append(KeyValue(key: StateKey.commitment(.zero), value: [1]))
        entries.append(KeyValue(key: StateKey.revealDeadlineQueue(at: 5), value: IdQueue([]).canonicalEncoding))
        return (MemoryState(entries: entries), statuses)
    }

    @Test(arguments: [(1, 1), (3, 2), (7, 50), (100, 4096), (2, 1000)])
    func pagesCoverEveryMatchOnceInOrder(limit: Int, budget: Int) throws {
        let (s, statuses) = state(300, seed: UInt64(limit * 31 + budget))
        let reader = LedgerReader(s)
        for wanted in [Set([TicketStatus.revealed]), [.fraudProven, .upheld], Set(TicketStatus.allCases)] {
            var seen = [Hash32](), cursor: [UInt8]? = nil, pages = 0
            repeat {
                let page = try reader.tickets(statuses: wanted, cursor: cursor, limit: limit, scanBudget: budget)
                #expect(page.items.count <= limit)
                for (id, t) in page.items { #expect(wanted.contains(t.status)); seen.append(id) }
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10_000
            let expected = statuses.filter { wanted.contains($0.value) }.keys.sorted()
            #expect(seen == expected)
        }
    }

    @Test func aCursorOfAnotherListIsRefused() throws {
        let (s, _) = state(3, seed: 1)
        #expect(throws: LedgerFault.self) {
            try LedgerReader(s).tickets(statuses: [.revealed], cursor: StateKey.commitment(.zero), limit: 10)
        }
    }
}

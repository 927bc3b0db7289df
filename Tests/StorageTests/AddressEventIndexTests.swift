import Foundation
import Ledger
import Primitives
import Testing

@testable import Storage
import TestSupport

/// The address event history index (`address_events`, Specs/storage.md §1.1): written in the block's batch,
/// removed exactly by its revert, paged by cursor without skips or duplicates, filtered by kind, pool,
/// worker and height range.
@Suite struct AddressEventIndexTests {
    static let genesisID = Hash32.test("events-genesis")
    let alice = Hash32.test("alice"), bob = Hash32.test("bob"), carol = Hash32.test("carol")

    /// A deterministic block of address events: `count` receipts with up to 4 events each, spread over the
    /// three addresses, kinds 0…5, pools 0…2 and two workers.
    func block(_ label: String, height: UInt64, parent: Hash32, seed: UInt64, count: Int = 6) -> BlockRecord {
        var g = SplitMix64(seed: seed)
        var events = [AddressEventEntry]()
        let addresses = [alice, bob, carol]
        for r in 0..<count {
            for e in 0..<Int(g.next() % 5) {
                let kind = UInt16(g.next() % 6)
                let pool: UInt32? = g.next() % 3 == 0 ? nil : UInt32(g.next() % 3)
                let worker: Hash32? = g.next() % 2 == 0 ? nil : (g.next() % 2 == 0 ? alice : bob)
                let tx: Hash32? = r == count - 1 ? nil : .test("\(label)-tx\(r)")
                var touched = Set<Hash32>()
                for _ in 0..<(1 + Int(g.next() % 2)) {
                    let a = addresses[Int(g.next() % 3)]
                    guard touched.insert(a).inserted else { continue }
                    events.append(AddressEventEntry(address: a, receipt: UInt32(r), event: UInt32(e), kind: kind, pool: pool, worker: worker, txHash: tx))
                }
            }
        }
        return BlockRecord(hash: .test(label), height: height, parent: parent, header: Array(label.utf8), body: [], receipts: [],
                           transactions: [], addressEvents: events)
    }

    /// Commits genesis and `n` blocks; returns every block committed.
    func chain(_ store: ChainStore, blocks n: Int, seed: UInt64 = 1) throws -> [BlockRecord] {
        var out = [block("g", height: 0, parent: .zero, seed: seed)]
        try store.commit(out[0], writeSet: WriteSet([]))
        for h in 1...UInt64(n) {
            let b = block("b\(h)-\(seed)", height: h, parent: out.last!.hash, seed: seed &* 1000 &+ h)
            try store.commit(b, writeSet: WriteSet([WriteEntry(key: [UInt8(h % 251)], value: [UInt8(h % 7)])]))
            out.append(b)
        }
        return out
    }

    /// The model: every entry of `blocks` for `address`, in chain order.
    func expected(_ blocks: [BlockRecord], _ address: Hash32, _ filter: AddressEventFilter = AddressEventFilter()) -> [AddressEventItem] {
        var out = [AddressEventItem]()
        for b in blocks {
            for e in b.addressEvents where e.address == address {
                if let k = filter.kinds, !k.contains(e.kind) { continue }
                if let p = filter.pool, e.pool != p { continue }
                if let w = filter.worker, e.worker != w { continue }
                if let f = filter.fromHeight, b.height < f { continue }
                if let t = filter.toHeight, b.height > t { continue }
                out.append(AddressEventItem(height: b.height, receipt: e.receipt, event: e.event, kind: e.kind, pool: e.pool, worker: e.worker, txHash: e.txHash))
            }
        }
        return out.sorted { ($0.height, $0.receipt, $0.event) < ($1.height, $1.receipt, $1.event) }
    }

    /// Every page of a listing, following cursors to the end.
    func allPages(_ view: ReadView, _ address: Hash32, filter: AddressEventFilter = AddressEventFilter(), limit: Int, order: ScanOrder,
                  scanLimit: Int = 10_000) throws -> (items: [AddressEventItem], pages: Int) {
        var items = [AddressEventItem]()
        var cursor: AddressEventCursor?
        var pages = 0
        repeat {
            let page = try view.addressEvents(address, after: cursor, filter: filter, limit: limit, order: order, scanLimit: scanLimit)
            #expect(page.items.count <= limit)
            items += page.items
            cursor = page.nextCursor
            pages += 1
            if pages > 10_000 { Issue.record("paging does not end"); break }
        } while cursor != nil
        return (items, pages)
    }

    @Test func commitIndexesEveryEntryAndRevertRemovesExactlyThem() throws {
        try withTempDirectory("events-undo") { path in
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            let blocks = try chain(store, blocks: 12)
            let total = blocks.reduce(0) { $0 + $1.addressEvents.count }
            #expect(total > 60)
            #expect(try store.dump(ChainSchema.Family.addressEvents).count == total)
            for a in [alice, bob, carol] {
                let all = try store.readView().addressEvents(a, limit: 100_000, order: .ascending)
                #expect(all.items == expected(blocks, a))
                #expect(all.nextCursor == nil)
            }
            // Revert one block at a time: the family equals what the remaining blocks wrote, key for key.
            var remaining = blocks
            while remaining.count > 1 {
                let reverted = try store.revertTip()
                #expect(reverted == remaining.removeLast().hash)
                let want = remaining.reduce(0) { $0 + $1.addressEvents.count }
                #expect(try store.dump(ChainSchema.Family.addressEvents).count == want)
                for a in [alice, bob, carol] {
                    #expect(try store.readView().addressEvents(a, limit: 100_000, order: .ascending).items == expected(remaining, a))
                }
            }
            // Re-applying the same blocks gives back the same bytes.
            let before = try store.dump(ChainSchema.Family.addressEvents)
            for b in blocks.dropFirst() { try store.commit(b, writeSet: WriteSet([])) }
            let after = try store.dump(ChainSchema.Family.addressEvents)
            #expect(after.count == total)
            #expect(before.count < after.count)
            let undo = try #require(try store.current.undoRecord(height: 12, hash: blocks[12].hash))
            #expect(undo.addressEvents.count == blocks[12].addressEvents.count)
        }
    }

    @Test func undoRecordRoundTripsItsAddressEvents() throws {
        let record = UndoRecord(height: 7, parent: .test("p"), state: [.init(key: [1], previous: nil)], transactions: [],
                                addressEvents: [.init(address: alice, receipt: 3, event: 9), .init(address: bob, receipt: 0, event: 0)])
        let bytes = record.canonicalEncoding
        #expect(bytes.first == 2)
        #expect(try UndoRecord(canonicalEncoding: bytes) == record)
        #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: bytes + [0]) }
        var format1 = bytes
        format1[0] = 1
        #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: format1) }
    }

    @Test(arguments: [1, 2, 3, 7, 25])
    func pagingNeverSkipsNorRepeats(limit: Int) throws {
        try withTempDirectory("events-paging") { path in
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            let blocks = try chain(store, blocks: 15, seed: 3)
            let view = try store.readView()
            for a in [alice, bob, carol] {
                let want = expected(blocks, a)
                let asc = try allPages(view, a, limit: limit, order: .ascending)
                #expect(asc.items == want)
                let desc = try allPages(view, a, limit: limit, order: .descending)
                #expect(desc.items == want.reversed())
                #expect(asc.pages == max(1, (want.count + limit - 1) / limit) || want.count % limit == 0)
            }
        }
    }

    @Test func filtersMatchTheModelAcrossPagesAndScanBudgets() throws {
        try withTempDirectory("events-filter") { path in
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            let blocks = try chain(store, blocks: 15, seed: 5)
            let view = try store.readView()
            let filters = [
                AddressEventFilter(kinds: [2]),
                AddressEventFilter(kinds: [0, 5], pool: 1),
                AddressEventFilter(worker: bob),
                AddressEventFilter(pool: 2, worker: alice),
                AddressEventFilter(fromHeight: 4, toHeight: 9),
                AddressEventFilter(kinds: [1, 3], fromHeight: 10),
                AddressEventFilter(toHeight: 0),
                AddressEventFilter(fromHeight: 9, toHeight: 3),
            ]
            for f in filters {
                for a in [alice, bob, carol] {
                    let want = expected(blocks, a, f)
                    if f.fromHeight == 9 { #expect(want.isEmpty) }
                    for (limit, scan) in [(2, 3), (5, 10_000), (1, 1), (100, 7)] {
                        #expect(try allPages(view, a, filter: f, limit: limit, order: .ascending, scanLimit: scan).items == want, "\(f) \(limit)/\(scan)")
                        #expect(try allPages(view, a, filter: f, limit: limit, order: .descending, scanLimit: scan).items == want.reversed(),
                                "\(f) \(limit)/\(scan) desc")
                    }
                }
            }
            // Some filter must actually select something, and some must drop something.
            #expect(!expected(blocks, alice, AddressEventFilter(kinds: [2])).isEmpty)
            #expect(expected(blocks, alice, AddressEventFilter(kinds: [2])).count < expected(blocks, alice).count)
        }
    }

    @Test func aCursorOutsideTheHeightRangeIsClamped() throws {
        try withTempDirectory("events-clamp") { path in
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            let blocks = try chain(store, blocks: 10, seed: 9)
            let view = try store.readView()
            let f = AddressEventFilter(fromHeight: 3, toHeight: 6)
            let want = expected(blocks, alice, f)
            let below = AddressEventCursor(height: 1, receipt: 0, event: 0)
            #expect(try view.addressEvents(alice, after: below, filter: f, limit: 1000, order: .ascending).items == want)
            let above = AddressEventCursor(height: 9, receipt: 0, event: 0)
            #expect(try view.addressEvents(alice, after: above, filter: f, limit: 1000, order: .descending).items == want.reversed())
            #expect(try view.addressEvents(alice, after: above, filter: f, limit: 1000, order: .ascending).items.isEmpty)
        }
    }

    @Test func cursorBytesRoundTrip() {
        let c = AddressEventCursor(height: 0x0102030405060708, receipt: 0x0A0B0C0D, event: 7)
        #expect(c.bytes.count == 16)
        #expect(AddressEventCursor(bytes: c.bytes) == c)
        #expect(AddressEventCursor(bytes: Array(c.bytes.dropLast())) == nil)
    }
}

import Foundation
import Ledger
import Primitives
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

@Suite struct ChainStoreTests {
    static let genesisID = Hash32.test("genesis-id")
    let alice = Hash32.test("alice")
    let bob = Hash32.test("bob")

    func tx(_ label: String, _ position: UInt32, _ addresses: [Hash32]) -> TxIndexEntry {
        TxIndexEntry(txHash: .test(label), position: position, addresses: addresses)
    }

    /// Column families a revert must restore exactly (headers, bodies and block info stay as side blocks).
    static let revertible = [
        ChainSchema.Family.meta, ChainSchema.Family.state, ChainSchema.Family.receipts, ChainSchema.Family.canonical,
        ChainSchema.Family.txIndex, ChainSchema.Family.addressIndex, ChainSchema.Family.addressEvents, ChainSchema.Family.undo,
    ]

    func snapshotOf(_ store: ChainStore) throws -> [String: [KeyValue]] {
        var out: [String: [KeyValue]] = [:]
        for f in Self.revertible { out[f] = try store.dump(f) }
        return out
    }

    @Test func genesisCommitWritesBlockIndexesAndState() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        #expect(try store.tip() == nil)
        #expect(try store.finalizedHeight() == nil)
        let g = testBlock("g", height: 0, parent: .zero, transactions: [tx("t0", 0, [alice, bob]), tx("t1", 1, [alice])])
        try store.commit(g, writeSet: writes([([1], [1]), ([2], []), ([3], nil)]))
        let v = store.current
        #expect(try v.tip() == ChainTip(hash: g.hash, height: 0))
        #expect(try v.canonicalHash(at: 0) == g.hash)
        #expect(try v.canonicalHash(at: 1) == nil)
        #expect(try v.header(g.hash) == g.header)
        #expect(try v.body(g.hash) == g.body)
        #expect(try v.receipts(g.hash) == g.receipts)
        #expect(try v.blockInfo(g.hash) == BlockInfo(height: 0, parent: .zero))
        #expect(try v.isCanonical(g.hash))
        #expect(try v.get([1]) == [1])
        #expect(try v.get([2]) == [])
        #expect(try v.get([3]) == nil)
        #expect(try v.transactionLocation(.test("t1")) == TxLocation(blockHash: g.hash, height: 0, position: 1))
        #expect(try v.transactionLocation(.test("nope")) == nil)
        let page = try v.addressTransactions(alice, limit: 10, order: .ascending)
        #expect(page.items.map(\.txHash) == [.test("t0"), .test("t1")])
        #expect(page.nextCursor == nil)
        #expect(try v.addressTransactions(bob, limit: 10).items.map(\.txHash) == [.test("t0")])
        let undo = try #require(try v.undoRecord(height: 0, hash: g.hash))
        #expect(undo.state == [.init(key: [1], previous: nil), .init(key: [2], previous: nil), .init(key: [3], previous: nil)])
        #expect(undo.parent == .zero)
    }

    @Test func ledgerOverlayExecutesOverTheCommittedState() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero)
        try store.commit(g, writeSet: writes([([1, 1], [1]), ([1, 2], [2]), ([2], [])]))
        var overlay = store.makeOverlay()
        #expect(try overlay.get([1, 1]) == [1])
        overlay.set([1, 3], [3])
        overlay.delete([1, 1])
        overlay.set([2], [])  // unchanged: dropped from the write set
        #expect(try overlay.scan(prefix: [1]).map(\.key) == [[1, 2], [1, 3]])
        let ws = try overlay.writeSet()
        #expect(ws.entries.map(\.key) == [[1, 1], [1, 3]])
        try store.commit(testBlock("b1", height: 1, parent: g.hash), writeSet: ws)
        #expect(try store.current.dumpState() == [
            KeyValue(key: [1, 2], value: [2]), KeyValue(key: [1, 3], value: [3]), KeyValue(key: [2], value: []),
        ])
    }

    @Test func commitsMustExtendTheTip() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        #expect(throws: StorageError.self) { try store.commit(testBlock("x", height: 1, parent: .zero), writeSet: .empty) }
        #expect(throws: StorageError.self) { try store.commit(testBlock("x", height: 0, parent: .test("p")), writeSet: .empty) }
        let g = testBlock("g", height: 0, parent: .zero)
        try store.commit(g, writeSet: writes([([1], [1])]))
        let before = try snapshotOf(store)
        let bad: [BlockRecord] = [
            testBlock("again", height: 0, parent: .zero),
            testBlock("wrong-parent", height: 1, parent: .test("other")),
            testBlock("gap", height: 2, parent: g.hash),
            testBlock("same", height: 0, parent: g.hash),
        ]
        for b in bad {
            #expect(throws: StorageError.self) { try store.commit(b, writeSet: writes([([1], [2]), ([9], [9])])) }
        }
        #expect(try snapshotOf(store) == before)
        do {
            try store.commit(testBlock("gap", height: 2, parent: g.hash), writeSet: .empty)
        } catch {
            #expect(error.description.contains("does not extend the tip"))
        }
    }

    @Test func revertRestoresEverythingExactly() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero, transactions: [tx("t0", 0, [alice])])
        try store.commit(g, writeSet: writes([([1], [1]), ([2], [2]), ([3], [])]))
        let afterGenesis = try snapshotOf(store)

        let b1 = testBlock("b1", height: 1, parent: g.hash, transactions: [tx("t1", 0, [alice, bob]), tx("t2", 1, [bob, bob])])
        try store.commit(b1, writeSet: writes([([1], nil), ([2], [20]), ([3], [30]), ([4], [])]))
        let afterB1 = try snapshotOf(store)
        let b2 = testBlock("b2", height: 2, parent: b1.hash, transactions: [tx("t3", 0, [alice])])
        try store.commit(b2, writeSet: writes([([1], [100]), ([4], nil), ([5], [5])]))
        #expect(try store.current.get([1]) == [100])
        #expect(try store.current.addressTransactions(alice, limit: 10).items.map(\.txHash) == [.test("t3"), .test("t1"), .test("t0")])

        #expect(try store.revertTip() == b2.hash)
        #expect(try snapshotOf(store) == afterB1)
        #expect(try store.revertTip() == b1.hash)
        #expect(try snapshotOf(store) == afterGenesis)
        let v = store.current
        #expect(try v.tip() == ChainTip(hash: g.hash, height: 0))
        #expect(try v.transactionLocation(.test("t1")) == nil)
        #expect(try v.transactionLocation(.test("t3")) == nil)
        #expect(try v.receipts(b1.hash) == nil)
        // Reverted blocks stay available as side blocks for fork choice.
        #expect(try v.header(b1.hash) == b1.header)
        #expect(try v.body(b2.hash) == b2.body)
        #expect(try v.blockInfo(b2.hash) == BlockInfo(height: 2, parent: b1.hash))
        #expect(try !v.isCanonical(b1.hash))
        #expect(try v.undoRecord(height: 1, hash: b1.hash) == nil)

        // Re-committing the same block gives the same bytes as the first time.
        try store.commit(b1, writeSet: writes([([1], nil), ([2], [20]), ([3], [30]), ([4], [])]))
        #expect(try snapshotOf(store) == afterB1)
    }

    @Test func revertIsRefusedForEmptyChainGenesisAndFinalizedBlocks() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        #expect(throws: StorageError.cannotRevert(height: 0, reason: "the chain is empty")) { try store.revertTip() }
        var parent = Hash32.zero
        for h in UInt64(0)...5 {
            let b = testBlock("b\(h)", height: h, parent: parent)
            try store.commit(b, writeSet: writes([([UInt8(h)], [UInt8(h)])]), finalizedHeight: h >= 3 ? h - 3 : nil)
            parent = b.hash
        }
        #expect(try store.finalizedHeight() == 2)
        try store.revertTip()  // 5
        try store.revertTip()  // 4
        try store.revertTip()  // 3
        do {
            try store.revertTip()
            Issue.record("reverted a finalized block")
        } catch {
            guard case .cannotRevert(2, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        let other = TempDir()
        let fresh = try ChainStore(path: other.db, genesis: Self.genesisID)
        try fresh.commit(testBlock("g", height: 0, parent: .zero), writeSet: .empty)
        #expect(throws: StorageError.cannotRevert(height: 0, reason: "genesis cannot be reverted")) { try fresh.revertTip() }
    }

    @Test func finalizedHeightIsCheckedAndPrunesUndoRecords() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        var hashes: [Hash32] = []
        var parent = Hash32.zero
        for h in UInt64(0)..<10 {
            let b = testBlock("b\(h)", height: h, parent: parent)
            // Finality advances by jumps (0, then 4, then 7), with gaps where it is not given.
            let f: UInt64? = [3: 0, 6: 4, 9: 7][h]
            try store.commit(b, writeSet: writes([([UInt8(h)], [1])]), finalizedHeight: f)
            hashes.append(b.hash)
            parent = b.hash
        }
        #expect(try store.finalizedHeight() == 7)
        for h in 0..<10 {
            let present = try store.current.undoRecord(height: UInt64(h), hash: hashes[h]) != nil
            #expect(present == (h > 7), "undo record at height \(h)")
        }
        let next = testBlock("b10", height: 10, parent: parent)
        #expect(throws: StorageError.invalidFinalizedHeight(requested: 6, current: 7, blockHeight: 10)) {
            try store.commit(next, writeSet: .empty, finalizedHeight: 6)
        }
        #expect(throws: StorageError.invalidFinalizedHeight(requested: 11, current: 7, blockHeight: 10)) {
            try store.commit(next, writeSet: .empty, finalizedHeight: 11)
        }
        // Finalizing the block being committed is allowed; its undo record is dropped at once.
        try store.commit(next, writeSet: .empty, finalizedHeight: 10)
        #expect(try store.current.undoRecord(height: 10, hash: next.hash) == nil)
        #expect(try store.dump(ChainSchema.Family.undo).isEmpty)
    }

    @Test func reopenChecksGenesisAndSchema() throws {
        let dir = TempDir()
        let path = dir.db
        do {
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            try store.commit(testBlock("g", height: 0, parent: .zero), writeSet: writes([([7], [7])]))
            try store.close()
        }
        do {
            let store = try ChainStore(path: path, genesis: Self.genesisID)
            #expect(try store.tip()?.hash == .test("g"))
            #expect(try store.current.get([7]) == [7])
        }
        let other = Hash32.test("another chain")
        #expect(throws: StorageError.genesisMismatch(path: path, stored: Self.genesisID, expected: other)) {
            try ChainStore(path: path, genesis: other)
        }
        do {
            let message = StorageError.genesisMismatch(path: path, stored: Self.genesisID, expected: other).description
            #expect(message.contains(path) && message.contains(Self.genesisID.hex) && message.contains(other.hex))
        }
        // A database of schema 1 (no state tree) or of a newer one is refused, not misread.
        try rewriteMeta(path, ChainSchema.MetaKey.schema, UInt32(1).canonicalEncoding)
        #expect(throws: StorageError.schemaMismatch(path: path, stored: 1, supported: ChainSchema.version)) {
            try ChainStore(path: path, genesis: Self.genesisID)
        }
        try rewriteMeta(path, ChainSchema.MetaKey.schema, (ChainSchema.version + 1).canonicalEncoding)
        #expect(throws: StorageError.schemaMismatch(path: path, stored: ChainSchema.version + 1, supported: ChainSchema.version)) {
            try ChainStore(path: path, genesis: Self.genesisID)
        }
        try rewriteMeta(path, ChainSchema.MetaKey.schema, [1, 0, 0])
        do {
            _ = try ChainStore(path: path, genesis: Self.genesisID)
            Issue.record("opened with a corrupt schema record")
        } catch {
            guard case .corruptRecord(let record, _, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(record == "schema version")
        }
    }

    private func rewriteMeta(_ path: String, _ key: [UInt8], _ value: [UInt8]) throws {
        let db = try Database.open(path: path, columnFamilies: ChainSchema.columnFamilies)
        try db.put(try db.columnFamily(ChainSchema.Family.meta), key, value, sync: true)
        try db.close()
    }

    @Test func foreignDatabaseIsRefused() throws {
        let dir = TempDir()
        let path = dir.db
        do {
            let db = try Database.open(path: path, columnFamilies: [])
            try db.put(try db.columnFamily("default"), Array("someone else's".utf8), [1])
            try db.close()
        }
        #expect(throws: StorageError.notAChainStore(path: path)) { try ChainStore(path: path, genesis: Self.genesisID) }
        // An empty RocksDB directory (creation interrupted before the metadata batch) is adopted.
        let empty = dir.file("empty")
        try Database.open(path: empty, columnFamilies: []).close()
        let store = try ChainStore(path: empty, genesis: Self.genesisID)
        #expect(try store.tip() == nil)
    }

    @Test func lockedStoreGivesAClearError() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        #expect(throws: StorageError.self) { try ChainStore(path: dir.db, genesis: Self.genesisID) }
        do {
            _ = try ChainStore(path: dir.db, genesis: Self.genesisID)
        } catch {
            guard case .locked = error else {
                Issue.record("expected locked, got \(error)")
                return
            }
        }
        withExtendedLifetime(store) {}
    }

    @Test func sideBlocksDoNotTouchStateOrTip() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero)
        try store.commit(g, writeSet: writes([([1], [1])]))
        let before = try snapshotOf(store)
        let side = testBlock("side", height: 1, parent: g.hash)
        try store.storeSideBlock(hash: side.hash, height: 1, parent: g.hash, header: side.header, body: side.body)
        #expect(try snapshotOf(store) == before)
        let v = store.current
        #expect(try v.header(side.hash) == side.header)
        #expect(try v.body(side.hash) == side.body)
        #expect(try v.blockInfo(side.hash) == BlockInfo(height: 1, parent: g.hash))
        #expect(try !v.isCanonical(side.hash))
        #expect(try v.receipts(side.hash) == nil)
        // The same hash at another height or parent is refused, as a side block or a commit.
        #expect(throws: StorageError.conflictingBlock(hash: side.hash, stored: BlockInfo(height: 1, parent: g.hash), given: BlockInfo(height: 2, parent: g.hash))) {
            try store.storeSideBlock(hash: side.hash, height: 2, parent: g.hash, header: side.header, body: side.body)
        }
        #expect(throws: StorageError.self) {
            try store.storeSideBlock(hash: g.hash, height: 0, parent: .test("x"), header: [], body: [])
        }
        // Storing it again is harmless; fork choice later adopts it.
        try store.storeSideBlock(hash: side.hash, height: 1, parent: g.hash, header: side.header, body: side.body)
        #expect(try v.sideBlocks(from: 0, limit: 10).map(\.hash) == [side.hash])
        try store.commit(side, writeSet: writes([([1], [2])]))
        #expect(try v.isCanonical(side.hash))
        #expect(try v.tip()?.hash == side.hash)
        // The side-block index lists exactly the stored blocks that are not canonical: a committed one leaves it, a
        // reverted one joins it.
        #expect(try v.sideBlocks(from: 0, limit: 10).isEmpty)
        try store.revertTip()
        #expect(try v.sideBlocks(from: 0, limit: 10).map(\.hash) == [side.hash])
        #expect(try v.sideBlocks(from: 2, limit: 10).isEmpty)
        try store.commit(side, writeSet: writes([([1], [2])]))
        #expect(try v.sideBlocks(from: 0, limit: 10).isEmpty)
    }

    /// The commit that moves the finalized height to `f` deletes every side block at or below `f` in its own batch
    /// (they fork below finality: never canonical), and keeps those above it and every canonical block.
    @Test func finalityDeletesTheSideBlocksBelowIt() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        var chain = [testBlock("g", height: 0, parent: .zero)]
        try store.commit(chain[0], writeSet: writes([([1], [1])]))
        var sides = [BlockRecord]()
        for h in UInt64(1)...4 {
            chain.append(testBlock("c\(h)", height: h, parent: chain[Int(h) - 1].hash))
            try store.commit(chain[Int(h)], writeSet: writes([([1], [UInt8(h)])]))
            let s = testBlock("s\(h)", height: h, parent: chain[Int(h) - 1].hash)
            try store.storeSideBlock(hash: s.hash, height: h, parent: s.parent, header: s.header, body: s.body)
            sides.append(s)
        }
        chain.append(testBlock("c5", height: 5, parent: chain[4].hash))
        try store.commit(chain[5], writeSet: writes([([1], [5])]), finalizedHeight: 2)
        let v = store.current
        for s in sides {
            let kept = s.height > 2
            #expect(try (v.blockInfo(s.hash) != nil) == kept && (v.header(s.hash) != nil) == kept && (v.body(s.hash) != nil) == kept)
        }
        #expect(try v.sideBlocks(from: 0, limit: 10).map(\.hash) == [sides[2].hash, sides[3].hash])
        for b in chain { #expect(try v.isCanonical(b.hash) && v.header(b.hash) == b.header && v.body(b.hash) == b.body) }
        chain.append(testBlock("c6", height: 6, parent: chain[5].hash))
        try store.commit(chain[6], writeSet: writes([([1], [6])]), finalizedHeight: 4)
        #expect(try v.sideBlocks(from: 0, limit: 10).isEmpty)
        #expect(try sides.allSatisfy { try v.blockInfo($0.hash) == nil })
    }

    @Test func addressHistoryPagesInBothOrders() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        var parent = Hash32.zero
        var expected: [AddressTxEntry] = []
        for h in UInt64(0)..<12 {
            var txs: [TxIndexEntry] = []
            for p in 0..<UInt32(h % 4) {
                let t = tx("h\(h)p\(p)", p, p % 2 == 0 ? [alice] : [bob])
                txs.append(t)
                if p % 2 == 0 { expected.append(AddressTxEntry(height: h, position: p, txHash: t.txHash)) }
            }
            let b = testBlock("b\(h)", height: h, parent: parent, transactions: txs)
            try store.commit(b, writeSet: .empty)
            parent = b.hash
        }
        #expect(expected.count > 8)
        let view = try store.readView()
        for order in [ScanOrder.ascending, .descending] {
            for limit in [1, 3, 5, 100] {
                var got: [AddressTxEntry] = []
                var cursor: AddressTxCursor?
                var pages = 0
                repeat {
                    let page = try view.addressTransactions(alice, after: cursor, limit: limit, order: order)
                    #expect(page.items.count <= limit)
                    got += page.items
                    cursor = page.nextCursor
                    pages += 1
                } while cursor != nil && pages < 100
                #expect(got == (order == .ascending ? expected : expected.reversed()), "order \(order) limit \(limit)")
            }
        }
        #expect(try view.addressTransactions(alice, limit: 0).items.isEmpty)
        #expect(try view.addressTransactions(.test("nobody"), limit: 5) == AddressTxPage(items: [], nextCursor: nil))
        // A cursor between entries continues from the next one.
        let mid = AddressTxCursor(height: 6, position: 1)
        let asc = try view.addressTransactions(alice, after: mid, limit: 100, order: .ascending)
        #expect(asc.items == expected.filter { ($0.height, $0.position) > (6, 1) })
        let desc = try view.addressTransactions(alice, after: mid, limit: 100, order: .descending)
        #expect(desc.items == expected.filter { ($0.height, $0.position) < (6, 1) }.reversed())
    }

    @Test func reusedTransactionHashIsRestoredOnRevert() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero, transactions: [tx("dup", 3, [alice])])
        try store.commit(g, writeSet: .empty)
        let b1 = testBlock("b1", height: 1, parent: g.hash, transactions: [tx("dup", 0, [bob]), tx("dup", 1, [bob])])
        try store.commit(b1, writeSet: .empty)
        #expect(try store.current.transactionLocation(.test("dup")) == TxLocation(blockHash: b1.hash, height: 1, position: 1))
        try store.revertTip()
        #expect(try store.current.transactionLocation(.test("dup")) == TxLocation(blockHash: g.hash, height: 0, position: 3))
        #expect(try store.current.addressTransactions(bob, limit: 5).items.isEmpty)
    }

    @Test func readViewsAreIsolatedFromLaterCommits() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero, transactions: [tx("t0", 0, [alice])])
        try store.commit(g, writeSet: writes([([1], [1]), ([2], [2])]))
        let view = try store.readView()
        #expect(view.isSnapshot && !store.current.isSnapshot)
        let b1 = testBlock("b1", height: 1, parent: g.hash, transactions: [tx("t1", 0, [alice])])
        try store.commit(b1, writeSet: writes([([1], nil), ([2], [20]), ([3], [3])]))
        #expect(try view.tip()?.height == 0)
        #expect(try view.get([1]) == [1])
        #expect(try view.dumpState().map(\.key) == [[1], [2]])
        #expect(try view.transactionLocation(.test("t1")) == nil)
        #expect(try view.addressTransactions(alice, limit: 10).items.count == 1)
        #expect(try store.current.tip()?.height == 1)
        // A live view keeps the store from closing; dropping it lets it close.
        #expect(throws: StorageError.self) { try store.close() }
        withExtendedLifetime(view) {}
    }

    @Test func concurrentReadersSeeConsistentSnapshotsWhileCommitting() async throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        try store.commit(testBlock("b0", height: 0, parent: .zero), writeSet: writes([([0], KeyBytes.be64(0)), ([1], KeyBytes.be64(0))]))
        let blocks = 60
        let readers = 2
        let checks = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Start once every reader has read at least once, so reads overlap the commits.
                while checks.count < readers { await Task.yield() }
                var parent = Hash32.test("b0")
                for h in 1...UInt64(blocks) {
                    let b = testBlock("b\(h)", height: h, parent: parent)
                    // Two keys that must always agree with each other and with the tip height.
                    try store.commit(b, writeSet: writes([([0], KeyBytes.be64(h)), ([1], KeyBytes.be64(h)), (KeyBytes.be64(h), [])]))
                    parent = b.hash
                }
            }
            for _ in 0..<readers {
                group.addTask {
                    while true {
                        let view = try store.readView()
                        let tip = try #require(try view.tip())
                        #expect(try view.get([0]) == KeyBytes.be64(tip.height))
                        #expect(try view.get([1]) == KeyBytes.be64(tip.height))
                        #expect(try view.canonicalHash(at: tip.height) == tip.hash)
                        #expect(try view.scan(prefix: [0, 0, 0, 0, 0, 0, 0], after: nil, limit: .max).count == Int(tip.height))
                        checks.increment()
                        if tip.height == UInt64(blocks) { return }
                        await Task.yield()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(checks.count >= 2 * readers)
    }

    @Test func corruptRecordsGiveTypedErrors() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero)
        try store.commit(g, writeSet: .empty)
        let b1 = testBlock("b1", height: 1, parent: g.hash, transactions: [tx("t", 0, [alice])])
        try store.commit(b1, writeSet: writes([([1], [1])]))
        let db = store.database
        let cf = store.columns

        func expectCorrupt(_ record: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("no error for corrupt \(record)")
            } catch let error as StorageError {
                guard case .corruptRecord(let r, _, let detail) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(r == record)
                #expect(!detail.isEmpty)
            } catch {
                Issue.record("untyped error \(error)")
            }
        }

        try db.put(cf.txIndex, Hash32.test("t").bytes, [1, 2, 3])
        expectCorrupt("transaction index") { _ = try store.current.transactionLocation(.test("t")) }
        try db.put(cf.addressIndex, alice.bytes + [0], Hash32.test("t").bytes)
        expectCorrupt("address index") { _ = try store.current.addressTransactions(alice, limit: 10) }
        try db.put(cf.blocks, g.hash.bytes, [0])
        expectCorrupt("block info") { _ = try store.current.blockInfo(g.hash) }
        try db.put(cf.canonical, ChainSchema.canonicalKey(0), g.hash.bytes + [0])
        expectCorrupt("canonical index") { _ = try store.current.canonicalHash(at: 0) }

        // A damaged undo record stops the revert before anything is written.
        let undoKey = ChainSchema.undoKey(height: 1, hash: b1.hash)
        let good = try #require(try db.get(cf.undo, undoKey))
        let before = try store.dump(ChainSchema.Family.state)
        for bad in [Array(good.dropLast()), good + [0], [9] + good.dropFirst()] {
            try db.put(cf.undo, undoKey, bad)
            expectCorrupt("undo") { try store.revertTip() }
            #expect(try store.dump(ChainSchema.Family.state) == before)
            #expect(try store.tip()?.hash == b1.hash)
        }
        try db.put(cf.meta, ChainSchema.MetaKey.tip, [1, 2])
        expectCorrupt("tip") { _ = try store.tip() }
        expectCorrupt("tip") { try store.commit(testBlock("b2", height: 2, parent: b1.hash), writeSet: .empty) }
        try db.put(cf.meta, ChainSchema.MetaKey.finalized, [1])
        expectCorrupt("finalized height") { _ = try store.finalizedHeight() }
    }

    @Test func oversizedWritesAreRefusedBeforeWriting() throws {
        let dir = TempDir()
        let store = try ChainStore(path: dir.db, genesis: Self.genesisID)
        let g = testBlock("g", height: 0, parent: .zero)
        let longKey = [UInt8](repeating: 1, count: StorageLimits.maxStateKeyBytes + 1)
        #expect(throws: StorageError.limitExceeded(what: "state key length", size: longKey.count, limit: StorageLimits.maxStateKeyBytes)) {
            try store.commit(g, writeSet: writes([(longKey, [1])]))
        }
        let manyAddresses = TxIndexEntry(txHash: .test("t"), position: 0, addresses: Array(repeating: alice, count: StorageLimits.maxAddressesPerTransaction + 1))
        #expect(throws: StorageError.self) {
            try store.commit(testBlock("g", height: 0, parent: .zero, transactions: [manyAddresses]), writeSet: .empty)
        }
        #expect(try store.tip() == nil)
        #expect(try store.dump(ChainSchema.Family.state).isEmpty)
    }
}

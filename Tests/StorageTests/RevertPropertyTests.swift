import Foundation
import Ledger
import Primitives
import PropertyTestSupport
import StateTree
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

/// Random chains of random write sets, committed and reverted at random depths, against `MemoryState`.
@Suite struct RevertPropertyTests {
    /// What must hold at one height: the state (checked against the model), and every column family a
    /// revert restores, byte for byte.
    struct Checkpoint {
        let tip: ChainTip
        let state: [KeyValue]
        let families: [String: [KeyValue]]
    }

    static let families = [
        ChainSchema.Family.meta, ChainSchema.Family.receipts, ChainSchema.Family.canonical,
        ChainSchema.Family.txIndex, ChainSchema.Family.addressIndex, ChainSchema.Family.addressEvents, ChainSchema.Family.undo,
        StateTreeSchema.Family.nodes, StateTreeSchema.Family.stale, ChainSchema.Family.history,
    ]

    static func capture(_ store: ChainStore) throws -> Checkpoint {
        var families: [String: [KeyValue]] = [:]
        for f in Self.families { families[f] = try store.dump(f) }
        let tip = try #require(try store.tip())
        return Checkpoint(tip: tip, state: try store.current.dumpState(), families: families)
    }

    static func randomBlock(_ g: inout SplitMix64, height: UInt64, parent: Hash32, usedTx: [Hash32]) -> BlockRecord {
        let hash = SHA256.hash(g.bytes(32))
        let addresses = (0..<4).map { Hash32.test("addr\($0)") }
        let txs = (0..<Int(g.next() % 4)).map { i -> TxIndexEntry in
            // Now and then a transaction hash the chain already indexed, to exercise restoring it.
            let txHash = !usedTx.isEmpty && g.chance(0.15) ? usedTx[Int(g.next() % UInt64(usedTx.count))] : SHA256.hash(g.bytes(32))
            let addrs = (0..<Int(g.next() % 3)).map { _ in addresses[Int(g.next() % 4)] }
            return TxIndexEntry(txHash: txHash, position: UInt32(i), addresses: addrs)
        }
        // Address event history entries (unique keys per block, as the consensus layer writes them).
        var events = [AddressEventEntry]()
        for r in 0..<Int(g.next() % 4) {
            for e in 0..<Int(g.next() % 3) {
                events.append(AddressEventEntry(address: addresses[(r + e) % 4], receipt: UInt32(r), event: UInt32(e), kind: UInt16(g.next() % 35),
                                                pool: g.chance(0.5) ? UInt32(g.next() % 3) : nil, worker: g.chance(0.5) ? addresses[0] : nil,
                                                txHash: g.chance(0.5) ? SHA256.hash(g.bytes(32)) : nil))
            }
        }
        return BlockRecord(
            hash: hash, height: height, parent: parent, header: g.bytes(Int(g.next() % 50)), body: g.bytes(Int(g.next() % 50)),
            receipts: g.bytes(Int(g.next() % 20)), transactions: txs, addressEvents: events)
    }

    @Test func commitsThenRevertsAlwaysRestoreTheEarlierState() async {
        await checkSeeds(count: 20) { seed in
            try withTempDirectory("prop") { path in try Self.randomChain(seed: seed, path: path) }
        }
    }

    /// Commits and reverts a random chain from `seed` in a database at `path`, checking every step.
    static func randomChain(seed: UInt64, path: String) throws {
        var g = SplitMix64(seed: seed)
        let store = try ChainStore(path: path, genesis: .test("prop"))
        var model = MemoryState()
        var checkpoints: [Checkpoint] = []
        var blocks: [(BlockRecord, WriteSet)] = []

        func commit(_ block: BlockRecord, _ ws: WriteSet) throws {
            try store.commit(block, writeSet: ws)
            model.apply(ws)
            blocks.append((block, ws))
            let c = try capture(store)
            #expect(difference(c.state, model.dump()) == nil, "state after committing height \(block.height)")
            // The tree's version for this height is the root of the whole state, however the state was reached.
            #expect(try store.tree.rootHash(version: block.height) == StateTree.root(of: model.dump().map { TreeUpdate(key: $0.key, value: $0.value) }),
                    "state tree root at height \(block.height)")
            #expect(c.tip == ChainTip(hash: block.hash, height: block.height))
            checkpoints.append(c)
        }

        try commit(randomBlock(&g, height: 0, parent: .zero, usedTx: []), RandomWrites.writeSet(&g, spread: 30))
        for _ in 0..<30 {
            let height = UInt64(checkpoints.count - 1)
            if height == 0 || g.chance(0.6) {
                let used = blocks.flatMap { $0.0.transactions.map(\.txHash) }
                let block = randomBlock(&g, height: height + 1, parent: checkpoints[Int(height)].tip.hash, usedTx: used)
                try commit(block, RandomWrites.writeSet(&g, spread: 30))
                continue
            }
            let depth = 1 + Int(g.next() % height)
            var reverted: [(BlockRecord, WriteSet)] = []
            for _ in 0..<depth {
                let expected = checkpoints.removeLast().tip.hash
                #expect(try store.revertTip() == expected)
                reverted.append(blocks.removeLast())
            }
            let target = try #require(checkpoints.last)
            let now = try capture(store)
            #expect(now.tip == target.tip)
            #expect(difference(now.state, target.state) == nil, "state after reverting \(depth) blocks")
            for f in families {
                #expect(difference(now.families[f] ?? [], target.families[f] ?? []) == nil, "\(f) after reverting \(depth) blocks")
            }
            // Reset the model to the earlier state (it has no undo of its own).
            model = MemoryState(entries: target.state)
            // Sometimes re-adopt the reverted branch (as after a reorg back), which must reproduce it.
            if g.chance(0.3) {
                for (block, ws) in reverted.reversed() { try commit(block, ws) }
            }
        }
        // The state as of every retained height, read from the history, is the state that height had.
        let view = try store.readView()
        for (h, c) in checkpoints.enumerated() {
            let past = view.state(at: UInt64(h))
            #expect(difference(try past.scan(prefix: [], after: nil, limit: .max), c.state) == nil, "state as of height \(h)")
            for e in c.state.prefix(5) { #expect(try past.get(e.key) == e.value) }
            // Paging through a prefix gives the same entries as one scan.
            if let first = c.state.first?.key.prefix(1) {
                let prefix = Array(first)
                var paged = [KeyValue](), after: [UInt8]? = nil
                while true {
                    let page = try past.scan(prefix: prefix, after: after, limit: 3)
                    paged += page
                    guard page.count == 3 else { break }
                    after = page.last?.key
                }
                #expect(paged == c.state.filter { $0.key.starts(with: prefix) }, "paged scan as of height \(h)")
            }
        }
        // Every block above genesis back off: only genesis remains.
        while checkpoints.count > 1 {
            checkpoints.removeLast()
            try store.revertTip()
        }
        let last = try capture(store)
        #expect(difference(last.state, checkpoints[0].state) == nil)
        #expect(last.families == checkpoints[0].families)
    }
}

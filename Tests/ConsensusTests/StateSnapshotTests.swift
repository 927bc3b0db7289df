import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import StateTree
@testable import Storage
import TestSupport

/// State snapshots (Specs/state-tree.md §9): a manifest adds up to the header's stateRoot, each chunk to its
/// manifest entry, anything tampered is refused, and a node started from a snapshot follows the chain to the same
/// state as a node that replayed it from genesis.
@Suite struct StateSnapshotTests {
    @Test func aNodeStartedFromAVerifiedSnapshotFollowsTheChain() throws {
        let net = TestNetwork(validators: 2, accounts: 6)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a)
        for i in 0..<8 {
            try net.produce(ea, txs: [try net.transfer(ea, from: i % 3, to: net.accounts[3 + i % 3].publicKey, amount: UInt64(100 + i))])
        }
        let view = try ea.store.readView()
        let height: UInt64 = 6
        let snapshot = try view.stateSnapshot(height: height)
        let header = try ChainEngine.loadHeader(view, snapshot.manifest.blockHash).header
        #expect(header.height == height)
        #expect(snapshot.manifest.keyCount == UInt64(try view.state(at: height).scan(prefix: [], after: nil, limit: .max).count))
        try StateSnapshot.verify(snapshot.manifest, stateRoot: header.stateRoot)
        var entries = [KeyValue]()
        for (i, chunk) in snapshot.chunks.enumerated() {
            try StateSnapshot.verify(chunk: chunk.map { ($0.key, $0.value) }, index: i, manifest: snapshot.manifest)
            entries += chunk
        }

        // Tampering anywhere is refused: the manifest against another root, a changed value, a dropped or moved entry.
        #expect(throws: SnapshotError.self) { try StateSnapshot.verify(snapshot.manifest, stateRoot: ea.tipHeader.stateRoot) }
        var forged = snapshot.manifest.chunks
        let busy = try #require(forged.firstIndex { $0.count >= 2 })
        forged[busy] = .init(count: forged[busy].count, hash: SHA256.hash([1]))
        #expect(throws: SnapshotError.self) {
            try StateSnapshot.verify(SnapshotManifest(height: height, blockHash: snapshot.manifest.blockHash, chunks: forged), stateRoot: header.stateRoot)
        }
        var chunk = snapshot.chunks[busy].map { ($0.key, $0.value) }
        chunk[0].1 = chunk[0].1 + [0]
        #expect(throws: SnapshotError.chunkHashMismatch(index: busy)) { try StateSnapshot.verify(chunk: chunk, index: busy, manifest: snapshot.manifest) }
        #expect(throws: SnapshotError.self) {
            try StateSnapshot.verify(chunk: Array(snapshot.chunks[busy].dropFirst().map { ($0.key, $0.value) }), index: busy, manifest: snapshot.manifest)
        }
        #expect(throws: SnapshotError.self) {
            try StateSnapshot.verify(chunk: snapshot.chunks[busy].reversed().map { ($0.key, $0.value) }, index: busy, manifest: snapshot.manifest)
        }
        let other = (busy + 1) % 256
        #expect(throws: SnapshotError.self) {
            try StateSnapshot.verify(chunk: snapshot.chunks[busy].map { ($0.key, $0.value) }, index: other, manifest: snapshot.manifest)
        }

        // A fresh node imports the verified snapshot and follows the chain from there.
        let store = try ChainStore(path: b.path, genesis: net.genesis.chainId, options: net.storeOptions())
        try store.importSnapshot(genesis: try record(view, 0), block: try record(view, height), stateRoot: header.stateRoot,
                                 entries: entries.sorted { $0.key.lexicographicallyPrecedes($1.key) })
        let eb = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
        #expect(eb.tipHeight == height && eb.finalizedHeight == height)
        for h in (height + 1)...ea.tipHeight {
            let hash = try #require(try view.canonicalHash(at: h))
            let blk = try #require(try ea.block(hash))
            guard case .tipChanged = try eb.importBlock(blk, now: net.now(blk.header.slot)) else { Issue.record("block \(h) not imported"); return }
        }
        #expect(eb.tipHash == ea.tipHash)
        #expect(try eb.store.current.dumpState() == ea.store.current.dumpState())
        // It produces on top as a replaying node would.
        let next = try net.produce(ea)
        guard case .tipChanged = try eb.importBlock(next, now: net.now(next.header.slot)) else { Issue.record("next block refused"); return }
        #expect(eb.tipHeader.stateRoot == ea.tipHeader.stateRoot)
        // Heights below the snapshot are not available on the synced node.
        #expect(try eb.store.current.stateRetainedFrom() == height)
    }

    /// The snapshot's bulk is ingested as SST files behind a marker; a load cut short before its completing batch
    /// (a crash) is undone when the store is opened again: the genesis-only store it was, byte for byte in state and
    /// history, no tree version of the snapshot, and a second load then succeeds.
    @Test func anInterruptedSnapshotLoadIsUndoneAtTheNextOpen() throws {
        let net = TestNetwork(validators: 2, accounts: 6)
        let a = TempDir(), b = TempDir(), fresh = TempDir()
        let ea = try net.engine(at: a)
        for i in 0..<6 {
            try net.produce(ea, txs: [try net.transfer(ea, from: i % 3, to: PrivateKey.generate().publicKey, amount: UInt64(100 + i))])
        }
        let view = try ea.store.readView()
        let height: UInt64 = 5
        let snapshot = try view.stateSnapshot(height: height)
        let header = try ChainEngine.loadHeader(view, snapshot.manifest.blockHash).header
        let entries = snapshot.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        // What a genesis-only store holds.
        let reference = try ChainStore(path: fresh.path, genesis: net.genesis.chainId, options: net.storeOptions())
        _ = try ChainEngine(genesis: net.genesis, store: reference, adjudicator: HashAdjudicator())
        let genesisState = try reference.current.dumpState()
        let genesisHistory = try reference.database.scan(reference.columns.history, prefix: [])

        do {
            let store = try ChainStore(path: b.path, genesis: net.genesis.chainId, options: net.storeOptions())
            _ = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
            try store.importSnapshot(genesis: try record(view, 0), block: try record(view, height), stateRoot: header.stateRoot,
                                     entries: entries, interruptBeforeCompletingForTests: true)
            // Cut short: the ingested state is visible, the tip is still genesis.
            #expect(try store.tip()?.height == 0)
            #expect(try store.current.dumpState() != genesisState)
            try store.close()
        }
        let store = try ChainStore(path: b.path, genesis: net.genesis.chainId, options: net.storeOptions())
        let eb = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
        #expect(eb.tipHeight == 0)
        #expect(try store.current.dumpState() == genesisState)
        #expect(try store.database.scan(store.columns.history, prefix: []) == genesisHistory)
        #expect(try store.database.get(store.columns.meta, ChainSchema.MetaKey.snapshotImport) == nil)
        #expect(throws: (any Error).self) { try StateTree.rootHash(store.tree.reader(), version: height) }
        #expect(try store.recoverInterruptedSnapshotImport(genesisState: []) == false, "nothing left to recover")
        // The load runs again to the end.
        let block = try #require(try ea.block(snapshot.manifest.blockHash))
        let receipts = try ChainEngine.decodeReceipts(try #require(try view.receipts(snapshot.manifest.blockHash)))
        try eb.adoptSnapshot(block: block, receipts: receipts, entries: entries)
        #expect(eb.tipHeight == height)
        #expect(try store.current.dumpState() == view.state(at: height).scan(prefix: [], after: nil, limit: .max))
    }

    /// Ninth review (F5): recovery ran only when the engine opened the store, so a second load in the same process
    /// (an ingestion error leaves the node up, and state sync chooses again) was laid over the first one's leftovers:
    /// its history entries and tree nodes at the first height, which no change record refers to. Now `adoptSnapshot`
    /// undoes the interrupted load first: the store ends exactly as a clean load of the second snapshot leaves it.
    @Test func aSecondSnapshotLoadInTheSameProcessUndoesTheInterruptedFirstOne() throws {
        let net = TestNetwork(validators: 2, accounts: 6)
        let a = TempDir(), b = TempDir(), clean = TempDir()
        let ea = try net.engine(at: a)
        for i in 0..<8 {
            try net.produce(ea, txs: [try net.transfer(ea, from: i % 3, to: PrivateKey.generate().publicKey, amount: UInt64(100 + i))])
        }
        let view = try ea.store.readView()
        func load(_ height: UInt64) throws -> (entries: [KeyValue], stateRoot: Hash32, block: Block, receipts: [Receipt]) {
            let snapshot = try view.stateSnapshot(height: height)
            let header = try ChainEngine.loadHeader(view, snapshot.manifest.blockHash).header
            let block = try #require(try ea.block(snapshot.manifest.blockHash))
            let receipts = try ChainEngine.decodeReceipts(try #require(try view.receipts(snapshot.manifest.blockHash)))
            return (snapshot.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }, header.stateRoot, block, receipts)
        }
        let first = try load(7), second = try load(4)
        #expect(first.entries != second.entries)

        let store = try ChainStore(path: b.path, genesis: net.genesis.chainId, options: net.storeOptions())
        let eb = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
        // The first load stops before its completing batch (as an ingestion error would), and the node stays up.
        try store.importSnapshot(genesis: try record(view, 0), block: try record(view, 7), stateRoot: first.stateRoot,
                                 entries: first.entries, interruptBeforeCompletingForTests: true)
        #expect(try store.database.get(store.columns.meta, ChainSchema.MetaKey.snapshotImport) != nil)
        // State sync chooses again: another block, in the same process.
        try eb.adoptSnapshot(block: second.block, receipts: second.receipts, entries: second.entries)
        #expect(eb.tipHeight == 4)

        // What a clean load of the second snapshot leaves.
        let reference = try ChainStore(path: clean.path, genesis: net.genesis.chainId, options: net.storeOptions())
        let er = try ChainEngine(genesis: net.genesis, store: reference, adjudicator: HashAdjudicator())
        try er.adoptSnapshot(block: second.block, receipts: second.receipts, entries: second.entries)
        #expect(try store.current.dumpState() == reference.current.dumpState())
        #expect(try store.database.scan(store.columns.history, prefix: []) == reference.database.scan(reference.columns.history, prefix: []),
                "history entries of the interrupted load at height 7 remain")
        #expect(throws: (any Error).self, "tree version 7 of the interrupted load remains") { try StateTree.rootHash(store.tree.reader(), version: 7) }
        #expect(try store.database.get(store.columns.meta, ChainSchema.MetaKey.snapshotImport) == nil)
        // A store-level load without the genesis state to recover with refuses rather than lay itself over leftovers.
        let c = TempDir()
        let third = try ChainStore(path: c.path, genesis: net.genesis.chainId, options: net.storeOptions())
        _ = try ChainEngine(genesis: net.genesis, store: third, adjudicator: HashAdjudicator())
        try third.importSnapshot(genesis: try record(view, 0), block: try record(view, 7), stateRoot: first.stateRoot,
                                 entries: first.entries, interruptBeforeCompletingForTests: true)
        #expect(throws: StorageError.self) {
            try third.importSnapshot(genesis: try record(view, 0), block: try record(view, 4), stateRoot: second.stateRoot, entries: second.entries)
        }
    }

    @Test func manifestRootMatchesTheTreeRootForEdgeShapes() throws {
        // Empty chunks, single-key chunks, and chunks whose keys share long prefixes.
        for n in [1, 2, 3, 17, 300] {
            let entries = (0..<n).map { i in KeyValue(key: Array("k\(i)".utf8), value: [UInt8(i & 0xFF)]) }
            var buckets = [[LeafNode]](repeating: [], count: 256)
            for e in entries {
                let l = LeafNode(keyHash: TreeHash.key(e.key), valueHash: TreeHash.value(e.value))
                buckets[StateSnapshot.chunkIndex(l.keyHash)].append(l)
            }
            let chunks = buckets.map { b -> SnapshotManifest.Chunk in
                let s = b.sorted { $0.keyHash < $1.keyHash }
                return .init(count: UInt64(s.count), hash: StateSnapshot.subtreeHash(s[...], depth: 8))
            }
            let root = try StateTree.root(of: entries.map { TreeUpdate(key: $0.key, value: $0.value) })
            #expect(SnapshotManifest(height: 0, blockHash: .zero, chunks: chunks).stateRoot() == root, "\(n) keys")
        }
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import StateTree
@testable import Storage
import TestSupport

/// Review B (security): a malicious peer serving a state snapshot. Each test performs the attack against the
/// verification and import code and asserts the secure outcome. DEFENDED on the reviewed code (regression tests).
@Suite struct SnapshotAttackTests {
    /// A source chain and the verified snapshot of one of its heights.
    func source() throws -> (TestNetwork, ChainEngine, ReadView, StateSnapshotData, BlockHeader, TempDir) {
        let net = TestNetwork(validators: 2, accounts: 6)
        let a = TempDir()
        let ea = try net.engine(at: a)
        for i in 0..<6 {
            try net.produce(ea, txs: [try net.transfer(ea, from: i % 3, to: PrivateKey.generate().publicKey, amount: UInt64(100 + i))])
        }
        let view = try ea.store.readView()
        let snapshot = try view.stateSnapshot(height: 5)
        let header = try ChainEngine.loadHeader(view, snapshot.manifest.blockHash).header
        try StateSnapshot.verify(snapshot.manifest, stateRoot: header.stateRoot)
        return (net, ea, view, snapshot, header, a)
    }

    /// A manifest whose counts were altered so that a one-key chunk's leaf sits in its empty neighbour's entry still
    /// adds up to the stateRoot (counts and placement are not hashed; spec §9 accepts that). It cannot make wrong data pass: the moved leaf's entry can be satisfied by no data (its key
    /// hash starts with another byte), and an empty entry means no data is asked for it.
    @Test func aManifestWithAMovedLeafAddsUpButNoDataSatisfiesIt() throws {
        let (_, _, _, snapshot, header, _) = try source()
        let chunks = snapshot.manifest.chunks
        // A one-key chunk beside an empty sibling chunk (pair 2i, 2i+1).
        guard let i = chunks.indices.first(where: { $0 % 2 == 0 && chunks[$0].count == 1 && chunks[$0 + 1].count == 0 })
            ?? chunks.indices.first(where: { $0 % 2 == 1 && chunks[$0].count == 1 && chunks[$0 - 1].count == 0 }) else {
            Issue.record("no one-key chunk beside an empty one in this state"); return
        }
        let j = i % 2 == 0 ? i + 1 : i - 1
        var forged = chunks
        forged[j] = chunks[i]
        forged[i] = .init(count: 0, hash: TreeHash.placeholder)
        let manifest = SnapshotManifest(height: 5, blockHash: snapshot.manifest.blockHash, chunks: forged)
        #expect(manifest.stateRoot() == header.stateRoot, "the altered manifest still adds up (expected by design)")
        // An empty entry with a junk hash (ignored by the combination here) is refused since review B's fix.
        var junk = forged
        junk[i] = .init(count: 0, hash: SHA256.hash([0xAA]))
        #expect(SnapshotManifest(height: 5, blockHash: snapshot.manifest.blockHash, chunks: junk).stateRoot() == nil)
        // The real key cannot be served in chunk j, and chunk i's real data contradicts its count.
        let real = snapshot.chunks[i].map { ($0.key, $0.value) }
        #expect(throws: SnapshotError.self) { try StateSnapshot.verify(chunk: real, index: j, manifest: manifest) }
        #expect(throws: SnapshotError.self) { try StateSnapshot.verify(chunk: real, index: i, manifest: manifest) }
    }

    /// Even with every chunk check bypassed (a bug in the P2P layer), the import recomputes the tree root over the
    /// pairs: a missing, an extra, a changed pair, a duplicate key or unsorted pairs are refused before anything is
    /// written, and the store stays the genesis-only store it was.
    @Test func importRefusesPairsThatDoNotAddUpEvenWithoutChunkChecks() throws {
        let (net, _, view, snapshot, header, _) = try source()
        let entries = snapshot.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        #expect(entries.count > 3)
        var tampered: [(String, [KeyValue])] = []
        tampered.append(("missing", Array(entries.dropLast())))
        var extra = entries
        extra.append(KeyValue(key: [0xFF, 0xFF, 0xFF, 0xFF], value: [1]))
        tampered.append(("extra", extra))
        var changed = entries
        changed[1] = KeyValue(key: changed[1].key, value: changed[1].value + [0])
        tampered.append(("changed", changed))
        var duplicate = entries
        duplicate.insert(entries[1], at: 1)
        tampered.append(("duplicate", duplicate))
        var unsorted = entries
        unsorted.swapAt(0, 1)
        tampered.append(("unsorted", unsorted))
        // A genesis key dropped from the snapshot while its real value is kept elsewhere: caught by the root too.
        let dir = TempDir()
        let store = try ChainStore(path: dir.path, genesis: net.genesis.chainId, options: net.storeOptions())
        let engine = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
        let before = try store.current.dumpState()
        for (name, list) in tampered {
            #expect(throws: (any Error).self, "\(name) pairs were imported") {
                try store.importSnapshot(genesis: try record(view, 0), block: try record(view, 5), stateRoot: header.stateRoot, entries: list)
            }
            #expect(try store.current.dumpState() == before, "\(name): state changed")
            #expect(try store.database.get(store.columns.meta, ChainSchema.MetaKey.snapshotImport) == nil, "\(name): marker left")
            #expect(engine.tipHeight == 0)
        }
        // The real pairs go in.
        try store.importSnapshot(genesis: try record(view, 0), block: try record(view, 5), stateRoot: header.stateRoot, entries: entries)
        #expect(try store.tip()?.height == 5)
    }

    /// A second import over an already-synced store (a peer replaying the adoption, or a restart mid-sync) is refused.
    @Test func aSecondSnapshotCannotOverwriteASyncedStore() throws {
        let (net, ea, view, snapshot, header, _) = try source()
        let entries = snapshot.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let dir = TempDir()
        let store = try ChainStore(path: dir.path, genesis: net.genesis.chainId, options: net.storeOptions())
        _ = try ChainEngine(genesis: net.genesis, store: store, adjudicator: HashAdjudicator())
        try store.importSnapshot(genesis: try record(view, 0), block: try record(view, 5), stateRoot: header.stateRoot, entries: entries)
        let older = try view.stateSnapshot(height: 3)
        let olderHeader = try ChainEngine.loadHeader(view, older.manifest.blockHash).header
        #expect(throws: (any Error).self) {
            try store.importSnapshot(genesis: try record(view, 0), block: try record(view, 3), stateRoot: olderHeader.stateRoot,
                                     entries: older.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) })
        }
        #expect(try store.tip()?.height == 5)
        _ = ea
    }
}

extension SnapshotAttackTests {
    /// FINDING (fails before the fix): an entry counted 0 whose hash is not the placeholder. Beside a chunk of two or
    /// more keys, an "empty" entry was combined as `node(its hash, sibling)`, so a manifest claiming a non-empty chunk
    /// empty (hash kept) added up to the stateRoot; a count-0 part is never downloaded nor checked. The manifest must
    /// be refused: an entry's hash is the placeholder exactly when its count is 0.
    @Test func aChunkCountedEmptyWithARealHashIsRefused() throws {
        // A state of 2 000 keys: most chunks hold several.
        let entries = (0..<2000).map { i in KeyValue(key: Array("key-\(i)".utf8), value: [UInt8(i & 0xFF)]) }
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
        let blockHash = SHA256.hash([7])
        #expect(SnapshotManifest(height: 5, blockHash: blockHash, chunks: chunks).stateRoot() == root)
        let header = (stateRoot: root, ())
        let snapshot = (manifest: SnapshotManifest(height: 5, blockHash: blockHash, chunks: chunks), ())
        guard let i = chunks.indices.first(where: { chunks[$0].count >= 2 && chunks[$0 ^ 1].count >= 2 }) else {
            Issue.record("no pair of chunks with 2+ keys each in this state"); return
        }
        var forged = chunks
        forged[i] = .init(count: 0, hash: chunks[i].hash)
        let manifest = SnapshotManifest(height: 5, blockHash: snapshot.manifest.blockHash, chunks: forged)
        #expect(manifest.stateRoot() != header.stateRoot, "a manifest skipping chunk \(i) (\(chunks[i].count) keys) adds up")
        #expect(throws: SnapshotError.self) { try StateSnapshot.verify(manifest, stateRoot: header.stateRoot) }
        // And the converse: a count above 0 with the placeholder hash.
        var empty = chunks
        if let e = chunks.indices.first(where: { chunks[$0].count == 0 }) {
            empty[e] = .init(count: 1, hash: TreeHash.placeholder)
            #expect(SnapshotManifest(height: 5, blockHash: snapshot.manifest.blockHash, chunks: empty).stateRoot() != header.stateRoot)
        }
    }
}

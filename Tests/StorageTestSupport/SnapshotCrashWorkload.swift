import Ledger
import Primitives
import StateTree
import Storage

/// Review B: the snapshot import the crash-test child runs (`StorageCrashChild <path> snapshot <keys>`) and the
/// parent checks after a SIGKILL: a genesis-only store (a genesis state of 64 keys, some of them overwritten and some
/// dropped by the snapshot), then `importSnapshot` of `keys` pairs at height 5. A pure function of `keys`.
public struct SnapshotCrashWorkload: Sendable {
    public let keys: Int
    public let genesisID = SHA256.hash(Array("snapshot-crash".utf8))
    public let genesisState: [KeyValue]
    public let entries: [KeyValue]
    public let stateRoot: Hash32
    public static let height: UInt64 = 5

    public init(keys: Int) throws {
        self.keys = keys
        var g = SplitMix64(seed: 42)
        var genesis = [[UInt8]: [UInt8]]()
        for i in 0..<64 { genesis[[0x00] + UInt32(i).bigEndianBytes] = g.bytes(8) }
        genesisState = genesis.map { KeyValue(key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var snapshot = [[UInt8]: [UInt8]]()
        // Half the genesis keys kept (some with new values), the other half dropped; then `keys` new ones.
        for (i, kv) in genesisState.enumerated() where i % 2 == 0 { snapshot[kv.key] = i % 4 == 0 ? kv.value : g.bytes(8) }
        for i in 0..<keys { snapshot[[0x01] + UInt32(i).bigEndianBytes + g.bytes(4)] = g.bytes(48) }
        entries = snapshot.map { KeyValue(key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        stateRoot = try StateTree.root(of: entries.map { TreeUpdate(key: $0.key, value: $0.value) })
    }

    public var genesisWriteSet: WriteSet { WriteSet(genesisState.map { WriteEntry(key: $0.key, value: $0.value) }) }

    public var genesisBlock: BlockRecord {
        BlockRecord(hash: SHA256.hash(Array("snapshot-crash genesis".utf8)), height: 0, parent: .zero, header: Array("genesis header".utf8),
                    body: Array("genesis body".utf8), receipts: [], transactions: [])
    }

    public var snapshotBlock: BlockRecord {
        BlockRecord(hash: SHA256.hash(Array("snapshot-crash block".utf8)), height: Self.height, parent: SHA256.hash(Array("parent".utf8)),
                    header: Array("snapshot header".utf8), body: Array("snapshot body".utf8), receipts: [1, 2, 3], transactions: [])
    }

    /// What the child does: open (recovering an interrupted load as the chain engine does, then committing genesis
    /// when the store is empty), and import unless the store already holds the snapshot. Calls `before` right before
    /// the import starts.
    public func run(path: String, before: () -> Void) throws {
        let store = try ChainStore(path: path, genesis: genesisID)
        try store.recoverInterruptedSnapshotImport(genesisState: genesisState)
        if try store.tip() == nil { try store.commit(genesisBlock, writeSet: genesisWriteSet, finalizedHeight: 0) }
        if try store.tip()?.height == 0 {
            before()
            try store.importSnapshot(genesis: genesisBlock, block: snapshotBlock, stateRoot: stateRoot, entries: entries)
        }
        try store.close()
    }
}

/// Review B: the pruning run the crash-test child does (`StorageCrashChild <path> prune <blocks>`): an archive of
/// `blocks` blocks of random writes (finality two blocks behind), then `pruneState` one height per call up to
/// `target`. A pure function of `blocks`.
public struct PruneCrashWorkload: Sendable {
    public let blocks: UInt64
    public let genesisID = SHA256.hash(Array("prune-crash".utf8))
    public let writeSets: [WriteSet]
    public var target: UInt64 { blocks - 3 }

    public init(blocks: UInt64) {
        self.blocks = blocks
        var g = SplitMix64(seed: 1234)
        writeSets = (0..<blocks).map { _ in RandomWrites.writeSet(&g, maxEntries: 20, spread: 40) }
    }

    public func block(_ h: UInt64) -> BlockRecord {
        BlockRecord(hash: SHA256.hash(Array("prune-crash \(h)".utf8)), height: h, parent: h == 0 ? .zero : SHA256.hash(Array("prune-crash \(h - 1)".utf8)),
                    header: Array("header \(h)".utf8), body: Array("body \(h)".utf8), receipts: [], transactions: [])
    }

    /// What the child does: build the chain if the store is empty, then prune one height at a time to `target`.
    public func run(path: String, before: () -> Void) throws {
        let store = try ChainStore(path: path, genesis: genesisID)
        if try store.tip() == nil {
            for h in 0..<blocks { try store.commit(block(h), writeSet: writeSets[Int(h)], finalizedHeight: h >= 2 ? h - 2 : 0) }
        }
        before()
        while try store.pruneState(retainFrom: target, maxHeights: 1) > 0 {}
        try store.close()
    }
}

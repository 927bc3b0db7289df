import Foundation
import Ledger
import Primitives
import PropertyTestSupport
@testable import StateTree
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

/// The chain store's in-memory copies of the latest state (`LatestStateCache`) and of the latest tree versions'
/// nodes (`RecentTreeNodes`): whatever the commits, reverts and snapshot loads, a read through `current` and a tree
/// update give what RocksDB alone gives.
@Suite struct CachedStateTests {
    /// Tiny caches, so random chains rotate and evict all the time.
    static var tinyCaches: DatabaseOptions {
        var o = DatabaseOptions.small
        o.latestStateCacheBytes = 6_000
        o.recentTreeNodes = 24
        return o
    }

    static var noCaches: DatabaseOptions {
        var o = DatabaseOptions.small
        o.latestStateCacheBytes = 0
        o.recentTreeNodes = 0
        return o
    }

    // MARK: LatestStateCache alone

    @Test func aMissRemembersTheValueAndACommitReplacesIt() {
        let cache = LatestStateCache(capacityBytes: 1 << 20)
        guard case .miss(let g) = cache.lookup([1]) else { Issue.record("empty cache hit"); return }
        cache.remember([1], [7], readAt: g)
        #expect(cache.lookup([1]) == .hit([7]))
        cache.committed([WriteEntry(key: [1], value: [8]), WriteEntry(key: [2], value: nil)])
        #expect(cache.lookup([1]) == .hit([8]))
        #expect(cache.lookup([2]) == .hit(nil), "a deletion is remembered as an absence")
        cache.forgetAll()
        guard case .miss = cache.lookup([1]) else { Issue.record("forgotten key still cached"); return }
    }

    /// A reader that missed, then read RocksDB just before a commit wrote the key, must not leave its (older) value.
    @Test func aValueReadBeforeACommitIsNotKeptAfterIt() {
        let cache = LatestStateCache(capacityBytes: 1 << 20)
        guard case .miss(let g) = cache.lookup([1]) else { Issue.record("empty cache hit"); return }
        cache.committed([WriteEntry(key: [1], value: [2])])          // the commit lands between the reader's lookup and its remember
        cache.remember([1], [1], readAt: g)    // the reader's value from before the commit
        #expect(cache.lookup([1]) == .hit([2]))
        // Same with a key the commit did not write: refused too (the reader cannot tell which keys changed).
        guard case .miss(let g2) = cache.lookup([3]) else { Issue.record("hit"); return }
        cache.committed([WriteEntry(key: [4], value: [4])])
        cache.remember([3], [3], readAt: g2)
        guard case .miss = cache.lookup([3]) else { Issue.record("a read from before a commit was kept"); return }
        cache.forgetAll()
        guard case .miss(let g3) = cache.lookup([5]) else { Issue.record("hit"); return }
        cache.forgetAll()
        cache.remember([5], [5], readAt: g3)
        guard case .miss = cache.lookup([5]) else { Issue.record("a read from before a snapshot load was kept"); return }
    }

    /// Rotations never bring back a value a commit replaced, and the bytes kept stay bounded.
    @Test func rotationsNeverReviveAReplacedValue() {
        let cache = LatestStateCache(capacityBytes: 4_000)
        var latest: [[UInt8]: [UInt8]?] = [:]
        var g = SplitMix64(seed: 7)
        for step in 0..<5_000 {
            let key: [UInt8] = [UInt8(g.next() % 64)]
            switch g.next() % 3 {
            case 0:
                let value: [UInt8]? = g.chance(0.2) ? nil : [UInt8(step & 0xFF), UInt8(step >> 8)]
                cache.committed([WriteEntry(key: key, value: value)])
                latest[key] = .some(value)
            default:
                switch cache.lookup(key) {
                case .hit(let v):
                    #expect(v == (latest[key] ?? nil), "step \(step): cached \(String(describing: v)) for \(key)")
                case .miss(let gen):
                    cache.remember(key, latest[key] ?? nil, readAt: gen)
                }
            }
            #expect(cache.count <= 2 * 4_000 / (LatestStateCache.entryOverhead + 1))
        }
    }

    // MARK: RecentTreeNodes alone

    @Test func recentNodesKeepTheNewestVersionsWithinCapacity() throws {
        let nodes = RecentTreeNodes(capacity: 10)
        func batch(_ v: UInt64, _ n: Int) -> TreeBatch {
            let writes = (0..<n).map { i in
                NodeWrite(key: NodeKey(version: v, path: NibblePath(prefixOf: SHA256.hash([UInt8(i)]), count: 8)), node: .empty)
            }
            return TreeBatch(version: v, rootHash: .zero, nodes: writes, staleNodes: [])
        }
        nodes.remember(batch(1, 6))
        nodes.remember(batch(2, 6))
        #expect(nodes.count == 6, "the oldest version goes whole once over capacity")
        #expect(nodes.lookup([batch(1, 6).nodes[0].key]) == [nil])
        #expect(nodes.lookup([batch(2, 6).nodes[0].key]) == [.empty])
        nodes.remember(batch(3, 30))
        #expect(nodes.count == 30, "the newest version stays even above capacity")
        nodes.remember(batch(3, 2))
        #expect(nodes.count == 2, "a version written again replaces what was kept of it")
        nodes.forgetAll()
        #expect(nodes.count == 0)
    }

    // MARK: Through the chain store

    /// Random chains with reverts and re-adoptions, on a store with tiny caches and one without: after every step
    /// every key reads the same through `get` and `getMany`, and the next version's tree root is the same.
    @Test func cachedStoreReadsAndRootsMatchAStoreWithoutCaches() async {
        await checkSeeds(count: 12) { seed in
            let (a, b) = (TempDir("cached"), TempDir("uncached"))
            try withExtendedLifetime((a, b)) {
                try Self.compareChains(seed: seed, cached: a.db, uncached: b.db)
            }
        }
    }

    static func compareChains(seed: UInt64, cached: String, uncached: String) throws {
        var g = SplitMix64(seed: seed)
        let genesis = Hash32.test("cached")
        let stores = [try ChainStore(path: cached, genesis: genesis, options: tinyCaches),
                      try ChainStore(path: uncached, genesis: genesis, options: noCaches)]
        // Every key the random write sets can touch, and a few they cannot.
        var keys = Set<[UInt8]>([[], [0x03], [0x00, 0x00]])
        var parents: [Hash32] = []
        var g2 = SplitMix64(seed: seed ^ 0xC0FFEE)

        func check(_ what: String) throws {
            let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
            // Reads in random order and twice, so some are misses that fill the cache and some are hits.
            for _ in 0..<2 {
                for k in sorted.shuffled(using: &g2) {
                    let (x, y) = (try stores[0].current.get(k), try stores[1].current.get(k))
                    #expect(x == y, "\(what): key \(Hex.encode(k))")
                }
            }
            #expect(try stores[0].current.getMany(sorted) == (try stores[1].current.getMany(sorted)), "\(what): getMany")
            #expect(try stores[0].current.dumpState() == (try stores[1].current.dumpState()), "\(what): state")
        }

        func commit(_ ws: WriteSet) throws {
            for e in ws.entries { keys.insert(e.key) }
            let height = UInt64(parents.count)
            let block = testBlock("cached \(seed) \(height) \(g.next())", height: height, parent: parents.last ?? .zero)
            // Half the time prepared first (as block import does), half inside the commit.
            if g.chance(0.5) {
                var roots: [Hash32] = []
                for s in stores {
                    let prepared = try s.prepareTree(writeSet: ws, height: height)
                    roots.append(prepared.rootHash)
                    try s.commit(block, writeSet: ws, prepared: prepared)
                }
                #expect(roots[0] == roots[1], "tree root at height \(height)")
            } else {
                for s in stores { try s.commit(block, writeSet: ws) }
                #expect(try stores[0].tree.rootHash(version: height) == (try stores[1].tree.rootHash(version: height)), "tree root at height \(height)")
            }
            parents.append(block.hash)
            try check("after committing height \(height)")
        }

        try commit(RandomWrites.writeSet(&g, maxEntries: 40, spread: 30))
        var reverted: [WriteSet] = []
        var history: [WriteSet] = []
        for _ in 0..<40 {
            if parents.count == 1 || g.chance(0.6) {
                let ws = g.chance(0.2) && !reverted.isEmpty ? reverted.removeLast() : RandomWrites.writeSet(&g, maxEntries: 40, spread: 30)
                history.append(ws)
                try commit(ws)
                continue
            }
            let depth = 1 + Int(g.next() % UInt64(min(4, parents.count - 1)))
            for _ in 0..<depth {
                for s in stores { try s.revertTip() }
                parents.removeLast()
                reverted.append(history.removeLast())
            }
            try check("after reverting \(depth) blocks to height \(parents.count - 1)")
        }
        for s in stores { try s.close() }
    }

    /// A genesis-only store whose cache holds every genesis key loads a snapshot: reads give the snapshot's values,
    /// absences for the keys it dropped, and the next tree update starts from the snapshot's version.
    @Test func aSnapshotLoadReplacesEverythingCached() throws {
        let workload = try SnapshotCrashWorkload(keys: 40)
        try withTempDirectory("cached-snapshot") { path in
            var options = DatabaseOptions.small
            options.latestStateCacheBytes = 1 << 20
            options.recentTreeNodes = 1_000
            let store = try ChainStore(path: path, genesis: workload.genesisID, options: options)
            try store.commit(workload.genesisBlock, writeSet: workload.genesisWriteSet, finalizedHeight: 0)
            for kv in workload.genesisState { #expect(try store.current.get(kv.key) == kv.value) }
            #expect(store.stateCache.count > 0 && store.tree.recent.count > 0)
            try store.importSnapshot(genesis: workload.genesisBlock, block: workload.snapshotBlock, stateRoot: workload.stateRoot,
                                     entries: workload.entries)
            let now = Dictionary(uniqueKeysWithValues: workload.entries.map { ($0.key, $0.value) })
            for kv in workload.genesisState { #expect(try store.current.get(kv.key) == now[kv.key], "genesis key \(Hex.encode(kv.key))") }
            for kv in workload.entries.prefix(10) { #expect(try store.current.get(kv.key) == kv.value) }
            // The next block's tree update reads the snapshot version's nodes.
            let ws = writes([([0x00] + UInt32(0).bigEndianBytes, [9]), ([0x07], [1])])
            let prepared = try store.prepareTree(writeSet: ws, height: SnapshotCrashWorkload.height + 1)
            var expected = Dictionary(uniqueKeysWithValues: workload.entries.map { ($0.key, $0.value) })
            for e in ws.entries { expected[e.key] = e.value }
            #expect(prepared.rootHash == (try StateTree.root(of: expected.map { TreeUpdate(key: $0.key, value: $0.value) })))
            try store.close()
        }
    }

    /// Readers of `current` on other threads race the writer's commits, with a cache small enough that they keep
    /// missing and filling it: after each commit the writer reads every key's new value (none of the racing reads
    /// left an older value behind).
    @Test func concurrentReadersNeverLeaveAStaleValue() throws {
        let dir = TempDir("cached-race")
        var options = DatabaseOptions.small
        options.latestStateCacheBytes = 1_600   // about 8 of these entries per generation
        let store = try ChainStore(path: dir.db, genesis: .test("race"), options: options)
        let keys: [[UInt8]] = (0..<16).map { [0x01, UInt8($0)] }
        try store.commit(testBlock("race 0", height: 0, parent: .zero), writeSet: writes(keys.map { ($0, [0]) }))
        let stopped = SharedCounter(), finished = DispatchGroup()
        let reads = SharedCounter(), stale = SharedCounter(), failures = SharedCounter()
        // Reader threads (not tasks: spinning tasks could starve the writer of the cooperative pool's threads).
        for r in 0..<2 {
            finished.enter()
            Thread {
                defer { finished.leave() }
                var i = r
                while stopped.count == 0 {
                    do {
                        _ = try store.current.get(keys[i % keys.count])
                        if i % 7 == 0 { _ = try store.current.getMany(keys) }
                    } catch { failures.increment() }
                    i += 1
                    reads.increment()
                }
            }.start()
        }
        var parent = Hash32.test("race 0")
        for h in 1...300 {
            let block = testBlock("race \(h)", height: UInt64(h), parent: parent)
            try store.commit(block, writeSet: writes(keys.map { ($0, UInt32(h).bigEndianBytes) }))
            parent = block.hash
            for k in keys where try store.current.get(k) != UInt32(h).bigEndianBytes { stale.increment() }
        }
        stopped.increment()
        finished.wait()
        #expect(failures.count == 0)
        #expect(reads.count > 0)
        #expect(stale.count == 0, "reads of an older value after its commit")
        try store.close()
        withExtendedLifetime(dir) {}
    }
}

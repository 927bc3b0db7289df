import Foundation
import Ledger
import Primitives
import PropertyTestSupport
import StateTree
import Testing

@testable import Storage
import TestSupport

/// The RocksDB node store against `MemoryTreeStore`: same bytes after every commit, revert and prune.
@Suite struct StateTreeStoreTests {
    static func open(_ dir: TempDir) throws -> (Database, StateTreeStore) {
        let db = try Database.open(path: dir.db, columnFamilies: StateTreeSchema.columnFamilies + [ColumnFamilyDescriptor("state")], options: .small)
        return (db, try StateTreeStore(database: db))
    }

    /// Every stored node, decoded, by key.
    static func storedNodes(_ db: Database) throws -> [NodeKey: TreeNode] {
        var out: [NodeKey: TreeNode] = [:]
        for kv in try db.scan(try db.columnFamily(StateTreeSchema.Family.nodes), prefix: []) {
            out[try NodeKey(storageKey: kv.key)] = try TreeNode(canonicalEncoding: kv.value)
        }
        return out
    }

    /// The stale index as the memory store keeps it (order within a version aside).
    static func storedStale(_ db: Database) throws -> [UInt64: Set<NodeKey>] {
        var out: [UInt64: Set<NodeKey>] = [:]
        for kv in try db.scan(try db.columnFamily(StateTreeSchema.Family.stale), prefix: []) {
            #expect(kv.key.count == 8)
            let v = KeyBytes.readBE(UInt64.self, kv.key, at: 0)!
            let keys = try StateTreeSchema.decodeStale(kv.value, key: kv.key)
            #expect(!keys.isEmpty && Set(keys).count == keys.count)
            out[v] = Set(keys)
        }
        return out
    }

    static func expectSame(_ db: Database, _ model: MemoryTreeStore) throws {
        #expect(try storedNodes(db) == model.nodes)
        #expect(try storedStale(db) == model.staleIndex.mapValues { Set($0) })
    }

    static func randomUpdates(_ g: inout SplitMix64, keys: inout [[UInt8]]) -> [TreeUpdate] {
        var byKey: [[UInt8]: [UInt8]?] = [:]
        for _ in 0..<(g.next() % 60) {
            if g.next() % 4 == 0, !keys.isEmpty {
                byKey[keys[Int(g.next() % UInt64(keys.count))]] = .some(nil)
            } else {
                let k = Array("key-\(g.next() % 500)".utf8)
                keys.append(k)
                byKey[k] = Array("value-\(g.next())".utf8)
            }
        }
        return TreeUpdate.sorted(byKey.map { TreeUpdate(key: $0.key, value: $0.value) })
    }

    @Test func commitsRevertsAndPrunesMatchTheMemoryStore() async {
        await checkSeeds(count: 8) { seed in
            let dir = TempDir("tree")
            let (db, store) = try Self.open(dir)
            var model = MemoryTreeStore()
            var g = SplitMix64(seed: seed)
            var keys: [[UInt8]] = []
            var version: UInt64?
            var history: [MemoryTreeStore] = []
            var pruned: UInt64 = 0
            for _ in 0..<20 {
                let updates = Self.randomUpdates(&g, keys: &keys)
                let next = version.map { $0 + 1 } ?? 0
                let batch = try store.prepare(base: version, version: next, updates: updates)
                let expected = try StateTree.apply(model, base: version, version: next, updates: updates)
                #expect(batch.rootHash == expected.rootHash)
                let wb = try db.makeWriteBatch()
                store.write(batch, into: wb)
                try db.write(wb, sync: false)
                history.append(model)
                model.commit(batch)
                version = next
                try Self.expectSame(db, model)
                #expect(try store.rootHash(version: next) == batch.rootHash)

                switch g.next() % 5 {
                case 0 where next > pruned:
                    // Revert one version (never below what pruning kept).
                    let wb = try db.makeWriteBatch()
                    try store.revert(version: next, into: wb)
                    try db.write(wb, sync: false)
                    model = history.removeLast()
                    version = next == 0 ? nil : next - 1
                    try Self.expectSame(db, model)
                case 1:
                    let keepFrom = g.next() % (next + 1)
                    pruned = max(pruned, keepFrom)
                    model.prune(keepingFrom: keepFrom)
                    try store.prune(keepingFrom: keepFrom, chunk: 7)
                    try Self.expectSame(db, model)
                    for v in pruned...next { #expect(try store.rootHash(version: v) == (try StateTree.rootHash(model, version: v))) }
                    // Versions below the pruned height can no longer be reverted to; the ones that can are
                    // pruned alike.
                    history = history.suffix(Int(next - pruned)).map { m in
                        var m = m
                        m.prune(keepingFrom: pruned)
                        return m
                    }
                default:
                    break
                }
            }
            if let version {
                let root = try store.rootHash(version: version)
                for k in Set(keys) {
                    let proof = try store.proof(version: version, keyHash: TreeHash.key(k))
                    let v = try StateTree.get(model, version: version, keyHash: TreeHash.key(k))
                    #expect(proof.verify(root: root, keyHash: TreeHash.key(k), valueHash: v))
                }
            }
        }
    }

    /// The tree's writes join the caller's batch: nothing is visible before it is written, all of it after.
    @Test func treeUpdateIsPartOfTheCallersBatch() throws {
        let dir = TempDir("tree")
        let (db, store) = try Self.open(dir)
        let state = try db.columnFamily("state")
        let updates = TreeUpdate.sorted((0..<100).map { TreeUpdate(key: [UInt8($0)], value: [1]) })
        let batch = try store.prepare(base: nil, version: 0, updates: updates)
        let wb = try db.makeWriteBatch()
        wb.put(state, [1], [1])
        store.write(batch, into: wb)
        #expect(throws: StateTreeError.missingNode(.root(0))) { try store.rootHash(version: 0) }
        try db.write(wb, sync: true)
        #expect(try store.rootHash(version: 0) == batch.rootHash)
        #expect(try db.get(state, [1]) == [1])
    }

    @Test func corruptRecordsAreReported() throws {
        let dir = TempDir("tree")
        let (db, store) = try Self.open(dir)
        try db.put(try db.columnFamily(StateTreeSchema.Family.nodes), NodeKey.root(3).storageKey, [9])
        #expect(throws: StorageError.self) { try store.rootHash(version: 3) }
        // A stale record with a trailing byte.
        let record = StateTreeSchema.encodeStale([NodeKey.root(1)]) + [0]
        try db.put(try db.columnFamily(StateTreeSchema.Family.stale), StateTreeSchema.staleKey(2), record)
        #expect(throws: StorageError.self) { try store.prune(keepingFrom: 5) }
    }

    @Test func snapshotReadsOneVersionWhileNewOnesAreWritten() throws {
        let dir = TempDir("tree")
        let (db, store) = try Self.open(dir)
        let first = try store.prepare(base: nil, version: 0, updates: [TreeUpdate(key: [1], value: [1])])
        var wb = try db.makeWriteBatch()
        store.write(first, into: wb)
        try db.write(wb, sync: false)
        let snap = try db.snapshot()
        let second = try store.prepare(base: 0, version: 1, updates: [TreeUpdate(key: [1], value: [2])])
        wb = try db.makeWriteBatch()
        store.write(second, into: wb)
        try db.write(wb, sync: false)
        #expect(throws: StateTreeError.missingNode(.root(1))) { try store.rootHash(version: 1, snapshot: snap) }
        #expect(try store.proof(version: 0, keyHash: TreeHash.key([1]), snapshot: snap).verify(root: first.rootHash, key: [1], value: [1]))
        #expect(try store.proof(version: 1, keyHash: TreeHash.key([1])).verify(root: second.rootHash, key: [1], value: [2]))
    }
}

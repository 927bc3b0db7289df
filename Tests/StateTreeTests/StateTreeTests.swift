import Primitives
import PropertyTestSupport
import Testing

@testable import StateTree

/// A tree in memory with its model: the key/value set every version should hold.
struct Harness {
    var store = MemoryTreeStore()
    var version: UInt64?
    var model: [Hash32: Hash32] = [:]
    var history: [(version: UInt64, store: MemoryTreeStore, model: [Hash32: Hash32])] = []

    /// Applies `updates` (any order) as the next version and checks the root against the reference.
    @discardableResult
    mutating func apply(_ updates: [TreeUpdate]) throws -> TreeBatch {
        let next = version.map { $0 + 1 } ?? 0
        let batch = try StateTree.apply(store, base: version, version: next, updates: TreeUpdate.sorted(updates))
        history.append((next, store, model))
        store.commit(batch)
        version = next
        for u in updates { model[u.keyHash] = u.valueHash }
        #expect(batch.rootHash == Reference.root(model))
        #expect(try StateTree.rootHash(store, version: next) == batch.rootHash)
        #expect(batch.nodes.allSatisfy { $0.key.version == next })
        // Leaves live in their parents: the only stored leaf is a one-key tree's root.
        #expect(batch.nodes.allSatisfy { if case .leaf = $0.node { $0.key.path.count == 0 } else { true } })
        return batch
    }

    /// Reverts the newest version; the store must be exactly what it was before that version.
    mutating func revert() {
        let last = history.removeLast()
        store.revert(version: last.version)
        #expect(store.nodes == last.store.nodes)
        #expect(store.staleIndex == last.store.staleIndex)
        model = last.model
        version = history.last?.version
    }
}

func value(_ i: UInt64) -> Hash32 { SHA256.hash(i.bigEndianBytes) }

@Suite struct StateTreeTests {
    @Test func emptyTreeRootIsThePlaceholder() throws {
        var h = Harness()
        let batch = try h.apply([])
        #expect(batch.rootHash == TreeHash.placeholder)
        #expect(batch.nodes == [NodeWrite(key: .root(0), node: .empty)])
        let proof = try StateTree.proof(h.store, version: 0, keyHash: value(1))
        #expect(proof == StateProof(leaf: nil, siblings: []))
        #expect(proof.verify(root: batch.rootHash, keyHash: value(1), valueHash: nil))
    }

    @Test func singleKeyRootIsItsLeaf() throws {
        var h = Harness()
        let k = value(7), v = value(8)
        let batch = try h.apply([TreeUpdate(keyHash: k, valueHash: v)])
        #expect(batch.rootHash == TreeHash.leaf(keyHash: k, valueHash: v))
        #expect(try StateTree.get(h.store, version: 0, keyHash: k) == v)
        #expect(try StateTree.get(h.store, version: 0, keyHash: value(9)) == nil)
    }

    @Test func rootOfASetNeedsNoStore() throws {
        var g = KeyGenerator(seed: 5)
        var model: [Hash32: Hash32] = [:]
        for _ in 0..<100 { model[g.next()] = value(g.rng.next()) }
        #expect(try StateTree.root(of: model.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) }) == Reference.root(model))
        #expect(try StateTree.root(of: []) == TreeHash.placeholder)
    }

    /// The parallel update writes exactly what the sequential one does, in the same order.
    @Test func parallelApplyEqualsSequential() async {
        await checkSeeds(count: 10) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            try h.apply((0..<3000).map { _ in TreeUpdate(keyHash: g.next(), valueHash: value(g.rng.next())) })
            for _ in 0..<3 {
                var updates: [Hash32: Hash32?] = [:]
                for _ in 0..<(200 + g.rng.next() % 800) {
                    switch g.rng.next() % 4 {
                    case 0: if let k = g.existing() { updates[k] = .some(nil) }
                    case 1: if let k = g.existing() { updates[k] = value(g.rng.next()) }
                    default: updates[g.next()] = value(g.rng.next())
                    }
                }
                let sorted = TreeUpdate.sorted(updates.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) })
                let parallel = try StateTree.applyParallel(h.store, base: h.version, version: h.version! + 1, updates: sorted)
                let sequential = try h.apply(sorted)
                #expect(parallel.rootHash == sequential.rootHash)
                #expect(parallel.nodes == sequential.nodes)
                #expect(parallel.staleNodes == sequential.staleNodes)
            }
        }
    }

    /// Counts single and batched reads.
    final class CountingReader: TreeNodeReader, @unchecked Sendable {
        let base: MemoryTreeStore
        var single = 0, batches = 0, read = 0
        init(_ base: MemoryTreeStore) { self.base = base }
        func node(_ key: NodeKey) -> TreeNode? { single += 1; read += 1; return base.node(key) }
        func nodes(_ keys: [NodeKey]) -> [TreeNode?] { batches += 1; read += keys.count; return keys.map { base.node($0) } }
    }

    /// The update reads the nodes it needs in one batch per tree level, not one by one: only the root alone.
    @Test func updatesPrefetchOneBatchPerLevel() throws {
        var h = Harness()
        var g = KeyGenerator(seed: 9)
        try h.apply((0..<5000).map { _ in TreeUpdate(keyHash: g.randomHash(), valueHash: value(g.rng.next())) })
        let reader = CountingReader(h.store)
        let updates = TreeUpdate.sorted((0..<500).map { _ in TreeUpdate(keyHash: g.randomHash(), valueHash: value(1)) })
        let batch = try StateTree.apply(reader, base: 0, version: 1, updates: updates)
        #expect(reader.single == 1)
        #expect(reader.batches >= 3 && reader.batches <= 6)
        h.store.commit(batch)
        var model = h.model
        for u in updates { model[u.keyHash] = u.valueHash }
        #expect(batch.rootHash == Reference.root(model))
    }

    /// Leaves are held by their parents: an update of overwrites, inserts and deletions (leaves moving up as
    /// subtrees collapse) reads internal nodes only, and the parallel update writes the same nodes.
    @Test func updatesReadNoLeafAndRunTheSameInParallel() async {
        final class KindCountingReader: TreeNodeReader, @unchecked Sendable {
            let base: MemoryTreeStore
            var leaves = 0, internals = 0
            init(_ base: MemoryTreeStore) { self.base = base }
            func node(_ key: NodeKey) -> TreeNode? {
                let n = base.node(key)
                switch n {
                case .leaf?: leaves += 1
                case .internal?: internals += 1
                default: break
                }
                return n
            }
        }
        await checkSeeds(count: 15) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            try h.apply((0..<2000).map { _ in TreeUpdate(keyHash: g.next(), valueHash: value(g.rng.next())) })
            var updates: [TreeUpdate] = []
            var keys = Set<Hash32>()
            for _ in 0..<600 {
                let k = g.rng.next() % 3 == 0 ? g.next() : g.existing()!
                guard keys.insert(k).inserted else { continue }
                updates.append(TreeUpdate(keyHash: k, valueHash: g.rng.next() % 3 == 0 ? nil : value(g.rng.next())))
            }
            let reader = KindCountingReader(h.store)
            let sequential = try StateTree.apply(reader, base: 0, version: 1, updates: TreeUpdate.sorted(updates))
            let parallel = try StateTree.applyParallel(h.store, base: 0, version: 1, updates: TreeUpdate.sorted(updates))
            #expect(reader.leaves == 0 && reader.internals > 0, "read \(reader.leaves) leaves, \(reader.internals) internal nodes")
            #expect(parallel.rootHash == sequential.rootHash)
            #expect(parallel.nodes == sequential.nodes)
            #expect(parallel.staleNodes == sequential.staleNodes)
            try h.apply(updates)
            #expect(h.store.nodes.allSatisfy { if case .leaf = $0.value { $0.key.path.count == 0 } else { true } })
        }
    }

    /// Paging through the leaves of a version yields its whole key/value set, in key-hash order, once.
    @Test func leavesPageThroughAVersion() async {
        await checkSeeds(count: 15) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            try h.apply((0..<Int(g.rng.next() % 400)).map { _ in TreeUpdate(keyHash: g.next(), valueHash: value(g.rng.next())) })
            let old = h.model
            try h.apply(h.model.keys.prefix(50).map { TreeUpdate(keyHash: $0, valueHash: nil) })
            for (version, model) in [(UInt64(0), old), (1, h.model)] {
                let limit = 1 + Int(g.rng.next() % 60)
                var all: [LeafNode] = []
                var after: Hash32?
                while true {
                    let page = try StateTree.leaves(h.store, version: version, after: after, limit: limit)
                    #expect(page.count <= limit)
                    all += page
                    if page.count < limit { break }
                    after = page.last!.keyHash
                }
                #expect(all == model.sorted { $0.key < $1.key }.map { LeafNode(keyHash: $0.key, valueHash: $0.value) })
            }
        }
    }

    @Test func rawKeysHashWithPlainSHA256() {
        let u = TreeUpdate(key: Array("account/alice".utf8), value: [])
        #expect(u.keyHash == SHA256.hash(Array("account/alice".utf8)))
        #expect(u.valueHash == SHA256.hash([]))
        #expect(TreeUpdate(key: [1], value: nil).valueHash == nil)
    }

    @Test func updatesMustBeSortedAndUnique() throws {
        let a = TreeUpdate(keyHash: value(1), valueHash: value(1))
        let b = TreeUpdate(keyHash: value(2), valueHash: value(2))
        let (lo, hi) = a.keyHash < b.keyHash ? (a, b) : (b, a)
        #expect(throws: StateTreeError.unsortedUpdates(index: 1)) {
            try StateTree.apply(MemoryTreeStore(), base: nil, version: 0, updates: [hi, lo])
        }
        #expect(throws: StateTreeError.unsortedUpdates(index: 1)) {
            try StateTree.apply(MemoryTreeStore(), base: nil, version: 0, updates: [lo, lo])
        }
        var h = Harness()
        try h.apply([lo])
        #expect(throws: StateTreeError.versionNotIncreasing(base: 0, version: 0)) {
            try StateTree.apply(h.store, base: 0, version: 0, updates: [])
        }
        #expect(throws: StateTreeError.missingNode(.root(5))) {
            try StateTree.apply(h.store, base: 5, version: 6, updates: [])
        }
    }

    /// Two keys that agree on their first 255 bits: a chain of 63 single-child internal nodes, binary
    /// siblings that are all placeholders but the last, and a full collapse when one goes.
    @Test func keysSharingAlmostEveryBit() throws {
        var h = Harness()
        let a = value(1)
        var bytes = a.bytes
        bytes[31] ^= 1
        let b = Hash32(bytes: bytes)!
        let batch = try h.apply([TreeUpdate(keyHash: a, valueHash: value(10)), TreeUpdate(keyHash: b, valueHash: value(11))])
        #expect(batch.nodes.count == 64)  // internal nodes at depths 0...63; the two leaves are held by the last
        let proof = try StateTree.proof(h.store, version: 0, keyHash: a)
        #expect(proof.siblings.count == 256)
        #expect(proof.siblings.dropLast().allSatisfy { $0 == TreeHash.placeholder })
        #expect(proof.verify(root: batch.rootHash, keyHash: a, valueHash: value(10)))
        #expect(proof.canonicalEncoding.count == 1 + 64 + 2 + 32 + 32)
        let del = try h.apply([TreeUpdate(keyHash: b, valueHash: nil)])
        #expect(del.rootHash == TreeHash.leaf(keyHash: a, valueHash: value(10)))
        #expect(del.staleNodes.count == 64)
        #expect(del.nodes.count == 1)  // the root, now the remaining leaf
    }

    @Test func noOpUpdatesWriteOnlyTheRootCopy() throws {
        var h = Harness()
        var g = KeyGenerator(seed: 3)
        let keys = (0..<50).map { _ in g.next() }
        try h.apply(keys.enumerated().map { TreeUpdate(keyHash: $1, valueHash: value(UInt64($0))) })
        let absent = g.randomHash()
        let batch = try h.apply([
            TreeUpdate(keyHash: keys[3], valueHash: value(3)),  // same value
            TreeUpdate(keyHash: absent, valueHash: nil),        // delete an absent key
        ])
        #expect(batch.nodes.map(\.key) == [.root(1)])
        #expect(batch.staleNodes == [.root(0)])
    }

    /// The root depends on the key/value set only: random histories (inserts, overwrites, deletes, in
    /// batches of random size) end at the reference root of their final set, and rebuilding that set in
    /// one batch, in any order, gives the same root.
    @Test func rootDependsOnlyOnTheSet() async {
        await checkSeeds(count: 40) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            for _ in 0..<(1 + g.rng.next() % 12) {
                var updates: [Hash32: Hash32?] = [:]
                for _ in 0..<(g.rng.next() % 40) {
                    switch g.rng.next() % 4 {
                    case 0: if let k = g.existing() { updates[k] = .some(nil) }
                    case 1: if let k = g.existing() { updates[k] = value(g.rng.next()) }
                    default: updates[g.next()] = value(g.rng.next())
                    }
                }
                try h.apply(updates.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) })
            }
            var fresh = Harness()
            let rebuilt = try fresh.apply(h.model.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) })
            #expect(rebuilt.rootHash == (try StateTree.rootHash(h.store, version: h.version!)))
            // The stored shape is canonical too: the rebuilt tree has as many nodes as the live one.
            #expect(try fresh.store.reachable(version: 0).count == (try h.store.reachable(version: h.version!).count))
        }
    }

    /// Presence and absence proofs verify, equal the reference proofs, and fail for another value,
    /// another key, or another root.
    @Test func proofsVerify() async {
        await checkSeeds(count: 30) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            let n = Int(g.rng.next() % 200)
            try h.apply((0..<n).map { _ in TreeUpdate(keyHash: g.next(), valueHash: value(g.rng.next())) })
            let deleted = h.model.keys.sorted().prefix(n / 4)
            let batch = try h.apply(deleted.map { TreeUpdate(keyHash: $0, valueHash: nil) })
            let root = batch.rootHash
            for (k, v) in h.model {
                let proof = try StateTree.proof(h.store, version: 1, keyHash: k)
                #expect(proof == Reference.proof(h.model, key: k))
                #expect(proof.verify(root: root, keyHash: k, valueHash: v))
                #expect(!proof.verify(root: root, keyHash: k, valueHash: nil))
                #expect(!proof.verify(root: root, keyHash: k, valueHash: value(g.rng.next())))
                #expect(!proof.verify(root: g.randomHash(), keyHash: k, valueHash: v))
                #expect(try StateTree.get(h.store, version: 1, keyHash: k) == v)
            }
            // Absent: deleted keys, neighbours of present keys (long shared prefixes) and random keys.
            var absent = Array(deleted) + (0..<20).map { _ in g.randomHash() }
            for k in h.model.keys.prefix(20) {
                var b = k.bytes
                b[31] ^= 0x01
                absent.append(Hash32(bytes: b)!)
            }
            for k in absent where h.model[k] == nil {
                let proof = try StateTree.proof(h.store, version: 1, keyHash: k)
                #expect(proof == Reference.proof(h.model, key: k))
                #expect(proof.verify(root: root, keyHash: k, valueHash: nil))
                #expect(!proof.verify(root: root, keyHash: k, valueHash: value(1)))
                #expect(try proof.provenValueHash(root: root, keyHash: k) == nil)
            }
        }
    }

    /// Any single flipped byte in an encoded proof, in the key or in the value makes verification fail
    /// (or decoding, for the proof bytes).
    @Test func flippedBytesFail() async {
        await checkSeeds(count: 20) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            let keys = (0..<(2 + Int(g.rng.next() % 60))).map { _ in g.next() }
            let batch = try h.apply(keys.map { TreeUpdate(keyHash: $0, valueHash: value(g.rng.next())) })
            let present = keys[Int(g.rng.next() % UInt64(keys.count))]
            let absent = g.randomHash()
            for (k, v) in [(present, h.model[present]), (absent, nil)] {
                let proof = try StateTree.proof(h.store, version: 0, keyHash: k)
                let bytes = proof.canonicalEncoding
                #expect(try StateProof(canonicalEncoding: bytes) == proof)
                for i in bytes.indices {
                    var bad = bytes
                    bad[i] ^= UInt8(1 + g.rng.next() % 255)
                    if let decoded = try? StateProof(canonicalEncoding: bad) {
                        #expect(!decoded.verify(root: batch.rootHash, keyHash: k, valueHash: v), "byte \(i)")
                    }
                }
                for i in 0..<32 {
                    var kb = k.bytes
                    kb[i] ^= 0x01
                    let other = Hash32(bytes: kb)!
                    // An absence proof also proves absent every key on the same path below the depth it
                    // ends at (it is that key's proof too); any other key must fail.
                    let alsoValid = v == nil && h.model[other] == nil && Reference.proof(h.model, key: other) == proof
                    #expect(proof.verify(root: batch.rootHash, keyHash: other, valueHash: v) == alsoValid)
                    if let v {
                        var vb = v.bytes
                        vb[i] ^= 0x80
                        #expect(!proof.verify(root: batch.rootHash, keyHash: k, valueHash: Hash32(bytes: vb)!))
                    }
                }
            }
        }
    }

    /// Reverting versions restores the store exactly (nodes and stale index), at random depths, and the
    /// versions below still prove every key.
    @Test func applyThenRevertRoundTrips() async {
        await checkSeeds(count: 25) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            for _ in 0..<(2 + g.rng.next() % 10) {
                var updates: [Hash32: Hash32?] = [:]
                for _ in 0..<(g.rng.next() % 30) {
                    if g.rng.next() % 3 == 0, let k = g.existing() { updates[k] = .some(nil) } else { updates[g.next()] = value(g.rng.next()) }
                }
                try h.apply(updates.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) })
                if g.rng.next() % 4 == 0 && h.history.count > 1 {
                    for _ in 0..<(1 + g.rng.next() % UInt64(h.history.count - 1)) { h.revert() }
                    let root = try StateTree.rootHash(h.store, version: h.version!)
                    #expect(root == Reference.root(h.model))
                    for (k, v) in h.model {
                        #expect(try StateTree.proof(h.store, version: h.version!, keyHash: k).verify(root: root, keyHash: k, valueHash: v))
                    }
                }
            }
        }
    }

    /// The stale index is exact: pruning everything below the newest version leaves precisely the nodes
    /// reachable from its root (nothing leaks, nothing live is deleted), and pruning below an older
    /// version keeps every version from there on whole.
    @Test func pruningKeepsExactlyTheRetainedVersions() async {
        await checkSeeds(count: 25) { seed in
            var g = KeyGenerator(seed: seed)
            var h = Harness()
            var roots: [UInt64: Hash32] = [:]
            for _ in 0..<(3 + g.rng.next() % 10) {
                var updates: [Hash32: Hash32?] = [:]
                for _ in 0..<(g.rng.next() % 30) {
                    if g.rng.next() % 3 == 0, let k = g.existing() { updates[k] = .some(nil) } else { updates[g.next()] = value(g.rng.next()) }
                }
                let batch = try h.apply(updates.map { TreeUpdate(keyHash: $0.key, valueHash: $0.value) })
                roots[batch.version] = batch.rootHash
            }
            let latest = h.version!
            let keep = g.rng.next() % (latest + 1)
            var pruned = h.store
            pruned.prune(keepingFrom: keep)
            var union = Set<NodeKey>()
            for v in keep...latest {
                let r = try pruned.reachable(version: v)
                union.formUnion(r)
                #expect(try StateTree.rootHash(pruned, version: v) == roots[v])
            }
            #expect(Set(pruned.nodes.keys) == union)
            pruned.prune(keepingFrom: latest)
            #expect(Set(pruned.nodes.keys) == (try pruned.reachable(version: latest)))
        }
    }

    @Test func nodeEncodingRoundTripsAndIsStrict() throws {
        var h = Harness()
        var g = KeyGenerator(seed: 11)
        let batch = try h.apply((0..<300).map { _ in TreeUpdate(keyHash: g.next(), valueHash: value(g.rng.next())) })
        for w in batch.nodes {
            #expect(try TreeNode(canonicalEncoding: w.node.canonicalEncoding) == w.node)
            #expect(try NodeKey(storageKey: w.key.storageKey) == w.key)
        }
        // Unknown tag, leaf mask outside the child mask, one leaf child, trailing bytes, odd-nibble padding.
        #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: [3]) }
        #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: [1, 0x03, 0, 0x04, 0] + [UInt8](repeating: 1, count: 80)) }
        #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: [1, 0x01, 0, 0x01, 0] + [UInt8](repeating: 1, count: 96)) }
        // A node holding leaves: every truncation and any extra byte is refused.
        let withLeaves = try #require(batch.nodes.first { if case .internal(let n) = $0.node { n.leafMask != 0 } else { false } })
        let bytes = withLeaves.node.canonicalEncoding
        for n in 0..<bytes.count { #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: Array(bytes.prefix(n))) } }
        #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: bytes + [0]) }
        #expect(throws: CodecError.self) { try TreeNode(canonicalEncoding: [0, 0]) }
        #expect(throws: CodecError.self) { try NodeKey(storageKey: [0, 0, 0, 0, 0, 0, 0, 1, 1, 0x1F]) }
        #expect(throws: CodecError.self) { try NodeKey(storageKey: [0, 0, 0, 0, 0, 0, 0, 1, 65] + [UInt8](repeating: 0, count: 33)) }
        #expect(try NodeKey(storageKey: [0, 0, 0, 0, 0, 0, 0, 1, 1, 0x10]) == NodeKey(version: 1, path: NibblePath.root.appending(1)))
    }

    /// The store writes a version's nodes sorted by `NodeKey` and relies on that being its storage keys' byte order
    /// (RocksDB's), so the memtable inserts go in key order.
    @Test func nodeKeyOrderIsStorageKeyByteOrder() {
        var g = KeyGenerator(seed: 12)
        var keys: [NodeKey] = []
        for i in 0..<600 {
            let hash = g.next()
            // Versions from a few values (ties decided by the path), paths of every length, including the same
            // prefix at several lengths.
            keys.append(NodeKey(version: UInt64(i % 3) << (i % 2 == 0 ? 0 : 40), path: NibblePath(prefixOf: hash, count: i % 65)))
            keys.append(NodeKey(version: UInt64(i % 3), path: NibblePath(prefixOf: hash, count: (i * 7) % 65)))
        }
        let byValue = keys.sorted().map(\.storageKey)
        let byBytes = keys.map(\.storageKey).sorted { $0.lexicographicallyPrecedes($1) }
        #expect(byValue == byBytes)
    }

    @Test func proofDecodingIsStrict() throws {
        // 3 siblings, bitmap 0b1010_0000 → 2 hashes. Then: padding bit set, explicit zero hash, too many.
        let h1 = value(1), h2 = value(2)
        let good: [UInt8] = [0, 3, 0xA0] + h1.bytes + h2.bytes
        #expect(try StateProof(canonicalEncoding: good) == StateProof(leaf: nil, siblings: [h1, .zero, h2]))
        #expect(throws: CodecError.self) { try StateProof(canonicalEncoding: [0, 3, 0xB0] + h1.bytes + h2.bytes + h2.bytes) }
        #expect(throws: CodecError.self) { try StateProof(canonicalEncoding: [0, 3, 0xA0] + h1.bytes + [UInt8](repeating: 0, count: 32)) }
        #expect(throws: CodecError.self) { try StateProof(canonicalEncoding: [0, 0x81, 0x02] + [UInt8](repeating: 0, count: 33)) }
        #expect(throws: CodecError.self) { try StateProof(canonicalEncoding: good + [0]) }
        #expect(throws: CodecError.self) { try StateProof(canonicalEncoding: [2, 0]) }
        #expect(StateProof(leaf: nil, siblings: [h1, .zero, h2]).canonicalEncoding == good)
    }

    @Test func checkNamesTheFailure() throws {
        var h = Harness()
        let a = value(1), b = value(2)
        let batch = try h.apply([TreeUpdate(keyHash: a, valueHash: value(10)), TreeUpdate(keyHash: b, valueHash: value(20))])
        let proofA = try StateTree.proof(h.store, version: 0, keyHash: a)
        #expect(throws: ProofError.valueMismatch(proven: value(10))) { try proofA.check(root: batch.rootHash, keyHash: a, valueHash: value(11)) }
        #expect(throws: ProofError.keyPresent(valueHash: value(10))) { try proofA.check(root: batch.rootHash, keyHash: a, valueHash: nil) }
        let tooLong = StateProof(leaf: nil, siblings: [Hash32](repeating: value(3), count: 257))
        #expect(throws: ProofError.tooManySiblings(257)) { try tooLong.check(root: batch.rootHash, keyHash: a, valueHash: nil) }
    }
}

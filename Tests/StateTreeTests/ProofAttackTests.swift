import Primitives
import StateTree
import Testing

/// Review B (security): a light client verifying `state_getProof` answers from an untrusted server. Each test plays
/// a server that knows the whole tree and tries to make `StateProof.check` accept a false claim. All of these are
/// DEFENDED on the reviewed code (regression tests): the verifier binds the key (the path bits and the leaf's key
/// hash), the root and the path length, and leaf / internal hashes are tag-separated.
@Suite struct ProofAttackTests {
    /// Every subtree hash of the real tree along `key`'s path: `path[d]` = T(S_d, d) where S_d are the pairs sharing
    /// the key's first d bits, `side[d]` = the subtree beside it at depth d (d = 0 ... 256).
    static func pathHashes(_ leaves: [LeafNode], key: Hash32) -> (path: [Hash32], side: [Hash32]) {
        var set = leaves.sorted { $0.keyHash < $1.keyHash }[...]
        var path: [Hash32] = [], side: [Hash32] = []
        for d in 0...256 {
            path.append(Reference.root(set, depth: d))
            if d == 256 { break }
            let split = set.firstIndex { Reference.bit($0.keyHash, d) == 1 } ?? set.endIndex
            if Reference.bit(key, d) == 0 {
                side.append(Reference.root(set[split...], depth: d + 1)); set = set[..<split]
            } else {
                side.append(Reference.root(set[..<split], depth: d + 1)); set = set[split...]
            }
        }
        return (path, side)
    }

    /// The adversary builds proofs of every length 0...min(256, n + 3) from the real siblings (the only hashes
    /// that can lead to the real root), starting from no leaf or from any leaf of the tree (or a made-up one for the
    /// key itself), and asks the verifier about the key: whatever verifies must state the truth.
    @Test func anAdversaryKnowingTheWholeTreeCannotProveAFalseValueOrAbsence() {
        for seed in UInt64(1)...12 {
            var g = KeyGenerator(seed: seed)
            let count = 1 + Int(g.rng.next() % 40)
            var model: [Hash32: Hash32] = [:]
            for _ in 0..<count { model[g.next()] = value(g.rng.next()) }
            let root = Reference.root(model)
            let leaves = model.map { LeafNode(keyHash: $0.key, valueHash: $0.value) }
            // Targets: present keys, their one-bit neighbours (absent, sharing long prefixes) and random keys.
            var targets = Array(model.keys.prefix(8))
            for k in model.keys.prefix(8) {
                var b = k.bytes
                b[31] ^= 0x01
                targets.append(Hash32(bytes: b)!)
                b = k.bytes
                b[Int(g.rng.next() % 32)] ^= 0x10
                targets.append(Hash32(bytes: b)!)
            }
            targets += (0..<4).map { _ in g.randomHash() }
            for key in targets {
                let truth = model[key]
                let honest = Reference.proof(model, key: key)
                #expect(honest.verify(root: root, keyHash: key, valueHash: truth))
                let (_, side) = Self.pathHashes(leaves, key: key)
                let forgedValue = value(g.rng.next())
                var starts: [LeafNode?] = [nil, LeafNode(keyHash: key, valueHash: forgedValue)] + leaves.map { Optional($0) }
                if let truth { starts.append(LeafNode(keyHash: key, valueHash: truth)) }
                for m in 0...min(256, honest.siblings.count + 3) {
                    // Real siblings above m; below the real path end the adversary pads with placeholders.
                    let siblings = (0..<m).map { d in side[d] }
                    for leaf in starts {
                        let proof = StateProof(leaf: leaf, siblings: siblings)
                        for claim in [nil, truth, forgedValue, leaf?.valueHash] {
                            if proof.verify(root: root, keyHash: key, valueHash: claim) {
                                #expect(claim == truth, "seed \(seed): a forged proof of length \(m) verified a false claim")
                            }
                        }
                    }
                }
            }
        }
    }

    /// A leaf presented as an internal node and the reverse: the tags keep them apart.
    @Test func leafAndInternalHashesCannotStandInForEachOther() {
        var g = KeyGenerator(seed: 99)
        let a = g.next(), b = g.next()
        let l = LeafNode(keyHash: a, valueHash: b)
        #expect(l.hash != TreeHash.internalNode(a, b))
        // A two-key tree: the root is node(x, y); a "leaf" (x, y) must not prove anything.
        var model: [Hash32: Hash32] = [:]
        model[g.next()] = value(1); model[g.next()] = value(2)
        let root = Reference.root(model)
        let sorted = model.sorted { $0.key < $1.key }.map { LeafNode(keyHash: $0.key, valueHash: $0.value) }
        if Reference.bit(sorted[0].keyHash, 0) != Reference.bit(sorted[1].keyHash, 0) {
            let fake = StateProof(leaf: LeafNode(keyHash: sorted[0].hash, valueHash: sorted[1].hash), siblings: [])
            #expect(!fake.verify(root: root, keyHash: sorted[0].hash, valueHash: sorted[1].hash))
        }
    }

    /// More than 256 siblings is refused by the verifier itself (not only by the decoder).
    @Test func overlongPathsAreRefused() {
        let k = Hash32(bytes: [UInt8](repeating: 7, count: 32))!
        let proof = StateProof(leaf: nil, siblings: [Hash32](repeating: TreeHash.placeholder, count: 257))
        #expect(throws: ProofError.tooManySiblings(257)) { try proof.check(root: TreeHash.placeholder, keyHash: k, valueHash: nil) }
    }

}

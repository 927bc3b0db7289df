import Primitives
import StateTree

/// The tree's root and proofs straight from the definition (Specs/state-tree.md section 2), with no
/// 16-ary nodes, no versions and no storage: what the stored tree must agree with.
enum Reference {
    static func bit(_ h: Hash32, _ i: Int) -> Int { Int((h.bytes[i / 8] >> (7 - UInt8(i % 8))) & 1) }

    /// Root of the set `leaves` (key hash → value hash).
    static func root(_ leaves: [Hash32: Hash32]) -> Hash32 {
        root(leaves.sorted { $0.key < $1.key }.map { LeafNode(keyHash: $0.key, valueHash: $0.value) }[...], depth: 0)
    }

    static func root(_ leaves: ArraySlice<LeafNode>, depth: Int) -> Hash32 {
        if leaves.isEmpty { return TreeHash.placeholder }
        if leaves.count == 1 { return leaves.first!.hash }
        let split = leaves.firstIndex { bit($0.keyHash, depth) == 1 } ?? leaves.endIndex
        return TreeHash.internalNode(root(leaves[..<split], depth: depth + 1), root(leaves[split...], depth: depth + 1))
    }

    /// The proof of `key` in the set `leaves`.
    static func proof(_ leaves: [Hash32: Hash32], key: Hash32) -> StateProof {
        var set = leaves.sorted { $0.key < $1.key }.map { LeafNode(keyHash: $0.key, valueHash: $0.value) }[...]
        var siblings: [Hash32] = []
        var depth = 0
        while set.count > 1 {
            let split = set.firstIndex { bit($0.keyHash, depth) == 1 } ?? set.endIndex
            if bit(key, depth) == 0 {
                siblings.append(root(set[split...], depth: depth + 1))
                set = set[..<split]
            } else {
                siblings.append(root(set[..<split], depth: depth + 1))
                set = set[split...]
            }
            depth += 1
        }
        return StateProof(leaf: set.first, siblings: siblings)
    }
}

/// Random key hashes, many of them sharing long prefixes with earlier ones (the cases that make deep
/// single-child chains and exercise collapsing).
struct KeyGenerator {
    var rng: SplitMix64
    var issued: [Hash32] = []
    var issuedSet = Set<Hash32>()

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func randomHash() -> Hash32 {
        var b = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 { b[i] = UInt8(truncatingIfNeeded: rng.next()) }
        return Hash32(bytes: b)!
    }

    /// A key not issued before (flipping a bit of an issued key can give back another issued one: a batch
    /// holding one key twice is refused by the tree, so that case would test nothing).
    mutating func next() -> Hash32 {
        while true {
            var h = randomHash()
            if !issued.isEmpty, rng.next() % 3 == 0 {
                // Copy an issued key and flip one bit deep in it: the two share every bit before that one.
                var b = issued[Int(rng.next() % UInt64(issued.count))].bytes
                let bitIndex = Int(rng.next() % 256)
                b[bitIndex / 8] ^= 0x80 >> UInt8(bitIndex % 8)
                h = Hash32(bytes: b)!
            }
            guard issuedSet.insert(h).inserted else { continue }
            issued.append(h)
            return h
        }
    }

    mutating func existing() -> Hash32? {
        issued.isEmpty ? nil : issued[Int(rng.next() % UInt64(issued.count))]
    }
}

extension MemoryTreeStore {
    /// Every stored node reachable from the root of `version` (leaves are inside their parents).
    func reachable(version: UInt64) throws -> Set<NodeKey> {
        var out = Set<NodeKey>()
        var stack = [NodeKey.root(version)]
        while let k = stack.popLast() {
            guard let n = node(k) else { throw StateTreeError.missingNode(k) }
            out.insert(k)
            if case .internal(let i) = n {
                for (nibble, c) in i.children.enumerated() {
                    if let c, !c.isLeaf { stack.append(NodeKey(version: c.version, path: k.path.appending(UInt8(nibble)))) }
                }
            }
        }
        return out
    }
}

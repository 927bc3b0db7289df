import Primitives

/// A proof that a key has a given value, or no value, in the tree with a given root
/// (Specs/state-tree.md sections 3 and 4).
///
/// `siblings[d]` is the hash of the subtree beside the key's path at binary depth `d` (0 = below the
/// root), down to the depth where the key's subtree is empty (`leaf` nil) or a single leaf (`leaf`: the
/// key's own, or for an absence proof another key's leaf sharing the path so far).
public struct StateProof: Hashable, Sendable {
    /// The leaf ending the path, nil when the path ends in an empty subtree.
    public let leaf: LeafNode?
    /// Sibling hashes from the root down; `TreeHash.placeholder` (zero) for empty siblings.
    public let siblings: [Hash32]

    /// A key hash has 256 bits, so no path is longer.
    public static let maxSiblings = 256

    public init(leaf: LeafNode?, siblings: [Hash32]) {
        self.leaf = leaf
        self.siblings = siblings
    }
}

extension StateProof: CanonicalCodable {
    /// `optional(hash keyHash ‖ hash valueHash) ‖ len n ‖ bitmap ‖ hashes`: `bitmap` has ⌈n/8⌉ bytes, bit
    /// `d` (most significant first) set when sibling `d` is not the placeholder; only those siblings follow,
    /// in order. Placeholders are frequent (keys sharing long prefixes), so they cost one bit each.
    public func encode(to w: inout CanonicalWriter) {
        w.optional(leaf) { w, l in
            w.hash(l.keyHash)
            w.hash(l.valueHash)
        }
        w.length(siblings.count)
        var bitmap = [UInt8](repeating: 0, count: (siblings.count + 7) >> 3)
        for (d, s) in siblings.enumerated() where s != TreeHash.placeholder {
            bitmap[d >> 3] |= 0x80 >> UInt8(d & 7)
        }
        w.raw(bitmap)
        for s in siblings where s != TreeHash.placeholder { w.hash(s) }
    }

    /// Strict decoding: at most 256 siblings, zero padding bits in the bitmap, no explicit zero sibling
    /// (it must be written as a clear bit), so each proof has exactly one encoding.
    public init(from r: inout CanonicalReader) throws(CodecError) {
        leaf = try r.optional("leaf") { (r: inout CanonicalReader) throws(CodecError) -> LeafNode in
            LeafNode(keyHash: try r.hash("leaf key hash"), valueHash: try r.hash("leaf value hash"))
        }
        let n = try r.length("sibling count", max: Self.maxSiblings, minElementSize: 0)
        let bitmapAt = r.offset
        let bitmap = try r.raw("sibling bitmap", count: (n + 7) >> 3)
        if n & 7 != 0, bitmap[bitmap.count - 1] & (0xFF >> UInt8(n & 7)) != 0 {
            throw r.invalid("sibling bitmap", "padding bits are not zero", at: bitmapAt)
        }
        var siblings: [Hash32] = []
        siblings.reserveCapacity(n)
        for d in 0..<n {
            if bitmap[d >> 3] & (0x80 >> UInt8(d & 7)) != 0 {
                let at = r.offset
                let h = try r.hash("sibling")
                guard h != TreeHash.placeholder else { throw r.invalid("sibling", "a zero sibling must be a clear bitmap bit", at: at) }
                siblings.append(h)
            } else {
                siblings.append(TreeHash.placeholder)
            }
        }
        self.siblings = siblings
    }
}

/// Why a proof does not verify.
public enum ProofError: Error, Equatable, Sendable, CustomStringConvertible {
    /// More siblings than a 256-bit path has.
    case tooManySiblings(Int)
    /// An inclusion proof whose path ends in an empty subtree, or in another key's leaf.
    case keyNotPresent
    /// An inclusion proof whose leaf holds another value.
    case valueMismatch(proven: Hash32)
    /// An absence proof whose leaf is the key itself (the key is present).
    case keyPresent(valueHash: Hash32)
    /// An absence proof whose leaf does not lie on the key's path.
    case leafOffPath
    /// The hashes do not lead to the root.
    case rootMismatch(computed: Hash32)

    public var description: String {
        switch self {
        case .tooManySiblings(let n): return "proof has \(n) siblings (at most 256)"
        case .keyNotPresent: return "proof shows the key absent"
        case .valueMismatch(let v): return "proof shows another value (hash \(v))"
        case .keyPresent(let v): return "proof shows the key present (value hash \(v))"
        case .leafOffPath: return "proof's leaf is not on the key's path"
        case .rootMismatch(let c): return "proof leads to root \(c), not the expected root"
        }
    }
}

extension StateProof {
    /// Checks that under `root` the key `keyHash` holds `valueHash` (nil: is absent). Pure; throws the
    /// first reason it fails.
    public func check(root: Hash32, keyHash: Hash32, valueHash: Hash32?) throws(ProofError) {
        let n = siblings.count
        guard n <= Self.maxSiblings else { throw .tooManySiblings(n) }
        var h: Hash32
        switch (leaf, valueHash) {
        case (nil, nil):
            h = TreeHash.placeholder
        case (nil, .some):
            throw .keyNotPresent
        case (let l?, let v?):
            guard l.keyHash == keyHash else { throw .keyNotPresent }
            guard l.valueHash == v else { throw .valueMismatch(proven: l.valueHash) }
            h = l.hash
        case (let l?, nil):
            guard l.keyHash != keyHash else { throw .keyPresent(valueHash: l.valueHash) }
            // The other key's leaf proves absence only where it occupies the key's path, alone: it must
            // share the first n bits (the path to depth n) with the key.
            guard l.keyHash.commonPrefixBits(with: keyHash) >= n else { throw .leafOffPath }
            h = l.hash
        }
        for d in stride(from: n - 1, through: 0, by: -1) {
            h = keyHash.treeBit(d) == 0 ? TreeHash.internalNode(h, siblings[d]) : TreeHash.internalNode(siblings[d], h)
        }
        guard h == root else { throw .rootMismatch(computed: h) }
    }

    /// Whether under `root` the key `keyHash` holds `valueHash` (nil: is absent).
    public func verify(root: Hash32, keyHash: Hash32, valueHash: Hash32?) -> Bool {
        do { try check(root: root, keyHash: keyHash, valueHash: valueHash); return true } catch { return false }
    }

    /// Whether under `root` the raw ledger `key` holds the raw `value` (nil: is absent).
    public func verify(root: Hash32, key: [UInt8], value: [UInt8]?) -> Bool {
        verify(root: root, keyHash: TreeHash.key(key), valueHash: value.map(TreeHash.value))
    }

    /// The value hash this proof shows for `keyHash` (nil: absent), provided it verifies against `root`.
    public func provenValueHash(root: Hash32, keyHash: Hash32) throws(ProofError) -> Hash32? {
        let claimed = leaf.flatMap { $0.keyHash == keyHash ? $0.valueHash : nil }
        try check(root: root, keyHash: keyHash, valueHash: claimed)
        return claimed
    }
}

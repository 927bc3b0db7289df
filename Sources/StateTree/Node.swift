import Primitives

/// A leaf: one key of the state and the hash of its value.
public struct LeafNode: Hashable, Sendable {
    /// `SHA-256(raw key)`: the leaf's position in the tree.
    public let keyHash: Hash32
    /// `SHA-256(raw value)`.
    public let valueHash: Hash32

    public init(keyHash: Hash32, valueHash: Hash32) {
        self.keyHash = keyHash
        self.valueHash = valueHash
    }

    /// `H_leaf(keyHash ‖ valueHash)`.
    public var hash: Hash32 { TreeHash.leaf(keyHash: keyHash, valueHash: valueHash) }
}

/// What an internal node knows about one of its children: enough to hash the node and to find the child.
///
/// A leaf child is held whole, inside its parent: it is never stored as a node of its own, so writing or
/// moving a leaf costs no storage entry beyond the parent the update rewrites anyway, and reaching a leaf
/// costs no read (Specs/state-tree.md section 5).
public struct ChildRef: Hashable, Sendable {
    /// The version that wrote an internal child (its node key is this version and the parent's path plus the
    /// nibble); 0 for a leaf child, which has no node of its own.
    public let version: UInt64
    /// The child's hash.
    public let hash: Hash32
    /// The leaf, when the child is one. Needed for hashing too: a binary subtree holding a single leaf
    /// collapses to that leaf, one holding a single internal child does not.
    public let leaf: LeafNode?

    /// An internal child written by `version`.
    public init(version: UInt64, hash: Hash32) {
        self.version = version
        self.hash = hash
        self.leaf = nil
    }

    /// A leaf child.
    public init(leaf: LeafNode) {
        self.init(leaf: leaf, hash: leaf.hash)
    }

    /// A leaf child whose hash is already known (decoding a stored node).
    init(leaf: LeafNode, hash: Hash32) {
        self.version = 0
        self.hash = hash
        self.leaf = leaf
    }

    /// Whether the child is a leaf.
    public var isLeaf: Bool { leaf != nil }
}

/// A 16-ary node: up to 16 children, one per next nibble. Its hash is that of the 4-level binary tree over
/// the children (Specs/state-tree.md section 2), so proofs carry binary siblings (≤ 4 per 16-ary level).
///
/// Invariant (held by every node the tree writes, checked by the decoder): at least two keys lie below
/// an internal node, i.e. it has two or more children, or exactly one child that is itself internal.
public struct InternalNode: Hashable, Sendable {
    /// Children by nibble; nil = empty.
    public let children: [ChildRef?]
    /// Bit i set = child i exists.
    public let childMask: UInt16
    /// Bit i set = child i is a leaf.
    public let leafMask: UInt16

    /// A node with these 16 children. Returns nil for a set that violates the invariant.
    public init?(children: [ChildRef?]) {
        guard children.count == 16 else { return nil }
        var c: UInt16 = 0, l: UInt16 = 0
        for (i, child) in children.enumerated() {
            guard let child else { continue }
            c |= 1 << i
            if child.isLeaf { l |= 1 << i }
        }
        guard c.nonzeroBitCount >= 2 || (c.nonzeroBitCount == 1 && l == 0) else { return nil }
        self.children = children
        childMask = c
        leafMask = l
    }

    /// Hash of the binary subtree over children `lo..<hi` (a power-of-two range aligned to its size).
    func rangeHash(_ lo: Int, _ hi: Int) -> Hash32 {
        let mask = Self.mask(lo, hi)
        let present = childMask & mask
        switch present.nonzeroBitCount {
        case 0:
            return TreeHash.placeholder
        case 1:
            let i = present.trailingZeroBitCount
            // A single leaf floats up to the top of its binary subtree; a single internal child does not
            // (two or more keys lie below it, so each binary level above it is a real internal node).
            if leafMask & present != 0 || hi - lo == 1 { return children[i]!.hash }
        default:
            break
        }
        let mid = (lo + hi) >> 1
        return TreeHash.internalNode(rangeHash(lo, mid), rangeHash(mid, hi))
    }

    /// The node's hash.
    public var hash: Hash32 { rangeHash(0, 16) }

    /// Bits lo..<hi set.
    @inline(__always)
    static func mask(_ lo: Int, _ hi: Int) -> UInt16 {
        let width = hi - lo
        return width == 16 ? 0xFFFF : UInt16(((1 << width) - 1) << lo)
    }
}

/// A node of the stored tree.
public enum TreeNode: Hashable, Sendable {
    /// The root of an empty tree (only ever stored at the root path).
    case empty
    /// A 16-ary internal node.
    case `internal`(InternalNode)
    /// A leaf: stored as a node only as the root of a one-key tree (other leaves live in their parents).
    case leaf(LeafNode)

    /// The node's hash (the placeholder for `empty`).
    public var hash: Hash32 {
        switch self {
        case .empty: return TreeHash.placeholder
        case .internal(let n): return n.hash
        case .leaf(let l): return l.hash
        }
    }
}

extension TreeNode: CanonicalCodable {
    /// Storage encoding (Specs/state-tree.md section 6):
    /// `00` (empty) | `01 ‖ u16 childMask ‖ u16 leafMask ‖` per child, ascending, `keyHash ‖ valueHash ‖ hash` for a
    /// leaf or `u64 version ‖ hash` for an internal child | `02 ‖ hash keyHash ‖ hash valueHash` (a leaf root).
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .empty:
            w.u8(0)
        case .internal(let n):
            w.u8(1)
            w.u16(n.childMask)
            w.u16(n.leafMask)
            for child in n.children {
                guard let child else { continue }
                if let leaf = child.leaf {
                    w.hash(leaf.keyHash)
                    w.hash(leaf.valueHash)
                    w.hash(child.hash)
                } else {
                    w.u64(child.version)
                    w.hash(child.hash)
                }
            }
        case .leaf(let l):
            w.u8(2)
            w.hash(l.keyHash)
            w.hash(l.valueHash)
        }
    }

    /// Strict decoding: unknown tags, a leaf mask outside the child mask, and a child set that breaks the
    /// internal-node invariant are rejected.
    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("node tag") {
        case 0:
            self = .empty
        case 1:
            let childMask = try r.u16("child mask")
            let leafMask = try r.u16("leaf mask")
            guard leafMask & ~childMask == 0 else { throw r.invalid("leaf mask", "marks a child that does not exist") }
            var children = [ChildRef?](repeating: nil, count: 16)
            for i in 0..<16 where childMask & (1 << i) != 0 {
                if leafMask & (1 << i) != 0 {
                    // The leaf's hash is stored beside it rather than recomputed: a node is decoded on every
                    // read, and the store is the node's own (its internal children's hashes are trusted alike).
                    let leaf = LeafNode(keyHash: try r.hash("leaf key hash"), valueHash: try r.hash("leaf value hash"))
                    children[i] = ChildRef(leaf: leaf, hash: try r.hash("leaf hash"))
                } else {
                    let version = try r.u64("child version")
                    children[i] = ChildRef(version: version, hash: try r.hash("child hash"))
                }
            }
            guard let node = InternalNode(children: children) else {
                throw r.invalid("child mask", "an internal node needs two children or one internal child", at: at)
            }
            self = .internal(node)
        case 2:
            let k = try r.hash("key hash")
            let v = try r.hash("value hash")
            self = .leaf(LeafNode(keyHash: k, valueHash: v))
        case let t:
            throw r.unknownTag("node tag", t, at: at)
        }
    }
}

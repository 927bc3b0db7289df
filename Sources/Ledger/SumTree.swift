import Primitives

/// The Merkle sum tree a share commitment's root names (Specs/economics.md §3).
///
/// A perfect binary tree of depth `⌈log₂ leafCount⌉` whose first `leafCount` leaves are the passes, sorted by
/// strictly increasing content key with `index` equal to their position, and whose remaining leaves are
/// `SumNode.empty`. A node carries the sum of its tokens and the range `[minKey, maxKey]` of the content keys below
/// it (a leaf's range is its own key; padding has none). An internal node is
/// `H_sum-node(l.hash ‖ r.hash ‖ l.sum u64 ‖ r.sum u64 ‖ l.minKey ‖ l.maxKey ‖ r.minKey ‖ r.maxKey)`, and it exists
/// only when its children are in order: `l.maxKey < r.minKey` when both hold passes, and padding only on the right.
/// A path therefore proves the leaf, the token range `[offset, offset + tokens)` it occupies below the root (the
/// root's sum is the commitment's `tokenTotal`), and that every node on it is sorted, so two leaves with one content
/// key fail every path through their lowest common ancestor.
public enum SumTree {
    /// Path length for a tree of `leafCount` leaves (0 for one leaf).
    public static func depth(leafCount: UInt32) -> Int {
        var d = 0
        while (UInt64(1) << UInt64(d)) < UInt64(leafCount) { d += 1 }
        return d
    }

    /// The parent of two nodes, or nil when they are out of order (a key range that is inverted, overlaps or
    /// touches its right neighbour's, padding left of a pass, padding with keys) or the sum overflows 64 bits.
    public static func parent(_ left: SumNode, _ right: SumNode) -> SumNode? {
        let (sum, overflow) = left.sum.addingReportingOverflow(right.sum)
        if overflow { return nil }
        let minKey: Hash32, maxKey: Hash32
        switch (left.sum > 0, right.sum > 0) {
        case (true, true):
            guard left.minKey <= left.maxKey, right.minKey <= right.maxKey, left.maxKey < right.minKey else { return nil }
            (minKey, maxKey) = (left.minKey, right.maxKey)
        case (true, false):
            guard left.minKey <= left.maxKey, right.minKey == .zero, right.maxKey == .zero else { return nil }
            (minKey, maxKey) = (left.minKey, left.maxKey)
        case (false, false):
            guard left.minKey == .zero, left.maxKey == .zero, right.minKey == .zero, right.maxKey == .zero else { return nil }
            (minKey, maxKey) = (.zero, .zero)
        case (false, true):
            return nil
        }
        return SumNode(hash: hash(left, right), sum: sum, minKey: minKey, maxKey: maxKey)
    }

    static func hash(_ left: SumNode, _ right: SumNode) -> Hash32 {
        var h = Tags.sumNode.hasher()
        h.update(left.hash); h.update(right.hash)
        var l = left.sum.littleEndian, r = right.sum.littleEndian
        withUnsafeBytes(of: &l) { h.update($0) }
        withUnsafeBytes(of: &r) { h.update($0) }
        h.update(left.minKey); h.update(left.maxKey); h.update(right.minKey); h.update(right.maxKey)
        return h.finalize()
    }

    /// What an adversary's tree holds over two nodes in any order: the hash as `parent` would compute it, the range
    /// from the outermost keys (no order check).
    static func parentUnchecked(_ left: SumNode, _ right: SumNode) -> SumNode? {
        let (sum, overflow) = left.sum.addingReportingOverflow(right.sum)
        if overflow { return nil }
        let minKey = left.sum > 0 ? left.minKey : right.minKey, maxKey = right.sum > 0 ? right.maxKey : left.maxKey
        return SumNode(hash: hash(left, right), sum: sum, minKey: minKey, maxKey: maxKey)
    }

    /// A built tree: every level from the leaves (level 0) to the root.
    public struct Built: Sendable {
        public let leaves: [PassLeaf]
        let levels: [[SumNode]]

        public var root: SumNode { levels.last![0] }
        public var leafCount: UInt32 { UInt32(leaves.count) }
        public var tokenTotal: UInt64 { root.sum }

        /// The sibling path of leaf `index`, lowest first.
        public func path(_ index: Int) -> [SumNode] {
            var out = [SumNode]()
            var i = index
            for level in levels.dropLast() {
                out.append(level[i ^ 1])
                i >>= 1
            }
            return out
        }

        /// The leaf with its path.
        public func proof(_ index: Int) -> LeafProof { LeafProof(leaf: leaves[index], path: path(index)) }

        /// The index of the leaf whose token range holds `point` (`0 ≤ point < tokenTotal`).
        public func leaf(containing point: UInt64) -> Int? {
            var start: UInt64 = 0
            for (i, l) in leaves.enumerated() {
                if point < start + UInt64(l.tokenCount) { return i }
                start += UInt64(l.tokenCount)
            }
            return nil
        }

        /// Proofs of a leaf's neighbours (nil at the ends), as a reveal carries them.
        public func neighbours(_ index: Int) -> (left: LeafProof?, right: LeafProof?) {
            (index > 0 ? proof(index - 1) : nil, index + 1 < leaves.count ? proof(index + 1) : nil)
        }
    }

    /// Why a set of passes cannot be committed.
    public enum BuildError: Error, Hashable, Sendable {
        case empty
        case duplicatePass(Hash32)
        case tokenCountOutOfRange(index: Int)
        case sumOverflow
    }

    /// Sorts passes by content key, numbers them, and builds the tree. Two passes with one content key are the
    /// same pass, which a tree may hold once.
    public static func build(_ passes: [PassLeaf], maxTokensPerPass: UInt32 = .max) throws(BuildError) -> Built {
        guard !passes.isEmpty else { throw .empty }
        let keyed = passes.map { ($0.contentKey, $0) }.sorted { $0.0 < $1.0 }
        var leaves = [PassLeaf]()
        leaves.reserveCapacity(keyed.count)
        for (i, (key, p)) in keyed.enumerated() {
            if i > 0 && keyed[i - 1].0 == key { throw .duplicatePass(key) }
            guard p.tokenCount >= 1, p.tokenCount <= maxTokensPerPass else { throw .tokenCountOutOfRange(index: i) }
            var leaf = p
            leaf.index = UInt32(i)
            leaves.append(leaf)
        }
        let width = 1 << depth(leafCount: UInt32(leaves.count))
        var level = leaves.map(\.node) + Array(repeating: SumNode.empty, count: width - leaves.count)
        var levels = [level]
        while level.count > 1 {
            var next = [SumNode]()
            next.reserveCapacity(level.count / 2)
            for i in stride(from: 0, to: level.count, by: 2) {
                guard let p = parent(level[i], level[i + 1]) else { throw .sumOverflow }
                next.append(p)
            }
            levels.append(next)
            level = next
        }
        return Built(leaves: leaves, levels: levels)
    }

    /// Builds a tree over leaves exactly in the given order, numbering them but neither sorting nor checking for
    /// duplicates: what an adversary commits (the adversary simulations and tests use it; the chain rejects such
    /// trees only when a sample's path crosses a node out of order, which is the point of measuring them).
    public static func buildUnchecked(_ leaves: [PassLeaf]) -> Built? {
        guard !leaves.isEmpty else { return nil }
        var numbered = leaves
        for i in numbered.indices { numbered[i].index = UInt32(i) }
        let width = 1 << depth(leafCount: UInt32(numbered.count))
        var level = numbered.map(\.node) + Array(repeating: SumNode.empty, count: width - numbered.count)
        var levels = [level]
        while level.count > 1 {
            var next = [SumNode]()
            for i in stride(from: 0, to: level.count, by: 2) {
                guard let p = parentUnchecked(level[i], level[i + 1]) else { return nil }
                next.append(p)
            }
            levels.append(next)
            level = next
        }
        return Built(leaves: numbered, levels: levels)
    }

    /// Verifies a leaf's path against a commitment: the path has the tree's depth, the index is below
    /// `leafCount`, and recomputing from the leaf gives `root` with sum `tokenTotal`. Returns the offset of the
    /// leaf's first token in `[0, tokenTotal)`, or nil.
    public static func verify(_ proof: LeafProof, leafCount: UInt32, root: Hash32, tokenTotal: UInt64) -> UInt64? {
        guard proof.leaf.index < leafCount, proof.path.count == depth(leafCount: leafCount) else { return nil }
        var node = proof.leaf.node
        var offset: UInt64 = 0
        var i = proof.leaf.index
        for sibling in proof.path {
            if i & 1 == 0 {
                guard let p = parent(node, sibling) else { return nil }
                node = p
            } else {
                guard let p = parent(sibling, node) else { return nil }
                node = p
                offset += sibling.sum  // cannot overflow: offset + node.sum ≤ the parent's checked sum
            }
            i >>= 1
        }
        guard node.hash == root, node.sum == tokenTotal else { return nil }
        return offset
    }
}

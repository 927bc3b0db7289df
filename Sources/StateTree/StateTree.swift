import Dispatch
import Primitives
import Synchronization

/// Read access to stored tree nodes: RocksDB in a node, a dictionary in tests.
public protocol TreeNodeReader {
    /// The node stored at `key`, or nil when there is none.
    func node(_ key: NodeKey) throws -> TreeNode?
    /// The nodes stored at `keys`, in the same order (nil where absent). Stores with a batched lookup
    /// implement it; the default asks `node(_:)` once per key.
    func nodes(_ keys: [NodeKey]) throws -> [TreeNode?]
}

extension TreeNodeReader {
    public func nodes(_ keys: [NodeKey]) throws -> [TreeNode?] { try keys.map { try node($0) } }
}

/// Nodes read ahead of an update, level by level in batches, in front of the store they came from.
struct PrefetchedReader<Base: TreeNodeReader>: TreeNodeReader {
    let base: Base
    let cache: [NodeKey: TreeNode]

    func node(_ key: NodeKey) throws -> TreeNode? {
        if let n = cache[key] { return n }
        return try base.node(key)
    }

    /// Reads every node an update of `updates` on the tree rooted at `root` will load: breadth first, one
    /// batched lookup per level, following only the internal children the updates go into (leaves are in
    /// their parents).
    static func prefetch(_ base: Base, root: (key: NodeKey, node: TreeNode)?, updates: [TreeUpdate]) throws -> PrefetchedReader {
        var cache: [NodeKey: TreeNode] = [:]
        // About one node per update per level below the top ones: reserving avoids repeated rehashing.
        cache.reserveCapacity(updates.count * 4)
        var frontier: [(key: NodeKey, node: InternalNode, range: Range<Int>)] = []
        if let root, case .internal(let n) = root.node, !updates.isEmpty { frontier.append((root.key, n, 0..<updates.count)) }
        while !frontier.isEmpty {
            var wanted: [(key: NodeKey, range: Range<Int>)] = []
            for (key, n, range) in frontier {
                let depth = key.path.count
                var i = range.lowerBound
                while i < range.upperBound {
                    let nibble = updates[i].keyHash.treeNibble(depth)
                    var j = i + 1
                    while j < range.upperBound && updates[j].keyHash.treeNibble(depth) == nibble { j += 1 }
                    if let c = n.children[Int(nibble)], !c.isLeaf {
                        wanted.append((NodeKey(version: c.version, path: key.path.appending(nibble)), i..<j))
                    }
                    i = j
                }
            }
            let fetched = try base.nodes(wanted.map(\.key))
            frontier = []
            for (w, node) in zip(wanted, fetched) {
                // A missing node is reported by the update itself, with its key.
                guard let node else { continue }
                cache[w.key] = node
                if case .internal(let n) = node { frontier.append((w.key, n, w.range)) }
            }
        }
        return PrefetchedReader(base: base, cache: cache)
    }
}

extension PrefetchedReader: Sendable where Base: Sendable {}

/// One change of a batch: put `valueHash` at `keyHash`, or delete `keyHash` when `valueHash` is nil.
public struct TreeUpdate: Hashable, Sendable {
    public let keyHash: Hash32
    public let valueHash: Hash32?

    public init(keyHash: Hash32, valueHash: Hash32?) {
        self.keyHash = keyHash
        self.valueHash = valueHash
    }

    /// The change of a raw ledger key to a raw value (nil = deletion), hashed.
    public init(key: [UInt8], value: [UInt8]?) {
        keyHash = TreeHash.key(key)
        valueHash = value.map(TreeHash.value)
    }

    /// Sorts updates by key hash, the order `StateTree.apply` takes (a ledger write set is sorted by raw
    /// key, which is a different order).
    public static func sorted(_ updates: [TreeUpdate]) -> [TreeUpdate] {
        updates.sorted { $0.keyHash < $1.keyHash }
    }
}

/// A node to store.
public struct NodeWrite: Hashable, Sendable {
    public let key: NodeKey
    public let node: TreeNode
}

/// Everything one version's update writes: the new nodes and the nodes it made stale (still needed by
/// older versions; deleted by pruning once no retained version needs them).
public struct TreeBatch: Sendable {
    /// The version written.
    public let version: UInt64
    /// The root hash of the tree at `version`.
    public let rootHash: Hash32
    /// New nodes, every one keyed at `version`; the root `(version, <root>)` is always among them.
    public let nodes: [NodeWrite]
    /// Nodes of earlier versions that are not part of the tree at `version`.
    public let staleNodes: [NodeKey]
}

/// Failures of the tree algorithms. Storage errors thrown by a `TreeNodeReader` pass through unchanged.
public enum StateTreeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A node the tree refers to is not stored (pruned, or never written: the version does not exist).
    case missingNode(NodeKey)
    /// `apply` must write a version above its base.
    case versionNotIncreasing(base: UInt64, version: UInt64)
    /// Updates must be strictly ascending by key hash (so also one per key); `index` is the first offender.
    case unsortedUpdates(index: Int)
    /// A stored node contradicts the tree's structure.
    case corruptNode(NodeKey, String)

    public var description: String {
        switch self {
        case .missingNode(let k): return "state tree node \(k) is missing (pruned, or version never written)"
        case .versionNotIncreasing(let b, let v): return "state tree version \(v) does not follow base version \(b)"
        case .unsortedUpdates(let i): return "state tree updates are not strictly ascending by key hash at index \(i)"
        case .corruptNode(let k, let why): return "state tree node \(k) is corrupt: \(why)"
        }
    }
}

/// A Jellyfish-style sparse Merkle tree over `SHA-256(key)` (Specs/state-tree.md).
///
/// Pure algorithms over a `TreeNodeReader`: nothing here writes. `apply` returns the nodes a version adds
/// and the ones it makes stale; the caller stores them (in the same atomic batch as the block).
///
/// The root hash is a function of the key/value set alone: the stored 16-ary shape (a leaf sits at the
/// shallowest nibble depth where it is alone; internal nodes hash as binary trees) is canonical for a set,
/// and deletions collapse subtrees back to that shape.
public enum StateTree {
    /// Applies sorted `updates` to the tree of version `base` (nil = the empty tree) and returns what
    /// version `version` writes. Deleting an absent key and re-putting the same value change nothing.
    public static func apply<R: TreeNodeReader>(
        _ reader: R, base: UInt64?, version: UInt64, updates: [TreeUpdate]
    ) throws -> TreeBatch {
        if let base, version <= base { throw StateTreeError.versionNotIncreasing(base: base, version: version) }
        for i in updates.indices.dropFirst() where !(updates[i - 1].keyHash < updates[i].keyHash) {
            throw StateTreeError.unsortedUpdates(index: i)
        }
        return try applyChecked(reader, base: base, version: version, updates: updates) { b, existing in
            try b.update(existing, path: .root, updates[...])
        }
    }

    /// `apply`, with the subtrees below the root updated in parallel (one task per root nibble the updates
    /// touch, on Dispatch's concurrent pool). The result is identical to `apply`'s, node for node and in
    /// the same order: the parts are merged in nibble order, as the sequential recursion visits them.
    /// Worth it for large batches (thousands of updates); small ones run sequentially.
    public static func applyParallel<R: TreeNodeReader & Sendable>(
        _ reader: R, base: UInt64?, version: UInt64, updates: [TreeUpdate]
    ) throws -> TreeBatch {
        if let base, version <= base { throw StateTreeError.versionNotIncreasing(base: base, version: version) }
        for i in updates.indices.dropFirst() where !(updates[i - 1].keyHash < updates[i].keyHash) {
            throw StateTreeError.unsortedUpdates(index: i)
        }
        return try applyChecked(reader, base: base, version: version, updates: updates) { b, existing in
            let reader = b.reader
            guard updates.count >= 256, case .stored(let rootKey, .internal(let n)) = existing else {
                return try b.update(existing, path: .root, updates[...])
            }
            // Contiguous runs of updates per first nibble.
            var runs: [(nibble: UInt8, range: Range<Int>)] = []
            var i = 0
            while i < updates.count {
                let nibble = updates[i].keyHash.treeNibble(0)
                var j = i + 1
                while j < updates.count && updates[j].keyHash.treeNibble(0) == nibble { j += 1 }
                runs.append((nibble, i..<j))
                i = j
            }
            let groups = runs
            typealias Part = (subtree: Subtree, nodes: [NodeWrite], stale: [NodeKey])
            let parts = Mutex<[Result<Part, any Error>?]>(Array(repeating: nil, count: groups.count))
            DispatchQueue.concurrentPerform(iterations: groups.count) { gi in
                let (nibble, range) = groups[gi]
                let result = Result<Part, any Error> {
                    var sub = Builder(reader: reader, version: version)
                    let path = NibblePath.root.appending(nibble)
                    let childExisting = try n.children[Int(nibble)].map { try sub.existingChild($0, path: path) }
                    let subtree = try sub.update(childExisting, path: path, updates[range])
                    return (subtree, sub.nodes, sub.staleKeys)
                }
                parts.withLock { $0[gi] = result }
            }
            var results = [Subtree?](repeating: nil, count: 16)
            for (gi, part) in parts.withLock({ $0 }).enumerated() {
                let p = try part!.get()
                b.nodes.append(contentsOf: p.nodes)
                b.staleKeys.append(contentsOf: p.stale)
                results[Int(groups[gi].nibble)] = p.subtree
            }
            return try b.assemble(.root, existing: (rootKey, n), results)
        }
    }

    /// The common part of `apply` and `applyParallel`: reads the base root and prefetches the nodes the
    /// update will load, lets `updateRoot` produce the new root subtree, and stores the root at the new
    /// version.
    private static func applyChecked<R: TreeNodeReader>(
        _ store: R, base: UInt64?, version: UInt64, updates: [TreeUpdate],
        _ updateRoot: (inout Builder<PrefetchedReader<R>>, ExistingSubtree?) throws -> Subtree
    ) throws -> TreeBatch {
        var existing: (key: NodeKey, node: TreeNode)?
        if let base {
            let key = NodeKey.root(base)
            guard let node = try store.node(key) else { throw StateTreeError.missingNode(key) }
            existing = (key, node)
        }
        let reader = try PrefetchedReader.prefetch(store, root: existing, updates: updates)
        var b = Builder(reader: reader, version: version)
        let result = try updateRoot(&b, existing.map { .stored($0.key, $0.node) })
        // The root is stored at every version, even when nothing changed, so any version's tree is found
        // at (version, <root>). The previous root is then stale (exactly once, here or in `update`).
        let rootKey = NodeKey.root(version)
        let rootHash: Hash32
        switch result {
        case .empty:
            b.write(rootKey, .empty)
            rootHash = TreeHash.placeholder
        case .leaf(let leaf):
            b.write(rootKey, .leaf(leaf))
            rootHash = leaf.hash
        case .node(let child):
            if child.version != version, let (oldKey, oldNode) = existing {
                // Unchanged internal root: copied to the new version.
                b.stale(oldKey)
                b.write(rootKey, oldNode)
            }
            rootHash = child.hash
        }
        return TreeBatch(version: version, rootHash: rootHash, nodes: b.nodes, staleNodes: b.staleKeys)
    }

    /// The root of a whole key/value set, built in memory from the empty tree (e.g. a genesis state, whose
    /// root a header commits to before any store exists). `updates` need not be sorted; deletions are
    /// ignored (nothing to delete); a key listed twice is `unsortedUpdates`.
    public static func root(of updates: [TreeUpdate]) throws -> Hash32 {
        try apply(MemoryTreeStore(), base: nil, version: 0, updates: TreeUpdate.sorted(updates)).rootHash
    }

    /// The root hash of the tree at `version`.
    public static func rootHash<R: TreeNodeReader>(_ reader: R, version: UInt64) throws -> Hash32 {
        let key = NodeKey.root(version)
        guard let node = try reader.node(key) else { throw StateTreeError.missingNode(key) }
        return node.hash
    }

    /// The value hash stored at `keyHash` in the tree of `version`, nil when the key is absent.
    public static func get<R: TreeNodeReader>(_ reader: R, version: UInt64, keyHash: Hash32) throws -> Hash32? {
        let leaf = try proof(reader, version: version, keyHash: keyHash).leaf
        return leaf.flatMap { $0.keyHash == keyHash ? $0.valueHash : nil }
    }

    /// Up to `limit` leaves of the tree of `version` in ascending key-hash order, strictly after `after`
    /// when given: a page of the whole state as committed at `version` (for state-sync chunks, or dumping a
    /// retained version). Reads only the subtrees the page needs.
    public static func leaves<R: TreeNodeReader>(
        _ reader: R, version: UInt64, after: Hash32? = nil, limit: Int
    ) throws -> [LeafNode] {
        var out: [LeafNode] = []
        guard limit > 0 else { return out }
        let rootKey = NodeKey.root(version)
        guard let root = try reader.node(rootKey) else { throw StateTreeError.missingNode(rootKey) }
        // Depth first, children in nibble order, so leaves come out in key-hash order.
        func visit(_ key: NodeKey, _ node: TreeNode) throws {
            switch node {
            case .empty:
                return
            case .leaf(let leaf):
                if after.map({ $0 < leaf.keyHash }) ?? true { out.append(leaf) }
            case .internal(let n):
                for (i, c) in n.children.enumerated() {
                    guard let c, out.count < limit else { continue }
                    let path = key.path.appending(UInt8(i))
                    // Skip subtrees wholly at or below `after`: their path precedes after's prefix.
                    if let after {
                        let prefix = NibblePath(prefixOf: after, count: path.count)
                        if path.bits < prefix.bits { continue }
                    }
                    if let leaf = c.leaf {
                        if after.map({ $0 < leaf.keyHash }) ?? true { out.append(leaf) }
                        continue
                    }
                    let childKey = NodeKey(version: c.version, path: path)
                    try visit(childKey, .internal(try internalChild(reader, childKey)))
                }
            }
        }
        try visit(rootKey, root)
        return out
    }

    /// The internal node an internal child reference points to: missing, or of another kind, is an error with its
    /// key (leaves live in their parents, so a child stored as a node is always internal).
    static func internalChild<R: TreeNodeReader>(_ reader: R, _ key: NodeKey) throws -> InternalNode {
        guard let node = try reader.node(key) else { throw StateTreeError.missingNode(key) }
        guard case .internal(let n) = node else { throw StateTreeError.corruptNode(key, "an internal child is not an internal node") }
        return n
    }

    /// A proof of the value (or absence) of `keyHash` in the tree of `version`: the binary siblings along
    /// the key's path down to where its subtree holds at most one leaf, and that leaf.
    public static func proof<R: TreeNodeReader>(_ reader: R, version: UInt64, keyHash: Hash32) throws -> StateProof {
        var key = NodeKey.root(version)
        guard var node = try reader.node(key) else { throw StateTreeError.missingNode(key) }
        var siblings: [Hash32] = []
        siblings.reserveCapacity(32)
        while true {
            switch node {
            case .empty:
                guard key.path.count == 0 else { throw StateTreeError.corruptNode(key, "empty node below the root") }
                return StateProof(leaf: nil, siblings: siblings)
            case .leaf(let leaf):
                return StateProof(leaf: leaf, siblings: siblings)
            case .internal(let n):
                let nibble = Int(keyHash.treeNibble(key.path.count))
                var lo = 0, hi = 16
                // Walk the node's 4 binary levels until the key's binary subtree is empty or one leaf, or
                // it narrows to the child the key goes into.
                while true {
                    let present = n.childMask & InternalNode.mask(lo, hi)
                    if present == 0 { return StateProof(leaf: nil, siblings: siblings) }
                    if present.nonzeroBitCount == 1 && n.leafMask & present != 0 {
                        return StateProof(leaf: n.children[present.trailingZeroBitCount]!.leaf!, siblings: siblings)
                    }
                    if hi - lo == 1 { break }
                    let mid = (lo + hi) >> 1
                    if nibble < mid {
                        siblings.append(n.rangeHash(mid, hi))
                        hi = mid
                    } else {
                        siblings.append(n.rangeHash(lo, mid))
                        lo = mid
                    }
                }
                key = NodeKey(version: n.children[nibble]!.version, path: key.path.appending(UInt8(nibble)))
                node = .internal(try internalChild(reader, key))
            }
        }
    }
}

/// The stored subtree an update starts from: a node of the store, or a leaf its parent holds.
enum ExistingSubtree {
    case stored(NodeKey, TreeNode)
    case inlineLeaf(LeafNode)
}

/// A subtree after an update.
enum Subtree {
    case empty
    /// Exactly one key: the parent holds it (or it becomes the root).
    case leaf(LeafNode)
    /// Two or more keys: an internal node, already stored (unchanged, or written at the new version).
    case node(ChildRef)
}

/// The mutable state of one `apply`.
struct Builder<R: TreeNodeReader> {
    let reader: R
    let version: UInt64
    var nodes: [NodeWrite] = []
    var staleKeys: [NodeKey] = []

    init(reader: R, version: UInt64) {
        self.reader = reader
        self.version = version
    }

    mutating func write(_ key: NodeKey, _ node: TreeNode) { nodes.append(NodeWrite(key: key, node: node)) }
    mutating func stale(_ key: NodeKey) { staleKeys.append(key) }

    /// The existing child `c` at `path`: its leaf, or its internal node read from the store.
    func existingChild(_ c: ChildRef, path: NibblePath) throws -> ExistingSubtree {
        if let leaf = c.leaf { return .inlineLeaf(leaf) }
        let key = NodeKey(version: c.version, path: path)
        return .stored(key, .internal(try StateTree.internalChild(reader, key)))
    }

    /// Updates the subtree at `path` (`existing`, or empty) with `updates`, all of which start with `path`.
    mutating func update(_ existing: ExistingSubtree?, path: NibblePath, _ updates: ArraySlice<TreeUpdate>) throws -> Subtree {
        switch existing {
        case nil:
            return try build(path, updates.compactMap { u in u.valueHash.map { LeafNode(keyHash: u.keyHash, valueHash: $0) } }[...])
        case .stored(let key, .empty):
            guard path.count == 0 else { throw StateTreeError.corruptNode(key, "empty node below the root") }
            stale(key)
            return try update(nil, path: path, updates)
        case .stored(let key, .leaf(let old)):
            // Only a one-key tree's root is a stored leaf; it is rewritten at every version.
            guard path.count == 0 else { throw StateTreeError.corruptNode(key, "a stored leaf below the root") }
            stale(key)
            return try merge(old, path: path, updates)
        case .inlineLeaf(let old):
            guard path.isPrefix(of: old.keyHash) else {
                throw StateTreeError.corruptNode(NodeKey(version: version, path: path), "leaf is off its key's path")
            }
            return try merge(old, path: path, updates)
        case .stored(let key, .internal(let n)):
            var results = [Subtree?](repeating: nil, count: 16)
            var i = updates.startIndex
            while i < updates.endIndex {
                let nibble = updates[i].keyHash.treeNibble(path.count)
                var j = i + 1
                while j < updates.endIndex && updates[j].keyHash.treeNibble(path.count) == nibble { j += 1 }
                let childPath = path.appending(nibble)
                let childExisting = try n.children[Int(nibble)].map { try existingChild($0, path: childPath) }
                results[Int(nibble)] = try update(childExisting, path: childPath, updates[i..<j])
                i = j
            }
            return try assemble(path, existing: (key, n), results)
        }
    }

    /// The subtree at `path` holding the leaf `old` merged into the sorted `updates`: it survives unless an
    /// update names its key.
    mutating func merge(_ old: LeafNode, path: NibblePath, _ updates: ArraySlice<TreeUpdate>) throws -> Subtree {
        var leaves: [LeafNode] = []
        leaves.reserveCapacity(updates.count + 1)
        var pending: LeafNode? = old
        for u in updates {
            if let p = pending, p.keyHash < u.keyHash {
                leaves.append(p)
                pending = nil
            }
            if u.keyHash == old.keyHash {
                pending = nil
                if let v = u.valueHash { leaves.append(LeafNode(keyHash: u.keyHash, valueHash: v)) }
            } else if let v = u.valueHash {
                leaves.append(LeafNode(keyHash: u.keyHash, valueHash: v))
            }
        }
        if let p = pending { leaves.append(p) }
        return try build(path, leaves[...])
    }

    /// The subtree at `path` holding exactly `leaves` (sorted by key hash, all starting with `path`).
    mutating func build(_ path: NibblePath, _ leaves: ArraySlice<LeafNode>) throws -> Subtree {
        if leaves.isEmpty { return .empty }
        if leaves.count == 1 { return .leaf(leaves.first!) }
        var results = [Subtree?](repeating: .empty, count: 16)
        var i = leaves.startIndex
        while i < leaves.endIndex {
            let nibble = leaves[i].keyHash.treeNibble(path.count)
            var j = i + 1
            while j < leaves.endIndex && leaves[j].keyHash.treeNibble(path.count) == nibble { j += 1 }
            results[Int(nibble)] = try build(path.appending(nibble), leaves[i..<j])
            i = j
        }
        return try assemble(path, existing: nil, results)
    }

    /// Combines the children of the node at `path`: `results[i]` is child i's new subtree, nil where the
    /// update did not touch it (it stays as `existing` has it). Collapses to empty or to a single leaf
    /// when that is all that is left, so the shape never depends on history.
    mutating func assemble(
        _ path: NibblePath, existing: (key: NodeKey, node: InternalNode)?, _ results: [Subtree?]
    ) throws -> Subtree {
        var live = 0
        var lastLive = 0
        for i in 0..<16 {
            let present: Bool
            switch results[i] {
            case .some(.empty): present = false
            case .some: present = true
            case .none: present = existing?.node.children[i] != nil
            }
            if present { live += 1; lastLive = i }
        }
        if live == 0 {
            if let existing { stale(existing.key) }
            return .empty
        }
        if live == 1 {
            switch results[lastLive] {
            case .some(.leaf(let leaf)):
                if let existing { stale(existing.key) }
                return .leaf(leaf)
            case .none:
                if let leaf = existing!.node.children[lastLive]!.leaf {
                    // The last key left under this node was untouched: it moves up.
                    stale(existing!.key)
                    return .leaf(leaf)
                }
            default:
                break
            }
        }
        var children = [ChildRef?](repeating: nil, count: 16)
        for i in 0..<16 {
            switch results[i] {
            case .none:
                children[i] = existing?.node.children[i]
            case .some(.empty):
                break
            case .some(.node(let c)):
                children[i] = c
            case .some(.leaf(let leaf)):
                // Unchanged leaves keep their hash; a new or changed one is hashed once, here.
                if let old = existing?.node.children[i], old.leaf == leaf {
                    children[i] = old
                } else {
                    children[i] = ChildRef(leaf: leaf)
                }
            }
        }
        guard let node = InternalNode(children: children) else {
            throw StateTreeError.corruptNode(existing?.key ?? NodeKey(version: version, path: path), "update produced an invalid internal node")
        }
        if let existing, existing.node == node {
            return .node(ChildRef(version: existing.key.version, hash: node.hash))
        }
        if let existing { stale(existing.key) }
        write(NodeKey(version: version, path: path), .internal(node))
        return .node(ChildRef(version: version, hash: node.hash))
    }
}

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
    /// batched lookup per level, following only the children the updates go into. (An untouched leaf that
    /// moves up when its siblings are deleted is read later, on its own: that is rare.)
    static func prefetch(_ base: Base, root: (key: NodeKey, node: TreeNode)?, updates: [TreeUpdate]) throws -> PrefetchedReader {
        var cache: [NodeKey: TreeNode] = [:]
        // About one node per update per level below the top ones: reserving avoids repeated rehashing.
        cache.reserveCapacity(updates.count * 4)
        var frontier: [(key: NodeKey, node: InternalNode, range: Range<Int>)] = []
        if let root, case .internal(let n) = root.node, !updates.isEmpty { frontier.append((root.key, n, 0..<updates.count)) }
        while !frontier.isEmpty {
            var wanted: [(key: NodeKey, isLeaf: Bool, range: Range<Int>)] = []
            for (key, n, range) in frontier {
                let depth = key.path.count
                var i = range.lowerBound
                while i < range.upperBound {
                    let nibble = updates[i].keyHash.treeNibble(depth)
                    var j = i + 1
                    while j < range.upperBound && updates[j].keyHash.treeNibble(depth) == nibble { j += 1 }
                    if let c = n.children[Int(nibble)], TreeUpdate.knownLeaf(c, updates[i..<j]) == nil {
                        wanted.append((NodeKey(version: c.version, path: key.path.appending(nibble)), c.isLeaf, i..<j))
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
                if case .internal(let n) = node, !w.isLeaf { frontier.append((w.key, n, w.range)) }
            }
        }
        return PrefetchedReader(base: base, cache: cache)
    }
}

extension PrefetchedReader: Sendable where Base: Sendable {}

/// One change of a batch: put `valueHash` at `keyHash`, or delete `keyHash` when `valueHash` is nil.
///
/// `previousValueHash` is an optional hint: the hash of the key's value before the update, when the caller
/// knows the key is present (a node reads every written key's previous value for its undo record anyway).
/// Where the update meets a leaf child whose hash is `leaf(keyHash, previousValueHash)`, that leaf is the
/// key's own, so it is not read from the store: at a million keys that saves most of the leaf reads, the
/// coldest reads of an update. The hint is checked by that hash, never trusted: a wrong or missing hint
/// only costs the read and cannot change the result.
public struct TreeUpdate: Hashable, Sendable {
    public let keyHash: Hash32
    public let valueHash: Hash32?
    /// Hint: the hash of the present value being replaced or deleted; nil when unknown or absent.
    public let previousValueHash: Hash32?

    public init(keyHash: Hash32, valueHash: Hash32?, previousValueHash: Hash32? = nil) {
        self.keyHash = keyHash
        self.valueHash = valueHash
        self.previousValueHash = previousValueHash
    }

    /// The change of a raw ledger key to a raw value (nil = deletion), hashed; `previous` is the raw value
    /// it replaces when known (the hint above).
    public init(key: [UInt8], value: [UInt8]?, previous: [UInt8]? = nil) {
        keyHash = TreeHash.key(key)
        valueHash = value.map(TreeHash.value)
        previousValueHash = previous.map(TreeHash.value)
    }

    /// The leaf `child` is, if one of `updates` (all going into it) says so by its hint and the hash agrees.
    static func knownLeaf(_ child: ChildRef, _ updates: ArraySlice<TreeUpdate>) -> LeafNode? {
        guard child.isLeaf else { return nil }
        for u in updates {
            guard let previous = u.previousValueHash else { continue }
            let leaf = LeafNode(keyHash: u.keyHash, valueHash: previous)
            if leaf.hash == child.hash { return leaf }
        }
        return nil
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
            guard updates.count >= 256, let (rootKey, rootNode) = existing, case .internal(let n) = rootNode else {
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
                    var childExisting: (NodeKey, TreeNode)?
                    if let c = n.children[Int(nibble)] {
                        childExisting = try sub.existingChild(c, path: path, updates[range])
                    }
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
        _ updateRoot: (inout Builder<PrefetchedReader<R>>, (key: NodeKey, node: TreeNode)?) throws -> Subtree
    ) throws -> TreeBatch {
        var existing: (key: NodeKey, node: TreeNode)?
        if let base {
            let key = NodeKey.root(base)
            guard let node = try store.node(key) else { throw StateTreeError.missingNode(key) }
            existing = (key, node)
        }
        let reader = try PrefetchedReader.prefetch(store, root: existing, updates: updates)
        var b = Builder(reader: reader, version: version)
        let result = try updateRoot(&b, existing)
        // The root is stored at every version, even when nothing changed, so any version's tree is found
        // at (version, <root>). The previous root is then stale (exactly once, here or in `update`).
        let rootKey = NodeKey.root(version)
        let rootHash: Hash32
        switch result {
        case .empty:
            b.write(rootKey, .empty)
            rootHash = TreeHash.placeholder
        case .leaf(let ref):
            if let old = ref.existing { b.stale(old) }
            b.write(rootKey, .leaf(ref.leaf))
            rootHash = ref.leaf.hash
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
                    let childKey = NodeKey(version: c.version, path: path)
                    guard let child = try reader.node(childKey) else { throw StateTreeError.missingNode(childKey) }
                    try visit(childKey, child)
                }
            }
        }
        try visit(rootKey, root)
        return out
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
                        let i = present.trailingZeroBitCount
                        let leafKey = NodeKey(version: n.children[i]!.version, path: key.path.appending(UInt8(i)))
                        guard case .leaf(let leaf)? = try reader.node(leafKey) else {
                            throw StateTreeError.corruptNode(leafKey, "a leaf child is missing or not a leaf")
                        }
                        return StateProof(leaf: leaf, siblings: siblings)
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
                guard let child = try reader.node(key) else { throw StateTreeError.missingNode(key) }
                node = child
            }
        }
    }
}

/// A leaf on its way to a position: its content, and where it is stored now if it is unchanged (so it is
/// rewritten only when it moves; a moved or replaced leaf's old node becomes stale).
struct LeafRef {
    let leaf: LeafNode
    let existing: NodeKey?
}

/// A subtree after an update.
enum Subtree {
    case empty
    /// Exactly one key: not yet stored; the parent decides its path.
    case leaf(LeafRef)
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

    func load(_ key: NodeKey) throws -> TreeNode {
        guard let node = try reader.node(key) else { throw StateTreeError.missingNode(key) }
        return node
    }

    /// The stored child `c` at `path` that `updates` go into: built from a hint when it is the leaf of one
    /// of them (`TreeUpdate.knownLeaf`), else read.
    func existingChild(_ c: ChildRef, path: NibblePath, _ updates: ArraySlice<TreeUpdate>) throws -> (NodeKey, TreeNode) {
        let key = NodeKey(version: c.version, path: path)
        if let leaf = TreeUpdate.knownLeaf(c, updates) { return (key, .leaf(leaf)) }
        return (key, try loadChild(key, isLeaf: c.isLeaf))
    }

    /// A child node, checked to be of the kind its parent records.
    func loadChild(_ key: NodeKey, isLeaf: Bool) throws -> TreeNode {
        let node = try load(key)
        switch node {
        case .leaf where isLeaf, .internal where !isLeaf: return node
        default: throw StateTreeError.corruptNode(key, "node kind differs from its parent's record")
        }
    }

    /// Updates the subtree at `path` (stored as `existing`, or empty) with `updates`, all of which start
    /// with `path`.
    mutating func update(
        _ existing: (key: NodeKey, node: TreeNode)?, path: NibblePath, _ updates: ArraySlice<TreeUpdate>
    ) throws -> Subtree {
        guard let (key, node) = existing else {
            return try build(path, updates.compactMap { u in u.valueHash.map { LeafRef(leaf: LeafNode(keyHash: u.keyHash, valueHash: $0), existing: nil) } }[...])
        }
        switch node {
        case .empty:
            guard path.count == 0 else { throw StateTreeError.corruptNode(key, "empty node below the root") }
            stale(key)
            return try update(nil, path: path, updates)
        case .leaf(let old):
            guard path.isPrefix(of: old.keyHash) else { throw StateTreeError.corruptNode(key, "leaf is off its key's path") }
            // Merge the stored leaf into the sorted updates: it survives unless an update names its key.
            var refs: [LeafRef] = []
            refs.reserveCapacity(updates.count + 1)
            var pending: LeafRef? = LeafRef(leaf: old, existing: key)
            for u in updates {
                if let p = pending, p.leaf.keyHash < u.keyHash {
                    refs.append(p)
                    pending = nil
                }
                if u.keyHash == old.keyHash {
                    pending = nil
                    if let v = u.valueHash, v == old.valueHash {
                        refs.append(LeafRef(leaf: old, existing: key))
                    } else {
                        stale(key)
                        if let v = u.valueHash { refs.append(LeafRef(leaf: LeafNode(keyHash: u.keyHash, valueHash: v), existing: nil)) }
                    }
                } else if let v = u.valueHash {
                    refs.append(LeafRef(leaf: LeafNode(keyHash: u.keyHash, valueHash: v), existing: nil))
                }
            }
            if let p = pending { refs.append(p) }
            return try build(path, refs[...])
        case .internal(let n):
            var results = [Subtree?](repeating: nil, count: 16)
            var i = updates.startIndex
            while i < updates.endIndex {
                let nibble = updates[i].keyHash.treeNibble(path.count)
                var j = i + 1
                while j < updates.endIndex && updates[j].keyHash.treeNibble(path.count) == nibble { j += 1 }
                let childPath = path.appending(nibble)
                var childExisting: (NodeKey, TreeNode)?
                if let c = n.children[Int(nibble)] {
                    childExisting = try existingChild(c, path: childPath, updates[i..<j])
                }
                results[Int(nibble)] = try update(childExisting, path: childPath, updates[i..<j])
                i = j
            }
            return try assemble(path, existing: (key, n), results)
        }
    }

    /// The subtree at `path` holding exactly `refs` (sorted by key hash, all starting with `path`).
    mutating func build(_ path: NibblePath, _ refs: ArraySlice<LeafRef>) throws -> Subtree {
        if refs.isEmpty { return .empty }
        if refs.count == 1 { return .leaf(refs.first!) }
        var results = [Subtree?](repeating: .empty, count: 16)
        var i = refs.startIndex
        while i < refs.endIndex {
            let nibble = refs[i].leaf.keyHash.treeNibble(path.count)
            var j = i + 1
            while j < refs.endIndex && refs[j].leaf.keyHash.treeNibble(path.count) == nibble { j += 1 }
            results[Int(nibble)] = try build(path.appending(nibble), refs[i..<j])
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
            case .some(.leaf(let ref)):
                if let existing { stale(existing.key) }
                return .leaf(ref)
            case .none:
                let c = existing!.node.children[lastLive]!
                if c.isLeaf {
                    // The last key left under this node was untouched: it moves up.
                    let childKey = NodeKey(version: c.version, path: path.appending(UInt8(lastLive)))
                    guard case .leaf(let leaf) = try load(childKey) else {
                        throw StateTreeError.corruptNode(childKey, "a leaf child is missing or not a leaf")
                    }
                    stale(existing!.key)
                    return .leaf(LeafRef(leaf: leaf, existing: childKey))
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
            case .some(.leaf(let ref)):
                let childPath = path.appending(UInt8(i))
                if let old = ref.existing, old.path == childPath {
                    children[i] = ChildRef(version: old.version, hash: ref.leaf.hash, isLeaf: true)
                } else {
                    if let old = ref.existing { stale(old) }
                    write(NodeKey(version: version, path: childPath), .leaf(ref.leaf))
                    children[i] = ChildRef(version: version, hash: ref.leaf.hash, isLeaf: true)
                }
            }
        }
        guard let node = InternalNode(children: children) else {
            throw StateTreeError.corruptNode(existing?.key ?? NodeKey(version: version, path: path), "update produced an invalid internal node")
        }
        if let existing, existing.node == node {
            return .node(ChildRef(version: existing.key.version, hash: node.hash, isLeaf: false))
        }
        if let existing { stale(existing.key) }
        write(NodeKey(version: version, path: path), .internal(node))
        return .node(ChildRef(version: version, hash: node.hash, isLeaf: false))
    }
}

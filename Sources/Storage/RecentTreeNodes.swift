import StateTree
import Synchronization

/// The state tree nodes the latest commits wrote, kept in memory (decoded), newest versions first to stay.
///
/// A block's tree update reads the paths of the keys it changes in the previous version, and the upper levels of
/// those paths were rewritten by the blocks just before it (at 2000 transactions a block, every node of the top
/// three levels is). Reading them here instead of from RocksDB spares a lookup and a decode per node (Specs/storage.md
/// §10). Only the writer's tree updates read through it (`StateTreeStore.prepare`); proofs and snapshot reads go to
/// RocksDB, so a node pruned there is never served from here.
///
/// A node key names one node only while its version stands: a revert deletes the version and the next commit writes
/// the same version again, so every change other than a commit (revert, snapshot load, its recovery) forgets
/// everything (`forgetAll`). Nodes are dropped a whole version at a time, oldest first, when more than `capacity`
/// are kept; the newest version always stays.
final class RecentTreeNodes: Sendable {
    private struct Contents {
        /// The kept versions' nodes by path, one table per version (a version is dropped whole).
        var byVersion: [UInt64: [NibblePath: TreeNode]] = [:]
        /// The kept versions, oldest first from `first` on.
        var order: [UInt64] = []
        var first = 0
        var count = 0
    }

    /// Most nodes kept (0 turns the cache off).
    let capacity: Int
    private let contents = Mutex(Contents())

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Nodes kept now.
    var count: Int { contents.withLock { $0.count } }

    /// Keeps the nodes of `batch`, a version just committed.
    func remember(_ batch: TreeBatch) {
        guard capacity > 0 else { return }
        var table = [NibblePath: TreeNode](minimumCapacity: batch.nodes.count)
        for w in batch.nodes where w.key.version == batch.version { table[w.key.path] = w.node }
        contents.withLock { c in
            if let replaced = c.byVersion.updateValue(table, forKey: batch.version) {
                c.count -= replaced.count
            } else {
                c.order.append(batch.version)
            }
            c.count += table.count
            while c.count > capacity && c.order.count - c.first > 1 {
                if let dropped = c.byVersion.removeValue(forKey: c.order[c.first]) { c.count -= dropped.count }
                c.first += 1
            }
            // Compacts the list of versions once the dropped ones make up most of it.
            if c.first > 64 && c.first * 2 > c.order.count {
                c.order.removeFirst(c.first)
                c.first = 0
            }
        }
    }

    /// Forgets every node: after anything that deletes stored nodes of a version that may be written again.
    func forgetAll() {
        contents.withLock { $0 = Contents() }
    }

    /// The kept node at each of `keys`, nil where none is kept.
    func lookup(_ keys: [NodeKey]) -> [TreeNode?] {
        contents.withLock { c in keys.map { c.byVersion[$0.version]?[$0.path] } }
    }
}

/// Reads tree nodes from `RecentTreeNodes` first and from RocksDB for the rest (one batched lookup).
struct RecentFirstTreeReader: TreeNodeReader, Sendable {
    let recent: RecentTreeNodes
    let base: RocksTreeReader

    func node(_ key: NodeKey) throws -> TreeNode? {
        if let n = recent.lookup([key])[0] { return n }
        return try base.node(key)
    }

    func nodes(_ keys: [NodeKey]) throws -> [TreeNode?] {
        var out = recent.lookup(keys)
        var missing = [Int]()
        for i in out.indices where out[i] == nil { missing.append(i) }
        guard !missing.isEmpty else { return out }
        let read = try base.nodes(missing.map { keys[$0] })
        for (i, n) in zip(missing, read) { out[i] = n }
        return out
    }
}

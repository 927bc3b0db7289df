/// An in-memory node store: for tests, simulations and as the model the RocksDB store is checked against.
///
/// Applies a `TreeBatch` the way the persistent store does: nodes by key, and a stale index by the version
/// that made each node stale, so `revert` and `prune` behave identically.
public struct MemoryTreeStore: TreeNodeReader, Sendable {
    /// Every stored node.
    public private(set) var nodes: [NodeKey: TreeNode] = [:]
    /// For each version, the nodes it made stale.
    public private(set) var staleIndex: [UInt64: [NodeKey]] = [:]

    public init() {}

    public func node(_ key: NodeKey) -> TreeNode? { nodes[key] }

    /// Stores a batch.
    public mutating func commit(_ batch: TreeBatch) {
        for w in batch.nodes { nodes[w.key] = w.node }
        if !batch.staleNodes.isEmpty { staleIndex[batch.version, default: []].append(contentsOf: batch.staleNodes) }
    }

    /// Undoes the batch of `version` (it must be the newest): its nodes go, and the nodes it had made
    /// stale are live again (they were never deleted: pruning keeps every version a revert can reach).
    public mutating func revert(version: UInt64) {
        nodes = nodes.filter { $0.key.version != version }
        staleIndex[version] = nil
    }

    /// Deletes every node no version `≥ version` needs: those made stale at or below `version`.
    public mutating func prune(keepingFrom version: UInt64) {
        for (v, keys) in staleIndex where v <= version {
            for k in keys { nodes[k] = nil }
            staleIndex[v] = nil
        }
    }
}

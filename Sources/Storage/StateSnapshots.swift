import Foundation
import Ledger
import Primitives
import StateTree

/// A state snapshot at a retained height, built from the state history (Specs/state-tree.md §9): what a node
/// serves to peers that state-sync. The chunks hold raw keys and values sorted by key hash.
public struct StateSnapshotData: Sendable {
    public let manifest: SnapshotManifest
    /// `chunks[b]`: the entries whose key hash starts with byte `b`, by increasing key hash.
    public let chunks: [[KeyValue]]
}

extension ReadView {
    /// Builds the snapshot of the state as of canonical height `height`: one pass over the state, bucketed by key
    /// hash. Memory: the whole state. A height below the retained range (pruned) is refused (`missingRecord`).
    public func stateSnapshot(height: UInt64) throws -> StateSnapshotData {
        guard let hash = try canonicalHash(at: height) else { throw StorageError.missingRecord(record: "canonical block", key: KeyBytes.be64(height)) }
        let tip = try self.tip()?.height ?? 0
        // In this view: a height pruned since the caller looked (the snapshot server checks in another view) would
        // read a half-pruned history, a state that is not the block's (its manifest would not add up).
        guard height >= (try stateRetainedFrom()) else {
            throw StorageError.missingRecord(record: "retained state history (pruned)", key: KeyBytes.be64(height))
        }
        let state: any StateReader = height == tip ? self : self.state(at: height)
        var buckets = [[(hash: Hash32, entry: KeyValue)]](repeating: [], count: SnapshotManifest.chunkCount)
        var after: [UInt8]? = nil
        while true {
            let page = try state.scan(prefix: [], after: after, limit: 10_000)
            for kv in page {
                let h = TreeHash.key(kv.key)
                buckets[StateSnapshot.chunkIndex(h)].append((h, kv))
            }
            guard page.count == 10_000, let last = page.last else { break }
            after = last.key
        }
        var chunks = [[KeyValue]](), summaries = [SnapshotManifest.Chunk]()
        chunks.reserveCapacity(buckets.count)
        for b in buckets {
            let sorted = b.sorted { $0.hash < $1.hash }
            let leaves = sorted.map { LeafNode(keyHash: $0.hash, valueHash: TreeHash.value($0.entry.value)) }
            summaries.append(.init(count: UInt64(sorted.count), hash: StateSnapshot.subtreeHash(leaves[...], depth: 8)))
            chunks.append(sorted.map(\.entry))
        }
        return StateSnapshotData(manifest: SnapshotManifest(height: height, blockHash: hash, chunks: summaries), chunks: chunks)
    }
}

extension ChainStore {
    /// Starts a store from a verified snapshot instead of replaying from genesis (state sync): writes the genesis
    /// block's records, block `block`'s records, the whole state as of it with its state history entries and its
    /// state tree version, and sets the tip and the finalized height to it and the retained state range to start
    /// there. One batch. The store must be empty or hold the genesis block alone (a node opens its engine, which
    /// commits genesis, before it can reach peers): genesis state keys the snapshot lacks are deleted, and their
    /// history gets an absence at the snapshot height so no retained query sees the genesis value. The caller has
    /// verified the manifest against `block`'s header and every chunk against the manifest (`StateSnapshot.verify`);
    /// the tree root is checked again here against `stateRoot`. `entries` in key order (RocksDB's bytewise order).
    ///
    /// An earlier load in this process that stopped before its completing batch (an I/O error from the ingestion: the
    /// node stays up and state sync tries again) left its marker and part of its data: with `genesisState` (as for
    /// `recoverInterruptedSnapshotImport`) that load is undone first; without it the import is refused
    /// (`interruptedSnapshotImport`), never laid over the leftovers (history and tree nodes at the first load's height
    /// that no change record refers to).
    public func importSnapshot(genesis: BlockRecord, block: BlockRecord, stateRoot: Hash32, entries: [KeyValue],
                               genesisState: [KeyValue]? = nil, interruptBeforeCompletingForTests: Bool = false) throws {
        try writer.withLock { (_: inout Void) throws in
            // The load replaces state keys and tree versions without listing them: nothing kept in memory survives it,
            // nor anything read while it runs.
            forgetCachedState()
            defer { forgetCachedState() }
            if try database.get(columns.meta, ChainSchema.MetaKey.snapshotImport) != nil {
                guard let genesisState else {
                    throw StorageError.corruptRecord(record: "snapshot", key: ChainSchema.MetaKey.snapshotImport,
                                                     detail: "an interrupted snapshot import must be recovered first")
                }
                _ = try undoInterruptedSnapshotImport(genesisState: genesisState)
            }
            let existing = try current.tip()
            if let existing {
                guard existing.height == 0, existing.hash == genesis.hash else {
                    throw StorageError.cannotRevert(height: existing.height, reason: "a snapshot goes into an empty or genesis-only store only")
                }
            }
            guard block.height > 0 else { throw StorageError.cannotRevert(height: 0, reason: "a snapshot above genesis is needed") }
            for i in entries.indices.dropFirst() where !entries[i - 1].key.lexicographicallyPrecedes(entries[i].key) {
                throw StorageError.corruptRecord(record: "snapshot", key: entries[i].key, detail: "entries not in increasing key order")
            }
            let updates = entries.map { TreeUpdate(key: $0.key, value: $0.value) }
            let treeBatch = try tree.prepare(base: nil, version: block.height, updates: TreeUpdate.sorted(updates), parallel: updates.count >= 512)
            guard treeBatch.rootHash == stateRoot else {
                throw StorageError.corruptRecord(record: "snapshot", key: KeyBytes.be64(block.height), detail: "the entries' tree root is not the header's stateRoot")
            }
            let cf = columns
            // Genesis state the snapshot no longer has (read before the load): a merge of two key-ordered lists.
            var dropped = [[UInt8]]()
            if existing != nil {
                var i = 0
                for kv in try current.dumpState() {
                    while i < entries.count && entries[i].key.lexicographicallyPrecedes(kv.key) { i += 1 }
                    if i < entries.count && entries[i].key == kv.key { continue }
                    dropped.append(kv.key)
                }
            }
            // The bulk of the snapshot (state, its history at the height, the tree version) is ingested as SST files,
            // which skips the memtable and the log but is not atomic: a marker written first makes an interrupted load
            // recoverable (`recoverInterruptedSnapshotImport`); the batch that completes the import deletes it.
            let marker = try database.makeWriteBatch()
            marker.put(cf.meta, ChainSchema.MetaKey.snapshotImport, block.height.canonicalEncoding)
            try database.write(marker, sync: true)
            try database.ingest(cf.state, count: entries.count) { (entries[$0].key, entries[$0].value) }
            try database.ingest(cf.history, count: entries.count) {
                (ChainSchema.historyKey(entries[$0].key, height: block.height), [1] + entries[$0].value)
            }
            try tree.ingest(treeBatch)
            if interruptBeforeCompletingForTests { return }

            let batch = try database.makeWriteBatch()
            for key in dropped {
                batch.delete(cf.state, key)
                batch.put(cf.history, ChainSchema.historyKey(key, height: block.height), [0])
            }
            for r in [genesis, block] {
                batch.put(cf.headers, r.hash.bytes, r.header)
                batch.put(cf.bodies, r.hash.bytes, r.body)
                batch.put(cf.receipts, r.hash.bytes, r.receipts)
                batch.put(cf.blocks, r.hash.bytes, BlockInfo(height: r.height, parent: r.parent).canonicalEncoding)
                batch.put(cf.canonical, ChainSchema.canonicalKey(r.height), r.hash.bytes)
            }
            // The snapshot block's own transactions and events are findable like any block's (never reverted: final).
            for tx in block.transactions {
                batch.put(cf.txIndex, tx.txHash.bytes, TxLocation(blockHash: block.hash, height: block.height, position: tx.position).canonicalEncoding)
                for address in tx.addresses {
                    batch.put(cf.addressIndex, ChainSchema.addressKey(address, height: block.height, position: tx.position), tx.txHash.bytes)
                }
            }
            for e in block.addressEvents {
                batch.put(cf.addressEvents, ChainSchema.addressEventKey(e.address, height: block.height, receipt: e.receipt, event: e.event),
                          AddressEventValue(kind: e.kind, pool: e.pool, worker: e.worker, txHash: e.txHash).canonicalEncoding)
            }
            batch.put(cf.meta, ChainSchema.MetaKey.tip, ChainTip(hash: block.hash, height: block.height).canonicalEncoding)
            batch.put(cf.meta, ChainSchema.MetaKey.finalized, block.height.canonicalEncoding)
            batch.put(cf.meta, ChainSchema.MetaKey.stateRetainedFrom, block.height.canonicalEncoding)
            batch.put(cf.meta, ChainSchema.MetaKey.earliestBlock, block.height.canonicalEncoding)
            batch.delete(cf.meta, ChainSchema.MetaKey.snapshotImport)
            try database.write(batch, sync: true)
        }
    }

    /// Undoes a snapshot load that stopped before its completing batch (a crash, an I/O error): when the marker is
    /// set, every state and history entry is deleted, the genesis state (`genesisState`, the genesis block's write
    /// set) and its history at height 0 are written back, the tree nodes of the snapshot's version are deleted, and
    /// the marker with them, in one batch. The store is then the genesis-only store it was. Returns whether it did
    /// anything. The chain engine calls it when it opens a store.
    @discardableResult
    public func recoverInterruptedSnapshotImport(genesisState: [KeyValue]) throws -> Bool {
        try writer.withLock { (_: inout Void) throws -> Bool in try undoInterruptedSnapshotImport(genesisState: genesisState) }
    }

    /// `recoverInterruptedSnapshotImport`'s body; the caller holds the writer lock.
    private func undoInterruptedSnapshotImport(genesisState: [KeyValue]) throws -> Bool {
        let cf = columns
        guard let bytes = try database.get(cf.meta, ChainSchema.MetaKey.snapshotImport) else { return false }
        defer { forgetCachedState() }
        // SST files written for ingestion and not yet ingested when the load stopped.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: database.path)) ?? []
        where name.hasPrefix("ingest-") && name.hasSuffix(".sst") {
            try? FileManager.default.removeItem(atPath: (database.path as NSString).appendingPathComponent(name))
        }
        var r = CanonicalReader(bytes)
        let height = try r.u64("height")
        try r.finish()
        let batch = try database.makeWriteBatch()
        for family in [cf.state, cf.history] {
            var after: [UInt8]? = nil
            while true {
                let page = try database.scan(family, prefix: [], after: after, limit: 10_000)
                for kv in page { batch.delete(family, kv.key) }
                guard page.count == 10_000, let last = page.last else { break }
                after = last.key
            }
        }
        for kv in genesisState {
            batch.put(cf.state, kv.key, kv.value)
            batch.put(cf.history, ChainSchema.historyKey(kv.key, height: 0), [1] + kv.value)
        }
        try tree.deleteNodes(version: height, into: batch)
        batch.delete(cf.meta, ChainSchema.MetaKey.snapshotImport)
        try database.write(batch, sync: true)
        return true
    }

    /// Forgets the state values and tree nodes kept in memory (`LatestStateCache`, `RecentTreeNodes`).
    func forgetCachedState() {
        stateCache.forgetAll()
        tree.recent.forgetAll()
    }
}

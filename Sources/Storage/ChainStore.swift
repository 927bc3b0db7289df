import Ledger
import Primitives
import StateTree
import Synchronization

/// The node's persistent chain: blocks, indexes, metadata and the committed ledger state with per-block
/// undo records, all in one RocksDB database (Specs/storage.md).
///
/// Every change is one synced write batch: `commit` (a block and its state changes), `revertTip` (its
/// exact inverse) and `storeSideBlock` (a block off the canonical chain, no state). After a crash the
/// database is therefore at a block boundary: the tip, the state, the indexes and the undo records
/// always agree.
///
/// Concurrency: one writer, many readers. Commits, reverts and side-block writes are serialized by a
/// lock (the consensus layer is expected to be the only writer anyway). Readers use `readView()` (a
/// snapshot, consistent across any number of reads, safe on any thread while blocks are committed) or
/// `current` (latest data, which the writer executes against).
public final class ChainStore: Sendable {
    /// The genesis hash (chain identity) the database was created for.
    public let genesis: Hash32
    /// Latest committed data, not isolated from concurrent commits: the base the writer executes blocks
    /// on (`StateOverlay(base: store.current)`). RPC should use `readView()`.
    public let current: ReadView

    /// The authenticated state tree (Specs/state-tree.md), versioned by height: version `h` is the state after
    /// block `h`, and its root is block `h`'s `stateRoot`. Written in each block's batch, reverted with it.
    public let tree: StateTreeStore
    let database: Database
    let columns: ChainColumns
    let writer = Mutex<Void>(())
    let syncWrites: Bool
    /// Latest values of recently read or written state keys, for `current`'s reads; every state write updates it.
    let stateCache: LatestStateCache
    private let commitTotals = Mutex(CommitTotals())

    /// What the commits so far wrote, summed: for benchmarks and metrics (write amplification per block).
    public var committed: CommitTotals { commitTotals.withLock { $0 } }

    /// Opens the chain store at `path`, creating it for `genesis` when the directory holds no database.
    /// Fails with `genesisMismatch` for a database of another chain, `schemaMismatch` for an unknown
    /// storage layout, `locked` when another handle has it open.
    public init(path: String, genesis: Hash32, options: DatabaseOptions = DatabaseOptions()) throws(StorageError) {
        let db = try Database.open(path: path, columnFamilies: ChainSchema.columnFamilies, options: options)
        let columns = try ChainColumns(db)
        try Self.checkOrInitializeMetadata(db, columns, path: path, genesis: genesis)
        self.database = db
        self.columns = columns
        self.tree = try StateTreeStore(database: db, recentNodes: options.recentTreeNodes)
        self.genesis = genesis
        self.syncWrites = options.syncWrites
        let stateCache = LatestStateCache(capacityBytes: options.latestStateCacheBytes)
        self.stateCache = stateCache
        self.current = ReadView(database: db, columns: columns, genesis: genesis, snapshot: nil, latestCache: stateCache)
    }

    private static func checkOrInitializeMetadata(
        _ db: Database, _ cf: ChainColumns, path: String, genesis: Hash32
    ) throws(StorageError) {
        let schemaKey = ChainSchema.MetaKey.schema
        if let bytes = try db.get(cf.meta, schemaKey) {
            // The schema first: under another version even the genesis record may mean something else.
            let version = try decodeRecord(UInt32.self, bytes, record: "schema version", key: schemaKey)
            guard version == ChainSchema.version else {
                throw .schemaMismatch(path: path, stored: version, supported: ChainSchema.version)
            }
            let genesisKey = ChainSchema.MetaKey.genesis
            guard let g = try db.get(cf.meta, genesisKey) else { throw .missingRecord(record: "genesis", key: genesisKey) }
            let stored = try decodeRecord(Hash32.self, g, record: "genesis", key: genesisKey)
            guard stored == genesis else { throw .genesisMismatch(path: path, stored: stored, expected: genesis) }
            return
        }
        // No schema record: a fresh database (possibly one whose creation was interrupted before this
        // batch) — unless some column family holds data, which means it is not ours.
        for name in db.columnFamilyNames {
            let it = try db.makeIterator(try db.columnFamily(name))
            it.seekToFirst()
            try it.checkStatus()
            if it.isValid { throw .notAChainStore(path: path) }
        }
        let batch = try db.makeWriteBatch()
        batch.put(cf.meta, schemaKey, ChainSchema.version.canonicalEncoding)
        batch.put(cf.meta, ChainSchema.MetaKey.genesis, genesis.bytes)
        try db.write(batch, sync: true)
    }

    /// The path of the database directory.
    public var path: String { database.path }

    /// A snapshot view for consistent reads from any thread.
    public func readView() throws(StorageError) -> ReadView {
        ReadView(database: database, columns: columns, genesis: genesis, snapshot: try database.snapshot())
    }

    /// A pending overlay over the latest committed state: what the next block executes against; its
    /// `writeSet()` is what `commit` takes.
    public func makeOverlay() -> StateOverlay { StateOverlay(base: current) }

    /// The canonical tip (latest committed), nil before genesis.
    public func tip() throws(StorageError) -> ChainTip? { try current.tip() }

    /// The finalized height (latest committed), nil until set.
    public func finalizedHeight() throws(StorageError) -> UInt64? { try current.finalizedHeight() }

    /// Closes the database. Throws `busy` while read views, iterators or batches are alive.
    public func close() throws(StorageError) {
        try database.close()
        // A closed store answers no read, not even from memory.
        forgetCachedState()
    }

    /// The first write the database refused (a full disk, an I/O error), nil while every write succeeded. No later
    /// write can succeed until the store is reopened; what was committed before it is intact (Specs/storage.md §6).
    public var writeFailure: StorageError? { database.writeFailure }

    // MARK: - Writes

    /// A block's state tree version computed before its commit (`prepareTree`), with the previous values of the
    /// written keys that both the tree update and the undo record need.
    public struct PreparedState: Sendable {
        /// The tree version; its `rootHash` is the block's `stateRoot`.
        public let tree: TreeBatch
        let keys: [[UInt8]]
        let previous: [[UInt8]?]
        public var rootHash: Hash32 { tree.rootHash }
    }

    /// The state tree's version `height` after `writeSet` is applied to the latest committed state (version
    /// `height − 1`; the empty tree for genesis), computed and not written: its `rootHash` is the block's
    /// `stateRoot`. Pass it to `commit` with the same write set. The written keys' previous values are read
    /// here for the block's undo record.
    public func prepareTree(writeSet: WriteSet, height: UInt64) throws(StorageError) -> PreparedState {
        let keys = writeSet.entries.map(\.key)
        return try prepared(writeSet, keys: keys, previous: try database.multiGet(columns.state, keys, sortedInput: true), height: height)
    }

    /// `prepareTree(writeSet:height:)` with the written keys' values in the latest committed state already known
    /// (`previous[i]` for `writeSet.entries[i]`, as `StateOverlay.writeSetWithPrevious()` gives them for an
    /// execution over `current`), so they are not read again. They go into the block's undo record, so the caller
    /// must have read them from this store's latest state; debug builds check that they are.
    public func prepareTree(writeSet: WriteSet, previous: [[UInt8]?], height: UInt64) throws(StorageError) -> PreparedState {
        precondition(previous.count == writeSet.entries.count, "one previous value per write-set entry")
        let keys = writeSet.entries.map(\.key)
        assert((try? database.multiGet(columns.state, keys, sortedInput: true)) == previous,
               "previous values are not the latest committed state's")
        return try prepared(writeSet, keys: keys, previous: previous, height: height)
    }

    private func prepared(_ writeSet: WriteSet, keys: [[UInt8]], previous: [[UInt8]?], height: UInt64) throws(StorageError) -> PreparedState {
        PreparedState(tree: try prepareTree(writeSet: writeSet, height: height), keys: keys, previous: previous)
    }

    private func prepareTree(writeSet: WriteSet, height: UInt64) throws(StorageError) -> TreeBatch {
        let updates = writeSet.entries.map { TreeUpdate(key: $0.key, value: $0.value) }
        do {
            return try tree.prepare(base: height == 0 ? nil : height - 1, version: height, updates: TreeUpdate.sorted(updates),
                                    parallel: updates.count >= 512)
        } catch let e as StorageError { throw e } catch {
            throw .corruptRecord(record: "state tree", key: KeyBytes.be64(height), detail: "\(error)")
        }
    }

    /// Appends `block` to the canonical chain and applies `writeSet` to the state, in one synced batch
    /// that also records the undo data, the block's parts, the state tree's new version (`prepared`, from
    /// `prepareTree` with the same write set; computed here when nil or for other keys), the state history, the
    /// canonical, transaction, address and address event indexes, the new tip and (when given) the new finalized
    /// height. Genesis is the commit at height 0
    /// with parent `.zero`.
    ///
    /// The block must extend the tip. `finalizedHeight` must not decrease nor exceed the block's height;
    /// when it advances, undo records at or below it are deleted (those blocks can no longer be reverted).
    public func commit(_ block: BlockRecord, writeSet: WriteSet, prepared: PreparedState? = nil, finalizedHeight: UInt64? = nil) throws(StorageError) {
        try writer.withLock { (_: inout Void) throws(StorageError) in
            try commitLocked(block, writeSet: writeSet, prepared: prepared, finalizedHeight: finalizedHeight)
        }
    }

    private func commitLocked(_ block: BlockRecord, writeSet: WriteSet, prepared: PreparedState?, finalizedHeight: UInt64?) throws(StorageError) {
        let start = ContinuousClock.now
        let tip = try current.tip()
        if let tip {
            guard block.height == tip.height &+ 1, block.parent == tip.hash, tip.height < UInt64.max else {
                throw .notExtendingTip(expectedParent: tip.hash, expectedHeight: tip.height &+ 1, parent: block.parent, height: block.height)
            }
        } else {
            guard block.height == 0, block.parent == .zero else {
                throw .notExtendingTip(expectedParent: nil, expectedHeight: 0, parent: block.parent, height: block.height)
            }
        }
        let finalized = try current.finalizedHeight()
        if let f = finalizedHeight, f > block.height || f < (finalized ?? 0) {
            throw .invalidFinalizedHeight(requested: f, current: finalized, blockHeight: block.height)
        }
        try Self.checkLimits(block, writeSet)
        let info = BlockInfo(height: block.height, parent: block.parent)
        try checkNotConflicting(block.hash, info)

        // The undo record needs every touched key's value before this block: one batched lookup.
        let keys = writeSet.entries.map(\.key)
        // Prepared for this write set on this tip (nothing else commits in between: one writer), its previous
        // values are still the state's; otherwise read them now.
        let previous: [[UInt8]?]
        let treeBatch: TreeBatch
        if let prepared, prepared.keys == keys {
            previous = prepared.previous
            treeBatch = prepared.tree
        } else {
            previous = try database.multiGet(columns.state, keys, sortedInput: true)
            treeBatch = try prepareTree(writeSet: writeSet, height: block.height)
        }
        guard treeBatch.version == block.height else {
            throw .corruptRecord(record: "state tree batch", key: KeyBytes.be64(block.height), detail: "for version \(treeBatch.version)")
        }
        let txKeys = block.transactions.map { $0.txHash.bytes }
        let priorLocations = try database.multiGet(columns.txIndex, txKeys)
        var undoTransactions: [UndoRecord.Transaction] = []
        undoTransactions.reserveCapacity(block.transactions.count)
        for (i, tx) in block.transactions.enumerated() {
            let prior = try priorLocations[i].map { (bytes: [UInt8]) throws(StorageError) -> TxLocation in
                try decodeRecord(TxLocation.self, bytes, record: "transaction index", key: txKeys[i])
            }
            undoTransactions.append(
                UndoRecord.Transaction(txHash: tx.txHash, position: tx.position, addresses: tx.addresses, previousLocation: prior))
        }
        var undoState: [UndoRecord.StateEntry] = []
        undoState.reserveCapacity(keys.count)
        for i in keys.indices { undoState.append(UndoRecord.StateEntry(key: keys[i], previous: previous[i])) }
        let undo = UndoRecord(height: block.height, parent: block.parent, state: undoState, transactions: undoTransactions,
                              addressEvents: block.addressEvents.map { UndoRecord.AddressEvent(address: $0.address, receipt: $0.receipt, event: $0.event) })
        var undoWriter = CanonicalWriter(capacity: undo.encodedSizeEstimate)
        undo.encode(to: &undoWriter)

        let cf = columns
        let batch = try database.makeWriteBatch()
        for e in writeSet.entries {
            if let v = e.value { batch.put(cf.state, e.key, v) } else { batch.delete(cf.state, e.key) }
            batch.put(cf.history, ChainSchema.historyKey(e.key, height: block.height), e.value.map { [1] + $0 } ?? [0])
        }
        if !writeSet.entries.isEmpty { batch.put(cf.historyChanges, KeyBytes.be64(block.height), ChainSchema.encodeKeyList(keys)) }
        tree.write(treeBatch, into: batch)
        let hash = block.hash.bytes
        batch.put(cf.undo, ChainSchema.undoKey(height: block.height, hash: block.hash), undoWriter.bytes)
        batch.put(cf.headers, hash, block.header)
        batch.put(cf.bodies, hash, block.body)
        batch.put(cf.receipts, hash, block.receipts)
        batch.put(cf.blocks, hash, info.canonicalEncoding)
        batch.put(cf.canonical, ChainSchema.canonicalKey(block.height), hash)
        batch.delete(cf.sideBlocks, ChainSchema.sideBlockKey(height: block.height, hash: block.hash))  // a side block no more
        // Index entries go in key order (keys are unique within each family): a memtable insert right after the
        // previous key reuses its skip-list position, so sorted inserts cost about half as much.
        var txIndex: [(key: [UInt8], value: [UInt8])] = [], addressIndex: [(key: [UInt8], value: [UInt8])] = []
        txIndex.reserveCapacity(block.transactions.count)
        for tx in block.transactions {
            let location = TxLocation(blockHash: block.hash, height: block.height, position: tx.position)
            txIndex.append((tx.txHash.bytes, location.canonicalEncoding))
            let txHash = tx.txHash.bytes
            for address in tx.addresses {
                addressIndex.append((ChainSchema.addressKey(address, height: block.height, position: tx.position), txHash))
            }
        }
        var addressEvents: [(key: [UInt8], value: [UInt8])] = []
        addressEvents.reserveCapacity(block.addressEvents.count)
        for e in block.addressEvents {
            let value = AddressEventValue(kind: e.kind, pool: e.pool, worker: e.worker, txHash: e.txHash)
            addressEvents.append((ChainSchema.addressEventKey(e.address, height: block.height, receipt: e.receipt, event: e.event),
                                  value.canonicalEncoding))
        }
        for (family, entries) in [(cf.txIndex, txIndex), (cf.addressIndex, addressIndex), (cf.addressEvents, addressEvents)] {
            for e in entries.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) { batch.put(family, e.key, e.value) }
        }
        batch.put(cf.meta, ChainSchema.MetaKey.tip, ChainTip(hash: block.hash, height: block.height).canonicalEncoding)
        if let f = finalizedHeight { try advanceFinality(from: finalized, to: f, keeping: block.hash, into: batch) }
        let bytes = batch.byteSize, entries = batch.count
        let writeStart = ContinuousClock.now
        try database.write(batch, sync: syncWrites)
        let writeTime = ContinuousClock.now - writeStart
        stateCache.committed(writeSet.entries)
        tree.remember(committed: treeBatch)
        let cacheTime = ContinuousClock.now - writeStart - writeTime
        commitTotals.withLock { t in
            t.blocks += 1
            t.buildTime += writeStart - start
            t.batchBytes += bytes
            t.batchEntries += entries
            t.writeTime += writeTime
            t.cacheTime += cacheTime
            t.stateEntries += writeSet.entries.count
            t.treeNodes += treeBatch.nodes.count
        }
    }

    /// Deletes the side blocks at or below the finalized height `f` (header, body, block info and index entry): a
    /// branch through one forks below `f`, so fork choice refuses it and it can never become canonical. Without this,
    /// every side block a leader ever got stored (one per slot it leads) stayed on disk for good. `keeping` is the
    /// block being committed (its stale index entry, if it was a side block, is deleted by the caller).
    /// Writes finalized height `f` (at least `finalized`, the stored one) into `batch`; when it advances, the undo
    /// records and side blocks at or below it go: those blocks can no longer be reverted, nor become canonical. The
    /// undo range starts above the previous finalized height, so ranges never overlap.
    private func advanceFinality(from finalized: UInt64?, to f: UInt64, keeping: Hash32, into batch: WriteBatch) throws(StorageError) {
        let cf = columns
        batch.put(cf.meta, ChainSchema.MetaKey.finalized, f.canonicalEncoding)
        guard finalized.map({ f > $0 }) ?? true else { return }
        let from = finalized.map { KeyBytes.be64($0 + 1) } ?? KeyBytes.be64(0)
        let to = KeyBytes.be64(f) + [UInt8](repeating: 0xFF, count: 33)
        batch.deleteRange(cf.undo, from: from, to: to)
        try deleteSideBlocks(atOrBelow: f, keeping: keeping, into: batch)
    }

    /// Raises the finalized height to `f` on its own, in one atomic write (what a commit does with its
    /// `finalizedHeight`): for a reorg's branch, whose finality may count only once the switch is accepted
    /// (`ChainEngine.reorganize`). Nothing when `f` is the stored height; refused below it or above the tip.
    public func finalize(upTo f: UInt64) throws(StorageError) {
        try writer.withLock { (_: inout Void) throws(StorageError) in
            let finalized = try current.finalizedHeight()
            guard let tip = try current.tip(), f <= tip.height, f >= (finalized ?? 0) else {
                throw .invalidFinalizedHeight(requested: f, current: finalized, blockHeight: try current.tip()?.height ?? 0)
            }
            guard finalized.map({ f > $0 }) ?? true else { return }
            let batch = try database.makeWriteBatch()
            try advanceFinality(from: finalized, to: f, keeping: tip.hash, into: batch)
            try database.write(batch, sync: syncWrites)
        }
    }

    private func deleteSideBlocks(atOrBelow f: UInt64, keeping: Hash32, into batch: WriteBatch) throws(StorageError) {
        let cf = columns
        let upper: [UInt8]? = f == .max ? nil : KeyBytes.be64(f + 1)
        let it = try database.makeIterator(cf.sideBlocks, upperBound: upper)
        it.seekToFirst()
        while let key = it.key() {
            batch.delete(cf.sideBlocks, key)
            if key.count == 40, let hash = Hash32(bytes: key.suffix(32)), hash != keeping,
               try current.canonicalHash(at: UInt64(bigEndianBytes: key.prefix(8))) != hash {
                batch.delete(cf.headers, hash.bytes)
                batch.delete(cf.bodies, hash.bytes)
                batch.delete(cf.blocks, hash.bytes)
            }
            it.next()
        }
        try it.checkStatus()
    }

    /// A hash identifies one block: storing it again with another height or parent is a caller bug that
    /// would corrupt ancestry walks, so it is refused.
    private func checkNotConflicting(_ hash: Hash32, _ info: BlockInfo) throws(StorageError) {
        if let stored = try current.blockInfo(hash), stored != info {
            throw .conflictingBlock(hash: hash, stored: stored, given: info)
        }
    }

    private static func checkLimits(_ block: BlockRecord, _ writeSet: WriteSet) throws(StorageError) {
        if writeSet.entries.count > StorageLimits.maxWriteSetEntries {
            throw .limitExceeded(what: "write set entry count", size: writeSet.entries.count, limit: StorageLimits.maxWriteSetEntries)
        }
        for e in writeSet.entries {
            if e.key.count > StorageLimits.maxStateKeyBytes {
                throw .limitExceeded(what: "state key length", size: e.key.count, limit: StorageLimits.maxStateKeyBytes)
            }
            if let v = e.value, v.count > StorageLimits.maxStateValueBytes {
                throw .limitExceeded(what: "state value length", size: v.count, limit: StorageLimits.maxStateValueBytes)
            }
        }
        if block.transactions.count > StorageLimits.maxTransactionsPerBlock {
            throw .limitExceeded(what: "transaction count", size: block.transactions.count, limit: StorageLimits.maxTransactionsPerBlock)
        }
        for tx in block.transactions where tx.addresses.count > StorageLimits.maxAddressesPerTransaction {
            throw .limitExceeded(what: "addresses per transaction", size: tx.addresses.count, limit: StorageLimits.maxAddressesPerTransaction)
        }
        if block.addressEvents.count > StorageLimits.maxAddressEventsPerBlock {
            throw .limitExceeded(what: "address events per block", size: block.addressEvents.count, limit: StorageLimits.maxAddressEventsPerBlock)
        }
    }

    /// Takes the tip block off the canonical chain by applying its undo record, in one synced batch:
    /// state keys get their previous values back, its canonical, transaction, address and address event index entries
    /// and receipts are removed (a transaction index entry it replaced is restored), and the tip moves
    /// to its parent. The block's header and body stay, as a side block. Returns the reverted block's
    /// hash. Refused for genesis and for blocks at or below the finalized height.
    @discardableResult
    public func revertTip() throws(StorageError) -> Hash32 {
        try writer.withLock { (_: inout Void) throws(StorageError) -> Hash32 in
            try revertLocked()
        }
    }

    private func revertLocked() throws(StorageError) -> Hash32 {
        guard let tip = try current.tip() else { throw .cannotRevert(height: 0, reason: "the chain is empty") }
        guard tip.height > 0 else { throw .cannotRevert(height: 0, reason: "genesis cannot be reverted") }
        if let f = try current.finalizedHeight(), tip.height <= f {
            throw .cannotRevert(height: tip.height, reason: "it is at or below the finalized height \(f)")
        }
        let undoKey = ChainSchema.undoKey(height: tip.height, hash: tip.hash)
        guard let undo = try current.undoRecord(height: tip.height, hash: tip.hash) else {
            throw .missingRecord(record: "undo", key: undoKey)
        }
        // The record must lead back to the canonical parent; anything else means the disk disagrees with
        // itself, and reverting would make it worse.
        let parentKey = ChainSchema.canonicalKey(tip.height - 1)
        guard let parent = try current.canonicalHash(at: tip.height - 1) else {
            throw .missingRecord(record: "canonical index", key: parentKey)
        }
        guard parent == undo.parent else {
            throw .corruptRecord(record: "undo", key: undoKey, detail: "parent \(undo.parent) but canonical parent is \(parent)")
        }

        let cf = columns
        let batch = try database.makeWriteBatch()
        for e in undo.state {
            if let v = e.previous { batch.put(cf.state, e.key, v) } else { batch.delete(cf.state, e.key) }
            batch.delete(cf.history, ChainSchema.historyKey(e.key, height: tip.height))
        }
        try tree.revert(version: tip.height, into: batch)
        batch.delete(cf.historyChanges, KeyBytes.be64(tip.height))
        batch.delete(cf.undo, undoKey)
        batch.delete(cf.receipts, tip.hash.bytes)
        batch.delete(cf.canonical, ChainSchema.canonicalKey(tip.height))
        for tx in undo.transactions {
            batch.delete(cf.txIndex, tx.txHash.bytes)
            for address in tx.addresses {
                batch.delete(cf.addressIndex, ChainSchema.addressKey(address, height: tip.height, position: tx.position))
            }
        }
        for e in undo.addressEvents {
            batch.delete(cf.addressEvents, ChainSchema.addressEventKey(e.address, height: tip.height, receipt: e.receipt, event: e.event))
        }
        // Restores after all deletions, so a hash listed twice in the block still ends at its prior entry.
        for tx in undo.transactions {
            if let prior = tx.previousLocation { batch.put(cf.txIndex, tx.txHash.bytes, prior.canonicalEncoding) }
        }
        batch.put(cf.sideBlocks, ChainSchema.sideBlockKey(height: tip.height, hash: tip.hash), [])  // now a side block
        batch.put(cf.meta, ChainSchema.MetaKey.tip, ChainTip(hash: parent, height: tip.height - 1).canonicalEncoding)
        try database.write(batch, sync: syncWrites)
        // (The tree's kept nodes went with `tree.revert`: the next commit writes this version's node keys again.)
        stateCache.committed(undo.state.map { WriteEntry(key: $0.key, value: $0.previous) })
        return tip.hash
    }

    /// Stores a block that is not (or not yet) on the canonical chain, for fork choice: header, body and
    /// its height and parent, keyed by hash. No state, index or tip changes. Storing a block that is
    /// already stored rewrites the same records; a known hash with another height or parent is refused.
    public func storeSideBlock(hash: Hash32, height: UInt64, parent: Hash32, header: [UInt8], body: [UInt8]) throws(StorageError) {
        try writer.withLock { (_: inout Void) throws(StorageError) in
            let info = BlockInfo(height: height, parent: parent)
            try checkNotConflicting(hash, info)
            let cf = columns
            let key = hash.bytes
            let batch = try database.makeWriteBatch()
            batch.put(cf.headers, key, header)
            batch.put(cf.bodies, key, body)
            batch.put(cf.blocks, key, info.canonicalEncoding)
            if try current.canonicalHash(at: height) != hash {
                batch.put(cf.sideBlocks, ChainSchema.sideBlockKey(height: height, hash: hash), [])
            }
            try database.write(batch, sync: syncWrites)
        }
    }
}

/// Sums over a store's commits (since it was opened).
public struct CommitTotals: Sendable, Equatable {
    /// Blocks committed.
    public var blocks = 0
    /// Bytes of the write batches (keys, values and record headers: what the write-ahead log receives).
    public var batchBytes = 0
    /// State keys written or deleted.
    public var stateEntries = 0
    /// State-tree nodes written.
    public var treeNodes = 0
    /// Entries (puts, deletions, range deletions) in the write batches: state, history, tree nodes, undo, block
    /// parts, indexes, metadata.
    public var batchEntries = 0
    /// Time spent in the RocksDB writes of those batches (the log append, its sync and the memtable inserts).
    public var writeTime: Duration = .zero
    /// Time spent in the commits before those writes: checks, the undo record, building the batch (and the state
    /// tree's new version when the caller did not prepare it with `prepareTree`).
    public var buildTime: Duration = .zero
    /// Time spent after those writes keeping the written state values and tree nodes in memory (`LatestStateCache`,
    /// `RecentTreeNodes`).
    public var cacheTime: Duration = .zero
    public init() {}
}

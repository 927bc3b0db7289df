import Ledger
import Primitives

/// Read access to the chain: blocks, the canonical index, transaction and address indexes, metadata.
/// `ReadView` implements it (over a snapshot, or over the latest committed data).
public protocol ChainReader: Sendable {
    /// The genesis hash (chain identity) the database was created for.
    var genesis: Hash32 { get }
    /// The canonical tip, nil before genesis is committed.
    func tip() throws -> ChainTip?
    /// The finalized height, nil until a commit sets one.
    func finalizedHeight() throws -> UInt64?
    /// Hash of the canonical block at `height`.
    func canonicalHash(at height: UInt64) throws -> Hash32?
    /// Height and parent of a stored block (canonical or side).
    func blockInfo(_ hash: Hash32) throws -> BlockInfo?
    /// Whether `hash` is on the canonical chain.
    func isCanonical(_ hash: Hash32) throws -> Bool
    /// Header bytes of a stored block.
    func header(_ hash: Hash32) throws -> [UInt8]?
    /// Body bytes of a stored block.
    func body(_ hash: Hash32) throws -> [UInt8]?
    /// Receipts bytes of a canonical block.
    func receipts(_ hash: Hash32) throws -> [UInt8]?
    /// Location of a transaction on the canonical chain.
    func transactionLocation(_ txHash: Hash32) throws -> TxLocation?
    /// One page of an address's transactions on the canonical chain, continuing strictly after
    /// `cursor` in `order`.
    func addressTransactions(_ address: Hash32, after cursor: AddressTxCursor?, limit: Int, order: ScanOrder) throws -> AddressTxPage
    /// One page of an address's event history on the canonical chain (every event that touches it),
    /// continuing strictly after `cursor` in `order`, keeping the events `filter` matches. At most
    /// `scanLimit` index entries are read per page, so a selective filter may return a short page with a
    /// `nextCursor` (the last entry read).
    func addressEvents(_ address: Hash32, after cursor: AddressEventCursor?, filter: AddressEventFilter, limit: Int, order: ScanOrder,
                       scanLimit: Int) throws -> AddressEventPage
    /// The undo record of a canonical block above the finalized height.
    func undoRecord(height: UInt64, hash: Hash32) throws -> UndoRecord?
}

/// The column family handles of a chain store.
struct ChainColumns: Sendable {
    let meta, state, headers, bodies, receipts, blocks, canonical, txIndex, addressIndex, addressEvents, undo, history, historyChanges,
        sideBlocks: ColumnFamily

    init(_ db: Database) throws(StorageError) {
        typealias F = ChainSchema.Family
        meta = try db.columnFamily(F.meta)
        state = try db.columnFamily(F.state)
        headers = try db.columnFamily(F.headers)
        bodies = try db.columnFamily(F.bodies)
        receipts = try db.columnFamily(F.receipts)
        blocks = try db.columnFamily(F.blocks)
        canonical = try db.columnFamily(F.canonical)
        txIndex = try db.columnFamily(F.txIndex)
        addressIndex = try db.columnFamily(F.addressIndex)
        addressEvents = try db.columnFamily(F.addressEvents)
        undo = try db.columnFamily(F.undo)
        history = try db.columnFamily(F.history)
        historyChanges = try db.columnFamily(F.historyChanges)
        sideBlocks = try db.columnFamily(F.sideBlocks)
    }
}

/// A read-only view of the chain store: the ledger's `StateReader` plus `ChainReader`.
///
/// A view made by `ChainStore.readView()` reads one RocksDB snapshot: every read, however many and
/// however long after, sees the same committed block, even while new blocks are committed. That is
/// what RPC handlers use (one view per request, so a paginated answer is consistent). The store's
/// `current` view reads the latest committed data instead; it is what the single writer executes
/// blocks against, where nothing else can commit in between.
///
/// Sendable: immutable references to thread-safe objects; share it across threads freely.
public final class ReadView: ChainReader, StateReader, Sendable {
    /// The genesis hash (chain identity) of the store.
    public let genesis: Hash32
    let database: Database
    let columns: ChainColumns
    let snapshot: DatabaseSnapshot?
    /// The store's cache of latest state values, for the view of the latest data only.
    let latestCache: LatestStateCache?

    init(database: Database, columns: ChainColumns, genesis: Hash32, snapshot: DatabaseSnapshot?, latestCache: LatestStateCache? = nil) {
        precondition(snapshot == nil || latestCache == nil, "a snapshot view reads its snapshot only")
        self.database = database
        self.columns = columns
        self.genesis = genesis
        self.snapshot = snapshot
        self.latestCache = latestCache
    }

    /// Whether this view reads a fixed snapshot (true) or the latest committed data (false).
    public var isSnapshot: Bool { snapshot != nil }

    // MARK: StateReader

    /// The committed value of a ledger state key, nil when absent.
    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        guard let cache = latestCache else { return try database.get(columns.state, key, snapshot: snapshot) }
        switch cache.lookup(key) {
        case .hit(let value):
            return value
        case .miss(let generation):
            let value = try database.get(columns.state, key)
            cache.remember(key, value, readAt: generation)
            return value
        }
    }

    /// The committed values of many state keys, in order: one batched RocksDB lookup (the overlay's write set
    /// asks for every key a block wrote without reading it first).
    public func getMany(_ keys: [[UInt8]]) throws(StorageError) -> [[UInt8]?] {
        guard let cache = latestCache else { return try database.multiGet(columns.state, keys, snapshot: snapshot) }
        var out = [[UInt8]?](repeating: nil, count: keys.count)
        var missing: [(index: Int, generation: UInt64)] = []
        for (i, key) in keys.enumerated() {
            switch cache.lookup(key) {
            case .hit(let value): out[i] = value
            case .miss(let generation): missing.append((i, generation))
            }
        }
        guard !missing.isEmpty else { return out }
        let read = try database.multiGet(columns.state, missing.map { keys[$0.index] })
        for (m, value) in zip(missing, read) {
            out[m.index] = value
            cache.remember(keys[m.index], value, readAt: m.generation)
        }
        return out
    }

    /// Committed state entries under `prefix`, ascending, strictly after `after`, at most `limit`.
    public func scan(prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StorageError) -> [KeyValue] {
        try database.scan(columns.state, prefix: prefix, after: after, limit: limit, snapshot: snapshot)
    }

    /// Every state entry, ascending (for tests, debugging and state export).
    public func dumpState() throws(StorageError) -> [KeyValue] {
        try scan(prefix: [], after: nil, limit: .max)
    }

    // MARK: ChainReader

    public func tip() throws(StorageError) -> ChainTip? {
        let key = ChainSchema.MetaKey.tip
        guard let bytes = try database.get(columns.meta, key, snapshot: snapshot) else { return nil }
        return try decodeRecord(ChainTip.self, bytes, record: "tip", key: key)
    }

    /// The lowest height whose state (history and tree version) this store retains; 0 when nothing is pruned.
    public func stateRetainedFrom() throws(StorageError) -> UInt64 {
        let key = ChainSchema.MetaKey.stateRetainedFrom
        guard let bytes = try database.get(columns.meta, key, snapshot: snapshot) else { return 0 }
        return try decodeRecord(UInt64.self, bytes, record: "state retained from", key: key)
    }

    /// The lowest height above genesis whose block is stored: 1 unless the store started from a snapshot
    /// (Specs/storage.md §12), when blocks below the snapshot's are absent.
    public func earliestBlockHeight() throws(StorageError) -> UInt64 {
        let key = ChainSchema.MetaKey.earliestBlock
        guard let bytes = try database.get(columns.meta, key, snapshot: snapshot) else { return 1 }
        return try decodeRecord(UInt64.self, bytes, record: "earliest block", key: key)
    }

    public func finalizedHeight() throws(StorageError) -> UInt64? {
        let key = ChainSchema.MetaKey.finalized
        guard let bytes = try database.get(columns.meta, key, snapshot: snapshot) else { return nil }
        return try decodeRecord(UInt64.self, bytes, record: "finalized height", key: key)
    }

    public func canonicalHash(at height: UInt64) throws(StorageError) -> Hash32? {
        let key = ChainSchema.canonicalKey(height)
        guard let bytes = try database.get(columns.canonical, key, snapshot: snapshot) else { return nil }
        return try decodeRecord(Hash32.self, bytes, record: "canonical index", key: key)
    }

    public func blockInfo(_ hash: Hash32) throws(StorageError) -> BlockInfo? {
        let key = hash.bytes
        guard let bytes = try database.get(columns.blocks, key, snapshot: snapshot) else { return nil }
        return try decodeRecord(BlockInfo.self, bytes, record: "block info", key: key)
    }

    /// The stored blocks that are not canonical (side blocks and reverted blocks) at heights `≥ from`, ascending by
    /// height then hash, at most `limit`. Those at or below the finalized height are deleted when it passes them, so
    /// from the finalized height on this is the unfinalized window's side blocks.
    public func sideBlocks(from height: UInt64, limit: Int) throws(StorageError) -> [(height: UInt64, hash: Hash32)] {
        let it = try database.makeIterator(columns.sideBlocks, lowerBound: KeyBytes.be64(height), snapshot: snapshot)
        it.seekToFirst()
        var out: [(height: UInt64, hash: Hash32)] = []
        while out.count < limit, let key = it.key() {
            guard key.count == 40, let hash = Hash32(bytes: key.suffix(32)) else {
                throw .corruptRecord(record: "side block index", key: key, detail: "key of \(key.count) bytes, not 40")
            }
            out.append((UInt64(bigEndianBytes: key.prefix(8)), hash))
            it.next()
        }
        try it.checkStatus()
        return out
    }

    public func isCanonical(_ hash: Hash32) throws(StorageError) -> Bool {
        guard let info = try blockInfo(hash) else { return false }
        return try canonicalHash(at: info.height) == hash
    }

    public func header(_ hash: Hash32) throws(StorageError) -> [UInt8]? {
        try database.get(columns.headers, hash.bytes, snapshot: snapshot)
    }

    public func body(_ hash: Hash32) throws(StorageError) -> [UInt8]? {
        try database.get(columns.bodies, hash.bytes, snapshot: snapshot)
    }

    public func receipts(_ hash: Hash32) throws(StorageError) -> [UInt8]? {
        try database.get(columns.receipts, hash.bytes, snapshot: snapshot)
    }

    public func transactionLocation(_ txHash: Hash32) throws(StorageError) -> TxLocation? {
        let key = txHash.bytes
        guard let bytes = try database.get(columns.txIndex, key, snapshot: snapshot) else { return nil }
        return try decodeRecord(TxLocation.self, bytes, record: "transaction index", key: key)
    }

    public func addressTransactions(
        _ address: Hash32, after cursor: AddressTxCursor? = nil, limit: Int, order: ScanOrder = .descending
    ) throws(StorageError) -> AddressTxPage {
        guard limit > 0 else { return AddressTxPage(items: [], nextCursor: nil) }
        let prefix = address.bytes
        let it = try database.makeIterator(columns.addressIndex, prefix: prefix, snapshot: snapshot)
        let start = cursor.map { ChainSchema.addressKey(address, height: $0.height, position: $0.position) }
        switch (order, start) {
        case (.ascending, let s?):
            it.seek(s)
            if it.keyEquals(s) { it.next() }
        case (.ascending, nil):
            it.seekToFirst()
        case (.descending, let s?):
            it.seekForPrev(s)
            if it.keyEquals(s) { it.prev() }
        case (.descending, nil):
            it.seekToLast()
        }
        var items: [AddressTxEntry] = []
        // One extra entry tells whether another page exists.
        while it.isValid, items.count <= limit {
            guard let key = it.key(), let value = it.value() else { break }
            items.append(try Self.decodeAddressEntry(key: key, value: value))
            if order == .ascending { it.next() } else { it.prev() }
        }
        try it.checkStatus()
        if items.count > limit {
            items.removeLast()
            return AddressTxPage(items: items, nextCursor: items.last?.cursor)
        }
        return AddressTxPage(items: items, nextCursor: nil)
    }

    static func decodeAddressEntry(key: [UInt8], value: [UInt8]) throws(StorageError) -> AddressTxEntry {
        guard key.count == ChainSchema.addressKeyLength,
            let height = KeyBytes.readBE(UInt64.self, key, at: 32),
            let position = KeyBytes.readBE(UInt32.self, key, at: 40)
        else {
            throw .corruptRecord(record: "address index", key: key, detail: "key of \(key.count) bytes, expected \(ChainSchema.addressKeyLength)")
        }
        let txHash = try decodeRecord(Hash32.self, value, record: "address index", key: key)
        return AddressTxEntry(height: height, position: position, txHash: txHash)
    }

    public func addressEvents(
        _ address: Hash32, after cursor: AddressEventCursor? = nil, filter: AddressEventFilter = AddressEventFilter(), limit: Int,
        order: ScanOrder = .descending, scanLimit: Int = 10_000
    ) throws(StorageError) -> AddressEventPage {
        guard limit > 0 else { return AddressEventPage(items: [], nextCursor: nil) }
        let lowHeight = filter.fromHeight ?? 0
        let highHeight = filter.toHeight ?? .max
        guard lowHeight <= highHeight else { return AddressEventPage(items: [], nextCursor: nil) }
        let low = ChainSchema.addressEventKey(address, height: lowHeight, receipt: 0, event: 0)
        let high = ChainSchema.addressEventKey(address, height: highHeight, receipt: .max, event: .max)
        let it = try database.makeIterator(columns.addressEvents, prefix: address.bytes, snapshot: snapshot)
        // Where to start: after the cursor, clamped to the height range.
        if order == .ascending {
            var start = low
            if let c = cursor {
                let k = ChainSchema.addressEventKey(address, height: c.height, receipt: c.receipt, event: c.event)
                if k.lexicographicallyPrecedes(low) == false { start = k }
            }
            it.seek(start)
            if let c = cursor, it.keyEquals(ChainSchema.addressEventKey(address, height: c.height, receipt: c.receipt, event: c.event)) { it.next() }
        } else {
            var start = high
            if let c = cursor {
                let k = ChainSchema.addressEventKey(address, height: c.height, receipt: c.receipt, event: c.event)
                if k.lexicographicallyPrecedes(high) { start = k }
            }
            it.seekForPrev(start)
            if let c = cursor, it.keyEquals(ChainSchema.addressEventKey(address, height: c.height, receipt: c.receipt, event: c.event)) { it.prev() }
        }
        var items: [AddressEventItem] = []
        var scanned = 0
        var lastScanned: AddressEventCursor?
        var more = false
        while it.isValid {
            guard let key = it.key(), let value = it.value() else { break }
            let inRange = order == .ascending ? !high.lexicographicallyPrecedes(key) : !key.lexicographicallyPrecedes(low)
            guard inRange else { break }
            // One more matching entry than asked for, or the scan budget spent: another page exists.
            if scanned >= max(scanLimit, limit) {
                more = true
                break
            }
            let item = try Self.decodeAddressEvent(key: key, value: value)
            scanned += 1
            if filter.matches(AddressEventValue(kind: item.kind, pool: item.pool, worker: item.worker, txHash: item.txHash)) {
                if items.count == limit {
                    more = true
                    break
                }
                items.append(item)
            }
            lastScanned = item.cursor
            if order == .ascending { it.next() } else { it.prev() }
        }
        try it.checkStatus()
        guard more else { return AddressEventPage(items: items, nextCursor: nil) }
        // A full page continues after its last item; a short one after the last entry it read.
        return AddressEventPage(items: items, nextCursor: items.count == limit ? items.last?.cursor : lastScanned)
    }

    static func decodeAddressEvent(key: [UInt8], value: [UInt8]) throws(StorageError) -> AddressEventItem {
        guard key.count == ChainSchema.addressEventKeyLength,
            let height = KeyBytes.readBE(UInt64.self, key, at: 32),
            let receipt = KeyBytes.readBE(UInt32.self, key, at: 40),
            let event = KeyBytes.readBE(UInt32.self, key, at: 44)
        else {
            throw .corruptRecord(record: "address event index", key: key,
                                 detail: "key of \(key.count) bytes, expected \(ChainSchema.addressEventKeyLength)")
        }
        let v = try decodeRecord(AddressEventValue.self, value, record: "address event index", key: key)
        return AddressEventItem(height: height, receipt: receipt, event: event, kind: v.kind, pool: v.pool, worker: v.worker, txHash: v.txHash)
    }

    public func undoRecord(height: UInt64, hash: Hash32) throws(StorageError) -> UndoRecord? {
        let key = ChainSchema.undoKey(height: height, hash: hash)
        guard let bytes = try database.get(columns.undo, key, snapshot: snapshot) else { return nil }
        let record = try decodeRecord(UndoRecord.self, bytes, record: "undo", key: key)
        guard record.height == height else {
            throw .corruptRecord(record: "undo", key: key, detail: "records height \(record.height)")
        }
        return record
    }
}

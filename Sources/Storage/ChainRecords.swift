import Primitives

/// The head of the canonical chain.
public struct ChainTip: Sendable, Hashable, CustomStringConvertible {
    public let hash: Hash32
    public let height: UInt64
    public init(hash: Hash32, height: UInt64) {
        self.hash = hash
        self.height = height
    }
    public var description: String { "\(height) \(hash)" }
}

extension ChainTip: CanonicalCodable {
    /// hash (32) ‖ height (u64 LE).
    public func encode(to w: inout CanonicalWriter) {
        w.hash(hash)
        w.u64(height)
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        hash = try r.hash("tip.hash")
        height = try r.u64("tip.height")
    }
}

/// Where a stored block sits: its height and parent. Kept for canonical and side blocks alike, so fork
/// choice can walk ancestry without decoding headers.
public struct BlockInfo: Sendable, Hashable {
    public let height: UInt64
    public let parent: Hash32
    public init(height: UInt64, parent: Hash32) {
        self.height = height
        self.parent = parent
    }
}

extension BlockInfo: CanonicalCodable {
    /// height (u64 LE) ‖ parent (32).
    public func encode(to w: inout CanonicalWriter) {
        w.u64(height)
        w.hash(parent)
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        height = try r.u64("block.height")
        parent = try r.hash("block.parent")
    }
}

/// Where a transaction is on the canonical chain.
public struct TxLocation: Sendable, Hashable {
    /// The canonical block holding the transaction.
    public let blockHash: Hash32
    /// That block's height.
    public let height: UInt64
    /// The transaction's position in the block.
    public let position: UInt32
    public init(blockHash: Hash32, height: UInt64, position: UInt32) {
        self.blockHash = blockHash
        self.height = height
        self.position = position
    }
}

extension TxLocation: CanonicalCodable {
    /// block hash (32) ‖ height (u64 LE) ‖ position (u32 LE).
    public func encode(to w: inout CanonicalWriter) {
        w.hash(blockHash)
        w.u64(height)
        w.u32(position)
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        blockHash = try r.hash("tx.block")
        height = try r.u64("tx.height")
        position = try r.u32("tx.position")
    }
}

/// What the chain store indexes about one transaction of a block. The higher layers decide what the
/// addresses are (sender, recipients, pool members...); Storage only files them.
public struct TxIndexEntry: Sendable, Hashable {
    public let txHash: Hash32
    /// Position of the transaction in its block.
    public let position: UInt32
    /// Addresses whose explorer history lists this transaction (duplicates are harmless).
    public let addresses: [Hash32]
    public init(txHash: Hash32, position: UInt32, addresses: [Hash32]) {
        self.txHash = txHash
        self.position = position
        self.addresses = addresses
    }
}

/// One block as the chain store keeps it: identity and linkage, opaque encoded parts produced by the
/// higher layers, and what to index. Storage never decodes `header`, `body` or `receipts`.
public struct BlockRecord: Sendable {
    /// The block's identity (computed by the consensus layer; Storage only files by it).
    public let hash: Hash32
    /// Height on the chain: 0 for genesis, the tip's height + 1 otherwise.
    public let height: UInt64
    /// The tip's hash (`.zero` for genesis).
    public let parent: Hash32
    /// Encoded header, opaque to Storage.
    public let header: [UInt8]
    /// Encoded body, opaque to Storage.
    public let body: [UInt8]
    /// Encoded receipts of executing the block, opaque to Storage.
    public let receipts: [UInt8]
    /// What to put in the transaction and address indexes.
    public let transactions: [TxIndexEntry]
    /// What to put in the address event history index (`address_events`).
    public let addressEvents: [AddressEventEntry]
    public init(
        hash: Hash32, height: UInt64, parent: Hash32, header: [UInt8], body: [UInt8], receipts: [UInt8],
        transactions: [TxIndexEntry], addressEvents: [AddressEventEntry] = []
    ) {
        self.hash = hash
        self.height = height
        self.parent = parent
        self.header = header
        self.body = body
        self.receipts = receipts
        self.transactions = transactions
        self.addressEvents = addressEvents
    }
}

/// One entry of the address event history index: an event of the block that touches `address`, where it
/// sits in the block's receipts, and what explorers filter on. The higher layers decide which addresses
/// an event touches and what the kind code means; Storage only files and matches them.
public struct AddressEventEntry: Sendable, Hashable {
    /// The address (32-byte key) whose history lists the event.
    public let address: Hash32
    /// Index of the receipt in the block (transactions in order, the block-processing receipt last).
    public let receipt: UInt32
    /// Index of the event in its receipt.
    public let event: UInt32
    /// The event kind: an opaque code (the ledger's event tag).
    public let kind: UInt16
    /// The pool the event concerns, if any.
    public let pool: UInt32?
    /// The worker the event concerns, if any.
    public let worker: Hash32?
    /// The transaction whose receipt holds the event; nil for block processing.
    public let txHash: Hash32?
    public init(address: Hash32, receipt: UInt32, event: UInt32, kind: UInt16, pool: UInt32?, worker: Hash32?, txHash: Hash32?) {
        self.address = address
        self.receipt = receipt
        self.event = event
        self.kind = kind
        self.pool = pool
        self.worker = worker
        self.txHash = txHash
    }
}

/// The value of an `address_events` entry: u16 kind ‖ optional u32 pool ‖ optional hash worker ‖
/// optional hash transaction.
struct AddressEventValue: CanonicalCodable, Sendable, Hashable {
    let kind: UInt16
    let pool: UInt32?
    let worker: Hash32?
    let txHash: Hash32?

    func encode(to w: inout CanonicalWriter) {
        w.u16(kind)
        w.optional(pool) { $0.u32($1) }
        w.optional(worker) { $0.hash($1) }
        w.optional(txHash) { $0.hash($1) }
    }

    init(kind: UInt16, pool: UInt32?, worker: Hash32?, txHash: Hash32?) {
        self.kind = kind
        self.pool = pool
        self.worker = worker
        self.txHash = txHash
    }

    init(from r: inout CanonicalReader) throws(CodecError) {
        kind = try r.u16("event.kind")
        pool = try r.optional("event.pool") { (r: inout CanonicalReader) throws(CodecError) -> UInt32 in try r.u32("event.pool") }
        worker = try r.optional("event.worker") { (r: inout CanonicalReader) throws(CodecError) -> Hash32 in try r.hash("event.worker") }
        txHash = try r.optional("event.tx") { (r: inout CanonicalReader) throws(CodecError) -> Hash32 in try r.hash("event.tx") }
    }
}

/// A position in one address's event history: a pagination cursor (exclusive).
public struct AddressEventCursor: Sendable, Hashable {
    public let height: UInt64
    public let receipt: UInt32
    public let event: UInt32
    public init(height: UInt64, receipt: UInt32, event: UInt32) {
        self.height = height
        self.receipt = receipt
        self.event = event
    }
    /// 16 bytes: height BE ‖ receipt BE ‖ event BE (the key's suffix; what RPC hands out as hex).
    public var bytes: [UInt8] { KeyBytes.be64(height) + KeyBytes.be32(receipt) + KeyBytes.be32(event) }
    /// Decodes `bytes`; nil unless exactly 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16, let h = KeyBytes.readBE(UInt64.self, bytes, at: 0), let r = KeyBytes.readBE(UInt32.self, bytes, at: 8),
            let e = KeyBytes.readBE(UInt32.self, bytes, at: 12)
        else { return nil }
        self.init(height: h, receipt: r, event: e)
    }
}

/// Which events of an address's history a page lists (every member that is set must match).
public struct AddressEventFilter: Sendable, Hashable {
    /// Kind codes to keep; nil keeps every kind.
    public var kinds: Set<UInt16>?
    /// Keep only events of this pool.
    public var pool: UInt32?
    /// Keep only events naming this worker.
    public var worker: Hash32?
    /// Lowest block height (inclusive).
    public var fromHeight: UInt64?
    /// Highest block height (inclusive).
    public var toHeight: UInt64?
    public init(kinds: Set<UInt16>? = nil, pool: UInt32? = nil, worker: Hash32? = nil, fromHeight: UInt64? = nil, toHeight: UInt64? = nil) {
        self.kinds = kinds
        self.pool = pool
        self.worker = worker
        self.fromHeight = fromHeight
        self.toHeight = toHeight
    }

    func matches(_ v: AddressEventValue) -> Bool {
        if let kinds, !kinds.contains(v.kind) { return false }
        if let pool, v.pool != pool { return false }
        if let worker, v.worker != worker { return false }
        return true
    }
}

/// One event in an address's history.
public struct AddressEventItem: Sendable, Hashable {
    public let height: UInt64
    public let receipt: UInt32
    public let event: UInt32
    public let kind: UInt16
    public let pool: UInt32?
    public let worker: Hash32?
    public let txHash: Hash32?
    public init(height: UInt64, receipt: UInt32, event: UInt32, kind: UInt16, pool: UInt32?, worker: Hash32?, txHash: Hash32?) {
        self.height = height
        self.receipt = receipt
        self.event = event
        self.kind = kind
        self.pool = pool
        self.worker = worker
        self.txHash = txHash
    }
    /// The cursor that continues a listing after this item.
    public var cursor: AddressEventCursor { AddressEventCursor(height: height, receipt: receipt, event: event) }
}

/// A page of an address's event history; `nextCursor` is nil on the last page. A filtered page may hold
/// fewer than `limit` items (the scan stops after a bounded number of index entries): continue while
/// `nextCursor` is not nil.
public struct AddressEventPage: Sendable, Hashable {
    public let items: [AddressEventItem]
    public let nextCursor: AddressEventCursor?
    public init(items: [AddressEventItem], nextCursor: AddressEventCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// A position in one address's transaction history, used as a pagination cursor.
public struct AddressTxCursor: Sendable, Hashable {
    public let height: UInt64
    public let position: UInt32
    public init(height: UInt64, position: UInt32) {
        self.height = height
        self.position = position
    }
}

/// One transaction in an address's history.
public struct AddressTxEntry: Sendable, Hashable {
    public let height: UInt64
    public let position: UInt32
    public let txHash: Hash32
    public init(height: UInt64, position: UInt32, txHash: Hash32) {
        self.height = height
        self.position = position
        self.txHash = txHash
    }
    /// The cursor that continues a listing after this entry.
    public var cursor: AddressTxCursor { AddressTxCursor(height: height, position: position) }
}

/// A page of an address's history; `nextCursor` is nil on the last page.
public struct AddressTxPage: Sendable, Hashable {
    public let items: [AddressTxEntry]
    public let nextCursor: AddressTxCursor?
    public init(items: [AddressTxEntry], nextCursor: AddressTxCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// Listing order.
public enum ScanOrder: Sendable, Hashable {
    /// Oldest first.
    case ascending
    /// Newest first (what explorers usually show).
    case descending
}

extension CodecError {
    /// This decoding failure as a storage error about the record at `key`.
    func corrupt(_ record: String, key: [UInt8]) -> StorageError {
        .corruptRecord(record: record, key: key, detail: description)
    }
}

/// Strictly decodes a complete stored value (trailing bytes rejected), mapping failure to a typed error.
func decodeRecord<T: CanonicalDecodable>(_: T.Type, _ bytes: [UInt8], record: String, key: [UInt8]) throws(StorageError) -> T {
    do {
        return try T(canonicalEncoding: bytes)
    } catch {
        throw error.corrupt(record, key: key)
    }
}

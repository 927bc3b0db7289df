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
    public init(
        hash: Hash32, height: UInt64, parent: Hash32, header: [UInt8], body: [UInt8], receipts: [UInt8],
        transactions: [TxIndexEntry]
    ) {
        self.hash = hash
        self.height = height
        self.parent = parent
        self.header = header
        self.body = body
        self.receipts = receipts
        self.transactions = transactions
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

import Ledger
import Primitives

/// A block header (Specs/blocks.md). The block hash is `H_block(canonical header)`; the proposer signs it.
public struct BlockHeader: Hashable, Sendable {
    public static let currentVersion: UInt32 = 1

    public var version: UInt32
    public var chainId: Hash32
    public var height: UInt64
    public var slot: UInt64
    public var parent: Hash32
    /// Unix milliseconds, within the slot.
    public var timestamp: UInt64
    public var proposer: PublicKey
    public var randaoReveal: Hash32
    /// Merkle root over transaction ids.
    public var txRoot: Hash32
    /// Merkle root over receipt hashes (transactions, then block processing).
    public var receiptsRoot: Hash32
    /// State root after the block.
    public var stateRoot: Hash32

    public init(version: UInt32 = BlockHeader.currentVersion, chainId: Hash32, height: UInt64, slot: UInt64, parent: Hash32,
                timestamp: UInt64, proposer: PublicKey, randaoReveal: Hash32, txRoot: Hash32, receiptsRoot: Hash32, stateRoot: Hash32) {
        self.version = version; self.chainId = chainId; self.height = height; self.slot = slot; self.parent = parent
        self.timestamp = timestamp; self.proposer = proposer; self.randaoReveal = randaoReveal; self.txRoot = txRoot
        self.receiptsRoot = receiptsRoot; self.stateRoot = stateRoot
    }

    /// The block hash.
    public var hash: Hash32 { Tags.block.hash(self) }
}

/// A header with the proposer's signature over its hash.
public struct SignedHeader: Hashable, Sendable {
    public let header: BlockHeader
    public let signature: Signature
    /// Cached block hash.
    public let hash: Hash32

    public init(header: BlockHeader, signature: Signature) {
        self.header = header
        self.signature = signature
        hash = header.hash
    }

    /// Signs `header` with the proposer's key.
    public init(header: BlockHeader, signedBy key: PrivateKey) {
        let h = header.hash
        self.header = header
        signature = key.sign(digest: h)
        hash = h
    }

    public var hasValidSignature: Bool { header.proposer.verify(signature, digest: hash) }
}

/// A full block.
public struct Block: Hashable, Sendable {
    public let signedHeader: SignedHeader
    public let transactions: [SignedTransaction]

    public init(signedHeader: SignedHeader, transactions: [SignedTransaction]) {
        self.signedHeader = signedHeader
        self.transactions = transactions
    }

    public var header: BlockHeader { signedHeader.header }
    public var hash: Hash32 { signedHeader.hash }

    /// Merkle root over transaction ids.
    public static func txRoot(_ txs: [SignedTransaction]) -> Hash32 {
        Merkle.root(leafHashes: txs.map { Merkle.leafHash($0.id) })
    }

    /// The canonical encoding of the body (the transactions).
    public var bodyEncoding: [UInt8] {
        var w = CanonicalWriter(capacity: transactions.count * 200 + 8)
        w.list(transactions)
        return w.bytes
    }

    /// Decodes a body with the block limits.
    public static func decodeBody(_ bytes: [UInt8], maxTransactions: Int) throws(CodecError) -> [SignedTransaction] {
        var r = CanonicalReader(bytes)
        // The smallest signed transaction is well over 100 bytes.
        let txs = try r.list("transactions", max: maxTransactions, minElementSize: 100) { (r: inout CanonicalReader) throws(CodecError) in
            try r.decode(SignedTransaction.self)
        }
        try r.finish()
        return txs
    }
}

/// Limits on encoded sizes (decoders take them from the genesis parameters).
public enum BlockLimits {
    /// An encoded signed header is fixed size.
    public static let signedHeaderBytes = 4 + 32 + 8 + 8 + 32 + 8 + 32 + 32 + 32 + 32 + 32 + 64
}

extension BlockHeader: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(version); w.hash(chainId); w.u64(height); w.u64(slot); w.hash(parent); w.u64(timestamp)
        w.encode(proposer); w.hash(randaoReveal); w.hash(txRoot); w.hash(receiptsRoot); w.hash(stateRoot)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        version = try r.u32("version"); chainId = try r.hash("chainId"); height = try r.u64("height"); slot = try r.u64("slot")
        parent = try r.hash("parent"); timestamp = try r.u64("timestamp"); proposer = try r.decode(PublicKey.self)
        randaoReveal = try r.hash("randaoReveal"); txRoot = try r.hash("txRoot"); receiptsRoot = try r.hash("receiptsRoot")
        stateRoot = try r.hash("stateRoot")
    }
}

extension SignedHeader: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(header); w.encode(signature) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        let h = try r.decode(BlockHeader.self)
        self.init(header: h, signature: try r.decode(Signature.self))
    }
}

extension Block: CanonicalEncodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(signedHeader); w.list(transactions) }

    /// Decodes a block with the given limits.
    public init(canonicalEncoding bytes: [UInt8], maxTransactions: Int) throws(CodecError) {
        var r = CanonicalReader(bytes)
        let h = try r.decode(SignedHeader.self)
        let txs = try r.list("transactions", max: maxTransactions, minElementSize: 100) { (r: inout CanonicalReader) throws(CodecError) in
            try r.decode(SignedTransaction.self)
        }
        try r.finish()
        self.init(signedHeader: h, transactions: txs)
    }
}

/// Checks equivocation evidence: two validly signed, different headers of one proposer for one slot on this
/// chain. Plugged into the ledger's `doubleSignEvidence`.
public struct HeaderEquivocationVerifier: EquivocationVerifier {
    public init() {}

    public func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation? {
        guard let a = try? SignedHeader(canonicalEncoding: headerA), let b = try? SignedHeader(canonicalEncoding: headerB),
              a.hash != b.hash, a.header.chainId == chainId, b.header.chainId == chainId,
              a.header.proposer == b.header.proposer, a.header.slot == b.header.slot,
              a.hasValidSignature, b.hasValidSignature else { return nil }
        return Equivocation(offender: a.header.proposer, slot: a.header.slot)
    }
}

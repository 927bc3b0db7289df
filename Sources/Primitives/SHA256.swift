import COpenSSL

/// SHA-256 over OpenSSL's low-level API.
///
/// The context is a plain C struct held by value, so a hasher costs no allocation and a midstate can be
/// copied (which is how `TaggedHash` skips the 64-byte tag prefix on every call).
public struct SHA256: Sendable {
    @usableFromInline var context: SHA256_CTX

    /// A fresh hasher.
    public init() {
        context = SHA256_CTX()
        SHA256_Init(&context)
    }

    /// Absorbs bytes.
    @inlinable
    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        SHA256_Update(&context, base, raw.count)
    }

    /// Absorbs bytes.
    @inlinable
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Absorbs bytes.
    @inlinable
    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Absorbs a 32-byte value.
    @inlinable
    public mutating func update(_ hash: Hash32) {
        hash.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the digest. The hasher must not be used afterwards.
    @inlinable
    public mutating func finalize() -> Hash32 {
        var out = Hash32.zero
        Swift.withUnsafeMutableBytes(of: &out) { raw in
            _ = SHA256_Final(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
        }
        return out
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> Hash32 {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    /// One-shot digest of raw bytes.
    public static func hash(_ raw: UnsafeRawBufferPointer) -> Hash32 {
        var h = SHA256()
        h.update(raw)
        return h.finalize()
    }
}

/// A BIP-340 tagged hash, `SHA256(SHA256(tag) || SHA256(tag) || x)`, with the 64-byte prefix absorbed once.
///
/// The prefix is exactly one SHA-256 block, so the stored midstate is a clean compression-function state;
/// each call copies it (a few dozen bytes) and hashes only the message.
public struct TaggedHash: Sendable {
    /// The tag string.
    public let tag: String
    @usableFromInline let midstate: SHA256

    /// Precomputes the midstate for `tag`.
    public init(_ tag: String) {
        self.tag = tag
        let tagHash = SHA256.hash(Array(tag.utf8))
        var h = SHA256()
        h.update(tagHash)
        h.update(tagHash)
        midstate = h
    }

    /// A hasher already primed with the tag prefix, for incremental hashing.
    @inlinable
    public func hasher() -> SHA256 { midstate }

    /// Tagged hash of `bytes`.
    @inlinable
    public func hash(_ bytes: [UInt8]) -> Hash32 {
        var h = midstate
        h.update(bytes)
        return h.finalize()
    }

    /// Tagged hash of raw bytes.
    @inlinable
    public func hash(_ raw: UnsafeRawBufferPointer) -> Hash32 {
        var h = midstate
        h.update(raw)
        return h.finalize()
    }

    /// Tagged hash of the canonical encoding of `value`.
    @inlinable
    public func hash(_ value: some CanonicalEncodable) -> Hash32 {
        var w = CanonicalWriter()
        value.encode(to: &w)
        return hash(w.bytes)
    }
}

/// The domain-separation tags of the protocol (Specs/encoding.md lists them all).
public enum Tags {
    /// Transaction id: tagged hash of the signed transaction's canonical encoding.
    public static let tx = TaggedHash("sharechain/tx")
    /// Message a transaction signature covers (the unsigned transaction).
    public static let txSig = TaggedHash("sharechain/tx-sig")
    /// Block hash: tagged hash of the header's canonical encoding without the signature.
    public static let block = TaggedHash("sharechain/block")
    /// Chain id: tagged hash of the canonical genesis document.
    public static let genesis = TaggedHash("sharechain/genesis")
    /// State root chaining over sorted write sets.
    public static let state = TaggedHash("sharechain/state")
    /// Write-set digest of one block.
    public static let writeSet = TaggedHash("sharechain/write-set")
    /// Receipt hash.
    public static let receipt = TaggedHash("sharechain/receipt")
    /// Usage voucher signature message.
    public static let voucher = TaggedHash("sharechain/voucher")
    /// RANDAO hash-chain step and mix.
    public static let randao = TaggedHash("sharechain/randao")
    /// Leader election.
    public static let leader = TaggedHash("sharechain/leader")
    /// Spot-check ticket selection.
    public static let ticket = TaggedHash("sharechain/ticket")
    /// Tensor hash (TNS1 encoding).
    public static let tensor = TaggedHash("sharechain/tensor")
    /// Share pass leaf of a Merkle sum tree.
    public static let passLeaf = TaggedHash("sharechain/pass-leaf")
    /// Content key of a pass: what makes two passes the same pass.
    public static let passKey = TaggedHash("sharechain/pass-key")
    /// Internal node of a Merkle sum tree (children and the token sum below).
    public static let sumNode = TaggedHash("sharechain/sum-node")
    /// Blind fraud claim: `H(ticketId ‖ prover ‖ salt)`.
    public static let fraudClaim = TaggedHash("sharechain/fraud-claim")
    /// P2P handshake challenge.
    public static let handshake = TaggedHash("sharechain/handshake")
    /// Derivation of a validator's RANDAO hash-chain seed from its secret key.
    public static let randaoSeed = TaggedHash("sharechain/randao-seed")
    /// Identifier derivation (escrow ids, commitment ids).
    public static let id = TaggedHash("sharechain/id")
    /// Finality votes (Specs/consensus.md §8).
    public static let finalityVote = TaggedHash("sharechain/finality-vote")
    /// Checker assignment draws (Specs/verification.md §3).
    public static let assign = TaggedHash("sharechain/assign")
    /// A leaf's blinded output `H_blind(outputHash ‖ salt)` (Specs/verification.md §4).
    public static let blindOutput = TaggedHash("sharechain/blind-output")
    /// The blinding salt a worker derives from its pass, so its checkers can open the leaf (Specs/verification.md §4).
    public static let blindSalt = TaggedHash("sharechain/blind-salt")
    /// A checker's answer commitment `H_check(ticketId ‖ checker ‖ answer ‖ nonce)`.
    public static let check = TaggedHash("sharechain/check")
    /// The answer a checker gives when its slot does not open or its plaintext is not the input.
    public static let checkBadInput = TaggedHash("sharechain/check-bad-input")
    /// A worker's hop receipt for a served pass (Specs/economics.md §4.1); also the hop challenge's id.
    public static let hopReceipt = TaggedHash("sharechain/hop-receipt")
}

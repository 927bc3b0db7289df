import Primitives

/// What a stake is bonded for.
public enum StakeRole: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Block production.
    case validator
    /// Serving a model pool.
    case worker(pool: UInt32)
    /// Checking a model pool's spot-check tickets (Specs/verification.md §2).
    case checker(pool: UInt32)

    public var description: String {
        switch self {
        case .validator: return "validator"
        case .worker(let p): return "worker(pool \(p))"
        case .checker(let p): return "checker(pool \(p))"
        }
    }

    /// Fixed-width key form: 0x00 ‖ 0000 0000 for validator, 0x01 ‖ pool (u32 BE) for worker, 0x02 ‖ pool for checker.
    var keyBytes: [UInt8] {
        switch self {
        case .validator: return [0, 0, 0, 0, 0]
        case .worker(let p): return [1] + p.bigEndianBytes
        case .checker(let p): return [2] + p.bigEndianBytes
        }
    }
}

/// One forward pass a worker claims: a leaf of its commitment's Merkle sum tree (Specs/economics.md §3).
public struct PassLeaf: Hashable, Sendable {
    /// Position of the leaf in the tree; leaves are sorted by strictly increasing `contentKey`.
    public var index: UInt32
    /// Index into the pool's shard list.
    public var shard: UInt32
    /// Position of the first token (for rotary embeddings).
    public var positionOffset: UInt64
    /// Tokens in the pass (the leaf's weight in the sum tree).
    public var tokenCount: UInt32
    /// Tensor hash of the pass input (TNS1).
    public var inputHash: Hash32
    /// Tensor hash of the pass output (TNS1).
    public var outputHash: Hash32

    public init(index: UInt32, shard: UInt32, positionOffset: UInt64, tokenCount: UInt32, inputHash: Hash32, outputHash: Hash32) {
        self.index = index; self.shard = shard; self.positionOffset = positionOffset; self.tokenCount = tokenCount
        self.inputHash = inputHash; self.outputHash = outputHash
    }

    /// What makes two passes the same pass: `H_pass-key(shard u32 ‖ positionOffset u64 ‖ tokenCount u32 ‖ inputHash)`.
    /// The output is not part of it, so a pass cannot be made "new" by changing its claimed result.
    public var contentKey: Hash32 {
        Self.contentKey(shard: shard, positionOffset: positionOffset, tokenCount: tokenCount, inputHash: inputHash)
    }

    public static func contentKey(shard: UInt32, positionOffset: UInt64, tokenCount: UInt32, inputHash: Hash32) -> Hash32 {
        var w = CanonicalWriter(capacity: 48)
        w.u32(shard); w.u64(positionOffset); w.u32(tokenCount); w.hash(inputHash)
        return Tags.passKey.hash(w.bytes)
    }

    /// The sum-tree node of this leaf: its hash and its token count.
    /// The leaf as a sum-tree node: its hash, its tokens, and its content key as the whole key range.
    public var node: SumNode {
        let key = contentKey
        return SumNode(hash: Tags.passLeaf.hash(self), sum: UInt64(tokenCount), minKey: key, maxKey: key)
    }
}

/// A node of a Merkle sum tree: a hash and the token sum of the leaves below it.
public struct SumNode: Hashable, Sendable {
    public var hash: Hash32
    public var sum: UInt64
    /// The smallest and largest content key of the passes below the node (both zero below padding only): what lets
    /// every path check that the tree is sorted at each of its levels (Specs/economics.md §3).
    public var minKey: Hash32
    public var maxKey: Hash32
    public init(hash: Hash32, sum: UInt64, minKey: Hash32 = .zero, maxKey: Hash32 = .zero) {
        self.hash = hash; self.sum = sum; self.minKey = minKey; self.maxKey = maxKey
    }

    /// The padding leaf beyond `leafCount`: zero hash, zero tokens, no keys.
    public static let empty = SumNode(hash: .zero, sum: 0)
}

/// A leaf and the sibling nodes on its path to the root, lowest first.
public struct LeafProof: Hashable, Sendable {
    public var leaf: PassLeaf
    public var path: [SumNode]
    public init(leaf: PassLeaf, path: [SumNode]) { self.leaf = leaf; self.path = path }
}

/// A client's signed statement of cumulative usage it owes one worker (the payee) for one shard in one window,
/// out of one escrow. The counters are per `(escrow, payee, shard, window)`.
public struct UsageVoucher: Hashable, Sendable {
    public var chainId: Hash32
    public var escrowId: Hash32
    /// The worker that served the tokens; only it can claim the voucher.
    public var payee: PublicKey
    public var shard: UInt32
    /// The window whose revenue the voucher pays into (chosen by the signer, not the holder).
    public var window: UInt64
    public var cumulativeInputTokens: UInt64
    public var cumulativeOutputTokens: UInt64
    /// Signature by the escrow owner over `signingHash`.
    public var signature: Signature

    public init(chainId: Hash32, escrowId: Hash32, payee: PublicKey, shard: UInt32, window: UInt64,
                cumulativeInputTokens: UInt64, cumulativeOutputTokens: UInt64, signature: Signature = .zero) {
        self.chainId = chainId; self.escrowId = escrowId; self.payee = payee; self.shard = shard; self.window = window
        self.cumulativeInputTokens = cumulativeInputTokens; self.cumulativeOutputTokens = cumulativeOutputTokens
        self.signature = signature
    }

    /// The message the owner signs: `H_voucher(chainId ‖ escrowId ‖ payee ‖ shard u32 ‖ window u64 ‖ input u64 ‖ output u64)`.
    public var signingHash: Hash32 {
        var w = CanonicalWriter(capacity: 128)
        w.hash(chainId); w.hash(escrowId); w.encode(payee); w.u32(shard); w.u64(window)
        w.u64(cumulativeInputTokens); w.u64(cumulativeOutputTokens)
        return Tags.voucher.hash(w.bytes)
    }

    /// A copy signed by `key`.
    public func signed(by key: PrivateKey) -> UsageVoucher {
        var v = self
        v.signature = key.sign(digest: signingHash)
        return v
    }
}

/// A worker's receipt for a pass it served (Specs/economics.md §4.1): signed with its worker key and handed to the
/// holder (the party that sent the pass's input and got its output). Whoever holds it may challenge it on chain (the
/// challenger pays the bond); the fields are those of the leaf the worker commits for the pass, and `window` is the
/// window whose tree holds it.
public struct HopReceipt: Hashable, Sendable {
    public var pool: UInt32
    public var shard: UInt32
    public var window: UInt64
    public var worker: PublicKey
    /// Names the party the pass was served to; any key it picks (a fresh one per request keeps its receipts unlinked).
    /// Only part of the receipt's hash: the chain never asks the holder to sign or pay anything.
    public var holder: PublicKey
    public var contentKey: Hash32
    /// The leaf's output field (blinded in a pool with checkers).
    public var outputHash: Hash32
    public var tokenCount: UInt32
    /// The worker's signature over `signingHash(chainId:)`.
    public var signature: Signature

    public init(pool: UInt32, shard: UInt32, window: UInt64, worker: PublicKey, holder: PublicKey, contentKey: Hash32,
                outputHash: Hash32, tokenCount: UInt32, signature: Signature = .zero) {
        self.pool = pool; self.shard = shard; self.window = window; self.worker = worker; self.holder = holder
        self.contentKey = contentKey; self.outputHash = outputHash; self.tokenCount = tokenCount; self.signature = signature
    }

    /// The receipt for a leaf the worker committed (or will commit).
    public init(leaf: PassLeaf, pool: UInt32, window: UInt64, worker: PublicKey, holder: PublicKey) {
        self.init(pool: pool, shard: leaf.shard, window: window, worker: worker, holder: holder, contentKey: leaf.contentKey,
                  outputHash: leaf.outputHash, tokenCount: leaf.tokenCount)
    }

    /// `H_hop-receipt(chainId ‖ pool u32 ‖ shard u32 ‖ window u64 ‖ worker ‖ holder ‖ contentKey ‖ outputHash ‖ tokenCount u32)`:
    /// what the worker signs, and the id of a challenge of the receipt.
    public func signingHash(chainId: Hash32) -> Hash32 {
        var w = CanonicalWriter(capacity: 196)
        w.hash(chainId); w.u32(pool); w.u32(shard); w.u64(window); w.encode(worker); w.encode(holder)
        w.hash(contentKey); w.hash(outputHash); w.u32(tokenCount)
        return Tags.hopReceipt.hash(w.bytes)
    }

    /// A copy signed by `key` (the worker's).
    public func signed(by key: PrivateKey, chainId: Hash32) -> HopReceipt {
        var r = self
        r.signature = key.sign(digest: signingHash(chainId: chainId))
        return r
    }

    /// The holder's check before it signs the next voucher (Specs/economics.md §4.1, row 75): signed by the voucher's
    /// payee for this chain, and naming the voucher's shard and window, or, for a pass the holder sent as a repeat (a
    /// cache hit), an earlier window of the same shard. A challenge is accepted only for a window in which the worker
    /// was paid on the receipt's shard, so a receipt naming any other window could never be challenged: a worker paid
    /// in `w` that handed out receipts naming `w + 1` served garbage with impunity.
    public func isAcceptable(for voucher: UsageVoucher, chainId: Hash32, servedFromCache: Bool = false) -> Bool {
        guard worker == voucher.payee, shard == voucher.shard,
              servedFromCache ? window <= voucher.window : window == voucher.window else { return false }
        return worker.verify(signature, digest: signingHash(chainId: chainId))
    }
}

/// A finality checkpoint: a block height that is a multiple of `checkpointBlocks`, and that block's hash.
public struct Checkpoint: Hashable, Sendable, Comparable {
    public var height: UInt64
    public var hash: Hash32
    public init(height: UInt64, hash: Hash32) { self.height = height; self.hash = hash }
    public static func < (a: Checkpoint, b: Checkpoint) -> Bool { (a.height, a.hash) < (b.height, b.hash) }
}

/// A validator's Casper-FFG vote for the link `source → target` (Specs/consensus.md §8). Signed on its own, so
/// two conflicting votes prove a slashable offence without any block around them.
public struct FinalityVote: Hashable, Sendable {
    public var validator: PublicKey
    public var source: Checkpoint
    public var target: Checkpoint
    public var signature: Signature

    public init(validator: PublicKey, source: Checkpoint, target: Checkpoint, signature: Signature = .zero) {
        self.validator = validator; self.source = source; self.target = target; self.signature = signature
    }

    /// `H_finality-vote(chainId ‖ sourceHeight u64 ‖ sourceHash ‖ targetHeight u64 ‖ targetHash)`.
    public func signingHash(chainId: Hash32) -> Hash32 {
        var w = CanonicalWriter(capacity: 112)
        w.hash(chainId); w.u64(source.height); w.hash(source.hash); w.u64(target.height); w.hash(target.hash)
        return Tags.finalityVote.hash(w.bytes)
    }

    /// A copy signed by `key` (which must be the validator's).
    public func signed(by key: PrivateKey, chainId: Hash32) -> FinalityVote {
        var v = self
        v.signature = key.sign(digest: signingHash(chainId: chainId))
        return v
    }

    public func hasValidSignature(chainId: Hash32) -> Bool { validator.verify(signature, digest: signingHash(chainId: chainId)) }

    /// Whether signing both `self` and `other` is slashable: the same target height with different votes (double
    /// vote), or one span strictly inside the other (surround vote).
    public func conflicts(with other: FinalityVote) -> Bool {
        guard validator == other.validator, (source, target) != (other.source, other.target) else { return false }
        if target.height == other.target.height { return true }
        func surrounds(_ a: FinalityVote, _ b: FinalityVote) -> Bool {
            a.source.height < b.source.height && b.target.height < a.target.height
        }
        return surrounds(self, other) || surrounds(other, self)
    }
}

/// The kind-specific part of a transaction (Specs/state-machine.md, "Transactions").
public enum TxBody: Hashable, Sendable {
    case transfer(to: PublicKey, amount: Amount)
    /// Bond stake; a new validator must give the tip of its RANDAO hash chain, an existing one may
    /// replace its commitment (with any amount, including zero).
    case bond(role: StakeRole, amount: Amount, randaoCommitment: Hash32?)
    case unbond(role: StakeRole, amount: Amount)
    case escrowOpen(pool: UInt32, amount: Amount, expiryHeight: UInt64)
    case escrowTopUp(escrowId: Hash32, amount: Amount, newExpiryHeight: UInt64?)
    /// First call (at or after expiry) starts the unlock period; a call at or after its end refunds the rest.
    case escrowClose(escrowId: Hash32)
    /// Reserves part of an escrow's deposit for one payee.
    case escrowAllocate(escrowId: Hash32, payee: PublicKey, amount: Amount)
    /// Submitted by the voucher's payee.
    case claimUsage(voucher: UsageVoucher)
    case commitShares(pool: UInt32, window: UInt64, shard: UInt32, leafCount: UInt32, tokenTotal: UInt64, root: Hash32)
    /// A sampled leaf, its neighbours (nil at the tree's ends) and its input tensor.
    case revealTicket(ticketId: Hash32, leaf: LeafProof, left: LeafProof?, right: LeafProof?, input: [UInt8])
    /// A blind fraud claim `H_fraud-claim(ticketId ‖ prover ‖ salt)`; locks the pool's bond.
    case fraudCommit(claim: Hash32, pool: UInt32)
    /// Opens a fraud claim: the ticket, the salt, and the ticket's input (from the reveal transaction).
    case fraudReveal(ticketId: Hash32, salt: Hash32, input: [UInt8])
    /// Pays a worker's settled window (anyone may submit).
    case claimPayout(pool: UInt32, window: UInt64, worker: PublicKey)
    case doubleSignEvidence(headerA: [UInt8], headerB: [UInt8])
    case unjail(role: StakeRole)
    /// Finality votes (any sender; each signed by its validator).
    case finalityVotes(votes: [FinalityVote])
    /// Two conflicting finality votes of one validator.
    case voteEvidence(a: FinalityVote, b: FinalityVote)
    /// Registers the sender, bonded as a checker of `pool`, with the X25519 key reveals are sealed to.
    case registerChecker(pool: UInt32, sealingKey: Hash32)
    /// A sampled leaf of a pool with checkers: as `revealTicket`, with the input sealed to the ticket's checkers.
    case revealSealedTicket(ticketId: Hash32, leaf: LeafProof, left: LeafProof?, right: LeafProof?, envelope: [UInt8])
    /// An assigned checker's answer commitments `H_check(ticketId ‖ checker ‖ answer ‖ nonce)`, one per ticket
    /// (1…`TxLimits.maxCheckBatch`; all succeed or the transaction fails), so a checker pays one signature per block.
    case checkCommit(items: [CheckCommitItem])
    /// The worker opens its leaves' blinded outputs: `H_blind(outputHash ‖ salt)` must equal each leaf's output field.
    case unblindOutput(items: [UnblindItem])
    /// An assigned checker opens its answer commitments; an item carrying the leaf's blinding salt also unblinds the
    /// output when the answer opens the leaf (Specs/verification.md §4 step 5).
    case checkReveal(items: [CheckRevealItem])
    /// Publishes a disputed envelope's ephemeral X25519 private key, which makes its input public.
    case publishSealKey(ticketId: Hash32, ephemeralPrivateKey: Hash32)
    /// Publishes a disputed ticket's input itself (a checker opened it): it must hash to the leaf's input hash. The
    /// worker cannot keep a dispute from its replay by withholding the key.
    case publishSealedInput(ticketId: Hash32, input: [UInt8])
    /// Several vouchers claimed at once by their payee (1…`TxLimits.maxClaimBatch`, each exactly as `claimUsage`; all
    /// succeed or the transaction fails), so a worker paid by many escrows pays one transaction signature per claim
    /// round instead of one per payer (Specs/economics.md §2).
    case claimUsageBatch(vouchers: [UsageVoucher])
    /// Whoever holds a worker's hop receipt challenges it to show the served pass in its tree, locking the bond
    /// (Specs/economics.md §4.1).
    case hopChallenge(receipt: HopReceipt)
    /// The worker answers a hop challenge with the receipt's leaf in one of its commitments, and the pass's input.
    case answerHopChallenge(challengeId: Hash32, commitmentId: Hash32, leaf: LeafProof, input: [UInt8])

    /// Whether the `minFeePerByte × size` floor of this transaction's fee is burned rather than paid to the block's
    /// proposer: the reveals, whose per-byte cost is what makes pre-revealing another worker's passes lose money
    /// (Specs/economics.md §7 row 24, §8).
    public var burnsItsFeeFloor: Bool {
        switch self {
        case .revealTicket, .revealSealedTicket, .answerHopChallenge: return true
        default: return false
        }
    }

    /// The pass input this transaction publishes in clear for a ticket it reveals: a public reveal's, or a hop answer's
    /// (which makes the answered leaf a hop ticket). What verifiers replay; nil for every other kind and for an answer
    /// that carries no input (a pool with checkers, Specs/economics.md §4.1).
    public var revealedInput: [UInt8]? {
        switch self {
        case .revealTicket(_, _, _, _, let input): return input
        case .answerHopChallenge(_, _, _, let input): return input.isEmpty ? nil : input
        default: return nil
        }
    }

    /// Stable kind name (receipts, RPC, metrics).
    public var kindName: String {
        switch self {
        case .transfer: return "transfer"
        case .bond: return "bond"
        case .unbond: return "unbond"
        case .escrowOpen: return "escrowOpen"
        case .escrowTopUp: return "escrowTopUp"
        case .escrowClose: return "escrowClose"
        case .escrowAllocate: return "escrowAllocate"
        case .claimUsage: return "claimUsage"
        case .commitShares: return "commitShares"
        case .revealTicket: return "revealTicket"
        case .fraudCommit: return "fraudCommit"
        case .fraudReveal: return "fraudReveal"
        case .claimPayout: return "claimPayout"
        case .doubleSignEvidence: return "doubleSignEvidence"
        case .unjail: return "unjail"
        case .finalityVotes: return "finalityVotes"
        case .voteEvidence: return "voteEvidence"
        case .registerChecker: return "registerChecker"
        case .revealSealedTicket: return "revealSealedTicket"
        case .checkCommit: return "checkCommit"
        case .unblindOutput: return "unblindOutput"
        case .checkReveal: return "checkReveal"
        case .publishSealKey: return "publishSealKey"
        case .publishSealedInput: return "publishSealedInput"
        case .claimUsageBatch: return "claimUsageBatch"
        case .hopChallenge: return "hopChallenge"
        case .answerHopChallenge: return "answerHopChallenge"
        }
    }
}

/// One answer commitment of a `checkCommit` batch.
public struct CheckCommitItem: Hashable, Sendable {
    public var ticketId: Hash32
    public var commitment: Hash32
    public init(ticketId: Hash32, commitment: Hash32) { self.ticketId = ticketId; self.commitment = commitment }
}

/// One unblinded output of an `unblindOutput` batch.
public struct UnblindItem: Hashable, Sendable {
    public var ticketId: Hash32
    public var outputHash: Hash32
    public var salt: Hash32
    public init(ticketId: Hash32, outputHash: Hash32, salt: Hash32) { self.ticketId = ticketId; self.outputHash = outputHash; self.salt = salt }
}

/// One opened answer of a `checkReveal` batch.
public struct CheckRevealItem: Hashable, Sendable {
    public var ticketId: Hash32
    public var answer: Hash32
    public var nonce: Hash32
    /// The leaf's blinding salt as the checker derived it from the input (`derivedBlindingSalt`), or nil. When
    /// `H_blind-output(answer ‖ salt)` opens the leaf, the reveal unblinds the output, so the worker need not send
    /// an `unblindOutput` of its own; otherwise the salt has no effect.
    public var salt: Hash32?
    public init(ticketId: Hash32, answer: Hash32, nonce: Hash32, salt: Hash32? = nil) {
        self.ticketId = ticketId; self.answer = answer; self.nonce = nonce; self.salt = salt
    }
}

/// A leaf's blinded output in a pool with checkers: `H_blind-output(outputHash ‖ salt)`.
public func blindedOutputHash(_ outputHash: Hash32, salt: Hash32) -> Hash32 {
    var w = CanonicalWriter(capacity: 64)
    w.hash(outputHash); w.hash(salt)
    return Tags.blindOutput.hash(w.bytes)
}

/// The blinding salt a worker derives for a leaf from its pass (`H_blind-salt(contentKey ‖ input)`, `input` the
/// TNS1 tensor bytes). Consensus does not require it (any salt opens the leaf when the worker unblinds), but with
/// it every assigned checker, holding the input, can open a matching answer itself (Specs/verification.md §4).
/// Only the input's holders can compute it: the leaf's input hash is a different hash of the same bytes.
public func derivedBlindingSalt(contentKey: Hash32, input: [UInt8]) -> Hash32 {
    var h = Tags.blindSalt.hasher()
    h.update(contentKey)
    h.update(input)
    return h.finalize()
}

/// Whether `canonical`, a replay's output hash, is the output a revealed leaf claims: a sealed check's unblinded
/// output (nothing, when it was never unblinded: the worker claimed no output); for a ticket of a pool with checkers
/// that had no checker to assign (it fell back to a public reveal), the leaf's blinded output opened with the salt
/// derived from `input` (Specs/verification.md §3, §4); otherwise the leaf's output itself.
public func leafClaims(_ canonical: Hash32, leaf: PassLeaf, input: [UInt8], pool: PoolConfig, check: SealedCheck?) -> Bool {
    if let check { return check.unblinded == canonical }
    guard pool.checking != nil else { return leaf.outputHash == canonical }
    return blindedOutputHash(canonical, salt: derivedBlindingSalt(contentKey: leaf.contentKey, input: input)) == leaf.outputHash
}

/// A checker's answer commitment: `H_check(ticketId ‖ checker ‖ answer ‖ nonce)`. The checker's key is inside,
/// so a copied commitment opens to nothing under another key.
public func checkCommitmentHash(ticketId: Hash32, checker: PublicKey, answer: Hash32, nonce: Hash32) -> Hash32 {
    var w = CanonicalWriter(capacity: 128)
    w.hash(ticketId); w.encode(checker); w.hash(answer); w.hash(nonce)
    return Tags.check.hash(w.bytes)
}

/// The answer of a checker whose slot does not open or whose plaintext is not the ticket's input:
/// `H_check-bad-input()` of the empty message.
public let badInputAnswer: Hash32 = Tags.checkBadInput.hash([UInt8]())

/// The blind claim hash of a fraud proof: `H_fraud-claim(ticketId ‖ prover ‖ salt)`.
public func fraudClaimHash(ticketId: Hash32, prover: PublicKey, salt: Hash32) -> Hash32 {
    var w = CanonicalWriter(capacity: 96)
    w.hash(ticketId); w.encode(prover); w.hash(salt)
    return Tags.fraudClaim.hash(w.bytes)
}

/// An unsigned transaction.
public struct Transaction: Hashable, Sendable {
    /// Genesis hash of the chain the transaction is for.
    public var chainId: Hash32
    public var sender: PublicKey
    /// Must equal the sender's account nonce.
    public var nonce: UInt64
    /// Paid to the block proposer whether execution succeeds or fails.
    public var fee: Amount
    public var body: TxBody

    public init(chainId: Hash32, sender: PublicKey, nonce: UInt64, fee: Amount, body: TxBody) {
        self.chainId = chainId; self.sender = sender; self.nonce = nonce; self.fee = fee; self.body = body
    }

    /// What the signature signs: `H_tx-sig(canonical unsigned transaction)`.
    public var signingHash: Hash32 { Tags.txSig.hash(self) }

    /// Signs with `key` (which must be the sender's).
    public func signed(by key: PrivateKey) -> SignedTransaction {
        SignedTransaction(transaction: self, signature: key.sign(digest: signingHash))
    }
}

/// A transaction with its sender's signature; what blocks and the mempool carry.
public struct SignedTransaction: Hashable, Sendable {
    public let transaction: Transaction
    public let signature: Signature
    /// Transaction id: `H_tx(canonical signed transaction)`.
    public let id: Hash32
    /// Size of the canonical encoding, which fees are charged on.
    public let encodedSize: Int

    public init(transaction: Transaction, signature: Signature) {
        self.transaction = transaction
        self.signature = signature
        var w = CanonicalWriter(capacity: 256)
        transaction.encode(to: &w)
        signature.encode(to: &w)
        id = Tags.tx.hash(w.bytes)
        encodedSize = w.bytes.count
    }

    /// Whether the signature is the sender's over `signingHash`.
    public var hasValidSignature: Bool {
        transaction.sender.verify(signature, digest: transaction.signingHash)
    }
}

// MARK: - Encoding

/// Limits of variable-length transaction fields.
public enum TxLimits {
    /// Sum-tree path length (2^32 leaves).
    public static let maxProofLength = 32
    /// Input tensor bytes in a reveal (pools impose their own, smaller limit).
    public static let maxInputBytes = 4 * 1024 * 1024
    /// A sealed input envelope: the largest input plus the header of 16 recipient slots and the tag.
    public static let maxEnvelopeBytes = maxInputBytes + 4096
    /// What the largest transaction carrying a pass input adds to it, at most: a `revealSealedTicket` (signature and
    /// envelope fields ≈ 300 bytes, three leaf proofs of `maxProofLength` levels at 104 bytes a level ≈ 10.3 KB, the
    /// envelope's 4096) is below 16 KiB. Genesis refuses a pool whose largest input plus this exceeds
    /// `maxTransactionBytes` (Specs/economics.md §6): its passes could be committed but never revealed.
    public static let passCarrierOverheadBytes = 16 * 1024
    /// Items of one `checkCommit`, `unblindOutput` or `checkReveal` batch.
    public static let maxCheckBatch = 256
    /// Vouchers of one `claimUsageBatch` (a worker's payers in a window are at most `maxPayersPerWorkerWindow`, 64 by
    /// default).
    public static let maxClaimBatch = 64
    /// One encoded header in equivocation evidence.
    public static let maxEvidenceHeaderBytes = 4096
    /// Finality votes in one transaction's encoding (the ledger's `maxVotesPerTransaction` may be lower).
    public static let maxVotes = 1024
}

extension Checkpoint: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.u64(height); w.hash(hash) }
    public init(from r: inout CanonicalReader) throws(CodecError) { height = try r.u64("checkpointHeight"); hash = try r.hash("checkpointHash") }
}

extension FinalityVote: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(validator); w.encode(source); w.encode(target); w.encode(signature) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        validator = try r.decode(PublicKey.self); source = try r.decode(Checkpoint.self); target = try r.decode(Checkpoint.self)
        signature = try r.decode(Signature.self)
    }
}

extension StakeRole: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .validator: w.u8(0)
        case .worker(let p): w.u8(1); w.u32(p)
        case .checker(let p): w.u8(2); w.u32(p)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("role") {
        case 0: self = .validator
        case 1: self = .worker(pool: try r.u32("pool"))
        case 2: self = .checker(pool: try r.u32("pool"))
        case let t: throw r.unknownTag("role", t, at: at)
        }
    }
}

extension PassLeaf: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(index); w.u32(shard); w.u64(positionOffset); w.u32(tokenCount); w.hash(inputHash); w.hash(outputHash)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        index = try r.u32("leafIndex"); shard = try r.u32("shard"); positionOffset = try r.u64("positionOffset")
        tokenCount = try r.u32("tokenCount"); inputHash = try r.hash("inputHash"); outputHash = try r.hash("outputHash")
    }
}

extension SumNode: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.hash(hash); w.u64(sum); w.hash(minKey); w.hash(maxKey) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        hash = try r.hash("nodeHash"); sum = try r.u64("nodeSum"); minKey = try r.hash("nodeMinKey"); maxKey = try r.hash("nodeMaxKey")
    }
}

extension LeafProof: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(leaf); w.list(path) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        leaf = try r.decode(PassLeaf.self)
        path = try r.list("sumPath", max: TxLimits.maxProofLength, of: SumNode.self)
    }
}

extension UsageVoucher: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(chainId); w.hash(escrowId); w.encode(payee); w.u32(shard); w.u64(window)
        w.u64(cumulativeInputTokens); w.u64(cumulativeOutputTokens); w.encode(signature)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        chainId = try r.hash("voucherChainId"); escrowId = try r.hash("escrowId"); payee = try r.decode(PublicKey.self)
        shard = try r.u32("shard"); window = try r.u64("window")
        cumulativeInputTokens = try r.u64("cumulativeInputTokens"); cumulativeOutputTokens = try r.u64("cumulativeOutputTokens")
        signature = try r.decode(Signature.self)
    }
}

extension HopReceipt: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(pool); w.u32(shard); w.u64(window); w.encode(worker); w.encode(holder); w.hash(contentKey); w.hash(outputHash)
        w.u32(tokenCount); w.encode(signature)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        pool = try r.u32("pool"); shard = try r.u32("shard"); window = try r.u64("window"); worker = try r.decode(PublicKey.self)
        holder = try r.decode(PublicKey.self); contentKey = try r.hash("contentKey"); outputHash = try r.hash("outputHash")
        tokenCount = try r.u32("tokenCount"); signature = try r.decode(Signature.self)
    }
}

extension TxBody: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .transfer(let to, let amount):
            w.u8(0); w.encode(to); w.encode(amount)
        case .bond(let role, let amount, let commitment):
            w.u8(1); w.encode(role); w.encode(amount); w.optional(commitment) { $0.hash($1) }
        case .unbond(let role, let amount):
            w.u8(2); w.encode(role); w.encode(amount)
        case .escrowOpen(let pool, let amount, let expiry):
            w.u8(3); w.u32(pool); w.encode(amount); w.u64(expiry)
        case .escrowTopUp(let id, let amount, let expiry):
            w.u8(4); w.hash(id); w.encode(amount); w.optional(expiry) { $0.u64($1) }
        case .escrowClose(let id):
            w.u8(5); w.hash(id)
        case .claimUsage(let voucher):
            w.u8(6); w.encode(voucher)
        case .commitShares(let pool, let window, let shard, let leaves, let tokens, let root):
            w.u8(7); w.u32(pool); w.u64(window); w.u32(shard); w.u32(leaves); w.u64(tokens); w.hash(root)
        case .revealTicket(let ticket, let leaf, let left, let right, let input):
            w.u8(8); w.hash(ticket); w.encode(leaf); w.optional(left) { $0.encode($1) }; w.optional(right) { $0.encode($1) }
            w.bytes(input)
        case .fraudCommit(let claim, let pool):
            w.u8(9); w.hash(claim); w.u32(pool)
        case .doubleSignEvidence(let a, let b):
            w.u8(10); w.bytes(a); w.bytes(b)
        case .unjail(let role):
            w.u8(11); w.encode(role)
        case .escrowAllocate(let id, let payee, let amount):
            w.u8(12); w.hash(id); w.encode(payee); w.encode(amount)
        case .fraudReveal(let ticket, let salt, let input):
            w.u8(13); w.hash(ticket); w.hash(salt); w.bytes(input)
        case .claimPayout(let pool, let window, let worker):
            w.u8(14); w.u32(pool); w.u64(window); w.encode(worker)
        case .finalityVotes(let votes):
            w.u8(15); w.list(votes)
        case .voteEvidence(let a, let b):
            w.u8(16); w.encode(a); w.encode(b)
        case .registerChecker(let pool, let key):
            w.u8(17); w.u32(pool); w.hash(key)
        case .revealSealedTicket(let ticket, let leaf, let left, let right, let envelope):
            w.u8(18); w.hash(ticket); w.encode(leaf); w.optional(left) { $0.encode($1) }; w.optional(right) { $0.encode($1) }
            w.bytes(envelope)
        case .checkCommit(let items):
            w.u8(19); w.list(items) { w, i in w.hash(i.ticketId); w.hash(i.commitment) }
        case .unblindOutput(let items):
            w.u8(20); w.list(items) { w, i in w.hash(i.ticketId); w.hash(i.outputHash); w.hash(i.salt) }
        case .checkReveal(let items):
            w.u8(21); w.list(items) { w, i in w.hash(i.ticketId); w.hash(i.answer); w.hash(i.nonce); w.optional(i.salt) { $0.hash($1) } }
        case .publishSealKey(let ticket, let key):
            w.u8(22); w.hash(ticket); w.hash(key)
        case .publishSealedInput(let ticket, let input):
            w.u8(23); w.hash(ticket); w.bytes(input)
        case .claimUsageBatch(let vouchers):
            w.u8(24); w.list(vouchers) { w, v in w.encode(v) }
        case .hopChallenge(let receipt):
            w.u8(25); w.encode(receipt)
        case .answerHopChallenge(let challenge, let commitment, let leaf, let input):
            w.u8(26); w.hash(challenge); w.hash(commitment); w.encode(leaf); w.bytes(input)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("txKind") {
        case 0: self = .transfer(to: try r.decode(PublicKey.self), amount: try r.decode(Amount.self))
        case 1:
            self = .bond(role: try r.decode(StakeRole.self), amount: try r.decode(Amount.self),
                         randaoCommitment: try r.optional("randaoCommitment") { (r: inout CanonicalReader) throws(CodecError) in
                             try r.hash("randaoCommitment") })
        case 2: self = .unbond(role: try r.decode(StakeRole.self), amount: try r.decode(Amount.self))
        case 3: self = .escrowOpen(pool: try r.u32("pool"), amount: try r.decode(Amount.self), expiryHeight: try r.u64("expiryHeight"))
        case 4:
            self = .escrowTopUp(escrowId: try r.hash("escrowId"), amount: try r.decode(Amount.self),
                                newExpiryHeight: try r.optional("newExpiryHeight") { (r: inout CanonicalReader) throws(CodecError) in
                                    try r.u64("newExpiryHeight") })
        case 5: self = .escrowClose(escrowId: try r.hash("escrowId"))
        case 6: self = .claimUsage(voucher: try r.decode(UsageVoucher.self))
        case 7:
            self = .commitShares(pool: try r.u32("pool"), window: try r.u64("window"), shard: try r.u32("shard"),
                                 leafCount: try r.u32("leafCount"), tokenTotal: try r.u64("tokenTotal"), root: try r.hash("root"))
        case 8:
            let ticket = try r.hash("ticketId")
            let leaf = try r.decode(LeafProof.self)
            let left = try r.optional("leftNeighbour") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(LeafProof.self) }
            let right = try r.optional("rightNeighbour") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(LeafProof.self) }
            self = .revealTicket(ticketId: ticket, leaf: leaf, left: left, right: right,
                                 input: try r.bytes("inputTensor", max: TxLimits.maxInputBytes))
        case 9: self = .fraudCommit(claim: try r.hash("claim"), pool: try r.u32("pool"))
        case 10:
            self = .doubleSignEvidence(headerA: try r.bytes("headerA", max: TxLimits.maxEvidenceHeaderBytes),
                                       headerB: try r.bytes("headerB", max: TxLimits.maxEvidenceHeaderBytes))
        case 11: self = .unjail(role: try r.decode(StakeRole.self))
        case 12: self = .escrowAllocate(escrowId: try r.hash("escrowId"), payee: try r.decode(PublicKey.self), amount: try r.decode(Amount.self))
        case 13:
            self = .fraudReveal(ticketId: try r.hash("ticketId"), salt: try r.hash("salt"),
                                input: try r.bytes("inputTensor", max: TxLimits.maxInputBytes))
        case 14: self = .claimPayout(pool: try r.u32("pool"), window: try r.u64("window"), worker: try r.decode(PublicKey.self))
        case 15: self = .finalityVotes(votes: try r.list("votes", max: TxLimits.maxVotes, of: FinalityVote.self))
        case 16: self = .voteEvidence(a: try r.decode(FinalityVote.self), b: try r.decode(FinalityVote.self))
        case 17: self = .registerChecker(pool: try r.u32("pool"), sealingKey: try r.hash("sealingKey"))
        case 18:
            let ticket = try r.hash("ticketId")
            let leaf = try r.decode(LeafProof.self)
            let left = try r.optional("leftNeighbour") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(LeafProof.self) }
            let right = try r.optional("rightNeighbour") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(LeafProof.self) }
            self = .revealSealedTicket(ticketId: ticket, leaf: leaf, left: left, right: right,
                                       envelope: try r.bytes("sealedInput", max: TxLimits.maxEnvelopeBytes))
        case 19:
            self = .checkCommit(items: try r.list("checkCommitments", max: TxLimits.maxCheckBatch, minElementSize: 64) {
                (r: inout CanonicalReader) throws(CodecError) in
                CheckCommitItem(ticketId: try r.hash("ticketId"), commitment: try r.hash("checkCommitment"))
            })
        case 20:
            self = .unblindOutput(items: try r.list("unblindings", max: TxLimits.maxCheckBatch, minElementSize: 96) {
                (r: inout CanonicalReader) throws(CodecError) in
                UnblindItem(ticketId: try r.hash("ticketId"), outputHash: try r.hash("outputHash"), salt: try r.hash("salt"))
            })
        case 21:
            self = .checkReveal(items: try r.list("checkReveals", max: TxLimits.maxCheckBatch, minElementSize: 97) {
                (r: inout CanonicalReader) throws(CodecError) in
                CheckRevealItem(ticketId: try r.hash("ticketId"), answer: try r.hash("answer"), nonce: try r.hash("nonce"),
                                salt: try r.optional("blindingSalt") { (r: inout CanonicalReader) throws(CodecError) in try r.hash("blindingSalt") })
            })
        case 22: self = .publishSealKey(ticketId: try r.hash("ticketId"), ephemeralPrivateKey: try r.hash("ephemeralPrivateKey"))
        case 23: self = .publishSealedInput(ticketId: try r.hash("ticketId"), input: try r.bytes("inputTensor", max: TxLimits.maxInputBytes))
        case 24:
            self = .claimUsageBatch(vouchers: try r.list("vouchers", max: TxLimits.maxClaimBatch, minElementSize: 188) {
                (r: inout CanonicalReader) throws(CodecError) in try r.decode(UsageVoucher.self)
            })
        case 25: self = .hopChallenge(receipt: try r.decode(HopReceipt.self))
        case 26:
            self = .answerHopChallenge(challengeId: try r.hash("challengeId"), commitmentId: try r.hash("commitmentId"),
                                       leaf: try r.decode(LeafProof.self), input: try r.bytes("inputTensor", max: TxLimits.maxInputBytes))
        case let t: throw r.unknownTag("txKind", t, at: at)
        }
    }
}

extension Transaction: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(chainId); w.encode(sender); w.u64(nonce); w.encode(fee); w.encode(body)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        chainId = try r.hash("chainId"); sender = try r.decode(PublicKey.self); nonce = try r.u64("nonce")
        fee = try r.decode(Amount.self); body = try r.decode(TxBody.self)
    }
}

extension SignedTransaction: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        transaction.encode(to: &w)
        signature.encode(to: &w)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let tx = try r.decode(Transaction.self)
        let sig = try r.decode(Signature.self)
        self.init(transaction: tx, signature: sig)
    }
}


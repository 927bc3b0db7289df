import Ledger
import Primitives

/// Why a block is invalid (it will never become valid; peers sending it misbehave). Where a check compares
/// two values, the case carries both: what the block has (`got`) and what the rules require (`expected`).
public enum BlockValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    case wrongVersion(got: UInt32, expected: UInt32)
    case wrongChain(got: Hash32, expected: Hash32)
    case tooLarge(bytes: Int, maximum: Int)
    case tooManyTransactions(count: Int, maximum: Int)
    /// The proposer's signature over the header does not verify.
    case badSignature
    case wrongLeader(got: PublicKey, expected: PublicKey?)
    /// The timestamp is not in `[slotStart, slotEnd)`; `slotEnd` is nil when the slot's end overflows u64.
    case timestampOutsideSlot(timestamp: UInt64, slotStart: UInt64, slotEnd: UInt64?)
    case badTxRoot(got: Hash32, expected: Hash32)
    case duplicateTransaction(Hash32)
    case badTransactionSignature(index: Int)
    case wrongHeight(got: UInt64, expected: UInt64)
    case slotNotAfterParent(slot: UInt64, parentSlot: UInt64)
    case badReceiptsRoot(got: Hash32, expected: Hash32)
    case badStateRoot(got: Hash32, expected: Hash32)
    case ledger(BlockError)
    case knownInvalid
    case descendsFromInvalid

    public var description: String {
        switch self {
        case .wrongVersion(let g, let e): return "unsupported block version \(g), expected \(e)"
        case .wrongChain(let g, let e): return "block is for another chain (\(g.hex.prefix(16)), expected \(e.hex.prefix(16)))"
        case .tooLarge(let b, let m): return "block is \(b) bytes, maximum \(m)"
        case .tooManyTransactions(let c, let m): return "block has \(c) transactions, maximum \(m)"
        case .badSignature: return "bad proposer signature"
        case .wrongLeader(let g, let e):
            return "proposer \(g.hex.prefix(16)) is not the slot leader (expected \(e.map { $0.hex } ?? "none"))"
        case .timestampOutsideSlot(let t, let s, let e):
            return "timestamp \(t) outside the block's slot [\(s), \(e.map(String.init) ?? "overflow"))"
        case .badTxRoot(let g, let e): return "transaction root mismatch (header \(g), computed \(e))"
        case .duplicateTransaction(let id): return "transaction \(id) appears twice"
        case .badTransactionSignature(let i): return "transaction \(i) has a bad signature"
        case .wrongHeight(let g, let e): return "height \(g), must be \(e)"
        case .slotNotAfterParent(let s, let p): return "slot \(s) is not after the parent's slot \(p)"
        case .badReceiptsRoot(let g, let e): return "receipts root mismatch (header \(g), computed \(e))"
        case .badStateRoot(let g, let e): return "state root mismatch (header \(g), computed \(e))"
        case .ledger(let e): return "state transition failed: \(e)"
        case .knownInvalid: return "block was already found invalid"
        case .descendsFromInvalid: return "block descends from an invalid block"
        }
    }
}

/// Block validity rules that need no chain state, storage or clock (Specs/blocks.md): pure functions over
/// plain values, each throwing the exact `BlockValidationError` with what the block has and what the rule
/// expects. `ChainEngine` calls them in its import order and keeps what needs state: fork choice, the leader
/// schedule, execution, persistence and timings. Kept apart so every rule is unit-tested by feeding it one
/// bad value (Tests/ConsensusTests/BlockValidationTests.swift), after reth's `consensus/common/validation.rs`.
public enum BlockValidation {
    // MARK: Header

    /// The header's format version is the one this node speaks.
    public static func validateVersion(_ version: UInt32, expected: UInt32 = BlockHeader.currentVersion) throws(BlockValidationError) {
        guard version == expected else { throw .wrongVersion(got: version, expected: expected) }
    }

    /// The header names this chain.
    public static func validateChain(_ chainId: Hash32, expected: Hash32) throws(BlockValidationError) {
        guard chainId == expected else { throw .wrongChain(got: chainId, expected: expected) }
    }

    /// The timestamp (Unix ms) lies within its slot `[slotStart, slotStart + slotMillis)`. A slot whose start or
    /// end no u64 clock can express has no valid timestamp (`slotStart == .max` is `Genesis.slotStartMillis`'s
    /// saturated value).
    public static func validateTimestamp(_ timestamp: UInt64, slotStart: UInt64, slotMillis: UInt64) throws(BlockValidationError) {
        let (end, overflow) = slotStart.addingReportingOverflow(slotMillis)
        guard slotStart != .max, !overflow, timestamp >= slotStart, timestamp < end else {
            throw .timestampOutsideSlot(timestamp: timestamp, slotStart: slotStart, slotEnd: slotStart == .max || overflow ? nil : end)
        }
    }

    /// Whether a timestamp is ahead of the local clock by more than the tolerance. Not a validity rule: such a
    /// block is retried later, so this answers instead of throwing. (`now + tolerance` wraps rather than traps,
    /// as it always has: no wall clock comes near the end of u64 milliseconds.)
    public static func isFromFuture(timestamp: UInt64, now: UInt64, toleranceMillis: UInt64) -> Bool {
        timestamp > now.addingReportingOverflow(toleranceMillis).partialValue
    }

    /// The proposer signed the header.
    public static func validateProposerSignature(_ header: SignedHeader) throws(BlockValidationError) {
        guard header.hasValidSignature else { throw .badSignature }
    }

    // MARK: Body

    /// The block holds at most `maximum` transactions.
    public static func validateTransactionCount(_ count: Int, maximum: Int) throws(BlockValidationError) {
        guard count <= maximum else { throw .tooManyTransactions(count: count, maximum: maximum) }
    }

    /// The encoded size the block-size limit counts: the fixed-size signed header and the body (the transaction
    /// count as shortest LEB128, then the transactions), exactly as encoded (Specs/blocks.md).
    public static func encodedSize(of transactions: [SignedTransaction]) -> Int {
        var countBytes = 1, n = transactions.count
        while n >= 0x80 { countBytes += 1; n >>= 7 }
        return BlockLimits.signedHeaderBytes + transactions.reduce(countBytes) { $0 + $1.encodedSize }
    }

    /// The block's encoded size is within the limit.
    public static func validateSize(_ bytes: Int, maximum: Int) throws(BlockValidationError) {
        guard bytes <= maximum else { throw .tooLarge(bytes: bytes, maximum: maximum) }
    }

    /// No transaction appears twice (the first repeat is reported).
    public static func validateUniqueTransactions(_ transactions: [SignedTransaction]) throws(BlockValidationError) {
        var seen = Set<Hash32>()
        for tx in transactions where !seen.insert(tx.id).inserted { throw .duplicateTransaction(tx.id) }
    }

    /// The header's transaction root commits to the body.
    public static func validateTxRoot(_ txRoot: Hash32, transactions: [SignedTransaction]) throws(BlockValidationError) {
        let computed = Block.txRoot(transactions)
        guard computed == txRoot else { throw .badTxRoot(got: txRoot, expected: computed) }
    }

    // MARK: Against the parent

    /// The block is one above its parent.
    public static func validateHeight(_ height: UInt64, parentHeight: UInt64) throws(BlockValidationError) {
        guard height == parentHeight + 1 else { throw .wrongHeight(got: height, expected: parentHeight + 1) }
    }

    /// The block's slot is after its parent's.
    public static func validateSlot(_ slot: UInt64, parentSlot: UInt64) throws(BlockValidationError) {
        guard slot > parentSlot else { throw .slotNotAfterParent(slot: slot, parentSlot: parentSlot) }
    }

    // MARK: Against the parent state (values the engine computes)

    /// The proposer is the slot's leader (`expected` nil: the slot has no leader, so no block is valid).
    public static func validateLeader(_ proposer: PublicKey, expected: PublicKey?) throws(BlockValidationError) {
        guard proposer == expected else { throw .wrongLeader(got: proposer, expected: expected) }
    }

    /// The header's receipts root commits to the receipts execution produced.
    public static func validateReceiptsRoot(_ receiptsRoot: Hash32, receipts: [Receipt]) throws(BlockValidationError) {
        let computed = Receipt.root(receipts)
        guard computed == receiptsRoot else { throw .badReceiptsRoot(got: receiptsRoot, expected: computed) }
    }

    /// The header's state root is the commitment execution produced.
    public static func validateStateRoot(_ stateRoot: Hash32, computed: Hash32) throws(BlockValidationError) {
        guard computed == stateRoot else { throw .badStateRoot(got: stateRoot, expected: computed) }
    }
}

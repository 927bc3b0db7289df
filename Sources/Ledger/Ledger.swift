import Primitives

/// What the adjudicator is asked: replay one revealed pass with the canonical executor.
public struct AdjudicationRequest: Sendable {
    public let pool: PoolConfig
    public let shardIndex: Int
    public let input: [UInt8]
    public let positionOffset: UInt64
    public let tokenCount: UInt32

    public init(pool: PoolConfig, shardIndex: Int, input: [UInt8], positionOffset: UInt64, tokenCount: UInt32) {
        self.pool = pool; self.shardIndex = shardIndex; self.input = input
        self.positionOffset = positionOffset; self.tokenCount = tokenCount
    }

    public var shard: PoolShard { pool.shards[shardIndex] }
}

/// The canonical result of replaying a pass.
public enum AdjudicationVerdict: Hashable, Sendable {
    /// The tensor hash of the canonical output.
    case output(Hash32)
    /// The revealed input is not a valid input for the shard (malformed, wrong shape, too many tokens).
    case invalidInput(String)
    /// The canonical output contains NaN or infinity; no committed output can be right.
    case invalidOutput(String)
}

/// Replays revealed passes; the Verifier module provides the real one, tests a deterministic fake.
/// Throwing means this node cannot decide (e.g. missing weights): the block is not processed.
public protocol Adjudicator: Sendable {
    func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict
}

/// Proven equivocation: one proposer signed two different headers for one slot. (The heights written in the
/// headers play no part: the offender chose them.)
public struct Equivocation: Hashable, Sendable {
    public let offender: PublicKey
    public let slot: UInt64
    public init(offender: PublicKey, slot: UInt64) { self.offender = offender; self.slot = slot }
}

/// Checks equivocation evidence (the Consensus module knows the header format).
public protocol EquivocationVerifier: Sendable {
    /// The equivocation the two encoded headers prove, or nil when they prove none.
    func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation?
}

/// The block-level inputs of the state transition besides its transactions.
public struct BlockContext: Hashable, Sendable {
    public let height: UInt64
    public let slot: UInt64
    public let proposer: PublicKey
    /// The proposer's next RANDAO preimage.
    public let randaoReveal: Hash32
    /// Leaders of the slots skipped since the parent block, with their slots.
    public let missedSlots: [MissedSlot]

    public struct MissedSlot: Hashable, Sendable {
        public let slot: UInt64
        public let leader: PublicKey
        public init(slot: UInt64, leader: PublicKey) { self.slot = slot; self.leader = leader }
    }

    /// The hash of the parent block (recorded as a checkpoint's hash when the parent is a checkpoint).
    public let parentHash: Hash32

    public init(height: UInt64, slot: UInt64, proposer: PublicKey, randaoReveal: Hash32, missedSlots: [MissedSlot] = [],
                parentHash: Hash32 = .zero) {
        self.height = height; self.slot = slot; self.proposer = proposer; self.randaoReveal = randaoReveal
        self.missedSlots = missedSlots; self.parentHash = parentHash
    }
}

/// Why a transaction may not be included at all.
public enum EnvelopeError: Error, Hashable, Sendable, CustomStringConvertible {
    case wrongChain
    case badSignature
    case nonceMismatch(expected: UInt64, got: UInt64)
    case feeTooLow(minimum: Amount, offered: Amount)
    case cannotAffordFee(balance: Amount, fee: Amount)
    case oversized(size: Int, maximum: Int)

    public var description: String {
        switch self {
        case .wrongChain: return "transaction is for another chain"
        case .badSignature: return "bad signature"
        case .nonceMismatch(let e, let g): return "nonce \(g), expected \(e)"
        case .feeTooLow(let m, let o): return "fee \(o) below the minimum \(m)"
        case .cannotAffordFee(let b, let f): return "balance \(b) cannot pay fee \(f)"
        case .oversized(let s, let m): return "transaction is \(s) bytes, maximum \(m)"
        }
    }
}

/// Why a block's contents cannot be applied.
public enum BlockError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidTransaction(index: Int, EnvelopeError)
    case wrongHeight(expected: UInt64, got: UInt64)
    case slotNotAfterParent(parentSlot: UInt64, slot: UInt64)
    case unknownProposer
    case badRandaoReveal
    case fault(LedgerFault)

    public var description: String {
        switch self {
        case .invalidTransaction(let i, let e): return "transaction \(i) is invalid: \(e)"
        case .wrongHeight(let e, let g): return "block height \(g), expected \(e)"
        case .slotNotAfterParent(let p, let s): return "slot \(s) is not after the parent's slot \(p)"
        case .unknownProposer: return "proposer is not a validator"
        case .badRandaoReveal: return "RANDAO reveal does not hash to the proposer's commitment"
        case .fault(let f): return f.description
        }
    }
}

/// The state transition function (Specs/state-machine.md). A value type: the same inputs give the same
/// writes and receipts on every machine.
public struct Ledger: Sendable {
    public let params: LedgerParams
    public let chainId: Hash32
    public let adjudicator: any Adjudicator
    public let equivocationVerifier: any EquivocationVerifier

    public init(params: LedgerParams, chainId: Hash32, adjudicator: any Adjudicator,
                equivocationVerifier: any EquivocationVerifier) {
        self.params = params; self.chainId = chainId; self.adjudicator = adjudicator
        self.equivocationVerifier = equivocationVerifier
    }

    /// Minimum fee for a transaction of `size` bytes. Genesis bounds `minFeePerByte × maxTransactionBytes` below 2⁶⁴,
    /// so for any transaction a block can hold this is exact; a larger size (an RPC estimate) saturates, never wraps.
    public func minimumFee(size: Int) -> Amount {
        let (fee, overflow) = params.minFeePerByte.multipliedReportingOverflow(by: UInt64(max(0, size)))
        return overflow ? Amount(UInt64.max) : Amount(fee)
    }

    /// Envelope checks against a known account (used by block execution and by the mempool, which passes
    /// the nonce it expects next). Signature checking can be skipped when already done in parallel.
    public func checkEnvelope(_ tx: SignedTransaction, account: Account, expectedNonce: UInt64? = nil,
                              checkSignature: Bool = true) throws(EnvelopeError) {
        let t = tx.transaction
        guard t.chainId == chainId else { throw .wrongChain }
        guard tx.encodedSize <= params.maxTransactionBytes else {
            throw .oversized(size: tx.encodedSize, maximum: params.maxTransactionBytes)
        }
        let expected = expectedNonce ?? account.nonce
        guard t.nonce == expected else { throw .nonceMismatch(expected: expected, got: t.nonce) }
        let minimum = minimumFee(size: tx.encodedSize)
        guard t.fee >= minimum else { throw .feeTooLow(minimum: minimum, offered: t.fee) }
        guard account.balance >= t.fee else { throw .cannotAffordFee(balance: account.balance, fee: t.fee) }
        if checkSignature, !tx.hasValidSignature { throw .badSignature }
    }

    /// Envelope checks against state.
    public func checkEnvelope(_ tx: SignedTransaction, state: LedgerState, checkSignature: Bool = true) throws -> Void {
        let account: Account
        do { account = try state.account(tx.transaction.sender) } catch {
            throw LedgerFault("cannot read account: \(error)")
        }
        try checkEnvelope(tx, account: account, checkSignature: checkSignature)
    }

    /// Applies one block: begin-block processing, every transaction in order, end-block processing.
    /// Returns the receipts (one per transaction, then the block-processing receipt with `txId` zero).
    /// On error the state must be discarded.
    /// `verifiedVouchers` holds voucher signatures already found valid (`voucherSignatures(in:state:)`); claims
    /// matching one skip that verification.
    public func applyBlock(_ context: BlockContext, transactions: [SignedTransaction], to state: inout LedgerState,
                           signaturesChecked: Bool = false,
                           verifiedVouchers: Set<VoucherSignature> = []) throws(BlockError) -> [Receipt] {
        var exec = Execution(ledger: self, context: context, state: state)
        exec.verifiedVouchers = verifiedVouchers
        do {
            try exec.beginBlock()
            var receipts = [Receipt]()
            receipts.reserveCapacity(transactions.count + 1)
            for (i, tx) in transactions.enumerated() {
                receipts.append(try exec.apply(tx, index: i, checkSignature: !signaturesChecked))
            }
            try exec.endBlock()
            receipts.append(Receipt(txId: .zero, status: .success, feePaid: .zero, events: exec.systemEvents))
            state = exec.state
            return receipts
        } catch let e as BlockError {
            throw e
        } catch let ExecError.fault(f) {
            throw .fault(f)
        } catch {
            throw .fault(LedgerFault("unexpected error \(error)"))
        }
    }
}

extension Ledger {
    /// The result of building a block from candidates.
    public struct BuiltBlock: Sendable {
        /// The candidates that were included, in order.
        public let transactions: [SignedTransaction]
        /// Their receipts, then the block-processing receipt.
        public let receipts: [Receipt]
        /// Candidates left out because their envelope failed at their turn, with the reason.
        public let skipped: [(SignedTransaction, EnvelopeError)]
    }

    /// Builds a block: like `applyBlock`, but a candidate whose envelope fails (e.g. its fee became
    /// unaffordable after an earlier transfer) is skipped instead of invalidating the block. `shouldStop`
    /// is asked before each candidate so a producer can respect its slot deadline. `verifiedVouchers` as for
    /// `applyBlock`. At most `maxTransactions` are included, of at most `maxBytes` encoded bytes in all: a candidate
    /// that would pass the byte budget is passed over and later (smaller) ones are still tried, so a skipped
    /// candidate's space goes to the next ones (the budget is spent on included transactions only).
    public func buildBlock(_ context: BlockContext, candidates: [SignedTransaction], to state: inout LedgerState,
                           signaturesChecked: Bool = false, verifiedVouchers: Set<VoucherSignature> = [],
                           maxTransactions: Int = .max, maxBytes: Int = .max,
                           shouldStop: () -> Bool = { false }) throws(BlockError) -> BuiltBlock {
        var exec = Execution(ledger: self, context: context, state: state)
        exec.verifiedVouchers = verifiedVouchers
        do {
            try exec.beginBlock()
            var included = [SignedTransaction](), receipts = [Receipt](), skipped = [(SignedTransaction, EnvelopeError)]()
            var bytes = 0
            for tx in candidates {
                if included.count >= maxTransactions || shouldStop() { break }
                guard tx.encodedSize <= maxBytes - bytes else { continue }
                // A commitment past the block's cap would only fail: it waits for the next block.
                if case .commitShares = tx.transaction.body, exec.commitmentsInBlock >= params.maxCommitmentsPerBlock { continue }
                do {
                    receipts.append(try exec.apply(tx, index: included.count, checkSignature: !signaturesChecked))
                    included.append(tx)
                    bytes += tx.encodedSize
                } catch BlockError.invalidTransaction(_, let reason) {
                    // The envelope is checked before any write, so nothing needs undoing.
                    skipped.append((tx, reason))
                }
            }
            try exec.endBlock()
            receipts.append(Receipt(txId: .zero, status: .success, feePaid: .zero, events: exec.systemEvents))
            state = exec.state
            return BuiltBlock(transactions: included, receipts: receipts, skipped: skipped)
        } catch let e as BlockError {
            throw e
        } catch let ExecError.fault(f) {
            throw .fault(f)
        } catch {
            throw .fault(LedgerFault("unexpected error \(error)"))
        }
    }
}

/// Mutable execution context of one block.
struct Execution {
    let ledger: Ledger
    let context: BlockContext
    var state: LedgerState
    /// Events of begin/end-block processing.
    var systemEvents: [Event] = []
    /// Events of the transaction being executed.
    var txEvents: [Event] = []
    /// Pools are fixed by genesis, so a block decodes each at most once.
    var poolCache: [UInt32: PoolConfig] = [:]
    /// Share commitments this block has included so far (`maxCommitmentsPerBlock`).
    var commitmentsInBlock = 0
    /// Their ids, queued for drawing at the start of end-block (`queueCommittedForSelection`).
    var committedInBlock: [Hash32] = []
    /// Keys scheduled for deletion by this block, written to their heights' `2D` records before pruning
    /// (`flushScheduledPrunes`); a failed transaction's entries are dropped with its writes.
    var scheduledPrunes: [(height: UInt64, key: [UInt8])] = []
    /// Voucher signatures verified before execution (empty unless the caller pre-verified them).
    var verifiedVouchers: Set<VoucherSignature> = []
    /// Assignable checkers per pool with a checking section, built by begin-block from the state before the block's
    /// transactions (Specs/verification.md §3).
    var checkerTables: [UInt32: CheckerTable] = [:]

    var params: LedgerParams { ledger.params }

    /// Where an event goes: the current transaction's receipt or the block-processing receipt.
    enum EventTarget { case transaction, system }

    mutating func emit(_ target: EventTarget, _ event: Event) {
        switch target {
        case .transaction: txEvents.append(event)
        case .system: systemEvents.append(event)
        }
    }
    var height: UInt64 { context.height }

    init(ledger: Ledger, context: BlockContext, state: LedgerState) {
        self.ledger = ledger; self.context = context; self.state = state
    }

    /// Executes one transaction: envelope (fatal to the block if invalid), fee and nonce, then the body
    /// under a checkpoint so a failure leaves only the fee and nonce changes.
    mutating func apply(_ tx: SignedTransaction, index: Int, checkSignature: Bool) throws -> Receipt {
        let t = tx.transaction
        var account = try state.account(t.sender)
        do { try ledger.checkEnvelope(tx, account: account, checkSignature: checkSignature) } catch {
            throw BlockError.invalidTransaction(index: index, error)
        }
        account.nonce += 1
        account.balance = Amount(account.balance.units - t.fee.units)
        state.setAccount(t.sender, account)
        // A reveal's per-byte floor is burned, not paid to the proposer: a proposer that pre-reveals a client's
        // passes in its own blocks must pay for their bytes like anyone else (economics §7 row 24, §8).
        let burned = t.body.burnsItsFeeFloor ? min(t.fee, ledger.minimumFee(size: tx.encodedSize)) : .zero
        do { try state.credit(context.proposer, Amount(t.fee.units - burned.units)) } catch ExecError.failed {
            // A proposer balance at the supply cap cannot overflow: supply fits in u64. Treat as corrupt.
            throw ExecError.fault(LedgerFault("fee credit overflow"))
        }
        if burned.units > 0 { try state.burn(burned) }
        txEvents = []
        state.overlay.checkpoint()
        let prunesBefore = scheduledPrunes.count
        do {
            try executeBody(t, txId: tx.id, size: tx.encodedSize)
            state.overlay.commit()
            return Receipt(txId: tx.id, status: .success, feePaid: t.fee, events: txEvents)
        } catch ExecError.failed(let reason) {
            state.overlay.rollback()
            scheduledPrunes.removeSubrange(prunesBefore...)
            return Receipt(txId: tx.id, status: .failed(reason), feePaid: t.fee, events: [])
        }
    }

    /// A pool's configuration, decoded once per block.
    mutating func poolConfig(_ id: UInt32) throws(ExecError) -> PoolConfig? {
        if let p = poolCache[id] { return p }
        let p = try state.pool(id)
        if let p { poolCache[id] = p }
        return p
    }

    mutating func executeBody(_ t: Transaction, txId: Hash32, size: Int) throws(ExecError) {
        switch t.body {
        case .transfer(let to, let amount):
            guard amount > .zero else { throw .failed(.zeroAmount) }
            try state.debit(t.sender, amount)
            try state.credit(to, amount)
            txEvents.append(.transfer(from: t.sender, to: to, amount: amount))
        case .bond(let role, let amount, let commitment):
            try bond(t.sender, role: role, amount: amount, commitment: commitment)
        case .unbond(let role, let amount):
            try unbond(t.sender, role: role, amount: amount)
        case .unjail(let role):
            try unjail(t.sender, role: role)
        case .escrowOpen(let pool, let amount, let expiry):
            try escrowOpen(t.sender, nonce: t.nonce, pool: pool, amount: amount, expiry: expiry)
        case .escrowTopUp(let id, let amount, let expiry):
            try escrowTopUp(t.sender, id: id, amount: amount, newExpiry: expiry)
        case .escrowClose(let id):
            try escrowClose(t.sender, id: id)
        case .escrowAllocate(let id, let payee, let amount):
            try escrowAllocate(t.sender, id: id, payee: payee, amount: amount)
        case .claimUsage(let voucher):
            try claimUsage(t.sender, voucher)
        case .commitShares(let pool, let window, let shard, let leaves, let tokens, let root):
            try commitShares(t.sender, pool: pool, window: window, shard: shard, leafCount: leaves, tokenTotal: tokens, root: root)
        case .revealTicket(let ticketId, let leaf, let left, let right, let input):
            try revealTicket(t.sender, ticketId: ticketId, proof: leaf, left: left, right: right, input: input, txId: txId)
        case .revealSealedTicket(let ticketId, let leaf, let left, let right, let envelope):
            try revealSealedTicket(t.sender, ticketId: ticketId, proof: leaf, left: left, right: right, envelope: envelope, txId: txId)
        case .registerChecker(let pool, let key):
            try registerChecker(t.sender, pool: pool, sealingKey: key)
        // Batches: every item must succeed (the body runs under one checkpoint, so a failing item undoes the others).
        case .checkCommit(let items):
            guard !items.isEmpty else { throw .failed(.emptyBatch) }
            for i in items { try checkCommit(t.sender, ticketId: i.ticketId, commitment: i.commitment) }
        case .unblindOutput(let items):
            guard !items.isEmpty else { throw .failed(.emptyBatch) }
            for i in items { try unblindOutput(t.sender, ticketId: i.ticketId, outputHash: i.outputHash, salt: i.salt) }
        case .checkReveal(let items):
            guard !items.isEmpty else { throw .failed(.emptyBatch) }
            for i in items { try checkReveal(t.sender, ticketId: i.ticketId, answer: i.answer, nonce: i.nonce, salt: i.salt) }
        case .claimUsageBatch(let vouchers):
            guard !vouchers.isEmpty else { throw .failed(.emptyBatch) }
            for v in vouchers { try claimUsage(t.sender, v) }
        case .hopChallenge(let receipt):
            try hopChallenge(t.sender, receipt: receipt)
        case .answerHopChallenge(let challengeId, let commitmentId, let leaf, let input):
            try answerHopChallenge(t.sender, challengeId: challengeId, commitmentId: commitmentId, proof: leaf, input: input, txId: txId)
        case .publishSealKey(let ticketId, let key):
            try publishSealKey(t.sender, ticketId: ticketId, ephemeralPrivateKey: key)
        case .publishSealedInput(let ticketId, let input):
            try publishSealedInput(t.sender, ticketId: ticketId, input: input)
        case .fraudCommit(let claim, let pool):
            try fraudCommit(t.sender, claim: claim, pool: pool)
        case .fraudReveal(let ticketId, let salt, let input):
            try fraudReveal(t.sender, ticketId: ticketId, salt: salt, input: input)
        case .claimPayout(let pool, let window, let worker):
            try claimPayout(pool: pool, window: window, worker: worker)
        case .doubleSignEvidence(let a, let b):
            try doubleSign(a, b)
        case .finalityVotes(let votes):
            try countVotes(votes)
        case .voteEvidence(let a, let b):
            try voteEvidence(a, b)
        }
    }
}

/// Derived identifiers (Specs/state-machine.md, "Identifiers").
public enum LedgerIds {
    /// Escrow id: `H_id(0x01 ‖ owner ‖ nonce u64)`.
    public static func escrow(owner: PublicKey, nonce: UInt64) -> Hash32 {
        var w = CanonicalWriter(); w.u8(1); w.encode(owner); w.u64(nonce)
        return Tags.id.hash(w.bytes)
    }

    /// Commitment id: `H_id(0x02 ‖ worker ‖ pool u32 ‖ window u64 ‖ shard u32 ‖ root)`.
    public static func commitment(worker: PublicKey, pool: UInt32, window: UInt64, shard: UInt32, root: Hash32) -> Hash32 {
        var w = CanonicalWriter(); w.u8(2); w.encode(worker); w.u32(pool); w.u64(window); w.u32(shard); w.hash(root)
        return Tags.id.hash(w.bytes)
    }

    /// Ticket id: `H_id(0x03 ‖ commitmentId ‖ sample u32)`.
    public static func ticket(commitment: Hash32, sample: UInt32) -> Hash32 {
        var w = CanonicalWriter(); w.u8(3); w.hash(commitment); w.u32(sample)
        return Tags.id.hash(w.bytes)
    }

    /// Hop ticket id (an answered hop challenge): `H_id(0x06 ‖ challengeId)`.
    public static func hopTicket(challenge: Hash32) -> Hash32 {
        var w = CanonicalWriter(); w.u8(6); w.hash(challenge)
        return Tags.id.hash(w.bytes)
    }

    /// Offence id of unanswered hop challenges: one per pool, window and worker, `H_id(0x16 ‖ pool u32 ‖ window u64 ‖ worker)`.
    public static func hopOffence(pool: UInt32, window: UInt64, worker: PublicKey) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x16); w.u32(pool); w.u64(window); w.encode(worker)
        return Tags.id.hash(w.bytes)
    }

    /// Offence id of a bad pass in a commitment (proven fraud, a withheld reveal or a reused pass): one
    /// punishment per commitment, however many of its samples are bad.
    public static func passOffence(commitment: Hash32) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x10); w.hash(commitment)
        return Tags.id.hash(w.bytes)
    }

    /// Offence id of an equivocation: one per proposer and slot.
    public static func equivocationOffence(offender: PublicKey, slot: UInt64) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x12); w.encode(offender); w.u64(slot)
        return Tags.id.hash(w.bytes)
    }

    /// `H_id(0x14 ‖ validator ‖ lower signing hash ‖ higher signing hash)`: the id of a conflicting-vote offence.
    public static func voteOffence(validator: PublicKey, _ a: Hash32, _ b: Hash32) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x14); w.encode(validator); w.hash(min(a, b)); w.hash(max(a, b))
        return Tags.id.hash(w.bytes)
    }

    /// `H_id(0x13 ‖ leader ‖ slot u64)`: the id of a missed-slot slash.
    public static func missedSlotOffence(leader: PublicKey, slot: UInt64) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x13); w.encode(leader); w.u64(slot)
        return Tags.id.hash(w.bytes)
    }
}

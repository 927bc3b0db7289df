import Primitives

/// Why a transaction that passed the envelope checks failed to execute. The fee is still charged and the
/// nonce used; nothing else changes. Codes are stable (they appear in receipts and RPC).
public enum FailureReason: UInt16, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case insufficientBalance = 1
    case amountOverflow = 2
    case zeroAmount = 3
    case unknownPool = 4
    case belowMinimumStake = 5
    case missingRandaoCommitment = 6
    case insufficientStake = 7
    case tooManyUnbondingEntries = 8
    case tombstoned = 9
    case jailed = 10
    case unknownEscrow = 11
    case notEscrowOwner = 12
    case escrowNotExpired = 13
    case escrowClosed = 14
    case expiryNotInFuture = 15
    case voucherWrongChain = 16
    case voucherBadSignature = 17
    case voucherNotIncreasing = 18
    case notActiveWorker = 19
    case wrongWindow = 20
    case duplicateCommitment = 21
    case invalidCommitment = 22
    case tooManyCommitments = 23
    case unknownShard = 24
    case unknownTicket = 25
    case ticketNotAwaitingReveal = 26
    case revealDeadlinePassed = 27
    case notTicketWorker = 28
    case invalidSumProof = 29
    case leafMismatch = 30
    case inputHashMismatch = 31
    case inputTooLarge = 32
    case ticketNotRevealed = 33
    case challengePeriodOver = 34
    case ticketAlreadyAdjudicated = 35
    case invalidEvidence = 37
    case evidenceTooOld = 38
    case evidenceAlreadyProcessed = 39
    case notJailed = 40
    case jailPeriodNotOver = 41
    case unknownStaker = 42
    case notVoucherPayee = 43
    case claimPeriodOver = 44
    case noAllocation = 45
    case tooManyPayers = 46
    case tooManyAllocations = 47
    case escrowUnlocking = 48
    case escrowStillUnlocking = 49
    case commitDeadlinePassed = 50
    case sampleNotInLeaf = 51
    case neighbourMismatch = 52
    case invalidInputTensor = 53
    case duplicateFraudClaim = 54
    case unknownFraudClaim = 55
    case fraudRevealTooEarly = 56
    case fraudRevealTooLate = 57
    /// Reserved: a claim opened on a full pending case was refused; the case now keeps its earliest claims.
    case tooManyClaims = 58
    case windowNotSettled = 59
    case nothingToPay = 60
    case wrongPool = 61
    case tooManyVotes = 62
    case invalidVoteSignature = 63
    case tooManyCommitmentsInBlock = 64
    case poolHasNoCheckers = 65
    case checkerAlreadyRegistered = 66
    case invalidSealingKey = 67
    case sealingKeyInUse = 68
    case checkerRegistryFull = 69
    case notAChecker = 70
    case sealedRevealRequired = 71
    case ticketNotSealed = 72
    case invalidEnvelope = 73
    case envelopeRecipientsMismatch = 74
    case envelopeSizeMismatch = 75
    case notAssignedChecker = 76
    case checkPhaseClosed = 77
    case answerAlreadyCommitted = 78
    case invalidCheckCommitment = 79
    case answerNotCommitted = 80
    case answerAlreadyRevealed = 81
    case checkCommitmentMismatch = 82
    case outputAlreadyUnblinded = 83
    case unblindMismatch = 84
    case ticketNotDisputed = 85
    case wrongSealKey = 86
    case checkInProgress = 87
    case emptyBatch = 88
    case notReceiptHolder = 89
    case invalidReceipt = 90
    case hopChallengeClosed = 91
    case badReceiptSignature = 92
    case duplicateHopChallenge = 93
    case nothingToChallenge = 94
    case unknownHopChallenge = 95
    case hopChallengeAnswered = 96
    case receiptMismatch = 97
    case inputInClear = 98
    case payeeForfeited = 99
    case inputAlreadyPublished = 100
    case workerForfeited = 101

    public var description: String {
        switch self {
        case .insufficientBalance: return "insufficient balance"
        case .amountOverflow: return "amount overflow"
        case .zeroAmount: return "amount must be positive"
        case .unknownPool: return "unknown pool"
        case .belowMinimumStake: return "resulting stake below the minimum"
        case .missingRandaoCommitment: return "a new validator must give a RANDAO commitment"
        case .insufficientStake: return "not enough bonded stake"
        case .tooManyUnbondingEntries: return "too many concurrent unbonding entries"
        case .tombstoned: return "staker is tombstoned"
        case .jailed: return "staker is jailed"
        case .unknownEscrow: return "unknown escrow"
        case .notEscrowOwner: return "sender does not own the escrow"
        case .escrowNotExpired: return "escrow has not expired"
        case .escrowClosed: return "escrow is closed"
        case .expiryNotInFuture: return "expiry height must be in the future"
        case .voucherWrongChain: return "voucher is for another chain"
        case .voucherBadSignature: return "voucher is not signed by the escrow owner"
        case .voucherNotIncreasing: return "voucher does not exceed the last claimed voucher"
        case .notActiveWorker: return "sender is not an active worker of the pool"
        case .wrongWindow: return "commitment is not for the current window"
        case .duplicateCommitment: return "commitment already recorded"
        case .invalidCommitment: return "commitment counts out of range"
        case .tooManyCommitments: return "too many commitments in this window"
        case .unknownShard: return "unknown shard"
        case .unknownTicket: return "unknown ticket"
        case .ticketNotAwaitingReveal: return "ticket is not awaiting reveal"
        case .revealDeadlinePassed: return "reveal deadline passed"
        case .notTicketWorker: return "only the committing worker may reveal"
        case .invalidSumProof: return "sum-tree path does not lead to the committed root and token total"
        case .leafMismatch: return "leaf does not match the commitment"
        case .inputHashMismatch: return "input tensor does not hash to the leaf's input hash"
        case .inputTooLarge: return "input tensor larger than the pool allows"
        case .ticketNotRevealed: return "ticket has not been revealed"
        case .challengePeriodOver: return "challenge period is over"
        case .ticketAlreadyAdjudicated: return "ticket already adjudicated"
        case .invalidEvidence: return "invalid equivocation evidence"
        case .evidenceTooOld: return "evidence older than the unbonding period"
        case .evidenceAlreadyProcessed: return "offence already punished"
        case .notJailed: return "staker is not jailed"
        case .jailPeriodNotOver: return "jail period not over"
        case .unknownStaker: return "no such staker"
        case .notVoucherPayee: return "only the voucher's payee may claim it"
        case .claimPeriodOver: return "the voucher's window no longer accepts claims"
        case .noAllocation: return "the escrow has no allocation for this payee"
        case .tooManyPayers: return "too many escrows pay this worker in this window"
        case .tooManyAllocations: return "too many payees allocated in this escrow"
        case .escrowUnlocking: return "escrow is closing"
        case .escrowStillUnlocking: return "escrow unlock period not over"
        case .commitDeadlinePassed: return "the window's commitment deadline passed"
        case .sampleNotInLeaf: return "the sampled token is not in the revealed leaf"
        case .neighbourMismatch: return "a neighbour leaf outside the tree, invalid or not in strictly increasing key order"
        case .invalidInputTensor: return "input tensor is not a canonical [tokens, hidden] float32 tensor for the leaf"
        case .duplicateFraudClaim: return "fraud claim already committed"
        case .unknownFraudClaim: return "no such fraud claim (ticket, prover and salt must match the commitment)"
        case .fraudRevealTooEarly: return "a fraud claim is revealed in a later block than its commitment"
        case .fraudRevealTooLate: return "fraud claim reveal period over"
        case .tooManyClaims: return "too many fraud claims on this ticket"
        case .windowNotSettled: return "window not settled"
        case .nothingToPay: return "nothing to pay for this worker and window"
        case .wrongPool: return "fraud claim was committed for another pool"
        case .tooManyVotes: return "more finality votes than one transaction may carry"
        case .invalidVoteSignature: return "a finality vote is not signed by its validator"
        case .tooManyCommitmentsInBlock: return "the block already holds maxCommitmentsPerBlock share commitments"
        case .poolHasNoCheckers: return "the pool has no checkers (checkersPerTicket is 0)"
        case .checkerAlreadyRegistered: return "the checker is already registered"
        case .invalidSealingKey: return "the sealing key is not a usable X25519 public key (all zero or low order)"
        case .sealingKeyInUse: return "another checker of the pool registered this sealing key"
        case .checkerRegistryFull: return "the pool's checker registry is full (maxCheckers)"
        case .notAChecker: return "the sender has no checker stake in the pool"
        case .sealedRevealRequired: return "the ticket has checkers: reveal it sealed"
        case .ticketNotSealed: return "the ticket has no checkers: reveal it in clear"
        case .invalidEnvelope: return "the sealed input is not a canonical envelope"
        case .envelopeRecipientsMismatch: return "the envelope's recipients are not the ticket's checkers in assignment order"
        case .envelopeSizeMismatch: return "the envelope's plaintext size is not the leaf's input tensor size"
        case .notAssignedChecker: return "the sender is not a checker of this ticket"
        case .checkPhaseClosed: return "the ticket is not in the phase this transaction belongs to"
        case .answerAlreadyCommitted: return "the checker already committed its answer"
        case .invalidCheckCommitment: return "the answer commitment must not be zero"
        case .answerNotCommitted: return "the checker did not commit an answer"
        case .answerAlreadyRevealed: return "the checker already revealed its answer"
        case .checkCommitmentMismatch: return "the answer and nonce do not open the checker's commitment"
        case .outputAlreadyUnblinded: return "the output is already unblinded"
        case .unblindMismatch: return "the output hash and salt do not open the leaf's blinded output"
        case .ticketNotDisputed: return "the ticket is not awaiting its dispute key"
        case .wrongSealKey: return "the key is not the envelope's ephemeral private key"
        case .checkInProgress: return "the ticket's check or dispute is not finished"
        case .emptyBatch: return "a batch transaction needs at least one item"
        case .notReceiptHolder: return "only the receipt's holder may challenge it"
        case .invalidReceipt: return "the receipt's token count is out of range"
        case .hopChallengeClosed: return "the receipt's window does not accept hop challenges at this height"
        case .badReceiptSignature: return "the receipt is not signed by its worker for this chain"
        case .duplicateHopChallenge: return "the receipt was challenged before"
        case .nothingToChallenge: return "the worker claimed no usage for this shard in this window"
        case .unknownHopChallenge: return "no hop challenge of the sender with this id for the commitment's pool and window"
        case .hopChallengeAnswered: return "the hop challenge is not open"
        case .receiptMismatch: return "the leaf is not the receipt's pass in a commitment of the receipt's shard"
        case .inputInClear: return "a pool with checkers keeps pass inputs off chain: a hop answer carries none"
        case .payeeForfeited: return "the payee's work in the voucher's window was forfeited by a conviction"
        case .inputAlreadyPublished: return "a sealed input was already published for this dispute"
        case .workerForfeited: return "the worker's work in the receipt's window was forfeited by a conviction"
        }
    }
}

/// How a slash came about.
public enum OffenceKind: UInt8, Hashable, Sendable {
    case fraud = 0
    case withheldReveal = 1
    case equivocation = 2
    case reusedPass = 3
    /// A validator skipped one of its own slots.
    case missedSlot = 4
    /// A validator signed two finality votes that conflict (double or surround vote).
    case finalityVote = 5
    /// A checker that did not commit or reveal its answer in time.
    case checkerAbsent = 6
    /// A checker whose mismatch the validators' replay refuted.
    case falseAlarm = 7
    /// A checker whose answer equalled an output the replay proved false.
    case checkerCollusion = 8
    /// A worker that did not unblind its output, did not publish a disputed envelope's key, or sealed an
    /// envelope that does not open to its input.
    case failedSealedCheck = 9
    /// A worker that did not answer a hop challenge by its deadline (Specs/economics.md §4.1).
    case unansweredHopChallenge = 10
}

/// Something that happened, for explorers. Receipts carry them; the receipts root commits to them.
public enum Event: Hashable, Sendable {
    case transfer(from: PublicKey, to: PublicKey, amount: Amount)
    case feePaid(payer: PublicKey, proposer: PublicKey, amount: Amount)
    case bonded(staker: PublicKey, role: StakeRole, amount: Amount)
    case unbondingStarted(staker: PublicKey, role: StakeRole, amount: Amount, entryId: UInt64, matureHeight: UInt64)
    case unbonded(staker: PublicKey, role: StakeRole, amount: Amount, entryId: UInt64)
    case slashed(staker: PublicKey, role: StakeRole, amount: Amount, offence: OffenceKind, offenceId: Hash32)
    case jailed(staker: PublicKey, role: StakeRole, untilHeight: UInt64)
    case unjailed(staker: PublicKey, role: StakeRole)
    case tombstoned(staker: PublicKey)
    case escrowOpened(escrowId: Hash32, owner: PublicKey, pool: UInt32, amount: Amount, expiryHeight: UInt64)
    case escrowToppedUp(escrowId: Hash32, amount: Amount, expiryHeight: UInt64)
    case escrowClosed(escrowId: Hash32, refund: Amount)
    case usageClaimed(escrowId: Hash32, payee: PublicKey, pool: UInt32, shard: UInt32, window: UInt64, charged: Amount, fee: Amount, shortfall: Amount)
    case sharesCommitted(commitmentId: Hash32, worker: PublicKey, pool: UInt32, window: UInt64, shard: UInt32, tokenTotal: UInt64, samples: UInt32)
    case ticketSelected(ticketId: Hash32, commitmentId: Hash32, sample: UInt32, point: UInt64, deadline: UInt64)
    case ticketRevealed(ticketId: Hash32, leafIndex: UInt32, challengeEnd: UInt64)
    case revealWithheld(ticketId: Hash32, worker: PublicKey)
    case fraudProven(ticketId: Hash32, worker: PublicKey, slashed: Amount, bounty: Amount)
    case fraudRejected(ticketId: Hash32, bondsBurned: Amount)
    case sharesForfeited(pool: UInt32, worker: PublicKey, throughWindow: UInt64)
    case escrowUnlocking(escrowId: Hash32, untilHeight: UInt64)
    case windowSettled(pool: UInt32, window: UInt64, earned: Amount)
    case payoutCredited(pool: UInt32, window: UInt64, worker: PublicKey, paid: Amount, refunded: Amount)
    case escrowAllocated(escrowId: Hash32, payee: PublicKey, amount: Amount)
    case fraudCommitted(claim: Hash32, prover: PublicKey, bond: Amount)
    case fraudClaimOpened(ticketId: Hash32, claim: Hash32, prover: PublicKey)
    case bountyPaid(ticketId: Hash32, prover: PublicKey, bounty: Amount, bond: Amount)
    case fraudBondReturned(claim: Hash32, prover: PublicKey, amount: Amount)
    case fraudBondBurned(claim: Hash32, prover: PublicKey, amount: Amount)
    case ticketVoided(ticketId: Hash32, firstWorker: PublicKey)
    case passReused(ticketId: Hash32, worker: PublicKey)
    case refundCredited(pool: UInt32, window: UInt64, worker: PublicKey, owner: PublicKey, amount: Amount)
    /// A finality vote counted towards its target checkpoint, with the validator's stake.
    case voteCounted(validator: PublicKey, targetHeight: UInt64, stake: Amount)
    case checkpointJustified(height: UInt64, hash: Hash32)
    case checkpointFinalized(height: UInt64, hash: Hash32)
    case checkerRegistered(pool: UInt32, checker: PublicKey, sealingKey: Hash32)
    /// The checkers drawn for a ticket, in assignment order (the envelope's recipient order).
    case checkersAssigned(ticketId: Hash32, checkers: [PublicKey])
    /// No checker was assignable: the ticket is revealed in clear (protocol 3).
    case checkersUnavailable(ticketId: Hash32)
    case answerCommitted(ticketId: Hash32, checker: PublicKey)
    case outputUnblinded(ticketId: Hash32, outputHash: Hash32)
    case answerRevealed(ticketId: Hash32, checker: PublicKey, answer: Hash32)
    /// Every revealed answer matched the unblinded output.
    case checkPassed(ticketId: Hash32, outputHash: Hash32)
    case checkerAbsent(ticketId: Hash32, checker: PublicKey, benchedUntil: UInt64)
    case disputeOpened(ticketId: Hash32, keyDeadline: UInt64)
    /// A dispute's envelope opened to the input: the ticket joins the adjudication queue.
    case sealedInputPublished(ticketId: Hash32)
    /// The worker failed its sealed check without a replay (no unblinding, no key, or a bad envelope).
    case sealedCheckFailed(ticketId: Hash32, worker: PublicKey, reason: SealedCheckFailure)
    case checkFeeOwed(ticketId: Hash32, checker: PublicKey, amount: Amount)
    /// A check fee paid at the worker's payout: the ticket it was owed for, and to which checker.
    case checkFeePaid(pool: UInt32, window: UInt64, worker: PublicKey, ticketId: Hash32, checker: PublicKey, amount: Amount)
    /// Part of a slash paid to the other side of a dispute (checkers for fraud, the worker for a false alarm).
    case disputeBountyPaid(ticketId: Hash32, to: PublicKey, amount: Amount)
    /// Someone (`challenger`, who paid the bond) challenged a worker's hop receipt; the worker answers by `deadline`.
    case hopChallenged(challengeId: Hash32, pool: UInt32, window: UInt64, shard: UInt32, worker: PublicKey, challenger: PublicKey,
                       bond: Amount, deadline: UInt64)
    /// The worker answered with its leaf, now the hop ticket `ticketId`. `bondTo` is the challenger when the pass was
    /// reused (the bond went back at once); otherwise the worker, whose bond is held until its payout (`hopBondPaid`).
    case hopChallengeAnswered(challengeId: Hash32, ticketId: Hash32, bondTo: PublicKey, bond: Amount)
    /// No answer by the deadline: the bond went back to the challenger and the worker is convicted.
    case hopChallengeUnanswered(challengeId: Hash32, worker: PublicKey, challenger: PublicKey, bond: Amount)
    /// At the worker's payout, the held bond of an answered challenge went to `to`: the worker when its answer stood,
    /// the challenger when the hop ticket was proven fraudulent.
    case hopBondPaid(challengeId: Hash32, to: PublicKey, bond: Amount)

    /// Stable event name.
    public var name: String {
        switch self {
        case .transfer: return "transfer"
        case .feePaid: return "feePaid"
        case .bonded: return "bonded"
        case .unbondingStarted: return "unbondingStarted"
        case .unbonded: return "unbonded"
        case .slashed: return "slashed"
        case .jailed: return "jailed"
        case .unjailed: return "unjailed"
        case .tombstoned: return "tombstoned"
        case .escrowOpened: return "escrowOpened"
        case .escrowToppedUp: return "escrowToppedUp"
        case .escrowClosed: return "escrowClosed"
        case .usageClaimed: return "usageClaimed"
        case .sharesCommitted: return "sharesCommitted"
        case .ticketSelected: return "ticketSelected"
        case .ticketRevealed: return "ticketRevealed"
        case .revealWithheld: return "revealWithheld"
        case .fraudProven: return "fraudProven"
        case .fraudRejected: return "fraudRejected"
        case .sharesForfeited: return "sharesForfeited"
        case .escrowUnlocking: return "escrowUnlocking"
        case .windowSettled: return "windowSettled"
        case .payoutCredited: return "payoutCredited"
        case .escrowAllocated: return "escrowAllocated"
        case .fraudCommitted: return "fraudCommitted"
        case .fraudClaimOpened: return "fraudClaimOpened"
        case .bountyPaid: return "bountyPaid"
        case .fraudBondReturned: return "fraudBondReturned"
        case .fraudBondBurned: return "fraudBondBurned"
        case .ticketVoided: return "ticketVoided"
        case .passReused: return "passReused"
        case .refundCredited: return "refundCredited"
        case .voteCounted: return "voteCounted"
        case .checkpointJustified: return "checkpointJustified"
        case .checkpointFinalized: return "checkpointFinalized"
        case .checkerRegistered: return "checkerRegistered"
        case .checkersAssigned: return "checkersAssigned"
        case .checkersUnavailable: return "checkersUnavailable"
        case .answerCommitted: return "answerCommitted"
        case .outputUnblinded: return "outputUnblinded"
        case .answerRevealed: return "answerRevealed"
        case .checkPassed: return "checkPassed"
        case .checkerAbsent: return "checkerAbsent"
        case .disputeOpened: return "disputeOpened"
        case .sealedInputPublished: return "sealedInputPublished"
        case .sealedCheckFailed: return "sealedCheckFailed"
        case .checkFeeOwed: return "checkFeeOwed"
        case .checkFeePaid: return "checkFeePaid"
        case .disputeBountyPaid: return "disputeBountyPaid"
        case .hopChallenged: return "hopChallenged"
        case .hopChallengeAnswered: return "hopChallengeAnswered"
        case .hopChallengeUnanswered: return "hopChallengeUnanswered"
        case .hopBondPaid: return "hopBondPaid"
        }
    }
}

/// Outcome of one transaction.
public enum ReceiptStatus: Hashable, Sendable {
    case success
    case failed(FailureReason)
}

/// The record of one executed transaction, or (with `txId` zero) of a block's begin/end processing.
public struct Receipt: Hashable, Sendable {
    /// The transaction, or `Hash32.zero` for the block-processing receipt.
    public var txId: Hash32
    public var status: ReceiptStatus
    public var feePaid: Amount
    public var events: [Event]

    public init(txId: Hash32, status: ReceiptStatus, feePaid: Amount, events: [Event]) {
        self.txId = txId; self.status = status; self.feePaid = feePaid; self.events = events
    }

    /// Receipt hash (the receipts root's leaf data).
    public var hash: Hash32 { Tags.receipt.hash(self) }

    /// Merkle root over receipt hashes, in block order.
    public static func root(_ receipts: [Receipt]) -> Hash32 {
        Merkle.root(leafHashes: receipts.map { Merkle.leafHash($0.hash) })
    }
}

// MARK: - Encoding

extension Event: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .transfer(let f, let t, let a): w.u8(0); w.encode(f); w.encode(t); w.encode(a)
        case .feePaid(let p, let q, let a): w.u8(1); w.encode(p); w.encode(q); w.encode(a)
        case .bonded(let s, let r, let a): w.u8(2); w.encode(s); w.encode(r); w.encode(a)
        case .unbondingStarted(let s, let r, let a, let id, let m):
            w.u8(3); w.encode(s); w.encode(r); w.encode(a); w.u64(id); w.u64(m)
        case .unbonded(let s, let r, let a, let id): w.u8(4); w.encode(s); w.encode(r); w.encode(a); w.u64(id)
        case .slashed(let s, let r, let a, let k, let o): w.u8(5); w.encode(s); w.encode(r); w.encode(a); w.u8(k.rawValue); w.hash(o)
        case .jailed(let s, let r, let u): w.u8(6); w.encode(s); w.encode(r); w.u64(u)
        case .unjailed(let s, let r): w.u8(7); w.encode(s); w.encode(r)
        case .tombstoned(let s): w.u8(8); w.encode(s)
        case .escrowOpened(let id, let o, let p, let a, let e): w.u8(9); w.hash(id); w.encode(o); w.u32(p); w.encode(a); w.u64(e)
        case .escrowToppedUp(let id, let a, let e): w.u8(10); w.hash(id); w.encode(a); w.u64(e)
        case .escrowClosed(let id, let r): w.u8(11); w.hash(id); w.encode(r)
        case .usageClaimed(let id, let payee, let p, let shard, let win, let c, let f, let s):
            w.u8(12); w.hash(id); w.encode(payee); w.u32(p); w.u32(shard); w.u64(win); w.encode(c); w.encode(f); w.encode(s)
        case .sharesCommitted(let c, let wk, let p, let win, let shard, let t, let m):
            w.u8(13); w.hash(c); w.encode(wk); w.u32(p); w.u64(win); w.u32(shard); w.u64(t); w.u32(m)
        case .ticketSelected(let t, let c, let j, let point, let d): w.u8(14); w.hash(t); w.hash(c); w.u32(j); w.u64(point); w.u64(d)
        case .ticketRevealed(let t, let i, let e): w.u8(15); w.hash(t); w.u32(i); w.u64(e)
        case .revealWithheld(let t, let wk): w.u8(16); w.hash(t); w.encode(wk)
        case .fraudProven(let t, let wk, let s, let b): w.u8(17); w.hash(t); w.encode(wk); w.encode(s); w.encode(b)
        case .fraudRejected(let t, let b): w.u8(18); w.hash(t); w.encode(b)
        case .sharesForfeited(let p, let wk, let t): w.u8(19); w.u32(p); w.encode(wk); w.u64(t)
        case .escrowUnlocking(let id, let u): w.u8(20); w.hash(id); w.u64(u)
        case .windowSettled(let p, let win, let e): w.u8(21); w.u32(p); w.u64(win); w.encode(e)
        case .payoutCredited(let p, let win, let wk, let paid, let refunded):
            w.u8(22); w.u32(p); w.u64(win); w.encode(wk); w.encode(paid); w.encode(refunded)
        case .escrowAllocated(let id, let payee, let a): w.u8(23); w.hash(id); w.encode(payee); w.encode(a)
        case .fraudCommitted(let c, let p, let b): w.u8(24); w.hash(c); w.encode(p); w.encode(b)
        case .fraudClaimOpened(let t, let c, let p): w.u8(25); w.hash(t); w.hash(c); w.encode(p)
        case .bountyPaid(let t, let p, let b, let bond): w.u8(26); w.hash(t); w.encode(p); w.encode(b); w.encode(bond)
        case .fraudBondReturned(let c, let p, let a): w.u8(27); w.hash(c); w.encode(p); w.encode(a)
        case .fraudBondBurned(let c, let p, let a): w.u8(28); w.hash(c); w.encode(p); w.encode(a)
        case .ticketVoided(let t, let first): w.u8(29); w.hash(t); w.encode(first)
        case .passReused(let t, let wk): w.u8(30); w.hash(t); w.encode(wk)
        case .refundCredited(let p, let win, let wk, let o, let a): w.u8(31); w.u32(p); w.u64(win); w.encode(wk); w.encode(o); w.encode(a)
        case .voteCounted(let v, let t, let s): w.u8(32); w.encode(v); w.u64(t); w.encode(s)
        case .checkpointJustified(let h, let hash): w.u8(33); w.u64(h); w.hash(hash)
        case .checkpointFinalized(let h, let hash): w.u8(34); w.u64(h); w.hash(hash)
        case .checkerRegistered(let p, let c, let k): w.u8(35); w.u32(p); w.encode(c); w.hash(k)
        case .checkersAssigned(let t, let cs): w.u8(36); w.hash(t); w.list(cs)
        case .checkersUnavailable(let t): w.u8(37); w.hash(t)
        case .answerCommitted(let t, let c): w.u8(38); w.hash(t); w.encode(c)
        case .outputUnblinded(let t, let o): w.u8(39); w.hash(t); w.hash(o)
        case .answerRevealed(let t, let c, let a): w.u8(40); w.hash(t); w.encode(c); w.hash(a)
        case .checkPassed(let t, let o): w.u8(41); w.hash(t); w.hash(o)
        case .checkerAbsent(let t, let c, let b): w.u8(42); w.hash(t); w.encode(c); w.u64(b)
        case .disputeOpened(let t, let d): w.u8(43); w.hash(t); w.u64(d)
        case .sealedInputPublished(let t): w.u8(44); w.hash(t)
        case .sealedCheckFailed(let t, let wk, let r): w.u8(45); w.hash(t); w.encode(wk); w.u8(r.rawValue)
        case .checkFeeOwed(let t, let c, let a): w.u8(46); w.hash(t); w.encode(c); w.encode(a)
        case .checkFeePaid(let p, let win, let wk, let t, let c, let a):
            w.u8(47); w.u32(p); w.u64(win); w.encode(wk); w.hash(t); w.encode(c); w.encode(a)
        case .disputeBountyPaid(let t, let to, let a): w.u8(48); w.hash(t); w.encode(to); w.encode(a)
        case .hopChallenged(let id, let p, let win, let s, let wk, let h, let b, let d):
            w.u8(49); w.hash(id); w.u32(p); w.u64(win); w.u32(s); w.encode(wk); w.encode(h); w.encode(b); w.u64(d)
        case .hopChallengeAnswered(let id, let t, let to, let b): w.u8(50); w.hash(id); w.hash(t); w.encode(to); w.encode(b)
        case .hopChallengeUnanswered(let id, let wk, let h, let b): w.u8(51); w.hash(id); w.encode(wk); w.encode(h); w.encode(b)
        case .hopBondPaid(let id, let to, let b): w.u8(52); w.hash(id); w.encode(to); w.encode(b)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        func key() throws(CodecError) -> PublicKey { try r.decode(PublicKey.self) }
        func amount() throws(CodecError) -> Amount { try r.decode(Amount.self) }
        func role() throws(CodecError) -> StakeRole { try r.decode(StakeRole.self) }
        func hash(_ f: StaticString) throws(CodecError) -> Hash32 { try r.hash(f) }
        switch try r.u8("event") {
        case 0: self = .transfer(from: try key(), to: try key(), amount: try amount())
        case 1: self = .feePaid(payer: try key(), proposer: try key(), amount: try amount())
        case 2: self = .bonded(staker: try key(), role: try role(), amount: try amount())
        case 3: self = .unbondingStarted(staker: try key(), role: try role(), amount: try amount(), entryId: try r.u64("entryId"), matureHeight: try r.u64("matureHeight"))
        case 4: self = .unbonded(staker: try key(), role: try role(), amount: try amount(), entryId: try r.u64("entryId"))
        case 5:
            let s = try key(), ro = try role(), a = try amount()
            let kat = r.offset
            guard let k = OffenceKind(rawValue: try r.u8("offence")) else { throw r.invalid("offence", "unknown offence kind", at: kat) }
            self = .slashed(staker: s, role: ro, amount: a, offence: k, offenceId: try hash("offenceId"))
        case 6: self = .jailed(staker: try key(), role: try role(), untilHeight: try r.u64("untilHeight"))
        case 7: self = .unjailed(staker: try key(), role: try role())
        case 8: self = .tombstoned(staker: try key())
        case 9: self = .escrowOpened(escrowId: try hash("escrowId"), owner: try key(), pool: try r.u32("pool"), amount: try amount(), expiryHeight: try r.u64("expiry"))
        case 10: self = .escrowToppedUp(escrowId: try hash("escrowId"), amount: try amount(), expiryHeight: try r.u64("expiry"))
        case 11: self = .escrowClosed(escrowId: try hash("escrowId"), refund: try amount())
        case 12:
            self = .usageClaimed(escrowId: try hash("escrowId"), payee: try key(), pool: try r.u32("pool"), shard: try r.u32("shard"),
                                 window: try r.u64("window"), charged: try amount(), fee: try amount(), shortfall: try amount())
        case 13:
            self = .sharesCommitted(commitmentId: try hash("commitmentId"), worker: try key(), pool: try r.u32("pool"), window: try r.u64("window"),
                                    shard: try r.u32("shard"), tokenTotal: try r.u64("tokenTotal"), samples: try r.u32("samples"))
        case 14:
            self = .ticketSelected(ticketId: try hash("ticketId"), commitmentId: try hash("commitmentId"), sample: try r.u32("sample"),
                                   point: try r.u64("point"), deadline: try r.u64("deadline"))
        case 15: self = .ticketRevealed(ticketId: try hash("ticketId"), leafIndex: try r.u32("leafIndex"), challengeEnd: try r.u64("challengeEnd"))
        case 16: self = .revealWithheld(ticketId: try hash("ticketId"), worker: try key())
        case 17: self = .fraudProven(ticketId: try hash("ticketId"), worker: try key(), slashed: try amount(), bounty: try amount())
        case 18: self = .fraudRejected(ticketId: try hash("ticketId"), bondsBurned: try amount())
        case 19: self = .sharesForfeited(pool: try r.u32("pool"), worker: try key(), throughWindow: try r.u64("throughWindow"))
        case 20: self = .escrowUnlocking(escrowId: try hash("escrowId"), untilHeight: try r.u64("untilHeight"))
        case 21: self = .windowSettled(pool: try r.u32("pool"), window: try r.u64("window"), earned: try amount())
        case 22: self = .payoutCredited(pool: try r.u32("pool"), window: try r.u64("window"), worker: try key(), paid: try amount(), refunded: try amount())
        case 23: self = .escrowAllocated(escrowId: try hash("escrowId"), payee: try key(), amount: try amount())
        case 24: self = .fraudCommitted(claim: try hash("claim"), prover: try key(), bond: try amount())
        case 25: self = .fraudClaimOpened(ticketId: try hash("ticketId"), claim: try hash("claim"), prover: try key())
        case 26: self = .bountyPaid(ticketId: try hash("ticketId"), prover: try key(), bounty: try amount(), bond: try amount())
        case 27: self = .fraudBondReturned(claim: try hash("claim"), prover: try key(), amount: try amount())
        case 28: self = .fraudBondBurned(claim: try hash("claim"), prover: try key(), amount: try amount())
        case 29: self = .ticketVoided(ticketId: try hash("ticketId"), firstWorker: try key())
        case 30: self = .passReused(ticketId: try hash("ticketId"), worker: try key())
        case 31: self = .refundCredited(pool: try r.u32("pool"), window: try r.u64("window"), worker: try key(), owner: try key(), amount: try amount())
        case 32: self = .voteCounted(validator: try key(), targetHeight: try r.u64("targetHeight"), stake: try amount())
        case 33: self = .checkpointJustified(height: try r.u64("height"), hash: try hash("checkpointHash"))
        case 34: self = .checkpointFinalized(height: try r.u64("height"), hash: try hash("checkpointHash"))
        case 35: self = .checkerRegistered(pool: try r.u32("pool"), checker: try key(), sealingKey: try hash("sealingKey"))
        case 36: self = .checkersAssigned(ticketId: try hash("ticketId"), checkers: try r.list("checkers", max: 16, of: PublicKey.self))
        case 37: self = .checkersUnavailable(ticketId: try hash("ticketId"))
        case 38: self = .answerCommitted(ticketId: try hash("ticketId"), checker: try key())
        case 39: self = .outputUnblinded(ticketId: try hash("ticketId"), outputHash: try hash("outputHash"))
        case 40: self = .answerRevealed(ticketId: try hash("ticketId"), checker: try key(), answer: try hash("answer"))
        case 41: self = .checkPassed(ticketId: try hash("ticketId"), outputHash: try hash("outputHash"))
        case 42: self = .checkerAbsent(ticketId: try hash("ticketId"), checker: try key(), benchedUntil: try r.u64("benchedUntil"))
        case 43: self = .disputeOpened(ticketId: try hash("ticketId"), keyDeadline: try r.u64("keyDeadline"))
        case 44: self = .sealedInputPublished(ticketId: try hash("ticketId"))
        case 45:
            let t = try hash("ticketId"), wk = try key()
            let rat = r.offset
            guard let reason = SealedCheckFailure(rawValue: try r.u8("reason")) else { throw r.invalid("reason", "unknown sealed-check failure", at: rat) }
            self = .sealedCheckFailed(ticketId: t, worker: wk, reason: reason)
        case 46: self = .checkFeeOwed(ticketId: try hash("ticketId"), checker: try key(), amount: try amount())
        case 47:
            self = .checkFeePaid(pool: try r.u32("pool"), window: try r.u64("window"), worker: try key(), ticketId: try hash("ticketId"),
                                 checker: try key(), amount: try amount())
        case 48: self = .disputeBountyPaid(ticketId: try hash("ticketId"), to: try key(), amount: try amount())
        case 49:
            self = .hopChallenged(challengeId: try hash("challengeId"), pool: try r.u32("pool"), window: try r.u64("window"),
                                  shard: try r.u32("shard"), worker: try key(), challenger: try key(), bond: try amount(),
                                  deadline: try r.u64("deadline"))
        case 50: self = .hopChallengeAnswered(challengeId: try hash("challengeId"), ticketId: try hash("ticketId"), bondTo: try key(), bond: try amount())
        case 51: self = .hopChallengeUnanswered(challengeId: try hash("challengeId"), worker: try key(), challenger: try key(), bond: try amount())
        case 52: self = .hopBondPaid(challengeId: try hash("challengeId"), to: try key(), bond: try amount())
        case let t: throw r.unknownTag("event", t, at: at)
        }
    }
}

extension Receipt: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(txId)
        switch status {
        case .success: w.u16(0)
        case .failed(let reason): w.u16(reason.rawValue)
        }
        w.encode(feePaid)
        w.list(events)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        txId = try r.hash("txId")
        let at = r.offset
        let code = try r.u16("status")
        if code == 0 {
            status = .success
        } else if let reason = FailureReason(rawValue: code) {
            status = .failed(reason)
        } else {
            throw r.invalid("status", "unknown failure code \(code)", at: at)
        }
        feePaid = try r.decode(Amount.self)
        events = try r.list("events", max: 1 << 16, of: Event.self)
    }
}

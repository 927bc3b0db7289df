import Primitives

/// State key layout (Specs/state-machine.md, "State layout"). One prefix byte per record kind; integers
/// big-endian so byte order equals numeric order; keys are fixed-width within a kind.
public enum StateKey {
    public enum Prefix: UInt8, CaseIterable, Sendable {
        case account = 0x01
        case staker = 0x02
        case unbonding = 0x04
        case unbondingQueue = 0x05
        case stakeHistory = 0x06
        case escrow = 0x07
        case escrowByOwner = 0x08
        case pool = 0x09
        case window = 0x0A
        case workRecord = 0x0B
        case commitment = 0x0C
        case selectionQueue = 0x0D
        case ticket = 0x0E
        case revealDeadlineQueue = 0x0F
        case caseInput = 0x10
        case offence = 0x11
        case fraudCase = 0x12
        case forfeiture = 0x13
        case proposer = 0x14
        case liveness = 0x15
        case payout = 0x16
        case allocation = 0x21
        case payerLane = 0x24
        case revealedPass = 0x25
        case hopAnsweredPass = 0x26
        case fraudCommitment = 0x27
        case fraudCommitmentExpiry = 0x28
        case fraudClaim = 0x29
        case adjudicationQueue = 0x2A
        case caseFinalQueue = 0x2B
        case settlementQueue = 0x2C
        case pruneQueue = 0x2D
        case checkpoint = 0x30
        case finalityVote = 0x31
        case voteTally = 0x32
        case checker = 0x33
        case checkerBySealingKey = 0x34
        case ticketCheck = 0x35
        case sealedInput = 0x36
        case checkResolutionQueue = 0x37
        case disputeDeadlineQueue = 0x38
        case checkFeeOwed = 0x39
        case checkerCount = 0x3A
        case adjudicationHold = 0x3B
        case hopChallenge = 0x3C
        case hopDeadlineQueue = 0x3D
        case checkpointSet = 0x3E
        case disputePublisher = 0x3F
        case global = 0x20
    }

    static func k(_ p: Prefix, _ parts: [UInt8]...) -> [UInt8] {
        var out = [p.rawValue]
        for part in parts { out.append(contentsOf: part) }
        return out
    }

    public static func account(_ key: PublicKey) -> [UInt8] { k(.account, key.bytes) }
    public static func staker(_ role: StakeRole, _ key: PublicKey) -> [UInt8] { k(.staker, role.keyBytes, key.bytes) }
    public static func stakers(_ role: StakeRole) -> [UInt8] { k(.staker, role.keyBytes) }
    public static func unbonding(_ role: StakeRole, _ key: PublicKey, _ id: UInt64) -> [UInt8] {
        k(.unbonding, role.keyBytes, key.bytes, id.bigEndianBytes)
    }
    public static func unbondings(_ role: StakeRole, _ key: PublicKey) -> [UInt8] { k(.unbonding, role.keyBytes, key.bytes) }
    public static func unbondingQueue(_ mature: UInt64, _ role: StakeRole, _ key: PublicKey, _ id: UInt64) -> [UInt8] {
        k(.unbondingQueue, mature.bigEndianBytes, role.keyBytes, key.bytes, id.bigEndianBytes)
    }
    public static func unbondingQueue(at mature: UInt64) -> [UInt8] { k(.unbondingQueue, mature.bigEndianBytes) }
    /// History entries sort newest first (the height is stored inverted).
    public static func stakeHistory(_ role: StakeRole, _ key: PublicKey, height: UInt64) -> [UInt8] {
        k(.stakeHistory, role.keyBytes, key.bytes, (UInt64.max - height).bigEndianBytes)
    }
    public static func stakeHistory(_ role: StakeRole, _ key: PublicKey) -> [UInt8] { k(.stakeHistory, role.keyBytes, key.bytes) }
    public static func escrow(_ id: Hash32) -> [UInt8] { k(.escrow, id.bytes) }
    public static func escrowByOwner(_ owner: PublicKey, _ id: Hash32) -> [UInt8] { k(.escrowByOwner, owner.bytes, id.bytes) }
    public static func escrows(owner: PublicKey) -> [UInt8] { k(.escrowByOwner, owner.bytes) }
    public static func pool(_ id: UInt32) -> [UInt8] { k(.pool, id.bigEndianBytes) }
    public static func window(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.window, pool.bigEndianBytes, w.bigEndianBytes) }
    public static func windows(_ pool: UInt32) -> [UInt8] { k(.window, pool.bigEndianBytes) }
    public static func workRecord(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.workRecord, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    public static func workRecords(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.workRecord, pool.bigEndianBytes, w.bigEndianBytes) }
    public static func allocation(_ escrow: Hash32, _ payee: PublicKey) -> [UInt8] { k(.allocation, escrow.bytes, payee.bytes) }
    public static func allocations(_ escrow: Hash32) -> [UInt8] { k(.allocation, escrow.bytes) }
    public static func payerLane(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey, _ escrow: Hash32) -> [UInt8] {
        k(.payerLane, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes, escrow.bytes)
    }
    public static func payerLanes(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.payerLane, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    /// The first reveal of a pass in a pool: passes of different pools run different models, so they are different
    /// work even with one content key.
    public static func revealedPass(_ pool: UInt32, _ key: Hash32) -> [UInt8] { k(.revealedPass, pool.bigEndianBytes, key.bytes) }
    /// A worker's hop answer of a pass in a pool (economics §4.1): kept apart from the first drawn reveal, so that an
    /// answer neither takes a pass from the worker whose drawn sample reveals it nor escapes a fraud claim.
    public static func hopAnsweredPass(_ pool: UInt32, _ key: Hash32, _ worker: PublicKey) -> [UInt8] {
        k(.hopAnsweredPass, pool.bigEndianBytes, key.bytes, worker.bytes)
    }
    public static func fraudCommitment(_ prover: PublicKey, _ claim: Hash32) -> [UInt8] { k(.fraudCommitment, prover.bytes, claim.bytes) }
    public static func fraudCommitmentExpiry(_ h: UInt64, _ prover: PublicKey, _ claim: Hash32) -> [UInt8] {
        k(.fraudCommitmentExpiry, h.bigEndianBytes, prover.bytes, claim.bytes)
    }
    public static func fraudCommitmentExpiry(at h: UInt64) -> [UInt8] { k(.fraudCommitmentExpiry, h.bigEndianBytes) }
    public static func fraudClaim(_ ticket: Hash32, _ claim: Hash32) -> [UInt8] { k(.fraudClaim, ticket.bytes, claim.bytes) }
    public static func fraudClaims(_ ticket: Hash32) -> [UInt8] { k(.fraudClaim, ticket.bytes) }
    public static func adjudicationQueue(_ seq: UInt64) -> [UInt8] { k(.adjudicationQueue, seq.bigEndianBytes) }
    public static func caseFinalQueue(_ h: UInt64, _ ticket: Hash32) -> [UInt8] { k(.caseFinalQueue, h.bigEndianBytes, ticket.bytes) }
    public static func caseFinalQueue(at h: UInt64) -> [UInt8] { k(.caseFinalQueue, h.bigEndianBytes) }
    public static func settlementQueue(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.settlementQueue, pool.bigEndianBytes, w.bigEndianBytes) }
    /// The keys to delete at the end of block `h` (records kept for a retention period), a `KeyQueue`.
    public static func pruneQueue(at h: UInt64) -> [UInt8] { k(.pruneQueue, h.bigEndianBytes) }
    public static func commitment(_ id: Hash32) -> [UInt8] { k(.commitment, id.bytes) }
    /// The commitments a block included, drawn at `height` (an `IdQueue`).
    public static func selectionQueue(at height: UInt64) -> [UInt8] { k(.selectionQueue, height.bigEndianBytes) }
    public static func ticket(_ id: Hash32) -> [UInt8] { k(.ticket, id.bytes) }
    /// Every ticket, by id (a status is found in the record: the chain keeps no index by status).
    public static var tickets: [UInt8] { [Prefix.ticket.rawValue] }
    /// The tickets whose reveal deadline is `h` (an `IdQueue`; revealed ones stay in it and are skipped).
    public static func revealDeadlineQueue(at h: UInt64) -> [UInt8] { k(.revealDeadlineQueue, h.bigEndianBytes) }
    public static func caseInput(_ ticket: Hash32) -> [UInt8] { k(.caseInput, ticket.bytes) }
    public static func offence(_ id: Hash32) -> [UInt8] { k(.offence, id.bytes) }
    public static func fraudCase(_ ticket: Hash32) -> [UInt8] { k(.fraudCase, ticket.bytes) }
    /// The last window whose unpaid work of a convicted worker is forfeited.
    public static func forfeiture(_ pool: UInt32, _ worker: PublicKey) -> [UInt8] { k(.forfeiture, pool.bigEndianBytes, worker.bytes) }
    public static func proposer(_ height: UInt64) -> [UInt8] { k(.proposer, height.bigEndianBytes) }
    public static func liveness(_ key: PublicKey) -> [UInt8] { k(.liveness, key.bytes) }
    public static func payout(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.payout, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    public static func payouts(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.payout, pool.bigEndianBytes, w.bigEndianBytes) }
    public static func global(_ name: Global) -> [UInt8] { k(.global, Array(name.rawValue.utf8)) }
    public static func checkpoint(_ height: UInt64) -> [UInt8] { k(.checkpoint, height.bigEndianBytes) }
    public static func finalityVote(_ target: UInt64, _ validator: PublicKey) -> [UInt8] {
        k(.finalityVote, target.bigEndianBytes, validator.bytes)
    }
    public static func voteTally(_ target: UInt64) -> [UInt8] { k(.voteTally, target.bigEndianBytes) }
    /// The validator set (`ValidatorSnapshot`) stored in the state of the checkpoint block at `height`: once that
    /// checkpoint is finalized, justification is counted against it (Specs/consensus.md §8, tenth review).
    public static func checkpointSet(_ height: UInt64) -> [UInt8] { k(.checkpointSet, height.bigEndianBytes) }
    /// A registered checker of a pool (`CheckerRecord`).
    public static func checker(_ pool: UInt32, _ key: PublicKey) -> [UInt8] { k(.checker, pool.bigEndianBytes, key.bytes) }
    public static func checkers(_ pool: UInt32) -> [UInt8] { k(.checker, pool.bigEndianBytes) }
    /// Which checker of a pool registered a sealing key (value: the checker's public key).
    public static func checkerBySealingKey(_ pool: UInt32, _ sealingKey: Hash32) -> [UInt8] {
        k(.checkerBySealingKey, pool.bigEndianBytes, sealingKey.bytes)
    }
    /// Registered checkers of a pool (u64).
    public static func checkerCount(_ pool: UInt32) -> [UInt8] { k(.checkerCount, pool.bigEndianBytes) }
    /// The number of queued adjudications that may slash this staker (its unbonding entries wait while non-zero).
    public static func adjudicationHold(_ role: StakeRole, _ key: PublicKey) -> [UInt8] { k(.adjudicationHold, role.keyBytes, key.bytes) }
    /// A sealed ticket's checkers and check phases (`SealedCheck`).
    public static func ticketCheck(_ ticket: Hash32) -> [UInt8] { k(.ticketCheck, ticket.bytes) }
    /// A sealed ticket's envelope (ciphertext only), kept until its check ends.
    public static func sealedInput(_ ticket: Hash32) -> [UInt8] { k(.sealedInput, ticket.bytes) }
    /// The third party that published a disputed ticket's input before the worker's key came (key32; economics §7 row 85).
    public static func disputePublisher(_ ticket: Hash32) -> [UInt8] { k(.disputePublisher, ticket.bytes) }
    public static func checkResolutionQueue(_ h: UInt64, _ ticket: Hash32) -> [UInt8] { k(.checkResolutionQueue, h.bigEndianBytes, ticket.bytes) }
    public static func checkResolutionQueue(at h: UInt64) -> [UInt8] { k(.checkResolutionQueue, h.bigEndianBytes) }
    public static func disputeDeadlineQueue(_ h: UInt64, _ ticket: Hash32) -> [UInt8] { k(.disputeDeadlineQueue, h.bigEndianBytes, ticket.bytes) }
    public static func disputeDeadlineQueue(at h: UInt64) -> [UInt8] { k(.disputeDeadlineQueue, h.bigEndianBytes) }
    /// A check fee a worker's window owes a checker (value: checker ‖ amount), paid at the worker's payout.
    public static func checkFeeOwed(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey, _ ticket: Hash32, _ slot: UInt8) -> [UInt8] {
        k(.checkFeeOwed, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes, ticket.bytes, [slot])
    }
    public static func checkFeesOwed(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.checkFeeOwed, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }

    /// A hop challenge against a worker's receipt (`HopChallenge`, Specs/economics.md §4.1), under its pool, window and worker
    /// so the worker's payout finds and deletes them.
    public static func hopChallenge(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey, _ id: Hash32) -> [UInt8] {
        k(.hopChallenge, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes, id.bytes)
    }
    public static func hopChallenges(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.hopChallenge, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    /// The answer-deadline queue entry of a hop challenge (empty value); the rest of the key is its `3C` key's.
    public static func hopDeadlineQueue(_ deadline: UInt64, _ pool: UInt32, _ w: UInt64, _ worker: PublicKey, _ id: Hash32) -> [UInt8] {
        k(.hopDeadlineQueue, deadline.bigEndianBytes, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes, id.bytes)
    }
    public static func hopDeadlineQueue(at deadline: UInt64) -> [UInt8] { k(.hopDeadlineQueue, deadline.bigEndianBytes) }

    /// Chain-wide singletons.
    public enum Global: String, CaseIterable, Sendable {
        /// Total supply fixed at genesis (u64).
        case supply
        /// Everything burned so far (u64).
        case burned
        /// The RANDAO mix after the latest block (hash).
        case randaoMix
        /// Height and slot of the latest block (u64, u64).
        case tip
        /// Next unbonding entry id (u64).
        case nextUnbondingId
        /// The leader-schedule snapshot of the current epoch (`ValidatorSnapshot`).
        case schedule
        /// The validators and stakes the next epoch's schedule draws from (`ValidatorSnapshot`, seed zero), taken at
        /// the current epoch's first block, before any of its reveals exist (Specs/consensus.md §2).
        case nextSchedule
        /// Sequence number of the next queued adjudication (u64).
        case nextAdjudication
        /// The latest justified checkpoint (`Checkpoint`).
        case justified
        /// The latest finalized checkpoint (`Checkpoint`).
        case finalized
    }
}

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
        case shareTally = 0x0B
        case commitment = 0x0C
        case selectionQueue = 0x0D
        case ticket = 0x0E
        case revealDeadlineQueue = 0x0F
        case ticketInput = 0x10
        case offence = 0x11
        case fraudCase = 0x12
        case forfeiture = 0x13
        case proposer = 0x14
        case liveness = 0x15
        case payout = 0x16
        case commitmentByWorker = 0x19
        case ticketByStatus = 0x1A
        case challengeEndQueue = 0x1B
        case ticketByCommitment = 0x1C
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
    public static func shareTally(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.shareTally, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    public static func shareTallies(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.shareTally, pool.bigEndianBytes, w.bigEndianBytes) }
    public static func commitment(_ id: Hash32) -> [UInt8] { k(.commitment, id.bytes) }
    public static func commitmentByWorker(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey, _ id: Hash32) -> [UInt8] {
        k(.commitmentByWorker, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes, id.bytes)
    }
    public static func commitmentsByWorker(_ pool: UInt32, _ w: UInt64, _ worker: PublicKey) -> [UInt8] {
        k(.commitmentByWorker, pool.bigEndianBytes, w.bigEndianBytes, worker.bytes)
    }
    public static func selectionQueue(_ height: UInt64, _ id: Hash32) -> [UInt8] { k(.selectionQueue, height.bigEndianBytes, id.bytes) }
    public static func selectionQueue(at height: UInt64) -> [UInt8] { k(.selectionQueue, height.bigEndianBytes) }
    public static func ticket(_ id: Hash32) -> [UInt8] { k(.ticket, id.bytes) }
    public static func ticketByStatus(_ s: TicketStatus, _ id: Hash32) -> [UInt8] { k(.ticketByStatus, [s.rawValue], id.bytes) }
    public static func tickets(status s: TicketStatus) -> [UInt8] { k(.ticketByStatus, [s.rawValue]) }
    public static func ticketByCommitment(_ c: Hash32, _ index: UInt32) -> [UInt8] { k(.ticketByCommitment, c.bytes, index.bigEndianBytes) }
    public static func tickets(commitment c: Hash32) -> [UInt8] { k(.ticketByCommitment, c.bytes) }
    public static func revealDeadlineQueue(_ h: UInt64, _ id: Hash32) -> [UInt8] { k(.revealDeadlineQueue, h.bigEndianBytes, id.bytes) }
    public static func revealDeadlineQueue(at h: UInt64) -> [UInt8] { k(.revealDeadlineQueue, h.bigEndianBytes) }
    public static func challengeEndQueue(_ h: UInt64, _ id: Hash32) -> [UInt8] { k(.challengeEndQueue, h.bigEndianBytes, id.bytes) }
    public static func challengeEndQueue(at h: UInt64) -> [UInt8] { k(.challengeEndQueue, h.bigEndianBytes) }
    public static func ticketInput(_ id: Hash32) -> [UInt8] { k(.ticketInput, id.bytes) }
    public static func offence(_ id: Hash32) -> [UInt8] { k(.offence, id.bytes) }
    public static func fraudCase(_ ticket: Hash32) -> [UInt8] { k(.fraudCase, ticket.bytes) }
    public static func forfeiture(_ pool: UInt32, _ worker: PublicKey, from: UInt64) -> [UInt8] {
        k(.forfeiture, pool.bigEndianBytes, worker.bytes, from.bigEndianBytes)
    }
    public static func forfeitures(_ pool: UInt32, _ worker: PublicKey) -> [UInt8] { k(.forfeiture, pool.bigEndianBytes, worker.bytes) }
    public static func proposer(_ height: UInt64) -> [UInt8] { k(.proposer, height.bigEndianBytes) }
    public static func liveness(_ key: PublicKey) -> [UInt8] { k(.liveness, key.bytes) }
    public static func payout(_ pool: UInt32, _ w: UInt64, _ kind: PayoutKind, _ recipient: PublicKey) -> [UInt8] {
        k(.payout, pool.bigEndianBytes, w.bigEndianBytes, [kind.rawValue], recipient.bytes)
    }
    public static func payouts(_ pool: UInt32, _ w: UInt64) -> [UInt8] { k(.payout, pool.bigEndianBytes, w.bigEndianBytes) }
    public static func global(_ name: Global) -> [UInt8] { k(.global, Array(name.rawValue.utf8)) }

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
        /// Fraud proofs executed in the current block (u64 height, u64 count).
        case fraudProofsInBlock
    }
}

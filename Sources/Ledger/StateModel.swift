import Primitives

/// A balance and the next transaction nonce.
public struct Account: Hashable, Sendable {
    public var balance: Amount
    public var nonce: UInt64
    public init(balance: Amount = .zero, nonce: UInt64 = 0) { self.balance = balance; self.nonce = nonce }
}

/// Where a staker stands.
public enum StakerStatus: Hashable, Sendable {
    case active
    /// Out of its active set until `unjail` at or after `until`.
    case jailed(until: UInt64)
    /// Permanently out (equivocation).
    case tombstoned
}

/// A bonded staker in one role: a validator, or a worker of one pool.
public struct Staker: Hashable, Sendable {
    public var stake: Amount
    public var status: StakerStatus
    /// Validators: the current tip of the RANDAO hash chain (the next reveal must hash to it).
    /// Workers: zero.
    public var randaoCommitment: Hash32
    /// Height of the first bond.
    public var since: UInt64
    /// Validators: a registered replacement hash chain and the epoch from which its tip replaces
    /// `randaoCommitment` (Specs/consensus.md §3). Workers: nil.
    public var pendingRandao: PendingRandao?

    public init(stake: Amount, status: StakerStatus = .active, randaoCommitment: Hash32 = .zero, since: UInt64,
                pendingRandao: PendingRandao? = nil) {
        self.stake = stake; self.status = status; self.randaoCommitment = randaoCommitment; self.since = since
        self.pendingRandao = pendingRandao
    }

    /// The commitment a block of `epoch` reveals against: the pending chain's from its epoch on
    /// (Specs/consensus.md §3).
    public func randaoCommitment(forEpoch epoch: UInt64) -> Hash32 {
        if let pending = pendingRandao, epoch >= pending.epoch { return pending.commitment }
        return randaoCommitment
    }

    /// Active in its role: not jailed or tombstoned, and at least the minimum stake.
    public func isActive(minimum: Amount) -> Bool {
        status == .active && stake >= minimum
    }
}

/// A validator's next RANDAO hash chain, registered ahead of use so that no proposer can pick its reveal.
public struct PendingRandao: Hashable, Sendable {
    /// The new chain's tip.
    public var commitment: Hash32
    /// The first epoch whose blocks reveal from the new chain.
    public var epoch: UInt64
    public init(commitment: Hash32, epoch: UInt64) { self.commitment = commitment; self.epoch = epoch }
}

/// Stake on its way out: paid back at `matureHeight`, slashable until then.
public struct UnbondingEntry: Hashable, Sendable {
    public var amount: Amount
    public var createdHeight: UInt64
    public var matureHeight: UInt64
    public init(amount: Amount, createdHeight: UInt64, matureHeight: UInt64) {
        self.amount = amount; self.createdHeight = createdHeight; self.matureHeight = matureHeight
    }
}

/// Where an escrow stands.
public enum EscrowStatus: Hashable, Sendable {
    /// Accepting allocations, top-ups and claims.
    case open
    /// Closing: claims are still accepted until `until`; then the owner gets the rest back and the escrow is
    /// deleted (no closed escrow is stored; tag 2, which meant closed, is refused).
    case unlocking(until: UInt64)
}

/// A client's deposit for one pool.
public struct Escrow: Hashable, Sendable {
    public var owner: PublicKey
    public var pool: UInt32
    /// Everything the escrow still holds (allocated or not).
    public var balance: Amount
    /// The part of `balance` reserved for payees (sum of their allocations' remaining amounts).
    public var allocated: Amount
    public var expiryHeight: UInt64
    public var openedHeight: UInt64
    /// Total charged by claims.
    public var totalCharged: Amount
    /// Claimed amounts that exceeded a payee's allocation (recorded, never paid).
    public var shortfall: Amount
    public var status: EscrowStatus

    public init(owner: PublicKey, pool: UInt32, balance: Amount, allocated: Amount = .zero, expiryHeight: UInt64,
                openedHeight: UInt64, totalCharged: Amount = .zero, shortfall: Amount = .zero, status: EscrowStatus = .open) {
        self.owner = owner; self.pool = pool; self.balance = balance; self.allocated = allocated
        self.expiryHeight = expiryHeight; self.openedHeight = openedHeight; self.totalCharged = totalCharged
        self.shortfall = shortfall; self.status = status
    }

    /// Whether claims are accepted at `height`.
    public func acceptsClaims(at height: UInt64) -> Bool {
        switch status {
        case .open: return true
        case .unlocking(let until): return height < until
        }
    }
}

/// The part of an escrow reserved for one payee.
public struct Allocation: Hashable, Sendable {
    /// Still reserved (claims draw it down).
    public var remaining: Amount
    /// Charged so far by the payee's claims.
    public var charged: Amount
    public init(remaining: Amount, charged: Amount = .zero) { self.remaining = remaining; self.charged = charged }
}

/// The last claimed cumulative counters of one `(escrow, payee, shard, window)` voucher lane (kept in its `PayerLane`).
public struct VoucherCounters: Hashable, Sendable {
    public var inputTokens: UInt64
    public var outputTokens: UInt64
    public init(inputTokens: UInt64 = 0, outputTokens: UInt64 = 0) { self.inputTokens = inputTokens; self.outputTokens = outputTokens }
}

/// Lifecycle of a settlement window.
public enum WindowStatus: UInt8, Hashable, Sendable {
    /// Accepting claims and commitments, or in its checks.
    case open = 0
    /// Its settlement height passed while adjudications of its tickets were pending.
    case awaitingAdjudication = 1
    /// Every check is done: workers' payouts may be claimed.
    case settled = 2
}

/// One pool's settlement window: counters for explorers and the settlement condition.
public struct WindowRecord: Hashable, Sendable {
    public var status: WindowStatus
    /// Net usage charged into the window (after the burned protocol fee).
    public var earned: Amount
    /// Protocol fees burned by the window's claims.
    public var feesBurned: Amount
    public var commitments: UInt64
    public var tickets: UInt64
    /// Fraud adjudications of the window's tickets still queued.
    public var pendingAdjudications: UInt64
    /// Paid to workers and refunded to escrow owners by payouts so far.
    public var paid: Amount
    public var refunded: Amount
    /// Work records of the window not yet paid out: the last payout schedules the window record's deletion.
    public var unpaidWorkers: UInt64

    public init(status: WindowStatus = .open, earned: Amount = .zero, feesBurned: Amount = .zero, commitments: UInt64 = 0,
                tickets: UInt64 = 0, pendingAdjudications: UInt64 = 0, paid: Amount = .zero, refunded: Amount = .zero,
                unpaidWorkers: UInt64 = 0) {
        self.status = status; self.earned = earned; self.feesBurned = feesBurned; self.commitments = commitments
        self.tickets = tickets; self.pendingAdjudications = pendingAdjudications; self.paid = paid; self.refunded = refunded
        self.unpaidWorkers = unpaidWorkers
    }
}

/// What one worker did for one shard in one window: tokens clients paid for, the net amount they paid, and the
/// tokens its commitments cover.
public struct ShardWork: Hashable, Sendable {
    public var shard: UInt32
    /// Input plus output tokens of the claimed vouchers.
    public var paidTokens: UInt64
    /// Net amount charged (held until payout).
    public var earned: Amount
    /// Tokens committed (sum of commitments' totals).
    public var committedTokens: UInt64
    public var commitments: UInt32

    public init(shard: UInt32, paidTokens: UInt64 = 0, earned: Amount = .zero, committedTokens: UInt64 = 0, commitments: UInt32 = 0) {
        self.shard = shard; self.paidTokens = paidTokens; self.earned = earned; self.committedTokens = committedTokens
        self.commitments = commitments
    }
}

/// A worker's work in one window of a pool, per shard (ascending), and how many escrows paid it.
public struct WorkRecord: Hashable, Sendable {
    public var shards: [ShardWork]
    public var payers: UInt32
    /// The lowest bonded stake the worker had when it committed in the window (`UInt64.max` before its first
    /// commitment): the payout cap's stake, never above the stake any of its convictions slashes (economics.md §5).
    public var minCommitStake: Amount
    /// Pools with checkers: what the worker deposited at its commitments for their check fees (`samples × k ×
    /// checkFee` each), spent at payout on the fees its tickets owe, the rest returned (verification.md §5).
    public var checkDeposit: Amount
    /// The worker's commitments in the window, in inclusion order: what its payout covers and prunes (a list here
    /// rather than an index entry per commitment: the record is rewritten by every commitment anyway).
    public var commitmentIds: [Hash32]
    public init(shards: [ShardWork] = [], payers: UInt32 = 0, minCommitStake: Amount = Amount(UInt64.max), checkDeposit: Amount = .zero,
                commitmentIds: [Hash32] = []) {
        self.shards = shards; self.payers = payers; self.minCommitStake = minCommitStake; self.checkDeposit = checkDeposit
        self.commitmentIds = commitmentIds
    }

    /// What the worker's clients paid, held for it until payout.
    public var earned: UInt64 { shards.reduce(0) { $0 &+ $1.earned.units } }

    /// Everything the record holds: the earned revenue and the check-fee deposit.
    public var held: UInt64 { earned &+ checkDeposit.units }

    /// The entry of a shard, created in place (shards stay sorted).
    mutating func withShard<R>(_ shard: UInt32, _ body: (inout ShardWork) throws(ExecError) -> R) throws(ExecError) -> R {
        if let i = shards.firstIndex(where: { $0.shard == shard }) { return try body(&shards[i]) }
        var entry = ShardWork(shard: shard)
        let r = try body(&entry)
        shards.append(entry)
        shards.sort { $0.shard < $1.shard }
        return r
    }
}

/// Who paid a worker in a window, and how much (net): refunds of unpaid work go back by these. It also holds the
/// last claimed cumulative counters of each shard's voucher lane `(escrow, payee, shard, window)` (shards ascending):
/// a claim rewrites this record anyway, so the counters need no state key of their own.
public struct PayerLane: Hashable, Sendable {
    public var owner: PublicKey
    public var amount: Amount
    public var counters: [ShardCounters]
    public init(owner: PublicKey, amount: Amount, counters: [ShardCounters] = []) {
        self.owner = owner; self.amount = amount; self.counters = counters
    }

    /// The last claimed counters of a shard's vouchers (nil before its first claim).
    public func counters(shard: UInt32) -> VoucherCounters? {
        counters.first { $0.shard == shard }.map { VoucherCounters(inputTokens: $0.inputTokens, outputTokens: $0.outputTokens) }
    }

    /// What this payer paid the worker net on a shard (zero before the shard's first claim).
    public func net(shard: UInt32) -> Amount { counters.first { $0.shard == shard }?.net ?? .zero }

    /// Records a shard's claimed counters and adds `net` to what the payer paid on it, keeping shards ascending.
    /// The caller checked that the lane's total does not overflow (it is at most the work record's earned).
    mutating func recordClaim(shard: UInt32, _ c: VoucherCounters, net: Amount) {
        amount = Amount(amount.units &+ net.units)
        if let i = counters.firstIndex(where: { $0.shard == shard }) {
            counters[i] = ShardCounters(shard: shard, inputTokens: c.inputTokens, outputTokens: c.outputTokens,
                                        net: Amount(counters[i].net.units &+ net.units))
            return
        }
        counters.append(ShardCounters(shard: shard, inputTokens: c.inputTokens, outputTokens: c.outputTokens, net: net))
        counters.sort { $0.shard < $1.shard }
    }
}

/// One shard's last claimed cumulative voucher counters in a `PayerLane`, and what the payer paid on the shard net
/// of the protocol fee: a shard's unpaid share is refunded to that shard's payers only (economics §5).
public struct ShardCounters: Hashable, Sendable {
    public var shard: UInt32
    public var inputTokens: UInt64
    public var outputTokens: UInt64
    public var net: Amount
    public init(shard: UInt32, inputTokens: UInt64, outputTokens: UInt64, net: Amount) {
        self.shard = shard; self.inputTokens = inputTokens; self.outputTokens = outputTokens; self.net = net
    }
}

/// A worker's paid-out window (kept for `revealedKeyRetentionBlocks`; receipts keep it forever).
public struct PayoutRecord: Hashable, Sendable {
    public var paid: Amount
    public var refunded: Amount
    public var height: UInt64
    public init(paid: Amount, refunded: Amount, height: UInt64) { self.paid = paid; self.refunded = refunded; self.height = height }
}

/// A worker's sum-tree commitment of passes for one shard in one window.
public struct Commitment: Hashable, Sendable {
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var shard: UInt32
    public var leafCount: UInt32
    public var tokenTotal: UInt64
    public var root: Hash32
    public var includedHeight: UInt64
    /// Height whose RANDAO mix selects the samples.
    public var selectionHeight: UInt64
    /// Samples (tickets) drawn from it.
    public var samples: UInt32
    /// Samples whose pass another worker revealed first (their share of the tokens does not count).
    public var voided: UInt32
    // Whether its samples are drawn is not stored (a rewrite of every commitment at its draw): it is drawn exactly
    // when its block's selection queue record (`0D ‖ selectionHeight`) is gone (`LedgerReader.isDrawn`).

    public init(worker: PublicKey, pool: UInt32, window: UInt64, shard: UInt32, leafCount: UInt32, tokenTotal: UInt64,
                root: Hash32, includedHeight: UInt64, selectionHeight: UInt64, samples: UInt32, voided: UInt32 = 0) {
        self.worker = worker; self.pool = pool; self.window = window; self.shard = shard; self.leafCount = leafCount
        self.tokenTotal = tokenTotal; self.root = root; self.includedHeight = includedHeight
        self.selectionHeight = selectionHeight; self.samples = samples; self.voided = voided
    }

    /// The ids of the tickets drawn (or to be drawn) from this commitment, whose id is `id`, by sample.
    public func ticketIds(_ id: Hash32) -> [Hash32] {
        (0..<samples).map { LedgerIds.ticket(commitment: id, sample: $0) }
    }

    /// Tokens that count toward coverage: `⌊tokenTotal × (samples − voided) / samples⌋`.
    public var coveredTokens: UInt64 {
        guard samples > 0 else { return tokenTotal }
        return (try? Amount.mulDiv(tokenTotal, UInt64(samples - min(voided, samples)), UInt64(samples))) ?? 0
    }
}

/// Lifecycle of a spot-check ticket.
public enum TicketStatus: UInt8, Hashable, Sendable, CaseIterable {
    case awaitingReveal = 0
    case revealed = 1
    /// Not revealed by the deadline: punished as fraud.
    case withheld = 2
    /// Adjudication showed the committed output wrong (or the input invalid).
    case fraudProven = 3
    /// Adjudication confirmed the committed output.
    case upheld = 4
    /// Another worker revealed the same pass first: the sample's share of the tokens does not count.
    case voided = 5
    /// The worker revealed the same pass in an earlier commitment: punished as fraud.
    case reused = 6
}

/// A sample drawn from a commitment.
public struct Ticket: Hashable, Sendable {
    public var commitmentId: Hash32
    /// Sample number within the commitment.
    public var sample: UInt32
    /// The sampled token, in `[0, tokenTotal)`: the leaf whose range holds it must be revealed.
    public var point: UInt64
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var shard: UInt32
    public var status: TicketStatus
    public var selectedHeight: UInt64
    public var revealDeadline: UInt64
    /// Set on reveal.
    public var leaf: PassLeaf?
    public var revealedHeight: UInt64
    /// The reveal transaction (its body carries the input tensor), zero until revealed.
    public var revealTx: Hash32
    /// Last height a fraud claim against it may be committed (the window's challenge end).
    public var challengeEnd: UInt64

    public init(commitmentId: Hash32, sample: UInt32, point: UInt64, worker: PublicKey, pool: UInt32, window: UInt64,
                shard: UInt32, status: TicketStatus, selectedHeight: UInt64, revealDeadline: UInt64, leaf: PassLeaf? = nil,
                revealedHeight: UInt64 = 0, revealTx: Hash32 = .zero, challengeEnd: UInt64) {
        self.commitmentId = commitmentId; self.sample = sample; self.point = point; self.worker = worker; self.pool = pool
        self.window = window; self.shard = shard; self.status = status; self.selectedHeight = selectedHeight
        self.revealDeadline = revealDeadline; self.leaf = leaf; self.revealedHeight = revealedHeight
        self.revealTx = revealTx; self.challengeEnd = challengeEnd
    }
}

/// Where a hop challenge stands.
public enum HopChallengeStatus: UInt8, Hashable, Sendable {
    case open = 0
    /// The worker showed the receipt's leaf; it became a hop ticket. The bond stays held until the worker's payout:
    /// then it goes to the worker, or back to the challenger when the hop ticket was proven fraudulent.
    case answered = 1
    /// No answer by the deadline: the worker was convicted.
    case unanswered = 2
    /// Answered with a pass already revealed (reuse, the worker convicted): the bond went back to the challenger at once.
    case reused = 3
}

/// A challenge of a worker's hop receipt (Specs/economics.md §4.1), kept under its pool, window and worker until the
/// worker's payout.
public struct HopChallenge: Hashable, Sendable {
    /// The challenge's sender, who paid the bond and gets it back when the worker fails to answer, reuses a pass or
    /// answers with a leaf later proven fraudulent.
    public var challenger: PublicKey
    public var shard: UInt32
    public var contentKey: Hash32
    public var outputHash: Hash32
    public var tokenCount: UInt32
    public var bond: Amount
    /// Height of the challenge.
    public var height: UInt64
    /// Last height of the answer.
    public var deadline: UInt64
    public var status: HopChallengeStatus
    /// The hop ticket, once answered (zero before).
    public var ticketId: Hash32

    public init(challenger: PublicKey, shard: UInt32, contentKey: Hash32, outputHash: Hash32, tokenCount: UInt32, bond: Amount,
                height: UInt64, deadline: UInt64, status: HopChallengeStatus = .open, ticketId: Hash32 = .zero) {
        self.challenger = challenger; self.shard = shard; self.contentKey = contentKey; self.outputHash = outputHash
        self.tokenCount = tokenCount; self.bond = bond; self.height = height; self.deadline = deadline; self.status = status
        self.ticketId = ticketId
    }
}

/// Who revealed a pass first (or answered a hop challenge with it), with the output its leaf claims: for reuse
/// detection, and so that only a copy of the same output is voided.
public struct RevealedPass: Hashable, Sendable {
    public var worker: PublicKey
    public var commitmentId: Hash32
    public var height: UInt64
    /// The leaf's `outputHash` field (blinded in a pool with checkers, with the salt derived from the pass).
    public var outputHash: Hash32
    public init(worker: PublicKey, commitmentId: Hash32, height: UInt64, outputHash: Hash32) {
        self.worker = worker; self.commitmentId = commitmentId; self.height = height; self.outputHash = outputHash
    }
}

/// A blind fraud claim and its bond.
public struct FraudCommitment: Hashable, Sendable {
    public var prover: PublicKey
    public var pool: UInt32
    public var height: UInt64
    public var bond: Amount
    public init(prover: PublicKey, pool: UInt32, height: UInt64, bond: Amount) {
        self.prover = prover; self.pool = pool; self.height = height; self.bond = bond
    }
}

/// An opened fraud claim against a ticket, waiting for the ticket's adjudication.
public struct FraudClaim: Hashable, Sendable {
    public var prover: PublicKey
    public var commitHeight: UInt64
    public var bond: Amount
    public init(prover: PublicKey, commitHeight: UInt64, bond: Amount) {
        self.prover = prover; self.commitHeight = commitHeight; self.bond = bond
    }
}

/// Where a fraud case stands.
public enum FraudCaseStatus: UInt8, Hashable, Sendable {
    /// Queued for replay.
    case pending = 0
    /// Replayed: the committed output is wrong; the bounty waits for the final height.
    case fraud = 1
    /// Replayed: the committed output is right; every claim's bond was burned.
    case upheld = 2
    /// The bounty and bond were paid to the winner.
    case paid = 3
}

/// The adjudication of a ticket (one per ticket, however many claims).
public struct FraudCase: Hashable, Sendable {
    public var ticketId: Hash32
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var status: FraudCaseStatus
    /// Height the case was opened (first claim revealed).
    public var openedHeight: UInt64
    public var adjudicatedHeight: UInt64
    /// The canonical output hash the validators computed, or zero when the input or output was invalid.
    public var canonicalOutputHash: Hash32
    public var slashed: Amount
    /// Part of the slash held for the winner until `finalHeight`.
    public var bounty: Amount
    /// The winning claim so far: the earliest committed (then the lowest claim hash).
    public var winner: PublicKey
    public var winnerCommitHeight: UInt64
    public var winnerClaim: Hash32
    public var winnerBond: Amount
    /// Bonds burned by false claims on this ticket.
    public var bondsBurned: Amount
    /// Claims opened on this ticket.
    public var claims: UInt32
    /// Height after which no claim on the ticket can still be opened.
    public var finalHeight: UInt64

    public init(ticketId: Hash32, worker: PublicKey, pool: UInt32, window: UInt64, status: FraudCaseStatus = .pending,
                openedHeight: UInt64, adjudicatedHeight: UInt64 = 0, canonicalOutputHash: Hash32 = .zero,
                slashed: Amount = .zero, bounty: Amount = .zero, winner: PublicKey, winnerCommitHeight: UInt64,
                winnerClaim: Hash32, winnerBond: Amount = .zero, bondsBurned: Amount = .zero, claims: UInt32 = 0, finalHeight: UInt64) {
        self.ticketId = ticketId; self.worker = worker; self.pool = pool; self.window = window; self.status = status
        self.openedHeight = openedHeight; self.adjudicatedHeight = adjudicatedHeight
        self.canonicalOutputHash = canonicalOutputHash; self.slashed = slashed; self.bounty = bounty
        self.winner = winner; self.winnerCommitHeight = winnerCommitHeight; self.winnerClaim = winnerClaim
        self.winnerBond = winnerBond; self.bondsBurned = bondsBurned; self.claims = claims; self.finalHeight = finalHeight
    }

    /// Funds the case holds (bounty and the winner's bond, until paid).
    public var held: UInt64 { status == .fraud ? bounty.units &+ winnerBond.units : 0 }
}

/// Per-validator slot accounting for the current epoch.
public struct Liveness: Hashable, Sendable {
    public var epoch: UInt64
    public var led: UInt64
    public var missed: UInt64
    public init(epoch: UInt64, led: UInt64 = 0, missed: UInt64 = 0) { self.epoch = epoch; self.led = led; self.missed = missed }
}

/// The validator set and seed one epoch's leader schedule is drawn from.
///
/// The list the draw runs over is fixed when the set is taken (Specs/consensus.md §2): a validator that stops
/// leading during the epoch (jailed, tombstoned, unbonded below its stake here) is marked `removed`, not deleted, so
/// that only the slots drawn for it are drawn again and no other slot of the epoch moves (eighteenth-session audit: a
/// deletion shifted every cumulative stake, and a coalition choosing which of its keys to remove chose among that many
/// schedules for the rest of an epoch whose seed it knew).
public struct ValidatorSnapshot: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var key: PublicKey
        public var stake: Amount
        /// Marked when the validator left this set; its stake still counts in the draw (a draw that lands on it
        /// draws again), and in nothing else.
        public var removed: Bool
        public init(key: PublicKey, stake: Amount, removed: Bool = false) {
            self.key = key; self.stake = stake; self.removed = removed
        }
    }
    public var epoch: UInt64
    public var seed: Hash32
    /// Every validator the set was taken with, removed ones included, in ascending key order.
    public var entries: [Entry]

    public init(epoch: UInt64, seed: Hash32, entries: [Entry]) {
        self.epoch = epoch; self.seed = seed; self.entries = entries
    }

    /// A set none of whose validators is removed.
    public init(epoch: UInt64, seed: Hash32, validators: [Entry]) {
        self.init(epoch: epoch, seed: seed, entries: validators)
    }

    /// The validators still in the set (not removed), in ascending key order: who may lead, vote and be counted.
    public var validators: [Entry] { entries.filter { !$0.removed } }

    /// Whether `key` is in the set and not removed.
    public func holds(_ key: PublicKey) -> Bool { entries.contains { $0.key == key && !$0.removed } }

    /// The stake `key` is held with, when it is in the set and not removed.
    public func stake(of key: PublicKey) -> Amount? { entries.first { $0.key == key && !$0.removed }?.stake }

    /// The stake of the validators still in the set.
    public var totalStake: UInt64 { entries.reduce(0) { $1.removed ? $0 : $0 &+ $1.stake.units } }

    /// Marks `key` removed. Returns false, changing nothing, when it is not in the set (or already removed) or is
    /// the last validator left: a set keeps at least one.
    public mutating func remove(_ key: PublicKey) -> Bool {
        guard let i = entries.firstIndex(where: { $0.key == key && !$0.removed }),
              entries.lazy.filter({ !$0.removed }).count > 1 else { return false }
        entries[i].removed = true
        return true
    }
}

// MARK: - Encoding

extension Account: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(balance); w.u64(nonce) }
    public init(from r: inout CanonicalReader) throws(CodecError) { balance = try r.decode(Amount.self); nonce = try r.u64("nonce") }
}

extension StakerStatus: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .active: w.u8(0)
        case .jailed(let until): w.u8(1); w.u64(until)
        case .tombstoned: w.u8(2)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("stakerStatus") {
        case 0: self = .active
        case 1: self = .jailed(until: try r.u64("jailedUntil"))
        case 2: self = .tombstoned
        case let t: throw r.unknownTag("stakerStatus", t, at: at)
        }
    }
}

extension Staker: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(stake); w.encode(status); w.hash(randaoCommitment); w.u64(since)
        w.optional(pendingRandao) { w, p in w.hash(p.commitment); w.u64(p.epoch) }
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        stake = try r.decode(Amount.self); status = try r.decode(StakerStatus.self)
        randaoCommitment = try r.hash("randaoCommitment"); since = try r.u64("since")
        pendingRandao = try r.optional("pendingRandao") { (r: inout CanonicalReader) throws(CodecError) in
            PendingRandao(commitment: try r.hash("pendingCommitment"), epoch: try r.u64("pendingEpoch"))
        }
    }
}

extension UnbondingEntry: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(amount); w.u64(createdHeight); w.u64(matureHeight) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        amount = try r.decode(Amount.self); createdHeight = try r.u64("createdHeight"); matureHeight = try r.u64("matureHeight")
    }
}

extension EscrowStatus: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .open: w.u8(0)
        case .unlocking(let until): w.u8(1); w.u64(until)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("escrowStatus") {
        case 0: self = .open
        case 1: self = .unlocking(until: try r.u64("unlockHeight"))
        case let t: throw r.unknownTag("escrowStatus", t, at: at)
        }
    }
}

extension Escrow: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(owner); w.u32(pool); w.encode(balance); w.encode(allocated); w.u64(expiryHeight); w.u64(openedHeight)
        w.encode(totalCharged); w.encode(shortfall); w.encode(status)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        owner = try r.decode(PublicKey.self); pool = try r.u32("pool"); balance = try r.decode(Amount.self)
        allocated = try r.decode(Amount.self); expiryHeight = try r.u64("expiryHeight"); openedHeight = try r.u64("openedHeight")
        totalCharged = try r.decode(Amount.self); shortfall = try r.decode(Amount.self); status = try r.decode(EscrowStatus.self)
    }
}

extension Allocation: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(remaining); w.encode(charged) }
    public init(from r: inout CanonicalReader) throws(CodecError) { remaining = try r.decode(Amount.self); charged = try r.decode(Amount.self) }
}

extension VoucherCounters: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.u64(inputTokens); w.u64(outputTokens) }
    public init(from r: inout CanonicalReader) throws(CodecError) { inputTokens = try r.u64("inputTokens"); outputTokens = try r.u64("outputTokens") }
}

extension WindowRecord: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u8(status.rawValue); w.encode(earned); w.encode(feesBurned); w.u64(commitments); w.u64(tickets)
        w.u64(pendingAdjudications); w.encode(paid); w.encode(refunded); w.u64(unpaidWorkers)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        guard let s = WindowStatus(rawValue: try r.u8("windowStatus")) else { throw r.invalid("windowStatus", "unknown status", at: at) }
        status = s
        earned = try r.decode(Amount.self); feesBurned = try r.decode(Amount.self); commitments = try r.u64("commitments")
        tickets = try r.u64("tickets"); pendingAdjudications = try r.u64("pendingAdjudications")
        paid = try r.decode(Amount.self); refunded = try r.decode(Amount.self); unpaidWorkers = try r.u64("unpaidWorkers")
    }
}

extension ShardWork: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(shard); w.u64(paidTokens); w.encode(earned); w.u64(committedTokens); w.u32(commitments)
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        shard = try r.u32("shard"); paidTokens = try r.u64("paidTokens"); earned = try r.decode(Amount.self)
        committedTokens = try r.u64("committedTokens"); commitments = try r.u32("commitments")
    }
}

extension WorkRecord: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.list(shards); w.u32(payers); w.encode(minCommitStake); w.encode(checkDeposit); w.list(commitmentIds)
    }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        shards = try r.list("shards", max: 256, of: ShardWork.self); payers = try r.u32("payers")
        minCommitStake = try r.decode(Amount.self); checkDeposit = try r.decode(Amount.self)
        commitmentIds = try r.list("commitmentIds", max: IdQueue.maxIds, of: Hash32.self)
    }
}

/// A height's queue of ids, ascending (Specs/state-machine.md §1): the commitments a block included, drawn at its
/// selection height, and the tickets drawn with a reveal deadline at that height. One record per height instead of
/// an entry per id: a block writes it once, and the step that consumes it deletes it once.
public struct IdQueue: Hashable, Sendable {
    /// A decoding bound far above any block's ids (`maxCommitmentsPerBlock × maxTicketsPerCommitment` per pool).
    public static let maxIds = 1 << 20
    public var ids: [Hash32]
    public init(_ ids: [Hash32]) { self.ids = ids }
}

extension IdQueue: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.list(ids) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        ids = try r.list("ids", max: Self.maxIds, minElementSize: 32) { (r: inout CanonicalReader) throws(CodecError) -> Hash32 in
            try r.decode(Hash32.self)
        }
    }
}

/// A height's state keys to delete (`2D`), ascending and distinct: one record per height instead of an entry per key.
public struct KeyQueue: Hashable, Sendable {
    public var keys: [[UInt8]]
    public init(_ keys: [[UInt8]]) { self.keys = keys }
}

extension KeyQueue: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.list(keys) { w, key in w.bytes(key) } }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        keys = try r.list("keys", max: IdQueue.maxIds, minElementSize: 2) { (r: inout CanonicalReader) throws(CodecError) -> [UInt8] in
            try r.bytes("key", max: 1024)
        }
    }
}

extension PayerLane: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(owner); w.encode(amount); w.list(counters) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        owner = try r.decode(PublicKey.self); amount = try r.decode(Amount.self)
        counters = try r.list("counters", max: 256, of: ShardCounters.self)
    }
}

extension ShardCounters: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.u32(shard); w.u64(inputTokens); w.u64(outputTokens); w.encode(net) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        shard = try r.u32("shard"); inputTokens = try r.u64("inputTokens"); outputTokens = try r.u64("outputTokens")
        net = try r.decode(Amount.self)
    }
}

extension PayoutRecord: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(paid); w.encode(refunded); w.u64(height) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        paid = try r.decode(Amount.self); refunded = try r.decode(Amount.self); height = try r.u64("height")
    }
}

extension Commitment: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(worker); w.u32(pool); w.u64(window); w.u32(shard); w.u32(leafCount); w.u64(tokenTotal); w.hash(root)
        w.u64(includedHeight); w.u64(selectionHeight); w.u32(samples); w.u32(voided)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        worker = try r.decode(PublicKey.self); pool = try r.u32("pool"); window = try r.u64("window")
        shard = try r.u32("shard"); leafCount = try r.u32("leafCount"); tokenTotal = try r.u64("tokenTotal")
        root = try r.hash("root"); includedHeight = try r.u64("includedHeight"); selectionHeight = try r.u64("selectionHeight")
        samples = try r.u32("samples"); voided = try r.u32("voided")
    }
}

extension Ticket: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(commitmentId); w.u32(sample); w.u64(point); w.encode(worker); w.u32(pool); w.u64(window); w.u32(shard)
        w.u8(status.rawValue); w.u64(selectedHeight); w.u64(revealDeadline); w.optional(leaf) { $0.encode($1) }
        w.u64(revealedHeight); w.hash(revealTx); w.u64(challengeEnd)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        commitmentId = try r.hash("commitmentId"); sample = try r.u32("sample"); point = try r.u64("point")
        worker = try r.decode(PublicKey.self); pool = try r.u32("pool"); window = try r.u64("window"); shard = try r.u32("shard")
        let at = r.offset
        guard let s = TicketStatus(rawValue: try r.u8("ticketStatus")) else { throw r.invalid("ticketStatus", "unknown status", at: at) }
        status = s
        selectedHeight = try r.u64("selectedHeight"); revealDeadline = try r.u64("revealDeadline")
        leaf = try r.optional("leaf") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(PassLeaf.self) }
        revealedHeight = try r.u64("revealedHeight"); revealTx = try r.hash("revealTx"); challengeEnd = try r.u64("challengeEnd")
    }
}

extension HopChallenge: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(challenger); w.u32(shard); w.hash(contentKey); w.hash(outputHash); w.u32(tokenCount); w.encode(bond)
        w.u64(height); w.u64(deadline); w.u8(status.rawValue); w.hash(ticketId)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        challenger = try r.decode(PublicKey.self); shard = try r.u32("shard"); contentKey = try r.hash("contentKey")
        outputHash = try r.hash("outputHash"); tokenCount = try r.u32("tokenCount"); bond = try r.decode(Amount.self)
        height = try r.u64("height"); deadline = try r.u64("deadline")
        let at = r.offset
        guard let s = HopChallengeStatus(rawValue: try r.u8("hopChallengeStatus")) else {
            throw r.invalid("hopChallengeStatus", "unknown status", at: at)
        }
        status = s
        ticketId = try r.hash("ticketId")
    }
}

extension RevealedPass: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(worker); w.hash(commitmentId); w.u64(height); w.hash(outputHash) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        worker = try r.decode(PublicKey.self); commitmentId = try r.hash("commitmentId"); height = try r.u64("height")
        outputHash = try r.hash("outputHash")
    }
}

extension FraudCommitment: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(prover); w.u32(pool); w.u64(height); w.encode(bond) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        prover = try r.decode(PublicKey.self); pool = try r.u32("pool"); height = try r.u64("height"); bond = try r.decode(Amount.self)
    }
}

extension FraudClaim: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(prover); w.u64(commitHeight); w.encode(bond) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        prover = try r.decode(PublicKey.self); commitHeight = try r.u64("commitHeight"); bond = try r.decode(Amount.self)
    }
}

extension FraudCase: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(ticketId); w.encode(worker); w.u32(pool); w.u64(window); w.u8(status.rawValue); w.u64(openedHeight)
        w.u64(adjudicatedHeight); w.hash(canonicalOutputHash); w.encode(slashed); w.encode(bounty); w.encode(winner)
        w.u64(winnerCommitHeight); w.hash(winnerClaim); w.encode(winnerBond); w.encode(bondsBurned); w.u32(claims)
        w.u64(finalHeight)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        ticketId = try r.hash("ticketId"); worker = try r.decode(PublicKey.self); pool = try r.u32("pool")
        window = try r.u64("window")
        let at = r.offset
        guard let s = FraudCaseStatus(rawValue: try r.u8("caseStatus")) else { throw r.invalid("caseStatus", "unknown status", at: at) }
        status = s
        openedHeight = try r.u64("openedHeight"); adjudicatedHeight = try r.u64("adjudicatedHeight")
        canonicalOutputHash = try r.hash("canonicalOutputHash"); slashed = try r.decode(Amount.self)
        bounty = try r.decode(Amount.self); winner = try r.decode(PublicKey.self); winnerCommitHeight = try r.u64("winnerCommitHeight")
        winnerClaim = try r.hash("winnerClaim"); winnerBond = try r.decode(Amount.self); bondsBurned = try r.decode(Amount.self)
        claims = try r.u32("claims"); finalHeight = try r.u64("finalHeight")
    }
}

extension Liveness: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.u64(epoch); w.u64(led); w.u64(missed) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        epoch = try r.u64("epoch"); led = try r.u64("led"); missed = try r.u64("missed")
    }
}

extension ValidatorSnapshot: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u64(epoch); w.hash(seed)
        w.list(entries) { w, e in w.encode(e.key); w.encode(e.stake); w.bool(e.removed) }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        epoch = try r.u64("epoch"); seed = try r.hash("seed")
        entries = try r.list("validators", max: 100_000, minElementSize: 41) { (r: inout CanonicalReader) throws(CodecError) in
            Entry(key: try r.decode(PublicKey.self), stake: try r.decode(Amount.self), removed: try r.bool("removed"))
        }
    }
}

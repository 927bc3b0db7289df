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

    public init(stake: Amount, status: StakerStatus = .active, randaoCommitment: Hash32 = .zero, since: UInt64) {
        self.stake = stake; self.status = status; self.randaoCommitment = randaoCommitment; self.since = since
    }

    /// Active in its role: not jailed or tombstoned, and at least the minimum stake.
    public func isActive(minimum: Amount) -> Bool {
        status == .active && stake >= minimum
    }
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

/// A client's deposit for one pool.
public struct Escrow: Hashable, Sendable {
    public var owner: PublicKey
    public var pool: UInt32
    public var balance: Amount
    public var expiryHeight: UInt64
    public var openedHeight: UInt64
    /// Cumulative tokens of the last claimed voucher.
    public var claimedInputTokens: UInt64
    public var claimedOutputTokens: UInt64
    /// Total charged into pool revenue.
    public var totalCharged: Amount
    /// Charges that exceeded the balance (recorded, never paid).
    public var shortfall: Amount
    public var closed: Bool

    public init(owner: PublicKey, pool: UInt32, balance: Amount, expiryHeight: UInt64, openedHeight: UInt64,
                claimedInputTokens: UInt64 = 0, claimedOutputTokens: UInt64 = 0, totalCharged: Amount = .zero,
                shortfall: Amount = .zero, closed: Bool = false) {
        self.owner = owner; self.pool = pool; self.balance = balance; self.expiryHeight = expiryHeight
        self.openedHeight = openedHeight; self.claimedInputTokens = claimedInputTokens
        self.claimedOutputTokens = claimedOutputTokens; self.totalCharged = totalCharged
        self.shortfall = shortfall; self.closed = closed
    }
}

/// Lifecycle of a settlement window.
public enum WindowStatus: UInt8, Hashable, Sendable {
    /// Accepting revenue and share commitments.
    case open = 0
    /// Revenue fixed; in its challenge period.
    case closed = 1
    /// Paid out (or carried forward).
    case settled = 2
}

/// One pool's settlement window.
public struct WindowRecord: Hashable, Sendable {
    public var status: WindowStatus
    /// Usage charged during the window.
    public var revenue: Amount
    /// Revenue carried in from earlier windows without eligible shares.
    public var carriedIn: Amount
    /// Weighted shares committed in the window.
    public var totalShares: UInt64
    public var commitments: UInt64
    /// Filled at settlement.
    public var protocolShare: Amount
    public var workerShare: Amount
    /// Revenue passed on to the next window (no eligible shares).
    public var carriedOut: Amount
    /// Weighted shares that counted at settlement (after forfeitures; PPLNS: the lookback total).
    public var eligibleShares: UInt64

    public init(status: WindowStatus = .open, revenue: Amount = .zero, carriedIn: Amount = .zero, totalShares: UInt64 = 0,
                commitments: UInt64 = 0, protocolShare: Amount = .zero, workerShare: Amount = .zero,
                carriedOut: Amount = .zero, eligibleShares: UInt64 = 0) {
        self.status = status; self.revenue = revenue; self.carriedIn = carriedIn; self.totalShares = totalShares
        self.commitments = commitments; self.protocolShare = protocolShare; self.workerShare = workerShare
        self.carriedOut = carriedOut; self.eligibleShares = eligibleShares
    }

    /// Revenue held by the window until settlement.
    public var held: Amount {
        status == .settled ? .zero : Amount(revenue.units &+ carriedIn.units)
    }
}

/// A worker's batch of passes in one window.
public struct Commitment: Hashable, Sendable {
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var shard: UInt32
    public var passCount: UInt32
    public var tokenCount: UInt64
    public var weightedShares: UInt64
    public var passRoot: Hash32
    public var includedHeight: UInt64
    /// Height whose RANDAO mix selects the tickets.
    public var selectionHeight: UInt64
    /// Tickets selected (set at selection).
    public var selectedCount: UInt32
    public var selectionDone: Bool

    public init(worker: PublicKey, pool: UInt32, window: UInt64, shard: UInt32, passCount: UInt32, tokenCount: UInt64,
                weightedShares: UInt64, passRoot: Hash32, includedHeight: UInt64, selectionHeight: UInt64,
                selectedCount: UInt32 = 0, selectionDone: Bool = false) {
        self.worker = worker; self.pool = pool; self.window = window; self.shard = shard; self.passCount = passCount
        self.tokenCount = tokenCount; self.weightedShares = weightedShares; self.passRoot = passRoot
        self.includedHeight = includedHeight; self.selectionHeight = selectionHeight
        self.selectedCount = selectedCount; self.selectionDone = selectionDone
    }
}

/// Lifecycle of a spot-check ticket.
public enum TicketStatus: UInt8, Hashable, Sendable, CaseIterable {
    case awaitingReveal = 0
    case revealed = 1
    /// Not revealed by the deadline; the worker was slashed.
    case withheld = 2
    /// A fraud proof showed the committed output wrong.
    case fraudProven = 3
    /// A fraud proof failed: the committed output is the canonical one.
    case upheld = 4
    /// Revealed and never challenged before the challenge period ended.
    case unchallenged = 5
}

/// A pass selected for a spot check.
public struct Ticket: Hashable, Sendable {
    public var commitmentId: Hash32
    public var passIndex: UInt32
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var status: TicketStatus
    public var selectedHeight: UInt64
    public var revealDeadline: UInt64
    /// Set on reveal.
    public var leaf: PassLeaf?
    public var revealedHeight: UInt64
    /// Last height a fraud proof may be included.
    public var challengeEnd: UInt64

    public init(commitmentId: Hash32, passIndex: UInt32, worker: PublicKey, pool: UInt32, window: UInt64,
                status: TicketStatus, selectedHeight: UInt64, revealDeadline: UInt64, leaf: PassLeaf? = nil,
                revealedHeight: UInt64 = 0, challengeEnd: UInt64 = 0) {
        self.commitmentId = commitmentId; self.passIndex = passIndex; self.worker = worker; self.pool = pool
        self.window = window; self.status = status; self.selectedHeight = selectedHeight
        self.revealDeadline = revealDeadline; self.leaf = leaf; self.revealedHeight = revealedHeight
        self.challengeEnd = challengeEnd
    }
}

/// The adjudication of a fraud proof.
public struct FraudCase: Hashable, Sendable {
    public var ticketId: Hash32
    public var prover: PublicKey
    public var worker: PublicKey
    public var pool: UInt32
    public var height: UInt64
    public var fraud: Bool
    /// The canonical output hash the validators computed, or zero when the input or output was invalid.
    public var canonicalOutputHash: Hash32
    public var slashed: Amount
    public var bounty: Amount
    public var bondBurned: Amount

    public init(ticketId: Hash32, prover: PublicKey, worker: PublicKey, pool: UInt32, height: UInt64, fraud: Bool,
                canonicalOutputHash: Hash32, slashed: Amount, bounty: Amount, bondBurned: Amount) {
        self.ticketId = ticketId; self.prover = prover; self.worker = worker; self.pool = pool; self.height = height
        self.fraud = fraud; self.canonicalOutputHash = canonicalOutputHash; self.slashed = slashed
        self.bounty = bounty; self.bondBurned = bondBurned
    }
}

/// A worker's weighted shares and commitment count in one window of one pool.
public struct ShareTally: Hashable, Sendable {
    public var shares: UInt64
    public var commitments: UInt32
    public init(shares: UInt64 = 0, commitments: UInt32 = 0) { self.shares = shares; self.commitments = commitments }
}

/// Per-validator slot accounting for the current epoch.
public struct Liveness: Hashable, Sendable {
    public var epoch: UInt64
    public var led: UInt64
    public var missed: UInt64
    public init(epoch: UInt64, led: UInt64 = 0, missed: UInt64 = 0) { self.epoch = epoch; self.led = led; self.missed = missed }
}

/// The validator set and seed one epoch's leader schedule is drawn from.
public struct ValidatorSnapshot: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var key: PublicKey
        public var stake: Amount
        public init(key: PublicKey, stake: Amount) { self.key = key; self.stake = stake }
    }
    public var epoch: UInt64
    public var seed: Hash32
    /// Active validators in ascending key order.
    public var validators: [Entry]

    public init(epoch: UInt64, seed: Hash32, validators: [Entry]) {
        self.epoch = epoch; self.seed = seed; self.validators = validators
    }

    public var totalStake: UInt64 { validators.reduce(0) { $0 &+ $1.stake.units } }
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
    public func encode(to w: inout CanonicalWriter) { w.encode(stake); w.encode(status); w.hash(randaoCommitment); w.u64(since) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        stake = try r.decode(Amount.self); status = try r.decode(StakerStatus.self)
        randaoCommitment = try r.hash("randaoCommitment"); since = try r.u64("since")
    }
}

extension UnbondingEntry: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.encode(amount); w.u64(createdHeight); w.u64(matureHeight) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        amount = try r.decode(Amount.self); createdHeight = try r.u64("createdHeight"); matureHeight = try r.u64("matureHeight")
    }
}

extension Escrow: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(owner); w.u32(pool); w.encode(balance); w.u64(expiryHeight); w.u64(openedHeight)
        w.u64(claimedInputTokens); w.u64(claimedOutputTokens); w.encode(totalCharged); w.encode(shortfall); w.bool(closed)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        owner = try r.decode(PublicKey.self); pool = try r.u32("pool"); balance = try r.decode(Amount.self)
        expiryHeight = try r.u64("expiryHeight"); openedHeight = try r.u64("openedHeight")
        claimedInputTokens = try r.u64("claimedInputTokens"); claimedOutputTokens = try r.u64("claimedOutputTokens")
        totalCharged = try r.decode(Amount.self); shortfall = try r.decode(Amount.self); closed = try r.bool("closed")
    }
}

extension WindowRecord: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u8(status.rawValue); w.encode(revenue); w.encode(carriedIn); w.u64(totalShares); w.u64(commitments)
        w.encode(protocolShare); w.encode(workerShare); w.encode(carriedOut); w.u64(eligibleShares)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        guard let s = WindowStatus(rawValue: try r.u8("windowStatus")) else { throw r.invalid("windowStatus", "unknown status", at: at) }
        status = s
        revenue = try r.decode(Amount.self); carriedIn = try r.decode(Amount.self); totalShares = try r.u64("totalShares")
        commitments = try r.u64("commitments"); protocolShare = try r.decode(Amount.self)
        workerShare = try r.decode(Amount.self); carriedOut = try r.decode(Amount.self); eligibleShares = try r.u64("eligibleShares")
    }
}

extension Commitment: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(worker); w.u32(pool); w.u64(window); w.u32(shard); w.u32(passCount); w.u64(tokenCount)
        w.u64(weightedShares); w.hash(passRoot); w.u64(includedHeight); w.u64(selectionHeight)
        w.u32(selectedCount); w.bool(selectionDone)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        worker = try r.decode(PublicKey.self); pool = try r.u32("pool"); window = try r.u64("window")
        shard = try r.u32("shard"); passCount = try r.u32("passCount"); tokenCount = try r.u64("tokenCount")
        weightedShares = try r.u64("weightedShares"); passRoot = try r.hash("passRoot")
        includedHeight = try r.u64("includedHeight"); selectionHeight = try r.u64("selectionHeight")
        selectedCount = try r.u32("selectedCount"); selectionDone = try r.bool("selectionDone")
    }
}

extension Ticket: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(commitmentId); w.u32(passIndex); w.encode(worker); w.u32(pool); w.u64(window); w.u8(status.rawValue)
        w.u64(selectedHeight); w.u64(revealDeadline); w.optional(leaf) { $0.encode($1) }
        w.u64(revealedHeight); w.u64(challengeEnd)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        commitmentId = try r.hash("commitmentId"); passIndex = try r.u32("passIndex"); worker = try r.decode(PublicKey.self)
        pool = try r.u32("pool"); window = try r.u64("window")
        let at = r.offset
        guard let s = TicketStatus(rawValue: try r.u8("ticketStatus")) else { throw r.invalid("ticketStatus", "unknown status", at: at) }
        status = s
        selectedHeight = try r.u64("selectedHeight"); revealDeadline = try r.u64("revealDeadline")
        leaf = try r.optional("leaf") { (r: inout CanonicalReader) throws(CodecError) in try r.decode(PassLeaf.self) }
        revealedHeight = try r.u64("revealedHeight"); challengeEnd = try r.u64("challengeEnd")
    }
}

extension FraudCase: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.hash(ticketId); w.encode(prover); w.encode(worker); w.u32(pool); w.u64(height); w.bool(fraud)
        w.hash(canonicalOutputHash); w.encode(slashed); w.encode(bounty); w.encode(bondBurned)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        ticketId = try r.hash("ticketId"); prover = try r.decode(PublicKey.self); worker = try r.decode(PublicKey.self)
        pool = try r.u32("pool"); height = try r.u64("height"); fraud = try r.bool("fraud")
        canonicalOutputHash = try r.hash("canonicalOutputHash"); slashed = try r.decode(Amount.self)
        bounty = try r.decode(Amount.self); bondBurned = try r.decode(Amount.self)
    }
}

extension ShareTally: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.u64(shares); w.u32(commitments) }
    public init(from r: inout CanonicalReader) throws(CodecError) { shares = try r.u64("shares"); commitments = try r.u32("commitments") }
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
        w.list(validators) { w, e in w.encode(e.key); w.encode(e.stake) }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        epoch = try r.u64("epoch"); seed = try r.hash("seed")
        validators = try r.list("validators", max: 100_000, minElementSize: 40) { (r: inout CanonicalReader) throws(CodecError) in
            Entry(key: try r.decode(PublicKey.self), stake: try r.decode(Amount.self))
        }
    }
}

import Primitives
import Sealing

/// A pool's assigned, paid checkers (protocol 4, Specs/verification.md §1). Present only in pools that use them;
/// without it a pool keeps protocol 3's public reveals.
public struct CheckingConfig: Hashable, Sendable {
    /// Checkers assigned per ticket (`k`, 1...16).
    public var checkersPerTicket: UInt32
    /// Minimum bonded stake of an assignable checker.
    public var checkerMinStake: Amount
    /// Registered checkers of the pool (bounds the per-block assignment table).
    public var maxCheckers: UInt32
    /// A checker is assignable only this many blocks after registering, so nobody registers into a known beacon.
    public var checkerActivationBlocks: UInt64
    /// Paid to each checker whose answer is right, per ticket, from the worker's window revenue before its payout.
    public var checkFee: Amount
    /// `A`: checkers commit their answers in the `A` blocks after the reveal.
    public var answerCommitBlocks: UInt64
    /// `U`: the worker unblinds its output in the `U` blocks after the commit phase.
    public var unblindBlocks: UInt64
    /// `V`: checkers reveal their answers by `r + A + U + V`.
    public var answerRevealBlocks: UInt64
    /// `P`: after a dispute opens, the worker publishes the envelope's ephemeral key within `P` blocks.
    public var disputeInputBlocks: UInt64
    /// Slash of a checker that does not commit or reveal (burned).
    public var checkerAbsentSlashBps: BasisPoints
    /// An absent checker is not assigned for this many blocks.
    public var checkerBenchBlocks: UInt64
    /// Slash of a checker whose mismatch the replay refutes (`verifierBountyBps` of it to the worker).
    public var checkerFalseAlarmSlashBps: BasisPoints
    /// Slash of a checker whose answer equals an output the replay proves false (burned).
    public var checkerCollusionSlashBps: BasisPoints
    /// Assumed honest share of checker stake `h`, for the deterrence bound's `v_min` (§6).
    public var checkerHonestStakeBps: BasisPoints

    public init(checkersPerTicket: UInt32 = 3, checkerMinStake: Amount = 1_000, maxCheckers: UInt32 = 1_024,
                checkerActivationBlocks: UInt64 = 360, checkFee: Amount = 50, answerCommitBlocks: UInt64 = 6,
                unblindBlocks: UInt64 = 3, answerRevealBlocks: UInt64 = 3, disputeInputBlocks: UInt64 = 4,
                checkerAbsentSlashBps: BasisPoints = 10, checkerBenchBlocks: UInt64 = 360,
                checkerFalseAlarmSlashBps: BasisPoints = 1_000, checkerCollusionSlashBps: BasisPoints = 5_000,
                checkerHonestStakeBps: BasisPoints = 5_000) {
        self.checkersPerTicket = checkersPerTicket; self.checkerMinStake = checkerMinStake; self.maxCheckers = maxCheckers
        self.checkerActivationBlocks = checkerActivationBlocks; self.checkFee = checkFee
        self.answerCommitBlocks = answerCommitBlocks; self.unblindBlocks = unblindBlocks
        self.answerRevealBlocks = answerRevealBlocks; self.disputeInputBlocks = disputeInputBlocks
        self.checkerAbsentSlashBps = checkerAbsentSlashBps; self.checkerBenchBlocks = checkerBenchBlocks
        self.checkerFalseAlarmSlashBps = checkerFalseAlarmSlashBps; self.checkerCollusionSlashBps = checkerCollusionSlashBps
        self.checkerHonestStakeBps = checkerHonestStakeBps
    }

    /// Blocks from a sealed reveal to its resolution: `A + U + V`.
    public var resolutionDelay: UInt64 { answerCommitBlocks &+ unblindBlocks &+ answerRevealBlocks }

    /// `v_min` in basis points, rounded down (§6): `q₁ = 10 000 − h`, `q_{j+1} = ⌈q_j·(10 000 − h)/10 000⌉`,
    /// `v_min = 10 000 − q_k`. Rounding `q` up at every step only lowers `v_min`, so the bound stays safe, and
    /// no intermediate exceeds 10 000² (a closed form would need 10 000^k).
    public var minReplayProbabilityBps: BasisPoints {
        let dishonest = UInt64(10_000 - min(checkerHonestStakeBps, 10_000))
        var q = dishonest
        if checkersPerTicket > 1 {
            for _ in 1..<checkersPerTicket { q = (q * dishonest + 9_999) / 10_000 }
        }
        return BasisPoints(10_000 - q)
    }
}

/// A registered checker of a pool.
public struct CheckerRecord: Hashable, Sendable {
    /// The X25519 public key reveals are sealed to.
    public var sealingKey: Hash32
    public var registeredHeight: UInt64
    /// Not assigned at heights up to and including this one (set when it was absent).
    public var benchedUntil: UInt64
    public init(sealingKey: Hash32, registeredHeight: UInt64, benchedUntil: UInt64 = 0) {
        self.sealingKey = sealingKey; self.registeredHeight = registeredHeight; self.benchedUntil = benchedUntil
    }
}

/// Where a sealed ticket's check stands (Specs/verification.md §4).
public enum CheckStatus: UInt8, Hashable, Sendable, CaseIterable {
    /// Checkers drawn; the worker has not revealed yet.
    case assigned = 0
    /// Revealed sealed: in the commit, unblind and reveal phases.
    case checking = 1
    /// Every revealed answer matched the unblinded output.
    case passed = 2
    /// A revealed answer differed: waiting for the worker's ephemeral key.
    case disputed = 3
    /// The key opened the envelope to the input: queued for the validators' replay.
    case replaying = 4
    /// The replay proved the worker's output false.
    case fraud = 5
    /// The replay confirmed the worker's output: the dissenting checkers raised a false alarm.
    case upheld = 6
    /// The worker failed without a replay: no unblinding, no key, or an envelope that does not open to the input.
    case failed = 7
}

/// Why a worker failed its sealed check without a replay.
public enum SealedCheckFailure: UInt8, Hashable, Sendable {
    case notUnblinded = 0
    case sealKeyWithheld = 1
    case badEnvelope = 2
}

/// One assigned checker of a ticket and its answer.
public struct CheckerSlot: Hashable, Sendable {
    public var checker: PublicKey
    public var sealingKey: Hash32
    /// `H_check(ticketId ‖ checker ‖ answer ‖ nonce)`, zero until committed.
    public var commitment: Hash32
    /// The revealed answer (an output hash, or `badInputAnswer`), nil until revealed.
    public var answer: Hash32?
    public init(checker: PublicKey, sealingKey: Hash32, commitment: Hash32 = .zero, answer: Hash32? = nil) {
        self.checker = checker; self.sealingKey = sealingKey; self.commitment = commitment; self.answer = answer
    }
}

/// A sealed ticket's checkers and check phases.
public struct SealedCheck: Hashable, Sendable {
    public var status: CheckStatus
    /// In assignment order: the envelope's recipients, in this order.
    public var slots: [CheckerSlot]
    /// Height of the sealed reveal (`r`), zero before it.
    public var revealHeight: UInt64
    /// The worker's unblinded output hash.
    public var unblinded: Hash32?
    /// Last height for the dispute key, zero without a dispute.
    public var keyDeadline: UInt64

    public init(status: CheckStatus = .assigned, slots: [CheckerSlot], revealHeight: UInt64 = 0, unblinded: Hash32? = nil,
                keyDeadline: UInt64 = 0) {
        self.status = status; self.slots = slots; self.revealHeight = revealHeight; self.unblinded = unblinded
        self.keyDeadline = keyDeadline
    }
}

extension LedgerIds {
    /// `H_id(0x15 ‖ ticketId ‖ checker)`: the id of a checker's offence on one ticket (absence, false alarm,
    /// collusion: at most one of them per ticket and checker).
    public static func checkerOffence(ticket: Hash32, checker: PublicKey) -> Hash32 {
        var w = CanonicalWriter(); w.u8(0x15); w.hash(ticket); w.encode(checker)
        return Tags.id.hash(w.bytes)
    }
}

/// The assignable checkers of a pool at one height: key order, cumulative stake.
struct CheckerTable {
    var entries: [(key: PublicKey, sealingKey: Hash32, cumulative: UInt64)] = []
    var total: UInt64 { entries.last?.cumulative ?? 0 }

    /// The first entry whose cumulative stake exceeds `x` (`x < total`).
    func index(of x: UInt64) -> Int {
        var lo = 0, hi = entries.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if x < entries[mid].cumulative { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

extension Execution {
    // MARK: - Registry (§2)

    mutating func registerChecker(_ sender: PublicKey, pool poolId: UInt32, sealingKey: Hash32) throws(ExecError) {
        guard let pool = try poolConfig(poolId) else { throw .failed(.unknownPool) }
        guard let cfg = pool.checking else { throw .failed(.poolHasNoCheckers) }
        guard let staker = try state.staker(.checker(pool: poolId), sender) else { throw .failed(.notAChecker) }
        // Only a checker active with the minimum bonded may take a slot: every later fall below it (unbond, slash)
        // deregisters it, so "registered ⇒ at the minimum" holds, and a key that bonded and unbonded before
        // registering cannot hold a slot for good with nothing at stake (tenth review; verification.md §2).
        guard staker.isActive(minimum: cfg.checkerMinStake) else { throw .failed(.belowMinimumStake) }
        guard try !state.exists(StateKey.checker(poolId, sender)) else { throw .failed(.checkerAlreadyRegistered) }
        guard let key = try? CheckerPublicKey(bytes: sealingKey.bytes), key.isUsableRecipient else {
            throw .failed(.invalidSealingKey)
        }
        guard try !state.exists(StateKey.checkerBySealingKey(poolId, sealingKey)) else { throw .failed(.sealingKeyInUse) }
        let count = try state.record(StateKey.checkerCount(poolId), UInt64.self) ?? 0
        guard count < UInt64(cfg.maxCheckers) else { throw .failed(.checkerRegistryFull) }
        state.put(StateKey.checkerCount(poolId), count + 1)
        state.put(StateKey.checker(poolId, sender), CheckerRecord(sealingKey: sealingKey, registeredHeight: height))
        state.putRaw(StateKey.checkerBySealingKey(poolId, sealingKey), sender.bytes)
        txEvents.append(.checkerRegistered(pool: poolId, checker: sender, sealingKey: sealingKey))
    }

    /// The checkers assignable at this height (§2): registered at least `checkerActivationBlocks` ago, not benched,
    /// active with at least `checkerMinStake` bonded; weighted by bonded stake, in key order.
    func checkerTable(pool: UInt32, _ cfg: CheckingConfig) throws(ExecError) -> CheckerTable {
        var table = CheckerTable()
        var cumulative: UInt64 = 0
        for kv in try state.scan(StateKey.checkers(pool)) {
            guard let key = PublicKey(bytes: kv.key[5...]) else { throw .fault(LedgerFault("corrupt checker key \(kv.key.hex)")) }
            let record: CheckerRecord
            do { record = try CheckerRecord(canonicalEncoding: kv.value) } catch { throw .fault(LedgerFault("corrupt checker record")) }
            guard record.registeredHeight &+ cfg.checkerActivationBlocks <= height, record.benchedUntil < height,
                  let staker = try state.staker(.checker(pool: pool), key), staker.isActive(minimum: cfg.checkerMinStake)
            else { continue }
            // The supply fits in 64 bits, so the stake sum does too.
            cumulative &+= staker.stake.units
            table.entries.append((key, record.sealingKey, cumulative))
        }
        return table
    }

    /// Draws a ticket's checkers with the beacon that drew the ticket (§3): attempt `a` picks the entry holding
    /// `u64be(H_assign(beacon ‖ ticketId ‖ a u32)) mod total`; repeats and the worker's own key are skipped; the
    /// first `k` distinct picks of at most `4k` attempts are the checkers, in draw order.
    static func assignCheckers(table: CheckerTable, k: Int, beacon: Hash32, ticketId: Hash32, worker: PublicKey) -> [CheckerSlot] {
        guard table.total > 0 else { return [] }
        var slots = [CheckerSlot](), taken = Set<Int>()
        for attempt in 0..<UInt32(4 * k) where slots.count < k {
            var h = Tags.assign.hasher()
            h.update(beacon)
            h.update(ticketId)
            var le = attempt.littleEndian
            withUnsafeBytes(of: &le) { h.update($0) }
            let i = table.index(of: h.finalize().prefixUInt64 % table.total)
            let e = table.entries[i]
            guard e.key != worker, taken.insert(i).inserted else { continue }
            slots.append(CheckerSlot(checker: e.key, sealingKey: e.sealingKey))
        }
        return slots
    }

    // MARK: - Phases (§4)

    /// A sealed ticket's record with its ticket and pool; fails when the ticket has no checkers.
    mutating func sealedTicket(_ ticketId: Hash32) throws(ExecError) -> (Ticket, SealedCheck, PoolConfig, CheckingConfig) {
        guard try state.exists(StateKey.ticket(ticketId)) else { throw .failed(.unknownTicket) }
        guard let found = try queuedSealedTicket(ticketId) else { throw .failed(.ticketNotSealed) }
        return found
    }

    /// The same for end-block steps, where a queue entry whose ticket is gone is skipped: a missing record must not
    /// fail the block (a `.failed` error outside a transaction would).
    mutating func queuedSealedTicket(_ ticketId: Hash32) throws(ExecError) -> (Ticket, SealedCheck, PoolConfig, CheckingConfig)? {
        guard let ticket = try state.record(StateKey.ticket(ticketId), Ticket.self),
              let check = try state.record(StateKey.ticketCheck(ticketId), SealedCheck.self) else { return nil }
        guard let pool = try poolConfig(ticket.pool), let cfg = pool.checking else {
            throw .fault(LedgerFault("sealed ticket \(ticketId) in a pool without checkers"))
        }
        return (ticket, check, pool, cfg)
    }

    mutating func checkCommit(_ sender: PublicKey, ticketId: Hash32, commitment: Hash32) throws(ExecError) {
        var (_, check, _, cfg) = try sealedTicket(ticketId)
        guard let i = check.slots.firstIndex(where: { $0.checker == sender }) else { throw .failed(.notAssignedChecker) }
        guard check.status == .checking, height > check.revealHeight, height <= check.revealHeight &+ cfg.answerCommitBlocks
        else { throw .failed(.checkPhaseClosed) }
        guard check.slots[i].commitment == .zero else { throw .failed(.answerAlreadyCommitted) }
        guard commitment != .zero else { throw .failed(.invalidCheckCommitment) }
        check.slots[i].commitment = commitment
        state.put(StateKey.ticketCheck(ticketId), check)
        txEvents.append(.answerCommitted(ticketId: ticketId, checker: sender))
    }

    mutating func unblindOutput(_ sender: PublicKey, ticketId: Hash32, outputHash: Hash32, salt: Hash32) throws(ExecError) {
        var (ticket, check, _, cfg) = try sealedTicket(ticketId)
        guard sender == ticket.worker else { throw .failed(.notTicketWorker) }
        let opens = check.revealHeight &+ cfg.answerCommitBlocks
        guard check.status == .checking, height > opens, height <= opens &+ cfg.unblindBlocks else { throw .failed(.checkPhaseClosed) }
        guard check.unblinded == nil else { throw .failed(.outputAlreadyUnblinded) }
        guard let leaf = ticket.leaf else { throw .fault(LedgerFault("sealed ticket \(ticketId) revealed without a leaf")) }
        guard blindedOutputHash(outputHash, salt: salt) == leaf.outputHash else { throw .failed(.unblindMismatch) }
        check.unblinded = outputHash
        state.put(StateKey.ticketCheck(ticketId), check)
        txEvents.append(.outputUnblinded(ticketId: ticketId, outputHash: outputHash))
    }

    mutating func checkReveal(_ sender: PublicKey, ticketId: Hash32, answer: Hash32, nonce: Hash32, salt: Hash32?) throws(ExecError) {
        var (ticket, check, _, cfg) = try sealedTicket(ticketId)
        guard let i = check.slots.firstIndex(where: { $0.checker == sender }) else { throw .failed(.notAssignedChecker) }
        let opens = check.revealHeight &+ cfg.answerCommitBlocks
        guard check.status == .checking, height > opens, height <= check.revealHeight &+ cfg.resolutionDelay else {
            throw .failed(.checkPhaseClosed)
        }
        guard check.slots[i].commitment != .zero else { throw .failed(.answerNotCommitted) }
        guard check.slots[i].answer == nil else { throw .failed(.answerAlreadyRevealed) }
        guard checkCommitmentHash(ticketId: ticketId, checker: sender, answer: answer, nonce: nonce) == check.slots[i].commitment else {
            throw .failed(.checkCommitmentMismatch)
        }
        check.slots[i].answer = answer
        txEvents.append(.answerRevealed(ticketId: ticketId, checker: sender, answer: answer))
        // A salt that opens the leaf with this answer proves the answer is the worker's claimed output: the reveal
        // unblinds it, as the worker's own `unblindOutput` would. Any other salt changes nothing (the worker may
        // have blinded with a salt of its own), so a checker never loses its reveal over it.
        if let salt, check.unblinded == nil {
            guard let leaf = ticket.leaf else { throw .fault(LedgerFault("sealed ticket \(ticketId) revealed without a leaf")) }
            if blindedOutputHash(answer, salt: salt) == leaf.outputHash {
                check.unblinded = answer
                txEvents.append(.outputUnblinded(ticketId: ticketId, outputHash: answer))
            }
        }
        state.put(StateKey.ticketCheck(ticketId), check)
    }

    /// Resolves every sealed ticket whose answer-reveal phase ends at this block (§4 step 6).
    mutating func resolveChecks() throws(ExecError) {
        for kv in try state.scan(StateKey.checkResolutionQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key.suffix(32)) else { throw .fault(LedgerFault("corrupt check queue key")) }
            guard let queued = try queuedSealedTicket(id) else { continue }
            var (ticket, check) = (queued.0, queued.1)
            let (pool, cfg) = (queued.2, queued.3)
            guard check.status == .checking else { continue }
            // Checker offences are dated at the draw (the ticket's selection): unbonding after being drawn does not
            // take the stake out of the slash's reach.
            for i in check.slots.indices where check.slots[i].answer == nil {
                try penalizeAbsentChecker(ticketId: id, slot: check.slots[i], pool: pool.id, cfg, offenceHeight: ticket.selectedHeight)
            }
            let answered = check.slots.contains { $0.answer != nil }
            // Nobody opened the leaf and nobody answered: the worker fails at once. With answers, the ticket goes to a
            // dispute instead, whose replay settles every answer against the pass's output: a worker that saw a
            // dissent and so left its false output unopened cannot spare the colluder that attested it (§4 step 6).
            guard check.unblinded != nil || answered else {
                try failSealedCheck(id, &ticket, &check, pool, reason: .notUnblinded, into: .system)
                state.put(StateKey.ticketCheck(id), check)
                continue
            }
            // A pass needs at least one answer: a committee that stays silent (all absent) sends the ticket to a
            // dispute, so silence cannot stand in for collusion (Specs/verification.md §4 step 6).
            if let output = check.unblinded, answered, check.slots.allSatisfy({ $0.answer == nil || $0.answer == output }) {
                for i in check.slots.indices where check.slots[i].answer != nil {
                    try oweCheckFee(id, ticket, slot: i, check.slots[i].checker, cfg, into: .system)
                }
                check.status = .passed
                state.delete(StateKey.sealedInput(id))
                try releaseWindowHold(ticket)
                systemEvents.append(.checkPassed(ticketId: id, outputHash: output))
            } else {
                check.status = .disputed
                check.keyDeadline = height &+ cfg.disputeInputBlocks
                state.putRaw(StateKey.disputeDeadlineQueue(check.keyDeadline, id), [])
                systemEvents.append(.disputeOpened(ticketId: id, keyDeadline: check.keyDeadline))
            }
            state.put(StateKey.ticketCheck(id), check)
        }
    }

    /// A checker that unbonds below the pool's minimum leaves the registry (its slot and sealing key are freed), so
    /// a temporary bond cannot hold a registry slot for good (Specs/verification.md §2).
    mutating func deregisterIfUnderbonded(_ key: PublicKey, pool poolId: UInt32, stake: Amount) throws(ExecError) {
        guard let cfg = try poolConfig(poolId)?.checking, stake < cfg.checkerMinStake,
              let record = try state.record(StateKey.checker(poolId, key), CheckerRecord.self) else { return }
        state.delete(StateKey.checker(poolId, key))
        state.delete(StateKey.checkerBySealingKey(poolId, record.sealingKey))
        let count = try state.record(StateKey.checkerCount(poolId), UInt64.self) ?? 1
        state.put(StateKey.checkerCount(poolId), count &- 1)
    }

    /// An assigned checker that did not commit, or committed and did not reveal: slashed (burned) and benched.
    mutating func penalizeAbsentChecker(ticketId: Hash32, slot: CheckerSlot, pool: UInt32, _ cfg: CheckingConfig,
                                        offenceHeight: UInt64) throws(ExecError) {
        let slashed = try slash(slot.checker, role: .checker(pool: pool), bps: cfg.checkerAbsentSlashBps, offenceHeight: offenceHeight,
                                kind: .checkerAbsent, offenceId: LedgerIds.checkerOffence(ticket: ticketId, checker: slot.checker),
                                into: .system)
        try state.burn(slashed)
        let until = height &+ cfg.checkerBenchBlocks
        if var record = try state.record(StateKey.checker(pool, slot.checker), CheckerRecord.self) {
            record.benchedUntil = max(record.benchedUntil, until)
            state.put(StateKey.checker(pool, slot.checker), record)
        }
        systemEvents.append(.checkerAbsent(ticketId: ticketId, checker: slot.checker, benchedUntil: until))
    }

    /// Records a check fee the worker's window owes a checker (paid at the worker's payout, §5).
    mutating func oweCheckFee(_ ticketId: Hash32, _ ticket: Ticket, slot: Int, _ checker: PublicKey, _ cfg: CheckingConfig,
                              into target: EventTarget) throws(ExecError) {
        guard cfg.checkFee > .zero else { return }
        var w = CanonicalWriter(capacity: 40)
        w.encode(checker); w.encode(cfg.checkFee)
        state.putRaw(StateKey.checkFeeOwed(ticket.pool, ticket.window, ticket.worker, ticketId, UInt8(slot)), w.bytes)
        emit(target, .checkFeeOwed(ticketId: ticketId, checker: checker, amount: cfg.checkFee))
    }

    /// Takes one pending adjudication off the ticket's window, at a sealed check's end or a fraud case's verdict. Its
    /// record exists and holds one: the hold was added with the ticket, and the window is neither settled nor pruned
    /// while it is held (a missing one is a ledger bug, never wrapped around into an open window that never settles).
    mutating func releaseWindowHold(_ ticket: Ticket) throws(ExecError) {
        guard var window = try state.window(ticket.pool, ticket.window), window.pendingAdjudications > 0 else {
            throw .fault(LedgerFault("adjudication hold released on window \(ticket.window) of pool \(ticket.pool), which holds none"))
        }
        window.pendingAdjudications -= 1
        state.put(StateKey.window(ticket.pool, ticket.window), window)
    }

    /// The worker fails its sealed check without a replay (§4.1): convicted; checkers whose revealed answer
    /// differed from its output (every revealed answer, when it never unblinded) are owed their fee and share
    /// `verifierBountyBps` of the slash equally; the rest is burned.
    mutating func failSealedCheck(_ ticketId: Hash32, _ ticket: inout Ticket, _ check: inout SealedCheck, _ pool: PoolConfig,
                                  reason: SealedCheckFailure, into target: EventTarget) throws(ExecError) {
        guard let cfg = pool.checking,
              let c = try state.record(StateKey.commitment(ticket.commitmentId), Commitment.self) else {
            throw .fault(LedgerFault("sealed ticket \(ticketId) without a commitment"))
        }
        emit(target, .sealedCheckFailed(ticketId: ticketId, worker: ticket.worker, reason: reason))
        let slashed = try convict(ticket.worker, pool: pool, commitment: ticket.commitmentId, includedHeight: c.includedHeight,
                                  kind: .failedSealedCheck, into: target)
        var winners = [(Int, PublicKey)]()
        for (i, s) in check.slots.enumerated() {
            guard let answer = s.answer else { continue }
            if let output = check.unblinded {
                guard answer != output else { continue }
            } else {
                // Nothing unblinded and no replay: after a bad envelope only the bad-input answer is shown right; after
                // a withheld key none is (a dissenter earns by publishing the input, which replays it; a colluder's
                // answer to a hidden output must not be paid as a dissent).
                guard reason == .badEnvelope, answer == badInputAnswer else { continue }
            }
            winners.append((i, s.checker))
        }
        for (i, key) in winners { try oweCheckFee(ticketId, ticket, slot: i, key, cfg, into: target) }
        // A withheld key leaves the bounty to the replay: a dissenter earns it only by publishing the input it opened
        // (publishSealedInput), which also slashes the colluders; unpublished, it is burned (Specs/verification.md §4.1).
        let bounty = reason == .sealKeyWithheld ? Amount.zero : slashed.basisPoints(pool.verifierBountyBps)
        let paid = try payDisputeBounty(ticketId, bounty, to: winners.map(\.1), into: target)
        try state.burn(Amount(slashed.units - paid.units))
        ticket.status = .fraudProven
        state.put(StateKey.ticket(ticketId), ticket)
        check.status = .failed
        state.delete(StateKey.sealedInput(ticketId))
        try releaseWindowHold(ticket)
    }

    /// Splits `bounty` equally (cumulative floor) among `keys` and credits it; returns what was paid (zero
    /// without recipients, so the caller burns it).
    mutating func payDisputeBounty(_ ticketId: Hash32, _ bounty: Amount, to keys: [PublicKey],
                                   into target: EventTarget) throws(ExecError) -> Amount {
        guard !keys.isEmpty, bounty > .zero,
              let parts = Split.cumulativeFloor(bounty, weights: Array(repeating: 1, count: keys.count)) else { return .zero }
        for (key, part) in zip(keys, parts) where part > .zero {
            try state.credit(key, part)
            emit(target, .disputeBountyPaid(ticketId: ticketId, to: key, amount: part))
        }
        return bounty
    }

    // MARK: - Disputes (§4.1)

    /// The worker publishes the disputed envelope's ephemeral private key: every validator opens every slot. A key
    /// that is not the envelope's fails the transaction (so nobody can frame the worker with a wrong key). An envelope
    /// that opens to the leaf's canonical input goes to replay (the key takes precedence over an input published
    /// before it). One that does not open to it convicts the worker (`badEnvelope`), unless an input was published
    /// before the key: then the key counts as no key and the published input replays as at the key deadline
    /// (`expireDisputes`), so its verdict judges every checker's answer. A bad envelope shows only that the worker
    /// denied some slot the input, not which answers were right; without the replay a split envelope (the input sealed
    /// to the honest slots, another secret to the colluders') spared the checkers that attested the false output
    /// (Specs/verification.md §4.1, economics §7).
    mutating func publishSealKey(_ sender: PublicKey, ticketId: Hash32, ephemeralPrivateKey: Hash32) throws(ExecError) {
        var (ticket, check, pool, _) = try sealedTicket(ticketId)
        guard check.status == .disputed, height <= check.keyDeadline else { throw .failed(.ticketNotDisputed) }
        guard let leaf = ticket.leaf, let bytes = try state.raw(StateKey.sealedInput(ticketId)),
              let envelope = try? SealedEnvelope(decoding: bytes, maxPlaintextCount: pool.maxInputTensorBytes) else {
            throw .fault(LedgerFault("disputed ticket \(ticketId) without its envelope"))
        }
        let context = SealingContext(chainId: ledger.chainId, ticketId: ticketId, inputHash: leaf.inputHash)
        var plaintext: [UInt8]?
        do {
            plaintext = try envelope.openAll(ephemeralPrivateKey: ephemeralPrivateKey.bytes, context: context)
        } catch .ephemeralKeyMismatch {
            throw .failed(.wrongSealKey)
        } catch .invalidKeyLength {
            throw .failed(.wrongSealKey)
        } catch {
            plaintext = nil
        }
        state.delete(StateKey.disputeDeadlineQueue(check.keyDeadline, ticketId))
        // An input published before the key (publishSealedInput) is read first: which of the two replays depends on
        // what the key opens.
        let published = try state.record(StateKey.fraudCase(ticketId), FraudCase.self)
        let publishedInput = try state.raw(StateKey.caseInput(ticketId))
        guard let input = plaintext, Tags.tensor.hash(input) == leaf.inputHash,
              CanonicalInput.isValid(input, tokens: leaf.tokenCount, hidden: pool.model.hiddenSize) else {
            if let published {
                // The key proves a bad envelope: the worker denied some slot the input. That does not show which
                // answers were right; the published input (it hashes to the leaf's input hash) does. So the key counts
                // as no key and the published input replays exactly as at the deadline (expireDisputes): its verdict
                // convicts the worker and slashes the checkers that attested a false output, which a split envelope
                // would otherwise have shielded (economics §7).
                guard let publishedInput else { throw .fault(LedgerFault("published input of \(ticketId) missing")) }
                try queueDisputeReplay(ticketId, ticket, &check, input: publishedInput, publisher: published.winner, announce: false)
                return
            }
            try failSealedCheck(ticketId, &ticket, &check, pool, reason: .badEnvelope, into: .transaction)
            state.put(StateKey.ticketCheck(ticketId), check)
            return
        }
        // The key takes precedence over an input published before it: only the key shows what the envelope held.
        state.delete(StateKey.fraudCase(ticketId))
        state.delete(StateKey.caseInput(ticketId))
        try queueDisputeReplay(ticketId, ticket, &check, input: input, publisher: nil, announce: true)
        // The key opened the very input a third party published (both hash to the leaf's input hash): that publisher
        // keeps its share of the collusion slashes. Otherwise a cheating worker watched for a dissenter's publication,
        // which carries the whole input and its fee, and cut it off with its key, so publishing first did not pay
        // (economics §7 row 85).
        if let published, published.winner != ticket.worker, published.winner != PublicKey(rawValue: .zero) {
            state.putRaw(StateKey.disputePublisher(ticketId), published.winner.bytes)
        }
    }

    /// Anyone who holds a disputed ticket's input (an assigned checker opened it) may publish it before the key
    /// deadline: it must hash to the leaf's input hash (`inputHashMismatch`, nothing changes), and only the first
    /// publication counts (`inputAlreadyPublished`). The input and its publisher are kept as a pending case, but the
    /// ticket stays disputed until the key deadline: the worker's key still takes precedence when it opens the envelope
    /// (a publication must not cut it off, else a worker that sealed garbage published the true input itself and owed no
    /// check fee, tenth review); a key that does not open it counts as none (`publishSealKey`). At the deadline without a key the published input replays (`expireDisputes`), so withholding the key
    /// cannot keep colluding checkers from their slash; the publisher earns `verifierBountyBps` of each collusion
    /// slash (§4.1).
    mutating func publishSealedInput(_ sender: PublicKey, ticketId: Hash32, input: [UInt8]) throws(ExecError) {
        let (ticket, check, pool, _) = try sealedTicket(ticketId)
        guard check.status == .disputed, height <= check.keyDeadline else { throw .failed(.ticketNotDisputed) }
        guard let leaf = ticket.leaf else { throw .fault(LedgerFault("disputed ticket \(ticketId) without a leaf")) }
        guard try !state.exists(StateKey.fraudCase(ticketId)) else { throw .failed(.inputAlreadyPublished) }
        guard input.count <= pool.maxInputTensorBytes else { throw .failed(.inputTooLarge) }
        guard Tags.tensor.hash(input) == leaf.inputHash else { throw .failed(.inputHashMismatch) }
        // A hash-matching input that is not a valid input of the shard is the worker's fault: the replay says so.
        // The sender is recorded even when it is the worker: a zero winner then means the key opened the envelope.
        state.put(StateKey.fraudCase(ticketId), FraudCase(ticketId: ticketId, worker: ticket.worker, pool: ticket.pool,
                                                          window: ticket.window, openedHeight: height, winner: sender,
                                                          winnerCommitHeight: 0, winnerClaim: .zero, claims: 0, finalHeight: height))
        state.putRaw(StateKey.caseInput(ticketId), input)
        txEvents.append(.sealedInputPublished(ticketId: ticketId))
    }

    /// The input is public from here on: the dispute replays it like a fraud claim, without a claimant (its bounty
    /// goes to the dissenting checkers; a third-party publisher is recorded as the case's winner, for its share of
    /// collusion slashes). The check's hold on the window becomes the case's.
    mutating func queueDisputeReplay(_ ticketId: Hash32, _ ticket: Ticket, _ check: inout SealedCheck, input: [UInt8],
                                     publisher: PublicKey?, announce: Bool) throws(ExecError) {
        check.status = .replaying
        state.put(StateKey.ticketCheck(ticketId), check)
        state.delete(StateKey.sealedInput(ticketId))
        state.put(StateKey.fraudCase(ticketId), FraudCase(ticketId: ticketId, worker: ticket.worker, pool: ticket.pool,
                                                          window: ticket.window, openedHeight: height,
                                                          winner: publisher ?? PublicKey(rawValue: .zero), winnerCommitHeight: 0,
                                                          winnerClaim: .zero, claims: 0, finalHeight: height))
        state.putRaw(StateKey.caseInput(ticketId), input)
        let seq = try state.globalU64(.nextAdjudication)
        state.setGlobalU64(.nextAdjudication, seq &+ 1)
        state.putRaw(StateKey.adjudicationQueue(seq), ticketId.bytes)
        try changeAdjudicationHolds(ticketId, ticket, by: 1)
        // The published input's event came with its publication: only the key path announces the input here.
        if announce { txEvents.append(.sealedInputPublished(ticketId: ticketId)) }
    }

    /// Disputes whose key deadline is this block and whose key never came: the input published meanwhile replays;
    /// without one the worker fails.
    mutating func expireDisputes() throws(ExecError) {
        for kv in try state.scan(StateKey.disputeDeadlineQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key.suffix(32)) else { throw .fault(LedgerFault("corrupt dispute queue key")) }
            guard let queued = try queuedSealedTicket(id) else { continue }
            var (ticket, check) = (queued.0, queued.1)
            let pool = queued.2
            guard check.status == .disputed else { continue }
            if let published = try state.record(StateKey.fraudCase(id), FraudCase.self) {
                guard let input = try state.raw(StateKey.caseInput(id)) else {
                    throw .fault(LedgerFault("published input of \(id) missing"))
                }
                try queueDisputeReplay(id, ticket, &check, input: input, publisher: published.winner, announce: false)
                continue
            }
            try failSealedCheck(id, &ticket, &check, pool, reason: .sealKeyWithheld, into: .system)
            state.put(StateKey.ticketCheck(id), check)
        }
    }

    /// After a sealed ticket's replay (a dispute, or a public fraud claim against a passed check): the checkers'
    /// side of the verdict (§4.1). Fraud: dissenting checkers whose answer was the pass's output are owed their fee
    /// and share the bounty (the case is then paid), other dissenters (guesses) are slashed for a false alarm,
    /// checkers that attested the false output are slashed for collusion and lose any fee owed.
    /// Upheld: dissenting checkers are slashed for a false alarm, `verifierBountyBps` of it to the worker;
    /// agreeing checkers are owed their fee.
    mutating func settleCheckers(afterReplayOf ticketId: Hash32, check found: SealedCheck?, ticket: Ticket, pool: PoolConfig,
                                 fraud: Bool, case c: inout FraudCase) throws(ExecError) {
        // Without an unblinded output (the worker never opened its leaf) no answer agrees: every answer is judged
        // against the replayed output.
        // A publication the worker's key superseded (publishSealKey): its publisher is paid as one without a key.
        let supersededPublisher = try state.raw(StateKey.disputePublisher(ticketId)).flatMap { PublicKey(bytes: $0) }
        state.delete(StateKey.disputePublisher(ticketId))
        guard var check = found, let cfg = pool.checking else { return }
        let output = check.unblinded
        let role = StakeRole.checker(pool: pool.id)
        var dissenting = [(Int, PublicKey)](), agreeing = [(Int, PublicKey)](), withheld = [(Int, PublicKey)]()
        for (i, s) in check.slots.enumerated() {
            guard let a = s.answer else {
                // Committed and never revealed: on a fraud verdict it answers as a colluder would (it could have
                // committed the false output and stayed silent on seeing a dissent).
                if s.commitment != .zero { withheld.append((i, s.checker)) }
                continue
            }
            if let output, a == output { agreeing.append((i, s.checker)) } else { dissenting.append((i, s.checker)) }
        }
        // Dated at the draw, like the absent slash (resolveChecks).
        let offenceHeight = ticket.selectedHeight
        func offence(_ key: PublicKey) -> Hash32 { LedgerIds.checkerOffence(ticket: ticketId, checker: key) }
        // A published input (publishSealedInput) was never checked against the envelope: a bad-input answer may have
        // been right (the worker can seal garbage to one slot and publish the true input) or a lazy checker's answer to
        // every ticket (it never opened its slot). It is not slashed and earns no bounty share; on a fraud verdict it
        // earns nothing (economics §7 row 71: paying it let a checker that never replayed earn wherever someone else
        // published the input). On an upheld verdict it is owed its fee: the worker could have published its key until
        // the deadline, which judges every bad-input answer (a lazy one is slashed), and declined to show that its
        // envelope opened (row 79: otherwise sealing garbage and publishing the input itself saved it every fee).
        let inputPublished = c.winner != PublicKey(rawValue: .zero)
        let unverified = Set(dissenting.filter { inputPublished && check.slots[$0.0].answer == badInputAnswer }.map(\.0))
        switch (check.status, fraud) {
        case (.replaying, true):
            // Only a dissent that gave the pass's output is earned: the replayed output, or bad input when the replay
            // found the input or its output invalid. Any other answer is a guess (a lazy checker dissents from every
            // output it never computed), so it gets no fee and no bounty and is slashed as a false alarm: otherwise
            // guessing pays wherever cheating is common. An unverified bad-input answer is neither.
            let expected = c.canonicalOutputHash == .zero ? badInputAnswer : c.canonicalOutputHash
            let right = dissenting.filter { check.slots[$0.0].answer == expected }
            let rightSlots = Set(right.map(\.0)).union(expected == badInputAnswer ? [] : unverified)
            for (i, key) in right { try oweCheckFee(ticketId, ticket, slot: i, key, cfg, into: .system) }
            let paid = try payDisputeBounty(ticketId, c.bounty, to: right.map(\.1), into: .system)
            try state.burn(Amount(c.bounty.units - paid.units))
            let wrong = dissenting.filter { !rightSlots.contains($0.0) }
            // With nothing unblinded (the worker saw a dissent and hid its output) a wrong answer cannot be told from
            // an attestation of the hidden output, which is what a colluder gives: it is slashed as collusion, so
            // hiding the output does not soften its colluders' slash. Otherwise it is a guess: a false alarm.
            let attesting = output == nil ? agreeing + wrong + withheld : agreeing + withheld
            if output != nil {
                for (_, key) in wrong {
                    try state.burn(try slash(key, role: role, bps: cfg.checkerFalseAlarmSlashBps, offenceHeight: offenceHeight,
                                             kind: .falseAlarm, offenceId: offence(key), into: .system))
                }
            }
            c.status = .paid
            // The checker that published the input (the worker withheld its key, or sent it late) earns part of each
            // collusion slash, when its own answer was right: not the worker, not a publisher slashed in this very
            // replay (a colluder racing to publish), and not anyone else (the worker's second key, which held the input
            // from the start, front-ran the honest dissenter's publication and took its share: thirteenth review). A
            // share no right checker published for is burned with the rest.
            let rightKeys = Set(right.map(\.1))
            let candidate = inputPublished ? c.winner : supersededPublisher
            let publisher: PublicKey? = candidate.flatMap { rightKeys.contains($0) ? $0 : nil }
            for (_, key) in attesting {
                let slashed = try slash(key, role: role, bps: cfg.checkerCollusionSlashBps, offenceHeight: offenceHeight,
                                        kind: .checkerCollusion, offenceId: offence(key), into: .system)
                let part = publisher.map { _ in slashed.basisPoints(pool.verifierBountyBps) } ?? .zero
                if let publisher, part > .zero {
                    try state.credit(publisher, part)
                    systemEvents.append(.disputeBountyPaid(ticketId: ticketId, to: publisher, amount: part))
                }
                try state.burn(Amount(slashed.units - part.units))
            }
            check.status = .fraud
        case (.replaying, false):
            // After a published input, a bad-input answer is not slashed and is owed its fee (above). Every other
            // dissent is a false alarm.
            for (i, key) in dissenting where !unverified.contains(i) {
                let slashed = try slash(key, role: role, bps: cfg.checkerFalseAlarmSlashBps, offenceHeight: offenceHeight,
                                        kind: .falseAlarm, offenceId: offence(key), into: .system)
                let paid = try payDisputeBounty(ticketId, slashed.basisPoints(pool.verifierBountyBps), to: [ticket.worker], into: .system)
                try state.burn(Amount(slashed.units - paid.units))
            }
            let owed = (agreeing + dissenting.filter { unverified.contains($0.0) }).sorted { $0.0 < $1.0 }
            for (i, key) in owed {
                try oweCheckFee(ticketId, ticket, slot: i, key, cfg, into: .system)
            }
            check.status = .upheld
        case (.passed, true):
            // A public claim proved false an output every answering checker attested.
            for (i, key) in agreeing {
                state.delete(StateKey.checkFeeOwed(ticket.pool, ticket.window, ticket.worker, ticketId, UInt8(i)))
                try state.burn(try slash(key, role: role, bps: cfg.checkerCollusionSlashBps, offenceHeight: offenceHeight,
                                         kind: .checkerCollusion, offenceId: offence(key), into: .system))
            }
            for (_, key) in withheld {
                try state.burn(try slash(key, role: role, bps: cfg.checkerCollusionSlashBps, offenceHeight: offenceHeight,
                                         kind: .checkerCollusion, offenceId: offence(key), into: .system))
            }
            check.status = .fraud
        default:
            return
        }
        state.put(StateKey.ticketCheck(ticketId), check)
    }
}

// MARK: - Genesis JSON (Specs/genesis.md): absent fields take the defaults above; an unknown field is an error.

extension CheckingConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case checkersPerTicket, checkerMinStake, maxCheckers, checkerActivationBlocks, checkFee, answerCommitBlocks
        case unblindBlocks, answerRevealBlocks, disputeInputBlocks, checkerAbsentSlashBps, checkerBenchBlocks
        case checkerFalseAlarmSlashBps, checkerCollusionSlashBps, checkerHonestStakeBps
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func d<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try d(.checkersPerTicket, &checkersPerTicket); try d(.checkerMinStake, &checkerMinStake); try d(.maxCheckers, &maxCheckers)
        try d(.checkerActivationBlocks, &checkerActivationBlocks); try d(.checkFee, &checkFee)
        try d(.answerCommitBlocks, &answerCommitBlocks); try d(.unblindBlocks, &unblindBlocks)
        try d(.answerRevealBlocks, &answerRevealBlocks); try d(.disputeInputBlocks, &disputeInputBlocks)
        try d(.checkerAbsentSlashBps, &checkerAbsentSlashBps); try d(.checkerBenchBlocks, &checkerBenchBlocks)
        try d(.checkerFalseAlarmSlashBps, &checkerFalseAlarmSlashBps); try d(.checkerCollusionSlashBps, &checkerCollusionSlashBps)
        try d(.checkerHonestStakeBps, &checkerHonestStakeBps)
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let any = try decoder.container(keyedBy: LedgerParams.AnyKey.self)
        for k in any.allKeys where !known.contains(k.stringValue) {
            throw DecodingError.dataCorruptedError(forKey: k, in: any, debugDescription: "unknown checking parameter '\(k.stringValue)'; known: \(known.sorted().joined(separator: ", "))")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkersPerTicket, forKey: .checkersPerTicket); try c.encode(checkerMinStake, forKey: .checkerMinStake)
        try c.encode(maxCheckers, forKey: .maxCheckers); try c.encode(checkerActivationBlocks, forKey: .checkerActivationBlocks)
        try c.encode(checkFee, forKey: .checkFee); try c.encode(answerCommitBlocks, forKey: .answerCommitBlocks)
        try c.encode(unblindBlocks, forKey: .unblindBlocks); try c.encode(answerRevealBlocks, forKey: .answerRevealBlocks)
        try c.encode(disputeInputBlocks, forKey: .disputeInputBlocks); try c.encode(checkerAbsentSlashBps, forKey: .checkerAbsentSlashBps)
        try c.encode(checkerBenchBlocks, forKey: .checkerBenchBlocks)
        try c.encode(checkerFalseAlarmSlashBps, forKey: .checkerFalseAlarmSlashBps)
        try c.encode(checkerCollusionSlashBps, forKey: .checkerCollusionSlashBps)
        try c.encode(checkerHonestStakeBps, forKey: .checkerHonestStakeBps)
    }
}

// MARK: - Encodings (Specs/state-machine.md, "State layout")

extension CheckingConfig: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(checkersPerTicket); w.encode(checkerMinStake); w.u32(maxCheckers); w.u64(checkerActivationBlocks)
        w.encode(checkFee); w.u64(answerCommitBlocks); w.u64(unblindBlocks); w.u64(answerRevealBlocks)
        w.u64(disputeInputBlocks); w.u32(checkerAbsentSlashBps); w.u64(checkerBenchBlocks)
        w.u32(checkerFalseAlarmSlashBps); w.u32(checkerCollusionSlashBps); w.u32(checkerHonestStakeBps)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        checkersPerTicket = try r.u32("checkersPerTicket"); checkerMinStake = try r.decode(Amount.self)
        maxCheckers = try r.u32("maxCheckers"); checkerActivationBlocks = try r.u64("checkerActivationBlocks")
        checkFee = try r.decode(Amount.self); answerCommitBlocks = try r.u64("answerCommitBlocks")
        unblindBlocks = try r.u64("unblindBlocks"); answerRevealBlocks = try r.u64("answerRevealBlocks")
        disputeInputBlocks = try r.u64("disputeInputBlocks"); checkerAbsentSlashBps = try r.u32("checkerAbsentSlashBps")
        checkerBenchBlocks = try r.u64("checkerBenchBlocks"); checkerFalseAlarmSlashBps = try r.u32("checkerFalseAlarmSlashBps")
        checkerCollusionSlashBps = try r.u32("checkerCollusionSlashBps"); checkerHonestStakeBps = try r.u32("checkerHonestStakeBps")
    }
}

extension CheckerRecord: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) { w.hash(sealingKey); w.u64(registeredHeight); w.u64(benchedUntil) }
    public init(from r: inout CanonicalReader) throws(CodecError) {
        sealingKey = try r.hash("sealingKey"); registeredHeight = try r.u64("registeredHeight"); benchedUntil = try r.u64("benchedUntil")
    }
}

extension CheckerSlot: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.encode(checker); w.hash(sealingKey); w.hash(commitment); w.optional(answer) { $0.hash($1) }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        checker = try r.decode(PublicKey.self); sealingKey = try r.hash("sealingKey"); commitment = try r.hash("checkCommitment")
        answer = try r.optional("answer") { (r: inout CanonicalReader) throws(CodecError) in try r.hash("answer") }
    }
}

extension SealedCheck: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u8(status.rawValue); w.list(slots); w.u64(revealHeight); w.optional(unblinded) { $0.hash($1) }; w.u64(keyDeadline)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        guard let s = CheckStatus(rawValue: try r.u8("checkStatus")) else { throw r.invalid("checkStatus", "unknown status", at: at) }
        status = s
        slots = try r.list("checkers", max: 16, of: CheckerSlot.self)
        revealHeight = try r.u64("revealHeight")
        unblinded = try r.optional("unblinded") { (r: inout CanonicalReader) throws(CodecError) in try r.hash("unblinded") }
        keyDeadline = try r.u64("keyDeadline")
    }
}

import Primitives

/// A page of results and the cursor for the next page (nil at the end). Cursors are opaque state keys.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let nextCursor: [UInt8]?
    public init(items: [Item], nextCursor: [UInt8]?) { self.items = items; self.nextCursor = nextCursor }
}

/// Typed, read-only queries over ledger state for explorers and wallets (RPC) and for node services.
/// Every list is paged by an opaque cursor (the last key returned) and ordered by key.
public struct LedgerReader: Sendable {
    public let state: any StateReader

    public init(_ state: any StateReader) { self.state = state }

    func decode<T: CanonicalDecodable>(_ bytes: [UInt8], _ key: [UInt8]) throws -> T {
        do { return try T(canonicalEncoding: bytes) } catch { throw LedgerFault("corrupt \(T.self) at \(key.hex): \(error)") }
    }

    func record<T: CanonicalDecodable>(_ key: [UInt8], _: T.Type) throws -> T? {
        guard let v = try state.get(key) else { return nil }
        return try decode(v, key)
    }

    /// Most keys one page examines (`page`, `tickets`), present or not. The state as of a past height walks every
    /// key written under the list's prefix since its retained range began, most of them deleted by then; without
    /// a budget, one page at a past height cost a pass over that whole history (eighth review).
    public static let pageVisitBudget = 4096

    /// A page over `prefix`, decoding each entry with `transform`. `cursor` must lie under `prefix`. A bounded
    /// page (`limit` below `.max`) examines at most `pageVisitBudget` keys: it may then hold fewer than `limit`
    /// items with a next cursor (the last key examined).
    func page<T>(_ prefix: [UInt8], cursor: [UInt8]?, limit: Int, _ transform: (KeyValue) throws -> T?) throws -> Page<T> {
        if let cursor, !cursor.starts(with: prefix) { throw LedgerFault("cursor does not belong to this list") }
        let limit = max(1, limit)
        // One extra entry tells whether there is a next page (saturating: `.max` means everything).
        let wanted = limit == .max ? Int.max : limit + 1
        let scan = try state.scan(prefix: prefix, after: cursor, limit: wanted,
                                  visitBudget: limit == .max ? .max : max(wanted, Self.pageVisitBudget))
        let entries = scan.entries
        var items = [T]()
        for e in entries.prefix(limit) { if let t = try transform(e) { items.append(t) } }
        return Page(items: items, nextCursor: entries.count > limit ? entries[limit - 1].key : scan.stoppedAfter)
    }

    // MARK: Accounts and stakers

    public func account(_ key: PublicKey) throws -> Account { try record(StateKey.account(key), Account.self) ?? Account() }

    public func staker(_ role: StakeRole, _ key: PublicKey) throws -> Staker? { try record(StateKey.staker(role, key), Staker.self) }

    /// Stakers of a role (validators, or workers of a pool), by key.
    public func stakers(_ role: StakeRole, cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<(PublicKey, Staker)> {
        try page(StateKey.stakers(role), cursor: cursor, limit: limit) { kv in
            guard let k = PublicKey(bytes: kv.key.suffix(32)) else { return nil }
            return (k, try decode(kv.value, kv.key) as Staker)
        }
    }

    /// Every role in which a key has stake (validator and the pools it works for).
    public func roles(of key: PublicKey) throws -> [(StakeRole, Staker)] {
        var out = [(StakeRole, Staker)]()
        if let v = try staker(.validator, key) { out.append((.validator, v)) }
        for p in try pools() {
            if let w = try staker(.worker(pool: p.id), key) { out.append((.worker(pool: p.id), w)) }
            if p.checking != nil, let c = try staker(.checker(pool: p.id), key) { out.append((.checker(pool: p.id), c)) }
        }
        return out
    }

    /// Unbonding entries of a key in a role, by entry id.
    public func unbondings(_ role: StakeRole, _ key: PublicKey) throws -> [(id: UInt64, entry: UnbondingEntry)] {
        try state.scan(prefix: StateKey.unbondings(role, key), after: nil, limit: .max).map { kv in
            (UInt64(bigEndianBytes: kv.key.suffix(8)), try decode(kv.value, kv.key) as UnbondingEntry)
        }
    }

    /// Whether a key has stake unbonding in a role: an entry not yet matured (entries are deleted when they mature or
    /// are slashed to nothing), slashable until then (`Execution.slash`). Reads one key at most.
    public func hasUnbonding(_ role: StakeRole, _ key: PublicKey) throws -> Bool {
        try !state.scan(prefix: StateKey.unbondings(role, key), after: nil, limit: 1).isEmpty
    }

    // MARK: Pools, windows, shares

    public func pool(_ id: UInt32) throws -> PoolConfig? { try record(StateKey.pool(id), PoolConfig.self) }

    public func pools() throws -> [PoolConfig] {
        try state.scan(prefix: [StateKey.Prefix.pool.rawValue], after: nil, limit: .max).map { try decode($0.value, $0.key) }
    }

    public func window(_ pool: UInt32, _ w: UInt64) throws -> WindowRecord? { try record(StateKey.window(pool, w), WindowRecord.self) }

    /// Windows of a pool with a record, by window index.
    public func windows(_ pool: UInt32, cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<(UInt64, WindowRecord)> {
        try page(StateKey.windows(pool), cursor: cursor, limit: limit) { kv in
            (UInt64(bigEndianBytes: kv.key.suffix(8)), try decode(kv.value, kv.key) as WindowRecord)
        }
    }

    /// Paid-out workers of a window (records kept for the retention period), by worker key.
    public func payouts(_ pool: UInt32, _ w: UInt64) throws -> [(worker: PublicKey, record: PayoutRecord)] {
        try state.scan(prefix: StateKey.payouts(pool, w), after: nil, limit: .max).compactMap { kv in
            guard let k = PublicKey(bytes: kv.key.suffix(32)) else { return nil }
            return (k, try decode(kv.value, kv.key) as PayoutRecord)
        }
    }

    /// Workers' unpaid work in a window (what they were paid for, per shard, and what they committed), by worker.
    public func work(_ pool: UInt32, window w: UInt64, cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<(PublicKey, WorkRecord)> {
        try page(StateKey.workRecords(pool, w), cursor: cursor, limit: limit) { kv in
            guard let k = PublicKey(bytes: kv.key.suffix(32)) else { return nil }
            return (k, try decode(kv.value, kv.key) as WorkRecord)
        }
    }

    /// One worker's unpaid work in a window.
    public func work(_ pool: UInt32, window w: UInt64, worker: PublicKey) throws -> WorkRecord? {
        try record(StateKey.workRecord(pool, w, worker), WorkRecord.self)
    }

    /// The allocation of an escrow for a payee.
    public func allocation(_ escrow: Hash32, payee: PublicKey) throws -> Allocation? {
        try record(StateKey.allocation(escrow, payee), Allocation.self)
    }

    /// Allocations of an escrow, by payee.
    public func allocations(_ escrow: Hash32) throws -> [(PublicKey, Allocation)] {
        try state.scan(prefix: StateKey.allocations(escrow), after: nil, limit: .max).compactMap { kv in
            guard let k = PublicKey(bytes: kv.key.suffix(32)) else { return nil }
            return (k, try decode(kv.value, kv.key) as Allocation)
        }
    }

    /// The last claimed counters of a voucher lane.
    public func voucherCounters(pool: UInt32, window w: UInt64, payee: PublicKey, shard: UInt32, escrow: Hash32) throws -> VoucherCounters? {
        try record(StateKey.payerLane(pool, w, payee, escrow), PayerLane.self)?.counters(shard: shard)
    }

    /// The last window whose unpaid work of a convicted worker is forfeited, if any.
    /// Queued adjudications whose verdict may slash this staker's role: while non-zero its unbonding entries do not
    /// mature (Specs/state-machine.md §4, end-block step 1).
    public func adjudicationHold(_ role: StakeRole, _ key: PublicKey) throws -> UInt64 {
        try record(StateKey.adjudicationHold(role, key), UInt64.self) ?? 0
    }

    public func forfeitedThrough(_ pool: UInt32, worker: PublicKey) throws -> UInt64? {
        try record(StateKey.forfeiture(pool, worker), UInt64.self)
    }

    /// Who revealed a pass (by content key) first, while it is remembered.
    public func revealedPass(pool: UInt32, _ key: Hash32) throws -> RevealedPass? { try record(StateKey.revealedPass(pool, key), RevealedPass.self) }

    /// A blind fraud claim not yet revealed.
    public func fraudCommitment(prover: PublicKey, claim: Hash32) throws -> FraudCommitment? {
        try record(StateKey.fraudCommitment(prover, claim), FraudCommitment.self)
    }

    public func commitment(_ id: Hash32) throws -> Commitment? { try record(StateKey.commitment(id), Commitment.self) }

    /// Commitment ids of a worker in a window.
    public func commitments(_ pool: UInt32, window w: UInt64, worker: PublicKey) throws -> [Hash32] {
        try work(pool, window: w, worker: worker)?.commitmentIds ?? []
    }

    // MARK: Escrows

    public func escrow(_ id: Hash32) throws -> Escrow? { try record(StateKey.escrow(id), Escrow.self) }

    /// Escrows of an owner, by id.
    public func escrows(owner: PublicKey, cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<(Hash32, Escrow)> {
        try page(StateKey.escrows(owner: owner), cursor: cursor, limit: limit) { kv in
            guard let id = Hash32(bytes: kv.key.suffix(32)), let e = try escrow(id) else { return nil }
            return (id, e)
        }
    }

    // MARK: Tickets and fraud proofs

    public func ticket(_ id: Hash32) throws -> Ticket? { try record(StateKey.ticket(id), Ticket.self) }

    /// A hop challenge of a worker's receipt (Specs/economics.md §4.1), until the worker's payout deletes it.
    public func hopChallenge(pool: UInt32, window: UInt64, worker: PublicKey, id: Hash32) throws -> HopChallenge? {
        try record(StateKey.hopChallenge(pool, window, worker, id), HopChallenge.self)
    }

    /// Every hop challenge of a worker's window, by challenge id.
    public func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) throws -> [(id: Hash32, challenge: HopChallenge)] {
        let prefix = StateKey.hopChallenges(pool, window, worker)
        return try state.scan(prefix: prefix, after: nil, limit: .max).map { kv in
            guard let id = Hash32(bytes: kv.key[prefix.count...]) else { throw LedgerFault("corrupt hop challenge key \(kv.key.hex)") }
            return (id, try HopChallenge(canonicalEncoding: kv.value))
        }
    }


    /// Tickets in a status, by id (see `tickets(statuses:cursor:limit:scanBudget:)`).
    public func tickets(status: TicketStatus, cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<(Hash32, Ticket)> {
        try tickets(statuses: [status], cursor: cursor, limit: limit)
    }

    /// Tickets in any of `statuses`, by id: a filtered scan of every ticket, since the chain keeps no index by status
    /// (Specs/storage.md §10: an index entry per ticket cost every commitment and reveal a state key). Tickets are
    /// bounded (pruned at payout); a page still examines at most `scanBudget` ticket keys — at a past height the keys
    /// of tickets deleted by then count too —, so it may hold fewer than `limit` items and a next cursor. A nil
    /// cursor means the scan is done.
    public func tickets(statuses: Set<TicketStatus>, cursor: [UInt8]? = nil, limit: Int = .max,
                        scanBudget: Int = LedgerReader.pageVisitBudget) throws -> Page<(Hash32, Ticket)> {
        let prefix = StateKey.tickets
        if let cursor, !cursor.starts(with: prefix) { throw LedgerFault("cursor does not belong to this list") }
        let limit = max(1, limit), budget = max(limit, scanBudget)
        var items = [(Hash32, Ticket)](), after = cursor, remaining = budget
        while remaining > 0 {
            let chunk = min(256, remaining)
            let scan = try state.scan(prefix: prefix, after: after, limit: chunk, visitBudget: remaining)
            remaining -= scan.visited
            for e in scan.entries {
                after = e.key
                let t: Ticket = try decode(e.value, e.key)
                guard statuses.contains(t.status), let id = Hash32(bytes: e.key[1...]) else { continue }
                items.append((id, t))
                if items.count == limit { return Page(items: items, nextCursor: e.key) }
            }
            // The budget ran out among absent keys: continue after the last one examined.
            if let stopped = scan.stoppedAfter { return Page(items: items, nextCursor: stopped) }
            if scan.entries.count < chunk { return Page(items: items, nextCursor: nil) }
        }
        return Page(items: items, nextCursor: after)
    }

    /// Tickets drawn from one commitment, by sample number (their ids derive from it; none before its draw).
    public func tickets(commitment: Hash32) throws -> [(sample: UInt32, id: Hash32)] {
        guard let c = try self.commitment(commitment), try isDrawn(c) else { return [] }
        return c.ticketIds(commitment).enumerated().map { (UInt32($0.offset), $0.element) }
    }

    /// Whether a commitment's samples are drawn: its block's selection queue record is gone.
    public func isDrawn(_ c: Commitment) throws -> Bool { try state.get(StateKey.selectionQueue(at: c.selectionHeight)) == nil }

    public func fraudCase(_ ticket: Hash32) throws -> FraudCase? { try record(StateKey.fraudCase(ticket), FraudCase.self) }

    /// A sealed ticket's checkers and check phases (pools with checkers; Specs/verification.md §4).
    public func sealedCheck(_ ticket: Hash32) throws -> SealedCheck? { try record(StateKey.ticketCheck(ticket), SealedCheck.self) }

    /// A sealed ticket's envelope (ciphertext for its checkers), while its check runs.
    public func sealedInput(_ ticket: Hash32) throws -> [UInt8]? { try state.get(StateKey.sealedInput(ticket)) }

    /// A registered checker of a pool.
    public func checker(pool: UInt32, _ key: PublicKey) throws -> CheckerRecord? {
        try record(StateKey.checker(pool, key), CheckerRecord.self)
    }

    /// Registered checkers of a pool, by key.
    public func checkers(pool: UInt32) throws -> [(PublicKey, CheckerRecord)] {
        try state.scan(prefix: StateKey.checkers(pool), after: nil, limit: .max).compactMap { kv in
            guard let key = PublicKey(bytes: kv.key[5...]) else { return nil }
            return (key, try CheckerRecord(canonicalEncoding: kv.value))
        }
    }

    /// Adjudicated fraud proofs, by ticket id.
    public func fraudCases(cursor: [UInt8]? = nil, limit: Int = .max) throws -> Page<FraudCase> {
        try page([StateKey.Prefix.fraudCase.rawValue], cursor: cursor, limit: limit) { try decode($0.value, $0.key) }
    }

    // MARK: Chain-wide

    public func supplyReport() throws -> SupplyReport { try Invariants.check(state) }
    public func burned() throws -> UInt64 { try record(StateKey.global(.burned), UInt64.self) ?? 0 }
    public func supply() throws -> UInt64 { try record(StateKey.global(.supply), UInt64.self) ?? 0 }
    public func randaoMix() throws -> Hash32 { try record(StateKey.global(.randaoMix), Hash32.self) ?? .zero }
    public func schedule() throws -> ValidatorSnapshot? { try record(StateKey.global(.schedule), ValidatorSnapshot.self) }
    /// The set the next epoch's schedule draws from (Specs/consensus.md §2 rule 4).
    public func nextSchedule() throws -> ValidatorSnapshot? { try record(StateKey.global(.nextSchedule), ValidatorSnapshot.self) }
    public func proposer(at height: UInt64) throws -> PublicKey? {
        try state.get(StateKey.proposer(height)).flatMap { $0.count == 40 ? PublicKey(bytes: $0.prefix(32)) : nil }
    }
}

import Primitives

/// Where the supply is, from a full state scan.
public struct SupplyReport: Hashable, Sendable, CustomStringConvertible {
    public var supply: UInt64 = 0
    public var balances: UInt64 = 0
    public var stakes: UInt64 = 0
    public var unbonding: UInt64 = 0
    public var escrows: UInt64 = 0
    /// Net usage charges held for workers until their windows are paid out.
    public var earnedHeld: UInt64 = 0
    /// Fraud-claim bonds and bounties held (blind commitments, open claims, proven cases not yet paid).
    public var bondsHeld: UInt64 = 0
    public var burned: UInt64 = 0

    /// Sum of every holding, or nil on overflow.
    public var accounted: UInt64? {
        var t: UInt64 = 0
        for v in [balances, stakes, unbonding, escrows, earnedHeld, bondsHeld, burned] {
            let (s, o) = t.addingReportingOverflow(v)
            if o { return nil }
            t = s
        }
        return t
    }

    public var description: String {
        "supply \(supply) = balances \(balances) + stakes \(stakes) + unbonding \(unbonding) + escrows \(escrows) + earned held \(earnedHeld) + bonds \(bondsHeld) + burned \(burned) (accounted \(accounted.map(String.init) ?? "overflow"))"
    }
}

/// A broken invariant: a bug in the state machine, never a user error.
public struct InvariantViolation: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invariant violated: \(message)" }
}

/// The ledger invariants (Specs/state-machine.md, "Invariants"), checked by tests after every block and by
/// the node with `--check-invariants`.
public enum Invariants {
    /// Allocations never exceed what the escrow holds (no overdraw). A closed escrow is deleted with its allocations.
    static func checkEscrow(_ key: [UInt8], _ e: Escrow) throws {
        if e.allocated > e.balance { throw InvariantViolation("escrow \(key.hex) allocated \(e.allocated) of \(e.balance)") }
    }

    /// Every unit held for a worker was charged to a payer's escrow: per shard, the payer lanes' nets add up to the
    /// work record's earned on that shard, and each lane's nets to its amount (lanes exist only with their record).
    static func checkLanes(_ workKey: [UInt8], _ state: any StateReader) throws {
        let ident = Array(workKey[1...])  // pool ‖ window ‖ worker
        var byShard = [UInt32: UInt64]()
        for kv in try state.scan(prefix: [StateKey.Prefix.payerLane.rawValue] + ident, after: nil, limit: .max) {
            let lane = try PayerLane(canonicalEncoding: kv.value)
            var total: UInt64 = 0
            for c in lane.counters {
                let (t, o1) = total.addingReportingOverflow(c.net.units)
                let (s, o2) = byShard[c.shard, default: 0].addingReportingOverflow(c.net.units)
                if o1 || o2 { throw InvariantViolation("payer lanes overflow") }
                total = t
                byShard[c.shard] = s
            }
            if total != lane.amount.units { throw InvariantViolation("lane \(kv.key.hex) holds \(lane.amount.units) but its shards \(total)") }
        }
        let shards = try state.get(workKey).map { try WorkRecord(canonicalEncoding: $0).shards } ?? []
        let earned = Dictionary(shards.map { ($0.shard, $0.earned.units) }, uniquingKeysWith: { a, _ in a }).filter { $0.value > 0 }
        if byShard.filter({ $0.value > 0 }) != earned {
            throw InvariantViolation("work \(workKey.hex) earned \(earned.sorted { $0.key < $1.key }) per shard but its payers paid \(byShard.sorted { $0.key < $1.key })")
        }
    }

    /// A window record counts the work records of its window that are not yet paid out (`unpaidWorkers`), and a work
    /// record never outlives its window record. `ident` is `pool ‖ window`.
    static func checkWindowWorkers(_ ident: ArraySlice<UInt8>, _ state: any StateReader) throws {
        let works = try state.scan(prefix: [StateKey.Prefix.workRecord.rawValue] + ident, after: nil, limit: .max).count
        guard let v = try state.get([StateKey.Prefix.window.rawValue] + ident) else {
            if works > 0 { throw InvariantViolation("\(works) work records of window \(Array(ident).hex) without its window record") }
            return
        }
        let unpaid = try WindowRecord(canonicalEncoding: v).unpaidWorkers
        if unpaid != UInt64(works) { throw InvariantViolation("window \(Array(ident).hex) counts \(unpaid) unpaid workers, holds \(works) work records") }
    }

    /// A ticket belongs to a drawn commitment under its derived id, and one awaiting its reveal is queued at its
    /// deadline (the chain keeps no other index of tickets).
    static func checkTicket(_ id: Hash32, _ t: Ticket, _ state: any StateReader) throws {
        if t.isHopTicket {
            // An answered hop challenge: revealed when written, its id derives from the challenge (not stored here).
            guard try state.get(StateKey.commitment(t.commitmentId)) != nil, t.status != .awaitingReveal else {
                throw InvariantViolation("hop ticket \(id) names no stored commitment or awaits a reveal")
            }
            return
        }
        guard id == LedgerIds.ticket(commitment: t.commitmentId, sample: t.sample),
              let cv = try state.get(StateKey.commitment(t.commitmentId)) else {
            throw InvariantViolation("ticket \(id) is not a sample of a stored commitment")
        }
        let c = try Commitment(canonicalEncoding: cv)
        if try !LedgerReader(state).isDrawn(c) || t.sample >= c.samples {
            throw InvariantViolation("ticket \(id) was not drawn from \(t.commitmentId)")
        }
        if t.status == .awaitingReveal {
            let queued = try state.get(StateKey.revealDeadlineQueue(at: t.revealDeadline)).map { try IdQueue(canonicalEncoding: $0).ids }
            if !(queued ?? []).contains(id) { throw InvariantViolation("ticket \(id) awaits its reveal but is not queued at its deadline") }
        }
    }

    /// A commitment is listed by its worker's work record, and one not yet drawn is queued at its selection height.
    static func checkCommitment(_ id: Hash32, _ c: Commitment, _ state: any StateReader) throws {
        let work = try state.get(StateKey.workRecord(c.pool, c.window, c.worker)).map { try WorkRecord(canonicalEncoding: $0) }
        if !(work?.commitmentIds.contains(id) ?? false) { throw InvariantViolation("commitment \(id) is not in its work record") }
        // Queued until drawn: its block's queue record holds it or is gone (drawn); then its tickets exist until payout.
        if let queued = try state.get(StateKey.selectionQueue(at: c.selectionHeight)).map({ try IdQueue(canonicalEncoding: $0).ids }),
           !queued.contains(id) {
            throw InvariantViolation("commitment \(id) is missing from its block's selection queue")
        }
    }

    /// Checks every invariant over a full scan of `state`; returns the supply report.
    @discardableResult
    public static func check(_ state: any StateReader) throws -> SupplyReport {
        var r = SupplyReport()
        func all(_ p: StateKey.Prefix) throws -> [KeyValue] { try state.scan(prefix: [p.rawValue], after: nil, limit: .max) }
        func add(_ total: inout UInt64, _ v: UInt64, _ what: String) throws {
            let (s, o) = total.addingReportingOverflow(v)
            if o { throw InvariantViolation("\(what) total overflows") }
            total = s
        }
        func global(_ g: StateKey.Global) throws -> UInt64 {
            guard let raw = try state.get(StateKey.global(g)) else { return 0 }
            return try UInt64(canonicalEncoding: raw)
        }
        r.supply = try global(.supply)
        r.burned = try global(.burned)
        for kv in try all(.account) {
            let a = try Account(canonicalEncoding: kv.value)
            if a.balance == .zero && a.nonce == 0 { throw InvariantViolation("empty account stored at \(kv.key.hex)") }
            try add(&r.balances, a.balance.units, "balance")
        }
        for kv in try all(.staker) {
            let s = try Staker(canonicalEncoding: kv.value)
            try add(&r.stakes, s.stake.units, "stake")
            // The latest stake-history entry equals the bonded stake.
            let historyPrefix = [StateKey.Prefix.stakeHistory.rawValue] + kv.key[1...]
            guard let latest = try state.scan(prefix: Array(historyPrefix), after: nil, limit: 1).first else {
                throw InvariantViolation("staker \(kv.key.hex) has no stake history")
            }
            let h = try Amount(canonicalEncoding: latest.value)
            if h != s.stake { throw InvariantViolation("staker \(kv.key.hex) stake \(s.stake) but history says \(h)") }
        }
        var queued = Set<[UInt8]>()
        for kv in try all(.unbondingQueue) {
            // prefix(1) ‖ mature(8) ‖ role(5) ‖ key(32) ‖ id(8) → entry key prefix(1) ‖ role ‖ key ‖ id
            let k = kv.key
            queued.insert([StateKey.Prefix.unbonding.rawValue] + k[9...])
        }
        var entries = 0
        for kv in try all(.unbonding) {
            let e = try UnbondingEntry(canonicalEncoding: kv.value)
            if e.amount == .zero { throw InvariantViolation("empty unbonding entry \(kv.key.hex)") }
            try add(&r.unbonding, e.amount.units, "unbonding")
            if !queued.contains(kv.key) { throw InvariantViolation("unbonding entry \(kv.key.hex) missing from the queue") }
            entries += 1
        }
        if entries != queued.count { throw InvariantViolation("unbonding queue has \(queued.count) keys for \(entries) entries") }
        for kv in try all(.escrow) {
            let e = try Escrow(canonicalEncoding: kv.value)
            try checkEscrow(kv.key, e)
            try add(&r.escrows, e.balance.units, "escrow")
            var reserved: UInt64 = 0
            for a in try state.scan(prefix: [StateKey.Prefix.allocation.rawValue] + kv.key[1...], after: nil, limit: .max) {
                try add(&reserved, try Allocation(canonicalEncoding: a.value).remaining.units, "allocation")
            }
            if reserved != e.allocated.units { throw InvariantViolation("escrow \(kv.key.hex) allocated \(e.allocated) but allocations hold \(reserved)") }
        }
        for kv in try all(.workRecord) {
            let w = try WorkRecord(canonicalEncoding: kv.value)
            try add(&r.earnedHeld, w.held, "earned")
            try checkLanes(kv.key, state)
            if try state.get([StateKey.Prefix.window.rawValue] + kv.key[1..<13]) == nil {
                throw InvariantViolation("work record \(kv.key.hex) without its window record")
            }
        }
        for kv in try all(.window) { try checkWindowWorkers(kv.key[1..<13], state) }
        for kv in try all(.fraudCommitment) { try add(&r.bondsHeld, try FraudCommitment(canonicalEncoding: kv.value).bond.units, "bonds") }
        for kv in try all(.fraudClaim) { try add(&r.bondsHeld, try FraudClaim(canonicalEncoding: kv.value).bond.units, "bonds") }
        for kv in try all(.fraudCase) { try add(&r.bondsHeld, try FraudCase(canonicalEncoding: kv.value).held, "bonds") }
        for kv in try all(.hopChallenge) { try add(&r.bondsHeld, try HopChallenge(canonicalEncoding: kv.value).heldBond, "bonds") }
        for kv in try all(.ticket) {
            try checkTicket(Hash32(bytes: kv.key[1...])!, try Ticket(canonicalEncoding: kv.value), state)
        }
        for kv in try all(.commitment) {
            try checkCommitment(Hash32(bytes: kv.key[1...])!, try Commitment(canonicalEncoding: kv.value), state)
        }
        guard let total = r.accounted else { throw InvariantViolation("accounted total overflows") }
        if total != r.supply { throw InvariantViolation("supply mismatch: \(r)") }
        return r
    }
}

/// A RANDAO hash chain: `v₀ = seed`, `vᵢ₊₁ = H_randao(vᵢ)`; the commitment is `v_N`, and the k-th
/// reveal is `v_{N−k}` (so each reveal hashes to the previous one). Checkpoints every 1024 values keep
/// any reveal cheap to recompute.
public struct RandaoHashChain: Sendable {
    public let length: Int
    private let checkpoints: [Hash32]

    public init(seed: Hash32, length: Int) {
        precondition(length > 0)
        self.length = length
        var cps = [Hash32]()
        cps.reserveCapacity(length / 1024 + 1)
        var v = seed
        for i in 0...length {
            if i % 1024 == 0 { cps.append(v) }
            if i < length { v = Tags.randao.hash(v.bytes) }
        }
        checkpoints = cps
    }

    /// `vᵢ`.
    public func value(_ i: Int) -> Hash32 {
        precondition(i >= 0 && i <= length)
        var v = checkpoints[i / 1024]
        for _ in 0..<(i % 1024) { v = Tags.randao.hash(v.bytes) }
        return v
    }

    /// What to register when bonding.
    public var commitment: Hash32 { value(length) }

    /// The preimage of `current` in this chain, if `current` is one of its values above `v₀`.
    /// `hint` is the index the caller believes `current` has (its last reveal); checking it costs at most
    /// 1024 hashes, and otherwise the whole chain is walked once.
    public func reveal(for current: Hash32, hint: Int? = nil) -> (index: Int, reveal: Hash32)? {
        if let hint, hint >= 1, hint <= length, value(hint) == current { return (hint - 1, value(hint - 1)) }
        var previous = value(0)
        var v = previous
        for i in 1...length {
            previous = v
            v = Tags.randao.hash(v.bytes)
            if v == current { return (i - 1, previous) }
        }
        return nil
    }
}

/// Checks the invariants after every block at the cost of the block's write set rather than the whole
/// state: supply totals are updated from each changed key's old and new values, and every changed record
/// gets the structural checks the full scan would apply to it. Keys a block does not touch cannot break an
/// invariant, so this is equivalent to `Invariants.check` (which tests run periodically to cross-check it).
public struct InvariantTracker: Sendable {
    public private(set) var report: SupplyReport

    /// Starts from a full check of `state`.
    public init(state: any StateReader) throws {
        report = try Invariants.check(state)
    }

    /// Accounts for one block: `before` is the state the write set was computed against, `after` the state
    /// with it applied.
    public mutating func apply(_ writeSet: WriteSet, before: any StateReader, after: any StateReader) throws {
        var r = report
        for e in writeSet.entries {
            if let old = try before.get(e.key) { try Self.contribute(e.key, old, sign: -1, to: &r) }
            if let new = e.value { try Self.contribute(e.key, new, sign: 1, to: &r) }
            try Self.checkStructure(e.key, after: after)
        }
        guard let total = r.accounted else { throw InvariantViolation("accounted total overflows") }
        if total != r.supply { throw InvariantViolation("supply mismatch: \(r)") }
        report = r
    }

    static func adjust(_ v: inout UInt64, _ amount: UInt64, _ sign: Int, _ what: String) throws {
        if sign > 0 {
            let (s, o) = v.addingReportingOverflow(amount)
            if o { throw InvariantViolation("\(what) total overflows") }
            v = s
        } else {
            guard v >= amount else { throw InvariantViolation("\(what) total would go negative") }
            v -= amount
        }
    }

    static func contribute(_ key: [UInt8], _ value: [UInt8], sign: Int, to r: inout SupplyReport) throws {
        guard let p = key.first.flatMap(StateKey.Prefix.init(rawValue:)) else { return }
        switch p {
        case .account: try adjust(&r.balances, try Account(canonicalEncoding: value).balance.units, sign, "balance")
        case .staker: try adjust(&r.stakes, try Staker(canonicalEncoding: value).stake.units, sign, "stake")
        case .unbonding: try adjust(&r.unbonding, try UnbondingEntry(canonicalEncoding: value).amount.units, sign, "unbonding")
        case .escrow: try adjust(&r.escrows, try Escrow(canonicalEncoding: value).balance.units, sign, "escrow")
        case .workRecord: try adjust(&r.earnedHeld, try WorkRecord(canonicalEncoding: value).held, sign, "earned")
        case .fraudCommitment: try adjust(&r.bondsHeld, try FraudCommitment(canonicalEncoding: value).bond.units, sign, "bonds")
        case .fraudClaim: try adjust(&r.bondsHeld, try FraudClaim(canonicalEncoding: value).bond.units, sign, "bonds")
        case .fraudCase: try adjust(&r.bondsHeld, try FraudCase(canonicalEncoding: value).held, sign, "bonds")
        case .hopChallenge: try adjust(&r.bondsHeld, try HopChallenge(canonicalEncoding: value).heldBond, sign, "bonds")
        case .global where key == StateKey.global(.burned):
            try adjust(&r.burned, try UInt64(canonicalEncoding: value), sign, "burned")
        case .global where key == StateKey.global(.supply):
            try adjust(&r.supply, try UInt64(canonicalEncoding: value), sign, "supply")
        default: break
        }
    }

    /// The structural rules of `Invariants.check`, for one changed key.
    static func checkStructure(_ key: [UInt8], after s: any StateReader) throws {
        guard let p = key.first.flatMap(StateKey.Prefix.init(rawValue:)) else { return }
        let value = try s.get(key)
        switch p {
        case .account:
            if let v = value {
                let a = try Account(canonicalEncoding: v)
                if a.balance == .zero && a.nonce == 0 { throw InvariantViolation("empty account stored at \(key.hex)") }
            }
        case .staker, .stakeHistory:
            // The latest history entry equals the bonded stake.
            let ident = Array(key[1..<38])
            guard let sv = try s.get([StateKey.Prefix.staker.rawValue] + ident) else { return }
            let staker = try Staker(canonicalEncoding: sv)
            guard let latest = try s.scan(prefix: [StateKey.Prefix.stakeHistory.rawValue] + ident, after: nil, limit: 1).first else {
                throw InvariantViolation("staker \(ident.hex) has no stake history")
            }
            if try Amount(canonicalEncoding: latest.value) != staker.stake {
                throw InvariantViolation("staker \(ident.hex) stake \(staker.stake) disagrees with its history")
            }
        case .unbonding:
            if let v = value {
                let e = try UnbondingEntry(canonicalEncoding: v)
                if e.amount == .zero { throw InvariantViolation("empty unbonding entry \(key.hex)") }
                let q = [StateKey.Prefix.unbondingQueue.rawValue] + e.matureHeight.bigEndianBytes + key[1...]
                if try s.get(Array(q)) == nil { throw InvariantViolation("unbonding entry \(key.hex) missing from the queue") }
            }
        case .unbondingQueue:
            if value != nil, try s.get([StateKey.Prefix.unbonding.rawValue] + key[9...]) == nil {
                throw InvariantViolation("unbonding queue key \(key.hex) without an entry")
            }
        case .escrow:
            if let v = value { try Invariants.checkEscrow(key, try Escrow(canonicalEncoding: v)) }
            var reserved: UInt64 = 0
            for a in try s.scan(prefix: [StateKey.Prefix.allocation.rawValue] + key[1...], after: nil, limit: .max) {
                reserved &+= try Allocation(canonicalEncoding: a.value).remaining.units
            }
            let allocated = try value.map { try Escrow(canonicalEncoding: $0).allocated.units } ?? 0
            if reserved != allocated { throw InvariantViolation("escrow \(key.hex) allocated \(allocated) but allocations hold \(reserved)") }
        case .allocation:
            try checkStructure([StateKey.Prefix.escrow.rawValue] + key[1..<33], after: s)
        case .workRecord:
            try Invariants.checkLanes(key, s)
            try Invariants.checkWindowWorkers(key[1..<13], s)
        case .window:
            try Invariants.checkWindowWorkers(key[1..<13], s)
        case .payerLane:
            try Invariants.checkLanes([StateKey.Prefix.workRecord.rawValue] + key[1..<45], s)
        case .ticket:
            if let v = value, let id = Hash32(bytes: key[1...]) { try Invariants.checkTicket(id, try Ticket(canonicalEncoding: v), s) }
        case .commitment:
            if let v = value, let id = Hash32(bytes: key[1...]) {
                try Invariants.checkCommitment(id, try Commitment(canonicalEncoding: v), s)
            }
        case .selectionQueue:
            if let v = value {
                for id in try IdQueue(canonicalEncoding: v).ids {
                    guard try s.get(StateKey.commitment(id)) != nil else {
                        throw InvariantViolation("selection queue \(key.hex) names \(id), not a commitment")
                    }
                }
            }
        default: break
        }
    }
}

import Primitives

/// Where the supply is, from a full state scan.
public struct SupplyReport: Hashable, Sendable, CustomStringConvertible {
    public var supply: UInt64 = 0
    public var balances: UInt64 = 0
    public var stakes: UInt64 = 0
    public var unbonding: UInt64 = 0
    public var escrows: UInt64 = 0
    public var windowRevenue: UInt64 = 0
    /// Fraud-proof bonds held across blocks (always zero in v1: adjudication is immediate).
    public var bondsHeld: UInt64 = 0
    public var burned: UInt64 = 0

    /// Sum of every holding, or nil on overflow.
    public var accounted: UInt64? {
        var t: UInt64 = 0
        for v in [balances, stakes, unbonding, escrows, windowRevenue, bondsHeld, burned] {
            let (s, o) = t.addingReportingOverflow(v)
            if o { return nil }
            t = s
        }
        return t
    }

    public var description: String {
        "supply \(supply) = balances \(balances) + stakes \(stakes) + unbonding \(unbonding) + escrows \(escrows) + window revenue \(windowRevenue) + bonds \(bondsHeld) + burned \(burned) (accounted \(accounted.map(String.init) ?? "overflow"))"
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
            if e.closed && e.balance != .zero { throw InvariantViolation("closed escrow \(kv.key.hex) holds \(e.balance)") }
            try add(&r.escrows, e.balance.units, "escrow")
        }
        for kv in try all(.window) {
            let w = try WindowRecord(canonicalEncoding: kv.value)
            try add(&r.windowRevenue, w.revenue.units, "window revenue")
            try add(&r.windowRevenue, w.carriedIn.units, "window revenue")
            if w.status == .settled {
                // Settled windows hold nothing: subtract what they received, they paid or carried it all.
                let paid = w.protocolShare.units &+ w.workerShare.units &+ w.carriedOut.units
                if paid != w.revenue.units &+ w.carriedIn.units {
                    throw InvariantViolation("settled window \(kv.key.hex) paid \(paid) of \(w.revenue.units &+ w.carriedIn.units)")
                }
                r.windowRevenue -= w.revenue.units &+ w.carriedIn.units
            }
        }
        var statusIndex = Set<[UInt8]>()
        for kv in try all(.ticketByStatus) { statusIndex.insert(kv.key) }
        var tickets = 0
        for kv in try all(.ticket) {
            let t = try Ticket(canonicalEncoding: kv.value)
            let id = Hash32(bytes: kv.key[1...])!
            if !statusIndex.contains(StateKey.ticketByStatus(t.status, id)) {
                throw InvariantViolation("ticket \(id) missing from the status index")
            }
            tickets += 1
        }
        if tickets != statusIndex.count { throw InvariantViolation("status index has \(statusIndex.count) entries for \(tickets) tickets") }
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
    /// Searches downward from `hint` (the index of the last known commitment) for speed.
    public func reveal(for current: Hash32, hint: Int? = nil) -> (index: Int, reveal: Hash32)? {
        let start = min(hint ?? length, length)
        var i = start
        while i >= 1 {
            if value(i) == current { return (i - 1, value(i - 1)) }
            i -= 1
        }
        if start < length {
            for j in (start + 1)...length where value(j) == current { return (j - 1, value(j - 1)) }
        }
        return nil
    }
}

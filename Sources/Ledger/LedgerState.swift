import Primitives

/// A failure that is not the transaction's fault: storage errors, corrupt records, a missing adjudicator
/// result. It aborts the whole block (the node cannot decide it), never just one transaction.
public struct LedgerFault: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "ledger fault: \(message)" }
}

/// Errors while executing a transaction body or block processing.
enum ExecError: Error {
    /// The transaction fails with this reason (fee charged, nothing else changes).
    case failed(FailureReason)
    /// The block cannot be processed.
    case fault(LedgerFault)
}

/// Typed access to ledger records over a `StateOverlay`.
public struct LedgerState: Sendable {
    public var overlay: StateOverlay

    public init(overlay: StateOverlay) { self.overlay = overlay }
    public init(base: any StateReader) { overlay = StateOverlay(base: base) }

    // MARK: raw

    func raw(_ key: [UInt8]) throws(ExecError) -> [UInt8]? {
        do { return try overlay.get(key) } catch { throw .fault(LedgerFault("state read failed: \(error)")) }
    }

    func record<T: CanonicalDecodable>(_ key: [UInt8], _: T.Type) throws(ExecError) -> T? {
        guard let bytes = try raw(key) else { return nil }
        do { return try T(canonicalEncoding: bytes) } catch {
            throw .fault(LedgerFault("corrupt \(T.self) record at \(key.hex): \(error)"))
        }
    }

    mutating func put(_ key: [UInt8], _ value: some CanonicalEncodable) { overlay.set(key, value.canonicalEncoding) }
    mutating func putRaw(_ key: [UInt8], _ value: [UInt8]) { overlay.set(key, value) }
    mutating func delete(_ key: [UInt8]) { overlay.delete(key) }

    func scan(_ prefix: [UInt8], after: [UInt8]? = nil, limit: Int = .max) throws(ExecError) -> [KeyValue] {
        do { return try overlay.scan(prefix: prefix, after: after, limit: limit) } catch {
            throw .fault(LedgerFault("state scan failed: \(error)"))
        }
    }

    func exists(_ key: [UInt8]) throws(ExecError) -> Bool { try raw(key) != nil }

    // MARK: accounts

    func account(_ key: PublicKey) throws(ExecError) -> Account {
        try record(StateKey.account(key), Account.self) ?? Account()
    }

    mutating func setAccount(_ key: PublicKey, _ account: Account) {
        // Empty accounts are not stored, so state stays free of dust entries.
        if account.balance == .zero && account.nonce == 0 { delete(StateKey.account(key)) } else { put(StateKey.account(key), account) }
    }

    mutating func credit(_ key: PublicKey, _ amount: Amount) throws(ExecError) {
        guard amount > .zero else { return }
        var a = try account(key)
        do { a.balance = try a.balance.adding(amount) } catch { throw .failed(.amountOverflow) }
        setAccount(key, a)
    }

    mutating func debit(_ key: PublicKey, _ amount: Amount) throws(ExecError) {
        guard amount > .zero else { return }
        var a = try account(key)
        guard a.balance >= amount else { throw .failed(.insufficientBalance) }
        a.balance = Amount(a.balance.units - amount.units)
        setAccount(key, a)
    }

    // MARK: globals

    func globalU64(_ g: StateKey.Global) throws(ExecError) -> UInt64 {
        try record(StateKey.global(g), UInt64.self) ?? 0
    }

    mutating func setGlobalU64(_ g: StateKey.Global, _ v: UInt64) { put(StateKey.global(g), v) }

    mutating func burn(_ amount: Amount) throws(ExecError) {
        let (v, o) = try globalU64(.burned).addingReportingOverflow(amount.units)
        if o { throw .fault(LedgerFault("burned total overflow")) }
        setGlobalU64(.burned, v)
    }

    // MARK: stakers

    func staker(_ role: StakeRole, _ key: PublicKey) throws(ExecError) -> Staker? {
        try record(StateKey.staker(role, key), Staker.self)
    }

    mutating func setStaker(_ role: StakeRole, _ key: PublicKey, _ s: Staker, height: UInt64) throws(ExecError) {
        let previous = try staker(role, key)
        put(StateKey.staker(role, key), s)
        if previous?.stake != s.stake {
            // Stake history (end-of-block value per height) lets slashing find the stake at an offence.
            put(StateKey.stakeHistory(role, key, height: height), s.stake)
        }
    }

    /// The bonded stake at the end of block `height` (zero before the first bond).
    func stake(_ role: StakeRole, _ key: PublicKey, atEndOf height: UInt64) throws(ExecError) -> Amount {
        // Entries sort newest first; the first one strictly after the key for `height + 1` is the newest
        // with height ≤ `height`.
        let prefix = StateKey.stakeHistory(role, key)
        let after = height == .max ? nil : StateKey.stakeHistory(role, key, height: height + 1)
        guard let kv = try scan(prefix, after: after, limit: 1).first else { return .zero }
        do { return try Amount(canonicalEncoding: kv.value) } catch {
            throw .fault(LedgerFault("corrupt stake history at \(kv.key.hex)"))
        }
    }

    func pool(_ id: UInt32) throws(ExecError) -> PoolConfig? { try record(StateKey.pool(id), PoolConfig.self) }

    /// Every pool, ascending by id.
    func pools() throws(ExecError) -> [PoolConfig] {
        var out = [PoolConfig]()
        for kv in try scan([StateKey.Prefix.pool.rawValue]) {
            do { out.append(try PoolConfig(canonicalEncoding: kv.value)) } catch {
                throw .fault(LedgerFault("corrupt pool record at \(kv.key.hex)"))
            }
        }
        return out
    }

    func window(_ pool: UInt32, _ w: UInt64) throws(ExecError) -> WindowRecord? {
        try record(StateKey.window(pool, w), WindowRecord.self)
    }

    func randaoMix() throws(ExecError) -> Hash32 {
        try record(StateKey.global(.randaoMix), Hash32.self) ?? .zero
    }
}

extension Amount {
    /// `floor(self × bps / 10 000)`.
    func basisPoints(_ bps: BasisPoints) -> Amount {
        // bps ≤ 10 000 in every parameter, so the quotient fits; fall back to zero defensively.
        Amount((try? Amount.mulDiv(units, UInt64(bps), 10_000)) ?? 0)
    }

    /// `⌈self × bps / 10 000⌉`: a fee that cutting a payment into small pieces cannot round away.
    func basisPointsRoundedUp(_ bps: BasisPoints) -> Amount {
        // From the full 128-bit product: its quotient by 10 000 fits in 64 bits for bps ≤ 10 000 (genesis checks it)
        // and is then at most `self`, so the rounded-up fee never exceeds the payment either.
        guard bps <= 10_000 else { return self }
        let (quotient, remainder) = UInt64(10_000).dividingFullWidth(units.multipliedFullWidth(by: UInt64(bps)))
        return Amount(remainder == 0 ? quotient : min(units, quotient + 1))
    }
}

import Foundation
import Ledger
import Primitives
import RPC

/// A `ChainClient` over a node's JSON-RPC interface (`--rpc http://host:port`): how the worker simulator,
/// the verifier service and the devnet summary talk to a node in another process.
public struct RPCChainClient: ChainClient {
    public let rpc: RPCClient

    /// A client of the node at `url` (`http://host:port`); `timeout` is each call's deadline.
    public init(url: String, timeout: Duration = .seconds(30)) throws {
        do { var c = try RPCClient(url: url); c.timeout = timeout; rpc = c } catch { throw NodeStartupError("\(error)") }
    }

    /// A malformed answer from the node.
    struct BadAnswer: Error, CustomStringConvertible {
        let what: String
        var description: String { "unexpected answer from the node: \(what)" }
    }

    func call(_ method: String, _ params: JSON) async throws -> JSON {
        do { return try await rpc.call(method, params) } catch { throw error }
    }

    /// Calls a method whose not-found error means "absent".
    func optional(_ method: String, _ params: JSON) async throws -> JSON? {
        do { return try await rpc.call(method, params) } catch {
            if case .rpc(let e) = error, e.code == RPCError.notFoundCode { return nil }
            throw error
        }
    }

    // MARK: Parsing

    func u64(_ j: JSON?, _ what: String) throws -> UInt64 {
        switch j {
        case .number(let n)?: if let v = UInt64(n) { return v }
        case .string(let s)?: if let v = UInt64(s) { return v }
        default: break
        }
        throw BadAnswer(what: "\(what) is not an unsigned integer")
    }
    func amount(_ j: JSON?, _ what: String) throws -> Amount { Amount(try u64(j, what)) }
    func hash(_ j: JSON?, _ what: String) throws -> Hash32 {
        guard let s = j?.string, let h = try? Hash32(hex: s) else { throw BadAnswer(what: "\(what) is not a hash") }
        return h
    }
    func key(_ j: JSON?, _ what: String) throws -> PublicKey {
        guard let s = j?.string else { throw BadAnswer(what: "\(what) is not an address") }
        if let k = try? PublicKey(hex: s) { return k }
        // Any human-readable part: the node renders its own chain's.
        guard let d = try? Bech32.decode(s), let bytes = try? Bech32.convertBits(d.data, from: 5, to: 8, pad: false),
              let k = PublicKey(bytes: bytes) else { throw BadAnswer(what: "\(what) is not an address") }
        return k
    }
    func bool(_ j: JSON?, _ what: String) throws -> Bool {
        guard case .bool(let b)? = j else { throw BadAnswer(what: "\(what) is not a boolean") }
        return b
    }

    static let ticketStatusNames: [String: TicketStatus] = [
        "awaitingReveal": .awaitingReveal, "revealed": .revealed, "withheld": .withheld,
        "fraudProven": .fraudProven, "upheld": .upheld, "voided": .voided, "reused": .reused,
    ]
    static func name(_ s: TicketStatus) -> String { ticketStatusNames.first { $0.value == s }!.key }

    /// A ledger record from the canonical encoding the node renders beside its JSON form (`encoded`).
    func record<T: CanonicalDecodable>(_ j: JSON?, _: T.Type) throws -> T {
        guard let s = j?["encoded"]?.string, let bytes = try? Hex.decode(s), let v = try? T(canonicalEncoding: bytes) else {
            throw BadAnswer(what: "\(T.self) without a valid 'encoded' field")
        }
        return v
    }

    /// Every item of a paged list method.
    func all(_ method: String, _ params: JSONObject) async throws -> [JSON] {
        var out = [JSON]()
        var cursor: JSON = .null
        var listing = PagedListing(method)
        repeat {
            var p = params
            p["limit"] = .int(100)
            if cursor != .null { p["cursor"] = cursor }
            let page = try await call(method, .object(p))
            out += page["items"]?.array ?? []
            cursor = page["nextCursor"] ?? .null
        } while try listing.follow(cursor == .null ? nil : JSONWriter.string(cursor))
        return out
    }

    // MARK: ChainClient

    public func chainId() async throws -> Hash32 { try hash(try await call("node_chainId", .array([])), "chain id") }

    public func tip() async throws -> (height: UInt64, slot: UInt64) {
        let s = try await call("node_status", .array([]))
        let height = try u64(s["height"], "height"), slot = try u64(s["slot"], "slot")
        // 2⁶² blocks (or slots) of a second each are beyond any chain's life: a node answering more lies, and the
        // clients add horizons to its tip.
        guard height < Self.implausibleHeight, slot < Self.implausibleHeight else { throw BadAnswer(what: "a tip at height \(height), slot \(slot)") }
        return (height, slot)
    }

    func accountJSON(_ k: PublicKey) async throws -> JSON { try await call("account_get", .object(["address": .string("0x" + k.hex)])) }

    public func account(_ k: PublicKey) async throws -> Account {
        let a = try await accountJSON(k)
        return Account(balance: try amount(a["balance"], "balance"), nonce: try u64(a["nonce"], "nonce"))
    }

    public func nextNonce(_ k: PublicKey) async throws -> UInt64 { try u64(try await accountJSON(k)["pendingNonce"], "pendingNonce") }

    public func submit(_ tx: SignedTransaction) async throws -> Hash32 {
        try hash(try await call("tx_sendRaw", .array([.string("0x" + tx.canonicalEncoding.hex)])), "transaction hash")
    }

    public func minimumFee(size: Int) async throws -> Amount {
        try amount(try await call("tx_estimateFee", .object(["size": .int(UInt64(size))]))["minimumFee"], "minimumFee")
    }

    public func pool(_ id: UInt32) async throws -> PoolConfig? {
        guard let p = try await optional("pool_get", .object(["pool": .int(UInt64(id))])) else { return nil }
        let pool = try record(p, PoolConfig.self)
        try Self.checkPlausible(pool)
        return pool
    }

    /// Heights and slots from here on are no node's answer.
    static let implausibleHeight: UInt64 = 1 << 62

    /// A pool the node serves must be one a genesis could hold, as far as the clients compute with it: shards to
    /// choose from, windows of at least a block, and block horizons below `Ledger.maxHorizonBlocks` (so that sums of
    /// them and a height stay below 2⁶⁴). A lying node otherwise made the worker divide by zero.
    static func checkPlausible(_ pool: PoolConfig) throws {
        guard !pool.shards.isEmpty else { throw BadAnswer(what: "pool \(pool.id) without shards") }
        guard pool.windowBlocks > 0 else { throw BadAnswer(what: "pool \(pool.id) with windows of 0 blocks") }
        var horizons = [pool.windowBlocks, pool.commitGraceBlocks, pool.challengeBlocks, pool.revealDeadlineBlocks, pool.fraudRevealBlocks]
        if let c = pool.checking {
            horizons += [c.checkerActivationBlocks, c.answerCommitBlocks, c.unblindBlocks, c.answerRevealBlocks,
                         c.disputeInputBlocks, c.checkerBenchBlocks]
        }
        guard horizons.allSatisfy({ $0 <= Ledger.maxHorizonBlocks }) else {
            throw BadAnswer(what: "pool \(pool.id) with a block horizon above \(Ledger.maxHorizonBlocks)")
        }
        // A model the canonical executor does not define (a node refuses to start on a genesis with one:
        // `WeightsIndex.check(pools:)`): refused here with the reason, rather than left to the first shard load.
        do { try PoolModels.config(pool).validate() } catch {
            throw BadAnswer(what: "pool \(pool.id) with a model canon-f32-v1 does not define: \(error)")
        }
    }

    public func staker(_ role: StakeRole, _ k: PublicKey) async throws -> Staker? {
        for s in try await accountJSON(k)["stakes"]?.array ?? [] {
            let r = s["role"]
            let matches: Bool
            switch role {
            case .validator: matches = r?["type"]?.string == "validator"
            case .worker(let p): matches = r?["type"]?.string == "worker" && (try? u64(r?["pool"], "pool")) == UInt64(p)
            case .checker(let p): matches = r?["type"]?.string == "checker" && (try? u64(r?["pool"], "pool")) == UInt64(p)
            }
            guard matches, s["status"]?.string != "unbonded" else { continue }
            let status: StakerStatus
            switch s["status"]?.string {
            case "jailed": status = .jailed(until: try u64(s["jailedUntil"], "jailedUntil"))
            case "tombstoned": status = .tombstoned
            default: status = .active
            }
            return Staker(stake: try amount(s["stake"], "stake"), status: status,
                          randaoCommitment: (try? hash(s["randaoCommitment"], "randaoCommitment")) ?? .zero,
                          since: (try? u64(s["since"], "since")) ?? 0)
        }
        return nil
    }

    public func escrow(_ id: Hash32) async throws -> Escrow? {
        guard let e = try await optional("escrow_get", .object(["escrowId": .string("0x" + id.hex)])) else { return nil }
        return try record(e, Escrow.self)
    }

    public func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? {
        guard let j = try await optional("window_get", .object(["pool": .int(UInt64(pool)), "window": .int(w)])) else { return nil }
        return try record(j, WindowRecord.self)
    }

    public func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)] {
        guard let c = try await optional("commitment_get", .object(["commitmentId": .string("0x" + commitment.hex)])) else { return [] }
        return try (c["tickets"]?.array ?? []).map { t in
            guard let sample = UInt32(exactly: try u64(t["sample"], "sample")) else { throw BadAnswer(what: "a ticket's sample number above 2³²") }
            return (sample, try hash(t["ticketId"], "ticketId"))
        }
    }

    func ticketJSON(_ id: Hash32) async throws -> JSON? { try await optional("ticket_get", .object(["ticketId": .string("0x" + id.hex)])) }

    public func ticket(_ id: Hash32) async throws -> Ticket? {
        guard let t = try await ticketJSON(id) else { return nil }
        return try record(t, Ticket.self)
    }

    public func ticketInput(_ id: Hash32) async throws -> [UInt8]? {
        guard let s = try await ticketJSON(id)?["input"]?.string else { return nil }
        return try Hex.decode(s)
    }

    public func sealedCheck(_ id: Hash32) async throws -> SealedCheck? {
        guard let c = try await ticketJSON(id)?["check"], c != .null else { return nil }
        return try record(c, SealedCheck.self)
    }

    public func sealedInput(_ id: Hash32) async throws -> [UInt8]? {
        guard let s = try await ticketJSON(id)?["sealedInput"]?.string else { return nil }
        return try Hex.decode(s)
    }

    public func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord? {
        for c in try await accountJSON(key)["checkers"]?.array ?? [] where (try? u64(c["pool"], "pool")) == UInt64(pool) {
            return try record(c, CheckerRecord.self)
        }
        return nil
    }

    public func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
        var p: JSONObject = ["status": .string(Self.name(status)), "limit": .int(UInt64(min(max(limit, 1), 100)))]
        if let cursor { p["cursor"] = .string(cursor) }
        let page = try await call("ticket_list", .object(p))
        return (try (page["items"]?.array ?? []).map { try hash($0["ticketId"], "ticketId") }, page["nextCursor"]?.string)
    }

    public func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?) {
        var p: JSONObject = ["address": .string("0x" + checker.hex), "pending": .bool(pending),
                             "limit": .int(UInt64(min(max(limit, 1), 100)))]
        if let pool { p["pool"] = .int(UInt64(pool)) }
        if let cursor { p["cursor"] = .string(cursor) }
        let page = try await call("checker_getAssignments", .object(p))
        guard let items = page["items"]?.array else { throw BadAnswer(what: "checker_getAssignments has no items") }
        return (try items.map { j in try CheckerAssignment(json: j, key: { try? self.key(.string($0), "worker") }) }, page["nextCursor"]?.string)
    }

    public func fraudCase(_ ticket: Hash32) async throws -> FraudCase? {
        guard let f = try await optional("proof_get", .object(["ticketId": .string("0x" + ticket.hex)])) else { return nil }
        return try record(f, FraudCase.self)
    }

    public func transactionHeight(_ id: Hash32) async throws -> UInt64? {
        guard let t = try await optional("tx_getByHash", .object(["hash": .string("0x" + id.hex)])),
              t["status"]?.string == "included", try bool(t["canonical"], "canonical") else { return nil }
        return try u64(t["blockHeight"], "blockHeight")
    }

    public func transactionPending(_ id: Hash32) async throws -> Bool {
        try await optional("tx_getByHash", .object(["hash": .string("0x" + id.hex)]))?["status"]?.string == "pending"
    }

    public func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] {
        try await all("window_list", ["pool": .int(UInt64(pool))]).map { (try u64($0["window"], "window"), try record($0, WindowRecord.self)) }
    }

    public func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)] {
        try await all("window_getPayouts", ["pool": .int(UInt64(pool)), "window": .int(w)]).map {
            (try key($0["worker"], "worker"), try record($0, PayoutRecord.self))
        }
    }

    public func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)] {
        try await all("share_list", ["pool": .int(UInt64(pool)), "window": .int(w)]).map {
            (try key($0["worker"], "worker"), try record($0, WorkRecord.self))
        }
    }

    public func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] {
        try await all("escrow_list", ["owner": .string("0x" + owner.hex)]).map { (try hash($0["escrowId"], "escrowId"), try record($0, Escrow.self)) }
    }

    public func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)] {
        try await all("hop_list", ["pool": .int(UInt64(pool)), "window": .int(window), "worker": .string("0x" + worker.hex)]).map {
            (try hash($0["challengeId"], "challengeId"), try record($0, HopChallenge.self))
        }
    }

    public func fraudCases() async throws -> [FraudCase] { try await all("proof_list", [:]).map { try record($0, FraudCase.self) } }

    public func ticketCount(status: TicketStatus) async throws -> Int {
        try await all("ticket_list", ["status": .string(Self.name(status))]).count
    }
}

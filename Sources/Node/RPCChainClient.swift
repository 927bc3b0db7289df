import Foundation
import Ledger
import Primitives
import RPC

/// A `ChainClient` over a node's JSON-RPC interface (`--rpc http://host:port`): how the worker simulator,
/// the verifier service and the devnet summary talk to a node in another process.
public struct RPCChainClient: ChainClient {
    public let rpc: RPCClient

    public init(url: String) throws {
        do { rpc = try RPCClient(url: url) } catch { throw NodeStartupError("\(error)") }
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
        "fraudProven": .fraudProven, "upheld": .upheld, "unchallenged": .unchallenged,
    ]
    static func name(_ s: TicketStatus) -> String { ticketStatusNames.first { $0.value == s }!.key }

    /// Every item of a paged list method.
    func all(_ method: String, _ params: JSONObject) async throws -> [JSON] {
        var out = [JSON]()
        var cursor: JSON = .null
        repeat {
            var p = params
            p["limit"] = .int(100)
            if cursor != .null { p["cursor"] = cursor }
            let page = try await call(method, .object(p))
            out += page["items"]?.array ?? []
            cursor = page["nextCursor"] ?? .null
        } while cursor != .null
        return out
    }

    // MARK: ChainClient

    public func chainId() async throws -> Hash32 { try hash(try await call("node_chainId", .array([])), "chain id") }

    public func tip() async throws -> (height: UInt64, slot: UInt64) {
        let s = try await call("node_status", .array([]))
        return (try u64(s["height"], "height"), try u64(s["slot"], "slot"))
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
        let m = p["model"]
        func bits(_ j: JSON?, _ what: String) throws -> UInt32 {
            guard let s = j?.string, let v = UInt32(s.hasPrefix("0x") ? String(s.dropFirst(2)) : s, radix: 16) else {
                throw BadAnswer(what: "\(what) is not a bit pattern")
            }
            return v
        }
        let model = ModelSpec(hiddenSize: UInt32(try u64(m?["hiddenSize"], "hiddenSize")), numHeads: UInt32(try u64(m?["numHeads"], "numHeads")),
                              numKVHeads: UInt32(try u64(m?["numKVHeads"], "numKVHeads")), headDim: UInt32(try u64(m?["headDim"], "headDim")),
                              intermediateSize: UInt32(try u64(m?["intermediateSize"], "intermediateSize")),
                              numLayers: UInt32(try u64(m?["numLayers"], "numLayers")),
                              rmsNormEpsBits: try bits(m?["rmsNormEpsBits"], "rmsNormEpsBits"),
                              ropeThetaBits: try bits(m?["ropeThetaBits"], "ropeThetaBits"), qkvBias: try bool(m?["qkvBias"], "qkvBias"))
        let shards = try (p["shards"]?.array ?? []).map { s in
            PoolShard(layerStart: UInt32(try u64(s["layerStart"], "layerStart")), layerEnd: UInt32(try u64(s["layerEnd"], "layerEnd")),
                      finalNorm: try bool(s["finalNorm"], "finalNorm"), weightsSHA256: try hash(s["weightsSHA256"], "weightsSHA256"),
                      costWeight: try u64(s["costWeight"], "costWeight"))
        }
        let scheme: RewardScheme = p["rewardScheme"]?["type"]?.string == "pplns"
            ? .pplns(shares: try u64(p["rewardScheme"]?["shares"], "pplns shares")) : .proportional
        return PoolConfig(
            id: id, modelId: p["modelId"]?.string ?? "", executorSpec: p["executorSpec"]?.string ?? "", model: model, shards: shards,
            priceInputToken: try amount(p["priceInputToken"], "priceInputToken"), priceOutputToken: try amount(p["priceOutputToken"], "priceOutputToken"),
            minWorkerStake: try amount(p["minWorkerStake"], "minWorkerStake"), rewardScheme: scheme,
            windowBlocks: try u64(p["windowBlocks"], "windowBlocks"), challengeBlocks: try u64(p["challengeBlocks"], "challengeBlocks"),
            spotCheckPpm: UInt32(try u64(p["spotCheckPpm"], "spotCheckPpm")), revealDeadlineBlocks: try u64(p["revealDeadlineBlocks"], "revealDeadlineBlocks"),
            fraudSlashBps: UInt32(try u64(p["fraudSlashBps"], "fraudSlashBps")), withholdSlashBps: UInt32(try u64(p["withholdSlashBps"], "withholdSlashBps")),
            verifierBountyBps: UInt32(try u64(p["verifierBountyBps"], "verifierBountyBps")),
            fraudProofBond: try amount(p["fraudProofBond"], "fraudProofBond"), maxTokensPerPass: UInt32(try u64(p["maxTokensPerPass"], "maxTokensPerPass")))
    }

    public func staker(_ role: StakeRole, _ k: PublicKey) async throws -> Staker? {
        for s in try await accountJSON(k)["stakes"]?.array ?? [] {
            let r = s["role"]
            let matches: Bool
            switch role {
            case .validator: matches = r?["type"]?.string == "validator"
            case .worker(let p): matches = r?["type"]?.string == "worker" && (try? u64(r?["pool"], "pool")) == UInt64(p)
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

    func escrowRecord(_ e: JSON) throws -> Escrow {
        Escrow(owner: try key(e["owner"], "owner"), pool: UInt32(try u64(e["pool"], "pool")), balance: try amount(e["balance"], "balance"),
               expiryHeight: try u64(e["expiryHeight"], "expiryHeight"), openedHeight: try u64(e["openedHeight"], "openedHeight"),
               claimedInputTokens: try u64(e["claimedInputTokens"], "claimedInputTokens"),
               claimedOutputTokens: try u64(e["claimedOutputTokens"], "claimedOutputTokens"),
               totalCharged: try amount(e["totalCharged"], "totalCharged"), shortfall: try amount(e["shortfall"], "shortfall"),
               closed: try bool(e["closed"], "closed"))
    }

    public func escrow(_ id: Hash32) async throws -> Escrow? {
        guard let e = try await optional("escrow_get", .object(["escrowId": .string("0x" + id.hex)])) else { return nil }
        return try escrowRecord(e)
    }

    func windowRecord(_ w: JSON) throws -> WindowRecord {
        let status: WindowStatus = switch w["status"]?.string { case "closed": .closed; case "settled": .settled; default: .open }
        return WindowRecord(status: status, revenue: try amount(w["revenue"], "revenue"), carriedIn: try amount(w["carriedIn"], "carriedIn"),
                            totalShares: try u64(w["totalShares"], "totalShares"), commitments: try u64(w["commitments"], "commitments"),
                            protocolShare: try amount(w["protocolShare"], "protocolShare"), workerShare: try amount(w["workerShare"], "workerShare"),
                            carriedOut: try amount(w["carriedOut"], "carriedOut"), eligibleShares: try u64(w["eligibleShares"], "eligibleShares"))
    }

    public func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? {
        guard let j = try await optional("window_get", .object(["pool": .int(UInt64(pool)), "window": .int(w)])) else { return nil }
        return try windowRecord(j)
    }

    public func tickets(commitment: Hash32) async throws -> [(passIndex: UInt32, id: Hash32)] {
        guard let c = try await optional("commitment_get", .object(["commitmentId": .string("0x" + commitment.hex)])) else { return [] }
        return try (c["tickets"]?.array ?? []).map { (UInt32(try u64($0["passIndex"], "passIndex")), try hash($0["ticketId"], "ticketId")) }
    }

    func ticketJSON(_ id: Hash32) async throws -> JSON? { try await optional("ticket_get", .object(["ticketId": .string("0x" + id.hex)])) }

    public func ticket(_ id: Hash32) async throws -> Ticket? {
        guard let t = try await ticketJSON(id) else { return nil }
        guard let status = Self.ticketStatusNames[t["status"]?.string ?? ""] else { throw BadAnswer(what: "ticket status") }
        var leaf: PassLeaf?
        if let l = t["leaf"], l != .null {
            leaf = PassLeaf(shard: UInt32(try u64(l["shard"], "shard")), positionOffset: try u64(l["positionOffset"], "positionOffset"),
                            tokenCount: UInt32(try u64(l["tokenCount"], "tokenCount")), inputHash: try hash(l["inputHash"], "inputHash"),
                            outputHash: try hash(l["outputHash"], "outputHash"))
        }
        return Ticket(commitmentId: try hash(t["commitmentId"], "commitmentId"), passIndex: UInt32(try u64(t["passIndex"], "passIndex")),
                      worker: try key(t["worker"], "worker"), pool: UInt32(try u64(t["pool"], "pool")), window: try u64(t["window"], "window"),
                      status: status, selectedHeight: try u64(t["selectedHeight"], "selectedHeight"),
                      revealDeadline: try u64(t["revealDeadline"], "revealDeadline"), leaf: leaf,
                      revealedHeight: (try? u64(t["revealedHeight"], "revealedHeight")) ?? 0,
                      challengeEnd: (try? u64(t["challengeEnd"], "challengeEnd")) ?? 0)
    }

    public func ticketInput(_ id: Hash32) async throws -> [UInt8]? {
        guard let s = try await ticketJSON(id)?["input"]?.string else { return nil }
        return try Hex.decode(s)
    }

    public func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
        var p: JSONObject = ["status": .string(Self.name(status)), "limit": .int(UInt64(min(max(limit, 1), 100)))]
        if let cursor { p["cursor"] = .string(cursor) }
        let page = try await call("ticket_list", .object(p))
        return (try (page["items"]?.array ?? []).map { try hash($0["ticketId"], "ticketId") }, page["nextCursor"]?.string)
    }

    func fraudCaseRecord(_ f: JSON) throws -> FraudCase {
        FraudCase(ticketId: try hash(f["ticketId"], "ticketId"), prover: try key(f["prover"], "prover"), worker: try key(f["worker"], "worker"),
                  pool: UInt32(try u64(f["pool"], "pool")), height: try u64(f["height"], "height"), fraud: try bool(f["fraud"], "fraud"),
                  canonicalOutputHash: try hash(f["canonicalOutputHash"], "canonicalOutputHash"), slashed: try amount(f["slashed"], "slashed"),
                  bounty: try amount(f["bounty"], "bounty"), bondBurned: try amount(f["bondBurned"], "bondBurned"))
    }

    public func fraudCase(_ ticket: Hash32) async throws -> FraudCase? {
        guard let f = try await optional("proof_get", .object(["ticketId": .string("0x" + ticket.hex)])) else { return nil }
        return try fraudCaseRecord(f)
    }

    public func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] {
        try await all("window_list", ["pool": .int(UInt64(pool))]).map { (try u64($0["window"], "window"), try windowRecord($0)) }
    }

    public func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(kind: PayoutKind, recipient: PublicKey, amount: Amount)] {
        try await all("window_getPayouts", ["pool": .int(UInt64(pool)), "window": .int(w)]).map {
            ($0["kind"]?.string == "validator" ? .validator : .worker, try key($0["recipient"], "recipient"), try amount($0["amount"], "amount"))
        }
    }

    public func shares(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, ShareTally)] {
        try await all("share_list", ["pool": .int(UInt64(pool)), "window": .int(w)]).map {
            (try key($0["worker"], "worker"), ShareTally(shares: try u64($0["shares"], "shares"), commitments: UInt32(try u64($0["commitments"], "commitments"))))
        }
    }

    public func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] {
        try await all("escrow_list", ["owner": .string("0x" + owner.hex)]).map { (try hash($0["escrowId"], "escrowId"), try escrowRecord($0)) }
    }

    public func fraudCases() async throws -> [FraudCase] { try await all("proof_list", [:]).map(fraudCaseRecord) }

    public func ticketCount(status: TicketStatus) async throws -> Int {
        try await all("ticket_list", ["status": .string(Self.name(status))]).count
    }
}

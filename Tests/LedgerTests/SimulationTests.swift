import Foundation
import Testing
@testable import Ledger
@testable import Primitives

/// A seeded economy: many accounts and workers (some cheating), clients paying through escrows, verifiers
/// hunting fraud, random invalid operations; invariants are checked after every block.
struct Simulation {
    struct Batch { let commitment: Hash32; let worker: Int; let passes: PassBatch; let cheats: Set<Int> }

    var chain: Chain
    var g: SplitMix64
    let accounts: [PrivateKey]
    let workers: [PrivateKey]
    let cheaters: Set<Int>
    var batches: [Hash32: Batch] = [:]
    var escrows: [(id: Hash32, owner: Int, input: UInt64, output: UInt64)] = []
    var roots: [Hash32] = []
    var stats: [String: Int] = [:]

    init(seed: UInt64, accountCount: Int = 12, workerCount: Int = 6, validators: Int = 3) throws {
        g = SplitMix64(seed: seed)
        accounts = (0..<accountCount).map { testKey("sim-account-\($0)") }
        workers = (0..<workerCount).map { testKey("sim-worker-\($0)") }
        cheaters = [1, 4]
        var pools = [Chain.defaultPool(id: 0), Chain.defaultPool(id: 1, scheme: .pplns(shares: 200))]
        pools[1].windowBlocks = 7
        pools[1].challengeBlocks = 5
        chain = try Chain(validatorCount: validators,
                          accounts: accounts.map { ($0, Amount(1_000_000)) } + workers.map { ($0, Amount(100_000)) },
                          workers: workers.enumerated().map { ($0.element, UInt32($0.offset % 2), Amount(2_000)) },
                          pools: pools)
    }

    mutating func pick<T>(_ a: [T]) -> T { a[Int.random(in: 0..<a.count, using: &g)] }
    mutating func chance(_ p: Double) -> Bool { Double(g.next() % 1_000_000) / 1_000_000 < p }
    mutating func amount(_ max: UInt64) -> Amount { Amount(UInt64.random(in: 0...max, using: &g)) }

    /// Builds one block of random transactions; nonces are tracked per sender within the block.
    mutating func step() throws {
        var txs = [SignedTransaction]()
        var nonces = [PublicKey: UInt64]()
        func next(_ k: PrivateKey) throws -> UInt64 {
            let n = try nonces[k.publicKey] ?? chain.account(k.publicKey).nonce
            nonces[k.publicKey] = n + 1
            return n
        }
        func add(_ k: PrivateKey, _ body: TxBody, _ kind: String) throws {
            // Skip senders that cannot pay a fee (their transaction would be invalid for the block).
            guard try chain.account(k.publicKey).balance.units > 5_000 else { return }
            txs.append(try chain.tx(k, body, nonce: try next(k)))
            stats[kind, default: 0] += 1
        }
        let h = chain.height + 1
        for _ in 0..<Int.random(in: 0...8, using: &g) {
            let roll = g.next() % 100
            switch roll {
            case 0..<20:
                let from = pick(accounts), to = pick(accounts + workers)
                try add(from, .transfer(to: to.publicKey, amount: amount(chance(0.1) ? 5_000_000 : 20_000)), "transfer")
            case 20..<28:
                let w = Int.random(in: 0..<workers.count, using: &g)
                let role = StakeRole.worker(pool: UInt32(w % 2))
                if chance(0.5) { try add(workers[w], .bond(role: role, amount: amount(500), randaoCommitment: nil), "bond") }
                else { try add(workers[w], .unbond(role: role, amount: amount(400)), "unbond") }
            case 28..<33:
                let k = Int.random(in: 0..<accounts.count, using: &g)
                let expiry = h + UInt64.random(in: 0...80, using: &g)
                let pool = UInt32.random(in: 0...2, using: &g)  // pool 2 does not exist
                let n = try nonces[accounts[k].publicKey] ?? chain.account(accounts[k].publicKey).nonce
                try add(accounts[k], .escrowOpen(pool: pool, amount: amount(50_000), expiryHeight: expiry), "escrowOpen")
                escrows.append((LedgerIds.escrow(owner: accounts[k].publicKey, nonce: n), k, 0, 0))
            case 33..<50 where !escrows.isEmpty:
                let i = Int.random(in: 0..<escrows.count, using: &g)
                var e = escrows[i]
                if chance(0.85) { e.input += UInt64.random(in: 0...500, using: &g); e.output += UInt64.random(in: 0...200, using: &g) }
                let v = UsageVoucher(chainId: Chain.chainId, escrowId: e.id, cumulativeInputTokens: e.input, cumulativeOutputTokens: e.output)
                escrows[i] = e
                try add(pick(workers), .claimUsage(voucher: v.signed(by: chance(0.05) ? pick(accounts) : accounts[e.owner])), "claimUsage")
            case 50..<54 where !escrows.isEmpty:
                let e = pick(escrows)
                if chance(0.5) { try add(accounts[e.owner], .escrowClose(escrowId: e.id), "escrowClose") }
                else { try add(accounts[e.owner], .escrowTopUp(escrowId: e.id, amount: amount(5_000), newExpiryHeight: chance(0.3) ? h + 50 : nil), "escrowTopUp") }
            case 54..<70:
                let w = Int.random(in: 0..<workers.count, using: &g)
                let pool = chain.ledger.params.beaconDelay > 0 ? UInt32(w % 2) : 0
                let poolConfig = try chain.ledgerState.pool(pool)!
                let window = chance(0.05) ? 99 : poolConfig.window(ofHeight: h)
                let count = Int.random(in: 1...20, using: &g)
                let shard = UInt32.random(in: 0...1, using: &g)
                let cheats: Set<Int> = cheaters.contains(w) ? Set((0..<count).filter { _ in chance(0.5) }) : []
                let batch = PassBatch.make(count: count, shard: shard, seed: g.next(), cheat: cheats)
                let id = LedgerIds.commitment(worker: workers[w].publicKey, pool: pool, window: window, passRoot: batch.root)
                batches[id] = Batch(commitment: id, worker: w, passes: batch, cheats: cheats)
                try add(workers[w], .commitShares(pool: pool, window: window, shard: shard, passCount: UInt32(count),
                                                  tokenCount: batch.tokenCount, passRoot: batch.root), "commitShares")
            case 70..<74:
                let w = Int.random(in: 0..<workers.count, using: &g)
                try add(workers[w], .unjail(role: .worker(pool: UInt32(w % 2))), "unjail")
            case 74..<76:
                try add(pick(accounts), .doubleSignEvidence(headerA: [1], headerB: [2]), "badEvidence")
            default:
                break
            }
        }
        // Workers reveal their open tickets (cheaters withhold some); a verifier proves fraud where it sees it.
        for kv in try chain.ledgerState.scan(StateKey.tickets(status: .awaitingReveal)) {
            let tid = Hash32(bytes: kv.key[2...])!
            guard let t = try chain.record(StateKey.ticket(tid), Ticket.self), let b = batches[t.commitment] else { continue }
            let i = Int(t.passIndex)
            if cheaters.contains(b.worker) && chance(0.3) { continue }
            if !chance(0.7) { continue }
            try add(workers[b.worker], .revealTicket(ticketId: tid, leaf: b.passes.leaves[i], proof: b.passes.proof(i), input: b.passes.inputs[i]), "reveal")
        }
        for kv in try chain.ledgerState.scan(StateKey.tickets(status: .revealed)) {
            let tid = Hash32(bytes: kv.key[2...])!
            guard let t = try chain.record(StateKey.ticket(tid), Ticket.self), let b = batches[t.commitment] else { continue }
            let fraudulent = b.cheats.contains(Int(t.passIndex))
            if (fraudulent && chance(0.6)) || (!fraudulent && chance(0.02)) {
                try add(pick(accounts), .fraudProof(ticketId: tid), fraudulent ? "fraudProof" : "falseFraudProof")
            }
        }
        try chain.block(txs)
        for r in chain.lastReceipts.dropLast() { stats[r.succeeded ? "ok" : "failed", default: 0] += 1 }
        for e in chain.lastReceipts.flatMap(\.events) { stats["event." + e.name, default: 0] += 1 }
        roots.append(chain.stateRoot)
    }
}

extension Ticket { var commitment: Hash32 { commitmentId } }

@Suite struct SimulationTests {
    @Test func seededEconomyKeepsEveryInvariant() throws {
        let seed = ProcessInfo.processInfo.environment["SIM_SEED"].flatMap(UInt64.init) ?? 20_261_122
        let blocks = ProcessInfo.processInfo.environment["SIM_BLOCKS"].flatMap(Int.init) ?? 2_000
        var sim = try Simulation(seed: seed)
        sim.chain.checkInvariants = ProcessInfo.processInfo.environment["SIM_NO_INVARIANTS"] == nil
        do {
            for _ in 0..<blocks { try sim.step() }
        } catch {
            Issue.record("simulation seed \(seed) failed at height \(sim.chain.height + 1): \(error)")
            throw error
        }
        let s = sim.stats
        if ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil { print("simulation stats: \(s.sorted { $0.key < $1.key }) keys=\(sim.chain.state.count)") }
        // The run must have exercised the interesting paths, not just transfers.
        for key in ["event.fraudProven", "event.fraudRejected", "event.revealWithheld", "event.windowSettled", "event.payoutCredited",
                    "event.escrowCharged", "event.unbonded", "event.ticketRevealed", "event.slashed", "failed"] {
            #expect((s[key] ?? 0) > 0, "seed \(seed): \(key) never happened (\(s))")
        }
        let report = try Invariants.check(sim.chain.state)
        #expect(report.burned > 0, "seed \(seed)")
    }

    @Test func sameSeedGivesIdenticalStateRootsAtEveryHeight() throws {
        var a = try Simulation(seed: 77), b = try Simulation(seed: 77)
        a.chain.checkInvariants = false
        b.chain.checkInvariants = false
        for _ in 0..<250 { try a.step(); try b.step() }
        #expect(a.roots == b.roots)
        #expect(a.chain.state.dump() == b.chain.state.dump())
        var c = try Simulation(seed: 78)
        c.chain.checkInvariants = false
        for _ in 0..<20 { try c.step() }
        #expect(Array(a.roots.prefix(20)) != c.roots)
    }
}

import Foundation
import Testing
@testable import Ledger
@testable import Primitives

/// A seeded economy: many accounts and workers (some cheating), clients paying through escrows, verifiers
/// hunting fraud, random invalid operations; invariants are checked after every block.
struct Simulation {
    struct Batch { let commitment: Hash32; let worker: Int; let pool: UInt32; let passes: PassBatch }
    struct Lane: Hashable { let escrow: Int; let worker: Int; let shard: UInt32; let window: UInt64 }
    struct PendingClaim { let prover: PrivateKey; let ticket: Hash32; let salt: Hash32; let input: [UInt8]; let height: UInt64 }

    var chain: Chain
    var g: SplitMix64
    let accounts: [PrivateKey]
    let workers: [PrivateKey]
    let cheaters: Set<Int>
    var batches: [Hash32: Batch] = [:]
    var escrows: [(id: Hash32, owner: Int, pool: UInt32)] = []
    var counters: [Lane: (UInt64, UInt64)] = [:]
    var pending: [PendingClaim] = []
    var challenged = Set<Hash32>()
    /// (escrow index, worker index) pairs an allocation was sent for.
    var allocated = Set<[Int]>()
    var roots: [Hash32] = []
    var stats: [String: Int] = [:]

    init(seed: UInt64, accountCount: Int = 12, workerCount: Int = 6, validators: Int = 3) throws {
        g = SplitMix64(seed: seed)
        accounts = (0..<accountCount).map { testKey("sim-account-\($0)") }
        workers = (0..<workerCount).map { testKey("sim-worker-\($0)") }
        cheaters = [1, 4]
        var pools = [Chain.defaultPool(id: 0), Chain.defaultPool(id: 1)]
        pools[1].windowBlocks = 7
        pools[1].challengeBlocks = 3
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
        var spent = [PublicKey: UInt64]()
        func add(_ k: PrivateKey, _ body: TxBody, _ kind: String) throws {
            // Skip senders that might not pay the fee at their turn (the transaction would make the block invalid):
            // count what earlier transactions of this block could take from them.
            let cost: UInt64
            switch body {
            case .transfer(_, let a), .escrowOpen(_, let a, _), .bond(_, let a, _), .escrowTopUp(_, let a, _): cost = a.units
            case .fraudCommit: cost = chain.pool.fraudProofBond.units
            case .commitShares: cost = UInt64(chain.pool.maxTicketsPerCommitment) * chain.pool.ticketFee.units
            default: cost = 0
            }
            let probe = try chain.tx(k, body, nonce: 0)
            let budget = try chain.account(k.publicKey).balance.units
            let used = spent[k.publicKey] ?? 0
            guard budget > used, budget - used >= probe.transaction.fee.units + cost + 1_000 else { return }
            spent[k.publicKey] = used + probe.transaction.fee.units + cost
            txs.append(try chain.tx(k, body, nonce: try next(k)))
            stats[kind, default: 0] += 1
        }
        let h = chain.height + 1
        for _ in 0..<Int.random(in: 0...8, using: &g) {
            let roll = g.next() % 100
            switch roll {
            case 0..<16:
                let from = pick(accounts), to = pick(accounts + workers)
                try add(from, .transfer(to: to.publicKey, amount: amount(chance(0.1) ? 5_000_000 : 20_000)), "transfer")
            case 16..<22:
                let w = Int.random(in: 0..<workers.count, using: &g)
                let role = StakeRole.worker(pool: UInt32(w % 2))
                if chance(0.5) { try add(workers[w], .bond(role: role, amount: amount(500), randaoCommitment: nil), "bond") }
                else { try add(workers[w], .unbond(role: role, amount: amount(400)), "unbond") }
            case 22..<26:
                let k = Int.random(in: 0..<accounts.count, using: &g)
                let expiry = h + UInt64.random(in: 0...80, using: &g)
                let pool = UInt32.random(in: 0...2, using: &g)  // pool 2 does not exist
                let n = try nonces[accounts[k].publicKey] ?? chain.account(accounts[k].publicKey).nonce
                try add(accounts[k], .escrowOpen(pool: pool, amount: amount(50_000), expiryHeight: expiry), "escrowOpen")
                escrows.append((LedgerIds.escrow(owner: accounts[k].publicKey, nonce: n), k, pool))
            case 26..<32 where !escrows.isEmpty:
                let ei = Int.random(in: 0..<escrows.count, using: &g)
                let e = escrows[ei]
                // Mostly a worker of the escrow's pool.
                let w = chance(0.8) ? (0..<workers.count).filter { UInt32($0 % 2) == e.pool }.randomElement(using: &g) ?? 0
                                    : Int.random(in: 0..<workers.count, using: &g)
                allocated.insert([ei, w])
                try add(accounts[e.owner], .escrowAllocate(escrowId: e.id, payee: workers[w].publicKey, amount: amount(20_000)), "escrowAllocate")
            case 32..<50 where !escrows.isEmpty:
                let ei = Int.random(in: 0..<escrows.count, using: &g)
                let e = escrows[ei]
                let w = Int.random(in: 0..<workers.count, using: &g)
                let pool = try chain.ledgerState.pool(e.pool <= 1 ? e.pool : 0)!
                let window = chance(0.1) ? pool.window(ofHeight: h) &- 1 : pool.window(ofHeight: h)
                let lane = Lane(escrow: ei, worker: w, shard: UInt32.random(in: 0...1, using: &g), window: window)
                var (i, o) = counters[lane] ?? (0, 0)
                if chance(0.9) { i += UInt64.random(in: 0...60, using: &g); o += UInt64.random(in: 0...20, using: &g) }
                counters[lane] = (i, o)
                let signer = chance(0.05) ? pick(accounts) : accounts[e.owner]
                let v = UsageVoucher(chainId: Chain.chainId, escrowId: e.id, payee: workers[w].publicKey, shard: lane.shard, window: window,
                                     cumulativeInputTokens: i, cumulativeOutputTokens: o).signed(by: signer)
                try add(chance(0.05) ? pick(workers) : workers[w], .claimUsage(voucher: v), "claimUsage")
            case 50..<54 where !escrows.isEmpty:
                let e = pick(escrows)
                if chance(0.5) { try add(accounts[e.owner], .escrowClose(escrowId: e.id), "escrowClose") }
                else { try add(accounts[e.owner], .escrowTopUp(escrowId: e.id, amount: amount(5_000), newExpiryHeight: chance(0.3) ? h + 50 : nil), "escrowTopUp") }
            case 54..<68:
                let w = Int.random(in: 0..<workers.count, using: &g)
                let pool = UInt32(w % 2)
                let poolConfig = try chain.ledgerState.pool(pool)!
                let window = chance(0.05) ? 99 : poolConfig.window(ofHeight: h)
                let count = Int.random(in: 1...20, using: &g)
                let shard = UInt32.random(in: 0...1, using: &g)
                let cheats: Set<Int> = cheaters.contains(w) ? Set((0..<count).filter { _ in chance(0.5) }) : []
                let batch = PassBatch.make(count: count, shard: shard, seed: g.next(), cheat: cheats)
                let id = LedgerIds.commitment(worker: workers[w].publicKey, pool: pool, window: window, shard: shard, root: batch.root)
                batches[id] = Batch(commitment: id, worker: w, pool: pool, passes: batch)
                try add(workers[w], .commitShares(pool: pool, window: window, shard: shard, leafCount: batch.leafCount,
                                                  tokenTotal: batch.tokenCount, root: batch.root), "commitShares")
                // A client that allocated to this worker pays for (about) the committed tokens.
                if chance(0.8), let ei = escrows.indices.first(where: { escrows[$0].pool == pool && allocated.contains([$0, w]) }) {
                    let lane = Lane(escrow: ei, worker: w, shard: shard, window: window)
                    let tokens = batch.tokenCount * UInt64.random(in: 8...11, using: &g) / 10
                    var (i, o) = counters[lane] ?? (0, 0)
                    i += tokens - tokens / 4; o += tokens / 4
                    counters[lane] = (i, o)
                    let v = UsageVoucher(chainId: Chain.chainId, escrowId: escrows[ei].id, payee: workers[w].publicKey, shard: shard,
                                         window: window, cumulativeInputTokens: i, cumulativeOutputTokens: o).signed(by: accounts[escrows[ei].owner])
                    try add(workers[w], .claimUsage(voucher: v), "paidClaim")
                }
            case 68..<72:
                let w = Int.random(in: 0..<workers.count, using: &g)
                try add(workers[w], .unjail(role: .worker(pool: UInt32(w % 2))), "unjail")
            case 72..<74:
                try add(pick(accounts), .doubleSignEvidence(headerA: [1], headerB: [2]), "badEvidence")
            case 74..<80:
                // Anyone asks for a payout of a recent window of some worker.
                let w = Int.random(in: 0..<workers.count, using: &g)
                let pool = UInt32(w % 2)
                let current = try chain.ledgerState.pool(pool)!.window(ofHeight: h)
                let window = current > 8 ? current - UInt64.random(in: 3...8, using: &g) : 0
                try add(pick(accounts), .claimPayout(pool: pool, window: window, worker: workers[w].publicKey), "claimPayout")
            default:
                break
            }
        }
        // Workers reveal their open tickets (cheaters withhold some); verifiers commit claims where they see fraud
        // (and sometimes falsely), opening them in a later block.
        let reader = LedgerReader(chain.state)
        for (tid, t) in try reader.tickets(status: .awaitingReveal).items {
            guard let b = batches[t.commitmentId] else { continue }
            if cheaters.contains(b.worker) && chance(0.3) { continue }
            if !chance(0.7) { continue }
            try add(workers[b.worker], b.passes.reveal(tid, point: t.point), "reveal")
        }
        for (tid, t) in try reader.tickets(status: .revealed).items {
            guard let leaf = t.leaf, let b = batches[t.commitmentId] else { continue }
            let fraudulent = b.passes.cheated.contains(Int(leaf.index))
            if !challenged.contains(tid) && ((fraudulent && chance(0.3)) || (!fraudulent && chance(0.01))) {
                challenged.insert(tid)
                let prover = pick(accounts)
                let salt = Hash32(bytes: (0..<4).flatMap { _ in g.next().bigEndianBytes })!
                try add(prover, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: prover.publicKey, salt: salt), pool: b.pool),
                        fraudulent ? "fraudCommit" : "falseFraudCommit")
                if chance(0.9) { pending.append(PendingClaim(prover: prover, ticket: tid, salt: salt, input: b.passes.inputs[Int(leaf.index)], height: h)) }
            }
        }
        for c in pending where c.height < h { try add(c.prover, .fraudReveal(ticketId: c.ticket, salt: c.salt, input: c.input), "fraudReveal") }
        pending.removeAll { $0.height < h }
        try chain.block(txs)
        for r in chain.lastReceipts.dropLast() { stats[r.succeeded ? "ok" : "failed", default: 0] += 1 }
        for e in chain.lastReceipts.flatMap(\.events) {
            stats["event." + e.name, default: 0] += 1
            if case .payoutCredited(_, _, _, let paid, _) = e, paid.units > 0 { stats["paidWork", default: 0] += 1 }
        }
        roots.append(chain.stateRoot)
    }
}

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
                    "event.usageClaimed", "event.unbonded", "event.ticketRevealed", "event.slashed", "event.bountyPaid",
                    "event.refundCredited", "event.fraudBondBurned", "event.escrowUnlocking", "paidWork", "failed"] {
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

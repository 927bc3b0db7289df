import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Four validators in one process exchanging blocks and transactions with random delays (forks happen
/// whenever a leader has not yet seen the previous block), driven by a virtual slot clock. Each validator also
/// casts its finality votes (Specs/consensus.md §8) behind its own slashing protection, gossiped like
/// transactions; after every slot no two nodes may have finalized conflicting checkpoints.
struct NetworkSimulation {
    struct Node {
        let engine: ChainEngine
        var mempool = Mempool()
        let dir: TempDir
        var protection = SlashingProtection()
    }
    /// Funded accounts that pay for each validator's vote transactions (the first six send transfers).
    static let transferAccounts = 6
    struct Message { let due: UInt64; let to: Int; let block: Block?; let tx: SignedTransaction?; let from: Int }

    let net: TestNetwork
    var nodes: [Node]
    var g: SplitMix64
    var inbox: [Message] = []
    var nonces: [PublicKey: UInt64] = [:]
    var stats: [String: Int] = [:]

    init(seed: UInt64, validators: Int = 4) throws {
        let net = TestNetwork(validators: validators, accounts: Self.transferAccounts + validators, finalityDepth: 12, slotsPerEpoch: 32,
                              windowBlocks: 6, checkpointBlocks: 4)
        self.net = net
        g = SplitMix64(seed: seed)
        nodes = try (0..<validators).map { _ in
            let dir = TempDir("sim")
            let e = try net.engine(at: dir)
            e.invariantTracker = try InvariantTracker(state: e.store.current)
            return Node(engine: e, dir: dir)
        }
    }

    mutating func delay(maxDelay: UInt64) -> UInt64 {
        let r = g.next() % 100
        if maxDelay == 0 { return 0 }
        return r < 60 ? 0 : (r < 90 ? 1 : min(maxDelay, 2 + g.next() % maxDelay))
    }

    /// Imports a block at node `i`, fetching unknown ancestors from node `from` first.
    mutating func deliver(_ block: Block, to i: Int, from: Int, slot: UInt64) throws {
        let now = net.now(slot)
        do {
            let result = try nodes[i].engine.importBlock(block, now: now)
            if case .tipChanged(let change) = result {
                if change.isReorg { stats["reorg", default: 0] += 1; stats["reorgDepth", default: 0] = max(stats["reorgDepth", default: 0], change.reverted.count) }
                // Reorgs are not tracked incrementally: re-seed the tracker with a full check.
                if nodes[i].engine.invariantTracker == nil { nodes[i].engine.invariantTracker = try InvariantTracker(state: nodes[i].engine.store.current) }
                for b in change.applied { for t in b.transactions { nodes[i].mempool.remove(t.id) } }
                let engine = nodes[i].engine
                for t in change.orphanedTransactions {
                    _ = try? nodes[i].mempool.add(t, account: engine.tipState.account(t.transaction.sender), ledger: engine.ledger, now: now)
                }
                try nodes[i].mempool.revalidate(now: now) { try engine.tipState.account($0) }
            }
        } catch ImportError.unknownParent(let parent) {
            stats["fetchParent", default: 0] += 1
            guard let p = try nodes[from].engine.block(parent) else { return }
            try deliver(p, to: i, from: from, slot: slot)
            try deliver(block, to: i, from: from, slot: slot)
        } catch ImportError.belowFinality {
            stats["belowFinality", default: 0] += 1
        }
    }

    /// Delivers every queued message (end of the healing period).
    mutating func flush(slot: UInt64) throws {
        let all = inbox
        inbox.removeAll()
        for m in all {
            if let b = m.block { try deliver(b, to: m.to, from: m.from, slot: slot) }
        }
    }

    /// One slot: new transactions gossiped, due messages delivered, the leaders (in their own views) produce.
    mutating func step(slot: UInt64, maxDelay: UInt64) throws {
        // A few transfers per slot from random accounts (nonces tracked by the generator).
        for _ in 0..<Int(g.next() % 4) {
            let from = Int(g.next() % UInt64(Self.transferAccounts))
            let k = net.accounts[from]
            let n = nonces[k.publicKey, default: 0]
            nonces[k.publicKey] = n + 1
            let to = net.accounts[Int(g.next() % UInt64(Self.transferAccounts))].publicKey
            let tx = Transaction(chainId: net.genesis.chainId, sender: k.publicKey, nonce: n, fee: 1_000,
                                 body: .transfer(to: to, amount: Amount(1 + g.next() % 1000))).signed(by: k)
            for i in nodes.indices { inbox.append(Message(due: slot + delay(maxDelay: maxDelay), to: i, block: nil, tx: tx, from: i)) }
        }
        let due = inbox.filter { $0.due <= slot }
        inbox.removeAll { $0.due <= slot }
        for m in due {
            if let b = m.block { try deliver(b, to: m.to, from: m.from, slot: slot) }
            if let t = m.tx {
                let e = nodes[m.to].engine
                _ = try? nodes[m.to].mempool.add(t, account: e.tipState.account(t.transaction.sender), ledger: e.ledger, now: net.now(slot))
            }
        }
        for i in nodes.indices {
            let e = nodes[i].engine
            guard slot > e.tipHeader.slot, let leader = try e.leader(of: slot), leader == net.validators[i].publicKey else { continue }
            let candidates = try nodes[i].mempool.select(maxCount: 50, maxBytes: 1 << 20) { try e.tipState.account($0) }
            let block = try e.produceBlock(slot: slot, key: net.validators[i], randaoReveal: try net.reveal(e, i), candidates: candidates, now: net.now(slot))
            try deliver(block, to: i, from: i, slot: slot)
            stats["produced", default: 0] += 1
            for j in nodes.indices where j != i {
                inbox.append(Message(due: slot + delay(maxDelay: maxDelay), to: j, block: block, tx: nil, from: i))
            }
        }
        try vote(slot: slot, maxDelay: maxDelay)
        try checkFinalitySafety()
    }

    /// Each validator signs the vote due on its own tip (if its protection permits) and gossips it.
    mutating func vote(slot: UInt64, maxDelay: UInt64) throws {
        for i in nodes.indices {
            let e = nodes[i].engine
            guard let due = try ChainEngine.finalityVoteCandidate(for: net.validators[i].publicKey, engine: e), nodes[i].protection.permits(due)
            else { continue }
            nodes[i].protection.record(due)
            let payer = net.accounts[Self.transferAccounts + i]
            let n = nonces[payer.publicKey, default: 0]
            nonces[payer.publicKey] = n + 1
            let tx = Transaction(chainId: net.genesis.chainId, sender: payer.publicKey, nonce: n, fee: 20_000,
                                 body: .finalityVotes(votes: [due.signed(by: net.validators[i], chainId: net.genesis.chainId)])).signed(by: payer)
            stats["votes", default: 0] += 1
            for j in nodes.indices { inbox.append(Message(due: slot + (j == i ? 0 : delay(maxDelay: maxDelay)), to: j, block: nil, tx: tx, from: i)) }
        }
    }

    struct SafetyViolation: Error, CustomStringConvertible { let description: String }

    /// Finality safety: the finalized checkpoints of any two nodes lie on one chain (the lower one is on the
    /// chain of the node that finalized the higher one).
    mutating func checkFinalitySafety() throws {
        let finalized = try nodes.map { try Ledger.finality(of: $0.engine.tipState).finalized }
        for i in nodes.indices {
            // Genesis is every node's: only checkpoints above it can conflict.
            for j in nodes.indices where finalized[i].height > 0 && finalized[i].height <= finalized[j].height {
                let onJ = try nodes[j].engine.store.current.canonicalHash(at: finalized[i].height)
                if onJ != finalized[i].hash {
                    throw SafetyViolation(description: "nodes \(i) and \(j) finalized conflicting checkpoints: \(finalized[i]) vs \(finalized[j])")
                }
            }
        }
        stats["maxFinalized", default: 0] = max(stats["maxFinalized", default: 0], Int(finalized.map(\.height).max() ?? 0))
    }
}

@Suite struct NetworkSimulationTests {
    @Test func fourValidatorsWithDelaysConvergeOnOneChain() throws {
        let seed = ProcessInfo.processInfo.environment["NETSIM_SEED"].flatMap(UInt64.init) ?? 424_242
        let slots = ProcessInfo.processInfo.environment["NETSIM_SLOTS"].flatMap(UInt64.init) ?? 1_500
        var sim = try NetworkSimulation(seed: seed)
        let start = sim.net.genesis.slot(atMillis: sim.net.genesis.genesisTime * 1000) + 1
        do {
            for s in start..<(start + slots) { try sim.step(slot: s, maxDelay: 3) }
            // Heal: deliver everything, then a few slots without delays.
            for s in (start + slots)..<(start + slots + 10) { try sim.step(slot: s, maxDelay: 0) }
            try sim.flush(slot: start + slots + 10)
        } catch {
            Issue.record("simulation seed \(seed) failed: \(error)")
            throw error
        }
        let tips = sim.nodes.map(\.engine.tipHash)
        #expect(Set(tips).count == 1, "seed \(seed): tips differ \(tips)")
        let reference = sim.nodes[0].engine
        #expect(reference.tipHeight > slots / 2, "seed \(seed): chain too short (\(reference.tipHeight))")
        // Identical blocks (hence state roots) at every height, and identical final state.
        for h in stride(from: UInt64(0), through: reference.tipHeight, by: 1) {
            let hashes = try sim.nodes.map { try $0.engine.store.current.canonicalHash(at: h) }
            #expect(Set(hashes.compactMap { $0 }).count == 1 && !hashes.contains(nil), "seed \(seed): height \(h) differs")
        }
        let dump = try reference.store.current.dumpState()
        for n in sim.nodes.dropFirst() { #expect(try n.engine.store.current.dumpState() == dump) }
        try Invariants.check(reference.store.current)
        // The delays must actually have caused forks.
        #expect(sim.stats["reorg", default: 0] > 0, "seed \(seed): no reorgs happened (\(sim.stats))")
        // Finality advanced despite the forks (and never conflicted: checked every slot).
        #expect(sim.stats["maxFinalized", default: 0] > Int(reference.tipHeight / 4), "seed \(seed): finality lagged (\(sim.stats))")
        if ProcessInfo.processInfo.environment["NETSIM_VERBOSE"] != nil { print("network simulation: \(sim.stats), height \(reference.tipHeight)") }
    }
}

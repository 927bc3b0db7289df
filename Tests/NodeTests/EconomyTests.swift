import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import Storage

/// The whole economy in one process on 1-second slots: a validator, two honest workers and a cheater (each
/// also playing a client through an escrow), and a verifier, all talking to the chain through
/// `LocalChainClient`; invariants checked after every block.
@Suite(.serialized) struct EconomyTests {
    static func genesisJSON(now: Date = Date()) throws -> String {
        var b = DevnetGenesisBuilder(modelFile: repositoryRoot.appendingPathComponent("Genesis/models/tiny/model.safetensors").path)
        b.slotSeconds = 1
        b.genesisTime = UInt64(now.timeIntervalSince1970) - 5
        b.chainName = "economy-test"
        b.windowBlocks = 6
        b.challengeBlocks = 6
        b.revealDeadlineBlocks = 4
        b.beaconDelay = 1
        b.spotCheckPpm = 400_000
        b.slotsPerEpoch = 600
        b.jailBlocks = 100
        b.randaoLength = 4096
        return String(decoding: try b.json(), as: UTF8.self)
    }

    @Test func workersEarnTheCheaterIsCaughtAndTheBooksBalance() async throws {
        let dir = TempDir("economy")
        let keyPath = dir.file("validator.key")
        var file = KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr")
        file.randaoChainLength = 4096
        try file.write(path: keyPath)
        var config = NodeConfig(dataDir: dir.file("data"))
        config.validatorKey = keyPath
        config.weightsDir = repositoryRoot.appendingPathComponent("Genesis/models").path
        config.checkInvariants = true
        var logger = Logger(label: "economy")
        logger.logLevel = .warning
        let runtime = try NodeRuntime(config: config, logger: logger, genesisJSON: try Self.genesisJSON())
        let client = LocalChainClient(chain: runtime.chain)
        let weights = try WeightsIndex(directory: config.weightsDir)
        func worker(_ i: Int, cheat: Double) -> WorkerSimulator {
            var c = WorkerSimulatorConfig()
            c.cheatRate = cheat
            c.shard = i % 2
            c.clientKey = DevelopmentKeys.client
            c.seed = UInt64(i + 1)
            c.pollInterval = .milliseconds(300)
            return WorkerSimulator(key: DevelopmentKeys.worker(i), client: client, weights: weights, config: c, logger: logger)
        }
        let honest = [worker(0, cheat: 0), worker(1, cheat: 0)]
        let cheater = worker(2, cheat: 1.0)
        var vc = VerifierConfig()
        vc.pollInterval = .milliseconds(300)
        vc.stateFile = dir.file("verifier.state")
        vc.maxResubscribeDelay = .seconds(2)
        // The verifier's subscription is refused at first: it polls, then subscribes once the gate opens.
        let verifierClient = GatedSubscriptionClient(base: client)
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: verifierClient, weights: weights, config: vc, logger: logger)
        try await runtime.chain.setInvariantChecking(true)

        let group = ServiceGroup(configuration: .init(services: (runtime.services() + honest + [cheater, verifier]).map { .init(service: $0) },
                                                      logger: logger))
        let pool = try #require(try LedgerReader(runtime.chain.readView()).pool(0))
        let cheaterKey = DevelopmentKeys.worker(2).publicKey

        // Run until the cheater has been caught and at least two windows with revenue have settled.
        let outcome = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { try await group.run(); return false }
            tasks.addTask {
                let deadline = ContinuousClock.now + .seconds(90)
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .seconds(1))
                    if verifier.stats.replays >= 1 { verifierClient.open() }
                    let r = LedgerReader(try runtime.chain.readView())
                    let caught = try r.fraudCases().items.contains { $0.fraud && $0.worker == cheaterKey }
                    let settled = try r.windows(0).items.filter { $0.1.status == .settled && $0.1.workerShare > .zero }.count
                    if caught && settled >= 2 { return true }
                }
                return false
            }
            let done = try await tasks.next()!
            // Check everything while the node still runs, then shut down.
            if done {
                try await Self.verify(runtime: runtime, pool: pool, honest: honest, cheater: cheater, verifier: verifier)
                try await Self.falseProofAndWithholding(client: client, pool: pool, honest: honest)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if done {
                // What the verifier checked survives a restart: the state file holds it, a new service skips it.
                let saved = try String(contentsOfFile: dir.file("verifier.state"), encoding: .utf8)
                    .split(separator: "\n").map { try Hash32(hex: String($0)) }
                #expect(saved.count >= verifier.stats.replays && !saved.isEmpty, "saved \(saved.count), stats \(verifier.stats)")
                let restarted = VerifierService(key: DevelopmentKeys.verifier, client: verifierClient, weights: weights, config: vc, logger: logger)
                for id in saved.prefix(5) { #expect(try await restarted.checkOnce(id) == false, "ticket \(id) checked again") }
            }
            return done
        }
        #expect(verifierClient.refused >= 1, "the verifier never tried to subscribe while the gate was shut")
        #expect(outcome, "the cheater was not caught or windows did not settle in time (verifier \(verifier.stats), cheater \(cheater.stats))")
    }

    /// Waits until `condition` holds (polling each 300 ms), at most `seconds`.
    static func until(_ seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(300))
        }
        return false
    }

    /// A fraud proof against an honest revealed pass burns the bond; a worker that does not reveal a selected
    /// pass is slashed by the withholding fraction.
    static func falseProofAndWithholding(client: LocalChainClient, pool: PoolConfig, honest: [WorkerSimulator]) async throws {
        let accuser = DevelopmentKeys.account(0)
        let honestKeys = Set(honest.map(\.key.publicKey))
        var target: Hash32?
        _ = try await until(30) {
            for id in try await client.tickets(status: .revealed, cursor: nil, limit: 100).ids {
                if let t = try await client.ticket(id), honestKeys.contains(t.worker), t.challengeEnd > (try await client.tip().height) + 2 {
                    target = id
                    return true
                }
            }
            return false
        }
        let ticket = try #require(target, "no honest revealed ticket to challenge")
        let before = try await client.account(accuser.publicKey).balance
        try await client.send(.fraudProof(ticketId: ticket), from: accuser)
        #expect(try await until(20) { try await client.fraudCase(ticket) != nil })
        let fc = try #require(try await client.fraudCase(ticket))
        #expect(!fc.fraud)
        #expect(fc.bondBurned == pool.fraudProofBond)
        #expect(try await client.ticket(ticket)?.status == .upheld)
        #expect(try await client.account(accuser.publicKey).balance.units <= before.units - pool.fraudProofBond.units)

        // A new worker bonds, commits passes it never reveals, and is slashed at the first missed deadline.
        let lazy = DevelopmentKeys.account(4)
        try await client.send(.bond(role: .worker(pool: 0), amount: 20_000, randaoCommitment: nil), from: lazy)
        #expect(try await until(20) { try await client.staker(.worker(pool: 0), lazy.publicKey) != nil })
        var committed = 0
        var lastCommit: UInt64 = 0
        let ok = try await until(60) {
            // Commit fresh batches until one gets a ticket selected.
            let tip = try await client.tip()
            let window = pool.window(ofHeight: tip.height + 1)
            let root = SHA256.hash(lazy.publicKey.bytes + tip.height.bigEndianBytes)
            // One batch every few blocks, so deadlines (and slashes) come one at a time.
            if committed < 8, tip.height >= lastCommit + 5, tip.height + 1 < pool.closeHeight(ofWindow: window) {
                _ = try? await client.send(.commitShares(pool: 0, window: window, shard: 0, passCount: 16, tokenCount: 64, passRoot: root), from: lazy)
                committed += 1
                lastCommit = tip.height
            }
            let staker = try await client.staker(.worker(pool: 0), lazy.publicKey)
            return (staker?.stake.units ?? 20_000) < 20_000
        }
        #expect(ok, "the withholding worker was never slashed")
        let stake = try #require(try await client.staker(.worker(pool: 0), lazy.publicKey)).stake
        #expect(stake.units == 20_000 - 20_000 * 1_000 / 10_000, "one withholding slash of 10 %")
    }

    static func verify(runtime: NodeRuntime, pool: PoolConfig, honest: [WorkerSimulator], cheater: WorkerSimulator,
                       verifier: VerifierService) async throws {
        let view = try runtime.chain.readView()
        let r = LedgerReader(view)
        // The supply invariant (also checked after every block by the node).
        _ = try Invariants.check(view)

        // Escrows: charged exactly the vouchers' delta at pool prices (nothing short with these deposits).
        for w in honest + [cheater] {
            let page = try r.escrows(owner: DevelopmentKeys.client.publicKey)
            #expect(!page.items.isEmpty)
            _ = w
        }
        for (_, e) in try r.escrows(owner: DevelopmentKeys.client.publicKey).items {
            let expected = e.claimedInputTokens * pool.priceInputToken.units + e.claimedOutputTokens * pool.priceOutputToken.units
            #expect(e.totalCharged.units + e.shortfall.units == expected)
            #expect(e.shortfall == .zero)
        }

        // Settled windows: revenue minus the protocol share to workers, split exactly by weighted shares.
        var forfeitedFrom: UInt64?
        for (w, rec) in try r.windows(0).items where rec.status == .settled && rec.revenue.units + rec.carriedIn.units > 0 && rec.carriedOut == .zero {
            let revenue = rec.revenue.units + rec.carriedIn.units
            #expect(rec.protocolShare.units == revenue * 500 / 10_000)
            #expect(rec.workerShare.units == revenue - rec.protocolShare.units)
            let payouts = try r.payouts(0, w)
            #expect(payouts.filter { $0.kind == .worker }.reduce(UInt64(0)) { $0 + $1.amount.units } == rec.workerShare.units)
            #expect(payouts.filter { $0.kind == .validator }.reduce(UInt64(0)) { $0 + $1.amount.units } == rec.protocolShare.units)
            // Recompute the split from the tallies, leaving out forfeited shares (the cheater's, once caught).
            var eligible = [(PublicKey, UInt64)]()
            for (k, tally) in try r.shares(0, window: w).items {
                let forfeited = try view.scan(prefix: StateKey.forfeitures(0, k), after: nil, limit: .max).contains { kv in
                    let from = UInt64(bigEndianBytes: kv.key.suffix(8))
                    let to = (try? UInt64(canonicalEncoding: kv.value)) ?? 0
                    return w >= from && w <= to
                }
                if forfeited { forfeitedFrom = forfeitedFrom ?? w } else { eligible.append((k, tally.shares)) }
            }
            let split = try #require(Split.cumulativeFloor(rec.workerShare, weights: eligible.map(\.1)))
            let expected = Dictionary(uniqueKeysWithValues: zip(eligible.map(\.0), split.map(\.units))).filter { $0.value > 0 }
            let actual = Dictionary(uniqueKeysWithValues: payouts.filter { $0.kind == .worker }.map { ($0.recipient, $0.amount.units) })
            #expect(actual == expected, "window \(w)")
        }

        // Honest workers: every selected ticket revealed, none proven fraudulent, none withheld.
        let honestKeys = Set(honest.map(\.key.publicKey))
        var honestTickets = 0
        for status in TicketStatus.allCases {
            for id in try r.tickets(status: status).items.map(\.0) {
                let t = try #require(try r.ticket(id))
                guard honestKeys.contains(t.worker) else { continue }
                honestTickets += 1
                #expect(status != .fraudProven && status != .withheld, "honest ticket \(id) is \(status)")
            }
        }
        #expect(honestTickets > 0)

        // The cheater: caught, slashed by the fraud fraction of its stake, jailed, shares forfeited.
        let cheaterKey = cheater.key.publicKey
        let cases = try r.fraudCases().items.filter { $0.worker == cheaterKey && $0.fraud }
        #expect(!cases.isEmpty)
        // Every proven pass of a commitment is its own offence with the same offence height: each slashes half
        // of the 10 000 bonded then, capped at what is left (5 000, 5 000, then nothing).
        let slashed = cases.map(\.slashed.units)
        #expect(slashed.reduce(0, +) == min(10_000, 5_000 * UInt64(cases.count)))
        #expect(slashed.max() == 5_000)
        #expect(cases.allSatisfy { $0.bounty.units == $0.slashed.units / 10 && $0.prover == verifier.key.publicKey })
        let staker = try #require(try r.staker(.worker(pool: 0), cheaterKey))
        guard case .jailed = staker.status else { Issue.record("cheater not jailed: \(staker.status)"); return }
        #expect(try !view.scan(prefix: StateKey.forfeitures(0, cheaterKey), after: nil, limit: 1).isEmpty)
        // The verifier replayed and won; its bounty was paid (balance above its start minus fees and bonds).
        #expect(verifier.stats.proofsWon >= 1 || verifier.stats.proofsSubmitted >= 1)
        #expect(verifier.stats.mismatches >= 1)
        // While the subscription was refused it found tickets by listing; then it subscribed and revealed
        // tickets were pushed to it.
        #expect(verifier.isSubscribed)
        #expect(verifier.stats.pushed >= 1)
        #expect(verifier.stats.replays > verifier.stats.pushed, "nothing was found by polling")
        #expect(honest.allSatisfy { $0.stats.commitments >= 2 && $0.stats.rejected == 0 })
        // The devnet summary renders from the same client.
        let names: [PublicKey: String] = [DevelopmentKeys.client.publicKey: "client", honest[0].key.publicKey: "worker-0",
                                          honest[1].key.publicKey: "worker-1", cheater.key.publicKey: "cheater"]
        let summary = try await DevnetSummary(client: LocalChainClient(chain: runtime.chain), names: names).render()
        #expect(summary.contains("fraud proofs:") && summary.contains("cheater"))
        if ProcessInfo.processInfo.environment["ECONOMY_VERBOSE"] != nil {
            print(summary)
            print("economy: tip \(await runtime.chain.status().height), honest \(honest.map(\.stats)), cheater \(cheater.stats), verifier \(verifier.stats)")
            print("economy: fraud cases \(cases.map { ($0.slashed, $0.bounty) }), forfeited from window \(String(describing: forfeitedFrom))")
            for (w, rec) in try r.windows(0).items { print("economy: window \(w) \(rec.status) revenue \(rec.revenue) carried \(rec.carriedIn)/\(rec.carriedOut) protocol \(rec.protocolShare) workers \(rec.workerShare) eligible \(rec.eligibleShares)/\(rec.totalShares)") }
        }
    }
}


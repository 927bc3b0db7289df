import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import Storage
import TestSupport

/// The whole economy in one process on 1-second slots: a validator, two honest workers and a cheater (each
/// also playing a client through an escrow), and a verifier, all talking to the chain through
/// `LocalChainClient`; invariants checked after every block.
@Suite(.serialized, .tags(.system)) struct EconomyTests {
    @Test func workersEarnTheCheaterIsCaughtAndTheBooksBalance() async throws {
        let chain = try InProcessChain(label: "economy", checkInvariants: true)
        let (dir, runtime, client, weights, logger) = (chain.dir, chain.runtime, chain.client, chain.weights, chain.logger)
        func worker(_ i: Int, cheat: Double) -> WorkerSimulator { chain.worker(i, cheat: cheat) }
        let honest = [worker(0, cheat: 0), worker(1, cheat: 0)]
        let cheater = worker(2, cheat: 1.0)
        var vc = VerifierConfig()
        vc.pollInterval = .milliseconds(300)
        vc.stateFile = dir.file("verifier.state")
        vc.maxResubscribeDelay = .seconds(2)
        // The verifier's subscription is refused at first: it polls, then subscribes once the gate opens.
        let verifierClient = InterceptingChainClient(base: client)
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: verifierClient, weights: weights, config: vc, logger: logger)
        try await runtime.chain.setInvariantChecking(true)

        let group = ServiceGroup(configuration: .init(services: (runtime.services() + honest + [cheater, verifier]).map { .init(service: $0) },
                                                      logger: logger))
        let pool = try #require(try LedgerReader(runtime.chain.readView()).pool(0))
        let cheaterKey = DevelopmentKeys.worker(2).publicKey

        // Run until the cheater has been caught, at least two windows with revenue have settled and every honest
        // worker has committed twice (one whose first escrow opening lost a nonce race with another worker paid by
        // the same client retries a block later, so it may be a window behind the others).
        let outcome = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { try await group.run(); return false }
            tasks.addTask {
                let deadline = ContinuousClock.now + .seconds(150)
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .seconds(1))
                    if verifier.stats.replays >= 1 { verifierClient.open() }
                    let r = LedgerReader(try runtime.chain.readView())
                    let caught = try r.fraudCases().items.contains { ($0.status == .fraud || $0.status == .paid) && $0.worker == cheaterKey }
                    let settled = try r.windows(0).items.filter { $0.1.status == .settled && $0.1.paid > .zero }.count
                    if caught && settled >= 2 && honest.allSatisfy({ $0.stats.commitments >= 2 }) { return true }
                }
                return false
            }
            let done = try await tasks.next()!
            // Check everything while the node still runs, then shut down.
            if done {
                try await Self.verify(runtime: runtime, pool: pool, honest: honest, cheater: cheater, verifier: verifier)
                try await Self.falseProofAndWithholding(client: client, pool: pool, honest: honest)
                try await Self.aLyingNodeCannotMakeTheVerifierBurnABond(client: client, weights: weights, honest: honest, logger: logger)
                try await Self.aTicketPastItsChallengeEndIsNotClaimed(client: client, weights: weights, logger: logger)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if done {
                // What the verifier checked survives a restart: the state file holds it, a new service skips it. Only
                // tickets still revealed at its last sweep are kept (the rest are proven or pruned with their window and
                // never listed again), and the workers keep revealing, so some always are.
                let saved = try String(contentsOfFile: dir.file("verifier.state"), encoding: .utf8)
                    .split(separator: "\n").filter { !$0.hasPrefix("claim ") }.map { try Hash32(hex: String($0)) }
                #expect(!saved.isEmpty, "saved \(saved.count), stats \(verifier.stats)")
                let restarted = VerifierService(key: DevelopmentKeys.verifier, client: verifierClient, weights: weights, config: vc, logger: logger)
                for id in saved.prefix(5) { #expect(try await restarted.checkOnce(id) == false, "ticket \(id) checked again") }
            }
            return done
        }
        #expect(verifierClient.refused >= 1, "the verifier never tried to subscribe while the gate was shut")
        #expect(outcome, "the cheater was not caught, windows did not settle or an honest worker did not commit twice in time (verifier \(verifier.stats), cheater \(cheater.stats), honest \(honest.map(\.stats.commitments)))")
    }

    /// Workers paid by one client key race for its nonces, so a payer transaction a worker sends can be refused or
    /// replaced in the mempool by a dearer one with the same nonce. Here the first two escrow openings and the first
    /// two allocations the worker sends are each replaced at once by a dearer transfer from the client key: the
    /// worker sees from state that the step did not land, sends it again, and ends up with one allocated escrow
    /// and commitments.
    @Test func aWorkerWhosePayerTransactionsAreReplacedStillGetsItsPaymentLane() async throws {
        let chain = try InProcessChain(label: "economy-nonce")
        let payer = DevelopmentKeys.client
        let stolen = Mutex<[String: Int]>([:])
        let base = chain.client
        let client = InterceptingChainClient(base: base, subscriptionOpen: true) { tx in
            let t = tx.transaction
            guard t.sender == payer.publicKey else { return }
            let kind: String
            switch t.body {
            case .escrowOpen: kind = "open"
            case .escrowAllocate: kind = "allocate"
            default: return
            }
            guard stolen.withLock({ counts in
                guard counts[kind, default: 0] < 2 else { return false }
                counts[kind, default: 0] += 1
                return true
            }) else { return }
            let thief = Transaction(chainId: t.chainId, sender: payer.publicKey, nonce: t.nonce, fee: Amount(t.fee.units * 2),
                                    body: .transfer(to: DevelopmentKeys.worker(7).publicKey, amount: Amount(1)))
            _ = try await base.submit(thief.signed(by: payer))
        }
        let worker = chain.worker(0, cheat: 0, client: client)
        let group = ServiceGroup(configuration: .init(services: (chain.runtime.services() + [worker]).map { .init(service: $0) },
                                                      logger: chain.logger))
        let (done, escrows) = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { try await group.run(); return false }
            tasks.addTask {
                let deadline = ContinuousClock.now + .seconds(150)
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(500))
                    if worker.stats.commitments >= 1 { return true }
                }
                return false
            }
            let done = try await tasks.next()!
            let escrows = try LedgerReader(try chain.runtime.chain.readView()).escrows(owner: payer.publicKey).items
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return (done, escrows)
        }
        let counts = stolen.withLock { $0 }
        #expect(counts["open"] == 2 && counts["allocate"] == 2, "the replacements did not all happen: \(counts)")
        #expect(done, "the worker never committed (stats \(worker.stats), replaced \(counts))")
        // The replaced openings never reached the chain: one escrow, allocated to the worker.
        #expect(escrows.count == 1 && escrows.allSatisfy { $0.1.allocated > .zero }, "escrows \(escrows)")
    }

    /// Attack 5 on a live chain: a worker commits wrong outputs in the last blocks before the commit deadline and
    /// reveals each sampled pass in the last blocks before its reveal deadline (worker-sim `--adversary late`),
    /// hoping the proof lands after its window pays. Settlement waits for every ticket's challenge: the verifier's
    /// proof convicts it, and the window pays it nothing (its client is refunded) while the honest worker is paid.
    @Test func lateCheaterIsConvictedBeforeItsWindowPays() async throws {
        let chain = try InProcessChain(label: "economy-late")
        let (dir, runtime, client, weights, logger) = (chain.dir, chain.runtime, chain.client, chain.weights, chain.logger)
        let honest = chain.worker(0, cheat: 0)
        let late = chain.worker(2, cheat: 0, adversary: .late)
        var vc = VerifierConfig()
        vc.pollInterval = .milliseconds(300)
        vc.stateFile = dir.file("verifier.state")
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: client, weights: weights, config: vc, logger: logger)
        let group = ServiceGroup(configuration: .init(services: (runtime.services() + [honest, late, verifier]).map { .init(service: $0) },
                                                      logger: logger))
        let pool = try #require(try LedgerReader(runtime.chain.readView()).pool(0))
        let lateKey = late.key.publicKey
        try await withThrowingTaskGroup(of: Observed?.self) { tasks in
            tasks.addTask { try await group.run(); return nil }
            tasks.addTask {
                var o = Observed()
                let deadline = ContinuousClock.now + .seconds(180)
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(300))
                    let r = LedgerReader(try runtime.chain.readView())
                    let current = pool.window(ofHeight: try await client.tip().height + 1)
                    for w in (current > 3 ? current - 3 : 0)...current {
                        for id in try r.commitments(0, window: w, worker: lateKey) {
                            if let c = try r.commitment(id) { o.commitments[id] = c }
                            for (_, tid) in try r.tickets(commitment: id) {
                                if let t = try r.ticket(tid), t.revealedHeight > 0 { o.revealed[tid] = t }
                            }
                        }
                    }
                    // Done once a window of a convicted ticket has paid out the late worker.
                    let convicted = try r.fraudCases().items.filter { $0.worker == lateKey && ($0.status == .fraud || $0.status == .paid) }
                    for c in convicted where try r.payouts(0, c.window).contains(where: { $0.worker == lateKey }) {
                        o.forfeitedWindow = c.window
                        return o
                    }
                }
                return o
            }
            let done = try await tasks.next()!
            // Check while the node still runs, then shut down.
            try Self.verifyLate(done ?? Observed(), reader: LedgerReader(try runtime.chain.readView()), pool: pool, late: late, honest: honest,
                                verifier: verifier)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// What the late worker put on chain, read while it is in state (settled records are pruned).
    struct Observed: Sendable {
        var commitments: [Hash32: Commitment] = [:]
        var revealed: [Hash32: Ticket] = [:]
        var forfeitedWindow: UInt64?
    }

    static func verifyLate(_ observed: Observed, reader r: LedgerReader, pool: PoolConfig, late: WorkerSimulator, honest: WorkerSimulator,
                           verifier: VerifierService) throws {
        let lateKey = late.key.publicKey
        let (commitments, revealed) = (observed.commitments, observed.revealed)
        #expect(observed.forfeitedWindow != nil, "the late cheater was not convicted and paid out in time (late \(late.stats), verifier \(verifier.stats))")
        // It really was late: every commitment after its window closed, every reveal in the last two blocks.
        #expect(!commitments.isEmpty && !revealed.isEmpty, "commitments \(commitments.count), reveals \(revealed.count)")
        for c in commitments.values {
            #expect(c.includedHeight > pool.closeHeight(ofWindow: c.window) && c.includedHeight <= pool.commitDeadline(ofWindow: c.window),
                    "commitment at \(c.includedHeight) for window \(c.window)")
        }
        for t in revealed.values { #expect(t.revealedHeight + 1 >= t.revealDeadline && t.revealedHeight <= t.revealDeadline) }
        // And it lost: the window of its convicted ticket paid it nothing and refunded its client; slashed, jailed, forfeited.
        if let w = observed.forfeitedWindow {
            let payout = try #require(try r.payouts(0, w).first { $0.worker == lateKey })
            #expect(payout.record.paid == .zero && payout.record.refunded > .zero, "\(payout.record)")
        }
        let staker = try #require(try r.staker(.worker(pool: 0), lateKey))
        #expect(staker.stake.units < 10_000, "the late cheater was not slashed: \(staker.stake)")
        #expect(try r.forfeitedThrough(0, worker: lateKey) != nil)
        // The honest worker beside it was paid.
        var honestPaid: UInt64 = 0
        for (w, rec) in try r.windows(0).items where rec.status == .settled {
            honestPaid += try r.payouts(0, w).filter { $0.worker == honest.key.publicKey }.map(\.record.paid.units).reduce(0, +)
        }
        #expect(honestPaid > 0)
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

    /// A fraud claim against an honest revealed pass burns the bond; a worker that does not reveal a selected
    /// pass is slashed as for fraud.
    static func falseProofAndWithholding(client: LocalChainClient, pool: PoolConfig, honest: [WorkerSimulator]) async throws {
        let accuser = DevelopmentKeys.account(0)
        let honestKeys = Set(honest.map(\.key.publicKey))
        var target: Hash32?
        _ = try await until(30) {
            for id in try await client.tickets(status: .revealed, cursor: nil, limit: 100).ids {
                if let t = try await client.ticket(id), honestKeys.contains(t.worker), t.challengeEnd > (try await client.tip().height) + 3 {
                    target = id
                    return true
                }
            }
            return false
        }
        let ticket = try #require(target, "no honest revealed ticket to challenge")
        let input = try #require(try await client.ticketInput(ticket), "the reveal's input is not readable")
        let before = try await client.account(accuser.publicKey).balance
        let salt = SHA256.hash([7])
        let nonce = try await client.nextNonce(accuser.publicKey)
        try await client.send(.fraudCommit(claim: fraudClaimHash(ticketId: ticket, prover: accuser.publicKey, salt: salt), pool: 0), from: accuser)
        #expect(try await until(20) { try await client.account(accuser.publicKey).nonce > nonce })
        try await client.send(.fraudReveal(ticketId: ticket, salt: salt, input: input), from: accuser)
        #expect(try await until(20) { try await client.fraudCase(ticket).map { $0.status != .pending } ?? false })
        let fc = try #require(try await client.fraudCase(ticket))
        #expect(fc.status == .upheld)
        #expect(fc.bondsBurned == pool.fraudProofBond)
        #expect(try await client.ticket(ticket).map { $0.status == .upheld } ?? true)
        #expect(try await client.account(accuser.publicKey).balance.units <= before.units - pool.fraudProofBond.units)

        // A new worker bonds, commits a root it can never open, and is slashed as for fraud at its first deadline.
        let lazy = DevelopmentKeys.account(4)
        try await client.send(.bond(role: .worker(pool: 0), amount: 20_000, randaoCommitment: nil), from: lazy)
        #expect(try await until(20) { try await client.staker(.worker(pool: 0), lazy.publicKey) != nil })
        var committed = false
        let ok = try await until(60) {
            let tip = try await client.tip()
            let window = pool.window(ofHeight: tip.height + 1)
            if !committed {
                let root = SHA256.hash(lazy.publicKey.bytes + tip.height.bigEndianBytes)
                committed = (try? await client.send(.commitShares(pool: 0, window: window, shard: 0, leafCount: 16, tokenTotal: 64, root: root),
                                                    from: lazy)) != nil
            }
            let staker = try await client.staker(.worker(pool: 0), lazy.publicKey)
            return (staker?.stake.units ?? 20_000) < 20_000
        }
        #expect(ok, "the withholding worker was never slashed")
        let stake = try #require(try await client.staker(.worker(pool: 0), lazy.publicKey)).stake
        #expect(stake.units == 20_000 / 2, "withholding costs the fraud slash")
    }

    /// The verifier's node is not trusted with its bond (review C): a node serving an honest ticket's input with one
    /// bit changed would make the replay disagree, and the fraud claim on it could only fail (`inputHashMismatch`), its
    /// bond burned. The verifier checks the input against the leaf's hash and claims nothing.
    static func aLyingNodeCannotMakeTheVerifierBurnABond(client: LocalChainClient, weights: WeightsIndex, honest: [WorkerSimulator],
                                                        logger: Logger) async throws {
        let honestKeys = Set(honest.map(\.key.publicKey))
        var target: Hash32?
        for id in try await client.tickets(status: .revealed, cursor: nil, limit: 200).ids {
            if let t = try await client.ticket(id), honestKeys.contains(t.worker) { target = id; break }
        }
        let id = try #require(target, "no revealed ticket of an honest worker")
        let sent = Mutex(0)
        let lying = InterceptingChainClient(base: client, subscriptionOpen: true, afterSubmit: { _ in sent.withLock { $0 += 1 } },
                                            tamperInput: { input in
                                                var b = input
                                                b[b.count - 4] ^= 0x01  // the last value's lowest mantissa bit
                                                return b
                                            })
        var config = VerifierConfig()
        config.stateFile = nil
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: lying, weights: weights, config: config, logger: logger)
        try await verifier.check(id)
        #expect(sent.withLock { $0 } == 0, "the verifier sent a fraud claim on an input its node altered")
        #expect(verifier.stats.errors == 1)
        #expect(verifier.stats.replays == 0, "the altered input was replayed")
    }

    /// Ninth review: a verifier that reaches a revealed ticket only after its challenge end (it fell behind, or restarted
    /// without its state file) committed a claim the chain would refuse to open, and its bond burned. Seen from a tip
    /// past the ticket's challenge end, the verifier neither replays nor claims.
    static func aTicketPastItsChallengeEndIsNotClaimed(client: LocalChainClient, weights: WeightsIndex, logger: Logger) async throws {
        let id = try #require(try await client.tickets(status: .revealed, cursor: nil, limit: 1).ids.first, "no revealed ticket")
        let ticket = try #require(try await client.ticket(id))
        let tip = try await client.tip().height
        let sent = Mutex(0)
        let late = InterceptingChainClient(base: client, subscriptionOpen: true, afterSubmit: { _ in sent.withLock { $0 += 1 } },
                                           tipAhead: ticket.challengeEnd > tip ? ticket.challengeEnd - tip : 0)
        var config = VerifierConfig()
        config.stateFile = nil
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: late, weights: weights, config: config, logger: logger)
        try await verifier.check(id)
        #expect(verifier.stats.tooLate == 1)
        #expect(verifier.stats.replays == 0, "a ticket past its challenge end was replayed")
        #expect(sent.withLock { $0 } == 0)
    }

    static func verify(runtime: NodeRuntime, pool: PoolConfig, honest: [WorkerSimulator], cheater: WorkerSimulator,
                       verifier: VerifierService) async throws {
        let view = try runtime.chain.readView()
        let r = LedgerReader(view)
        // The supply invariant (also checked after every block by the node).
        _ = try Invariants.check(view)

        // Escrows: clients paid, never beyond an allocation.
        let escrows = try r.escrows(owner: DevelopmentKeys.client.publicKey).items
        #expect(!escrows.isEmpty)
        for (_, e) in escrows {
            #expect(e.shortfall == .zero)
            #expect(e.allocated <= e.balance)
        }

        // Paid-out windows: honest workers paid everything they earned; the paid and refunded totals of each
        // window add up to what its claims earned once every worker is paid.
        let honestKeys = Set(honest.map(\.key.publicKey))
        var honestPaid: UInt64 = 0
        for (w, rec) in try r.windows(0).items where rec.status == .settled {
            for p in try r.payouts(0, w) where honestKeys.contains(p.worker) {
                #expect(p.record.refunded == .zero, "honest worker refunded in window \(w)")
                honestPaid += p.record.paid.units
            }
            if try r.work(0, window: w).items.isEmpty {
                #expect(rec.paid.units + rec.refunded.units == rec.earned.units, "window \(w)")
            }
        }
        #expect(honestPaid > 0)

        // Honest workers: no ticket still in state proven fraudulent or withheld.
        var honestTickets = 0
        for status in TicketStatus.allCases {
            for id in try r.tickets(status: status).items.map(\.0) {
                let t = try #require(try r.ticket(id))
                guard honestKeys.contains(t.worker) else { continue }
                honestTickets += 1
                #expect(status != .fraudProven && status != .withheld, "honest ticket \(id) is \(status)")
            }
        }

        // The cheater: caught, slashed by the fraud fraction of its stake, jailed, its work forfeited.
        let cheaterKey = cheater.key.publicKey
        let cases = try r.fraudCases().items.filter { $0.worker == cheaterKey && ($0.status == .fraud || $0.status == .paid) }
        #expect(!cases.isEmpty)
        #expect(cases.map(\.slashed.units).max() == 5_000)
        #expect(cases.allSatisfy { $0.bounty.units == $0.slashed.units / 10 && $0.winner == verifier.key.publicKey })
        let staker = try #require(try r.staker(.worker(pool: 0), cheaterKey))
        guard case .jailed = staker.status else { Issue.record("cheater not jailed: \(staker.status)"); return }
        #expect(try r.forfeitedThrough(0, worker: cheaterKey) != nil)
        // The verifier replayed and won.
        #expect(verifier.stats.proofsWon >= 1 || verifier.stats.proofsSubmitted >= 1)
        #expect(verifier.stats.mismatches >= 1)
        // While the subscription was refused it found tickets by listing; then it subscribed and revealed
        // tickets were pushed to it.
        #expect(verifier.isSubscribed)
        #expect(verifier.stats.pushed >= 1)
        #expect(verifier.stats.replays > verifier.stats.pushed, "nothing was found by polling")
        #expect(honest.allSatisfy { $0.stats.commitments >= 2 }, "honest commitments \(honest.map(\.stats.commitments))")
        #expect(honest.allSatisfy { $0.stats.rejected == 0 }, "honest rejections \(honest.map(\.stats.rejected))")
        // The devnet summary renders from the same client.
        let names: [PublicKey: String] = [DevelopmentKeys.client.publicKey: "client", honest[0].key.publicKey: "worker-0",
                                          honest[1].key.publicKey: "worker-1", cheater.key.publicKey: "cheater"]
        let summaryClient = DevnetSummary(client: LocalChainClient(chain: runtime.chain), names: names, genesis: runtime.genesis.allocation)
        let genesisStakes = summaryClient.initialStakes
        let summary = try await summaryClient.render()
        #expect(summary.contains("fraud proofs:") && summary.contains("cheater"))
        // The convicted cheater's line says what its stake lost since genesis (the chain runs on, so only its
        // genesis stake is compared exactly); an honest worker's loses nothing.
        let cheaterGenesis = try #require(genesisStakes[cheater.key.publicKey])
        #expect(try #require(try r.staker(.worker(pool: 0), cheater.key.publicKey)).stake < cheaterGenesis)
        let segments = summary.split(separator: ";")
        #expect(segments.contains { $0.contains("cheater paid") && $0.contains("of \(cheaterGenesis), lost ") }, "\(summary)")
        #expect(segments.contains { $0.contains("worker-0 paid") && !$0.contains("lost") }, "\(summary)")
        // Its net since genesis is at most minus what its stake lost: its pay went back to its client, and its fees
        // only add to the loss.
        func figure(_ name: String, _ label: String) -> Int? {
            guard let seg = segments.first(where: { $0.contains("\(name) paid") }),
                  let r = seg.range(of: "\(label) ") else { return nil }
            return Int(seg[r.upperBound...].prefix { $0 == "-" || $0 == "+" || $0.isNumber }.replacingOccurrences(of: "+", with: ""))
        }
        let lost = try #require(figure("cheater", "lost"), "\(summary)")
        let net = try #require(figure("cheater", "net"), "\(summary)")
        #expect(lost > 0 && net <= -lost, "cheater lost \(lost), net \(net)")
        if ProcessInfo.processInfo.environment["ECONOMY_VERBOSE"] != nil {
            print(summary)
            print("economy: tip \(await runtime.chain.status().height), honest \(honest.map(\.stats)), cheater \(cheater.stats), verifier \(verifier.stats), honest tickets \(honestTickets)")
        }
    }
}

import Consensus
import Foundation
import Ledger
import Logging
import Metrics
import Primitives
import ServiceLifecycle
import Synchronization
import Verifier

/// Counters the verifier reports.
public struct VerifierStats: Sendable, Hashable {
    public var replays = 0
    public var matches = 0
    public var mismatches = 0
    /// Tickets checked because the node pushed them (the rest were found by listing).
    public var pushed = 0
    public var proofsSubmitted = 0
    public var proofsWon = 0
    public var proofsLost = 0
    public var errors = 0
    /// Revealed tickets found past their challenge end, not replayed: a claim on them could no longer be opened.
    public var tooLate = 0
}

/// Settings of the verifier service.
public struct VerifierConfig: Sendable {
    /// How often revealed tickets are listed while no subscription is live, and how often submitted
    /// proofs are followed up.
    public var pollInterval: Duration = .seconds(1)
    /// How often revealed tickets are still listed while the subscription is live (a catch-up sweep for
    /// anything a lost connection or a reorg hid from the pushed ids).
    public var sweepIntervalWhileSubscribed: Duration = .seconds(30)
    /// Longest wait before re-subscribing after the subscription fails.
    public var maxResubscribeDelay: Duration = .seconds(30)
    /// Replays running at once.
    public var parallelism = 2
    /// File remembering checked tickets across restarts (nil: memory only).
    public var stateFile: String?
    public init() {}
}

/// Follows revealed spot-check tickets, replays each with the canonical executor on the pool's pinned
/// weights, and submits a fraud proof (with the bond) when the recomputed output hash differs from the
/// committed one. Skips tickets already adjudicated; remembers what it checked across restarts.
///
/// Tickets arrive by subscription (`ChainClient.subscribeRevealedTickets`); while it is down the service polls
/// the revealed-ticket list every `pollInterval` and re-subscribes with backoff, and while it is up it still
/// sweeps the list now and then. A ticket is checked at most once, whichever way it was found.
public final class VerifierService: Service, Sendable {
    public let key: PrivateKey
    let client: any ChainClient
    let weights: WeightsIndex
    let replayer: ShardReplayer
    let config: VerifierConfig
    let logger: Logger
    private let statsStorage = CountedStats(VerifierStats(), counters: [
        ("sharechain_verifier_service_replays_total", \.replays),
        ("sharechain_verifier_service_mismatches_total", \.mismatches),
        ("sharechain_verifier_service_proofs_submitted_total", \.proofsSubmitted),
        ("sharechain_verifier_service_proofs_won_total", \.proofsWon),
        ("sharechain_verifier_service_proofs_lost_total", \.proofsLost),
        ("sharechain_verifier_service_errors_total", \.errors),
        ("sharechain_verifier_service_pushed_total", \.pushed),
    ])
    private let progress = Mutex(Progress())
    private let subscribed = Mutex(false)
    private let persistLock = Mutex(())
    private let submitted = Mutex(Set<Hash32>())
    /// A committed fraud claim waiting for its commitment to be in a block before it is opened.
    struct PendingClaim: Sendable {
        let ticketId: Hash32
        let salt: Hash32
        let input: [UInt8]
        let commitNonce: UInt64
    }
    private let pendingClaims = Mutex([PendingClaim]())

    public var stats: VerifierStats { statsStorage.current }

    public init(key: PrivateKey, client: any ChainClient, weights: WeightsIndex, config: VerifierConfig = VerifierConfig(),
                replayer: ShardReplayer = ShardReplayer(cacheBytes: 512 << 20, limits: ReplayLimits(maxTokens: Int(UInt32.max))),
                logger: Logger) {
        self.key = key
        self.client = client
        self.weights = weights
        self.config = config
        self.replayer = replayer
        self.logger = logger
        if let file = config.stateFile, let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let ids = text.split(separator: "\n").compactMap { try? Hash32(hex: String($0)) }
            progress.withLock { $0.checked.formUnion(ids) }
        }
    }

    /// Tickets done and tickets being checked, under one lock so that a ticket is claimed once.
    struct Progress {
        var checked = Set<Hash32>()
        var inFlight = Set<Hash32>()
        /// Checked tickets not yet written to the state file.
        var unsaved = false

        mutating func markChecked(_ id: Hash32) {
            if checked.insert(id).inserted { unsaved = true }
        }
    }

    /// Whether the ticket subscription is live.
    public var isSubscribed: Bool { subscribed.withLock { $0 } }

    private func setSubscribed(_ live: Bool) {
        subscribed.withLock { $0 = live }
        Gauge(label: "sharechain_verifier_service_subscribed").record(live ? 1 : 0)
    }

    private func bump(_ f: (inout VerifierStats) -> Void) { statsStorage.update(f) }

    public func run() async throws {
        logger.info("verifier started", metadata: ["key": "\(key.publicKey.hex.prefix(16))", "weights": "\(weights.directory)"])
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.followSubscription() }
                group.addTask { await self.poll() }
                await group.next()
                group.cancelAll()
            }
        }
        persist()
    }

    /// Checks each ticket the node pushes; re-subscribes with exponential backoff when the subscription fails.
    func followSubscription() async {
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            do {
                let ids = try await client.subscribeRevealedTickets()
                setSubscribed(true)
                logger.info("following revealed tickets by subscription")
                delay = .seconds(1)
                for try await id in ids {
                    do {
                        if try await checkOnce(id) { bump { $0.pushed += 1 } }
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        // One ticket failing (a transient RPC error) keeps the subscription; the sweep retries it.
                        bump { $0.errors += 1 }
                        logger.warning("checking pushed ticket \(id.hex.prefix(16)) failed: \(error)")
                    }
                }
                if !Task.isCancelled { logger.warning("ticket subscription ended; polling until it is back") }
            } catch is CancellationError {
            } catch {
                if !Task.isCancelled { logger.warning("ticket subscription unavailable (\(error)); polling every \(config.pollInterval)") }
            }
            setSubscribed(false)
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(delay * 2, config.maxResubscribeDelay)
        }
    }

    /// Lists revealed tickets every `pollInterval` while the subscription is down (and every
    /// `sweepIntervalWhileSubscribed` while it is up), and follows up on submitted proofs.
    func poll() async {
        var lastSweep: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                let interval = isSubscribed ? config.sweepIntervalWhileSubscribed : config.pollInterval
                if lastSweep.map({ $0.duration(to: .now) >= interval }) ?? true {
                    lastSweep = .now
                    try await sweep()
                }
                try await followUp()
                // Pushed tickets are saved here too: one write per tick, not one per ticket.
                persist()
            } catch is CancellationError { return } catch {
                bump { $0.errors += 1 }
                logger.warning("verifier pass failed: \(error)")
            }
            do { try await Task.sleep(for: config.pollInterval) } catch { return }
        }
    }

    /// One sweep and one follow-up: replay every revealed ticket not yet checked, then look at submitted proofs.
    public func pass() async throws {
        try await sweep()
        try await followUp()
    }

    /// Replays every revealed ticket not yet checked, `parallelism` at a time.
    func sweep() async throws {
        var todo = [Hash32]()
        var cursor: String?
        repeat {
            let page = try await client.tickets(status: .revealed, cursor: cursor, limit: 100)
            todo += page.ids.filter { id in !progress.withLock { $0.checked.contains(id) } }
            cursor = page.next
        } while cursor != nil
        guard !todo.isEmpty else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for id in todo {
                if running >= config.parallelism {
                    try await group.next()
                    running -= 1
                }
                group.addTask { _ = try await self.checkOnce(id) }
                running += 1
            }
            try await group.waitForAll()
        }
        persist()
    }

    /// Opens committed fraud claims once their commitment is in a block (the reveal must come in a later block;
    /// the sender's nonce order guarantees it once the commitment's nonce is used), and records the outcome of
    /// claims this service opened once the chain has adjudicated them.
    func followUp() async throws {
        let claims = pendingClaims.withLock { $0 }
        if !claims.isEmpty {
            let nonce = try await client.account(key.publicKey).nonce
            for c in claims where nonce > c.commitNonce {
                pendingClaims.withLock { $0.removeAll { $0.ticketId == c.ticketId } }
                do {
                    try await client.send(.fraudReveal(ticketId: c.ticketId, salt: c.salt, input: c.input), from: key)
                    bump { $0.proofsSubmitted += 1 }
                    submitted.withLock { _ = $0.insert(c.ticketId) }
                } catch {
                    bump { $0.errors += 1 }
                    logger.warning("fraud claim reveal rejected: \(error)")
                }
            }
        }
        for id in submitted.withLock({ Array($0) }) {
            guard let fc = try await client.fraudCase(id), fc.status != .pending else { continue }
            submitted.withLock { _ = $0.remove(id) }
            switch fc.status {
            case .fraud, .paid:
                bump { $0.proofsWon += 1 }
                logger.notice("fraud proven", metadata: ["ticket": "\(id.hex.prefix(16))", "slashed": "\(fc.slashed)", "bounty": "\(fc.bounty)",
                                                         "winner": "\(fc.winner == key.publicKey)"])
            case .upheld:
                bump { $0.proofsLost += 1 }
                logger.warning("fraud claim failed, bond burned", metadata: ["ticket": "\(id.hex.prefix(16))"])
            case .pending:
                break
            }
        }
    }

    /// Checks a ticket unless it was checked already or another task is checking it; true when this call did.
    func checkOnce(_ id: Hash32) async throws -> Bool {
        let claimed = progress.withLock { p -> Bool in
            guard !p.checked.contains(id) else { return false }
            return p.inFlight.insert(id).inserted
        }
        guard claimed else { return false }
        defer { progress.withLock { _ = $0.inFlight.remove(id) } }
        try await check(id)
        return true
    }

    /// Replays one ticket and proves fraud if the committed output is not the canonical one.
    func check(_ id: Hash32) async throws {
        let found = try await client.ticket(id)
        guard let ticket = found, ticket.status == .revealed, let leaf = ticket.leaf else {
            // Settled one way or another: nothing left to check. Unknown or awaiting its reveal (a pushed id
            // whose block was reorganised away): not done; the sweep finds it if it is revealed again.
            switch found?.status {
            case .withheld?, .fraudProven?, .upheld?, .voided?, .reused?: progress.withLock { $0.markChecked(id) }
            default: break
            }
            return
        }
        // A claim committed after the ticket's challenge end is refused when it is opened (`challengePeriodOver`) and
        // its bond burned when the commitment expires: a verifier that fell behind (a restart without its state file, a
        // burst of tickets) paid a bond for every late mismatch, and the cheater escaped anyway (ninth review). The
        // commitment lands in the next block at the earliest.
        let tip = try await client.tip().height
        guard tip < ticket.challengeEnd else {
            bump { $0.tooLate += 1 }
            progress.withLock { $0.markChecked(id) }
            logger.debug("ticket past its challenge end; not replayed", metadata: ["ticket": "\(id.hex.prefix(16))"])
            return
        }
        guard let input = try await client.ticketInput(id), let pool = try await client.pool(ticket.pool),
              Int(leaf.shard) < pool.shards.count else { return }
        // The node is not trusted with the bond: an input that is not the leaf's would replay to a "mismatch" whose
        // claim the chain refuses (`inputHashMismatch`), burning the bond. Not marked checked: another node, or this
        // one later, may serve the real input.
        guard Tags.tensor.hash(input) == leaf.inputHash else {
            bump { $0.errors += 1 }
            logger.warning("the node served an input that is not the revealed leaf's; not claiming",
                           metadata: ["ticket": "\(id.hex.prefix(16))"])
            return
        }
        // In a pool with checkers a clear reveal is a ticket that fell back (no checker assigned), or a check's input
        // made public: the verdict compares with what the leaf claims, as the validators will.
        let sealed = pool.checking == nil ? nil : try await client.sealedCheck(id)
        let verdict = try TicketReplay.check(leaf: leaf, input: input, pool: pool, check: sealed, weights: weights, replayer: replayer)
        bump { $0.replays += 1 }
        progress.withLock { $0.markChecked(id) }
        if case .match = verdict {
            bump { $0.matches += 1 }
            return
        }
        bump { $0.mismatches += 1 }
        logger.notice("mismatch: submitting a fraud proof", metadata: ["ticket": "\(id.hex.prefix(16))", "verdict": "\(verdict)",
                                                                         "worker": "\(ticket.worker.hex.prefix(16))"])
        // A blind claim first (nobody can copy or front-run it), opened once it is in a block.
        let salt = SHA256.hash(SecureRandom.bytes(32))
        let claim = fraudClaimHash(ticketId: id, prover: key.publicKey, salt: salt)
        do {
            let nonce = try await client.nextNonce(key.publicKey)
            try await client.send(.fraudCommit(claim: claim, pool: ticket.pool), from: key)
            pendingClaims.withLock { $0.append(PendingClaim(ticketId: id, salt: salt, input: input, commitNonce: nonce)) }
        } catch {
            bump { $0.errors += 1 }
            logger.warning("fraud claim commitment rejected: \(error)")
        }
    }

    /// Writes the checked ids to the state file when tickets were checked since the last write (atomically,
    /// one writer at a time). Called after each sweep, each poll tick, and on shutdown.
    func persist() {
        guard let file = config.stateFile else { return }
        persistLock.withLock { _ in
            let snapshot = progress.withLock { p -> [Hash32]? in
                guard p.unsaved else { return nil }
                p.unsaved = false
                return Array(p.checked)
            }
            guard let snapshot else { return }
            let ids = snapshot.map(\.hex).sorted()
            // `.atomic` writes a temporary file and renames it over the old one.
            do { try Data(ids.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
                progress.withLock { $0.unsaved = true }
                logger.warning("cannot save the verifier state to \(file): \(error)")
            }
        }
    }
}

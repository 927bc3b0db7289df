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
    /// Fraud-claim reveals sent again: an earlier copy was accepted but left the mempool without reaching the chain.
    public var revealsResent = 0
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
    /// File remembering checked tickets and committed claims not yet opened across restarts (nil: memory only).
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
    let progress = Mutex(Progress())
    private let subscribed = Mutex(false)
    private let persistLock = Mutex(())
    private let submitted = Mutex(Set<Hash32>())
    /// A committed fraud claim waiting for its reveal to reach the chain. Kept in the state file (tenth review, lifecycle
    /// F1): the salt derives from the key and the ticket (`salt(for:)`) and the input is read again from the node, so the
    /// claim can still be opened after a restart. It stays pending until its reveal is in a canonical block (not merely
    /// accepted by the node: a reveal evicted from the mempool, lost to a node restart or a reorg is sent again, eleventh
    /// review B1).
    struct PendingClaim: Sendable, Equatable {
        let ticketId: Hash32
        /// The `fraudCommit` transaction: the claim is opened once the block holding it is below the tip.
        let commitTx: Hash32
        let pool: UInt32
        /// The last `fraudReveal` transaction the node accepted for this claim, nil before the first.
        var revealTx: Hash32?

        /// The state-file line: `claim <ticket> <commit tx> <pool>`, then ` <reveal tx>` once a reveal was accepted.
        var line: String { "claim \(ticketId.hex) \(commitTx.hex) \(pool)" + (revealTx.map { " \($0.hex)" } ?? "") }
        init(ticketId: Hash32, commitTx: Hash32, pool: UInt32, revealTx: Hash32? = nil) {
            self.ticketId = ticketId; self.commitTx = commitTx; self.pool = pool; self.revealTx = revealTx
        }
        init?(line: Substring) {
            let f = line.split(separator: " ")
            guard f.count == 4 || f.count == 5, f[0] == "claim", let t = try? Hash32(hex: String(f[1])), let c = try? Hash32(hex: String(f[2])),
                  let p = UInt32(f[3]) else { return nil }
            var reveal: Hash32?
            if f.count == 5 {
                guard let r = try? Hash32(hex: String(f[4])) else { return nil }
                reveal = r
            }
            self.init(ticketId: t, commitTx: c, pool: p, revealTx: reveal)
        }
        /// The same claim, whatever reveal it last sent.
        func isSameClaim(_ other: PendingClaim) -> Bool { ticketId == other.ticketId && commitTx == other.commitTx }
    }

    /// The salt of this verifier's claim on `ticket`: secret (from the signing key) and recomputable after a restart,
    /// as the checker derives its answer nonces.
    func salt(for ticket: Hash32) -> Hash32 { TaggedHash("sharechain/fraud-salt").hash(key.secretBytes + ticket.bytes) }

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
            let lines = text.split(separator: "\n")
            let ids = lines.compactMap { try? Hash32(hex: String($0)) }
            let claims = lines.compactMap(PendingClaim.init(line:))
            progress.withLock {
                $0.checked.formUnion(ids)
                $0.checked.formUnion(claims.map(\.ticketId))
                $0.claims = claims
            }
        }
    }

    /// Tickets done, tickets being checked and committed claims not yet opened, under one lock so that a ticket is
    /// claimed once and the state file always holds a ticket's claim with the ticket.
    struct Progress {
        var checked = Set<Hash32>()
        var inFlight = Set<Hash32>()
        var claims = [PendingClaim]()
        /// Checked tickets or claims not yet written to the state file.
        var unsaved = false

        mutating func markChecked(_ id: Hash32) {
            if checked.insert(id).inserted { unsaved = true }
        }

        /// Drops checked tickets that are no longer revealed, except those with a claim not yet opened (the state file
        /// keeps a claim with its ticket).
        mutating func forget(_ ids: Set<Hash32>) {
            let keep = Set(claims.map(\.ticketId)).union(inFlight)
            let gone = ids.subtracting(keep).intersection(checked)
            guard !gone.isEmpty else { return }
            checked.subtract(gone)
            unsaved = true
        }
    }

    /// The committed claims whose reveal is not yet in a canonical block.
    var pendingClaims: [PendingClaim] { progress.withLock { $0.claims } }

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
        // Checked before this listing: those it no longer shows are no longer revealed (proven, or pruned with their
        // window) and are never listed again, so they are forgotten once the listing is complete. Without this, the
        // set (and the state file) kept one entry per ticket the verifier ever checked.
        let checkedBefore = progress.withLock { $0.checked }
        var revealed = Set<Hash32>()
        var listing = PagedListing("ticket_list")
        repeat {
            let page = try await client.tickets(status: .revealed, cursor: cursor, limit: 100)
            revealed.formUnion(page.ids)
            todo += page.ids.filter { id in !progress.withLock { $0.checked.contains(id) } }
            cursor = page.next
        } while try listing.follow(cursor)
        progress.withLock { $0.forget(checkedBefore.subtracting(revealed)) }
        guard !todo.isEmpty else { persist(); return }
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

    /// Opens committed fraud claims once the block holding their commitment is below the tip (the reveal must come in a
    /// later block; judged by the commitment's inclusion height, not by the sender's nonce, which concurrent checks
    /// share), and records the outcome of claims this service opened once the chain has adjudicated them. A claim stays
    /// pending until its reveal is in a canonical block: a reveal that cannot be sent, or that the node accepted but that
    /// left its mempool without reaching the chain (evicted, replaced, lost to a restart or a reorg), is sent again (same
    /// salt, so the same claim) until the commitment's reveal period is over; one still waiting in the mempool is not.
    func followUp() async throws {
        let claims = pendingClaims
        if !claims.isEmpty {
            let tip = try await client.tip().height
            for c in claims {
                guard let included = try await client.transactionHeight(c.commitTx) else {
                    // Not in a block (yet). Once the ticket's challenge has ended the commitment can no longer be
                    // opened: forget the claim rather than keep it on file for good (a commitment dropped unmined).
                    if let ticket = try await client.ticket(c.ticketId), ticket.status == .revealed, tip <= ticket.challengeEnd { continue }
                    dropClaim(c)
                    logger.warning("fraud claim commitment never reached a block", metadata: ["ticket": "\(c.ticketId.hex.prefix(16))"])
                    continue
                }
                guard included < tip else { continue }
                if let reveal = c.revealTx {
                    // Asked in this order so that a reveal moving from the mempool into a block in between is seen in one
                    // place or the other, not sent again.
                    if try await client.transactionPending(reveal) { continue }
                    if try await client.transactionHeight(reveal) != nil {
                        // On chain: the claim is opened (or its reveal failed there, and a copy would fail the same way).
                        submitted.withLock { _ = $0.insert(c.ticketId) }
                        dropClaim(c)
                        continue
                    }
                }
                if let pool = try await client.pool(c.pool), tip > included &+ pool.fraudRevealBlocks {
                    // Past its reveal period (the bond is burned): nothing left to send.
                    dropClaim(c)
                    bump { $0.errors += 1 }
                    logger.warning("fraud claim not opened within its reveal period", metadata: ["ticket": "\(c.ticketId.hex.prefix(16))"])
                    continue
                }
                do {
                    guard let input = try await client.ticketInput(c.ticketId) else { throw VerifierFault("the node serves no input for the ticket") }
                    let sent = try await client.send(.fraudReveal(ticketId: c.ticketId, salt: salt(for: c.ticketId), input: input), from: key)
                    if c.revealTx == nil {
                        bump { $0.proofsSubmitted += 1 }
                    } else {
                        bump { $0.revealsResent += 1 }
                        logger.warning("fraud claim reveal left the mempool without reaching the chain; sent again",
                                       metadata: ["ticket": "\(c.ticketId.hex.prefix(16))"])
                    }
                    submitted.withLock { _ = $0.insert(c.ticketId) }
                    setReveal(sent.id, of: c)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    bump { $0.errors += 1 }
                    logger.warning("fraud claim reveal not sent (will retry): \(error)", metadata: ["ticket": "\(c.ticketId.hex.prefix(16))"])
                }
            }
            persist()
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
        if case .match = verdict {
            progress.withLock { $0.markChecked(id) }
            bump { $0.matches += 1 }
            return
        }
        bump { $0.mismatches += 1 }
        logger.notice("mismatch: submitting a fraud proof", metadata: ["ticket": "\(id.hex.prefix(16))", "verdict": "\(verdict)",
                                                                         "worker": "\(ticket.worker.hex.prefix(16))"])
        // A blind claim first (nobody can copy or front-run it), opened once it is in a block. The ticket counts as
        // checked only once the commitment is accepted, together with the claim (one lock, one state-file write): a
        // failed send leaves it to the next sweep, and a restart finds the claim to open.
        let claim = fraudClaimHash(ticketId: id, prover: key.publicKey, salt: salt(for: id))
        do {
            let sent = try await client.send(.fraudCommit(claim: claim, pool: ticket.pool), from: key)
            progress.withLock {
                $0.claims.append(PendingClaim(ticketId: id, commitTx: sent.id, pool: ticket.pool))
                $0.markChecked(id)
                $0.unsaved = true
            }
            persist()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            bump { $0.errors += 1 }
            logger.warning("fraud claim commitment rejected (the ticket is checked again later): \(error)")
        }
    }

    private func dropClaim(_ c: PendingClaim) {
        progress.withLock {
            $0.claims.removeAll { $0.isSameClaim(c) }
            $0.unsaved = true
        }
    }

    /// Records the reveal transaction the node accepted for claim `c` (saved with the claim: after a restart, a reveal
    /// still pending is not sent twice).
    private func setReveal(_ tx: Hash32, of c: PendingClaim) {
        progress.withLock { p in
            for i in p.claims.indices where p.claims[i].isSameClaim(c) { p.claims[i].revealTx = tx }
            p.unsaved = true
        }
    }

    /// Writes the checked ids and the pending claims to the state file when either changed since the last write
    /// (atomically, one writer at a time). Called after each sweep, each poll tick, each claim committed or opened, and on
    /// shutdown.
    func persist() {
        guard let file = config.stateFile else { return }
        persistLock.withLock { _ in
            let snapshot = progress.withLock { p -> ([Hash32], [PendingClaim])? in
                guard p.unsaved else { return nil }
                p.unsaved = false
                return (Array(p.checked), p.claims)
            }
            guard let (checked, claims) = snapshot else { return }
            let lines = checked.map(\.hex).sorted() + claims.map(\.line)
            // `.atomic` writes a temporary file and renames it over the old one.
            do { try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
                progress.withLock { $0.unsaved = true }
                logger.warning("cannot save the verifier state to \(file): \(error)")
            }
        }
    }
}

/// A verifier step that cannot go on for now (it is tried again later).
struct VerifierFault: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

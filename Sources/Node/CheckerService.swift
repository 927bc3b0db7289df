import Foundation
import Ledger
import Logging
import Metrics
import Primitives
import RPC
import Sealing
import ServiceLifecycle
import Synchronization
import Verifier

/// Counters a checker reports (logs, metrics, tests).
public struct CheckerStats: Sendable, Hashable {
    /// Sealed tickets this checker was assigned and saw revealed.
    public var assigned = 0
    /// Passes replayed: once per ticket, or twice when a restart lost the answer between commit and reveal.
    public var replays = 0
    /// Answers that were the bad-input sentinel (the slot did not open, or its plaintext is not the input).
    public var badInputs = 0
    public var commits = 0
    public var reveals = 0
    public var errors = 0
}

/// Settings of the checker service.
public struct CheckerConfig: Sendable {
    public var pool: UInt32 = 0
    /// How often the service looks at the chain.
    public var pollInterval: Duration = .seconds(1)
    /// When set and the key is not yet a registered checker of the pool: bond this much as a checker (if needed)
    /// and register the sealing key.
    public var bond: Amount?
    public init() {}
}

/// An assigned, paid checker (Specs/verification.md): registers an X25519 sealing key, and for every sealed ticket
/// it is assigned (its pending assignments, `checker_getAssignments`) opens its slot of the envelope, replays the
/// pass with the canonical executor on the pool's pinned weights, commits to the output hash it computed before the
/// worker unblinds, and reveals it in the reveal phase with the leaf's derived blinding salt (which unblinds a
/// matching output for the worker). Its fee is paid at the worker's payout.
///
/// The sealing key and every answer's nonce derive from the checker's own secret key, so a restart can still
/// reveal what it committed (it replays the pass again; the executor is deterministic). Without a restart it replays
/// each pass once: the answer and salt it committed are kept until the ticket is done (the fee pays for one replay).
public final class CheckerService: Service, Sendable {
    public let key: PrivateKey
    public let sealing: CheckerKeyPair
    let client: any ChainClient
    let weights: WeightsIndex
    let replayer: ShardReplayer
    let config: CheckerConfig
    let logger: Logger
    private let statsStorage = CountedStats(CheckerStats(), counters: [
        ("sharechain_checker_assigned_total", \.assigned),
        ("sharechain_checker_replays_total", \.replays),
        ("sharechain_checker_bad_inputs_total", \.badInputs),
        ("sharechain_checker_commits_total", \.commits),
        ("sharechain_checker_reveals_total", \.reveals),
        ("sharechain_checker_errors_total", \.errors),
    ])

    public var stats: CheckerStats { statsStorage.current }

    /// The answer (and salt) committed for each open ticket, so the reveal does not replay the pass again. Bounded:
    /// entries go when the ticket is done or leaves the pending assignments, and past `maxKeptAnswers` none is
    /// added (the reveal then replays, as after a restart).
    private let kept = Mutex<[Hash32: Replayed]>([:])
    static let maxKeptAnswers = 4_096

    /// How many answers are kept (tests).
    var keptAnswers: Int { kept.withLock { $0.count } }

    public init(key: PrivateKey, client: any ChainClient, weights: WeightsIndex, config: CheckerConfig = CheckerConfig(),
                replayer: ShardReplayer = ShardReplayer(cacheBytes: 256 << 20, limits: ReplayLimits(maxTokens: Int(UInt32.max))),
                logger: Logger) throws(SealingError) {
        self.key = key
        self.sealing = try CheckerService.sealingKeyPair(for: key)
        self.client = client
        self.weights = weights
        self.config = config
        self.replayer = replayer
        self.logger = logger
    }

    /// The X25519 key pair a checker seals to, derived from its signing key: `H_sealing-key(secret)`. One key file
    /// serves both, and nothing else can derive it.
    public static func sealingKeyPair(for key: PrivateKey) throws(SealingError) -> CheckerKeyPair {
        // Any 32 bytes are an X25519 private key (clamped inside): the only failure, a wrong length, cannot happen.
        try CheckerKeyPair(privateKey: TaggedHash("sharechain/sealing-key").hash(key.secretBytes).bytes)
    }

    /// The answer nonce of a ticket: secret (from the signing key) and recomputable after a restart.
    func nonce(_ ticket: Hash32) -> Hash32 { TaggedHash("sharechain/check-nonce").hash(key.secretBytes + ticket.bytes) }

    private func bump(_ f: (inout CheckerStats) -> Void) { statsStorage.update(f) }

    public func run() async throws {
        // A failure that ends the loop (no such pool, no weights) is thrown, so the command exits with its message rather
        // than ServiceGroup's "a service has finished unexpectedly".
        do { try await cancelWhenGracefulShutdown { try await self.loop() } } catch is CancellationError {} catch {
            logger.error("checker stopped: \(error)")
            throw error
        }
    }

    /// Bonds and registers when asked to, then waits until the registration is on chain.
    func register(pool: PoolConfig, checking: CheckingConfig) async throws {
        let role = StakeRole.checker(pool: pool.id)
        let sealingKey = Hash32(bytes: sealing.publicKey.bytes)!
        var sent = false
        while !Task.isCancelled {
            if let record = try await client.checker(pool: pool.id, key.publicKey) {
                guard record.sealingKey == sealingKey else {
                    throw NodeStartupError("\(key.publicKey.hex) is registered with another sealing key \(record.sealingKey.hex)")
                }
                logger.info("checker registered", metadata: ["pool": "\(pool.id)", "sealingKey": "\(sealingKey.hex.prefix(16))",
                                                             "since": "\(record.registeredHeight)"])
                return
            }
            guard let bond = config.bond else {
                throw NodeStartupError("\(key.publicKey.hex) is not a registered checker of pool \(pool.id): pass --bond to bond and register")
            }
            if !sent {
                let staked = try await client.staker(role, key.publicKey)?.stake ?? .zero
                if staked < checking.checkerMinStake {
                    try await client.send(.bond(role: role, amount: max(bond, Amount(checking.checkerMinStake.units - staked.units)),
                                                randaoCommitment: nil), from: key)
                }
                try await client.send(.registerChecker(pool: pool.id, sealingKey: sealingKey), from: key)
                sent = true
                logger.notice("bonded and registered as a checker", metadata: ["pool": "\(pool.id)"])
            }
            try await Task.sleep(for: config.pollInterval)
        }
    }

    func loop() async throws {
        var setup: (PoolConfig, CheckingConfig)?
        var warned = false
        while setup == nil {
            do {
                guard let pool = try await client.pool(config.pool) else { throw NodeStartupError("pool \(config.pool) does not exist") }
                guard let checking = pool.checking else { throw NodeStartupError("pool \(config.pool) has no checkers (its genesis has no checking section)") }
                setup = (pool, checking)
            } catch let e as NodeStartupError { throw e } catch is CancellationError { return } catch {
                if !warned { logger.warning("waiting for the node: \(error)"); warned = true }
                try await Task.sleep(for: config.pollInterval)
            }
        }
        guard let (pool, checking) = setup else { return }
        try await register(pool: pool, checking: checking)
        let chainId = try await client.chainId()
        // Tickets whose check this checker is done with (answered, too late, or over).
        var done = Set<Hash32>()
        // Transactions sent and not yet seen on chain, by ticket: the height they were sent at (re-sent only when
        // blocks pass without them, `mayResend`).
        var sent = [Hash32: UInt64]()
        var failures = 0
        while !Task.isCancelled {
            do {
                let tip = try await client.tip()
                var cursor: String?
                var commits = [CheckCommitItem](), reveals = [CheckRevealItem]()
                var pending = Set<Hash32>()
                var listing = PagedListing("checker_getAssignments")
                // Only this checker's open assignments (`checker_getAssignments` with `pending`): O(its open checks),
                // not a scan of every revealed ticket.
                repeat {
                    let page = try await client.checkerAssignments(key.publicKey, pool: pool.id, pending: true, cursor: cursor, limit: 100)
                    pending.formUnion(page.items.map(\.ticketId))
                    for assignment in page.items where !done.contains(assignment.ticketId) {
                        // Drawn, not revealed yet: nothing to do before the worker's sealed reveal (and not done).
                        if assignment.phase == .check(.assigned) { continue }
                        let id = assignment.ticketId
                        if !Self.mayResend(sentAt: sent[id], tip: tip.height) { continue }
                        switch try await step(id, tip: tip.height, pool: pool, checking: checking, chainId: chainId) {
                        case .done: done.insert(id); sent[id] = nil; kept.withLock { $0[id] = nil }
                        case .commit(let item): commits.append(item); sent[id] = tip.height
                        case .reveal(let item): reveals.append(item); sent[id] = tip.height
                        case .publish(let input):
                            try await client.send(.publishSealedInput(ticketId: id, input: input), from: key)
                            sent[id] = tip.height
                            logger.notice("dispute: published the input for the replay", metadata: ["ticket": "\(id.hex.prefix(16))"])
                        case .waiting: sent[id] = nil
                        }
                    }
                    cursor = page.next
                } while try listing.follow(cursor)
                // A ticket no longer pending (its check over while this checker was not looking) needs no answer, and
                // no entry here: without this, a long-running checker kept one per ticket it ever checked.
                kept.withLock { answers in answers = answers.filter { pending.contains($0.key) } }
                Self.forget(notPending: pending, done: &done, sent: &sent)
                // One transaction per phase and round for all tickets: a checker pays one signature per block.
                for chunk in commits.inBatches() {
                    try await client.send(.checkCommit(items: chunk), from: key)
                    bump { $0.commits += chunk.count }
                    logger.info("committed answers", metadata: ["tickets": "\(chunk.count)"])
                }
                for chunk in reveals.inBatches() {
                    try await client.send(.checkReveal(items: chunk), from: key)
                    bump { $0.reveals += chunk.count }
                    logger.info("revealed answers", metadata: ["tickets": "\(chunk.count)"])
                }
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                bump { $0.errors += 1 }
                if failures == 1 || failures % 30 == 0 { logger.warning("checker round failed (\(failures)): \(error)") }
            }
            try await Task.sleep(for: config.pollInterval)
        }
    }

    /// Blocks that must pass without a sent transaction before it is sent again.
    static let resendAfterBlocks: UInt64 = 2

    /// Whether a ticket's transaction sent at tip `sentAt` (nil: none outstanding) may be sent again at tip `tip`. Not
    /// after one block without it (it may still be in the mempool, behind a full or censoring block: a duplicate would
    /// only cost a fee), but after two, so a dropped commit or reveal sent at the start of the shortest phase the
    /// genesis allows (3 blocks, Specs/verification.md §1) is sent again in time; waiting three lost the slot and its
    /// stake.
    static func mayResend(sentAt: UInt64?, tip: UInt64) -> Bool {
        guard let sentAt else { return true }
        return tip >= sentAt &+ resendAfterBlocks
    }

    /// Keeps the per-ticket bookkeeping to the tickets still pending for this checker (a full listing, `pending`): a
    /// check that is over is never listed again (if a reorganisation brings one back, one look finds it done again).
    static func forget(notPending pending: Set<Hash32>, done: inout Set<Hash32>, sent: inout [Hash32: UInt64]) {
        done.formIntersection(pending)
        sent = sent.filter { pending.contains($0.key) }
    }

    /// What one look at a ticket did.
    enum StepResult { case done, waiting, commit(CheckCommitItem), reveal(CheckRevealItem), publish([UInt8]) }

    /// One look at a revealed ticket: commit in the commit phase, reveal in the reveal phase.
    func step(_ id: Hash32, tip: UInt64, pool: PoolConfig, checking: CheckingConfig, chainId: Hash32) async throws -> StepResult {
        guard let check = try await client.sealedCheck(id) else { return .done }
        guard let slot = check.slots.first(where: { $0.checker == key.publicKey }) else { return .done }
        if check.status == .disputed {
            // A dispute over an output this checker found wrong: publish the input it opened, so the validators replay
            // it even if the worker withholds its key (and colluding checkers cannot hide behind that). A bad-input
            // answer too: it may be an input that opened and that the replay finds invalid (a non-canonical value, a
            // position beyond the limit), which only a publication proves against the colluders; `openedInput` is nil
            // exactly when there is nothing to publish (the slot does not open, or not to the input). Once someone
            // published (a pending case) the replay comes at the key deadline: nothing is left to send.
            guard let mine = slot.answer, mine != check.unblinded, tip.saturatingPlus(1) <= check.keyDeadline,
                  try await client.fraudCase(id) == nil,
                  let input = try await openedInput(id, pool: pool, chainId: chainId) else { return .done }
            return .publish(input)
        }
        guard check.status == .checking else { return .done }
        // Saturating: the node's heights are not trusted to stay below 2⁶⁴ (a sum past it is a phase that never ends).
        let next = tip.saturatingPlus(1), commitEnd = check.revealHeight.saturatingPlus(checking.answerCommitBlocks)
        if slot.commitment == .zero {
            guard next <= commitEnd else { return .done }  // too late: the slot is lost
            bump { $0.assigned += 1 }
            let replayed = try await answer(id, check: check, pool: pool, chainId: chainId)
            let answer = replayed.answer
            kept.withLock { if $0.count < CheckerService.maxKeptAnswers { $0[id] = replayed } }
            let commitment = checkCommitmentHash(ticketId: id, checker: key.publicKey, answer: answer, nonce: nonce(id))
            logger.debug("answer ready", metadata: ["ticket": "\(id.hex.prefix(16))", "badInput": "\(answer == badInputAnswer)"])
            return .commit(CheckCommitItem(ticketId: id, commitment: commitment))
        }
        guard slot.answer == nil else { return .waiting }
        guard next > commitEnd else { return .waiting }
        guard next <= check.revealHeight.saturatingPlus(checking.resolutionDelay) else { return .done }
        // The answer committed this run; after a restart it is replayed again (deterministic, so it opens the commitment).
        let replayed: Replayed
        if let k = kept.withLock({ $0[id] }) { replayed = k } else {
            replayed = try await answer(id, check: check, pool: pool, chainId: chainId, quiet: true)
        }
        guard checkCommitmentHash(ticketId: id, checker: key.publicKey, answer: replayed.answer, nonce: nonce(id)) == slot.commitment else {
            logger.error("my replay no longer matches my commitment; not revealing", metadata: ["ticket": "\(id.hex.prefix(16))"])
            return .done
        }
        // The derived salt rides along until the output is unblinded: if the worker blinded with it and this answer
        // is its output, this reveal unblinds it, and the worker needs no unblinding transaction of its own.
        return .reveal(CheckRevealItem(ticketId: id, answer: replayed.answer, nonce: nonce(id),
                                       salt: check.unblinded == nil ? replayed.salt : nil))
    }

    /// This checker's slot of a ticket's envelope, opened (nil when it does not open to the input).
    func openedInput(_ id: Hash32, pool: PoolConfig, chainId: Hash32) async throws -> [UInt8]? {
        guard let ticket = try await client.ticket(id), let leaf = ticket.leaf, let bytes = try await client.sealedInput(id),
              let envelope = try? SealedEnvelope(decoding: bytes, maxPlaintextCount: pool.maxInputTensorBytes),
              let input = try? envelope.open(keyPair: sealing, context: SealingContext(chainId: chainId, ticketId: id, inputHash: leaf.inputHash)),
              Tags.tensor.hash(input) == leaf.inputHash else { return nil }
        return input
    }

    /// A replay's answer, and the leaf's derived blinding salt when the slot opened to the input.
    struct Replayed: Sendable { var answer: Hash32; var salt: Hash32? }

    /// Opens this checker's slot and replays the pass: the output hash it computed, or the bad-input sentinel when
    /// the slot does not open, the plaintext is not the input, or the input is not a valid input of the shard.
    func answer(_ id: Hash32, check: SealedCheck, pool: PoolConfig, chainId: Hash32, quiet: Bool = false) async throws -> Replayed {
        guard let ticket = try await client.ticket(id), let leaf = ticket.leaf,
              let bytes = try await client.sealedInput(id) else { throw CheckerError.ticketUnavailable(id) }
        bump { $0.replays += 1 }
        let input: [UInt8]
        do {
            let envelope = try SealedEnvelope(decoding: bytes, maxPlaintextCount: pool.maxInputTensorBytes)
            input = try envelope.open(keyPair: sealing, context: SealingContext(chainId: chainId, ticketId: id, inputHash: leaf.inputHash))
        } catch {
            logger.warning("my slot does not open: answering bad input", metadata: ["ticket": "\(id.hex.prefix(16))", "error": "\(error)"])
            if !quiet { bump { $0.badInputs += 1 } }
            return Replayed(answer: badInputAnswer)
        }
        guard Tags.tensor.hash(input) == leaf.inputHash else {
            if !quiet { bump { $0.badInputs += 1 } }
            return Replayed(answer: badInputAnswer)
        }
        let salt = derivedBlindingSalt(contentKey: leaf.contentKey, input: input)
        switch try TicketReplay.replay(leaf: leaf, input: input, pool: pool, weights: weights, replayer: replayer) {
        case .output(let h): return Replayed(answer: h, salt: salt)
        case .invalidInput, .invalidOutput:
            if !quiet { bump { $0.badInputs += 1 } }
            return Replayed(answer: badInputAnswer)
        }
    }
}

extension Array {
    /// The items in runs of at most `TxLimits.maxCheckBatch`, as batch transactions carry them.
    func inBatches() -> [[Element]] {
        stride(from: 0, to: count, by: TxLimits.maxCheckBatch).map { Array(self[$0..<Swift.min($0 + TxLimits.maxCheckBatch, count)]) }
    }
}

/// Why a checker could not answer a ticket this round (retried).
public enum CheckerError: Error, CustomStringConvertible, Sendable {
    case ticketUnavailable(Hash32)
    public var description: String {
        switch self {
        case .ticketUnavailable(let id): "ticket \(id.hex) or its envelope is not available on the node"
        }
    }
}

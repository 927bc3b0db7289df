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
    public var proofsSubmitted = 0
    public var proofsWon = 0
    public var proofsLost = 0
    public var errors = 0
}

/// Settings of the verifier service.
public struct VerifierConfig: Sendable {
    /// How often revealed tickets are listed.
    public var pollInterval: Duration = .seconds(1)
    /// Replays running at once.
    public var parallelism = 2
    /// File remembering checked tickets across restarts (nil: memory only).
    public var stateFile: String?
    public init() {}
}

/// Follows revealed spot-check tickets, replays each with the canonical executor on the pool's pinned
/// weights, and submits a fraud proof (with the bond) when the recomputed output hash differs from the
/// committed one. Skips tickets already adjudicated; remembers what it checked across restarts.
public final class VerifierService: Service, Sendable {
    public let key: PrivateKey
    let client: any ChainClient
    let weights: WeightsIndex
    let replayer: ShardReplayer
    let config: VerifierConfig
    let logger: Logger
    private let statsStorage = Mutex(VerifierStats())
    private let checked = Mutex(Set<Hash32>())
    private let submitted = Mutex(Set<Hash32>())

    public var stats: VerifierStats { statsStorage.withLock { $0 } }

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
            checked.withLock { $0.formUnion(ids) }
        }
    }

    private func bump(_ f: (inout VerifierStats) -> Void) {
        let (before, after) = statsStorage.withLock { s -> (VerifierStats, VerifierStats) in
            let b = s
            f(&s)
            return (b, s)
        }
        func count(_ name: String, _ delta: Int) { if delta > 0 { Counter(label: name).increment(by: delta) } }
        count("sharechain_verifier_service_replays_total", after.replays - before.replays)
        count("sharechain_verifier_service_mismatches_total", after.mismatches - before.mismatches)
        count("sharechain_verifier_service_proofs_submitted_total", after.proofsSubmitted - before.proofsSubmitted)
        count("sharechain_verifier_service_proofs_won_total", after.proofsWon - before.proofsWon)
        count("sharechain_verifier_service_proofs_lost_total", after.proofsLost - before.proofsLost)
        count("sharechain_verifier_service_errors_total", after.errors - before.errors)
    }

    public func run() async throws {
        logger.info("verifier started", metadata: ["key": "\(key.publicKey.hex.prefix(16))", "weights": "\(weights.directory)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await self.pass() } catch is CancellationError { return } catch {
                    self.bump { $0.errors += 1 }
                    self.logger.warning("verifier pass failed: \(error)")
                }
                do { try await Task.sleep(for: self.config.pollInterval) } catch { return }
            }
        }
    }

    /// One sweep: replay every revealed ticket not yet checked, then follow up on submitted proofs.
    public func pass() async throws {
        var todo = [Hash32]()
        var cursor: String?
        repeat {
            let page = try await client.tickets(status: .revealed, cursor: cursor, limit: 100)
            todo += page.ids.filter { id in !checked.withLock { $0.contains(id) } }
            cursor = page.next
        } while cursor != nil
        if !todo.isEmpty {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                for id in todo {
                    if running >= config.parallelism {
                        try await group.next()
                        running -= 1
                    }
                    group.addTask { try await self.check(id) }
                    running += 1
                }
                try await group.waitForAll()
            }
            persist()
        }
        for id in submitted.withLock({ Array($0) }) {
            guard let fc = try await client.fraudCase(id) else { continue }
            submitted.withLock { _ = $0.remove(id) }
            if fc.prover == key.publicKey {
                if fc.fraud {
                    bump { $0.proofsWon += 1 }
                    logger.notice("fraud proven", metadata: ["ticket": "\(id.hex.prefix(16))", "slashed": "\(fc.slashed)", "bounty": "\(fc.bounty)"])
                } else {
                    bump { $0.proofsLost += 1 }
                    logger.warning("fraud proof failed, bond burned", metadata: ["ticket": "\(id.hex.prefix(16))"])
                }
            }
        }
    }

    /// Replays one ticket and proves fraud if the committed output is not the canonical one.
    func check(_ id: Hash32) async throws {
        guard let ticket = try await client.ticket(id), ticket.status == .revealed, let leaf = ticket.leaf else {
            checked.withLock { _ = $0.insert(id) }
            return
        }
        guard let input = try await client.ticketInput(id), let pool = try await client.pool(ticket.pool),
              Int(leaf.shard) < pool.shards.count else { return }
        let shard = pool.shards[Int(leaf.shard)]
        guard let path = weights.files[shard.weightsSHA256] else {
            throw NodeStartupError("no weights with SHA-256 \(shard.weightsSHA256.hex) under \(weights.directory)")
        }
        let verdict: TicketCheck
        if let why = PassChecks.tokenMismatch(input: input, tokenCount: leaf.tokenCount, pool: pool) {
            verdict = .invalidInput(why)
        } else {
            verdict = try replayer.check(model: PoolModels.config(pool), shard: PoolModels.shard(shard),
                                         weights: WeightsRef(path: path, sha256: shard.weightsSHA256),
                                         input: input, positionOffset: leaf.positionOffset, committedOutputHash: leaf.outputHash)
        }
        bump { $0.replays += 1 }
        checked.withLock { _ = $0.insert(id) }
        if case .match = verdict {
            bump { $0.matches += 1 }
            return
        }
        bump { $0.mismatches += 1 }
        logger.notice("mismatch: submitting a fraud proof", metadata: ["ticket": "\(id.hex.prefix(16))", "verdict": "\(verdict)",
                                                                         "worker": "\(ticket.worker.hex.prefix(16))"])
        do {
            try await client.send(.fraudProof(ticketId: id), from: key)
            bump { $0.proofsSubmitted += 1 }
            submitted.withLock { _ = $0.insert(id) }
        } catch {
            bump { $0.errors += 1 }
            logger.warning("fraud proof rejected: \(error)")
        }
    }

    func persist() {
        guard let file = config.stateFile else { return }
        let ids = checked.withLock { Array($0) }.map(\.hex).sorted()
        let tmp = file + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: Data(ids.joined(separator: "\n").utf8)) {
            _ = try? FileManager.default.replaceItemAt(URL(fileURLWithPath: file), withItemAt: URL(fileURLWithPath: tmp))
            if !FileManager.default.fileExists(atPath: file) { try? FileManager.default.moveItem(atPath: tmp, toPath: file) }
        }
    }
}

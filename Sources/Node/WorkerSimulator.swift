import Consensus
import Foundation
import Ledger
import Logging
import Metrics
import Primitives
import Sealing
import ServiceLifecycle
import Synchronization
import Verifier

/// How a simulated worker misbehaves (Specs/economics.md §7 lists what each one loses).
public enum WorkerAdversary: String, Sendable, CaseIterable {
    /// Computes every pass and reveals what is sampled.
    case honest
    /// Commits wrong outputs (as `cheatRate` 1 does): caught by verifiers' replays.
    case fabricate
    /// Never reveals a sampled pass: slashed at the deadline.
    case withhold
    /// Computes one pass and copies it into every leaf: the copies cannot be revealed.
    case duplicate
    /// Claims the maximum tokens per leaf for inputs that hold fewer: the reveal fails the shape check.
    case inflate
    /// Pays itself through its own escrow: loses the protocol fee.
    case selfDeal = "self-deal"
    /// Commits wrong outputs in the last two blocks before the window's commit deadline and reveals each sampled
    /// pass only in the last two blocks before its reveal deadline, hoping the fraud proof lands after the window
    /// pays (economics.md §7, attack 5): settlement waits for every ticket's challenge, so it is convicted and
    /// forfeits like a fabricator (or, revealing too late, is slashed for withholding).
    case late
    /// Computes half the passes it is paid for, serves the other half garbage, and covers their payment with passes it
    /// computed in earlier windows that were never revealed (economics.md §7 rows 33, 54): caught when its client
    /// challenges a receipt of a garbage pass (no leaf answers it; protocol 5, §4.1).
    case reuse
}

/// Settings of a simulated worker.
public struct WorkerSimulatorConfig: Sendable {
    public var pool: UInt32 = 0
    /// Shard index to serve (nil: chosen from the key).
    public var shard: Int?
    /// Fraction of passes whose output is corrupted (a dishonest worker).
    public var cheatRate: Double = 0
    /// The worker's strategy.
    public var adversary: WorkerAdversary = .honest
    /// Passes per share commitment (one commitment per window).
    public var passesPerBatch = 6
    /// Tokens per pass (capped by the pool's maximum).
    public var maxTokensPerPass = 8
    /// The client whose escrow pays for the simulated usage (nil: the worker pays itself).
    public var clientKey: PrivateKey?
    /// Deposit of the client's escrow.
    public var escrowDeposit: Amount = 5_000_000
    /// How often the loop looks at the chain.
    public var pollInterval: Duration = .seconds(1)
    /// Seed of the input generator (deterministic runs).
    public var seed: UInt64 = 1
    /// Probability that the client (holding the worker's hop receipts) challenges each receipt of a window after its
    /// commit deadline (protocol 5, Specs/economics.md §4.1). Never for a self-paying worker.
    public var hopChallengeRate: Double = 0
    /// The account the client challenges from (nil: its escrow key). An answered challenge shows its sender next to the
    /// pass's input, so a client that keeps its escrow apart from its passes challenges from another account; each
    /// receipt names a fresh holder key either way.
    public var challengerKey: PrivateKey?

    public init() {}
}

/// Counters a worker simulator reports (logs and tests).
public struct WorkerStats: Sendable, Hashable {
    public var passes = 0
    public var corruptedPasses = 0
    public var commitments = 0
    public var reveals = 0
    public var claims = 0
    public var claimedInputTokens: UInt64 = 0
    public var claimedOutputTokens: UInt64 = 0
    public var payouts = 0
    public var rejected = 0
    /// Sealed tickets whose output this worker unblinded, and disputes it answered with the envelope's key.
    public var unblinded = 0
    public var keysPublished = 0
    /// Sealed tickets whose output a checker's reveal unblinded (no unblinding transaction of the worker's).
    public var unblindedByCheckers = 0
    /// Hop challenges the client sent against this worker's receipts, and those the worker answered.
    public var hopChallenges = 0
    public var hopAnswers = 0
}

/// A staked worker serving one shard of a pool with the canonical executor on generated inputs: each
/// window it commits a Merkle root over its passes, reveals the passes the beacon selects before their
/// deadline, and — playing the client too — charges the escrow with signed cumulative usage vouchers.
/// With `cheatRate > 0` it corrupts some outputs, as a dishonest worker would.
public final class WorkerSimulator: Service, Sendable {
    struct Batch: Sendable {
        let commitment: Hash32
        let window: UInt64
        let tree: SumTree.Built
        /// Inputs by leaf index.
        let inputs: [[UInt8]]
        let corrupted: Set<Int>
        var revealed: Set<UInt32> = []
        /// Pools with checkers: each leaf's true output hash and blinding salt, by leaf index (the leaves hold
        /// `H_blind(output ‖ salt)`).
        var outputs: [Hash32] = []
        var salts: [Hash32] = []
        /// Pools with checkers: the sealing randomness of each sample's reveal, kept across retries.
        var sealing = RevealSealing()
        /// The passes the client paid for, as the worker's receipts describe them (the leaf committed for the output
        /// served): the tree's leaves, except for a reuse adversary's garbage half.
        var served: [PassLeaf] = []
        /// Fresh passes (unblinded leaf, input) a reuse adversary banks for later windows.
        var fresh: [(PassLeaf, [UInt8])] = []
        /// Hop challenges answered, with the height the answer was sent at (sent again if it has not landed a few blocks
        /// later: a dropped answer would convict an honest worker), and whether the client's challenges were drawn.
        var answered: [Hash32: UInt64] = [:]
        var challengesDrawn = false
    }

    /// A sealed reveal's follow-up: the leaf to unblind and the envelope's ephemeral key for a dispute.
    struct SealedReveal: Sendable {
        let leaf: Int
        let commitment: Hash32
        let ephemeralPrivateKey: Hash32
        var unblinded = false
        var keyPublished = false
    }

    public let key: PrivateKey
    public let config: WorkerSimulatorConfig
    let client: any ChainClient
    let weights: WeightsIndex
    let replayer: ShardReplayer
    let logger: Logger
    // Prometheus counters mirror the stats (`--metrics-addr`).
    private let statsStorage = CountedStats(WorkerStats(), counters: [
        ("sharechain_worker_passes_total", \.passes),
        ("sharechain_worker_corrupted_passes_total", \.corruptedPasses),
        ("sharechain_worker_commitments_total", \.commitments),
        ("sharechain_worker_reveals_total", \.reveals),
        ("sharechain_worker_usage_claims_total", \.claims),
        ("sharechain_worker_rejected_total", \.rejected),
        ("sharechain_worker_unblinded_total", \.unblinded),
        ("sharechain_worker_unblinded_by_checkers_total", \.unblindedByCheckers),
        ("sharechain_worker_hop_challenges_total", \.hopChallenges),
        ("sharechain_worker_hop_answers_total", \.hopAnswers),
    ])
    /// A reuse adversary's computed passes never revealed (unblinded leaf and input).
    private let bank = Mutex<[(PassLeaf, [UInt8])]>([])

    public var stats: WorkerStats { statsStorage.current }

    public init(key: PrivateKey, client: any ChainClient, weights: WeightsIndex, config: WorkerSimulatorConfig,
                replayer: ShardReplayer = ShardReplayer(cacheBytes: 256 << 20), logger: Logger) {
        self.key = key
        self.client = client
        self.weights = weights
        self.config = config
        self.replayer = replayer
        self.logger = logger
    }

    private func bump(_ f: (inout WorkerStats) -> Void) { statsStorage.update(f) }

    public func run() async throws {
        // A failure that ends the loop (no such pool, no weights) is thrown, so the command exits with its message rather
        // than ServiceGroup's "a service has finished unexpectedly".
        do { try await cancelWhenGracefulShutdown { try await self.loop() } } catch is CancellationError {} catch {
            logger.error("worker simulator stopped: \(error)")
            throw error
        }
    }

    /// What the worker needs before it can serve: its pool, shard and executor, and its bond.
    /// Where the paying client's escrow for this worker stands; each step is confirmed from state.
    enum EscrowSetup {
        case none
        case opening(id: Hash32, nonce: UInt64, sentAt: UInt64)
        case allocating(id: Hash32, nonce: UInt64?, sentAt: UInt64)
        case ready(id: Hash32)

        var readyId: Hash32? { if case .ready(let id) = self { id } else { nil } }
    }

    /// Blocks after which a payer's transaction that has not landed is sent again.
    static let resendAfterBlocks: UInt64 = 20

    struct Setup {
        let pool: PoolConfig
        let shardIndex: Int
        let executor: CanonExecutor
    }

    /// Permanent problems (no weights for the shard) end the worker; others are retried.
    struct Fatal: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    func prepare() async throws -> Setup {
        guard let pool = try await client.pool(config.pool) else { throw Fatal(message: "pool \(config.pool) does not exist") }
        guard !pool.shards.isEmpty, pool.windowBlocks > 0 else { throw Fatal(message: "pool \(pool.id) has no shards or no window length") }
        let shardIndex = config.shard ?? Int(key.publicKey.rawValue.prefixUInt64 % UInt64(pool.shards.count))
        guard shardIndex < pool.shards.count else { throw Fatal(message: "pool \(pool.id) has no shard \(shardIndex)") }
        let shard = pool.shards[shardIndex]
        guard let path = weights.files[shard.weightsSHA256] else {
            throw Fatal(message: "no weights with SHA-256 \(shard.weightsSHA256.hex) under \(weights.directory)")
        }
        let executor = try replayer.executor(model: PoolModels.config(pool), shard: PoolModels.shard(shard),
                                             weights: WeightsRef(path: path, sha256: shard.weightsSHA256))
        guard let staker = try await client.staker(.worker(pool: pool.id), key.publicKey), staker.stake >= pool.minWorkerStake else {
            throw NodeStartupError("\(key.publicKey.hex) is not a bonded worker of pool \(pool.id) (bond at least \(pool.minWorkerStake) first)")
        }
        logger.info("worker started", metadata: ["pool": "\(pool.id)", "shard": "\(shardIndex)", "cheatRate": "\(config.cheatRate)"])
        return Setup(pool: pool, shardIndex: shardIndex, executor: executor)
    }

    func loop() async throws {
        // Wait for the node (it may still be starting) and for the bond; give up only on permanent problems.
        var setup: Setup?
        var warned = false
        while setup == nil {
            do { setup = try await prepare() } catch let e as Fatal { throw e } catch is CancellationError { return } catch {
                if !warned { logger.warning("waiting for the node: \(error)"); warned = true }
                try await Task.sleep(for: config.pollInterval)
            }
        }
        guard let setup else { return }
        let pool = setup.pool, shardIndex = setup.shardIndex, executor = setup.executor
        let role = StakeRole.worker(pool: pool.id)

        var rng = SplitMix64(seed: config.seed ^ key.publicKey.rawValue.prefixUInt64)
        var batches: [Hash32: Batch] = [:]
        var committedWindows = Set<UInt64>()
        var unpaidWindows = Set<UInt64>()
        let payer = config.adversary == .selfDeal ? key : (config.clientKey ?? key)
        if config.hopChallengeRate > 0, config.challengerKey == nil, payer.publicKey != key.publicKey {
            logger.warning("""
                hop challenges are sent from the client's escrow key: each answered one links that key to a pass on chain \
                (and to its input in a pool without checkers); give the client a separate account with --challenger-key
                """)
        }
        var escrowSetup = EscrowSetup.none
        var sealed: [Hash32: SealedReveal] = [:]

        var failures = 0
        while !Task.isCancelled {
            do {
                let tip = try await client.tip()
                let window = pool.window(ofHeight: tip.height + 1)

                // The client's escrow, opened once, with an allocation for this worker (a payment lane the client
                // cannot drain ahead of it). The client key may pay several workers at once, so each of its
                // transactions can lose its nonce to another's (refused, or replaced in the mempool by a dearer one):
                // a step counts only once its effect is in state, and is sent again when its nonce went to another
                // transaction, or when it has not landed for a while and is no longer pending (dropped: sending it
                // again while it still waits in the mempool would open a second escrow).
                let payerNonce = try await client.account(payer.publicKey).nonce
                func lost(_ sent: UInt64?, sentAt: UInt64) async throws -> Bool {
                    guard let nonce = sent else { return true }  // not sent yet
                    if payerNonce > nonce { return true }
                    guard tip.height > sentAt + Self.resendAfterBlocks else { return false }
                    return try await client.nextNonce(payer.publicKey) <= nonce
                }
                switch escrowSetup {
                case .none:
                    do {
                        let nonce = try await client.send(.escrowOpen(pool: pool.id, amount: config.escrowDeposit, expiryHeight: tip.height + 100_000),
                                                          from: payer).nonce
                        escrowSetup = .opening(id: LedgerIds.escrow(owner: payer.publicKey, nonce: nonce), nonce: nonce, sentAt: tip.height)
                    } catch {
                        logger.warning("opening the escrow failed (retrying): \(error)")
                    }
                case .opening(let id, let nonce, let sentAt):
                    if try await client.escrow(id) != nil {
                        escrowSetup = .allocating(id: id, nonce: nil, sentAt: tip.height)
                        logger.info("escrow opened", metadata: ["escrow": "\(id.hex.prefix(16))", "deposit": "\(config.escrowDeposit)"])
                    } else if try await lost(nonce, sentAt: sentAt) {
                        logger.notice("escrow opening did not land; opening again", metadata: ["nonce": "\(nonce)"])
                        escrowSetup = .none
                    }
                case .allocating(let id, let nonce, let sentAt):
                    // Serve only once the allocation is on chain: a claim before it would find nothing to draw from.
                    if try await client.escrow(id).map({ $0.allocated > .zero }) ?? false {
                        escrowSetup = .ready(id: id)
                    } else if try await lost(nonce, sentAt: sentAt) {
                        do {
                            let sent = try await client.send(.escrowAllocate(escrowId: id, payee: key.publicKey, amount: config.escrowDeposit),
                                                             from: payer).nonce
                            escrowSetup = .allocating(id: id, nonce: sent, sentAt: tip.height)
                        } catch {
                            logger.warning("allocating the escrow failed (retrying): \(error)")
                        }
                    }
                case .ready:
                    break
                }
                let escrowId = escrowSetup.readyId
                let allocated = escrowId != nil

                // A jailed (or under-staked) worker cannot commit: wait, and unjail once the jail period is over.
                let me = try await client.staker(role, key.publicKey)
                var active = me?.isActive(minimum: pool.minWorkerStake) ?? false
                if let me, case .jailed(let until) = me.status, tip.height + 1 >= until, me.stake >= pool.minWorkerStake {
                    do {
                        try await client.send(.unjail(role: role), from: key)
                        logger.notice("unjailed", metadata: ["height": "\(tip.height)"])
                    } catch { logger.warning("unjail rejected: \(error)") }
                }
                if !active, !committedWindows.contains(window) {
                    committedWindows.insert(window)
                    logger.notice("not committing: worker is not active", metadata: ["status": "\(String(describing: me?.status))", "window": "\(window)"])
                }
                active = active && allocated && !Task.isCancelled

                // One batch per window, committed early in the window so its selection and reveal fit (a late
                // worker commits the window whose commit deadline is this block or the next).
                let next = tip.height + 1
                let target: UInt64? = config.adversary == .late
                    ? (window > 0 ? [window - 1, window] : [window]).first { w in
                        next <= pool.commitDeadline(ofWindow: w) && next + 1 >= pool.commitDeadline(ofWindow: w)
                    }
                    : (next < pool.closeHeight(ofWindow: window) ? window : nil)
                if active, let window = target, !committedWindows.contains(window) {
                    let batch = try makeBatch(executor: executor, pool: pool, shard: shardIndex, window: window, rng: &rng)
                    let tokens = batch.tree.tokenTotal
                    do {
                        try await client.send(.commitShares(pool: pool.id, window: window, shard: UInt32(shardIndex),
                                                            leafCount: batch.tree.leafCount, tokenTotal: tokens, root: batch.tree.root.hash), from: key)
                        batches[batch.commitment] = batch
                        if config.adversary == .reuse { bank.withLock { $0.append(contentsOf: batch.fresh) } }
                        committedWindows.insert(window)
                        unpaidWindows.insert(window)
                        bump { $0.commitments += 1; $0.passes += batch.tree.leaves.count; $0.corruptedPasses += batch.corrupted.count }
                        logger.info("committed shares", metadata: ["window": "\(window)", "passes": "\(batch.tree.leaves.count)",
                                                                    "tokens": "\(tokens)", "corrupted": "\(batch.corrupted.count)"])
                        // The client pays for the tokens served: a cumulative voucher for this worker, shard and
                        // window, signed by the escrow owner. Input plus output tokens equal the committed tokens.
                        if let escrowId {
                            let input = tokens - tokens / 5, output = tokens / 5
                            let voucher = UsageVoucher(chainId: try await client.chainId(), escrowId: escrowId, payee: key.publicKey,
                                                       shard: UInt32(shardIndex), window: window,
                                                       cumulativeInputTokens: input, cumulativeOutputTokens: output).signed(by: payer)
                            do {
                                try await client.send(.claimUsage(voucher: voucher), from: key)
                                bump { $0.claims += 1; $0.claimedInputTokens += input; $0.claimedOutputTokens += output }
                            } catch {
                                bump { $0.rejected += 1 }
                                logger.warning("usage claim rejected: \(error)")
                            }
                        }
                    } catch {
                        bump { $0.rejected += 1 }
                        logger.warning("commitment rejected: \(error)")
                        committedWindows.insert(window)  // try again next window
                    }
                }

                // Reveal the leaf holding each sampled token, with its path and input (no neighbours: the key ranges on the path make its key unique, economics.md §3).
                for (id, var batch) in batches {
                    for (sample, ticketId) in try await client.tickets(commitment: id) where !batch.revealed.contains(sample) {
                        guard let t = try await client.ticket(ticketId) else { continue }
                        guard t.status == .awaitingReveal, tip.height + 1 <= t.revealDeadline, config.adversary != .withhold else {
                            batch.revealed.insert(sample)
                            continue
                        }
                        // A late worker waits for the last two blocks before the deadline.
                        if config.adversary == .late, tip.height + 2 < t.revealDeadline { continue }
                        guard let i = batch.tree.leaf(containing: t.point) else { continue }
                        do {
                            if let check = try await client.sealedCheck(ticketId) {
                                // Checkers assigned: the input goes sealed to them, in assignment order
                                // (Specs/verification.md §4); the ephemeral key is kept for a dispute.
                                let randomness = batch.sealing.randomness(forSample: sample)
                                let envelope = try SealedEnvelope.seal(
                                    plaintext: batch.inputs[i],
                                    recipients: try check.slots.map { try CheckerPublicKey(bytes: $0.sealingKey.bytes) },
                                    context: SealingContext(chainId: try await client.chainId(), ticketId: ticketId,
                                                            inputHash: batch.tree.leaves[i].inputHash),
                                    maxPlaintextCount: pool.maxInputTensorBytes, randomness: randomness)
                                try await client.send(.revealSealedTicket(ticketId: ticketId, leaf: batch.tree.proof(i), left: nil, right: nil,
                                                                          envelope: envelope.encoded), from: key)
                                sealed[ticketId] = SealedReveal(leaf: i, commitment: id,
                                                                ephemeralPrivateKey: Hash32(bytes: randomness.ephemeralPrivateKey)!)
                            } else {
                                try await client.send(.revealTicket(ticketId: ticketId, leaf: batch.tree.proof(i), left: nil, right: nil,
                                                                    input: batch.inputs[i]), from: key)
                            }
                            batch.revealed.insert(sample)
                            forgetBanked(batch.tree.leaves[i].contentKey)
                            bump { $0.reveals += 1 }
                            logger.info("revealed ticket", metadata: ["ticket": "\(ticketId.hex.prefix(16))", "leaf": "\(i)",
                                                                       "corrupted": "\(batch.corrupted.contains(i))"])
                        } catch {
                            logger.warning("reveal rejected: \(error)")
                        }
                    }
                    batches[id] = batch
                    // Forget batches whose tickets and hop challenges are all long past their deadlines.
                    if window > batch.window + 3, tip.height > pool.commitDeadline(ofWindow: batch.window) + Self.hopAnswerHorizon
                        + pool.revealDeadlineBlocks { batches[id] = nil }
                }

                // Sealed tickets: unblind the output once the checkers' commit phase is over; answer a dispute with
                // the envelope's ephemeral key (an honest worker wants the replay: it clears it).
                if let checking = pool.checking {
                    var unblind = [UnblindItem]()
                    for (ticketId, var s) in sealed {
                        guard let check = try await client.sealedCheck(ticketId) else { sealed[ticketId] = nil; continue }
                        // The check's heights come from the node as they are: saturating, a lie is not a trap.
                        let next = tip.height + 1, opens = check.revealHeight.saturatingPlus(checking.answerCommitBlocks)
                        // The leaves are blinded with the derived salt, so a checker whose answer matches unblinds
                        // the output with its reveal: the worker waits one block for that (when the phase has room
                        // for a second try) and unblinds itself only if no reveal did.
                        let wait: UInt64 = checking.unblindBlocks >= 2 ? 1 : 0
                        if !s.unblinded, check.unblinded != nil {
                            s.unblinded = true
                            bump { $0.unblindedByCheckers += 1 }
                        }
                        if !s.unblinded, check.status == .checking, next > opens.saturatingPlus(wait), next <= opens.saturatingPlus(checking.unblindBlocks),
                           let batch = batches[s.commitment], batch.salts.indices.contains(s.leaf) {
                            unblind.append(UnblindItem(ticketId: ticketId, outputHash: batch.outputs[s.leaf], salt: batch.salts[s.leaf]))
                            s.unblinded = true
                        }
                        if !s.keyPublished, check.status == .disputed, next <= check.keyDeadline {
                            do {
                                try await client.send(.publishSealKey(ticketId: ticketId, ephemeralPrivateKey: s.ephemeralPrivateKey), from: key)
                                s.keyPublished = true
                                bump { $0.keysPublished += 1 }
                                logger.notice("dispute: published the envelope key", metadata: ["ticket": "\(ticketId.hex.prefix(16))"])
                            } catch { logger.warning("publishing the envelope key rejected: \(error)") }
                        }
                        // Done once the check has an outcome (or its window is long gone).
                        if [.passed, .fraud, .upheld, .failed].contains(check.status) { sealed[ticketId] = nil } else { sealed[ticketId] = s }
                    }
                    // All of this round's unblindings in one transaction.
                    for chunk in unblind.inBatches() {
                        do {
                            try await client.send(.unblindOutput(items: chunk), from: key)
                            bump { $0.unblinded += chunk.count }
                        } catch {
                            logger.warning("unblinding rejected: \(error)")
                            for item in chunk { sealed[item.ticketId]?.unblinded = false }
                        }
                    }
                }

                try await hopChallengesAndAnswers(pool: pool, tip: tip, payer: payer, batches: &batches, rng: &rng)

                // Pull the payout of every settled window this worker worked in.
                for w in unpaidWindows.sorted() {
                    guard let record = try await client.window(pool.id, w) else {
                        // Past its commit deadline no record can appear any more: none of this worker's work landed, or
                        // the window was paid out in full (by anyone) and its record pruned with the payouts.
                        if tip.height > pool.commitDeadline(ofWindow: w) { unpaidWindows.remove(w) }
                        continue
                    }
                    guard record.status == .settled else { continue }
                    unpaidWindows.remove(w)
                    do {
                        try await client.send(.claimPayout(pool: pool.id, window: w, worker: key.publicKey), from: key)
                        bump { $0.payouts += 1 }
                        logger.info("payout claimed", metadata: ["window": "\(w)"])
                    } catch {
                        logger.warning("payout claim rejected: \(error)")
                    }
                }
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                // A node restart or a network hiccup: keep the batches, try again next round.
                failures += 1
                if failures == 1 || failures % 30 == 0 { logger.warning("worker round failed (\(failures)): \(error)") }
            }
            try await Task.sleep(for: config.pollInterval)
        }
    }

    func forgetBanked(_ key: Hash32) {
        guard config.adversary == .reuse else { return }
        bank.withLock { $0.removeAll { $0.0.contentKey == key } }
    }

    /// Protocol 5 (Specs/economics.md §4.1), both sides. The client draws its challenges of a window's receipts once, in
    /// the challenge period right after the commit deadline; the worker answers every open challenge against it with
    /// the leaf the receipt names and its input (a withholder never does; a receipt of a garbage pass has no leaf).
    func hopChallengesAndAnswers(pool: PoolConfig, tip: (height: UInt64, slot: UInt64), payer: PrivateKey,
                                 batches: inout [Hash32: Batch], rng: inout SplitMix64) async throws {
        let challenger = config.challengerKey ?? payer
        let next = tip.height + 1
        for (id, var batch) in batches {
            let deadline = pool.commitDeadline(ofWindow: batch.window)
            guard next > deadline else { continue }
            // The challenge period is `max(beaconDelay, beaconMaxDelay) ≥ 1` blocks after the deadline: challenge at once.
            if !batch.challengesDrawn, config.hopChallengeRate > 0, payer.publicKey != key.publicKey {
                batch.challengesDrawn = true
                let chain = try await client.chainId()
                for leaf in batch.served where Double(rng.next() % 1_000_000) / 1_000_000 < config.hopChallengeRate {
                    // The holder named in a receipt is a fresh key per request: receipts on chain link to no client account.
                    let receipt = HopReceipt(leaf: leaf, pool: pool.id, window: batch.window, worker: key.publicKey,
                                             holder: PrivateKey.generate().publicKey)
                        .signed(by: key, chainId: chain)
                    do {
                        try await client.send(.hopChallenge(receipt: receipt), from: challenger)
                        bump { $0.hopChallenges += 1 }
                        logger.info("client challenged a hop receipt", metadata: ["window": "\(batch.window)",
                                                                                  "challenge": "\(receipt.signingHash(chainId: chain).hex.prefix(16))"])
                    } catch { logger.warning("hop challenge rejected: \(error)") }
                }
            }
            // Answers: while a challenge can be open (the challenge period, at most the chain's `beaconMaxDelay`, plus the
            // answer deadline; `hopAnswerHorizon` bounds the first generously, so no round lists challenges for ever).
            if config.adversary != .withhold, next <= deadline + Self.hopAnswerHorizon + pool.revealDeadlineBlocks {
                for (cid, ch) in try await client.hopChallenges(pool: pool.id, window: batch.window, worker: key.publicKey)
                where ch.status == .open && next <= ch.deadline
                    && batch.answered[cid].map({ tip.height > $0 + Self.answerResendBlocks }) ?? true {
                    guard let i = batch.tree.leaves.firstIndex(where: { $0.contentKey == ch.contentKey && $0.outputHash == ch.outputHash }),
                          batch.tree.leaves[i].shard == ch.shard else {
                        logger.warning("hop challenge without a matching leaf", metadata: ["challenge": "\(cid.hex.prefix(16))"])
                        batch.answered[cid] = .max - Self.answerResendBlocks  // nothing to send, ever
                        continue
                    }
                    do {
                        try await client.send(.answerHopChallenge(challengeId: cid, commitmentId: id, leaf: batch.tree.proof(i),
                                                                  input: pool.hopAnswersCarryInput ? batch.inputs[i] : []), from: key)
                        if batch.answered[cid] == nil { bump { $0.hopAnswers += 1 } }
                        batch.answered[cid] = tip.height
                        forgetBanked(ch.contentKey)
                        logger.info("answered a hop challenge", metadata: ["challenge": "\(cid.hex.prefix(16))", "leaf": "\(i)"])
                    } catch { logger.warning("hop answer rejected: \(error)") }
                }
            }
            batches[id] = batch
        }
    }

    /// Blocks after a window's commit deadline during which the worker looks for hop challenges to answer (covers the
    /// challenge period, `max(beaconDelay, beaconMaxDelay)` blocks, of any sensible genesis).
    static let hopAnswerHorizon: UInt64 = 64
    /// Blocks an answer may take to land before it is sent again (while its challenge is still open and due).
    static let answerResendBlocks: UInt64 = 2

    /// Runs `passesPerBatch` passes of the shard on generated inputs and commits them as a sum tree.
    func makeBatch(executor: CanonExecutor, pool: PoolConfig, shard: Int, window: UInt64, rng: inout SplitMix64) throws -> Batch {
        let hidden = Int(pool.model.hiddenSize)
        var passes = [(PassLeaf, [UInt8], Bool)]()
        let maxTokens = max(1, min(config.maxTokensPerPass, Int(pool.maxTokensPerPass)))
        var garbage = [(PassLeaf, [UInt8])]()
        for p in 0..<config.passesPerBatch {
            let tokens = Int(rng.next() % UInt64(maxTokens)) + 1
            let offset = Int(rng.next() % 256)
            // Values in [-1, 1] without negative zero (inputs are canonical: one encoding per activation).
            let data = (0..<(tokens * hidden)).map { _ -> Float in
                let v = Int(rng.next() % 2001) - 1000
                return v == 0 ? 0 : Float(v) / 1000
            }
            let input = try Tensor(shape: [tokens, hidden], data: data)
            if config.adversary == .reuse, p >= config.passesPerBatch / 2 {
                // Served garbage: nothing computed, the receipt names a made-up output.
                let inputBytes = input.tns1
                garbage.append((PassLeaf(index: 0, shard: UInt32(shard), positionOffset: UInt64(offset), tokenCount: UInt32(tokens),
                                         inputHash: Tags.tensor.hash(inputBytes), outputHash: SHA256.hash(inputBytes)), inputBytes))
                continue
            }
            var output = try executor.run(input, positionOffset: offset)
            let cheat = config.adversary == .fabricate || config.adversary == .late
                || Double(rng.next() % 1_000_000) / 1_000_000 < config.cheatRate
            if cheat {
                // A lazy or dishonest worker: the output is slightly off, as if a layer were skipped or noised.
                output = try Tensor(shape: output.shape, data: output.data.enumerated().map { $0.offset == 0 ? $0.element + 0.5 : $0.element })
            }
            let inputBytes = input.tns1
            passes.append((PassLeaf(index: 0, shard: UInt32(shard), positionOffset: UInt64(offset), tokenCount: UInt32(tokens),
                                    inputHash: Tags.tensor.hash(inputBytes), outputHash: output.hash), inputBytes, cheat))
        }
        // The receipts' passes: what was served (a reuse adversary's garbage half included), before blinding.
        let served = passes.map { ($0.0, $0.1) } + garbage
        var fresh = [(PassLeaf, [UInt8])]()
        if config.adversary == .reuse {
            // Cover the garbage half with banked passes (computed in earlier windows, never revealed).
            fresh = passes.map { ($0.0, $0.1) }
            let banked = bank.withLock { Array($0.prefix(garbage.count)) }
            passes += banked.map { ($0.0, $0.1, false) }
        }
        // In a pool with checkers a receipt carries the leaf's blinded output field, as the leaf does.
        let receipts = served.map { leaf, input -> PassLeaf in
            guard pool.checking != nil else { return leaf }
            var l = leaf
            l.outputHash = blindedOutputHash(leaf.outputHash, salt: derivedBlindingSalt(contentKey: leaf.contentKey, input: input))
            return l
        }
        var inflatedReceipts = false
        switch config.adversary {
        case .duplicate:
            // One pass in every leaf.
            let copies = Array(repeating: passes[0], count: passes.count)
            let tree = SumTree.buildUnchecked(copies.map(\.0))!
            return Batch(commitment: LedgerIds.commitment(worker: key.publicKey, pool: pool.id, window: window, shard: UInt32(shard),
                                                          root: tree.root.hash),
                         window: window, tree: tree, inputs: copies.map(\.1), corrupted: [], served: receipts)
        case .inflate:
            // Every leaf claims the maximum token count (and its receipts say so).
            for i in passes.indices { passes[i].0.tokenCount = pool.maxTokensPerPass }
            inflatedReceipts = true
        default:
            break
        }
        let tree = try SumTree.build(passes.map(\.0), maxTokensPerPass: pool.maxTokensPerPass)
        // The tree sorts leaves by content key; find each leaf's input and cheat flag again by key.
        var byKey = [Hash32: ([UInt8], Bool)]()
        for p in passes { byKey[p.0.contentKey] = (p.1, p.2) }
        let inputs = tree.leaves.map { byKey[$0.contentKey]!.0 }
        let corrupted = Set(tree.leaves.indices.filter { byKey[tree.leaves[$0].contentKey]!.1 })
        guard pool.checking != nil else {
            return Batch(commitment: LedgerIds.commitment(worker: key.publicKey, pool: pool.id, window: window, shard: UInt32(shard),
                                                          root: tree.root.hash),
                         window: window, tree: tree, inputs: inputs, corrupted: corrupted,
                         served: inflatedReceipts ? tree.leaves : receipts, fresh: fresh)
        }
        // Checkers answer before the output is unblinded, so the leaves commit to their outputs blinded, each with
        // the salt derived from its pass: only the holders of the input (the checkers) can compute it, and a matching
        // checker's reveal then unblinds the output (Specs/verification.md §4). The tree order is by content key,
        // which the output does not enter.
        var salts = [Hash32](), blinded = tree.leaves
        for i in blinded.indices {
            let salt = derivedBlindingSalt(contentKey: tree.leaves[i].contentKey, input: inputs[i])
            salts.append(salt)
            blinded[i].outputHash = blindedOutputHash(tree.leaves[i].outputHash, salt: salt)
        }
        let sealedTree = try SumTree.build(blinded, maxTokensPerPass: pool.maxTokensPerPass)
        return Batch(commitment: LedgerIds.commitment(worker: key.publicKey, pool: pool.id, window: window, shard: UInt32(shard),
                                                      root: sealedTree.root.hash),
                     window: window, tree: sealedTree, inputs: inputs, corrupted: corrupted,
                     outputs: tree.leaves.map(\.outputHash), salts: salts, served: inflatedReceipts ? sealedTree.leaves : receipts, fresh: fresh)
    }
}

/// The sealing randomness of each sampled leaf's reveal, drawn once and kept. A reveal whose send failed after the
/// node took it (an answer lost to a timeout) may still land, so a retry must seal the identical envelope: with fresh
/// randomness the ephemeral key kept for a dispute would be the retry's while the first envelope is on chain, and the
/// honest worker could not open its own reveal (`wrongSealKey`) and would be convicted for a withheld key. The same
/// plaintext, recipients and context under the same randomness give the same envelope, so nothing leaks.
struct RevealSealing: Sendable {
    private var drawn: [UInt32: SealingRandomness] = [:]

    /// The randomness for `sample`'s reveal: drawn by `fresh` the first time, the same ever after.
    mutating func randomness(forSample sample: UInt32, fresh: () -> SealingRandomness = SealingRandomness.fresh) -> SealingRandomness {
        if let kept = drawn[sample] { return kept }
        let r = fresh()
        drawn[sample] = r
        return r
    }
}

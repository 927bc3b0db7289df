import Foundation
import Ledger
import Primitives
import Sealing

/// An in-process economy on the real ledger: workers with honest and adversarial strategies, their paying
/// clients, verifiers that replay a share of revealed tickets, a front-runner copying their proofs, a spammer of
/// false fraud claims, blocks applied
/// to an in-memory state with every invariant checked. Measures each strategy's profit per window
/// (`sharechain sim economy`, Specs/economics.md §5).
///
/// With `Config.checkers` the pool runs protocol 4 (Specs/verification.md): leaves carry blinded outputs, workers
/// reveal sealed to the ticket's assigned checkers, unblind, and publish the envelope's key when a dispute opens;
/// one checker per strategy bonds and registers, and each checker's profit per window is measured too.
public struct EconomySimulation {
    /// How a simulated worker behaves.
    public enum Strategy: Hashable, Sendable, CustomStringConvertible {
        case honest
        /// Fakes this fraction of its passes (wrong outputs, compute saved).
        case fabricate(Double)
        /// Fakes every pass only in windows where it is paid more than usual (a strategy that waits for big windows).
        case opportunist
        /// Commits a root it never opens; computes nothing.
        case withhold
        /// Computes one pass and copies it into every leaf.
        case duplicate
        /// Pays itself through its own escrow (honest compute).
        case selfDeal
        /// Rows 33 and 54 (Specs/economics.md §7): computes half of the passes it is paid for, serves the other half
        /// garbage, and covers their payment with passes it computed in earlier windows and that were never revealed
        /// (its bank), committed again.
        case reuseBank
        /// Computes one token of each of this fraction of its passes and commits the leaf with the token count it was
        /// paid for (`inflate` in `worker-sim`): the tree's total matches the payment, compute is saved. It reveals
        /// and answers like an honest worker, and the ledger refuses those of an inflated leaf (its input holds fewer
        /// tokens than the leaf claims), so their samples and hop challenges end withheld and unanswered.
        case inflate(Double)

        public var description: String {
            switch self {
            case .honest: return "honest"
            case .fabricate(let c): return "fabricate \(Int((c * 100).rounded())) %"
            case .opportunist: return "opportunist"
            case .withhold: return "withhold"
            case .duplicate: return "duplicate"
            case .selfDeal: return "self-deal"
            case .reuseBank: return "reuse-bank"
            case .inflate(let c): return "inflate \(Int((c * 100).rounded())) %"
            }
        }

        /// The fraction of computed tokens it skips.
        var fakedShare: Double {
            switch self {
            case .honest, .selfDeal, .reuseBank, .inflate: return 0
            case .fabricate(let c): return c
            case .opportunist: return 0  // decided per window
            case .withhold, .duplicate: return 1
            }
        }
    }

    /// How a simulated checker (protocol 4) behaves on the tickets it is assigned.
    public enum CheckerStrategy: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// Opens its slot, replays the pass with the executor (paying the compute of one pass) and answers what it
        /// computed.
        case honest
        /// Never replays. It must commit before the worker unblinds, so it cannot know the output: it commits a
        /// guess (a random hash; any guess is as good). Against an honest worker that is a mismatch, a dispute and
        /// a false-alarm slash; against a cheated output it dissents and shares the fee and bounty.
        case lazy
        /// Rubber-stamps for the cheating workers it colludes with: answers their claimed (false) output, learned
        /// off-chain, without replaying. On other workers' tickets it replays like an honest checker.
        case colluding
        /// Colludes like `colluding`, but withholds its reveal when another checker's answer differs (it sees the
        /// dissent coming and hopes to pay the absent slash instead of the collusion slash; Specs/economics.md §7
        /// row 31).
        case silent
        /// Registers and bonds, then never answers (slashed and benched at each assigned ticket).
        case absent
        /// Never replays and answers "bad input" to every ticket (Specs/economics.md §7 row 71): a dissent from every
        /// honest output that costs no compute, hoping to be right on the cheated ones.
        case badInput = "bad-input"

        public var description: String { rawValue }
    }

    /// Settings of a run.
    public struct Config: Sendable {
        public var seed: UInt64 = 1
        public var windows: Int = 100
        /// Probability that a verifier replays a revealed ticket.
        public var replayProbability: Double = 1
        /// Compute cost per token served, as a share of its price.
        public var computeCostShare: Double = 0.7
        /// Passes per worker per window.
        public var passes: Int = 12
        /// False fraud claims the spammer opens per window.
        public var spamClaims: Int = 2
        public var strategies: [Strategy] = [.honest, .fabricate(0.01), .fabricate(0.05), .fabricate(0.2), .fabricate(1),
                                             .opportunist, .withhold, .duplicate, .selfDeal, .reuseBank, .inflate(0.05), .inflate(1)]
        /// Probability that a client challenges each hop receipt it holds (protocol 5, Specs/economics.md §4.1).
        public var hopChallengeProbability: Double = 0.05
        /// Protocol-4 checkers, one registered per entry; empty keeps protocol 3 (public reveals, no checkers).
        public var checkers: [CheckerStrategy] = []
        /// Each checker's bonded stake.
        public var checkerStake: UInt64 = 100_000
        /// Checkers assigned per ticket (`k`).
        public var checkersPerTicket: UInt32 = 3
        /// The pool's sampling rate with checkers: `k` fees per ticket of `checkFee` (at least the replay cost of a
        /// full pass) must stay a small share of the revenue a ticket covers, so a checking pool samples fewer
        /// tickets than protocol 3's 20 % (here one ticket per 160 tokens, at least one per commitment).
        public var checkingSpotCheckPpm: UInt32 = 50_000
        /// Whether a cheating worker publishes the envelope key when its cheated ticket is disputed. It is
        /// convicted either way (withheld: `sealKeyWithheld`; published: the replay proves fraud), so withholding
        /// is cheaper (no transaction, no published input) and the default. Honest workers always publish.
        public var cheatersPublishKey = false
        public init() {}
    }

    /// A strategy's outcome over a run: profit per window (payouts minus compute, fees, slashes and bonds).
    public struct Outcome: Sendable {
        public let strategy: Strategy
        public let profitPerWindow: Double
        public let slashed: UInt64
        public let paid: UInt64
        public let refunded: UInt64
    }

    /// The fraud-claim participants other than workers.
    public enum Claimant: String, Sendable, CaseIterable {
        /// Replays revealed tickets (with the configured probability) and claims fraud it found.
        case verifier
        /// Copies every fraud claim it sees opened, claiming the same ticket a block later.
        case frontRunner = "front-runner"
        /// Claims fraud against honest tickets.
        case spammer
    }

    /// A claimant's outcome over a run: its balance change per window (bounties minus fees and burned bonds).
    public struct ClaimantOutcome: Sendable {
        public let claimant: Claimant
        public let profitPerWindow: Double
    }

    /// A checker's outcome over a run: its balance and stake change per window (fees and bounties minus slashes
    /// and transaction fees) minus the compute of its replays.
    public struct CheckerOutcome: Sendable {
        public let strategy: CheckerStrategy
        public let profitPerWindow: Double
        /// Revealed tickets it was assigned.
        public let assigned: Int
        public let fees: UInt64
        public let bounties: UInt64
        public let slashed: UInt64
        public let computeCost: Double
    }

    /// Every outcome of a run.
    public struct Report: Sendable {
        public let workers: [Outcome]
        public let claimants: [ClaimantOutcome]
        /// One per configured checker, in configuration order (empty without checkers).
        public let checkers: [CheckerOutcome]
    }

    /// The stand-in executor: the canonical output is a tagged hash of the input and its position.
    struct HashAdjudicator: Adjudicator {
        static func output(_ input: [UInt8], shard: Int, position: UInt64) -> Hash32 {
            var w = CanonicalWriter()
            w.bytes(input); w.u32(UInt32(shard)); w.u64(position)
            return TaggedHash("sharechain/sim-executor").hash(w.bytes)
        }
        func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict {
            .output(Self.output(r.input, shard: r.shardIndex, position: r.positionOffset))
        }
    }

    struct NoEvidence: EquivocationVerifier {
        func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation? { nil }
    }

    struct Batch {
        let worker: Int
        let window: UInt64
        let tree: SumTree.Built
        let inputs: [[UInt8]]
        let faked: Set<Int>
        let withhold: Bool
        /// With checkers: the claimed (unblinded) output and blinding salt of each leaf, by leaf index.
        let outputs: [Hash32]
        let salts: [Hash32]
        /// The passes the worker was paid for, as their receipts describe them (the leaf it committed, or would have, for
        /// the output it served): the tree's own leaves unless it covers payment with other passes.
        let served: [PassLeaf]
        /// Fresh passes computed for this batch (leaf and input), which a reuse-bank worker keeps for later windows.
        let fresh: [(PassLeaf, [UInt8])]
        /// Content keys of inflated leaves (their input holds fewer tokens than the leaf claims), for the compute saved.
        var inflated: Set<Hash32> = []
    }

    /// A hop challenge the simulation follows until it is answered or expires.
    struct OpenHop {
        let worker: Int
        let id: Hash32
        let receipt: HopReceipt
        let commitment: Hash32
        let deadline: UInt64
        let height: UInt64
    }

    /// A sealed ticket the simulation follows through its check.
    struct SealedTicket {
        let commitment: Hash32
        let leaf: Int
        /// The envelope's ephemeral private key (the dispute key).
        let ephemeral: Hash32
        /// Committed answers by checker index, with their nonces.
        var answers: [Int: (answer: Hash32, nonce: Hash32)] = [:]
        /// The derived blinding salt by checker index, for the checkers that opened the input.
        var salts: [Int: Hash32] = [:]
        var committed = false
        var revealed = false
        /// Whether the worker looked, a block into the reveal phase, for a reveal that unblinded its output.
        var unblindChecked = false
        var keyDecided = false
    }

    /// Every worker's bonded stake at the start.
    static let stake: UInt64 = 1_000_000

    let config: Config
    let ledger: Ledger
    let state = MemoryState()
    let validator: PrivateKey
    let randao: RandaoHashChain
    let workers: [PrivateKey]
    let clients: [PrivateKey]
    let verifier: PrivateKey
    let frontRunner: PrivateKey
    let spammer: PrivateKey
    let pool: PoolConfig
    var tracker: InvariantTracker
    var height: UInt64 = 0
    var rng: SplitMix64
    var batches: [Hash32: Batch] = [:]
    var escrows: [Int: Hash32] = [:]
    var pendingClaims: [(prover: PrivateKey, ticket: Hash32, salt: Hash32, input: [UInt8], height: UInt64)] = []
    var computeCost: [Int: Double] = [:]
    var unpaid: Set<[UInt64]> = []
    let checkers: [PrivateKey]
    let sealing: [CheckerKeyPair]
    var sealed: [Hash32: SealedTicket] = [:]
    var checkerCompute: [Int: Double] = [:]
    var checkerAssigned: [Int: Int] = [:]
    var checkerFees: [Int: UInt64] = [:]
    var checkerBounties: [Int: UInt64] = [:]
    var checkerSlashed: [Int: UInt64] = [:]
    /// A reuse-bank worker's computed passes never revealed, by worker.
    var bank: [Int: [(PassLeaf, [UInt8])]] = [:]
    /// Each window's batch commitment per worker, for receipts and answers.
    var windowBatches: [UInt64: [(worker: Int, commitment: Hash32)]] = [:]
    var openHops: [OpenHop] = []
    /// Hop challenges sent and unanswered, over the run.
    public private(set) var hopChallenges = 0
    public private(set) var hopUnanswered = 0
    public private(set) var hopAnswered = 0

    public init(config: Config) throws {
        self.config = config
        rng = SplitMix64(seed: config.seed)
        func key(_ s: String) throws -> PrivateKey { try PrivateKey(secretBytes: SHA256.hash(Array("sim-economy/\(s)".utf8)).bytes) }
        validator = try key("validator")
        randao = RandaoHashChain(seed: SHA256.hash(validator.secretBytes), length: config.windows * 8 + 64)
        workers = try config.strategies.indices.map { try key("worker-\($0)") }
        clients = try config.strategies.indices.map { try key("client-\($0)") }
        verifier = try key("verifier")
        frontRunner = try key("front-runner")
        spammer = try key("spammer")
        checkers = try config.checkers.indices.map { try key("checker-\($0)") }
        sealing = try config.checkers.indices.map {
            try CheckerKeyPair(privateKey: SHA256.hash(Array("sim-economy/sealing-\($0)".utf8)).bytes)
        }
        var params = LedgerParams()
        params.unbondingBlocks = 200; params.jailBlocks = 8; params.slotsPerEpoch = 1_000_000; params.beaconDelay = 1; params.beaconMaxDelay = 1
        params.escrowUnlockBlocks = 20; params.revealedKeyRetentionBlocks = 200; params.maxAdjudicationsPerBlock = 16
        var pool = PoolConfig(
            id: 0, modelId: "sim", executorSpec: "canon-f32-v1",
            model: ModelSpec(hiddenSize: 4, numHeads: 1, numKVHeads: 1, headDim: 4, intermediateSize: 8, numLayers: 1,
                             rmsNormEpsBits: 0x3727_C5AC, ropeThetaBits: 0x461C_4000, qkvBias: false),
            shards: [PoolShard(layerStart: 0, layerEnd: 1, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1_000, priceOutputToken: 3_000)],
            minWorkerStake: 1_000, windowBlocks: 4, commitGraceBlocks: 1, challengeBlocks: 1, spotCheckPpm: 200_000,
            maxTicketsPerCommitment: 8, ticketFee: 1, revealDeadlineBlocks: 3, fraudRevealBlocks: 3, fraudSlashBps: 5_000,
            verifierBountyBps: 1_000, fraudProofBond: 100, maxTokensPerPass: 8, payableCapBps: 2_000, minReplayProbabilityBps: 3_333)
        if !config.checkers.isEmpty {
            // Protocol 4 with the chain's default slashes; phases at their minimum of three blocks, activation after
            // two blocks (the run is short), and the smallest fee genesis accepts: the replay cost bound
            // priceOutputToken × maxTokensPerPass / 4 = 6 000, above a pass's compute (4 × 1 500 × 0.7 = 4 200).
            pool.spotCheckPpm = config.checkingSpotCheckPpm
            pool.checking = CheckingConfig(checkersPerTicket: config.checkersPerTicket, checkerMinStake: Amount(config.checkerStake), maxCheckers: 64,
                                           checkerActivationBlocks: 2,
                                           checkFee: 6_000, answerCommitBlocks: 3, unblindBlocks: 3, answerRevealBlocks: 3,
                                           disputeInputBlocks: 3)
        }
        self.pool = pool
        ledger = Ledger(params: params, chainId: SHA256.hash(Array("sim-economy".utf8)), adjudicator: HashAdjudicator(), equivocationVerifier: NoEvidence())
        let funded = clients + [verifier, frontRunner, spammer, validator] + workers + checkers
        let ws = try ledger.genesisWriteSet(GenesisAllocation(
            balances: funded.map { .init(key: $0.publicKey, amount: 1_000_000_000) },
            validators: [.init(key: validator.publicKey, stake: 1_000, randaoCommitment: randao.commitment)],
            workers: workers.map { .init(key: $0.publicKey, pool: 0, stake: Amount(Self.stake)) }, pools: [pool]))
        state.apply(ws)
        tracker = try InvariantTracker(state: state)
    }

    var reader: LedgerReader { LedgerReader(state) }

    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }

    /// Applies one block; invariants are checked from its write set.
    mutating func block(_ txs: [SignedTransaction]) throws {
        var ls = LedgerState(base: state)
        let ctx = BlockContext(height: height + 1, slot: height + 1, proposer: validator.publicKey,
                               randaoReveal: randao.value(randao.length - Int(height) - 1))
        let receipts = try ledger.applyBlock(ctx, transactions: txs, to: &ls)
        if !checkers.isEmpty {
            for e in receipts.flatMap(\.events) {
                switch e {
                case .checkFeePaid(_, _, _, _, let c, let a): if let i = checkerIndex(c) { checkerFees[i, default: 0] += a.units }
                case .disputeBountyPaid(_, let c, let a): if let i = checkerIndex(c) { checkerBounties[i, default: 0] += a.units }
                case .slashed(let c, .checker(_), let a, _, _): if let i = checkerIndex(c) { checkerSlashed[i, default: 0] += a.units }
                default: break
                }
            }
        }
        let ws = try ls.overlay.writeSet()
        let before = MemoryState(entries: ws.entries.compactMap { e in state.get(e.key).map { KeyValue(key: e.key, value: $0) } })
        state.apply(ws)
        try tracker.apply(ws, before: before, after: state)
        height += 1
    }

    /// Transactions of one block, with per-sender nonces.
    struct TxList {
        var txs: [SignedTransaction] = []
        var nonces: [PublicKey: UInt64] = [:]
        mutating func add(_ key: PrivateKey, _ body: TxBody, sim: EconomySimulation) throws {
            let n = try nonces[key.publicKey] ?? sim.reader.account(key.publicKey).nonce
            nonces[key.publicKey] = n + 1
            let probe = Transaction(chainId: sim.ledger.chainId, sender: key.publicKey, nonce: n, fee: 0, body: body)
            let size = SignedTransaction(transaction: probe, signature: .zero).encodedSize
            let t = Transaction(chainId: sim.ledger.chainId, sender: key.publicKey, nonce: n, fee: Amount(UInt64(size) * 2), body: body)
            txs.append(SignedTransaction(transaction: t, signature: key.sign(digest: t.signingHash, auxRand: .zero)))
        }
    }

    func claimantKey(_ c: Claimant) -> PrivateKey {
        switch c {
        case .verifier: return verifier
        case .frontRunner: return frontRunner
        case .spammer: return spammer
        }
    }

    func checkerIndex(_ key: PublicKey) -> Int? { checkers.firstIndex { $0.publicKey == key } }

    /// A checker's balance and stake (bonded and unbonding).
    func checkerWealth(_ i: Int) throws -> UInt64 {
        let key = checkers[i].publicKey
        let role = StakeRole.checker(pool: 0)
        return try reader.account(key).balance.units + (reader.staker(role, key)?.stake.units ?? 0)
            + reader.unbondings(role, key).reduce(0) { $0 + $1.entry.amount.units }
    }

    /// Runs the configured number of windows and returns each strategy's and claimant's outcome.
    public mutating func run() throws -> Report {
        // Checkers bond and register first; their profit is measured from then on (registration is not a loss).
        if !checkers.isEmpty {
            var reg = TxList()
            for (i, c) in checkers.enumerated() {
                try reg.add(c, .bond(role: .checker(pool: 0), amount: Amount(config.checkerStake), randaoCommitment: nil), sim: self)
                try reg.add(c, .registerChecker(pool: 0, sealingKey: Hash32(bytes: sealing[i].publicKey.bytes)!), sim: self)
            }
            try block(reg.txs)
            for c in checkers where try reader.staker(.checker(pool: 0), c.publicKey) == nil {
                throw LedgerFault("checker \(c.publicKey) did not bond")
            }
        }
        let checkerStart = try checkers.indices.map { try checkerWealth($0) }
        let start = try workers.indices.map { i -> UInt64 in try wealth(i) }
        let claimantStart = try Claimant.allCases.map { try reader.account(claimantKey($0).publicKey).balance.units }
        // Escrows: each worker's client (the worker itself for self-dealing) funds an allocation.
        var setup = TxList()
        for (i, s) in config.strategies.enumerated() {
            let payer = s == .selfDeal ? workers[i] : clients[i]
            let nonce = try setup.nonces[payer.publicKey] ?? reader.account(payer.publicKey).nonce
            try setup.add(payer, .escrowOpen(pool: 0, amount: 500_000_000, expiryHeight: 1 << 40), sim: self)
            let id = LedgerIds.escrow(owner: payer.publicKey, nonce: nonce)
            try setup.add(payer, .escrowAllocate(escrowId: id, payee: workers[i].publicKey, amount: 500_000_000), sim: self)
            escrows[i] = id
        }
        try block(setup.txs)
        let totalBlocks = UInt64(config.windows) * pool.windowBlocks
        while height < totalBlocks + pool.settlementHorizon(beaconDelay: ledger.params.selectionDelayBound) + 4 {
            try step(serving: height + 1 <= totalBlocks)
        }
        let claimants = try Claimant.allCases.enumerated().map { i, c in
            let end = try reader.account(claimantKey(c).publicKey).balance.units
            return ClaimantOutcome(claimant: c, profitPerWindow: (Double(end) - Double(claimantStart[i])) / Double(config.windows))
        }
        let outcomes = try config.strategies.enumerated().map { i, s in
            let end = try wealth(i)
            let gain = Double(end) - Double(start[i]) - (computeCost[i] ?? 0)
            var paid: UInt64 = 0, refunded: UInt64 = 0
            for w in 0..<UInt64(config.windows) {
                if let p = try reader.payouts(0, w).first(where: { $0.worker == workers[i].publicKey }) {
                    paid += p.record.paid.units; refunded += p.record.refunded.units
                }
            }
            let stake = try reader.staker(.worker(pool: 0), workers[i].publicKey)?.stake.units ?? 0
            return Outcome(strategy: s, profitPerWindow: gain / Double(config.windows), slashed: Self.stake - min(Self.stake, stake),
                           paid: paid, refunded: refunded)
        }
        let checkerOutcomes = try config.checkers.enumerated().map { i, s in
            let gain = Double(try checkerWealth(i)) - Double(checkerStart[i]) - (checkerCompute[i] ?? 0)
            return CheckerOutcome(strategy: s, profitPerWindow: gain / Double(config.windows), assigned: checkerAssigned[i] ?? 0,
                                  fees: checkerFees[i] ?? 0, bounties: checkerBounties[i] ?? 0, slashed: checkerSlashed[i] ?? 0,
                                  computeCost: checkerCompute[i] ?? 0)
        }
        return Report(workers: outcomes, claimants: claimants, checkers: checkerOutcomes)
    }

    /// A worker's balance, stake and unbonding in the pool (its self-dealing escrow counts for self-dealers).
    func wealth(_ i: Int) throws -> UInt64 {
        var total = try reader.account(workers[i].publicKey).balance.units
        total += try reader.staker(.worker(pool: 0), workers[i].publicKey)?.stake.units ?? 0
        if config.strategies[i] == .selfDeal, let id = escrows[i], let e = try reader.escrow(id) { total += e.balance.units }
        return total
    }

    mutating func step(serving: Bool) throws {
        var list = TxList()
        let next = height + 1
        let window = pool.window(ofHeight: next)
        // Each active worker serves one batch per window, in the window's first block; its client pays for it.
        if serving, next == pool.startHeight(ofWindow: window) {
            for (i, s) in config.strategies.enumerated() {
                let worker = workers[i]
                guard let staker = try reader.staker(.worker(pool: 0), worker.publicKey) else { continue }
                if case .jailed(let until) = staker.status {
                    if next >= until && staker.stake >= pool.minWorkerStake { try list.add(worker, .unjail(role: .worker(pool: 0)), sim: self) }
                    continue
                }
                guard staker.isActive(minimum: pool.minWorkerStake) else { continue }
                // Demand varies: some windows pay three times as much (the opportunist cheats only in those).
                let big = chance(0.2)
                let passes = big ? config.passes * 3 : config.passes
                let faked = s == .opportunist ? (big ? 1 : 0) : s.fakedShare
                let b = try makeBatch(worker: i, window: window, passes: passes, faked: faked, strategy: s)
                let cid = LedgerIds.commitment(worker: worker.publicKey, pool: 0, window: window, shard: 0, root: b.tree.root.hash)
                batches[cid] = b
                windowBatches[window, default: []].append((i, cid))
                if s == .reuseBank { bank[i, default: []].append(contentsOf: b.fresh) }
                try list.add(worker, .commitShares(pool: 0, window: window, shard: 0, leafCount: b.tree.leafCount,
                                                   tokenTotal: b.tree.tokenTotal, root: b.tree.root.hash), sim: self)
                let tokens = UInt64(passes) * 4
                let payer = s == .selfDeal ? worker : clients[i]
                let v = UsageVoucher(chainId: ledger.chainId, escrowId: escrows[i]!, payee: worker.publicKey, shard: 0, window: window,
                                     cumulativeInputTokens: tokens - tokens / 4, cumulativeOutputTokens: tokens / 4)
                try list.add(worker, .claimUsage(voucher: v.signed(by: payer)), sim: self)
                // Compute actually done (a duplicate computes one pass; a withholder none).
                let inTokens: UInt64 = tokens - tokens / 4, outTokens: UInt64 = tokens / 4
                let charge: UInt64 = inTokens * 1_000 + outTokens * 3_000
                let price = Double(charge) / Double(tokens)
                let computed: Double
                switch s {
                case .withhold: computed = 0
                case .duplicate: computed = 4
                case .reuseBank: computed = Double(b.fresh.reduce(0) { $0 + Int($1.0.tokenCount) })
                case .inflate: computed = Double(tokens) - Double(b.inflated.count * 3)
                default: computed = Double(tokens) * (1 - faked)
                }
                computeCost[i, default: 0] += computed * price * config.computeCostShare
                unpaid.insert([UInt64(i), window])
            }
        }
        // Reveals of sampled leaves (withholders never reveal; duplicates cannot). A ticket with checkers is
        // revealed sealed to them, in assignment order.
        for (tid, t) in try reader.tickets(status: .awaitingReveal).items {
            guard let b = batches[t.commitmentId],
                  !b.withhold, let leaf = b.tree.leaf(containing: t.point) else { continue }
            forgetBanked(worker: b.worker, key: b.tree.leaves[leaf].contentKey)
            if let check = try sealedCheck(tid) {
                let ephemeral = SHA256.hash(Array("sim-economy/ephemeral".utf8) + tid.bytes)
                let envelope = try SealedEnvelope.seal(
                    plaintext: b.inputs[leaf], recipients: check.slots.map { try CheckerPublicKey(bytes: $0.sealingKey.bytes) },
                    context: SealingContext(chainId: ledger.chainId, ticketId: tid, inputHash: b.tree.leaves[leaf].inputHash),
                    randomness: SealingRandomness(ephemeralPrivateKey: ephemeral.bytes,
                                                  contentSecret: SHA256.hash(Array("sim-economy/secret".utf8) + tid.bytes).bytes))
                try list.add(workers[b.worker], .revealSealedTicket(ticketId: tid, leaf: b.tree.proof(leaf), left: nil, right: nil,
                                                                    envelope: envelope.encoded), sim: self)
                if sealed[tid] == nil { sealed[tid] = SealedTicket(commitment: t.commitmentId, leaf: leaf, ephemeral: ephemeral) }
            } else {
                try list.add(workers[b.worker], .revealTicket(ticketId: tid, leaf: b.tree.proof(leaf), left: nil, right: nil, input: b.inputs[leaf]), sim: self)
            }
        }
        try checks(&list, next: next)
        try hopChallengesAndAnswers(&list, next: next)
        // The verifier replays revealed tickets with the configured probability and claims fraud blindly; the
        // spammer claims fraud against honest tickets.
        for (tid, t) in try reader.tickets(status: .revealed).items {
            guard let leaf = t.leaf,
                  let b = batches[t.commitmentId], t.revealedHeight == height else { continue }
            // Sealed tickets publish no input, nor do hop answers in a pool with checkers: public claimants cannot
            // replay them.
            guard sealed[tid] == nil, !t.isHopTicket || pool.hopAnswersCarryInput else { continue }
            let wrong = b.faked.contains(Int(leaf.index))
            let input = b.inputs[Int(leaf.index)]
            if wrong && chance(config.replayProbability) {
                try claim(verifier, tid, input, into: &list)
            } else if !wrong && pendingClaims.filter({ $0.prover.publicKey == spammer.publicKey }).count < config.spamClaims && chance(0.5) {
                try claim(spammer, tid, input, into: &list)
            }
        }
        var opened = [(ticket: Hash32, input: [UInt8])]()
        for c in pendingClaims where c.height < next {
            try list.add(c.prover, .fraudReveal(ticketId: c.ticket, salt: c.salt, input: c.input), sim: self)
            if c.prover.publicKey == verifier.publicKey { opened.append((c.ticket, c.input)) }
        }
        pendingClaims.removeAll { $0.height < next }
        // The front-runner sees the verifier's openings in the mempool and claims the same tickets at once (its
        // commitment lands in this block, a block after the verifier's).
        for o in opened { try claim(frontRunner, o.ticket, o.input, into: &list) }
        // Payouts of settled windows (anyone may pull them; the simulation does for every worker).
        for key in unpaid.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let (i, w) = (Int(key[0]), key[1])
            guard try reader.window(0, w)?.status == .settled else { continue }
            unpaid.remove(key)
            try list.add(clients[i], .claimPayout(pool: 0, window: w, worker: workers[i].publicKey), sim: self)
        }
        try block(list.txs)
    }

    mutating func claim(_ prover: PrivateKey, _ ticket: Hash32, _ input: [UInt8], into list: inout TxList) throws {
        let salt = SHA256.hash(rng.next().bigEndianBytes)
        try list.add(prover, .fraudCommit(claim: fraudClaimHash(ticketId: ticket, prover: prover.publicKey, salt: salt), pool: 0), sim: self)
        pendingClaims.append((prover, ticket, salt, input, height + 1))
    }

    mutating func makeBatch(worker: Int, window: UInt64, passes: Int, faked: Double, strategy: Strategy) throws -> Batch {
        var leaves = [PassLeaf](), inputs = [Hash32: [UInt8]](), wrong = Set<Hash32>(), secrets = [Hash32: (Hash32, Hash32)]()
        var inflated = Set<Hash32>()
        for p in 0..<passes {
            // An inflating worker computes one token of the pass and claims the four it was paid for.
            var inflate = false
            if case .inflate(let c) = strategy { inflate = c >= 1 || chance(c) }
            let tokens: UInt32 = inflate ? 1 : 4
            var values = [Float]()
            for _ in 0..<(tokens * 4) {
                let v: UInt64 = rng.next() % 2000 + 1
                values.append(Float(v) / 256)
            }
            let input = CanonicalInput.encode(tokens: tokens, hidden: 4, bitPatterns: values.map(\.bitPattern))
            let position = UInt64(p) * 4
            var out = HashAdjudicator.output(input, shard: 0, position: position)
            let fake = faked >= 1 || (faked > 0 && chance(faked))
            if fake { out = SHA256.hash(out.bytes) }
            var leaf = PassLeaf(index: 0, shard: 0, positionOffset: position, tokenCount: 4, inputHash: Tags.tensor.hash(input), outputHash: out)
            if pool.checking != nil {
                // The leaf commits to the blinded output with the derived salt, which its checkers can compute.
                let salt = derivedBlindingSalt(contentKey: leaf.contentKey, input: input)
                leaf.outputHash = blindedOutputHash(out, salt: salt)
                secrets[leaf.contentKey] = (out, salt)
            }
            leaves.append(leaf)
            inputs[leaf.contentKey] = input
            if fake { wrong.insert(leaf.contentKey) }
            if inflate { inflated.insert(leaf.contentKey) }
        }
        let tree: SumTree.Built
        var ordered: [[UInt8]]
        var served = leaves
        var fresh = [(PassLeaf, [UInt8])]()
        switch strategy {
        case .reuseBank:
            // Computes the first half; the second half is served garbage (its receipts name the garbage output) and its
            // payment covered with banked passes.
            let half = leaves.count / 2
            fresh = leaves[..<half].map { ($0, inputs[$0.contentKey]!) }
            for j in half..<leaves.count { served[j].outputHash = SHA256.hash(Array("sim-economy/garbage".utf8) + served[j].outputHash.bytes) }
            let banked = Array((bank[worker] ?? []).prefix(leaves.count - half))
            let committed = fresh + banked
            for (l, input) in banked { inputs[l.contentKey] = input }
            tree = try SumTree.build(committed.map(\.0))
            ordered = tree.leaves.map { inputs[$0.contentKey]! }
        case .duplicate:
            tree = SumTree.buildUnchecked(Array(repeating: leaves[0], count: leaves.count))!
            ordered = Array(repeating: inputs[leaves[0].contentKey]!, count: leaves.count)
        case .withhold:
            tree = SumTree.buildUnchecked(leaves)!
            ordered = []
        default:
            tree = try SumTree.build(leaves)
            ordered = tree.leaves.map { inputs[$0.contentKey]! }
        }
        let fakedIndices = Set(tree.leaves.indices.filter { wrong.contains(tree.leaves[$0].contentKey) })
        let outputs = tree.leaves.map { secrets[$0.contentKey]?.0 ?? $0.outputHash }
        let salts = tree.leaves.map { secrets[$0.contentKey]?.1 ?? .zero }
        return Batch(worker: worker, window: window, tree: tree, inputs: ordered, faked: fakedIndices, withhold: strategy == .withhold,
                     outputs: outputs, salts: salts, served: served, fresh: fresh, inflated: inflated)
    }

    // MARK: - Protocol 5 hop challenges

    mutating func forgetBanked(worker: Int, key: Hash32) {
        bank[worker]?.removeAll { $0.0.contentKey == key }
    }

    /// Clients challenge the receipts of a window's served passes (each with the configured probability) in the block
    /// after its commit deadline; workers answer the challenges they can in the next block (a withholder never does).
    mutating func hopChallengesAndAnswers(_ list: inout TxList, next: UInt64) throws {
        // Outcomes of challenges whose deadline passed in the last block.
        for h in openHops where h.deadline < next {
            let w = batches[h.commitment]!.window
            if try reader.hopChallenge(pool: 0, window: w, worker: workers[h.worker].publicKey, id: h.id)?.status == .unanswered {
                hopUnanswered += 1
            }
        }
        openHops.removeAll { $0.deadline < next }
        var answered = Set<Hash32>()
        for h in openHops where next > h.height {
            guard config.strategies[h.worker] != .withhold, let b = batches[h.commitment],
                  let i = b.tree.leaves.firstIndex(where: { $0.contentKey == h.receipt.contentKey && $0.outputHash == h.receipt.outputHash })
            else { continue }
            try list.add(workers[h.worker], .answerHopChallenge(challengeId: h.id, commitmentId: h.commitment, leaf: b.tree.proof(i),
                                                               input: pool.hopAnswersCarryInput ? b.inputs[i] : []), sim: self)
            forgetBanked(worker: h.worker, key: h.receipt.contentKey)
            answered.insert(h.id)
        }
        hopAnswered += answered.count
        openHops.removeAll { answered.contains($0.id) }
        // New challenges: the window whose commit deadline was the last block.
        guard next >= 2 else { return }
        let w0 = pool.window(ofHeight: next - 1 - pool.commitGraceBlocks)
        guard next - 1 == pool.commitDeadline(ofWindow: w0), let served = windowBatches.removeValue(forKey: w0) else { return }
        for (i, cid) in served where config.strategies[i] != .selfDeal {
            guard let b = batches[cid] else { continue }
            for leaf in b.served where chance(config.hopChallengeProbability) {
                let r = HopReceipt(leaf: leaf, pool: 0, window: w0, worker: workers[i].publicKey, holder: clients[i].publicKey)
                    .signed(by: workers[i], chainId: ledger.chainId)
                try list.add(clients[i], .hopChallenge(receipt: r), sim: self)
                let d = next + pool.revealDeadlineBlocks
                openHops.append(OpenHop(worker: i, id: r.signingHash(chainId: ledger.chainId), receipt: r, commitment: cid, deadline: d, height: next))
                hopChallenges += 1
            }
        }
    }

    // MARK: - Protocol 4 checks

    /// A ticket's sealed check, if it has checkers.
    func sealedCheck(_ tid: Hash32) throws -> SealedCheck? {
        guard let bytes = state.get(StateKey.ticketCheck(tid)) else { return nil }
        return try SealedCheck(canonicalEncoding: bytes)
    }

    /// Whether a worker strategy cheats (the colluding checker's ring).
    func cheats(_ worker: Int) -> Bool { ![.honest, .selfDeal].contains(config.strategies[worker]) }

    /// Every followed sealed ticket's next move: the checkers' commitments in the first block after the reveal,
    /// the worker's unblinding and the checkers' reveals in the first block after the commit phase, the worker's
    /// dispute key (or not) once a dispute is open.
    mutating func checks(_ list: inout TxList, next: UInt64) throws {
        guard let cfg = pool.checking else { return }
        for tid in sealed.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard var s = sealed[tid], let b = batches[s.commitment] else { continue }
            guard let check = try sealedCheck(tid) else { sealed[tid] = nil; continue }
            let r = check.revealHeight
            switch check.status {
            case .checking where !s.committed && next > r && next <= r + cfg.answerCommitBlocks:
                s.committed = true
                guard let t = try reader.ticket(tid), let leaf = t.leaf else { break }
                for slot in check.slots {
                    guard let i = checkerIndex(slot.checker) else { continue }
                    checkerAssigned[i, default: 0] += 1
                    let answer: Hash32
                    switch config.checkers[i] {
                    case .absent: continue
                    case .badInput: answer = badInputAnswer
                    case .lazy: answer = SHA256.hash(Array("sim-economy/guess".utf8) + rng.next().bigEndianBytes)
                    case .colluding where cheats(b.worker), .silent where cheats(b.worker):
                        // No salt: opening the false output itself would take away the worker's choice below.
                        answer = b.outputs[s.leaf]
                    case .honest, .colluding, .silent: (answer, s.salts[i]) = try replay(i, tid, leaf)
                    }
                    let nonce = SHA256.hash(Array("sim-economy/nonce-\(i)".utf8) + tid.bytes)
                    s.answers[i] = (answer, nonce)
                    try list.add(checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: tid, commitment: checkCommitmentHash(
                        ticketId: tid, checker: slot.checker, answer: answer, nonce: nonce))]), sim: self)
                }
            case .checking where !s.revealed && next > r + cfg.answerCommitBlocks && next <= r + cfg.resolutionDelay:
                s.revealed = true
                // The checkers' reveals carry the derived salt: a matching one unblinds the worker's output. The worker
                // unblinds itself a block later if none did (below), as the node's worker does.
                for i in s.answers.keys.sorted() {
                    // A silent colluder stays quiet once another committed answer differs from its own.
                    if config.checkers[i] == .silent, s.answers.contains(where: { $0.key != i && $0.value.answer != s.answers[i]!.answer }) {
                        continue
                    }
                    try list.add(checkers[i], .checkReveal(items: [CheckRevealItem(ticketId: tid, answer: s.answers[i]!.answer, nonce: s.answers[i]!.nonce,
                                                                                   salt: s.salts[i])]), sim: self)
                }
            case .checking where s.revealed && !s.unblindChecked && next > r + cfg.answerCommitBlocks + (cfg.unblindBlocks >= 2 ? 1 : 0)
                && next <= r + cfg.answerCommitBlocks + cfg.unblindBlocks:
                s.unblindChecked = true
                // No reveal opened the leaf (a false output, or no honest answer): the worker unblinds its claimed
                // output itself (without it, it is convicted for sure). A cheater whose false output already has a
                // dissent leaves it unopened, so that no answer can be compared with it (sparing its colluders, were
                // it not for the replay that settles the answers: Specs/verification.md §4 step 6).
                let dissent = check.slots.contains { $0.answer != nil && $0.answer != b.outputs[s.leaf] }
                if check.unblinded == nil, !(b.faked.contains(s.leaf) && dissent) {
                    try list.add(workers[b.worker], .unblindOutput(items: [UnblindItem(ticketId: tid, outputHash: b.outputs[s.leaf], salt: b.salts[s.leaf])]), sim: self)
                }
            case .disputed where !s.keyDecided && next <= check.keyDeadline:
                s.keyDecided = true
                // An honest output is upheld by the replay: its worker publishes. A cheated one is convicted
                // either way; publishing only costs a transaction (and exposes its colluders).
                if !b.faked.contains(s.leaf) || config.cheatersPublishKey {
                    try list.add(workers[b.worker], .publishSealKey(ticketId: tid, ephemeralPrivateKey: s.ephemeral), sim: self)
                } else if let i = s.answers.keys.sorted().first(where: { config.checkers[$0] == .honest && s.answers[$0]!.answer != b.outputs[s.leaf] }),
                          let t = try reader.ticket(tid), let leaf = t.leaf, let bytes = state.get(StateKey.sealedInput(tid)),
                          let envelope = try? SealedEnvelope(decoding: bytes),
                          let input = try? envelope.open(keyPair: sealing[i], context: SealingContext(chainId: ledger.chainId, ticketId: tid,
                                                                                                      inputHash: leaf.inputHash)) {
                    // The cheater withholds its key; a dissenting honest checker publishes the input it opened, so the
                    // replay runs anyway (and its colluders are slashed; the publisher earns part of that).
                    try list.add(checkers[i], .publishSealedInput(ticketId: tid, input: input), sim: self)
                }
            case .assigned, .checking, .disputed, .replaying: break
            case .passed, .fraud, .upheld, .failed:
                sealed[tid] = nil
                continue
            }
            sealed[tid] = s
        }
    }

    /// A checker's replay of a ticket: opens its slot, checks the input against the leaf and replays the pass (one
    /// pass of compute, costed like the worker's); its answer, and the derived blinding salt when the slot opened.
    mutating func replay(_ i: Int, _ tid: Hash32, _ leaf: PassLeaf) throws -> (Hash32, Hash32?) {
        let tokens = UInt64(leaf.tokenCount)
        let charge = Double((tokens - tokens / 4) * pool.shards[0].priceInputToken.units + tokens / 4 * pool.shards[0].priceOutputToken.units)
        checkerCompute[i, default: 0] += charge * config.computeCostShare
        guard let bytes = state.get(StateKey.sealedInput(tid)), let envelope = try? SealedEnvelope(decoding: bytes),
              let input = try? envelope.open(keyPair: sealing[i], context: SealingContext(chainId: ledger.chainId, ticketId: tid,
                                                                                           inputHash: leaf.inputHash)),
              Tags.tensor.hash(input) == leaf.inputHash else { return (badInputAnswer, nil) }
        return (HashAdjudicator.output(input, shard: Int(leaf.shard), position: leaf.positionOffset),
                derivedBlindingSalt(contentKey: leaf.contentKey, input: input))
    }
}

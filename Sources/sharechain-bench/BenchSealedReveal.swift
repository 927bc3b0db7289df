import ArgumentParser
import Dispatch
import Foundation
import Ledger
import Primitives
import Sealing

/// What private, paid verification adds to a spot check's block-import cost (Specs/verification.md §10): the same
/// tickets revealed in clear (protocol 3), and revealed sealed to three checkers with the checkers' answers and the
/// resolution (every block of a check), on one core. The checkers' reveals carry the derived blinding salt and
/// unblind the outputs; the same run also measures the worker unblinding each output itself (the baseline that
/// costs a signature per worker).
struct BenchSealedReveal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealed-reveal",
        abstract: "Block-import cost of a sealed reveal and its check against a clear reveal (one core, in-memory state).")

    @Option(help: "Tickets (one commitment each).") var tickets = 400
    @Option(help: "Hidden size of the pool's model (the input is tokens × hidden float32).") var hidden: UInt32 = 576
    @Option(help: "Tokens per pass.") var tokens: UInt32 = 16
    @Option(help: "Repetitions (the best is reported).") var repeats = 3
    @Option(help: "Tickets per worker: 1 (the default) is the costliest case for the baseline in which every worker unblinds its tickets in one transaction of its own; with more, a worker unblinds its tickets in one batch.")
    var ticketsPerWorker = 1

    func validate() throws {
        try requireOptions(atLeast: 1, ["--tickets": tickets, "--hidden": Int(hidden), "--tokens": Int(tokens),
                                        "--repeats": repeats, "--tickets-per-worker": ticketsPerWorker])
    }

    func run() throws {
        print("== sealed reveal and check vs clear reveal: \(tickets) tickets (\(ticketsPerWorker) per worker), inputs [\(tokens), \(hidden)] float32 (\(22 + Int(tokens * hidden) * 4) bytes), k = 3 ==")
        var best: [String: (Double, Double)] = [:]
        for _ in 0..<repeats {
            for (sealed, workerUnblinds) in [(false, false), (true, false), (true, true)] {
                var w = try SealedRevealWorkload(tickets: tickets, ticketsPerWorker: ticketsPerWorker, hidden: hidden, tokens: tokens,
                                                 sealed: sealed, workerUnblinds: workerUnblinds)
                let r = try w.measure()
                for (name, v) in r {
                    let b = best[name]
                    best[name] = (min(b?.0 ?? .infinity, v.0), min(b?.1 ?? .infinity, v.1))
                }
            }
        }
        func line(_ name: String) {
            guard let (withSigs, exec) = best[name] else { return }
            print(name.padding(toLength: 46, withPad: " ", startingAt: 0)
                  + String(format: "%9.1f µs per ticket (signatures checked)  %9.1f µs (execution only)",
                           withSigs / 1e3 / Double(tickets), exec / 1e3 / Double(tickets)))
        }
        for name in ["clear reveal", "sealed reveal", "answers (commit, reveal with salt, resolution)", "sealed reveal + check",
                     "answers, worker unblinds (baseline)", "sealed reveal + check, worker unblinds"] { line(name) }
        if let clear = best["clear reveal"], let sealed = best["sealed reveal"], let all = best["sealed reveal + check"] {
            print(String(format: "ratio sealed reveal / clear reveal: %.2f (signatures checked), %.2f (execution only)", sealed.0 / clear.0, sealed.1 / clear.1))
            print(String(format: "ratio sealed reveal + check / clear reveal: %.2f (signatures checked), %.2f (execution only)", all.0 / clear.0, all.1 / clear.1))
            if let old = best["sealed reveal + check, worker unblinds"] {
                print(String(format: "ratio with the worker unblinding / clear reveal: %.2f (signatures checked), %.2f (execution only)", old.0 / clear.0, old.1 / clear.1))
            }
        }
    }
}

/// A chain in memory with one worker per `ticketsPerWorker` tickets (one commitment per ticket), three registered
/// checkers (sealed runs) and one validator.
struct SealedRevealWorkload {
    let ledger: Ledger
    let state = MemoryState()
    let workers: [PrivateKey]
    /// The worker of ticket (commitment) `i` is `workers[i / ticketsPerWorker]`.
    let ticketsPerWorker: Int
    let tickets: Int
    let checkers: [PrivateKey]
    let sealing: [CheckerKeyPair]
    let validator: PrivateKey
    let randao: RandaoHashChain
    let pool: PoolConfig
    let sealed: Bool
    /// Whether each worker unblinds its outputs with an `unblindOutput` (the checkers' reveals carry no salt).
    let workerUnblinds: Bool
    let hidden: UInt32, tokens: UInt32
    var height: UInt64 = 0
    var nonces: [PublicKey: UInt64] = [:]

    init(tickets: Int, ticketsPerWorker: Int = 1, hidden: UInt32, tokens: UInt32, sealed: Bool, workerUnblinds: Bool = false) throws {
        self.sealed = sealed; self.workerUnblinds = workerUnblinds; self.hidden = hidden; self.tokens = tokens
        self.tickets = tickets; self.ticketsPerWorker = ticketsPerWorker
        func key(_ s: String) throws -> PrivateKey { try PrivateKey(secretBytes: SHA256.hash(Array("bench-sealed/\(s)".utf8)).bytes) }
        workers = try (0..<(tickets + ticketsPerWorker - 1) / ticketsPerWorker).map { try key("worker-\($0)") }
        checkers = try (0..<3).map { try key("checker-\($0)") }
        sealing = try (0..<3).map { try CheckerKeyPair(privateKey: SHA256.hash(Array("bench-sealing-\($0)".utf8)).bytes) }
        validator = try key("validator")
        randao = RandaoHashChain(seed: SHA256.hash(Array("bench-sealed-randao".utf8)), length: 64)
        var params = LedgerParams()
        params.maxCommitmentsPerBlock = 1 << 20
        params.unbondingBlocks = 10_000_000; params.escrowUnlockBlocks = 2_000_000; params.revealedKeyRetentionBlocks = 2_000_000
        params.beaconMaxDelay = 2
        params.maxTransactionBytes = 4 << 20
        var p = PoolConfig(id: 0, modelId: "bench", executorSpec: "canon-f32-v1",
                           model: ModelSpec(hiddenSize: hidden, numHeads: 4, numKVHeads: 2, headDim: 16, intermediateSize: 128,
                                            numLayers: 2, rmsNormEpsBits: 0x3727_C5AC, ropeThetaBits: 0x461C_4000, qkvBias: false),
                           shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1,
                                              priceOutputToken: 1)],
                           minWorkerStake: 100, windowBlocks: 1_000_000, spotCheckPpm: 1, maxTokensPerPass: tokens)
        if sealed {
            p.checking = CheckingConfig(checkersPerTicket: 3, checkerMinStake: 100, checkerActivationBlocks: 1, checkFee: 10)
        }
        pool = p
        ledger = Ledger(params: params, chainId: SHA256.hash(Array("bench-sealed-chain".utf8)), adjudicator: LedgerWorkload.NoAdjudicator(),
                        equivocationVerifier: LedgerWorkload.NoEvidence())
        state.apply(try ledger.genesisWriteSet(GenesisAllocation(
            balances: (workers + checkers).map { .init(key: $0.publicKey, amount: 1_000_000_000) },
            validators: [.init(key: validator.publicKey, stake: 1_000, randaoCommitment: randao.commitment)],
            workers: workers.map { .init(key: $0.publicKey, pool: 0, stake: 1_000) },
            pools: [pool])))
    }

    mutating func tx(_ key: PrivateKey, _ body: TxBody) -> SignedTransaction {
        let n = nonces[key.publicKey, default: 0]
        nonces[key.publicKey] = n + 1
        return Transaction(chainId: ledger.chainId, sender: key.publicKey, nonce: n, fee: 1_000_000, body: body).signed(by: key)
    }

    /// Applies a block; returns (nanoseconds with signatures verified in the block, nanoseconds of execution alone).
    @discardableResult
    mutating func block(_ txs: [SignedTransaction]) throws -> (UInt64, UInt64) {
        height += 1
        let ctx = BlockContext(height: height, slot: height, proposer: validator.publicKey,
                               randaoReveal: randao.value(randao.length - Int(height)))
        let c0 = threadCPUNanoseconds()
        for t in txs where !t.hasValidSignature { throw LedgerFault("bad signature") }
        let c1 = threadCPUNanoseconds()
        var ls = LedgerState(base: state)
        let receipts = try ledger.applyBlock(ctx, transactions: txs, to: &ls, signaturesChecked: true)
        let ws = try ls.overlay.writeSet()
        let c2 = threadCPUNanoseconds()
        if let bad = receipts.dropLast().first(where: { $0.status != .success }) { throw LedgerFault("benchmark transaction failed: \(bad.status)") }
        state.apply(ws)
        return (c2 - c0, c2 - c1)
    }

    func batch(_ i: Int) throws -> (SumTree.Built, [[UInt8]]) {
        var g = SplitMix64(seed: UInt64(i) &* 0x9E37_79B9)
        var leaves = [PassLeaf](), inputs = [Hash32: [UInt8]]()
        for j in 0..<2 {
            let values = (0..<Int(tokens * hidden)).map { _ in Float(Int(g.next() % 2000) + 1) / 256 }
            let input = CanonicalInput.encode(tokens: tokens, hidden: hidden, bitPatterns: values.map(\.bitPattern))
            let out = SHA256.hash(input)
            var leaf = PassLeaf(index: 0, shard: 0, positionOffset: UInt64(j) * 64, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                                outputHash: out)
            if sealed { leaf.outputHash = blindedOutputHash(out, salt: derivedBlindingSalt(contentKey: leaf.contentKey, input: input)) }
            leaves.append(leaf)
            inputs[leaf.contentKey] = input
        }
        let tree = try SumTree.build(leaves)
        return (tree, tree.leaves.map { inputs[$0.contentKey]! })
    }

    mutating func measure() throws -> [String: (Double, Double)] {
        if sealed {
            var setup = [SignedTransaction]()
            for (i, c) in checkers.enumerated() {
                setup.append(tx(c, .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil)))
                setup.append(tx(c, .registerChecker(pool: 0, sealingKey: Hash32(bytes: sealing[i].publicKey.bytes)!)))
            }
            try block(setup)
        }
        let batches = try (0..<tickets).map { try batch($0) }
        func worker(_ i: Int) -> PrivateKey { workers[i / ticketsPerWorker] }
        var commits = [SignedTransaction]()
        for i in 0..<tickets {
            let w = worker(i), (tree, _) = batches[i]
            commits.append(tx(w, .commitShares(pool: 0, window: 0, shard: 0, leafCount: tree.leafCount, tokenTotal: tree.tokenTotal, root: tree.root.hash)))
        }
        try block(commits)
        try block([]); try block([])
        let reader = LedgerReader(state)
        var reveals = [SignedTransaction](), ids = [Hash32](), leafIndex = [Int]()
        for i in 0..<tickets {
            let w = worker(i), (tree, inputs) = batches[i]
            let cid = LedgerIds.commitment(worker: w.publicKey, pool: 0, window: 0, shard: 0, root: tree.root.hash)
            guard let tid = try reader.tickets(commitment: cid).first?.id, let t = try reader.ticket(tid),
                  let leaf = tree.leaf(containing: t.point) else { throw LedgerFault("no ticket drawn") }
            ids.append(tid); leafIndex.append(leaf)
            if sealed {
                guard let check = try reader.sealedCheck(tid) else { throw LedgerFault("no checkers assigned") }
                let envelope = try SealedEnvelope.seal(
                    plaintext: inputs[leaf], recipients: try check.slots.map { try CheckerPublicKey(bytes: $0.sealingKey.bytes) },
                    context: SealingContext(chainId: ledger.chainId, ticketId: tid, inputHash: tree.leaves[leaf].inputHash),
                    maxPlaintextCount: pool.maxInputTensorBytes)
                reveals.append(tx(w, .revealSealedTicket(ticketId: tid, leaf: tree.proof(leaf), left: nil, right: nil, envelope: envelope.encoded)))
            } else {
                reveals.append(tx(w, .revealTicket(ticketId: tid, leaf: tree.proof(leaf), left: nil, right: nil, input: inputs[leaf])))
            }
        }
        let revealCost = try block(reveals)
        guard sealed, let cfg = pool.checking else { return ["clear reveal": (Double(revealCost.0), Double(revealCost.1))] }
        // The checkers' answers (what they computed: the output hash), the unblinding, the reveals, the resolution.
        var answers: (UInt64, UInt64) = (0, 0)
        func add(_ c: (UInt64, UInt64)) { answers.0 += c.0; answers.1 += c.1 }
        func nonce(_ c: Int, _ t: Hash32) -> Hash32 { SHA256.hash(t.bytes + [UInt8(c)]) }
        // Batched as nodes send them: each checker one commit transaction and one reveal transaction per block for
        // all its tickets; each worker one unblinding for its tickets (one ticket each by default, the costliest case).
        var commitItems = [[CheckCommitItem]](repeating: [], count: checkers.count)
        let slots = try ids.map { try LedgerReader(state).sealedCheck($0)!.slots }
        for (n, tid) in ids.enumerated() {
            let output = SHA256.hash(batches[n].1[leafIndex[n]])
            for s in slots[n] {
                let c = checkers.firstIndex { $0.publicKey == s.checker }!
                commitItems[c].append(CheckCommitItem(ticketId: tid, commitment: checkCommitmentHash(ticketId: tid, checker: s.checker, answer: output, nonce: nonce(c, tid))))
            }
        }
        var commitTxs = [SignedTransaction]()
        for (c, items) in commitItems.enumerated() {
            for chunk in stride(from: 0, to: items.count, by: TxLimits.maxCheckBatch) {
                commitTxs.append(tx(checkers[c], .checkCommit(items: Array(items[chunk..<Swift.min(chunk + TxLimits.maxCheckBatch, items.count)]))))
            }
        }
        add(try block(commitTxs))
        for _ in 1..<cfg.answerCommitBlocks { add(try block([])) }
        var revealTxs = [SignedTransaction]()
        var revealItems = [[CheckRevealItem]](repeating: [], count: checkers.count)
        var unblindItems = [[UnblindItem]](repeating: [], count: workers.count)
        for (n, tid) in ids.enumerated() {
            let input = batches[n].1[leafIndex[n]], output = SHA256.hash(input)
            let salt = derivedBlindingSalt(contentKey: batches[n].0.leaves[leafIndex[n]].contentKey, input: input)
            if workerUnblinds { unblindItems[n / ticketsPerWorker].append(UnblindItem(ticketId: tid, outputHash: output, salt: salt)) }
            for s in slots[n] {
                let c = checkers.firstIndex { $0.publicKey == s.checker }!
                revealItems[c].append(CheckRevealItem(ticketId: tid, answer: output, nonce: nonce(c, tid), salt: workerUnblinds ? nil : salt))
            }
        }
        for (w, items) in unblindItems.enumerated() where !items.isEmpty {
            for chunk in stride(from: 0, to: items.count, by: TxLimits.maxCheckBatch) {
                revealTxs.append(tx(workers[w], .unblindOutput(items: Array(items[chunk..<min(chunk + TxLimits.maxCheckBatch, items.count)]))))
            }
        }
        for (c, items) in revealItems.enumerated() {
            for chunk in stride(from: 0, to: items.count, by: TxLimits.maxCheckBatch) {
                revealTxs.append(tx(checkers[c], .checkReveal(items: Array(items[chunk..<min(chunk + TxLimits.maxCheckBatch, items.count)]))))
            }
        }
        add(try block(revealTxs))
        for _ in 1..<(cfg.unblindBlocks + cfg.answerRevealBlocks) { add(try block([])) }
        guard try ids.allSatisfy({ try LedgerReader(state).sealedCheck($0)?.status == .passed }) else { throw LedgerFault("a check did not pass") }
        if workerUnblinds {
            return ["answers, worker unblinds (baseline)": (Double(answers.0), Double(answers.1)),
                    "sealed reveal + check, worker unblinds": (Double(revealCost.0 + answers.0), Double(revealCost.1 + answers.1))]
        }
        return ["sealed reveal": (Double(revealCost.0), Double(revealCost.1)),
                "answers (commit, reveal with salt, resolution)": (Double(answers.0), Double(answers.1)),
                "sealed reveal + check": (Double(revealCost.0 + answers.0), Double(revealCost.1 + answers.1))]
    }
}

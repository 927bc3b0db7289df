import ArgumentParser
import CBaseline
import Dispatch
import Ledger
import Foundation
import Primitives
import Storage

/// Applying pre-built blocks of signed transfers and share commitments on one core, signatures checked.
struct BenchLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "State-transition throughput: signed transfers and share commitments on one core.")

    @Option(help: "Transactions per block.") var blockSize: Int = 2_000
    @Option(help: "Blocks to apply.") var blocks: Int = 10
    @Option(help: "Sending accounts.") var accounts: Int = 4_000

    func run() async throws {
        print("== ledger state transition (one core, signatures checked) ==")
        let workload = try LedgerWorkload(accounts: accounts, blockSize: blockSize, blocks: blocks)
        let verifyRate = rate(0.5) { n in _ = cbaseline_schnorr_verify(Int64(n)) }
        for mix in [LedgerWorkload.Mix.transfers, .commitments] {
            let memory = MemoryState()
            let (txPerSecond, split) = try workload.measure(mix: mix, base: memory) { ws, _ in memory.apply(ws) }
            report("\(mix.rawValue) (memory)", txPerSecond, baseline: verifyRate, unit: "tx/s",
                   machine: "bound: one Schnorr verify per tx, 21.7 k/s per core")
            print("    split: signatures \(split.signatures)%, execution \(split.execution)%, state write \(split.writeSet)%")

            // The same blocks on the RocksDB state store: each block's write set, undo record and tip in one
            // synced batch.
            let dir = NSTemporaryDirectory() + "sharechain-bench-ledger-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let store = try ChainStore(path: dir, genesis: workload.ledger.chainId)
            var parent = Hash32.zero
            let (rocksRate, rocksSplit) = try workload.measure(mix: mix, base: store.current) { ws, height in
                let hash = SHA256.hash(parent.bytes + height.bigEndianBytes)
                try store.commit(BlockRecord(hash: hash, height: height, parent: parent, header: [], body: [], receipts: [], transactions: []),
                                 writeSet: ws)
                parent = hash
            }
            report("\(mix.rawValue) (RocksDB)", rocksRate, baseline: verifyRate, unit: "tx/s",
                   machine: "bound: one Schnorr verify per tx, 21.7 k/s per core")
            print("    split: signatures \(rocksSplit.signatures)%, execution \(rocksSplit.execution)%, state write (commit) \(rocksSplit.writeSet)%")
            try store.close()
        }
    }
}

/// A genesis with many funded accounts and workers, and pre-signed blocks.
struct LedgerWorkload {
    enum Mix: String { case transfers, commitments }

    struct NoAdjudicator: Adjudicator {
        struct Unavailable: Error {}
        func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
    }

    struct NoEvidence: EquivocationVerifier {
        func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation? { nil }
    }

    let ledger: Ledger
    let keys: [PrivateKey]
    let validator: PrivateKey
    let randao: RandaoHashChain
    let genesis: WriteSet
    let blockSize: Int
    let blocks: Int
    let pool: PoolConfig

    init(accounts: Int, blockSize: Int, blocks: Int) throws {
        self.blockSize = blockSize
        self.blocks = blocks
        keys = (0..<accounts).map { i in try! PrivateKey(secretBytes: SHA256.hash(Array("bench-\(i)".utf8)).bytes) }
        validator = try PrivateKey(secretBytes: SHA256.hash(Array("bench-validator".utf8)).bytes)
        randao = RandaoHashChain(seed: SHA256.hash(Array("bench-randao".utf8)), length: blocks + 8)
        var params = LedgerParams()
        params.maxCommitmentsPerWindow = 1 << 20
        // One window spans the whole run; the horizons that must outlast it follow.
        params.unbondingBlocks = 10_000_000; params.escrowUnlockBlocks = 2_000_000; params.revealedKeyRetentionBlocks = 2_000_000
        pool = PoolConfig(id: 0, modelId: "bench", executorSpec: "canon-f32-v1",
                          model: ModelSpec(hiddenSize: 64, numHeads: 4, numKVHeads: 2, headDim: 16, intermediateSize: 128,
                                           numLayers: 2, rmsNormEpsBits: 0x3727_C5AC, ropeThetaBits: 0x461C_4000, qkvBias: false),
                          shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 1)],
                          minWorkerStake: 100, windowBlocks: 1_000_000)
        ledger = Ledger(params: params, chainId: SHA256.hash(Array("bench-chain".utf8)), adjudicator: NoAdjudicator(),
                        equivocationVerifier: NoEvidence())
        genesis = try ledger.genesisWriteSet(GenesisAllocation(
            balances: keys.map { .init(key: $0.publicKey, amount: 1_000_000_000) },
            validators: [.init(key: validator.publicKey, stake: 1_000, randaoCommitment: randao.commitment)],
            workers: keys.map { .init(key: $0.publicKey, pool: 0, stake: 1_000) },
            pools: [pool]))
    }

    /// Signed blocks for a mix.
    func build(_ mix: Mix) -> [[SignedTransaction]] {
        var nonces = [UInt64](repeating: 0, count: keys.count)
        var out = [[SignedTransaction]]()
        var k = 0
        for b in 0..<blocks {
            var txs = [SignedTransaction]()
            txs.reserveCapacity(blockSize)
            for i in 0..<blockSize {
                let sender = k % keys.count
                k += 1
                let body: TxBody
                switch mix {
                case .transfers:
                    body = .transfer(to: keys[(sender + 1 + i) % keys.count].publicKey, amount: 1)
                case .commitments:
                    var root = CanonicalWriter(); root.u64(UInt64(b)); root.u64(UInt64(i))
                    body = .commitShares(pool: 0, window: 0, shard: 0, leafCount: 16, tokenTotal: 256, root: SHA256.hash(root.bytes))
                }
                let t = Transaction(chainId: ledger.chainId, sender: keys[sender].publicKey, nonce: nonces[sender], fee: 1_000, body: body)
                nonces[sender] += 1
                txs.append(t.signed(by: keys[sender]))
            }
            out.append(txs)
        }
        return out
    }

    struct Split { var signatures: Int; var execution: Int; var writeSet: Int }

    /// Applies the blocks to a state (genesis first, as height 0) through `commit(writeSet, height)`; returns
    /// transactions per second and the time split.
    func measure(mix: Mix, base: any StateReader, commit: (WriteSet, UInt64) throws -> Void) throws -> (Double, Split) {
        try commit(genesis, 0)
        let signed = build(mix)
        var sigNs: UInt64 = 0, execNs: UInt64 = 0, wsNs: UInt64 = 0
        for (b, txs) in signed.enumerated() {
            let t0 = DispatchTime.now().uptimeNanoseconds
            // One core: verify sequentially, then execute without re-verifying.
            for tx in txs where !tx.hasValidSignature { throw LedgerFault("bad signature in benchmark block") }
            let t1 = DispatchTime.now().uptimeNanoseconds
            var ls = LedgerState(base: base)
            let ctx = BlockContext(height: UInt64(b + 1), slot: UInt64(b + 1), proposer: validator.publicKey,
                                   randaoReveal: randao.value(randao.length - b - 1))
            let receipts = try ledger.applyBlock(ctx, transactions: txs, to: &ls, signaturesChecked: true)
            guard receipts.dropLast().allSatisfy({ $0.status == .success }) else { throw LedgerFault("a benchmark transaction failed") }
            let t2 = DispatchTime.now().uptimeNanoseconds
            try commit(try ls.overlay.writeSet(), UInt64(b + 1))
            let t3 = DispatchTime.now().uptimeNanoseconds
            sigNs += t1 - t0; execNs += t2 - t1; wsNs += t3 - t2
        }
        let total = Double(sigNs + execNs + wsNs)
        let txs = Double(blocks * blockSize)
        return (txs / (total / 1e9), Split(signatures: Int(Double(sigNs) / total * 100), execution: Int(Double(execNs) / total * 100),
                                           writeSet: Int(Double(wsNs) / total * 100)))
    }
}


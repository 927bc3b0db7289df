import ArgumentParser
import CBaseline
import Consensus
import Dispatch
import Foundation
import Ledger
import Primitives
import Storage

/// Import of pre-built blocks full of signed transfers into a fresh node, including the RocksDB commit.
struct BenchImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Block import: signed transfers per second on all cores, including the RocksDB commit.")

    @Option(help: "Transactions per block.") var blockSize: Int = 5_000
    @Option(help: "Blocks to import.") var blocks: Int = 12
    @Option(help: "Funded accounts.") var accounts: Int = 5_000

    func validate() throws {
        try requireOptions(atLeast: 1, ["--block-size": blockSize, "--blocks": blocks, "--accounts": accounts])
    }

    func run() async throws {
        print("== block import (\(ProcessInfo.processInfo.activeProcessorCount) cores, RocksDB with synced commits) ==")
        let keys = try (0..<accounts).map { try PrivateKey(secretBytes: SHA256.hash(Array("import-bench-\($0)".utf8)).bytes) }
        let validator = try PrivateKey(secretBytes: SHA256.hash(Array("import-bench-validator".utf8)).bytes)
        let randao = RandaoHashChain(seed: SHA256.hash(Array("import-bench-randao".utf8)), length: blocks + 8)
        var consensus = ConsensusParams()
        consensus.slotSeconds = 1
        consensus.maxBlockTransactions = blockSize
        consensus.maxBlockBytes = blockSize * 400
        let genesis = Genesis(chainName: "bench", genesisTime: 1_700_000_000, consensus: consensus, ledger: LedgerParams(),
                              allocation: GenesisAllocation(
                                balances: keys.map { .init(key: $0.publicKey, amount: 1_000_000_000) },
                                validators: [.init(key: validator.publicKey, stake: 1_000, randaoCommitment: randao.commitment)],
                                pools: []))
        let base = NSTemporaryDirectory() + "sharechain-bench-import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        struct NoAdjudicator: Adjudicator {
            struct Unavailable: Error {}
            func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
        }

        // Build the blocks once with a producer node.
        let producer = try ChainEngine(genesis: genesis, store: try ChainStore(path: base + "/producer", genesis: genesis.chainId),
                                       adjudicator: NoAdjudicator())
        var built = [Block]()
        var nonces = [UInt64](repeating: 0, count: keys.count)
        var k = 0
        for b in 0..<blocks {
            var txs = [SignedTransaction]()
            for _ in 0..<blockSize {
                let s = k % keys.count
                k += 1
                let tx = Transaction(chainId: genesis.chainId, sender: keys[s].publicKey, nonce: nonces[s], fee: 1_000,
                                     body: .transfer(to: keys[(s * 7 + 1) % keys.count].publicKey, amount: 1))
                nonces[s] += 1
                txs.append(tx.signed(by: keys[s]))
            }
            let slot = UInt64(b + 1)
            let now = genesis.slotStartMillis(slot) + 1
            let block = try producer.produceBlock(slot: slot, key: validator, randaoReveal: randao.value(randao.length - b - 1),
                                                  candidates: txs, now: now)
            guard block.transactions.count == blockSize else { throw ValidationError("producer dropped transactions") }
            _ = try producer.importBlock(block, now: now)
            built.append(block)
        }
        try producer.store.close()

        // Baseline: the C library verifying on every core.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let perCore = rate(0.5) { n in _ = cbaseline_schnorr_verify(Int64(n)) }

        let importer = try ChainEngine(genesis: genesis, store: try ChainStore(path: base + "/importer", genesis: genesis.chainId),
                                       adjudicator: NoAdjudicator())
        // As in sync: the next block's signatures are verified while the current one executes and commits.
        let cache = importer.signatures
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, block) in built.enumerated() {
            let next = i + 1 < built.count ? built[i + 1].transactions : []
            async let ahead: Int? = Task.detached { cache.verify(next) }.value
            _ = try importer.importBlock(block, now: block.header.timestamp)
            _ = await ahead
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let t = importer.timings
        let txps = Double(t.transactions) / seconds
        report("import transfers", txps, baseline: perCore * Double(cores), unit: "tx/s",
               machine: "target ≥ 20 k tx/s on 2 cores; bound: verify on all cores ≈ 43.9 k/s")
        func share(_ d: Duration) -> String { String(format: "%.0f%%", Double(d.components.seconds) * 100 / max(seconds, 1e-9) + Double(d.components.attoseconds) / 1e16 / max(seconds, 1e-9)) }
        print("    split: signatures \(share(t.signatures)), execution \(share(t.execution)), commit \(share(t.commit)) of \(String(format: "%.2f", seconds)) s for \(t.transactions) transactions")
        try importer.store.close()
    }
}

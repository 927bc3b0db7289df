import ArgumentParser
import Consensus
import Foundation
import Ledger
import Node
import Primitives
import Storage
import Synchronization

/// `sharechain-bench make-chain`: writes a devnet data directory holding a long chain, produced fast-forward (each
/// block inside its past slot), with a few transfers per block, for measurements that need many blocks (the
/// explorer's first render on 10 000 blocks, `tools/bench-explorer`). Run a node on it with
/// `sharechain node --genesis DIR/genesis.json --data-dir DIR` (no validator key: it serves, it does not produce).
struct BenchChainGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-chain", abstract: "Write a devnet data directory with a long chain (fast-forward production).")

    @Option(help: "Blocks to produce.") var blocks: Int = 10_000
    @Option(help: "Transfers per block.") var transfers: Int = 4
    @Flag(help: "Send each transfer to a new address (every block touches ~transfers distinct accounts: the indexer's worst case).")
    var freshRecipients = false
    @Option(help: "Data directory to create (must not exist).") var dir: String

    func validate() throws {
        try requireOptions(atLeast: 1, ["--blocks": blocks])
        try requireOptions(atLeast: 0, ["--transfers": transfers])
    }

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: dir) else { throw ValidationError("\(dir) exists") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var builder = DevnetGenesisBuilder(modelFile: "Genesis/models/tiny/model.safetensors")
        builder.validators = 1
        builder.slotSeconds = 1
        builder.randaoLength = blocks + 1_000
        // The chain ends a little before now, so a node started on it finds its tip in the past.
        builder.genesisTime = UInt64(Date().timeIntervalSince1970) - UInt64(blocks) - 120
        let genesisJSON = try builder.json()
        try Data(genesisJSON).write(to: URL(fileURLWithPath: dir + "/genesis.json"))
        let genesis = try GenesisDocument.decode(Data(genesisJSON)).resolve()
        let store = try ChainStore(path: dir + "/chain", genesis: genesis.chainId)
        struct NoReplay: Adjudicator {
            struct Unavailable: Error {}
            func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
        }
        let engine = try ChainEngine(genesis: genesis, store: store, adjudicator: NoReplay())
        let now = Mutex<UInt64>(genesis.slotStartMillis(1))
        let chain = ChainService(engine: engine, clock: { now.withLock { $0 } })
        let key = DevelopmentKeys.validator(0)
        var identity = ValidatorIdentity(key: key, chains: [ValidatorRandao.chain(for: key, length: builder.randaoLength)])
        let accounts = (0..<builder.accounts).map(DevelopmentKeys.account)
        let started = Date()
        for slot in UInt64(1)...UInt64(blocks) {
            now.withLock { $0 = genesis.slotStartMillis(slot) + 5 }
            for i in 0..<transfers {
                let from = accounts[(Int(slot) + i) % accounts.count]
                let to = freshRecipients ? recipient(slot, i) : accounts[(Int(slot) + i + 1) % accounts.count].publicKey
                let tx = Transaction(chainId: genesis.chainId, sender: from.publicKey, nonce: try await chain.nextNonce(for: from.publicKey),
                                     fee: 10_000, body: .transfer(to: to, amount: 1)).signed(by: from)
                _ = try? await chain.submit(tx)
            }
            guard try await chain.produce(slot: slot, identity: &identity, deadline: .max) != nil else {
                throw ValidationError("slot \(slot): the validator did not produce")
            }
            if slot % 1_000 == 0 { print("  \(slot) blocks, \(String(format: "%.0f", Date().timeIntervalSince(started))) s") }
        }
        try store.close()
        print("wrote \(blocks) blocks (\(transfers) transfers each) to \(dir) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// A recipient no other transfer of the chain names (32 bytes from the slot and position).
    func recipient(_ slot: UInt64, _ i: Int) -> PublicKey { PublicKey(rawValue: SHA256.hash(Array("recipient \(slot) \(i)".utf8))) }
}

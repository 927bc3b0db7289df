import ArgumentParser
import Consensus
import Dispatch
import Foundation
import Ledger
import Logging
import P2P
import Primitives
import Storage

/// Sync throughput over loopback TCP from a local peer, for a chain of full blocks of signed transfers,
/// beside the same node's import rate of the same blocks without the network (the bound sync can reach).
struct BenchSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "P2P sync rate from a local peer (blocks/s, tx/s) beside a local import of the same blocks.")

    @Option(help: "Blocks in the chain.") var blocks: Int = 20
    @Option(help: "Transactions per block (the genesis block limit, so every block is full).") var blockSize: Int = 5_000
    @Option(help: "Sending accounts.") var accounts: Int = 2_000

    func validate() throws {
        try requireOptions(atLeast: 1, ["--blocks": blocks, "--block-size": blockSize, "--accounts": accounts])
    }

    func run() async throws {
        print("== p2p sync (loopback, one peer, full blocks of signed transfers) ==")
        let dir = NSTemporaryDirectory() + "sharechain-bench-sync-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = try SyncWorkload(accounts: accounts, blockSize: blockSize, blocks: blocks)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (chain, source) = try setup.buildChain(at: dir + "/source")
        let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let txs = chain.reduce(0) { $0 + $1.transactions.count }
        let bytes = chain.reduce(0) { $0 + $1.canonicalEncoding.count }
        print("    chain: \(chain.count) blocks, \(txs) transactions, \(bytes / chain.count / 1024) KiB per block (built in \(String(format: "%.1f", buildSeconds)) s)")

        // Baseline: the same blocks imported directly, no network.
        let baseline = try setup.engine(at: dir + "/baseline")
        let b0 = DispatchTime.now().uptimeNanoseconds
        for block in chain {
            guard case .tipChanged = try baseline.importBlock(block, now: setup.now) else { throw ValidationError("baseline import did not extend the chain") }
        }
        let baseSeconds = Double(DispatchTime.now().uptimeNanoseconds - b0) / 1e9
        try baseline.store.close()

        // Network: an empty node syncs from a node serving the chain over 127.0.0.1, once in plaintext (the
        // baseline encryption is measured against) and once through the Noise transport, in the same run.
        let clock = setup.now
        let served = ChainService(engine: source, clock: { clock })
        let quiet = Logger(label: "bench-sync", factory: { _ in SwiftLogNoOpLogHandler() })
        func sync(plaintext: Bool, into path: String) async throws -> Double {
            let follower = ChainService(engine: try setup.engine(at: path), clock: { clock })
            var serverConfig = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
            serverConfig.plaintextTransportForBenchmarks = plaintext
            let server = P2PService(config: serverConfig, chain: served, logger: quiet)
            let seconds: Double = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                defer { group.cancelAll() }
                let port = try await server.listeningPort()
                var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
                config.bootstrapPeers = [PeerEndpoint(host: "127.0.0.1", port: port)]
                config.plaintextTransportForBenchmarks = plaintext
                let client = P2PService(config: config, chain: follower, logger: quiet)
                let n0 = DispatchTime.now().uptimeNanoseconds
                group.addTask { try await client.run() }
                let deadline = ContinuousClock.now + .seconds(600)
                while await follower.status().height < UInt64(chain.count) {
                    guard ContinuousClock.now < deadline else { throw ValidationError("sync did not finish in 600 s") }
                    try await Task.sleep(for: .milliseconds(5))
                }
                return Double(DispatchTime.now().uptimeNanoseconds - n0) / 1e9
            }
            guard await follower.status().tipHash == served.status().tipHash else { throw ValidationError("the synced chain differs from the source") }
            return seconds
        }
        // Twice each, in the order plain, noise, noise, plain, keeping each one's faster run: a shared machine's
        // load varies over seconds, and this way neither side always runs first.
        let p1 = try await sync(plaintext: true, into: dir + "/follower-plain-1")
        let n1 = try await sync(plaintext: false, into: dir + "/follower-noise-1")
        let n2 = try await sync(plaintext: false, into: dir + "/follower-noise-2")
        let p2 = try await sync(plaintext: true, into: dir + "/follower-plain-2")
        let plainSeconds = min(p1, p2), netSeconds = min(n1, n2)
        let n = Double(chain.count), t = Double(txs)
        report("sync blocks", n / netSeconds, baseline: n / baseSeconds, unit: "blocks/s", machine: "baseline: local import of the same blocks")
        report("sync transactions", t / netSeconds, baseline: t / baseSeconds, unit: "tx/s", machine: "target ≥ 20 k tx/s import on 2 cores")
        report("sync noise vs plain", t / netSeconds, baseline: t / plainSeconds, unit: "tx/s",
               machine: "baseline: the same sync without encryption; target ratio ≥ 0.9")
        print("    sync \(String(format: "%.2f", netSeconds)) s encrypted, \(String(format: "%.2f", plainSeconds)) s plaintext, incl. connect and handshake;"
              + " local import \(String(format: "%.2f", baseSeconds)) s; \(String(format: "%.1f", Double(bytes) / netSeconds / 1e6)) MB/s over loopback")
        benchHandshakes()
    }

    /// Complete Noise XX handshakes (both sides' work: 2 ephemeral keys, 6 X25519, 2 identity signature
    /// checks, HKDF and AEAD) per second on one core.
    func benchHandshakes() {
        let chain = SHA256.hash(Array("bench".utf8))
        let a = NoiseIdentity(nodeKey: .generate(), chainId: chain), b = NoiseIdentity(nodeKey: .generate(), chainId: chain)
        let prologue = NoisePayload.prologue(chainId: chain)
        func one() throws {
            let i = NoiseHandshake(role: .initiator, staticKey: a.staticKey, prologue: prologue)
            let r = NoiseHandshake(role: .responder, staticKey: b.staticKey, prologue: prologue)
            try NoisePayload.checkHello(try r.readMessage(try i.writeMessage(payload: NoisePayload.hello(chainId: chain))), chainId: chain)
            let p2 = try i.readMessage(try r.writeMessage(payload: b.payload))
            _ = try NoisePayload.verifyIdentity(p2, remoteStatic: i.remoteStatic ?? [], chainId: chain)
            let p3 = try r.readMessage(try i.writeMessage(payload: a.payload))
            _ = try NoisePayload.verifyIdentity(p3, remoteStatic: r.remoteStatic ?? [], chainId: chain)
            _ = try i.split()
            _ = try r.split()
        }
        // This thread's CPU time as well as the wall clock: on a shared machine the wall clock also counts time
        // the scheduler gave to other processes; the loop runs on one thread, so its CPU time is one core's.
        func cpuSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        do {
            for _ in 0..<200 { try one() }
            let n = 4_000
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuSeconds()
            for _ in 0..<n { try one() }
            let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, c = cpuSeconds() - c0
            print("    noise handshakes: \(Int(Double(n) / c))/s per CPU-second of one core, \(Int(Double(n) / s))/s by the wall clock"
                  + " (both sides, identity checks included; target ≥ 2000/s)")
        } catch {
            print("    noise handshakes: failed: \(error)")
        }
    }
}

/// A chain of full blocks: many funded accounts sending signed transfers, one validator.
struct SyncWorkload {
    let genesis: Genesis
    let keys: [PrivateKey]
    let validator: PrivateKey
    let randao: RandaoHashChain
    let blockSize: Int
    let blocks: Int
    /// A clock after every block of the chain (slots are one second, ending before now).
    let now: UInt64

    init(accounts: Int, blockSize: Int, blocks: Int) throws {
        self.blockSize = blockSize
        self.blocks = blocks
        keys = (0..<accounts).map { i in
            // SHA-256 outputs are valid secret keys except with negligible probability; derive again if not.
            (try? PrivateKey(secretBytes: SHA256.hash(Array("bench-sync-\(i)".utf8)).bytes)) ?? PrivateKey.generate()
        }
        validator = try PrivateKey(secretBytes: SHA256.hash(Array("bench-sync-validator".utf8)).bytes)
        randao = RandaoHashChain(seed: SHA256.hash(Array("bench-sync-randao".utf8)), length: blocks + 8)
        var consensus = ConsensusParams()
        consensus.slotSeconds = 1
        consensus.maxBlockTransactions = blockSize
        consensus.maxBlockBytes = max(consensus.maxBlockBytes, blockSize * 200 + 4096)
        var ledger = LedgerParams()
        ledger.slotsPerEpoch = 3600
        ledger.unbondingBlocks = 10_000_000; ledger.escrowUnlockBlocks = 2_000_000; ledger.revealedKeyRetentionBlocks = 2_000_000
        let pool = PoolConfig(id: 0, modelId: "bench", executorSpec: "canon-f32-v1",
                              model: ModelSpec(hiddenSize: 64, numHeads: 4, numKVHeads: 2, headDim: 16, intermediateSize: 128, numLayers: 2,
                                               rmsNormEpsBits: 0x3727_C5AC, ropeThetaBits: 0x461C_4000, qkvBias: false),
                              shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 1)],
                              minWorkerStake: 100, windowBlocks: 1_000_000)
        let start = UInt64(Date().timeIntervalSince1970) - UInt64(blocks) - 30
        genesis = Genesis(chainName: "bench-sync", genesisTime: start, consensus: consensus, ledger: ledger,
                          allocation: GenesisAllocation(
                            balances: keys.map { .init(key: $0.publicKey, amount: 1_000_000_000) },
                            validators: [.init(key: validator.publicKey, stake: 1_000, randaoCommitment: randao.commitment)],
                            pools: [pool]))
        now = (start + UInt64(blocks) + 5) * 1000
    }

    func engine(at path: String) throws -> ChainEngine {
        var o = DatabaseOptions()
        o.syncWrites = false
        return try ChainEngine(genesis: genesis, store: try ChainStore(path: path, genesis: genesis.chainId, options: o),
                               adjudicator: LedgerWorkload.NoAdjudicator())
    }

    /// Signs the transfers (on all cores), produces and imports every block; returns the blocks and the engine.
    func buildChain(at path: String) throws -> ([Block], ChainEngine) {
        let engine = try self.engine(at: path)
        var identity = ValidatorIdentity(key: validator, chains: [randao])
        var nonces = [UInt64](repeating: 0, count: keys.count)
        var out = [Block]()
        var k = 0
        for b in 0..<blocks {
            var unsigned = [(Transaction, Int)]()
            unsigned.reserveCapacity(blockSize)
            for i in 0..<blockSize {
                let s = k % keys.count
                k += 1
                unsigned.append((Transaction(chainId: genesis.chainId, sender: keys[s].publicKey, nonce: nonces[s], fee: 1_000,
                                             body: .transfer(to: keys[(s + 1 + i) % keys.count].publicKey, amount: 1)), s))
                nonces[s] += 1
            }
            let work = unsigned, keys = self.keys
            let signed = LockedSlots<SignedTransaction>(count: work.count)
            DispatchQueue.concurrentPerform(iterations: 8) { c in
                for i in stride(from: c, to: work.count, by: 8) { signed.set(i, work[i].0.signed(by: keys[work[i].1])) }
            }
            let slot = UInt64(b + 1)
            guard let staker = try engine.tipReader.staker(.validator, validator.publicKey),
                  let reveal = identity.reveal(for: staker.randaoCommitment(forEpoch: slot / genesis.ledger.slotsPerEpoch)) else { throw ValidationError("no RANDAO reveal") }
            let block = try engine.produceBlock(slot: slot, key: validator, randaoReveal: reveal, candidates: signed.values.compactMap { $0 },
                                                now: genesis.slotStartMillis(slot) + 10)
            guard block.transactions.count == blockSize else { throw ValidationError("block \(b) holds \(block.transactions.count) transactions") }
            guard case .tipChanged = try engine.importBlock(block, now: now) else { throw ValidationError("block \(b) did not extend the chain") }
            out.append(block)
        }
        return (out, engine)
    }
}

/// Fixed-size storage filled from `concurrentPerform` workers (a lock per write; signing dominates).
final class LockedSlots<T>: @unchecked Sendable {
    private var storage: [T?]
    private let lock = NSLock()
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: T) { lock.lock(); storage[i] = v; lock.unlock() }
    var values: [T?] { lock.lock(); defer { lock.unlock() }; return storage }
}

import ArgumentParser
import Consensus
import Dispatch
import Foundation
import Ledger
import Logging
import P2P
import Primitives
import StateTree
import Storage

/// State sync from a local peer over loopback (Noise transport): keys per second into an empty node, beside the
/// same snapshot built, verified and adopted in-process without the network (the bound state sync can reach).
struct BenchStateSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state-sync", abstract: "State sync rate from a local peer (keys/s) beside a local snapshot build and import.")

    @Option(help: "Funded accounts in the genesis state (the state's size).") var accounts: Int = 200_000
    @Option(help: "Blocks on top of genesis (the snapshot is taken at the tip).") var blocks: Int = 2

    func validate() throws {
        try requireOptions(atLeast: 1, ["--accounts": accounts, "--blocks": blocks])
    }

    func run() async throws {
        print("== state sync (loopback, one peer, Noise) ==")
        let dir = NSTemporaryDirectory() + "sharechain-bench-state-sync-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = try SyncWorkload(accounts: accounts, blockSize: 1_000, blocks: blocks)
        let (_, source) = try setup.buildChain(at: dir + "/source")
        let height = source.tipHeight, hash = source.tipHash, stateRoot = source.tipHeader.stateRoot
        guard let tipBlock = try source.block(hash) else { throw ValidationError("no tip block") }
        let view = try source.store.readView()
        let keys = try view.scan(prefix: [], after: nil, limit: .max).count
        print("    state: \(keys) keys at height \(height)")

        // Baseline: the snapshot built from the source's history, every chunk verified, adopted by an empty node.
        func local(into path: String) throws -> Double {
            let target = try setup.engine(at: path)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let snapshot = try view.stateSnapshot(height: height)
            let tBuild = DispatchTime.now().uptimeNanoseconds
            try StateSnapshot.verify(snapshot.manifest, stateRoot: stateRoot)
            var entries = [KeyValue]()
            for (i, chunk) in snapshot.chunks.enumerated() {
                try StateSnapshot.verify(chunk: chunk.map { ($0.key, $0.value) }, index: i, manifest: snapshot.manifest)
                entries += chunk
            }
            let tVerify = DispatchTime.now().uptimeNanoseconds
            entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
            let tSort = DispatchTime.now().uptimeNanoseconds
            let block = tipBlock
            let receipts = try ChainEngine.decodeReceipts(try view.receipts(hash)!)
            try target.adoptSnapshot(block: block, receipts: receipts, entries: entries)
            let tEnd = DispatchTime.now().uptimeNanoseconds
            let s = Double(tEnd - t0) / 1e9
            func ms(_ a: UInt64, _ b: UInt64) -> String { "\(Int(Double(b - a) / 1e6)) ms" }
            print("    local phases: build \(ms(t0, tBuild)), verify \(ms(tBuild, tVerify)), sort \(ms(tVerify, tSort)), adopt \(ms(tSort, tEnd))")
            guard target.tipHash == hash else { throw ValidationError("local adoption ended elsewhere") }
            try target.store.close()
            return s
        }

        let clock = setup.now
        let served = ChainService(engine: source, clock: { clock })
        let quiet = Logger(label: "bench-state-sync", factory: { _ in SwiftLogNoOpLogHandler() })
        var serverConfig = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        serverConfig.allowPrivateAddresses = true
        let server = P2PService(config: serverConfig, chain: served, logger: quiet)
        func network(into path: String, port: Int) async throws -> Double {
            // The empty node's genesis commit is not part of state sync: made before the clock starts, as in `local`.
            let follower = ChainService(engine: try setup.engine(at: path), clock: { clock })
            var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
            config.bootstrapPeers = [PeerEndpoint(host: "127.0.0.1", port: port)]
            config.stateSync = StateSyncConfig(trustedHeight: height, trustedHash: hash)
            let client = P2PService(config: config, chain: follower, logger: quiet)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                let t0 = DispatchTime.now().uptimeNanoseconds
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                let deadline = ContinuousClock.now + .seconds(600)
                while await follower.status().height < height {
                    guard ContinuousClock.now < deadline else { throw ValidationError("state sync did not finish in 600 s") }
                    try await Task.sleep(for: .milliseconds(5))
                }
                let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                guard try follower.store.current.dumpState().count == keys else { throw ValidationError("the synced state differs in size") }
                return s
            }
        }
        let (l1, n1, n2, l2): (Double, Double, Double, Double) = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort()
            // Alternating, keeping each side's faster run (a shared machine's load varies); the first network run
            // includes the server building its snapshot, the second is served from its cache.
            let l1 = try local(into: dir + "/local-1")
            let n1 = try await network(into: dir + "/net-1", port: port)
            let n2 = try await network(into: dir + "/net-2", port: port)
            let l2 = try local(into: dir + "/local-2")
            return (l1, n1, n2, l2)
        }
        let k = Double(keys)
        report("state sync keys", k / min(n1, n2), baseline: k / min(l1, l2), unit: "keys/s",
               machine: "baseline: local snapshot build, verification and adoption; target ≥ 100 k keys/s")
        print("    network \(String(format: "%.2f", n1)) s (server builds its snapshot) and \(String(format: "%.2f", n2)) s (cached),"
              + " local \(String(format: "%.2f", min(l1, l2))) s, incl. connect, handshake and the final commit")
    }
}

import Consensus
import Foundation
import Ledger
import Node
import Primitives
import RPC
import Testing
import TestSupport

/// `sharechain demo --fast --adversary …` with every strategy at once, as a user runs it: each adversary is a
/// separate worker process with a client of its own. Asserted from the outside over JSON-RPC: every cheating
/// strategy loses stake, the self-dealer loses money without a slash, and the honest workers come out ahead.
@Suite(.serialized, .tags(.system, .multiProcess)) struct DemoAdversaryTests {
    /// The adversaries in the order the demo assigns them development worker keys 3, 4, ….
    static let strategies = ["fabricate", "withhold", "duplicate", "inflate", "self-deal", "late", "reuse"]

    @Test(.timeLimit(.minutes(8))) func everyAdversaryLosesAndHonestWorkPays() async throws {
        let exe = try Paths.sharechain()
        let dir = TempDir("demo-adversaries")
        // Metrics ports: ten workers at base+200…209, the verifier at base+210.
        let (process, base, out) = try startDemo(exe: exe, dir: dir, extra: ["--adversary", Self.strategies.joined(separator: ",")],
                                                 metricsPorts: Array(200...209) + [210])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let client = try RPCChainClient(url: "http://127.0.0.1:\(base + 100)")
        let genesisPath = (dir.path as NSString).appendingPathComponent("genesis.json")
        let started = await eventually(.seconds(60), every: .milliseconds(200)) { FileManager.default.fileExists(atPath: genesisPath) }
        try #require(started, "the demo wrote no genesis")
        let genesis = try GenesisDocument.load(path: genesisPath)
        // The demo summary's figures: stakes and nets against genesis.
        let summary = DevnetSummary(client: client, names: [:], genesis: genesis.allocation)
        let honest = [DevelopmentKeys.worker(0).publicKey, DevelopmentKeys.worker(1).publicKey]
        let adversary = Dictionary(uniqueKeysWithValues: Self.strategies.enumerated().map { ($1, DevelopmentKeys.worker(3 + $0).publicKey) })
        let cheaters = Self.strategies.filter { $0 != "self-deal" }

        func net(_ key: PublicKey) async throws -> Int128 { try #require(try await summary.net(of: key)) }
        func slashed(_ key: PublicKey) async -> Bool {
            guard let s = try? await client.staker(.worker(pool: 0), key)?.stake, let g = summary.initialStakes[key] else { return false }
            return s < g
        }

        // Until every cheating strategy has been slashed and both honest workers are ahead (their payouts exceed the
        // fees they paid first). Generous: the late cheater is caught only after its window's checks.
        var state = ""
        let settled = await eventually(.seconds(420), every: .seconds(2)) {
            var caught = [String]()
            for s in cheaters where await slashed(adversary[s]!) { caught.append(s) }
            var honestNets = [Int128]()
            for k in honest { honestNets.append((try? await net(k)) ?? -1) }
            state = "caught \(caught), honest nets \(honestNets)"
            return caught.count == cheaters.count && honestNets.allSatisfy { $0 > 0 }
        }
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try #require(settled, "\(state)\n\(log.suffix(3000))")

        // Each cheating strategy lost stake and money; the self-dealer lost money (the protocol fee it burned, and its
        // fees) but is not slashed: paying oneself is not fraud, only unprofitable.
        for s in cheaters {
            let n = try await net(adversary[s]!)
            #expect(n < 0, "\(s) net \(n)")
        }
        let selfDealer = adversary["self-deal"]!
        let selfDealerNet = try await net(selfDealer)
        #expect(selfDealerNet < 0, "self-dealer net \(selfDealerNet)")
        // ... having actually dealt with itself: its own escrow charged for the work it claimed (not just failed openings).
        let charged = try await client.escrows(owner: selfDealer).reduce(UInt64(0)) { $0 + $1.1.totalCharged.units }
        #expect(charged > 0, "the self-dealer never paid itself")
        #expect(!(await slashed(selfDealer)), "the self-dealer was slashed")
        for k in honest { #expect(!(await slashed(k)), "an honest worker was slashed") }

        kill(process.processIdentifier, SIGTERM)
        let stopped = await eventually(.seconds(60), every: .milliseconds(200)) { !process.isRunning }
        #expect(stopped, "the demo did not stop")
    }
}

import Consensus
import Foundation
import Ledger
import Node
import P2P
import Primitives
import Testing
import TestSupport

/// Long reliability runs (`make reliability`; skipped unless SHARECHAIN_RELIABILITY is set).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["SHARECHAIN_RELIABILITY"] != nil), .tags(.system, .multiProcess))
struct ReliabilityTests {
    static func env(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? fallback
    }

    /// A validator SIGKILLed at random moments while it imports (50 times by default) resumes every time
    /// and ends on the same chain, hence the same state roots, as its peers.
    @Test func validatorKilledDuringImportResumesOnTheSameChain() async throws {
        let kills = Self.env("RELIABILITY_KILLS", 50)
        let net = try TestNetworkProcesses(genesis: try TestGenesis(), count: 4)
        for i in 0..<4 { try net.add(i, validator: i, peers: (0..<4).filter { $0 != i }) }
        for n in net.nodes { try n.start() }
        defer { net.stopAll() }
        #expect(await eventually(.seconds(60), every: .milliseconds(500)) { ((try? await net.view(0))?.status.height ?? 0) >= 5 })
        var g = SplitMix64(seed: UInt64(Self.env("RELIABILITY_SEED", 7)))
        let victim = net.nodes[3]
        victim.kill9()
        for k in 0..<kills {
            // Down for a while (the others move on), then up and importing, then killed at a random moment.
            try await Task.sleep(for: .milliseconds(Int(g.next() % 2_000)))
            try victim.start()
            try await Task.sleep(for: .milliseconds(200 + Int(g.next() % 2_500)))
            #expect(victim.isRunning, "kill \(k): the node did not come back up after a SIGKILL:\n\(victim.logTail)")
            victim.kill9()
        }
        try victim.start()
        let caughtUp = await eventually(.seconds(90), every: .milliseconds(500)) {
            guard let a = try? await net.view(0), let b = try? await net.view(3) else { return false }
            return b.status.height + 1 >= a.status.height && agree([a, b], through: min(a.status.height, b.status.height))
        }
        #expect(caughtUp, "after \(kills) kills the validator did not rejoin:\n\(victim.logTail)")
        // Equal block hashes imply equal headers, so equal state roots at every common height; and the
        // victim's own import checked each root against its own state.
        let views = await net.views([0, 1, 2, 3])
        let common = views.values.map(\.status.height).min() ?? 0
        #expect(agree(Array(views.values), through: common))
        #expect(!victim.log.contains("invariant violated"))
        print("reliability: \(kills) kills, common height \(common)")
    }

    /// Four validators under transaction load for SOAK_SECONDS (600 by default), every node checking the
    /// ledger invariants after every block; they end on one chain with no fault logged.
    @Test func fourValidatorSoakUnderLoad() async throws {
        let seconds = Self.env("SOAK_SECONDS", 600)
        let net = try TestNetworkProcesses(genesis: try TestGenesis(), count: 4)
        for i in 0..<4 { try net.add(i, validator: i, peers: (0..<4).filter { $0 != i }) }
        net.nodes[0].extraArguments = ["--load", String(Self.env("SOAK_LOAD", 20)), "--check-invariants"]
        for i in 1..<4 { net.nodes[i].extraArguments = ["--check-invariants"] }
        for n in net.nodes { try n.start() }
        defer { net.stopAll() }
        #expect(await eventually(.seconds(60), every: .milliseconds(500)) { ((try? await net.view(0))?.status.height ?? 0) >= 2 })
        let start = try await net.view(0).status.height
        try await Task.sleep(for: .seconds(seconds))
        let views = await net.views([0, 1, 2, 3])
        #expect(views.count == 4, "a node stopped answering")
        let common = views.values.map(\.status.height).min() ?? 0
        #expect(common >= start + UInt64(seconds) / 2, "the chain advanced only from \(start) to \(common) in \(seconds) s")
        #expect(agree(Array(views.values), through: common))
        for n in net.nodes {
            #expect(n.isRunning, "\(n.name) died:\n\(n.logTail)")
            #expect(!n.log.contains("invariant violated") && !n.log.contains("fault"), "\(n.name):\n\(n.logTail)")
        }
        let blocks = try await net.blocks(0, views[0]!.headers.suffix(Int(common - start)).map(\.hash))
        let txs = blocks.reduce(0) { $0 + $1.transactions.count }
        print("soak: \(seconds) s, heights \(start)...\(common), \(txs) transactions")
        #expect(txs > 0)
    }
}

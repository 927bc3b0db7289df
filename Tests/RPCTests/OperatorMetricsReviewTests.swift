import Foundation
import NIOHTTP1
import Testing
@testable import RPC

/// Review H (the operator's experience): what `/metrics` tells an operator about a node that is catching up.
@Suite struct OperatorMetricsReviewTests {
    /// A network view that is catching up with peers ahead of it.
    struct CatchingUp: NetworkInfoProvider {
        func peers() async -> [PeerInfo] {
            [PeerInfo(nodeId: "aa", address: "10.0.0.1:8646", inbound: false, height: 980),
             PeerInfo(nodeId: "bb", address: "10.0.0.2:8646", inbound: true, height: 1_200),
             PeerInfo(nodeId: "cc", address: "10.0.0.3:8646", inbound: true)]
        }
        func isSyncing() async -> Bool { true }
        func outboundQueuedBytes() async -> Int { 3_145_728 }
    }

    static func metrics(_ network: any NetworkInfoProvider) async throws -> String {
        let node = try await GoldenNode(network: network)
        return try await withRunningServer(node.server) { port in
            let r = try await RPCClient(url: "http://127.0.0.1:\(port)/").request(method: .GET, path: "/metrics")
            return String(decoding: r.body, as: UTF8.self)
        }
    }

    /// Finding H3: `/metrics` had the height and the peer count but nothing about syncing (only `/health` said
    /// it), so an operator could neither alert on a node that stays behind nor graph its progress. Now it has
    /// whether the node is syncing and the best height its peers announced.
    @Test func metricsSayWhetherTheNodeIsSyncingAndHowFarItsPeersAre() async throws {
        let syncing = try await Self.metrics(CatchingUp())
        #expect(syncing.contains("\(MetricNames.syncing) 1.0"), "\(syncing)")
        #expect(syncing.contains("\(MetricNames.bestPeerHeight) 1200.0"), "\(syncing)")
        #expect(syncing.contains("\(MetricNames.height) 15.0"), "\(syncing)")
        // What the peers' queues hold, against the shared budget (review F).
        #expect(syncing.contains("\(MetricNames.outboundQueuedBytes) 3145728.0"), "\(syncing)")
        let alone = try await Self.metrics(NoNetworkInfo())
        #expect(alone.contains("\(MetricNames.syncing) 0.0") && alone.contains("\(MetricNames.bestPeerHeight) 0.0"), "\(alone)")
    }
}

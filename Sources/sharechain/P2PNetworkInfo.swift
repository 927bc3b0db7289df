import P2P
import RPC

/// Lets the RPC layer report the P2P layer's peers and sync state (`net_peers`, `node_status`) without RPC
/// depending on P2P.
struct P2PNetworkInfo: NetworkInfoProvider {
    let p2p: P2PService

    init(_ p2p: P2PService) { self.p2p = p2p }

    func peers() async -> [RPC.PeerInfo] {
        p2p.peers().map { p in
            RPC.PeerInfo(nodeId: p.nodeKey.hex, address: p.remoteAddress, inbound: p.direction == .inbound,
                         height: p.status?.height, score: Int(p.score.rounded()), addressGroup: p.addressGroup, banned: p.banned,
                         encryption: p.encryption)
        }
    }

    func isSyncing() async -> Bool { !p2p.isSynced() }

    func outboundQueuedBytes() async -> Int { p2p.outboundQueuedBytes }
}

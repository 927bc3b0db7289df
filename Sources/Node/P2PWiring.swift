import Consensus
import Foundation
import Logging
import P2P
import Primitives
import ServiceLifecycle

/// The node's P2P identity: `<dataDir>/node.key`, created on first start. It signs handshakes only, so it is
/// separate from the validator key (a validator's key never touches the network layer).
public enum NodeIdentity {
    public static func path(dataDir: String) -> String { (dataDir as NSString).appendingPathComponent("node.key") }

    /// Loads the node key, generating and saving one (mode 0600) if there is none.
    public static func loadOrCreate(dataDir: String, hrp: String) throws -> PrivateKey {
        let path = path(dataDir: dataDir)
        if FileManager.default.fileExists(atPath: path) { return try KeyFile.load(path: path).0 }
        let key = PrivateKey.generate()
        try KeyFile(key: key, hrp: hrp, note: "P2P node identity (not a validator key)").write(path: path)
        return key
    }
}

extension NodeRuntime {
    /// The P2P service for this node's configuration: listens on `p2pAddr`, dials `peers`, keeps
    /// `<dataDir>/peers.json`, signs handshakes with `<dataDir>/node.key`.
    public func makeP2PService() throws -> P2PService {
        let (host, port) = try parseHostPort(config.p2pAddr)
        let key: PrivateKey
        do { key = try NodeIdentity.loadOrCreate(dataDir: config.dataDir, hrp: genesis.addressPrefix) } catch {
            throw NodeStartupError("cannot load or create the node key: \(error)")
        }
        var p2p = P2PConfig(listenHost: host, listenPort: port, nodeKey: key)
        do {
            // `host:port`, or `<node key hex>@host:port` to pin the node expected there (checked by the Noise handshake).
            for text in config.peers {
                let (endpoint, key) = try PeerEndpoint.parsingPinned(text)
                p2p.bootstrapPeers.append(endpoint)
                if let key { p2p.pinnedPeerKeys[endpoint] = key }
            }
        } catch {
            throw NodeStartupError("bad --peer: \(error)")
        }
        p2p.peersFile = (config.dataDir as NSString).appendingPathComponent("peers.json")
        p2p.banFile = (config.dataDir as NSString).appendingPathComponent("bans.json")
        p2p.anchorsFile = (config.dataDir as NSString).appendingPathComponent("anchors.json")
        p2p.blockListFile = config.p2pBlockFile
        p2p.allowPrivateAddresses = config.p2pAllowPrivateAddresses ?? false
        if let n = config.p2pMaxInbound { p2p.maxInboundPeers = n }
        if let n = config.p2pMaxOutbound { p2p.maxOutboundPeers = n }
        p2p.syncedWithoutPeers = config.produceWithoutPeers
        p2p.serveSnapshots = config.serveSnapshots
        p2p.corruptSnapshotsForTests = config.testingCorruptSnapshots ? .values : .none
        if config.stateSync {
            var s = StateSyncConfig()
            if let text = config.stateSyncTrustedBlock {
                let parts = text.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let height = UInt64(parts[0]), height > 0, let hash = try? Hash32(hex: String(parts[1])) else {
                    throw NodeStartupError("bad --state-sync-trusted-block '\(text)': expected HEIGHT:HASH (a block height above 0 and its 64-hex hash)")
                }
                s.trustedHeight = height
                s.trustedHash = hash
            }
            if let n = config.stateSyncMinPeers {
                guard n >= 1 else { throw NodeStartupError("--state-sync-min-peers must be at least 1") }
                s.minAgreeingPeers = n
            }
            if let n = config.stateSyncMaxBytes {
                guard n >= 1 << 20 else { throw NodeStartupError("--state-sync-max-bytes must be at least 1048576 (1 MiB)") }
                s.maxStateBytes = n
            }
            p2p.stateSync = s
        }
        return P2PService(config: p2p, chain: chain, logger: logger)
    }

    /// `services(...)` with the block producer waiting for sync and broadcasting through `p2p`, and the P2P
    /// service last (so it stops first, before the producer and the database).
    public func services(p2p: P2PService) -> [any Service] {
        services(isSynced: { p2p.isSynced() }, broadcast: { await p2p.broadcast($0) }) + [p2p]
    }
}

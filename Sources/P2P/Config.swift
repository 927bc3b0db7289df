import Consensus
import Primitives

/// A `host:port` the node dials (a bootstrap peer, a learned address, or one from the peers file).
public struct PeerEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`.
    public init(parsing s: String) throws(P2PConfigError) {
        guard let i = s.lastIndex(of: ":"), let port = Int(s[s.index(after: i)...]), port > 0, port < 65_536 else {
            throw P2PConfigError("'\(s)' is not host:port")
        }
        var host = String(s[..<i])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw P2PConfigError("'\(s)' has no host") }
        self.init(host: host, port: port)
    }

    public init(_ a: WireAddress) { self.init(host: a.host, port: Int(a.port)) }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A configuration the P2P service cannot run with.
public struct P2PConfigError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How a lying snapshot server lies (tests only).
package enum SnapshotCorruption: Sendable, Hashable {
    case none
    /// Every non-empty chunk's first value changed (the manifest is the real one).
    case values
    /// The real header and chunk hashes, with the counts of chunks above two keys lowered by one, and some by two until
    /// the variant wins the tie-break against the real manifest (the manifest still adds up to the `stateRoot`: counts
    /// are not hashed); the data served is the real data.
    case counts
}

/// Everything the P2P service needs; defaults suit a production node on 10-second slots.
public struct P2PConfig: Sendable {
    /// Listen host (`0.0.0.0` for all interfaces) and port (0: any free port, for tests).
    public var listenHost: String
    public var listenPort: Int
    /// The node identity key that signs handshakes (kept in `<dataDir>/node.key`; never a validator key).
    public var nodeKey: PrivateKey
    /// Peers to dial at start and to keep dialing (`--peer host:port`).
    public var bootstrapPeers: [PeerEndpoint] = []
    /// Node keys expected at dialled addresses (`--peer <node key hex>@host:port`): the Noise handshake fails
    /// with an identity mismatch if another node answers there.
    public var pinnedPeerKeys: [PeerEndpoint: PublicKey] = [:]
    /// Where learned and working peer addresses are kept between runs (nil: not kept).
    public var peersFile: String?
    /// A file listing node keys (64 hex) or listen addresses (`host:port`), one a line, that the node refuses
    /// and disconnects; re-read while running. An operator's switch (and the tests' partition tool).
    public var blockListFile: String?
    /// Accept and announce loopback and private addresses in peer exchange (devnets on one machine).
    public var allowPrivateAddresses = false

    public var maxInboundPeers = 32
    public var maxOutboundPeers = 8
    /// Bytes queued for all peers together (each peer's own queue is capped at 20 frames, at least 64 MiB). Past it, a
    /// peer holding more than its share (this over `maxInboundPeers + maxOutboundPeers`) is disconnected as a slow
    /// consumer at its next send (Specs/p2p.md §5).
    public var maxTotalQueuedBytes = 512 << 20
    /// Inbound connections accepted from one IP address, and from one address group (/24, /48 for IPv6).
    public var maxInboundPerIP = 4
    public var maxInboundPerGroup = 8
    /// Loopback peers are exempt from the per-address limits and from outbound group diversity (every devnet
    /// node shares 127.0.0.1), as they are from address bans. Tests of the limits turn it off.
    public var exemptLoopbackFromAddressLimits = true

    /// Where bans and misbehaviour scores are kept between runs (`<dataDir>/bans.json`; nil: not kept).
    public var banFile: String?
    /// Where the outbound peers connected at shutdown are kept, to be dialled first at the next start
    /// (`<dataDir>/anchors.json`; nil: no anchors).
    public var anchorsFile: String?

    /// Handshake must complete within this.
    public var handshakeTimeout: Duration = .seconds(5)
    /// A started frame must complete within this (plus its size at 64 KiB/s).
    public var frameStallTimeout: Duration = .seconds(10)
    /// Interval between pings; a peer silent for `idleTimeout` is dropped.
    public var pingInterval: Duration = .seconds(5)
    public var idleTimeout: Duration = .seconds(30)
    /// How long a headers or blocks request may take before it goes to another peer.
    public var requestTimeout: Duration = .seconds(10)
    /// The queue's next block not delivered within this (by anyone: its request goes to another peer at each
    /// `requestTimeout`) drops the queue and discredits the peer whose headers it came from (Specs/p2p.md §6).
    public var queueStallLimit: Duration { requestTimeout * 4 }

    /// Blocks requested from one peer and not yet received.
    public var maxBlocksInFlightPerPeer = 16
    /// Sync progress log interval.
    public var progressInterval: Duration = .seconds(2)
    /// With bootstrap peers but none reachable, the node considers itself synced after this (so a network
    /// can restart from one validator); until then it does not produce.
    public var soloGrace: Duration = .seconds(30)
    /// Whether the node counts itself synced with no peer vouching for its height (alone, or after `soloGrace` with
    /// none reachable). `false` (node option `produceWithoutPeers`): synced only at the height of a peer that answers,
    /// so a validator cut off from every peer neither produces nor votes.
    public var syncedWithoutPeers = true

    /// Misbehaviour points at which a peer is banned, and for how long.
    public var banThreshold = 100
    public var banDuration: Duration = .seconds(600)
    /// Unsolicited messages per second a peer may send (token bucket), and the burst.
    public var messagesPerSecond = 200.0
    public var messageBurst = 400.0

    /// How often the node asks a peer for more addresses (while below its outbound limit); each peer's
    /// `getPeers` is answered at most once per half of this.
    public var peerExchangeInterval: Duration = .seconds(60)

    /// Reconnect backoff: doubles from `reconnectMin` up to `reconnectMax` after each failed attempt.
    public var reconnectMin: Duration = .milliseconds(500)
    public var reconnectMax: Duration = .seconds(30)

    /// Serve state snapshots of retained finalized heights to peers that state-sync (Specs/p2p.md §7).
    public var serveSnapshots = true
    /// Start from a snapshot instead of genesis when the data directory holds genesis alone (`--state-sync`).
    public var stateSync: StateSyncConfig?
    /// Tests only: serve lying snapshots (for the ban tests). Never set by an operator.
    package var corruptSnapshotsForTests: SnapshotCorruption = .none

    /// Benchmarks only (`sharechain-bench sync` measures the cost of encryption against it): no Noise, frames
    /// in plaintext as in protocol v1. Not reachable from outside the package; a node never sets it.
    package var plaintextTransportForBenchmarks = false

    /// Software name sent in the handshake.
    public var userAgent = "sharechain/0.1"

    public init(listenHost: String, listenPort: Int, nodeKey: PrivateKey) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.nodeKey = nodeKey
    }
}

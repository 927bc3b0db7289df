import Consensus
import Foundation
import Ledger
import Primitives
import Storage
import Synchronization

/// Configuration of the RPC server (Specs/rpc.md, "Limits" and "Transport").
public struct RPCConfiguration: Sendable {
    /// Listen host; loopback unless the operator says otherwise (`--rpc-addr`).
    public var host: String = "127.0.0.1"
    /// Listen port; 0 picks a free one (tests).
    public var port: Int = 8645
    /// Origins allowed to call from a browser (CORS); empty: no CORS headers, browsers refuse cross-origin calls.
    /// `"*"` allows every origin.
    public var corsOrigins: [String] = []
    /// Names a request's `Host` may carry besides `localhost` and IP literals (any port), checked when the server
    /// listens on loopback or this list is not empty; `"*"` turns the check off. A page whose own domain is
    /// re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with the node for the browser, so CORS and the
    /// WebSocket origin check cannot stop it; the `Host` it sends still names the attacker's domain.
    public var allowedHosts: [String] = []
    /// Largest request body (HTTP) or message (WebSocket).
    public var maxBodyBytes: Int = 2 * 1024 * 1024
    /// Largest batch.
    public var maxBatch: Int = 100
    /// A batch's answer stops executing calls once it is this large (each call is bounded on its own).
    public var maxResponseBytes: Int = 32 * 1024 * 1024
    /// Concurrent connections (HTTP and WebSocket); further ones wait in the accept backlog.
    public var maxConnections: Int = 512
    /// Concurrent connections (HTTP and WebSocket) from one remote host: an IPv4 address or an IPv6 /64, loopback
    /// included. Further ones are closed as soon as they are accepted, so that no single host can hold every one of the
    /// `maxConnections` slots (eleventh review B3). In `1...maxConnections`: the node refuses other values at startup.
    public var maxConnectionsPerHost: Int = RPCConfiguration.defaultMaxConnectionsPerHost

    /// The default per-host connection limit.
    public static let defaultMaxConnectionsPerHost = 64
    /// Requests (an HTTP body or a WebSocket message, a whole batch) handled at once across all connections;
    /// further ones wait their turn in arrival order. One fewer than the cores (at least one), so clients cannot
    /// occupy every thread the node's own tasks (block production, imports) run on.
    public var maxConcurrentRequests: Int = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
    /// Requests waiting for their turn across all connections; past it a request is refused at once (HTTP 503 with
    /// a `-32002` error, `data.limit` "waiting requests"). Each waiting request holds its body (up to
    /// `maxBodyBytes`), and closed HTTP connections no longer count against `maxConnections`, so without this bound a
    /// client connecting, sending and hanging up in a loop could queue work and memory without end.
    public var maxWaitingRequests: Int = 128
    /// Idle HTTP keep-alive connections are closed after this many seconds, and so is any connection that sends
    /// nothing for as long (before its first request too).
    public var idleTimeoutSeconds: Int64 = 60
    /// A connection whose first request head has not arrived within this many seconds is closed (silent and
    /// slow-header connections would otherwise hold connection slots).
    public var firstRequestTimeoutSeconds: Int64 = 10
    /// The most bytes a connection may send before its first request head ends.
    public var maxRequestHeadBytes: Int = 64 << 10
    /// Subscriptions one WebSocket connection may hold.
    public var maxSubscriptionsPerConnection: Int = 32
    /// Messages queued for one WebSocket connection; a consumer that falls this far behind is disconnected.
    public var webSocketQueueMessages: Int = 256
    /// Most bytes of answers and notifications queued for one WebSocket connection (past it the client is a slow
    /// consumer); one message of any size fits in an empty queue.
    public var webSocketQueueBytes: Int = 64 * 1024 * 1024
    /// Most bytes queued for all WebSocket connections together: 512 clients that stop reading could otherwise make
    /// the node hold 512 × `webSocketQueueBytes` (32 GiB). Past it, a connection with a message already waiting is a
    /// slow consumer; a connection with nothing waiting still gets one message.
    public var webSocketTotalQueueBytes: Int = 1024 * 1024 * 1024
    /// Most bytes handed to all connections together (HTTP answers, WebSocket frames) that their sockets have not
    /// taken yet: clients that ask for large answers and never read could otherwise make the node hold
    /// `maxConnections` × `maxResponseBytes` (16 GiB). Past it, a connection that would add bytes is closed, unless it
    /// has nothing of earlier writes waiting and the total was within the budget (Specs/rpc.md §8, `UnsentBytesBudget`).
    public var totalUnsentBytes: Int = 512 * 1024 * 1024
    /// The node's version string (`node_version`).
    public var nodeVersion: String = RPCConfiguration.defaultNodeVersion

    /// The version this build reports.
    public static let defaultNodeVersion = "sharechain/0.1.0"

    /// The defaults above.
    public init() {}

    /// Whether the server listens on a loopback address (then only local programs and browsers reach it).
    public var listensOnLoopback: Bool { Self.isLoopbackName(host.lowercased()) }

    static func isLoopbackName(_ h: String) -> Bool {
        h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" || (h.hasPrefix("127.") && isIPv4(h))
    }

    static func isDigit(_ c: Character) -> Bool { c >= "0" && c <= "9" }

    static func isIPv4(_ h: String) -> Bool {
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { $0.count >= 1 && $0.count <= 3 && $0.allSatisfy(Self.isDigit) && Int($0).map { $0 <= 255 } == true }
    }

    /// The host part of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower case, without a final
    /// dot; nil when it is not of that form.
    static func hostName(ofAuthority authority: String) -> String? {
        let a = authority.lowercased()
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else { return nil }
            let rest = a[a.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(Self.isDigit)) else { return nil }
            let inner = a[a.index(after: a.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            return String(inner)
        }
        var name = Substring(a)
        if let colon = a.lastIndex(of: ":") {
            guard a[a.index(after: colon)...].allSatisfy(Self.isDigit), !a[..<colon].contains(":") else { return nil }
            name = a[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        return name.isEmpty ? nil : String(name)
    }

    /// Whether a request naming `authority` in its `Host` may be served (`allowedHosts`). Requests without a `Host`
    /// are served: browsers always send one, so they come from programs that DNS rebinding cannot drive.
    public func acceptsHost(_ authority: String?) -> Bool {
        guard let authority else { return true }
        let listed = allowedHosts.map { $0.lowercased() }
        if listed.contains("*") || (listed.isEmpty && !listensOnLoopback) { return true }
        guard let name = Self.hostName(ofAuthority: authority) else { return false }
        // An IP literal involves no name lookup, so no rebinding: whoever sends it reaches this address on purpose.
        if name == "localhost" || Self.isIPv4(name) || name.contains(":") { return true }
        return listed.contains(name)
    }

    /// Parses `host:port` (IPv6 hosts in brackets).
    public static func parseAddress(_ s: String) throws(RPCConfigurationError) -> (host: String, port: Int) {
        guard let i = s.lastIndex(of: ":"), let port = Int(s[s.index(after: i)...]), port >= 0, port < 65_536 else {
            throw RPCConfigurationError("'\(s)' is not host:port")
        }
        var host = String(s[..<i])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }
}

/// A configuration the server cannot use.
public struct RPCConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    /// An error with a message.
    public init(_ d: String) { description = d }
}

/// A connected peer, as `net_peers` reports it.
public struct PeerInfo: Sendable, Equatable {
    /// The peer's node key (hex).
    public var nodeId: String
    /// Remote `host:port`.
    public var address: String
    /// Whether the peer connected to us.
    public var inbound: Bool
    /// Best height the peer announced, when known.
    public var height: UInt64?
    /// Misbehaviour score (higher is worse), when tracked.
    public var score: Int?
    /// The remote address's group (`a.b.c.0/24`, or an IPv6 /48), when known.
    public var addressGroup: String?
    /// Whether the peer's node key or address is banned (it is being disconnected).
    public var banned: Bool
    /// The session's transport protocol (`Noise_XX_25519_ChaChaPoly_SHA256`), when known.
    public var encryption: String?

    /// A peer.
    public init(nodeId: String, address: String, inbound: Bool, height: UInt64? = nil, score: Int? = nil,
                addressGroup: String? = nil, banned: Bool = false, encryption: String? = nil) {
        self.nodeId = nodeId; self.address = address; self.inbound = inbound; self.height = height; self.score = score
        self.addressGroup = addressGroup; self.banned = banned; self.encryption = encryption
    }
}

/// What the RPC layer needs to know about the network, provided by the node (the P2P module is not a
/// dependency of RPC). The default reports no peers and a synced node.
public protocol NetworkInfoProvider: Sendable {
    func peers() async -> [PeerInfo]
    /// Whether the node is still catching up with its peers.
    func isSyncing() async -> Bool
    /// Bytes queued for peers and not yet written (all peers together; Specs/p2p.md §5).
    func outboundQueuedBytes() async -> Int
}

extension NetworkInfoProvider {
    /// None, for a view without per-peer queues.
    public func outboundQueuedBytes() async -> Int { 0 }
}

/// A node without networking: no peers, synced.
public struct NoNetworkInfo: NetworkInfoProvider {
    /// No network.
    public init() {}
    /// None.
    public func peers() async -> [PeerInfo] { [] }
    /// Never: a node without peers is as synced as it can be.
    public func isSyncing() async -> Bool { false }
}

/// Everything handlers use: the chain, the network view, configuration, rendering and metrics.
final class RPCNode: Sendable {
    let chain: ChainService
    let network: any NetworkInfoProvider
    let config: RPCConfiguration
    let render: Render
    let metrics: RPCMetrics
    let blocks = BlockCache()

    init(chain: ChainService, network: any NetworkInfoProvider, config: RPCConfiguration, metrics: RPCMetrics) {
        self.chain = chain
        self.network = network
        self.config = config
        self.render = Render(hrp: chain.genesis.addressPrefix)
        self.metrics = metrics
    }

    var hrp: String { render.hrp }
    var genesis: Genesis { chain.genesis }

    /// A consistent snapshot for one request.
    func view() throws -> ReadView { try chain.readView() }

    /// The latest committed data without a snapshot: for requests whose reads cannot disagree (a tip height;
    /// a block, which is immutable once stored under its hash). Cheaper than a snapshot on hot paths.
    var latest: ReadView { chain.store.current }
}

/// Rendered blocks (`chain_getBlockBy*` results), by block hash, form and the two flags that can change
/// (`canonical`, `finalized`). A stored block never changes under its hash, so an entry stays valid for its
/// key. Bounded by entries and bytes (oldest out first).
final class BlockCache: Sendable {
    struct Key: Hashable {
        let hash: Hash32
        let full: Bool
        let canonical: Bool
        let finalized: Bool
    }
    struct State {
        var entries: [Key: [UInt8]] = [:]
        var order: [Key] = []
        var bytes = 0
    }
    private let state = Mutex(State())
    let maxEntries = 512
    let maxBytes = 64 * 1024 * 1024

    func get(_ key: Key) -> [UInt8]? { state.withLock { $0.entries[key] } }

    func put(_ key: Key, _ encoded: [UInt8]) {
        guard encoded.count <= maxBytes / 4 else { return }
        state.withLock { s in
            guard s.entries[key] == nil else { return }
            s.entries[key] = encoded
            s.order.append(key)
            s.bytes += encoded.count
            while s.order.count > maxEntries || s.bytes > maxBytes, !s.order.isEmpty {
                let old = s.order.removeFirst()
                if let gone = s.entries.removeValue(forKey: old) { s.bytes -= gone.count }
            }
        }
    }
}

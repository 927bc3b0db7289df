import Consensus
import NIOCore
import Primitives
import Synchronization

/// A set that remembers at most `capacity` recent elements (the oldest are forgotten first).
struct BoundedSet<T: Hashable>: Sendable where T: Sendable {
    private var members: Set<T> = []
    private var order: [T] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func contains(_ x: T) -> Bool { members.contains(x) }

    /// Forgets `x` (its ring slot stays until overwritten, which at worst forgets a re-inserted `x` early).
    @discardableResult
    mutating func remove(_ x: T) -> Bool { members.remove(x) != nil }

    /// Inserts `x`; returns whether it was new.
    @discardableResult
    mutating func insert(_ x: T) -> Bool {
        guard members.insert(x).inserted else { return false }
        if order.count < capacity {
            order.append(x)
        } else {
            members.remove(order[head])
            order[head] = x
            head = (head + 1) % capacity
        }
        return true
    }
}

/// A token bucket: `rate` tokens per second up to `burst`.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(rate: Double, burst: Double, now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        last = now
    }

    mutating func take(now: ContinuousClock.Instant) -> Bool {
        let elapsed = now - last
        last = now
        tokens = min(burst, tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

extension Duration {
    /// Seconds as a Double (for rates and logs).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Which side opened a connection.
public enum PeerDirection: String, Sendable, Hashable {
    case inbound, outbound
}

/// A snapshot of one connected peer, for callers (status pages, tests).
public struct PeerInfo: Sendable, Hashable {
    public let nodeKey: PublicKey
    public let direction: PeerDirection
    /// The remote socket's address.
    public let remoteAddress: String
    /// Where the peer accepts connections (the dialed address, or the remote IP and its announced port).
    public let listenAddress: PeerEndpoint?
    public let userAgent: String
    public let status: PeerStatus?
    /// Smoothed ping round trip.
    public let latency: Duration?
    /// The remote address's group (/24, /48 for IPv6), the unit of the inbound limits and outbound diversity.
    public internal(set) var addressGroup = ""
    /// The peer's misbehaviour score (its node key's; its address's when higher), after decay.
    public internal(set) var score = 0.0
    /// Whether its node key or address is banned (a banned peer is being disconnected).
    public internal(set) var banned = false
    /// The session's transport protocol: always encrypted and authenticated in protocol version 2.
    public internal(set) var encryption = "Noise_XX_25519_ChaChaPoly_SHA256"
}

/// An established, authenticated session with a peer. Messages to it go through a bounded outbox drained
/// by the session's writer task; a peer that reads too slowly is disconnected rather than buffered for.
final class Peer: Sendable {
    struct State: Sendable {
        var status: PeerStatus?
        var knownBlocks = BoundedSet<Hash32>(capacity: 4096)
        var knownTxs = BoundedSet<Hash32>(capacity: 32_768)
        /// Blocks we asked this peer for and have not received.
        var requestedBlocks: Set<Hash32> = []
        var headersRequested = false
        var pingNonce: UInt64?
        var pingSentAt: ContinuousClock.Instant?
        var latency: Duration?
        var lastReceived: ContinuousClock.Instant
        var bucket: TokenBucket
        var queuedBytes = 0
        var closed = false
        /// When we asked for its peer list (an unasked `peers` message is unsolicited).
        var lastPeersRequest: ContinuousClock.Instant?
        /// When we last answered its `getPeers` (answered at most once a minute).
        var lastPeersRequestAnswered: ContinuousClock.Instant?
        /// A height this peer claimed but could not back with headers: ignored until it claims another.
        var discreditedHeight: UInt64?
        /// Headers requests that timed out since this peer last answered one. While non-zero its claimed heights do
        /// not hold the node back from "synced" (a peer that claims to be ahead and never answers would otherwise
        /// stop block production for as long as it stays connected).
        var unansweredHeaderRequests = 0
    }

    let id: UInt64
    let nodeKey: PublicKey
    let direction: PeerDirection
    let remoteHost: String
    let remoteAddress: String
    let listenEndpoint: PeerEndpoint?
    let userAgent: String
    let connectedAt: ContinuousClock.Instant
    private let outbox: AsyncStream<ByteBuffer>.Continuation
    private let maxQueuedBytes: Int
    let state: Mutex<State>

    init(id: UInt64, nodeKey: PublicKey, direction: PeerDirection, remoteHost: String, remoteAddress: String,
         listenEndpoint: PeerEndpoint?, userAgent: String, outbox: AsyncStream<ByteBuffer>.Continuation, maxQueuedBytes: Int,
         bucket: TokenBucket) {
        self.id = id
        self.nodeKey = nodeKey
        self.direction = direction
        self.remoteHost = remoteHost
        self.remoteAddress = remoteAddress
        self.listenEndpoint = listenEndpoint
        self.userAgent = userAgent
        self.outbox = outbox
        self.maxQueuedBytes = maxQueuedBytes
        let now = ContinuousClock.now
        connectedAt = now
        state = Mutex(State(lastReceived: now, bucket: bucket))
    }

    /// Short form for logs.
    var label: String { "\(nodeKey.hex.prefix(12))@\(remoteAddress)" }

    var info: PeerInfo {
        state.withLock { s in
            PeerInfo(nodeKey: nodeKey, direction: direction, remoteAddress: remoteAddress, listenAddress: listenEndpoint,
                     userAgent: userAgent, status: s.status, latency: s.latency)
        }
    }

    var status: PeerStatus? { state.withLock { $0.status } }
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Queues a message. Returns false when the peer is closed or was just disconnected for reading too slowly.
    @discardableResult
    func send(_ message: P2PMessage) -> Bool { send(frame: ByteBuffer(bytes: message.frame)) }

    /// Queues an already framed message (relays encode once for every peer).
    @discardableResult
    func send(frame: ByteBuffer) -> Bool {
        let n = frame.readableBytes
        let ok = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.queuedBytes += n
            return s.queuedBytes <= maxQueuedBytes
        }
        guard ok else {
            if !isClosed { disconnect(.slowConsumer, "outbound queue over \(maxQueuedBytes) bytes") }
            return false
        }
        if case .dropped = outbox.yield(frame) {
            disconnect(.slowConsumer, "outbound queue full")
            return false
        }
        return true
    }

    /// Called by the writer after a frame went out.
    func didWrite(_ bytes: Int) { state.withLock { $0.queuedBytes -= bytes } }

    /// Sends a disconnect message and ends the outbox: the writer flushes what is queued, then closes the
    /// channel, which ends the session.
    func disconnect(_ reason: DisconnectReason, _ message: String = "") {
        let first = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.closed = true
            return true
        }
        guard first else { return }
        _ = outbox.yield(ByteBuffer(bytes: P2PMessage.disconnect(reason, truncatedUTF8(message, max: P2PLimits.maxReasonBytes)).frame))
        outbox.finish()
    }

    /// Ends the outbox without a message (the connection is already gone).
    func closeOutbox() {
        state.withLock { $0.closed = true }
        outbox.finish()
    }

    /// Records that the peer has (or was sent) a block; returns whether that is news.
    @discardableResult
    func markKnown(block hash: Hash32) -> Bool { state.withLock { $0.knownBlocks.insert(hash) } }

    @discardableResult
    func markKnown(tx id: Hash32) -> Bool { state.withLock { $0.knownTxs.insert(id) } }

    /// Takes the requested mark of a block; false if we never asked this peer for it (unsolicited).
    func takeRequested(_ hash: Hash32) -> Bool { state.withLock { $0.requestedBlocks.remove(hash) != nil } }
}

/// `s` cut at a character boundary so its UTF-8 fits in `max` bytes.
func truncatedUTF8(_ s: String, max: Int) -> String {
    guard s.utf8.count > max else { return s }
    var out = ""
    for c in s {
        if out.utf8.count + c.utf8.count > max { break }
        out.append(c)
    }
    return out
}

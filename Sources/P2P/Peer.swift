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
        /// When this peer last delivered a block we did not have and imported (protects it from inbound eviction).
        var lastNewBlock: ContinuousClock.Instant?
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
    /// The bytes queued for every peer together; nil: no shared limit (tests of one peer).
    private let budget: OutboundBudget?
    let state: Mutex<State>

    init(id: UInt64, nodeKey: PublicKey, direction: PeerDirection, remoteHost: String, remoteAddress: String,
         listenEndpoint: PeerEndpoint?, userAgent: String, outbox: AsyncStream<ByteBuffer>.Continuation, maxQueuedBytes: Int,
         budget: OutboundBudget? = nil, bucket: TokenBucket) {
        self.budget = budget
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
        enum Admission { case queued, closed, overOwnLimit, overSharedBudget(OutboundBudget) }
        let admission = state.withLock { s -> Admission in
            guard !s.closed else { return .closed }
            let mine = s.queuedBytes + n
            guard mine <= maxQueuedBytes else { return .overOwnLimit }
            if let budget, !budget.admit(n, queuedAfter: mine) { return .overSharedBudget(budget) }
            s.queuedBytes = mine
            return .queued
        }
        switch admission {
        case .queued: break
        case .closed: return false
        case .overOwnLimit:
            disconnect(.slowConsumer, "outbound queue over \(maxQueuedBytes) bytes")
            return false
        case .overSharedBudget(let budget):
            disconnect(.slowConsumer, "outbound queues of all peers over \(budget.limit) bytes and this peer's over its share \(budget.fairShare)")
            return false
        }
        if case .dropped = outbox.yield(frame) {
            disconnect(.slowConsumer, "outbound queue full")
            return false
        }
        return true
    }

    /// Called by the writer after a frame went out.
    func didWrite(_ bytes: Int) {
        state.withLock { $0.queuedBytes -= bytes }
        budget?.release(bytes)
    }

    /// Called when the session has ended: frames still queued will never be written, so they leave the shared budget.
    func releaseQueued() {
        let left = state.withLock { s -> Int in
            defer { s.queuedBytes = 0 }
            return s.queuedBytes
        }
        budget?.release(left)
    }

    /// Sends a disconnect message and ends the outbox: the writer flushes what is queued, then closes the
    /// channel, which ends the session.
    func disconnect(_ reason: DisconnectReason, _ message: String = "") {
        let frame = ByteBuffer(bytes: P2PMessage.disconnect(reason, truncatedUTF8(message, max: P2PLimits.maxReasonBytes)).frame)
        let first = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.closed = true
            // Counted like any frame (the writer's `didWrite` subtracts it), but past every limit: it is the last one.
            s.queuedBytes += frame.readableBytes
            return true
        }
        guard first else { return }
        budget?.add(frame.readableBytes)
        if case .dropped = outbox.yield(frame) { didWrite(frame.readableBytes) }
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

/// The bytes queued for all peers together (`P2PConfig.maxTotalQueuedBytes`, Specs/p2p.md §5). Each peer's own
/// queue is capped, but peers that never read could together hold that cap times the peer count (gigabytes). Past
/// `limit`, a send to a peer whose queue would exceed its fair share (`limit` over the most peers the node keeps)
/// disconnects that peer: peers that read keep short queues and are never cut for others' backlog, and the total
/// stays under twice `limit` (every peer at most its fair share once the limit is passed).
final class OutboundBudget: Sendable {
    let limit: Int
    let fairShare: Int
    private let queued = Atomic<Int>(0)

    init(limit: Int, peers: Int) {
        self.limit = limit
        fairShare = limit / max(1, peers)
    }

    /// Bytes queued for every peer now.
    var total: Int { queued.load(ordering: .relaxed) }

    /// Counts `n` more bytes for a peer whose queue would then hold `queuedAfter`; false (nothing counted) when the
    /// total is past the limit and that queue would be over its fair share.
    func admit(_ n: Int, queuedAfter: Int) -> Bool {
        let after = queued.add(n, ordering: .relaxed).newValue
        if after > limit && queuedAfter > fairShare {
            queued.subtract(n, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Counts `n` bytes whatever the limit (a disconnect message).
    func add(_ n: Int) { queued.add(n, ordering: .relaxed) }

    func release(_ n: Int) { if n > 0 { queued.subtract(n, ordering: .relaxed) } }
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

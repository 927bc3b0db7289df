import Foundation
import Primitives
import Synchronization

/// Kinds of misbehaviour and their points (Specs/p2p.md section 7). At `P2PConfig.banThreshold` (100) the
/// peer's node key, and its IP unless it is loopback, are banned for `banDuration`.
public enum Misbehaviour: Sendable, Hashable, CustomStringConvertible {
    /// A frame that does not decode, has an unknown type, or breaks the frame cap.
    case malformedMessage
    /// A started frame not completed in time (slow-loris).
    case stalledFrame
    /// A failed handshake signature or an invalid node key.
    case badHandshake
    /// A message out of order (before the handshake, a second hello, ...).
    case protocolViolation
    /// A block that failed validation (or descends from one).
    case invalidBlock
    /// Headers that do not link, are for another chain, or carry bad signatures.
    case invalidHeaders
    /// A response nobody asked for.
    case unsolicited
    /// Messages beyond the per-peer rate.
    case rateLimited
    /// A transaction with a bad signature or for another chain.
    case invalidTransaction
    /// A request not answered in time.
    case requestTimeout
    /// A claimed chain height the peer could not back with headers.
    case falseStatus
    /// A state snapshot offer or part that does not verify against its header (state sync).
    case invalidSnapshot
    /// A Noise handshake message that fails authentication, has the wrong size or a low-order key: what an on-path
    /// attacker altering an honest node's bytes causes, so scored low (a bound on repeated failures, not a ban for one).
    case unauthenticatedHandshake

    public var points: Int {
        switch self {
        case .malformedMessage, .badHandshake, .protocolViolation, .invalidBlock, .invalidSnapshot: 100
        case .stalledFrame, .invalidHeaders: 50
        case .falseStatus: 20
        case .unsolicited, .invalidTransaction: 10
        case .rateLimited, .unauthenticatedHandshake: 5
        case .requestTimeout: 2
        }
    }

    public var description: String {
        switch self {
        case .malformedMessage: "malformed message"
        case .stalledFrame: "stalled frame"
        case .badHandshake: "bad handshake"
        case .protocolViolation: "protocol violation"
        case .invalidBlock: "invalid block"
        case .invalidHeaders: "invalid headers"
        case .unsolicited: "unsolicited response"
        case .rateLimited: "rate limit exceeded"
        case .invalidTransaction: "invalid transaction"
        case .requestTimeout: "request timeout"
        case .falseStatus: "false chain status"
        case .invalidSnapshot: "invalid state snapshot"
        case .unauthenticatedHandshake: "handshake message failed authentication"
        }
    }
}

/// Who a score or ban applies to.
enum BanKey: Hashable, Sendable {
    case node(PublicKey)
    case host(String)

    /// The key that scores and bans a remote address: the address itself for IPv4 (and IPv4-mapped, and loopback), the
    /// /64 prefix for other IPv6 addresses (`2001:db8:0:1::/64`). A /64 is what one IPv6 host gets: banning the exact
    /// address let an attacker escape every ban by moving to the next of its 2⁶⁴ (ninth review F6).
    static func address(_ host: String) -> BanKey {
        var v6 = in6_addr()
        guard !isLoopbackHost(host), inet_pton(AF_INET6, host, &v6) == 1 else { return .host(host) }
        let b = withUnsafeBytes(of: &v6) { Array($0) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return .host(host) }
        let hextets = (0..<4).map { String(UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]), radix: 16) }
        return .host(hextets.joined(separator: ":") + "::/64")
    }
}

/// Whether a host string is a loopback address (never banned by IP: that would cut every local node).
func isLoopbackHost(_ host: String) -> Bool {
    host.hasPrefix("127.") || host == "::1" || host == "localhost" || host.hasPrefix("::ffff:127.")
}

/// The node's sessions, connection counts, misbehaviour scores, bans and operator blocks, behind one lock.
final class PeerTable: Sendable {
    enum Registration: Sendable {
        case accepted
        case rejected(DisconnectReason, String)
    }

    struct Score: Sendable {
        var points: Double
        var at: ContinuousClock.Instant
    }

    struct State: Sendable {
        var peers: [UInt64: Peer] = [:]
        var byKey: [PublicKey: UInt64] = [:]
        var inbound = 0
        var outbound = 0
        var scores: [BanKey: Score] = [:]
        var bans: [BanKey: ContinuousClock.Instant] = [:]
        var blockedKeys: Set<PublicKey> = []
        var blockedEndpoints: Set<String> = []
        var nextId: UInt64 = 1
        /// Inbound connections (handshake included) per remote IP and per address group.
        var inboundByHost: [String: Int] = [:]
        var inboundByGroup: [String: Int] = [:]
        /// Outbound connections (dial included) per address group.
        var outboundByGroup: [String: Int] = [:]
        /// Set when bans or scores changed since the ban file was last written.
        var bansDirty = false
    }

    let ourKey: PublicKey
    let maxInbound: Int
    let maxOutbound: Int
    let banThreshold: Double
    let banDuration: Duration
    /// Points forgiven per second.
    let decayPerSecond = 0.1
    let state = Mutex(State())

    init(ourKey: PublicKey, maxInbound: Int, maxOutbound: Int, banThreshold: Int, banDuration: Duration) {
        self.ourKey = ourKey
        self.maxInbound = maxInbound
        self.maxOutbound = maxOutbound
        self.banThreshold = Double(banThreshold)
        self.banDuration = banDuration
    }

    func nextId() -> UInt64 { state.withLock { s in defer { s.nextId += 1 }; return s.nextId } }

    // MARK: Connection slots (held from accept/dial until the session ends, handshake included)

    func reserveInbound() -> Bool {
        state.withLock { s in
            guard s.inbound < maxInbound else { return false }
            s.inbound += 1
            return true
        }
    }

    func releaseInbound() { state.withLock { $0.inbound -= 1 } }

    /// Takes an inbound slot past the limit, for a connection that evicted an established one (whose session
    /// releases its slot when it ends).
    func reserveInboundEvicting() { state.withLock { $0.inbound += 1 } }

    /// The established inbound peer a new inbound connection may replace when every inbound slot is taken
    /// (Specs/p2p.md §5), or nil when every one is protected. Without eviction, whoever fills the slots first (a
    /// few address groups' worth of idle connections) keeps every newcomer out for as long as it likes. Protected,
    /// in this order, from the peers not yet protected: the `protectLowLatency` with the lowest measured latency, the
    /// `protectRecentBlocks` that most recently delivered a new block, then the older half by connection time. Of
    /// the rest, the youngest connection of the address group with the most of them goes: an attacker holding many
    /// slots mostly evicts itself, and peers that serve the node are kept.
    static func evictionCandidate(among inbound: [EvictionCandidate], protectLowLatency: Int = 4,
                                  protectRecentBlocks: Int = 4) -> UInt64? {
        var left = inbound
        func protect(_ n: Int, by better: (EvictionCandidate, EvictionCandidate) -> Bool, where eligible: (EvictionCandidate) -> Bool) {
            let kept = Set(left.filter(eligible).sorted(by: better).prefix(n).map(\.id))
            left.removeAll { kept.contains($0.id) }
        }
        protect(protectLowLatency, by: { ($0.latency!, $0.id) < ($1.latency!, $1.id) }, where: { $0.latency != nil })
        protect(protectRecentBlocks, by: { ($0.lastNewBlock!, $0.id) > ($1.lastNewBlock!, $1.id) }, where: { $0.lastNewBlock != nil })
        protect(left.count / 2, by: { ($0.connectedAt, $0.id) < ($1.connectedAt, $1.id) }, where: { _ in true })
        guard !left.isEmpty else { return nil }
        let groups = Dictionary(grouping: left, by: \.group)
        // The largest group; of equal ones, the one holding the youngest connection. Then its youngest.
        let youngest = { (g: [EvictionCandidate]) in g.max { ($0.connectedAt, $0.id) < ($1.connectedAt, $1.id) }! }
        let group = groups.values.max { a, b in
            (a.count, youngest(a).connectedAt, youngest(a).id) < (b.count, youngest(b).connectedAt, youngest(b).id)
        }!
        return youngest(group).id
    }

    /// Picks and disconnects the inbound peer a new connection from `host` replaces, or returns false.
    func evictInbound(for host: String) -> Bool {
        let candidates = peers.filter { $0.direction == .inbound && !$0.isClosed }.map(EvictionCandidate.init)
        guard let id = Self.evictionCandidate(among: candidates), let victim = peer(id) else { return false }
        victim.disconnect(.tooManyPeers, "evicted: every inbound slot is taken and a new connection (\(AddressGroup.of(host))) replaces this one")
        return true
    }

    /// Counts an inbound connection from `host` against the per-IP and per-group limits (Specs/p2p.md
    /// section 5); returns why it is refused, or nil (then `releaseInbound(host:)` when it ends). Loopback
    /// hosts are exempt when `exemptLoopback` (every devnet node shares 127.0.0.1).
    func reserveInbound(host: String, perHost: Int, perGroup: Int, exemptLoopback: Bool) -> String? {
        if exemptLoopback && isLoopbackHost(host) { return nil }
        let group = AddressGroup.of(host)
        return state.withLock { s in
            if s.inboundByHost[host, default: 0] >= perHost { return "\(perHost) connections from \(host) already" }
            if s.inboundByGroup[group, default: 0] >= perGroup { return "\(perGroup) connections from \(group) already" }
            s.inboundByHost[host, default: 0] += 1
            s.inboundByGroup[group, default: 0] += 1
            return nil
        }
    }

    func releaseInbound(host: String, exemptLoopback: Bool) {
        if exemptLoopback && isLoopbackHost(host) { return }
        let group = AddressGroup.of(host)
        state.withLock { s in
            s.inboundByHost[host, default: 1] -= 1
            if s.inboundByHost[host] == 0 { s.inboundByHost[host] = nil }
            s.inboundByGroup[group, default: 1] -= 1
            if s.inboundByGroup[group] == 0 { s.inboundByGroup[group] = nil }
        }
    }

    /// Outbound connections (dialing or established) in `host`'s address group.
    func outboundInGroup(of host: String) -> Int { state.withLock { $0.outboundByGroup[AddressGroup.of(host), default: 0] } }

    func addOutboundGroup(_ host: String) { state.withLock { $0.outboundByGroup[AddressGroup.of(host), default: 0] += 1 } }

    func removeOutboundGroup(_ host: String) {
        let g = AddressGroup.of(host)
        state.withLock { s in
            s.outboundByGroup[g, default: 1] -= 1
            if s.outboundByGroup[g] == 0 { s.outboundByGroup[g] = nil }
        }
    }

    func reserveOutbound() -> Bool {
        state.withLock { s in
            guard s.outbound < maxOutbound else { return false }
            s.outbound += 1
            return true
        }
    }

    func releaseOutbound() { state.withLock { $0.outbound -= 1 } }

    var outboundCount: Int { state.withLock { $0.outbound } }

    // MARK: Sessions

    /// Admits an authenticated session, resolving duplicates the same way on both ends: of two connections
    /// between the same nodes in opposite directions, the one opened by the lower node key survives; of two in
    /// the same direction, the older one.
    func register(_ peer: Peer) -> (Registration, replaced: Peer?) {
        state.withLock { s in
            if let reason = refusal(peer.nodeKey, host: peer.remoteHost, endpoint: peer.listenEndpoint, in: &s) {
                return (.rejected(reason.0, reason.1), nil)
            }
            if let existingId = s.byKey[peer.nodeKey], let existing = s.peers[existingId] {
                let keepNew: Bool
                if existing.direction == peer.direction {
                    keepNew = false
                } else {
                    let newOpener = peer.direction == .outbound ? ourKey : peer.nodeKey
                    let oldOpener = existing.direction == .outbound ? ourKey : existing.nodeKey
                    keepNew = newOpener < oldOpener
                }
                guard keepNew else { return (.rejected(.duplicate, "already connected"), nil) }
                s.peers[existingId] = nil
                s.peers[peer.id] = peer
                s.byKey[peer.nodeKey] = peer.id
                return (.accepted, existing)
            }
            s.peers[peer.id] = peer
            s.byKey[peer.nodeKey] = peer.id
            return (.accepted, nil)
        }
    }

    func unregister(_ peer: Peer) {
        state.withLock { s in
            guard s.peers[peer.id] != nil else { return }
            s.peers[peer.id] = nil
            if s.byKey[peer.nodeKey] == peer.id { s.byKey[peer.nodeKey] = nil }
        }
    }

    var peers: [Peer] { state.withLock { Array($0.peers.values) } }
    func peer(_ id: UInt64) -> Peer? { state.withLock { $0.peers[id] } }
    func isConnected(_ key: PublicKey) -> Bool { state.withLock { $0.byKey[key] != nil } }

    /// Whether a session with this listen endpoint exists (so the dialer does not open a second one).
    func isConnected(endpoint: PeerEndpoint) -> Bool {
        state.withLock { s in s.peers.values.contains { $0.listenEndpoint == endpoint } }
    }

    // MARK: Refusals: bans and operator blocks

    /// Why a node may not connect (banned, blocked), or nil.
    func refusal(_ key: PublicKey, host: String, endpoint: PeerEndpoint?) -> (DisconnectReason, String)? {
        state.withLock { refusal(key, host: host, endpoint: endpoint, in: &$0) }
    }

    private func refusal(_ key: PublicKey, host: String, endpoint: PeerEndpoint?, in s: inout State) -> (DisconnectReason, String)? {
        let now = ContinuousClock.now
        for k in [BanKey.node(key), .address(host)] {
            if let until = s.bans[k] {
                if until > now { return (.banned, "banned for another \(Int((until - now).seconds)) s") }
                s.bans[k] = nil
            }
        }
        if s.blockedKeys.contains(key) { return (.blocked, "node key blocked") }
        if let endpoint, s.blockedEndpoints.contains(endpoint.description) { return (.blocked, "address blocked") }
        return nil
    }

    func isBanned(host: String) -> Bool {
        state.withLock { s in (s.bans[.address(host)].map { $0 > ContinuousClock.now }) ?? false }
    }

    func isBanned(_ key: PublicKey) -> Bool {
        state.withLock { s in (s.bans[.node(key)].map { $0 > ContinuousClock.now }) ?? false }
    }

    func isBlocked(endpoint: PeerEndpoint) -> Bool { state.withLock { $0.blockedEndpoints.contains(endpoint.description) } }

    /// Replaces the operator's block list; returns the sessions it now excludes.
    func setBlocked(keys: Set<PublicKey>, endpoints: Set<String>) -> [Peer] {
        state.withLock { s in
            s.blockedKeys = keys
            s.blockedEndpoints = endpoints
            return s.peers.values.filter { p in keys.contains(p.nodeKey) || (p.listenEndpoint.map { endpoints.contains($0.description) } ?? false) }
        }
    }

    // MARK: Scores

    /// Adds misbehaviour points to a node key (when authenticated) and to its host; returns whether this
    /// crossed the threshold and banned it. Loopback hosts are scored but never banned by address.
    /// The most bans kept in memory (and in the ban file).
    static let maxBans = 20_000

    /// Bans held in memory, expired ones included until they are dropped.
    var bansHeld: Int { state.withLock { $0.bans.count } }

    func penalize(key: PublicKey?, host: String, _ what: Misbehaviour) -> Bool {
        state.withLock { s in
            let now = ContinuousClock.now
            var banned = false
            var targets = [BanKey.address(host)]
            if let key { targets.append(.node(key)) }
            for t in targets {
                var score = s.scores[t] ?? Score(points: 0, at: now)
                score.points = max(0, score.points - (now - score.at).seconds * decayPerSecond) + Double(what.points)
                score.at = now
                s.scores[t] = score
                s.bansDirty = true
                if score.points >= banThreshold {
                    if case .host(let h) = t, isLoopbackHost(h) { continue }
                    s.bans[t] = now + banDuration
                    s.scores[t] = nil
                    banned = true
                }
            }
            if s.scores.count > 10_000 {
                // Bounded memory: forget the smallest scores first.
                for (k, _) in s.scores.sorted(by: { $0.value.points < $1.value.points }).prefix(s.scores.count - 5_000) { s.scores[k] = nil }
            }
            if banned && s.bans.count > Self.maxBans {
                // Bounded memory too: an attacker with many addresses and fresh keys adds a ban per handshake. Expired
                // bans go first, then the ones that end soonest.
                s.bans = s.bans.filter { $0.value > now }
                if s.bans.count > Self.maxBans {
                    for (k, _) in s.bans.sorted(by: { $0.value < $1.value }).prefix(s.bans.count - Self.maxBans / 2) { s.bans[k] = nil }
                }
            }
            return banned
        }
    }

    // MARK: Persistence (Specs/p2p.md section 7)

    /// Bans still in force and scores still above a point, in wall-clock time; nil when nothing changed since
    /// the last call (unless `force`).
    func exportBans(force: Bool = false) -> BanFile? {
        state.withLock { s in
            guard s.bansDirty || force else { return nil }
            s.bansDirty = false
            let now = ContinuousClock.now
            let wall = UInt64(Date().timeIntervalSince1970 * 1000)
            func millis(_ d: Duration) -> UInt64 { UInt64(max(0, d.seconds * 1000)) }
            var f = BanFile()
            for (k, until) in s.bans where until > now {
                f.bans.append(.init(key: BanFile.encodeKey(k), untilMillis: wall + millis(until - now)))
            }
            for (k, sc) in s.scores {
                let points = max(0, sc.points - (now - sc.at).seconds * decayPerSecond)
                if points >= 1 { f.scores.append(.init(key: BanFile.encodeKey(k), points: points, atMillis: wall)) }
            }
            f.bans.sort { $0.key < $1.key }
            f.scores.sort { $0.key < $1.key }
            return f
        }
    }

    /// Restores bans and scores read from the ban file: expired bans are skipped, scores decayed by the time
    /// that passed. Returns how many bans are in force.
    @discardableResult
    func importBans(_ f: BanFile) -> Int {
        state.withLock { s in
            let now = ContinuousClock.now
            let wall = UInt64(Date().timeIntervalSince1970 * 1000)
            var count = 0
            for b in f.bans.prefix(100_000) where b.untilMillis > wall {
                guard let k = BanFile.decodeKey(b.key) else { continue }
                // Never longer than a fresh ban: a clock step or an edited file cannot extend it.
                let remaining = min(Duration.milliseconds(Int64(min(b.untilMillis - wall, UInt64(Int64.max)))), banDuration)
                s.bans[k] = now + remaining
                count += 1
            }
            for sc in f.scores.prefix(10_000) {
                guard let k = BanFile.decodeKey(sc.key), sc.points.isFinite, sc.points > 0 else { continue }
                let elapsed = wall > sc.atMillis ? Double(wall - sc.atMillis) / 1000 : 0
                let points = min(sc.points, banThreshold) - elapsed * decayPerSecond
                if points > 0 { s.scores[k] = Score(points: points, at: now) }
            }
            return count
        }
    }

    /// The current score of a host or node (after decay), for status and tests.
    func score(_ key: BanKey) -> Double {
        state.withLock { s in
            guard let sc = s.scores[key] else { return 0 }
            return max(0, sc.points - (ContinuousClock.now - sc.at).seconds * decayPerSecond)
        }
    }
}

/// What inbound eviction looks at of an established peer.
struct EvictionCandidate: Sendable {
    let id: UInt64
    let group: String
    let connectedAt: ContinuousClock.Instant
    let latency: Duration?
    let lastNewBlock: ContinuousClock.Instant?

    init(id: UInt64, group: String, connectedAt: ContinuousClock.Instant, latency: Duration?, lastNewBlock: ContinuousClock.Instant?) {
        self.id = id; self.group = group; self.connectedAt = connectedAt; self.latency = latency; self.lastNewBlock = lastNewBlock
    }

    init(_ peer: Peer) {
        let (latency, block) = peer.state.withLock { ($0.latency, $0.lastNewBlock) }
        self.init(id: peer.id, group: AddressGroup.of(peer.remoteHost), connectedAt: peer.connectedAt, latency: latency, lastNewBlock: block)
    }
}

/// Inbound connections whose Noise handshake is under way: at most a total and a number per host (`P2PService.configure`).
///
/// When every slot is taken, a newcomer evicts the oldest handshake of the host holding the most, if that host holds
/// at least two more than the newcomer's (nineteenth session: eight IPv4 hosts that sent nothing, four connections
/// each, held all 32 slots for the handshake timeout, again and again, and no honest peer could connect in). So a host
/// holding one handshake is never evicted while any host holds two: keeping every honest handshake out takes as many
/// distinct hosts as there are slots, not `slots / maxInboundPerIP`.
struct PendingHandshakes: Sendable {
    /// One admitted handshake: `id` releases it; `evicted`, when set, closes the handshake it displaced (call it
    /// outside the lock).
    struct Admission: Sendable {
        let id: UInt64
        let evicted: (@Sendable () -> Void)?
    }

    private struct Entry: Sendable {
        let id: UInt64
        let close: @Sendable () -> Void
    }

    private(set) var total = 0
    private var byHost: [String: [Entry]] = [:]
    private var nextId: UInt64 = 0

    /// The number of handshakes of `host` under way.
    func count(of host: String) -> Int { byHost[host]?.count ?? 0 }

    /// Counts one more handshake of `host`, evicting another host's oldest one when every slot is taken and that host
    /// holds at least two more; nil when `host` is at `perHost`, or the slots are taken and nobody may be evicted.
    /// `close` closes this handshake's connection if it is evicted later.
    mutating func admit(_ host: String, total limit: Int, perHost: Int, close: @escaping @Sendable () -> Void) -> Admission? {
        let mine = count(of: host)
        guard mine < perHost else { return nil }
        var evicted: (@Sendable () -> Void)?
        if total >= limit {
            // The host holding the most; among equals the one whose oldest handshake is oldest (ids only grow).
            var victim: (host: String, count: Int, oldest: UInt64)?
            for (h, entries) in byHost {
                guard let first = entries.first else { continue }
                if victim.map({ entries.count > $0.count || (entries.count == $0.count && first.id < $0.oldest) }) ?? true {
                    victim = (h, entries.count, first.id)
                }
            }
            guard let v = victim, v.count >= mine + 2, var entries = byHost[v.host] else { return nil }
            evicted = entries.removeFirst().close
            byHost[v.host] = entries.isEmpty ? nil : entries
            total -= 1
        }
        nextId += 1
        total += 1
        byHost[host, default: []].append(Entry(id: nextId, close: close))
        return Admission(id: nextId, evicted: evicted)
    }

    /// Handshake `id` of `host` finished (established, failed, timed out or closed); nothing when it was evicted.
    mutating func release(_ host: String, id: UInt64) {
        guard var entries = byHost[host], let i = entries.firstIndex(where: { $0.id == id }) else { return }
        entries.remove(at: i)
        byHost[host] = entries.isEmpty ? nil : entries
        total -= 1
    }
}

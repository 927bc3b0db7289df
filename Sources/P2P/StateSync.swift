import Consensus
import Foundation
import Ledger
import Logging
import Primitives
import StateTree
import Storage
import Synchronization

/// How a new node starts from a recent snapshot instead of genesis (`sharechain node --state-sync`).
public struct StateSyncConfig: Sendable, Hashable {
    /// The block to start from, from a source the operator trusts (an explorer, another operator): its height and
    /// hash. Without it the node takes the newest finalized block that `minAgreeingPeers` peers offer alike.
    public var trustedHeight: UInt64?
    public var trustedHash: Hash32?
    /// Peers that must offer the same block before the node trusts it (without a trusted block).
    public var minAgreeingPeers = 2
    /// Parts requested from one peer at a time.
    public var maxPartsInFlightPerPeer = 4
    /// How long to collect offers before deciding.
    public var offerWait: Duration = .seconds(3)
    /// Peers whose answer (an offer or none) the node waits for before choosing, unless `offerWait` passes first.
    public var waitForAnswers = 1
    /// The largest state (keys) and block receipts (bytes) the node accepts to download: a bound on memory
    /// whatever a manifest claims.
    public var maxKeys: UInt64 = 1 << 27
    public var maxReceiptsBytes: UInt32 = 64 << 20
    /// The most bytes (keys and values) one state chunk may hold: a part's entries are kept until the whole part can
    /// be verified, so without a bound one source could fill memory with entries that will never verify (a value may be
    /// up to a block's size). 256 MiB is far above a chunk of any realistic state (1/256 of it).
    public var maxPartBytes: UInt64 = 256 << 20
    /// The most bytes of parts not yet verified held at once, over every part and source: `maxPartBytes` bounds one
    /// part, but any peer replaying the real offer becomes a source of up to `maxPartsInFlightPerPeer` parts, so
    /// without a total a few connections could each fill their parts to just under that bound (N × 4 × 256 MiB). A
    /// page that would go beyond it drops the part holding the most (this one, or another: its source's late answer is
    /// not misbehaviour), and no new part is requested while half of it is used.
    public var maxBufferedBytes: UInt64 = 512 << 20
    /// The most bytes (keys and values) of the whole snapshot the node holds, verified parts included: verified parts
    /// stay in memory until the state is adopted, and a manifest does not say how large its values are, so without a
    /// bound a forged manifest of large values (agreed by two hosts, without a trusted block) could claim up to 256 full
    /// parts (eighteenth-session audit). A snapshot that passes it is declined, not blamed on its sources: an operator
    /// syncing a larger state raises it (`--state-sync-max-bytes`).
    public var maxStateBytes: UInt64 = 4 << 30

    public init(trustedHeight: UInt64? = nil, trustedHash: Hash32? = nil, minAgreeingPeers: Int = 2) {
        self.trustedHeight = trustedHeight; self.trustedHash = trustedHash; self.minAgreeingPeers = minAgreeingPeers
    }
}

/// Whether the node is state-syncing; while it is, headers-first sync waits and new blocks from peers are not
/// imported (the snapshot replaces a genesis-only chain).
final class StateSyncGate: Sendable {
    private let active = Mutex(false)
    var isActive: Bool { active.withLock { $0 } }
    func set(_ v: Bool) { active.withLock { $0 = v } }
}

/// What the state-sync loop reacts to.
enum StateSyncEvent: Sendable {
    case offer(Peer, height: UInt64, SnapshotOffer?)
    case part(Peer, SnapshotPart)
    case disconnected(Peer)
    case tick
}

/// State sync (Specs/p2p.md §7): picks a trusted snapshot block, downloads its 256 state chunks and the block's
/// body and receipts from every peer that offers it, a few parts per peer at a time, verifies each chunk against
/// the manifest (which adds up to the trusted header's `stateRoot`), bans a peer whose data does not verify and
/// fetches that part elsewhere, then hands the state to the chain and lets headers-first sync continue from it.
final class StateSyncer: Sendable {
    private let chain: ChainService
    private let table: PeerTable
    private let config: P2PConfig
    private let sync: StateSyncConfig
    private let logger: Logger
    private let gate: StateSyncGate
    private let penalize: @Sendable (Peer, Misbehaviour, String) -> Void
    private let stream: AsyncStream<StateSyncEvent>
    private let continuation: AsyncStream<StateSyncEvent>.Continuation
    private let limits: P2PLimits
    /// The most bytes of unverified parts held at any point (tests watch it against `maxBufferedBytes`).
    let peakBufferedBytes = Mutex<UInt64>(0)
    /// The most bytes of parts, verified or not, held at any point (tests watch it against `maxStateBytes`).
    let peakHeldBytes = Mutex<UInt64>(0)
    /// Snapshots declined for holding more than `maxStateBytes`.
    let declinedAsTooLarge = Mutex<Int>(0)

    init(chain: ChainService, table: PeerTable, config: P2PConfig, sync: StateSyncConfig, limits: P2PLimits, logger: Logger, gate: StateSyncGate,
         penalize: @escaping @Sendable (Peer, Misbehaviour, String) -> Void) {
        self.chain = chain; self.table = table; self.config = config; self.sync = sync; self.limits = limits
        self.logger = logger; self.gate = gate; self.penalize = penalize
        (stream, continuation) = AsyncStream<StateSyncEvent>.makeStream()
    }

    func post(_ e: StateSyncEvent) { continuation.yield(e) }
    func finish() { continuation.finish() }

    // MARK: - State

    private struct Request {
        let peer: UInt64
        let start: UInt32
        let deadline: ContinuousClock.Instant
    }

    private struct PartState {
        var entries: [KeyValue] = []
        /// Bytes of `entries` (keys and values), bounded by `StateSyncConfig.maxPartBytes` for state chunks.
        var bytes: UInt64 = 0
        /// The key hash of the last entry of a state chunk: its entries come in ascending key-hash order.
        var lastKeyHash: Hash32?
        var request: Request?
        /// A request dropped to stay within `maxBufferedBytes`: its answer, when it comes, is ignored (not unsolicited).
        var dropped: Request?
        /// Peers that said they do not serve it, did not answer in time, or sent bad data.
        var excluded: Set<UInt64> = []
        var done = false

        /// Drops what was received, to start the part over.
        mutating func restart() { entries = []; bytes = 0; lastKeyHash = nil }
    }

    private struct Target {
        let offer: SnapshotOffer
        var sources: Set<UInt64>
        var parts: [UInt16: PartState]
        let totalKeys: UInt64
        var keysDone: UInt64 = 0
        var bytes: UInt64 = 0
        let started = ContinuousClock.now
        var lastLog = ContinuousClock.now
        var lastLogKeys: UInt64 = 0
        var lastLogBytes: UInt64 = 0
        /// A page would have taken the parts held past `maxStateBytes`: the snapshot is declined.
        var exceedsStateBytes = false
    }

    private struct Discovery {
        /// The height asked for in this round (0: each peer's newest).
        var height: UInt64
        var asked: Set<UInt64> = []
        /// Peers that answered without an offer (or with another block than the trusted one).
        var declined: Set<UInt64> = []
        var offers: [UInt64: SnapshotOffer] = [:]
        var roundStart = ContinuousClock.now
        var lastWaitLog: ContinuousClock.Instant?
        /// Answers to wait for before choosing (the configured number on the first choice; 1 once a choice failed,
        /// since the peers that failed it are gone).
        var waitFor = 1
    }

    // MARK: - The loop

    /// Runs until the snapshot is adopted (true) or the stream ends (false).
    func run() async -> Bool {
        gate.set(true)
        defer { gate.set(false) }
        logger.info("state sync started", metadata: [
            "trusted": "\(sync.trustedHash.map { "\(sync.trustedHeight ?? 0):\($0.hex.prefix(16))" } ?? "none: \(sync.minAgreeingPeers) agreeing peers")",
        ])
        var discovery = Discovery(height: sync.trustedHeight ?? 0)
        discovery.waitFor = sync.waitForAnswers
        var target: Target?
        // Offers whose download failed for want of a source that could serve them (e.g. a manifest with altered
        // counts: its hash adds up, no real data matches it): never chosen again.
        var rejected: Set<SnapshotOffer> = []
        // Offers none of whose sources could serve some part ("unavailable" or no answer in time from every one): not
        // chosen again until the instant given (a serving node may be busy building; a peer that offers and then never
        // serves must not hold the node on its manifest forever).
        var deferred: [SnapshotOffer: ContinuousClock.Instant] = [:]
        // Peers that offered a snapshot and then would not serve a part of it: their offers do not count until the
        // instant given (otherwise such a peer offers a new variant of an unhashed-count manifest every round).
        var distrusted: [UInt64: ContinuousClock.Instant] = [:]
        // Requests of a snapshot given up (declined, unservable, no source left) still in flight: their answer, once,
        // is late, not unsolicited (an honest source answering a part the node no longer wants is not misbehaving);
        // any other part is still unsolicited.
        struct LatePart: Hashable { let block: Hash32; let peer: UInt64; let part: UInt16 }
        var late: Set<LatePart> = []
        func abandon(_ t: Target) {
            late = []
            for (k, p) in t.parts {
                for r in [p.request, p.dropped].compactMap({ $0 }) { late.insert(LatePart(block: t.offer.header.hash, peer: r.peer, part: k)) }
            }
        }
        for await event in stream {
            if Task.isCancelled { return false }
            if target == nil {
                if case .part(let peer, let reply) = event,
                   late.remove(LatePart(block: reply.blockHash, peer: peer.id, part: reply.part)) != nil { continue }
                handleDiscovery(event, &discovery)
                let now = ContinuousClock.now
                deferred = deferred.filter { $0.value > now }
                distrusted = distrusted.filter { $0.value > now }
                if let t = decide(&discovery, rejected: rejected.union(deferred.keys), distrusted: Set(distrusted.keys)) { target = t; logStart(t) }
            } else if var t = target {
                target = nil  // one owner while it is changed (no copy of its parts)
                let now = ContinuousClock.now
                handleDownload(event, &t, distrusted: Set(distrusted.filter { $0.value > now }.keys))
                let b = Self.buffered(t), held = Self.held(t)
                peakBufferedBytes.withLock { $0 = max($0, b) }
                peakHeldBytes.withLock { $0 = max($0, held) }
                target = t
            }
            if var t = target {
                assign(&t)
                logProgress(&t)
                if t.exceedsStateBytes {
                    logger.error("state sync: the chosen snapshot holds more than --state-sync-max-bytes; declining it (raise the bound to sync a state this large)",
                                 metadata: ["height": "\(t.offer.header.header.height)", "block": "\(t.offer.header.hash.hex.prefix(16))",
                                            "bound": "\(sync.maxStateBytes)"])
                    declinedAsTooLarge.withLock { $0 += 1 }
                    rejected.insert(t.offer)
                    abandon(t)
                    target = nil
                    discovery = Discovery(height: sync.trustedHeight ?? 0)
                } else if t.parts.values.allSatisfy(\.done) {
                    if await adopt(t) { return true }
                    // Every part verified and still refused (the import's own root check): the offer is not tried
                    // again at once, or its sources could make the node download it forever.
                    deferred[t.offer] = ContinuousClock.now + Self.unavailableDeferral
                    abandon(t)
                    target = nil
                    discovery = Discovery(height: sync.trustedHeight ?? 0)
                } else if let (part, failed) = unservable(t) {
                    logger.warning("state sync: every source failed a part of the chosen snapshot (unavailable or no answer in time); choosing again",
                                   metadata: ["height": "\(t.offer.header.header.height)", "part": "\(part)"])
                    let until = ContinuousClock.now + Self.unavailableDeferral
                    deferred[t.offer] = until
                    for peer in failed { distrusted[peer] = until }
                    abandon(t)
                    target = nil
                    discovery = Discovery(height: sync.trustedHeight ?? 0)
                } else if t.sources.allSatisfy({ table.peer($0)?.isClosed ?? true }) {
                    logger.warning("state sync: no peer left that serves the chosen snapshot; choosing again",
                                   metadata: ["height": "\(t.offer.header.header.height)", "block": "\(t.offer.header.hash.hex.prefix(16))"])
                    rejected.insert(t.offer)
                    abandon(t)
                    target = nil
                    discovery = Discovery(height: sync.trustedHeight ?? 0)
                } else {
                    target = t
                }
            }
        }
        return false
    }

    // MARK: Discovery

    private func handleDiscovery(_ event: StateSyncEvent, _ d: inout Discovery) {
        switch event {
        case .offer(let peer, let height, let offer):
            guard d.asked.contains(peer.id), d.offers[peer.id] == nil, !d.declined.contains(peer.id) else {
                // Answers to an earlier round are not wrong, just late.
                return
            }
            guard let offer else { d.declined.insert(peer.id); return }
            // An answer to an earlier round (another height) is late, not wrong.
            guard d.height == 0 || height == d.height else { return }
            if let problem = problem(with: offer) { penalize(peer, .invalidSnapshot, problem); return }
            d.offers[peer.id] = offer
        case .part(let peer, _):
            penalize(peer, .unsolicited, "snapshot part not requested")
        case .disconnected(let peer):
            d.asked.remove(peer.id)
            d.declined.remove(peer.id)
            d.offers[peer.id] = nil
        case .tick:
            break
        }
        for p in table.peers where !p.isClosed && !d.asked.contains(p.id) {
            if p.send(.getSnapshot(height: d.height)) { d.asked.insert(p.id) }
        }
    }

    /// Why an offer cannot be a snapshot of this chain, or nil.
    private func problem(with offer: SnapshotOffer) -> String? {
        let h = offer.header
        guard h.header.chainId == chain.genesis.chainId else { return "snapshot header for another chain" }
        guard h.header.height > 0 else { return "snapshot at genesis" }
        guard h.hasValidSignature else { return "snapshot header with a bad proposer signature" }
        guard offer.manifest.stateRoot() == h.header.stateRoot else { return "snapshot manifest does not add up to its header's stateRoot" }
        guard offer.bodyBytes <= UInt32(clamping: limits.maxBlockBytes), offer.receiptsBytes > 0 else { return "snapshot block sizes out of range" }
        return nil
    }

    /// Whether this node declines to download an offer (not the peer's fault: a state larger than configured).
    private func tooLarge(_ offer: SnapshotOffer) -> Bool {
        offer.chunks.reduce(UInt64(0)) { $0 &+ min($1.count, UInt64(UInt32.max)) } > sync.maxKeys
            || offer.chunks.contains { $0.count > UInt64(UInt32.max) } || offer.receiptsBytes > sync.maxReceiptsBytes
    }

    /// The snapshot to download, once enough offers agree (or the trusted block is offered). Offers are grouped
    /// whole (header, chunk counts and hashes, sizes): a chunk's count is not part of its hash, so a peer could
    /// offer the real header and hashes with altered counts (or a "one-key" entry that passes any subtree hash
    /// upward, state-tree.md §9); only peers offering the very same manifest become sources. Among manifests of one
    /// block the one more peers offer wins, then the lower `order` digest: nothing a liar sets wins a tie for free
    /// (fewer keys used to win, and a forged one-key manifest always has the fewest); a liar that wins anyway is found
    /// out by its first unserved part (`unservable`).
    private func decide(_ d: inout Discovery, rejected: Set<SnapshotOffer>, distrusted: Set<UInt64> = []) -> Target? {
        let now = ContinuousClock.now
        var groups: [SnapshotOffer: Set<UInt64>] = [:]
        for (peer, offer) in d.offers where !rejected.contains(offer) && !tooLarge(offer) && !distrusted.contains(peer) {
            groups[offer, default: []].insert(peer)
        }
        let answers = d.offers.count + d.declined.count
        let answered = d.asked.count == answers && answers >= d.waitFor
        // Support is counted in distinct remote hosts (an IPv4 address, an IPv6 /64), not sessions: two connections of
        // one host were two "agreeing peers", so one host could make a node without a trusted block adopt a forged
        // state (eighteenth-session audit). Loopback peers (local devnets) count one each.
        var support: [SnapshotOffer: Int] = [:]
        for (offer, peers) in groups {
            var hosts = Set<String>()
            for id in peers {
                guard let host = table.peer(id)?.remoteHost else { continue }
                hosts.insert(isLoopbackHost(host) ? "peer \(id)" : "\(BanKey.address(host))")
            }
            support[offer] = hosts.count
        }
        func better(_ a: (key: SnapshotOffer, value: Set<UInt64>), _ b: (key: SnapshotOffer, value: Set<UInt64>)) -> Bool {
            let (sa, sb) = (support[a.key] ?? 0, support[b.key] ?? 0)
            return (a.key.header.header.height, sa) != (b.key.header.header.height, sb)
                ? (a.key.header.header.height, sa) < (b.key.header.header.height, sb)
                : Self.order(a.key) > Self.order(b.key)
        }
        if let trusted = sync.trustedHash {
            for (offer, peers) in groups where offer.header.hash != trusted {
                logger.warning("a peer offers another block at the trusted height",
                               metadata: ["height": "\(offer.header.header.height)", "hash": "\(offer.header.hash.hex.prefix(16))"])
                for p in peers { d.offers[p] = nil; d.declined.insert(p) }
            }
            // Wait a moment for every peer's offer, so that a lone altered manifest does not win by answering first.
            if let best = groups.filter({ $0.key.header.hash == trusted }).max(by: better), answered || now - d.roundStart >= sync.offerWait {
                return makeTarget(best.key, sources: best.value)
            }
        } else {
            let agreed = groups.filter { (support[$0.key] ?? 0) >= sync.minAgreeingPeers }
            if let best = agreed.max(by: better) {
                // Wait a moment for the rest so the newest agreed block wins, not the first.
                if answered || now - d.roundStart >= sync.offerWait { return makeTarget(best.key, sources: best.value) }
                return nil
            }
            // Offers disagree (peers finalized different heights): ask everyone for the lowest one offered.
            if now - d.roundStart >= sync.offerWait, d.height == 0, let low = d.offers.values.map(\.header.header.height).min(),
               d.offers.count >= sync.minAgreeingPeers {
                logger.info("state sync: peers offer different heights; asking all for \(low)")
                let waitFor = d.waitFor
                d = Discovery(height: low)
                d.waitFor = waitFor
                return nil
            }
        }
        if now - d.roundStart >= max(.seconds(30), sync.offerWait + .seconds(5)) {
            // New round: peers that had nothing may have it now, and new peers came.
            if d.lastWaitLog.map({ now - $0 >= .seconds(10) }) ?? true {
                logger.info("state sync: waiting for peers to offer a snapshot", metadata: ["peers": "\(table.peers.count)", "offers": "\(d.offers.count)"])
            }
            d = Discovery(height: sync.trustedHeight ?? 0)
            d.lastWaitLog = now
        }
        return nil
    }

    /// A deterministic order among equally supported offers (the lower wins): SHA-256 of the offer's wire encoding.
    static func order(_ offer: SnapshotOffer) -> Hash32 {
        SHA256.hash(P2PMessage.snapshot(height: offer.header.header.height, offer).payload)
    }

    private func makeTarget(_ offer: SnapshotOffer, sources: Set<UInt64>) -> Target {
        var parts: [UInt16: PartState] = [:]
        for p in 0..<UInt16(SnapshotParts.count) {
            var s = PartState()
            s.done = offer.total(of: p) == 0
            parts[p] = s
        }
        return Target(offer: offer, sources: sources, parts: parts, totalKeys: offer.manifest.keyCount)
    }

    private func logStart(_ t: Target) {
        logger.info("state sync: downloading snapshot", metadata: [
            "height": "\(t.offer.header.header.height)", "block": "\(t.offer.header.hash.hex.prefix(16))", "keys": "\(t.totalKeys)",
            "peers": "\(t.sources.count)",
        ])
    }

    // MARK: Download

    private func handleDownload(_ event: StateSyncEvent, _ t: inout Target, distrusted: Set<UInt64> = []) {
        let now = ContinuousClock.now
        switch event {
        case .offer(let peer, _, let offer):
            // A late answer to discovery: a new source if it offers the same block (and did not just fail a part).
            if let offer, offer == t.offer, !distrusted.contains(peer.id) { t.sources.insert(peer.id) }
        case .disconnected(let peer):
            t.sources.remove(peer.id)
            for (k, p) in t.parts where p.request?.peer == peer.id { t.parts[k]?.request = nil; t.parts[k]?.restart() }
        case .tick:
            break
        case .part(let peer, let reply):
            if let d = t.parts[reply.part]?.dropped, reply.blockHash == t.offer.header.hash, d.peer == peer.id, d.start == reply.start {
                t.parts[reply.part]?.dropped = nil  // the answer to a request dropped for memory: not the peer's fault
                return
            }
            guard reply.blockHash == t.offer.header.hash, var state = t.parts[reply.part], let req = state.request, req.peer == peer.id,
                  req.start == reply.start else {
                penalize(peer, .unsolicited, "snapshot part \(reply.part) not requested")
                return
            }
            state.request = nil
            guard reply.available else {
                state.excluded.insert(peer.id)
                state.restart()
                t.parts[reply.part] = state
                return
            }
            // Sources offered this very manifest: data inconsistent with it is the source's own contradiction.
            let expected = t.offer.total(of: reply.part)
            guard reply.total == expected, !reply.entries.isEmpty || expected == 0 else {
                fail(peer, &state, "part \(reply.part): \(reply.total) entries announced, the manifest says \(expected)")
                t.parts[reply.part] = state
                return
            }
            // A state chunk's entries belong to it and arrive in ascending key-hash order (what `StateSnapshot.verify`
            // checks of the whole part), within its byte bound: checked page by page, since data that breaks either can
            // never verify, and waiting for the whole part to say so let a source fill memory.
            let replyBytes = reply.entries.reduce(0) { $0 + UInt64($1.key.count + $1.value.count) }
            if Int(reply.part) < SnapshotManifest.chunkCount {
                for e in reply.entries {
                    let h = TreeHash.key(e.key)
                    guard StateSnapshot.chunkIndex(h) == Int(reply.part), state.lastKeyHash.map({ $0 < h }) ?? true else {
                        fail(peer, &state, "part \(reply.part): a key outside the chunk or out of order")
                        t.parts[reply.part] = state
                        return
                    }
                    state.lastKeyHash = h
                }
                guard state.bytes + replyBytes <= sync.maxPartBytes else {
                    fail(peer, &state, "part \(reply.part): more than \(sync.maxPartBytes) bytes")
                    t.parts[reply.part] = state
                    return
                }
            } else {
                // The block's body and receipts come as keyless pieces of at most `pieceBytes`: the part then holds at
                // most the size the offer announced (itself bounded), whatever the source sends.
                guard reply.entries.allSatisfy({ $0.key.isEmpty && $0.value.count <= SnapshotParts.pieceBytes }) else {
                    fail(peer, &state, "part \(reply.part): a piece larger than \(SnapshotParts.pieceBytes) bytes or with a key")
                    t.parts[reply.part] = state
                    return
                }
            }
            // The bound over the whole snapshot, verified parts included (they stay in memory until adoption).
            guard Self.held(t) + replyBytes <= sync.maxStateBytes else {
                state.restart()
                t.parts[reply.part] = state
                t.exceedsStateBytes = true
                return
            }
            // The total bound over every part: make room by dropping the parts holding the most, this one included
            // (with this page) when it is the largest: a source filling its parts loses them first.
            var buffered = Self.buffered(t)
            while buffered + replyBytes > sync.maxBufferedBytes {
                let largest = t.parts.filter { $0.key != reply.part && !$0.value.done && $0.value.bytes > 0 }.max { $0.value.bytes < $1.value.bytes }
                guard let (k, other) = largest, other.bytes > state.bytes + replyBytes else {
                    logger.debug("state sync: a part dropped to stay within the buffered-bytes bound", metadata: ["part": "\(reply.part)"])
                    state.restart()
                    t.parts[reply.part] = state
                    return
                }
                logger.debug("state sync: a part dropped to stay within the buffered-bytes bound", metadata: ["part": "\(k)"])
                t.parts[k]?.dropped = other.request
                t.parts[k]?.request = nil
                t.parts[k]?.restart()
                buffered -= other.bytes
            }
            state.entries += reply.entries
            state.bytes += replyBytes
            t.bytes += replyBytes
            if state.entries.count < Int(expected) {
                // A continuation gets a fresh deadline only for real progress. A serving node fills each page up to
                // the frame (`SnapshotServer.part`), so a page far below it that is not the last is a peer trickling
                // entries to hold the part (one entry per timeout would hold a 500 000-entry chunk for weeks): it
                // keeps the deadline it had, and the part goes elsewhere when that passes.
                let progressed = replyBytes >= Self.minProgressBytes(limits)
                if peer.send(.getSnapshotPart(SnapshotPartRequest(height: t.offer.header.header.height, blockHash: t.offer.header.hash,
                                                                   part: reply.part, start: UInt32(state.entries.count)))) {
                    state.request = Request(peer: peer.id, start: UInt32(state.entries.count),
                                            deadline: progressed ? now + config.requestTimeout : req.deadline)
                } else {
                    state.restart()
                }
                t.parts[reply.part] = state
                return
            }
            if let problem = verify(reply.part, state.entries, t.offer) {
                fail(peer, &state, problem)
            } else {
                state.done = true
                if Int(reply.part) < SnapshotManifest.chunkCount { t.keysDone += UInt64(state.entries.count) }
            }
            t.parts[reply.part] = state
        }
        // Timeouts: the part starts over elsewhere. A serving node fills each page to the frame, so an honest source
        // does not stall in the middle of a chunk it has already sent a quarter of `maxPartBytes` of: a source that
        // does is filling memory it never means to have verified (a timeout alone costs 2 points), and is banned.
        for (k, p) in t.parts {
            guard let r = p.request, r.deadline < now else { continue }
            t.parts[k]?.request = nil
            t.parts[k]?.restart()
            t.parts[k]?.excluded.insert(r.peer)
            guard let peer = table.peer(r.peer) else { continue }
            if Int(k) < SnapshotManifest.chunkCount && p.bytes >= sync.maxPartBytes / 4 {
                ban(peer, "snapshot part \(k) timed out holding \(p.bytes) unverified bytes")
            } else {
                penalize(peer, .requestTimeout, "snapshot part \(k) timed out")
            }
        }
    }

    /// Bytes held in every part, verified or not.
    private static func held(_ t: Target) -> UInt64 {
        t.parts.values.reduce(0) { $0 + $1.bytes }
    }

    /// Bytes held in parts not yet verified.
    private static func buffered(_ t: Target) -> UInt64 {
        t.parts.values.reduce(0) { $0 + ($1.done ? 0 : $1.bytes) }
    }

    /// How long an offer whose sources all failed a part is passed over.
    static let unavailableDeferral: Duration = .seconds(60)

    /// A part that is not done, not requested, and that every open source has failed (answered "unavailable", not
    /// answered in time, or sent bad data), with those sources; or nil. A source that stays silent is as unable to
    /// serve as one that says so: asking it again after each timeout let a peer offering a forged manifest (one that
    /// adds up and that no data can match) hold the node for as long as its score took to reach a ban.
    private func unservable(_ t: Target) -> (part: UInt16, sources: Set<UInt64>)? {
        let open = Set(t.sources.filter { !(table.peer($0)?.isClosed ?? true) })
        guard !open.isEmpty else { return nil }
        guard let part = t.parts.first(where: { !$0.value.done && $0.value.request == nil && open.isSubset(of: $0.value.excluded) })?.key else {
            return nil
        }
        return (part, open)
    }

    /// Bytes a non-final page must carry to extend its part's deadline: a quarter of a serving node's page budget
    /// (`maxPayloadBytes - 4096`), at most 64 KiB.
    static func minProgressBytes(_ limits: P2PLimits) -> UInt64 {
        UInt64(max(1, min(64 << 10, (limits.maxPayloadBytes - 4096) / 4)))
    }

    /// Bad data: the peer is banned and the part starts over with another peer.
    private func fail(_ peer: Peer, _ state: inout PartState, _ problem: String) {
        state.restart()
        state.excluded.insert(peer.id)
        // Ban at once: verified data cannot be wrong by accident.
        ban(peer, problem)
    }

    private func ban(_ peer: Peer, _ problem: String) {
        for _ in 0..<max(1, config.banThreshold / Misbehaviour.invalidSnapshot.points) where !peer.isClosed {
            penalize(peer, .invalidSnapshot, problem)
        }
    }

    /// Why a complete part does not verify, or nil.
    private func verify(_ part: UInt16, _ entries: [KeyValue], _ offer: SnapshotOffer) -> String? {
        switch part {
        case SnapshotParts.body, SnapshotParts.receipts:
            let blob = entries.flatMap(\.value)
            let size = part == SnapshotParts.body ? offer.bodyBytes : offer.receiptsBytes
            guard blob.count == Int(size), entries.dropLast().allSatisfy({ $0.value.count == SnapshotParts.pieceBytes && $0.key.isEmpty }) else {
                return "snapshot part \(part): pieces do not make \(size) bytes"
            }
            if part == SnapshotParts.body {
                guard let txs = try? Block.decodeBody(blob, maxTransactions: chain.genesis.consensus.maxBlockTransactions),
                      Block.txRoot(txs) == offer.header.header.txRoot else { return "snapshot block body does not match its txRoot" }
            } else {
                guard let receipts = try? ChainEngine.decodeReceipts(blob), Receipt.root(receipts) == offer.header.header.receiptsRoot else {
                    return "snapshot block receipts do not match its receiptsRoot"
                }
            }
            return nil
        default:
            do {
                try StateSnapshot.verify(chunk: entries.map { ($0.key, $0.value) }, index: Int(part), manifest: offer.manifest)
                return nil
            } catch {
                return "\(error)"
            }
        }
    }

    /// Hands free parts to sources with free request slots (the least busy first).
    private func assign(_ t: inout Target) {
        let now = ContinuousClock.now
        var busy: [UInt64: Int] = [:]
        for p in t.parts.values { if let r = p.request { busy[r.peer, default: 0] += 1 } }
        let sources = t.sources.compactMap { table.peer($0) }.filter { !$0.isClosed }
        guard !sources.isEmpty else { return }
        // Room for the parts in flight to grow (`maxBufferedBytes`).
        guard Self.buffered(t) < sync.maxBufferedBytes / 2 else { return }
        for k in t.parts.keys.sorted() {
            guard let state = t.parts[k], !state.done, state.request == nil else { continue }
            // A source that failed this part (unavailable, timed out, bad data) is not asked for it again; once every
            // source has, the run loop passes the offer over (`unservable`).
            let candidates = sources.filter { !state.excluded.contains($0.id) && busy[$0.id, default: 0] < sync.maxPartsInFlightPerPeer }
            guard let peer = candidates.min(by: { busy[$0.id, default: 0] < busy[$1.id, default: 0] }) else { continue }
            let q = SnapshotPartRequest(height: t.offer.header.header.height, blockHash: t.offer.header.hash, part: k, start: 0)
            guard peer.send(.getSnapshotPart(q)) else { continue }
            t.parts[k]?.restart()
            t.parts[k]?.request = Request(peer: peer.id, start: 0, deadline: now + config.requestTimeout)
            busy[peer.id, default: 0] += 1
        }
    }

    private func logProgress(_ t: inout Target) {
        let now = ContinuousClock.now
        guard now - t.lastLog >= config.progressInterval else { return }
        let secs = max(0.001, (now - t.lastLog).seconds)
        let rate = Double(t.keysDone - t.lastLogKeys) / secs
        let mbps = Double(t.bytes - t.lastLogBytes) / secs / 1_048_576
        let eta = rate > 0 ? "\(Int(Double(t.totalKeys - t.keysDone) / rate)) s" : "unknown"
        logger.info("state sync progress", metadata: [
            "keys": "\(t.keysDone)/\(t.totalKeys)", "MB": "\(SyncManager.fixed(Double(t.bytes) / 1_048_576, 1))",
            "MB/s": "\(SyncManager.fixed(mbps, 2))", "keys/s": "\(Int(rate))", "eta": "\(eta)", "peers": "\(t.sources.count)",
        ])
        t.lastLog = now
        t.lastLogKeys = t.keysDone
        t.lastLogBytes = t.bytes
    }

    // MARK: Adoption

    private func adopt(_ t: Target) async -> Bool {
        var entries = [KeyValue]()
        entries.reserveCapacity(Int(clamping: t.totalKeys))
        for k in 0..<UInt16(SnapshotManifest.chunkCount) { entries += t.parts[k]?.entries ?? [] }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let body = (t.parts[SnapshotParts.body]?.entries ?? []).flatMap(\.value)
        let receiptBytes = (t.parts[SnapshotParts.receipts]?.entries ?? []).flatMap(\.value)
        do {
            let txs = try Block.decodeBody(body, maxTransactions: chain.genesis.consensus.maxBlockTransactions)
            let receipts = try ChainEngine.decodeReceipts(receiptBytes)
            let block = Block(signedHeader: t.offer.header, transactions: txs)
            try await chain.adoptSnapshot(block: block, receipts: receipts, entries: entries)
        } catch {
            logger.error("state sync: adopting the snapshot failed: \(error); starting over")
            return false
        }
        let secs = max(0.001, (ContinuousClock.now - t.started).seconds)
        logger.info("state sync complete", metadata: [
            "height": "\(t.offer.header.header.height)", "keys": "\(t.totalKeys)", "MB": "\(SyncManager.fixed(Double(t.bytes) / 1_048_576, 1))",
            "seconds": "\(SyncManager.fixed(secs, 1))", "keys/s": "\(Int(Double(t.totalKeys) / secs))",
        ])
        return true
    }
}

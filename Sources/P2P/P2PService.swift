import Consensus
import Foundation
import Ledger
import Logging
import NIOCore
import NIOPosix
import Primitives
import ServiceLifecycle
import Synchronization

/// The peer-to-peer node (Specs/p2p.md): listens for and dials peers, authenticates them, relays blocks and
/// transactions, serves and runs headers-first sync, scores misbehaviour and bans. A `Service`: `run()`
/// returns after graceful shutdown (peers get a `disconnect(shutdown)`) or cancellation.
///
/// Concurrency: framing runs on the NIO event loop (`FrameDecoder`); each session is a child task reading
/// its messages in order, with a writer and a pinger beside it; sync is one task owning its state; all of
/// them live in the task group of `run()`.
///
/// Files: this one has the service's state, `run()`, housekeeping and persistence; `Sessions.swift` accepting,
/// dialling and running connections; `HandshakeExchange.swift` the `hello`/`auth` exchange; `MessageHandler.swift`
/// every message after it (socket-free); `Gossip.swift` block and transaction relay; `Sync.swift` sync.
public final class P2PService: Service, Sendable {
    public let config: P2PConfig
    public let chain: ChainService
    /// Our node identity.
    public var nodeKey: PublicKey { config.nodeKey.publicKey }
    let logger: Logger
    let limits: P2PLimits
    let group: any EventLoopGroup
    let table: PeerTable
    let book: Mutex<AddressBook>
    let sync: SyncManager
    /// Seen and invalid blocks, seen transactions, the relay queue and the status flag (one lock).
    let gossip: Gossip
    /// Serves state snapshots to peers that state-sync (nil: serving turned off).
    let snapshots: SnapshotServer?
    /// State sync (`--state-sync`): set while a genesis-only node downloads a snapshot.
    let stateSyncGate = StateSyncGate()
    let stateSyncer: StateSyncer?
    /// The listener's lifecycle, set by `run()` and read by every session's handshake (one lock).
    struct Lifecycle: Sendable {
        /// Our genesis block's hash, named in `hello` (read from the chain when `run()` starts).
        var genesisHash: Hash32?
        /// The port we listen on once bound, announced in `hello`.
        var boundPort: Int?
        /// Set at shutdown: no more dialing, accepting or new sessions.
        var stopping = false
    }
    let lifecycle = Mutex(Lifecycle())
    /// Inbound connections whose Noise handshake is under way, in all and by host (`configure`).
    let pendingHandshakes = Mutex(PendingHandshakes())
    /// One anchors-file write at a time: sessions starting together wrote through the one temporary file, and one
    /// renamed (or removed) another's (`cannot save the anchors file` at every fresh start; eighteenth-session audit).
    private let anchorsWrite = Mutex(())
    /// Bytes queued for one peer before it counts as too slow.
    let maxQueuedBytes: Int
    /// The bytes queued for every peer together.
    let outboundBudget: OutboundBudget
    /// Our Noise static key and the node key's signature binding it (made once per process).
    let noiseIdentity: NoiseIdentity
    /// Node keys expected at anchor addresses (read from the anchors file at start).
    let anchorKeys: [PeerEndpoint: PublicKey]

    /// - Parameters:
    ///   - eventLoopGroup: where sockets run (default: NIO's shared group).
    public init(config: P2PConfig, chain: ChainService, logger: Logger,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.config = config
        self.chain = chain
        var logger = logger
        logger[metadataKey: "module"] = "p2p"
        self.logger = logger
        limits = P2PLimits(genesis: chain.genesis)
        group = eventLoopGroup
        noiseIdentity = NoiseIdentity(nodeKey: config.nodeKey, chainId: chain.genesis.chainId)
        let table = PeerTable(ourKey: config.nodeKey.publicKey, maxInbound: config.maxInboundPeers, maxOutbound: config.maxOutboundPeers,
                              banThreshold: config.banThreshold, banDuration: config.banDuration)
        self.table = table
        var book = AddressBook(bootstrap: config.bootstrapPeers, backoffMin: config.reconnectMin, backoffMax: config.reconnectMax)
        if let file = config.peersFile {
            do { for e in try PeersFile.load(file) { book.learn(e) } } catch {
                logger.warning("peers file ignored: \(error)")
            }
        }
        var anchors = [PeerEndpoint: PublicKey]()
        if let file = config.anchorsFile {
            for (e, k) in AnchorsFile.load(file) where k != config.nodeKey.publicKey {
                book.anchor(e, nodeKey: k)
                anchors[e] = k
            }
            // Used once: a node that cannot reach its anchors must not keep preferring them.
            try? FileManager.default.removeItem(atPath: file)
            if !anchors.isEmpty { logger.info("dialling anchor peers first", metadata: ["anchors": "\(anchors.keys.map(\.description))"]) }
        }
        anchorKeys = anchors
        if let file = config.banFile, let bans = BanFile.load(file) {
            let n = table.importBans(bans)
            logger.info("bans restored", metadata: ["bans": "\(n)", "scores": "\(bans.scores.count)"])
        }
        self.book = Mutex(book)
        // Room for a full `getBlocks` answer of in-flight-sized batches of full blocks, and then some.
        maxQueuedBytes = max(64 << 20, 20 * P2PLimits(genesis: chain.genesis).maxFrameBytes)
        outboundBudget = OutboundBudget(limit: config.maxTotalQueuedBytes, peers: config.maxInboundPeers + config.maxOutboundPeers)
        let penalizeLogger = logger
        let gate = stateSyncGate
        let sync = SyncManager(chain: chain, table: table, config: config, logger: logger, hasBootstrap: !config.bootstrapPeers.isEmpty,
                               stateSync: gate) {
            peer, what, detail in P2PService.penalize(table: table, logger: penalizeLogger, peer, what, detail)
        }
        self.sync = sync
        snapshots = config.serveSnapshots ? SnapshotServer(chain: chain, corrupt: config.corruptSnapshotsForTests) : nil
        if let s = config.stateSync {
            stateSyncer = StateSyncer(chain: chain, table: table, config: config, sync: s, limits: limits, logger: logger, gate: gate) {
                peer, what, detail in P2PService.penalize(table: table, logger: penalizeLogger, peer, what, detail)
            }
            // Set before run(): nothing may import a block on top of genesis while the snapshot is chosen.
            gate.set(true)
        } else {
            stateSyncer = nil
        }
        gossip = Gossip(chain: chain, table: table, sync: sync, limits: limits, logger: logger)
    }

    /// The handler of a session's messages after the handshake; peer exchange goes through this service.
    var messageHandler: MessageHandler {
        MessageHandler(config: config, limits: limits, chain: chain, table: table, sync: sync, gossip: gossip, logger: logger,
                       snapshots: snapshots, stateSyncer: stateSyncer, stateSyncGate: stateSyncGate,
                       shareablePeers: { [self] in shareablePeers(excluding: $0) }, learn: { [self] in learn($0, from: $1) })
    }

    // MARK: - Public surface

    /// Whether the node has caught up with its peers; the block producer does not produce until it has.
    /// A node with no bootstrap peers counts as synced on its own.
    public func isSynced() -> Bool { sync.status.isSynced }

    /// Sync position and peer count.
    public var syncStatus: SyncStatus { sync.status }

    /// Bytes queued for every peer and not yet written.
    public var outboundQueuedBytes: Int { outboundBudget.total }

    /// The connected peers.
    public func peers() -> [PeerInfo] {
        table.peers.filter { !$0.isClosed }.map { p in
            var info = p.info
            info.addressGroup = AddressGroup.of(p.remoteHost)
            info.score = max(table.score(.node(p.nodeKey)), table.score(.address(p.remoteHost)))
            info.banned = table.isBanned(p.nodeKey) || table.isBanned(host: p.remoteHost)
            return info
        }
    }

    /// Relays a block (the block producer's hook) to every peer that does not have it.
    public func broadcast(_ block: Block) async {
        gossip.markSeen(block: block.hash)
        gossip.relay(block, except: nil)
    }

    /// The listening port once bound (waits up to `timeout`).
    public func listeningPort(timeout: Duration = .seconds(10)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let p = lifecycle.withLock({ $0.boundPort }) { return p }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw P2PConfigError("the P2P listener did not start within \(timeout)")
    }

    /// Whether a node key is banned now.
    public func isBanned(_ key: PublicKey) -> Bool { table.isBanned(key) }

    /// The misbehaviour score of a remote host (after decay).
    public func misbehaviourScore(host: String) -> Double { table.score(.address(host)) }

    /// The misbehaviour score of a node key (after decay).
    public func misbehaviourScore(node: PublicKey) -> Double { table.score(.node(node)) }

    // MARK: - Run

    public func run() async throws {
        let genesisHash = await chain.genesisHash
        lifecycle.withLock { $0.genesisHash = genesisHash }
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .bind(host: config.listenHost, port: config.listenPort) { channel in
                    channel.eventLoop.makeCompletedFuture { try self.configure(channel, role: .responder, expectedPeer: nil) }
                }
        } catch {
            throw P2PConfigError("cannot listen for peers on \(config.listenHost):\(config.listenPort) (--p2p-addr / \"p2pAddr\"): \(socketErrorText(error))")
        }
        let port = server.channel.localAddress?.port ?? config.listenPort
        lifecycle.withLock { $0.boundPort = port }
        logger.info("p2p listening", metadata: [
            "address": "\(config.listenHost):\(port)", "nodeKey": "\(nodeKey.hex)", "bootstrap": "\(config.bootstrapPeers.count)",
        ])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.acceptLoop(server) }
            group.addTask { await self.sync.run() }
            if let syncer = self.stateSyncer { group.addTask { await self.runStateSync(syncer) } }
            group.addTask { await self.dialLoop() }
            group.addTask { await self.chainEventsLoop() }
            group.addTask { await self.maintenanceLoop() }
            let graceful = (try? await gracefulShutdown()) != nil
            logger.info("p2p shutting down", metadata: ["peers": "\(table.peers.count)"])
            lifecycle.withLock { $0.stopping = true }
            server.channel.close(promise: nil)
            saveAnchors()
            for p in table.peers { p.disconnect(.shutdown, "node shutting down") }
            if graceful { try? await Task.sleep(for: .milliseconds(200)) }  // let writers flush the goodbyes
            savePeersFile()
            saveBans(force: true)
            sync.finish()
            stateSyncer?.finish()
            group.cancelAll()
        }
        logger.info("p2p stopped")
    }

    /// A connection and its remote address, read while the channel is surely open (a peer that is
    /// disconnected at once for garbage must still be scored by address).
    struct Connection: Sendable {
        let channel: NIOAsyncChannel<Frame, ByteBuffer>
        let remote: SocketAddress?
        /// The Noise handshake's outcome: the authenticated peer (nil only for the benchmarks' plaintext baseline and
        /// for an inbound connection over the handshake limit).
        let noise: EventLoopFuture<NoisePeer>?
        /// An inbound connection accepted while `maxInboundPeers` handshakes (or the host's `maxInboundPerIP`) were
        /// already under way: closed at once, with no handshake.
        var overLimit = false
    }

    /// The pipeline of every connection: Noise encryption (the dialer initiates), framing of the decrypted
    /// stream on the event loop, then an async channel of frames.
    func configure(_ channel: any Channel, role: NoiseRole, expectedPeer: PublicKey?) throws -> Connection {
        var noise: NoiseHandler?
        // Fourteenth review: every accepted connection did the responder's handshake (a key generation, two X25519
        // operations) and was held until it finished or timed out, refused ones included, with no bound: a host
        // opening connections in a loop held rate × handshakeTimeout sockets. At most `maxInboundPeers` inbound
        // handshakes run at once (and `maxInboundPerIP` per host, loopback exempt as configured); the rest are closed
        // unanswered.
        var admitted: (host: String, id: UInt64)?
        var overLimit = false
        if role == .responder && !config.plaintextTransportForBenchmarks {
            let address = channel.remoteAddress?.ipAddress ?? "unknown"
            // Counted per ban key: an IPv4 address, or an IPv6 /64 (one IPv6 host has 2⁶⁴ addresses; counting each
            // let one host take every slot). A banned address takes no slot at all: it is closed unanswered here,
            // rather than held for the handshake timeout and refused after it (eighteenth-session audit: a banned
            // host's connections kept every honest inbound handshake out).
            let host: String
            switch BanKey.address(address) { case .host(let h): host = h; case .node: host = address }
            let perHost = config.exemptLoopbackFromAddressLimits && isLoopbackHost(address) ? Int.max : max(1, config.maxInboundPerIP)
            // When the slots are taken, the newcomer may evict the oldest handshake of the host holding the most
            // (`PendingHandshakes`): hosts that open connections and send nothing cannot keep every other host out.
            let admission = table.isBanned(host: address) ? nil : pendingHandshakes.withLock {
                $0.admit(host, total: max(1, config.maxInboundPeers), perHost: perHost, close: { channel.close(promise: nil) })
            }
            if let admission {
                admitted = (host, admission.id)
                admission.evicted?()
            } else {
                overLimit = true
            }
        }
        if !config.plaintextTransportForBenchmarks && !overLimit {
            let handler = NoiseHandler(role: role, identity: noiseIdentity, expectedPeer: expectedPeer,
                                       timeout: TimeAmount(config.handshakeTimeout), eventLoop: channel.eventLoop)
            do { try channel.pipeline.syncOperations.addHandler(handler) } catch {
                if let a = admitted { pendingHandshakes.withLock { $0.release(a.host, id: a.id) } }
                throw error
            }
            if let a = admitted {
                handler.established.whenComplete { _ in self.pendingHandshakes.withLock { $0.release(a.host, id: a.id) } }
            }
            noise = handler
        }
        try channel.pipeline.syncOperations.addHandler(
            FrameDecoder(maxFrameBytes: limits.maxFrameBytes, stallTimeout: TimeAmount(config.frameStallTimeout)))
        let async = try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(
            // At most 8 decoded frames wait per connection (each up to `maxFrameBytes`, ~4 MiB): 32 let one connection
            // hold ~128 MiB, and 24 of them took a node past a gigabyte (eighteenth-session audit).
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), isOutboundHalfClosureEnabled: false,
            inboundType: Frame.self, outboundType: ByteBuffer.self))
        return Connection(channel: async, remote: channel.remoteAddress, noise: noise?.established, overLimit: overLimit)
    }

    // MARK: - Peer exchange

    /// Addresses of our peers a requester may dial (never its own, never private ones unless allowed).
    private func shareablePeers(excluding requester: Peer) -> [WireAddress] {
        var out = [WireAddress]()
        for p in table.peers where p !== requester && !p.isClosed {
            guard let e = p.listenEndpoint, let a = WireAddress(host: e.host, port: e.port) else { continue }
            if a.isPrivateOrLocal && !config.allowPrivateAddresses { continue }
            out.append(a)
            if out.count == P2PLimits.maxPeersPerMessage { break }
        }
        return out
    }

    /// Addresses a peer shared, into the address book (never private ones unless allowed, nor most likely ourselves).
    private func learn(_ addresses: [WireAddress], from peer: Peer) {
        let ownPort = lifecycle.withLock { $0.boundPort }
        var added = 0
        book.withLock { b in
            for a in addresses {
                if a.isPrivateOrLocal && !config.allowPrivateAddresses { continue }
                if a.isPrivateOrLocal, Int(a.port) == ownPort { continue }  // most likely ourselves
                if b.learn(PeerEndpoint(a), from: AddressGroup.of(peer.remoteHost)) { added += 1 }
            }
        }
        if added > 0 { logger.debug("learned peer addresses", metadata: ["count": "\(added)", "from": "\(peer.label)"]) }
    }

    // MARK: - Chain events and housekeeping

    /// Relays fresh blocks the chain accepted (from any source) and queues new mempool transactions.
    private func chainEventsLoop() async {
        while !Task.isCancelled {
            let events = await chain.events(buffer: 8192)
            for await event in events {
                // Only blocks near the head are gossiped; old ones (sync, reorgs) peers fetch themselves.
                let slot = chain.genesis.slot(atMillis: UInt64(Date().timeIntervalSince1970 * 1000))
                if let block = gossip.chainEvent(event, currentSlot: slot) { gossip.relay(block, except: nil) }
            }
            // The stream ended: cancelled, or we fell behind and were dropped (resubscribe).
        }
    }

    /// State sync when the chain holds genesis alone; otherwise (a restart after it, or an old data directory)
    /// headers-first sync goes on from the stored tip.
    private func runStateSync(_ syncer: StateSyncer) async {
        let height = await chain.status().height
        guard height == 0 else {
            logger.info("state sync skipped: the data directory already holds the chain", metadata: ["height": "\(height)"])
            stateSyncGate.set(false)
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled && self.stateSyncGate.isActive {
                    do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
                    syncer.post(.tick)
                }
            }
            _ = await syncer.run()
            group.cancelAll()
        }
    }

    /// Sync ticks, transaction relay, status announcements, the block list and the peers file.
    private func maintenanceLoop() async {
        var tick = 0
        var lastExchange = ContinuousClock.now
        // The block list file as last read: only this loop reads and reloads it.
        var blockList = BlockListReading()
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
            tick += 1
            sync.post(.tick)
            gossip.flushTransactions()
            if tick % 2 == 0, gossip.takeStatusDirty() {
                let status = PeerStatus(await chain.status())
                let frame = ByteBuffer(bytes: P2PMessage.status(status).frame)
                for p in table.peers where !p.isClosed { p.send(frame: frame) }
            }
            if tick % 3 == 0 { reloadBlockList(&blockList) }
            // Blocks that arrived slightly ahead of our clock wait in the chain service; a validator's producer
            // retries them every slot, a follower has only this.
            if tick % 10 == 0 { await chain.retryEarly() }
            if tick % 300 == 0 { savePeersFile() }
            if tick % 10 == 0 { saveBans() }
            if ContinuousClock.now - lastExchange >= config.peerExchangeInterval {
                lastExchange = .now
                askForPeers()
            }
        }
    }

    /// Asks one random outbound peer for addresses while the node could use more outbound connections (inbound peers
    /// are never asked: anyone can connect in, ninth review F3).
    private func askForPeers() {
        guard table.outboundCount < config.maxOutboundPeers,
              let p = table.peers.filter({ !$0.isClosed && $0.direction == .outbound }).randomElement() else { return }
        p.state.withLock { $0.lastPeersRequest = .now }
        p.send(.getPeers)
    }

    /// The block list file's text as last applied, and whether the last read failed (logged once per failure).
    struct BlockListReading {
        var text: String?
        var failing = false
    }

    /// Applies the operator's block list when its text changed since it was last applied.
    private func reloadBlockList(_ last: inout BlockListReading) {
        guard let path = config.blockListFile else { return }
        // No file is an empty list; a file we cannot read keeps the list in force (lifting every block because
        // of a read error would be the opposite of what the operator asked).
        let text: String
        if !FileManager.default.fileExists(atPath: path) { text = "" } else {
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                if !last.failing { logger.warning("cannot read the block list; keeping the current one: \(error)") }
                last.failing = true
                return
            }
        }
        last.failing = false
        guard text != last.text else { return }
        last.text = text
        let (keys, endpoints) = BlockListFile.parse(text)
        let excluded = table.setBlocked(keys: keys, endpoints: endpoints)
        logger.notice("block list loaded", metadata: ["keys": "\(keys.count)", "addresses": "\(endpoints.count)", "disconnecting": "\(excluded.count)"])
        for p in excluded { p.disconnect(.blocked, "blocked by the operator") }
        // Lifted blocks should reconnect at once, not after a long backoff.
        book.withLock { $0.resetBackoff() }
    }

    /// Writes the ban file when bans or scores changed (or always, at shutdown).
    private func saveBans(force: Bool = false) {
        guard let path = config.banFile, let f = table.exportBans(force: force) else { return }
        do { try f.save(path) } catch { logger.warning("cannot save the ban file: \(error)") }
    }

    /// Remembers up to two outbound peers we are connected to, to dial them first at the next start.
    func saveAnchors() {
        guard let path = config.anchorsFile else { return }
        // The list is taken under the lock too, so the last write is the newest list.
        anchorsWrite.withLock { _ in
            let anchors = table.peers.filter { $0.direction == .outbound && !$0.isClosed }.compactMap { p -> AnchorsFile.Anchor? in
                guard let e = p.listenEndpoint else { return nil }
                return AnchorsFile.Anchor(address: e.description, nodeKey: p.nodeKey.hex)
            }.sorted { $0.address < $1.address }.prefix(AnchorsFile.maxAnchors)
            guard !anchors.isEmpty else { return }
            do { try AnchorsFile(anchors: Array(anchors)).save(path) } catch { logger.warning("cannot save the anchors file: \(error)") }
        }
    }

    private func savePeersFile() {
        guard let path = config.peersFile else { return }
        let list = book.withLock { $0.persistable(limit: 256) }
        do { try PeersFile.save(path, list) } catch { logger.warning("cannot save the peers file: \(error)") }
    }

    // MARK: - Misbehaviour

    func misbehave(_ peer: Peer, _ what: Misbehaviour, _ detail: String) {
        Self.penalize(table: table, logger: logger, peer, what, detail)
    }

    static func penalize(table: PeerTable, logger: Logger, _ peer: Peer, _ what: Misbehaviour, _ detail: String) {
        let banned = table.penalize(key: peer.nodeKey, host: peer.remoteHost, what)
        let level: Logger.Level = what == .requestTimeout ? .debug : .warning
        logger.log(level: level, "peer misbehaved: \(what)", metadata: ["peer": "\(peer.label)", "detail": "\(detail)", "points": "\(what.points)"])
        if banned {
            logger.warning("banning peer", metadata: ["peer": "\(peer.label)", "reason": "\(what)", "detail": "\(detail)"])
            peer.disconnect(.banned, "\(what): \(truncatedUTF8(detail, max: 200))")
        }
    }
}

/// A socket error in plain words: NIO's `IOError` describes itself as `bind(descriptor:ptr:bytes:): Address already in
/// use) (errno: 98)`, which an operator reads past; the system's message is what they need.
func socketErrorText(_ error: any Error) -> String {
    guard let io = error as? IOError else { return "\(error)" }
    return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
}

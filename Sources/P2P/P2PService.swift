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
    private let seenBlocks = Mutex(BoundedSet<Hash32>(capacity: 8192))
    private let seenTxs = Mutex(BoundedSet<Hash32>(capacity: 65_536))
    /// Blocks found invalid: whoever sends one again misbehaves too (the dedup cache must not shield them).
    private let invalidBlocks = Mutex(BoundedSet<Hash32>(capacity: 4096))
    private let boundPort = Mutex<Int?>(nil)
    private let genesisHashBox = Mutex<Hash32?>(nil)
    private let pendingTxRelay = Mutex<[SignedTransaction]>([])
    private let statusDirty = Mutex(false)
    private let blockListText = Mutex<String?>(nil)
    /// Set at shutdown: no more dialing, accepting or new sessions.
    private let stopping = Mutex(false)
    /// Bytes queued for one peer before it counts as too slow.
    private let maxQueuedBytes: Int
    /// Our Noise static key and the node key's signature binding it (made once per process).
    let noiseIdentity: NoiseIdentity
    /// Node keys expected at anchor addresses (read from the anchors file at start).
    private let anchorKeys: [PeerEndpoint: PublicKey]

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
            for e in PeersFile.load(file) { book.learn(e) }
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
        let penalizeLogger = logger
        sync = SyncManager(chain: chain, table: table, config: config, logger: logger, hasBootstrap: !config.bootstrapPeers.isEmpty) { peer, what, detail in
            P2PService.penalize(table: table, logger: penalizeLogger, peer, what, detail)
        }
    }

    // MARK: - Public surface

    /// Whether the node has caught up with its peers; the block producer does not produce until it has.
    /// A node with no bootstrap peers counts as synced on its own.
    public func isSynced() -> Bool { sync.status.isSynced }

    /// Sync position and peer count.
    public var syncStatus: SyncStatus { sync.status }

    /// The connected peers.
    public func peers() -> [PeerInfo] {
        table.peers.filter { !$0.isClosed }.map { p in
            var info = p.info
            info.addressGroup = AddressGroup.of(p.remoteHost)
            info.score = max(table.score(.node(p.nodeKey)), table.score(.host(p.remoteHost)))
            info.banned = table.isBanned(p.nodeKey) || table.isBanned(host: p.remoteHost)
            return info
        }
    }

    /// Relays a block (the block producer's hook) to every peer that does not have it.
    public func broadcast(_ block: Block) async {
        seenBlocks.withLock { _ = $0.insert(block.hash) }
        relay(block, except: nil)
    }

    /// The listening port once bound (waits up to `timeout`).
    public func listeningPort(timeout: Duration = .seconds(10)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let p = boundPort.withLock({ $0 }) { return p }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw P2PConfigError("the P2P listener did not start within \(timeout)")
    }

    /// Whether a node key is banned now.
    public func isBanned(_ key: PublicKey) -> Bool { table.isBanned(key) }

    /// The misbehaviour score of a remote host (after decay).
    public func misbehaviourScore(host: String) -> Double { table.score(.host(host)) }

    /// The misbehaviour score of a node key (after decay).
    public func misbehaviourScore(node: PublicKey) -> Double { table.score(.node(node)) }

    // MARK: - Run

    public func run() async throws {
        let genesisHash = await chain.genesisHash
        genesisHashBox.withLock { $0 = genesisHash }
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
            throw P2PConfigError("cannot listen on \(config.listenHost):\(config.listenPort): \(error)")
        }
        let port = server.channel.localAddress?.port ?? config.listenPort
        boundPort.withLock { $0 = port }
        logger.info("p2p listening", metadata: [
            "address": "\(config.listenHost):\(port)", "nodeKey": "\(nodeKey.hex)", "bootstrap": "\(config.bootstrapPeers.count)",
        ])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.acceptLoop(server) }
            group.addTask { await self.sync.run() }
            group.addTask { await self.dialLoop() }
            group.addTask { await self.chainEventsLoop() }
            group.addTask { await self.maintenanceLoop() }
            let graceful = (try? await gracefulShutdown()) != nil
            logger.info("p2p shutting down", metadata: ["peers": "\(table.peers.count)"])
            stopping.withLock { $0 = true }
            server.channel.close(promise: nil)
            saveAnchors()
            for p in table.peers { p.disconnect(.shutdown, "node shutting down") }
            if graceful { try? await Task.sleep(for: .milliseconds(200)) }  // let writers flush the goodbyes
            savePeersFile()
            saveBans(force: true)
            sync.finish()
            group.cancelAll()
        }
        logger.info("p2p stopped")
    }

    /// A connection and its remote address, read while the channel is surely open (a peer that is
    /// disconnected at once for garbage must still be scored by address).
    struct Connection: Sendable {
        let channel: NIOAsyncChannel<Frame, ByteBuffer>
        let remote: SocketAddress?
        /// The Noise handshake's outcome: the authenticated peer (nil only for the benchmarks' plaintext baseline).
        let noise: EventLoopFuture<NoisePeer>?
    }

    /// The pipeline of every connection: Noise encryption (the dialer initiates), framing of the decrypted
    /// stream on the event loop, then an async channel of frames.
    private func configure(_ channel: any Channel, role: NoiseRole, expectedPeer: PublicKey?) throws -> Connection {
        var noise: NoiseHandler?
        if !config.plaintextTransportForBenchmarks {
            let handler = NoiseHandler(role: role, identity: noiseIdentity, expectedPeer: expectedPeer,
                                       timeout: TimeAmount(config.handshakeTimeout), eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(handler)
            noise = handler
        }
        try channel.pipeline.syncOperations.addHandler(
            FrameDecoder(maxFrameBytes: limits.maxFrameBytes, stallTimeout: TimeAmount(config.frameStallTimeout)))
        let async = try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(
            backPressureStrategy: .init(lowWatermark: 4, highWatermark: 32), isOutboundHalfClosureEnabled: false,
            inboundType: Frame.self, outboundType: ByteBuffer.self))
        return Connection(channel: async, remote: channel.remoteAddress, noise: noise?.established)
    }

    private func acceptLoop(_ server: NIOAsyncChannel<Connection, Never>) async {
        do {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { connections in
                    for try await connection in inbound {
                        connections.addTask { await self.inboundConnection(connection) }
                    }
                }
            }
        } catch {
            if !Task.isCancelled { logger.error("p2p listener failed: \(error)") }
        }
    }

    private func inboundConnection(_ connection: Connection) async {
        let host = connection.remote?.ipAddress ?? "unknown"
        if stopping.withLock({ $0 }) {
            await refuse(connection, .shutdown, "node shutting down")
            return
        }
        if table.isBanned(host: host) {
            await refuse(connection, .banned, "address banned")
            return
        }
        let exempt = config.exemptLoopbackFromAddressLimits
        if let why = table.reserveInbound(host: host, perHost: config.maxInboundPerIP, perGroup: config.maxInboundPerGroup, exemptLoopback: exempt) {
            await refuse(connection, .tooManyPeers, why)
            return
        }
        defer { table.releaseInbound(host: host, exemptLoopback: exempt) }
        guard table.reserveInbound() else {
            await refuse(connection, .tooManyPeers, "inbound limit \(config.maxInboundPeers) reached")
            return
        }
        defer { table.releaseInbound() }
        _ = await runSession(connection, direction: .inbound, dialed: nil)
    }

    private func refuse(_ connection: Connection, _ reason: DisconnectReason, _ message: String) async {
        logger.debug("refusing connection", metadata: ["remote": "\(connection.remote?.description ?? "?")", "reason": "\(reason)"])
        try? await connection.channel.executeThenClose { _, outbound in
            // The reason can only travel encrypted: wait for the Noise handshake (bounded by its timeout).
            _ = try await connection.noise?.get()
            try await outbound.write(ByteBuffer(bytes: P2PMessage.disconnect(reason, message).frame))
        }
    }

    // MARK: - Dialing

    private func dialLoop() async {
        await withDiscardingTaskGroup { dials in
            while !Task.isCancelled && !stopping.withLock({ $0 }) {
                let free = config.maxOutboundPeers - table.outboundCount
                let table = self.table
                let exempt = config.exemptLoopbackFromAddressLimits
                // Learned addresses only in address groups we have no outbound peer in yet (the operator's
                // bootstrap peers and our anchors are always dialled).
                var groups = Set<String>()
                let due = book.withLock { b in
                    b.takeDue(max: free) { entry in
                        if table.isBlocked(endpoint: entry.endpoint) || table.isConnected(endpoint: entry.endpoint)
                            || (entry.nodeKey.map { table.isConnected($0) || table.isBanned($0) } ?? false) { return true }
                        guard entry.source == .learned, !(exempt && isLoopbackHost(entry.endpoint.host)) else { return false }
                        let g = AddressGroup.of(entry.endpoint.host)
                        if table.outboundInGroup(of: entry.endpoint.host) > 0 || groups.contains(g) { return true }
                        groups.insert(g)
                        return false
                    }
                }
                for e in due {
                    guard table.reserveOutbound() else {
                        book.withLock { $0.release(e) }
                        continue
                    }
                    table.addOutboundGroup(e.host)
                    dials.addTask {
                        defer {
                            self.table.removeOutboundGroup(e.host)
                            self.table.releaseOutbound()
                        }
                        await self.outboundConnection(e)
                    }
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func outboundConnection(_ e: PeerEndpoint) async {
        let connection: Connection
        do {
            connection = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .connect(host: e.host, port: e.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try self.configure(channel, role: .initiator, expectedPeer: self.config.pinnedPeerKeys[e] ?? self.anchorKeys[e])
                    }
                }
        } catch {
            logger.debug("dial failed", metadata: ["peer": "\(e)", "error": "\(error)"])
            book.withLock { $0.finished(e, lasted: nil) }
            return
        }
        let result = await runSession(connection, direction: .outbound, dialed: e)
        book.withLock { $0.finished(e, lasted: result.lasted, wasSelf: result.wasSelf, nodeKey: result.nodeKey) }
    }

    // MARK: - Sessions

    struct SessionResult {
        var lasted: Duration?
        var wasSelf = false
        var nodeKey: PublicKey?
    }

    /// Why a handshake ended the connection.
    enum HandshakeFailure: Error, CustomStringConvertible {
        case closed
        case wire(P2PWireError)
        case remoteDisconnected(DisconnectReason, String)
        case unexpected(MessageType)
        case wrongVersion(UInt32)
        case wrongChain(chainId: Hash32, genesisHash: Hash32)
        case selfConnection
        case invalidKey
        case badSignature
        case refused(DisconnectReason, String)
        /// The encrypted transport could not be established (Noise handshake failure).
        case noise(NoiseError)
        /// `hello` names another node key than the one the Noise handshake authenticated.
        case identityMismatch

        var description: String {
            switch self {
            case .closed: "connection closed during the handshake"
            case .wire(let e): "\(e)"
            case .remoteDisconnected(let r, let m): "peer disconnected: \(r)\(m.isEmpty ? "" : " (\(m))")"
            case .unexpected(let t): "unexpected \(t) message during the handshake"
            case .wrongVersion(let v): "peer speaks protocol version \(v), we speak \(p2pProtocolVersion)"
            case .wrongChain(let c, let g): "peer is on chain \(c.hex.prefix(16)) with genesis block \(g.hex.prefix(16))"
            case .selfConnection: "connected to ourselves"
            case .invalidKey: "peer's node key is not a valid public key"
            case .badSignature: "peer's handshake signature does not verify"
            case .refused(let r, let m): "refused: \(r) (\(m))"
            case .noise(let e): "\(e)"
            case .identityMismatch: "peer's hello names another node key than its encrypted session's identity"
            }
        }
    }

    /// Runs one connection from handshake to close.
    private func runSession(_ connection: Connection, direction: PeerDirection, dialed: PeerEndpoint?) async -> SessionResult {
        let channel = connection.channel.channel
        // Outbound channels are initialized before they connect: their address is known only now.
        let address = connection.remote ?? channel.remoteAddress
        let host = address?.ipAddress ?? dialed?.host ?? "unknown"
        let remote = address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? dialed?.description ?? "unknown"
        var result = SessionResult()
        let timedOut = Mutex(false)
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                let timer = channel.eventLoop.scheduleTask(in: TimeAmount(config.handshakeTimeout)) {
                    timedOut.withLock { $0 = true }
                    channel.close(promise: nil)
                }
                let hello: Hello
                do {
                    let noisePeer: NoisePeer?
                    do { noisePeer = try await connection.noise?.get() } catch {
                        throw HandshakeFailure.noise(error as? NoiseError ?? .closed)
                    }
                    hello = try await handshake(&frames, outbound, host: host, dialed: dialed, noisePeer: noisePeer)
                    timer.cancel()
                } catch let failure as HandshakeFailure {
                    timer.cancel()
                    result.wasSelf = failure.isSelf
                    handshakeFailed(failure, host: host, remote: remote, direction: direction, timedOut: timedOut.withLock { $0 })
                    return
                }
                result.nodeKey = hello.nodeKey
                let listen = dialed ?? (hello.listenPort != 0 ? PeerEndpoint(host: host, port: Int(hello.listenPort)) : nil)
                let (stream, outbox) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingOldest(8192))
                let peer = Peer(id: table.nextId(), nodeKey: hello.nodeKey, direction: direction, remoteHost: host, remoteAddress: remote,
                                listenEndpoint: listen, userAgent: hello.userAgent, outbox: outbox, maxQueuedBytes: maxQueuedBytes,
                                bucket: TokenBucket(rate: config.messagesPerSecond, burst: config.messageBurst, now: .now))
                let (registration, replaced) = stopping.withLock { $0 } ? (.rejected(.shutdown, "node shutting down"), nil) : table.register(peer)
                if case .rejected(let reason, let message) = registration {
                    logger.debug("session refused", metadata: ["peer": "\(peer.label)", "reason": "\(reason)", "detail": "\(message)"])
                    try? await outbound.write(ByteBuffer(bytes: P2PMessage.disconnect(reason, message).frame))
                    return
                }
                if let replaced { replaced.disconnect(.duplicate, "replaced by a connection in the other direction") }
                let started = ContinuousClock.now
                logger.info("peer connected", metadata: [
                    "peer": "\(peer.label)", "direction": "\(direction.rawValue)", "listen": "\(listen?.description ?? "-")",
                    "agent": "\(hello.userAgent)",
                ])
                // Kept current as outbound sessions start, not only at shutdown: when the node stops, cancellation
                // may close the sessions before the shutdown path can list them.
                if direction == .outbound { saveAnchors() }
                peer.send(.status(PeerStatus(await chain.status())))
                peer.state.withLock { $0.lastPeersRequest = .now }
                peer.send(.getPeers)
                var reason = "closed"
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.writeLoop(stream, outbound, peer, channel) }
                    await withDiscardingTaskGroup { inner in
                        inner.addTask { await self.pingLoop(peer) }
                        reason = await self.readLoop(&frames, peer)
                        inner.cancelAll()
                    }
                    // Let the writer flush what is queued (a disconnect reason), but not forever.
                    peer.closeOutbox()
                    channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
                }
                table.unregister(peer)
                sync.post(.disconnected(peer))
                result.lasted = ContinuousClock.now - started
                logger.info("peer disconnected", metadata: [
                    "peer": "\(peer.label)", "reason": "\(reason)", "seconds": "\(Int((ContinuousClock.now - started).seconds))",
                ])
            }
        } catch {
            logger.debug("connection error", metadata: ["remote": "\(remote)", "error": "\(error)"])
        }
        return result
    }

    /// Both sides send `hello` at once; each signs the other's challenge in `auth`.
    private func handshake(_ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
                           host: String, dialed: PeerEndpoint?, noisePeer: NoisePeer?) async throws(HandshakeFailure) -> Hello {
        let chainId = chain.genesis.chainId
        let genesisHash = genesisHashBox.withLock { $0 } ?? .zero
        let challenge = SecureRandom.hash32()
        let ours = Hello(chainId: chainId, genesisHash: genesisHash, nodeKey: nodeKey, challenge: challenge,
                         listenPort: UInt16(clamping: boundPort.withLock { $0 } ?? 0), userAgent: config.userAgent)
        await write(.hello(ours), outbound)
        let hello: Hello
        switch try await nextMessage(&frames) {
        case .hello(let h): hello = h
        case let other: throw .unexpected(other.type)
        }
        guard hello.version == p2pProtocolVersion else {
            await write(.disconnect(.wrongVersion, "this node speaks version \(p2pProtocolVersion)"), outbound)
            throw .wrongVersion(hello.version)
        }
        guard hello.chainId == chainId, hello.genesisHash == genesisHash else {
            await write(.disconnect(.wrongChain, "this node is on chain \(chainId.hex)"), outbound)
            throw .wrongChain(chainId: hello.chainId, genesisHash: hello.genesisHash)
        }
        guard hello.nodeKey != nodeKey else {
            await write(.disconnect(.selfConnection, ""), outbound)
            throw .selfConnection
        }
        guard hello.nodeKey.isValid else {
            await write(.disconnect(.badHandshake, "invalid node key"), outbound)
            throw .invalidKey
        }
        // The session's encryption keys belong to the node the Noise handshake authenticated; `hello` must
        // name the same one.
        guard noisePeer == nil || hello.nodeKey == noisePeer?.nodeKey else {
            await write(.disconnect(.badHandshake, "hello names another node key than the encrypted session's"), outbound)
            throw .identityMismatch
        }
        let endpoint = dialed ?? (hello.listenPort != 0 ? PeerEndpoint(host: host, port: Int(hello.listenPort)) : nil)
        if let (reason, message) = table.refusal(hello.nodeKey, host: host, endpoint: endpoint) {
            await write(.disconnect(reason, message), outbound)
            throw .refused(reason, message)
        }
        await write(.auth(Handshake.sign(chainId: chainId, peerChallenge: hello.challenge, key: config.nodeKey, peerKey: hello.nodeKey)), outbound)
        let signature: Signature
        switch try await nextMessage(&frames) {
        case .auth(let s): signature = s
        case let other: throw .unexpected(other.type)
        }
        guard Handshake.verify(signature, chainId: chainId, ourChallenge: challenge, peerKey: hello.nodeKey, ourKey: nodeKey) else {
            await write(.disconnect(.badHandshake, "handshake signature does not verify"), outbound)
            throw .badSignature
        }
        return hello
    }

    private func write(_ message: P2PMessage, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        try? await outbound.write(ByteBuffer(bytes: message.frame))
    }

    /// The next handshake message; a `disconnect` ends the handshake with the peer's reason.
    private func nextMessage(_ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator) async throws(HandshakeFailure) -> P2PMessage {
        let frame: Frame?
        do { frame = try await frames.next() } catch let e as P2PWireError { throw .wire(e) } catch { throw .closed }
        guard let frame else { throw .closed }
        let m: P2PMessage
        do { m = try P2PMessage.decode(type: frame.type, payload: frame.payload, limits: limits) } catch { throw .wire(error) }
        if case .disconnect(let r, let text) = m { throw .remoteDisconnected(r, text) }
        return m
    }

    private func handshakeFailed(_ failure: HandshakeFailure, host: String, remote: String, direction: PeerDirection, timedOut: Bool) {
        let meta: Logger.Metadata = ["remote": "\(remote)", "direction": "\(direction.rawValue)"]
        let what: Misbehaviour?
        switch failure {
        case .closed where timedOut:
            logger.info("handshake timed out", metadata: meta)
            what = .stalledFrame
        case .closed, .selfConnection:
            logger.debug("handshake ended: \(failure)", metadata: meta)
            what = nil
        case .remoteDisconnected, .refused:
            logger.info("handshake ended: \(failure)", metadata: meta)
            what = nil
        case .wrongChain, .wrongVersion:
            logger.warning("disconnecting: \(failure)", metadata: meta)
            what = nil
        case .wire(let e):
            if case .frameTimeout = e { what = .stalledFrame } else { what = .malformedMessage }
            logger.warning("handshake failed: \(failure)", metadata: meta)
        case .unexpected:
            logger.warning("handshake failed: \(failure)", metadata: meta)
            what = .protocolViolation
        case .invalidKey, .badSignature, .identityMismatch:
            logger.warning("handshake failed: \(failure)", metadata: meta)
            what = .badHandshake
        case .noise(let e):
            switch e {
            case .closed where !timedOut:
                logger.debug("handshake ended: \(failure)", metadata: meta)
                what = nil
            case .closed, .timeout:
                // Our session timer and the Noise handler's share the deadline: whichever fires first.
                logger.info("handshake timed out", metadata: meta)
                what = .stalledFrame
            case .plaintextPeer:
                logger.warning("refusing plaintext peer: it speaks the unencrypted P2P protocol; this node requires Noise encryption",
                               metadata: meta)
                what = nil
            case .wrongChain, .wrongVersion:
                logger.warning("disconnecting: \(e)", metadata: meta)
                what = nil
            case .identityMismatch:
                // Not the peer's fault necessarily (an address now used by another node), but never accepted.
                logger.warning("handshake failed: \(e)", metadata: meta)
                what = nil
            case .decryptionFailed, .invalidPublicKey, .malformedMessage, .outOfOrder, .badIdentity, .identitySignatureInvalid:
                logger.warning("handshake failed: \(e)", metadata: meta)
                what = .badHandshake
            case .nonceExhausted, .library:
                logger.error("handshake failed: \(e)", metadata: meta)
                what = nil
            }
        }
        if let what, table.penalize(key: nil, host: host, what) {
            logger.warning("banning address", metadata: ["host": "\(host)", "reason": "\(what)"])
        }
    }

    private func writeLoop(_ stream: AsyncStream<ByteBuffer>, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ peer: Peer,
                           _ channel: any Channel) async {
        for await frame in stream {
            let n = frame.readableBytes
            do { try await outbound.write(frame) } catch { break }
            peer.didWrite(n)
        }
        // The outbox ended (a disconnect was queued, or the reader stopped): close so the reader ends too, but
        // only after what was queued is on the wire (writes complete in order; an empty one is the barrier), or
        // the peer would never learn why it was disconnected.
        _ = try? await channel.writeAndFlush(ByteBuffer()).get()
        try? await channel.close()
    }

    private func pingLoop(_ peer: Peer) async {
        while !Task.isCancelled && !peer.isClosed {
            do { try await Task.sleep(for: config.pingInterval) } catch { return }
            let now = ContinuousClock.now
            let nonce = UInt64.random(in: 1...UInt64.max)
            let idle = peer.state.withLock { s -> Duration in
                s.pingNonce = nonce
                s.pingSentAt = now
                return now - s.lastReceived
            }
            if idle > config.idleTimeout {
                peer.disconnect(.timeout, "silent for \(Int(idle.seconds)) s")
                return
            }
            peer.send(.ping(nonce))
        }
    }

    /// Reads messages until the connection ends; returns why it ended.
    private func readLoop(_ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, _ peer: Peer) async -> String {
        do {
            while let frame = try await frames.next() {
                peer.state.withLock { $0.lastReceived = .now }
                let message: P2PMessage
                do {
                    message = try P2PMessage.decode(type: frame.type, payload: frame.payload, limits: limits)
                } catch {
                    misbehave(peer, .malformedMessage, "\(error)")
                    peer.disconnect(.protocolViolation, "\(error)")
                    return "malformed message: \(error)"
                }
                if let end = await handle(message, from: peer) { return end }
                peer.state.withLock { $0.lastReceived = .now }
            }
        } catch let e as P2PWireError {
            if case .frameTimeout = e { misbehave(peer, .stalledFrame, "\(e)") } else { misbehave(peer, .malformedMessage, "\(e)") }
            return "\(e)"
        } catch {
            return Task.isCancelled ? "shutdown" : "connection error: \(error)"
        }
        return peer.isClosed ? "closed by us" : "closed by peer"
    }

    /// Whether an unsolicited message fits the peer's rate; over it, the message is dropped and scored.
    private func withinRate(_ peer: Peer, _ type: MessageType) -> Bool {
        if peer.state.withLock({ $0.bucket.take(now: .now) }) { return true }
        misbehave(peer, .rateLimited, "\(type) over \(Int(config.messagesPerSecond))/s")
        return false
    }

    /// Handles one message; returns a reason to end the session, or nil to go on.
    private func handle(_ message: P2PMessage, from peer: Peer) async -> String? {
        switch message {
        case .hello, .auth:
            misbehave(peer, .protocolViolation, "\(message.type) after the handshake")
            peer.disconnect(.protocolViolation, "\(message.type) after the handshake")
            return "protocol violation"
        case .disconnect(let reason, let text):
            return "peer said: \(reason)\(text.isEmpty ? "" : " (\(text))")"
        case .ping(let nonce):
            if withinRate(peer, .ping) { peer.send(.pong(nonce)) }
        case .pong(let nonce):
            peer.state.withLock { s in
                guard s.pingNonce == nonce, let sent = s.pingSentAt else { return }
                let rtt = ContinuousClock.now - sent
                s.latency = s.latency.map { $0 * 0.75 + rtt * 0.25 } ?? rtt
                s.pingNonce = nil
            }
        case .status(let st):
            guard withinRate(peer, .status) else { break }
            peer.state.withLock { s in
                s.status = st
                if s.discreditedHeight != st.height { s.discreditedHeight = nil }
            }
            sync.post(.status(peer))
        case .getHeaders(let locator, let max):
            guard withinRate(peer, .getHeaders) else { break }
            let headers = (try? await chain.headers(after: locator, max: Int(max))) ?? []
            peer.send(.headers(headers))
        case .headers(let headers):
            let asked = peer.state.withLock { s -> Bool in
                defer { s.headersRequested = false }
                return s.headersRequested
            }
            guard asked else { misbehave(peer, .unsolicited, "headers not requested"); break }
            sync.post(.headers(peer, headers))
        case .getBlocks(let hashes):
            guard withinRate(peer, .getBlocks) else { break }
            var missing = [Hash32]()
            for h in hashes {
                if let b = try? await chain.block(h) {
                    peer.markKnown(block: h)
                    peer.send(.block(b))
                } else {
                    missing.append(h)
                }
            }
            if !missing.isEmpty { peer.send(.notFound(missing)) }
        case .block(let b):
            guard peer.takeRequested(b.hash) else { misbehave(peer, .unsolicited, "block \(b.hash.hex.prefix(16)) not requested"); break }
            peer.markKnown(block: b.hash)
            sync.post(.block(peer, b))
        case .notFound(let hashes):
            let asked = hashes.filter { peer.takeRequested($0) }
            guard !asked.isEmpty else { misbehave(peer, .unsolicited, "notFound for blocks not requested"); break }
            sync.post(.notFound(peer, asked))
        case .newBlock(let b):
            guard withinRate(peer, .newBlock) else { break }
            await receiveNewBlock(b, from: peer)
        case .transactions(let txs):
            guard withinRate(peer, .transactions) else { break }
            await receiveTransactions(txs, from: peer)
        case .getPeers:
            guard withinRate(peer, .getPeers) else { break }
            let now = ContinuousClock.now
            let recent = peer.state.withLock { s -> Bool in
                if let last = s.lastPeersRequestAnswered, now - last < config.peerExchangeInterval / 2 { return true }
                s.lastPeersRequestAnswered = now
                return false
            }
            if !recent { peer.send(.peers(shareablePeers(excluding: peer))) }
        case .peers(let addresses):
            guard withinRate(peer, .peers) else { break }
            let asked = peer.state.withLock { s -> Bool in
                defer { s.lastPeersRequest = nil }
                return s.lastPeersRequest != nil
            }
            guard asked else { misbehave(peer, .unsolicited, "peers not requested"); break }
            learn(addresses, from: peer)
        }
        return peer.isClosed ? "disconnected by us" : nil
    }

    // MARK: - Gossip

    private func receiveNewBlock(_ block: Block, from peer: Peer) async {
        let hash = block.hash
        peer.markKnown(block: hash)
        guard Plausibility.slotIsPlausible(block.header.slot, genesis: chain.genesis, nowMillis: UInt64(Date().timeIntervalSince1970 * 1000)) else {
            misbehave(peer, .invalidBlock, "block \(hash.hex.prefix(16)) has slot \(block.header.slot), far ahead of the clock")
            return
        }
        if invalidBlocks.withLock({ $0.contains(hash) }) {
            misbehave(peer, .invalidBlock, "block \(block.header.height) \(hash.hex.prefix(16)) is known to be invalid")
            return
        }
        guard seenBlocks.withLock({ $0.insert(hash) }) else { return }
        let outcome = await chain.importBlock(block)
        switch outcome {
        case .imported, .sideChain:
            logger.debug("block from peer", metadata: ["height": "\(block.header.height)", "hash": "\(hash.hex.prefix(16))", "peer": "\(peer.label)"])
            relay(block, except: peer)
        case .alreadyKnown, .fromFuture:
            break
        case .unknownParent:
            // Forget it so a later announcement is processed again, and fetch the missing branch.
            seenBlocks.withLock { _ = $0.remove(hash) }
            sync.post(.orphan(peer))
        case .invalid(let e):
            invalidBlocks.withLock { _ = $0.insert(hash) }
            misbehave(peer, .invalidBlock, "block \(block.header.height) \(hash.hex.prefix(16)): \(e)")
        case .belowFinality:
            logger.debug("block forks below our finalized height; ignored", metadata: ["peer": "\(peer.label)", "height": "\(block.header.height)"])
        case .fault(let m):
            logger.error("importing a block from a peer failed: \(m)")
        }
    }

    /// Sends a block to every peer not known to have it (encoded once).
    private func relay(_ block: Block, except: Peer?) {
        var frame: ByteBuffer?
        for p in table.peers where p !== except && !p.isClosed {
            guard p.markKnown(block: block.hash) else { continue }
            if frame == nil { frame = ByteBuffer(bytes: P2PMessage.newBlock(block).frame) }
            if let frame { p.send(frame: frame) }
        }
    }

    private func receiveTransactions(_ txs: [SignedTransaction], from peer: Peer) async {
        for tx in txs {
            peer.markKnown(tx: tx.id)
            guard seenTxs.withLock({ $0.insert(tx.id) }) else { continue }
            do {
                try await chain.submit(tx)
            } catch {
                switch error {
                case .invalid(.badSignature), .invalid(.wrongChain), .invalid(.oversized):
                    misbehave(peer, .invalidTransaction, "transaction \(tx.id.hex.prefix(16)): \(error)")
                    if peer.isClosed { return }
                default:
                    break  // stale nonces, fees, full pools: normal gossip races, not misbehaviour
                }
            }
        }
    }

    /// Sends queued mempool admissions to the peers that do not have them, in frames under the cap.
    private func flushTransactions() {
        let txs = pendingTxRelay.withLock { q -> [SignedTransaction] in
            defer { q = [] }
            return q
        }
        guard !txs.isEmpty else { return }
        let budget = limits.maxPayloadBytes - 16
        for p in table.peers where !p.isClosed {
            let fresh = txs.filter { p.markKnown(tx: $0.id) }
            var batch = [SignedTransaction](), bytes = 0
            for tx in fresh {
                if !batch.isEmpty && (bytes + tx.encodedSize > budget || batch.count == P2PLimits.maxTransactionsPerMessage) {
                    p.send(.transactions(batch))
                    batch = []
                    bytes = 0
                }
                batch.append(tx)
                bytes += tx.encodedSize
            }
            if !batch.isEmpty { p.send(.transactions(batch)) }
        }
    }

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

    private func learn(_ addresses: [WireAddress], from peer: Peer) {
        let ownPort = boundPort.withLock { $0 }
        var added = 0
        book.withLock { b in
            for a in addresses {
                if a.isPrivateOrLocal && !config.allowPrivateAddresses { continue }
                if a.isPrivateOrLocal, Int(a.port) == ownPort { continue }  // most likely ourselves
                if b.learn(PeerEndpoint(a)) { added += 1 }
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
                switch event {
                case .newBlock(let block, _):
                    statusDirty.withLock { $0 = true }
                    // Only blocks near the head are gossiped; old ones (sync, reorgs) peers fetch themselves.
                    let slot = chain.genesis.slot(atMillis: UInt64(Date().timeIntervalSince1970 * 1000))
                    if block.header.slot + 3 >= slot { relay(block, except: nil) }
                case .reorg:
                    statusDirty.withLock { $0 = true }
                case .pendingTransaction(let tx):
                    seenTxs.withLock { _ = $0.insert(tx.id) }
                    pendingTxRelay.withLock { q in if q.count < 65_536 { q.append(tx) } }
                }
            }
            // The stream ended: cancelled, or we fell behind and were dropped (resubscribe).
        }
    }

    /// Sync ticks, transaction relay, status announcements, the block list and the peers file.
    private func maintenanceLoop() async {
        var tick = 0
        var lastExchange = ContinuousClock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
            tick += 1
            sync.post(.tick)
            flushTransactions()
            if tick % 2 == 0, statusDirty.withLock({ s -> Bool in defer { s = false }; return s }) {
                let status = PeerStatus(await chain.status())
                let frame = ByteBuffer(bytes: P2PMessage.status(status).frame)
                for p in table.peers where !p.isClosed { p.send(frame: frame) }
            }
            if tick % 3 == 0 { reloadBlockList() }
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

    /// Asks one random peer for addresses while the node could use more outbound connections.
    private func askForPeers() {
        guard table.outboundCount < config.maxOutboundPeers, let p = table.peers.filter({ !$0.isClosed }).randomElement() else { return }
        p.state.withLock { $0.lastPeersRequest = .now }
        p.send(.getPeers)
    }

    private func reloadBlockList() {
        guard let path = config.blockListFile else { return }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let changed = blockListText.withLock { old -> Bool in
            defer { old = text }
            return old != text
        }
        guard changed else { return }
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
    private func saveAnchors() {
        guard let path = config.anchorsFile else { return }
        let anchors = table.peers.filter { $0.direction == .outbound && !$0.isClosed }.compactMap { p -> AnchorsFile.Anchor? in
            guard let e = p.listenEndpoint else { return nil }
            return AnchorsFile.Anchor(address: e.description, nodeKey: p.nodeKey.hex)
        }.sorted { $0.address < $1.address }.prefix(AnchorsFile.maxAnchors)
        guard !anchors.isEmpty else { return }
        do { try AnchorsFile(anchors: Array(anchors)).save(path) } catch { logger.warning("cannot save the anchors file: \(error)") }
    }

    private func savePeersFile() {
        guard let path = config.peersFile else { return }
        let list = book.withLock { $0.persistable(limit: 256) }
        do { try PeersFile.save(path, list) } catch { logger.warning("cannot save the peers file: \(error)") }
    }

    // MARK: - Misbehaviour

    private func misbehave(_ peer: Peer, _ what: Misbehaviour, _ detail: String) {
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

extension P2PService.HandshakeFailure {
    var isSelf: Bool { if case .selfConnection = self { true } else { false } }
}


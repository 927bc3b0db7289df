import Consensus
import Foundation
import Logging
import NIOCore
import NIOPosix
import Primitives
import Synchronization

/// Connections: accepting and dialling them within the peer limits, and running each from handshake to close
/// (a writer, a pinger and the reader feeding `MessageHandler`).
extension P2PService {
    func acceptLoop(_ server: NIOAsyncChannel<Connection, Never>) async {
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
        if connection.overLimit {
            logger.debug("closing connection: inbound handshake limit", metadata: ["remote": "\(connection.remote?.description ?? "?")"])
            try? await connection.channel.executeThenClose { _, _ in }
            return
        }
        if lifecycle.withLock({ $0.stopping }) {
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
        if !table.reserveInbound() {
            // Full: an established inbound peer that is not protected makes room (Specs/p2p.md §5).
            guard table.evictInbound(for: host) else {
                await refuse(connection, .tooManyPeers, "inbound limit \(config.maxInboundPeers) reached")
                return
            }
            table.reserveInboundEvicting()
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

    func dialLoop() async {
        await withDiscardingTaskGroup { dials in
            while !Task.isCancelled && !lifecycle.withLock({ $0.stopping }) {
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

    /// Runs one connection from handshake to close.
    func runSession(_ connection: Connection, direction: PeerDirection, dialed: PeerEndpoint?) async -> SessionResult {
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
                                budget: outboundBudget, bucket: TokenBucket(rate: config.messagesPerSecond, burst: config.messageBurst, now: .now))
                let (registration, replaced) = lifecycle.withLock { $0.stopping } ? (.rejected(.shutdown, "node shutting down"), nil) : table.register(peer)
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
                // Addresses are asked of outbound peers only (the ones this node chose): an inbound connection is anyone's,
                // and each used to be asked, so one host with fresh keys could fill the address book (ninth review F3).
                if direction == .outbound {
                    peer.state.withLock { $0.lastPeersRequest = .now }
                    peer.send(.getPeers)
                }
                var reason = SessionEnd.closedByPeer
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
                peer.releaseQueued()
                sync.post(.disconnected(peer))
                stateSyncer?.post(.disconnected(peer))
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

    /// Reads frames until the connection ends; returns why it ended.
    private func readLoop(_ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, _ peer: Peer) async -> SessionEnd {
        let handler = messageHandler
        do {
            while let frame = try await frames.next() {
                peer.state.withLock { $0.lastReceived = .now }
                if let end = await handler.handle(frame, from: peer) { return end }
                peer.state.withLock { $0.lastReceived = .now }
            }
        } catch let e as P2PWireError {
            if case .frameTimeout = e { misbehave(peer, .stalledFrame, "\(e)") } else { misbehave(peer, .malformedMessage, "\(e)") }
            return .wire(e)
        } catch {
            return Task.isCancelled ? .shutdown : .connectionError("\(error)")
        }
        return peer.isClosed ? .closedByUs : .closedByPeer
    }
}

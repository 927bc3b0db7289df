import Consensus
import Foundation
import Logging
import Primitives

/// Why a session ended. The message handler returns the reasons a message can end it; the session adds those
/// of its transport. Typed so tests can assert them; `description` is the log line's `reason`.
enum SessionEnd: Equatable, Sendable, CustomStringConvertible {
    /// A `hello` or `auth` after the handshake: the peer was told `protocolViolation` and scored.
    case handshakeMessageAfterHandshake(MessageType)
    /// A frame that does not decode: the peer was told `protocolViolation` and scored.
    case malformedMessage(P2PWireError)
    /// The peer said goodbye.
    case remoteDisconnected(DisconnectReason, String)
    /// We disconnected the peer while handling its message (a ban, a slow reader).
    case disconnectedByUs
    /// The framing layer failed: an oversized or stalled frame (scored by the session).
    case wire(P2PWireError)
    case connectionError(String)
    case shutdown
    /// The stream ended after we closed the session.
    case closedByUs
    case closedByPeer

    var description: String {
        switch self {
        case .handshakeMessageAfterHandshake: "protocol violation"
        case .malformedMessage(let e): "malformed message: \(e)"
        case .remoteDisconnected(let reason, let text): "peer said: \(reason)\(text.isEmpty ? "" : " (\(text))")"
        case .disconnectedByUs: "disconnected by us"
        case .wire(let e): "\(e)"
        case .connectionError(let e): "connection error: \(e)"
        case .shutdown: "shutdown"
        case .closedByUs: "closed by us"
        case .closedByPeer: "closed by peer"
        }
    }
}

/// What a session does with each frame after the handshake: decoding, rate limits, answers, gossip and sync
/// hand-offs, misbehaviour scores. Socket-free: answers go to the peer's outbox and the caller's session
/// writes them, so tests drive it by feeding frames to a `Peer` built on a plain stream.
struct MessageHandler: Sendable {
    let config: P2PConfig
    let limits: P2PLimits
    let chain: ChainService
    let table: PeerTable
    let sync: SyncManager
    let gossip: Gossip
    let logger: Logger
    /// Serves snapshots to peers (nil: turned off).
    let snapshots: SnapshotServer?
    /// Our own state sync, when configured, and whether it is running now.
    let stateSyncer: StateSyncer?
    let stateSyncGate: StateSyncGate
    /// Addresses of our peers to share with a requester (the service's peer table and policy).
    let shareablePeers: @Sendable (_ requester: Peer) -> [WireAddress]
    /// Addresses a peer shared with us (into the service's address book).
    let learn: @Sendable (_ addresses: [WireAddress], _ from: Peer) -> Void

    /// Decodes and handles one frame; returns why the session must end, or nil to go on.
    func handle(_ frame: Frame, from peer: Peer) async -> SessionEnd? {
        let message: P2PMessage
        do {
            message = try P2PMessage.decode(type: frame.type, payload: frame.payload, limits: limits)
        } catch {
            misbehave(peer, .malformedMessage, "\(error)")
            peer.disconnect(.protocolViolation, "\(error)")
            return .malformedMessage(error)
        }
        return await handle(message, from: peer)
    }

    /// Handles one decoded message; returns why the session must end, or nil to go on.
    func handle(_ message: P2PMessage, from peer: Peer) async -> SessionEnd? {
        switch message {
        case .hello, .auth:
            misbehave(peer, .protocolViolation, "\(message.type) after the handshake")
            peer.disconnect(.protocolViolation, "\(message.type) after the handshake")
            return .handshakeMessageAfterHandshake(message.type)
        case .disconnect(let reason, let text):
            return .remoteDisconnected(reason, text)
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
            // A storage fault is ours: an empty answer would tell the peer we have nothing past its locator. Say
            // nothing (its request times out and it asks another peer), and log.
            do { peer.send(.headers(try chain.headers(after: locator, max: Int(max)))) } catch {
                logger.error("cannot serve headers: \(error)", metadata: ["peer": "\(peer.label)"])
            }
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
                // A peer cut meanwhile (a slow consumer, a ban) gets nothing more: no reading or encoding for it.
                if peer.isClosed { break }
                let block: Block?
                do { block = try chain.block(h) } catch {
                    // Not "not found": we may well have it. Neither sent nor denied; the peer's request times out.
                    logger.error("cannot serve block \(h.hex.prefix(16)): \(error)", metadata: ["peer": "\(peer.label)"])
                    continue
                }
                if let block {
                    peer.markKnown(block: h)
                    peer.send(.block(block))
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
            // While state-syncing, the chain is genesis alone and must stay so until the snapshot is adopted.
            guard !stateSyncGate.isActive else { break }
            await gossip.receiveNewBlock(b, from: peer)
        case .transactions(let txs):
            guard withinRate(peer, .transactions) else { break }
            guard !stateSyncGate.isActive else { break }
            await gossip.receiveTransactions(txs, from: peer)
        case .getSnapshot(let height):
            guard withinRate(peer, .getSnapshot) else { break }
            let offer = await snapshots?.offer(height: height)
            peer.send(.snapshot(height: offer?.header.header.height ?? height, offer))
        case .getSnapshotPart(let request):
            guard withinRate(peer, .getSnapshotPart) else { break }
            let reply = await snapshots?.part(request, budget: limits.maxPayloadBytes - 4096)
                ?? SnapshotPart(height: request.height, blockHash: request.blockHash, part: request.part, start: request.start, total: 0,
                                entries: [], available: false)
            peer.send(.snapshotPart(reply))
        case .snapshot(let height, let offer):
            guard let syncer = stateSyncer, stateSyncGate.isActive else { misbehave(peer, .unsolicited, "snapshot offer not requested"); break }
            syncer.post(.offer(peer, height: height, offer))
        case .snapshotPart(let part):
            guard let syncer = stateSyncer, stateSyncGate.isActive else { misbehave(peer, .unsolicited, "snapshot part not requested"); break }
            syncer.post(.part(peer, part))
        case .getPeers:
            guard withinRate(peer, .getPeers) else { break }
            let now = ContinuousClock.now
            let recent = peer.state.withLock { s -> Bool in
                if let last = s.lastPeersRequestAnswered, now - last < config.peerExchangeInterval / 2 { return true }
                s.lastPeersRequestAnswered = now
                return false
            }
            if !recent { peer.send(.peers(shareablePeers(peer))) }
        case .peers(let addresses):
            guard withinRate(peer, .peers) else { break }
            let asked = peer.state.withLock { s -> Bool in
                defer { s.lastPeersRequest = nil }
                return s.lastPeersRequest != nil
            }
            guard asked else { misbehave(peer, .unsolicited, "peers not requested"); break }
            learn(addresses, peer)
        }
        return peer.isClosed ? .disconnectedByUs : nil
    }

    /// Whether an unsolicited message fits the peer's rate; over it, the message is dropped and scored.
    private func withinRate(_ peer: Peer, _ type: MessageType) -> Bool {
        if peer.state.withLock({ $0.bucket.take(now: .now) }) { return true }
        misbehave(peer, .rateLimited, "\(type) over \(Int(config.messagesPerSecond))/s")
        return false
    }

    private func misbehave(_ peer: Peer, _ what: Misbehaviour, _ detail: String) {
        P2PService.penalize(table: table, logger: logger, peer, what, detail)
    }
}

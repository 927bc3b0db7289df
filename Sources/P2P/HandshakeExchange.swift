import Consensus
import Logging
import NIOCore
import Primitives

/// The `hello`/`auth` exchange that opens every session once the Noise transport is up (Specs/p2p.md section 4),
/// and how its failures are logged and scored.
extension P2PService {
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

    /// Both sides send `hello` at once; each signs the other's challenge in `auth`.
    func handshake(_ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
                           host: String, dialed: PeerEndpoint?, noisePeer: NoisePeer?) async throws(HandshakeFailure) -> Hello {
        let chainId = chain.genesis.chainId
        let (genesisHash, port) = lifecycle.withLock { ($0.genesisHash ?? .zero, $0.boundPort ?? 0) }
        let challenge = SecureRandom.hash32()
        let ours = Hello(chainId: chainId, genesisHash: genesisHash, nodeKey: nodeKey, challenge: challenge,
                         listenPort: UInt16(clamping: port), userAgent: config.userAgent)
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

    func write(_ message: P2PMessage, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
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

    func handshakeFailed(_ failure: HandshakeFailure, host: String, remote: String, direction: PeerDirection, timedOut: Bool) {
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
            case .decryptionFailed, .invalidPublicKey, .malformedMessage, .outOfOrder:
                // An on-path attacker causes these by altering or injecting an honest node's handshake bytes (a tag, the
                // clear ephemeral key, a length): as a failed transport record, not the remote's offence. A small score
                // still bounds a remote that keeps failing (ninth review F5: 100 points banned an honest address).
                logger.warning("handshake failed: \(e)", metadata: meta)
                what = .unauthenticatedHandshake
            case .badIdentity, .identitySignatureInvalid:
                // These need the payload decrypted, under keys agreed with the remote: the remote itself sent them.
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
}

extension P2PService.HandshakeFailure {
    var isSelf: Bool { if case .selfConnection = self { true } else { false } }
}

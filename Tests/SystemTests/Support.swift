import Consensus
import Foundation
import Ledger
import Logging
import NIOCore
import NIOPosix
import Node
import P2P
import Primitives
import Storage
import Synchronization
import Testing
import TestSupport

/// Collects frames of a test connection.
final class Inbox: Sendable {
    let frames = Mutex<[Frame]>([])
    let closed = Mutex(false)
    let error = Mutex<(any Error)?>(nil)
}

final class CollectingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    let inbox: Inbox
    init(_ inbox: Inbox) { self.inbox = inbox }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.frames.withLock { $0.append(Self.unwrapInboundIn(data)) } }
    func channelInactive(context: ChannelHandlerContext) { inbox.closed.withLock { $0 = true } }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { inbox.error.withLock { $0 = error } }
}

/// Hands the Noise handler's future out of the channel initializer.
final class FutureBox: Sendable {
    let value = Mutex<EventLoopFuture<NoisePeer>?>(nil)
}

/// A hand-driven peer for tests: raw bytes or messages out, decoded messages in. It speaks Noise like a node
/// (as the initiator, with `key` as its node identity), so messages travel encrypted; `sendRaw` bytes are
/// encrypted too (they test the frame layer inside the tunnel). With `chainId` nil it speaks plaintext.
final class TestPeer: Sendable {
    let channel: any Channel
    let inbox: Inbox
    let limits: P2PLimits
    /// The Noise handshake's outcome (nil for a plaintext peer).
    let noise: EventLoopFuture<NoisePeer>?

    private init(channel: any Channel, inbox: Inbox, limits: P2PLimits, noise: EventLoopFuture<NoisePeer>?) {
        self.channel = channel
        self.inbox = inbox
        self.limits = limits
        self.noise = noise
    }

    /// - Parameters:
    ///   - chainId: the chain for the Noise prologue; nil for a plaintext (v1-style) connection.
    ///   - key: the node key the Noise handshake presents (use the same one in `hello`).
    ///   - expectedPeer: the node key we expect to reach.
    static func connect(port: Int, limits: P2PLimits, chainId: Hash32?, key: PrivateKey = .generate(),
                        expectedPeer: PublicKey? = nil, host: String = "127.0.0.1", sourceHost: String? = nil) async throws -> TestPeer {
        let inbox = Inbox()
        let noise = FutureBox()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let sourceHost { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceHost, port: 0)) }
        let channel = try await bootstrap
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let chainId {
                        let handler = NoiseHandler(role: .initiator, identity: NoiseIdentity(nodeKey: key, chainId: chainId),
                                                   expectedPeer: expectedPeer, timeout: .seconds(60), eventLoop: ch.eventLoop)
                        noise.value.withLock { $0 = handler.established }
                        try ch.pipeline.syncOperations.addHandler(handler)
                    }
                    try ch.pipeline.syncOperations.addHandler(FrameDecoder(maxFrameBytes: 64 << 20, stallTimeout: .seconds(120)))
                    try ch.pipeline.syncOperations.addHandler(CollectingHandler(inbox))
                }
            }
            .connect(host: host, port: port).get()
        return TestPeer(channel: channel, inbox: inbox, limits: limits, noise: noise.value.withLock { $0 })
    }

    /// Waits for the Noise handshake; throws its `NoiseError`.
    @discardableResult
    func established() async throws -> NoisePeer {
        guard let noise else { throw TestFailure("plaintext peer") }
        return try await noise.get()
    }

    func sendRaw(_ bytes: [UInt8]) { channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil) }
    func send(_ m: P2PMessage) { sendRaw(m.frame) }
    func close() { channel.close(promise: nil) }

    var isClosed: Bool { inbox.closed.withLock { $0 } }

    /// The next message matching `filter` (earlier non-matching ones are dropped), or nil on timeout.
    func receive(timeout: Duration = .seconds(30), where filter: (P2PMessage) -> Bool = { _ in true }) async -> P2PMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let frames = inbox.frames.withLock { f -> [Frame] in defer { f = [] }; return f }
            for (i, f) in frames.enumerated() {
                if let m = try? P2PMessage.decode(type: f.type, payload: f.payload, limits: limits), filter(m) {
                    let rest = Array(frames[(i + 1)...])
                    inbox.frames.withLock { $0.insert(contentsOf: rest, at: 0) }
                    return m
                }
            }
            if isClosed && inbox.frames.withLock({ $0.isEmpty }) { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Waits for the server to close the connection.
    func waitUntilClosed(timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isClosed { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isClosed
    }

    /// Runs our side of the handshake; returns the server's hello.
    @discardableResult
    func handshake(chainId: Hash32, genesisHash: Hash32, key: PrivateKey, listenPort: UInt16 = 0) async throws -> Hello {
        let challenge = SecureRandom.hash32()
        send(.hello(Hello(chainId: chainId, genesisHash: genesisHash, nodeKey: key.publicKey, challenge: challenge,
                          listenPort: listenPort, userAgent: "test-peer")))
        guard case .hello(let theirs)? = await receive(where: { if case .hello = $0 { true } else { false } }) else {
            throw TestFailure("no hello from the server")
        }
        send(.auth(Handshake.sign(chainId: chainId, peerChallenge: theirs.challenge, key: key, peerKey: theirs.nodeKey)))
        guard case .auth(let sig)? = await receive(where: { if case .auth = $0 { true } else { false } }) else {
            throw TestFailure("no auth from the server")
        }
        guard Handshake.verify(sig, chainId: chainId, ourChallenge: challenge, peerKey: theirs.nodeKey, ourKey: key.publicKey) else {
            throw TestFailure("server's handshake signature does not verify")
        }
        return theirs
    }

    /// The server's disconnect reason if it sent one before closing.
    func disconnectReason(timeout: Duration = .seconds(30)) async -> DisconnectReason? {
        if case .disconnect(let r, _)? = await receive(timeout: timeout, where: { if case .disconnect = $0 { true } else { false } }) { return r }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

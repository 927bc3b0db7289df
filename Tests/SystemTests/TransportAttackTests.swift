import Consensus
import Foundation
import Ledger
import Node
import NIOCore
import NIOPosix
import P2P
import Primitives
import Synchronization
import Testing
import TestSupport

/// A TCP relay on 127.0.0.1 between dialers and a target port that sees every Noise message (u16 BE length
/// prefixed) and can tamper with the dialer's records once armed. It also keeps a capture of every byte it
/// relays, in both directions (the passive eavesdropper).
final class RecordProxy: Sendable {
    enum Action: Sendable { case none, flip, replay, reorder }
    let target: Int
    let armed = Mutex(Action.none)
    let captured = Mutex<[UInt8]>([])
    let connections = Mutex(0)
    /// Transport records (after the three handshake messages) relayed from dialers.
    let recordsRelayed = Mutex(0)
    let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    var port: Int { server.channel.localAddress?.port ?? 0 }

    init(target: Int) async throws {
        self.target = target
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { ch in
                ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
            }
    }

    /// Accepts and relays until cancelled.
    func run() async {
        try? await server.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await client in inbound {
                    connections.withLock { $0 += 1 }
                    group.addTask { try? await self.relay(client) }
                }
            }
        }
    }

    private func record(_ b: ByteBuffer) { captured.withLock { $0 += b.readableBytesView } }

    private func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: target) { ch in
                ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
            }
        try await client.executeThenClose { cin, cout in
            try await upstream.executeThenClose { uin, uout in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var buffer = ByteBuffer()
                        var index = 0
                        var held: ByteBuffer?
                        for try await chunk in cin {
                            self.record(chunk)
                            buffer.writeImmutableBuffer(chunk)
                            while buffer.readableBytes >= 2 {
                                let n = Int(buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt16.self)!)
                                guard buffer.readableBytes >= 2 + n, var message = buffer.readSlice(length: 2 + n) else { break }
                                index += 1
                                // Messages 1 and 2 from the dialer are handshake messages; then records.
                                let action: Action = index > 2 ? self.armed.withLock { a in defer { a = .none }; return a } : .none
                                if index > 2 { self.recordsRelayed.withLock { $0 += 1 } }
                                if let h = held {
                                    held = nil
                                    try await uout.write(message)
                                    try await uout.write(h)
                                    continue
                                }
                                switch action {
                                case .none:
                                    try await uout.write(message)
                                case .flip:
                                    let at = message.readerIndex + 2 + n / 2
                                    message.setInteger(message.getInteger(at: at, as: UInt8.self)! ^ 0x20, at: at)
                                    try await uout.write(message)
                                case .replay:
                                    try await uout.write(message)
                                    try await uout.write(message)
                                case .reorder:
                                    held = message
                                }
                            }
                        }
                    }
                    group.addTask {
                        for try await chunk in uin {
                            self.record(chunk)
                            try await cout.write(chunk)
                        }
                    }
                    // Either side closing ends the relay.
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// Whether `needle` occurs anywhere in the capture.
    func captureContains(_ needle: [UInt8]) -> Bool {
        captured.withLock { hay in
            guard needle.count <= hay.count, let first = needle.first else { return false }
            var i = 0
            while i + needle.count <= hay.count {
                if hay[i] == first && Array(hay[i..<(i + needle.count)]) == needle { return true }
                i += 1
            }
            return false
        }
    }
}

/// Reads whole Noise messages (u16 BE length prefix) from an async channel.
struct MessageReader {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var buffer = ByteBuffer()

    mutating func next() async throws -> [UInt8] {
        while true {
            if buffer.readableBytes >= 2 {
                let n = Int(buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt16.self)!)
                if buffer.readableBytes >= 2 + n {
                    buffer.moveReaderIndex(forwardBy: 2)
                    return buffer.readBytes(length: n)!
                }
            }
            guard var chunk = try await iterator.next() else { throw TestFailure("closed") }
            buffer.writeBuffer(&chunk)
        }
    }
}

func framed(_ m: [UInt8]) -> ByteBuffer {
    var b = ByteBuffer()
    b.writeInteger(UInt16(m.count), endianness: .big)
    b.writeBytes(m)
    return b
}

/// An active man in the middle that terminates Noise on both sides with its own static keys: it answers the
/// dialer as the responder and dials the node as the initiator, and decides which identity payloads to present.
enum Substitution: Sendable {
    /// Show the dialer the node's own identity payload (signed over the node's static key, not ours).
    case relayNodeIdentity
    /// Show the dialer our own, validly signed identity (another node key).
    case ownIdentity
}

func runSubstitutingMITM(listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, nodePort: Int, chainId: Hash32,
                         mode: Substitution) async throws {
    let prologue = NoisePayload.prologue(chainId: chainId)
    let mitmKey = PrivateKey.generate()
    let ours = NoiseIdentity(nodeKey: mitmKey, chainId: chainId)
    try await listener.executeThenClose { inbound in
        var accepted = inbound.makeAsyncIterator()
        guard let client = try await accepted.next() else { return }
        let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: nodePort) { ch in
                ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
            }
        try await client.executeThenClose { cin, cout in
            try await upstream.executeThenClose { uin, uout in
                var fromClient = MessageReader(iterator: cin.makeAsyncIterator())
                var fromNode = MessageReader(iterator: uin.makeAsyncIterator())
                let toNode = NoiseHandshake(role: .initiator, staticKey: ours.staticKey, prologue: prologue)
                let toClient = NoiseHandshake(role: .responder, staticKey: ours.staticKey, prologue: prologue)
                _ = try toClient.readMessage(try await fromClient.next())
                try await uout.write(framed(try toNode.writeMessage(payload: NoisePayload.hello(chainId: chainId))))
                let nodeIdentity = try toNode.readMessage(try await fromNode.next())
                let shown = mode == .relayNodeIdentity ? nodeIdentity : ours.payload
                try await cout.write(framed(try toClient.writeMessage(payload: shown)))
                // If the dialer accepts, relay its identity to the node under our static key.
                guard let m3 = try? await fromClient.next(), let clientIdentity = try? toClient.readMessage(m3) else { return }
                try await uout.write(framed(try toNode.writeMessage(payload: clientIdentity)))
                _ = try? await fromNode.next()  // the node closes
            }
        }
    }
}

@Suite(.serialized, .tags(.system)) struct TransportAttackTests {
    /// A flipped bit in one record ends the session; the dialing node survives, reconnects through the same
    /// path, and the session is back.
    @Test func flippedByteDropsTheConnectionAndTheNodeReconnects() async throws {
        try await LiveNode.with { target in
            let proxy = try await RecordProxy(target: target.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await proxy.run() }
                defer { group.cancelAll() }
                let dir = TempDir("flip")
                let chain = try target.genesis.chainService(dataDir: dir.path)
                var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: PrivateKey.generate())
                config.bootstrapPeers = [PeerEndpoint(host: "127.0.0.1", port: proxy.port)]
                config.pingInterval = .milliseconds(200)
                config.reconnectMin = .milliseconds(100)
                config.allowPrivateAddresses = true
                let dialer = P2PService(config: config, chain: chain, logger: testLogger("dialer"))
                group.addTask { try await dialer.run() }
                #expect(await eventually(.seconds(60)) { target.service.peers().count == 1 && dialer.peers().count == 1 })
                #expect(proxy.connections.withLock { $0 } == 1)
                proxy.armed.withLock { $0 = .flip }
                // The tampered record is refused: the session ends and the dialer comes back on a new connection.
                #expect(await eventually(.seconds(60)) { proxy.connections.withLock { $0 } >= 2 })
                #expect(await eventually(.seconds(60)) { target.service.peers().count == 1 && dialer.peers().count == 1 })
                #expect(proxy.armed.withLock { $0 } == .none)
                // Tampering is not blamed on the peer (an on-path attacker can cause it).
                #expect(!target.service.isBanned(config.nodeKey.publicKey))
            }
        }
    }

    @Test(arguments: [RecordProxy.Action.replay, .reorder])
    func replayedOrReorderedRecordIsRejected(_ action: RecordProxy.Action) async throws {
        try await LiveNode.with { node in
            let proxy = try await RecordProxy(target: node.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await proxy.run() }
                defer { group.cancelAll() }
                let key = PrivateKey.generate()
                let peer = try await TestPeer.connect(port: proxy.port, limits: node.limits, chainId: node.genesis.genesis.chainId, key: key)
                try await peer.handshake(chainId: node.genesis.genesis.chainId, genesisHash: await node.genesisHash(), key: key)
                peer.send(.ping(1))
                #expect(await peer.receive(where: { $0 == .pong(1) }) == .pong(1))
                proxy.armed.withLock { $0 = action }
                peer.send(.ping(2))
                peer.send(.ping(3))
                #expect(await peer.waitUntilClosed())
                // Neither the replayed nor the reordered ping was answered.
                #expect(await peer.receive(timeout: .milliseconds(200), where: { $0 == .pong(3) }) == nil)
                #expect(await eventually(.seconds(10)) { node.service.peers().isEmpty })
                // The node is unharmed: a direct connection works.
                let direct = try await node.handshaken()
                direct.send(.ping(9))
                #expect(await direct.receive(where: { $0 == .pong(9) }) == .pong(9))
            }
        }
    }

    /// A relay that substitutes its own static key cannot pass off the node's identity (the signature binds
    /// the node key to the node's static key), nor its own identity to a dialer that knows whom it dialled,
    /// nor the dialer's identity to the node.
    @Test func staticKeySubstitutionFailsTheHandshake() async throws {
        try await LiveNode.with { node in
            let chainId = node.genesis.genesis.chainId
            func listener() async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
                try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0) { ch in
                    ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
                }
            }
            // 1. The node's identity payload under the relay's static key: the signature does not verify.
            do {
                let l = try await listener()
                let port = l.channel.localAddress!.port!
                async let mitm: Void = runSubstitutingMITM(listener: l, nodePort: node.port, chainId: chainId, mode: .relayNodeIdentity)
                let peer = try await TestPeer.connect(port: port, limits: node.limits, chainId: chainId)
                await #expect(throws: NoiseError.identitySignatureInvalid) { try await peer.established() }
                try? await mitm
            }
            // 2. The relay's own identity to a dialer expecting the node: identity mismatch.
            do {
                let l = try await listener()
                let port = l.channel.localAddress!.port!
                async let mitm: Void = runSubstitutingMITM(listener: l, nodePort: node.port, chainId: chainId, mode: .ownIdentity)
                let peer = try await TestPeer.connect(port: port, limits: node.limits, chainId: chainId, expectedPeer: node.service.nodeKey)
                do {
                    _ = try await peer.established()
                    Issue.record("handshake through the relay succeeded")
                } catch let e as NoiseError {
                    guard case .identityMismatch(let expected, _) = e else { Issue.record("\(e)"); return }
                    #expect(expected == node.service.nodeKey)
                }
                try? await mitm
            }
            // 3. A dialer that pins nobody accepts the relay's identity, but the relay cannot present the dialer's
            //    identity to the node: the node refuses and scores the relay's address.
            do {
                let l = try await listener()
                let port = l.channel.localAddress!.port!
                async let mitm: Void = runSubstitutingMITM(listener: l, nodePort: node.port, chainId: chainId, mode: .ownIdentity)
                let peer = try await TestPeer.connect(port: port, limits: node.limits, chainId: chainId)
                let seen = try await peer.established()
                #expect(seen.nodeKey != node.service.nodeKey)
                try? await mitm
                #expect(await eventually(.seconds(10)) { node.service.misbehaviourScore(host: "127.0.0.1") >= Double(Misbehaviour.badHandshake.points) - 5 })
                #expect(node.service.peers().isEmpty)
            }
        }
    }

    /// Everything an eavesdropper records during a sync and a transaction relay is ciphertext: no block,
    /// header signature, state root or transaction appears in it.
    @Test func passiveCaptureOfASyncHoldsNoPlaintext() async throws {
        try await LiveNode.with(blocks: 30) { source in
            let proxy = try await RecordProxy(target: source.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await proxy.run() }
                defer { group.cancelAll() }
                let dir = TempDir("capture")
                let chain = try source.genesis.chainService(dataDir: dir.path)
                var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: PrivateKey.generate())
                config.bootstrapPeers = [PeerEndpoint(host: "127.0.0.1", port: proxy.port)]
                config.allowPrivateAddresses = true
                let follower = P2PService(config: config, chain: chain, logger: testLogger("follower"))
                group.addTask { try await follower.run() }
                let target = await source.chain.status()
                #expect(await eventually(.seconds(60)) { await chain.status().tipHash == target.tipHash })
                // A transaction relayed from the source's mempool to the follower.
                let a = DevelopmentKeys.account(0)
                let tx = Transaction(chainId: source.genesis.genesis.chainId, sender: a.publicKey, nonce: 0, fee: 10_000,
                                     body: .transfer(to: DevelopmentKeys.account(1).publicKey, amount: 5)).signed(by: a)
                _ = try await source.chain.submit(tx)
                #expect(await eventually(.seconds(30)) { await chain.mempoolContains(tx.id) })
                #expect(proxy.captured.withLock { $0.count } > 10_000)
                #expect(!proxy.captureContains(tx.canonicalEncoding))
                #expect(!proxy.captureContains(Array(tx.canonicalEncoding.suffix(64))))
                for h in 1...target.height {
                    let b = try #require(try await source.chain.canonicalBlock(at: h))
                    #expect(!proxy.captureContains(b.signedHeader.header.stateRoot.bytes), "state root of block \(h)")
                    #expect(!proxy.captureContains(b.signedHeader.signature.bytes), "signature of block \(h)")
                    #expect(!proxy.captureContains(b.header.parent.bytes), "parent hash in block \(h)")
                }
            }
        }
    }

    /// A peer speaking the plaintext v1 protocol is refused (and logged as such), not mistaken for garbage.
    @Test func plaintextPeerIsRefused() async throws {
        try await LiveNode.with { node in
            let peer = try await TestPeer.connect(port: node.port, limits: node.limits, chainId: nil)
            peer.send(.hello(Hello(version: 1, chainId: node.genesis.genesis.chainId, genesisHash: await node.genesisHash(),
                                   nodeKey: PrivateKey.generate().publicKey, challenge: SHA256.hash([1]), listenPort: 0, userAgent: "v1")))
            #expect(await peer.waitUntilClosed(timeout: .seconds(10)))
            #expect(node.service.peers().isEmpty)
            // Not scored: an old node is not an attacker.
            #expect(node.service.misbehaviourScore(host: "127.0.0.1") < 1)
        }
    }

    /// A dialer on another chain fails at the first message with a precise reason.
    @Test func otherChainFailsTheNoiseHandshake() async throws {
        try await LiveNode.with { node in
            let peer = try await TestPeer.connect(port: node.port, limits: node.limits, chainId: SHA256.hash([42]))
            await #expect(throws: NoiseError.self) { try await peer.established() }
            #expect(await peer.waitUntilClosed(timeout: .seconds(10)))
            #expect(node.service.peers().isEmpty)
        }
    }

    /// A connection that never starts the Noise handshake is closed at the handshake timeout (2 s here) and
    /// scored as a stalled handshake.
    @Test func silentConnectionTimesOutBeforeNoise() async throws {
        try await LiveNode.with { node in
            let start = ContinuousClock.now
            let peer = try await TestPeer.connect(port: node.port, limits: node.limits, chainId: nil)
            #expect(await peer.waitUntilClosed(timeout: .seconds(30)))
            #expect(ContinuousClock.now - start >= .milliseconds(1900))
            #expect(await eventually(.seconds(10)) { node.service.misbehaviourScore(host: "127.0.0.1") >= Double(Misbehaviour.stalledFrame.points) - 5 })
        }
    }
}

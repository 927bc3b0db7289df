import NIOCore
import Primitives

/// The peer a finished Noise handshake authenticated.
public struct NoisePeer: Sendable, Hashable {
    /// The peer's node key, proven by its signature over its Noise static key.
    public let nodeKey: PublicKey
    /// The peer's Noise static key.
    public let remoteStatic: [UInt8]
    /// The final handshake hash (identical on both ends; a channel binding).
    public let handshakeHash: [UInt8]
}

/// Encrypts a connection with `Noise_XX_25519_ChaChaPoly_SHA256` (Specs/p2p.md section 2): the first handler
/// of every P2P pipeline. It runs the handshake as soon as the channel is active (the dialer initiates), then
/// turns every outbound write into AEAD records and every inbound record back into plaintext bytes for the
/// frame decoder above it. Writes made before the handshake finishes wait for it (so a refusal can still
/// tell the peer why, encrypted); they fail if it fails.
///
/// Wire format, handshake and transport alike: `length u16 BE ‖ Noise message`. Each record carries at most
/// 65 519 plaintext bytes; a write larger than that becomes several records. Record lengths are checked
/// before anything is buffered (16 … 65 535 bytes); the frame cap is enforced above, on the decrypted
/// frame length, before a frame is buffered.
///
/// Any failure (bad tag: altered, replayed or reordered data; a handshake error; a timeout) closes the
/// connection and fires the `NoiseError` down the pipeline.
public final class NoiseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking(NoiseHandshake)
        case transport(send: NoiseTransportCipher, receive: NoiseTransportCipher)
        case failed
    }

    private let role: NoiseRole
    private let identity: NoiseIdentity
    private let expectedPeer: PublicKey?
    private let timeout: TimeAmount
    private let rekeyInterval: UInt64
    private var state: State
    private var started = false
    private let promise: EventLoopPromise<NoisePeer>
    private var timer: Scheduled<Void>?
    private var inbound: ByteBuffer?
    private var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var pendingFlush = false
    /// The responder has processed the first message.
    private var hasReadFirst = false

    /// Completes with the authenticated peer when the handshake finishes, or fails with a `NoiseError`.
    public var established: EventLoopFuture<NoisePeer> { promise.futureResult }

    /// - Parameters:
    ///   - role: `.initiator` for connections we dialled.
    ///   - identity: our static key and signed identity payload.
    ///   - expectedPeer: the node key we meant to reach, when known: any other is `identityMismatch`.
    ///   - timeout: the whole handshake's deadline.
    public init(role: NoiseRole, identity: NoiseIdentity, expectedPeer: PublicKey? = nil, timeout: TimeAmount = .seconds(5),
                eventLoop: any EventLoop, rekeyInterval: UInt64 = NoiseConstants.rekeyInterval) {
        self.role = role
        self.identity = identity
        self.expectedPeer = expectedPeer
        self.timeout = timeout
        self.rekeyInterval = rekeyInterval
        state = .handshaking(NoiseHandshake(role: role, staticKey: identity.staticKey, prologue: NoisePayload.prologue(chainId: identity.chainId)))
        promise = eventLoop.makePromise(of: NoisePeer.self)
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if case .handshaking = state {
            state = .failed
            settleFailure(.closed)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if case .handshaking = state {
            state = .failed
            settleFailure(.closed)
        }
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            if case .handshaking = handler.state { handler.fail(context, .timeout) }
        }
        if role == .initiator, case .handshaking(let hs) = state {
            do {
                let m = try hs.writeMessage(payload: NoisePayload.hello(chainId: identity.chainId))
                sendHandshake(context, m)
            } catch {
                fail(context, error)
            }
        }
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .failed = state { return }
        var incoming = unwrapInboundIn(data)
        if var b = inbound {
            inbound = nil
            b.writeBuffer(&incoming)
            incoming = b
        }
        var plaintext: ByteBuffer?
        // Each case either `continue`s with the next message or leaves the switch with `break`, which then
        // leaves the loop (not enough bytes yet).
        while incoming.readableBytes >= 2 {
            let length = Int(incoming.getInteger(at: incoming.readerIndex, endianness: .big, as: UInt16.self) ?? 0)
            switch state {
            case .failed:
                return
            case .handshaking(let hs):
                if let want = expectedHandshakeLength(hs), length != want {
                    // A v1 peer's first bytes are a plaintext frame: length u32 LE (under 64 KiB) ‖ type (hello or disconnect).
                    if incoming.readableBytes < 5 { break }
                    let b = incoming.getBytes(at: incoming.readerIndex, length: 5) ?? []
                    if b[2] == 0 && b[3] == 0 && (b[4] == MessageType.hello.rawValue || b[4] == MessageType.disconnect.rawValue) {
                        fail(context, .plaintextPeer)
                    } else {
                        fail(context, .malformedMessage("handshake message of \(length) bytes, expected \(want)"))
                    }
                    return
                }
                guard incoming.readableBytes >= 2 + length else { break }
                incoming.moveReaderIndex(forwardBy: 2)
                let message = incoming.readBytes(length: length) ?? []
                do {
                    try readHandshake(context, hs, message)
                } catch {
                    fail(context, error)
                    return
                }
                continue
            case .transport(_, let receive):
                guard length >= NoiseConstants.tagBytes else {
                    fail(context, .malformedMessage("record of \(length) bytes"))
                    return
                }
                guard incoming.readableBytes >= 2 + length else { break }
                incoming.moveReaderIndex(forwardBy: 2)
                let n = length - NoiseConstants.tagBytes
                // One buffer for every record of this read, mutated in place (never copied).
                if plaintext == nil { plaintext = context.channel.allocator.buffer(capacity: max(n, incoming.readableBytes)) }
                do {
                    try incoming.readWithUnsafeReadableBytes { (c) throws(NoiseError) -> Int in
                        let record = UnsafeRawBufferPointer(rebasing: c[0..<length])
                        try plaintext!.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { (o) throws(NoiseError) -> Int in
                            try receive.open(record, into: UnsafeMutableRawBufferPointer(rebasing: o[0..<n]))
                            return n
                        }
                        return length
                    }
                } catch {
                    fail(context, error)
                    return
                }
                continue
            }
            break
        }
        if incoming.readableBytes > 0 {
            incoming.discardReadBytes()
            inbound = incoming
        }
        if let plaintext, plaintext.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
    }

    /// The exact size of the handshake message we expect next (the payloads have fixed sizes).
    private func expectedHandshakeLength(_ hs: NoiseHandshake) -> Int? {
        switch (role, hs.isOurTurn) {
        // -> e, payload (clear)                  <- e, ee, s, es, payload        -> s, se, payload
        case (.responder, false): return hasReadFirst ? 32 + 16 + NoisePayload.identityBytes + 16 : 32 + NoisePayload.helloBytes
        case (.initiator, false): return 32 + 32 + 16 + NoisePayload.identityBytes + 16
        default: return nil
        }
    }

    private func readHandshake(_ context: ChannelHandlerContext, _ hs: NoiseHandshake, _ message: [UInt8]) throws(NoiseError) {
        let payload = try hs.readMessage(message)
        switch role {
        case .responder where !hasReadFirst:
            hasReadFirst = true
            try NoisePayload.checkHello(payload, chainId: identity.chainId)
            sendHandshake(context, try hs.writeMessage(payload: identity.payload))
        case .responder:
            let peer = try authenticate(hs, payload)
            try finish(context, hs, peer)
        case .initiator:
            let peer = try authenticate(hs, payload)
            sendHandshake(context, try hs.writeMessage(payload: identity.payload))
            try finish(context, hs, peer)
        }
    }

    private func authenticate(_ hs: NoiseHandshake, _ payload: [UInt8]) throws(NoiseError) -> PublicKey {
        guard let rs = hs.remoteStatic else { throw .outOfOrder }
        let key = try NoisePayload.verifyIdentity(payload, remoteStatic: rs, chainId: identity.chainId)
        if let expectedPeer, expectedPeer != key { throw .identityMismatch(expected: expectedPeer, got: key) }
        return key
    }

    private func finish(_ context: ChannelHandlerContext, _ hs: NoiseHandshake, _ peer: PublicKey) throws(NoiseError) {
        let (send, receive) = try hs.split()
        state = .transport(send: NoiseTransportCipher(send, rekeyInterval: rekeyInterval),
                           receive: NoiseTransportCipher(receive, rekeyInterval: rekeyInterval))
        timer?.cancel()
        timer = nil
        promise.succeed(NoisePeer(nodeKey: peer, remoteStatic: hs.remoteStatic ?? [], handshakeHash: hs.handshakeHash))
        // Release what was written while the handshake ran.
        let queued = pending
        pending = []
        for (buffer, p) in queued { write(context: context, data: NIOAny(buffer), promise: p) }
        if pendingFlush || !queued.isEmpty {
            pendingFlush = false
            context.flush()
        }
    }

    private func sendHandshake(_ context: ChannelHandlerContext, _ message: [UInt8]) {
        var b = context.channel.allocator.buffer(capacity: 2 + message.count)
        b.writeInteger(UInt16(message.count), endianness: .big)
        b.writeBytes(message)
        context.writeAndFlush(wrapOutboundOut(b), promise: nil)
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .failed:
            promise?.fail(NoiseError.closed)
        case .handshaking:
            pending.append((plaintext, promise))
        case .transport(let send, _):
            let n = plaintext.readableBytes
            let chunk = NoiseConstants.maxRecordPlaintext
            let records = max(1, (n + chunk - 1) / chunk)
            var out = context.channel.allocator.buffer(capacity: n + records * (2 + NoiseConstants.tagBytes))
            do {
                try plaintext.withUnsafeReadableBytes { (p) throws(NoiseError) in
                    var at = 0
                    repeat {
                        let m = min(chunk, n - at)
                        out.writeInteger(UInt16(m + NoiseConstants.tagBytes), endianness: .big)
                        try out.writeWithUnsafeMutableBytes(minimumWritableBytes: m + NoiseConstants.tagBytes) { (o) throws(NoiseError) -> Int in
                            try send.seal(UnsafeRawBufferPointer(rebasing: p[at..<(at + m)]),
                                          into: UnsafeMutableRawBufferPointer(rebasing: o[0..<(m + NoiseConstants.tagBytes)]))
                            return m + NoiseConstants.tagBytes
                        }
                        at += m
                    } while at < n
                }
            } catch {
                promise?.fail(error)
                fail(context, error)
                return
            }
            context.write(wrapOutboundOut(out), promise: promise)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if case .handshaking = state {
            pendingFlush = true
        } else {
            context.flush()
        }
    }

    // MARK: - Failure

    private func settleFailure(_ error: NoiseError) {
        promise.fail(error)
        let queued = pending
        pending = []
        for (_, p) in queued { p?.fail(error) }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: NoiseError) {
        if case .failed = state { return }
        let wasHandshaking: Bool
        if case .handshaking = state { wasHandshaking = true } else { wasHandshaking = false }
        state = .failed
        inbound = nil
        timer?.cancel()
        timer = nil
        if wasHandshaking { settleFailure(error) }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

import HummingbirdCore
import Logging
import NIOCore

/// Deadlines every RPC connection is held to from its first byte (Specs/rpc.md §9), ahead of the HTTP parser.
///
/// Hummingbird starts its idle timer only once a first request head has been parsed, and leaves a connection whose
/// first request cannot be parsed open: a few hundred silent or garbage connections then held every connection slot
/// (`maxConnections`) for good. This handler sits first in the pipeline and sees raw bytes:
/// - **first request**: the end of a request head (a blank line) must arrive within `firstRequest`, in at most
///   `maxHeadBytes` bytes; otherwise the connection is closed;
/// - **first response**: the server must have answered something within `idle` of the connection opening; a head
///   that ends but cannot be parsed is never answered (Hummingbird sends no 400), so it is closed then, however
///   slowly more bytes trickle in;
/// - **idle**: a connection that sends nothing for `idle` is closed, whatever state its HTTP or WebSocket session is
///   in (WebSocket clients answer the server's pings, so live ones are never idle that long).
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let firstRequest: TimeAmount
    let idle: TimeAmount
    let maxHeadBytes: Int
    private var opened = NIODeadline.now()
    private var lastRead = NIODeadline.now()
    private var headSeen = false
    private var responded = false
    private var headBytes = 0
    /// The last bytes of the previous read, so that a blank line split across reads is found.
    private var carry: [UInt8] = []
    private var check: Scheduled<Void>?
    private var started = false
    /// The handlers behind were told no more input comes (by the client's half-close, or by `closeOnPurpose`).
    private var inputClosed = false

    init(firstRequest: TimeAmount, idle: TimeAmount, maxHeadBytes: Int) {
        self.firstRequest = firstRequest
        self.idle = idle
        self.maxHeadBytes = maxHeadBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .inputClosed { inputClosed = true }
        context.fireUserInboundEventTriggered(event)
    }

    /// Closes the connection without Hummingbird logging an error for it (`closeOnPurpose`).
    private func close(_ context: ChannelHandlerContext) {
        closeOnPurpose(context, inputAlreadyClosed: inputClosed)
        inputClosed = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        if !headSeen {
            let buffer = unwrapInboundIn(data)
            headBytes += buffer.readableBytes
            if Self.containsBlankLine(carry, buffer.readableBytesView) {
                headSeen = true
                carry = []
            } else if headBytes > maxHeadBytes {
                close(context)
                return
            } else {
                carry = Array((carry + buffer.readableBytesView).suffix(3))
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        responded = true
        context.write(data, promise: promise)
    }

    /// Whether `previous ‖ bytes` holds `\r\n\r\n` or `\n\n` (a request head's end; bare line feeds are what
    /// lenient clients send).
    static func containsBlankLine(_ previous: [UInt8], _ bytes: ByteBufferView) -> Bool {
        // 1: just after a line feed; 2: after a line feed and a carriage return.
        var state = 0
        func step(_ b: UInt8) -> Bool {
            switch b {
            case 0x0A:
                if state != 0 { return true }
                state = 1
            case 0x0D: state = state == 1 ? 2 : 0
            default: state = 0
            }
            return false
        }
        for b in previous where step(b) { return true }
        for b in bytes where step(b) { return true }
        return false
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        opened = .now()
        lastRead = .now()
        schedule(context)
    }

    private func stop() {
        check?.cancel()
        check = nil
    }

    /// One check at the nearer deadline; each check schedules the next while the connection lives.
    private func schedule(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        var next = lastRead + idle
        if !headSeen { next = min(next, opened + firstRequest) }
        if !responded { next = min(next, opened + idle) }
        let loop = context.eventLoop.assumeIsolated()
        check = loop.scheduleTask(in: max(next - now, .milliseconds(10))) { [self] in
            guard context.channel.isActive else { return }
            let now = NIODeadline.now()
            if (!headSeen && now >= opened + firstRequest) || (!responded && now >= opened + idle) || now >= lastRead + idle {
                close(context)
            } else {
                schedule(context)
            }
        }
    }
}

/// Wraps a server child channel so that every connection gets, first in its pipeline, an `UnsentBytesHandler` (when a
/// budget is given: next to the socket, it sees the bytes as they are handed to it), a `HostConnectionLimitHandler`
/// (when a limiter is given) and then a `ConnectionDeadlineHandler`.
struct DeadlineGuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let firstRequest: TimeAmount
    let idle: TimeAmount
    let maxHeadBytes: Int
    var hostLimiter: HostConnectionLimiter?
    var unsentBudget: UnsentBytesBudget?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(ConnectionDeadlineHandler(firstRequest: firstRequest, idle: idle, maxHeadBytes: maxHeadBytes), position: .first)
            if let hostLimiter { try pipeline.addHandler(HostConnectionLimitHandler(limiter: hostLimiter, logger: logger), position: .first) }
            if let unsentBudget { try pipeline.addHandler(UnsentBytesHandler(budget: unsentBudget, logger: logger), position: .first) }
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

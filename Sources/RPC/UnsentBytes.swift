import Logging
import NIOCore
import Synchronization

/// Bytes handed to RPC connections that their sockets have not taken yet, all connections together, against
/// `RPCConfiguration.totalUnsentBytes` (Specs/rpc.md §8 "Unread answers", §9).
///
/// Why: an HTTP answer (up to `maxResponseBytes`) is built whole and handed to the connection, which holds what the
/// socket does not take until the client reads it or the connection closes. Clients that ask for large answers and
/// never read could make the node hold `maxConnections` × `maxResponseBytes` (16 GiB with the defaults). A byte counts
/// from the moment it is written into the connection's pipeline until its write completes (it reached the socket) or
/// fails (the connection closed): counting until the writer's call returned is not enough, since the async writer
/// buffers what it is given before it sees the channel is not writable (fourteenth review).
public final class UnsentBytesBudget: Sendable {
    /// Most unsent bytes held at once, all connections together (one write past it at most: `admit`).
    public let limit: Int
    private let held = Atomic<Int>(0)
    /// Least time between two warnings about closed connections.
    public let reportInterval: Duration
    private let closes = Mutex<(last: ContinuousClock.Instant?, count: Int)>((nil, 0))
    /// Called once per connection closed over the budget (the node counts them in a metric).
    let onClose: @Sendable () -> Void

    /// A budget of `limit` bytes.
    public init(limit: Int, reportInterval: Duration = .seconds(60), onClose: @escaping @Sendable () -> Void = {}) {
        self.limit = limit
        self.reportInterval = reportInterval
        self.onClose = onClose
    }

    /// Unsent bytes counted now, all connections together.
    public var bytes: Int { held.load(ordering: .relaxed) }

    /// Counts `n` more unsent bytes of one connection, unless that would take the total past `limit` and either the
    /// connection still has bytes of earlier flushes waiting (`connectionCaughtUp` false) or the total already is past
    /// `limit`. So a connection that has caught up always gets one write (one answer of any size) while the total is
    /// within the budget, and the total passes `limit` by one write at most. The check and the addition are one atomic
    /// step: connections racing cannot all pass on the same reading.
    func admit(_ n: Int, connectionCaughtUp: Bool) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            let fits = n <= limit && current <= limit - n
            guard fits || (connectionCaughtUp && current <= limit) else { return false }
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + n, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back `n` bytes `admit` counted.
    func release(_ n: Int) {
        held.subtract(n, ordering: .relaxed)
    }

    /// Counts a connection closed over the budget; returns how many were closed since the previous warning when one is
    /// due now (the first close after a quiet `reportInterval` at once, then at most one a `reportInterval`), else nil.
    func noteClose(now: ContinuousClock.Instant = .now) -> Int? {
        onClose()
        return closes.withLock { c in
            c.count += 1
            if let last = c.last, now - last < reportInterval { return nil }
            defer { c = (now, 0) }
            return c.count
        }
    }
}

/// The error a write refused over the unsent-bytes budget fails with (its connection is closed).
public struct UnsentBytesBudgetExceeded: Error, Sendable, CustomStringConvertible {
    /// The bytes the refused write carried.
    public let bytes: Int
    /// The budget.
    public let limit: Int

    public var description: String { "\(bytes) more unsent bytes would pass the server-wide budget of \(limit)" }
}

/// Next to the socket in every RPC connection's pipeline (HTTP and WebSocket alike): counts each outbound write's bytes
/// against the shared `UnsentBytesBudget` when it is written, gives them back when its write promise completes (the
/// bytes reached the socket, or the write failed), and gives back whatever is still counted when the connection closes
/// or the handler is removed. A write the budget refuses fails and closes its connection (`closeOnPurpose`): the
/// client is not reading what it was sent while the node holds too much for such clients.
final class UnsentBytesHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let budget: UnsentBytesBudget
    let logger: Logger
    /// This connection's bytes counted in the budget: written, their writes not completed.
    private(set) var pending = 0
    /// Of `pending`, the bytes written since the last flush (the answer being handed over now).
    private var unflushed = 0
    /// Closed or removed: everything was given back, completions that come later give nothing back.
    private var finished = false
    /// A write was refused and the connection is closing: later writes fail at once.
    private(set) var refused = false
    /// The handlers behind were told no more input comes.
    private var inputClosed = false

    init(budget: UnsentBytesBudget, logger: Logger) {
        self.budget = budget
        self.logger = logger
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let n = unwrapOutboundIn(data).readableBytes
        if refused {
            promise?.fail(UnsentBytesBudgetExceeded(bytes: n, limit: budget.limit))
            return
        }
        guard n > 0, !finished else {
            context.write(data, promise: promise)
            return
        }
        // Caught up: nothing of earlier flushes is still waiting for the socket (a head and its body, written before
        // one flush, are one answer).
        guard budget.admit(n, connectionCaughtUp: pending - unflushed <= 0) else {
            refuse(context, bytes: n, promise: promise)
            return
        }
        pending += n
        unflushed += n
        let completion = promise ?? context.eventLoop.makePromise(of: Void.self)
        completion.futureResult.assumeIsolated().whenComplete { [self] _ in settle(n) }
        context.write(data, promise: completion)
    }

    func flush(context: ChannelHandlerContext) {
        unflushed = 0
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .inputClosed { inputClosed = true }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        giveBack()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { giveBack() }

    /// One write completed (or failed): its bytes are no longer held.
    private func settle(_ n: Int) {
        guard !finished else { return }
        pending -= n
        unflushed = min(unflushed, pending)
        budget.release(n)
    }

    /// The connection is gone: nothing it was sent is held any longer (its pending writes fail afterwards).
    private func giveBack() {
        guard !finished else { return }
        finished = true
        budget.release(pending)
        pending = 0
        unflushed = 0
    }

    private func refuse(_ context: ChannelHandlerContext, bytes n: Int, promise: EventLoopPromise<Void>?) {
        refused = true
        let remote = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        logger.debug("JSON-RPC connection closed: its unsent bytes would pass the server-wide budget", metadata: [
            "remote": "\(remote)", "bytes": "\(n)", "pending": "\(pending)", "budget": "\(budget.limit)",
        ])
        if let count = budget.noteClose() {
            logger.warning("JSON-RPC connections closed: clients not reading their answers hold the server-wide unsent-bytes budget", metadata: [
                "connections": "\(count)", "lastRemote": "\(remote)", "budget": "\(budget.limit)", "nextReportAfter": "\(budget.reportInterval)",
            ])
        }
        promise?.fail(UnsentBytesBudgetExceeded(bytes: n, limit: budget.limit))
        closeOnPurpose(context, inputAlreadyClosed: inputClosed)
        inputClosed = true
    }
}

import Logging
import NIOCore
import NIOEmbedded
@testable import RPC
import Synchronization
import Testing

/// `UnsentBytesHandler` on embedded channels (Specs/rpc.md §8 "Unread answers"): a write's bytes count from the
/// moment it is written until its write promise completes, everything still counted is given back when the connection
/// closes, and past the shared budget the connection adding bytes is closed unless it has caught up and the total was
/// within the budget.
@Suite struct UnsentBytesTests {
    /// Stands for a socket that takes nothing until told: holds the writes that reach it with their promises.
    final class StuckSocket: ChannelOutboundHandler {
        typealias OutboundIn = IOData
        var held: [(bytes: Int, promise: EventLoopPromise<Void>?)] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            held.append((unwrapOutboundIn(data).readableBytes, promise))
        }

        func flush(context: ChannelHandlerContext) {}

        /// The socket takes the oldest `count` writes.
        func take(_ count: Int) {
            let taken = held.prefix(count)
            held.removeFirst(taken.count)
            for w in taken { w.promise?.succeed() }
        }

        /// The oldest `count` writes fail (an I/O error).
        func fail(_ count: Int) {
            let failed = held.prefix(count)
            held.removeFirst(failed.count)
            for w in failed { w.promise?.fail(ChannelError.ioOnClosedChannel) }
        }
    }

    /// A connection: the stuck socket next to the head, then the handler under test.
    struct Connection {
        let channel: EmbeddedChannel
        let socket: StuckSocket
        let handler: UnsentBytesHandler

        init(_ budget: UnsentBytesBudget) throws {
            socket = StuckSocket()
            handler = UnsentBytesHandler(budget: budget, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(socket)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        /// Writes `n` bytes (flushed unless told otherwise); the write's outcome, once there is one.
        @discardableResult
        func write(_ n: Int, flush: Bool = true) -> Outcome {
            let outcome = Outcome()
            let future = channel.write(ByteBuffer(repeating: 0x61, count: n))
            future.whenComplete { result in
                switch result {
                case .success: outcome.state.withLock { $0 = .written }
                case .failure(let error): outcome.state.withLock { $0 = error is UnsentBytesBudgetExceeded ? .refused : .failed }
                }
            }
            if flush { channel.flush() }
            return outcome
        }
    }

    final class Outcome: Sendable {
        enum State: Sendable { case pending, written, refused, failed }
        let state = Mutex(State.pending)
        var value: State { state.withLock { $0 } }
    }

    @Test func bytesCountFromTheirWriteUntilTheirPromiseCompletes() throws {
        let budget = UnsentBytesBudget(limit: 1000)
        let c = try Connection(budget)
        let first = c.write(100, flush: false)
        #expect(budget.bytes == 100 && c.handler.pending == 100)
        c.write(50)
        #expect(budget.bytes == 150)
        #expect(c.socket.held.map(\.bytes) == [100, 50])
        c.socket.take(1)
        #expect(first.value == .written)
        #expect(budget.bytes == 50 && c.handler.pending == 50)
        // A failed write is no longer held either.
        c.socket.fail(1)
        #expect(budget.bytes == 0 && c.handler.pending == 0)
        // Empty writes (the end of a Content-Length answer) count nothing and pass.
        let empty = c.write(0)
        #expect(budget.bytes == 0 && c.socket.held.count == 1)
        c.socket.take(1)
        #expect(empty.value == .written)
        _ = try c.channel.finish()
    }

    @Test func closingGivesBackEverythingStillCountedOnce() throws {
        let budget = UnsentBytesBudget(limit: 1000)
        let a = try Connection(budget), b = try Connection(budget)
        a.write(300)
        a.write(200)
        b.write(100)
        #expect(budget.bytes == 600)
        try a.channel.close().wait()
        #expect(budget.bytes == 100, "a's 500 bytes are given back when it closes")
        // Their promises completing afterwards gives nothing back a second time.
        a.socket.fail(2)
        #expect(budget.bytes == 100)
        // A handler removed from a live connection gives back its bytes too.
        try b.channel.pipeline.syncOperations.removeHandler(b.handler).wait()
        #expect(budget.bytes == 0)
        b.socket.take(1)
        #expect(budget.bytes == 0)
        _ = try? b.channel.finish()
    }

    @Test func pastTheBudgetTheConnectionAddingBytesIsClosed() throws {
        let closed = Atomic<Int>(0)
        let budget = UnsentBytesBudget(limit: 1000, onClose: { closed.add(1, ordering: .relaxed) })
        let a = try Connection(budget), b = try Connection(budget), c = try Connection(budget), d = try Connection(budget)
        a.write(600)
        b.write(300)
        #expect(budget.bytes == 900)
        // b has bytes of an earlier flush waiting, and 300 more would pass the budget: b is closed, its bytes given back.
        let refused = b.write(300)
        #expect(refused.value == .refused)
        #expect(!b.channel.isActive)
        #expect(budget.bytes == 600)
        #expect(closed.load(ordering: .relaxed) == 1)
        // Later writes on the closing connection fail too and count nothing.
        #expect(b.write(1).value == .refused)
        #expect(budget.bytes == 600)
        // A connection that has caught up gets one answer of any size while the total is within the budget: its
        // head and body, written before one flush, are that answer.
        c.write(10, flush: false)
        let big = c.write(2000)
        #expect(big.value == .pending && c.channel.isActive)
        #expect(budget.bytes == 2610)
        // Past the budget even a connection that has caught up is closed: the total passes it by one answer at most.
        #expect(d.write(10).value == .refused)
        #expect(!d.channel.isActive)
        #expect(closed.load(ordering: .relaxed) == 2)
        #expect(budget.bytes == 2610)
        // Once the socket took c's answer and a's, there is room again.
        c.socket.take(2)
        a.socket.take(1)
        #expect(budget.bytes == 0)
        let e = try Connection(budget)
        e.write(1000)
        #expect(budget.bytes == 1000 && e.channel.isActive)
        e.socket.take(1)
        #expect(budget.bytes == 0)
        for x in [a, c, e] { _ = try? x.channel.finish() }
    }

    @Test func aConnectionWithBytesWaitingIsNotExemptEvenWithinTheBudget() throws {
        let budget = UnsentBytesBudget(limit: 1000)
        let a = try Connection(budget)
        a.write(400)
        // Fits: admitted although a has bytes waiting.
        a.write(500)
        #expect(budget.bytes == 900 && a.channel.isActive)
        #expect(a.write(200).value == .refused)
        #expect(!a.channel.isActive && budget.bytes == 0)
    }

    @Test func aWarningAtMostOnceAnInterval() {
        let budget = UnsentBytesBudget(limit: 1, reportInterval: .seconds(60))
        let t0 = ContinuousClock.now
        #expect(budget.noteClose(now: t0) == 1)
        #expect(budget.noteClose(now: t0 + .seconds(1)) == nil)
        #expect(budget.noteClose(now: t0 + .seconds(2)) == nil)
        #expect(budget.noteClose(now: t0 + .seconds(61)) == 3)
    }
}

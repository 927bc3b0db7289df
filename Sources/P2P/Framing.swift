import NIOCore

/// One frame off the wire: the type byte and the payload (Specs/p2p.md section 2).
public struct Frame: Sendable, Hashable {
    public let type: UInt8
    public let payload: [UInt8]

    public init(type: UInt8, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }
}

/// Splits the byte stream into frames on the event loop, enforcing the frame cap as soon as a length
/// prefix arrives (never buffering an oversize frame) and a deadline for completing a started frame
/// (slow-loris). Writes pass through unchanged (they are framed by `P2PMessage.frame`).
///
/// The deadline only runs while the channel is actually waiting for the peer's bytes: when the consumer
/// applies backpressure (reads are held back by the async channel), a partial frame is our delay, not the
/// peer's, and the timer re-arms instead of firing.
public final class FrameDecoder: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Frame
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let maxFrameBytes: Int
    private let stallTimeout: TimeAmount
    /// Bytes per second a large frame is allowed to trickle in at before it counts as stalled.
    private let minimumBytesPerSecond: Int
    private var buffer: ByteBuffer?
    private var deadline: Scheduled<Void>?
    /// When the partial frame at the head of the buffer started, and the deadline scheduled for it.
    private var frameStart: NIODeadline?
    private var scheduledFor: NIODeadline?
    private var readPending = false
    private var failed = false

    /// - Parameters:
    ///   - maxFrameBytes: the cap on a frame's length field (`P2PLimits.maxFrameBytes`).
    ///   - stallTimeout: how long a started frame may stay incomplete (plus its size at `minimumBytesPerSecond`).
    public init(maxFrameBytes: Int, stallTimeout: TimeAmount, minimumBytesPerSecond: Int = 64 * 1024) {
        self.maxFrameBytes = maxFrameBytes
        self.stallTimeout = stallTimeout
        self.minimumBytesPerSecond = max(1, minimumBytesPerSecond)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        var b: ByteBuffer
        if var pending = buffer {
            buffer = nil  // keep one reference, so appending does not copy
            pending.writeBuffer(&incoming)
            b = pending
        } else {
            b = incoming
        }
        while b.readableBytes >= 4 {
            let length = b.getInteger(at: b.readerIndex, endianness: .little, as: UInt32.self) ?? 0
            guard length >= 1, Int(length) <= maxFrameBytes else {
                fail(context, .badFrameLength(length, maximum: maxFrameBytes))
                return
            }
            guard b.readableBytes >= 4 + Int(length) else { break }
            b.moveReaderIndex(forwardBy: 4)
            let type: UInt8 = b.readInteger() ?? 0
            let payload = b.readBytes(length: Int(length) - 1) ?? []
            cancelDeadline()
            context.fireChannelRead(wrapInboundOut(Frame(type: type, payload: payload)))
            if failed { return }
        }
        if b.readableBytes == 0 {
            cancelDeadline()
        } else {
            b.discardReadBytes()
            buffer = b
            armDeadline(context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        readPending = false
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        readPending = true
        context.read()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
        frameStart = nil
        scheduledFor = nil
    }

    /// Keeps the completion deadline of the partial frame at the head of the buffer: its start plus the
    /// stall timeout plus its announced size at the minimum rate (known once the length prefix arrived).
    private func armDeadline(_ context: ChannelHandlerContext) {
        guard let b = buffer else { return }
        let start = frameStart ?? .now()
        frameStart = start
        let expected = b.readableBytes >= 4 ? Int(b.getInteger(at: b.readerIndex, endianness: .little, as: UInt32.self) ?? 0) : 0
        let due = start + stallTimeout + .milliseconds(Int64(expected) * 1000 / Int64(minimumBytesPerSecond))
        guard due != scheduledFor else { return }
        deadline?.cancel()
        schedule(context, at: due)
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        scheduledFor = due
        deadline = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = loopBound.value
            handler.deadlineFired(context)
        }
    }

    private func deadlineFired(_ context: ChannelHandlerContext) {
        deadline = nil
        guard !failed, let b = buffer, b.readableBytes > 0 else { return }
        if readPending {
            fail(context, .frameTimeout(receivedBytes: b.readableBytes))
        } else {
            // Our consumer is holding reads back: not the peer's fault. Look again later.
            schedule(context, at: .now() + stallTimeout)
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: P2PWireError) {
        failed = true
        buffer = nil
        cancelDeadline()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

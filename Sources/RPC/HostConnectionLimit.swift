import Foundation
import Logging
import NIOCore
import Synchronization

/// Open RPC connections per remote host, against `RPCConfiguration.maxConnectionsPerHost` (Specs/rpc.md §9). Without
/// it one remote address could open every one of the `maxConnections` slots and lock every other client out.
/// A host is an IPv4 address, or an IPv6 /64 (one subscriber's prefix: a host can pick any address within it); an
/// IPv4-mapped IPv6 address counts as its IPv4 address. Loopback is counted like any other host.
public final class HostConnectionLimiter: Sendable {
    /// Connections one host may hold open at once.
    public let limit: Int
    private let open = Mutex<[HostKey: Int]>([:])

    /// What connections are counted by.
    public enum HostKey: Hashable, Sendable {
        case v4(UInt32)
        /// The first 64 bits of the address.
        case v6(UInt64)
        /// A Unix socket or an address of another kind: all such connections count as one host.
        case other
    }

    public init(limit: Int) { self.limit = limit }

    /// The host `address` counts against.
    public static func key(_ address: SocketAddress?) -> HostKey {
        switch address {
        case .v4(let a)?:
            return .v4(UInt32(bigEndian: a.address.sin_addr.s_addr))
        case .v6(let a)?:
            var raw = a.address.sin6_addr
            let bytes = withUnsafeBytes(of: &raw) { Array($0) }
            // ::ffff:a.b.c.d is the IPv4 host a.b.c.d reaching a dual-stack socket.
            if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                return .v4(bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            }
            return .v6(bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        default:
            return .other
        }
    }

    /// Takes a slot for `host`; false when it already holds `limit` connections.
    public func acquire(_ host: HostKey) -> Bool {
        open.withLock { o in
            let n = o[host, default: 0]
            guard n < limit else { return false }
            o[host] = n + 1
            return true
        }
    }

    /// Gives back a slot `acquire` took.
    public func release(_ host: HostKey) {
        open.withLock { o in
            guard let n = o[host] else { return }
            o[host] = n > 1 ? n - 1 : nil
        }
    }

    /// Connections `host` holds open.
    public func count(_ host: HostKey) -> Int { open.withLock { $0[host, default: 0] } }
}

/// First in every RPC connection's pipeline: counts the connection against its host when it becomes active and closes
/// it at once, before reading anything (no HTTP response: nothing has been parsed yet), when the host is at its limit;
/// gives the slot back when the connection closes. HTTP and WebSocket connections alike (an upgrade keeps the channel).
final class HostConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let limiter: HostConnectionLimiter
    let logger: Logger
    private var held: HostConnectionLimiter.HostKey?
    private var refused = false

    init(limiter: HostConnectionLimiter, logger: Logger) {
        self.limiter = limiter
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        // Passed on even when refused: the handlers behind see the connection open, then close.
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection is closing: nothing it sent is handled.
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { releaseSlot() }

    private func admit(_ context: ChannelHandlerContext) {
        guard held == nil, !refused else { return }
        let host = HostConnectionLimiter.key(context.channel.remoteAddress)
        if limiter.acquire(host) {
            held = host
        } else {
            refused = true
            logger.debug("JSON-RPC connection refused: its host holds the per-host limit",
                         metadata: ["remote": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "limit": "\(limiter.limit)"])
            context.close(promise: nil)
        }
    }

    private func releaseSlot() {
        guard let host = held else { return }
        held = nil
        limiter.release(host)
    }
}

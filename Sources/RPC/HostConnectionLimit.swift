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

    /// Least time between two warnings about refused connections (Specs/rpc.md §9).
    public let reportInterval: Duration
    private let refusals = Mutex(Refusals())

    /// Refused connections not yet reported in a warning.
    struct Refusals {
        var lastReport: ContinuousClock.Instant?
        var connections = 0
        /// The hosts refused since the last report (at most `maxReportedHosts` kept: beyond, only connections count).
        var hosts = Set<HostKey>()
        var lastRemote = ""
    }

    /// What one warning about refused connections says: `connections` refused from `hosts` hosts (at least: at most
    /// `maxReportedHosts` are told apart) since the previous warning, the last from `lastRemote`.
    public struct RefusalReport: Sendable, Equatable {
        /// Connections refused since the previous report (this one included).
        public var connections: Int
        /// Distinct hosts among them (counted up to `maxReportedHosts`).
        public var hosts: Int
        /// The remote address of the latest refused connection.
        public var lastRemote: String
    }

    /// Hosts told apart in one report: a bound on the memory a flood from many /64s can take.
    static let maxReportedHosts = 1024

    /// Called once per refused connection (the node counts them in `sharechain_rpc_connections_refused_total`).
    let onRefusal: @Sendable () -> Void

    public init(limit: Int, reportInterval: Duration = .seconds(60), onRefusal: @escaping @Sendable () -> Void = {}) {
        self.limit = limit
        self.reportInterval = reportInterval
        self.onRefusal = onRefusal
    }

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

    /// Counts a connection from `host` (at `remote`) refused over the limit; returns what to warn about now: every
    /// refusal since the previous warning, when that was at least `reportInterval` ago (so the first refusal after a
    /// quiet spell is reported at once, and a flood makes at most one line per interval), else nil.
    public func noteRefusal(_ host: HostKey, remote: String, now: ContinuousClock.Instant = .now) -> RefusalReport? {
        onRefusal()
        return refusals.withLock { r in
            r.connections += 1
            if r.hosts.count < Self.maxReportedHosts { r.hosts.insert(host) }
            r.lastRemote = remote
            if let last = r.lastReport, now - last < reportInterval { return nil }
            let report = RefusalReport(connections: r.connections, hosts: r.hosts.count, lastRemote: remote)
            r = Refusals(lastReport: now)
            return report
        }
    }
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
        if context.channel.isActive, admit(context) == false { closeOnPurpose(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        let admitted = admit(context)
        // Passed on even when refused: the handlers behind see the connection open, then its input end, then close.
        context.fireChannelActive()
        if admitted == false { closeOnPurpose(context) }
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

    /// Takes the host's slot; false when refused, nil when already decided.
    private func admit(_ context: ChannelHandlerContext) -> Bool? {
        guard held == nil, !refused else { return nil }
        let host = HostConnectionLimiter.key(context.channel.remoteAddress)
        if limiter.acquire(host) {
            held = host
            return true
        }
        refused = true
        let remote = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        // One debug line per refusal; operators get at most one warning a minute with the count (Specs/rpc.md §9).
        logger.debug("JSON-RPC connection refused: its host holds the per-host limit", metadata: ["remote": "\(remote)", "limit": "\(limiter.limit)"])
        if let report = limiter.noteRefusal(host, remote: remote) {
            logger.warning("JSON-RPC connections refused over the per-host limit", metadata: [
                "connections": "\(report.connections)", "hosts": "\(report.hosts)", "lastRemote": "\(report.lastRemote)",
                "limit": "\(limiter.limit)", "nextReportAfter": "\(limiter.reportInterval)",
            ])
        }
        return false
    }

    private func releaseSlot() {
        guard let host = held else { return }
        held = nil
        limiter.release(host)
    }
}

/// Closes a connection the server drops on purpose (over the per-host limit, past a deadline), telling the handlers
/// behind `context` first that no more input will come (`ChannelEvent.inputClosed`, what a client's half-close looks
/// like) unless they were told already.
///
/// Why: NIO's HTTP upgrade handler (which Hummingbird's HTTP/WebSocket channel puts in every connection) then ends its
/// negotiation with `ChannelError.inputClosed`, and Hummingbird logs that at trace level. A bare close removes the
/// upgrade handler mid-negotiation: it fails with `inappropriateOperationForState`, which Hummingbird logs at error
/// level ("Error handling upgrade result"), one error line per connection the server closed doing its job. Once an
/// HTTP session or a WebSocket runs, the event ends its inbound stream as a client's half-close would.
func closeOnPurpose(_ context: ChannelHandlerContext, inputAlreadyClosed: Bool = false) {
    if !inputAlreadyClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
    context.close(promise: nil)
}

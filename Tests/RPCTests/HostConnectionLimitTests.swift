import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import RPC

/// Eleventh review, B3: one remote host could open all `maxConnections` (512) JSON-RPC connections and lock every other
/// client out. Now each host (an IPv4 address, an IPv6 /64) holds at most `maxConnectionsPerHost`; further connections
/// are closed at accept (Specs/rpc.md §9).
@Suite struct HostConnectionLimitTests {
    /// A raw TCP connection from `source` that keeps what the server sends; `isOpen` turns false once it is closed.
    final class Connection: Sendable {
        final class Collect: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            let bytes = Mutex([UInt8]())
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let b = unwrapInboundIn(data)
                bytes.withLock { $0 += b.readableBytesView }
            }
        }
        let channel: any Channel
        let collect: Collect

        static func open(port: Int, from source: String) async throws -> Connection {
            let collect = Collect()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(to: try SocketAddress(ipAddress: source, port: 0))
                .channelInitializer { $0.pipeline.addHandler(collect) }
                .connect(host: "127.0.0.1", port: port).get()
            return Connection(channel, collect)
        }
        private init(_ channel: any Channel, _ collect: Collect) { self.channel = channel; self.collect = collect }
        var isOpen: Bool { channel.isActive }
        var received: String { String(decoding: collect.bytes.withLock { $0 }, as: UTF8.self) }
        func send(_ text: String) async throws { try await channel.writeAndFlush(ByteBuffer(string: text)).get() }
        func close() async { try? await channel.close() }
    }

    /// Polls `condition` until it holds or `limit` passes (generous: the suite shares two loaded cores).
    func eventually(_ limit: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    static let request = #"{"jsonrpc":"2.0","method":"node_version","id":1}"#
    static let http = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(request.utf8.count)\r\n\r\n\(request)"

    /// 127.0.0.1 opens its limit of connections and one more: the extra one is closed at once, while 127.0.0.2 is still
    /// served; closing one of the first host's connections lets it connect again.
    @Test func oneHostCannotTakeEveryConnectionSlot() async throws {
        var config = RPCConfiguration()
        config.maxConnections = 16
        config.maxConnectionsPerHost = 3
        let node = try await GoldenNode(configuration: config)
        let limiter = node.server.hostLimiter
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 0)
        try await withRunningServer(node.server) { port in
            var held = [Connection]()
            for _ in 0..<3 { held.append(try await Connection.open(port: port, from: "127.0.0.1")) }
            #expect(await eventually { limiter.count(HostConnectionLimiter.key(local)) == 3 }, "the server never counted the host's connections")
            // The fourth from the same host is closed without an answer, though slots are free.
            let extra = try await Connection.open(port: port, from: "127.0.0.1")
            try? await extra.send(Self.http)
            #expect(await eventually { !extra.isOpen }, "a connection over the per-host limit was kept")
            #expect(extra.received.isEmpty, "a connection over the per-host limit was answered: \(extra.received)")
            // Another host is served.
            let other = try await Connection.open(port: port, from: "127.0.0.2")
            try await other.send(Self.http)
            #expect(await eventually { other.received.contains("sharechain/") }, "another host was not served: \(other.received)")
            await other.close()
            // The limited host's connections still work, and closing one frees its slot.
            try await held[0].send(Self.http)
            #expect(await eventually { held[0].received.contains("sharechain/") }, "a connection within the limit was not served")
            await held[0].close()
            #expect(await eventually { limiter.count(HostConnectionLimiter.key(local)) == 2 }, "closing a connection did not free its slot")
            let again = try await Connection.open(port: port, from: "127.0.0.1")
            try await again.send(Self.http)
            #expect(await eventually { again.received.contains("sharechain/") }, "the freed slot could not be used: \(again.received)")
            await again.close()
            for c in held.dropFirst() { await c.close() }
            #expect(await eventually { limiter.count(HostConnectionLimiter.key(local)) == 0 })
        }
    }

    /// Hosts are IPv4 addresses and IPv6 /64 prefixes; an IPv4-mapped address is its IPv4 host.
    @Test func connectionsAreCountedPerAddressAndPerIPv6Slash64() throws {
        let limiter = HostConnectionLimiter(limit: 2)
        func key(_ ip: String) throws -> HostConnectionLimiter.HostKey { HostConnectionLimiter.key(try SocketAddress(ipAddress: ip, port: 1234)) }
        #expect(try key("10.0.0.1") == key("10.0.0.1"))
        #expect(try key("10.0.0.1") != key("10.0.0.2"))
        #expect(try key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff::9"), "one /64 is one host")
        #expect(try key("2001:db8:1:2::1") != key("2001:db8:1:3::1"))
        #expect(try key("::ffff:10.0.0.1") == key("10.0.0.1"))
        let a = try key("10.0.0.1"), b = try key("10.0.0.2")
        #expect(limiter.acquire(a) && limiter.acquire(a))
        #expect(!limiter.acquire(a), "a third connection of one host was admitted")
        #expect(limiter.acquire(b))
        limiter.release(a)
        #expect(limiter.acquire(a))
        #expect(limiter.count(a) == 2 && limiter.count(b) == 1)
    }
}

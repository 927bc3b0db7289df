import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import RPC

/// Connections are held to deadlines from their first byte (Specs/rpc.md §9): found by the robustness review, where
/// ~520 connections that sent nothing, or a first request the parser could not read, held every connection slot and
/// were never closed, so the JSON-RPC port stopped answering.
@Suite struct ConnectionDeadlineTests {
    /// A raw TCP connection to the server; `isOpen` turns false once the server closes it.
    final class RawConnection: Sendable {
        let channel: any Channel

        static func open(port: Int) async throws -> RawConnection {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            return RawConnection(channel)
        }
        private init(_ channel: any Channel) { self.channel = channel }
        var isOpen: Bool { channel.isActive }
        func send(_ bytes: [UInt8]) async throws { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get() }
        func close() { channel.close(promise: nil) }
    }

    /// Polls `condition` until it holds or `limit` passes (generous: the suite shares two loaded cores).
    func eventually(_ limit: Duration, _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// `sharechain explorer`'s own server (the static files for a remote node) had none of these guards: connections
    /// that sent half a request stayed open for good, and one client holding enough of them made it serve no one
    /// (eighteenth-session audit). It now has the node's: the deadlines, and the per-host bound.
    @Test func theStandaloneExplorerServerHoldsConnectionsToTheSameDeadlines() async throws {
        var limits = RPCConfiguration()
        limits.firstRequestTimeoutSeconds = 1
        limits.idleTimeoutSeconds = 4
        limits.maxConnectionsPerHost = 3
        let server = ExplorerServer(host: "127.0.0.1", port: 0, rpcURL: "http://127.0.0.1:1/", limits: limits)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = await server.listeningPort()
            var held = [RawConnection]()
            for i in 0..<3 {
                let c = try await RawConnection.open(port: port)
                if i == 1 { try await c.send(Array("GET /explorer/ HTTP/1.1\r\nHost: x\r\n".utf8)) }
                held.append(c)
            }
            // A fourth from the same host is over the bound: closed at once, long before any deadline.
            let extra = try await RawConnection.open(port: port)
            #expect(await eventually(.seconds(30)) { !extra.isOpen }, "a connection over the per-host bound was kept")
            #expect(await eventually(.seconds(60)) { held.allSatisfy { !$0.isOpen } },
                    "never closed: connections \(held.indices.filter { held[$0].isOpen })")
            held.forEach { $0.close() }
            // Served again once they are gone; a method other than GET and HEAD names the ones allowed.
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let page = try await client.request(method: .GET, path: "/explorer/", headers: [], body: [])
            #expect(page.status == 200)
            let post = try await client.request(method: .POST, path: "/explorer/", headers: [], body: [])
            #expect(post.status == 405 && post.headers.first { $0.0.lowercased() == "allow" }?.1 == "GET, HEAD")
        }
    }

    @Test func connectionsThatNeverFinishAFirstRequestAreClosedAndTheirSlotsFreed() async throws {
        var config = RPCConfiguration()
        config.firstRequestTimeoutSeconds = 1
        config.idleTimeoutSeconds = 4
        config.maxConnections = 6
        config.maxRequestHeadBytes = 16 << 10
        let node = try await GoldenNode(configuration: config)
        try await withRunningServer(node.server) { port in
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let request = Array(#"{"jsonrpc":"2.0","method":"node_version","id":1}"#.utf8)
            // Every slot taken: silent connections, garbage without a request head's end, a head trickling in.
            var held = [RawConnection]()
            for i in 0..<6 {
                let c = try await RawConnection.open(port: port)
                if i % 3 == 1 { try await c.send(Array("\u{0}garbage\r\nmore".utf8)) }
                if i % 3 == 2 { try await c.send(Array("POST / HTTP/1.1\r\nHost: x\r\n".utf8)) }
                held.append(c)
            }
            let freed = await eventually(.seconds(60)) { held.allSatisfy { !$0.isOpen } }
            #expect(freed, "never closed: connections \(held.indices.filter { held[$0].isOpen })")
            guard freed else { held.forEach { $0.close() }; return }  // a request now would wait for a slot for good
            // The slots are free again: a real request is answered.
            let (status, _) = try await client.post(request)
            #expect(status == 200)

            // A head that ends but cannot be parsed gets no answer; bytes trickling in after it do not keep the
            // connection: it is closed once it has gone `idle` without a response.
            let garbled = try await RawConnection.open(port: port)
            try await garbled.send(Array("\u{0}garbage\r\n\r\n".utf8))
            let trickle = Task {
                while garbled.isOpen && !Task.isCancelled {
                    try? await garbled.send([UInt8(ascii: "x")])
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            #expect(await eventually(.seconds(60)) { !garbled.isOpen }, "an unanswerable head kept its connection")
            trickle.cancel()

            // A head longer than the limit is cut off at once, long before the deadline would.
            let long = try await RawConnection.open(port: port)
            try await long.send(Array("GET / HTTP/1.1\r\nX-Long: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 20 << 10))
            #expect(await eventually(.seconds(60)) { !long.isOpen }, "an over-long request head was not refused")

        }
    }

    @Test func blankLineDetectionSpansReadsAndAcceptsBareLineFeeds() {
        func found(_ previous: String, _ bytes: String) -> Bool {
            ConnectionDeadlineHandler.containsBlankLine(Array(previous.utf8), ByteBuffer(string: bytes).readableBytesView)
        }
        #expect(found("", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(found("", "GET / HTTP/1.1\nHost: a\n\n"))
        #expect(found("\r\n\r", "\n"))
        #expect(found("a\r\n", "\r\nbody"))
        #expect(!found("", "GET / HTTP/1.1\r\nHost: a\r\n"))
        #expect(!found("", "\r\r\r\r"))
        #expect(!found("", "a\nb\nc\r\nd"))
    }
}

import Foundation
import NIOCore
import Testing
@testable import RPC
import TestSupport

/// Tenth review (RPC), F3: a WebSocket message waiting for its turn in the request gate stayed in line after its
/// connection closed (nothing cancels a closed WebSocket's handler, and its `isAbandoned` was constantly false), then ran
/// for nobody: connect, send an expensive message, reset, repeat filled the waiting line for live clients.
@Suite struct Review10RPCTests {
    /// One masked client text frame (RFC 6455 §5.2) with a payload under 126 bytes.
    static func textFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        precondition(payload.count < 126)
        let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        return [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    @Test func aClosedWebSocketsWaitingRequestIsDroppedNotRun() async throws {
        var config = RPCConfiguration()
        config.maxConcurrentRequests = 1
        config.maxWaitingRequests = 8
        let node = try await GoldenNode(configuration: config)
        let server = node.server
        try await withRunningServer(server) { port in
            let gate = server.dispatcher.gate
            let holder = await Review8Tests.PermitHolder(gate)
            let upgrade = Array("""
                GET /ws HTTP/1.1\r
                Host: 127.0.0.1:\(port)\r
                Upgrade: websocket\r
                Connection: Upgrade\r
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
                Sec-WebSocket-Version: 13\r
                \r

                """.utf8)
            let message = Self.textFrame(#"{"jsonrpc":"2.0","id":1,"method":"node_version"}"#)
            var connections = [ConnectionDeadlineTests.RawConnection]()
            for _ in 0..<3 {
                let c = try await ConnectionDeadlineTests.RawConnection.open(port: port)
                try await c.send(upgrade)
                try await c.send(message)
                connections.append(c)
            }
            #expect(await Review8Tests.eventually { gate.waiting == 3 }, "waiting: \(gate.waiting)")
            let before = Review8Tests.okCount(server, "node_version")
            // The clients reset their connections while their messages wait.
            for c in connections {
                try await #require(c.channel as? any SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
                c.close()
            }
            #expect(await Review8Tests.eventually { gate.liveWaiting == 0 }, "the closed WebSockets' requests still count as live: \(gate.liveWaiting)")
            holder.release()
            await holder.task.value
            #expect(await Review8Tests.eventually { gate.waiting == 0 })
            // The node still answers, and the closed connections' requests were never handled.
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let (ok, _) = try await client.post(Array(#"{"jsonrpc":"2.0","id":2,"method":"node_version"}"#.utf8))
            #expect(ok == 200)
            #expect(Review8Tests.okCount(server, "node_version") == before + 1, "requests of closed WebSockets were handled")
        }
    }
}

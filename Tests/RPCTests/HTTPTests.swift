import Primitives
import Foundation
import NIOHTTP1
import Testing
@testable import Consensus
@testable import Primitives
@testable import RPC

/// Transport behaviour: limits, content type, CORS, health, metrics, routing.
@Suite struct HTTPTests {
    func withServer(_ config: RPCConfiguration = RPCConfiguration(), _ body: @Sendable (GoldenNode, RPCClient) async throws -> Void) async throws {
        let node = try await GoldenNode(configuration: config)
        try await withRunningServer(node.server) { port in
            try await body(node, try RPCClient(url: "http://127.0.0.1:\(port)/"))
        }
    }

    @Test func oversizeBodyIsRefusedWith413AndAnErrorObject() async throws {
        var config = RPCConfiguration()
        config.maxBodyBytes = 1024
        try await withServer(config) { _, client in
            let big = Array(#"{"jsonrpc":"2.0","method":"node_version","id":1,"params":[""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 2000) + Array(#""]}"#.utf8)
            let (status, body) = try await client.post(big)
            #expect(status == 413)
            let e = try JSONParser().parse(body)
            #expect(e["error"]?["code"] == .int(RPCError.limitExceededCode))
            #expect(e["error"]?["data"]?["limit"] == "request body bytes")
            // Just under the limit still works.
            let (ok, _) = try await client.post(Array(#"{"jsonrpc":"2.0","method":"node_version","id":1}"#.utf8))
            #expect(ok == 200)
        }
    }

    @Test func oversizeBatchIsOneLimitError() async throws {
        try await withServer { _, client in
            let call = JSON.object(["jsonrpc": "2.0", "method": "chain_blockNumber", "id": .int(1)])
            let (status, body) = try await client.post(JSONWriter.encode(.array(Array(repeating: call, count: 101))))
            #expect(status == 200)
            let e = try JSONParser().parse(body)
            #expect(e["error"]?["code"] == .int(RPCError.limitExceededCode))
            #expect(e["error"]?["data"]?["maximum"] == .int(100))
            #expect(e["id"] == .null)
            // 100 is fine: 100 answers in order.
            let (s2, b2) = try await client.post(JSONWriter.encode(.array(Array(repeating: call, count: 100))))
            #expect(s2 == 200)
            #expect(try JSONParser().parse(b2).array?.count == 100)
        }
    }

    @Test func batchResponsesStopAtTheResponseBudget() async throws {
        var config = RPCConfiguration()
        config.maxResponseBytes = 4000
        try await withServer(config) { _, client in
            let call = JSON.object(["jsonrpc": "2.0", "method": "chain_getBlockByNumber", "params": .array([.int(5), .bool(true)]), "id": .int(7)])
            let (_, body) = try await client.post(JSONWriter.encode(.array(Array(repeating: call, count: 10))))
            let answers = try #require(try JSONParser().parse(body).array)
            #expect(answers.count == 10)
            #expect(answers.first?["result"] != nil)
            #expect(answers.last?["error"]?["code"] == .int(RPCError.limitExceededCode))
            #expect(answers.allSatisfy { $0["id"] == .int(7) })
        }
    }

    @Test func contentTypeMethodAndRouting() async throws {
        try await withServer { _, client in
            let body = Array(#"{"jsonrpc":"2.0","method":"chain_blockNumber","id":1}"#.utf8)
            #expect(try await client.request(method: .POST, path: "/", headers: [("Content-Type", "text/plain")], body: body).status == 415)
            #expect(try await client.request(method: .POST, path: "/", body: body).status == 415)
            #expect(try await client.request(method: .POST, path: "/", headers: [("Content-Type", "application/json; charset=utf-8")], body: body).status == 200)
            let get = try await client.request(method: .GET, path: "/")
            #expect(get.status == 405)
            #expect(get.header("Allow") == "POST, OPTIONS")
            #expect(try await client.request(method: .GET, path: "/nope").status == 404)
            #expect(try await client.request(method: .GET, path: "/ws").status == 426)
        }
    }

    @Test func healthAndMetrics() async throws {
        try await withServer { _, client in
            let health = try await client.request(method: .GET, path: "/health")
            #expect(health.status == 200)
            let h = try JSONParser().parse(health.body)
            #expect(h["status"] == "ok" && h["height"] == .int(15))
            _ = try await client.call("chain_blockNumber")
            _ = try? await client.call("chain_getBlockByNumber", .array([.int(999)]))
            let metrics = try await client.request(method: .GET, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
            let text = String(decoding: metrics.body, as: UTF8.self)
            for name in [MetricNames.height, MetricNames.finalizedHeight, MetricNames.peers, MetricNames.mempoolTransactions,
                         MetricNames.mempoolBytes, MetricNames.rpcRequests] {
                #expect(text.contains(name), "missing \(name)")
            }
            #expect(text.contains("\(MetricNames.height) 15"))
            #expect(text.contains(#"\#(MetricNames.rpcRequests){method="chain_blockNumber",outcome="ok"}"#))
            #expect(text.contains(#"\#(MetricNames.rpcRequests){method="chain_getBlockByNumber",outcome="not_found"}"#))
        }
    }

    @Test func corsOnlyForListedOrigins() async throws {
        var config = RPCConfiguration()
        config.corsOrigins = ["https://explorer.example"]
        try await withServer(config) { _, client in
            let body = Array(#"{"jsonrpc":"2.0","method":"chain_blockNumber","id":1}"#.utf8)
            let json = ("Content-Type", "application/json")
            let allowed = try await client.request(method: .POST, path: "/", headers: [json, ("Origin", "https://explorer.example")], body: body)
            #expect(allowed.header("Access-Control-Allow-Origin") == "https://explorer.example")
            let other = try await client.request(method: .POST, path: "/", headers: [json, ("Origin", "https://evil.example")], body: body)
            #expect(other.header("Access-Control-Allow-Origin") == nil)
            let preflight = try await client.request(method: .OPTIONS, path: "/", headers: [("Origin", "https://explorer.example"),
                                                                                            ("Access-Control-Request-Method", "POST")])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Methods") == "POST, OPTIONS")
            #expect(preflight.header("Access-Control-Allow-Headers") == "content-type")
        }
    }

    @Test func webSocketRefusesForeignBrowserOrigins() async throws {
        try await withServer { _, client in
            let upgrade = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
            let refused = try await client.request(method: .GET, path: "/ws", headers: upgrade + [("Origin", "https://evil.example")])
            #expect(refused.status >= 400, "no upgrade: \(refused.status)")
            let null = try await client.request(method: .GET, path: "/ws", headers: upgrade + [("Origin", "null")])
            #expect(null.status >= 400, "no upgrade: \(null.status)")
        }
    }

    @Test func clientSurfacesErrorObjects() async throws {
        try await withServer { node, client in
            #expect(try await client.call("chain_blockNumber") == .int(15))
            do {
                _ = try await client.call("tx_sendRaw", .array(["0x00"]))
                Issue.record("expected an error")
            } catch RPCClientError.rpc(let e) {
                #expect(e.code == RPCError.invalidParamsCode)
            }
            _ = node
        }
        #expect(throws: RPCClientError.self) { try RPCClient(url: "https://x:1/") }
        #expect(throws: RPCClientError.self) { try RPCClient(url: "http://nohost/") }
    }
}

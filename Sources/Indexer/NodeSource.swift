import Primitives
import RPC

/// The node, as the indexer reads it: JSON-RPC over HTTP (Specs/rpc.md), several blocks per batch request.
public struct NodeSource: Sendable {
    let client: RPCClient

    /// A source for the node at `url` (`http://host:port`).
    public init(url: String) throws(IndexerError) {
        do throws(RPCClientError) { client = try RPCClient(url: url) } catch { throw .from(error) }
    }

    /// The node's WebSocket endpoint (`ws://host:port/ws`).
    public var webSocketURL: String {
        let host = client.host.contains(":") ? "[\(client.host)]" : client.host
        return "ws://\(host):\(client.port)/ws"
    }

    func call(_ method: String, _ params: JSON) async throws(IndexerError) -> JSON {
        do throws(RPCClientError) { return try await client.call(method, params) } catch { throw .from(error) }
    }

    /// The chain id (0x-hex).
    public func chainId() async throws(IndexerError) -> String {
        guard case .string(let s) = try await call("node_chainId", .array([])), s.hasPrefix("0x"), s.utf8.count == 66 else {
            throw .malformed("node_chainId is not a hash")
        }
        return s.lowercased()
    }

    /// The canonical tip height.
    public func tipHeight() async throws(IndexerError) -> UInt64 {
        guard let h = try await call("chain_blockNumber", .array([])).uint64 else { throw .malformed("chain_blockNumber is not a height") }
        return h
    }

    /// The canonical block hash at `height` (0x-hex), nil above the tip.
    public func canonicalHash(at height: UInt64) async throws(IndexerError) -> String? {
        let headers = try await call("chain_getHeaders", .array([.int(height), .int(1)]))
        guard case .array(let a) = headers else { throw .malformed("chain_getHeaders is not an array") }
        guard let first = a.first else { return nil }
        return try Fields(first, "header").hash("hash")
    }

    /// Blocks `from…to` (at most 100 a call) with their results, as rows: one batch request of two calls per
    /// block. Stops early (returns fewer) when a block is not there (above the tip, or a reorg between calls).
    public func blocks(from: UInt64, through to: UInt64) async throws(IndexerError) -> [BlockRows] {
        guard from <= to else { return [] }
        let heights = Array(from...min(to, from + 49))
        var batch = [JSON]()
        for (i, h) in heights.enumerated() {
            batch.append(.object(["jsonrpc": "2.0", "id": .int(2 * i), "method": "chain_getBlockByNumber", "params": .array([.int(h), .bool(true)])]))
            batch.append(.object(["jsonrpc": "2.0", "id": .int(2 * i + 1), "method": "chain_getBlockResults", "params": .array([.int(h)])]))
        }
        let body: [UInt8]
        let status: Int
        do throws(RPCClientError) { (status, body) = try await client.post(JSONWriter.encode(.array(batch))) } catch { throw .from(error) }
        guard status == 200 else { throw .node("HTTP \(status) for a batch of \(batch.count) calls") }
        let parsed: JSON
        do { parsed = try JSONParser().parse(body) } catch { throw .malformed("batch answer is not JSON: \(error)") }
        guard case .array(let answers) = parsed, answers.count == batch.count else { throw .malformed("batch answer is not an array of \(batch.count)") }
        var byId = [UInt64: JSON]()
        for a in answers {
            guard let id = a["id"]?.uint64 else { throw .malformed("batch answer without a numeric id") }
            byId[id] = a
        }
        var out = [BlockRows]()
        for i in heights.indices {
            guard let blockAnswer = byId[UInt64(2 * i)], let resultsAnswer = byId[UInt64(2 * i + 1)] else {
                throw .malformed("batch answer lacks the calls of height \(heights[i])")
            }
            // Not found (above the tip) ends the run; other errors are the node's.
            if let e = blockAnswer["error"] ?? resultsAnswer["error"] {
                if case .number(let code)? = e["code"], code == "-32000" || code == "-32004" { break }
                throw .node("height \(heights[i]): \(JSONWriter.string(e))")
            }
            guard let block = blockAnswer["result"], let results = resultsAnswer["result"] else {
                throw .malformed("height \(heights[i]): answer without result")
            }
            let rows: BlockRows
            do throws(IndexerError) { rows = try BlockRows(block: block, results: results) } catch {
                // The two calls saw different blocks (a reorg in between): stop here and let the caller re-check.
                if case .malformed(let m) = error, m.contains("reorg between the calls") { break }
                throw error
            }
            if let previous = out.last, previous.hash != rows.parent { break }
            out.append(rows)
        }
        return out
    }

    /// The pools (genesis data), as `pools` rows.
    public func pools() async throws(IndexerError) -> TableRows {
        var rows = TableRows("pools", [("id", "bigint"), ("model_id", "text"), ("executor_spec", "text"), ("window_blocks", "bigint"),
                                       ("challenge_blocks", "bigint"), ("data", "jsonb")])
        var cursor: JSON = .null
        repeat {
            let page = try await call("pool_list", .object(["limit": .int(100), "cursor": cursor]))
            guard let items = page["items"]?.array else { throw .malformed("pool_list has no items") }
            for item in items {
                let p = try Fields(item, "pool")
                rows.add([try p.uintText("id"), try p.string("modelId"), try p.string("executorSpec"), try p.uintText("windowBlocks"),
                          try p.uintText("challengeBlocks"), JSONWriter.string(item)])
            }
            cursor = page["nextCursor"] ?? .null
        } while cursor != .null
        return rows
    }
}

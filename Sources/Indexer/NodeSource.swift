import Primitives
import RPC

/// The node, as the indexer reads it: JSON-RPC over HTTP (Specs/rpc.md), several blocks per batch request.
public struct NodeSource: Sendable {
    let client: RPCClient

    /// A source for the node at `url` (`http://host:port`); `timeout` is each call's deadline.
    public init(url: String, timeout: Duration = .seconds(30)) throws(IndexerError) {
        do throws(RPCClientError) { var c = try RPCClient(url: url); c.timeout = timeout; client = c } catch { throw .from(error) }
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

    /// The height from which the node stores every canonical block to its tip (`node_status.earliestBlockHeight`):
    /// 0 for a node with its whole chain, the snapshot's height for one that joined by state sync. A node that does not
    /// report it (older than the field) is taken to hold its whole chain.
    public func earliestBlockHeight() async throws(IndexerError) -> UInt64 {
        let status = try await call("node_status", .array([]))
        guard case .object = status else { throw .malformed("node_status is not an object") }
        guard let field = status["earliestBlockHeight"] else { return 0 }
        guard let h = field.uint64 else { throw .malformed("node_status.earliestBlockHeight is not a height") }
        return h
    }

    /// The canonical block hash at `height` (0x-hex), nil above the tip (and below the earliest stored block).
    public func canonicalHash(at height: UInt64) async throws(IndexerError) -> String? {
        try await canonicalHeader(at: height)?.hash
    }

    /// The canonical block's hash and parent hash at `height` (0x-hex), nil where the node stores no block.
    public func canonicalHeader(at height: UInt64) async throws(IndexerError) -> (hash: String, parent: String)? {
        let headers = try await call("chain_getHeaders", .array([.int(height), .int(1)]))
        guard case .array(let a) = headers else { throw .malformed("chain_getHeaders is not an array") }
        guard let first = a.first else { return nil }
        let header = try Fields(first, "header")
        guard try header.uint("height") == height else { throw .malformed("chain_getHeaders(\(height)) answered another height") }
        return (try header.hash("hash"), try header.hash("parent"))
    }

    /// Blocks `from…to` (at most 100 a call) with their results, as rows: one batch request of two calls per
    /// block. Stops early (returns fewer) when a block is not there (above the tip, or a reorg between calls).
    public func blocks(from: UInt64, through to: UInt64) async throws(IndexerError) -> [BlockRows] {
        guard from <= to else { return [] }
        // Saturating: the node's earliest height is not trusted to stay 49 below 2⁶⁴.
        let heights = Array(from...min(to, from.addingReportingOverflow(49).overflow ? .max : from + 49))
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
            // Not found (above the tip) ends the run; so does the batch answer's size limit (large blocks: the node
            // answers the calls past its budget with -32002, and the next round asks from there); other errors are
            // the node's.
            var block = blockAnswer["result"], results = resultsAnswer["result"]
            if let e = blockAnswer["error"] ?? resultsAnswer["error"] {
                if case .number(let code)? = e["code"], code == "-32000" || code == "-32004" { break }
                if case .number(let code)? = e["code"], code == "-32002" {
                    if !out.isEmpty { break }
                    // The first block alone passes the batch's answer budget: the next round would ask the same batch
                    // and stall at it for good. Ask for it and its results as two single calls, outside any batch.
                    block = try await call("chain_getBlockByNumber", .array([.int(heights[i]), .bool(true)]))
                    results = try await call("chain_getBlockResults", .array([.int(heights[i])]))
                } else {
                    throw .node("height \(heights[i]): \(JSONWriter.string(e))")
                }
            }
            guard let block, let results, block != .null, results != .null else {
                throw .malformed("height \(heights[i]): answer without result")
            }
            let rows: BlockRows
            do throws(IndexerError) { rows = try BlockRows(block: block, results: results) } catch {
                // The two calls saw different blocks (a reorg in between): stop here and let the caller re-check.
                if case .malformed(let m) = error, m.contains("reorg between the calls") { break }
                throw error
            }
            // The block asked for, not another (a node answering another height would have the indexer write it at
            // the wrong place, or ask for the same range again and again).
            guard rows.height == heights[i] else { throw .malformed("asked for block \(heights[i]), the node answered block \(rows.height)") }
            if let previous = out.last, previous.hash != rows.parent { break }
            out.append(rows)
        }
        return try await withAccountStates(out)
    }

    /// `blocks(from:through:)` as a result (for a prefetching task).
    func blocksResult(from: UInt64, through to: UInt64) async -> Result<[BlockRows], IndexerError> {
        do { return .success(try await blocks(from: from, through: to)) } catch { return .failure(error) }
    }

    /// Most `account_get` calls in one batch request (the node takes at most 100 calls a batch; the rest of the
    /// batch is the header checks).
    static let accountsPerBatch = 80
    /// Batch requests for account states in flight at once.
    static let accountConcurrency = 4

    /// `blocks` with their touched accounts' states attached (`account_get` with `block` = each block's height),
    /// fetched in batches of up to `accountsPerBatch` calls, `accountConcurrency` batches at a time. Every batch ends
    /// with `chain_getHeaders` of each height it read: a block whose canonical hash changed meanwhile (a reorg
    /// between the calls, so the states may be another branch's) is dropped with every block after it, and the next
    /// round re-checks. A height whose state the node no longer keeps (`-32004`) gives unknown (NULL) states.
    public func withAccountStates(_ blocks: [BlockRows]) async throws(IndexerError) -> [BlockRows] {
        var jobs = [(block: Int, address: String)]()
        for (i, b) in blocks.enumerated() { for a in b.touchedAddresses { jobs.append((i, a)) } }
        guard !jobs.isEmpty else { return blocks }
        // Split into batches: accounts plus one header check per distinct height, at most 100 calls.
        var batches = [[(block: Int, address: String)]]()
        var current = [(block: Int, address: String)]()
        var heights = Set<Int>()
        for job in jobs {
            let extra = heights.contains(job.block) ? 0 : 1
            if current.count >= Self.accountsPerBatch || current.count + heights.count + 1 + extra > 100 {
                batches.append(current)
                current = []
                heights = []
            }
            current.append(job)
            heights.insert(job.block)
        }
        if !current.isEmpty { batches.append(current) }

        typealias Answer = Result<(states: [(Int, AccountState)], moved: Set<Int>), IndexerError>
        let results: [Int: Answer] = await withTaskGroup(of: (Int, Answer).self) { group in
            var out = [Int: Answer]()
            var next = 0, running = 0
            while next < batches.count || running > 0 {
                while running < Self.accountConcurrency && next < batches.count {
                    let i = next, batch = batches[i]
                    group.addTask { (i, await self.accountBatchResult(batch, blocks)) }
                    next += 1
                    running += 1
                }
                guard let (i, r) = await group.next() else { break }
                running -= 1
                out[i] = r
                if case .failure = r {
                    group.cancelAll()
                    break
                }
            }
            return out
        }
        var states = [[AccountState]](repeating: [], count: blocks.count)
        var firstMoved = blocks.count
        for i in batches.indices {
            guard let r = results[i] else { continue }  // not run: an earlier failure is thrown below
            switch r {
            case .failure(let e): throw e
            case .success(let (s, moved)):
                for (b, state) in s { states[b].append(state) }
                if let m = moved.min() { firstMoved = min(firstMoved, m) }
            }
        }
        guard results.count == batches.count else { throw .node("\(results.count) of \(batches.count) account batches answered") }
        var out = [BlockRows]()
        for i in 0..<firstMoved {
            var b = blocks[i]
            try b.attach(states[i])
            out.append(b)
        }
        return out
    }

    /// `accountBatch` as a result (child tasks of a task group return their error instead of throwing it).
    func accountBatchResult(_ batch: [(block: Int, address: String)], _ blocks: [BlockRows]) async
        -> Result<(states: [(Int, AccountState)], moved: Set<Int>), IndexerError> {
        do { return .success(try await accountBatch(batch, blocks)) } catch { return .failure(error) }
    }

    /// One batch of `account_get` calls followed by `chain_getHeaders` of each height it read; returns the states
    /// and the blocks whose canonical hash is no longer the one indexed.
    func accountBatch(_ batch: [(block: Int, address: String)], _ blocks: [BlockRows]) async throws(IndexerError)
        -> (states: [(Int, AccountState)], moved: Set<Int>) {
        var calls = [JSON]()
        for (i, job) in batch.enumerated() {
            calls.append(.object(["jsonrpc": "2.0", "id": .int(i), "method": "account_get",
                                  "params": .array([.string(job.address), .int(blocks[job.block].height)])]))
        }
        let checked = Array(Set(batch.map(\.block))).sorted()
        for (k, b) in checked.enumerated() {
            calls.append(.object(["jsonrpc": "2.0", "id": .int(batch.count + k), "method": "chain_getHeaders",
                                  "params": .array([.int(blocks[b].height), .int(1)])]))
        }
        let answers = try await post(calls)
        var states = [(Int, AccountState)]()
        states.reserveCapacity(batch.count)
        for (i, job) in batch.enumerated() {
            guard let a = answers[UInt64(i)] else { throw .malformed("batch answer lacks account_get of \(job.address)") }
            if let e = a["error"] {
                if case .number(let code)? = e["code"], code == "-32004" {
                    states.append((job.block, AccountState(unknown: job.address)))
                    continue
                }
                throw .node("account_get \(job.address) at \(blocks[job.block].height): \(JSONWriter.string(e))")
            }
            guard let result = a["result"] else { throw .malformed("account_get \(job.address): answer without result") }
            let state = try AccountState(accountGet: result)
            guard state.address == job.address else { throw .malformed("account_get \(job.address) answered for \(state.address)") }
            states.append((job.block, state))
        }
        var moved = Set<Int>()
        for (k, b) in checked.enumerated() {
            guard let a = answers[UInt64(batch.count + k)] else { throw .malformed("batch answer lacks chain_getHeaders") }
            let hash: String? = if case .array(let hs)? = a["result"], let first = hs.first { try Fields(first, "header").hash("hash") } else { nil }
            if hash != blocks[b].hash { moved.insert(b) }
        }
        return (states, moved)
    }

    /// Posts one batch request; the answers by id.
    func post(_ calls: [JSON]) async throws(IndexerError) -> [UInt64: JSON] {
        let body: [UInt8]
        let status: Int
        do throws(RPCClientError) { (status, body) = try await client.post(JSONWriter.encode(.array(calls))) } catch { throw .from(error) }
        guard status == 200 else { throw .node("HTTP \(status) for a batch of \(calls.count) calls") }
        let parsed: JSON
        do { parsed = try JSONParser().parse(body) } catch { throw .malformed("batch answer is not JSON: \(error)") }
        guard case .array(let answers) = parsed, answers.count == calls.count else { throw .malformed("batch answer is not an array of \(calls.count)") }
        var byId = [UInt64: JSON]()
        for a in answers {
            guard let id = a["id"]?.uint64 else { throw .malformed("batch answer without a numeric id") }
            byId[id] = a
        }
        // Calls past the node's answer budget for one batch (large accounts, or a small budget) are asked again one by
        // one: a single call has no batch budget, and asking the same batch again would be cut at the same place.
        for call in calls {
            guard let id = call["id"]?.uint64, case .number(let code)? = byId[id]?["error"]?["code"],
                  code == String(RPCError.limitExceededCode) else { continue }
            let single: [UInt8]
            do throws(RPCClientError) { single = try await client.post(JSONWriter.encode(call)).1 } catch { throw .from(error) }
            guard let answer = try? JSONParser().parse(single), answer["id"]?.uint64 == id else {
                throw .malformed("answer to call \(id) asked alone is not its answer")
            }
            byId[id] = answer
        }
        return byId
    }

    /// Most `pool_list` pages read: a million pools, far above what a genesis document holds (the same bound as the
    /// companion processes' listings, `PagedListing` in Node).
    static let maxPoolPages = 10_000

    /// The pools (genesis data), as `pools` rows.
    public func pools() async throws(IndexerError) -> TableRows {
        var rows = TableRows("pools", [("id", "bigint"), ("model_id", "text"), ("executor_spec", "text"), ("window_blocks", "bigint"),
                                       ("challenge_blocks", "bigint"), ("data", "jsonb")])
        var cursor: JSON = .null
        // A node's listing is not trusted to end: a cursor seen before, an empty page that names a next one, more than
        // `maxPoolPages` pages or a pool listed twice is refused, rather than looping for good or failing later in
        // PostgreSQL's upsert.
        var cursors = Set<String>(), ids = Set<UInt64>(), pages = 0
        repeat {
            pages += 1
            guard pages <= Self.maxPoolPages else { throw .malformed("pool_list: more than \(Self.maxPoolPages) pages") }
            let page = try await call("pool_list", .object(["limit": .int(100), "cursor": cursor]))
            guard let items = page["items"]?.array else { throw .malformed("pool_list has no items") }
            for item in items {
                let p = try Fields(item, "pool")
                let id = try p.uint("id")
                guard ids.insert(id).inserted else { throw .malformed("pool_list: pool \(id) listed twice") }
                rows.add([String(id), try p.string("modelId"), try p.string("executorSpec"), try p.uintText("windowBlocks"),
                          try p.uintText("challengeBlocks"), JSONWriter.string(item)])
            }
            cursor = page["nextCursor"] ?? .null
            if cursor != .null {
                guard !items.isEmpty, cursors.insert(JSONWriter.string(cursor)).inserted else {
                    throw .malformed("pool_list: the listing does not advance (cursor \(JSONWriter.string(cursor)))")
                }
            }
        } while cursor != .null
        return rows
    }
}

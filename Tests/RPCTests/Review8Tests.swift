import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
@testable import Storage
import TestSupport

/// Eighth review (RPC): work a client can queue or trigger beyond what one connection or one page should cost,
/// and DNS rebinding.
@Suite struct Review8Tests {
    /// Polls `condition` until it holds or `limit` passes (generous: the suite shares two loaded cores). A wait for
    /// a condition, not a fixed sleep: it returns as soon as the condition holds.
    static func eventually(_ limit: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// Holds the gate's only permit until `release` is called.
    final class PermitHolder: Sendable {
        let task: Task<Void, Never>
        let release: @Sendable () -> Void

        init(_ gate: RequestGate) async {
            let (stream, continuation) = AsyncStream<Void>.makeStream()
            let (held, heldContinuation) = AsyncStream<Void>.makeStream()
            task = Task {
                _ = await gate.run { () async -> Int? in
                    heldContinuation.yield()
                    for await _ in stream { break }
                    return 1
                }
            }
            release = { continuation.yield(); continuation.finish() }
            for await _ in held { break }
        }
    }

    // MARK: Finding 2: the gate's line is bounded and skips clients that are gone

    /// Counters shared with the tasks of a test.
    final class Counters: Sendable {
        let ran = Atomic<Int>(0), refused = Atomic<Int>(0), most = Atomic<Int>(0)
        let gone = Atomic<Bool>(false)
    }

    /// HTTP requests waited for the gate without bound (Hummingbird does not cancel the handler of a closed
    /// connection, and frees its connection slot at once), each holding its body: connect, send, hang up in a loop
    /// and the node queues memory and work without end. Past `maxWaiting` a newcomer is now refused at once.
    @Test func aFullLineRefusesNewcomersAtOnceAndStaysBounded() async throws {
        let gate = RequestGate(permits: 1, maxWaiting: 8)
        let holder = await PermitHolder(gate)
        let flood = 200
        let c = Counters()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<flood {
                group.addTask {
                    let outcome = await gate.run(isAbandoned: { false }) { () async -> Int in
                        c.ran.add(1, ordering: .relaxed)
                        return 0
                    }
                    if case .refused = outcome { c.refused.add(1, ordering: .relaxed) }
                    _ = c.most.max(gate.waiting, ordering: .relaxed)
                }
            }
            // Everything past the bound comes back while the permit is still held: no waiting for a turn. (Without the
            // bound, nothing would come back until the release below, after the deadline.)
            let prompt = await Self.eventually { c.refused.load(ordering: .relaxed) == flood - 8 }
            #expect(prompt, "refused while the permit was held: \(c.refused.load(ordering: .relaxed)) of \(flood - 8)")
            #expect(gate.waiting == 8)
            holder.release()
            await group.waitForAll()
        }
        await holder.task.value
        #expect(c.ran.load(ordering: .relaxed) == 8, "the waiting requests ran in their turn")
        #expect(c.refused.load(ordering: .relaxed) == flood - 8)
        #expect(c.most.load(ordering: .relaxed) <= 8, "the line never grew past its bound")
        #expect(gate.waiting == 0)
    }

    /// A waiter whose client is gone is dropped, not run, when its turn comes; and a full line first makes room by
    /// dropping such waiters rather than refusing a live client.
    @Test func abandonedWaitersAreDroppedNotRun() async throws {
        let gate = RequestGate(permits: 1, maxWaiting: 2)
        let holder = await PermitHolder(gate)
        let c = Counters()
        let first = Task { await gate.run(isAbandoned: { c.gone.load(ordering: .relaxed) }) { () async -> Int in c.ran.add(1, ordering: .relaxed); return 1 } }
        let second = Task { await gate.run(isAbandoned: { c.gone.load(ordering: .relaxed) }) { () async -> Int in c.ran.add(1, ordering: .relaxed); return 2 } }
        #expect(await Self.eventually { gate.waiting == 2 })
        c.gone.store(true, ordering: .relaxed)
        // The line is full of abandoned waiters: a live newcomer takes their place instead of being refused.
        let live = Task { await gate.run(isAbandoned: { false }) { () async -> Int in c.ran.add(1, ordering: .relaxed); return 3 } }
        if case .abandoned = await first.value {} else { Issue.record("the first abandoned waiter was not dropped") }
        if case .abandoned = await second.value {} else { Issue.record("the second abandoned waiter was not dropped") }
        #expect(gate.waiting == 1)
        holder.release()
        if case .ran(let v) = await live.value { #expect(v == 3) } else { Issue.record("the live waiter did not run") }
        await holder.task.value
        #expect(c.ran.load(ordering: .relaxed) == 1, "only the live request ran")
    }

    /// `sharechain_rpc_requests_total{method=…,outcome="ok"}` in the server's exposition.
    static func okCount(_ server: RPCServer, _ method: String) -> Int {
        let text = String(decoding: server.node.metrics.exposition(), as: UTF8.self)
        for line in text.split(separator: "\n") where line.contains("method=\"\(method)\"") && line.contains("outcome=\"ok\"") && !line.hasPrefix("#") {
            return line.split(separator: " ").last.flatMap { Double($0) }.map { Int($0) } ?? 0
        }
        return 0
    }

    /// Over HTTP: requests of closed connections waiting for their turn are not handled for nobody (Hummingbird
    /// kept running them: it never cancels the handler of a closed connection), and a request past the line's bound
    /// is answered 503 with a `-32002` error at once.
    @Test func httpRequestsOfClosedConnectionsAreNotHandledAndAFullLineAnswers503() async throws {
        var config = RPCConfiguration()
        config.maxConcurrentRequests = 1
        config.maxWaitingRequests = 6
        let node = try await GoldenNode(configuration: config)
        let server = node.server
        try await withRunningServer(server) { port in
            let gate = server.dispatcher.gate
            let holder = await PermitHolder(gate)
            let body = Array(#"{"jsonrpc":"2.0","id":1,"method":"node_version"}"#.utf8)
            let request = Array("POST / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
            var connections = [ConnectionDeadlineTests.RawConnection]()
            for _ in 0..<6 {
                let c = try await ConnectionDeadlineTests.RawConnection.open(port: port)
                try await c.send(request)
                connections.append(c)
            }
            #expect(await Self.eventually { gate.waiting == 6 }, "waiting: \(gate.waiting)")
            // The line is full: the next request is refused at once, 503 with a JSON-RPC error.
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let busy = try await client.request(method: .POST, path: "/", headers: [("Content-Type", "application/json")], body: body)
            #expect(busy.status == 503)
            #expect(busy.header("Retry-After") == "1")
            let e = try JSONParser().parse(busy.body)
            #expect(e["error"]?["code"] == .int(RPCError.limitExceededCode))
            #expect(e["error"]?["data"]?["limit"] == "waiting requests")
            #expect(e["error"]?["data"]?["maximum"] == .int(6))
            // The clients go away (reset: a FIN alone is an HTTP half-close, which a client may send and still wait for
            // its answer); when the permit comes back their requests are dropped, not handled.
            for c in connections {
                try await #require(c.channel as? any SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
                c.close()
            }
            let before = Self.okCount(server, "node_version")
            // Once the server has seen the resets, every waiter is known to be gone.
            #expect(await Self.eventually { gate.liveWaiting == 0 }, "live waiters: \(gate.liveWaiting)")
            holder.release()
            await holder.task.value
            #expect(await Self.eventually { gate.waiting == 0 })
            // The node still answers, and the closed connections' requests were never handled.
            let (ok, _) = try await client.post(body)
            #expect(ok == 200)
            #expect(Self.okCount(server, "node_version") == before + 1, "requests of closed connections were handled")
        }
    }

    // MARK: Finding 4: a checker_getAssignments page decodes a bounded number of blocks

    /// `checker_getAssignments` with a `pool` filter decoded the receipts of every block of up to 10 000 index
    /// entries when the filter skipped them (settled tickets: no pool known). A page now stops after
    /// `blockLimit` distinct blocks with a cursor, and following the cursors still visits every assignment once.
    @Test func assignmentPagesDecodeABoundedNumberOfBlocks() throws {
        let dir = TempDir("review8-assignments")
        let store = try ChainStore(path: dir.path, genesis: SHA256.hash(Array("review8-genesis".utf8)))
        let checker = fixtureKey("review8-checker").publicKey
        let kind = try #require(Event.kindCode(named: "checkersAssigned"))
        var parent = Hash32.zero
        let blocks = 40
        for h in UInt64(0)..<UInt64(blocks) {
            // Every block assigns `checker` to a ticket that is not in the state (settled and pruned).
            let ticket = SHA256.hash(Array("review8-ticket-\(h)".utf8))
            let receipt = Receipt(txId: .zero, status: .success, feePaid: Amount(0),
                                  events: [.checkersAssigned(ticketId: ticket, checkers: [checker])])
            let hash = SHA256.hash(Array("review8-block-\(h)".utf8))
            let block = BlockRecord(hash: hash, height: h, parent: parent, header: [], body: [], receipts: ChainEngine.encodeReceipts([receipt]),
                                    transactions: [],
                                    addressEvents: [AddressEventEntry(address: checker.rawValue, receipt: 0, event: 0, kind: kind,
                                                                      pool: nil, worker: nil, txHash: nil)])
            try store.commit(block, writeSet: .empty)
            parent = hash
        }
        let view = try store.readView()
        var cursor: AddressEventCursor?
        var pages = 0, seen = [UInt64]()
        repeat {
            let page = try CheckerAssignments.page(view, checker: checker, pool: 0, pendingOnly: false, after: cursor, limit: 25, blockLimit: 8)
            #expect(page.items.isEmpty, "pool 0 is not known for settled tickets")
            // Heights between this page's start and its cursor: at most the block budget.
            let start = cursor?.height ?? UInt64(blocks)
            if let next = page.nextCursor {
                #expect(start - next.height <= 8, "a page read \(start - next.height) blocks")
                seen.append(next.height)
            }
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil && pages < 100
        #expect(pages == blocks / 8, "\(pages) pages for \(blocks) blocks at 8 a page")
        #expect(seen == seen.sorted(by: >), "newest first, no repeats")
        // Without a filter the same pages hold every assignment once.
        var all = [UInt64]()
        cursor = nil
        repeat {
            let page = try CheckerAssignments.page(view, checker: checker, pool: nil, pendingOnly: false, after: cursor, limit: 25, blockLimit: 8)
            all += page.items.map(\.assignedHeight)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(all == (0..<UInt64(blocks)).reversed().map { $0 })
    }

    // MARK: Finding 5: Host check against DNS rebinding

    /// A page on a name re-pointed at 127.0.0.1 is same-origin with a loopback node (its Origin and Host are both
    /// the attacker's name), so CORS and the WebSocket origin check let it in. A loopback node now refuses a Host
    /// that is not `localhost`, an IP literal or listed in `allowedHosts`.
    @Test func aLoopbackNodeRefusesForeignHostNames() async throws {
        let body = Array(#"{"jsonrpc":"2.0","method":"node_version","id":1}"#.utf8)
        let node = try await GoldenNode()
        try await withRunningServer(node.server) { port in
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            func status(host: String, origin: String? = nil, path: String = "/", method: HTTPMethod = .POST) async throws -> Int {
                var headers = [("Host", host), ("Content-Type", "application/json")]
                if let origin { headers.append(("Origin", origin)) }
                return try await client.request(method: method, path: path, headers: headers, body: method == .POST ? body : []).status
            }
            #expect(try await status(host: "evil.example:\(port)", origin: "http://evil.example:\(port)") == 403)
            #expect(try await status(host: "evil.example") == 403)
            #expect(try await status(host: "evil.example:\(port)", path: "/metrics", method: .GET) == 403)
            #expect(try await status(host: "localhost.evil.example:\(port)") == 403)
            for ok in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST", "[::1]:\(port)", "localhost.", "10.1.2.3:\(port)"] {
                #expect(try await status(host: ok) == 200, "Host: \(ok)")
            }
        }
        var config = RPCConfiguration()
        config.allowedHosts = ["node.example"]
        let listed = try await GoldenNode(configuration: config)
        try await withRunningServer(listed.server) { port in
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let headers = [("Content-Type", "application/json")]
            #expect(try await client.request(method: .POST, path: "/", headers: headers + [("Host", "node.example:\(port)")], body: body).status == 200)
            #expect(try await client.request(method: .POST, path: "/", headers: headers + [("Host", "evil.example:\(port)")], body: body).status == 403)
        }
    }

    /// The policy itself: loopback binding checks, other bindings only with a list, `*` never.
    @Test func hostPolicy() {
        var c = RPCConfiguration()
        #expect(c.listensOnLoopback)
        #expect(!c.acceptsHost("rebind.example:8645"))
        #expect(!c.acceptsHost("127.0.0.1.nip.io"))
        #expect(!c.acceptsHost("[::1"))
        #expect(!c.acceptsHost("localhost:80:80"))
        #expect(c.acceptsHost(nil), "no Host: not a browser")
        #expect(c.acceptsHost("127.0.0.1") && c.acceptsHost("[::1]") && c.acceptsHost("localhost:1"))
        c.allowedHosts = ["*"]
        #expect(c.acceptsHost("rebind.example:8645"))
        c.allowedHosts = []
        c.host = "0.0.0.0"
        #expect(!c.listensOnLoopback)
        #expect(c.acceptsHost("node.example"), "a public node is reached by any name unless a list is given")
        c.allowedHosts = ["node.example"]
        #expect(c.acceptsHost("NODE.example:443") && !c.acceptsHost("other.example"))
    }
}

import Foundation
import Logging
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
@testable import Storage
import TestSupport

/// Review F (denial of service from the network): RPC calls that cost a pass over the whole mempool on the chain
/// actor, which block import, block production and transaction admission share.
@Suite struct DoSReviewTests {
    /// Senders with one pending transfer each in the mempool of a node serving RPC.
    struct FullMempoolNode {
        let service: ChainService
        let server: RPCServer
        let dir: TempDir

        init(senders: Int) async throws {
            let t = TestChain()
            let keys = (0..<senders).map { fixtureKey("flood-\($0)") }
            var allocation = t.genesis.allocation
            allocation.balances += keys.map { .init(key: $0.publicKey, amount: 1_000_000) }
            let genesis = Genesis(chainName: "rpc-dos", genesisTime: t.genesis.genesisTime, consensus: t.genesis.consensus,
                                  ledger: t.genesis.ledger, allocation: allocation)
            dir = TempDir("rpc-dos")
            var o = DatabaseOptions.small
            o.syncWrites = false
            let engine = try ChainEngine(genesis: genesis, store: try ChainStore(path: dir.path, genesis: genesis.chainId, options: o),
                                         adjudicator: ReverseAdjudicator())
            service = ChainService(engine: engine, clock: { genesis.slotStartMillis(1) })
            for k in keys {
                _ = try await service.submit(signed(Transaction(chainId: genesis.chainId, sender: k.publicKey, nonce: 0, fee: 10_000,
                                                                body: .transfer(to: t.alice.publicKey, amount: 1)), k))
            }
            var config = RPCConfiguration()
            config.port = 0
            server = RPCServer(chain: service, configuration: config, metrics: RPCMetrics(registry: .init()))
        }

        /// The time the dispatcher takes to answer `body`.
        func time(_ body: String) async throws -> Duration {
            let started = ContinuousClock.now
            let out = try #require(await server.dispatcher.handle(Array(body.utf8), context: CallContext(transport: .http, session: nil)))
            let elapsed = ContinuousClock.now - started
            #expect(!String(decoding: out, as: UTF8.self).contains("\"error\""), "\(String(decoding: out.prefix(300), as: UTF8.self))")
            return elapsed
        }

        static func batch(_ call: String, _ n: Int) -> String {
            "[" + (0..<n).map { #"{"jsonrpc":"2.0","id":\#($0),\#(call)}"# }.joined(separator: ",") + "]"
        }

        /// Expects a batch of 100 `call`s to cost less than 10 single calls: no pass over the pool per call.
        func expectABatchCostsLessThanTenCalls(_ call: String, _ what: String) async throws {
            let one = try await time(Self.batch(call, 1))
            let hundred = try await time(Self.batch(call, 100))
            #expect(hundred < one * 10, "100 \(what) took \(hundred), one took \(one)")
        }
    }

    /// `tx_estimateFee` read every pending sender's account (the block `select` would build) on the chain actor for
    /// each call: a batch of 100 estimates held the actor for 100 passes, and every connection could send one. The
    /// clearing rate is now computed once per mempool change or new tip, so repeated estimates cost about nothing.
    @Test func feeEstimatesDoNotPassOverTheMempoolPerCall() async throws {
        let node = try await FullMempoolNode(senders: 4000)
        try await node.expectABatchCostsLessThanTenCalls(#""method":"tx_estimateFee","params":{"size":200}"#, "estimates")
        // A change of the pool is seen at once (no stale estimates).
        let before = try await node.service.suggestedFee(size: 200)
        let t = TestChain()
        let k = fixtureKey("flood-0")
        _ = try await node.service.submit(signed(Transaction(chainId: node.service.genesis.chainId, sender: k.publicKey, nonce: 0, fee: 20_000,
                                                             body: .transfer(to: t.alice.publicKey, amount: 1)), k))
        #expect(try await node.service.suggestedFee(size: 200) >= before)
    }

    /// `mempool_content` copied and sorted the whole pool on the chain actor for every page (even `limit` 1), then
    /// scanned it again to find the cursor. A page now costs a binary search in senders sorted once per change.
    @Test func mempoolPagesDoNotPassOverTheMempoolPerCall() async throws {
        let node = try await FullMempoolNode(senders: 4000)
        try await node.expectABatchCostsLessThanTenCalls(#""method":"mempool_content","params":{"limit":1}"#, "pages")
    }

    /// Pages still walk the whole pool in order, by sender and then nonce, one sender's queue with `sender`.
    @Test func mempoolPagesWalkThePoolInOrder() async throws {
        let node = try await FullMempoolNode(senders: 30)
        // A second transaction for one sender, so a page boundary can fall inside a queue.
        let t = TestChain()
        let k = fixtureKey("flood-7")
        _ = try await node.service.submit(signed(Transaction(chainId: node.service.genesis.chainId, sender: k.publicKey, nonce: 1, fee: 10_000,
                                                             body: .transfer(to: t.alice.publicKey, amount: 1)), k))
        let all = await node.service.mempoolContents()
        var walked = [SignedTransaction](), cursor: (sender: PublicKey, nonce: UInt64)?
        while true {
            let (page, more) = await node.service.mempoolPage(sender: nil, after: cursor, limit: 4)
            walked += page
            guard more, let last = page.last else { break }
            cursor = (last.transaction.sender, last.transaction.nonce)
        }
        #expect(walked.map(\.id) == all.map(\.id))
        let own = await node.service.mempoolPage(sender: k.publicKey, after: nil, limit: 1)
        #expect(own.transactions.map(\.transaction.nonce) == [0] && own.more)
        let rest = await node.service.mempoolPage(sender: k.publicKey, after: (k.publicKey, 0), limit: 1)
        #expect(rest.transactions.map(\.transaction.nonce) == [1] && !rest.more)
    }
}

/// Review F: the RPC server's CPU across connections.
@Suite struct RPCConcurrencyReviewTests {
    /// Each connection runs one request at a time, but nothing bounded requests across connections: 64 WebSocket
    /// clients each sending batches of 100 `rpc.discover` (4.6 KB in, 9.5 MB out) kept every cooperative thread
    /// busy, so the node's own tasks (block production, imports) waited behind them; on a two-core machine the
    /// devnet validator missed most of its slots. Requests now run at most `cores - 1` (at least 1) at a time
    /// across all connections, the rest waiting their turn, so at least one thread is left to the node.
    @Test func requestsAcrossConnectionsRunAtMostThePermittedNumberAtOnce() async throws {
        let node = try await DoSReviewTests.FullMempoolNode(senders: 1)
        let permitted = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        let running = Atomic<Int>(0), most = Atomic<Int>(0)
        let slow = RPCMethod(name: "slow", params: []) { _, _ in
            let now = running.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(20))
            running.subtract(1, ordering: .relaxed)
            return .null
        }
        let dispatcher = RPCDispatcher(node: node.server.node, methods: [slow], logger: Logger(label: "test"))
        let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"slow"}"#.utf8)
        let answered = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<32 {
                group.addTask { await dispatcher.handle(request, context: CallContext(transport: .http, session: nil)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(answered == 32, "every request is answered in its turn")
        let atOnce = most.load(ordering: .relaxed)
        #expect(atOnce <= permitted, "\(atOnce) requests ran at once, \(permitted) permitted")
    }

    /// A request cancelled while waiting for its turn (its WebSocket connection closed) leaves the line at once
    /// instead of being handled for a client that is gone.
    @Test func aCancelledWaitingRequestLeavesTheLine() async throws {
        let gate = RequestGate(permits: 1)
        let release = AsyncStream<Void>.makeStream()
        let holding = Atomic<Bool>(false), handled = Atomic<Bool>(false)
        let holder = Task {
            await gate.run { () async -> Int? in
                holding.store(true, ordering: .relaxed)
                for await _ in release.stream { break }
                return 1
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while !holding.load(ordering: .relaxed) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let held = holding.load(ordering: .relaxed)
        #expect(held)
        let waiter = Task { await gate.run { () async -> Int? in handled.store(true, ordering: .relaxed); return 2 } }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == nil)
        let ran = handled.load(ordering: .relaxed)
        #expect(!ran)
        release.continuation.yield()
        #expect(await holder.value == 1)
        #expect(await gate.run { () async -> Int? in 3 } == 3, "the permit came back")
    }
}

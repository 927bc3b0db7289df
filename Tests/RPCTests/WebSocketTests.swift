import Primitives
import Foundation
import HummingbirdWSClient
import Logging
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
import TestSupport

/// Fails the test instead of hanging when `body` takes longer than `seconds`.
func withTimeout<T: Sendable>(_ seconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask { try await Task.sleep(for: .seconds(seconds)); return nil }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw GoldenError("timed out after \(seconds) s")
        }
        group.cancelAll()
        return value
    }
}

/// `chain_getBlockByHash` through the dispatcher; returns the result.
func blockByHash(_ server: RPCServer, _ hash: Hash32) async throws -> JSON {
    let request = #"{"jsonrpc":"2.0","method":"chain_getBlockByHash","params":["0x"# + hash.hex + #""],"id":1}"#
    let out = try #require(await server.dispatcher.handle(Array(request.utf8), context: CallContext(transport: .http, session: nil)))
    return try #require(try JSONParser().parse(out)["result"])
}

/// Messages a client handler collects (a class: escaping closures cannot capture a `Mutex` itself).
final class Collected: Sendable {
    let value = Mutex<[JSON]>([])
}

@Suite struct WebSocketTests {
    /// Subscribes to newHeads and reorg over /ws, imports blocks into the node, then forces a reorg with a
    /// longer branch; checks every notification.
    @Test func newHeadsAndReorg() async throws {
        let t = TestChain()
        let dirA = TempDir("ws-node"), dirB = TempDir("ws-main"), dirC = TempDir("ws-fork")
        let producer = try t.engine(at: dirB)
        let fork = try t.engine(at: dirC)
        let clock = TestClock(t.now(1000))
        let service = ChainService(engine: try t.engine(at: dirA), clock: { clock.now })
        // Blocks 1 and 2 of the main branch; the fork shares block 1, then builds 2' and 3' at later slots.
        let b1 = try t.extend(producer)
        _ = try fork.importBlock(b1, now: t.now(b1.header.slot))
        let b2 = try t.extend(producer)
        let f2 = try t.extend(fork, slot: 5)
        let f3 = try t.extend(fork)
        let server = RPCServer(chain: service, configuration: { var c = RPCConfiguration(); c.port = 0; return c }(),
                               metrics: RPCMetrics(registry: .init()))
        let received = try await withRunningServer(server) { port in
            try await withTimeout(60) {
                let collected = Collected()
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/ws", logger: Logger(label: "test")) { inbound, outbound, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    func next() async throws -> JSON {
                        guard case .text(let s)? = try await messages.next() else { throw GoldenError("connection ended") }
                        return try JSONParser().parse(s)
                    }
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","method":"sub_subscribe","params":["newHeads"],"id":1}"#))
                    let heads = try await next()
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","method":"sub_subscribe","params":{"kind":"reorg"},"id":2}"#))
                    let reorgs = try await next()
                    // A plain call works on the same connection.
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","method":"chain_blockNumber","id":3}"#))
                    let number = try await next()
                    collected.value.withLock { $0 += [heads, reorgs, number] }
                    for b in [b1, b2] { _ = await service.importBlock(b) }
                    // Cached renderings must not outlive a reorg: block 2 is canonical now, not after.
                    let before = try await blockByHash(server, b2.hash)
                    collected.value.withLock { $0.append(.object(["before": before])) }
                    for b in [f2, f3] { _ = await service.importBlock(b) }
                    // b1, b2 (heads); at f2 or f3 the fork wins: one reorg, then heads of each applied block.
                    while true {
                        let m = try await next()
                        collected.value.withLock { $0.append(m) }
                        if m["params"]?["result"]?["hash"] == .string("0x" + f3.hash.hex) { break }
                    }
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","method":"sub_unsubscribe","params":["0xdead"],"id":4}"#))
                    let unsub = try await next()
                    collected.value.withLock { $0.append(unsub) }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                return collected.value.withLock { $0 }
            }
        }
        #expect(received[0]["result"]?.string != nil)
        #expect(received[1]["result"]?.string != nil)
        #expect(received[2]["result"] == .int(0))
        let notifications = received.dropFirst(3).filter { $0["method"] == "sub_notification" }
        let heads = notifications.filter { $0["params"]?["kind"] == "newHeads" }.compactMap { $0["params"]?["result"]?["hash"]?.string }
        let reorgs = notifications.filter { $0["params"]?["kind"] == "reorg" }.compactMap { $0["params"]?["result"] }
        #expect(heads.prefix(2) == ["0x" + b1.hash.hex, "0x" + b2.hash.hex])
        #expect(heads.last == "0x" + f3.hash.hex)
        #expect(heads.contains("0x" + f2.hash.hex))
        try #require(reorgs.count == 1)
        let r = reorgs[0]
        #expect(r["depth"] == .int(1))
        #expect(r["commonAncestor"]?["hash"] == .string("0x" + b1.hash.hex))
        #expect(r["commonAncestor"]?["height"] == .int(1))
        #expect(r["removed"] == .array([.string("0x" + b2.hash.hex)]))
        #expect(r["added"]?.array?.first == .string("0x" + f2.hash.hex))
        #expect(received.first { $0["before"] != nil }?["before"]?["canonical"] == .bool(true))
        let after = try await blockByHash(server, b2.hash)
        #expect(after["canonical"] == .bool(false))
        #expect(try await blockByHash(server, f2.hash)["canonical"] == .bool(true))
        // Unsubscribing an id this connection does not hold answers false.
        #expect(received.last?["result"] == .bool(false))
        #expect(await service.status().tipHash == f3.hash)
    }

    /// A consumer that stops reading is disconnected with a reason once its queue is full; the queue never
    /// grows past its bound.
    @Test func slowConsumersAreDropped() async throws {
        let metrics = RPCMetrics(registry: .init())
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: metrics)
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(4))
        let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub, maxSubscriptions: 8)
        _ = try connection.subscribe(.pendingTransactions, filter: SubscriptionFilter())
        let t = TestChain()
        for n in 0..<10 {
            let tx = t.tx(engine2Free: t.alice, .transfer(to: t.bob.publicKey, amount: 1), nonce: UInt64(n))
            hub.publish(.pendingTransaction(tx))
        }
        #expect(connection.closeReason == .slowConsumer)
        #expect(hub.count == 0)
        var queued = 0
        for await _ in stream { queued += 1 }
        #expect(queued == 4)
    }

    /// Subscriptions per connection are bounded, filters are validated, and filters narrow deliveries.
    @Test func subscriptionLimitsAndFilters() async throws {
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: RPCMetrics(registry: .init()))
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(16))
        let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub, maxSubscriptions: 2)
        let t = TestChain()
        _ = try connection.subscribe(.pendingTransactions, filter: SubscriptionFilter(sender: t.bob.publicKey))
        let id = try connection.subscribe(.newHeads, filter: SubscriptionFilter())
        #expect(throws: RPCError.self) { try connection.subscribe(.reorg, filter: SubscriptionFilter()) }
        #expect(connection.unsubscribe(id))
        #expect(!connection.unsubscribe(id))
        #expect(throws: RPCError.self) { try SubscriptionFilter(.object(["pool": .int(1)]), kind: .newHeads, hrp: "shr") }
        #expect(throws: RPCError.self) { try SubscriptionFilter(.object(["status": "gone"]), kind: .newTickets, hrp: "shr") }
        hub.publish(.pendingTransaction(t.tx(engine2Free: t.alice, .transfer(to: t.bob.publicKey, amount: 1), nonce: 0)))
        hub.publish(.pendingTransaction(t.tx(engine2Free: t.bob, .transfer(to: t.alice.publicKey, amount: 1), nonce: 0)))
        continuation.finish()
        var senders = [String]()
        for await m in stream { senders.append(try JSONParser().parse(m)["params"]?["result"]?["sender"]?.string ?? "") }
        #expect(senders == [t.address(t.bob)])
    }
}

import Foundation
import Testing
@testable import Primitives
@testable import RPC

/// Review E (the explorer surface): the WebSocket queue of a client that stops reading.
@Suite struct ExplorerReviewTests {
    /// Answers share the 256-message queue with notifications, and one answer can be a batch of up to 32 MiB: a
    /// client that sends batches over /ws and never reads made the node hold 256 such answers (8 GiB) per connection.
    /// The queue is bounded in bytes too: past the budget the connection is closed as a slow consumer.
    @Test func aClientThatStopsReadingCannotQueueUnboundedBytes() {
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: RPCMetrics(registry: .init()))
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(
            bufferingPolicy: .bufferingOldest(RPCConfiguration().webSocketQueueMessages))
        let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub,
                                      maxSubscriptions: RPCConfiguration().maxSubscriptionsPerConnection)
        let answer = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)  // a 1 MiB answer
        var accepted = 0
        for _ in 0..<100 where connection.send(answer) { accepted += 1 }
        #expect(connection.closeReason == .slowConsumer, "100 MiB of answers queued for a client that reads nothing")
        #expect(accepted <= 64)
        _ = stream
    }

    /// One answer larger than the byte budget still goes out when the queue is empty (a full 32 MiB batch answer).
    @Test func oneLargeAnswerStillFits() {
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: RPCMetrics(registry: .init()))
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(256))
        let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub, maxSubscriptions: 32)
        #expect(connection.send([UInt8](repeating: 0x20, count: 33 << 20)))
        #expect(connection.closeReason == nil)
        _ = stream
    }
}

/// Review F: WebSocket queues across connections.
@Suite struct WebSocketBudgetReviewTests {
    /// Each connection's queue was bounded (64 MiB) but nothing bounded them together: 512 clients that send
    /// batches and never read could make the node hold 32 GiB (measured: 64 such clients of `rpc.discover` batches
    /// took a devnet node from 65 MiB to 1.9 GiB in a minute). All connections' queued bytes now share a budget
    /// (1 GiB); past it, the connection that would add more is closed as a slow consumer.
    @Test func clientsThatStopReadingCannotQueueMoreThanTheServerBudgetTogether() {
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: RPCMetrics(registry: .init()))
        let budget = 1 << 30
        let answer = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)  // a 1 MiB answer, shared: no real memory
        var accepted = 0, streams = [AsyncStream<[UInt8]>]()
        for _ in 0..<64 {
            let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(256))
            let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub, maxSubscriptions: 32)
            streams.append(stream)
            for _ in 0..<64 where connection.send(answer) { accepted += answer.count }
        }
        #expect(accepted <= budget + answer.count, "\(accepted >> 20) MiB queued for 64 clients that read nothing")
        _ = streams
    }

    /// A connection's bytes leave the shared budget when it ends, so clients that come later are served.
    @Test func anEndedConnectionGivesItsBytesBack() {
        let hub = SubscriptionHub(render: Render(hrp: "shr"), metrics: RPCMetrics(registry: .init()), maxQueuedBytes: 8 << 20)
        let answer = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(256))
        let first = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub, maxSubscriptions: 32)
        while first.send(answer) {}
        #expect(first.closeReason == .slowConsumer)
        #expect(hub.queuedBytes.load(ordering: .relaxed) == 8 << 20)
        first.releaseQueue()
        #expect(hub.queuedBytes.load(ordering: .relaxed) == 0)
        let (stream2, continuation2) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(256))
        let second = WSConnection(id: hub.nextConnectionId(), continuation: continuation2, hub: hub, maxSubscriptions: 32)
        #expect(second.send(answer) && second.send(answer))
        _ = (stream, stream2)
    }
}

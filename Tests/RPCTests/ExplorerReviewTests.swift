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

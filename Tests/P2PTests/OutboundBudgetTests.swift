import NIOCore
@testable import P2P
import Primitives
import Testing

/// Review F's suspicion: each peer's outbound queue is capped (64 MiB or 20 frames), but nothing capped them together,
/// so 40 peers that never read could hold gigabytes of the node's memory. The shared budget (Specs/p2p.md §5) cuts a
/// peer past its share once the total is over the budget, and never a peer that reads.
@Suite struct OutboundBudgetTests {
    /// A peer whose outbox nobody drains (a connection that never reads), or one drained by calling `didWrite`.
    static func peer(_ id: UInt64, budget: OutboundBudget?, maxQueued: Int = 64 << 20) -> (Peer, AsyncStream<ByteBuffer>) {
        let (stream, outbox) = AsyncStream<ByteBuffer>.makeStream()
        let p = Peer(id: id, nodeKey: PrivateKey.generate().publicKey, direction: .inbound, remoteHost: "192.0.2.\(id)",
                     remoteAddress: "192.0.2.\(id):9000", listenEndpoint: nil, userAgent: "test", outbox: outbox,
                     maxQueuedBytes: maxQueued, budget: budget, bucket: TokenBucket(rate: 100, burst: 100, now: .now))
        return (p, stream)
    }

    /// Six peers that never read and one that does are sent the same 64 KiB frames, round after round: without a
    /// shared budget the six would hold 6 × their own cap; with it the total stays under twice the budget, every
    /// non-reading peer is cut once past its share, and the reading peer is never cut.
    @Test(arguments: [true, false])
    func peersThatNeverReadCannotHoldMoreThanTheBudget(shared: Bool) {
        let limit = 1 << 20
        let budget = OutboundBudget(limit: limit, peers: 4)  // share: 256 KiB
        let own = 4 << 20  // each peer's own cap, far above the share
        let silent = (1...6).map { Self.peer($0, budget: shared ? budget : nil, maxQueued: own) }
        let (reader, _) = Self.peer(99, budget: shared ? budget : nil, maxQueued: own)
        let frame = ByteBuffer(repeating: 7, count: 64 << 10)
        var peak = 0
        for _ in 0..<100 {
            for (p, _) in silent { p.send(frame: frame) }
            #expect(reader.send(frame: frame))
            reader.didWrite(frame.readableBytes)  // its writer keeps up
            let queued = silent.reduce(0) { $0 + $1.0.state.withLock { $0.queuedBytes } }
            peak = max(peak, queued)
        }
        if shared {
            #expect(peak <= 2 * limit, "silent peers held \(peak) bytes with a budget of \(limit)")
            #expect(silent.allSatisfy { $0.0.isClosed }, "every silent peer is cut once past its share")
            #expect(!reader.isClosed, "the reading peer was cut for others' backlog")
            #expect(budget.total <= 2 * limit + 6 * 1024)
        } else {
            // What the budget prevents: each silent peer fills its own cap (6 × 4 MiB here; 40 × 64 MiB on a node).
            #expect(peak > 2 * limit)
            #expect(silent.allSatisfy { $0.0.isClosed })  // each at its own cap only
        }
        // When the sessions end, what they never wrote leaves the budget.
        for (p, _) in silent { p.releaseQueued() }
        reader.releaseQueued()
        if shared { #expect(budget.total == 0, "\(budget.total) bytes left counted after every session ended") }
    }

    /// Under the budget nothing changes: a peer may queue up to its own cap.
    @Test func underTheBudgetAPeerKeepsItsOwnCap() {
        let budget = OutboundBudget(limit: 64 << 20, peers: 40)  // share 1.6 MiB
        let (p, _) = Self.peer(1, budget: budget, maxQueued: 8 << 20)
        let frame = ByteBuffer(repeating: 1, count: 1 << 20)
        for i in 0..<8 { #expect(p.send(frame: frame), "frame \(i)") }
        #expect(!p.isClosed)
        #expect(!p.send(frame: frame))  // the ninth MiB is over its own cap
        #expect(p.isClosed)
    }
}

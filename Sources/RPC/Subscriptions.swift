import Consensus
import Ledger
import Primitives
import Synchronization

/// What a WebSocket client can subscribe to (Specs/rpc.md, "Subscriptions").
public enum SubscriptionKind: String, Sendable, CaseIterable {
    /// Every block that becomes canonical (after a reorg, one per applied block), as a header.
    case newHeads
    /// The canonical chain switched branches: depth, common ancestor, removed and added hashes.
    case reorg
    /// Spot-check tickets selected or revealed in canonical blocks.
    case newTickets
    /// Fraud proofs adjudicated in canonical blocks (proven or rejected).
    case fraudProofs
    /// Settlement windows paid out in canonical blocks.
    case windowSettled
    /// Transactions admitted to the mempool.
    case pendingTransactions
    /// Checkpoints justified or finalized by canonical blocks (the finality gadget, Specs/consensus.md §8).
    case finalized
}

/// Optional narrowing of a subscription.
public struct SubscriptionFilter: Sendable, Equatable {
    /// newTickets, windowSettled, fraudProofs: only this pool.
    public var pool: UInt32?
    /// pendingTransactions: only this sender.
    public var sender: PublicKey?
    /// newTickets: only `selected` or `revealed`.
    public var ticketStatus: String?

    /// A filter; nil members do not narrow.
    public init(pool: UInt32? = nil, sender: PublicKey? = nil, ticketStatus: String? = nil) {
        self.pool = pool; self.sender = sender; self.ticketStatus = ticketStatus
    }

    /// Parses a filter object; each kind accepts only the members that apply to it.
    init(_ raw: JSON?, kind: SubscriptionKind, hrp: String) throws(RPCError) {
        guard let raw else { return }
        guard case .object(let o) = raw else { throw RPCError.invalidParams("'filter' must be an object", param: "filter") }
        let allowed: [String]
        switch kind {
        case .newHeads, .reorg, .finalized: allowed = []
        case .newTickets: allowed = ["pool", "status"]
        case .fraudProofs, .windowSettled: allowed = ["pool"]
        case .pendingTransactions: allowed = ["sender"]
        }
        for k in o.keys where !allowed.contains(k) {
            throw RPCError.invalidParams("filter member '\(k.prefix(40))' does not apply to \(kind.rawValue)", param: "filter")
        }
        let p = try Params(raw, specs: allowed.map { .optional($0) }, hrp: hrp)
        pool = try p.uint32("pool")
        ticketStatus = try p.choice("status", ["selected", "revealed"])
        sender = try p.address("sender")
    }
}

/// Why a WebSocket is being closed by the server.
enum CloseReason: Sendable, Equatable {
    case slowConsumer
    case eventStreamLost

    var text: String {
        switch self {
        case .slowConsumer: return "slow consumer: notification queue overflow, reconnect and resubscribe"
        case .eventStreamLost: return "node event stream overflowed: reconnect and resubscribe"
        }
    }
}

/// One WebSocket connection's bounded outgoing queue and its subscriptions. Responses and notifications
/// share the queue; when a consumer falls `capacity` messages behind, the connection is closed with a reason
/// instead of the queue growing.
final class WSConnection: RPCSession, Sendable {
    let id: UInt64
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let closeReasonBox = Mutex<CloseReason?>(nil)
    private let hub: SubscriptionHub
    let maxSubscriptions: Int
    /// Bytes queued or being written.
    private let queuedBytes = Atomic<Int>(0)
    /// Most bytes the queue holds (one message of any size always fits in an empty queue).
    let maxQueuedBytes: Int

    init(id: UInt64, continuation: AsyncStream<[UInt8]>.Continuation, hub: SubscriptionHub, maxSubscriptions: Int,
         maxQueuedBytes: Int = RPCConfiguration().webSocketQueueBytes) {
        self.id = id; self.continuation = continuation; self.hub = hub; self.maxSubscriptions = maxSubscriptions
        self.maxQueuedBytes = maxQueuedBytes
    }

    var closeReason: CloseReason? { closeReasonBox.withLock { $0 } }

    /// Queues a message; false (and the connection marked for closing) when the queue is full, or when every
    /// connection's queues together would pass the server's budget (by more than this message, if this queue is
    /// empty: one message still fits an empty queue while the server has room).
    @discardableResult
    func send(_ message: [UInt8]) -> Bool {
        let before = queuedBytes.add(message.count, ordering: .relaxed).oldValue
        let total = hub.queuedBytes.add(message.count, ordering: .relaxed).newValue
        let overOwn = before > 0 && before + message.count > maxQueuedBytes
        let overAll = total > hub.maxQueuedBytes && (before > 0 || total - message.count > hub.maxQueuedBytes)
        if overOwn || overAll {
            unqueue(message.count)
            close(.slowConsumer)
            return false
        }
        switch continuation.yield(message) {
        case .enqueued: return true
        case .dropped:
            unqueue(message.count)
            close(.slowConsumer)
            return false
        case .terminated:
            unqueue(message.count)
            return false
        @unknown default: return false
        }
    }

    /// The writer is done with `message` (written, or dropped with the connection): its bytes leave both budgets.
    func taken(_ message: [UInt8]) { unqueue(message.count) }

    /// Gives back the bytes of messages the writer never took (the connection ended): called once, at its end.
    func releaseQueue() { hub.queuedBytes.subtract(queuedBytes.exchange(0, ordering: .relaxed), ordering: .relaxed) }

    private func unqueue(_ n: Int) {
        queuedBytes.subtract(n, ordering: .relaxed)
        hub.queuedBytes.subtract(n, ordering: .relaxed)
    }

    /// Marks the connection for closing and ends its queue; the writer sends a close frame with the reason.
    func close(_ reason: CloseReason) {
        let first = closeReasonBox.withLock { r -> Bool in
            if r != nil { return false }
            r = reason
            return true
        }
        if first {
            if reason == .slowConsumer { hub.metrics.slowConsumersDropped.increment() }
            hub.removeAll(of: id)
            continuation.finish()
        }
    }

    /// Ends the queue (the client went away).
    func finish() { continuation.finish() }

    func subscribe(_ kind: SubscriptionKind, filter: SubscriptionFilter) throws(RPCError) -> String {
        try hub.add(kind: kind, filter: filter, connection: self)
    }

    func unsubscribe(_ id: String) -> Bool { hub.remove(id, of: self.id) }
}

/// Fans chain events out to subscribed WebSocket connections. One consumer of the chain's event stream for
/// the whole server; it never waits on a connection (queues are bounded and non-blocking), so it cannot fall
/// behind because of a slow client.
final class SubscriptionHub: Sendable {
    struct Subscription: Sendable {
        let id: String
        let kind: SubscriptionKind
        let filter: SubscriptionFilter
        let connection: WSConnection
    }

    private let subs = Mutex<[String: Subscription]>([:])
    private let counter = Atomic<UInt64>(0)
    let render: Render
    let metrics: RPCMetrics
    /// Bytes queued or being written on every WebSocket connection together.
    let queuedBytes = Atomic<Int>(0)
    /// Most bytes all connections' queues hold together (`RPCConfiguration.webSocketTotalQueueBytes`): past it, a
    /// connection that already has a message waiting is closed as a slow consumer.
    let maxQueuedBytes: Int

    init(render: Render, metrics: RPCMetrics, maxQueuedBytes: Int = RPCConfiguration().webSocketTotalQueueBytes) {
        self.render = render
        self.metrics = metrics
        self.maxQueuedBytes = maxQueuedBytes
    }

    func nextConnectionId() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }

    var count: Int { subs.withLock { $0.count } }

    func add(kind: SubscriptionKind, filter: SubscriptionFilter, connection: WSConnection) throws(RPCError) -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        let id = "0x" + String(n, radix: 16)
        let result = subs.withLock { s -> Int? in
            let mine = s.values.reduce(0) { $0 + ($1.connection.id == connection.id ? 1 : 0) }
            guard mine < connection.maxSubscriptions else { return mine }
            s[id] = Subscription(id: id, kind: kind, filter: filter, connection: connection)
            return nil
        }
        if result != nil { throw RPCError.limitExceeded("subscriptions per connection", maximum: connection.maxSubscriptions) }
        metrics.subscriptions.set(Double(count))
        return id
    }

    func remove(_ id: String, of connection: UInt64) -> Bool {
        let removed = subs.withLock { s -> Bool in
            guard let sub = s[id], sub.connection.id == connection else { return false }
            s[id] = nil
            return true
        }
        metrics.subscriptions.set(Double(count))
        return removed
    }

    func removeAll(of connection: UInt64) {
        subs.withLock { s in s = s.filter { $0.value.connection.id != connection } }
        metrics.subscriptions.set(Double(count))
    }

    /// Consumes the chain's events until cancelled; if the chain drops this consumer (it fell behind), every
    /// subscribed connection is closed (they missed events) and a new stream is taken.
    func run(chain: ChainService) async {
        while !Task.isCancelled {
            let events = await chain.events(buffer: 4096)
            for await event in events { publish(event) }
            if Task.isCancelled { return }
            let connections = subs.withLock { s in
                Dictionary(s.values.map { ($0.connection.id, $0.connection) }, uniquingKeysWith: { a, _ in a })
            }
            for c in connections.values { c.close(.eventStreamLost) }
        }
    }

    /// Delivers one chain event to the matching subscriptions.
    func publish(_ event: ChainEvent) {
        let current = subs.withLock { Array($0.values) }
        guard !current.isEmpty else { return }
        var notifications = [(SubscriptionKind, JSON, pool: UInt32?, status: String?, sender: PublicKey?)]()
        let wanted = Set(current.map(\.kind))
        switch event {
        case .newBlock(let block, let receipts):
            if wanted.contains(.newHeads) {
                var o = render.header(block.signedHeader)
                o["transactionCount"] = .int(block.transactions.count)
                notifications.append((.newHeads, .object(o), nil, nil, nil))
            }
            if !wanted.isDisjoint(with: [.newTickets, .fraudProofs, .windowSettled, .finalized]) {
                let h = block.header
                for receipt in receipts {
                    for e in receipt.events {
                        var o: JSONObject
                        switch e {
                        case .ticketSelected, .ticketRevealed:
                            guard case .object(let x) = render.event(e) else { continue }
                            o = x
                            let status = { if case .ticketSelected = e { return "selected" } else { return "revealed" } }()
                            o["status"] = .string(status)
                            o["blockHash"] = render.hash(block.hash); o["blockHeight"] = .int(h.height)
                            notifications.append((.newTickets, .object(o), nil, status, nil))
                        case .fraudProven, .fraudRejected:
                            guard case .object(let x) = render.event(e) else { continue }
                            o = x
                            o["transactionHash"] = receipt.txId == .zero ? .null : render.hash(receipt.txId)
                            o["blockHash"] = render.hash(block.hash); o["blockHeight"] = .int(h.height)
                            notifications.append((.fraudProofs, .object(o), nil, nil, nil))
                        case .checkpointJustified, .checkpointFinalized:
                            guard case .object(let x) = render.event(e) else { continue }
                            o = x
                            o["blockHash"] = render.hash(block.hash); o["blockHeight"] = .int(h.height)
                            notifications.append((.finalized, .object(o), nil, nil, nil))
                        case .windowSettled(let pool, _, _):
                            guard case .object(let x) = render.event(e) else { continue }
                            o = x
                            o["blockHash"] = render.hash(block.hash); o["blockHeight"] = .int(h.height)
                            notifications.append((.windowSettled, .object(o), pool, nil, nil))
                        default:
                            continue
                        }
                    }
                }
            }
        case .reorg(let change):
            guard wanted.contains(.reorg) else { return }
            let ancestorHeight = change.applied.first.map { $0.header.height - 1 } ?? change.newHeight
            notifications.append((.reorg, .object([
                "depth": .int(change.reverted.count),
                "commonAncestor": .object(["hash": render.hash(change.commonAncestor), "height": .int(ancestorHeight)]),
                "removed": .array(change.reverted.map { render.hash($0.hash) }),
                "added": .array(change.applied.map { render.hash($0.hash) }),
                "oldTip": render.hash(change.oldTip), "newTip": render.hash(change.newTip), "newHeight": .int(change.newHeight),
            ]), nil, nil, nil))
        case .pendingTransaction(let tx):
            guard wanted.contains(.pendingTransactions) else { return }
            notifications.append((.pendingTransactions, render.transactionSummary(tx), nil, nil, tx.transaction.sender))
        }
        for n in notifications {
            let encoded = JSONWriter.encode(n.1)
            for s in current where s.kind == n.0 && matches(s.filter, n.1, status: n.status, sender: n.sender) {
                s.connection.send(Self.notification(subscription: s.id, kind: n.0, encodedResult: encoded))
            }
        }
    }

    func matches(_ f: SubscriptionFilter, _ payload: JSON, status: String?, sender: PublicKey?) -> Bool {
        if let pool = f.pool {
            // Tickets and fraud events name tickets, not pools: those carry no pool member and match any pool.
            if let p = payload["pool"]?.uint64, p != UInt64(pool) { return false }
        }
        if let s = f.ticketStatus, s != status { return false }
        if let want = f.sender, want != sender { return false }
        return true
    }

    /// `{"jsonrpc":"2.0","method":"sub_notification","params":{"subscription":id,"kind":kind,"result":...}}`.
    static func notification(subscription: String, kind: SubscriptionKind, encodedResult: [UInt8]) -> [UInt8] {
        var w = JSONWriter(capacity: encodedResult.count + 128)
        w.writeRaw(Array(#"{"jsonrpc":"2.0","method":"sub_notification","params":{"subscription":"#.utf8))
        w.write(.string(subscription))
        w.writeRaw(Array(#","kind":"#.utf8))
        w.write(.string(kind.rawValue))
        w.writeRaw(Array(#","result":"#.utf8))
        w.writeRaw(encodedResult)
        w.writeRaw(Array("}}".utf8))
        return w.bytes
    }
}

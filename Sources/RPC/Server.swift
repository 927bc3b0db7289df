import Primitives
import Consensus
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// The JSON-RPC server as a service: HTTP `POST /`, WebSocket `/ws`, `GET /metrics`, `GET /health`, the web
/// explorer at `GET /explorer` (Specs/rpc.md). Runs until graceful shutdown or cancellation; the node registers it last so it stops first.
public final class RPCServer: Service, Sendable {
    /// Limits, address, CORS.
    public let configuration: RPCConfiguration
    /// The dispatcher behind both transports (usable in process).
    public let dispatcher: RPCDispatcher
    let node: RPCNode
    let hub: SubscriptionHub
    let logger: Logger
    /// Open connections per remote host (`maxConnectionsPerHost`).
    let hostLimiter: HostConnectionLimiter
    /// Bytes written to connections and not yet taken by their sockets, all connections (`totalUnsentBytes`).
    let unsentBudget: UnsentBytesBudget
    private let listening = Mutex<ListenState>(.init())

    struct ListenState {
        var port: Int?
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    /// A server for `chain`. `network` reports peers and sync state (the node adapts its P2P layer);
    /// `metrics` defaults to the process-wide Prometheus registry.
    public init(chain: ChainService, configuration: RPCConfiguration = RPCConfiguration(),
                network: any NetworkInfoProvider = NoNetworkInfo(), metrics: RPCMetrics = RPCMetrics(),
                logger: Logger = Logger(label: "sharechain.rpc")) {
        self.configuration = configuration
        self.logger = logger
        let refused = metrics.connectionsRefused
        hostLimiter = HostConnectionLimiter(limit: configuration.maxConnectionsPerHost, onRefusal: { refused.increment() })
        let overBudget = metrics.unsentBudgetClosed
        unsentBudget = UnsentBytesBudget(limit: configuration.totalUnsentBytes, onClose: { overBudget.increment() })
        let node = RPCNode(chain: chain, network: network, config: configuration, metrics: metrics)
        self.node = node
        dispatcher = RPCDispatcher(node: node, methods: node.methods(), logger: logger)
        hub = SubscriptionHub(render: node.render, metrics: metrics, maxQueuedBytes: configuration.webSocketTotalQueueBytes)
    }

    /// The bound port, once listening (useful with port 0).
    public func listeningPort() async -> Int {
        await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
            let port = listening.withLock { s -> Int? in
                if let p = s.port { return p }
                s.waiters.append(c)
                return nil
            }
            if let port { c.resume(returning: port) }
        }
    }

    private func didBind(_ channel: any Channel) {
        let port = channel.localAddress?.port ?? configuration.port
        let waiters = listening.withLock { s -> [CheckedContinuation<Int, Never>] in
            s.port = port
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: port) }
        logger.info("JSON-RPC listening", metadata: ["address": "\(configuration.host):\(port)"])
    }

    /// Serves until graceful shutdown or cancellation.
    public func run() async throws {
        let config = configuration
        let responder = CallbackResponder<RPCRequestContext> { [self] request, context in
            await self.respond(request, context)
        }
        let wsConfig = WebSocketServerConfiguration(maxFrameSize: min(config.maxBodyBytes, 1 << 24), autoPing: .enabled(timePeriod: .seconds(30)),
                                                    closeTimeout: .seconds(5), validateUTF8: true)
        // Every connection first passes the deadlines of `ConnectionDeadlineHandler`: Hummingbird's own idle timer
        // starts only after a first request head parses. What it is sent counts against `unsentBudget` until the
        // socket takes it (`UnsentBytesHandler`).
        let server = HTTPServerBuilder { [self] responder in
            DeadlineGuardedChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(http1: .init(idleTimeout: .seconds(config.idleTimeoutSeconds)), ws: wsConfig),
                    shouldUpgrade: { [self] head, channel, _ in self.shouldUpgrade(head, channel: channel) }),
                firstRequest: .seconds(config.firstRequestTimeoutSeconds), idle: .seconds(config.idleTimeoutSeconds),
                maxHeadBytes: config.maxRequestHeadBytes, hostLimiter: hostLimiter, unsentBudget: unsentBudget)
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(config.host, port: config.port), serverName: nil, backlog: 256, reuseAddress: true,
                availableConnectionsDelegate: MaximumAvailableConnections(config.maxConnections)),
            onServerRunning: { [self] channel in self.didBind(channel) },
            logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            let hub = self.hub, chain = node.chain
            group.addTask { await cancelWhenGracefulShutdown { await hub.run(chain: chain) } }
            group.addTask { [self] in
                do { try await app.run() } catch where listening.withLock({ $0.port == nil }) {
                    // Before listening: the address is taken or not ours to bind. Say which, and where it came from.
                    throw RPCConfigurationError("cannot listen for JSON-RPC on \(config.host):\(config.port) (--rpc-addr / \"rpcAddr\"): \(socketErrorText(error))")
                }
            }
        }
    }

    // MARK: HTTP

    static let jsonType = "application/json"

    func respond(_ request: Request, _ context: RPCRequestContext) async -> Response {
        let path = request.uri.path
        // DNS rebinding: a page on a name re-pointed at this node is same-origin with it; its Host gives it away.
        guard configuration.acceptsHost(request.head.authority) else {
            return plain(.forbidden, "Host not allowed; list it with --rpc-allowed-hosts\n")
        }
        switch (path, request.method) {
        case ("/", .post):
            let channel = context.channel
            return await rpc(request, isAbandoned: { !channel.isActive })
        case ("/", .options):
            return preflight(request)
        case ("/health", .get), ("/health", .head):
            return await health()
        case ("/metrics", .get):
            return await metrics()
        case ("/ws", _):
            return plain(.upgradeRequired, "use a WebSocket upgrade on /ws\n", extra: [.upgrade: "websocket"])
        case ("/", _):
            return plain(.methodNotAllowed, "JSON-RPC takes POST\n", extra: [.allow: "POST, OPTIONS"])
        case (_, .get) where ExplorerAssets.handles(path), (_, .head) where ExplorerAssets.handles(path):
            return ExplorerServer.response(path: path, rpcURL: nil)
        case (_, _) where ExplorerAssets.handles(path):
            return plain(.methodNotAllowed, "the explorer serves GET only\n", extra: [.allow: "GET, HEAD"])
        default:
            return plain(.notFound, "not found\n")
        }
    }

    func plain(_ status: HTTPResponse.Status, _ text: String, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], origin: String?) -> Response {
        var headers: HTTPFields = [.contentType: Self.jsonType]
        addCORS(&headers, origin: origin)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The allowed origin to echo for a request, nil when CORS does not apply or the origin is not allowed.
    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin, !configuration.corsOrigins.isEmpty else { return nil }
        if configuration.corsOrigins.contains("*") { return "*" }
        return configuration.corsOrigins.contains(origin) ? origin : nil
    }

    func addCORS(_ headers: inout HTTPFields, origin: String?) {
        guard let allowed = allowedOrigin(origin) else { return }
        headers[.accessControlAllowOrigin] = allowed
        headers[.vary] = "Origin"
    }

    func preflight(_ request: Request) -> Response {
        var headers: HTTPFields = [:]
        if let allowed = allowedOrigin(request.headers[.origin]) {
            headers[.accessControlAllowOrigin] = allowed
            headers[.accessControlAllowMethods] = "POST, OPTIONS"
            headers[.accessControlAllowHeaders] = "content-type"
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
        }
        return Response(status: .noContent, headers: headers)
    }

    /// `application/json` with parameters or in another case.
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return media == jsonType
    }

    /// `POST /`. `isAbandoned` tells whether the client has gone (its connection closed): a request still waiting
    /// for its turn then is dropped instead of handled for nobody.
    func rpc(_ request: Request, isAbandoned: @escaping @Sendable () -> Bool = { false }) async -> Response {
        let origin = request.headers[.origin]
        // JSON only: a browser cannot send application/json cross-origin without a CORS preflight, so pages
        // from origins not in the list cannot drive this node.
        guard let type = request.headers[.contentType], type == Self.jsonType || Self.isJSON(type) else {
            return plain(.unsupportedMediaType, "Content-Type must be application/json\n")
        }
        let limit = configuration.maxBodyBytes
        let tooLarge = { [self] (size: Int?) -> Response in
            node.metrics.request(method: "-", outcome: RPCError.limitExceededCode)
            let e = RPCDispatcher.response(id: .null, error: .limitExceeded("request body bytes", maximum: limit, requested: size))
            return json(.contentTooLarge, JSONWriter.encode(e), origin: origin)
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { return tooLarge(declared) }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch { return tooLarge(nil) }
        let body = Array(buffer.readableBytesView)
        switch await dispatcher.dispatch(body, context: CallContext(transport: .http, session: nil), isAbandoned: isAbandoned) {
        case .answer(let out?):
            return json(.ok, out, origin: origin)
        case .answer(nil), .abandoned:
            // Only notifications; or the client is gone and nobody reads the answer.
            var headers: HTTPFields = [:]
            addCORS(&headers, origin: origin)
            return Response(status: .noContent, headers: headers)
        case .busy(let error):
            var response = json(.serviceUnavailable, error, origin: origin)
            response.headers[.retryAfter] = "1"
            return response
        }
    }

    func health() async -> Response {
        do {
            let view = try node.view()
            guard let tip = try view.tip() else { throw StorageFault("no tip") }
            let syncing = await node.network.isSyncing()
            let body = JSON.object(["status": .string(syncing ? "syncing" : "ok"), "height": .int(tip.height), "syncing": .bool(syncing)])
            return json(.ok, JSONWriter.encode(body), origin: nil)
        } catch {
            logger.error("health check cannot read the chain: \(error)")
            return json(.serviceUnavailable, JSONWriter.encode(.object(["status": "unavailable"])), origin: nil)
        }
    }

    func metrics() async -> Response {
        let s = await node.chain.status()
        let m = node.metrics
        m.height.set(Double(s.height))
        m.finalized.set(Double(s.finalizedHeight))
        if let f = try? await node.chain.finalityHeights() {
            m.justified.set(Double(f.justified.height))
            m.safe.set(Double(f.safeHeight))
        }
        m.mempoolTransactions.set(Double(s.mempoolTransactions))
        m.mempoolBytes.set(Double(s.mempoolBytes))
        let peers = await node.network.peers()
        m.peers.set(Double(peers.count))
        m.bestPeerHeight.set(Double(peers.compactMap(\.height).max() ?? 0))
        m.syncing.set(Double(await node.network.isSyncing() ? 1 : 0))
        m.outboundQueuedBytes.set(Double(await node.network.outboundQueuedBytes()))
        m.subscriptions.set(Double(hub.count))
        m.unsentBytes.set(Double(unsentBudget.bytes))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: m.exposition())))
    }

    // MARK: WebSocket

    /// Whether to upgrade `head` to a WebSocket on `channel`; the handler watches `channel` to drop the waiting request
    /// of a connection that closed (`serveWebSocket`).
    func shouldUpgrade(_ head: HTTPRequest, channel: any Channel) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard let path = head.path, path == "/ws" || path.hasPrefix("/ws?"), configuration.acceptsHost(head.authority) else { return .dontUpgrade }
        // Browsers always send Origin (http, https or "null") and pages cannot forge it: a page may only connect
        // from an allowed origin or the node's own. Other clients send none or a ws:// origin of their own.
        if let origin = head.headerFields[.origin], Self.isBrowserOrigin(origin), allowedOrigin(origin) == nil,
           !Self.sameOrigin(origin, host: head.authority) {
            return .dontUpgrade
        }
        return .upgrade([:]) { [self] inbound, outbound, _ in
            await self.serveWebSocket(inbound: inbound, outbound: outbound, isClosed: { !channel.isActive })
        }
    }

    static func isBrowserOrigin(_ origin: String) -> Bool {
        let o = origin.lowercased()
        return o == "null" || o.hasPrefix("http://") || o.hasPrefix("https://")
    }

    /// Whether `origin` (`scheme://host[:port]`) names the authority the request was sent to.
    static func sameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let range = origin.range(of: "://") else { return false }
        return origin[range.upperBound...].lowercased() == host.lowercased()
    }

    /// Serves one WebSocket connection. `isClosed` tells whether its connection has closed: nothing cancels this
    /// handler when the peer goes (swift-websocket awaits it to completion), so a message waiting for its turn in the
    /// request gate checks it, as `POST /` does, and leaves the line instead of running for nobody (tenth review, RPC F3:
    /// connect, send an expensive message, reset, repeat, filled the waiting line).
    func serveWebSocket(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, isClosed: @escaping @Sendable () -> Bool) async {
        let (queue, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(configuration.webSocketQueueMessages))
        let connection = WSConnection(id: hub.nextConnectionId(), continuation: continuation, hub: hub,
                                      maxSubscriptions: configuration.maxSubscriptionsPerConnection,
                                      maxQueuedBytes: configuration.webSocketQueueBytes)
        let metrics = node.metrics
        metrics.webSocketConnections.increment(by: 1)
        defer {
            hub.removeAll(of: connection.id)
            connection.releaseQueue()
            metrics.webSocketConnections.decrement(by: 1)
        }
        let dispatcher = self.dispatcher
        let maxMessage = configuration.maxBodyBytes
        await withTaskGroup(of: Void.self) { group in
            // Writer: drains the bounded queue; after an overflow it stops and closes with the reason.
            group.addTask {
                // A message counts against the budgets until it is written: a client that stops reading holds the
                // message being written too.
                for await message in queue {
                    defer { connection.taken(message) }
                    if connection.closeReason != nil { break }
                    do { try await outbound.write(.text(String(decoding: message, as: UTF8.self))) } catch { return }
                }
                if let reason = connection.closeReason {
                    try? await outbound.close(.policyViolation, reason: reason.text)
                }
            }
            // Reader: one call at a time per connection (answers keep request order).
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: maxMessage) {
                        let bytes: [UInt8]
                        switch message {
                        case .text(let s): bytes = Array(s.utf8)
                        case .binary(let b): bytes = Array(b.readableBytesView)
                        }
                        let out: [UInt8]?
                        switch await dispatcher.dispatch(bytes, context: CallContext(transport: .webSocket, session: connection), isAbandoned: isClosed) {
                        case .answer(let answer): out = answer
                        case .busy(let error): out = error
                        case .abandoned: out = nil
                        }
                        // Abandoned: the connection is gone, nothing more will be read from it.
                        guard !isClosed() else { break }
                        if let out {
                            guard connection.send(out) else { break }
                        }
                    }
                } catch {
                    // Oversized message or protocol error: WSCore closes the connection with the matching code.
                }
                connection.finish()
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The request context of the RPC server: Hummingbird's basic context plus the connection's channel, so `POST /`
/// can tell that its client has hung up (Hummingbird does not cancel the handler of a closed HTTP connection).
public struct RPCRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on.
    public let channel: any Channel

    /// A context for a request on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// A socket error in plain words: NIO's `IOError` describes itself as `bind(descriptor:ptr:bytes:): Address already in
/// use) (errno: 98)`, which an operator reads past; the system's message is what they need.
func socketErrorText(_ error: any Error) -> String {
    guard let io = error as? IOError else { return "\(error)" }
    return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
}

import Consensus
import Logging
import Primitives
import Prometheus
import Synchronization

/// Limits of the RPC interface (Specs/rpc.md, "Limits"). The configurable ones live in `RPCConfiguration`.
public enum RPCLimits {
    /// Default page size of list methods.
    public static let defaultPageSize = 25
    /// Largest page size of list methods.
    public static let maxPageSize = 100
    /// Largest `count` of range methods (`chain_getHeaders`, `validator_getSchedule`).
    public static let maxRange = 100
    /// Most address event index entries one `account_getHistory` page reads: a selective filter returns a
    /// short page (with a cursor) rather than scanning an unbounded history.
    public static let historyScanEntries = 10_000
}

/// Which transport a call arrived on.
public enum RPCTransport: String, Sendable {
    case http
    case webSocket
}

/// What a WebSocket connection offers the subscription methods.
public protocol RPCSession: Sendable {
    /// Registers a subscription; returns its id. Throws `limitExceeded` past the per-connection maximum.
    func subscribe(_ kind: SubscriptionKind, filter: SubscriptionFilter) throws(RPCError) -> String
    /// Cancels a subscription of this connection; false when it does not exist.
    func unsubscribe(_ id: String) -> Bool
}

/// One call's environment.
public struct CallContext: Sendable {
    /// HTTP or WebSocket.
    public let transport: RPCTransport
    /// The WebSocket connection (subscriptions); nil over HTTP.
    public let session: (any RPCSession)?

    /// A call context.
    public init(transport: RPCTransport, session: (any RPCSession)?) {
        self.transport = transport
        self.session = session
    }
}

/// A method the dispatcher serves.
struct RPCMethod: Sendable {
    let name: String
    let params: [ParamSpec]
    let handler: @Sendable (Params, CallContext) async throws -> JSON
}

/// The one JSON-RPC 2.0 dispatcher behind `POST /` and `/ws`: parsing, request validation, batches,
/// notifications, parameter resolution, method dispatch, error objects, metrics. Never throws and never traps
/// on input: every failure becomes an error object.
public final class RPCDispatcher: Sendable {
    let methods: [String: RPCMethod]
    let okCounters: [String: Prometheus.Counter]
    let node: RPCNode
    let logger: Logger
    /// Bounds the requests handled at once across every connection (`RPCConfiguration.maxConcurrentRequests`).
    let gate: RequestGate

    init(node: RPCNode, methods: [RPCMethod], logger: Logger) {
        self.node = node
        self.logger = logger
        gate = RequestGate(permits: node.config.maxConcurrentRequests)
        var table = [String: RPCMethod]()
        for m in methods {
            precondition(table[m.name] == nil, "method \(m.name) registered twice")
            table[m.name] = m
        }
        self.methods = table
        okCounters = table.mapValues { node.metrics.okCounter(method: $0.name) }
    }

    /// Every method name served, sorted.
    public var methodNames: [String] { methods.keys.sorted() }

    /// Declared parameter names of a method, in positional order.
    public func parameterNames(of method: String) -> [String]? { methods[method]?.params.map(\.name) }

    /// Handles one HTTP body or WebSocket message. Returns the encoded response, or nil when nothing must be
    /// sent (only notifications).
    /// At most `maxConcurrentRequests` are handled at once across all connections; the others wait their turn.
    public func handle(_ body: [UInt8], context: CallContext) async -> [UInt8]? {
        await gate.run { await handleNow(body, context: context) }
    }

    private func handleNow(_ body: [UInt8], context: CallContext) async -> [UInt8]? {
        let parsed: JSON
        do { parsed = try JSONParser().parse(body) } catch {
            node.metrics.request(method: "-", outcome: RPCError.parseErrorCode)
            return JSONWriter.encode(Self.response(id: .null, error: .parseError(error.description)))
        }
        switch parsed {
        case .array(let batch):
            guard !batch.isEmpty else {
                node.metrics.request(method: "-", outcome: RPCError.invalidRequestCode)
                return JSONWriter.encode(Self.response(id: .null, error: .invalidRequest("empty batch")))
            }
            guard batch.count <= node.config.maxBatch else {
                node.metrics.request(method: "-", outcome: RPCError.limitExceededCode)
                return JSONWriter.encode(Self.response(id: .null, error: .limitExceeded("batch size", maximum: node.config.maxBatch, requested: batch.count)))
            }
            // Calls run in order; the answer is bounded: once it passes the response budget the remaining calls
            // are answered with limit errors instead of being executed.
            var w = JSONWriter(capacity: 512)
            w.writeRaw(Array("[".utf8))
            var any = false
            for element in batch {
                let over = w.bytes.count > node.config.maxResponseBytes
                let response: JSON?
                if over {
                    let id = Self.requestId(element)
                    response = Self.isNotification(element) ? nil
                        : Self.response(id: id ?? .null, error: .limitExceeded("response bytes", maximum: node.config.maxResponseBytes))
                } else {
                    response = await handleOne(element, context: context)
                }
                guard let response else { continue }
                if any { w.writeRaw([UInt8(ascii: ",")]) }
                w.write(response)
                any = true
            }
            guard any else { return nil }
            w.writeRaw([UInt8(ascii: "]")])
            return w.bytes
        default:
            return await handleOne(parsed, context: context).map(JSONWriter.encode)
        }
    }

    static func isNotification(_ request: JSON) -> Bool {
        if case .object(let o) = request { return o["id"] == nil }
        return false
    }

    /// A usable id of a request (string, number or null), nil when absent or malformed.
    static func requestId(_ request: JSON) -> JSON? {
        guard case .object(let o) = request, let id = o["id"] else { return nil }
        switch id {
        case .string, .number, .null: return id
        default: return nil
        }
    }

    static let allowedMembers: Set<String> = ["jsonrpc", "method", "params", "id"]

    /// Validates and executes one request object; nil for a notification.
    func handleOne(_ request: JSON, context: CallContext) async -> JSON? {
        guard case .object(let o) = request else {
            node.metrics.request(method: "-", outcome: RPCError.invalidRequestCode)
            return Self.response(id: .null, error: .invalidRequest("a request must be an object, not \(request.typeName)"))
        }
        let rawId = o["id"]
        let id = Self.requestId(request)
        if rawId != nil && id == nil {
            node.metrics.request(method: "-", outcome: RPCError.invalidRequestCode)
            return Self.response(id: .null, error: .invalidRequest("id must be a string, a number or null"))
        }
        func fail(_ e: RPCError, _ method: String = "-") -> JSON {
            node.metrics.request(method: method, outcome: e.code)
            return Self.response(id: id ?? .null, error: e)
        }
        guard o["jsonrpc"] == .string("2.0") else { return fail(.invalidRequest("jsonrpc must be \"2.0\"")) }
        guard case .string(let name)? = o["method"] else { return fail(.invalidRequest("method must be a string")) }
        if let extra = o.keys.first(where: { !Self.allowedMembers.contains($0) }) {
            return fail(.invalidRequest("unknown member '\(extra.prefix(40))'"))
        }
        guard let method = methods[name] else {
            node.metrics.request(method: "unknown", outcome: RPCError.methodNotFoundCode)
            return rawId == nil ? nil : Self.response(id: id ?? .null, error: .methodNotFound(String(name.prefix(100))))
        }
        let result: JSON
        do {
            let params = try Params(o["params"], specs: method.params, hrp: node.hrp)
            result = try await method.handler(params, context)
        } catch let e as RPCError {
            node.metrics.request(method: name, outcome: e.code)
            return rawId == nil ? nil : Self.response(id: id ?? .null, error: e)
        } catch {
            // Storage faults and the like: logged here, never shown (they may name local paths).
            logger.error("rpc \(name) failed: \(error)")
            node.metrics.request(method: name, outcome: RPCError.internalErrorCode)
            return rawId == nil ? nil : Self.response(id: id ?? .null, error: .internalError)
        }
        okCounters[name]?.increment()
        return rawId == nil ? nil : .object(["jsonrpc": "2.0", "id": id ?? .null, "result": result])
    }

    static func response(id: JSON, error: RPCError) -> JSON {
        .object(["jsonrpc": "2.0", "id": id, "error": error.json])
    }
}

/// A counting semaphore for async callers, served in arrival order: the dispatcher's bound on requests handled
/// at once across connections. A caller cancelled while waiting (its WebSocket connection went away) leaves the
/// line, so requests of clients that are gone are not handled ahead of those still waiting.
final class RequestGate: Sendable {
    private struct State {
        var free: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextId: UInt64 = 0
    }

    private let state: Mutex<State>

    init(permits: Int) { state = Mutex(State(free: max(1, permits))) }

    /// Runs `body` once a permit is free, and frees it after; nil when the caller was cancelled before its turn.
    func run<T: Sendable>(_ body: () async -> T?) async -> T? {
        let id = state.withLock { s -> UInt64 in
            s.nextId += 1
            return s.nextId
        }
        let admitted = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { s -> Bool? in
                    if Task.isCancelled { return false }
                    guard s.free > 0 else {
                        s.waiters.append((id, c))
                        return nil
                    }
                    s.free -= 1
                    return true
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiting?.resume(returning: false)
        }
        guard admitted else { return nil }
        let result = await body()
        let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard !s.waiters.isEmpty else {
                s.free += 1
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume(returning: true)
        return result
    }
}

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
    /// Most distinct blocks whose receipts one `checker_getAssignments` page decodes (each up to a whole block's
    /// receipts): a filter that skips most assignments returns a short page with a cursor instead.
    public static let assignmentBlocksPerPage = 128
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
    /// Bounds the requests handled at once across every connection (`RPCConfiguration.maxConcurrentRequests`) and
    /// those waiting for their turn (`maxWaitingRequests`).
    let gate: RequestGate

    init(node: RPCNode, methods: [RPCMethod], logger: Logger) {
        self.node = node
        self.logger = logger
        gate = RequestGate(permits: node.config.maxConcurrentRequests, maxWaiting: node.config.maxWaitingRequests)
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
    /// sent (only notifications, or a caller cancelled before its turn).
    /// At most `maxConcurrentRequests` are handled at once across all connections; the others wait their turn, at
    /// most `maxWaitingRequests` of them: past that the answer is a `-32002` error (`data.limit` "waiting requests").
    public func handle(_ body: [UInt8], context: CallContext) async -> [UInt8]? {
        switch await dispatch(body, context: context, isAbandoned: { false }) {
        case .answer(let out): return out
        case .abandoned: return nil
        case .busy(let error): return error
        }
    }

    /// What became of one HTTP body or WebSocket message.
    enum Outcome: Sendable {
        /// Handled: the encoded response, nil when nothing must be sent (only notifications).
        case answer([UInt8]?)
        /// Not handled: the caller was cancelled or `isAbandoned` turned true (its connection closed) first.
        case abandoned
        /// Not handled: too many requests were waiting. The encoded `-32002` error to send (id null: the body was
        /// not parsed, which would cost the CPU the gate protects).
        case busy([UInt8])
    }

    /// `handle`, telling a refusal apart (HTTP answers it 503) and skipping the request if `isAbandoned` turns
    /// true before its turn (cheap and non-blocking: it is called under the gate's lock).
    func dispatch(_ body: [UInt8], context: CallContext, isAbandoned: @escaping @Sendable () -> Bool) async -> Outcome {
        switch await gate.run(isAbandoned: isAbandoned, { await handleNow(body, context: context) }) {
        case .ran(let out): return .answer(out)
        case .abandoned: return .abandoned
        case .refused:
            node.metrics.request(method: "-", outcome: RPCError.limitExceededCode)
            return .busy(JSONWriter.encode(Self.response(id: .null, error: .limitExceeded("waiting requests", maximum: gate.maxWaiting))))
        }
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
/// at once across connections. The line itself is bounded too (`maxWaiting`): every waiting request holds its body
/// (up to `maxBodyBytes`), and HTTP connections are not bounded by it once closed — Hummingbird never cancels the
/// handler of a client that hung up, and it frees the connection slot at once. So a full line refuses newcomers
/// instead of growing, and a request whose client is gone is dropped rather than handled: a cancelled caller leaves
/// the line at once, and a caller whose connection closed (HTTP or WebSocket: neither handler is cancelled then) is
/// found abandoned when its turn comes or when the line is full (its `isAbandoned` check: the channel is inactive).
final class RequestGate: Sendable {
    /// How a request fared at the gate.
    enum Outcome<T: Sendable>: Sendable {
        /// It ran and produced this.
        case ran(T)
        /// Its caller was cancelled or its connection closed before its turn: it did not run.
        case abandoned
        /// The line was full: it did not run (the caller answers "busy").
        case refused
    }

    private enum Admission: Sendable { case admitted, abandoned, refused }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Admission, Never>
        let isAbandoned: @Sendable () -> Bool
    }

    private struct State {
        var free: Int
        // An array is fine: the line is at most `maxWaiting` long, so removing its head or a cancelled waiter is a
        // short move.
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0

        /// Takes the abandoned waiters out of the line (their continuations, to be resumed outside the lock).
        mutating func removeAbandoned() -> [CheckedContinuation<Admission, Never>] {
            var gone = [CheckedContinuation<Admission, Never>]()
            waiters.removeAll { w in
                guard w.isAbandoned() else { return false }
                gone.append(w.continuation)
                return true
            }
            return gone
        }
    }

    private let state: Mutex<State>
    /// Most requests waiting for a permit; past it newcomers are refused.
    let maxWaiting: Int

    /// A gate of `permits` (at least 1) requests at once and at most `maxWaiting` (at least 0) waiting.
    init(permits: Int, maxWaiting: Int = .max) {
        state = Mutex(State(free: max(1, permits)))
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Requests waiting for a permit now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Requests waiting for a permit whose client is still there (the others are dropped at their turn).
    var liveWaiting: Int { state.withLock { $0.waiters.count { !$0.isAbandoned() } } }

    /// Runs `body` once a permit is free, and frees it after; nil when it did not run (cancelled, abandoned or
    /// refused).
    func run<T: Sendable>(_ body: () async -> T?) async -> T? {
        if case .ran(let t) = await run(isAbandoned: { false }, body) { return t }
        return nil
    }

    /// Runs `body` once a permit is free, and frees it after, unless the line is full (`.refused`, at once) or the
    /// caller is cancelled or `isAbandoned` turns true before its turn (`.abandoned`). `isAbandoned` is called under
    /// the gate's lock: it must be cheap and must not block.
    func run<T: Sendable>(isAbandoned: @escaping @Sendable () -> Bool, _ body: () async -> T) async -> Outcome<T> {
        let id = state.withLock { s -> UInt64 in
            s.nextId += 1
            return s.nextId
        }
        let maxWaiting = self.maxWaiting
        let admission = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Admission, Never>) in
                var gone = [CheckedContinuation<Admission, Never>]()
                let now = state.withLock { s -> Admission? in
                    if Task.isCancelled || isAbandoned() { return .abandoned }
                    if s.free > 0 {
                        s.free -= 1
                        return .admitted
                    }
                    // Full: first make room by dropping the requests of clients that are gone.
                    if s.waiters.count >= maxWaiting { gone = s.removeAbandoned() }
                    guard s.waiters.count < maxWaiting else { return .refused }
                    s.waiters.append(Waiter(id: id, continuation: c, isAbandoned: isAbandoned))
                    return nil
                }
                for g in gone { g.resume(returning: .abandoned) }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<Admission, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiting?.resume(returning: .abandoned)
        }
        switch admission {
        case .refused: return .refused
        case .abandoned: return .abandoned
        case .admitted: break
        }
        let result = await body()
        // Hand the permit to the first waiter whose client is still there; drop the others on the way.
        let (next, gone) = state.withLock { s -> (CheckedContinuation<Admission, Never>?, [CheckedContinuation<Admission, Never>]) in
            var gone = [CheckedContinuation<Admission, Never>]()
            while !s.waiters.isEmpty {
                let w = s.waiters.removeFirst()
                if w.isAbandoned() {
                    gone.append(w.continuation)
                    continue
                }
                return (w.continuation, gone)
            }
            s.free += 1
            return (nil, gone)
        }
        for g in gone { g.resume(returning: .abandoned) }
        next?.resume(returning: .admitted)
        return .ran(result)
    }
}

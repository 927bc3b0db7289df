import Primitives
import NIOCore
import NIOHTTP1
import NIOPosix

/// Why a remote call failed.
public enum RPCClientError: Error, Sendable, CustomStringConvertible {
    /// The URL is not `http://host:port[/path]`.
    case badURL(String)
    /// Could not connect, or the connection failed.
    case transport(String)
    /// The server answered with an HTTP error status.
    case http(status: Int, body: String)
    /// The answer is not a JSON-RPC response.
    case badResponse(String)
    /// The server returned a JSON-RPC error object.
    case rpc(RPCError)
    /// No answer in time.
    case timeout

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .badURL(let u): return "'\(u)' is not an http://host:port URL"
        case .transport(let m): return "cannot reach the node: \(m)"
        case .http(let s, let b): return "HTTP \(s): \(b.prefix(200))"
        case .badResponse(let m): return "malformed answer: \(m)"
        case .rpc(let e):
            if let d = e.data { return "error \(e.code): \(e.message) \(JSONWriter.string(d))" }
            return "error \(e.code): \(e.message)"
        case .timeout: return "timed out"
        }
    }
}

/// A small JSON-RPC client over HTTP/1.1 for the CLI (`sharechain query`, `sharechain tx --submit`).
///
/// Built on SwiftNIO directly, which the server already links: a full HTTP client library (and its TLS
/// stack) would add minutes of build time for one POST per command. One connection per call; plain HTTP only
/// (the node listens on loopback; put TLS in front of it for remote use).
public struct RPCClient: Sendable {
    /// Server host.
    public let host: String
    /// Server port.
    public let port: Int
    /// Request path (usually `/`).
    public let path: String
    /// Largest answer accepted.
    public var maxResponseBytes = 64 * 1024 * 1024
    /// Per-call deadline.
    public var timeout: Duration = .seconds(30)

    /// Parses `http://host:port[/path]` (IPv6 hosts in brackets).
    public init(url: String) throws(RPCClientError) {
        guard url.hasPrefix("http://") else { throw .badURL(url) }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        guard let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]), p > 0, p < 65_536 else {
            throw .badURL(url)
        }
        var h = String(authority[..<colon])
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        guard !h.isEmpty else { throw .badURL(url) }
        host = h
        port = p
    }

    /// Calls `method` and returns its result; a JSON-RPC error is thrown as `.rpc`.
    public func call(_ method: String, _ params: JSON = .array([])) async throws(RPCClientError) -> JSON {
        let request = JSON.object(["jsonrpc": "2.0", "id": .int(1), "method": .string(method), "params": params])
        let (status, body) = try await post(JSONWriter.encode(request))
        let parsed: JSON
        do { parsed = try JSONParser().parse(body) } catch {
            if status != 200 { throw .http(status: status, body: String(decoding: body, as: UTF8.self)) }
            throw .badResponse("\(error)")
        }
        if case .object(let e)? = parsed["error"] {
            guard case .number(let c)? = e["code"], let code = Int(c), case .string(let m)? = e["message"] else {
                throw .badResponse("error object without code and message")
            }
            throw .rpc(RPCError(code: code, message: m, data: e["data"]))
        }
        guard status == 200 else { throw .http(status: status, body: String(decoding: body, as: UTF8.self)) }
        guard let result = parsed["result"] else { throw .badResponse("neither result nor error") }
        return result
    }

    /// POSTs a JSON body; returns the status and the body.
    public func post(_ body: [UInt8]) async throws(RPCClientError) -> (Int, [UInt8]) {
        let r = try await request(method: .POST, path: path, headers: [("Content-Type", "application/json"), ("Accept", "application/json")], body: body)
        return (r.status, r.body)
    }

    /// An HTTP exchange: status, response headers, body.
    public struct HTTPAnswer: Sendable {
        /// HTTP status code.
        public let status: Int
        /// Response headers in order.
        public let headers: [(String, String)]
        /// Response body.
        public let body: [UInt8]

        /// The first header of that name (case-insensitive).
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// One HTTP request with explicit method, path and headers (Content-Length, Connection and, unless `headers` has
    /// one, Host are added).
    public func request(method: HTTPMethod, path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws(RPCClientError) -> HTTPAnswer {
        let outcome: Result<HTTPAnswer, RPCClientError> = await withTaskGroup(of: Result<HTTPAnswer, RPCClientError>?.self) { group in
            group.addTask { await self.exchange(method: method, path: path, headers: headers, body: body) }
            group.addTask {
                try? await Task.sleep(for: self.timeout)
                return Task.isCancelled ? nil : .failure(.timeout)
            }
            var first: Result<HTTPAnswer, RPCClientError> = .failure(.timeout)
            for await r in group {
                if let r { first = r; break }
            }
            group.cancelAll()
            return first
        }
        return try outcome.get()
    }

    func exchange(method: HTTPMethod, path: String, headers: [(String, String)], body: [UInt8]) async -> Result<HTTPAnswer, RPCClientError> {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
            let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            let limit = maxResponseBytes
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
                // A caller's own Host replaces the default (a client behind a name, tests of the Host check).
                let ownHost = headers.contains { $0.0.lowercased() == "host" }
                head.headers = HTTPHeaders((ownHost ? [] : [("Host", hostHeader)]) + [("Content-Length", String(body.count)), ("Connection", "close")] + headers)
                // One write: the server may answer (and close, Connection: close) as soon as the declared body
                // has arrived, so a separate write of the end marker could hit a closed channel.
                var writeError: (any Error)?
                do {
                    try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)])
                } catch {
                    writeError = error
                }
                var status = 0
                var responseHeaders = [(String, String)]()
                var data = [UInt8]()
                loop: for try await part in inbound {
                    switch part {
                    case .head(let h):
                        status = Int(h.status.code)
                        responseHeaders = h.headers.map { ($0.name, $0.value) }
                    case .body(let b):
                        guard data.count + b.readableBytes <= limit else { return .failure(.badResponse("answer larger than \(limit) bytes")) }
                        data.append(contentsOf: b.readableBytesView)
                    case .end: break loop
                    }
                }
                if status == 0, let writeError { throw writeError }
                return .success(HTTPAnswer(status: status, headers: responseHeaders, body: data))
            }
        } catch {
            return .failure(.transport("\(error)"))
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A static server for the web explorer against a remote node (`sharechain explorer --rpc URL`): serves the files
/// of `ExplorerAssets` with the page pointed at `rpcURL`, and redirects `/` to `/explorer`. The node must list this
/// server's origin in `--rpc-cors-origin` for the browser to call it (Specs/rpc.md §1.2).
public final class ExplorerServer: Service, Sendable {
    /// Listen host.
    public let host: String
    /// Listen port (0: a free one, see `listeningPort()`).
    public let port: Int
    /// The node's JSON-RPC URL the page calls (`http://host:port/`).
    public let rpcURL: String
    /// The connection limits (`RPCConfiguration`'s deadlines, head size and connection bounds; the rest is unused).
    public let limits: RPCConfiguration
    let logger: Logger
    private let bound = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    /// A server on `host:port` for the node at `rpcURL`.
    public init(host: String, port: Int, rpcURL: String, limits: RPCConfiguration = RPCConfiguration(),
                logger: Logger = Logger(label: "sharechain.explorer")) {
        self.limits = limits
        self.host = host
        self.port = port
        self.rpcURL = rpcURL
        self.logger = logger
    }

    /// The bound port, once listening.
    public func listeningPort() async -> Int {
        await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
            let p = bound.withLock { s -> Int? in
                if let p = s.port { return p }
                s.waiters.append(c)
                return nil
            }
            if let p { c.resume(returning: p) }
        }
    }

    /// Serves until graceful shutdown or cancellation.
    ///
    /// Connections get the node's JSON-RPC guards (Specs/rpc.md §9, `limits`: by default the node's): a deadline for
    /// the first request head and an idle one, a bound on a request head's size, open connections per remote host and in
    /// all, and bytes not yet taken by the sockets. Without them a client holding half-sent requests open kept every
    /// connection it made, until the process ran out of descriptors and served no one (eighteenth-session audit).
    public func run() async throws {
        let rpcURL = self.rpcURL
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let path = request.uri.path
            guard request.method == .get || request.method == .head else {
                var answer = Self.plain(.methodNotAllowed, "the explorer serves GET only\n")
                answer.headers[.allow] = "GET, HEAD"
                return answer
            }
            if path == "/" {
                return Response(status: .found, headers: [.location: ExplorerAssets.prefix + "/"])
            }
            return Self.response(path: path, rpcURL: rpcURL)
        }
        let limits = self.limits
        let hostLimiter = HostConnectionLimiter(limit: limits.maxConnectionsPerHost)
        let unsentBudget = UnsentBytesBudget(limit: limits.totalUnsentBytes)
        let server = HTTPServerBuilder { responder in
            DeadlineGuardedChannel(
                inner: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .seconds(limits.idleTimeoutSeconds))),
                firstRequest: .seconds(limits.firstRequestTimeoutSeconds), idle: .seconds(limits.idleTimeoutSeconds),
                maxHeadBytes: limits.maxRequestHeadBytes, hostLimiter: hostLimiter, unsentBudget: unsentBudget)
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil, backlog: 256, reuseAddress: true,
                                                    availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { [self] channel in
                let p = channel.localAddress?.port ?? port
                let waiters = bound.withLock { s -> [CheckedContinuation<Int, Never>] in
                    s.port = p
                    defer { s.waiters = [] }
                    return s.waiters
                }
                for w in waiters { w.resume(returning: p) }
                logger.info("explorer listening", metadata: ["url": "http://\(host):\(p)/explorer", "rpc": "\(rpcURL)"])
            },
            logger: logger)
        try await app.run()
    }

    /// The answer to `GET path` for an explorer path: the file, or 404.
    static func response(path: String, rpcURL: String?) -> Response {
        guard let asset = ExplorerAssets.asset(path: path, rpcURL: rpcURL) else {
            return plain(.notFound, "not found\n")
        }
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache"]
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentSecurityPolicy] = contentSecurityPolicy(rpcURL: rpcURL)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.body)))
    }

    /// Only the page's own files, and JSON-RPC calls to the node (its origin, or `rpcURL` and its WebSocket).
    static func contentSecurityPolicy(rpcURL: String?) -> String {
        var connect = "'self'"
        if let url = rpcURL, let origin = origin(of: url) {
            connect += " \(origin) ws\(origin.dropFirst(4))"
        } else {
            connect += " ws: wss:"
        }
        return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src \(connect); base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }

    /// `http(s)://authority` of a URL, nil when it is not http(s).
    static func origin(of url: String) -> String? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), let r = url.range(of: "://") else { return nil }
        let authority = url[r.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty else { return nil }
        return String(url[..<r.upperBound]) + String(authority)
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

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
    let logger: Logger
    private let bound = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    /// A server on `host:port` for the node at `rpcURL`.
    public init(host: String, port: Int, rpcURL: String, logger: Logger = Logger(label: "sharechain.explorer")) {
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
    public func run() async throws {
        let rpcURL = self.rpcURL
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let path = request.uri.path
            guard request.method == .get || request.method == .head else {
                return Self.plain(.methodNotAllowed, "the explorer serves GET only\n")
            }
            if path == "/" {
                return Response(status: .found, headers: [.location: ExplorerAssets.prefix + "/"])
            }
            return Self.response(path: path, rpcURL: rpcURL)
        }
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil, reuseAddress: true),
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
        return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src \(connect); base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
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

import Dispatch
import Foundation
import Glibc
import Primitives
import RPC
import Synchronization
import TestSupport

/// A JSON-RPC proxy on loopback in front of a real node: every request (a single call or a batch) is forwarded, and
/// each call's answer passes through `rewrite` first. A node that contradicts itself in ways an honest one never does,
/// for the clients' robustness tests. One request per connection (the clients send `Connection: close`), served on a
/// thread of its own.
final class RewritingRPCProxy: Sendable {
    let port: Int
    /// HTTP requests answered so far.
    let requests = Atomic<Int>(0)
    private let listener: Int32
    private let target: RPCClient
    private let rewrite: @Sendable (_ method: String, _ params: JSON, _ answer: JSON) -> JSON

    /// A proxy for the node at `url` (`http://host:port`).
    init(forwardingTo url: String, rewrite: @escaping @Sendable (_ method: String, _ params: JSON, _ answer: JSON) -> JSON) throws {
        target = try RPCClient(url: url)
        self.rewrite = rewrite
        guard let (fd, port) = listenOnLoopback() else { throw ProxyUnavailable() }
        self.port = port
        listener = fd
        Thread { [self] in self.serve() }.start()
    }

    /// The proxy's URL.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Wakes the serving thread's `accept`; that thread closes the socket (so its descriptor is not reused under it).
    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    struct ProxyUnavailable: Error {}

    private func serve() {
        defer { close(listener) }
        while true {
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            defer { close(c) }
            guard let body = readHTTPRequestBody(c) else { continue }
            requests.add(1, ordering: .relaxed)
            let answer = forward(body)
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.count)\r\nConnection: close\r\n\r\n".utf8)
                + answer
            _ = reply.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
        }
    }

    /// The node's answer to `body`, each call's answer rewritten.
    private func forward(_ body: [UInt8]) -> [UInt8] {
        let result = Mutex<[UInt8]?>(nil)
        let done = DispatchSemaphore(value: 0)
        let target = self.target
        Task {
            let answer: [UInt8]? = try? await target.post(body).1
            result.withLock { $0 = answer }
            done.signal()
        }
        done.wait()
        guard let answer = result.withLock({ $0 }), let request = try? JSONParser().parse(body),
              let parsed = try? JSONParser().parse(answer) else { return result.withLock { $0 } ?? [] }
        func one(_ call: JSON, _ answer: JSON) -> JSON { rewrite(call["method"]?.string ?? "", call["params"] ?? .null, answer) }
        switch (request, parsed) {
        case (.array(let calls), .array(let answers)):
            // Answers carry their call's id; a batch's answers need not be in the calls' order.
            return JSONWriter.encode(.array(answers.map { a in
                calls.first { $0["id"] == a["id"] }.map { one($0, a) } ?? a
            }))
        case (.object, .object): return JSONWriter.encode(one(request, parsed))
        default: return answer
        }
    }
}

extension JSON {
    /// This answer with its `result` object's member `key` set to `value` (unchanged when it has no result object).
    func settingResultMember(_ key: String, to value: JSON) -> JSON {
        guard case .object(var answer) = self, case .object(var result)? = answer["result"] else { return self }
        result[key] = value
        answer["result"] = .object(result)
        return .object(answer)
    }
}

import Foundation
@testable import RPC
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Fourteenth review (denial of service, RPC): what the server holds for HTTP clients that stop reading.
@Suite struct Review14RPCTests {
    /// A POSIX TCP client on 127.0.0.1 with a small receive buffer, non-blocking after connect: it reads only when told.
    struct SlowReader {
        let fd: Int32
        var received: [UInt8] = []

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw RPCClientError.transport("socket() failed: \(errno)") }
            var small: Int32 = 4096
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let fd = self.fd
            let rc = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { Glibc.close(fd); throw RPCClientError.transport("connect() failed: \(errno)") }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        func send(_ bytes: [UInt8]) throws {
            var at = 0
            while at < bytes.count {
                let n = bytes[at...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }
                guard n > 0 else { throw RPCClientError.transport("send() failed: \(errno)") }
                at += n
            }
        }

        /// Reads everything available now; false once the connection is closed.
        mutating func drain() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { received += buffer[..<n]; continue }
                if n == 0 { return false }
                return errno == EAGAIN || errno == EWOULDBLOCK
            }
        }

        /// Whether a whole HTTP response (head and `Content-Length` body) has arrived.
        var hasWholeResponse: Bool {
            guard let end = received.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
            let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
            guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                  let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
            return received.count >= end.upperBound + length
        }

        func close() { Glibc.close(fd) }
    }

    /// The most bytes the kernel may hold for one loopback connection whose client does not read: the server socket's
    /// send buffer at most (`tcp_wmem`'s maximum) plus the client's small receive buffer.
    static func kernelBytesPerConnection() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        let wmemMax = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? (4 << 20)
        return wmemMax + (256 << 10)
    }

    /// WebSocket answers count against a per-connection budget and a server-wide one (`webSocketQueueBytes`,
    /// `webSocketTotalQueueBytes`: 512 clients that stop reading would otherwise hold 32 GiB), and so do the explorer's
    /// (`ExplorerReviewTests`). HTTP answers counted against nothing: a `POST /` answer (up to `maxResponseBytes`, 32 MiB,
    /// past which a batch stops, so a little more) is built whole, then handed to Hummingbird, which holds what the
    /// socket does not take until the client reads it or the idle timeout (60 s) closes the connection. Clients that send
    /// a large batch and never read held `maxConnections` × `maxResponseBytes` (16 GiB with the defaults;
    /// `maxConnectionsPerHost` only asks for 8 hosts or /64s), renewed every minute. Here: connections that each ask for
    /// ~12 MiB of `rpc.discover` documents and read nothing until every answer was built (the idle timeout is raised so
    /// that none is closed for silence meanwhile: the attack holds its answers however long the building takes). Secure
    /// bound: the answers held for clients at once stay within the server-wide budget for unsent bytes
    /// (`totalUnsentBytes`, 16 MiB here) plus the one answer a connection that has caught up always gets; past it the
    /// connection adding an answer is closed (`UnsentBytesHandler`).
    @Test(.timeLimit(.minutes(5))) func httpAnswersToClientsThatDoNotReadCountAgainstTheServerWideBudget() async throws {
        var config = RPCConfiguration()
        config.totalUnsentBytes = 16 << 20
        config.idleTimeoutSeconds = 600
        config.maxBatch = 1000
        let node = try await GoldenNode(configuration: config)
        let server = node.server
        let budget = config.totalUnsentBytes
        let (maxBatch, perHost) = (config.maxBatch, config.maxConnectionsPerHost)
        try await withRunningServer(server) { port in
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let (status, one) = try await client.post(Array(#"{"jsonrpc":"2.0","id":0,"method":"rpc.discover"}"#.utf8))
            try #require(status == 200)
            let calls = min(maxBatch, (12 << 20) / max(1, one.count) + 1)
            let batch = "[" + (1...calls).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"rpc.discover"}"# }.joined(separator: ",") + "]"
            let request = Array("POST / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\nContent-Length: \(batch.utf8.count)\r\n\r\n\(batch)".utf8)
            let answerBytes = calls * one.count
            let slack = Self.kernelBytesPerConnection()
            try #require(answerBytes > slack, "an answer of \(answerBytes) bytes fits the kernel's buffers")
            // Enough connections that the answers, less all the kernel can hold for them, are four budgets.
            let connections = min(perHost - 4, (4 * budget) / (answerBytes - slack) + 1)
            let before = Review8Tests.okCount(server, "rpc.discover")
            var readers = [SlowReader]()
            defer { for r in readers { r.close() } }
            for _ in 0..<connections {
                let r = try SlowReader(port: port)
                try r.send(request)
                readers.append(r)
            }
            // Every answer is built before anything is read: the server holds them all at once.
            let built = await eventually(.seconds(240), every: .milliseconds(200)) {
                Review8Tests.okCount(server, "rpc.discover") >= before + connections * calls
            }
            try #require(built, "answers built: \(Review8Tests.okCount(server, "rpc.discover") - before) of \(connections * calls)")
            // Now read: whatever arrives whole was held for a client that was not reading.
            let done = await eventually(.seconds(120), every: .milliseconds(20)) {
                var finished = true
                for i in readers.indices {
                    let open = readers[i].drain()
                    if open && !readers[i].hasWholeResponse { finished = false }
                }
                return finished
            }
            #expect(done)
            let whole = readers.filter(\.hasWholeResponse)
            let delivered = whole.reduce(0) { $0 + $1.received.count }
            let heldAtOnce = max(0, delivered - readers.count * slack)
            // One answer past the budget at most: a connection that has caught up gets its answer while the total is
            // within the budget, whatever its size.
            #expect(heldAtOnce <= budget + answerBytes,
                    "\(heldAtOnce) bytes of answers held at once for clients that read nothing (\(whole.count) of \(connections) answers of \(answerBytes) bytes; budget \(budget))")
            // The others were closed, not left waiting: every reader either has its whole answer or saw its connection end.
            #expect(whole.count < connections)
        }
    }
}

import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport
@testable import RPC

/// Keeps every line logged through the loggers it makes, at every level.
final class CapturedLogs: Sendable {
    struct Line: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let message: String
        let metadata: String
        var description: String { "[\(level)] \(message) \(metadata)" }
    }

    private let lines = Mutex<[Line]>([])
    var all: [Line] { lines.withLock { $0 } }

    /// A logger at trace level writing here.
    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { [self] _ in Handler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            let line = Line(level: event.level, message: event.message.description, metadata: "\(merged)")
            sink.lines.withLock { $0.append(line) }
        }
    }
}

/// An earlier session's note: every connection the server closed on purpose (over the per-host limit, past a read
/// deadline) made Hummingbird log "Error handling upgrade result" at error level, so a connection flood from one host
/// was one error line per attempt, and operators saw errors for the server doing its job (Specs/rpc.md §9).
@Suite struct ClosedConnectionLoggingTests {
    typealias Connection = HostConnectionLimitTests.Connection

    /// Polls `condition` for up to a minute (`TestSupport.eventually`; generous: the suite shares two loaded cores).
    func eventually(_ condition: () -> Bool) async -> Bool { await TestSupport.eventually(.seconds(60), condition) }

    /// Connections refused over the per-host limit, silent ones closed by the first-request deadline and served ones
    /// closed by the idle deadline log nothing at error level (the refusals are counted at debug level), and a normal
    /// request is still answered.
    @Test func connectionsTheServerClosesOnPurposeLogNoError() async throws {
        var config = RPCConfiguration()
        config.maxConnections = 16
        config.maxConnectionsPerHost = 2
        config.firstRequestTimeoutSeconds = 1
        config.idleTimeoutSeconds = 4
        config.maxRequestHeadBytes = 16 << 10
        let logs = CapturedLogs()
        let node = try await GoldenNode(configuration: config, logger: logs.logger("sharechain.rpc"))
        let refusals = 3
        try await withRunningServer(node.server) { port in
            // 127.0.0.1 holds its limit with two served connections, left idle afterwards.
            var held = [Connection]()
            for _ in 0..<2 {
                let c = try await Connection.open(port: port, from: "127.0.0.1")
                try await c.send(HostConnectionLimitTests.http)
                #expect(await eventually { c.received.contains("sharechain/") }, "a connection within the limit was not served")
                held.append(c)
            }
            // Over the limit: closed at once.
            for _ in 0..<refusals {
                let extra = try await Connection.open(port: port, from: "127.0.0.1")
                try? await extra.send(HostConnectionLimitTests.http)
                #expect(await eventually { !extra.isOpen }, "a connection over the per-host limit was kept")
            }
            // Connections from other hosts closed by the first-request deadline: silent; a head begun but never ended;
            // and closed by the first-response deadline: a head that ends but whose body never comes.
            var silent = [Connection]()
            for _ in 0..<2 { silent.append(try await Connection.open(port: port, from: "127.0.0.2")) }
            let partialHead = try await Connection.open(port: port, from: "127.0.0.3")
            try await partialHead.send("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let partialBody = try await Connection.open(port: port, from: "127.0.0.4")
            try await partialBody.send("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            silent += [partialHead, partialBody]
            #expect(await eventually { silent.allSatisfy { !$0.isOpen } }, "a connection was kept past its deadline")
            // A head longer than the limit: cut off at once.
            let long = try await Connection.open(port: port, from: "127.0.0.5")
            try await long.send("GET / HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 20 << 10))
            #expect(await eventually { !long.isOpen }, "an over-long request head was not refused")
            // The served ones: closed by the idle deadline.
            #expect(await eventually { held.allSatisfy { !$0.isOpen } }, "an idle connection was kept past the idle deadline")
            // A normal request is still answered.
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            let (status, body) = try await client.post(Array(HostConnectionLimitTests.request.utf8))
            #expect(status == 200 && String(decoding: body, as: UTF8.self).contains("sharechain/"))
            // Operators can count the refusals too.
            let metrics = String(decoding: try await client.request(method: .GET, path: "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("sharechain_rpc_connections_refused_total \(refusals)"), "\(metrics)")
        }
        // The server has stopped: every connection's handling has finished and logged what it would. (The test stops
        // it by cancelling its task, which Hummingbird logs as "Waiting on child channel: CancellationError()"; the
        // node stops it by graceful shutdown, which does not.)
        let lines = logs.all
        if ProcessInfo.processInfo.environment["RPC_TEST_LOGS"] == "1" { for l in lines { print(l) } }
        let errors = lines.filter { $0.level >= .error && !$0.message.contains("CancellationError") }
        #expect(errors.isEmpty, "connections the server closed on purpose logged errors: \(errors)")
        // The test saw what it meant to: the refusals happened, one debug line each, and one warning counted them
        // (the next may come only a minute after it).
        #expect(lines.filter { $0.level == .debug && $0.message.contains("refused") }.count == refusals, "\(lines)")
        let warnings = lines.filter { $0.level == .warning }
        #expect(warnings.count == 1 && warnings.allSatisfy { $0.message.contains("refused over the per-host limit") }, "\(warnings)")
    }

    /// Refusals are reported at once after a quiet interval, then counted and reported together at most once an interval.
    @Test func refusalWarningsAreAggregated() throws {
        let counted = Mutex(0)
        let limiter = HostConnectionLimiter(limit: 1, reportInterval: .seconds(60), onRefusal: { counted.withLock { $0 += 1 } })
        let a = HostConnectionLimiter.key(try SocketAddress(ipAddress: "10.0.0.1", port: 1))
        let b = HostConnectionLimiter.key(try SocketAddress(ipAddress: "10.0.0.2", port: 1))
        let t0 = ContinuousClock.now
        #expect(limiter.noteRefusal(a, remote: "a1", now: t0) == .init(connections: 1, hosts: 1, lastRemote: "a1"))
        for i in 0..<100 { #expect(limiter.noteRefusal(i % 2 == 0 ? a : b, remote: "x\(i)", now: t0 + .seconds(59)) == nil) }
        #expect(limiter.noteRefusal(a, remote: "a2", now: t0 + .seconds(60)) == .init(connections: 101, hosts: 2, lastRemote: "a2"))
        #expect(limiter.noteRefusal(b, remote: "b1", now: t0 + .seconds(61)) == nil)
        #expect(limiter.noteRefusal(b, remote: "b2", now: t0 + .seconds(200)) == .init(connections: 2, hosts: 1, lastRemote: "b2"))
        // Every refusal is counted (the node's sharechain_rpc_connections_refused_total), reported or not.
        #expect(counted.withLock { $0 } == 104)
    }
}

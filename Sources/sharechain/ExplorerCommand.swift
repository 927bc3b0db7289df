import ArgumentParser
import Foundation
import Logging
import Node
import RPC
import ServiceLifecycle

/// `sharechain explorer`: serves the web explorer (the same files a node serves at `/explorer`) for a remote node.
struct ExplorerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explorer",
        abstract: "Serve the web explorer for a node's JSON-RPC (a node also serves it itself at /explorer).",
        discussion: """
            The page runs in the browser and calls the node at --rpc directly (JSON-RPC over HTTP, live updates over \
            its WebSocket /ws), so the node must allow this server's origin: start it with \
            --rpc-cors-origin http://HOST:PORT (the --addr below). Open http://HOST:PORT/explorer.
            """)

    @Option(help: "JSON-RPC URL of the node the page reads.") var rpc = "http://127.0.0.1:8645/"
    @Option(help: "Listen address of this server, host:port.") var addr = "127.0.0.1:8700"
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .info

    func validate() throws {
        guard rpc.hasPrefix("http://") || rpc.hasPrefix("https://") else { throw ValidationError("--rpc must be an http:// or https:// URL") }
        guard (try? parseHostPort(addr)) != nil else { throw ValidationError("--addr must be host:port") }
    }

    func run() async throws {
        let logger = bootstrapLogging(logLevel)
        let (host, port) = try parseHostPort(addr)
        let server = ExplorerServer(host: host, port: port, rpcURL: rpc, logger: logger)
        logger.info("the node must allow this origin: --rpc-cors-origin http://\(addr)")
        let group = ServiceGroup(configuration: .init(services: [.init(service: server)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

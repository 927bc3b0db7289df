import ArgumentParser
import Foundation
import Indexer
import Logging
import Node
import ServiceLifecycle

/// `sharechain indexer`: follows a node and writes its chain into PostgreSQL (Specs/indexer.md).
struct IndexerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indexer",
        abstract: "Follow a node and write its blocks, transactions, receipts, events and economy into PostgreSQL.",
        discussion: """
            Applies the schema migrations (recorded in schema_version), then backfills from genesis or from the \
            block it stopped at, and follows the node (woken by its newHeads and reorg subscriptions on /ws, and \
            every --poll seconds). Each block is one PostgreSQL transaction that also records the indexed height \
            and hash, so it can be killed at any moment and restarted. A reorg rolls the rows above the fork \
            point back. Progress (height, lag, blocks/s) is logged every few seconds. Tables: Specs/indexer.md.

            Example: sharechain indexer --rpc http://127.0.0.1:8645 --postgres postgres://sharechain@127.0.0.1:5432/sharechain
            """)

    @Option(help: "The node's JSON-RPC URL.") var rpc = "http://127.0.0.1:8645"
    @Option(help: ArgumentHelp("PostgreSQL URL: postgres://user[:password]@host[:port]/database (no TLS; default: the environment variable SHARECHAIN_INDEXER_DATABASE_URL). A password here is visible to every local user (ps): prefer the variable or --postgres-password-file.",
                               valueName: "url"))
    var postgres: String?
    @Option(help: "File whose first line is the PostgreSQL password, for a URL without one (else the environment variable PGPASSWORD).")
    var postgresPasswordFile: String?
    @Option(help: "Seconds between looks at the node when no notification arrives.") var poll: Double = 2
    @Option(help: "Seconds between progress log lines.") var progressEvery: Double = 5
    @Flag(help: "Do not subscribe to the node's WebSocket notifications (poll only).") var noSubscribe = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .info
    @Option(help: "Log format: text or json.") var logFormat: LogFormat = .text

    func validate() throws {
        try requireInterval(poll, "--poll")
        try requireInterval(progressEvery, "--progress-every")
        do { _ = try target() } catch { throw ValidationError("\(error)") }
    }

    /// The database from `--postgres`, `--postgres-password-file` and the environment.
    func target() throws(IndexerError) -> PostgresTarget {
        try PostgresTarget.resolve(url: postgres, passwordFile: postgresPasswordFile, environment: ProcessInfo.processInfo.environment,
                                   readFile: { try String(contentsOfFile: $0, encoding: .utf8) })
    }

    func run() async throws {
        let logger = bootstrapLogging(logLevel, format: logFormat)
        var config = IndexerConfiguration(rpcURL: rpc, postgres: try target())
        config.pollInterval = .milliseconds(Int64(poll * 1000))
        config.progressInterval = .milliseconds(Int64(progressEvery * 1000))
        config.subscribe = !noSubscribe
        let indexer: ChainIndexer
        do { indexer = try await ChainIndexer.start(config, logger: logger) } catch {
            logger.error("indexer cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: IndexerService(indexer: indexer))],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await indexer.close()
            logger.error("indexer stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        await indexer.close()
        logger.info("indexer stopped")
    }
}

/// The indexer as a service: runs until the group shuts down.
struct IndexerService: Service {
    let indexer: ChainIndexer
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await indexer.run() }
    }
}

import ArgumentParser
import Foundation
import Logging
import Node
import Primitives
import RPC
import ServiceLifecycle

/// Options for processes that talk to a node over JSON-RPC.
struct ClientOptions: ParsableArguments {
    @Option(help: "The node's JSON-RPC URL.") var rpc = "http://127.0.0.1:8645"
    @Option(help: "Key file (see `sharechain keys new` / `keys dev`).") var key: String
    @Option(name: .customLong("weights"), help: "Directory with the pools' pinned weight files (found by SHA-256).") var weights = "Genesis/models"
    @Option(help: "Serve Prometheus metrics and /health on host:port.") var metricsAddr: String?
    @Option(help: "trace, debug, info, notice, warning, error.") var logLevel = "info"

    func services(logger: Logger) throws -> [any Service] {
        guard let metricsAddr else { return [] }
        _ = RPCWiring.metricsBootstrapped
        let (host, port) = try parseHostPort(metricsAddr)
        return [MetricsEndpoint(host: host, port: port, logger: logger)]
    }
}

/// `sharechain worker-sim`: a simulated staked worker (and client).
struct WorkerSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker-sim",
        abstract: "Simulate a staked worker serving a shard with the canonical executor; --cheat makes it dishonest.",
        discussion: """
            Every window it runs passes of its shard on generated inputs, commits a Merkle root over them, reveals \
            the passes the beacon selects before their deadline, and (as the client, with --client-key or its own \
            key) pays through an escrow with signed cumulative usage vouchers. --cheat 0.3 corrupts 30 % of outputs.

            Example: sharechain worker-sim --rpc http://127.0.0.1:8645 --key worker-0.key --pool 0
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "Pool id.") var pool: UInt32 = 0
    @Option(help: "Shard index to serve (default: chosen from the key).") var shard: Int?
    @Option(help: "Fraction of outputs to corrupt (0...1).") var cheat: Double = 0
    @Option(help: "Strategy: honest, fabricate, withhold, duplicate, inflate or self-deal (Specs/economics.md, threat model).")
    var adversary = "honest"
    @Option(help: "Key file of the client whose escrow pays (default: the worker's own key).") var clientKey: String?
    @Option(help: "Passes per window.") var passes = 6
    @Option(help: "Escrow deposit in base units.") var deposit: UInt64 = 5_000_000
    @Option(help: "Seconds between looks at the chain.") var poll: Double = 2

    func validate() throws {
        guard (0...1).contains(cheat) else { throw ValidationError("--cheat must be between 0 and 1") }
        guard passes >= 1 else { throw ValidationError("--passes must be positive") }
        guard WorkerAdversary(rawValue: adversary) != nil else {
            throw ValidationError("--adversary must be one of \(WorkerAdversary.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let logger = bootstrapLogging(Logger.Level(rawValue: client.logLevel) ?? .info)
        let (key, _) = try KeyFile.load(path: client.key)
        var config = WorkerSimulatorConfig()
        config.pool = pool
        config.shard = shard
        config.cheatRate = cheat
        config.adversary = WorkerAdversary(rawValue: adversary) ?? .honest
        config.passesPerBatch = passes
        config.escrowDeposit = Amount(deposit)
        config.pollInterval = .milliseconds(Int64(poll * 1000))
        // The simulator mixes the key into the seed, so every worker generates its own inputs.
        config.seed = 1
        if let clientKey { config.clientKey = try KeyFile.load(path: clientKey).0 }
        let worker = WorkerSimulator(key: key, client: try RPCChainClient(url: client.rpc),
                                     weights: try WeightsIndex(directory: client.weights), config: config, logger: logger)
        let group = ServiceGroup(configuration: .init(services: ([worker] + (try client.services(logger: logger))).map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("worker stopped", metadata: ["stats": "\(worker.stats)"])
    }
}

/// `sharechain verifier`: replays revealed tickets and proves fraud.
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Replay revealed spot-check tickets with the canonical executor and submit fraud proofs on mismatches.",
        discussion: """
            It follows the node's revealed tickets (subscribed to `newTickets` over the node's WebSocket at \
            /ws; while that is down it lists them every --poll seconds and re-subscribes), replays each on the pool's pinned weights, and submits a \
            fraud proof (with the pool's bond, from this key's balance) when the recomputed output hash differs \
            from the committed one. It remembers what it checked in --state-file, so a restart does not redo work.

            Example: sharechain verifier --rpc http://127.0.0.1:8645 --key verifier.key --weights Genesis/models
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "File remembering checked tickets across restarts.") var stateFile: String?
    @Option(help: "Replays at once.") var parallel = 2
    @Option(help: "Seconds between listings of revealed tickets while the subscription is down (and between looks at submitted proofs).") var poll: Double = 2

    func run() async throws {
        let logger = bootstrapLogging(Logger.Level(rawValue: client.logLevel) ?? .info)
        let (key, _) = try KeyFile.load(path: client.key)
        var config = VerifierConfig()
        config.parallelism = max(1, parallel)
        config.pollInterval = .milliseconds(Int64(poll * 1000))
        config.stateFile = stateFile
        let verifier = VerifierService(key: key, client: try RPCChainClient(url: client.rpc),
                                       weights: try WeightsIndex(directory: client.weights), config: config, logger: logger)
        let group = ServiceGroup(configuration: .init(services: ([verifier] + (try client.services(logger: logger))).map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("verifier stopped", metadata: ["stats": "\(verifier.stats)"])
    }
}

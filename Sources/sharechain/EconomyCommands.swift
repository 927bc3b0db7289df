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
    @Option(help: "File holding the passphrase of encrypted key files (else the environment variable SHARECHAIN_PASSPHRASE).")
    var passphraseFile: String?
    @Option(help: "Directory with the pools' pinned weight files (found by SHA-256).") var weightsDir = "Genesis/models"
    @Option(name: .customLong("weights"), help: ArgumentHelp("Deprecated spelling of --weights-dir.", visibility: .hidden))
    var deprecatedWeights: String?
    @Option(help: "Serve Prometheus metrics and /health on host:port.") var metricsAddr: String?
    @Option(help: "Log level.") var logLevel: Logger.Level = .info
    @Option(help: "Log line format on standard error.") var logFormat: LogFormat = .text

    /// The weights directory, from `--weights-dir` or the deprecated `--weights` (which wins when given, as
    /// before the rename).
    var weights: String { deprecatedWeights ?? weightsDir }

    /// Loads a key file, encrypted (passphrase from --passphrase-file or the environment; these processes run
    /// unattended, so they never prompt) or plaintext (with a warning).
    func loadKey(_ path: String, logger: Logger) throws -> (PrivateKey, KeyFile) {
        try KeyFile.load(path: path, passphrase: KeyPassphrase(file: passphraseFile, prompt: false), warn: { logger.warning("\($0)") })
    }

    /// Sets up logging, and warns about a deprecated flag once it can.
    func bootstrap() -> Logger {
        let logger = bootstrapLogging(logLevel, format: logFormat)
        if deprecatedWeights != nil { logger.warning("--weights is deprecated; use --weights-dir") }
        return logger
    }

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
    @Option(help: "Strategy: honest, fabricate, withhold, duplicate, inflate, self-deal, late or reuse (Specs/economics.md, threat model).")
    var adversary = "honest"
    @Option(help: "Key file of the client whose escrow pays (default: the worker's own key).") var clientKey: String?
    @Option(help: "Passes per window.") var passes = 6
    @Option(help: "Escrow deposit in base units.") var deposit: UInt64 = 5_000_000
    @Option(help: "Seconds between looks at the chain.") var poll: Double = 2
    @Option(help: "Probability that the client challenges each hop receipt of a window after its commit deadline (protocol 5; 0: never).")
    var hopChallengeRate: Double = 0
    @Option(help: """
        Key file of the account the client's hop challenges are sent from and paid by (default: the client's key). An \
        answered challenge shows its sender next to the pass's input on chain; use an account not linked to the escrow.
        """)
    var challengerKey: String?

    func validate() throws {
        try requireInterval(poll, "--poll")
        guard (0...1).contains(cheat) else { throw ValidationError("--cheat must be between 0 and 1") }
        guard passes >= 1 else { throw ValidationError("--passes must be positive") }
        guard (0...1).contains(hopChallengeRate) else { throw ValidationError("--hop-challenge-rate must be between 0 and 1") }
        guard WorkerAdversary(rawValue: adversary) != nil else {
            throw ValidationError("--adversary must be one of \(WorkerAdversary.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let logger = client.bootstrap()
        let (key, _) = try client.loadKey(client.key, logger: logger)
        var config = WorkerSimulatorConfig()
        config.pool = pool
        config.shard = shard
        config.cheatRate = cheat
        config.adversary = WorkerAdversary(rawValue: adversary) ?? .honest
        config.passesPerBatch = passes
        config.hopChallengeRate = hopChallengeRate
        config.escrowDeposit = Amount(deposit)
        config.pollInterval = .milliseconds(Int64(poll * 1000))
        // The simulator mixes the key into the seed, so every worker generates its own inputs.
        config.seed = 1
        if let clientKey { config.clientKey = try client.loadKey(clientKey, logger: logger).0 }
        if let challengerKey { config.challengerKey = try client.loadKey(challengerKey, logger: logger).0 }
        let worker = WorkerSimulator(key: key, client: try RPCChainClient(url: client.rpc),
                                     weights: try WeightsIndex(directory: client.weights), config: config, logger: logger)
        let group = ServiceGroup(configuration: .init(services: ([worker] + (try client.services(logger: logger))).map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("worker stopped", metadata: ["stats": "\(worker.stats)"])
    }
}

/// `sharechain verifier`: replays revealed tickets and proves fraud (`run`, the default), or replays one ticket by
/// hand (`replay`). `sharechain verifier --rpc … --key …` still means `verifier run`.
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Replay revealed spot-check tickets and prove fraud (run, the default), or replay one ticket by hand (replay).",
        subcommands: [Run.self, Replay.self],
        defaultSubcommand: Run.self)

    /// `sharechain verifier run`: the long-running verifier.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay revealed spot-check tickets with the canonical executor and submit fraud proofs on mismatches.",
            discussion: """
                It follows the node's revealed tickets (subscribed to `newTickets` over the node's WebSocket at \
                /ws; while that is down it lists them every --poll seconds and re-subscribes), replays each on the pool's pinned weights, and submits a \
                fraud proof (with the pool's bond, from this key's balance) when the recomputed output hash differs \
                from the committed one. It remembers what it checked in --state-file, so a restart does not redo work.

                Example: sharechain verifier --rpc http://127.0.0.1:8645 --key verifier.key --weights-dir Genesis/models
                """)

        @OptionGroup var client: ClientOptions
        @Option(help: "File remembering checked tickets across restarts.") var stateFile: String?
        @Option(help: "Replays at once.") var parallel = 2
        @Option(help: "Seconds between listings of revealed tickets while the subscription is down (and between looks at submitted proofs).") var poll: Double = 2

        func validate() throws { try requireInterval(poll, "--poll") }

        func run() async throws {
            let logger = client.bootstrap()
            let (key, _) = try client.loadKey(client.key, logger: logger)
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

    /// `sharechain verifier replay`: one ticket, replayed locally, compared with the committed output hash.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay one revealed ticket locally and print the canonical output hash against the committed one.",
            discussion: """
                What a verifier does by hand when a proof is disputed: the ticket, its revealed input and its pool come \
                from the node (ticket_get, pool_get); the pass runs on the pool's pinned weights found in --weights-dir. \
                Nothing is signed or submitted. Exits 0 when the committed output is canonical, 1 when it is not \
                (a mismatch, or an input or output no honest pass has), 2 when the ticket cannot be replayed.

                Example: sharechain verifier replay --ticket 0x3f… --rpc http://127.0.0.1:8645 --weights-dir Genesis/models
                """)

        @Option(help: "Ticket id (0x hex).") var ticket: String
        @Option(help: "The node's JSON-RPC URL.") var rpc = "http://127.0.0.1:8645"
        @Option(help: "Directory with the pools' pinned weight files (found by SHA-256).") var weightsDir = "Genesis/models"
        @Option(help: "How to print the report: aligned text lines, or one JSON object.") var format: ReplayOutputFormat = .text

        func run() async throws {
            let id = try parseHash(ticket, "--ticket")
            let report: TicketReplayReport
            do {
                report = try await TicketReplay.run(ticket: id, client: try RPCChainClient(url: rpc), weights: try WeightsIndex(directory: weightsDir))
            } catch {
                // Not a usage error, and not a verdict: the ticket cannot be replayed (unknown or unrevealed ticket,
                // weights missing, node unreachable). Exit 2 keeps 1 for "the committed output is wrong".
                printWarning("cannot replay: \(error)", prefix: "error")
                throw ExitCode(2)
            }
            print(Self.render(report, format: format))
            if !report.matches { throw ExitCode(1) }
        }

        /// The report as printed: aligned text lines, or one JSON object.
        static func render(_ r: TicketReplayReport, format: ReplayOutputFormat) -> String {
            let verdict: String
            switch r.check {
            case .match: verdict = "match"
            case .mismatch: verdict = "mismatch"
            case .invalidInput(let why): verdict = "invalid input: \(why)"
            case .invalidOutput(let why): verdict = "invalid output: \(why)"
            }
            let recomputed = r.recomputedOutputHash.map { "0x" + $0.hex }
            switch format {
            case .text:
                return """
                    ticket      0x\(r.ticketId.hex)
                    status      \(r.status)
                    worker      0x\(r.worker.hex)
                    pool        \(r.pool), window \(r.window), shard \(r.shard)
                    committed   0x\(r.committedOutputHash.hex)
                    recomputed  \(recomputed ?? "none (\(verdict))")
                    verdict     \(verdict)
                    """
            case .json:
                let o: JSONObject = [
                    "ticketId": .string("0x" + r.ticketId.hex), "status": .string("\(r.status)"), "worker": .string("0x" + r.worker.hex),
                    "pool": .int(UInt64(r.pool)), "window": .int(r.window), "shard": .int(UInt64(r.shard)),
                    "committedOutputHash": .string("0x" + r.committedOutputHash.hex),
                    "recomputedOutputHash": recomputed.map { .string($0) } ?? .null,
                    "matches": .bool(r.matches), "verdict": .string(verdict),
                ]
                return String(decoding: JSONWriter.encode(.object(o)), as: UTF8.self)
            }
        }
    }
}

/// How `verifier replay` prints its report.
enum ReplayOutputFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

/// `sharechain checker`: an assigned, paid checker of a pool with checkers (Specs/verification.md).
struct CheckerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checker",
        abstract: "Check the sealed spot-check tickets assigned to this key: open, replay, commit, reveal; paid per check.",
        discussion: """
            In a pool whose genesis has a checking section, every sampled ticket is assigned k checkers by the beacon. \
            The worker seals the pass's input to them (nobody else can read it); each checker opens its slot, replays \
            the pass with the canonical executor on the pool's pinned weights, commits to the output hash it computed \
            before the output is unblinded, and reveals it afterwards with the blinding salt it derives from the input, \
            which unblinds a matching output (the worker then sends no unblinding). Matching answers earn the pool's checkFee at \
            the worker's payout; a mismatch opens a dispute that the validators settle by replaying the input; a \
            missed answer costs a small slash and a bench.

            The X25519 sealing key is derived from the key file (one file serves both). With --bond, a key that is \
            not yet a registered checker bonds (at least the pool's checkerMinStake) and registers first.

            Example: sharechain checker --rpc http://127.0.0.1:8645 --key checker-0.key --pool 0 --bond 5000
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "Pool id.") var pool: UInt32 = 0
    @Option(help: "Bond this much as a checker and register, when the key is not yet registered.") var bond: UInt64?
    @Option(help: "Seconds between looks at the chain.") var poll: Double = 1

    func validate() throws {
        try requireInterval(poll, "--poll")
    }

    func run() async throws {
        let logger = client.bootstrap()
        let (key, _) = try client.loadKey(client.key, logger: logger)
        var config = CheckerConfig()
        config.pool = pool
        config.bond = bond.map { Amount($0) }
        config.pollInterval = .milliseconds(Int64(poll * 1000))
        let checker = try CheckerService(key: key, client: try RPCChainClient(url: client.rpc),
                                     weights: try WeightsIndex(directory: client.weights), config: config, logger: logger)
        logger.info("checker started", metadata: ["key": "\(key.publicKey.hex.prefix(16))", "pool": "\(pool)",
                                                   "sealingKey": "\(checker.sealing.publicKey.bytes.hex.prefix(16))"])
        let group = ServiceGroup(configuration: .init(services: ([checker] + (try client.services(logger: logger))).map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("checker stopped", metadata: ["stats": "\(checker.stats)"])
    }
}

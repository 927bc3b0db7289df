import ArgumentParser
import Consensus
import Foundation
import Logging
import Node
import Primitives

/// Options shared by `node` and `devnet`.
struct NodeOptions: ParsableArguments {
    @Option(help: "JSON config file (the same fields as these flags; flags override it).") var config: String?
    @Option(help: "Genesis document (default: the embedded devnet genesis).") var genesis: String?
    @Option(help: "Data directory.") var dataDir: String?
    @Option(help: "Validator key file (without one the node only follows the chain).") var validatorKey: String?
    @Option(help: "JSON-RPC listen address, host:port (default 127.0.0.1:8645).") var rpcAddr: String?
    @Option(name: .customLong("rpc-cors-origin"), help: "Origin allowed to call the JSON-RPC from a browser (repeatable; * for any).")
    var rpcCorsOrigins: [String] = []
    @Option(help: "P2P listen address, host:port (default 127.0.0.1:8646).") var p2pAddr: String?
    @Option(name: .customLong("peer"), help: "Bootstrap peer host:port (repeatable).") var peers: [String] = []
    @Option(help: "Directory with the pools' pinned weight files, found by SHA-256 (default Genesis/models).") var weightsDir: String?
    @Option(help: "trace, debug, info, notice, warning, error.") var logLevel: String?
    @Flag(help: "Check the ledger invariants after every block.") var checkInvariants = false
    @Option(help: "Devnet load: transfers per second from the development accounts.") var load: Double?

    func resolve(defaultDataDir: String? = nil) throws -> NodeConfig {
        var c: NodeConfig
        if let config { c = try NodeConfig.load(path: config) } else {
            guard let dir = dataDir ?? defaultDataDir else { throw ValidationError("--data-dir is required") }
            c = NodeConfig(dataDir: dir)
        }
        if let genesis { c.genesis = genesis }
        if let dataDir { c.dataDir = dataDir }
        if let validatorKey { c.validatorKey = validatorKey }
        if let rpcAddr { c.rpcAddr = rpcAddr }
        if !rpcCorsOrigins.isEmpty { c.rpcCorsOrigins = rpcCorsOrigins }
        if let p2pAddr { c.p2pAddr = p2pAddr }
        if !peers.isEmpty { c.peers = peers }
        if let weightsDir { c.weightsDir = weightsDir }
        if let logLevel { c.logLevel = logLevel }
        if checkInvariants { c.checkInvariants = true }
        if let load { c.load = load }
        return c
    }
}

/// Sets up readable logs on standard error.
func bootstrapLogging(_ level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
    var logger = Logger(label: "sharechain")
    logger.logLevel = level
    return logger
}

/// `sharechain node`: run a node until SIGINT or SIGTERM.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: follow the chain, and produce blocks with --validator-key.",
        discussion: """
            The node keeps its chain in <data-dir>/chain (RocksDB) and continues from it on restart. It refuses \
            to start on a data directory of another chain, and when the pools' pinned weight files are missing \
            from --weights-dir (it could not judge fraud proofs). SIGINT or SIGTERM shut it down cleanly.

            Example: sharechain node --genesis Genesis/devnet.json --data-dir /var/lib/sharechain --validator-key validator.key
            """)

    @OptionGroup var options: NodeOptions

    func run() async throws {
        let config = try options.resolve()
        let logger = bootstrapLogging(config.logLevelValue)
        do {
            let runtime = try NodeRuntime(config: config, logger: logger)
            // RPC last: the first service to stop on shutdown.
            try await runtime.run(services: runtime.services() + [try RPCWiring.service(runtime, logger: logger)])
        } catch let e as NodeStartupError {
            logger.critical("cannot start: \(e)")
            throw ExitCode(2)
        }
    }
}

/// `sharechain devnet`: a single-validator node on the embedded devnet genesis, printing each block.
struct DevnetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devnet",
        abstract: "Run a local single-validator devnet on the embedded development genesis (INSECURE keys).",
        discussion: """
            Uses the well-known development validator key, a fresh temporary data directory unless --data-dir is \
            given, and prints every block. --load N submits N transfers per second from the development accounts.
            """)

    @OptionGroup var options: NodeOptions
    @Flag(help: "Do not print a line per block.") var quiet = false

    func run() async throws {
        let dir = options.dataDir ?? (NSTemporaryDirectory() + "sharechain-devnet-\(ProcessInfo.processInfo.processIdentifier)")
        var config = try options.resolve(defaultDataDir: dir)
        if config.validatorKey == nil {
            let keyPath = (dir as NSString).appendingPathComponent("validator-0.key")
            if !FileManager.default.fileExists(atPath: keyPath) {
                var file = KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr", note: "INSECURE development key")
                file.randaoGeneration = 0
                file.randaoChainLength = ValidatorRandao.defaultLength
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try file.write(path: keyPath)
            }
            config.validatorKey = keyPath
        }
        let logger = bootstrapLogging(config.logLevelValue)
        logger.warning("DEVNET: development keys are public; never use them for anything of value")
        do {
            let runtime = try NodeRuntime(config: config, logger: logger)
            var services = runtime.services()
            if !quiet { services.append(BlockPrinter(chain: runtime.chain, hrp: runtime.genesis.addressPrefix)) }
            // RPC last: the first service to stop on shutdown.
            services.append(try RPCWiring.service(runtime, logger: logger))
            printLine("devnet: chain \(runtime.genesis.chainName) \(runtime.genesis.chainId), data in \(config.dataDir)")
            try await runtime.run(services: services)
        } catch let e as NodeStartupError {
            logger.critical("cannot start: \(e)")
            throw ExitCode(2)
        }
    }
}

import ArgumentParser
import Consensus
import Foundation
import Logging
import Node
import Primitives
import RPC
import ServiceLifecycle

/// Options shared by `node` and `devnet`.
struct NodeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("JSON config file: any subset of the node's fields, listed in the README: the camelCase names of these flags, except peers (--peer), rpcCorsOrigins (--rpc-cors-origin), rpcAllowedHosts (--rpc-allowed-hosts), p2pAllowPrivateAddresses (--p2p-allow-private), p2pMaxInbound and p2pMaxOutbound (--max-inbound-peers, --max-outbound-peers); flags override it.",
                               valueName: "file"))
    var config: String?
    @Option(help: "Genesis document (default: the embedded devnet genesis).") var genesis: String?
    @Option(help: "Data directory (the chain database, node key and peer list live here).") var dataDir: String?
    @Option(help: "Validator key file (without one the node only follows the chain).") var validatorKey: String?
    @Option(help: "File holding the passphrase of an encrypted --validator-key (else the environment variable SHARECHAIN_PASSPHRASE).")
    var passphraseFile: String?
    @Option(help: "JSON-RPC listen address, host:port (default 127.0.0.1:8645).") var rpcAddr: String?
    @Option(name: .customLong("rpc-cors-origin"), help: "Origin allowed to call the JSON-RPC from a browser (repeatable; * for any).")
    var rpcCorsOrigins: [String] = []
    @Option(name: .customLong("rpc-allowed-hosts"),
            help: "Names the JSON-RPC accepts in a request's Host header besides localhost and IP literals, comma-separated or repeated (* for any; against DNS rebinding).")
    var rpcAllowedHosts: [String] = []
    @Option(help: "JSON-RPC: most connections one remote host (an IPv4 address or an IPv6 /64, loopback included) may hold open; further ones are closed at once (default \(RPCConfiguration.defaultMaxConnectionsPerHost), at most \(NodeConfig.rpcConnectionsPerHostRange.upperBound)).")
    var rpcMaxConnectionsPerHost: Int?
    @Option(help: "P2P listen address, host:port (default 127.0.0.1:8646).") var p2pAddr: String?
    @Option(name: .customLong("peer"), help: "Bootstrap peer host:port, or nodekeyhex@host:port to require that node there (repeatable).") var peers: [String] = []
    @Option(help: "Directory with the pools' pinned weight files, found by SHA-256 (default Genesis/models).") var weightsDir: String?
    @Option(help: "Log level (default info).") var logLevel: Logger.Level?
    @Option(help: "Log line format on standard error (default text).") var logFormat: LogFormat?
    @Flag(help: "Check the ledger invariants after every block.") var checkInvariants = false
    @Option(help: "Devnet load: transfers per second from the development accounts.") var load: Double?
    @Flag(help: "P2P: accept and announce loopback/private addresses in peer exchange (networks on one machine or a LAN).")
    var p2pAllowPrivate = false
    @Option(help: "State pruning: archive (every height), default (the last --pruning-keep-heights), minimal (from the finalized height).")
    var pruning: PruningSetting?
    @Option(help: "Heights of state kept by --pruning default (default 10000).") var pruningKeepHeights: UInt64?
    @Flag(help: "Start a new data directory from a peer's state snapshot instead of replaying from genesis (ignored once the directory holds blocks).")
    var stateSync = false
    @Option(help: ArgumentHelp("The block --state-sync starts from, HEIGHT:HASH, from a source you trust (default: the newest finalized block --state-sync-min-peers peers offer alike).",
                               valueName: "height:hash"))
    var stateSyncTrustedBlock: String?
    @Option(help: "Peers that must offer the same snapshot block when no trusted block is given (default 2).") var stateSyncMinPeers: Int?
    @Option(help: ArgumentHelp("The most bytes of keys and values a --state-sync snapshot may hold in memory until it is adopted (default 4294967296, 4 GiB); a larger snapshot is declined.",
                               valueName: "bytes"))
    var stateSyncMaxBytes: UInt64?
    @Flag(inversion: .prefixedNo, help: "Serve state snapshots of finalized heights to peers that state-sync (default on).")
    var serveSnapshots: Bool?
    @Flag(help: ArgumentHelp("Testing only: serve corrupted snapshot chunks.", visibility: .private)) var testingCorruptSnapshots = false
    @Option(help: "P2P: most inbound connections (default 32); also the most inbound handshakes under way at once.") var maxInboundPeers: Int?
    @Option(help: "P2P: most outbound connections (default 8).") var maxOutboundPeers: Int?
    @Option(help: ArgumentHelp("P2P: file of node keys or host:port addresses to refuse and disconnect, re-read while running.",
                               visibility: .hidden))
    var p2pBlockFile: String?

    /// The flags that were given, as config fields (nil: not given, so the file or the default applies).
    var flagFields: NodeConfigFile {
        var f = NodeConfigFile()
        f.genesis = genesis
        f.dataDir = dataDir
        f.validatorKey = validatorKey
        f.passphraseFile = passphraseFile
        f.rpcAddr = rpcAddr
        f.rpcCorsOrigins = rpcCorsOrigins.isEmpty ? nil : rpcCorsOrigins
        let allowedHosts = rpcAllowedHosts.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
        f.rpcAllowedHosts = allowedHosts.isEmpty ? nil : allowedHosts
        f.rpcMaxConnectionsPerHost = rpcMaxConnectionsPerHost
        f.p2pAddr = p2pAddr
        f.peers = peers.isEmpty ? nil : peers
        f.weightsDir = weightsDir
        f.logLevel = logLevel
        f.logFormat = logFormat
        // An absent flag cannot say "false": only a given flag overrides the file.
        f.checkInvariants = checkInvariants ? true : nil
        f.load = load
        f.p2pAllowPrivateAddresses = p2pAllowPrivate ? true : nil
        f.p2pMaxInbound = maxInboundPeers
        f.p2pMaxOutbound = maxOutboundPeers
        f.p2pBlockFile = p2pBlockFile
        f.pruning = pruning
        f.pruningKeepHeights = pruningKeepHeights
        f.stateSync = stateSync ? true : nil
        f.stateSyncTrustedBlock = stateSyncTrustedBlock
        f.stateSyncMinPeers = stateSyncMinPeers
        f.stateSyncMaxBytes = stateSyncMaxBytes
        f.serveSnapshots = serveSnapshots
        f.testingCorruptSnapshots = testingCorruptSnapshots ? true : nil
        return f
    }

    /// The config file (if any) overridden by the flags, with defaults for the rest; a missing data directory or
    /// a bad config file is a usage error naming the flag or field.
    func resolve(defaultDataDir: String? = nil) throws -> NodeConfig {
        do {
            return try NodeConfig.merge(file: try config.map { try NodeConfig.load(path: $0) }, flags: flagFields, defaultDataDir: defaultDataDir)
        } catch let e as NodeStartupError {
            throw ValidationError(e.message)
        }
    }

    func validate() throws {
        if let load, !LoadGeneratorService.isPaceable(load) {
            throw ValidationError("--load must be \(LoadGeneratorService.rateRule)")
        }
        // The config file's values are checked by NodeConfig.merge, with the same ranges.
        if let n = maxInboundPeers, !(0...NodeConfig.maxPeerLimit).contains(n) {
            throw ValidationError("--max-inbound-peers must be in 0...\(NodeConfig.maxPeerLimit)")
        }
        if let n = rpcMaxConnectionsPerHost, !NodeConfig.rpcConnectionsPerHostRange.contains(n) {
            throw ValidationError("--rpc-max-connections-per-host must be in \(NodeConfig.rpcConnectionsPerHostRange)")
        }
        if let n = maxOutboundPeers, !(1...NodeConfig.maxPeerLimit).contains(n) {
            throw ValidationError("--max-outbound-peers must be in 1...\(NodeConfig.maxPeerLimit)")
        }
    }
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

            The node listens for peers on --p2p-addr and dials every --peer; it identifies itself with \
            <data-dir>/node.key (created on first start) and remembers peers in <data-dir>/peers.json. A validator \
            with peers configured produces only once it has caught up with them.

            Example: sharechain node --genesis Genesis/devnet.json --data-dir /var/lib/sharechain --validator-key validator.key
            """)

    @OptionGroup var options: NodeOptions

    func run() async throws {
        let config = try options.resolve()
        let logger = bootstrapLogging(config.logLevel, format: config.logFormat)
        do {
            let runtime = try NodeRuntime(config: config, logger: logger)
            let p2p = try runtime.makeP2PService()
            // RPC last: the first service to stop on shutdown.
            try await runtime.run(services: runtime.services(p2p: p2p)
                + [try RPCWiring.service(runtime, logger: logger, network: P2PNetworkInfo(p2p))])
        } catch let e as NodeStartupError {
            logger.critical("cannot start: \(e)")
            throw ExitCode(2)
        }
    }
}

/// `sharechain devnet`: a single-validator node on the embedded devnet genesis, printing each block; or, with
/// `--validators N`, N validator processes on loopback that find each other over P2P.
struct DevnetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devnet",
        abstract: "Run a local devnet: one validator, or --validators N processes on loopback (INSECURE keys).",
        discussion: """
            Uses the well-known development validator keys and a fresh temporary data directory unless --data-dir \
            is given. --load N submits N transfers per second from the development accounts.

            With --validators N (N > 1) it starts N `sharechain node` processes, each with its own data directory \
            (<data-dir>/validator-i), key (validator-i), P2P port (--base-port + i) and RPC port \
            (--base-port + 100 + i), all peering over 127.0.0.1, on Genesis/devnet-4.json for N = 4 or a generated \
            genesis otherwise (or with --slot-seconds, which also gives a one-validator devnet its own genesis). Their logs go to standard error prefixed by name and to \
            <data-dir>/validator-i/node.log. Ctrl-C stops them all cleanly.

            Example: sharechain devnet --validators 4 --slot-seconds 2
            """)

    @OptionGroup var options: NodeOptions
    @Flag(help: "Do not print a line per block.") var quiet = false
    @Option(help: "Number of validator processes (1: this process is the node).") var validators = 1
    @Option(help: "With --validators: first P2P port (P2P base+i, RPC base+100+i).") var basePort = 30_300
    @Option(help: "Generate a genesis with this slot length starting now, in the data directory (without it: the embedded devnet genesis for one validator, Genesis/devnet-4.json for 4).")
    var slotSeconds: UInt64?

    func validate() throws {
        guard (1...64).contains(validators) else { throw ValidationError("--validators must be in 1...64") }
        // Every port (P2P base+i, RPC base+100+i) must be a port: no sum past 65 535 (nor past Int.max).
        guard (1...(65_535 - 100 - 64)).contains(basePort) else { throw ValidationError("--base-port must be in 1...\(65_535 - 100 - 64)") }
        if let s = slotSeconds, s < 1 { throw ValidationError("--slot-seconds must be at least 1") }
        if slotSeconds != nil, options.genesis != nil {
            throw ValidationError("--slot-seconds generates a genesis; it cannot be combined with --genesis")
        }
    }

    func run() async throws {
        if validators > 1 { return try await runMany() }
        let dir = options.dataDir ?? (NSTemporaryDirectory() + "sharechain-devnet-\(ProcessInfo.processInfo.processIdentifier)")
        var config = try options.resolve(defaultDataDir: dir)
        if let slotSeconds {
            if let g = config.genesis { throw ValidationError("--slot-seconds generates a genesis; the config file names one (\(g))") }
            config.genesis = try generatedGenesis(in: config.dataDir, slotSeconds: slotSeconds)
        }
        if config.validatorKey == nil {
            let keyPath = (dir as NSString).appendingPathComponent("validator-0.key")
            if !FileManager.default.fileExists(atPath: keyPath) { try Self.writeDevKey(0, to: keyPath) }
            config.validatorKey = keyPath
        }
        let logger = bootstrapLogging(config.logLevel, format: config.logFormat)
        logger.warning("DEVNET: development keys are public; never use them for anything of value")
        do {
            let runtime = try NodeRuntime(config: config, logger: logger)
            // A lone devnet stays off the network unless asked to join one.
            var services: [any Service]
            var network: any NetworkInfoProvider = NoNetworkInfo()
            if options.p2pAddr != nil || !options.peers.isEmpty {
                let p2p = try runtime.makeP2PService()
                services = runtime.services(p2p: p2p)
                network = P2PNetworkInfo(p2p)
            } else {
                services = runtime.services()
            }
            if !quiet { services.append(BlockPrinter(chain: runtime.chain, hrp: runtime.genesis.addressPrefix)) }
            // RPC last: the first service to stop on shutdown.
            services.append(try RPCWiring.service(runtime, logger: logger, network: network))
            printLine("devnet: chain \(runtime.genesis.chainName) \(runtime.genesis.chainId), data in \(config.dataDir)")
            try await runtime.run(services: services)
        } catch let e as NodeStartupError {
            logger.critical("cannot start: \(e)")
            throw ExitCode(2)
        }
    }

    /// `<dir>/genesis.json` for `validators` development validators and `slotSeconds` slots starting now, written
    /// unless it exists (a restarted devnet continues its chain).
    private func generatedGenesis(in dir: String, slotSeconds: UInt64) throws -> String {
        let path = (dir as NSString).appendingPathComponent("genesis.json")
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var b = DevnetGenesisBuilder(modelFile: ((options.weightsDir ?? "Genesis/models") as NSString).appendingPathComponent("tiny/model.safetensors"))
            b.validators = validators
            b.slotSeconds = slotSeconds
            b.genesisTime = UInt64(Date().timeIntervalSince1970)
            b.chainName = "sharechain-devnet-\(validators)"
            try b.json().write(to: URL(fileURLWithPath: path), options: .atomic)  // a kill never leaves half a genesis
        }
        return path
    }

    static func writeDevKey(_ i: Int, to path: String) throws {
        var file = KeyFile(key: DevelopmentKeys.validator(i), hrp: "shr", note: "INSECURE development key")
        file.randaoGeneration = 0
        file.randaoChainLength = ValidatorRandao.defaultLength
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try file.write(path: path)
    }

    /// Supervises N validator processes.
    private func runMany() async throws {
        let logger = bootstrapLogging(options.logLevel ?? .info, format: options.logFormat ?? .text)
        logger.warning("DEVNET: development keys are public; never use them for anything of value")
        let base = options.dataDir ?? (NSTemporaryDirectory() + "sharechain-devnet\(validators)-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let genesisPath: String
        if let g = options.genesis {
            genesisPath = g
        } else if slotSeconds == nil, validators == 4, FileManager.default.fileExists(atPath: "Genesis/devnet-4.json") {
            genesisPath = "Genesis/devnet-4.json"
        } else {
            genesisPath = try generatedGenesis(in: base, slotSeconds: slotSeconds ?? 10)
        }
        let genesis = try GenesisDocumentLoader.load(genesisPath)
        guard genesis.allocation.validators.count >= validators else {
            throw ValidationError("\(genesisPath) has \(genesis.allocation.validators.count) validators, fewer than --validators \(validators)")
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let ports = (0..<validators).map { basePort + $0 }
        var members = [DevnetSupervisor.Member]()
        for i in 0..<validators {
            let dir = (base as NSString).appendingPathComponent("validator-\(i)")
            let key = (dir as NSString).appendingPathComponent("validator.key")
            if !FileManager.default.fileExists(atPath: key) { try Self.writeDevKey(i, to: key) }
            var args = ["node", "--genesis", genesisPath, "--data-dir", dir, "--validator-key", key,
                        "--p2p-addr", "127.0.0.1:\(ports[i])", "--rpc-addr", "127.0.0.1:\(basePort + 100 + i)", "--p2p-allow-private",
                        "--log-level", (options.logLevel ?? .info).rawValue, "--log-format", (options.logFormat ?? .text).rawValue]
            for (j, p) in ports.enumerated() where j != i { args += ["--peer", "127.0.0.1:\(p)"] }
            if let w = options.weightsDir { args += ["--weights-dir", w] }
            if options.checkInvariants { args.append("--check-invariants") }
            if i == 0, let load = options.load { args += ["--load", "\(load)"] }
            members.append(.init(name: "validator-\(i)", arguments: args, logFile: (dir as NSString).appendingPathComponent("node.log")))
        }
        printLine("devnet: \(validators) validators on chain \(genesis.chainName) \(genesis.chainId), P2P ports \(ports.first ?? 0)-\(ports.last ?? 0), data in \(base)")
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: DevnetSupervisor(executable: exe, members: members, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

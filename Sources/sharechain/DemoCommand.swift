import ArgumentParser
import Consensus
import Foundation
import Logging
import Node
import Primitives
import ServiceLifecycle

/// `sharechain demo` (what `make devnet` runs): the whole economy on loopback.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the devnet demo: validator(s), two honest workers, a cheating worker, their clients and a verifier.",
        discussion: """
            Everything runs as separate processes on 127.0.0.1 with the development genesis (INSECURE keys): the \
            validator(s) (`sharechain node`), three `sharechain worker-sim` processes (the third corrupts outputs; \
            each also plays a client paying through an escrow) and a `sharechain verifier`. A summary of the \
            economy is printed every few blocks, with each worker's net since genesis (pay in; slashes and fees \
            out), so honest work compares with each adversary: token prices are well above transaction fees and \
            workers bond 1 000 000. The processes' logs are in <data-dir>/<name>/. Ctrl-C stops it all.

            --fast uses 1-second slots and 6-block windows (a fresh genesis starting now), so windows settle and the \
            cheater is caught within a minute or two.
            """)

    /// Each client's escrow deposit: at the development prices a worker earns tens of thousands a window, so this
    /// pays for hours of the default demo (a client account holds 10⁹).
    static let clientDeposit: UInt64 = 100_000_000
    /// The self-dealer pays itself from its own account (a development worker holds 10⁷): a deposit it can afford. With
    /// the client's deposit its escrow opening failed for want of balance, so it never dealt with itself, and the only
    /// money it lost was the fees of those failed openings (the mempool now refuses them outright).
    static let selfDealDeposit: UInt64 = 5_000_000

    @Option(help: "Validator processes (1 or 4 use Genesis/devnet*.json).") var validators = 1
    @Option(help: "Data directory (default: a new temporary directory).") var dataDir: String?
    @Option(help: "First P2P port (P2P base+i, RPC base+100+i, metrics base+200+i).") var basePort = 30_300
    @Option(help: "Directory with the pinned weight files.") var weightsDir = "Genesis/models"
    @Option(help: "Fraction of the cheating worker's outputs that are corrupted.") var cheat: Double = 0.5
    @Option(help: "Extra adversarial workers, comma-separated, each strategy at most once: fabricate, withhold, duplicate, inflate, self-deal, late, reuse (needs --fast; each is a bonded worker with a client of its own).")
    var adversary: String = ""
    @Option(help: "Checker processes (needs --fast): the pool gets assigned, paid checkers and sealed reveals (Specs/verification.md).")
    var checkers = 0
    @Option(help: """
        Probability that each client challenges each hop receipt of its worker, from an account apart from its escrow \
        (protocol 5, Specs/economics.md §4.1; with --checkers the answers carry no input).
        """)
    var hopChallengeRate: Double = 0.1

    @Option(help: "Print the summary every this many blocks.") var summaryEvery: UInt64 = 3
    @Option(help: "Transfers per second submitted to the first validator.") var load: Double = 1
    @Flag(help: "1-second slots and short windows (a fresh genesis).") var fast = false
    @Option(help: "Log level of the demo's own log (members log to files at info).") var logLevel: Logger.Level = .notice
    @Option(help: "Log line format of the demo's own log and of the members' log files.") var logFormat: LogFormat = .text

    var adversaries: [String] { adversary.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard (1...64).contains(validators) else { throw ValidationError("--validators must be in 1...64") }
        // Every port (P2P base+i, RPC base+100+i, metrics base+200+i and base+210...) must be a port.
        guard (1...(65_535 - 300)).contains(basePort) else { throw ValidationError("--base-port must be in 1...\(65_535 - 300)") }
        guard adversaries.isEmpty || fast else { throw ValidationError("--adversary needs --fast (a fresh genesis bonds the extra workers)") }
        guard checkers == 0 || fast else { throw ValidationError("--checkers needs --fast (a fresh genesis with a checking section)") }
        guard (0...8).contains(checkers) else { throw ValidationError("--checkers: 0...8") }
        guard Set(adversaries).count == adversaries.count else { throw ValidationError("--adversary: each strategy at most once") }
        guard (0...1).contains(cheat) else { throw ValidationError("--cheat must be between 0 and 1") }
        guard (0...1).contains(hopChallengeRate) else { throw ValidationError("--hop-challenge-rate must be between 0 and 1") }
        guard LoadGeneratorService.isPaceable(load) else { throw ValidationError("--load must be \(LoadGeneratorService.rateRule)") }
        for a in adversaries where WorkerAdversary(rawValue: a) == nil {
            throw ValidationError("--adversary: unknown strategy '\(a)' (\(WorkerAdversary.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() async throws {
        let logger = bootstrapLogging(logLevel, format: logFormat)
        let base = dataDir ?? (NSTemporaryDirectory() + "sharechain-demo-\(ProcessInfo.processInfo.processIdentifier)")
        let fm = FileManager.default
        try fm.createDirectory(atPath: base, withIntermediateDirectories: true)
        func path(_ p: String) -> String { (base as NSString).appendingPathComponent(p) }
        let weights = URL(fileURLWithPath: weightsDir).standardizedFileURL.path
        guard fm.fileExists(atPath: (weights as NSString).appendingPathComponent("tiny/model.safetensors")) else {
            throw ValidationError("\(weights) does not hold tiny/model.safetensors; run from the repository or pass --weights-dir")
        }

        // The genesis: the shipped development documents, or a fresh fast one.
        let genesisPath = path("genesis.json")
        if !fm.fileExists(atPath: genesisPath) {
            if !fast && validators == 1 {
                try EmbeddedGenesis.devnet.write(toFile: genesisPath, atomically: true, encoding: .utf8)
            } else if !fast && validators == 4 {
                try EmbeddedGenesis.devnet4.write(toFile: genesisPath, atomically: true, encoding: .utf8)
            } else {
                var b = DevnetGenesisBuilder(modelFile: (weights as NSString).appendingPathComponent("tiny/model.safetensors"))
                b.validators = validators
                b.genesisTime = UInt64(Date().timeIntervalSince1970)
                b.chainName = "sharechain-demo"
                b.workers = 3 + adversaries.count
                // Each worker also plays a client paying from its own development account (1, 2, …) and challenging its
                // receipts from another (after those).
                b.accounts = max(b.accounts, 2 * b.workers + 1)
                b.checkers = checkers
                if fast {
                    b.slotSeconds = 1
                    b.windowBlocks = 6
                    b.commitGraceBlocks = 2
                    b.challengeBlocks = 2
                    b.revealDeadlineBlocks = 4
                    b.fraudRevealBlocks = 3
                    b.beaconDelay = 1
                    b.beaconMaxDelay = 4
                    b.spotCheckPpm = 300_000
                    b.slotsPerEpoch = 600
                }
                if checkers > 0 {
                    b.spotCheckPpm = 100_000
                }
                try b.json().write(to: URL(fileURLWithPath: genesisPath))
            }
        }
        let genesis = try GenesisDocumentLoader.load(genesisPath)
        guard genesis.allocation.validators.count >= validators else {
            throw ValidationError("the genesis has \(genesis.allocation.validators.count) validators, fewer than --validators \(validators)")
        }

        // Keys (development keys: public, insecure).
        try fm.createDirectory(atPath: path("keys"), withIntermediateDirectories: true)
        func writeKey(_ name: String, _ key: PrivateKey, validator: Bool = false) throws -> String {
            let p = path("keys/\(name).key")
            if !fm.fileExists(atPath: p) {
                var f = KeyFile(key: key, hrp: genesis.addressPrefix, note: "INSECURE development key '\(name)'")
                if validator { f.randaoGeneration = 0; f.randaoChainLength = ValidatorRandao.defaultLength }
                try f.write(path: p)
            }
            return p
        }

        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let p2p = (0..<validators).map { basePort + $0 }
        let rpc = (0..<validators).map { basePort + 100 + $0 }
        var members = [DevnetSupervisor.Member]()
        func member(_ name: String, _ args: [String]) throws {
            try fm.createDirectory(atPath: path(name), withIntermediateDirectories: true)
            members.append(.init(name: name, arguments: args, logFile: path("\(name)/log.txt"), echo: false))
        }
        for i in 0..<validators {
            var args = ["node", "--genesis", genesisPath, "--data-dir", path("validator-\(i)"),
                        "--validator-key", try writeKey("validator-\(i)", DevelopmentKeys.validator(i), validator: true),
                        "--p2p-addr", "127.0.0.1:\(p2p[i])", "--rpc-addr", "127.0.0.1:\(rpc[i])", "--p2p-allow-private",
                        "--weights-dir", weights, "--check-invariants", "--log-format", logFormat.rawValue]
            for (j, port) in p2p.enumerated() where j != i { args += ["--peer", "127.0.0.1:\(port)"] }
            if i == 0 && load > 0 { args += ["--load", "\(load)"] }
            try member("validator-\(i)", args)
        }
        var roles: [(name: String, worker: Int, shard: Int, cheat: Double)] = [
            ("worker-0", 0, 0, 0), ("worker-1", 1, 1, 0), ("cheater", 2, 0, cheat),
        ]
        for (k, a) in adversaries.enumerated() { roles.append((a, 3 + k, k % 2, 0)) }
        var names = [PublicKey: String]()
        for (i, r) in roles.enumerated() {
            let client = DevelopmentKeys.account(i + 1)
            names[DevelopmentKeys.worker(r.worker).publicKey] = r.name
            names[client.publicKey] = "client-\(i)"
            let challenger = DevelopmentKeys.account(roles.count + i + 1)
            names[challenger.publicKey] = "challenger-\(i)"
            try member(r.name, ["worker-sim", "--rpc", "http://127.0.0.1:\(rpc[i % validators])",
                                "--key", try writeKey(r.name, DevelopmentKeys.worker(r.worker)), "--pool", "0", "--shard", "\(r.shard)",
                                "--cheat", "\(r.cheat)", "--adversary", i >= 3 ? r.name : "honest",
                                "--hop-challenge-rate", "\(hopChallengeRate)",
                                "--client-key", try writeKey("client-\(i)", client),
                                "--challenger-key", try writeKey("challenger-\(i)", challenger),
                                "--deposit", "\(r.name == "self-deal" ? Self.selfDealDeposit : Self.clientDeposit)", "--weights-dir", weights,
                                "--passes", checkers > 0 ? "30" : "10", "--log-format", logFormat.rawValue, "--poll", fast ? "0.5" : "2", "--metrics-addr", "127.0.0.1:\(basePort + 200 + i)"])
        }
        names[DevelopmentKeys.verifier.publicKey] = "verifier"
        for i in 0..<validators { names[DevelopmentKeys.validator(i).publicKey] = "validator-\(i)" }
        try member("verifier", ["verifier", "--rpc", "http://127.0.0.1:\(rpc[validators - 1])",
                                "--key", try writeKey("verifier", DevelopmentKeys.verifier), "--weights-dir", weights,
                                "--state-file", path("verifier/checked.txt"), "--log-format", logFormat.rawValue, "--poll", fast ? "0.5" : "2",
                                "--metrics-addr", "127.0.0.1:\(basePort + 210)"])

        // Twice the pool's minimum, so one slash for an absence leaves a checker registered.
        let checkerBond = 2 * (genesis.allocation.pools.first?.checking?.checkerMinStake.units ?? 10_000)
        for i in 0..<checkers {
            let name = "checker-\(i)"
            names[DevelopmentKeys.checker(i).publicKey] = name
            try member(name, ["checker", "--rpc", "http://127.0.0.1:\(rpc[i % validators])",
                              "--key", try writeKey(name, DevelopmentKeys.checker(i)), "--pool", "0", "--bond", "\(checkerBond)",
                              "--weights-dir", weights, "--log-format", logFormat.rawValue, "--poll", "0.5",
                              "--metrics-addr", "127.0.0.1:\(basePort + 220 + i)"])
        }

        printLine("""
            sharechain demo: chain \(genesis.chainName) \(genesis.chainId)
              \(validators) validator(s) (RPC http://127.0.0.1:\(rpc[0])), workers worker-0 and worker-1 (honest), \
            cheater (corrupts \(Int(cheat * 100)) % of its outputs), their clients, a verifier\(checkers > 0 ? ", and \(checkers) checkers (sealed reveals)" : "")
              logs and data in \(base); Ctrl-C stops everything
            """)
        let summary = DevnetSummary(client: try RPCChainClient(url: "http://127.0.0.1:\(rpc[0])"), names: names,
                                    genesis: genesis.allocation)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: DevnetSupervisor(executable: exe, members: members, logger: logger)),
                       .init(service: SummaryService(summary: summary, everyBlocks: summaryEvery, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

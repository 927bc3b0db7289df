import Foundation
import Ledger
import Logging
@testable import Node
@testable import Primitives
import ServiceLifecycle
import TestSupport

/// A validator node in this process on `EconomyGenesis.json()` (1-second slots, short windows), and the
/// simulated workers that talk to it through `LocalChainClient`: the setup the economy and replay tests share.
struct InProcessChain {
    let dir: TempDir
    let runtime: NodeRuntime
    let client: LocalChainClient
    let weights: WeightsIndex
    let logger: Logger

    init(label: String, checkInvariants: Bool = false) throws {
        dir = TempDir(label)
        let keyPath = dir.file("validator.key")
        var file = KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr")
        file.randaoChainLength = 4096
        try file.write(path: keyPath)
        var config = NodeConfig(dataDir: dir.file("data"))
        config.validatorKey = keyPath
        config.weightsDir = repositoryRoot.appendingPathComponent("Genesis/models").path
        config.checkInvariants = checkInvariants
        var logger = Logger(label: label)
        logger.logLevel = .warning
        self.logger = logger
        runtime = try NodeRuntime(config: config, logger: logger, genesisJSON: try EconomyGenesis.json())
        client = LocalChainClient(chain: runtime.chain)
        weights = try WeightsIndex(directory: config.weightsDir)
    }

    /// Development worker `i` on shard `i % 2`, paid by the development client, corrupting `cheat` of its outputs
    /// (and playing `adversary`), talking to the node through `client` (by default the plain local one).
    func worker(_ i: Int, cheat: Double, adversary: WorkerAdversary = .honest, client: (any ChainClient)? = nil,
                hopChallengeRate: Double = 0, challengerKey: PrivateKey? = nil) -> WorkerSimulator {
        var c = WorkerSimulatorConfig()
        c.hopChallengeRate = hopChallengeRate
        c.challengerKey = challengerKey
        c.cheatRate = cheat
        c.adversary = adversary
        c.shard = i % 2
        c.clientKey = DevelopmentKeys.client
        c.seed = UInt64(i + 1)
        c.pollInterval = .milliseconds(300)
        return WorkerSimulator(key: DevelopmentKeys.worker(i), client: client ?? self.client, weights: weights, config: c, logger: logger)
    }

    /// Runs the node with `services` until `done` holds of its state (looked at every 300 ms, for at most `limit`), then
    /// `inspect`s it, given whether `done` held, while everything still runs, and shuts down gracefully.
    func run(with services: [any Service], limit: Duration = .seconds(240),
             until done: @escaping @Sendable (LedgerReader) throws -> Bool, then inspect: (Bool) async throws -> Void) async throws {
        let runtime = self.runtime
        let group = ServiceGroup(configuration: .init(services: (runtime.services() + services).map { .init(service: $0) }, logger: logger))
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { try await group.run(); return false }
            tasks.addTask {
                let deadline = ContinuousClock.now + limit
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(300))
                    if try done(LedgerReader(try runtime.chain.readView())) { return true }
                }
                return false
            }
            try await inspect(try await tasks.next()!)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

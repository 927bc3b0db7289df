import Foundation
import Logging
@testable import Node
@testable import Primitives
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
}

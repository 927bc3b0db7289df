import Consensus
import Foundation
import Ledger
import Logging
import Primitives
import ServiceLifecycle
import Storage

/// The node's wall clock, the only one consensus consults (blocks from the future are held back).
public enum SystemClock {
    @Sendable public static func unixMillis() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
}

/// Closes the chain database when the node shuts down (the first service, so the last to stop); stops the node
/// when the database refuses a write (a full disk, an I/O error), which RocksDB keeps refusing until it is reopened:
/// the node would otherwise stay up, failing every block for ever, even after space is freed.
struct DatabaseService: Service {
    let store: ChainStore
    let logger: Logger
    /// How often the store's write failure is looked at.
    static let watchInterval = Duration.milliseconds(250)

    func run() async throws {
        // Runs until graceful shutdown (or cancellation), then closes the database; or until a write fails.
        let failure: StorageError? = try? await cancelWhenGracefulShutdown {
            while true {
                if let failure = store.writeFailure { return failure }
                try await Task.sleep(for: Self.watchInterval)
            }
        }
        if let failure {
            // Committed blocks are intact (every block is one atomic batch): a restart continues from them.
            logger.critical("the chain database refused a write; stopping the node (free disk space or repair the disk, then restart it: committed blocks are kept)",
                            metadata: ["error": "\(failure)"])
            throw failure
        }
        for attempt in 0..<50 {
            do {
                try store.close()
                logger.info("database closed")
                return
            } catch StorageError.busy {
                // A reader (an RPC snapshot) is still alive: give it a moment.
                try? await Task.sleep(for: .milliseconds(20 * (attempt + 1)))
            } catch {
                logger.error("closing the database: \(error)")
                return
            }
        }
        logger.warning("database still busy at shutdown; closing when the last reader is gone")
    }
}

/// The room a data directory's file system has left.
public enum DataDirectory {
    /// Free space below which a node refuses to start (a margin for the database's recovery at open and a few blocks).
    public static let minimumFreeBytes: UInt64 = 64 << 20

    /// Bytes an unprivileged process may still write on the file system holding `path` (nil: unknown).
    public static func availableBytes(_ path: String) -> UInt64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }
}

/// A node assembled from its configuration: the chain, and the services that run around it.
public final class NodeRuntime: Sendable {
    public let config: NodeConfig
    public let genesis: Genesis
    public let chain: ChainService
    public let store: ChainStore
    public let logger: Logger
    public let validator: ValidatorIdentity?
    /// Extra services (P2P, RPC, verifier, ...) registered by the caller before `run`, in start order.
    public let extraServices: [any Service]

    /// Loads the genesis (file or embedded devnet), opens the database, checks the weights, reads the
    /// validator key. Every failure is a `NodeStartupError` with what to do about it.
    public init(config: NodeConfig, logger: Logger, genesisJSON: String? = nil, extraServices: [any Service] = []) throws {
        self.config = config
        self.logger = logger
        self.extraServices = extraServices
        let genesis: Genesis
        do {
            if let path = config.genesis { genesis = try GenesisDocument.load(path: path) }
            else { genesis = try GenesisDocument.decode(Data((genesisJSON ?? EmbeddedGenesis.devnet).utf8)).resolve() }
        } catch { throw NodeStartupError("\(error)") }
        self.genesis = genesis
        if config.genesis == nil, genesisJSON == nil {
            // The development genesis's keys are public (Genesis/devnet.json): fine for a try-out, never for value.
            logger.warning("no --genesis given: running the embedded development genesis \(genesis.chainName), whose validator and account keys are public; give --genesis for any other network")
        }

        let weights: WeightsIndex
        do {
            weights = try WeightsIndex(directory: config.weightsDir)
            try weights.check(pools: genesis.allocation.pools)
        } catch { throw NodeStartupError("\(error)") }

        // The validator key is read before anything is created: a wrong key file or passphrase stops the node without
        // leaving a half-made data directory (a database and a node key) behind.
        var validatorKey: (key: PrivateKey, file: KeyFile)?
        if let keyPath = config.validatorKey {
            // A node runs unattended: it never prompts; a missing or wrong passphrase is a startup error.
            do {
                validatorKey = try KeyFile.load(path: keyPath, passphrase: KeyPassphrase(file: config.passphraseFile, prompt: false),
                                                warn: { logger.warning("\($0)") })
            } catch let e as KeyFileError {
                throw NodeStartupError("validator key: \(e)")
            }
        }

        do { try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true) } catch {
            throw NodeStartupError("cannot create data directory \(config.dataDir): \(error.localizedDescription)")
        }
        // Opening the database writes (recovering its log writes a table, a manifest, an options file), and RocksDB,
        // the distribution's build with its assertions on, aborts when the disk is full then: say so instead.
        if let free = DataDirectory.availableBytes(config.dataDir), free < DataDirectory.minimumFreeBytes {
            throw NodeStartupError("the file system of \(config.dataDir) has \(free >> 20) MiB free; the node needs at least "
                + "\(DataDirectory.minimumFreeBytes >> 20) MiB to open its database: free some space, then start it again")
        }
        let dbPath = (config.dataDir as NSString).appendingPathComponent("chain")
        let store: ChainStore
        do { store = try ChainStore(path: dbPath, genesis: genesis.chainId) } catch {
            throw NodeStartupError("cannot open the chain database: \(error)")
        }
        self.store = store
        let engine: ChainEngine
        do { engine = try ChainEngine(genesis: genesis, store: store, adjudicator: VerifierAdjudicator(weights: weights)) } catch {
            throw NodeStartupError("cannot start the chain: \(error)")
        }
        let tip = engine.tipHeight
        // The fork-choice pass over stored side branches at opening (Specs/consensus.md §4, "Restart").
        let opening = engine.openingForkChoice
        for change in opening.switches {
            logger.warning("switched to a stored side branch at startup (completing an interrupted reorganisation)", metadata: [
                "from": "\(change.oldTip.hex.prefix(16))", "to": "\(change.newTip.hex.prefix(16))", "height": "\(change.newHeight)",
                "reverted": "\(change.reverted.count)", "applied": "\(change.applied.count)",
                "commonAncestor": "\(change.commonAncestor.hex.prefix(16))",
            ])
        }
        if opening.candidates > 0 {
            logger.info("startup fork choice over stored side branches", metadata: [
                "candidates": "\(opening.candidates)", "switches": "\(opening.switches.count)", "rejected": "\(opening.rejected.count)",
                "tip": "\(engine.tipHash.hex.prefix(16))", "height": "\(engine.tipHeight)",
            ])
        }

        if let (key, file) = validatorKey {
            let generations = Int(file.randaoGeneration ?? 0)
            let length = file.randaoChainLength ?? ValidatorRandao.defaultLength
            let chains = (0...generations).map { ValidatorRandao.chain(for: key, generation: UInt32($0), length: length) }
            validator = ValidatorIdentity(key: key, chains: chains)
            logger.info("validator key loaded", metadata: ["address": "\(Address.encode(key.publicKey, hrp: genesis.addressPrefix))"])
            // The slashing-protection records are read here too, so that an unreadable one stops the node before
            // anything listens (the producer and the voter read them again when they start).
            _ = try BlockSigningProtection.load(NodeRuntime.signedBlocksFile(config.dataDir))
            _ = try FinalityVoterService.loadProtection(NodeRuntime.finalityVotesFile(config.dataDir))
        } else {
            validator = nil
        }
        // A validator node submits evidence of the equivocations it sees, paid from its key's account.
        chain = ChainService(engine: engine, clock: SystemClock.unixMillis, evidenceReporter: validator?.key)
        logger.info("chain opened", metadata: [
            "chain": "\(genesis.chainName)", "chainId": "\(genesis.chainId.hex.prefix(16))", "height": "\(tip)", "data": "\(config.dataDir)",
        ])
    }

    /// `<dataDir>/signed-blocks.json`: the highest slot the validator signed a block for (``BlockSigningProtection``).
    public static func signedBlocksFile(_ dataDir: String) -> String { (dataDir as NSString).appendingPathComponent("signed-blocks.json") }

    /// `<dataDir>/finality-votes.json`: the finality votes the validator signed (slashing protection).
    public static func finalityVotesFile(_ dataDir: String) -> String { (dataDir as NSString).appendingPathComponent("finality-votes.json") }

    /// The services in start order; shutdown runs in reverse (the database closes last).
    public func services(isSynced: @escaping @Sendable () async -> Bool = { true },
                         broadcast: @escaping @Sendable (Block) async -> Void = { _ in }) -> [any Service] {
        var s: [any Service] = [DatabaseService(store: store, logger: logger)]
        if let validator {
            s.append(BlockProducerService(chain: chain, identity: validator, protectionFile: Self.signedBlocksFile(config.dataDir),
                                          logger: logger, isSynced: isSynced, broadcast: broadcast))
            s.append(FinalityVoterService(chain: chain, key: validator.key, protectionFile: Self.finalityVotesFile(config.dataDir),
                                          logger: logger, isSynced: isSynced))
        }
        s.append(StatePrunerService(chain: chain, store: store, mode: config.pruningMode, logger: logger))
        s.append(ChainStatusLogger(chain: chain, logger: logger))
        if config.load > 0 { s.append(LoadGeneratorService(chain: chain, perSecond: config.load, logger: logger)) }
        s.append(contentsOf: extraServices)
        return s
    }

    /// Runs until SIGINT or SIGTERM, then shuts the services down in reverse order.
    public func run(services: [any Service]) async throws {
        if config.checkInvariants { try await chain.setInvariantChecking(true) }
        let group = ServiceGroup(configuration: .init(
            // A database that refuses writes stops the node in order (RPC first), then `run` throws its error.
            services: ([ShutdownSignalLogger(logger: logger)] + services).map {
                .init(service: $0, failureTerminationBehavior: $0 is DatabaseService ? .gracefullyShutdownGroup : .cancelGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

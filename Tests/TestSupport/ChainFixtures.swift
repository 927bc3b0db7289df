import Consensus
import Foundation
import Ledger
import Logging
import Node
import Primitives
import Storage

// Chains for tests that need a node's pieces in process: the P2P unit tests and the system tests.

/// Never asked in these tests (no fraud proofs); refuses if it is.
public struct NoAdjudicator: Adjudicator {
    public struct Unavailable: Error {}
    public init() {}
    public func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
}

/// Development genesis documents for tests: short slots, short RANDAO chains, small finality depth.
public struct TestGenesis: Sendable {
    public static let randaoLength = 20_000
    public let document: GenesisDocument
    public let genesis: Genesis

    public init(validators: Int = 4, slotSeconds: UInt64 = 1, genesisTime: UInt64 = UInt64(Date().timeIntervalSince1970),
         finalityDepth: UInt64 = 30, slotsPerEpoch: UInt64 = 60, maxBlockTransactions: Int? = nil, accounts: Int = 8,
         checkpointBlocks: UInt64 = 4) throws {
        var b = DevnetGenesisBuilder(modelFile: Paths.tinyModel)
        b.pinTestEconomy()
        b.validators = validators
        b.slotSeconds = slotSeconds
        b.genesisTime = genesisTime
        b.randaoLength = Self.randaoLength
        b.accounts = accounts
        b.chainName = "p2p-test"
        var doc = try b.document()
        doc.consensus?.finalityDepth = finalityDepth
        if let maxBlockTransactions { doc.consensus?.maxBlockTransactions = maxBlockTransactions }
        doc.ledger?.slotsPerEpoch = slotsPerEpoch
        doc.ledger?.checkpointBlocks = checkpointBlocks
        document = doc
        genesis = try doc.resolve()
    }

    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(document).write(to: URL(fileURLWithPath: path))
    }

    public static func identity(_ i: Int) -> ValidatorIdentity {
        let key = DevelopmentKeys.validator(i)
        return ValidatorIdentity(key: key, chains: [ValidatorRandao.chain(for: key, length: randaoLength)])
    }

    /// A validator key file matching the short RANDAO chains.
    public static func writeKey(_ i: Int, to path: String) throws {
        var file = KeyFile(key: DevelopmentKeys.validator(i), hrp: "shr", note: "test validator \(i)")
        file.randaoGeneration = 0
        file.randaoChainLength = randaoLength
        try file.write(path: path, overwrite: true)
    }

    /// A chain service on a fresh store under `dir` (the layout a node uses: `<dir>/chain`).
    public func chainService(dataDir: String, clock: TestClock? = nil) throws -> ChainService {
        var o = DatabaseOptions()
        o.syncWrites = false
        let store = try ChainStore(path: (dataDir as NSString).appendingPathComponent("chain"), genesis: genesis.chainId, options: o)
        let engine = try ChainEngine(genesis: genesis, store: store, adjudicator: NoAdjudicator())
        if let clock { return ChainService(engine: engine, clock: { clock.now }) }
        return ChainService(engine: engine, clock: SystemClock.unixMillis)
    }

    /// Produces a block in every slot from the tip's next slot through `lastSlot`, as that slot's leader,
    /// with `clock` set inside each slot (fast-forward: the slots are in the past).
    public func produce(on chain: ChainService, through lastSlot: UInt64, clock: TestClock, identities: inout [ValidatorIdentity],
                 transactions: (UInt64) -> [SignedTransaction] = { _ in [] }) async throws {
        var slot = await chain.status().slot + 1
        while slot <= lastSlot {
            clock.set(genesis.slotStartMillis(slot) + 5)
            for tx in transactions(slot) { _ = try? await chain.submit(tx) }
            for i in identities.indices {
                if try await chain.produce(slot: slot, identity: &identities[i], deadline: .max) != nil { break }
            }
            slot += 1
        }
    }
}

/// A logger that keeps quiet unless `P2P_TEST_LOGS=1`.
public func testLogger(_ label: String) -> Logger {
    var l = Logger(label: label, factory: { label in
        if ProcessInfo.processInfo.environment["P2P_TEST_LOGS"] == "1" { return StreamLogHandler.standardError(label: label) }
        return SwiftLogNoOpLogHandler()
    })
    l.logLevel = .debug
    return l
}

/// The genesis of the in-process economy on 1-second slots with short windows (the economy, ticket-replay and
/// key-store tests).
public enum EconomyGenesis {
    /// The document as JSON, its genesis time a few seconds before `now` (the chain starts at once).
    public static func json(now: Date = Date()) throws -> String {
        var b = DevnetGenesisBuilder(modelFile: Paths.tinyModel)
        b.pinTestEconomy()
        b.slotSeconds = 1
        b.genesisTime = UInt64(now.timeIntervalSince1970) - 5
        b.chainName = "economy-test"
        b.windowBlocks = 6
        b.commitGraceBlocks = 2
        b.challengeBlocks = 2
        b.revealDeadlineBlocks = 4
        b.fraudRevealBlocks = 3
        b.beaconDelay = 1
        b.beaconMaxDelay = 3  // the least hop-challenge span genesis accepts (samples are still drawn after 1 block)
        b.spotCheckPpm = 400_000
        b.slotsPerEpoch = 600
        b.jailBlocks = 100
        b.randaoLength = 4096
        return String(decoding: try b.json(), as: UTF8.self)
    }
}

extension DevnetGenesisBuilder {
    /// The prices and worker stake the in-process tests' expected amounts were worked out with: a token at one unit
    /// and 10 000 bonded per worker (the shipped development chains price a token at 100 and bond 1 000 000).
    mutating func pinTestEconomy() {
        priceScale = 1
        workerStake = 10_000
    }
}

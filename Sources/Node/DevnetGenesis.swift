import Consensus
import Foundation
import Ledger
import Primitives

/// Builds development genesis documents (`Genesis/devnet.json`, `Genesis/devnet-4.json`).
public struct DevnetGenesisBuilder {
    public var validators = 1
    public var accounts = 8
    public var workers = 3
    /// Funded checker accounts (`DevelopmentKeys.checker`); with any, the pool gets a checking section
    /// (Specs/verification.md) and its tickets are checked by assigned checkers with sealed reveals.
    public var checkers = 0
    /// Checkers per ticket when `checkers > 0` (at most `checkers`).
    public var checkersPerTicket: UInt32 = 3
    /// Token prices are multiplied by this: an input token costs `priceScale`, an output token three times that.
    /// The default puts a window's pay far above the transaction fees a worker spends earning it (a reveal alone
    /// is about a kilobyte at one unit per byte), so honest work shows a clear net gain on the development chains;
    /// a pool with checkers needs it too, or a check fee cannot pay for the two transactions of a check.
    public var priceScale: UInt64 = 1_000
    /// Each worker's genesis stake. The payable cap is a share of it (`payableCapBps`), so the default leaves room
    /// for a window's pay at the default prices.
    public var workerStake: Amount = 1_000_000
    /// The check fee of a pool with checkers; by default `15 × priceScale`, which pays for a check's two
    /// transactions and lies above the replay-cost bound (an output token's price × maxTokensPerPass / 4 =
    /// `12 × priceScale`).
    public var checkFee: Amount?
    public var genesisTime: UInt64 = 1_793_491_200  // 2026-11-01T00:00:00Z
    public var slotSeconds: UInt64 = 10
    public var chainName = "sharechain-devnet"
    public var randaoLength = ValidatorRandao.defaultLength
    /// Path of the tiny model's safetensors file (hashed into the pool definition).
    public var modelFile: String
    /// The path recorded in the document as a hint for operators.
    public var modelFileHint = "models/tiny/model.safetensors"
    /// Pool and chain timing (blocks); the defaults suit a 10-second devnet.
    public var windowBlocks: UInt64 = 12
    public var commitGraceBlocks: UInt64 = 3
    public var challengeBlocks: UInt64 = 6
    public var revealDeadlineBlocks: UInt64 = 6
    public var fraudRevealBlocks: UInt64 = 4
    public var spotCheckPpm: UInt32 = 100_000
    public var beaconDelay: UInt64 = 2
    /// Blocks after which tickets are drawn even without three distinct proposers since the commitment.
    public var beaconMaxDelay: UInt64 = 8
    public var slotsPerEpoch: UInt64 = 60
    public var jailBlocks: UInt64 = 30
    public var unbondingBlocks: UInt64 = 120
    public var finalityDepth: UInt64 = 30

    public init(modelFile: String) { self.modelFile = modelFile }

    /// SHA-256 of a file, streaming.
    public static func sha256(ofFile path: String) throws -> Hash32 {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw KeyFileError("cannot open \(path)\(path.hasPrefix("/") ? "" : " (relative to the current directory)")")
        }
        defer { try? h.close() }
        var hasher = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update([UInt8](chunk)) }
        return hasher.finalize()
    }

    public func document() throws -> GenesisDocument {
        let hrp = "shr"
        let weights: Hash32
        do { weights = try Self.sha256(ofFile: modelFile) } catch {
            throw KeyFileError("the model's weight file: \(error) (give --model)")
        }
        func addr(_ k: PrivateKey) -> String { Address.encode(k.publicKey, hrp: hrp) }
        var balances = (0..<accounts).map {
            GenesisDocument.Balance(address: addr(DevelopmentKeys.account($0)), amount: 1_000_000_000, note: "dev account \($0)")
        }
        balances += (0..<workers).map {
            GenesisDocument.Balance(address: addr(DevelopmentKeys.worker($0)), amount: 10_000_000, note: "dev worker \($0)")
        }
        balances += (0..<checkers).map {
            GenesisDocument.Balance(address: addr(DevelopmentKeys.checker($0)), amount: 10_000_000, note: "dev checker \($0)")
        }
        balances.append(.init(address: addr(DevelopmentKeys.client), amount: 1_000_000_000, note: "dev client"))
        balances.append(.init(address: addr(DevelopmentKeys.verifier), amount: 100_000_000, note: "dev verifier"))
        balances += (0..<validators).map {
            GenesisDocument.Balance(address: addr(DevelopmentKeys.validator($0)), amount: 10_000_000, note: "dev validator \($0) (fees)")
        }
        let vals = (0..<validators).map { i in
            GenesisDocument.Validator(address: addr(DevelopmentKeys.validator(i)), stake: 100_000,
                                      randaoCommitment: ValidatorRandao.chain(for: DevelopmentKeys.validator(i), length: randaoLength).commitment.hex,
                                      note: "dev validator \(i)")
        }
        let ws = (0..<workers).map { GenesisDocument.Worker(address: addr(DevelopmentKeys.worker($0)), pool: 0, stake: workerStake) }
        let model = GenesisDocument.Model(hiddenSize: 64, numHeads: 4, numKVHeads: 2, headDim: 16, intermediateSize: 128, numLayers: 4,
                                          rmsNormEpsBits: "0x358637bd", ropeThetaBits: "0x461c4000", qkvBias: true)
        let checkFee = self.checkFee ?? Amount(15 * priceScale)
        let pool = GenesisDocument.Pool(
            modelId: "sharechain-tiny", executorSpec: "canon-f32-v1", model: model,
            shards: [GenesisDocument.Shard(layerStart: 0, layerEnd: 2, finalNorm: false, weightsFile: modelFileHint, weightsSHA256: weights.hex),
                     GenesisDocument.Shard(layerStart: 2, layerEnd: 4, finalNorm: true, weightsFile: modelFileHint, weightsSHA256: weights.hex)],
            priceInputToken: Amount(priceScale), priceOutputToken: Amount(3 * priceScale), minWorkerStake: 1_000,
            windowBlocks: windowBlocks, commitGraceBlocks: commitGraceBlocks, challengeBlocks: challengeBlocks,
            spotCheckPpm: spotCheckPpm, maxTicketsPerCommitment: 8, ticketFee: 1,
            revealDeadlineBlocks: revealDeadlineBlocks, fraudRevealBlocks: fraudRevealBlocks, fraudSlashBps: 5_000,
            verifierBountyBps: 1_000, fraudProofBond: 1_000, maxTokensPerPass: 16, payableCapBps: 2_000,
            minReplayProbabilityBps: 3_333,
            // Phases of three blocks.
            checking: checkers == 0 ? nil : CheckingConfig(
                checkersPerTicket: min(checkersPerTicket, UInt32(checkers)), checkerMinStake: Amount(max(1_000, checkFee.units * 10)), maxCheckers: 64,
                checkerActivationBlocks: 2, checkFee: checkFee, answerCommitBlocks: 3, unblindBlocks: 3, answerRevealBlocks: 3,
                disputeInputBlocks: 3, checkerAbsentSlashBps: 10, checkerBenchBlocks: slotsPerEpoch,
                checkerFalseAlarmSlashBps: 1_000, checkerCollusionSlashBps: 5_000, checkerHonestStakeBps: 5_000))
        var ledger = LedgerParams()
        ledger.addressPrefix = hrp
        ledger.unbondingBlocks = unbondingBlocks
        ledger.jailBlocks = jailBlocks
        ledger.slotsPerEpoch = slotsPerEpoch
        ledger.beaconDelay = beaconDelay
        ledger.beaconMaxDelay = beaconMaxDelay
        ledger.escrowUnlockBlocks = 2 * (windowBlocks + commitGraceBlocks)
        ledger.revealedKeyRetentionBlocks = unbondingBlocks
        var consensus = ConsensusParams()
        consensus.slotSeconds = slotSeconds
        consensus.finalityDepth = finalityDepth
        return GenesisDocument(
            chainName: chainName, genesisTime: genesisTime, protocolVersion: Genesis.supportedProtocolVersion,
            warning: "DEVELOPMENT CHAIN. Every key in this file is derived from a public string (see Node/KeyFile.swift, DevelopmentKeys) and is INSECURE. Never use them for anything of value.",
            consensus: consensus, ledger: ledger, balances: balances, validators: vals, workers: ws, pools: [pool])
    }

    public func json() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(document()) + Data("\n".utf8)
    }
}

import Primitives

/// Basis points: 10 000 = 100 %.
public typealias BasisPoints = UInt32

/// Chain-wide ledger parameters, fixed by genesis (Specs/economics.md lists defaults and meaning).
public struct LedgerParams: Hashable, Sendable, Codable {
    /// Human-readable part of addresses.
    public var addressPrefix: String = "shr"
    /// Minimum fee per byte of the signed transaction's canonical encoding.
    public var minFeePerByte: UInt64 = 1
    /// Maximum size of one signed transaction, in bytes.
    public var maxTransactionBytes: Int = 256 * 1024
    /// Blocks an unbonding entry waits before it is paid back; evidence older than this is ignored.
    public var unbondingBlocks: UInt64 = 8640
    /// Concurrent unbonding entries per staker and role.
    public var maxUnbondingEntries: Int = 7
    /// Minimum stake of an active validator.
    public var validatorMinStake: Amount = 100
    /// Blocks a jailed staker waits before `unjail`.
    public var jailBlocks: UInt64 = 360
    /// Slots per epoch (validator set and leader seed snapshots).
    public var slotsPerEpoch: UInt64 = 360
    /// Blocks between a share commitment's inclusion and the block whose RANDAO mix selects its tickets.
    public var beaconDelay: UInt64 = 2
    /// Fraud proofs executed per block; further ones fail with `fraudProofCapReached`.
    public var maxFraudProofsPerBlock: Int = 4
    /// Share of each settled window's revenue paid to validators, by blocks produced in the window.
    public var protocolFeeBps: BasisPoints = 500
    /// Slash for equivocation (two headers for one slot), and the offender is tombstoned.
    public var equivocationSlashBps: BasisPoints = 500
    /// A validator that misses more than this share of its own slots in an epoch is jailed (no slash).
    public var livenessMaxMissedBps: BasisPoints = 5000
    /// Liveness is judged only for validators that led at least this many slots in the epoch.
    public var livenessMinSlots: UInt64 = 4
    /// Share commitments per worker, pool and window.
    public var maxCommitmentsPerWindow: Int = 64
    /// Passes per share commitment.
    public var maxPassesPerCommitment: UInt32 = 4096
    /// Windows a PPLNS settlement looks back at most.
    public var pplnsMaxLookbackWindows: UInt64 = 16

    public init() {}

    // Decoding fills absent fields with defaults, so genesis files only list what they change.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func d<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try d(.addressPrefix, &addressPrefix); try d(.minFeePerByte, &minFeePerByte)
        try d(.maxTransactionBytes, &maxTransactionBytes); try d(.unbondingBlocks, &unbondingBlocks)
        try d(.maxUnbondingEntries, &maxUnbondingEntries); try d(.validatorMinStake, &validatorMinStake)
        try d(.jailBlocks, &jailBlocks); try d(.slotsPerEpoch, &slotsPerEpoch); try d(.beaconDelay, &beaconDelay)
        try d(.maxFraudProofsPerBlock, &maxFraudProofsPerBlock); try d(.protocolFeeBps, &protocolFeeBps)
        try d(.equivocationSlashBps, &equivocationSlashBps); try d(.livenessMaxMissedBps, &livenessMaxMissedBps)
        try d(.livenessMinSlots, &livenessMinSlots); try d(.maxCommitmentsPerWindow, &maxCommitmentsPerWindow)
        try d(.maxPassesPerCommitment, &maxPassesPerCommitment); try d(.pplnsMaxLookbackWindows, &pplnsMaxLookbackWindows)
    }
}


/// How a pool splits a settled window among its workers.
public enum RewardScheme: Hashable, Sendable {
    /// By the weighted shares of the settled window.
    case proportional
    /// By the last `shares` weighted shares up to and including the settled window.
    case pplns(shares: UInt64)
}

/// A shard of a pool's model: a contiguous layer range served by one worker process.
public struct PoolShard: Hashable, Sendable {
    /// First layer (inclusive).
    public var layerStart: UInt32
    /// End layer (exclusive).
    public var layerEnd: UInt32
    /// Whether the shard applies the model's final norm after its last layer.
    public var finalNorm: Bool
    /// SHA-256 of the weight file that holds this shard's layers.
    public var weightsSHA256: Hash32
    /// Weight of one token of this shard in share accounting.
    public var costWeight: UInt64

    public init(layerStart: UInt32, layerEnd: UInt32, finalNorm: Bool, weightsSHA256: Hash32, costWeight: UInt64) {
        self.layerStart = layerStart; self.layerEnd = layerEnd; self.finalNorm = finalNorm
        self.weightsSHA256 = weightsSHA256; self.costWeight = costWeight
    }
}

/// The executor's description of the model (carried for the adjudicator; the ledger does no arithmetic
/// on it). Float parameters are IEEE-754 binary32 bit patterns so the encoding stays exact.
public struct ModelSpec: Hashable, Sendable {
    public var hiddenSize: UInt32
    public var numHeads: UInt32
    public var numKVHeads: UInt32
    public var headDim: UInt32
    public var intermediateSize: UInt32
    public var numLayers: UInt32
    /// RMSNorm epsilon as binary32 bits.
    public var rmsNormEpsBits: UInt32
    /// Rotary base as binary32 bits.
    public var ropeThetaBits: UInt32
    /// Whether q/k/v projections carry a bias.
    public var qkvBias: Bool

    public init(hiddenSize: UInt32, numHeads: UInt32, numKVHeads: UInt32, headDim: UInt32, intermediateSize: UInt32,
                numLayers: UInt32, rmsNormEpsBits: UInt32, ropeThetaBits: UInt32, qkvBias: Bool) {
        self.hiddenSize = hiddenSize; self.numHeads = numHeads; self.numKVHeads = numKVHeads; self.headDim = headDim
        self.intermediateSize = intermediateSize; self.numLayers = numLayers; self.rmsNormEpsBits = rmsNormEpsBits
        self.ropeThetaBits = ropeThetaBits; self.qkvBias = qkvBias
    }
}

/// A model pool, defined by genesis.
public struct PoolConfig: Hashable, Sendable {
    /// Pool id (its index in genesis).
    public var id: UInt32
    /// Model identifier, e.g. `tiny-llama-test`.
    public var modelId: String
    /// Executor specification, e.g. `canon-f32-v1`.
    public var executorSpec: String
    public var model: ModelSpec
    public var shards: [PoolShard]
    /// Price per input token, base units.
    public var priceInputToken: Amount
    /// Price per output token, base units.
    public var priceOutputToken: Amount
    /// Minimum stake of an active worker.
    public var minWorkerStake: Amount
    public var rewardScheme: RewardScheme
    /// Window length in blocks (default 60).
    public var windowBlocks: UInt64
    /// Challenge period after a window closes, in blocks (default 60).
    public var challengeBlocks: UInt64
    /// Probability that a pass is selected for a spot check, parts per million (default 50 000 = 5 %).
    public var spotCheckPpm: UInt32
    /// Blocks a worker has to reveal a selected pass (default 30).
    public var revealDeadlineBlocks: UInt64
    /// Slash on proven fraud (default 5000 = 50 %).
    public var fraudSlashBps: BasisPoints
    /// Slash for a selected pass not revealed in time (default 1000 = 10 %).
    public var withholdSlashBps: BasisPoints
    /// Part of a fraud slash paid to the prover (default 1000 = 10 %); the rest is burned.
    public var verifierBountyBps: BasisPoints
    /// Bond a fraud proof locks; returned on fraud, burned otherwise.
    public var fraudProofBond: Amount
    /// Maximum tokens in one pass (bounds reveal size and token claims).
    public var maxTokensPerPass: UInt32

    public init(id: UInt32, modelId: String, executorSpec: String, model: ModelSpec, shards: [PoolShard],
                priceInputToken: Amount, priceOutputToken: Amount, minWorkerStake: Amount,
                rewardScheme: RewardScheme = .proportional, windowBlocks: UInt64 = 60, challengeBlocks: UInt64 = 60,
                spotCheckPpm: UInt32 = 50_000, revealDeadlineBlocks: UInt64 = 30, fraudSlashBps: BasisPoints = 5000,
                withholdSlashBps: BasisPoints = 1000, verifierBountyBps: BasisPoints = 1000,
                fraudProofBond: Amount = 1000, maxTokensPerPass: UInt32 = 64) {
        self.id = id; self.modelId = modelId; self.executorSpec = executorSpec; self.model = model; self.shards = shards
        self.priceInputToken = priceInputToken; self.priceOutputToken = priceOutputToken
        self.minWorkerStake = minWorkerStake; self.rewardScheme = rewardScheme; self.windowBlocks = windowBlocks
        self.challengeBlocks = challengeBlocks; self.spotCheckPpm = spotCheckPpm
        self.revealDeadlineBlocks = revealDeadlineBlocks; self.fraudSlashBps = fraudSlashBps
        self.withholdSlashBps = withholdSlashBps; self.verifierBountyBps = verifierBountyBps
        self.fraudProofBond = fraudProofBond; self.maxTokensPerPass = maxTokensPerPass
    }

    /// The window a height belongs to: heights 1...L are window 0, L+1...2L window 1, and so on.
    public func window(ofHeight height: UInt64) -> UInt64 {
        height == 0 ? 0 : (height - 1) / windowBlocks
    }

    /// Last height of a window (its revenue is fixed at the end of this block).
    public func closeHeight(ofWindow w: UInt64) -> UInt64 { (w + 1) * windowBlocks }

    /// Height at whose end a window is settled.
    public func settleHeight(ofWindow w: UInt64) -> UInt64 { closeHeight(ofWindow: w) + challengeBlocks }

    /// Bytes of the largest input tensor a reveal may carry (TNS1 header allowance plus data).
    public var maxInputTensorBytes: Int {
        64 + Int(maxTokensPerPass) * Int(model.hiddenSize) * 4
    }
}

// MARK: - Canonical encodings (Specs/state-machine.md, "Pool")

extension RewardScheme: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        switch self {
        case .proportional: w.u8(0)
        case .pplns(let n): w.u8(1); w.u64(n)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        switch try r.u8("rewardScheme") {
        case 0: self = .proportional
        case 1: self = .pplns(shares: try r.u64("pplnsShares"))
        case let t: throw r.unknownTag("rewardScheme", t, at: at)
        }
    }
}

extension PoolShard: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(layerStart); w.u32(layerEnd); w.bool(finalNorm); w.hash(weightsSHA256); w.u64(costWeight)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        layerStart = try r.u32("layerStart"); layerEnd = try r.u32("layerEnd"); finalNorm = try r.bool("finalNorm")
        weightsSHA256 = try r.hash("weightsSHA256"); costWeight = try r.u64("costWeight")
    }
}

extension ModelSpec: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(hiddenSize); w.u32(numHeads); w.u32(numKVHeads); w.u32(headDim); w.u32(intermediateSize)
        w.u32(numLayers); w.u32(rmsNormEpsBits); w.u32(ropeThetaBits); w.bool(qkvBias)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        hiddenSize = try r.u32("hiddenSize"); numHeads = try r.u32("numHeads"); numKVHeads = try r.u32("numKVHeads")
        headDim = try r.u32("headDim"); intermediateSize = try r.u32("intermediateSize"); numLayers = try r.u32("numLayers")
        rmsNormEpsBits = try r.u32("rmsNormEps"); ropeThetaBits = try r.u32("ropeTheta"); qkvBias = try r.bool("qkvBias")
    }
}

extension PoolConfig: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(id); w.string(modelId); w.string(executorSpec); w.encode(model); w.list(shards)
        w.encode(priceInputToken); w.encode(priceOutputToken); w.encode(minWorkerStake); w.encode(rewardScheme)
        w.u64(windowBlocks); w.u64(challengeBlocks); w.u32(spotCheckPpm); w.u64(revealDeadlineBlocks)
        w.u32(fraudSlashBps); w.u32(withholdSlashBps); w.u32(verifierBountyBps); w.encode(fraudProofBond)
        w.u32(maxTokensPerPass)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        id = try r.u32("poolId")
        modelId = try r.string("modelId", max: 128)
        executorSpec = try r.string("executorSpec", max: 64)
        model = try r.decode(ModelSpec.self)
        shards = try r.list("shards", max: 256, of: PoolShard.self)
        priceInputToken = try r.decode(Amount.self); priceOutputToken = try r.decode(Amount.self)
        minWorkerStake = try r.decode(Amount.self); rewardScheme = try r.decode(RewardScheme.self)
        windowBlocks = try r.u64("windowBlocks"); challengeBlocks = try r.u64("challengeBlocks")
        spotCheckPpm = try r.u32("spotCheckPpm"); revealDeadlineBlocks = try r.u64("revealDeadlineBlocks")
        fraudSlashBps = try r.u32("fraudSlashBps"); withholdSlashBps = try r.u32("withholdSlashBps")
        verifierBountyBps = try r.u32("verifierBountyBps"); fraudProofBond = try r.decode(Amount.self)
        maxTokensPerPass = try r.u32("maxTokensPerPass")
    }
}

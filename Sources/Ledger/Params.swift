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
    /// Blocks an unbonding entry waits before it is paid back; evidence older than this is ignored. Must cover
    /// the longest slashing horizon of every pool (genesis checks it).
    public var unbondingBlocks: UInt64 = 8640
    /// Concurrent unbonding entries per staker and role.
    public var maxUnbondingEntries: Int = 7
    /// Minimum stake of an active validator.
    public var validatorMinStake: Amount = 100
    /// Blocks a jailed staker waits before `unjail`.
    public var jailBlocks: UInt64 = 360
    /// Slots per epoch (validator set and leader seed snapshots).
    public var slotsPerEpoch: UInt64 = 360
    /// Blocks between a share commitment's inclusion and the earliest block whose RANDAO mix selects its tickets.
    public var beaconDelay: UInt64 = 2
    /// Distinct proposers whose blocks (after a commitment's inclusion) must have mixed their reveals into the
    /// beacon that selects its tickets (at most the number of scheduled validators; Specs/consensus.md §3).
    public var beaconMinProposers: Int = 3
    /// Blocks after inclusion by which tickets are selected even without `beaconMinProposers` distinct proposers.
    public var beaconMaxDelay: UInt64 = 16
    /// Stake a validator loses (burned) for each of its own slots it skipped (Specs/consensus.md §5).
    public var missedSlotSlashBps: BasisPoints = 1
    /// Blocks between finality checkpoints (Specs/consensus.md §8).
    public var checkpointBlocks: UInt64 = 10
    /// Finality votes one transaction may carry.
    public var maxVotesPerTransaction: Int = 128
    /// Share commitments one block may include (bounds the samples an end-block draws or expires; economics.md §9).
    public var maxCommitmentsPerBlock: Int = 500
    /// Fraud-proof replays executed per block (the adjudication queue drains at this rate).
    public var maxAdjudicationsPerBlock: Int = 4
    /// Protocol fee on every usage claim, burned (so no payer can recover it, which makes self-dealing lose it).
    public var protocolFeeBps: BasisPoints = 500
    /// Slash for equivocation (two headers for one slot), and the offender is tombstoned.
    public var equivocationSlashBps: BasisPoints = 500
    /// A validator that misses more than this share of its own slots in an epoch is jailed (no slash).
    public var livenessMaxMissedBps: BasisPoints = 5000
    /// Liveness is judged only for validators that led at least this many slots in the epoch.
    public var livenessMinSlots: UInt64 = 4
    /// Share commitments per worker, pool, window and shard.
    public var maxCommitmentsPerWindow: Int = 16
    /// Leaves per share commitment (the sum tree's depth is at most 24).
    public var maxLeavesPerCommitment: UInt32 = 1 << 16
    /// Distinct escrows that may pay one worker in one window of a pool (bounds the payout's refund loop).
    public var maxPayersPerWorkerWindow: Int = 64
    /// Payees one escrow may allocate to (bounds the escrow's final refund).
    public var maxAllocationsPerEscrow: Int = 64
    /// Fraud claims one ticket may collect before it is adjudicated.
    public var maxClaimsPerTicket: Int = 16
    /// Blocks a closing escrow stays claimable before its rest is refunded (covers every pool's claim horizon).
    public var escrowUnlockBlocks: UInt64 = 200
    /// Blocks a revealed pass's content key is remembered (pass reuse across commitments is detected within it).
    public var revealedKeyRetentionBlocks: UInt64 = 8640

    public init() {}

    /// The most blocks between a commitment's inclusion and its ticket selection: the horizons of
    /// Specs/economics.md count with it.
    public var selectionDelayBound: UInt64 { max(beaconDelay, beaconMaxDelay) }
    /// How many heights of proposer records (`14`) the state keeps: equivocation evidence reaches back at most
    /// `unbondingBlocks` slots (so heights), the beacon `beaconMaxDelay` blocks; older ones are deleted.
    public var proposerRecordRetention: UInt64 { max(unbondingBlocks, beaconMaxDelay) &+ 1 }

    // Decoding fills absent fields with defaults, so genesis files only list what they change; an unknown
    // field is an error (a typo must not silently keep a default).
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func d<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try d(.addressPrefix, &addressPrefix); try d(.minFeePerByte, &minFeePerByte)
        try d(.maxTransactionBytes, &maxTransactionBytes); try d(.unbondingBlocks, &unbondingBlocks)
        try d(.maxUnbondingEntries, &maxUnbondingEntries); try d(.validatorMinStake, &validatorMinStake)
        try d(.jailBlocks, &jailBlocks); try d(.slotsPerEpoch, &slotsPerEpoch); try d(.beaconDelay, &beaconDelay)
        try d(.maxAdjudicationsPerBlock, &maxAdjudicationsPerBlock); try d(.protocolFeeBps, &protocolFeeBps)
        try d(.equivocationSlashBps, &equivocationSlashBps); try d(.livenessMaxMissedBps, &livenessMaxMissedBps)
        try d(.livenessMinSlots, &livenessMinSlots); try d(.maxCommitmentsPerWindow, &maxCommitmentsPerWindow)
        try d(.maxLeavesPerCommitment, &maxLeavesPerCommitment); try d(.maxPayersPerWorkerWindow, &maxPayersPerWorkerWindow)
        try d(.maxAllocationsPerEscrow, &maxAllocationsPerEscrow); try d(.maxClaimsPerTicket, &maxClaimsPerTicket)
        try d(.escrowUnlockBlocks, &escrowUnlockBlocks); try d(.revealedKeyRetentionBlocks, &revealedKeyRetentionBlocks)
        try d(.beaconMinProposers, &beaconMinProposers); try d(.beaconMaxDelay, &beaconMaxDelay)
        try d(.missedSlotSlashBps, &missedSlotSlashBps); try d(.checkpointBlocks, &checkpointBlocks)
        try d(.maxVotesPerTransaction, &maxVotesPerTransaction); try d(.maxCommitmentsPerBlock, &maxCommitmentsPerBlock)
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let any = try decoder.container(keyedBy: AnyKey.self)
        for k in any.allKeys where !known.contains(k.stringValue) {
            throw DecodingError.dataCorruptedError(forKey: k, in: any, debugDescription: "unknown ledger parameter '\(k.stringValue)'; known: \(known.sorted().joined(separator: ", "))")
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case addressPrefix, minFeePerByte, maxTransactionBytes, unbondingBlocks, maxUnbondingEntries, validatorMinStake
        case jailBlocks, slotsPerEpoch, beaconDelay, maxAdjudicationsPerBlock, protocolFeeBps, equivocationSlashBps
        case livenessMaxMissedBps, livenessMinSlots, maxCommitmentsPerWindow, maxLeavesPerCommitment
        case maxPayersPerWorkerWindow, maxAllocationsPerEscrow, maxClaimsPerTicket, escrowUnlockBlocks
        case revealedKeyRetentionBlocks, beaconMinProposers, beaconMaxDelay, missedSlotSlashBps, checkpointBlocks
        case maxVotesPerTransaction, maxCommitmentsPerBlock
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A shard of a pool's model: a contiguous layer range served by one worker process, with its own prices
/// (a shard with more layers costs more to serve).
public struct PoolShard: Hashable, Sendable {
    /// First layer (inclusive).
    public var layerStart: UInt32
    /// End layer (exclusive).
    public var layerEnd: UInt32
    /// Whether the shard applies the model's final norm after its last layer.
    public var finalNorm: Bool
    /// SHA-256 of the weight file that holds this shard's layers.
    public var weightsSHA256: Hash32
    /// Price per input token served by this shard, base units.
    public var priceInputToken: Amount
    /// Price per output token served by this shard, base units.
    public var priceOutputToken: Amount

    public init(layerStart: UInt32, layerEnd: UInt32, finalNorm: Bool, weightsSHA256: Hash32,
                priceInputToken: Amount, priceOutputToken: Amount) {
        self.layerStart = layerStart; self.layerEnd = layerEnd; self.finalNorm = finalNorm
        self.weightsSHA256 = weightsSHA256; self.priceInputToken = priceInputToken; self.priceOutputToken = priceOutputToken
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

/// A model pool, defined by genesis (Specs/economics.md §1).
public struct PoolConfig: Hashable, Sendable {
    /// Pool id (its index in genesis).
    public var id: UInt32
    /// Model identifier, e.g. `tiny-llama-test`.
    public var modelId: String
    /// Executor specification, e.g. `canon-f32-v1`.
    public var executorSpec: String
    public var model: ModelSpec
    public var shards: [PoolShard]
    /// Minimum stake of an active worker.
    public var minWorkerStake: Amount
    /// Window length in blocks.
    public var windowBlocks: UInt64
    /// Blocks after a window's last block during which its usage claims and commitments are still accepted.
    public var commitGraceBlocks: UInt64
    /// Blocks after the last possible reveal of a window's tickets during which fraud claims may be committed.
    public var challengeBlocks: UInt64
    /// Spot-check rate in parts per million of a commitment's tokens, measured in full passes of
    /// `maxTokensPerPass` tokens: `m = ⌈tokenTotal × ppm / (10⁶ × maxTokensPerPass)⌉` samples, clamped.
    public var spotCheckPpm: UInt32
    /// Upper bound of samples (tickets) per commitment.
    public var maxTicketsPerCommitment: UInt32
    /// Burned per sample when a commitment is recorded (checks are not free to ask for).
    public var ticketFee: Amount
    /// Blocks a worker has to reveal a selected pass after its selection.
    public var revealDeadlineBlocks: UInt64
    /// Blocks a fraud claim has between its commitment and its reveal.
    public var fraudRevealBlocks: UInt64
    /// Slash on proven fraud, a withheld reveal or a reused pass.
    public var fraudSlashBps: BasisPoints
    /// Part of a fraud slash paid to the winning prover; the rest is burned.
    public var verifierBountyBps: BasisPoints
    /// Bond a fraud claim locks; returned when the ticket is proven fraudulent, burned otherwise.
    public var fraudProofBond: Amount
    /// Maximum tokens in one pass (bounds reveal size and token claims).
    public var maxTokensPerPass: UInt32
    /// A worker's payable per window is at most this share of its bonded stake (the cheating bound).
    public var payableCapBps: BasisPoints
    /// The replay probability `v_min` the cap is sized for (genesis checks `cap ≤ σ·v/(1−v)`); pools with checkers
    /// use the committee's `v_min` instead (Specs/verification.md §6).
    public var minReplayProbabilityBps: BasisPoints
    /// Assigned, paid checkers with sealed reveals (protocol 4, Specs/verification.md); nil keeps public reveals.
    public var checking: CheckingConfig?

    public init(id: UInt32, modelId: String, executorSpec: String, model: ModelSpec, shards: [PoolShard],
                minWorkerStake: Amount, windowBlocks: UInt64 = 60, commitGraceBlocks: UInt64 = 6, challengeBlocks: UInt64 = 30,
                spotCheckPpm: UInt32 = 50_000, maxTicketsPerCommitment: UInt32 = 16, ticketFee: Amount = 1,
                revealDeadlineBlocks: UInt64 = 12, fraudRevealBlocks: UInt64 = 6, fraudSlashBps: BasisPoints = 5000,
                verifierBountyBps: BasisPoints = 1000, fraudProofBond: Amount = 1000, maxTokensPerPass: UInt32 = 64,
                payableCapBps: BasisPoints = 2000, minReplayProbabilityBps: BasisPoints = 3333, checking: CheckingConfig? = nil) {
        self.checking = checking
        self.id = id; self.modelId = modelId; self.executorSpec = executorSpec; self.model = model; self.shards = shards
        self.minWorkerStake = minWorkerStake; self.windowBlocks = windowBlocks; self.commitGraceBlocks = commitGraceBlocks
        self.challengeBlocks = challengeBlocks; self.spotCheckPpm = spotCheckPpm
        self.maxTicketsPerCommitment = maxTicketsPerCommitment; self.ticketFee = ticketFee
        self.revealDeadlineBlocks = revealDeadlineBlocks; self.fraudRevealBlocks = fraudRevealBlocks
        self.fraudSlashBps = fraudSlashBps; self.verifierBountyBps = verifierBountyBps
        self.fraudProofBond = fraudProofBond; self.maxTokensPerPass = maxTokensPerPass
        self.payableCapBps = payableCapBps; self.minReplayProbabilityBps = minReplayProbabilityBps
    }

    /// The window a height belongs to: heights 1...L are window 0, L+1...2L window 1, and so on.
    public func window(ofHeight height: UInt64) -> UInt64 {
        height == 0 ? 0 : (height - 1) / windowBlocks
    }

    /// First height of a window.
    public func startHeight(ofWindow w: UInt64) -> UInt64 { w &* windowBlocks &+ 1 }

    /// Last height of a window's service period.
    public func closeHeight(ofWindow w: UInt64) -> UInt64 { (w &+ 1) &* windowBlocks }

    /// Last height at which usage claims and commitments for the window are accepted.
    public func commitDeadline(ofWindow w: UInt64) -> UInt64 { closeHeight(ofWindow: w) &+ commitGraceBlocks }

    /// Last height at which a fraud claim against a ticket of the window may be committed. Every ticket of the
    /// window is revealed (or withheld) by `commitDeadline + beaconDelay + revealDeadlineBlocks`; in a pool with
    /// checkers its check (and a dispute's key publication) ends `checkBlocks` later.
    public func challengeEnd(ofWindow w: UInt64, beaconDelay: UInt64) -> UInt64 {
        commitDeadline(ofWindow: w) &+ beaconDelay &+ revealDeadlineBlocks &+ checkBlocks &+ challengeBlocks
    }

    /// Blocks a sealed ticket's check can take after its reveal: `A + U + V + P` (zero without checkers).
    public var checkBlocks: UInt64 {
        guard let c = checking else { return 0 }
        return c.answerCommitBlocks &+ c.unblindBlocks &+ c.answerRevealBlocks &+ c.disputeInputBlocks
    }

    /// Height at whose end the window settles (when no adjudication of its tickets is pending): every fraud
    /// claim committed by the challenge end has been revealed or has expired.
    public func settleHeight(ofWindow w: UInt64, beaconDelay: UInt64) -> UInt64 {
        challengeEnd(ofWindow: w, beaconDelay: beaconDelay) &+ fraudRevealBlocks
    }

    /// Blocks from a window's first height to its settlement: the longest time between an offence in the
    /// window and its punishment (before any adjudication backlog).
    public func settlementHorizon(beaconDelay: UInt64) -> UInt64 {
        windowBlocks &+ commitGraceBlocks &+ beaconDelay &+ revealDeadlineBlocks &+ checkBlocks &+ challengeBlocks &+ fraudRevealBlocks
    }

    /// Samples drawn from a commitment of `tokenTotal` tokens: `⌈tokenTotal × ppm / (10⁶ × maxTokensPerPass)⌉`,
    /// at least one and at most `maxTicketsPerCommitment`.
    public func sampleCount(tokenTotal: UInt64) -> UInt32 {
        let denominator = UInt64(1_000_000) * UInt64(max(1, maxTokensPerPass))
        let (product, overflow) = tokenTotal.multipliedReportingOverflow(by: UInt64(spotCheckPpm))
        // Ceiling division without `product + denominator − 1`, which can pass 2⁶⁴ near the top (fourth review).
        let m: UInt64 = overflow ? UInt64.max : product / denominator + (product % denominator == 0 ? 0 : 1)
        return UInt32(min(max(m, 1), UInt64(max(1, maxTicketsPerCommitment))))
    }

    /// Bytes of the largest input tensor a reveal may carry (TNS1 header of rank 2 plus data).
    public var maxInputTensorBytes: Int { inputTensorBytes(tokens: maxTokensPerPass) }

    /// Bytes of a canonical input tensor of `tokens` rows: `22 + tokens × hiddenSize × 4`, saturating at `Int.max`.
    /// Genesis bounds the chain's pools far below that; a pool decoded from a node (a worker's, checker's or
    /// verifier's `pool_get`) may carry any sizes, and must not trap the process that reads it.
    public func inputTensorBytes(tokens: UInt32) -> Int {
        let elements = UInt64(tokens) * UInt64(model.hiddenSize)    // < 2⁶⁴: both factors are below 2³²
        let (data, overflow) = elements.multipliedReportingOverflow(by: 4)
        guard !overflow, data <= UInt64(Int.max - 22) else { return Int.max }
        return 22 + Int(data)
    }

    /// Elements of the largest input tensor (`maxTokensPerPass × hiddenSize`), saturating at `Int.max` like
    /// `inputTensorBytes(tokens:)`.
    public var maxInputElements: Int {
        let elements = UInt64(maxTokensPerPass) * UInt64(model.hiddenSize)
        return elements > UInt64(Int.max) ? Int.max : Int(elements)
    }
}

// MARK: - Canonical encodings (Specs/state-machine.md, "Pools")

extension PoolShard: CanonicalCodable {
    public func encode(to w: inout CanonicalWriter) {
        w.u32(layerStart); w.u32(layerEnd); w.bool(finalNorm); w.hash(weightsSHA256)
        w.encode(priceInputToken); w.encode(priceOutputToken)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        layerStart = try r.u32("layerStart"); layerEnd = try r.u32("layerEnd"); finalNorm = try r.bool("finalNorm")
        weightsSHA256 = try r.hash("weightsSHA256"); priceInputToken = try r.decode(Amount.self)
        priceOutputToken = try r.decode(Amount.self)
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
        w.encode(minWorkerStake); w.u64(windowBlocks); w.u64(commitGraceBlocks); w.u64(challengeBlocks)
        w.u32(spotCheckPpm); w.u32(maxTicketsPerCommitment); w.encode(ticketFee); w.u64(revealDeadlineBlocks)
        w.u64(fraudRevealBlocks); w.u32(fraudSlashBps); w.u32(verifierBountyBps); w.encode(fraudProofBond)
        w.u32(maxTokensPerPass); w.u32(payableCapBps); w.u32(minReplayProbabilityBps)
        // Pools without checkers end here, so their records (and every protocol-3 genesis) keep their bytes.
        if let checking { w.encode(checking) }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        id = try r.u32("poolId")
        modelId = try r.string("modelId", max: 128)
        executorSpec = try r.string("executorSpec", max: 64)
        model = try r.decode(ModelSpec.self)
        shards = try r.list("shards", max: 256, of: PoolShard.self)
        minWorkerStake = try r.decode(Amount.self)
        windowBlocks = try r.u64("windowBlocks"); commitGraceBlocks = try r.u64("commitGraceBlocks")
        challengeBlocks = try r.u64("challengeBlocks"); spotCheckPpm = try r.u32("spotCheckPpm")
        maxTicketsPerCommitment = try r.u32("maxTicketsPerCommitment"); ticketFee = try r.decode(Amount.self)
        revealDeadlineBlocks = try r.u64("revealDeadlineBlocks"); fraudRevealBlocks = try r.u64("fraudRevealBlocks")
        fraudSlashBps = try r.u32("fraudSlashBps"); verifierBountyBps = try r.u32("verifierBountyBps")
        fraudProofBond = try r.decode(Amount.self); maxTokensPerPass = try r.u32("maxTokensPerPass")
        payableCapBps = try r.u32("payableCapBps"); minReplayProbabilityBps = try r.u32("minReplayProbabilityBps")
        checking = r.remaining == 0 ? nil : try r.decode(CheckingConfig.self)
    }
}

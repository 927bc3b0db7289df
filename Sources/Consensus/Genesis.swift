import Foundation
import Ledger
import Primitives
import Storage

/// Consensus timing and block limits, fixed by genesis (Specs/genesis.md).
public struct ConsensusParams: Hashable, Sendable, Codable {
    /// Seconds per slot.
    public var slotSeconds: UInt64 = 10
    /// Blocks behind the tip that can no longer be reorganised.
    public var finalityDepth: UInt64 = 30
    /// Maximum encoded block size.
    public var maxBlockBytes: Int = 4 * 1024 * 1024
    /// Maximum transactions per block.
    public var maxBlockTransactions: Int = 20_000
    /// How far (ms) a block's timestamp may be ahead of the local clock.
    public var clockToleranceMillis: UInt64 = 2_000

    public init() {}

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func d<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try d(.slotSeconds, &slotSeconds); try d(.finalityDepth, &finalityDepth); try d(.maxBlockBytes, &maxBlockBytes)
        try d(.maxBlockTransactions, &maxBlockTransactions); try d(.clockToleranceMillis, &clockToleranceMillis)
    }
}

/// A parsed, validated genesis document. Its canonical encoding's tagged hash is the chain id.
public struct Genesis: Sendable {
    // Immutable: the chain id is computed from these at construction.
    public let chainName: String
    /// Unix time (seconds) at which slot 0 starts.
    public let genesisTime: UInt64
    public let protocolVersion: UInt32
    /// The protocol this build speaks. 2: economy v2; 3: headers commit to the state tree's root
    /// (Specs/state-tree.md) instead of the write-set hash chain.
    public static let supportedProtocolVersion: UInt32 = 3
    public let consensus: ConsensusParams
    public let ledger: LedgerParams
    public let allocation: GenesisAllocation
    /// The chain id: `H_genesis(canonical encoding)`.
    public let chainId: Hash32

    public init(chainName: String, genesisTime: UInt64, protocolVersion: UInt32 = Genesis.supportedProtocolVersion, consensus: ConsensusParams,
                ledger: LedgerParams, allocation: GenesisAllocation) {
        self.chainName = chainName; self.genesisTime = genesisTime; self.protocolVersion = protocolVersion
        self.consensus = consensus; self.ledger = ledger; self.allocation = allocation
        var w = CanonicalWriter(capacity: 4096)
        Genesis.encodeCanonical(chainName: chainName, genesisTime: genesisTime, protocolVersion: protocolVersion,
                                consensus: consensus, ledger: ledger, allocation: allocation, into: &w)
        chainId = Tags.genesis.hash(w.bytes)
    }

    /// The human-readable part of addresses.
    public var addressPrefix: String { ledger.addressPrefix }

    /// The canonical encoding hashed into the chain id (Specs/genesis.md section 3).
    static func encodeCanonical(chainName: String, genesisTime: UInt64, protocolVersion: UInt32, consensus: ConsensusParams,
                                ledger l: LedgerParams, allocation a: GenesisAllocation, into w: inout CanonicalWriter) {
        w.string("sharechain-genesis-v1")
        w.string(chainName); w.u64(genesisTime); w.u32(protocolVersion)
        w.u64(consensus.slotSeconds); w.u64(consensus.finalityDepth); w.u64(UInt64(consensus.maxBlockBytes))
        w.u64(UInt64(consensus.maxBlockTransactions)); w.u64(consensus.clockToleranceMillis)
        w.string(l.addressPrefix); w.u64(l.minFeePerByte); w.u64(UInt64(l.maxTransactionBytes)); w.u64(l.unbondingBlocks)
        w.u64(UInt64(l.maxUnbondingEntries)); w.encode(l.validatorMinStake); w.u64(l.jailBlocks); w.u64(l.slotsPerEpoch)
        w.u64(l.beaconDelay); w.u64(UInt64(l.maxAdjudicationsPerBlock)); w.u32(l.protocolFeeBps); w.u32(l.equivocationSlashBps)
        w.u32(l.livenessMaxMissedBps); w.u64(l.livenessMinSlots); w.u64(UInt64(l.maxCommitmentsPerWindow))
        w.u32(l.maxLeavesPerCommitment); w.u64(UInt64(l.maxPayersPerWorkerWindow)); w.u64(UInt64(l.maxAllocationsPerEscrow))
        w.u64(UInt64(l.maxClaimsPerTicket)); w.u64(l.escrowUnlockBlocks); w.u64(l.revealedKeyRetentionBlocks)
        w.u64(UInt64(l.beaconMinProposers)); w.u64(l.beaconMaxDelay); w.u32(l.missedSlotSlashBps)
        w.u64(l.checkpointBlocks); w.u64(UInt64(l.maxVotesPerTransaction)); w.u64(UInt64(l.maxCommitmentsPerBlock))
        w.list(a.balances) { w, b in w.encode(b.key); w.encode(b.amount) }
        w.list(a.validators) { w, v in w.encode(v.key); w.encode(v.stake); w.hash(v.randaoCommitment) }
        w.list(a.workers) { w, x in w.encode(x.key); w.u32(x.pool); w.encode(x.stake) }
        // A pool's checking section (protocol 4) follows the pool list, only when some pool has one, so every
        // protocol-3 genesis keeps its chain id and the list stays unambiguous.
        w.list(a.pools.map { p -> PoolConfig in var q = p; q.checking = nil; return q })
        let checked = a.pools.compactMap { p in p.checking.map { (p.id, $0) } }
        if !checked.isEmpty { w.list(checked) { w, e in w.u32(e.0); w.encode(e.1) } }
    }

    /// Slot of a Unix time in milliseconds (0 before genesis).
    public func slot(atMillis ms: UInt64) -> UInt64 {
        let start = genesisTime.multipliedReportingOverflow(by: 1000).partialValue
        return ms < start ? 0 : (ms - start) / max(slotMillis, 1)
    }

    /// Start of a slot, Unix milliseconds; saturates at `UInt64.max` for slots no clock reaches (a slot
    /// from the network can be any u64, and nothing it carries may trap).
    public func slotStartMillis(_ slot: UInt64) -> UInt64 {
        let (slotMillis, o1) = consensus.slotSeconds.multipliedReportingOverflow(by: 1000)
        let (offset, o2) = slot.multipliedReportingOverflow(by: slotMillis)
        let (base, o3) = genesisTime.multipliedReportingOverflow(by: 1000)
        let (start, o4) = base.addingReportingOverflow(offset)
        return o1 || o2 || o3 || o4 ? .max : start
    }

    /// Length of a slot in milliseconds (saturating).
    public var slotMillis: UInt64 {
        let (m, o) = consensus.slotSeconds.multipliedReportingOverflow(by: 1000)
        return o ? .max : m
    }
}

/// A genesis document that cannot be used, with the reason.
extension Genesis {
    // Upper bounds of the time and size parameters (`GenesisDocument.checkRanges`).
    /// 253 402 300 799: 9999-12-31T23:59:59Z. Below 2³⁸, so `genesisTime × 1000` plus any slot's offset stays far from 2⁶⁴.
    public static let maxGenesisTime: UInt64 = 253_402_300_799
    /// A day.
    public static let maxSlotSeconds: UInt64 = 86_400
    /// An hour.
    public static let maxClockToleranceMillis: UInt64 = 3_600_000
    /// 256 MiB (the default is 4 MiB).
    public static let maxBlockBytesLimit = 256 << 20

    /// The replay work every validator is assumed to do per slot-second: half a slot of one core at 20 GFLOP/s, below
    /// the slowest build of the canonical executor measured (22–25 GFLOP/s, `verifier-canon-f32-v1.md` §11).
    public static let replayFlopsPerSlotSecond: UInt64 = 10_000_000_000

    /// Refuses a genesis whose worst block of adjudications does not fit the replay budget (Specs/economics.md §6
    /// **Replay budget**): a block replays up to `maxAdjudicationsPerBlock` queued cases, every validator replays each
    /// once, and a false claim costs only its bond, so the count alone let a few claims per block on a large shard
    /// take longer than the slot on every validator (ninth review).
    public static func checkReplayBudget(consensus: ConsensusParams, ledger: LedgerParams, pools: [PoolConfig]) throws {
        let (budget, overflow) = consensus.slotSeconds.multipliedReportingOverflow(by: replayFlopsPerSlotSecond)
        let replays = UInt64(max(1, ledger.maxAdjudicationsPerBlock))
        for p in pools {
            let worst = p.maxReplayFlops
            var fits = false
            if let worst {
                let (total, o) = worst.multipliedReportingOverflow(by: replays)
                fits = !o && (overflow || total <= budget)
            }
            guard fits else {
                let each = worst.map { "\($0 / 1_000_000) MFLOP" } ?? "more than 2^64 FLOP"
                throw GenesisLoadError("pool \(p.id): ledger.maxAdjudicationsPerBlock \(replays) replays of its costliest pass (maxTokensPerPass \(p.maxTokensPerPass) through its largest shard: \(each) each) exceed the replay budget of \(overflow ? "more than 2^64" : "\(budget / 1_000_000)") MFLOP a block (consensus.slotSeconds \(consensus.slotSeconds) × \(replayFlopsPerSlotSecond / 1_000_000) MFLOP); lower maxAdjudicationsPerBlock or maxTokensPerPass, or split the shards")
            }
        }
    }
}

public struct GenesisLoadError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "genesis: \(message)" }
}

/// The JSON form of a genesis document (Specs/genesis.md). Amounts are decimal strings, keys are addresses
/// or 64-hex public keys, executor float parameters are IEEE-754 binary32 bit patterns (`"0x3727c5ac"`) so
/// no floating-point parsing enters consensus.
public struct GenesisDocument: Codable, Sendable {
    public struct Balance: Codable, Sendable {
        public var address: String; public var amount: Amount; public var note: String?
        public init(address: String, amount: Amount, note: String? = nil) { self.address = address; self.amount = amount; self.note = note }
    }
    public struct Validator: Codable, Sendable {
        public var address: String
        public var stake: Amount
        public var randaoCommitment: String
        public var note: String?
        public init(address: String, stake: Amount, randaoCommitment: String, note: String? = nil) {
            self.address = address; self.stake = stake; self.randaoCommitment = randaoCommitment; self.note = note
        }
    }
    public struct Worker: Codable, Sendable {
        public var address: String; public var pool: UInt32; public var stake: Amount
        public init(address: String, pool: UInt32, stake: Amount) { self.address = address; self.pool = pool; self.stake = stake }
    }
    public struct Model: Codable, Sendable {
        public var hiddenSize: UInt32, numHeads: UInt32, numKVHeads: UInt32, headDim: UInt32, intermediateSize: UInt32, numLayers: UInt32
        public var rmsNormEpsBits: String
        public var ropeThetaBits: String
        public var qkvBias: Bool
        public init(hiddenSize: UInt32, numHeads: UInt32, numKVHeads: UInt32, headDim: UInt32, intermediateSize: UInt32, numLayers: UInt32,
                    rmsNormEpsBits: String, ropeThetaBits: String, qkvBias: Bool) {
            self.hiddenSize = hiddenSize; self.numHeads = numHeads; self.numKVHeads = numKVHeads; self.headDim = headDim
            self.intermediateSize = intermediateSize; self.numLayers = numLayers; self.rmsNormEpsBits = rmsNormEpsBits
            self.ropeThetaBits = ropeThetaBits; self.qkvBias = qkvBias
        }
    }
    public struct Shard: Codable, Sendable {
        public var layerStart: UInt32, layerEnd: UInt32
        public var finalNorm: Bool
        public var weightsFile: String?
        public var weightsSHA256: String
        /// Shard prices; absent, the pool's prices apply.
        public var priceInputToken: Amount?
        public var priceOutputToken: Amount?
        public init(layerStart: UInt32, layerEnd: UInt32, finalNorm: Bool, weightsFile: String?, weightsSHA256: String,
                    priceInputToken: Amount? = nil, priceOutputToken: Amount? = nil) {
            self.layerStart = layerStart; self.layerEnd = layerEnd; self.finalNorm = finalNorm; self.weightsFile = weightsFile
            self.weightsSHA256 = weightsSHA256; self.priceInputToken = priceInputToken; self.priceOutputToken = priceOutputToken
        }
    }
    public struct Pool: Codable, Sendable {
        public var modelId: String
        public var executorSpec: String
        public var model: Model
        public var shards: [Shard]
        public var priceInputToken: Amount
        public var priceOutputToken: Amount
        public var minWorkerStake: Amount
        public var windowBlocks: UInt64?
        public var commitGraceBlocks: UInt64?
        public var challengeBlocks: UInt64?
        public var spotCheckPpm: UInt32?
        public var maxTicketsPerCommitment: UInt32?
        public var ticketFee: Amount?
        public var revealDeadlineBlocks: UInt64?
        public var fraudRevealBlocks: UInt64?
        public var fraudSlashBps: UInt32?
        public var verifierBountyBps: UInt32?
        public var fraudProofBond: Amount?
        public var maxTokensPerPass: UInt32?
        public var payableCapBps: UInt32?
        public var minReplayProbabilityBps: UInt32?
        /// Assigned, paid checkers with sealed reveals (Specs/verification.md); absent, reveals are public.
        public var checking: CheckingConfig?
        public init(modelId: String, executorSpec: String, model: Model, shards: [Shard], priceInputToken: Amount, priceOutputToken: Amount,
                    minWorkerStake: Amount, windowBlocks: UInt64? = nil, commitGraceBlocks: UInt64? = nil,
                    challengeBlocks: UInt64? = nil, spotCheckPpm: UInt32? = nil, maxTicketsPerCommitment: UInt32? = nil,
                    ticketFee: Amount? = nil, revealDeadlineBlocks: UInt64? = nil, fraudRevealBlocks: UInt64? = nil,
                    fraudSlashBps: UInt32? = nil, verifierBountyBps: UInt32? = nil, fraudProofBond: Amount? = nil,
                    maxTokensPerPass: UInt32? = nil, payableCapBps: UInt32? = nil, minReplayProbabilityBps: UInt32? = nil,
                    checking: CheckingConfig? = nil) {
            self.checking = checking
            self.modelId = modelId; self.executorSpec = executorSpec; self.model = model; self.shards = shards
            self.priceInputToken = priceInputToken; self.priceOutputToken = priceOutputToken; self.minWorkerStake = minWorkerStake
            self.windowBlocks = windowBlocks; self.commitGraceBlocks = commitGraceBlocks; self.challengeBlocks = challengeBlocks
            self.spotCheckPpm = spotCheckPpm; self.maxTicketsPerCommitment = maxTicketsPerCommitment; self.ticketFee = ticketFee
            self.revealDeadlineBlocks = revealDeadlineBlocks; self.fraudRevealBlocks = fraudRevealBlocks
            self.fraudSlashBps = fraudSlashBps; self.verifierBountyBps = verifierBountyBps; self.fraudProofBond = fraudProofBond
            self.maxTokensPerPass = maxTokensPerPass; self.payableCapBps = payableCapBps
            self.minReplayProbabilityBps = minReplayProbabilityBps
        }
    }

    public var chainName: String
    public var genesisTime: UInt64
    public var protocolVersion: UInt32?
    public var warning: String?
    public var consensus: ConsensusParams?
    public var ledger: LedgerParams?
    public var balances: [Balance]
    public var validators: [Validator]
    public var workers: [Worker]?
    public var pools: [Pool]

    public init(chainName: String, genesisTime: UInt64, protocolVersion: UInt32? = Genesis.supportedProtocolVersion, warning: String? = nil,
                consensus: ConsensusParams? = nil, ledger: LedgerParams? = nil, balances: [Balance], validators: [Validator],
                workers: [Worker]? = nil, pools: [Pool]) {
        self.chainName = chainName; self.genesisTime = genesisTime; self.protocolVersion = protocolVersion; self.warning = warning
        self.consensus = consensus; self.ledger = ledger; self.balances = balances; self.validators = validators
        self.workers = workers; self.pools = pools
    }

    /// Parses JSON bytes.
    public static func decode(_ data: Data) throws -> GenesisDocument {
        do { return try JSONDecoder().decode(GenesisDocument.self, from: data) } catch let e as DecodingError {
            throw GenesisLoadError("malformed JSON: \(Self.describe(e))")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() }
        switch e {
        case .keyNotFound(let k, let ctx): return "missing field \(path(ctx.codingPath + [k]))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "wrong type at \(path(ctx.codingPath)): \(ctx.debugDescription)"
        case .dataCorrupted(let ctx): return "invalid value at \(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// Validates and converts to a `Genesis`.
    public func resolve() throws -> Genesis {
        let ledgerParams = ledger ?? LedgerParams()
        let hrp = ledgerParams.addressPrefix
        guard !chainName.isEmpty, chainName.utf8.count <= 64 else { throw GenesisLoadError("chainName must be 1-64 bytes") }
        let consensusParams = consensus ?? ConsensusParams()
        guard consensusParams.slotSeconds > 0 else { throw GenesisLoadError("consensus.slotSeconds must be positive") }
        guard consensusParams.finalityDepth > 0 else { throw GenesisLoadError("consensus.finalityDepth must be positive") }
        try Self.checkRanges(consensusParams, ledgerParams, genesisTime: genesisTime)
        func key(_ s: String, _ what: String) throws -> PublicKey {
            if s.count == 64 || s.hasPrefix("0x") {
                do { return try PublicKey(hex: s) } catch { throw GenesisLoadError("\(what): bad public key hex '\(s)': \(error)") }
            }
            do { return try Address.decode(s, hrp: hrp) } catch { throw GenesisLoadError("\(what): \(error)") }
        }
        func hash(_ s: String, _ what: String) throws -> Hash32 {
            do { return try Hash32(hex: s) } catch { throw GenesisLoadError("\(what): \(error)") }
        }
        func bits(_ s: String, _ what: String) throws -> UInt32 {
            let hex = s.hasPrefix("0x") ? String(s.dropFirst(2)) : s
            guard hex.count == 8, let v = UInt32(hex, radix: 16) else {
                throw GenesisLoadError("\(what): expected an IEEE-754 binary32 bit pattern like \"0x3727c5ac\", got '\(s)'")
            }
            return v
        }
        let balances = try balances.enumerated().map { i, b in
            GenesisAllocation.Balance(key: try key(b.address, "balances[\(i)]"), amount: b.amount)
        }
        let validators = try validators.enumerated().map { i, v in
            GenesisAllocation.Validator(key: try key(v.address, "validators[\(i)]"), stake: v.stake,
                                        randaoCommitment: try hash(v.randaoCommitment, "validators[\(i)].randaoCommitment"))
        }
        let workers = try (workers ?? []).enumerated().map { i, w in
            GenesisAllocation.Worker(key: try key(w.address, "workers[\(i)]"), pool: w.pool, stake: w.stake)
        }
        let pools = try pools.enumerated().map { i, p -> PoolConfig in
            let model = ModelSpec(hiddenSize: p.model.hiddenSize, numHeads: p.model.numHeads, numKVHeads: p.model.numKVHeads,
                                  headDim: p.model.headDim, intermediateSize: p.model.intermediateSize, numLayers: p.model.numLayers,
                                  rmsNormEpsBits: try bits(p.model.rmsNormEpsBits, "pools[\(i)].model.rmsNormEpsBits"),
                                  ropeThetaBits: try bits(p.model.ropeThetaBits, "pools[\(i)].model.ropeThetaBits"),
                                  qkvBias: p.model.qkvBias)
            let shards = try p.shards.enumerated().map { j, s in
                PoolShard(layerStart: s.layerStart, layerEnd: s.layerEnd, finalNorm: s.finalNorm,
                          weightsSHA256: try hash(s.weightsSHA256, "pools[\(i)].shards[\(j)].weightsSHA256"),
                          priceInputToken: s.priceInputToken ?? p.priceInputToken, priceOutputToken: s.priceOutputToken ?? p.priceOutputToken)
            }
            let d = PoolConfig(id: 0, modelId: "", executorSpec: "", model: model, shards: [], minWorkerStake: 0)
            return PoolConfig(
                id: UInt32(i), modelId: p.modelId, executorSpec: p.executorSpec, model: model, shards: shards,
                minWorkerStake: p.minWorkerStake, windowBlocks: p.windowBlocks ?? d.windowBlocks,
                commitGraceBlocks: p.commitGraceBlocks ?? d.commitGraceBlocks, challengeBlocks: p.challengeBlocks ?? d.challengeBlocks,
                spotCheckPpm: p.spotCheckPpm ?? d.spotCheckPpm, maxTicketsPerCommitment: p.maxTicketsPerCommitment ?? d.maxTicketsPerCommitment,
                ticketFee: p.ticketFee ?? d.ticketFee, revealDeadlineBlocks: p.revealDeadlineBlocks ?? d.revealDeadlineBlocks,
                fraudRevealBlocks: p.fraudRevealBlocks ?? d.fraudRevealBlocks, fraudSlashBps: p.fraudSlashBps ?? d.fraudSlashBps,
                verifierBountyBps: p.verifierBountyBps ?? d.verifierBountyBps, fraudProofBond: p.fraudProofBond ?? d.fraudProofBond,
                maxTokensPerPass: p.maxTokensPerPass ?? d.maxTokensPerPass, payableCapBps: p.payableCapBps ?? d.payableCapBps,
                minReplayProbabilityBps: p.minReplayProbabilityBps ?? d.minReplayProbabilityBps, checking: p.checking)
        }
        let genesis = Genesis(chainName: chainName, genesisTime: genesisTime, protocolVersion: protocolVersion ?? Genesis.supportedProtocolVersion,
                              consensus: consensusParams, ledger: ledgerParams,
                              allocation: GenesisAllocation(balances: balances, validators: validators, workers: workers, pools: pools))
        guard genesis.protocolVersion == Genesis.supportedProtocolVersion else {
            throw GenesisLoadError("unsupported protocolVersion \(genesis.protocolVersion) (this node speaks protocol \(Genesis.supportedProtocolVersion): economy v2, consensus v2, state tree roots)")
        }
        try Genesis.checkReplayBudget(consensus: consensusParams, ledger: ledgerParams, pools: pools)
        // Hop challenges are accepted only in the D = max(beaconDelay, beaconMaxDelay) blocks after a window's commit
        // deadline (economics §4.1): with fewer than 3, one or two proposers could keep every challenge of a window out,
        // the censorship margin the reveal periods keep too (staking F2).
        guard pools.isEmpty || ledgerParams.selectionDelayBound >= 3 else {
            throw GenesisLoadError("ledger.beaconMaxDelay: max(beaconDelay, beaconMaxDelay) is \(ledgerParams.selectionDelayBound), and must be at least 3 blocks: hop challenges are accepted only in that many blocks after a window's commit deadline, and fewer would let one or two proposers censor them")
        }
        // The ledger validates the allocation itself (duplicates, zero stakes, executor specs, supply overflow).
        let probe = Ledger(params: ledgerParams, chainId: genesis.chainId, adjudicator: UnusedAdjudicator(), equivocationVerifier: HeaderEquivocationVerifier())
        do { _ = try probe.genesisWriteSet(genesis.allocation) } catch { throw GenesisLoadError(error.description) }
        return genesis
    }

    /// Upper bounds on time, size and count parameters, checked before anything computes with them: each of these
    /// once loaded and then trapped every node (the crash audit of the seventeenth session): a `genesisTime` in
    /// milliseconds or nanoseconds overflowed `genesisTime × 1000` when the node opened its chain, a huge `slotSeconds`
    /// the producer's slot arithmetic, a huge `maxBlockBytes` the P2P frame budget, a huge `clockToleranceMillis` the
    /// early-block retry, and a negative count the canonical encoding.
    static func checkRanges(_ c: ConsensusParams, _ l: LedgerParams, genesisTime: UInt64) throws {
        guard genesisTime <= Genesis.maxGenesisTime else {
            throw GenesisLoadError("genesisTime \(genesisTime) is after \(Genesis.maxGenesisTime) (the year 9999): it is Unix time in seconds, not milliseconds")
        }
        guard c.slotSeconds <= Genesis.maxSlotSeconds else { throw GenesisLoadError("consensus.slotSeconds \(c.slotSeconds) exceeds \(Genesis.maxSlotSeconds) (a day)") }
        guard c.clockToleranceMillis <= Genesis.maxClockToleranceMillis else {
            throw GenesisLoadError("consensus.clockToleranceMillis \(c.clockToleranceMillis) exceeds \(Genesis.maxClockToleranceMillis) (an hour)")
        }
        guard (1...Genesis.maxBlockBytesLimit).contains(c.maxBlockBytes) else {
            throw GenesisLoadError("consensus.maxBlockBytes \(c.maxBlockBytes) is not in 1...\(Genesis.maxBlockBytesLimit) (256 MiB)")
        }
        guard (1...StorageLimits.maxTransactionsPerBlock).contains(c.maxBlockTransactions) else {
            throw GenesisLoadError("consensus.maxBlockTransactions \(c.maxBlockTransactions) is not in 1...\(StorageLimits.maxTransactionsPerBlock) (what the chain store keeps of one block)")
        }
        let counts: [(String, Int)] = [
            ("ledger.maxTransactionBytes", l.maxTransactionBytes), ("ledger.maxUnbondingEntries", l.maxUnbondingEntries),
            ("ledger.beaconMinProposers", l.beaconMinProposers), ("ledger.maxAdjudicationsPerBlock", l.maxAdjudicationsPerBlock),
            ("ledger.maxCommitmentsPerWindow", l.maxCommitmentsPerWindow), ("ledger.maxPayersPerWorkerWindow", l.maxPayersPerWorkerWindow),
            ("ledger.maxAllocationsPerEscrow", l.maxAllocationsPerEscrow), ("ledger.maxClaimsPerTicket", l.maxClaimsPerTicket),
            ("ledger.maxVotesPerTransaction", l.maxVotesPerTransaction), ("ledger.maxCommitmentsPerBlock", l.maxCommitmentsPerBlock),
        ]
        for (name, value) in counts where value < 0 { throw GenesisLoadError("\(name) \(value) is negative") }
    }

    /// Loads and validates a genesis file.
    public static func load(path: String) throws -> Genesis {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw GenesisLoadError("cannot read \(path): \(error.localizedDescription)")
        }
        return try decode(data).resolve()
    }
}

/// Placeholder adjudicator for validating genesis documents (no transaction is executed).
struct UnusedAdjudicator: Adjudicator {
    struct NotAvailable: Error {}
    func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw NotAvailable() }
}

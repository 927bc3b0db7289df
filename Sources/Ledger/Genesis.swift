import Primitives

/// The ledger part of a genesis document: who holds what at height 0.
public struct GenesisAllocation: Hashable, Sendable {
    public struct Balance: Hashable, Sendable {
        public var key: PublicKey
        public var amount: Amount
        public init(key: PublicKey, amount: Amount) { self.key = key; self.amount = amount }
    }

    public struct Validator: Hashable, Sendable {
        public var key: PublicKey
        public var stake: Amount
        /// Tip of the validator's RANDAO hash chain.
        public var randaoCommitment: Hash32
        public init(key: PublicKey, stake: Amount, randaoCommitment: Hash32) {
            self.key = key; self.stake = stake; self.randaoCommitment = randaoCommitment
        }
    }

    public struct Worker: Hashable, Sendable {
        public var key: PublicKey
        public var pool: UInt32
        public var stake: Amount
        public init(key: PublicKey, pool: UInt32, stake: Amount) { self.key = key; self.pool = pool; self.stake = stake }
    }

    public var balances: [Balance]
    public var validators: [Validator]
    public var workers: [Worker]
    public var pools: [PoolConfig]

    public init(balances: [Balance], validators: [Validator], workers: [Worker] = [], pools: [PoolConfig]) {
        self.balances = balances; self.validators = validators; self.workers = workers; self.pools = pools
    }
}

/// Why a genesis allocation is unusable.
public struct GenesisError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid genesis: \(message)" }
}

extension Ledger {
    /// Known executor specifications.
    public static let executorSpecs: Set<String> = ["canon-f32-v1"]

    /// The state at height 0 as a write set: balances, bonded validators and workers, pools, supply,
    /// the initial RANDAO mix (`H_randao(chainId)`) and the epoch-0 schedule.
    public func genesisWriteSet(_ g: GenesisAllocation) throws(GenesisError) -> WriteSet {
        let base = MemoryState()
        var state = LedgerState(base: base)
        var supply = Amount.zero
        func add(_ a: Amount) throws(GenesisError) {
            do { supply = try supply.adding(a) } catch { throw GenesisError("total supply overflows 64 bits") }
        }
        var seen = Set<PublicKey>()
        for b in g.balances {
            guard seen.insert(b.key).inserted else { throw GenesisError("duplicate balance for \(b.key)") }
            guard b.amount > .zero else { throw GenesisError("zero balance for \(b.key)") }
            try add(b.amount)
            state.setAccount(b.key, Account(balance: b.amount))
        }
        guard !g.validators.isEmpty else { throw GenesisError("no validators") }
        var validatorKeys = Set<PublicKey>()
        for v in g.validators {
            guard validatorKeys.insert(v.key).inserted else { throw GenesisError("duplicate validator \(v.key)") }
            guard v.stake > .zero else { throw GenesisError("zero stake for validator \(v.key)") }
            guard v.stake >= params.validatorMinStake else { throw GenesisError("validator \(v.key) below the minimum stake") }
            guard v.key.isValid else { throw GenesisError("validator key \(v.key) is not a valid x-only public key") }
            try add(v.stake)
            put(&state, StateKey.staker(.validator, v.key), Staker(stake: v.stake, randaoCommitment: v.randaoCommitment, since: 0))
            put(&state, StateKey.stakeHistory(.validator, v.key, height: 0), v.stake)
        }
        var poolIds = Set<UInt32>()
        for (i, p) in g.pools.enumerated() {
            guard p.id == UInt32(i) else { throw GenesisError("pool ids must be 0, 1, 2, ... in order (pool \(p.id) at index \(i))") }
            guard poolIds.insert(p.id).inserted else { throw GenesisError("duplicate pool \(p.id)") }
            guard Ledger.executorSpecs.contains(p.executorSpec) else { throw GenesisError("pool \(p.id): unknown executor spec '\(p.executorSpec)'") }
            guard !p.shards.isEmpty else { throw GenesisError("pool \(p.id) has no shards") }
            try Ledger.checkHorizons(p, params)
            // The bond is what a false fraud claim loses; without it, claims that fail adjudication cost only their
            // transaction fee while each one takes a replay and holds the worker's settlement and unbonding.
            guard p.fraudProofBond > .zero else { throw GenesisError("pool \(p.id): fraudProofBond must be positive (a false claim would cost only its fee)") }
            for (j, sh) in p.shards.enumerated() {
                guard sh.layerStart < sh.layerEnd, sh.layerEnd <= p.model.numLayers else {
                    throw GenesisError("pool \(p.id) shard \(j): layer range \(sh.layerStart)..<\(sh.layerEnd) not within \(p.model.numLayers) layers")
                }
                // Every token a voucher counts must cost its payer something: a free kind of token would let a payer
                // inflate the worker's paid tokens at no charge and so dilute its coverage (Specs/economics.md §7, row 32).
                guard sh.priceInputToken > .zero, sh.priceOutputToken > .zero else {
                    throw GenesisError("pool \(p.id) shard \(j): priceInputToken and priceOutputToken must both be positive (input \(sh.priceInputToken.units), output \(sh.priceOutputToken.units))")
                }
            }
            put(&state, StateKey.pool(p.id), p)
        }
        var workerKeys = Set<[UInt8]>()
        for w in g.workers {
            guard let pool = g.pools.first(where: { $0.id == w.pool }) else { throw GenesisError("worker \(w.key) in unknown pool \(w.pool)") }
            guard workerKeys.insert(StateKey.staker(.worker(pool: w.pool), w.key)).inserted else {
                throw GenesisError("duplicate worker \(w.key) in pool \(w.pool)")
            }
            guard w.stake >= pool.minWorkerStake, w.stake > .zero else { throw GenesisError("worker \(w.key) below the pool's minimum stake") }
            try add(w.stake)
            let role = StakeRole.worker(pool: w.pool)
            put(&state, StateKey.staker(role, w.key), Staker(stake: w.stake, since: 0))
            put(&state, StateKey.stakeHistory(role, w.key, height: 0), w.stake)
        }
        for bps in [params.protocolFeeBps, params.equivocationSlashBps, params.livenessMaxMissedBps] where bps > 10_000 {
            throw GenesisError("a basis-point parameter exceeds 10000")
        }
        // Self-dealing must lose at least the protocol fee (Specs/economics.md §2): a zero fee would make it free.
        guard params.protocolFeeBps >= 1 else { throw GenesisError("ledger.protocolFeeBps must be at least 1 (self-dealing would cost nothing)") }
        guard params.maxAdjudicationsPerBlock >= 1 else { throw GenesisError("ledger.maxAdjudicationsPerBlock must be at least 1") }
        guard params.maxPayersPerWorkerWindow >= 1, params.maxAllocationsPerEscrow >= 1, params.maxClaimsPerTicket >= 1,
              params.maxCommitmentsPerWindow >= 1, params.maxLeavesPerCommitment >= 1 else {
            throw GenesisError("ledger limits (maxPayersPerWorkerWindow, maxAllocationsPerEscrow, maxClaimsPerTicket, maxCommitmentsPerWindow, maxLeavesPerCommitment) must be at least 1")
        }
        guard params.slotsPerEpoch > 0 else { throw GenesisError("slotsPerEpoch must be positive") }
        // A zero minimum keeps validators that unbonded everything in the next snapshot: with no stake left in it, no
        // slot has a leader and the chain halts for good (eighth review).
        guard params.validatorMinStake >= Amount(1) else { throw GenesisError("ledger.validatorMinStake must be at least 1") }
        // A zero fee floor makes failed transactions free spam and admits keys with no balance (ninth review F5).
        guard params.minFeePerByte >= 1 else { throw GenesisError("ledger.minFeePerByte must be at least 1") }
        // The minimum fee of the largest transaction must be a u64 (consensus arithmetic never wraps; encoding.md §6).
        guard params.maxTransactionBytes > 0,
              !params.minFeePerByte.multipliedReportingOverflow(by: UInt64(params.maxTransactionBytes)).overflow else {
            throw GenesisError("ledger.minFeePerByte × ledger.maxTransactionBytes must stay below 2^64 (minFeePerByte \(params.minFeePerByte), maxTransactionBytes \(params.maxTransactionBytes))")
        }
        try Self.checkHorizonSizes(params)
        try Self.checkChainParameters(params)
        put(&state, StateKey.global(.supply), supply.units)
        put(&state, StateKey.global(.burned), UInt64(0))
        put(&state, StateKey.global(.randaoMix), Tags.randao.hash(chainId.bytes))
        do {
            put(&state, StateKey.global(.schedule), try snapshot(of: state, epoch: 0))
            put(&state, StateKey.global(.nextSchedule), ValidatorSnapshot(epoch: 1, seed: .zero, validators: try activeValidators(in: state)))
            return try state.overlay.writeSet()
        } catch { throw GenesisError("cannot build the genesis state: \(error)") }
    }

    /// The largest value of any block-count parameter: sums of a dozen of them, doubled, stay far below 2⁶⁴.
    public static let maxHorizonBlocks: UInt64 = UInt64(UInt32.max)

    /// The chain's own block-count parameters are at most `maxHorizonBlocks` (see `checkHorizons`).
    public static func checkHorizonSizes(_ params: LedgerParams) throws(GenesisError) {
        let horizons: [(String, UInt64)] = [
            ("ledger.unbondingBlocks", params.unbondingBlocks), ("ledger.jailBlocks", params.jailBlocks),
            ("ledger.slotsPerEpoch", params.slotsPerEpoch), ("ledger.beaconDelay", params.beaconDelay),
            ("ledger.beaconMaxDelay", params.beaconMaxDelay), ("ledger.checkpointBlocks", params.checkpointBlocks),
            ("ledger.escrowUnlockBlocks", params.escrowUnlockBlocks),
            ("ledger.revealedKeyRetentionBlocks", params.revealedKeyRetentionBlocks),
        ]
        for (name, blocks) in horizons where blocks > maxHorizonBlocks {
            throw GenesisError("\(name) \(blocks) exceeds \(maxHorizonBlocks) blocks (2³² − 1): horizons that large would wrap around when added")
        }
    }

    /// The chain-wide parameter checks that do not depend on a pool. `genesisWriteSet` runs them for every genesis,
    /// with or without pools (a genesis without pools once skipped them, and `checkpointBlocks` 0 then halted the
    /// chain at its first block, a `missedSlotSlashBps` above 10 000 at its first missed slot); `checkHorizons` runs
    /// them again for the pool checks that rely on them.
    public static func checkChainParameters(_ params: LedgerParams) throws(GenesisError) {
        guard params.beaconDelay >= 1 else { throw GenesisError("ledger.beaconDelay must be at least 1 (the beacon must come after the commitment)") }
        guard params.beaconMaxDelay >= params.beaconDelay else {
            throw GenesisError("ledger.beaconMaxDelay \(params.beaconMaxDelay) is below ledger.beaconDelay \(params.beaconDelay)")
        }
        guard params.beaconMinProposers >= 1 else { throw GenesisError("ledger.beaconMinProposers must be at least 1") }
        guard params.missedSlotSlashBps <= 10_000 else { throw GenesisError("ledger.missedSlotSlashBps exceeds 10000") }
        guard params.checkpointBlocks >= 1 else { throw GenesisError("ledger.checkpointBlocks must be at least 1") }
        // A checkpoint's hash and set age out unbondingBlocks after it (Specs/consensus.md §8 **Checkpoints**), and
        // validators vote for it over the next checkpointBlocks blocks: half the period leaves room for inclusion.
        guard params.checkpointBlocks <= params.unbondingBlocks / 2 else {
            throw GenesisError("ledger.checkpointBlocks \(params.checkpointBlocks) exceeds half of ledger.unbondingBlocks \(params.unbondingBlocks): a checkpoint ages out unbondingBlocks after it, before the votes cast for it over the next checkpointBlocks blocks could count")
        }
        guard params.maxVotesPerTransaction >= 1 else { throw GenesisError("ledger.maxVotesPerTransaction must be at least 1") }
        guard params.maxCommitmentsPerBlock >= 1 else { throw GenesisError("ledger.maxCommitmentsPerBlock must be at least 1") }
    }

    /// The timing and economic checks of a pool against the chain parameters (Specs/economics.md §6): every
    /// horizon fits the ones that must outlast it, and the payable cap keeps cheating unprofitable.
    public static func checkHorizons(_ p: PoolConfig, _ params: LedgerParams) throws(GenesisError) {
        let id = "pool \(p.id)"
        // Every horizon is a sum of at most a dozen of these, and is doubled once (unbonding): below 2³² each, no such
        // sum can wrap around 2⁶⁴ and pass a check it fails (a wrapped settlement horizon settled windows before their
        // commit deadline and halted the chain). 2³² blocks of 10 s are over a thousand years.
        try checkHorizonSizes(params)
        var horizons: [(String, UInt64)] = [
            ("\(id): windowBlocks", p.windowBlocks), ("\(id): commitGraceBlocks", p.commitGraceBlocks),
            ("\(id): challengeBlocks", p.challengeBlocks), ("\(id): revealDeadlineBlocks", p.revealDeadlineBlocks),
            ("\(id): fraudRevealBlocks", p.fraudRevealBlocks),
        ]
        if let c = p.checking {
            horizons += [("\(id) checking: checkerActivationBlocks", c.checkerActivationBlocks),
                         ("\(id) checking: answerCommitBlocks", c.answerCommitBlocks), ("\(id) checking: unblindBlocks", c.unblindBlocks),
                         ("\(id) checking: answerRevealBlocks", c.answerRevealBlocks),
                         ("\(id) checking: disputeInputBlocks", c.disputeInputBlocks),
                         ("\(id) checking: checkerBenchBlocks", c.checkerBenchBlocks)]
        }
        for (name, blocks) in horizons where blocks > Self.maxHorizonBlocks {
            throw GenesisError("\(name) \(blocks) exceeds \(Self.maxHorizonBlocks) blocks (2³² − 1): horizons that large would wrap around when added")
        }
        guard p.windowBlocks > 0 else { throw GenesisError("\(id): windowBlocks must be positive") }
        guard p.commitGraceBlocks >= 1 else { throw GenesisError("\(id): commitGraceBlocks must be at least 1") }
        guard p.challengeBlocks >= 1 else { throw GenesisError("\(id): challengeBlocks must be at least 1") }
        try checkChainParameters(params)
        // A proposer cartel could censor reveals and fraud reveals for as many consecutive slots as it leads;
        // three slots in a row happen with probability s³ for a cartel of stake share s (1/27 at s = 1/3).
        guard p.revealDeadlineBlocks >= 3 else { throw GenesisError("\(id): revealDeadlineBlocks must be at least 3 (censorship margin)") }
        guard p.fraudRevealBlocks >= 3 else { throw GenesisError("\(id): fraudRevealBlocks must be at least 3 (censorship margin)") }
        guard p.spotCheckPpm >= 1, p.spotCheckPpm <= 1_000_000 else { throw GenesisError("\(id): spotCheckPpm must be in 1...1000000") }
        guard p.maxTicketsPerCommitment >= 1 else { throw GenesisError("\(id): maxTicketsPerCommitment must be at least 1") }
        guard p.maxTokensPerPass > 0 else { throw GenesisError("\(id): maxTokensPerPass must be positive") }
        // Every pass input must fit the transactions that carry an input to the replay (fraudReveal, publishSealedInput:
        // TxLimits.maxInputBytes). A sealed envelope may be 4096 bytes larger, so without this a sealed input could be
        // revealed that no fraud claim or dispute publication can ever carry: an attested false output could never be
        // challenged, and a withheld key would keep colluding checkers from their replay.
        guard UInt64(p.maxTokensPerPass) * UInt64(p.model.hiddenSize) <= UInt64(TxLimits.maxInputBytes - 22) / 4 else {
            throw GenesisError("\(id): maxTokensPerPass \(p.maxTokensPerPass) × hiddenSize \(p.model.hiddenSize) gives inputs above the \(TxLimits.maxInputBytes) bytes a fraud proof can carry (22 + 4 × tokens × hidden)")
        }
        // ... and the chain's transaction size: a pass whose reveal is `oversized` can be committed but never revealed, so
        // an honest worker serving the pool's own maximum would be convicted as withholding (ninth review F5).
        let largestInput = 22 + 4 * UInt64(p.maxTokensPerPass) * UInt64(p.model.hiddenSize)
        guard params.maxTransactionBytes > 0,
              largestInput + UInt64(TxLimits.passCarrierOverheadBytes) <= UInt64(params.maxTransactionBytes) else {
            throw GenesisError("\(id): maxTokensPerPass \(p.maxTokensPerPass) × hiddenSize \(p.model.hiddenSize) gives inputs of \(largestInput) bytes, and a reveal carrying one needs up to \(TxLimits.passCarrierOverheadBytes) more: above ledger.maxTransactionBytes \(params.maxTransactionBytes)")
        }
        for (name, bps) in [("fraudSlashBps", p.fraudSlashBps), ("verifierBountyBps", p.verifierBountyBps),
                            ("payableCapBps", p.payableCapBps)] where bps > 10_000 {
            throw GenesisError("\(id): \(name) exceeds 10000")
        }
        guard p.fraudSlashBps > 0 else { throw GenesisError("\(id): fraudSlashBps must be positive") }
        guard p.minReplayProbabilityBps > 0, p.minReplayProbabilityBps < 10_000 else {
            throw GenesisError("\(id): minReplayProbabilityBps must be in 1...9999")
        }
        // With checkers the replay probability is a protocol fact, v_min = 1 − (1 − h)^k (Specs/verification.md §6).
        var v = p.minReplayProbabilityBps, vName = "minReplayProbabilityBps"
        if let c = p.checking {
            try checkChecking(c, p)
            v = c.minReplayProbabilityBps
            vName = "the checkers' v_min (checkersPerTicket \(c.checkersPerTicket), checkerHonestStakeBps \(c.checkerHonestStakeBps))"
        }
        // Cheating loses money when cap ≤ σ·(1 − β)·v/(1−v) of stake (Specs/economics.md §5): a caught cheater loses
        // the slash σ less the bounty β of it, which its own claim (a second key, committed first) can win back (§7 row
        // 53). In basis points: κ·(10 000 − v)·10 000 ≤ σ·(10 000 − β)·v, every product below 10¹².
        let netSlash = UInt64(p.fraudSlashBps) * UInt64(10_000 - p.verifierBountyBps)
        let bound = netSlash * UInt64(v) / (UInt64(10_000 - v) * 10_000)
        guard UInt64(p.payableCapBps) <= bound else {
            throw GenesisError("\(id): payableCapBps \(p.payableCapBps) exceeds fraudSlashBps·(1 − verifierBountyBps)·v/(1−v) = \(bound) for \(vName) = \(v) bps: cheating would pay (a self-proving cheater wins the bounty back)")
        }
        let horizon = p.settlementHorizon(beaconDelay: params.selectionDelayBound)
        guard params.unbondingBlocks >= 2 &* horizon else {
            throw GenesisError("ledger.unbondingBlocks \(params.unbondingBlocks) is shorter than twice \(id)'s slashing horizon \(horizon) (windowBlocks + commitGraceBlocks + beaconMaxDelay + revealDeadlineBlocks + challengeBlocks + fraudRevealBlocks): a cheater could unbond before its punishment")
        }
        guard params.escrowUnlockBlocks >= p.windowBlocks &+ p.commitGraceBlocks &+ 3 else {
            throw GenesisError("ledger.escrowUnlockBlocks \(params.escrowUnlockBlocks) is shorter than \(id)'s claim horizon windowBlocks + commitGraceBlocks + 3 = \(p.windowBlocks &+ p.commitGraceBlocks &+ 3): an owner could close ahead of a payee's last claim")
        }
        guard params.revealedKeyRetentionBlocks >= horizon else {
            throw GenesisError("ledger.revealedKeyRetentionBlocks \(params.revealedKeyRetentionBlocks) is shorter than \(id)'s settlement horizon \(horizon)")
        }
    }

    /// A pool's checking section (Specs/verification.md §1): committee size, phase lengths that a three-slot
    /// proposer run cannot censor, slashes in range, and a fee that makes replaying worth more than skipping.
    static func checkChecking(_ c: CheckingConfig, _ p: PoolConfig) throws(GenesisError) {
        let id = "pool \(p.id) checking"
        guard (1...16).contains(c.checkersPerTicket) else { throw GenesisError("\(id): checkersPerTicket must be in 1...16") }
        for (name, blocks) in [("answerCommitBlocks", c.answerCommitBlocks), ("unblindBlocks", c.unblindBlocks),
                               ("answerRevealBlocks", c.answerRevealBlocks), ("disputeInputBlocks", c.disputeInputBlocks)] where blocks < 3 {
            throw GenesisError("\(id): \(name) must be at least 3 (censorship margin)")
        }
        for (name, bps) in [("checkerAbsentSlashBps", c.checkerAbsentSlashBps), ("checkerFalseAlarmSlashBps", c.checkerFalseAlarmSlashBps),
                            ("checkerCollusionSlashBps", c.checkerCollusionSlashBps)] where bps > 10_000 {
            throw GenesisError("\(id): \(name) exceeds 10000")
        }
        guard c.checkerAbsentSlashBps > 0 else { throw GenesisError("\(id): checkerAbsentSlashBps must be positive (absence must cost)") }
        guard c.checkerHonestStakeBps >= 1, c.checkerHonestStakeBps <= 9_999 else {
            throw GenesisError("\(id): checkerHonestStakeBps must be in 1...9999")
        }
        guard c.checkerMinStake > .zero else { throw GenesisError("\(id): checkerMinStake must be positive") }
        guard c.maxCheckers >= c.checkersPerTicket else { throw GenesisError("\(id): maxCheckers must be at least checkersPerTicket") }
        // A wrong answer must cost more than a right one earns: at the minimum stake, a false alarm's (and a
        // collusion's) slash is at least one fee. Otherwise a lazy guesser or a colluder with little stake profits
        // (the economy simulation found it at checkerMinStake 1 000 against a fee of 6 000).
        let lieCost = c.checkerMinStake.basisPoints(min(c.checkerFalseAlarmSlashBps, c.checkerCollusionSlashBps))
        guard lieCost >= c.checkFee else {
            throw GenesisError("\(id): checkerMinStake \(c.checkerMinStake) × min(checkerFalseAlarmSlashBps, checkerCollusionSlashBps) / 10000 = \(lieCost) is below checkFee \(c.checkFee): a wrong answer would cost less than a right one earns")
        }
        // Replaying must be worth more than skipping: the fee covers a conservative replay cost, a quarter of the
        // price of a full pass of output tokens on the dearest shard.
        let price = p.shards.map(\.priceOutputToken.units).max() ?? 0
        let (cost, o) = price.multipliedReportingOverflow(by: UInt64(p.maxTokensPerPass))
        guard !o, c.checkFee.units >= cost / 4 else {
            throw GenesisError("\(id): checkFee \(c.checkFee) is below the replay cost bound priceOutputToken × maxTokensPerPass / 4 = \(o ? "overflow" : String(cost / 4))")
        }
    }

    private func put(_ state: inout LedgerState, _ key: [UInt8], _ value: some CanonicalEncodable) {
        state.put(key, value)
    }
}

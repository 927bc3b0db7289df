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
            guard p.windowBlocks > 0, p.revealDeadlineBlocks > 0 else { throw GenesisError("pool \(p.id): window and reveal deadline must be positive") }
            guard p.spotCheckPpm <= 1_000_000 else { throw GenesisError("pool \(p.id): spot-check rate above 100 %") }
            for bps in [p.fraudSlashBps, p.withholdSlashBps, p.verifierBountyBps] where bps > 10_000 {
                throw GenesisError("pool \(p.id): a basis-point parameter exceeds 10000")
            }
            for (j, s) in p.shards.enumerated() {
                guard s.layerStart < s.layerEnd, s.layerEnd <= p.model.numLayers else {
                    throw GenesisError("pool \(p.id) shard \(j): layer range \(s.layerStart)..<\(s.layerEnd) not within \(p.model.numLayers) layers")
                }
                guard s.costWeight > 0 else { throw GenesisError("pool \(p.id) shard \(j): cost weight must be positive") }
            }
            guard p.maxTokensPerPass > 0 else { throw GenesisError("pool \(p.id): maxTokensPerPass must be positive") }
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
        guard params.slotsPerEpoch > 0 else { throw GenesisError("slotsPerEpoch must be positive") }
        put(&state, StateKey.global(.supply), supply.units)
        put(&state, StateKey.global(.burned), UInt64(0))
        put(&state, StateKey.global(.randaoMix), Tags.randao.hash(chainId.bytes))
        do {
            put(&state, StateKey.global(.schedule), try snapshot(of: state, epoch: 0))
            return try state.overlay.writeSet()
        } catch { throw GenesisError("cannot build the genesis state: \(error)") }
    }

    private func put(_ state: inout LedgerState, _ key: [UInt8], _ value: some CanonicalEncodable) {
        state.put(key, value)
    }
}

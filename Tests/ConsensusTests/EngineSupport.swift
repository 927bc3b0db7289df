import Foundation
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Deterministic adjudicator for consensus tests.
struct HashAdjudicator: Adjudicator {
    func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict { .output(Tags.tensor.hash(r.input.reversed())) }
}


/// A small test network definition: validators with short RANDAO chains, funded accounts, one pool.
struct TestNetwork {
    let validators: [PrivateKey]
    let chains: [RandaoHashChain]
    let accounts: [PrivateKey]
    let genesis: Genesis

    init(validators n: Int = 1, accounts m: Int = 4, finalityDepth: UInt64 = 6, slotsPerEpoch: UInt64 = 16, windowBlocks: UInt64 = 5,
         maxBlockTransactions: Int? = nil, maxBlockBytes: Int? = nil, checkpointBlocks: UInt64 = 10) {
        validators = (0..<n).map { key("validator-\($0)") }
        chains = validators.map { RandaoHashChain(seed: SHA256.hash($0.secretBytes), length: 3000) }
        accounts = (0..<m).map { key("account-\($0)") }
        var consensus = ConsensusParams()
        consensus.slotSeconds = 1
        consensus.finalityDepth = finalityDepth
        if let maxBlockTransactions { consensus.maxBlockTransactions = maxBlockTransactions }
        if let maxBlockBytes { consensus.maxBlockBytes = maxBlockBytes }
        var ledger = LedgerParams()
        ledger.slotsPerEpoch = slotsPerEpoch
        ledger.unbondingBlocks = 40
        ledger.checkpointBlocks = checkpointBlocks
        ledger.beaconMaxDelay = ledger.beaconDelay
        ledger.jailBlocks = 10
        let pool = PoolConfig(id: 0, modelId: "tiny", executorSpec: "canon-f32-v1",
                              model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 2,
                                               rmsNormEpsBits: 0x3586_37bd, ropeThetaBits: 0x461c_4000, qkvBias: true),
                              shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 2)],
                              minWorkerStake: 100, windowBlocks: windowBlocks, commitGraceBlocks: 1, challengeBlocks: 1,
                              revealDeadlineBlocks: 3, fraudRevealBlocks: 3)
        genesis = Genesis(chainName: "test", genesisTime: 1_700_000_000, consensus: consensus, ledger: ledger,
                          allocation: GenesisAllocation(
                            balances: accounts.map { .init(key: $0.publicKey, amount: 10_000_000) },
                            validators: zip(validators, chains).map { .init(key: $0.publicKey, stake: 1000, randaoCommitment: $1.commitment) },
                            workers: accounts.prefix(1).map { .init(key: $0.publicKey, pool: 0, stake: 1000) },
                            pools: [pool]))
    }

    func storeOptions() -> DatabaseOptions {
        var o = DatabaseOptions.small
        o.syncWrites = false
        return o
    }

    func engine(at dir: TempDir) throws -> ChainEngine {
        try ChainEngine(genesis: genesis, store: try ChainStore(path: dir.path, genesis: genesis.chainId, options: storeOptions()),
                        adjudicator: HashAdjudicator())
    }

    func now(_ slot: UInt64) -> UInt64 { genesis.slotStartMillis(slot) + 100 }

    func index(of key: PublicKey) -> Int { validators.firstIndex { $0.publicKey == key }! }

    /// The reveal a validator gives next on `engine`'s chain (its current commitment's preimage).
    func reveal(_ engine: ChainEngine, _ v: Int) throws -> Hash32 {
        let commitment = try engine.tipState.staker(.validator, validators[v].publicKey)!.randaoCommitment
        return chains[v].reveal(for: commitment)!.reveal
    }

    /// Produces (as the slot's leader) and imports a block at the first slot ≥ `from` led by a validator
    /// in `allowed`; returns the block.
    @discardableResult
    func produce(_ engine: ChainEngine, from: UInt64? = nil, allowed: Set<Int>? = nil, txs: [SignedTransaction] = []) throws -> Block {
        var slot = from ?? engine.tipHeader.slot + 1
        while true {
            let leader = try engine.leader(of: slot)!
            let v = index(of: leader)
            if allowed == nil || allowed!.contains(v) {
                let b = try engine.produceBlock(slot: slot, key: validators[v], randaoReveal: try reveal(engine, v), candidates: txs, now: now(slot))
                _ = try engine.importBlock(b, now: now(slot))
                return b
            }
            slot += 1
        }
    }

    /// The canonical checkpoint at height `h` of `engine`'s chain.
    func checkpoint(_ engine: ChainEngine, _ h: UInt64) throws -> Checkpoint {
        guard h > 0 else { return Checkpoint(height: 0, hash: engine.genesisHash) }
        guard let hash = try engine.store.current.canonicalHash(at: h) else { throw ImportError.fault("no canonical block at \(h)") }
        return Checkpoint(height: h, hash: hash)
    }

    /// Every validator's finality vote `source → target`, in one transaction from account 0.
    func allVotes(_ engine: ChainEngine, _ source: Checkpoint, _ target: Checkpoint) throws -> SignedTransaction {
        let vs = validators.map { FinalityVote(validator: $0.publicKey, source: source, target: target).signed(by: $0, chainId: genesis.chainId) }
        let sender = accounts[0]
        return Transaction(chainId: genesis.chainId, sender: sender.publicKey, nonce: try engine.tipState.account(sender.publicKey).nonce,
                           fee: 10_000, body: .finalityVotes(votes: vs)).signed(by: sender)
    }

    func transfer(_ engine: ChainEngine, from: Int, to: PublicKey, amount: UInt64, nonce: UInt64? = nil) throws -> SignedTransaction {
        let k = accounts[from]
        let n = try nonce ?? engine.tipState.account(k.publicKey).nonce
        return Transaction(chainId: genesis.chainId, sender: k.publicKey, nonce: n, fee: 1_000, body: .transfer(to: to, amount: Amount(amount))).signed(by: k)
    }
}

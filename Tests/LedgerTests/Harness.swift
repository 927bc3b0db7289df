import Foundation
import Testing
@testable import Ledger
@testable import Primitives


/// Deterministic key from a label (tests only).
func testKey(_ label: String) -> PrivateKey {
    try! PrivateKey(secretBytes: SHA256.hash(Array("sharechain-test-key/\(label)".utf8)).bytes)
}

/// The deterministic "executor" tests use: the canonical output hash of an input is a tagged hash of it.
struct FakeAdjudicator: Adjudicator {
    static func canonicalOutput(input: [UInt8], shard: Int, positionOffset: UInt64) -> Hash32 {
        var w = CanonicalWriter()
        w.bytes(input); w.u32(UInt32(shard)); w.u64(positionOffset)
        return TaggedHash("test/fake-executor").hash(w.bytes)
    }

    func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict {
        if r.input.isEmpty { return .invalidInput("empty input") }
        return .output(Self.canonicalOutput(input: r.input, shard: r.shardIndex, positionOffset: r.positionOffset))
    }
}

/// Fake header format for equivocation tests: proposer(32) ‖ height u64 ‖ slot u64 ‖ payload, plus a valid
/// Schnorr signature of the proposer over the tagged hash of those bytes (last 64 bytes).
struct FakeEquivocationVerifier: EquivocationVerifier {
    static func header(_ key: PrivateKey, height: UInt64, slot: UInt64, payload: UInt8) -> [UInt8] {
        var w = CanonicalWriter()
        w.encode(key.publicKey); w.u64(height); w.u64(slot); w.u8(payload)
        let sig = key.sign(digest: TaggedHash("test/header").hash(w.bytes))
        return w.bytes + sig.bytes
    }

    func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation? {
        func parse(_ b: [UInt8]) -> (PublicKey, UInt64, UInt64)? {
            guard b.count == 32 + 8 + 8 + 1 + 64 else { return nil }
            var r = CanonicalReader(Array(b[0..<49]))
            guard let k = try? r.decode(PublicKey.self), let h = try? r.u64("h"), let s = try? r.u64("s"),
                  let sig = Signature(bytes: b[49...]), k.verify(sig, digest: TaggedHash("test/header").hash(Array(b[0..<49])))
            else { return nil }
            return (k, h, s)
        }
        guard headerA != headerB, let a = parse(headerA), let b = parse(headerB), a.0 == b.0, a.2 == b.2 else { return nil }
        return Equivocation(offender: a.0, slot: a.2)
    }
}

/// A chain in memory: genesis, then blocks produced by round-robin validators, with invariants checked after
/// every block.
struct Chain {
    var ledger: Ledger
    let state = MemoryState()
    var validators: [(key: PrivateKey, chain: RandaoHashChain)]
    var revealIndex: [PublicKey: Int] = [:]
    var height: UInt64 = 0
    var slot: UInt64 = 0
    var stateRoot: Hash32
    var lastReceipts: [Receipt] = []
    /// Every applied block's inputs, for replaying on another state backend.
    var history: [(BlockContext, [SignedTransaction])] = []
    let genesisWriteSet: WriteSet
    var checkInvariants = true
    /// When set, each block's context carries a stand-in parent hash (`blockHashes`), so finality checkpoints
    /// have distinct hashes; otherwise the parent hash is zero.
    var pseudoBlockHashes = false
    /// Stand-in block hashes by height (index 0: genesis), filled while `pseudoBlockHashes` is set.
    var blockHashes: [Hash32] = [SHA256.hash(Array("genesis".utf8))]
    /// Incremental invariants every block; a full scan every `fullCheckEvery` blocks cross-checks them.
    var tracker: InvariantTracker?
    var fullCheckEvery: UInt64 = 100

    static let chainId = SHA256.hash(Array("sharechain-test-chain".utf8))

    /// Window 0 covers heights 1-10, accepts commitments until 12, its challenge end is 12+2+3+2 = 19 and it
    /// settles at the end of block 22.
    static func defaultPool(id: UInt32 = 0) -> PoolConfig {
        PoolConfig(
            id: id, modelId: "tiny-test", executorSpec: "canon-f32-v1",
            model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 4,
                             rmsNormEpsBits: 0x3727_C5AC, ropeThetaBits: 0x461C_4000, qkvBias: false),
            shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: false, weightsSHA256: .zero, priceInputToken: 2, priceOutputToken: 7),
                     PoolShard(layerStart: 2, layerEnd: 4, finalNorm: true, weightsSHA256: .zero, priceInputToken: 3, priceOutputToken: 9)],
            minWorkerStake: 100, windowBlocks: 10, commitGraceBlocks: 2, challengeBlocks: 2, spotCheckPpm: 1_000_000,
            maxTicketsPerCommitment: 16, ticketFee: 1, revealDeadlineBlocks: 3, fraudRevealBlocks: 3, fraudSlashBps: 5000,
            verifierBountyBps: 1000, fraudProofBond: 50, maxTokensPerPass: 16, payableCapBps: 2000, minReplayProbabilityBps: 3333)
    }

    static func defaultParams() -> LedgerParams {
        var p = LedgerParams()
        p.unbondingBlocks = 50
        p.jailBlocks = 8
        p.slotsPerEpoch = 16
        p.beaconDelay = 2
        p.beaconMaxDelay = 2
        p.minFeePerByte = 1
        p.escrowUnlockBlocks = 20
        p.revealedKeyRetentionBlocks = 30
        return p
    }

    init(validatorCount: Int = 1, accounts: [(PrivateKey, Amount)] = [], workers: [(PrivateKey, UInt32, Amount)] = [],
         pools: [PoolConfig] = [Chain.defaultPool()], params: LedgerParams = Chain.defaultParams()) throws {
        ledger = Ledger(params: params, chainId: Chain.chainId, adjudicator: FakeAdjudicator(),
                        equivocationVerifier: FakeEquivocationVerifier())
        validators = (0..<validatorCount).map { i in
            let k = testKey("validator-\(i)")
            return (k, RandaoHashChain(seed: SHA256.hash(k.secretBytes), length: 4096))
        }
        let alloc = GenesisAllocation(
            balances: accounts.map { .init(key: $0.0.publicKey, amount: $0.1) },
            validators: validators.map { .init(key: $0.key.publicKey, stake: 1000, randaoCommitment: $0.chain.commitment) },
            workers: workers.map { .init(key: $0.0.publicKey, pool: $0.1, stake: $0.2) },
            pools: pools)
        let ws = try ledger.genesisWriteSet(alloc)
        genesisWriteSet = ws
        state.apply(ws)
        stateRoot = StateCommitment.next(previous: Chain.chainId, height: 0, writeSet: ws)
        for v in validators { revealIndex[v.key.publicKey] = v.chain.length }
        tracker = try InvariantTracker(state: state)
    }

    /// The next reveal for a validator (index tracks the chain position locally; it advances only when a
    /// block is applied).
    func nextReveal(_ key: PublicKey) -> Hash32 {
        let chain = validators.first { $0.key.publicKey == key }!.chain
        return chain.value(revealIndex[key]! - 1)
    }

    /// The context of the next block (round-robin proposer, next slot), for building a block without applying it.
    func nextContext() -> BlockContext {
        let p = validators[Int(height % UInt64(validators.count))].key.publicKey
        return BlockContext(height: height + 1, slot: slot + 1, proposer: p, randaoReveal: nextReveal(p), missedSlots: [],
                            parentHash: pseudoBlockHashes ? blockHashes[Int(height)] : .zero)
    }

    /// Builds, signs nothing, applies one block of `txs`; returns receipts. `proposer` defaults to round-robin.
    @discardableResult
    mutating func block(_ txs: [SignedTransaction] = [], proposer: Int? = nil, skipSlots: UInt64 = 0,
                        missed: [BlockContext.MissedSlot] = [], randaoReveal: Hash32? = nil) throws -> [Receipt] {
        let p = validators[proposer ?? Int((height) % UInt64(validators.count))].key.publicKey
        let ctx = BlockContext(height: height + 1, slot: slot + 1 + skipSlots, proposer: p, randaoReveal: randaoReveal ?? nextReveal(p),
                               missedSlots: missed, parentHash: pseudoBlockHashes ? blockHashes[Int(height)] : .zero)
        var ls = LedgerState(base: state)
        let receipts = try ledger.applyBlock(ctx, transactions: txs, to: &ls)
        let ws = try ls.overlay.writeSet()
        // The tracker only reads old values of the keys the block wrote.
        let before = MemoryState(entries: checkInvariants ? ws.entries.compactMap { e in state.get(e.key).map { KeyValue(key: e.key, value: $0) } } : [])
        state.apply(ws)
        if checkInvariants, var t = tracker {
            try t.apply(ws, before: before, after: state)
            tracker = t
        }
        revealIndex[p]! -= 1
        history.append((ctx, txs))
        height += 1
        slot = ctx.slot
        stateRoot = StateCommitment.next(previous: stateRoot, height: height, writeSet: ws)
        if pseudoBlockHashes {
            while blockHashes.count < Int(height) { blockHashes.append(.zero) }
            blockHashes.append(SHA256.hash(stateRoot.bytes + height.bigEndianBytes))
        }
        lastReceipts = receipts
        if checkInvariants && height % fullCheckEvery == 0 {
            let full = try Invariants.check(state)
            if full != tracker?.report { throw InvariantViolation("incremental report \(String(describing: tracker?.report)) != full \(full)") }
        }
        return receipts
    }

    /// Applies empty blocks up to `height`.
    mutating func advance(to target: UInt64) throws {
        while height < target { try block() }
    }

    var ledgerState: LedgerState { LedgerState(base: state) }

    func account(_ key: PublicKey) throws -> Account { try ledgerState.account(key) }
    func balance(_ key: PublicKey) throws -> UInt64 { try account(key).balance.units }
    func staker(_ role: StakeRole, _ key: PublicKey) throws -> Staker? { try ledgerState.staker(role, key) }
    func record<T: CanonicalDecodable>(_ key: [UInt8], _ t: T.Type) throws -> T? { try ledgerState.record(key, t) }
    func burned() throws -> UInt64 { try ledgerState.globalU64(.burned) }

    /// A signed transaction from `key` with the right nonce and a sufficient fee.
    func tx(_ key: PrivateKey, _ body: TxBody, nonce: UInt64? = nil, fee: UInt64? = nil) throws -> SignedTransaction {
        let n = try nonce ?? account(key.publicKey).nonce
        // Fee = 1 per byte; sign once with a placeholder fee to learn the size (the fee is fixed width).
        let probe = Transaction(chainId: Chain.chainId, sender: key.publicKey, nonce: n, fee: 0, body: body).signed(by: key)
        let f = fee ?? UInt64(probe.encodedSize) * ledger.params.minFeePerByte
        // Deterministic signatures (zero auxiliary randomness): the reveal's transaction id is part of state, so
        // two runs of one seed must sign identically.
        let t = Transaction(chainId: Chain.chainId, sender: key.publicKey, nonce: n, fee: Amount(f), body: body)
        return SignedTransaction(transaction: t, signature: key.sign(digest: t.signingHash, auxRand: .zero))
    }
}

extension Receipt {
    var failure: FailureReason? { if case .failed(let r) = status { return r }; return nil }
    var succeeded: Bool { status == .success }
}

/// A canonical `[tokens, 8]` input tensor from a seed (finite, no negative zero).
func testInput(tokens: UInt32, seed: UInt64) -> [UInt8] {
    var g = SplitMix64(seed: seed)
    let values = (0..<Int(tokens) * 8).map { _ in Float(Int(g.next() % 2000) + 1) / 256 }
    return CanonicalInput.encode(tokens: tokens, hidden: 8, bitPatterns: values.map(\.bitPattern))
}

/// A worker's passes for one commitment: a sum tree sorted by content key, inputs by leaf index, and which
/// leaves carry a wrong output.
struct PassBatch {
    var tree: SumTree.Built
    var inputs: [[UInt8]]
    var cheated: Set<Int>
    var root: Hash32 { tree.root.hash }
    var tokenCount: UInt64 { tree.tokenTotal }
    var leafCount: UInt32 { tree.leafCount }
    var leaves: [PassLeaf] { tree.leaves }

    /// `count` passes on `shard`; passes in `cheat` (by creation order) get a wrong output hash.
    static func make(count: Int, shard: UInt32, seed: UInt64, cheat: Set<Int> = []) -> PassBatch {
        var g = SplitMix64(seed: seed)
        var passes = [(PassLeaf, [UInt8], Bool)]()
        for i in 0..<count {
            let tokens = UInt32.random(in: 1...4, using: &g)
            let input = testInput(tokens: tokens, seed: g.next())
            let offset = UInt64(i) * 4
            var out = FakeAdjudicator.canonicalOutput(input: input, shard: Int(shard), positionOffset: offset)
            if cheat.contains(i) { out = SHA256.hash(out.bytes) }
            passes.append((PassLeaf(index: 0, shard: shard, positionOffset: offset, tokenCount: tokens,
                                    inputHash: Tags.tensor.hash(input), outputHash: out), input, cheat.contains(i)))
        }
        return from(passes)
    }

    /// Builds the tree from passes (leaf, input, cheated).
    static func from(_ passes: [(PassLeaf, [UInt8], Bool)]) -> PassBatch {
        let tree = try! SumTree.build(passes.map(\.0))
        var byKey = [Hash32: ([UInt8], Bool)]()
        for p in passes { byKey[p.0.contentKey] = (p.1, p.2) }
        return PassBatch(tree: tree, inputs: tree.leaves.map { byKey[$0.contentKey]!.0 },
                         cheated: Set(tree.leaves.indices.filter { byKey[tree.leaves[$0].contentKey]!.1 }))
    }

    /// The reveal body for a ticket whose sampled token is `point`.
    func reveal(_ ticketId: Hash32, point: UInt64) -> TxBody {
        let i = tree.leaf(containing: point)!
        let (l, r) = tree.neighbours(i)
        return .revealTicket(ticketId: ticketId, leaf: tree.proof(i), left: l, right: r, input: inputs[i])
    }

    func leafIndex(point: UInt64) -> Int { tree.leaf(containing: point)! }
}

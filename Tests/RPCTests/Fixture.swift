import Foundation
import Synchronization
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
@testable import Storage

/// Deterministic adjudicator: the canonical output of an input is the tensor hash of its bytes reversed.
struct ReverseAdjudicator: Adjudicator {
    static func output(_ input: [UInt8]) -> Hash32 { Tags.tensor.hash(Array(input.reversed())) }
    func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict { .output(Self.output(r.input)) }
}

/// A throwaway directory, removed when released.
final class TempDir: Sendable {
    let path: String
    init(_ label: String = "rpc") {
        path = NSTemporaryDirectory() + "sharechain-\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A settable clock.
final class TestClock: Sendable {
    private let value: Mutex<UInt64>
    init(_ v: UInt64) { value = Mutex(v) }
    func set(_ v: UInt64) { value.withLock { $0 = v } }
    var now: UInt64 { value.withLock { $0 } }
}

func fixtureKey(_ label: String) -> PrivateKey {
    // Labels are fixed strings, so the secret is always valid; a failure is a broken fixture.
    try! PrivateKey(secretBytes: SHA256.hash(Array("rpc-test/\(label)".utf8)).bytes)
}

/// Deterministic signing (BIP-340 with zero auxiliary randomness) so transaction ids and block signatures are
/// the same on every run, which golden files need.
func signed(_ t: Transaction, _ key: PrivateKey) -> SignedTransaction {
    SignedTransaction(transaction: t, signature: key.sign(digest: t.signingHash, auxRand: .zero))
}

/// A worker's passes for one commitment.
struct Passes {
    var leaves: [PassLeaf]
    var inputs: [[UInt8]]
    var root: Hash32 { Merkle.root(leafHashes: leaves.map(\.merkleLeafHash)) }
    var tokens: UInt64 { leaves.reduce(0) { $0 + UInt64($1.tokenCount) } }
    func proof(_ i: Int) -> [Hash32] { Merkle.proof(index: i, leafHashes: leaves.map(\.merkleLeafHash)) }

    /// `count` passes; with `cheat` every committed output is wrong.
    static func make(count: Int, seed: UInt8, cheat: Bool) -> Passes {
        var leaves = [PassLeaf](), inputs = [[UInt8]]()
        for i in 0..<count {
            let tokens = UInt32(1 + i % 3)
            let input = (0..<Int(tokens) * 8).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ i &* 7 &+ $0) }
            var out = ReverseAdjudicator.output(input)
            if cheat { out = SHA256.hash(out.bytes) }
            leaves.append(PassLeaf(shard: 0, positionOffset: UInt64(i) * 4, tokenCount: tokens, inputHash: Tags.tensor.hash(input), outputHash: out))
            inputs.append(input)
        }
        return Passes(leaves: leaves, inputs: inputs)
    }
}

/// The test network: one validator, funded accounts, two genesis workers of pool 0 with short windows so a
/// few blocks cover escrow, shares, tickets, a fraud proof and a settled window.
struct TestChain {
    let validator = fixtureKey("validator-0")
    let chain: RandaoHashChain
    let alice = fixtureKey("alice"), bob = fixtureKey("bob"), carol = fixtureKey("carol")
    let honest = fixtureKey("worker-honest"), cheat = fixtureKey("worker-cheat"), verifier = fixtureKey("verifier")
    let genesis: Genesis

    init() {
        chain = RandaoHashChain(seed: SHA256.hash(validator.secretBytes), length: 400)
        var consensus = ConsensusParams()
        consensus.finalityDepth = 4
        var ledger = LedgerParams()
        ledger.slotsPerEpoch = 16
        ledger.unbondingBlocks = 20
        ledger.jailBlocks = 10
        let pool = PoolConfig(id: 0, modelId: "tiny-test", executorSpec: "canon-f32-v1",
                              model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 2,
                                               rmsNormEpsBits: 0x3586_37bd, ropeThetaBits: 0x461c_4000, qkvBias: true),
                              shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: SHA256.hash([1]), costWeight: 2)],
                              priceInputToken: 1, priceOutputToken: 2, minWorkerStake: 100, windowBlocks: 4, challengeBlocks: 4,
                              spotCheckPpm: 500_000, revealDeadlineBlocks: 3, fraudProofBond: 100, maxTokensPerPass: 16)
        let funded = [alice, bob, carol, honest, cheat, verifier, validator]
        genesis = Genesis(chainName: "rpc-test", genesisTime: 1_700_000_000, consensus: consensus, ledger: ledger,
                          allocation: GenesisAllocation(
                              balances: funded.map { .init(key: $0.publicKey, amount: 10_000_000) },
                              validators: [.init(key: validator.publicKey, stake: 1000, randaoCommitment: chain.commitment)],
                              workers: [.init(key: honest.publicKey, pool: 0, stake: 1000), .init(key: cheat.publicKey, pool: 0, stake: 1000)],
                              pools: [pool]))
    }

    var hrp: String { genesis.addressPrefix }
    func address(_ k: PrivateKey) -> String { Address.encode(k.publicKey, hrp: hrp) }
    func now(_ slot: UInt64) -> UInt64 { genesis.slotStartMillis(slot) + 100 }

    func engine(at dir: TempDir) throws -> ChainEngine {
        var o = DatabaseOptions.small
        o.syncWrites = false
        return try ChainEngine(genesis: genesis, store: try ChainStore(path: dir.path, genesis: genesis.chainId, options: o),
                               adjudicator: ReverseAdjudicator())
    }

    /// A transaction from `key` with its account nonce (or `nonce`) and a fee of 2 per byte.
    func tx(_ engine: ChainEngine, _ key: PrivateKey, _ body: TxBody, nonce: UInt64? = nil) throws -> SignedTransaction {
        let n = try nonce ?? engine.tipState.account(key.publicKey).nonce
        let probe = signed(Transaction(chainId: genesis.chainId, sender: key.publicKey, nonce: n, fee: 0, body: body), key)
        return signed(Transaction(chainId: genesis.chainId, sender: key.publicKey, nonce: n, fee: Amount(UInt64(probe.encodedSize) * 2), body: body), key)
    }

    /// A transaction with an explicit nonce (no engine needed).
    func tx(engine2Free key: PrivateKey, _ body: TxBody, nonce: UInt64) -> SignedTransaction {
        let probe = signed(Transaction(chainId: genesis.chainId, sender: key.publicKey, nonce: nonce, fee: 0, body: body), key)
        return signed(Transaction(chainId: genesis.chainId, sender: key.publicKey, nonce: nonce, fee: Amount(UInt64(probe.encodedSize) * 2), body: body), key)
    }

    /// Produces the next block (the single validator leads every slot) with `txs`, signs it deterministically,
    /// and returns it without importing.
    func make(_ engine: ChainEngine, slot: UInt64? = nil, _ txs: [SignedTransaction] = []) throws -> Block {
        let s = slot ?? engine.tipHeader.slot + 1
        let commitment = try engine.tipState.staker(.validator, validator.publicKey)!.randaoCommitment
        let reveal = chain.reveal(for: commitment)!.reveal
        let b = try engine.produceBlock(slot: s, key: validator, randaoReveal: reveal, candidates: txs, now: now(s))
        precondition(b.transactions.count == txs.count, "a fixture transaction was skipped")
        let header = SignedHeader(header: b.header, signature: validator.sign(digest: b.hash, auxRand: .zero))
        return Block(signedHeader: header, transactions: b.transactions)
    }

    /// Produces and imports the next block.
    @discardableResult
    func extend(_ engine: ChainEngine, slot: UInt64? = nil, _ txs: [SignedTransaction] = []) throws -> Block {
        let b = try make(engine, slot: slot, txs)
        _ = try engine.importBlock(b, now: now(b.header.slot))
        return b
    }

    /// Tickets selected from a commitment, by pass index.
    func tickets(_ engine: ChainEngine, _ commitment: Hash32) throws -> [(UInt32, Hash32)] {
        try engine.tipReader.tickets(commitment: commitment).map { ($0.passIndex, $0.id) }
    }
}

/// What the golden chain holds, for tests that need the identifiers.
struct FixtureFacts: Sendable {
    var escrowId = Hash32.zero
    var honestCommitment = Hash32.zero
    var cheatCommitment = Hash32.zero
    var fraudTicket = Hash32.zero
    var upheldTicket = Hash32.zero
    /// Revealed in block 12, still open to challenge at the tip.
    var openTicket = Hash32.zero
    var transferTx = Hash32.zero
    var failedTx = Hash32.zero
    var pendingTx = Hash32.zero
    var rawTransfer: [UInt8] = []
    var rawPending: [UInt8] = []
    /// Carol's next transactions, prepared against the golden tip: signed right, badly signed, underpaid.
    var rawAccepted: [UInt8] = []
    var rawBadSignature: [UInt8] = []
    var rawLowFee: [UInt8] = []
    var blocks: [Hash32] = []
}

/// The golden chain: 12 blocks covering every transaction family, then a pending transaction.
///
/// - 1: transfer alice→bob, escrow open (alice), share commitments of both workers (window 0), bob bonds as
///   a worker
/// - 2: claim-usage with a voucher signed by alice, a failing zero-amount transfer
/// - 3: tickets selected (beacon of block 3)
/// - 4: each worker reveals one ticket; window 0 closes
/// - 5: a fraud proof against the cheater (proven), escrow top-up, the validator unbonds 100
/// - 6: unrevealed tickets pass their deadline (withheld)
/// - 7: a fraud proof against the honest worker (rejected, bond burned)
/// - 8: window 0 settles; 9: a commitment in window 2; 10–11: empty (tickets selected at 11)
/// - 12: one of them revealed (its input stays readable until the challenge period ends)
func buildGoldenChain(_ t: TestChain, dir: TempDir) throws -> (ChainEngine, FixtureFacts) {
    let e = try t.engine(at: dir)
    var f = FixtureFacts()
    let honestPasses = Passes.make(count: 8, seed: 1, cheat: false)
    let cheatPasses = Passes.make(count: 8, seed: 2, cheat: true)

    let transfer = try t.tx(e, t.alice, .transfer(to: t.bob.publicKey, amount: 1_000_000))
    let open = try t.tx(e, t.alice, .escrowOpen(pool: 0, amount: 500_000, expiryHeight: 1000), nonce: 1)
    f.escrowId = LedgerIds.escrow(owner: t.alice.publicKey, nonce: 1)
    let c1 = try t.tx(e, t.honest, .commitShares(pool: 0, window: 0, shard: 0, passCount: 8, tokenCount: honestPasses.tokens, passRoot: honestPasses.root))
    let c2 = try t.tx(e, t.cheat, .commitShares(pool: 0, window: 0, shard: 0, passCount: 8, tokenCount: cheatPasses.tokens, passRoot: cheatPasses.root))
    f.honestCommitment = LedgerIds.commitment(worker: t.honest.publicKey, pool: 0, window: 0, passRoot: honestPasses.root)
    f.cheatCommitment = LedgerIds.commitment(worker: t.cheat.publicKey, pool: 0, window: 0, passRoot: cheatPasses.root)
    let bond = try t.tx(e, t.bob, .bond(role: .worker(pool: 0), amount: 500, randaoCommitment: nil))
    f.transferTx = transfer.id
    f.rawTransfer = transfer.canonicalEncoding
    f.blocks.append(try t.extend(e, [transfer, open, c1, c2, bond]).hash)

    let voucher = UsageVoucher(chainId: t.genesis.chainId, escrowId: f.escrowId, cumulativeInputTokens: 1000, cumulativeOutputTokens: 500)
    let v = UsageVoucher(chainId: voucher.chainId, escrowId: voucher.escrowId, cumulativeInputTokens: 1000, cumulativeOutputTokens: 500,
                         signature: t.alice.sign(digest: voucher.signingHash, auxRand: .zero))
    let claim = try t.tx(e, t.honest, .claimUsage(voucher: v))
    let zero = try t.tx(e, t.bob, .transfer(to: t.carol.publicKey, amount: 0))
    f.failedTx = zero.id
    f.blocks.append(try t.extend(e, [claim, zero]).hash)

    f.blocks.append(try t.extend(e).hash)
    let honestTickets = try t.tickets(e, f.honestCommitment)
    let cheatTickets = try t.tickets(e, f.cheatCommitment)
    precondition(!honestTickets.isEmpty && !cheatTickets.isEmpty, "fixture: no tickets selected")

    let (hi, hticket) = honestTickets[0]
    let (ci, cticket) = cheatTickets[0]
    f.upheldTicket = hticket
    f.fraudTicket = cticket
    let r1 = try t.tx(e, t.honest, .revealTicket(ticketId: hticket, leaf: honestPasses.leaves[Int(hi)], proof: honestPasses.proof(Int(hi)),
                                                 input: honestPasses.inputs[Int(hi)]))
    let r2 = try t.tx(e, t.cheat, .revealTicket(ticketId: cticket, leaf: cheatPasses.leaves[Int(ci)], proof: cheatPasses.proof(Int(ci)),
                                                input: cheatPasses.inputs[Int(ci)]))
    f.blocks.append(try t.extend(e, [r1, r2]).hash)

    let proof = try t.tx(e, t.verifier, .fraudProof(ticketId: cticket))
    let topUp = try t.tx(e, t.alice, .escrowTopUp(escrowId: f.escrowId, amount: 1000, newExpiryHeight: nil))
    let unbond = try t.tx(e, t.validator, .unbond(role: .validator, amount: 100))
    f.blocks.append(try t.extend(e, [proof, topUp, unbond]).hash)

    f.blocks.append(try t.extend(e).hash)
    let proof2 = try t.tx(e, t.verifier, .fraudProof(ticketId: hticket))
    f.blocks.append(try t.extend(e, [proof2]).hash)
    f.blocks.append(try t.extend(e).hash)

    let later = Passes.make(count: 4, seed: 3, cheat: false)
    let c3 = try t.tx(e, t.honest, .commitShares(pool: 0, window: 2, shard: 0, passCount: 4, tokenCount: later.tokens, passRoot: later.root))
    f.blocks.append(try t.extend(e, [c3]).hash)
    f.blocks.append(try t.extend(e).hash)
    f.blocks.append(try t.extend(e).hash)
    let laterCommitment = LedgerIds.commitment(worker: t.honest.publicKey, pool: 0, window: 2, passRoot: later.root)
    let laterTickets = try t.tickets(e, laterCommitment)
    precondition(!laterTickets.isEmpty, "fixture: no tickets selected in window 2")
    let (li, lticket) = laterTickets[0]
    f.openTicket = lticket
    let r3 = try t.tx(e, t.honest, .revealTicket(ticketId: lticket, leaf: later.leaves[Int(li)], proof: later.proof(Int(li)), input: later.inputs[Int(li)]))
    f.blocks.append(try t.extend(e, [r3]).hash)
    return (e, f)
}

/// A chain service over the golden chain, with one pending transaction, and an RPC server around it.
struct GoldenNode {
    let t = TestChain()
    let dir = TempDir("rpc-golden")
    let service: ChainService
    let server: RPCServer
    let facts: FixtureFacts
    let clock: TestClock

    init(configuration: RPCConfiguration = RPCConfiguration(), network: any NetworkInfoProvider = NoNetworkInfo()) async throws {
        let (engine, f) = try buildGoldenChain(t, dir: dir)
        let clock = TestClock(t.now(engine.tipHeader.slot) + 500)
        self.clock = clock
        let pending = try t.tx(engine, t.carol, .transfer(to: t.alice.publicKey, amount: 42))
        service = ChainService(engine: engine, clock: { clock.now })
        try await service.submit(pending)
        var facts = f
        facts.pendingTx = pending.id
        facts.rawPending = pending.canonicalEncoding
        let next = try t.tx(engine2Free: t.carol, .transfer(to: t.bob.publicKey, amount: 7), nonce: 1)
        facts.rawAccepted = next.canonicalEncoding
        facts.rawBadSignature = SignedTransaction(transaction: pending.transaction, signature: next.signature).canonicalEncoding
        let low = Transaction(chainId: t.genesis.chainId, sender: t.carol.publicKey, nonce: 1, fee: 1, body: .transfer(to: t.bob.publicKey, amount: 7))
        facts.rawLowFee = signed(low, t.carol).canonicalEncoding
        self.facts = facts
        var config = configuration
        config.port = 0
        config.nodeVersion = "sharechain/test"
        server = RPCServer(chain: service, configuration: config, network: network, metrics: RPCMetrics(registry: .init()))
    }
}

import Foundation
import Logging
import Synchronization
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
@testable import Storage
import TestSupport

/// Deterministic adjudicator: the canonical output of an input is the tensor hash of its bytes reversed.
struct ReverseAdjudicator: Adjudicator {
    static func output(_ input: [UInt8]) -> Hash32 { Tags.tensor.hash(Array(input.reversed())) }
    func adjudicate(_ r: AdjudicationRequest) throws -> AdjudicationVerdict { .output(Self.output(r.input)) }
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

/// A worker's passes for one commitment, as a sum tree (leaves sorted by content key).
struct Passes {
    var tree: SumTree.Built
    /// Inputs by leaf index.
    var inputs: [[UInt8]]
    var root: Hash32 { tree.root.hash }
    var tokens: UInt64 { tree.tokenTotal }
    var leafCount: UInt32 { tree.leafCount }

    /// `count` passes of canonical [tokens, 8] inputs; with `cheat` every committed output is wrong.
    static func make(count: Int, seed: UInt8, cheat: Bool) -> Passes {
        var leaves = [PassLeaf](), byKey = [Hash32: [UInt8]]()
        for i in 0..<count {
            let tokens = UInt32(1 + i % 3)
            var values = [Float]()
            for k in 0..<Int(tokens) * 8 {
                let v: Int = 1 + (Int(seed) * 31 + i * 7 + k) % 97
                values.append(Float(v) / 8)
            }
            let input = CanonicalInput.encode(tokens: tokens, hidden: 8, bitPatterns: values.map(\.bitPattern))
            var out = ReverseAdjudicator.output(input)
            if cheat { out = SHA256.hash(out.bytes) }
            let leaf = PassLeaf(index: 0, shard: 0, positionOffset: UInt64(i) * 4, tokenCount: tokens, inputHash: Tags.tensor.hash(input), outputHash: out)
            leaves.append(leaf)
            byKey[leaf.contentKey] = input
        }
        let tree = try! SumTree.build(leaves)
        return Passes(tree: tree, inputs: tree.leaves.map { byKey[$0.contentKey]! })
    }

    /// The reveal body for a ticket (the leaf holding its sampled token, its neighbours, its input).
    func reveal(_ ticketId: Hash32, point: UInt64) -> TxBody {
        let i = tree.leaf(containing: point)!
        let (l, r) = tree.neighbours(i)
        return .revealTicket(ticketId: ticketId, leaf: tree.proof(i), left: l, right: r, input: inputs[i])
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

    /// `checking`: pool 0 uses assigned checkers (the checker fixture chain); nil for the golden chain.
    init(checking: CheckingConfig? = nil) {
        chain = RandaoHashChain(seed: SHA256.hash(validator.secretBytes), length: 400)
        var consensus = ConsensusParams()
        consensus.finalityDepth = 4
        var ledger = LedgerParams()
        ledger.slotsPerEpoch = 16
        ledger.unbondingBlocks = 40
        ledger.beaconMaxDelay = ledger.beaconDelay
        ledger.jailBlocks = 10
        ledger.escrowUnlockBlocks = 10
        ledger.revealedKeyRetentionBlocks = 20
        if checking != nil {
            // The check phases lengthen the slashing and settlement horizons.
            ledger.unbondingBlocks = 100
            ledger.revealedKeyRetentionBlocks = 60
        }
        // Window 0: heights 1-4, commitments until 5, challenge end 11, settlement at the end of block 14.
        var pool = PoolConfig(id: 0, modelId: "tiny-test", executorSpec: "canon-f32-v1",
                              model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 2,
                                               rmsNormEpsBits: 0x3586_37bd, ropeThetaBits: 0x461c_4000, qkvBias: true),
                              shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: SHA256.hash([1]),
                                                 priceInputToken: 1, priceOutputToken: 2)],
                              minWorkerStake: 100, windowBlocks: 4, commitGraceBlocks: 1, challengeBlocks: 1, spotCheckPpm: 500_000,
                              revealDeadlineBlocks: 3, fraudRevealBlocks: 3, fraudProofBond: 100, maxTokensPerPass: 16)
        pool.checking = checking
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

    /// Tickets drawn from a commitment: id and sampled token.
    func tickets(_ engine: ChainEngine, _ commitment: Hash32) throws -> [(Hash32, UInt64)] {
        try engine.tipReader.tickets(commitment: commitment).map { ($0.id, try engine.tipReader.ticket($0.id)!.point) }
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

/// The golden chain: 15 blocks covering every transaction family, then a pending transaction.
///
/// - 1: transfer alice→bob, escrow open (alice) with allocations for both workers, share commitments of both
///   workers (window 0), bob bonds as a worker
/// - 2: the honest worker claims a voucher signed by alice; a failing zero-amount transfer
/// - 3: tickets selected (beacon of block 3)
/// - 4: each worker reveals its ticket
/// - 5: blind fraud claims against both tickets, escrow top-up, the validator unbonds 100
/// - 6: both claims opened; adjudicated at the end of the block (the cheater's proven, the honest one upheld)
/// - 9: a commitment in window 2; 11: its tickets selected; 12: one revealed (open to challenge at the tip)
/// - 14: window 0 settles and the bounty is paid; 15: the honest worker's payout
func buildGoldenChain(_ t: TestChain, dir: TempDir) throws -> (ChainEngine, FixtureFacts) {
    let e = try t.engine(at: dir)
    var f = FixtureFacts()
    let honestPasses = Passes.make(count: 8, seed: 1, cheat: false)
    let cheatPasses = Passes.make(count: 8, seed: 2, cheat: true)

    let transfer = try t.tx(e, t.alice, .transfer(to: t.bob.publicKey, amount: 1_000_000))
    let open = try t.tx(e, t.alice, .escrowOpen(pool: 0, amount: 500_000, expiryHeight: 1000), nonce: 1)
    f.escrowId = LedgerIds.escrow(owner: t.alice.publicKey, nonce: 1)
    let allocate1 = try t.tx(e, t.alice, .escrowAllocate(escrowId: f.escrowId, payee: t.honest.publicKey, amount: 100_000), nonce: 2)
    let allocate2 = try t.tx(e, t.alice, .escrowAllocate(escrowId: f.escrowId, payee: t.cheat.publicKey, amount: 100_000), nonce: 3)
    let c1 = try t.tx(e, t.honest, .commitShares(pool: 0, window: 0, shard: 0, leafCount: honestPasses.leafCount, tokenTotal: honestPasses.tokens, root: honestPasses.root))
    let c2 = try t.tx(e, t.cheat, .commitShares(pool: 0, window: 0, shard: 0, leafCount: cheatPasses.leafCount, tokenTotal: cheatPasses.tokens, root: cheatPasses.root))
    f.honestCommitment = LedgerIds.commitment(worker: t.honest.publicKey, pool: 0, window: 0, shard: 0, root: honestPasses.root)
    f.cheatCommitment = LedgerIds.commitment(worker: t.cheat.publicKey, pool: 0, window: 0, shard: 0, root: cheatPasses.root)
    let bond = try t.tx(e, t.bob, .bond(role: .worker(pool: 0), amount: 500, randaoCommitment: nil))
    f.transferTx = transfer.id
    f.rawTransfer = transfer.canonicalEncoding
    f.blocks.append(try t.extend(e, [transfer, open, allocate1, allocate2, c1, c2, bond]).hash)

    let voucher = UsageVoucher(chainId: t.genesis.chainId, escrowId: f.escrowId, payee: t.honest.publicKey, shard: 0, window: 0,
                               cumulativeInputTokens: 10, cumulativeOutputTokens: 4)
    var v = voucher
    v.signature = t.alice.sign(digest: voucher.signingHash, auxRand: .zero)
    let claim = try t.tx(e, t.honest, .claimUsage(voucher: v))
    let zero = try t.tx(e, t.bob, .transfer(to: t.carol.publicKey, amount: 0))
    f.failedTx = zero.id
    f.blocks.append(try t.extend(e, [claim, zero]).hash)

    f.blocks.append(try t.extend(e).hash)
    let honestTickets = try t.tickets(e, f.honestCommitment)
    let cheatTickets = try t.tickets(e, f.cheatCommitment)
    precondition(!honestTickets.isEmpty && !cheatTickets.isEmpty, "fixture: no tickets selected")
    let (hticket, hpoint) = honestTickets[0]
    let (cticket, cpoint) = cheatTickets[0]
    f.upheldTicket = hticket
    f.fraudTicket = cticket
    let r1 = try t.tx(e, t.honest, honestPasses.reveal(hticket, point: hpoint))
    let r2 = try t.tx(e, t.cheat, cheatPasses.reveal(cticket, point: cpoint))
    f.blocks.append(try t.extend(e, [r1, r2]).hash)

    let saltA = SHA256.hash([0xA]), saltB = SHA256.hash([0xB])
    let claimA = try t.tx(e, t.verifier, .fraudCommit(claim: fraudClaimHash(ticketId: cticket, prover: t.verifier.publicKey, salt: saltA), pool: 0))
    let claimB = try t.tx(e, t.verifier, .fraudCommit(claim: fraudClaimHash(ticketId: hticket, prover: t.verifier.publicKey, salt: saltB), pool: 0),
                          nonce: 1)
    let topUp = try t.tx(e, t.alice, .escrowTopUp(escrowId: f.escrowId, amount: 1000, newExpiryHeight: nil))
    let unbond = try t.tx(e, t.validator, .unbond(role: .validator, amount: 100))
    f.blocks.append(try t.extend(e, [claimA, claimB, topUp, unbond]).hash)

    let cheatInput = try e.tipReader.ticket(cticket)!.leaf!
    let honestInput = try e.tipReader.ticket(hticket)!.leaf!
    let openA = try t.tx(e, t.verifier, .fraudReveal(ticketId: cticket, salt: saltA,
                                                    input: cheatPasses.inputs[Int(cheatInput.index)]))
    let openB = try t.tx(e, t.verifier, .fraudReveal(ticketId: hticket, salt: saltB,
                                                    input: honestPasses.inputs[Int(honestInput.index)]), nonce: 3)
    f.blocks.append(try t.extend(e, [openA, openB]).hash)
    f.blocks.append(try t.extend(e).hash)
    f.blocks.append(try t.extend(e).hash)

    let later = Passes.make(count: 4, seed: 3, cheat: false)
    let c3 = try t.tx(e, t.honest, .commitShares(pool: 0, window: 2, shard: 0, leafCount: later.leafCount, tokenTotal: later.tokens, root: later.root))
    f.blocks.append(try t.extend(e, [c3]).hash)
    f.blocks.append(try t.extend(e).hash)
    f.blocks.append(try t.extend(e).hash)
    let laterCommitment = LedgerIds.commitment(worker: t.honest.publicKey, pool: 0, window: 2, shard: 0, root: later.root)
    let laterTickets = try t.tickets(e, laterCommitment)
    precondition(!laterTickets.isEmpty, "fixture: no tickets selected in window 2")
    let (lticket, lpoint) = laterTickets[0]
    f.openTicket = lticket
    let r3 = try t.tx(e, t.honest, later.reveal(lticket, point: lpoint))
    f.blocks.append(try t.extend(e, [r3]).hash)
    f.blocks.append(try t.extend(e).hash)
    f.blocks.append(try t.extend(e).hash)
    let payout = try t.tx(e, t.honest, .claimPayout(pool: 0, window: 0, worker: t.honest.publicKey))
    f.blocks.append(try t.extend(e, [payout]).hash)
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

    init(configuration: RPCConfiguration = RPCConfiguration(), network: any NetworkInfoProvider = NoNetworkInfo(),
         logger: Logger = Logger(label: "sharechain.rpc")) async throws {
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
        server = RPCServer(chain: service, configuration: config, network: network, metrics: RPCMetrics(registry: .init()), logger: logger)
    }
}

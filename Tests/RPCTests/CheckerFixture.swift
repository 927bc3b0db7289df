import Foundation
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
import Sealing
@testable import Storage
import TestSupport

/// Pool 0's checker parameters on the checker fixture chain: two checkers per ticket out of three registered,
/// the shortest phases genesis accepts (3 blocks each: commit, unblind, reveal, dispute key).
let fixtureChecking = CheckingConfig(checkersPerTicket: 2, checkerMinStake: 400, maxCheckers: 8, checkerActivationBlocks: 1, checkFee: 40,
                                     answerCommitBlocks: 3, unblindBlocks: 3, answerRevealBlocks: 3, disputeInputBlocks: 3,
                                     checkerAbsentSlashBps: 100, checkerBenchBlocks: 20)

/// A worker's passes with blinded outputs (Specs/verification.md §4 step 1): the leaves carry
/// `H_blind(outputHash ‖ salt)`; outputs and salts are kept by leaf index for the unblinding.
struct SealedPasses {
    var tree: SumTree.Built
    var inputs: [[UInt8]]
    var outputs: [Hash32]
    var salts: [Hash32]

    static func make(count: Int, seed: UInt8) throws -> SealedPasses {
        var leaves = [PassLeaf](), byKey = [Hash32: (input: [UInt8], output: Hash32, salt: Hash32)]()
        for i in 0..<count {
            let tokens = UInt32(1 + i % 3)
            var values = [Float]()
            for k in 0..<Int(tokens) * 8 { values.append(Float(1 + (Int(seed) * 31 + i * 7 + k) % 97) / 8) }
            let input = CanonicalInput.encode(tokens: tokens, hidden: 8, bitPatterns: values.map(\.bitPattern))
            let output = ReverseAdjudicator.output(input)
            let salt = SHA256.hash(Array("rpc-test/salt-\(seed)-\(i)".utf8))
            let leaf = PassLeaf(index: 0, shard: 0, positionOffset: UInt64(i) * 4, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                                outputHash: blindedOutputHash(output, salt: salt))
            leaves.append(leaf)
            byKey[leaf.contentKey] = (input, output, salt)
        }
        let tree = try SumTree.build(leaves)
        var inputs = [[UInt8]](), outputs = [Hash32](), salts = [Hash32]()
        for leaf in tree.leaves {
            guard let v = byKey[leaf.contentKey] else { throw GoldenError("sealed passes: a leaf without its pass") }
            inputs.append(v.input); outputs.append(v.output); salts.append(v.salt)
        }
        return SealedPasses(tree: tree, inputs: inputs, outputs: outputs, salts: salts)
    }

    func leafIndex(point: UInt64) throws -> Int {
        guard let i = tree.leaf(containing: point) else { throw GoldenError("no leaf holds token \(point)") }
        return i
    }
}

/// What the checker fixture chain holds.
struct CheckerFacts: Sendable {
    /// The ticket the fixture follows (its first ticket), revealed sealed at `revealHeight`.
    var ticket = Hash32.zero
    /// Every ticket drawn from the worker's commitment (all revealed sealed in the same block).
    var tickets: [Hash32] = []
    var revealHeight: UInt64 = 0
    /// `ticket`'s first checker (committed in the block after the reveal) and second (has not committed).
    var committer = fixtureKey("alice")
    var silent = fixtureKey("bob")
    /// The registered checker `ticket` did not draw.
    var unassigned = fixtureKey("carol")
    /// `ticket`'s answer and its unblinding.
    var output = Hash32.zero
    var salt = Hash32.zero
}

/// The sealing key pair of a fixture checker.
func fixtureSealing(_ key: PrivateKey) throws -> CheckerKeyPair {
    try CheckerKeyPair(privateKey: SHA256.hash(Array("rpc-test/sealing".utf8) + key.publicKey.bytes).bytes)
}

/// The nonce a fixture checker commits with.
func fixtureNonce(_ key: PrivateKey, _ ticket: Hash32) -> Hash32 { SHA256.hash(Array("rpc-test/nonce".utf8) + key.publicKey.bytes + ticket.bytes) }

/// The checker fixture chain: pool 0 with checkers (`fixtureChecking`), alice, bob and carol registered as its
/// checkers in block 1, the honest worker's sealed commitment in block 2, its tickets drawn with two checkers
/// each, all revealed sealed in one block (`revealHeight`), and in the next block the first checker of the first
/// ticket commits its answer. At the tip that ticket is in its commit phase: one checker committed, one not.
func buildCheckerChain(_ t: TestChain, dir: TempDir) throws -> (ChainEngine, CheckerFacts, SealedPasses) {
    let e = try t.engine(at: dir)
    var f = CheckerFacts()
    let checkers = [t.alice, t.bob, t.carol]
    var setup = [SignedTransaction]()
    for k in checkers {
        setup.append(try t.tx(e, k, .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil)))
        let sealingKey = try require2(Hash32(bytes: try fixtureSealing(k).publicKey.bytes))
        setup.append(try t.tx(e, k, .registerChecker(pool: 0, sealingKey: sealingKey), nonce: try e.tipState.account(k.publicKey).nonce + 1))
    }
    try t.extend(e, setup)

    let passes = try SealedPasses.make(count: 40, seed: 5)
    let commit = try t.tx(e, t.honest, .commitShares(pool: 0, window: 0, shard: 0, leafCount: passes.tree.leafCount,
                                                     tokenTotal: passes.tree.tokenTotal, root: passes.tree.root.hash))
    try t.extend(e, [commit])
    let commitmentId = LedgerIds.commitment(worker: t.honest.publicKey, pool: 0, window: 0, shard: 0, root: passes.tree.root.hash)
    var drawn = [(Hash32, UInt64)]()
    for _ in 0..<8 where drawn.isEmpty {
        try t.extend(e)
        drawn = try t.tickets(e, commitmentId)
    }
    guard !drawn.isEmpty else { throw GoldenError("checker fixture: no tickets selected") }
    f.tickets = drawn.map(\.0)
    f.ticket = drawn[0].0

    // Every ticket revealed sealed to its checkers, in assignment order.
    var reveals = [SignedTransaction]()
    for (n, (tid, point)) in drawn.enumerated() {
        guard let check = try e.tipReader.sealedCheck(tid) else { throw GoldenError("checker fixture: ticket \(n) has no checkers") }
        let i = try passes.leafIndex(point: point)
        let (l, r) = passes.tree.neighbours(i)
        let leaf = passes.tree.leaves[i]
        let envelope = try SealedEnvelope.seal(
            plaintext: passes.inputs[i], recipients: try check.slots.map { try CheckerPublicKey(bytes: $0.sealingKey.bytes) },
            context: SealingContext(chainId: t.genesis.chainId, ticketId: tid, inputHash: leaf.inputHash),
            randomness: try SealingRandomness(ephemeralPrivateKey: SHA256.hash(Array("rpc-test/ephemeral".utf8) + tid.bytes).bytes,
                                              contentSecret: SHA256.hash(Array("rpc-test/content".utf8) + tid.bytes).bytes))
        reveals.append(try t.tx(e, t.honest, .revealSealedTicket(ticketId: tid, leaf: passes.tree.proof(i), left: l, right: r,
                                                                 envelope: envelope.encoded),
                                nonce: try e.tipState.account(t.honest.publicKey).nonce + UInt64(n)))
        if n == 0 {
            f.output = passes.outputs[i]
            f.salt = passes.salts[i]
        }
    }
    try t.extend(e, reveals)
    guard let check = try e.tipReader.sealedCheck(f.ticket), check.status == .checking, check.slots.count == 2 else {
        throw GoldenError("checker fixture: the first ticket is not in its check")
    }
    f.revealHeight = check.revealHeight
    func key(_ p: PublicKey) throws -> PrivateKey {
        guard let k = checkers.first(where: { $0.publicKey == p }) else { throw GoldenError("checker fixture: unknown checker") }
        return k
    }
    f.committer = try key(check.slots[0].checker)
    f.silent = try key(check.slots[1].checker)
    guard let other = checkers.first(where: { k in !check.slots.contains { $0.checker == k.publicKey } }) else {
        throw GoldenError("checker fixture: every checker drawn")
    }
    f.unassigned = other
    let commitment = checkCommitmentHash(ticketId: f.ticket, checker: f.committer.publicKey, answer: f.output,
                                         nonce: fixtureNonce(f.committer, f.ticket))
    try t.extend(e, [try t.tx(e, f.committer, .checkCommit(items: [CheckCommitItem(ticketId: f.ticket, commitment: commitment)]))])
    return (e, f, passes)
}

/// `try #require` for code outside a test body.
func require2<T>(_ v: T?, _ what: String = "value") throws -> T {
    guard let v else { throw GoldenError("missing \(what)") }
    return v
}

/// A chain service over the checker fixture chain and an RPC server around it.
struct CheckerNode {
    let t = TestChain(checking: fixtureChecking)
    let dir = TempDir("rpc-checker")
    let service: ChainService
    let server: RPCServer
    let facts: CheckerFacts

    init() async throws {
        let (engine, f, _) = try buildCheckerChain(t, dir: dir)
        facts = f
        let clock = TestClock(t.now(engine.tipHeader.slot) + 500)
        service = ChainService(engine: engine, clock: { clock.now })
        var config = RPCConfiguration()
        config.port = 0
        config.nodeVersion = "sharechain/test"
        server = RPCServer(chain: service, configuration: config, network: NoNetworkInfo(), metrics: RPCMetrics(registry: .init()))
    }

    /// Placeholders for the checker golden requests.
    var variables: [String: String] {
        let f = facts
        return ["committer": t.address(f.committer), "silent": t.address(f.silent), "unassigned": t.address(f.unassigned),
                "ticket": "0x" + f.ticket.hex, "committerHex": "0x" + f.committer.publicKey.hex]
    }
}

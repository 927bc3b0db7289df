import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Every transaction kind with its numeric fields at the edges of their types (0, 1, 2³¹−1, 2³²−1, 2³², 2⁵³,
/// 2⁶³−1, 2⁶³, 2⁶⁴−2, 2⁶⁴−1), each in a block of its own, against a state that has what the kinds refer to: rich
/// accounts whose balances sum close to 2⁶⁴, an escrow with an allocation, a sealed commitment with a drawn ticket
/// and registered checkers. Anyone can put these numbers in a signed transaction, so a trap (overflow, a bad index)
/// would stop every validator at once. Each block must end in receipts or a refused transaction (`BlockError
/// .invalidTransaction`), never a ledger fault, and the supply and escrow invariants must hold after every block
/// (the harness checks them incrementally, and this test once more by a full scan at the end).
@Suite struct ExtremeValueTests {
    static let u64: [UInt64] = [0, 1, 2, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, 1 << 53, UInt64(Int64.max), 1 << 63, .max - 1, .max]

    /// A named transaction template: the sender and body for one edge value.
    struct Template {
        let name: String
        let make: (UInt64) throws -> SignedTransaction
    }

    @Test func everyKindWithEdgeValuesEndsInAReceiptOrARefusal() throws {
        let client = testKey("edge-client"), worker = testKey("edge-worker"), verifier = testKey("edge-verifier")
        let checkers = (0..<4).map { testKey("checker-\($0)") }
        let sealing = try (0..<4).map { try CheckerKeyPair(privateKey: SHA256.hash(Array("sealing-\($0)".utf8)).bytes) }
        let pool = CheckerFixture.checkingPool()
        // Balances summing to 2⁶³ + 2⁶² + 2⁶¹ + a little: amounts near the top of UInt64 are affordable.
        var c = try Chain(accounts: [(client, Amount(1 << 63)), (worker, Amount(1 << 62)), (verifier, Amount(1 << 61))]
                            + checkers.map { ($0, Amount(10_000)) },
                          workers: [(worker, 0, 10_000)], pools: [pool], params: CheckerFixture.params())
        var setup = [SignedTransaction]()
        for (i, k) in checkers.enumerated() {
            setup.append(try c.tx(k, .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil), nonce: 0))
            setup.append(try c.tx(k, .registerChecker(pool: 0, sealingKey: Hash32(bytes: sealing[i].publicKey.bytes)!), nonce: 1))
        }
        #expect(try c.block(setup).dropLast().allSatisfy(\.succeeded))
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 500_000)])
        let sealed = SealedBatch.make(count: 4, seed: 7)
        let window = pool.window(ofHeight: c.height + 1)
        #expect(try c.block([try c.tx(worker, c.commit(sealed.batch, window: window))])[0].succeeded)
        try c.advance(to: c.height + 3)
        let commitment = c.commitmentId(worker, sealed.batch, window: window)
        let ticket = try #require(try c.tickets(commitment).first)
        let validator = c.validators[0].key

        func h(_ s: String) -> Hash32 { SHA256.hash(Array(s.utf8)) }
        func u32(_ v: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: v) }
        func leaf(_ v: UInt64) -> LeafProof {
            let l = PassLeaf(index: u32(v), shard: u32(v), positionOffset: v, tokenCount: u32(v), inputHash: h("in"), outputHash: h("out"))
            return LeafProof(leaf: l, path: [SumNode(hash: h("sibling"), sum: v, minKey: h("a"), maxKey: h("b"))])
        }
        func honestLeaf() -> LeafProof { sealed.batch.tree.proof(sealed.batch.leafIndex(point: ticket.ticket.point)) }
        func voucher(_ v: UInt64, shard: UInt32, window w: UInt64, output: UInt64) -> UsageVoucher {
            UsageVoucher(chainId: Chain.chainId, escrowId: escrow, payee: worker.publicKey, shard: shard, window: w,
                         cumulativeInputTokens: v, cumulativeOutputTokens: output).signed(by: client)
        }
        func vote(_ source: UInt64, _ target: UInt64) -> FinalityVote {
            FinalityVote(validator: validator.publicKey, source: Checkpoint(height: source, hash: h("s\(source)")),
                         target: Checkpoint(height: target, hash: h("t\(target)"))).signed(by: validator, chainId: Chain.chainId)
        }
        // `c` changes as blocks apply: templates read it at build time through this box.
        let box = ChainBox(c)
        func tx(_ k: PrivateKey, _ body: TxBody, fee: UInt64? = nil, nonce: UInt64? = nil) throws -> SignedTransaction {
            try box.chain.tx(k, body, nonce: nonce, fee: fee)
        }
        let templates: [Template] = [
            Template(name: "transfer amount") { v in try tx(client, .transfer(to: verifier.publicKey, amount: Amount(v))) },
            Template(name: "transfer fee") { v in try tx(client, .transfer(to: verifier.publicKey, amount: 1), fee: v) },
            Template(name: "transfer nonce") { v in try tx(client, .transfer(to: verifier.publicKey, amount: 1), nonce: v) },
            Template(name: "bond worker") { v in try tx(worker, .bond(role: .worker(pool: u32(v)), amount: Amount(v), randaoCommitment: nil)) },
            Template(name: "bond validator") { v in try tx(client, .bond(role: .validator, amount: Amount(v), randaoCommitment: h("r\(v)"))) },
            Template(name: "bond checker") { v in try tx(verifier, .bond(role: .checker(pool: u32(v)), amount: Amount(v), randaoCommitment: nil)) },
            Template(name: "unbond worker") { v in try tx(worker, .unbond(role: .worker(pool: 0), amount: Amount(v))) },
            Template(name: "unbond checker") { v in try tx(checkers[3], .unbond(role: .checker(pool: u32(v)), amount: Amount(v))) },
            Template(name: "escrowOpen") { v in try tx(client, .escrowOpen(pool: u32(v), amount: Amount(v), expiryHeight: v)) },
            Template(name: "escrowOpen expiry") { v in try tx(client, .escrowOpen(pool: 0, amount: 1_000, expiryHeight: v)) },
            Template(name: "escrowTopUp") { v in try tx(client, .escrowTopUp(escrowId: escrow, amount: Amount(v), newExpiryHeight: v)) },
            Template(name: "escrowAllocate") { v in try tx(client, .escrowAllocate(escrowId: escrow, payee: worker.publicKey, amount: Amount(v))) },
            Template(name: "claimUsage counters") { v in
                try tx(worker, .claimUsage(voucher: voucher(v, shard: 0, window: pool.window(ofHeight: box.chain.height + 1), output: v)))
            },
            Template(name: "claimUsage lane") { v in try tx(worker, .claimUsage(voucher: voucher(v, shard: u32(v), window: v, output: 0))) },
            Template(name: "claimUsageBatch") { v in
                let w = pool.window(ofHeight: box.chain.height + 1)
                return try tx(worker, .claimUsageBatch(vouchers: [voucher(v, shard: 0, window: w, output: 1), voucher(v, shard: 1, window: w, output: v)]))
            },
            Template(name: "commitShares") { v in
                try tx(worker, .commitShares(pool: 0, window: v, shard: 0, leafCount: u32(v), tokenTotal: v, root: h("root\(v)")))
            },
            Template(name: "commitShares now") { v in
                try tx(worker, .commitShares(pool: u32(v), window: pool.window(ofHeight: box.chain.height + 1), shard: u32(v),
                                             leafCount: u32(v), tokenTotal: v, root: h("now\(v)")))
            },
            Template(name: "revealTicket") { v in
                try tx(worker, .revealTicket(ticketId: ticket.id, leaf: leaf(v), left: leaf(v), right: leaf(v &- 1), input: [UInt8](repeating: 1, count: 32)))
            },
            Template(name: "revealSealedTicket") { v in
                try tx(worker, .revealSealedTicket(ticketId: ticket.id, leaf: leaf(v), left: nil, right: leaf(v), envelope: Array(v.bigEndianBytes)))
            },
            Template(name: "fraudCommit") { v in try tx(verifier, .fraudCommit(claim: h("claim\(v)"), pool: u32(v))) },
            Template(name: "fraudReveal") { v in try tx(verifier, .fraudReveal(ticketId: ticket.id, salt: h("salt\(v)"), input: Array(v.bigEndianBytes))) },
            Template(name: "claimPayout") { v in try tx(worker, .claimPayout(pool: u32(v), window: v, worker: worker.publicKey)) },
            Template(name: "unjail") { v in try tx(worker, .unjail(role: .worker(pool: u32(v)))) },
            Template(name: "finalityVotes") { v in try tx(client, .finalityVotes(votes: [vote(0, v), vote(v, v &+ 1), vote(v, 0)])) },
            Template(name: "voteEvidence") { v in try tx(client, .voteEvidence(a: vote(0, v), b: vote(1, v))) },
            Template(name: "doubleSignEvidence") { v in
                try tx(client, .doubleSignEvidence(headerA: FakeEquivocationVerifier.header(validator, height: v, slot: v, payload: 1),
                                                   headerB: FakeEquivocationVerifier.header(validator, height: v, slot: v, payload: 2)))
            },
            Template(name: "registerChecker") { v in try tx(checkers[2], .registerChecker(pool: u32(v), sealingKey: h("seal\(v)"))) },
            Template(name: "checkCommit") { v in
                try tx(checkers[0], .checkCommit(items: [CheckCommitItem(ticketId: ticket.id, commitment: h("c\(v)")),
                                                         CheckCommitItem(ticketId: h("t\(v)"), commitment: commitment)]))
            },
            Template(name: "unblindOutput") { v in
                try tx(worker, .unblindOutput(items: [UnblindItem(ticketId: ticket.id, outputHash: h("o\(v)"), salt: h("s\(v)"))]))
            },
            Template(name: "checkReveal") { v in
                try tx(checkers[1], .checkReveal(items: [CheckRevealItem(ticketId: ticket.id, answer: h("a\(v)"), nonce: h("n\(v)"),
                                                                         salt: v % 2 == 0 ? nil : h("x\(v)"))]))
            },
            Template(name: "publishSealKey") { v in try tx(verifier, .publishSealKey(ticketId: ticket.id, ephemeralPrivateKey: h("e\(v)"))) },
            Template(name: "publishSealedInput") { v in try tx(verifier, .publishSealedInput(ticketId: ticket.id, input: Array(v.bigEndianBytes))) },
            Template(name: "hopChallenge") { v in
                let r = HopReceipt(pool: u32(v), shard: u32(v), window: v, worker: worker.publicKey, holder: verifier.publicKey,
                                   contentKey: h("k\(v)"), outputHash: h("o\(v)"), tokenCount: u32(v)).signed(by: worker, chainId: Chain.chainId)
                return try tx(verifier, .hopChallenge(receipt: r))
            },
            Template(name: "hopChallenge honest leaf") { v in
                let r = HopReceipt(leaf: honestLeaf().leaf, pool: 0, window: v, worker: worker.publicKey, holder: verifier.publicKey)
                    .signed(by: worker, chainId: Chain.chainId)
                return try tx(verifier, .hopChallenge(receipt: r))
            },
            Template(name: "answerHopChallenge") { v in
                try tx(worker, .answerHopChallenge(challengeId: h("ch\(v)"), commitmentId: commitment, leaf: leaf(v), input: Array(v.bigEndianBytes)))
            },
        ]

        var refusedOnly = Set(templates.map(\.name))
        var outcomes = [String: Int]()
        func apply(_ t: Template, _ v: UInt64) throws {
            let signed = try t.make(v)
            do {
                let receipts = try box.chain.block([signed])
                #expect(receipts.count == 2, "\(t.name) \(v): one receipt and the block's")
                refusedOnly.remove(t.name)
                outcomes[receipts[0].succeeded ? "success" : "failed", default: 0] += 1
            } catch let e as BlockError {
                guard case .invalidTransaction = e else {
                    Issue.record("\(t.name) with \(v): a ledger fault, not a refusal: \(e)")
                    return
                }
                outcomes["refused", default: 0] += 1
            }
        }
        // Every template with every edge, then seeded random picks near the edges and anywhere, as the state moves on
        // (windows close and settle, the ticket's phases pass).
        for t in templates {
            for v in Self.u64 { try apply(t, v) }
        }
        var g = SplitMix64(seed: 0xED6E)
        for _ in 0..<600 {
            let t = templates[Int(g.next() % UInt64(templates.count))]
            let edge = Self.u64[Int(g.next() % UInt64(Self.u64.count))], delta = g.next() % 4
            let v: UInt64 = switch g.next() % 3 { case 0: edge &+ delta; case 1: edge &- delta; default: g.next() >> (g.next() % 64) }
            try apply(t, v)
        }
        // Each template reached execution at least once (its small values are valid envelopes), so the edges above
        // were tried against the rules and not only against the envelope checks.
        #expect(refusedOnly.isSubset(of: ["transfer nonce"]), "templates never executed: \(refusedOnly.sorted())")
        #expect(outcomes["success", default: 0] > 0 && outcomes["failed", default: 0] > 0 && outcomes["refused", default: 0] > 0,
                "\(outcomes)")
        #expect(try Invariants.check(box.chain.state) == box.chain.tracker?.report)
    }
}

/// The chain, shared by the templates (which read its height and nonces) and the loop that applies blocks.
final class ChainBox {
    var chain: Chain
    init(_ chain: Chain) { self.chain = chain }
}

import Testing
@testable import Ledger
@testable import Primitives

/// Fourth independent attack review of economy v2: attacks not performed by `AttackReviewTests`,
/// `AttackReview2Tests` or `AttackReview3Tests`, each carried out through transactions in blocks on the in-memory
/// ledger, each asserting the secure outcome (Specs/economics.md §7, rows 43 and 44 were found here and fixed).
@Suite struct AttackReview4Tests {
    let client = testKey("client"), worker = testKey("worker"), other = testKey("other-worker"),
        third = testKey("third-worker"), verifier = testKey("verifier")

    /// One honest pass of `tokens` tokens on shard 0 at `position`, with its input.
    static func pass(tokens: UInt32, seed: UInt64, position: UInt64) -> (PassLeaf, [UInt8]) {
        let input = testInput(tokens: tokens, seed: seed)
        let output = FakeAdjudicator.canonicalOutput(input: input, shard: 0, positionOffset: position)
        return (PassLeaf(index: 0, shard: 0, positionOffset: position, tokenCount: tokens, inputHash: Tags.tensor.hash(input),
                         outputHash: output), input)
    }

    /// A perfect sum tree whose level 0 is `leaves` (numbered by position) followed by `padding` exactly as given:
    /// what an attacker can commit (the chain never sees the nodes beyond `leafCount`).
    static func tree(_ leaves: [PassLeaf], padding: [SumNode] = []) -> SumTree.Built {
        var numbered = leaves
        for i in numbered.indices { numbered[i].index = UInt32(i) }
        var level = numbered.map(\.node) + padding
        precondition(level.count.nonzeroBitCount == 1, "width must be a power of two")
        var levels = [level]
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { SumTree.parentUnchecked(level[$0], level[$0 + 1])! }
            levels.append(level)
        }
        return SumTree.Built(leaves: numbered, levels: levels)
    }

    // MARK: - Escrow and vouchers

    /// Row 43. A shard whose input (or output) tokens are free would let a payer append any number of them to its
    /// last cumulative voucher at no charge: the claim is never short, so every free token counts as paid and the
    /// worker's coverage of what it served is diluted towards zero (all its pay refunded to the payer), and a voucher
    /// of ~2⁶⁴ free tokens fills the worker's paid-token counter so that no other payer's claim fits. Genesis refuses
    /// either price at zero, naming both. (Found by the fourth review with `priceInputToken = 0`, which genesis
    /// accepted: the worker was paid 0 of 159 for 121 committed and revealed tokens.)
    @Test func aShardWithAFreeKindOfTokenIsRefusedAtGenesis() throws {
        for (input, output) in [(Amount.zero, Amount(7)), (Amount(2), Amount.zero), (Amount.zero, Amount.zero)] {
            var pool = Chain.defaultPool()
            pool.shards[0].priceInputToken = input
            pool.shards[0].priceOutputToken = output
            #expect {
                _ = try Chain(accounts: [(client, 10_000_000), (worker, 100_000)], workers: [(worker, 0, 100_000)], pools: [pool])
            } throws: { error in
                "\(error)".contains("pool 0 shard 0: priceInputToken and priceOutputToken must both be positive")
            }
        }
        var pool = Chain.defaultPool()
        pool.shards[0].priceInputToken = Amount(1)  // the cheapest accepted
        _ = try Chain(accounts: [(client, 10_000_000), (worker, 100_000)], workers: [(worker, 0, 100_000)], pools: [pool])
    }

    /// Zero values that void a guarantee the spec relies on are refused at genesis, naming the parameter: a zero
    /// protocol fee makes self-dealing free (§2), and a zero fraud-proof bond lets claims that fail adjudication cost
    /// only their fee while each takes a replay and holds the worker's settlement (row 27).
    @Test func parametersThatVoidAGuaranteeAreRefusedAtGenesis() throws {
        var params = Chain.defaultParams()
        params.protocolFeeBps = 0
        #expect { _ = try Chain(accounts: [(client, 1_000)], params: params) } throws: { "\($0)".contains("ledger.protocolFeeBps must be at least 1") }
        var pool = Chain.defaultPool()
        pool.fraudProofBond = .zero
        #expect { _ = try Chain(accounts: [(client, 1_000)], pools: [pool]) } throws: { "\($0)".contains("pool 0: fraudProofBond must be positive") }
        params.protocolFeeBps = 1
        pool.fraudProofBond = Amount(1)
        _ = try Chain(accounts: [(client, 1_000)], pools: [pool], params: params)
    }

    /// Row 43, with priced tokens. The chain cannot tell a payer's padding from a worker's laziness (both are paid
    /// tokens without committed passes), and refunds uncovered tokens at their average price, which protects payers
    /// from lazy workers. Against padding the defence is the payee's: only it can claim a voucher, and a worker claims
    /// the last voucher whose counters do not exceed what it served (Specs/economics.md §2). Here the client's last
    /// voucher adds 300 cheap input tokens it was never served (against a worker that claimed it, this would have
    /// refunded the client part of the price of the work it did get); the worker claims the voucher before it and is
    /// paid everything the client was charged, less the protocol fee.
    @Test func aWorkerThatClaimsOnlyWhatItServedIsPaidInFullDespiteAPaddedVoucher() throws {
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 100_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])  // 1
        let b = PassBatch.make(count: 40, shard: 0, seed: 401)
        let (i, o) = (b.tokenCount - b.tokenCount / 5, b.tokenCount / 5)
        let shard = Chain.defaultPool().shards[0]
        let charge = i * shard.priceInputToken.units + o * shard.priceOutputToken.units
        let earned = charge - (charge * 500 + 9_999) / 10_000
        let served = c.voucher(client, escrow: escrow, payee: worker, input: i, output: o)
        let padded = c.voucher(client, escrow: escrow, payee: worker, input: i + 300, output: o)
        guard case .claimUsage(let v) = served, case .claimUsage(let p) = padded else { Issue.record("not vouchers"); return }
        // The worker's rule: the last voucher whose counters are within the tokens it served.
        let claimable = [v, p].last { $0.cumulativeInputTokens <= i && $0.cumulativeOutputTokens <= o }
        #expect(claimable == v)
        let r = try c.block([try c.tx(worker, c.commit(b)), try c.tx(worker, .claimUsage(voucher: claimable!), nonce: 1)])  // 2
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 4)
        #expect(try c.revealAll(worker, b, commitment: c.commitmentId(worker, b)).dropLast().allSatisfy { $0.succeeded })  // 5
        try c.advance(to: c.settleHeight0)
        let pay = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])
        #expect(payout(pay[0])?.paid == earned && payout(pay[0])?.refunded == 0, "\(String(describing: payout(pay[0]))) of \(earned)")
    }

    /// The sample count's ceiling division used to add `denominator − 1` to a product that can sit just below 2⁶⁴
    /// (a commitment's declared token total times a small `spotCheckPpm`), trapping every validator executing it.
    @Test func sampleCountNearTheTopOfU64DoesNotTrap() {
        var pool = Chain.defaultPool()
        pool.spotCheckPpm = 1
        pool.maxTicketsPerCommitment = 1_000_000
        let max = UInt64.max
        // ⌈(2⁶⁴ − 1) / (10⁶ × 16)⌉ = 1 152 921 504 607, clamped to the pool's maximum.
        #expect(pool.sampleCount(tokenTotal: max) == 1_000_000)
        pool.maxTicketsPerCommitment = UInt32.max
        #expect(pool.sampleCount(tokenTotal: max) == UInt32.max)
        #expect(pool.sampleCount(tokenTotal: 16_000_000) == 1 && pool.sampleCount(tokenTotal: 16_000_001) == 2)
    }

    // MARK: - Passes across pools

    /// Row 44 (found by the fourth review, then fixed). A pass's content key `H_pass-key(shard ‖ positionOffset ‖
    /// tokenCount ‖ inputHash)` names neither the pool nor the shard's weights, and the revealed-pass index was global:
    /// a worker staked in two pools that served one activation to both (two models with the same hidden size)
    /// computed two different passes, yet the second reveal was judged `reused` and the honest worker slashed σ, jailed
    /// and forfeited its unpaid windows; any client could set it up with two small requests (one leaf each, so both
    /// are sampled for sure). The record is now per pool (`25 ‖ pool ‖ contentKey`): both passes count, no slash.
    @Test func aPassServedInTwoPoolsIsTwoPasses() throws {
        var second = Chain.defaultPool(id: 1)
        second.modelId = "another-model"
        second.shards[0].weightsSHA256 = SHA256.hash(Array("another model's weights".utf8))
        var c = try Chain(accounts: [(worker, 100_000)], workers: [(worker, 0, 10_000), (worker, 1, 10_000)],
                          pools: [Chain.defaultPool(), second])
        let b = PassBatch.make(count: 1, shard: 0, seed: 402)
        // In pool 1 the pass has another output (another model): same input, position and length.
        var leaf = b.tree.leaves[0]
        leaf.outputHash = SHA256.hash(leaf.outputHash.bytes)
        let second1 = PassBatch.from([(leaf, b.inputs[0], false)])
        let r = try c.block([
            try c.tx(worker, .commitShares(pool: 0, window: 0, shard: 0, leafCount: 1, tokenTotal: b.tokenCount, root: b.root)),
            try c.tx(worker, .commitShares(pool: 1, window: 0, shard: 0, leafCount: 1, tokenTotal: second1.tokenCount, root: second1.root), nonce: 1),
        ])  // 1
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 3)
        let id0 = LedgerIds.commitment(worker: worker.publicKey, pool: 0, window: 0, shard: 0, root: b.root)
        let id1 = LedgerIds.commitment(worker: worker.publicKey, pool: 1, window: 0, shard: 0, root: second1.root)
        let t0 = try c.tickets(id0), t1 = try c.tickets(id1)
        try #require(t0.count == 1 && t1.count == 1)
        #expect(try c.block([try c.tx(worker, b.reveal(t0[0].id, point: t0[0].ticket.point))])[0].succeeded)  // 4
        let r1 = try c.block([try c.tx(worker, second1.reveal(t1[0].id, point: t1[0].ticket.point))])  // 5
        let status = try LedgerReader(c.state).ticket(t1[0].id)?.status
        let stake1 = try c.staker(.worker(pool: 1), worker.publicKey)?.stake.units
        // Secure outcome: a pass of another pool's model is a different pass: revealed, not punished.
        #expect(status == .revealed && slashed([r1[0]], worker.publicKey) == 0,
                "pool-1 ticket \(String(describing: status)), slashed \(slashed([r1[0]], worker.publicKey)), pool-1 stake now \(String(describing: stake1))")
    }

    // MARK: - Sum trees at their edges

    /// Sum-tree edges: (1) a leaf hidden in the padding beyond the declared `leafCount` (its tokens in the root's
    /// sum) cannot be revealed under its own index, under a smaller index or as its left neighbour, so a sample
    /// landing there is withheld; (2) a duplicate as the very last leaf (no right neighbour to show) still fails its
    /// left-neighbour check, and neither copy can be revealed with a neighbour left out (since the key ranges, neither
    /// copy's own path verifies: the node above the two is out of order); (3) a one-leaf tree reveals without
    /// neighbours, and refuses a made-up neighbour at either end.
    @Test func sumTreePaddingAndBoundaryLeavesCannotHideWork() throws {
        let w1 = worker, w2 = other, w3 = third
        var c = try Chain(accounts: [(w1, 100_000), (w2, 100_000), (w3, 100_000)],
                          workers: [(w1, 0, 10_000), (w2, 0, 10_000), (w3, 0, 10_000)])
        // (1) Three real one-token leaves, sorted; position 3 (padding) holds a 16-token leaf.
        var real = (0..<3).map { AttackReview4Tests.pass(tokens: 1, seed: 4100 + UInt64($0), position: UInt64($0)) }
        real.sort { $0.0.contentKey < $1.0.contentKey }
        var hidden = AttackReview4Tests.pass(tokens: 16, seed: 4199, position: 50).0
        hidden.index = 3
        let t1 = AttackReview4Tests.tree(real.map(\.0), padding: [hidden.node])
        #expect(t1.tokenTotal == 19)
        // (2) Three sorted leaves, the last duplicated with another output as leaf 3.
        let big = AttackReview4Tests.pass(tokens: 16, seed: 4202, position: 100)
        var small = [(PassLeaf, [UInt8])]()
        var seed: UInt64 = 4300
        while small.count < 2 {
            let p = AttackReview4Tests.pass(tokens: 1, seed: seed, position: seed)
            if p.0.contentKey < big.0.contentKey { small.append(p) }
            seed += 1
        }
        small.sort { $0.0.contentKey < $1.0.contentKey }
        let three = small + [big]
        var dup = three[2].0
        dup.outputHash = SHA256.hash(dup.outputHash.bytes)
        let t2 = AttackReview4Tests.tree(three.map(\.0) + [dup])
        #expect(t2.tokenTotal == 34)
        // (3) One leaf.
        let single = AttackReview4Tests.pass(tokens: 4, seed: 4400, position: 0)
        let t3 = AttackReview4Tests.tree([single.0])

        let r = try c.block([
            try c.tx(w1, .commitShares(pool: 0, window: 0, shard: 0, leafCount: 3, tokenTotal: t1.tokenTotal, root: t1.root.hash)),
            try c.tx(w2, .commitShares(pool: 0, window: 0, shard: 0, leafCount: 4, tokenTotal: t2.tokenTotal, root: t2.root.hash)),
            try c.tx(w3, .commitShares(pool: 0, window: 0, shard: 0, leafCount: 1, tokenTotal: t3.tokenTotal, root: t3.root.hash)),
        ])  // 1
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 3)
        let c1 = LedgerIds.commitment(worker: w1.publicKey, pool: 0, window: 0, shard: 0, root: t1.root.hash)
        let c2 = LedgerIds.commitment(worker: w2.publicKey, pool: 0, window: 0, shard: 0, root: t2.root.hash)
        let c3 = LedgerIds.commitment(worker: w3.publicKey, pool: 0, window: 0, shard: 0, root: t3.root.hash)

        var txs = [SignedTransaction]()
        var expected = [FailureReason?]()
        var nonces = [PublicKey: UInt64]()
        func add(_ k: PrivateKey, _ body: TxBody, _ outcome: FailureReason?) throws {
            let n = try nonces[k.publicKey] ?? c.account(k.publicKey).nonce
            txs.append(try c.tx(k, body, nonce: n))
            nonces[k.publicKey] = n + 1
            expected.append(outcome)
        }
        // (1)
        let tickets1 = try c.tickets(c1)
        let inPadding = tickets1.filter { $0.ticket.point >= 3 }
        try #require(!inPadding.isEmpty, "no sample landed in the padding: change the seeds")
        for (id, _) in inPadding {
            let path = t1.path(3)
            var asTwo = hidden
            asTwo.index = 2
            try add(w1, .revealTicket(ticketId: id, leaf: LeafProof(leaf: hidden, path: path), left: t1.proof(2), right: nil,
                                      input: testInput(tokens: 16, seed: 1)), .invalidSumProof)
            try add(w1, .revealTicket(ticketId: id, leaf: LeafProof(leaf: asTwo, path: path), left: t1.proof(1), right: nil,
                                      input: testInput(tokens: 16, seed: 1)), .invalidSumProof)
            try add(w1, .revealTicket(ticketId: id, leaf: t1.proof(2), left: t1.proof(1), right: LeafProof(leaf: hidden, path: path),
                                      input: real[2].1), .invalidSumProof)  // the padding leaf's key is below leaf 2's: their parent is out of order
        }
        // (2)
        let tickets2 = try c.tickets(c2)
        let onDuplicate = tickets2.filter { $0.ticket.point >= 2 }
        try #require(!onDuplicate.isEmpty, "no sample landed on the duplicated pair: change the seeds")
        for (id, t) in onDuplicate {
            let bigProof = t2.proof(2)
            let dupProof = LeafProof(leaf: t2.leaves[3], path: t2.path(3))
            if t.point < 18 {  // leaf 2: [2, 18)
                try add(w2, .revealTicket(ticketId: id, leaf: bigProof, left: t2.proof(1), right: dupProof, input: three[2].1), .invalidSumProof)
                try add(w2, .revealTicket(ticketId: id, leaf: bigProof, left: t2.proof(1), right: nil, input: three[2].1), .invalidSumProof)
            } else {  // leaf 3, the last: [18, 34)
                try add(w2, .revealTicket(ticketId: id, leaf: dupProof, left: bigProof, right: nil, input: three[2].1), .invalidSumProof)
                try add(w2, .revealTicket(ticketId: id, leaf: dupProof, left: nil, right: nil, input: three[2].1), .invalidSumProof)
            }
        }
        // (3)
        let tickets3 = try c.tickets(c3)
        try #require(tickets3.count == 1)
        try add(w3, .revealTicket(ticketId: tickets3[0].id, leaf: t3.proof(0), left: nil, right: t1.proof(0), input: single.1), .neighbourMismatch)
        try add(w3, .revealTicket(ticketId: tickets3[0].id, leaf: t3.proof(0), left: t3.proof(0), right: nil, input: single.1), .neighbourMismatch)
        try add(w3, .revealTicket(ticketId: tickets3[0].id, leaf: t3.proof(0), left: nil, right: nil, input: single.1), nil)
        let rr = try c.block(txs)  // 4
        for (k, receipt) in rr.dropLast().enumerated() {
            #expect(receipt.failure == expected[k], "tx \(k): \(receipt.status), expected \(String(describing: expected[k]))")
        }
        try c.advance(to: 6)  // deadline 3 + 3
        // Secure outcome: the hidden and the duplicated samples are withheld and punished; the one-leaf tree is fine.
        #expect(try inPadding.allSatisfy { try LedgerReader(c.state).ticket($0.id)?.status == .withheld })
        #expect(try onDuplicate.allSatisfy { try LedgerReader(c.state).ticket($0.id)?.status == .withheld })
        #expect(try c.staker(.worker(pool: 0), w1.publicKey)!.stake == 5_000)
        #expect(try c.staker(.worker(pool: 0), w2.publicKey)!.stake == 5_000)
        #expect(try c.staker(.worker(pool: 0), w3.publicKey)!.stake == 10_000)
        #expect(try LedgerReader(c.state).ticket(tickets3[0].id)?.status == .revealed)
    }

    // MARK: - Staking

    /// A worker convicted once (first commitment withheld) unbonds everything before its second commitment's deadline
    /// and bonds afresh: the second conviction still takes its due from the unbonding entry created after that
    /// commitment, the fresh bond leaves it jailed (no commitment, no early unjail), and only the jail's end frees it.
    @Test func aConvictedWorkerCannotUnbondAndRebondItsWayOut() throws {
        var c = try Chain(accounts: [(worker, 100_000)], workers: [(worker, 0, 10_000)])
        let role = StakeRole.worker(pool: 0)
        let a = PassBatch.make(count: 4, shard: 0, seed: 4501), b = PassBatch.make(count: 4, shard: 0, seed: 4502)
        try c.block([try c.tx(worker, c.commit(a))])  // 1
        try c.block([try c.tx(worker, c.commit(b))])  // 2
        try c.advance(to: 6)  // a's samples withheld at the end of 6
        #expect(try c.staker(role, worker.publicKey)!.stake == 5_000)
        guard case .jailed = try c.staker(role, worker.publicKey)!.status else { Issue.record("not jailed"); return }
        let before = try c.wealth(worker)
        // 7: unbond all, re-bond, try to commit and unjail; b's samples are withheld at the end of this block.
        let n = try c.account(worker.publicKey).nonce
        let r = try c.block([try c.tx(worker, .unbond(role: role, amount: 5_000), nonce: n),
                             try c.tx(worker, .bond(role: role, amount: 10_000, randaoCommitment: nil), nonce: n + 1),
                             try c.tx(worker, c.commit(PassBatch.make(count: 4, shard: 0, seed: 4503)), nonce: n + 2),
                             try c.tx(worker, .unjail(role: role), nonce: n + 3)])
        #expect(r[0].succeeded && r[1].succeeded, "\(r.map(\.status))")
        #expect(r[2].failure == .notActiveWorker)
        #expect(r[3].failure == .jailPeriodNotOver)
        // Secure outcome: b's conviction took 5 000 (half the stake bonded at b's inclusion) from the fresh unbonding.
        #expect(slashed(r, worker.publicKey) == 5_000, "slashed at 7: \(slashed(r, worker.publicKey))")
        #expect(try LedgerReader(c.state).unbondings(role, worker.publicKey).reduce(UInt64(0)) { $0 + $1.entry.amount.units } == 0)
        #expect(try c.wealth(worker) + 5_000 + r.dropLast().reduce(UInt64(0)) { $0 + $1.feePaid.units } == before)
        guard case .jailed(let until) = try c.staker(role, worker.publicKey)!.status else { Issue.record("not jailed"); return }
        try c.advance(to: until - 1)
        #expect(try c.block([try c.tx(worker, .unjail(role: role))])[0].succeeded)
    }
}

import Testing
@testable import Ledger
@testable import Primitives

@Suite struct EnvelopeAndTransferTests {
    let alice = testKey("alice"), bob = testKey("bob")

    @Test func transferMovesFundsAndPaysTheProposerTheFee() throws {
        var c = try Chain(accounts: [(alice, 10_000)])
        let t = try c.tx(alice, .transfer(to: bob.publicKey, amount: 300))
        let proposer = c.validators[0].key.publicKey
        let r = try c.block([t])
        #expect(r[0].succeeded)
        #expect(r[0].events == [.transfer(from: alice.publicKey, to: bob.publicKey, amount: 300)])
        #expect(try c.balance(bob.publicKey) == 300)
        #expect(try c.balance(alice.publicKey) == 10_000 - 300 - t.transaction.fee.units)
        #expect(try c.balance(proposer) == t.transaction.fee.units)
        #expect(try c.account(alice.publicKey).nonce == 1)
        // The last receipt is the block-processing receipt.
        #expect(r.count == 2 && r[1].txId == .zero)
    }

    @Test func failedExecutionChargesFeeUsesNonceAndChangesNothingElse() throws {
        var c = try Chain(accounts: [(alice, 1_000)])
        let t = try c.tx(alice, .transfer(to: bob.publicKey, amount: 5_000))
        let r = try c.block([t])
        #expect(r[0].failure == .insufficientBalance)
        #expect(r[0].events.isEmpty)
        #expect(try c.balance(alice.publicKey) == 1_000 - t.transaction.fee.units)
        #expect(try c.account(alice.publicKey).nonce == 1)
        #expect(try c.balance(bob.publicKey) == 0)
        let zero = try c.tx(alice, .transfer(to: bob.publicKey, amount: 0))
        #expect(try c.block([zero])[0].failure == .zeroAmount)
    }

    @Test func envelopeFailuresRejectTheWholeBlock() throws {
        var c = try Chain(accounts: [(alice, 100_000)])
        let good = try c.tx(alice, .transfer(to: bob.publicKey, amount: 1))
        let rootBefore = c.stateRoot

        // Wrong chain id.
        var t = good.transaction
        t.chainId = SHA256.hash([9])
        #expect(throws: BlockError.invalidTransaction(index: 0, .wrongChain)) { try c.block([t.signed(by: alice)]) }
        // Bad signature (signed by someone else).
        #expect(throws: BlockError.invalidTransaction(index: 0, .badSignature)) {
            try c.block([SignedTransaction(transaction: good.transaction, signature: bob.sign(digest: good.transaction.signingHash))])
        }
        // Nonce gap and replay.
        let future = try c.tx(alice, .transfer(to: bob.publicKey, amount: 1), nonce: 5)
        #expect(throws: BlockError.invalidTransaction(index: 0, .nonceMismatch(expected: 0, got: 5))) { try c.block([future]) }
        #expect(throws: BlockError.invalidTransaction(index: 1, .nonceMismatch(expected: 1, got: 0))) { try c.block([good, good]) }
        // Fee below the per-byte minimum.
        let cheap = try c.tx(alice, .transfer(to: bob.publicKey, amount: 1), fee: 10)
        #expect(throws: BlockError.invalidTransaction(index: 0, .feeTooLow(minimum: Amount(UInt64(cheap.encodedSize)), offered: 10))) {
            try c.block([cheap])
        }
        // Unaffordable fee.
        let broke = try c.tx(bob, .transfer(to: alice.publicKey, amount: 1))
        #expect(throws: BlockError.invalidTransaction(index: 0, .cannotAffordFee(balance: 0, fee: broke.transaction.fee))) {
            try c.block([broke])
        }
        // Nothing changed: the rejected blocks were never applied.
        #expect(c.height == 0 && c.stateRoot == rootBefore)
        #expect(try c.block([good])[0].succeeded)
    }

    @Test func oversizedTransactionIsRejected() throws {
        var params = Chain.defaultParams()
        params.maxTransactionBytes = 200
        // No pool: genesis refuses a pool whose passes do not fit a 200-byte transaction.
        var c = try Chain(accounts: [(alice, 100_000_000)], pools: [], params: params)
        let big = try c.tx(alice, .doubleSignEvidence(headerA: [UInt8](repeating: 1, count: 300), headerB: [2]))
        #expect(throws: BlockError.invalidTransaction(index: 0, .oversized(size: big.encodedSize, maximum: 200))) { try c.block([big]) }
    }

    @Test func blockOrderRulesAreEnforced() throws {
        var c = try Chain()
        var ls = c.ledgerState
        let p = c.validators[0].key.publicKey
        #expect(throws: BlockError.wrongHeight(expected: 1, got: 2)) {
            try c.ledger.applyBlock(BlockContext(height: 2, slot: 1, proposer: p, randaoReveal: .zero), transactions: [], to: &ls)
        }
        #expect(throws: BlockError.badRandaoReveal) {
            try c.ledger.applyBlock(BlockContext(height: 1, slot: 1, proposer: p, randaoReveal: .zero), transactions: [], to: &ls)
        }
        #expect(throws: BlockError.unknownProposer) {
            try c.ledger.applyBlock(BlockContext(height: 1, slot: 1, proposer: alice.publicKey, randaoReveal: .zero), transactions: [], to: &ls)
        }
        try c.block()
        ls = c.ledgerState
        #expect(throws: BlockError.slotNotAfterParent(parentSlot: 1, slot: 1)) {
            try c.ledger.applyBlock(BlockContext(height: 2, slot: 1, proposer: p, randaoReveal: c.validators[0].chain.value(4094)), transactions: [], to: &ls)
        }
    }

    @Test func transactionCodecRoundTripsAndRejectsTruncation() throws {
        let c = try Chain(accounts: [(alice, 1_000)])
        let bodies: [TxBody] = [
            .transfer(to: bob.publicKey, amount: 5),
            .bond(role: .validator, amount: 10, randaoCommitment: SHA256.hash([1])),
            .bond(role: .worker(pool: 3), amount: 10, randaoCommitment: nil),
            .unbond(role: .worker(pool: 1), amount: 9),
            .escrowOpen(pool: 0, amount: 100, expiryHeight: 50),
            .escrowTopUp(escrowId: SHA256.hash([2]), amount: 1, newExpiryHeight: 99),
            .escrowTopUp(escrowId: SHA256.hash([2]), amount: 1, newExpiryHeight: nil),
            .escrowClose(escrowId: SHA256.hash([3])),
            .escrowAllocate(escrowId: SHA256.hash([3]), payee: bob.publicKey, amount: 7),
            .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: SHA256.hash([4]), payee: bob.publicKey, shard: 1, window: 2,
                                              cumulativeInputTokens: 5, cumulativeOutputTokens: 6).signed(by: alice)),
            .commitShares(pool: 0, window: 1, shard: 1, leafCount: 3, tokenTotal: 9, root: SHA256.hash([5])),
            .revealTicket(ticketId: SHA256.hash([6]),
                          leaf: LeafProof(leaf: PassLeaf(index: 4, shard: 1, positionOffset: 2, tokenCount: 3, inputHash: .zero, outputHash: .zero),
                                          path: [SumNode(hash: SHA256.hash([7]), sum: 5)]),
                          left: LeafProof(leaf: PassLeaf(index: 3, shard: 1, positionOffset: 2, tokenCount: 1, inputHash: .zero, outputHash: .zero), path: []),
                          right: nil, input: [1, 2, 3]),
            .fraudCommit(claim: SHA256.hash([8]), pool: 2),
            .fraudReveal(ticketId: SHA256.hash([9]), salt: SHA256.hash([10]), input: [4, 5]),
            .claimPayout(pool: 1, window: 9, worker: bob.publicKey),
            .doubleSignEvidence(headerA: [1, 2], headerB: [3]),
            .unjail(role: .validator),
        ] + protocolFourBodies
        for body in bodies {
            let t = try c.tx(alice, body)
            let bytes = t.canonicalEncoding
            let back = try SignedTransaction(canonicalEncoding: bytes)
            #expect(back == t)
            #expect(back.id == t.id)
            #expect(back.hasValidSignature)
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 40)) {
                #expect(throws: CodecError.self) { try SignedTransaction(canonicalEncoding: Array(bytes[0..<cut])) }
            }
            #expect(throws: CodecError.self) { try SignedTransaction(canonicalEncoding: bytes + [0]) }
        }
        // Unknown kind tag.
        var raw = try c.tx(alice, .fraudCommit(claim: .zero, pool: 0)).canonicalEncoding
        raw[32 + 32 + 8 + 8] = 99
        #expect(throws: CodecError.self) { try SignedTransaction(canonicalEncoding: raw) }
    }

    /// The bodies added after protocol 3 (finality votes, checkers, sealed reveals), one of each.
    var protocolFourBodies: [TxBody] {
        let leaf = LeafProof(leaf: PassLeaf(index: 1, shard: 0, positionOffset: 8, tokenCount: 2, inputHash: SHA256.hash([11]), outputHash: SHA256.hash([12])),
                             path: [SumNode(hash: SHA256.hash([13]), sum: 7), SumNode(hash: SHA256.hash([14]), sum: 1)])
        let vote = FinalityVote(validator: alice.publicKey, source: Checkpoint(height: 0, hash: .zero),
                                target: Checkpoint(height: 32, hash: SHA256.hash([15]))).signed(by: alice, chainId: Chain.chainId)
        let other = FinalityVote(validator: alice.publicKey, source: Checkpoint(height: 0, hash: .zero),
                                 target: Checkpoint(height: 32, hash: SHA256.hash([16]))).signed(by: alice, chainId: Chain.chainId)
        return [
            .bond(role: .checker(pool: 2), amount: 50, randaoCommitment: nil),
            .finalityVotes(votes: [vote]),
            .voteEvidence(a: vote, b: other),
            .registerChecker(pool: 2, sealingKey: SHA256.hash([17])),
            .revealSealedTicket(ticketId: SHA256.hash([18]), leaf: leaf, left: nil, right: leaf, envelope: [9, 8, 7, 6]),
            .checkCommit(items: [CheckCommitItem(ticketId: SHA256.hash([19]), commitment: SHA256.hash([20])),
                                 CheckCommitItem(ticketId: SHA256.hash([21]), commitment: SHA256.hash([22]))]),
            .unblindOutput(items: [UnblindItem(ticketId: SHA256.hash([23]), outputHash: SHA256.hash([24]), salt: SHA256.hash([25]))]),
            .checkReveal(items: [CheckRevealItem(ticketId: SHA256.hash([26]), answer: SHA256.hash([27]), nonce: SHA256.hash([28])),
                                 CheckRevealItem(ticketId: SHA256.hash([26]), answer: SHA256.hash([27]), nonce: SHA256.hash([28]),
                                                 salt: SHA256.hash([32]))]),
            .publishSealKey(ticketId: SHA256.hash([29]), ephemeralPrivateKey: SHA256.hash([30])),
            .publishSealedInput(ticketId: SHA256.hash([31]), input: [1, 2, 3, 4]),
            .claimUsageBatch(vouchers: [
                UsageVoucher(chainId: Chain.chainId, escrowId: SHA256.hash([33]), payee: bob.publicKey, shard: 0, window: 3,
                             cumulativeInputTokens: 7, cumulativeOutputTokens: 1).signed(by: alice),
                UsageVoucher(chainId: Chain.chainId, escrowId: SHA256.hash([34]), payee: bob.publicKey, shard: 1, window: 3,
                             cumulativeInputTokens: 9, cumulativeOutputTokens: 0).signed(by: bob)]),
            .claimUsageBatch(vouchers: []),
            // Protocol 5: hop challenges.
            .hopChallenge(receipt: HopReceipt(leaf: leaf.leaf, pool: 0, window: 4, worker: bob.publicKey, holder: alice.publicKey)
                .signed(by: bob, chainId: Chain.chainId)),
            .answerHopChallenge(challengeId: SHA256.hash([35]), commitmentId: SHA256.hash([36]), leaf: leaf, input: [5, 6, 7]),
        ]
    }

    /// Decoder fuzzing over every transaction kind: seeded mutations (bit flips, byte changes, insertions,
    /// deletions, cuts) of valid encodings either fail with a `CodecError` or decode to a transaction that
    /// re-encodes to exactly the mutated bytes (a strict decoder: one transaction, one encoding).
    @Test func mutatedTransactionsFailCleanlyOrRoundTrip() throws {
        let c = try Chain(accounts: [(alice, 1_000)])
        let bodies: [TxBody] = [
            .transfer(to: bob.publicKey, amount: 5),
            .escrowAllocate(escrowId: SHA256.hash([3]), payee: bob.publicKey, amount: 7),
            .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: SHA256.hash([4]), payee: bob.publicKey, shard: 1, window: 2,
                                              cumulativeInputTokens: 5, cumulativeOutputTokens: 6).signed(by: alice)),
            .revealTicket(ticketId: SHA256.hash([6]),
                          leaf: LeafProof(leaf: PassLeaf(index: 4, shard: 1, positionOffset: 2, tokenCount: 3, inputHash: .zero, outputHash: .zero),
                                          path: [SumNode(hash: SHA256.hash([7]), sum: 5)]),
                          left: nil, right: nil, input: [1, 2, 3]),
            .fraudReveal(ticketId: SHA256.hash([9]), salt: SHA256.hash([10]), input: [4, 5]),
        ] + protocolFourBodies
        var rng = SplitMix64(seed: 0x5EA1_ED)
        var decoded = 0, refused = 0
        for body in bodies {
            let bytes = try c.tx(alice, body).canonicalEncoding
            for _ in 0..<300 {
                var m = bytes
                switch rng.next() % 5 {
                case 0: let i = Int(rng.next() % UInt64(m.count)); m[i] ^= UInt8(1) << (rng.next() % 8)
                case 1: m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 2: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(m.count + 1)))
                case 3: m.remove(at: Int(rng.next() % UInt64(m.count)))
                default: m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))
                }
                do {
                    let t = try SignedTransaction(canonicalEncoding: m)
                    #expect(t.canonicalEncoding == m, "\(body.kindName): a mutated encoding decoded to a different transaction")
                    decoded += 1
                } catch {
                    refused += 1
                }
            }
        }
        // Both outcomes happen (a flipped signature or amount byte still decodes), so the test sees both paths.
        #expect(decoded > 0 && refused > decoded)
    }
}

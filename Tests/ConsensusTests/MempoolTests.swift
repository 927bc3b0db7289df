import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

@Suite struct MempoolTests {
    let alice = key("alice"), bob = key("bob"), carol = key("carol")
    let chainId = SHA256.hash([42])
    var ledger: Ledger {
        Ledger(params: LedgerParams(), chainId: chainId, adjudicator: UnusedAdjudicator(), equivocationVerifier: HeaderEquivocationVerifier())
    }

    func tx(_ k: PrivateKey, nonce: UInt64, fee: UInt64 = 1_000, amount: UInt64 = 1) -> SignedTransaction {
        Transaction(chainId: chainId, sender: k.publicKey, nonce: nonce, fee: Amount(fee), body: .transfer(to: carol.publicKey, amount: Amount(amount))).signed(by: k)
    }

    let rich = Account(balance: 1_000_000, nonce: 0)

    /// A full pool is not taken over by costly followers of a minimum-fee first transaction: they can be mined only
    /// after it, so they bid its rate, not theirs (eighteenth-session audit: 64 such followers evicted 64 transactions
    /// paying five times the head's rate, and none of them made the next block). A sender paying well from its first
    /// nonce still evicts the cheapest.
    @Test func followersOfACheapHeadDoNotEvictTransactionsMinedBeforeThem() throws {
        var c = MempoolConfig()
        c.maxTransactions = 200
        var m = Mempool(config: c)
        let wealthy = Account(balance: 1_000_000_000, nonce: 0)
        let attacker = key("attacker"), honest = (0..<199).map { key("honest-\($0)") }
        let cheapest = tx(attacker, nonce: 0, fee: 0)
        let minimum = ledger.params.minFeePerByte * UInt64(cheapest.encodedSize + 16)
        try m.add(tx(attacker, nonce: 0, fee: minimum), account: wealthy, ledger: ledger, now: 0)
        for k in honest { try m.add(tx(k, nonce: 0, fee: 5 * minimum), account: wealthy, ledger: ledger, now: 0) }
        for n in 1...64 { _ = try? m.add(tx(attacker, nonce: UInt64(n), fee: 50 * minimum), account: wealthy, ledger: ledger, now: 0) }
        #expect(honest.allSatisfy { !m.pending(from: $0.publicKey).isEmpty }, "followers of a minimum-fee head evicted better-paying transactions")
        // Paying well from the first nonce: admitted, in place of the cheapest queue (the attacker's, at its head's rate).
        let payer = key("payer")
        try m.add(tx(payer, nonce: 0, fee: 50 * minimum), account: wealthy, ledger: ledger, now: 0)
        #expect(m.pending(from: payer.publicKey).count == 1)
        #expect(honest.allSatisfy { !m.pending(from: $0.publicKey).isEmpty })
    }

    /// Operator review (seventeenth session): the refusal named queued transactions when there were none and gave no
    /// amounts. It now says what the balance is, what is needed and how many queued transactions count.
    @Test func anUnaffordableTransactionIsRefusedWithTheAmounts() throws {
        var m = Mempool()
        let poor = Account(balance: 1_005, nonce: 0)  // pays the fee (the envelope's check), not the fee and the amount
        do throws(MempoolError) {
            try m.add(tx(alice, nonce: 0, fee: 1_000, amount: 7), account: poor, ledger: ledger, now: 0)
            Issue.record("accepted")
        } catch let e {
            #expect(e == .cannotAffordQueuedFees(balance: 1_005, required: 1_007, queued: 0))
            #expect("\(e)" == "balance 1005 cannot pay this transaction's fee and what it moves (1007 needed)")
        }
        try m.add(tx(alice, nonce: 0, fee: 1_000, amount: 7), account: rich, ledger: ledger, now: 0)
        do throws(MempoolError) {
            try m.add(tx(alice, nonce: 1, fee: 1_000, amount: 998_000), account: rich, ledger: ledger, now: 0)
            Issue.record("accepted")
        } catch let e {
            #expect(e == .cannotAffordQueuedFees(balance: 1_000_000, required: 1_000_007, queued: 1))
            #expect("\(e)".contains("the sender's 1 queued transactions") && "\(e)".contains("1000007 needed"), "\(e)")
        }
    }

    @Test func ordersByFeeRateAndKeepsNonceOrderPerSender() throws {
        var m = Mempool()
        try m.add(tx(alice, nonce: 1, fee: 5_000), account: rich, ledger: ledger, now: 0)
        try m.add(tx(alice, nonce: 0, fee: 300), account: rich, ledger: ledger, now: 0)
        try m.add(tx(bob, nonce: 0, fee: 2_000), account: rich, ledger: ledger, now: 0)
        try m.add(tx(alice, nonce: 3, fee: 9_000), account: rich, ledger: ledger, now: 0)  // gap at 2
        let picked = m.select(maxCount: 10, maxBytes: 1 << 20) { _ in Account(balance: 1_000_000, nonce: 0) }
        // Bob pays more per byte than alice's first; alice's nonce 1 follows her nonce 0; nonce 3 waits for 2.
        #expect(picked.map { "\($0.transaction.sender == alice.publicKey ? "a" : "b")\($0.transaction.nonce)" } == ["b0", "a0", "a1"])
        #expect(m.select(maxCount: 1, maxBytes: 1 << 20) { _ in rich }.count == 1)
        #expect(m.nextNonce(for: alice.publicKey, accountNonce: 0) == 2)
    }

    @Test func admissionRules() throws {
        var m = Mempool()
        #expect(throws: MempoolError.nonceTooLow(accountNonce: 5)) { try m.add(tx(alice, nonce: 4), account: Account(balance: 1_000_000, nonce: 5), ledger: ledger, now: 0) }
        #expect(throws: MempoolError.nonceTooFarAhead(accountNonce: 0, maximumGap: 64)) { try m.add(tx(alice, nonce: 65), account: rich, ledger: ledger, now: 0) }
        let cheap = tx(alice, nonce: 0, fee: 10)
        #expect(throws: MempoolError.invalid(.feeTooLow(minimum: Amount(UInt64(cheap.encodedSize)), offered: 10))) { try m.add(cheap, account: rich, ledger: ledger, now: 0) }
        let forged = SignedTransaction(transaction: tx(alice, nonce: 0).transaction, signature: bob.sign(digest: SHA256.hash([1])))
        #expect(throws: MempoolError.invalid(.badSignature)) { try m.add(forged, account: rich, ledger: ledger, now: 0) }
        let t = tx(alice, nonce: 0)
        try m.add(t, account: rich, ledger: ledger, now: 0)
        #expect(throws: MempoolError.alreadyKnown) { try m.add(t, account: rich, ledger: ledger, now: 0) }
        // Queued fees must be affordable.
        expectCannotAfford { try m.add(tx(alice, nonce: 1, fee: 1_500), account: Account(balance: 2_000, nonce: 0), ledger: ledger, now: 0) }
        // Queued fees whose sum passes 2⁶⁴ do not wrap around into an affordable total (robustness review).
        var huge = Mempool()
        let top = Account(balance: Amount(UInt64.max), nonce: 0)
        try huge.add(tx(carol, nonce: 0, fee: UInt64.max / 2 + 2), account: top, ledger: ledger, now: 0)
        expectCannotAfford { try huge.add(tx(carol, nonce: 1, fee: UInt64.max / 2 + 2), account: top, ledger: ledger, now: 0) }
        #expect(huge.revalidate(now: 0, account: { _ in top }).isEmpty)
        var other = Mempool(config: { var c = MempoolConfig(); c.maxTransactions = 100; return c }())
        var wrong = t.transaction
        wrong.chainId = SHA256.hash([0])
        #expect(throws: MempoolError.invalid(.wrongChain)) { try other.add(wrong.signed(by: alice), account: rich, ledger: ledger, now: 0) }
    }

    @Test func replacementNeedsAHigherFee() throws {
        var m = Mempool()
        let a = tx(alice, nonce: 0, fee: 1_000, amount: 1)
        try m.add(a, account: rich, ledger: ledger, now: 0)
        #expect(throws: MempoolError.replacementUnderpriced(minimumFee: 1_100)) { try m.add(tx(alice, nonce: 0, fee: 1_050, amount: 2), account: rich, ledger: ledger, now: 0) }
        let b = tx(alice, nonce: 0, fee: 1_100, amount: 3)
        #expect(try m.add(b, account: rich, ledger: ledger, now: 0) == a)
        #expect(m.count == 1 && m.contains(b.id) && !m.contains(a.id))
    }

    @Test func fullPoolEvictsTheCheapestTailOnlyForABetterFee() throws {
        var config = MempoolConfig()
        config.maxTransactions = 3
        var m = Mempool(config: config)
        try m.add(tx(alice, nonce: 0, fee: 1_000), account: rich, ledger: ledger, now: 0)
        try m.add(tx(alice, nonce: 1, fee: 400), account: rich, ledger: ledger, now: 0)
        try m.add(tx(bob, nonce: 0, fee: 2_000), account: rich, ledger: ledger, now: 0)
        #expect(throws: MempoolError.poolFull) { try m.add(tx(carol, nonce: 0, fee: 300), account: rich, ledger: ledger, now: 0) }
        let better = tx(carol, nonce: 0, fee: 3_000)
        try m.add(better, account: rich, ledger: ledger, now: 0)
        #expect(m.count == 3)
        // Alice's tail (nonce 1, the cheapest) went, her head stayed.
        #expect(m.pending(from: alice.publicKey).map(\.transaction.nonce) == [0])
        #expect(m.contains(better.id))
    }

    /// Review F's suspicion: transactions behind a nonce gap cannot be included, so they never pay, yet they bid their
    /// fee rate for room. Senders queueing nonces 1… with nonce 0 missing, at 100 times the usual rate, filled a full
    /// pool that refused every paying transaction for 15 minutes. Now a gapped tail counts as paying nothing: any
    /// executable transaction evicts it, a gapped newcomer evicts nothing, and a tail whose gap is filled pays again.
    @Test func transactionsBehindANonceGapCannotHoldAFullPool() throws {
        var config = MempoolConfig()
        config.maxTransactions = 6
        var m = Mempool(config: config)
        let squatters = [key("squatter-1"), key("squatter-2")]
        for s in squatters {
            for n in 1...3 { try m.add(tx(s, nonce: UInt64(n), fee: 100_000), account: rich, ledger: ledger, now: 0) }  // 0 never sent
        }
        #expect(m.count == 6)
        // A paying transaction at the minimum fee gets in, in place of a squatter's tail.
        let paying = tx(alice, nonce: 0, fee: UInt64(tx(alice, nonce: 0).encodedSize))
        try m.add(paying, account: rich, ledger: ledger, now: 0)
        #expect(m.contains(paying.id) && m.count == 6)
        // A gapped newcomer, however high its bid, evicts nothing executable once the squatters are gone.
        for i in 1...5 { try m.add(tx(bob, nonce: UInt64(i - 1), fee: 1_000 + UInt64(i)), account: rich, ledger: ledger, now: 0) }
        #expect(m.count == 6 && squatters.allSatisfy { m.pending(from: $0.publicKey).isEmpty })
        #expect(throws: MempoolError.poolFull) { try m.add(tx(carol, nonce: 1, fee: 900_000), account: rich, ledger: ledger, now: 0) }
        // Executable newcomers still evict by fee rate: carol's nonce 0 takes the place of alice's minimum-fee
        // transaction (the cheapest executable tail), her nonce 2 (behind a gap at 1) is refused, and her nonce 1
        // takes the place of bob's cheapest tail.
        try m.add(tx(carol, nonce: 0, fee: 50_000), account: rich, ledger: ledger, now: 0)
        #expect(!m.contains(paying.id))
        #expect(throws: MempoolError.poolFull) { try m.add(tx(carol, nonce: 2, fee: 500_000), account: rich, ledger: ledger, now: 0) }
        try m.add(tx(carol, nonce: 1, fee: 60_000), account: rich, ledger: ledger, now: 0)
        #expect(m.pending(from: carol.publicKey).count == 2)
        #expect(m.pending(from: bob.publicKey).map(\.transaction.nonce) == [0, 1, 2, 3])
    }

    /// A queue with a gap that a block later fills (the missing nonce was included from another node's pool) is
    /// ranked by its fee again after revalidation, not evicted first.
    @Test func aGapFilledByABlockRanksTheQueueByItsFeeAgain() throws {
        var config = MempoolConfig()
        config.maxTransactions = 2
        var m = Mempool(config: config)
        try m.add(tx(alice, nonce: 1, fee: 90_000), account: rich, ledger: ledger, now: 0)  // behind a gap at 0
        try m.add(tx(bob, nonce: 0, fee: 2_000), account: rich, ledger: ledger, now: 0)
        // Alice's nonce 0 was included elsewhere: her account nonce is 1, her queued transaction executable.
        m.revalidate(now: 0) { k in k == self.alice.publicKey ? Account(balance: 1_000_000, nonce: 1) : self.rich }
        try m.add(tx(carol, nonce: 0, fee: 5_000), account: rich, ledger: ledger, now: 0)
        #expect(m.pending(from: alice.publicKey).count == 1, "alice's 90 000 was evicted as if still gapped")
        #expect(m.pending(from: bob.publicKey).isEmpty)
    }

    @Test func clearingFeeRateIsTheLowestRateOfAFullNextBlock() throws {
        var m = Mempool()
        let any: (PublicKey) -> Account = { _ in self.rich }
        #expect(m.clearingFeeRate(maxCount: 2, maxBytes: 1 << 20, account: any) == nil)
        let a0 = tx(alice, nonce: 0, fee: 1_000), b0 = tx(bob, nonce: 0, fee: 2_000)
        try m.add(a0, account: rich, ledger: ledger, now: 0)
        try m.add(b0, account: rich, ledger: ledger, now: 0)
        // A transaction waiting behind a nonce gap is not executable: the next block still has room for all.
        try m.add(tx(alice, nonce: 5, fee: 50_000), account: rich, ledger: ledger, now: 0)
        #expect(m.clearingFeeRate(maxCount: 2, maxBytes: 1 << 20, account: any) == nil)
        // One more executable transaction than the block holds: the floor is the cheaper of the two selected.
        try m.add(tx(carol, nonce: 0, fee: 3_000), account: rich, ledger: ledger, now: 0)
        let floor = try #require(m.clearingFeeRate(maxCount: 2, maxBytes: 1 << 20, account: any))
        #expect(floor == Mempool.feeRate(b0))
        #expect(m.clearingFeeRate(maxCount: 3, maxBytes: 1 << 20, account: any) == nil)
        // The byte limit counts too: room for two transactions' bytes, three waiting.
        #expect(m.clearingFeeRate(maxCount: 10, maxBytes: 2 * b0.encodedSize, account: any) == floor)
        // Paying the least fee beating the floor puts a newcomer in the block ahead of bob; one unit less does not.
        let size = a0.encodedSize
        let fee = Mempool.leastFee(beating: floor, size: size)
        #expect(Mempool.feeRate(tx(key("dave"), nonce: 0, fee: fee.units)) > floor)
        #expect(Mempool.feeRate(tx(key("dave"), nonce: 0, fee: fee.units - 1)) <= floor)
        var withDave = m
        let dave = tx(key("dave"), nonce: 0, fee: fee.units)
        try withDave.add(dave, account: rich, ledger: ledger, now: 0)
        #expect(withDave.select(maxCount: 2, maxBytes: 1 << 20, account: any).map(\.id).contains(dave.id))
    }

    @Test func leastFeeBeatingARateRoundsUpAndSaturates() {
        #expect(Mempool.leastFee(beating: 0, size: 100) == 1)        // 1 × 100 / 1000 → 0.1, rounded up
        #expect(Mempool.leastFee(beating: 9, size: 100) == 1)        // 10 × 100 = 1000 exactly
        #expect(Mempool.leastFee(beating: 10, size: 100) == 2)
        #expect(Mempool.leastFee(beating: 999, size: 1) == 1)
        #expect(Mempool.leastFee(beating: .max, size: 1) == Amount(.max))
        #expect(Mempool.leastFee(beating: .max / 2, size: 3) == Amount(.max))
    }

    @Test func revalidationDropsUsedNoncesUnaffordableAndExpired() throws {
        var m = Mempool()
        for n in 0..<4 { try m.add(tx(alice, nonce: UInt64(n)), account: rich, ledger: ledger, now: 999_999_000) }
        try m.add(tx(bob, nonce: 0), account: rich, ledger: ledger, now: 1_000_000_000)
        // Alice's nonces 0 and 1 were included; she can now afford only one more fee. Bob's is fresh.
        let dropped = m.revalidate(now: 1_000_000_000) { k in k == alice.publicKey ? Account(balance: 1_500, nonce: 2) : rich }
        #expect(Set(dropped.map(\.transaction.nonce)) == [0, 1, 3])
        #expect(m.pending(from: alice.publicKey).map(\.transaction.nonce) == [2])
        #expect(m.pending(from: bob.publicKey).count == 1)
        // Expiry.
        let later = m.revalidate(now: 1_000_000_000 + MempoolConfig().expiryMillis + 1) { _ in rich }
        // Alice's remaining nonce 2 and Bob's transaction both expire.
        #expect(later.count == 2)
        #expect(m.count == 0)
        #expect(m.totalBytes == 0)
    }
}

/// Ninth review (mempool): what a sender queues must be payable whatever the order it sends it in, and a replacement is
/// held to the pool's byte bound like any newcomer.
@Suite struct MempoolReview9Tests {
    let chainId = SHA256.hash([42])
    var ledger: Ledger {
        Ledger(params: LedgerParams(), chainId: chainId, adjudicator: UnusedAdjudicator(), equivocationVerifier: HeaderEquivocationVerifier())
    }

    func tx(_ k: PrivateKey, nonce: UInt64, fee: UInt64, body: TxBody) -> SignedTransaction {
        Transaction(chainId: chainId, sender: k.publicKey, nonce: nonce, fee: Amount(fee), body: body).signed(by: k)
    }

    /// F2: nonces sent in descending order each bid the whole balance; only fees below the new nonce were summed, so
    /// all of them were admitted (65 × the balance with 65 nonces). Now the second is refused.
    @Test func queuedFeesAreCheckedWhateverTheOrderTheyArriveIn() throws {
        let attacker = key("descending"), to = key("to").publicKey
        let account = Account(balance: 100_000, nonce: 0)
        var m = Mempool()
        try m.add(tx(attacker, nonce: 2, fee: 50_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        expectCannotAfford {
            try m.add(tx(attacker, nonce: 1, fee: 50_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        }
        expectCannotAfford {
            try m.add(tx(attacker, nonce: 0, fee: 50_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        }
        #expect(m.count == 1)
        // A replacement counts instead of the transaction it replaces, not beside it.
        try m.add(tx(attacker, nonce: 2, fee: 55_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        #expect(m.count == 1)
    }

    /// F1 (admission side): a first transaction that moves the balance away left the sender's later transactions, admitted
    /// on their fees alone, unable to pay in the block; the amount a body moves counts now.
    @Test func anAmountMovedByAnEarlierTransactionCannotBackLaterFees() throws {
        let attacker = key("drainer"), to = key("to").publicKey
        let account = Account(balance: 1_000_000, nonce: 0)
        var m = Mempool()
        try m.add(tx(attacker, nonce: 0, fee: 1_000, body: .transfer(to: to, amount: 990_000)), account: account, ledger: ledger, now: 0)
        expectCannotAfford {
            try m.add(tx(attacker, nonce: 1, fee: 20_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        }
        try m.add(tx(attacker, nonce: 1, fee: 8_000, body: .transfer(to: to, amount: 1)), account: account, ledger: ledger, now: 0)
        // Revalidation uses the same total: a balance that fell below it drops the tail that can no longer pay.
        let dropped = m.revalidate(now: 0) { _ in Account(balance: 995_000, nonce: 0) }
        #expect(dropped.map(\.transaction.nonce) == [1])
    }

    /// Nit: fee × 1000 wrapped for fees above 1.8 · 10¹⁶, ranking the largest fees lowest; and the replacement bump wrapped
    /// to ask for less than the old fee.
    @Test func feeRatesAndReplacementBumpsSaturate() throws {
        let a = key("whale"), to = key("to").publicKey
        let high = tx(a, nonce: 0, fee: 20_000_000_000_000_000, body: .transfer(to: to, amount: 1))
        let low = tx(a, nonce: 0, fee: 10_000_000_000_000_000, body: .transfer(to: to, amount: 1))
        #expect(Mempool.feeRate(high) >= Mempool.feeRate(low))
        var m = Mempool()
        let whale = Account(balance: Amount(UInt64.max), nonce: 0)
        let old = tx(a, nonce: 0, fee: UInt64.max / 50, body: .transfer(to: to, amount: 1))
        try m.add(old, account: whale, ledger: ledger, now: 0)
        let cheaper = tx(a, nonce: 0, fee: UInt64.max / 50 + 1, body: .transfer(to: to, amount: 1))
        #expect(throws: MempoolError.self) { try m.add(cheaper, account: whale, ledger: ledger, now: 0) }
        #expect(m.contains(old.id))
    }

    /// F3: small transactions queued behind a nonce gap and then replaced by large ones grew the pool past its byte bound
    /// (the bound and eviction were skipped for replacements). A growing replacement is now held to the bound.
    @Test func replacementsCannotGrowThePoolPastItsByteBound() throws {
        var config = MempoolConfig()
        config.maxBytes = 64 * 1024
        var m = Mempool(config: config)
        let rich = Account(balance: 1_000_000_000, nonce: 0)
        let squatters = (0..<8).map { key("gapped-\($0)") }
        for s in squatters {
            for n in 1...4 {  // nonce 0 never sent
                let small = tx(s, nonce: UInt64(n), fee: 2_000, body: .fraudReveal(ticketId: .zero, salt: .zero, input: []))
                try m.add(small, account: rich, ledger: ledger, now: 0)
            }
        }
        #expect(m.totalBytes <= config.maxBytes)
        var refused = 0
        for s in squatters {
            for n in 1...4 {
                let big = tx(s, nonce: UInt64(n), fee: 200_000, body: .fraudReveal(ticketId: .zero, salt: .zero, input: [UInt8](repeating: 7, count: 16_000)))
                do { try m.add(big, account: rich, ledger: ledger, now: 0) } catch {
                    #expect(error == .poolFull)
                    refused += 1
                }
                #expect(m.totalBytes <= config.maxBytes, "the pool grew past its byte bound by a replacement")
            }
        }
        #expect(refused > 0)
        #expect(m.count == 32, "a refused replacement must leave the transaction it would have replaced")
    }
}

/// Eleventh session: a body's bonds and commitment fees are pool parameters, and counted. Before, a sender could queue
/// fraud commitments, hop challenges or commitments whose bonds and ticket fees it could not pay (only the fee counted),
/// which then failed in their blocks and held mempool slots meanwhile.
@Suite struct MempoolPoolCostTests {
    let chainId = SHA256.hash([42])
    var ledger: Ledger {
        Ledger(params: LedgerParams(), chainId: chainId, adjudicator: UnusedAdjudicator(), equivocationVerifier: HeaderEquivocationVerifier())
    }
    let pool = PoolConfig(id: 3, modelId: "tiny", executorSpec: "canon-f32-v1",
                          model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 2,
                                           rmsNormEpsBits: 0x3586_37bd, ropeThetaBits: 0x461c_4000, qkvBias: true),
                          shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 2)],
                          minWorkerStake: 100, windowBlocks: 8, commitGraceBlocks: 1, challengeBlocks: 1,
                          revealDeadlineBlocks: 3, fraudRevealBlocks: 3)

    func tx(_ k: PrivateKey, nonce: UInt64, fee: UInt64, body: TxBody) -> SignedTransaction {
        Transaction(chainId: chainId, sender: k.publicKey, nonce: nonce, fee: Amount(fee), body: body).signed(by: k)
    }

    @Test func fraudCommitmentBondsCountAgainstTheBalance() throws {
        let prover = key("bond-spammer")
        let bond = pool.fraudProofBond.units
        // Enough for three fees and two bonds, not three.
        let balance: UInt64 = 3 * 1_000 + 2 * bond + bond / 2
        let account = Account(balance: Amount(balance), nonce: 0)
        var m = Mempool()
        let lookup: (UInt32) -> PoolConfig? = { $0 == pool.id ? pool : nil }
        for n in 0..<2 as Range<UInt64> {
            try m.add(tx(prover, nonce: n, fee: 1_000, body: .fraudCommit(claim: SHA256.hash([UInt8(n)]), pool: pool.id)),
                      account: account, ledger: ledger, now: 0, pool: lookup)
        }
        expectCannotAfford {
            try m.add(tx(prover, nonce: 2, fee: 1_000, body: .fraudCommit(claim: SHA256.hash([2]), pool: pool.id)),
                      account: account, ledger: ledger, now: 0, pool: lookup)
        }
        // A plain transfer of the same fee still fits: only the bond was missing.
        try m.add(tx(prover, nonce: 2, fee: 1_000, body: .transfer(to: key("x").publicKey, amount: 1)),
                  account: account, ledger: ledger, now: 0, pool: lookup)
        // Revalidation keeps counting the bonds: a balance below two bonds drops the second commitment and what follows.
        let lower: UInt64 = 2 * 1_000 + bond + bond / 2
        let dropped = m.revalidate(now: 0) { _ in Account(balance: Amount(lower), nonce: 0) }
        #expect(dropped.map { $0.transaction.nonce } == [1, 2])
    }

    @Test func aCommitmentsTicketFeesAndAHopChallengesBondAreItsCost() throws {
        var checked = pool
        checked.checking = CheckingConfig()
        let pools = [pool, checked].enumerated().map { i, p in var p = p; p.id = UInt32(i); return p }
        let lookup: (UInt32) -> PoolConfig? = { Int($0) < pools.count ? pools[Int($0)] : nil }
        let tokens: UInt64 = 5_000
        for p in pools {
            let commit = Transaction(chainId: chainId, sender: key("w").publicKey, nonce: 0, fee: Amount(7),
                                     body: .commitShares(pool: p.id, window: 0, shard: 0, leafCount: 4, tokenTotal: tokens, root: .zero))
            let samples = UInt64(p.sampleCount(tokenTotal: tokens))
            let deposit = p.checking.map { $0.checkFee.units * UInt64($0.checkersPerTicket) * samples } ?? 0
            #expect(samples >= 1)
            #expect(Mempool.cost(of: commit, minFeePerByte: 1, pool: lookup) == 7 + p.ticketFee.units * samples + deposit)
            // An unknown pool adds nothing: the block refuses the transaction anyway.
            let unknown = Transaction(chainId: chainId, sender: key("w").publicKey, nonce: 0, fee: Amount(7),
                                      body: .commitShares(pool: 99, window: 0, shard: 0, leafCount: 4, tokenTotal: tokens, root: .zero))
            #expect(Mempool.cost(of: unknown, minFeePerByte: 1, pool: lookup) == 7)
        }
        #expect(pools[1].checking != nil && pools[0].checking == nil)
        let bond = try #require(pools[0].hopChallengeBond(minFeePerByte: 2))
        #expect(bond.units > pools[0].fraudProofBond.units)
    }
}

/// The mempool refuses with `cannotAffordQueuedFees` (whatever the amounts it reports).
func expectCannotAfford(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("accepted", sourceLocation: sourceLocation)
    } catch let e as MempoolError {
        guard case .cannotAffordQueuedFees = e else { Issue.record("refused for another reason: \(e)", sourceLocation: sourceLocation); return }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

/// Review F (denial of service from the network): what admission against a full mempool costs.
@Suite struct MempoolDoSReviewTests {
    let chainId = SHA256.hash([42])
    let recipient = key("carol").publicKey
    /// One valid signature reused: these tests admit with `checkSignature: false` (peers' signatures are checked
    /// before the pool's own work, which is what they measure).
    let signature = key("alice").sign(digest: SHA256.hash([1]))
    var ledger: Ledger {
        Ledger(params: LedgerParams(), chainId: chainId, adjudicator: UnusedAdjudicator(), equivocationVerifier: HeaderEquivocationVerifier())
    }
    let rich = Account(balance: 1_000_000_000, nonce: 0)

    func sender(_ i: Int) -> PublicKey { PublicKey(rawValue: SHA256.hash(Array("mempool-dos/\(i)".utf8))) }

    func tx(_ s: PublicKey, nonce: UInt64, fee: UInt64, amount: UInt64 = 1) -> SignedTransaction {
        SignedTransaction(transaction: Transaction(chainId: chainId, sender: s, nonce: nonce, fee: Amount(fee),
                                                   body: .transfer(to: recipient, amount: Amount(amount))), signature: signature)
    }

    /// A pool holding `senders` senders' transactions, full.
    func fullPool(senders: Int) throws -> Mempool {
        var c = MempoolConfig()
        c.maxTransactions = senders
        var m = Mempool(config: c)
        for i in 0..<senders { try m.add(tx(sender(i), nonce: 0, fee: 2_000), account: rich, ledger: ledger, now: 0, checkSignature: false) }
        return m
    }

    /// The mean time to refuse one transaction cheaper than everything in a full pool of `senders` senders.
    func refusalTime(senders: Int, attempts: Int = 100) throws -> Duration {
        var m = try fullPool(senders: senders)
        let started = ContinuousClock.now
        for i in 0..<attempts {
            #expect(throws: MempoolError.poolFull) {
                try m.add(tx(sender(1_000_000 + i), nonce: 0, fee: 1_000), account: rich, ledger: ledger, now: 0, checkSignature: false)
            }
        }
        return (ContinuousClock.now - started) / attempts
    }

    /// A full pool looked for its cheapest queue tail by visiting every sender, for every transaction that did
    /// not fit: with 50 000 senders each refused transaction (4096 per `transactions` message, not misbehaviour)
    /// cost a pass over the pool on the chain actor. The tails are now kept in a heap: a refusal costs O(log n).
    @Test func refusingATransactionFromAFullPoolDoesNotPassOverEverySender() throws {
        let small = try refusalTime(senders: 200)
        let large = try refusalTime(senders: 20_000)
        #expect(large < small * 10, "a refusal took \(large) with 20 000 senders, \(small) with 200")
    }

    /// Eviction still takes the cheapest tail of another sender (lowest fee rate, then highest id), whatever
    /// replacements, removals and evictions came before: a random history checked against a pass over every sender.
    @Test func evictionTakesTheCheapestTailOfAnotherSender() throws {
        var c = MempoolConfig()
        c.maxTransactions = 40
        var m = Mempool(config: c)
        var g = SplitMix64(seed: 7)
        var evictions = 0
        for step in 0..<3_000 {
            let s = sender(Int(g.next() % 25))
            let queued = m.pending(from: s)
            let r = g.next() % 10
            if r == 0, let victim = queued.randomElement(using: &g) {
                m.remove(victim.id)
                continue
            }
            // Mostly the next nonce; sometimes a replacement of a queued one.
            let nonce = r == 1 && !queued.isEmpty ? queued[Int(g.next() % UInt64(queued.count))].transaction.nonce
                : (queued.last?.transaction.nonce).map { $0 + 1 } ?? 0
            guard nonce < 64 else { continue }
            let candidate = tx(s, nonce: nonce, fee: 500 + g.next() % 5_000, amount: UInt64(step))
            // A tail behind a nonce gap (the account nonce is 0; removals open gaps) pays nothing, so it ranks at 0; a
            // gapless one at the lowest rate of its queue (it is mined after all of them).
            func evictionRate(_ queue: [SignedTransaction]) -> UInt64 {
                queue.enumerated().allSatisfy { $0.offset == Int($0.element.transaction.nonce) } ? queue.map(Mempool.feeRate).min()! : 0
            }
            // The victim by a pass over every other sender's tail.
            var expected: SignedTransaction?, expectedRate: UInt64 = 0
            for other in Set(m.all.map(\.transaction.sender)) where other != s {
                let queue = m.pending(from: other)
                let (tail, rate) = (queue.last!, evictionRate(queue))
                if expected == nil || rate < expectedRate || (rate == expectedRate && tail.id > expected!.id) {
                    (expected, expectedRate) = (tail, rate)
                }
            }
            let ahead = queued.filter { $0.transaction.nonce < nonce }.map(Mempool.feeRate).min() ?? .max
            let candidateRate = (0..<nonce).allSatisfy { n in queued.contains { $0.transaction.nonce == n } } ? min(Mempool.feeRate(candidate), ahead) : 0
            let before = Set(m.all.map(\.id))
            let replacing = queued.contains { $0.transaction.nonce == nonce }
            do {
                try m.add(candidate, account: rich, ledger: ledger, now: 0, checkSignature: false)
            } catch {
                continue
            }
            let gone = before.subtracting(m.all.map(\.id))
            if replacing {
                #expect(gone.count == 1)
            } else if before.count == c.maxTransactions {
                evictions += 1
                #expect(gone == [expected!.id], "step \(step)")
                #expect(expectedRate < candidateRate)
            } else {
                #expect(gone.isEmpty)
            }
        }
        #expect(evictions > 100)
    }
}

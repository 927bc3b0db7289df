import PropertyBased
import Testing
@testable import Ledger
@testable import Primitives

@Suite struct SettlementTests {
    let w1 = testKey("worker-1"), w2 = testKey("worker-2"), client = testKey("client"), payer = testKey("payer")

    @Test func cumulativeFloorSplitSumsExactly() async {
        await propertyCheck(count: 500, input: Gen.uint64(in: 0...UInt64.max / 2), Gen.uint64(in: 0...1_000_000).array(of: 1...40)) { total, weights in
            guard let split = Split.cumulativeFloor(Amount(total), weights: weights) else {
                #expect(weights.allSatisfy { $0 == 0 })
                return
            }
            #expect(split.count == weights.count)
            #expect(split.reduce(UInt64(0)) { $0 + $1.units } == total)
            // Each share is within one unit of its exact proportional value.
            let sum = weights.reduce(0, +)
            for (w, s) in zip(weights, split) {
                let exact = Double(total) * Double(w) / Double(sum)
                #expect(abs(Double(s.units) - exact) <= 1.0 + exact * 1e-12)
            }
        }
    }

    @Test func splitHandlesZeroWeightsAndExtremes() {
        #expect(Split.cumulativeFloor(100, weights: [0, 0]) == nil)
        #expect(Split.cumulativeFloor(100, weights: []) == nil)
        #expect(Split.cumulativeFloor(Amount(.max), weights: [1, 1, 1])!.reduce(UInt64(0)) { $0 + $1.units } == .max)
        #expect(Split.cumulativeFloor(10, weights: [1, 1, 1]) == [3, 3, 4])
        #expect(Split.cumulativeFloor(0, weights: [5, 7]) == [0, 0])
        #expect(Split.cumulativeFloor(10, weights: [.max, 1]) == nil)
    }

    /// Two workers commit in window 0, a client pays, two validators alternate; at the settlement height the
    /// revenue is split exactly.
    @Test func windowSettlesToValidatorsAndWorkers() throws {
        var c = try Chain(validatorCount: 2, accounts: [(client, 1_000_000), (payer, 10_000), (w1, 10_000), (w2, 10_000)],
                          workers: [(w1, 0, 500), (w2, 0, 500)])
        try c.block([try c.tx(client, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 500))])
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        let b1 = PassBatch.make(count: 5, shard: 0, seed: 1), b2 = PassBatch.make(count: 3, shard: 1, seed: 2)
        try c.block([
            try c.tx(w1, .commitShares(pool: 0, window: 0, shard: 0, passCount: 5, tokenCount: b1.tokenCount, passRoot: b1.root)),
            try c.tx(w2, .commitShares(pool: 0, window: 0, shard: 1, passCount: 3, tokenCount: b2.tokenCount, passRoot: b2.root)),
            try c.tx(payer, .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: id, cumulativeInputTokens: 1000, cumulativeOutputTokens: 333).signed(by: client))),
        ])
        let revenue: UInt64 = 1000 * 2 + 333 * 7
        // Reveal nothing: these tests use a rate that may select passes; withholding slashes do not change payouts.
        try c.advance(to: 10)
        let closed = try c.record(StateKey.window(0, 0), WindowRecord.self)!
        #expect(closed.status == .closed && closed.revenue == Amount(revenue))
        try c.advance(to: 19)
        let v0 = c.validators[0].key.publicKey, v1 = c.validators[1].key.publicKey
        let before = (try c.balance(w1.publicKey), try c.balance(w2.publicKey), try c.balance(v0), try c.balance(v1))
        let r = try c.block()
        let settled = try c.record(StateKey.window(0, 0), WindowRecord.self)!
        #expect(settled.status == .settled)
        let protocolShare = revenue * 500 / 10_000
        #expect(settled.protocolShare == Amount(protocolShare))
        #expect(settled.workerShare == Amount(revenue - protocolShare))
        // Workers by weighted shares (shard 0 weighs 3, shard 1 weighs 5), cumulative floor in key order.
        let weights = [(w1.publicKey, b1.tokenCount * 3), (w2.publicKey, b2.tokenCount * 5)].sorted { $0.0 < $1.0 }
        let split = Split.cumulativeFloor(Amount(revenue - protocolShare), weights: weights.map(\.1))!
        let paid = Dictionary(uniqueKeysWithValues: zip(weights.map(\.0), split))
        // Fees earned by validators in block 20 are excluded by comparing only payout events.
        let payouts = r.last!.events.compactMap { e -> (PublicKey, UInt64, PayoutKind)? in
            if case .payoutCredited(_, _, let who, let amount, let kind) = e { return (who, amount.units, kind) }
            return nil
        }
        #expect(payouts.filter { $0.2 == .worker }.reduce(0) { $0 + $1.1 } == revenue - protocolShare)
        #expect(payouts.filter { $0.2 == .validator }.reduce(0) { $0 + $1.1 } == protocolShare)
        #expect(try c.balance(w1.publicKey) == before.0 + paid[w1.publicKey]!.units)
        #expect(try c.balance(w2.publicKey) == before.1 + paid[w2.publicKey]!.units)
        // Validators alternate: 5 blocks each in heights 1...10.
        let vSplit = Split.cumulativeFloor(Amount(protocolShare), weights: [5, 5])!
        let vPaid = payouts.filter { $0.2 == .validator }.map(\.1)
        #expect(vPaid.sorted() == vSplit.map(\.units).sorted())
    }

    @Test func windowWithoutSharesCarriesItsRevenue() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (payer, 10_000), (w1, 10_000)], workers: [(w1, 0, 500)])
        try c.block([try c.tx(client, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 500))])
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        try c.block([try c.tx(payer, .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: id, cumulativeInputTokens: 100, cumulativeOutputTokens: 0).signed(by: client)))])
        try c.advance(to: 20)
        let w0 = try c.record(StateKey.window(0, 0), WindowRecord.self)!
        #expect(w0.status == .settled && w0.carriedOut == 200 && w0.protocolShare == .zero)
        #expect(try c.record(StateKey.window(0, 1), WindowRecord.self)?.carriedIn == 200)
        // Window 1 gets shares; it pays the carried revenue.
        let b = PassBatch.make(count: 2, shard: 0, seed: 9)
        try c.advance(to: 20)
        try c.block([try c.tx(w1, .commitShares(pool: 0, window: 2, shard: 0, passCount: 2, tokenCount: b.tokenCount, passRoot: b.root))])
        try c.advance(to: 39)
        // Window 1 (settled at 30) had no shares either: carried again into window 2.
        #expect(try c.record(StateKey.window(0, 1), WindowRecord.self)?.carriedOut == 200)
        let before = try c.balance(w1.publicKey)
        try c.advance(to: 40)
        let w2rec = try c.record(StateKey.window(0, 2), WindowRecord.self)!
        #expect(w2rec.status == .settled)
        #expect(w2rec.workerShare == Amount(200 - 10))
        #expect(try c.balance(w1.publicKey) == before + 190)
    }

    @Test func forfeitedSharesAreNotPaid() throws {
        // A cheater's shares in the unsettled window are forfeited; the honest worker receives the whole
        // worker share.
        var c = try Chain(accounts: [(client, 1_000_000), (payer, 100_000), (w1, 10_000), (w2, 10_000)], workers: [(w1, 0, 500), (w2, 0, 500)])
        try c.block([try c.tx(client, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 500))])
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        var seed: UInt64 = 100
        var cheatBatch = PassBatch.make(count: 30, shard: 0, seed: seed, cheat: Set(0..<30))
        // Find a batch that gets at least one ticket (the beacon is deterministic for this chain).
        while true {
            var probe = try Chain(accounts: [(client, 1_000_000), (payer, 100_000), (w1, 10_000), (w2, 10_000)], workers: [(w1, 0, 500), (w2, 0, 500)])
            try probe.block([try probe.tx(client, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 500))])
            try probe.block([try probe.tx(w2, .commitShares(pool: 0, window: 0, shard: 0, passCount: 30, tokenCount: cheatBatch.tokenCount, passRoot: cheatBatch.root))])
            try probe.block(); try probe.block()
            let cid = LedgerIds.commitment(worker: w2.publicKey, pool: 0, window: 0, passRoot: cheatBatch.root)
            if try !probe.ledgerState.scan(StateKey.tickets(commitment: cid)).isEmpty { break }
            seed += 1
            cheatBatch = PassBatch.make(count: 30, shard: 0, seed: seed, cheat: Set(0..<30))
        }
        let honest = PassBatch.make(count: 4, shard: 0, seed: 1)
        try c.block([
            try c.tx(w2, .commitShares(pool: 0, window: 0, shard: 0, passCount: 30, tokenCount: cheatBatch.tokenCount, passRoot: cheatBatch.root)),
            try c.tx(payer, .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: id, cumulativeInputTokens: 500, cumulativeOutputTokens: 0).signed(by: client))),
        ])
        try c.block([try c.tx(w1, .commitShares(pool: 0, window: 0, shard: 0, passCount: 4, tokenCount: honest.tokenCount, passRoot: honest.root))])
        try c.block()
        let cid = LedgerIds.commitment(worker: w2.publicKey, pool: 0, window: 0, passRoot: cheatBatch.root)
        let kv = try c.ledgerState.scan(StateKey.tickets(commitment: cid)).first!
        let index = Int(UInt32(bigEndianBytes: kv.key.suffix(4)))
        let ticket = Hash32(bytes: kv.value)!
        try c.block([try c.tx(w2, .revealTicket(ticketId: ticket, leaf: cheatBatch.leaves[index], proof: cheatBatch.proof(index), input: cheatBatch.inputs[index]))])
        let proof = try c.block([try c.tx(payer, .fraudProof(ticketId: ticket))])
        #expect(proof[0].succeeded)
        try c.advance(to: 19)
        let r = try c.block()
        let workerPayouts = r.last!.events.compactMap { e -> (PublicKey, Amount)? in
            if case .payoutCredited(_, _, let who, let amount, .worker) = e { return (who, amount) }
            return nil
        }
        let revenue = Amount(1000)
        #expect(workerPayouts.count == 1)
        #expect(workerPayouts.first?.0 == w1.publicKey)
        #expect(workerPayouts.first?.1 == Amount(revenue.units - revenue.basisPoints(500).units))
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.eligibleShares == honest.tokenCount * 3)
    }

    @Test func pplnsCountsTheLastNSharesAcrossWindows() throws {
        var c = try Chain(accounts: [(client, 1_000_000), (payer, 100_000), (w1, 10_000), (w2, 10_000)], workers: [(w1, 0, 500), (w2, 0, 500)],
                          pools: [Chain.defaultPool(scheme: .pplns(shares: 60))])
        try c.block([try c.tx(client, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 500))])
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        // Window 0: w1 commits 40 tokens (×3 = 120 shares). Window 1: w2 commits 10 tokens (×3 = 30 shares).
        try c.block([try c.tx(w1, .commitShares(pool: 0, window: 0, shard: 0, passCount: 10, tokenCount: 40, passRoot: SHA256.hash([1])))])
        try c.advance(to: 10)
        try c.block([
            try c.tx(w2, .commitShares(pool: 0, window: 1, shard: 0, passCount: 10, tokenCount: 10, passRoot: SHA256.hash([2]))),
            try c.tx(payer, .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: id, cumulativeInputTokens: 1000, cumulativeOutputTokens: 0).signed(by: client))),
        ])
        c.checkInvariants = true
        try c.advance(to: 30)
        // Window 1 settles at 30: last 60 shares = w2's 30 in window 1 + 30 of w1's 120 in window 0 (pro rata).
        let rec = try c.record(StateKey.window(0, 1), WindowRecord.self)!
        #expect(rec.status == .settled)
        #expect(rec.eligibleShares == 60)
        let p1 = try c.record(StateKey.payout(0, 1, .worker, w1.publicKey), Amount.self)
        let p2 = try c.record(StateKey.payout(0, 1, .worker, w2.publicKey), Amount.self)
        let workerShare = 2000 - 100
        #expect((p1?.units ?? 0) + (p2?.units ?? 0) == UInt64(workerShare))
        #expect(p1 == p2)  // 30 shares each
    }
}

import Testing
@testable import Ledger
@testable import Primitives

@Suite struct EscrowTests {
    let client = testKey("client"), worker = testKey("worker"), other = testKey("other")

    func opened() throws -> (Chain, Hash32) {
        var c = try Chain(accounts: [(client, 100_000), (other, 10_000)])
        let r = try c.block([try c.tx(client, .escrowOpen(pool: 0, amount: 1_000, expiryHeight: 30))])
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        #expect(r[0].events == [.escrowOpened(escrowId: id, owner: client.publicKey, pool: 0, amount: 1_000, expiryHeight: 30)])
        return (c, id)
    }

    func voucher(_ id: Hash32, _ input: UInt64, _ output: UInt64, by key: PrivateKey? = nil) -> UsageVoucher {
        UsageVoucher(chainId: Chain.chainId, escrowId: id, cumulativeInputTokens: input, cumulativeOutputTokens: output)
            .signed(by: key ?? client)
    }

    @Test func openValidation() throws {
        var c = try Chain(accounts: [(client, 100_000)])
        let r = try c.block([
            try c.tx(client, .escrowOpen(pool: 7, amount: 10, expiryHeight: 30)),
            try c.tx(client, .escrowOpen(pool: 0, amount: 0, expiryHeight: 30), nonce: 1),
            try c.tx(client, .escrowOpen(pool: 0, amount: 10, expiryHeight: 1), nonce: 2),
            try c.tx(client, .escrowOpen(pool: 0, amount: 1_000_000, expiryHeight: 30), nonce: 3),
        ])
        #expect(r.prefix(4).map(\.failure) == [.unknownPool, .zeroAmount, .expiryNotInFuture, .insufficientBalance])
    }

    @Test func claimChargesExactlyTheDeltaAtPoolPrices() throws {
        var (c, id) = try opened()
        // Pool prices: 2 per input token, 7 per output token.
        let r1 = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 10, 20)))])
        #expect(r1[0].events == [.escrowCharged(escrowId: id, pool: 0, window: 0, amount: 160, shortfall: 0)])
        let r2 = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 15, 20)))])
        #expect(r2[0].events == [.escrowCharged(escrowId: id, pool: 0, window: 0, amount: 10, shortfall: 0)])
        let e = try c.record(StateKey.escrow(id), Escrow.self)!
        #expect(e.balance == 830)
        #expect(e.totalCharged == 170)
        #expect(e.claimedInputTokens == 15)
        #expect(e.claimedOutputTokens == 20)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.revenue == 170)
    }

    @Test func voucherReplayAndRollbackAreRejected() throws {
        var (c, id) = try opened()
        try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 10, 10)))])
        let replay = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 10, 10)))])
        #expect(replay[0].failure == .voucherNotIncreasing)
        let rollback = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 20, 9)))])
        #expect(rollback[0].failure == .voucherNotIncreasing)
        let older = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 5, 5)))])
        #expect(older[0].failure == .voucherNotIncreasing)
        let forged = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 50, 50, by: other)))])
        #expect(forged[0].failure == .voucherBadSignature)
        var wrongChain = voucher(id, 50, 50)
        wrongChain.chainId = SHA256.hash([1])
        let wc = try c.block([try c.tx(other, .claimUsage(voucher: wrongChain.signed(by: client)))])
        #expect(wc[0].failure == .voucherWrongChain)
        let unknown = try c.block([try c.tx(other, .claimUsage(voucher: voucher(SHA256.hash([3]), 50, 50)))])
        #expect(unknown[0].failure == .unknownEscrow)
        #expect(try c.record(StateKey.escrow(id), Escrow.self)?.totalCharged == Amount(90))
    }

    @Test func escrowNeverOverdrawsAndRecordsTheShortfall() throws {
        var (c, id) = try opened()
        // 1000 tokens of output at 7 = 7000 > 1000 held.
        let r = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 0, 1000)))])
        #expect(r[0].events == [.escrowCharged(escrowId: id, pool: 0, window: 0, amount: 1_000, shortfall: 6_000)])
        let e = try c.record(StateKey.escrow(id), Escrow.self)!
        #expect(e.balance == 0)
        #expect(e.shortfall == 6_000)
        #expect(e.claimedOutputTokens == 1000)
        // A further claim charges nothing more than the (empty) balance.
        let r2 = try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 0, 1001)))])
        #expect(r2[0].events == [.escrowCharged(escrowId: id, pool: 0, window: 0, amount: 0, shortfall: 7)])
    }

    @Test func topUpAndCloseAfterExpiry() throws {
        var (c, id) = try opened()
        let r = try c.block([
            try c.tx(other, .escrowTopUp(escrowId: id, amount: 5, newExpiryHeight: nil)),
            try c.tx(client, .escrowTopUp(escrowId: id, amount: 0, newExpiryHeight: nil)),
            try c.tx(client, .escrowTopUp(escrowId: id, amount: 0, newExpiryHeight: 20), nonce: 2),
            try c.tx(client, .escrowTopUp(escrowId: id, amount: 500, newExpiryHeight: 40), nonce: 3),
            try c.tx(client, .escrowClose(escrowId: id), nonce: 4),
        ])
        #expect(r.prefix(5).map(\.failure) == [.notEscrowOwner, .zeroAmount, .expiryNotInFuture, nil, .escrowNotExpired])
        try c.block([try c.tx(other, .claimUsage(voucher: voucher(id, 100, 0)))])
        try c.advance(to: 39)
        let before = try c.balance(client.publicKey)
        let close = try c.block([try c.tx(client, .escrowClose(escrowId: id))])
        #expect(close[0].events == [.escrowClosed(escrowId: id, refund: 1_300)])
        #expect(try c.balance(client.publicKey) == before + 1_300 - close[0].feePaid.units)
        let again = try c.block([try c.tx(client, .escrowClose(escrowId: id)),
                                 try c.tx(other, .claimUsage(voucher: voucher(id, 200, 0)))])
        #expect(again.prefix(2).map(\.failure) == [.escrowClosed, .escrowClosed])
    }
}

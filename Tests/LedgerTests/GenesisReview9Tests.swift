import Testing
@testable import Ledger
@testable import Primitives

/// Ninth review F5: genesis accepted pools whose largest pass no transaction can carry (with the default 256 KiB
/// transactions and 64 tokens a pass, any model of hidden size 1 024 or more), and a zero fee floor.
@Suite struct GenesisReview9Tests {
    @Test func aPoolWhosePassesCannotBeRevealedIsRefused() throws {
        var pool = Chain.defaultPool()
        pool.model.hiddenSize = 2048
        pool.maxTokensPerPass = 64
        #expect(throws: GenesisError.self) { try Ledger.checkHorizons(pool, LedgerParams()) }
        // Fewer tokens a pass fit: 22 + 4 × 16 × 2048 + 16 KiB is below 256 KiB.
        pool.maxTokensPerPass = 16
        try Ledger.checkHorizons(pool, LedgerParams())
        // A real model served by the devnet (hidden 896, 64 tokens) still fits the default.
        pool.model.hiddenSize = 896
        pool.maxTokensPerPass = 64
        try Ledger.checkHorizons(pool, LedgerParams())
    }

    @Test func aZeroFeeFloorIsRefused() throws {
        var params = Chain.defaultParams()
        params.minFeePerByte = 0
        #expect(throws: GenesisError.self) { _ = try Chain(params: params) }
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// A pool's tensor sizes for any field values: genesis bounds the chain's own pools, but a worker, checker or verifier
/// decodes pools from the node it reads (`pool_get`), and a lying node may send sizes whose product passes 2⁶³ (found
/// by reading the fuzzing campaign's record decoders: `22 + Int(maxTokensPerPass) * Int(hiddenSize) * 4` trapped).
@Suite struct PoolSizeArithmeticTests {
    @Test func sizesSaturateInsteadOfTrapping() throws {
        var pool = Chain.defaultPool()
        // The chain's own pool: exact.
        #expect(pool.maxInputTensorBytes == 22 + Int(pool.maxTokensPerPass) * Int(pool.model.hiddenSize) * 4)
        #expect(pool.inputTensorBytes(tokens: 3) == 22 + 3 * 8 * 4)
        #expect(pool.maxInputElements == Int(pool.maxTokensPerPass) * 8)
        // Absurd sizes, decoded from the bytes a node could serve: saturated.
        pool.maxTokensPerPass = .max
        pool.model.hiddenSize = .max
        let decoded = try PoolConfig(canonicalEncoding: pool.canonicalEncoding)
        #expect(decoded.maxInputTensorBytes == Int.max)
        #expect(decoded.maxInputElements == Int.max)
        #expect(decoded.inputTensorBytes(tokens: .max) == Int.max)
        #expect(decoded.inputTensorBytes(tokens: 0) == 22)
        // Just below and above the point where the data size leaves Int: 2⁶¹ elements make 2⁶³ bytes.
        pool.model.hiddenSize = 1 << 30
        #expect(pool.inputTensorBytes(tokens: 1 << 30) == 22 + (1 << 62))
        #expect(pool.inputTensorBytes(tokens: 1 << 31) == Int.max)
    }
}

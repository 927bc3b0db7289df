import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Review C, finding C4: a pool's largest pass input must fit the transactions that carry an input to the validators'
/// replay (`fraudReveal`, `publishSealedInput`, `TxLimits.maxInputBytes` = 4 MiB). Otherwise a sealed reveal (its
/// envelope may be up to 4 MiB + 4096) holds an input that no fraud claim and no dispute publication can ever carry:
/// a check attested by colluding checkers can never be challenged (a wrong output looks right), and a dispute whose
/// worker withholds its key never reaches a replay, so the colluders are never slashed. Reachable only with a genesis
/// that raises `maxTransactionBytes` (default 256 KiB) and `maxBlockBytes` above 4 MiB: below that every input-carrying
/// transaction is bounded by `maxTransactionBytes`, and a sealed reveal is always larger than the claim for its input.
@Suite struct InputSizeReviewTests {
    /// A natural configuration: hidden size 4096 (a 7B-class model), 256 tokens per pass.
    static func bigPool() -> PoolConfig {
        var pool = Chain.defaultPool()
        pool.model.hiddenSize = 4096
        pool.maxTokensPerPass = 256
        return pool
    }

    @Test func aPassInputThatNoFraudProofCanCarryExistsInThisPool() throws {
        let pool = Self.bigPool()
        // 256 × 4096 floats: 22 bytes over what fraudReveal and publishSealedInput may carry ...
        #expect(pool.maxInputTensorBytes == 22 + 256 * 4096 * 4)
        #expect(pool.maxInputTensorBytes > TxLimits.maxInputBytes)
        // ... yet the sealed reveal of that input (3 checkers) fits its envelope limit.
        #expect(SealedEnvelope.encodedSize(plaintextCount: pool.maxInputTensorBytes, recipients: 3) <= TxLimits.maxEnvelopeBytes)
        // The fraud claim with that input does not even decode.
        let input = CanonicalInput.encode(tokens: 256, hidden: 4096, bitPatterns: Array(repeating: 0x3F80_0000, count: 256 * 4096))
        var w = CanonicalWriter(capacity: input.count + 128)
        TxBody.fraudReveal(ticketId: .zero, salt: .zero, input: input).encode(to: &w)
        #expect(throws: CodecError.self) { _ = try TxBody(canonicalEncoding: w.bytes) }
    }

    /// The secure outcome: genesis refuses a pool whose inputs could exceed what a fraud proof can carry.
    @Test func genesisRefusesAPoolWhoseInputsDoNotFitAFraudProof() throws {
        // Transactions large enough to carry any input the fraud-proof bound allows (the chain's own size bound is
        // GenesisReview9Tests' subject).
        var params = Chain.defaultParams()
        params.maxTransactionBytes = 8 << 20
        #expect(throws: GenesisError.self) { _ = try Chain(pools: [Self.bigPool()], params: params) }
        // The boundary: 255 tokens of 4096 fit (4 177 942 bytes) and are accepted.
        var ok = Self.bigPool()
        ok.maxTokensPerPass = 255
        #expect(ok.maxInputTensorBytes <= TxLimits.maxInputBytes)
        _ = try Chain(pools: [ok], params: params)
    }
}

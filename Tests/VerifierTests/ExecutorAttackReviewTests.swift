import Foundation
import Primitives
import Testing
@testable import Verifier

/// Review C: attacks on the canonical executor and the replay that adjudicates fraud proofs. Each test performs
/// the attack and asserts the secure outcome. Tests marked "regression" passed on the reviewed code (the attack
/// is defended); the others failed before their fix.
@Suite struct ExecutorAttackReviewTests {
    static func tiny() throws -> (ModelDescription, WeightsRef) {
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        return try ModelDescription.load(path: root.appendingPathComponent("model.json").path)
    }

    static let whole = ShardSpec(layerStart: 0, layerEnd: 4, finalNorm: true)

    /// The bit pattern generator of `tools/canon_adversarial.py` (same SplitMix64 stream, same mapping).
    static func bits(_ kind: String, _ r: UInt64) -> UInt32 {
        let sign = UInt32(r >> 63) << 31
        let mant = UInt32(r & 0x7FFFFF)
        switch kind {
        case "huge": return sign | (UInt32(227 + (r >> 23) % 28) << 23) | mant
        case "large": return sign | (UInt32(187 + (r >> 23) % 6) << 23) | mant
        case "subnormal": return sign | mant
        case "zeros": return sign
        case "max": return sign | (0x7F7F_FFFF - UInt32((r >> 23) % 4))
        case "normal": return sign | (UInt32(124 + (r >> 23) % 4) << 23) | mant
        case "mixed":
            let sub = ["huge", "large", "subnormal", "zeros", "max", "normal"][Int((r >> 32) % 6)]
            return bits(sub, r)
        default: fatalError(kind)
        }
    }

    static func input(_ kind: String, tokens: Int, seed: UInt64, hidden: Int) throws -> Tensor {
        var g = SplitMix64(seed: seed)
        let data = (0..<(tokens * hidden)).map { _ in Float(bitPattern: bits(kind, g.next())) }
        return try Tensor(shape: [tokens, hidden], data: data)
    }

    /// name, kind, tokens, position offset, seed, verdict of `python3 tools/canon_adversarial.py` (canon_ref.py).
    static let adversarial: [(String, String, Int, Int, UInt64, String)] = [
        ("huge", "huge", 3, 0, 11, "72f87515b0028b9482acb24754bfcda89341b51bcc0c2959feec7e2fc9104f94"),
        ("large", "large", 4, 7, 12, "7ef8de85bd656e969b950c8e1d597ad112ad918ef0c689e123b9f4558d1ec8b4"),
        ("subnormal", "subnormal", 3, 0, 13, "ee22c80a3b49b71f2b910aa9a5197392407c866c9cb5928e88155834d1dd1293"),
        ("zeros", "zeros", 2, 5, 14, "e00e8a677b71f774f2b76fad4832baf3a7e8fa1541043abbc1ffa93c66ffd204"),
        ("max", "max", 3, 0, 15, "7cc9fd66d277fec86fb35017cbc9e8e45e11f34cdb1bb6f203e9cb8659ee0eee"),
        ("mixed", "mixed", 9, (1 << 20) - 9, 16, "10b5e0fe08c99faea534d60cf61425d35f37837cdade0a98c4540b7e1d63cd79"),
        ("normal-lastpos", "normal", 5, (1 << 20) - 5, 17, "3e573eae01f23fce6fc43ed9825f3cdf319320412f9d5120afb20c4c9df2719b"),
    ]

    static func verdict(_ exec: CanonExecutor, _ x: Tensor, _ pos: Int, threads: Int, kernel: MatmulKernel) -> String {
        do { return try exec.run(x, positionOffset: pos, threads: threads, kernel: kernel).hash.hex } catch {
            switch error {
            case .nonFiniteOutput: return "invalid_output"
            case .invalidInput(let s): return "invalid_input: \(s)"
            }
        }
    }

    /// Regression (held): finite but extreme inputs (magnitudes whose squares overflow RMSNorm's sum, ±FLT_MAX,
    /// subnormals, signed zeros, the last positions of the rotary table) give the same verdict, bit for bit, as the
    /// independent numpy reference, with the portable and the run-time-selected kernel, on 1 and 2 threads.
    @Test func adversarialInputsMatchTheReferenceOnEveryKernel() throws {
        let (d, w) = try Self.tiny()
        let exec = try CanonExecutor.load(model: d.config, shard: Self.whole, weights: w)
        var kernels: [MatmulKernel] = [.portable]
        if MatmulKernel.avx2.isSupported { kernels.append(.avx2) }
        for (name, kind, tokens, pos, seed, expected) in Self.adversarial {
            let x = try Self.input(kind, tokens: tokens, seed: seed, hidden: d.config.hiddenSize)
            #expect(x.isFinite)
            for kernel in kernels {
                for threads in [1, 2] {
                    #expect(Self.verdict(exec, x, pos, threads: threads, kernel: kernel) == expected,
                            "\(name) on \(kernel) with \(threads) threads")
                }
            }
        }
    }

    /// Regression (held): whole passes on random adversarial inputs agree bit for bit between the portable kernel
    /// (the only one a CPU without AVX2 runs) and the AVX2 kernel.
    @Test func portableAndAVX2PassesAgreeOnRandomAdversarialInputs() throws {
        guard MatmulKernel.avx2.isSupported else { return }
        let (d, w) = try Self.tiny()
        let exec = try CanonExecutor.load(model: d.config, shard: ShardSpec(layerStart: 1, layerEnd: 3), weights: w)
        var g = SplitMix64(seed: 0xC0FFEE)
        for i in 0..<12 {
            let kind = ["mixed", "normal", "large", "subnormal"][i % 4]
            let tokens = Int(g.next() % 11) + 1
            let x = try Self.input(kind, tokens: tokens, seed: g.next(), hidden: d.config.hiddenSize)
            let pos = Int(g.next() % UInt64(CanonExecutor.maxPosition - tokens + 1))
            #expect(Self.verdict(exec, x, pos, threads: 1, kernel: .portable) == Self.verdict(exec, x, pos, threads: 2, kernel: .avx2),
                    "case \(i): \(kind), \(tokens) tokens at \(pos)")
        }
    }
}

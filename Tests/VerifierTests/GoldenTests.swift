import Foundation
import Primitives
import Testing
@testable import Verifier

/// Bit-exact agreement with the independent numpy reference (tools/canon_ref.py golden).
@Suite struct GoldenTests {
    struct Manifest: Decodable {
        struct Model: Decodable {
            let file: String
            let sha256: String
            let format: WeightFormat
            let config: ModelConfig
        }

        struct Case: Decodable {
            let name: String
            let model: String
            let layer_start: Int
            let layer_end: Int
            let final_norm: Bool
            let tokens: Int
            let position_offset: Int
            let input: String
            let output: String
            let ref64: String
            let output_hash: String
        }

        struct ExpVectors: Decodable {
            let x: [String]
            let y: [String]
        }

        struct Rotary: Decodable {
            let theta: Double
            let head_dim: Int
            let positions: [Int]
            let inv_freq_hex: [String]
            let cos: [String]
            let sin: [String]
        }

        let spec: String
        let tolerance_rel_f64: Double
        let models: [String: Model]
        let cases: [Case]
        let exp: ExpVectors
        let rotary: [Rotary]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(TestFiles.resource("golden/manifest.json")))
    }

    static func executor(_ m: Manifest, _ c: Manifest.Case) throws -> CanonExecutor {
        let model = try #require(m.models[c.model])
        let ref = WeightsRef(path: TestFiles.resourceURL("golden/\(model.file)").path, sha256: try Hash32(hex: model.sha256), format: model.format)
        return try CanonExecutor.load(model: model.config, shard: ShardSpec(layerStart: c.layer_start, layerEnd: c.layer_end, finalNorm: c.final_norm), weights: ref)
    }

    @Test func manifestCoversTheRequiredShapes() throws {
        let m = try Self.manifest()
        #expect(m.spec == CanonExecutor.specID)
        let tokens = Set(m.cases.map(\.tokens))
        #expect(tokens.contains(1) && tokens.contains(33))
        #expect(m.cases.contains { $0.position_offset > 0 })
        #expect(m.models.values.contains { $0.config.hiddenSize % 8 != 0 })
        #expect(m.models.values.contains { $0.config.attentionBias } && m.models.values.contains { !$0.config.attentionBias })
        let ratios = Set(m.models.values.map { $0.config.numAttentionHeads / $0.config.numKeyValueHeads })
        #expect(ratios.count >= 3)
        #expect(Set(m.models.values.map(\.format)).count == 2)
    }

    /// A golden case: its executor, input and expected output.
    static func goldenCase(_ index: Int) throws -> (Manifest, Manifest.Case, CanonExecutor, input: Tensor, expected: Tensor) {
        let m = try manifest()
        let c = m.cases[index]
        return (m, c, try executor(m, c), try Tensor(tns1: TestFiles.resource("golden/\(c.input)")),
                try Tensor(tns1: TestFiles.resource("golden/\(c.output)")))
    }

    @Test(arguments: 0..<12) func bitExactCase(_ index: Int) throws {
        let (m, c, exec, input, expected) = try Self.goldenCase(index)
        let ref64 = try Tensor(tns1: TestFiles.resource("golden/\(c.ref64)"))
        #expect(input.shape == [c.tokens, exec.model.hiddenSize])
        for threads in [1, 2, 3] {
            let out = try exec.run(input, positionOffset: c.position_offset, threads: threads)
            #expect(out.shape == expected.shape)
            let mismatches = zip(out.data, expected.data).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(c.name) threads \(threads): \(mismatches) of \(out.count) elements differ from the numpy reference")
            #expect(out.hash.hex == c.output_hash, "\(c.name): output hash")
            #expect(relativeError(out.data, ref64.data) <= m.tolerance_rel_f64, "\(c.name): too far from float64")
        }
    }

    /// Attention runs its query rows in blocks (O(rows × T) scratch, not O(T²)); every block size gives the golden
    /// bits, including blocks of one row and blocks that do not divide the token count.
    @Test(arguments: 0..<12) func attentionRowBlocksDoNotChangeTheBits(_ index: Int) throws {
        let (_, c, exec, input, expected) = try Self.goldenCase(index)
        for rowBlock in [1, 2, 5, 8, 32] {
            let out = try exec.run(input, positionOffset: c.position_offset, threads: 2, kernel: .best, attentionRowBlock: rowBlock)
            let mismatches = zip(out.data, expected.data).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(out.shape == expected.shape && mismatches == 0,
                    "\(c.name), attention blocks of \(rowBlock) rows: \(mismatches) of \(out.count) elements differ")
        }
    }

    @Test func expMatchesReference() throws {
        let m = try Self.manifest()
        let xs = floatsFromHex(m.exp.x), ys = floatsFromHex(m.exp.y)
        #expect(xs.count == ys.count && xs.count > 900)
        var bad: [String] = []
        for (x, y) in zip(xs, ys) {
            let got = CanonMath.exp(x)
            if got.bitPattern != y.bitPattern { bad.append("exp(\(x)) = \(got), reference \(y)") }
        }
        #expect(bad.isEmpty, "\(bad.prefix(5))")
        #expect(CanonMath.exp(Float.nan).isNaN)
    }

    @Test func rotaryTablesMatchReference() throws {
        let m = try Self.manifest()
        for r in m.rotary {
            let inv = CanonMath.inverseFrequencies(theta: r.theta, headDim: r.head_dim)
            #expect(inv.map { $0.bitPattern } == r.inv_freq_hex.map { Double($0)?.bitPattern ?? 0 }, "inv_freq θ=\(r.theta)")
            var cos: [Float] = [], sin: [Float] = []
            for p in r.positions {
                let t = CanonMath.rotaryTable(inverseFrequencies: inv, positions: p..<(p + 1))
                cos += t.cos
                sin += t.sin
            }
            #expect(cos.map(\.bitPattern) == floatsFromHex(r.cos).map(\.bitPattern), "cos θ=\(r.theta) d=\(r.head_dim)")
            #expect(sin.map(\.bitPattern) == floatsFromHex(r.sin).map(\.bitPattern), "sin θ=\(r.theta) d=\(r.head_dim)")
        }
    }

    @Test func tinyDevnetModelExample() throws {
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        let (desc, weights) = try ModelDescription.load(path: root.appendingPathComponent("model.json").path)
        #expect(desc.config.hiddenSize == 64 && desc.config.numHiddenLayers == 4)
        let exec = try CanonExecutor.load(model: desc.config, shard: ShardSpec(layerStart: 0, layerEnd: 4, finalNorm: true), weights: weights)
        let input = try Tensor(tns1: [UInt8](Data(contentsOf: root.appendingPathComponent("example.in.tns"))))
        let expected = try Tensor(tns1: [UInt8](Data(contentsOf: root.appendingPathComponent("example.out.tns"))))
        let out = try exec.run(input, positionOffset: 0, threads: 2)
        #expect(out == expected)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(out.hash.hex), "README documents the example output hash")
        #expect(readme.contains(weights.sha256.hex), "README documents the weight file SHA-256")
    }
}

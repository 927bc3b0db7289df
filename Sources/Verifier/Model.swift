import Foundation
import Primitives

/// The architecture of a Llama/Qwen2-family decoder (the fields `canon-f32-v1` needs).
///
/// JSON keys follow Hugging Face `config.json` (`hidden_size`, `num_attention_heads`, ...), so a model
/// description reads like the model's own configuration; `head_dim` defaults to hidden / heads and
/// `attention_bias` (q/k/v projection bias, true for Qwen2) to false when absent.
public struct ModelConfig: Sendable, Hashable, Codable {
    /// Informational family name (`llama`, `qwen2`); the executor treats both alike.
    public var architecture: String
    /// Width of the residual stream (H).
    public var hiddenSize: Int
    /// Query heads.
    public var numAttentionHeads: Int
    /// Key/value heads (grouped-query attention: query head h uses kv head h / (heads / kvHeads)).
    public var numKeyValueHeads: Int
    /// Width of one head (even: rotary pairs its halves).
    public var headDim: Int
    /// Width of the SwiGLU MLP.
    public var intermediateSize: Int
    /// RMSNorm epsilon, rounded to float32 by the executor.
    public var rmsNormEps: Double
    /// Rotary base θ.
    public var ropeTheta: Double
    /// Whether q/k/v projections have a bias.
    public var attentionBias: Bool
    /// Number of decoder layers in the whole model.
    public var numHiddenLayers: Int

    /// Creates a configuration; `headDim` defaults to hidden / heads. Call `validate()` before use.
    public init(architecture: String = "llama", hiddenSize: Int, numAttentionHeads: Int, numKeyValueHeads: Int,
                headDim: Int? = nil, intermediateSize: Int, rmsNormEps: Double, ropeTheta: Double,
                attentionBias: Bool, numHiddenLayers: Int) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.intermediateSize = intermediateSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.attentionBias = attentionBias
        self.numHiddenLayers = numHiddenLayers
    }

    enum CodingKeys: String, CodingKey {
        case architecture
        case hiddenSize = "hidden_size"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case intermediateSize = "intermediate_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case attentionBias = "attention_bias"
        case numHiddenLayers = "num_hidden_layers"
    }

    /// Decodes Hugging Face-style keys, with defaults for the optional ones.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let heads = try c.decode(Int.self, forKey: .numAttentionHeads)
        let hidden = try c.decode(Int.self, forKey: .hiddenSize)
        self.init(
            architecture: try c.decodeIfPresent(String.self, forKey: .architecture) ?? "llama",
            hiddenSize: hidden,
            numAttentionHeads: heads,
            numKeyValueHeads: try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? heads,
            headDim: try c.decodeIfPresent(Int.self, forKey: .headDim),
            intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
            rmsNormEps: try c.decode(Double.self, forKey: .rmsNormEps),
            ropeTheta: try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000,
            attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false,
            numHiddenLayers: try c.decode(Int.self, forKey: .numHiddenLayers))
    }

    /// Query width (heads × head dim).
    public var queryWidth: Int { numAttentionHeads * headDim }
    /// Key/value width (kv heads × head dim).
    public var keyValueWidth: Int { numKeyValueHeads * headDim }

    /// Largest supported widths: far above real models, low enough that size arithmetic cannot overflow.
    public static let maxWidth = 1 << 16
    /// Largest supported MLP width.
    public static let maxIntermediate = 1 << 18

    /// Checks the configuration is one `canon-f32-v1` defines.
    public func validate() throws(WeightError) {
        func bad(_ s: String) -> WeightError { .config(s) }
        guard (1...Self.maxWidth).contains(hiddenSize) else { throw bad("hidden_size \(hiddenSize) outside 1...\(Self.maxWidth)") }
        guard numAttentionHeads >= 1, numKeyValueHeads >= 1 else { throw bad("head counts must be positive") }
        // Each factor bounded before `queryWidth` multiplies them: two u32 values from a pool's parameters overflowed
        // the product and trapped (a lying RPC node could stop a verifier, checker or worker this way).
        guard numAttentionHeads <= Self.maxWidth else { throw bad("num_attention_heads \(numAttentionHeads) exceeds \(Self.maxWidth)") }
        guard headDim <= Self.maxWidth else { throw bad("head_dim \(headDim) exceeds \(Self.maxWidth)") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw bad("num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim >= 2, headDim % 2 == 0 else { throw bad("head_dim \(headDim) must be even and ≥ 2") }
        guard queryWidth <= Self.maxWidth else { throw bad("heads × head_dim = \(queryWidth) exceeds \(Self.maxWidth)") }
        guard (1...Self.maxIntermediate).contains(intermediateSize) else {
            throw bad("intermediate_size \(intermediateSize) outside 1...\(Self.maxIntermediate)")
        }
        let eps = Float(rmsNormEps)
        guard rmsNormEps.isFinite, eps > 0, eps.isNormal else { throw bad("rms_norm_eps \(rmsNormEps) must be a positive normal float32") }
        guard ropeTheta.isFinite, ropeTheta > 1, ropeTheta <= 1e12 else { throw bad("rope_theta \(ropeTheta) outside (1, 1e12]") }
        guard numHiddenLayers >= 1, numHiddenLayers <= 4096 else { throw bad("num_hidden_layers \(numHiddenLayers) outside 1...4096") }
    }
}

/// A pool shard: decoder layers [layerStart, layerEnd) of a model, optionally followed by the final norm.
public struct ShardSpec: Sendable, Hashable, Codable {
    /// First layer (inclusive).
    public var layerStart: Int
    /// End layer (exclusive).
    public var layerEnd: Int
    /// Whether the model's final RMSNorm is applied after the last layer.
    public var finalNorm: Bool

    /// Layers [layerStart, layerEnd), then the final norm when `finalNorm`.
    public init(layerStart: Int, layerEnd: Int, finalNorm: Bool = false) {
        self.layerStart = layerStart
        self.layerEnd = layerEnd
        self.finalNorm = finalNorm
    }

    enum CodingKeys: String, CodingKey {
        case layerStart = "layer_start"
        case layerEnd = "layer_end"
        case finalNorm = "final_norm"
    }

    /// Layer indices.
    public var layers: Range<Int> { layerStart..<layerEnd }

    /// Checks the range lies within the model and the shard computes something.
    public func validate(for model: ModelConfig) throws(WeightError) {
        guard layerStart >= 0, layerStart <= layerEnd, layerEnd <= model.numHiddenLayers else {
            throw .config("shard layers [\(layerStart), \(layerEnd)) outside the model's 0...\(model.numHiddenLayers)")
        }
        guard layerEnd > layerStart || finalNorm else { throw .config("shard has no layer and no final norm") }
    }
}

/// Weight file container formats.
public enum WeightFormat: String, Sendable, Hashable, Codable {
    case safetensors
    case gguf
}

/// A weight file pinned by SHA-256: loading verifies the digest before anything is read from the file.
public struct WeightsRef: Sendable, Hashable {
    /// File path.
    public var path: String
    /// Expected SHA-256 of the whole file.
    public var sha256: Hash32
    /// Container format; nil detects it from the magic bytes (`GGUF`, else safetensors).
    public var format: WeightFormat?

    /// A pinned weight file.
    public init(path: String, sha256: Hash32, format: WeightFormat? = nil) {
        self.path = path
        self.sha256 = sha256
        self.format = format
    }
}

/// A model description file (`Genesis/models/tiny/model.json`): configuration plus the pinned weight file.
public struct ModelDescription: Sendable, Hashable, Codable {
    /// Weight file entry: path relative to the description file, format, SHA-256 (hex).
    public struct Weights: Sendable, Hashable, Codable {
        /// File name, relative to the description file.
        public var file: String
        /// Container format (detected from the magic bytes when absent).
        public var format: WeightFormat?
        /// SHA-256 of the file, 64 hex digits.
        public var sha256: String
    }

    /// Human-readable name.
    public var name: String
    /// Executor spec id (`canon-f32-v1`).
    public var executor: String
    /// Architecture.
    public var config: ModelConfig
    /// Weight file.
    public var weights: Weights

    /// Reads a description and resolves its weight file relative to the description's folder.
    public static func load(path: String) throws(WeightError) -> (description: ModelDescription, weights: WeightsRef) {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .io(path: path, reason: "\(error.localizedDescription)") }
        let d: ModelDescription
        do { d = try JSONDecoder().decode(ModelDescription.self, from: data) } catch {
            throw .config("model description \(path): \(error)")
        }
        guard d.executor == CanonExecutor.specID else { throw .config("unsupported executor \(d.executor)") }
        let sha: Hash32
        do { sha = try Hash32(hex: d.weights.sha256) } catch { throw .config("bad weights sha256 in \(path)") }
        let file = url.deletingLastPathComponent().appendingPathComponent(d.weights.file).path
        try d.config.validate()
        return (d, WeightsRef(path: file, sha256: sha, format: d.weights.format))
    }
}

/// Failures loading weights or configurations: the node cannot adjudicate (not a verdict on a worker).
public enum WeightError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case io(path: String, reason: String)
    /// The file's SHA-256 differs from the pinned one.
    case sha256Mismatch(path: String, expected: Hash32, actual: Hash32)
    /// The container is malformed (format name and reason).
    case malformed(format: String, reason: String)
    /// A tensor the shard needs is absent.
    case missingTensor(String)
    /// A tensor's shape differs from what the configuration implies.
    case shapeMismatch(name: String, expected: [Int], actual: [Int])
    /// A tensor's element type cannot be converted to float32.
    case unsupportedType(name: String, type: String)
    /// A weight is NaN or infinite.
    case nonFinite(name: String)
    /// The configuration is invalid or inconsistent with the weights.
    case config(String)
    /// The thread's floating-point environment is not the canonical one (rounding mode, flush-to-zero): a replay
    /// here could differ from every other node's, so none is made.
    case floatingPointEnvironment

    public var description: String {
        switch self {
        case .io(let p, let r): "cannot read \(p): \(r)"
        case .sha256Mismatch(let p, let e, let a): "\(p): SHA-256 \(a.hex) does not match the pinned \(e.hex)"
        case .malformed(let f, let r): "malformed \(f) file: \(r)"
        case .missingTensor(let n): "weight tensor \(n) is missing"
        case .shapeMismatch(let n, let e, let a): "weight tensor \(n) has shape \(a), expected \(e)"
        case .unsupportedType(let n, let t): "weight tensor \(n) has unsupported type \(t)"
        case .nonFinite(let n): "weight tensor \(n) contains NaN or infinity"
        case .config(let s): "model configuration: \(s)"
        case .floatingPointEnvironment:
            "the floating-point environment is not IEEE round-to-nearest with subnormals (a library switched on flush-to-zero or another rounding mode); refusing to replay"
        }
    }
}

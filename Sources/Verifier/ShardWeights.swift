/// The tensors of one decoder layer the executor uses.
enum TensorRole: CaseIterable, Sendable {
    case inputNorm, q, k, v, qBias, kBias, vBias, o, postNorm, gate, up, down

    var isBias: Bool { self == .qBias || self == .kBias || self == .vBias }
}

/// A source of float32 weight tensors by role (the container formats name them differently).
protocol WeightSource {
    /// Values (row-major, outermost dimension first) and shape of a layer tensor, nil when absent.
    func layerTensor(_ role: TensorRole, layer: Int) throws(WeightError) -> (name: String, shape: [Int], values: [Float])?
    /// The final norm weight, nil when absent.
    func finalNorm() throws(WeightError) -> (name: String, shape: [Int], values: [Float])?
}

/// Hugging Face tensor names (`model.layers.{i}.self_attn.q_proj.weight`, ...), with or without `model.`.
struct SafetensorsSource: WeightSource {
    let file: SafetensorsFile

    static func suffix(_ role: TensorRole) -> String {
        switch role {
        case .inputNorm: "input_layernorm.weight"
        case .q: "self_attn.q_proj.weight"
        case .k: "self_attn.k_proj.weight"
        case .v: "self_attn.v_proj.weight"
        case .qBias: "self_attn.q_proj.bias"
        case .kBias: "self_attn.k_proj.bias"
        case .vBias: "self_attn.v_proj.bias"
        case .o: "self_attn.o_proj.weight"
        case .postNorm: "post_attention_layernorm.weight"
        case .gate: "mlp.gate_proj.weight"
        case .up: "mlp.up_proj.weight"
        case .down: "mlp.down_proj.weight"
        }
    }

    func lookup(_ names: [String]) throws(WeightError) -> (name: String, shape: [Int], values: [Float])? {
        for n in names {
            if let info = file.tensors[n] { return (n, info.shape, try file.floats(n)) }
        }
        return nil
    }

    func layerTensor(_ role: TensorRole, layer: Int) throws(WeightError) -> (name: String, shape: [Int], values: [Float])? {
        let s = "layers.\(layer).\(Self.suffix(role))"
        return try lookup(["model." + s, s])
    }

    func finalNorm() throws(WeightError) -> (name: String, shape: [Int], values: [Float])? {
        try lookup(["model.norm.weight", "norm.weight"])
    }
}

/// llama.cpp tensor names (`blk.{i}.attn_q.weight`, ...). For the `llama` architecture the converter
/// reorders q/k projection rows for llama.cpp's adjacent-pair rotary: within each head, Hugging Face row
/// s·(d/2) + i is stored as row 2i + s. The source undoes that so the spec's rotate-half rotary applies.
struct GGUFSource: WeightSource {
    let file: GGUFFile
    let config: ModelConfig

    static func name(_ role: TensorRole) -> String {
        switch role {
        case .inputNorm: "attn_norm.weight"
        case .q: "attn_q.weight"
        case .k: "attn_k.weight"
        case .v: "attn_v.weight"
        case .qBias: "attn_q.bias"
        case .kBias: "attn_k.bias"
        case .vBias: "attn_v.bias"
        case .o: "attn_output.weight"
        case .postNorm: "ffn_norm.weight"
        case .gate: "ffn_gate.weight"
        case .up: "ffn_up.weight"
        case .down: "ffn_down.weight"
        }
    }

    var permuted: Bool { file.architecture == "llama" }

    func layerTensor(_ role: TensorRole, layer: Int) throws(WeightError) -> (name: String, shape: [Int], values: [Float])? {
        let n = "blk.\(layer).\(Self.name(role))"
        guard let info = file.tensors[n] else { return nil }
        var values = try file.floats(n)
        let shape = info.shape
        if permuted, role == .q || role == .k || role == .qBias || role == .kBias {
            let heads = (role == .q || role == .qBias) ? config.numAttentionHeads : config.numKeyValueHeads
            let rows = shape[0]
            let cols = shape.count > 1 ? shape[1] : 1
            if rows % heads == 0, (rows / heads) % 2 == 0 {
                values = Self.unpermute(values, rows: rows, cols: cols, heads: heads)
            }
        }
        return (n, shape, values)
    }

    func finalNorm() throws(WeightError) -> (name: String, shape: [Int], values: [Float])? {
        guard let info = file.tensors["output_norm.weight"] else { return nil }
        return (info.name, info.shape, try file.floats(info.name))
    }

    /// Inverse of llama.cpp's q/k row order: HF row h·d + s·(d/2) + i ← stored row h·d + 2i + s.
    static func unpermute(_ v: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let d = rows / heads
        var out = [Float](repeating: 0, count: v.count)
        for h in 0..<heads {
            for s in 0..<2 {
                for i in 0..<(d / 2) {
                    let dst = (h * d + s * (d / 2) + i) * cols
                    let src = (h * d + 2 * i + s) * cols
                    for k in 0..<cols { out[dst + k] = v[src + k] }
                }
            }
        }
        return out
    }
}

/// One decoder layer's weights, arranged for the kernels.
struct LayerWeights: Sendable {
    let inputNorm: FloatBuffer
    /// [Wq; Wk; Wv] stacked: one pass computes q, k and v.
    let qkv: PackedMatrix
    let qkvBias: FloatBuffer?
    let o: PackedMatrix
    let postNorm: FloatBuffer
    /// [Wgate; Wup] stacked.
    let gateUp: PackedMatrix
    let down: PackedMatrix

    var byteSize: Int {
        inputNorm.count * 4 + qkv.byteSize + (qkvBias?.count ?? 0) * 4 + o.byteSize + postNorm.count * 4
            + gateUp.byteSize + down.byteSize
    }

    /// Loads and checks one layer: every tensor present with the shape the configuration implies, biases
    /// present exactly when the configuration says so, every value finite.
    init(layer: Int, model m: ModelConfig, source: some WeightSource) throws(WeightError) {
        let H = m.hiddenSize, qd = m.queryWidth, kvd = m.keyValueWidth, I = m.intermediateSize
        func get(_ role: TensorRole, _ shape: [Int]) throws(WeightError) -> [Float] {
            guard let t = try source.layerTensor(role, layer: layer) else {
                throw .missingTensor("layer \(layer) \(role)")
            }
            guard t.shape == shape else { throw .shapeMismatch(name: t.name, expected: shape, actual: t.shape) }
            guard t.values.allSatisfy({ $0.isFinite }) else { throw .nonFinite(name: t.name) }
            return t.values
        }
        inputNorm = FloatBuffer(try get(.inputNorm, [H]), paddedCount: round8(H))
        postNorm = FloatBuffer(try get(.postNorm, [H]), paddedCount: round8(H))
        let wq = try get(.q, [qd, H]), wk = try get(.k, [kvd, H]), wv = try get(.v, [kvd, H])
        qkv = PackedMatrix(stacking: [wq, wk, wv], rowCounts: [qd, kvd, kvd], cols: H)
        if m.attentionBias {
            let b = try get(.qBias, [qd]) + get(.kBias, [kvd]) + get(.vBias, [kvd])
            qkvBias = FloatBuffer(b, paddedCount: round8(qd + 2 * kvd))
        } else {
            for role in [TensorRole.qBias, .kBias, .vBias] {
                if let t = try source.layerTensor(role, layer: layer) {
                    throw .config("\(t.name) present but attention_bias is false")
                }
            }
            qkvBias = nil
        }
        o = PackedMatrix(stacking: [try get(.o, [H, qd])], rowCounts: [H], cols: qd)
        gateUp = PackedMatrix(stacking: [try get(.gate, [I, H]), try get(.up, [I, H])], rowCounts: [I, I], cols: H)
        down = PackedMatrix(stacking: [try get(.down, [H, I])], rowCounts: [H], cols: I)
    }
}

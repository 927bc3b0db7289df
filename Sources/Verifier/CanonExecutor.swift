import Primitives

/// Why a pass was not computed, or its result is not a valid output.
public enum ExecutorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is not a pass this shard can run (shape, token count, position range, non-finite values).
    case invalidInput(String)
    /// The output contains NaN or infinity (first offending element, row-major index).
    case nonFiniteOutput(index: Int)

    public var description: String {
        switch self {
        case .invalidInput(let s): "invalid input: \(s)"
        case .nonFiniteOutput(let i): "output element \(i) is NaN or infinite"
        }
    }
}

/// The canonical executor `canon-f32-v1` for one loaded shard (Specs/verifier-canon-f32-v1.md).
///
/// Runs decoder layers [l0, l1) (and optionally the final norm) of a Llama/Qwen2-family model on a
/// `[tokens, hidden]` float32 input whose first token sits at `positionOffset`. Every operation has a
/// fixed order, so the output bits are the same on every machine, build mode and thread count: threads
/// only split independent output elements.
///
/// Immutable after loading; `run` can be called concurrently.
public final class CanonExecutor: Sendable {
    /// The executor spec id recorded in pools.
    public static let specID = "canon-f32-v1"
    /// Positions (offset + tokens) are defined up to this bound.
    public static let maxPosition = 1 << 20
    /// Query rows per attention block: a head's score scratch is `2 × attentionRowBlock × T` floats rather than
    /// `2 × T²` (at T = 16 384, 8 MiB instead of 2 GiB), whatever a pool's `maxTokensPerPass` allows.
    static let attentionRowBlock = 64

    /// Model architecture.
    public let model: ModelConfig
    /// Layers of this shard.
    public let shard: ShardSpec
    let layers: [LayerWeights]
    let finalNorm: FloatBuffer?
    let inverseFrequencies: [Double]
    /// Bytes of arranged weights held in memory.
    public let byteSize: Int

    init(model: ModelConfig, shard: ShardSpec, source: some WeightSource) throws(WeightError) {
        try model.validate()
        try shard.validate(for: model)
        self.model = model
        self.shard = shard
        var layers: [LayerWeights] = []
        for l in shard.layers {
            layers.append(try LayerWeights(layer: l, model: model, source: source))
        }
        self.layers = layers
        if shard.finalNorm {
            guard let t = try source.finalNorm() else { throw .missingTensor("final norm") }
            guard t.shape == [model.hiddenSize] else {
                throw .shapeMismatch(name: t.name, expected: [model.hiddenSize], actual: t.shape)
            }
            guard t.values.allSatisfy({ $0.isFinite }) else { throw .nonFinite(name: t.name) }
            finalNorm = FloatBuffer(t.values, paddedCount: round8(model.hiddenSize))
        } else {
            finalNorm = nil
        }
        inverseFrequencies = CanonMath.inverseFrequencies(theta: model.ropeTheta, headDim: model.headDim)
        byteSize = layers.reduce(0) { $0 + $1.byteSize } + (finalNorm?.count ?? 0) * 4
    }

    /// Loads a shard from a safetensors file (Hugging Face tensor names).
    public convenience init(model: ModelConfig, shard: ShardSpec, safetensors: SafetensorsFile) throws(WeightError) {
        try self.init(model: model, shard: shard, source: SafetensorsSource(file: safetensors))
    }

    /// Loads a shard from a GGUF file (llama.cpp tensor names; q/k rows of `llama` files un-permuted).
    public convenience init(model: ModelConfig, shard: ShardSpec, gguf: GGUFFile) throws(WeightError) {
        try self.init(model: model, shard: shard, source: GGUFSource(file: gguf, config: model))
    }

    /// Loads a shard from a pinned weight file: maps it, checks its SHA-256 against the pin before
    /// parsing anything, then arranges the shard's weights (the mapping is released afterwards).
    public static func load(model: ModelConfig, shard: ShardSpec, weights: WeightsRef) throws(WeightError) -> CanonExecutor {
        let store = try ByteStore(path: weights.path)
        let actual = store.sha256()
        guard actual == weights.sha256 else { throw .sha256Mismatch(path: weights.path, expected: weights.sha256, actual: actual) }
        let isGGUF = store.count >= 4 && store.buffer[0] == 0x47 && store.buffer[1] == 0x47 && store.buffer[2] == 0x55 && store.buffer[3] == 0x46
        switch weights.format ?? (isGGUF ? .gguf : .safetensors) {
        case .gguf:
            return try CanonExecutor(model: model, shard: shard, gguf: GGUFFile(store: store))
        case .safetensors:
            return try CanonExecutor(model: model, shard: shard, safetensors: SafetensorsFile(store: store))
        }
    }

    /// Floating-point operations of one pass over `tokens` tokens (2 per multiply-add; attention counts
    /// the causal half), for throughput reporting.
    public func flops(tokens: Int) -> Double {
        let m = model, T = Double(tokens)
        let H = Double(m.hiddenSize), qd = Double(m.queryWidth), kvd = Double(m.keyValueWidth), I = Double(m.intermediateSize)
        let proj = 2 * T * (H * (qd + 2 * kvd) + qd * H + 3 * H * I)
        let attn = 2 * 2 * Double(m.numAttentionHeads) * Double(m.headDim) * T * (T + 1) / 2
        return Double(layers.count) * (proj + attn)
    }

    /// Runs the shard on `input` ([tokens, hidden], finite values) with its first token at `positionOffset`.
    ///
    /// - Parameter threads: workers for the pass (1 = the calling thread only). Results do not depend on it.
    /// - Throws: `ExecutorError.invalidInput` for a wrong shape, no tokens, a position range beyond
    ///   `maxPosition` or a non-finite input value; `ExecutorError.nonFiniteOutput` when the output has NaN
    ///   or infinity (an invalid output under the spec).
    public func run(_ input: Tensor, positionOffset: Int, threads: Int = 1) throws(ExecutorError) -> Tensor {
        try run(input, positionOffset: positionOffset, threads: threads, kernel: .best)
    }

    /// `run` with a chosen matmul kernel (tests force the portable kernel to compare it with the AVX2 one on whole
    /// passes; both must give the same bits) and attention row block (tests run small blocks against the goldens).
    func run(_ input: Tensor, positionOffset: Int, threads: Int, kernel: MatmulKernel,
             attentionRowBlock: Int = CanonExecutor.attentionRowBlock) throws(ExecutorError) -> Tensor {
        let H = model.hiddenSize
        guard input.shape.count == 2, input.shape[1] == H else {
            throw .invalidInput("shape \(input.shape), expected [tokens, \(H)]")
        }
        let T = input.shape[0]
        guard positionOffset >= 0, T <= Self.maxPosition, positionOffset <= Self.maxPosition - T else {
            throw .invalidInput("positions \(positionOffset)..<\(positionOffset)+\(T) exceed \(Self.maxPosition)")
        }
        if let bad = input.data.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput("input element \(bad) is NaN or infinite")
        }
        let out = forward(input, positionOffset: positionOffset, threads: max(1, threads), kernel: kernel,
                          attentionRowBlock: attentionRowBlock)
        if let bad = out.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteOutput(index: bad) }
        do {
            return try Tensor(shape: [T, H], data: out)
        } catch {
            throw .invalidInput("\(error)")  // unreachable: the shape was checked above
        }
    }

    func forward(_ input: Tensor, positionOffset: Int, threads: Int, kernel: MatmulKernel = .best,
                 attentionRowBlock: Int = CanonExecutor.attentionRowBlock) -> [Float] {
        let m = model
        let T = input.shape[0], H = m.hiddenSize, Hp = round8(H)
        let qd = m.queryWidth, kvd = m.keyValueWidth, hd = m.headDim, half = hd / 2
        let qkvW = qd + 2 * kvd, qkvP = round8(qkvW), qdP = round8(qd)
        let I = m.intermediateSize, guP = round8(2 * I), iP = round8(I)
        let eps = Float(m.rmsNormEps)

        let x = FloatBuffer(count: T * Hp)
        let h = FloatBuffer(count: T * Hp)
        let qkv = FloatBuffer(count: T * qkvP)
        let attn = FloatBuffer(count: T * qdP)
        let tmp = FloatBuffer(count: T * Hp)
        let gu = FloatBuffer(count: T * guP)
        let act = FloatBuffer(count: T * iP)
        input.data.withUnsafeBufferPointer { src in
            for t in 0..<T { for i in 0..<H { x.pointer[t * Hp + i] = src[t * H + i] } }
        }
        let (cos, sin) = CanonMath.rotaryTable(inverseFrequencies: inverseFrequencies,
                                               positions: positionOffset..<(positionOffset + T))

        for layer in layers {
            // 1. h = RMSNorm(x)
            for t in 0..<T { Kernels.rmsnorm(x.pointer + t * Hp, layer.inputNorm.pointer, width: H, eps: eps, h.pointer + t * Hp) }
            // 2. [q | k | v] = h · [Wq; Wk; Wv]ᵀ (+ bias)
            Kernels.matmul(x: h.pointer, xStride: Hp, tokens: T, w: layer.qkv, bias: layer.qkvBias.map { UnsafePointer($0.pointer) },
                           y: qkv.pointer, yStride: qkvP, threads: threads, kernel: kernel)
            // 3. rotary on every q and k head (rotate-half pairs i and i + d/2)
            cos.withUnsafeBufferPointer { c in
                sin.withUnsafeBufferPointer { s in
                    for t in 0..<T {
                        let row = qkv.pointer + t * qkvP
                        for head in 0..<(m.numAttentionHeads + m.numKeyValueHeads) {
                            let base = row + head * hd
                            for i in 0..<half {
                                let x1 = base[i], x2 = base[i + half]
                                let ci = c[t * half + i], si = s[t * half + i]
                                base[i] = x1 * ci - x2 * si
                                base[i + half] = x2 * ci + x1 * si
                            }
                        }
                    }
                }
            }
            // 4. causal grouped-query attention
            attention(qkv: qkv, qkvStride: qkvP, tokens: T, out: attn, outStride: qdP, threads: threads, kernel: kernel,
                      rowBlock: attentionRowBlock)
            // 5. x = x + attn · Woᵀ
            Kernels.matmul(x: attn.pointer, xStride: qdP, tokens: T, w: layer.o, bias: nil, y: tmp.pointer, yStride: Hp, threads: threads, kernel: kernel)
            for t in 0..<T { for i in 0..<H { x.pointer[t * Hp + i] = x.pointer[t * Hp + i] + tmp.pointer[t * Hp + i] } }
            // 6. h = RMSNorm(x); [g | u] = h · [Wg; Wu]ᵀ; a = (g / (1 + exp(−g))) · u
            for t in 0..<T { Kernels.rmsnorm(x.pointer + t * Hp, layer.postNorm.pointer, width: H, eps: eps, h.pointer + t * Hp) }
            Kernels.matmul(x: h.pointer, xStride: Hp, tokens: T, w: layer.gateUp, bias: nil, y: gu.pointer, yStride: guP, threads: threads, kernel: kernel)
            for t in 0..<T { swiglu(gu.pointer + t * guP, width: I, act.pointer + t * iP) }
            // 7. x = x + a · Wdownᵀ
            Kernels.matmul(x: act.pointer, xStride: iP, tokens: T, w: layer.down, bias: nil, y: tmp.pointer, yStride: Hp, threads: threads, kernel: kernel)
            for t in 0..<T { for i in 0..<H { x.pointer[t * Hp + i] = x.pointer[t * Hp + i] + tmp.pointer[t * Hp + i] } }
        }
        var result = x
        if let finalNorm {
            for t in 0..<T { Kernels.rmsnorm(x.pointer + t * Hp, finalNorm.pointer, width: H, eps: eps, h.pointer + t * Hp) }
            result = h
        }
        var out = [Float](repeating: 0, count: T * H)
        for t in 0..<T { for i in 0..<H { out[t * H + i] = result.pointer[t * Hp + i] } }
        return out
    }

    /// act[i] = (g[i] / (1 + exp(−g[i]))) · u[i] with g = row[0..<I], u = row[I..<2I]; act is zero-padded.
    func swiglu(_ row: UnsafeMutablePointer<Float>, width I: Int, _ act: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 8 <= I {
            let g = UnsafeRawPointer(row + i).loadUnaligned(as: SIMD8<Float>.self)
            let u = UnsafeRawPointer(row + I + i).loadUnaligned(as: SIMD8<Float>.self)
            let y = (g / (1 + CanonMath.exp(-g))) * u
            UnsafeMutableRawPointer(act + i).storeBytes(of: y, as: SIMD8<Float>.self)
            i += 8
        }
        while i < I {
            let g = row[i], u = row[I + i]
            act[i] = (g / (1 + CanonMath.exp(-g))) * u
            i += 1
        }
    }

    /// Causal grouped-query attention. For query head h (kv head g = h / (heads / kvHeads)) and row t:
    /// s_j = dot(q_t, k_j) · (1 / sqrt(d)) for j ≤ t; m = max s_j; e_j = exp(s_j − m); Z = striped sum of
    /// e_j over j ≤ t; p_j = e_j / Z, and p_j = +0 for j > t; out_t = dot over all j < T of p_j · v_j.
    func attention(qkv: FloatBuffer, qkvStride: Int, tokens T: Int, out: FloatBuffer, outStride: Int, threads: Int,
                   kernel: MatmulKernel = .best, rowBlock: Int = CanonExecutor.attentionRowBlock) {
        let m = model
        let hd = m.headDim, hdP = round8(hd), qd = m.queryWidth, kvd = m.keyValueWidth
        let rep = m.numAttentionHeads / m.numKeyValueHeads
        let tP = round8(T)
        let scale = 1 / Float(hd).squareRoot()
        // Keys as rows (dot over d) and values transposed (dot over j), per kv head.
        let keys = (0..<m.numKeyValueHeads).map { g in
            PackedMatrix(rows: T, cols: hd, source: qkv.pointer + qd + g * hd, rowStride: qkvStride)
        }
        let valuesT = (0..<m.numKeyValueHeads).map { g in
            PackedMatrix(rows: hd, cols: T, source: qkv.pointer + qd + kvd + g * hd, rowStride: 1, colStride: qkvStride)
        }
        // Query rows go through in blocks of `rowBlock`: a row's scores, probabilities and output depend on that row
        // alone (each output element is its own fixed-order reduction), so the result is bit-identical to one block
        // of T rows, and the scratch is O(rows × T) per head instead of O(T²).
        let block = max(1, min(T, rowBlock))
        parallelFor(m.numAttentionHeads, threads: threads) { head in
            let g = head / rep
            let q = FloatBuffer(count: T * hdP)
            for t in 0..<T { for i in 0..<hd { q.pointer[t * hdP + i] = qkv.pointer[t * qkvStride + head * hd + i] } }
            let s = FloatBuffer(count: block * tP)
            let p = FloatBuffer(count: block * tP)
            let o = FloatBuffer(count: T * hdP)
            for first in stride(from: 0, to: T, by: block) {
                let rows = min(block, T - first)
                Kernels.matmul(x: q.pointer + first * hdP, xStride: hdP, tokens: rows, w: keys[g], bias: nil, y: s.pointer,
                               yStride: tP, threads: 1, kernel: kernel)
                for r in 0..<rows {
                    let t = first + r
                    let srow = s.pointer + r * tP
                    for j in 0...t { srow[j] = srow[j] * scale }
                    var mx = srow[0]
                    for j in 1..<(t + 1) where srow[j] > mx { mx = srow[j] }
                    let sv = MutableVec8Pointer(srow)
                    let pv = MutableVec8Pointer(p.pointer + r * tP)
                    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
                    let chunks = t / 8 + 1
                    var acc = SIMD8<Float>()
                    for c in 0..<chunks {
                        var e = CanonMath.exp(sv[c] - mx)
                        e.replace(with: 0, where: lanes &+ Int32(8 * c) .> Int32(t))
                        pv[c] = e
                        acc += e
                    }
                    let z = tree8(acc)
                    for c in 0..<chunks {
                        var pr = pv[c] / z
                        pr.replace(with: 0, where: lanes &+ Int32(8 * c) .> Int32(t))
                        pv[c] = pr
                    }
                    // The tail past the row's last chunk is +0, as a zero-initialised T × T buffer had it.
                    for j in (8 * chunks)..<tP { p.pointer[r * tP + j] = 0 }
                }
                Kernels.matmul(x: p.pointer, xStride: tP, tokens: rows, w: valuesT[g], bias: nil, y: o.pointer + first * hdP,
                               yStride: hdP, threads: 1, kernel: kernel)
            }
            for t in 0..<T { for i in 0..<hd { out.pointer[t * outStride + head * hd + i] = o.pointer[t * hdP + i] } }
        }
    }
}

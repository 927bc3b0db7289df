import ArgumentParser
import Foundation
import Primitives
import Verifier

/// Canonical executor throughput on a Qwen2.5-0.5B-shaped layer, beside numpy/OpenBLAS on the same shape
/// measured in the same run, and the replay latency of a 6-layer shard.
struct BenchExecutor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "executor", abstract: "canon-f32-v1 GFLOP/s per thread and on all cores vs numpy; shard replay latency.")

    @Option(help: "Seconds per measurement.") var seconds: Double = 2.0
    @Option(help: "Tokens per pass.") var tokens: Int = 32
    @Option(help: "Layers of the replayed shard.") var replayLayers: Int = 6
    @Flag(help: "Skip the shard replay measurement (it writes a large temporary weight file).") var skipReplay = false

    /// Qwen2.5-0.5B decoder layer shape.
    static let qwen = ModelConfig(architecture: "qwen2", hiddenSize: 896, numAttentionHeads: 14, numKeyValueHeads: 2,
                                  headDim: 64, intermediateSize: 4864, rmsNormEps: 1e-6, ropeTheta: 1_000_000,
                                  attentionBias: true, numHiddenLayers: 24)

    func validate() throws {
        try requirePositiveSeconds(["--seconds": seconds])
        try requireOptions(atLeast: 1, ["--tokens": tokens, "--replay-layers": replayLayers])
    }

    func run() async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("== executor canon-f32-v1 (Qwen2.5-0.5B layer: hidden 896, 14/2 heads, head dim 64, intermediate 4864; \(tokens) tokens) ==")
        selfCheck()

        var model = Self.qwen
        model.numHiddenLayers = 1
        let weights = Self.randomWeights(model, layers: 1, seed: 1)
        let exec = try CanonExecutor(model: model, shard: ShardSpec(layerStart: 0, layerEnd: 1), safetensors: SafetensorsFile(bytes: weights))
        let input = try Self.randomInput(tokens: tokens, hidden: model.hiddenSize, seed: 2)
        let flops = exec.flops(tokens: tokens)

        var reference: Hash32?
        for threads in Set([1, cores]).sorted() {
            let out = try exec.run(input, positionOffset: 0, threads: threads)
            if let reference, reference != out.hash { print("!! output differs between thread counts") }
            reference = out.hash
            let passes = rate(seconds) { n in
                for _ in 0..<n { blackHole(try? exec.run(input, positionOffset: 0, threads: threads)) }
            }
            let gflops = passes * flops / 1e9
            let np = numpyLayerSeconds(threads: threads).map { flops / $0 / 1e9 }
            let label = (threads == 1 ? "layer, 1 thread" : "layer, \(threads) threads").padding(toLength: 18, withPad: " ", startingAt: 0)
            let per = threads == 1 ? "" : String(format: " (%.1f per thread)", gflops / Double(threads))
            let baseline = np.map { String(format: "numpy/OpenBLAS f32 %6.1f GFLOP/s   ratio %.2f", $0, gflops / $0) }
                ?? "numpy/OpenBLAS: unavailable (needs python3 + numpy and tools/bench_numpy.py; run from the repository root)"
            print("\(label) " + String(format: "%6.1f GFLOP/s", gflops) + per + String(format: ", %6.2f ms/layer", 1e3 / passes) + "   \(baseline)   [DESIGN §9: ≥ 20 GFLOP/s per thread; OpenBLAS+FMA ≈ 90]")
        }
        if !skipReplay { try replayLatency(threads: cores) }
    }

    /// Replays the tiny devnet model's recorded example in this (release) build: bits must match the numpy reference.
    func selfCheck() {
        let dir = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Genesis/models/tiny")
        do {
            let (desc, ref) = try ModelDescription.load(path: dir.appendingPathComponent("model.json").path)
            let exec = try CanonExecutor.load(model: desc.config, shard: ShardSpec(layerStart: 0, layerEnd: desc.config.numHiddenLayers, finalNorm: true), weights: ref)
            let input = try Tensor(tns1: [UInt8](Data(contentsOf: dir.appendingPathComponent("example.in.tns"))))
            let expected = try Tensor(tns1: [UInt8](Data(contentsOf: dir.appendingPathComponent("example.out.tns"))))
            let out = try exec.run(input, positionOffset: 0, threads: 2)
            print("bit-exact self-check (tiny model example vs numpy reference): \(out == expected ? "ok" : "MISMATCH") \(out.hash)")
        } catch {
            print("bit-exact self-check skipped (run from the repository root): \(error)")
        }
    }

    func replayLatency(threads: Int) throws {
        var model = Self.qwen
        model.numHiddenLayers = replayLayers
        let bytes = Self.randomWeights(model, layers: replayLayers, seed: 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sharechain-bench-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("shard.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let ref = WeightsRef(path: path, sha256: SHA256.hash(bytes))
        let input = try Self.randomInput(tokens: tokens, hidden: model.hiddenSize, seed: 4).tns1
        let shard = ShardSpec(layerStart: 0, layerEnd: replayLayers, finalNorm: false)
        let replayer = ShardReplayer(cacheBytes: 4 << 30, threads: threads)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let first = try replayer.replay(model: model, shard: shard, weights: ref, input: input, positionOffset: 100)
        let cold = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        var warm: [Double] = []
        for _ in 0..<5 {
            let t = DispatchTime.now().uptimeNanoseconds
            let v = try replayer.replay(model: model, shard: shard, weights: ref, input: input, positionOffset: 100)
            warm.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            if v != first { print("!! replay verdict changed between runs") }
        }
        warm.sort()
        print("replay \(replayLayers)-layer shard, \(tokens) tokens, \(threads) threads: cold \(String(format: "%.0f", cold)) ms "
              + "(SHA-256 of \(bytes.count >> 20) MiB + parse + arrange + run), warm median \(String(format: "%.1f", warm[warm.count / 2])) ms "
              + "(cached shard); verdict \(first)")
    }

    /// Random safetensors weights (BF16 storage keeps the temporary files small) with Hugging Face names.
    static func randomWeights(_ m: ModelConfig, layers: Int, seed: UInt64) -> [UInt8] {
        var g = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func values(_ n: Int, _ scale: Float, _ center: Float = 0) -> [Float] {
            (0..<n).map { _ in
                g ^= g << 13; g ^= g >> 7; g ^= g << 17
                return center + scale * (Float(g >> 40) / Float(1 << 23) - 1)
            }
        }
        let H = m.hiddenSize, qd = m.queryWidth, kvd = m.keyValueWidth, I = m.intermediateSize
        let s = 1.7 / Float(H).squareRoot()
        var t: [(name: String, shape: [Int], values: [Float])] = []
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            t.append((p + "input_layernorm.weight", [H], values(H, 0.1, 1)))
            t.append((p + "post_attention_layernorm.weight", [H], values(H, 0.1, 1)))
            t.append((p + "self_attn.q_proj.weight", [qd, H], values(qd * H, s)))
            t.append((p + "self_attn.k_proj.weight", [kvd, H], values(kvd * H, s)))
            t.append((p + "self_attn.v_proj.weight", [kvd, H], values(kvd * H, s)))
            t.append((p + "self_attn.q_proj.bias", [qd], values(qd, 0.5)))
            t.append((p + "self_attn.k_proj.bias", [kvd], values(kvd, 0.5)))
            t.append((p + "self_attn.v_proj.bias", [kvd], values(kvd, 0.5)))
            t.append((p + "self_attn.o_proj.weight", [H, qd], values(H * qd, 1.7 / Float(qd).squareRoot())))
            t.append((p + "mlp.gate_proj.weight", [I, H], values(I * H, s)))
            t.append((p + "mlp.up_proj.weight", [I, H], values(I * H, s)))
            t.append((p + "mlp.down_proj.weight", [H, I], values(H * I, 1.7 / Float(I).squareRoot())))
        }
        return SafetensorsFile.serialize(t, dtype: .bf16)
    }

    static func randomInput(tokens: Int, hidden: Int, seed: UInt64) throws -> Tensor {
        var g = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let data = (0..<(tokens * hidden)).map { _ -> Float in
            g ^= g << 13; g ^= g >> 7; g ^= g << 17
            return 1.7 * (Float(g >> 40) / Float(1 << 23) - 1)
        }
        return try Tensor(shape: [tokens, hidden], data: data)
    }

    /// Seconds per layer of the numpy float32 implementation (tools/bench_numpy.py) with `threads`
    /// OpenBLAS threads, or nil when python3/numpy or the script is unavailable.
    func numpyLayerSeconds(threads: Int) -> Double? {
        let script = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("tools/bench_numpy.py")
        guard FileManager.default.fileExists(atPath: script.path) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let m = Self.qwen
        p.arguments = ["python3", script.path, "--hidden", "\(m.hiddenSize)", "--heads", "\(m.numAttentionHeads)",
                       "--kv-heads", "\(m.numKeyValueHeads)", "--head-dim", "\(m.headDim)",
                       "--intermediate", "\(m.intermediateSize)", "--tokens", "\(tokens)", "--seconds", "\(seconds)"]
        var env = ProcessInfo.processInfo.environment
        for k in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] { env[k] = "\(threads)" }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let s = obj["seconds"] as? Double, s > 0 else { return nil }
        return s
    }
}

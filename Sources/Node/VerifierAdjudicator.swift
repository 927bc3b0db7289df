import Foundation
import Ledger
import Metrics
import Primitives
import Verifier

/// Why a node cannot adjudicate for a genesis.
public struct WeightsError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Weight files found under a directory, by SHA-256 (pools pin weights by hash, not by path).
public struct WeightsIndex: Sendable {
    public let directory: String
    public let files: [Hash32: String]

    /// Hashes every `.safetensors` and `.gguf` file under `directory` (recursively), symbolic links to files included.
    /// Anything else with such a name (a FIFO, a device, a link to `/dev/zero`) is skipped: reading it to hash it
    /// blocked or never ended, and the node hung at startup.
    public init(directory: String) throws {
        self.directory = directory
        var found = [Hash32: String]()
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            let relative = directory.hasPrefix("/") ? "" : " (relative to the current directory \(FileManager.default.currentDirectoryPath))"
            throw WeightsError("weights directory \(directory) does not exist\(relative): give --weights-dir (a directory holding the pools' pinned weight files; `tools/fetch-models` fetches the shipped ones)")
        }
        let enumerator = fm.enumerator(atPath: directory)
        while let rel = enumerator?.nextObject() as? String {
            guard rel.hasSuffix(".safetensors") || rel.hasSuffix(".gguf") else { continue }
            let path = (directory as NSString).appendingPathComponent(rel)
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            found[try DevnetGenesisBuilder.sha256(ofFile: path)] = path
        }
        files = found
    }

    /// Checks that every shard of every pool has its weights, and that every pool's model and shards are ones the
    /// canonical executor defines and its weight file holds (each shard is loaded once), else the first adjudication
    /// of the pool would be a ledger fault on every validator, halting the chain; the message lists what is wrong.
    public func check(pools: [PoolConfig]) throws {
        var missing = [String]()
        for p in pools {
            let model = PoolModels.config(p)
            do { try model.validate() } catch {
                missing.append("pool \(p.id) (\(p.modelId)): the canonical executor cannot run this model: \(error)")
            }
            for (i, s) in p.shards.enumerated() {
                do { try PoolModels.shard(s).validate(for: model) } catch {
                    missing.append("pool \(p.id) (\(p.modelId)) shard \(i): \(error)")
                }
            }
            for (i, s) in p.shards.enumerated() {
                guard let path = files[s.weightsSHA256] else {
                    missing.append("pool \(p.id) (\(p.modelId)) shard \(i): no file with SHA-256 \(s.weightsSHA256.hex)")
                    continue
                }
                // Loaded once now: a file with the pinned hash but a missing tensor or a wrong shape would otherwise
                // fail at the pool's first adjudication, a ledger fault on every validator (eighth review).
                do {
                    _ = try CanonExecutor.load(model: model, shard: PoolModels.shard(s), weights: WeightsRef(path: path, sha256: s.weightsSHA256))
                } catch {
                    missing.append("pool \(p.id) (\(p.modelId)) shard \(i): the weight file \(path) does not hold this shard: \(error)")
                }
            }
        }
        if !missing.isEmpty {
            throw WeightsError("""
                this node cannot adjudicate fraud proofs for this genesis (weights directory \(directory)):
                  \(missing.joined(separator: "\n  "))
                Put the pinned weight files under --weights-dir (any name; they are found by SHA-256).
                """)
        }
    }
}

/// The model description the executor needs, from a pool's consensus parameters.
public enum PoolModels {
    public static func config(_ pool: PoolConfig) -> ModelConfig {
        let m = pool.model
        return ModelConfig(architecture: m.qkvBias ? "qwen2" : "llama", hiddenSize: Int(m.hiddenSize),
                           numAttentionHeads: Int(m.numHeads), numKeyValueHeads: Int(m.numKVHeads), headDim: Int(m.headDim),
                           intermediateSize: Int(m.intermediateSize),
                           rmsNormEps: Double(Float(bitPattern: m.rmsNormEpsBits)),
                           ropeTheta: Double(Float(bitPattern: m.ropeThetaBits)),
                           attentionBias: m.qkvBias, numHiddenLayers: Int(m.numLayers))
    }

    public static func shard(_ s: PoolShard) -> Verifier.ShardSpec {
        Verifier.ShardSpec(layerStart: Int(s.layerStart), layerEnd: Int(s.layerEnd), finalNorm: s.finalNorm)
    }
}

/// The real adjudicator: replays a revealed pass with `canon-f32-v1` on the pool's pinned weights.
public struct VerifierAdjudicator: Adjudicator {
    public let weights: WeightsIndex
    public let replayer: ShardReplayer

    public init(weights: WeightsIndex, replayer: ShardReplayer = ShardReplayer(cacheBytes: 1 << 30,
                                                                               limits: ReplayLimits(maxTokens: Int(UInt32.max)))) {
        self.weights = weights
        self.replayer = replayer
    }

    public func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict {
        // Metric names: Specs/rpc.md, "Metrics".
        let started = ContinuousClock.now
        let verdict: AdjudicationVerdict
        do { verdict = try replay(request) } catch {
            Counter(label: "sharechain_verifier_replays_total", dimensions: [("verdict", "error")]).increment()
            throw error
        }
        let label: String
        switch verdict {
        case .output: label = "output"
        case .invalidInput: label = "invalid_input"
        case .invalidOutput: label = "invalid_output"
        }
        Counter(label: "sharechain_verifier_replays_total", dimensions: [("verdict", label)]).increment()
        Metrics.Timer(label: "sharechain_verifier_replay_seconds").record(duration: ContinuousClock.now - started)
        return verdict
    }

    func replay(_ request: AdjudicationRequest) throws -> AdjudicationVerdict {
        let shard = request.shard
        guard let path = weights.files[shard.weightsSHA256] else {
            throw WeightsError("no weights with SHA-256 \(shard.weightsSHA256.hex) in \(weights.directory)")
        }
        if let why = PassChecks.tokenMismatch(input: request.input, tokenCount: request.tokenCount, pool: request.pool) {
            return .invalidInput(why)
        }
        let verdict = try replayer.replay(model: PoolModels.config(request.pool), shard: PoolModels.shard(shard),
                                          weights: WeightsRef(path: path, sha256: shard.weightsSHA256),
                                          input: request.input, positionOffset: request.positionOffset)
        switch verdict {
        case .output(let h): return .output(h)
        case .invalidInput(let why): return .invalidInput(why)
        case .invalidOutput(let why): return .invalidOutput(why)
        }
    }
}

/// Checks shared by validators (adjudication) and verifiers (before proving fraud).
public enum PassChecks {
    /// A reason when the revealed input does not carry exactly the tokens its leaf claims (such a pass is
    /// invalid, hence fraud); nil when it does or when the input is malformed (the replayer reports that).
    public static func tokenMismatch(input: [UInt8], tokenCount: UInt32, pool: PoolConfig) -> String? {
        guard let tensor = try? Tensor(tns1: input, maxElements: pool.maxInputElements),
              tensor.shape.first != Int(tokenCount) else { return nil }
        return "input has \(tensor.shape.first ?? 0) tokens, the leaf claims \(tokenCount)"
    }
}

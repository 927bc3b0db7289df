import CVerifierKernels
import Primitives
import Synchronization

/// The outcome of replaying a spot-check ticket: a verdict about the worker's pass.
public enum ReplayVerdict: Sendable, Equatable, CustomStringConvertible {
    /// The pass ran; `hash` is the tagged hash (`sharechain/tensor`) of the TNS1 encoding of the output.
    case output(hash: Hash32)
    /// The ticket's input is not a valid pass for this shard (malformed TNS1, wrong shape, too many
    /// tokens, position range out of bounds, NaN or infinity or negative zero in the input).
    case invalidInput(String)
    /// The pass produced NaN or infinity: no valid output exists for this input.
    case invalidOutput(String)

    public var description: String {
        switch self {
        case .output(let h): "output \(h)"
        case .invalidInput(let s): "invalid input: \(s)"
        case .invalidOutput(let s): "invalid output: \(s)"
        }
    }
}

/// A replay compared with the worker's committed output hash.
public enum TicketCheck: Sendable, Equatable {
    /// The recomputed output hash equals the committed one.
    case match
    /// The recomputed output hash differs (fraud): the recomputed hash is the evidence.
    case mismatch(recomputed: Hash32)
    /// The committed input is not a valid pass.
    case invalidInput(String)
    /// The pass has no valid output (NaN or infinity), so no committed hash can be right.
    case invalidOutput(String)
}

/// Bounds a replay enforces on ticket inputs.
public struct ReplayLimits: Sendable, Hashable {
    /// Largest token count of one pass.
    public var maxTokens: Int
    /// Largest position offset + tokens.
    public var maxPosition: Int

    /// Bounds; `maxPosition` is capped at `CanonExecutor.maxPosition`.
    public init(maxTokens: Int = 2048, maxPosition: Int = CanonExecutor.maxPosition) {
        self.maxTokens = maxTokens
        self.maxPosition = min(maxPosition, CanonExecutor.maxPosition)
    }
}

/// Replays spot-check tickets with `canon-f32-v1`: the adjudicator the ledger injects.
///
/// Loaded shards are cached (least recently used evicted first) within `cacheBytes` of arranged
/// weights; a shard larger than the whole budget is kept alone (the others evicted), since the replay held it in
/// memory anyway: otherwise every replay on a large shard (a real model's) reloaded it and re-hashed its weight file,
/// seconds each, several times a block. Thread-safe: replays run concurrently; a shard missing from the cache is
/// loaded outside the lock (two threads missing the same shard at once may both load it; one copy is kept).
public final class ShardReplayer: Sendable {
    struct Key: Hashable {
        let model: ModelConfig
        let shard: ShardSpec
        let path: String
        let sha256: Hash32
        let format: WeightFormat?
    }

    struct Entry {
        let executor: CanonExecutor
        var lastUse: UInt64
    }

    struct Cache {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        var loads = 0
    }

    /// Budget for cached shards, in bytes of arranged weights.
    public let cacheBytes: Int
    /// Input bounds.
    public let limits: ReplayLimits
    /// Worker threads per replay.
    public let threads: Int
    private let cache = Mutex(Cache())

    /// - Parameters:
    ///   - cacheBytes: memory budget of the shard cache (a shard larger than the budget is kept alone, until another
    ///     shard is used).
    ///   - limits: input bounds.
    ///   - threads: worker threads per replay (results do not depend on it).
    public init(cacheBytes: Int = 2 << 30, limits: ReplayLimits = ReplayLimits(), threads: Int = 1) {
        self.cacheBytes = cacheBytes
        self.limits = limits
        self.threads = max(1, threads)
    }

    /// Number of shards loaded from disk so far (cache misses).
    public var loadCount: Int { cache.withLock { $0.loads } }
    /// Bytes held by cached shards.
    public var cachedBytes: Int { cache.withLock { $0.bytes } }
    /// Number of cached shards.
    public var cachedShards: Int { cache.withLock { $0.entries.count } }

    /// The executor of a shard, from the cache or loaded (and SHA-256-verified) from `weights`.
    public func executor(model: ModelConfig, shard: ShardSpec, weights: WeightsRef) throws(WeightError) -> CanonExecutor {
        let key = Key(model: model, shard: shard, path: weights.path, sha256: weights.sha256, format: weights.format)
        let hit: CanonExecutor? = cache.withLock { c in
            guard var e = c.entries[key] else { return nil }
            c.tick += 1
            e.lastUse = c.tick
            c.entries[key] = e
            return e.executor
        }
        if let hit { return hit }
        let loaded = try CanonExecutor.load(model: model, shard: shard, weights: weights)
        return cache.withLock { c in
            c.loads += 1
            c.tick += 1
            if let existing = c.entries[key] {
                c.entries[key]?.lastUse = c.tick
                return existing.executor
            }
            while c.bytes + loaded.byteSize > cacheBytes, let victim = c.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                c.bytes -= victim.value.executor.byteSize
                c.entries[victim.key] = nil
            }
            c.entries[key] = Entry(executor: loaded, lastUse: c.tick)
            c.bytes += loaded.byteSize
            return loaded
        }
    }

    /// Replays one pass: decodes the TNS1 input, checks it against the model and the limits, runs the
    /// shard and hashes the output.
    ///
    /// - Throws: `WeightError` when the node cannot adjudicate (missing or corrupt weight file, SHA-256
    ///   different from the pin, tensors inconsistent with the configuration). Problems with the ticket
    ///   itself are verdicts, not errors.
    public func replay(model: ModelConfig, shard: ShardSpec, weights: WeightsRef, input: [UInt8],
                       positionOffset: UInt64) throws(WeightError) -> ReplayVerdict {
        let H = model.hiddenSize
        let tensor: Tensor
        do {
            let (cap, overflow) = limits.maxTokens.multipliedReportingOverflow(by: max(1, H))
            tensor = try TNS1.decode(input, maxElements: overflow ? Int.max : cap)
        } catch {
            return .invalidInput(error.description)
        }
        guard tensor.shape.count == 2, tensor.shape[1] == H else {
            return .invalidInput("shape \(tensor.shape), expected [tokens, \(H)]")
        }
        let T = tensor.shape[0]
        guard T <= limits.maxTokens else { return .invalidInput("\(T) tokens exceed the limit \(limits.maxTokens)") }
        guard T <= limits.maxPosition, positionOffset <= UInt64(limits.maxPosition - T) else {
            return .invalidInput("positions \(positionOffset)+\(T) exceed \(limits.maxPosition)")
        }
        if let bad = tensor.data.firstIndex(where: { !$0.isFinite }) {
            return .invalidInput("input element \(bad) is NaN or infinite")
        }
        // The ledger's canonical input (Specs/economics.md §3, `CanonicalInput.isValid`): one encoding per activation,
        // so no negative zero. The sealed path never shows the plaintext to the ledger, so this replay (checkers,
        // verifiers, validators) is what enforces it there; accepting −0 let a sign-of-zero copy of a pass pass its check.
        if let z = tensor.data.firstIndex(where: { $0.bitPattern == 0x8000_0000 }) {
            return .invalidInput("input element \(z) is negative zero (not a canonical input)")
        }
        // Every node must reach the same bits: a flush-to-zero or rounding-mode change made by some library in this
        // process would silently change verdicts on passes with subnormals and split the validators. Refusing is a fault
        // this node reports (the adjudication fails) rather than a divergent verdict (ninth review H1).
        guard canon_fp_environment_is_canonical() else { throw .floatingPointEnvironment }
        let exec = try executor(model: model, shard: shard, weights: weights)
        do {
            let out = try exec.run(tensor, positionOffset: Int(positionOffset), threads: threads)
            return .output(hash: out.hash)
        } catch {
            switch error {
            case .invalidInput(let s): return .invalidInput(s)
            case .nonFiniteOutput: return .invalidOutput(error.description)
            }
        }
    }

    /// Replays a ticket and compares with the worker's committed output hash.
    public func check(model: ModelConfig, shard: ShardSpec, weights: WeightsRef, input: [UInt8],
                      positionOffset: UInt64, committedOutputHash: Hash32) throws(WeightError) -> TicketCheck {
        switch try replay(model: model, shard: shard, weights: weights, input: input, positionOffset: positionOffset) {
        case .output(let h): h == committedOutputHash ? .match : .mismatch(recomputed: h)
        case .invalidInput(let s): .invalidInput(s)
        case .invalidOutput(let s): .invalidOutput(s)
        }
    }
}

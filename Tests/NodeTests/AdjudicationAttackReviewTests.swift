import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
import TestSupport
import Verifier

/// Review C: the validators' adjudicator and the checkers' replay must judge a pass input exactly as the ledger's
/// canonical-input rule does (`CanonicalInput.isValid`: finite values, no negative zero), or the same plaintext gets
/// two verdicts depending on which path reaches the validators (finding C1).
@Suite struct AdjudicationAttackReviewTests {
    static func setup() throws -> (WeightsIndex, PoolConfig, [UInt8], [UInt8]) {
        let index = try WeightsIndex(directory: repositoryRoot.appendingPathComponent("Genesis/models").path)
        let genesis = try GenesisDocument.decode(Data(EmbeddedGenesis.devnet.utf8)).resolve()
        var pool = genesis.allocation.pools[0]
        pool.shards = [PoolShard(layerStart: 0, layerEnd: 4, finalNorm: true, weightsSHA256: pool.shards[0].weightsSHA256,
                                 priceInputToken: 1, priceOutputToken: 1)]
        let example = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("Genesis/models/tiny/example.in.tns")))
        // The same activation twice: element 3 set to +0 (canonical), and its copy with −0.
        var canonical = example
        var copy = example
        for i in 0..<4 { canonical[22 + 12 + i] = 0; copy[22 + 12 + i] = i == 3 ? 0x80 : 0 }
        return (index, pool, canonical, copy)
    }

    @Test func adjudicatorAndCheckersRejectANegativeZeroInputLikeTheLedger() throws {
        let (index, pool, canonical, copy) = try Self.setup()
        #expect(CanonicalInput.isValid(canonical, tokens: 4, hidden: pool.model.hiddenSize))
        #expect(!CanonicalInput.isValid(copy, tokens: 4, hidden: pool.model.hiddenSize), "the ledger's rule rejects −0")
        let adjudicator = VerifierAdjudicator(weights: index)
        let good = try adjudicator.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: canonical, positionOffset: 0, tokenCount: 4))
        guard case .output = good else { Issue.record("canonical input: \(good)"); return }
        let v = try adjudicator.adjudicate(AdjudicationRequest(pool: pool, shardIndex: 0, input: copy, positionOffset: 0, tokenCount: 4))
        guard case .invalidInput = v else { Issue.record("validators' replay of a −0 input: \(v), expected invalidInput"); return }
        // The checkers' and verifiers' replay (CheckerService / VerifierService go through TicketReplay).
        let leaf = PassLeaf(index: 0, shard: 0, positionOffset: 0, tokenCount: 4, inputHash: Tags.tensor.hash(copy), outputHash: .zero)
        let c = try TicketReplay.replay(leaf: leaf, input: copy, pool: pool, weights: index,
                                        replayer: ShardReplayer(limits: ReplayLimits(maxTokens: Int(UInt32.max))))
        guard case .invalidInput = c else { Issue.record("checkers' replay of a −0 input: \(c), expected invalidInput"); return }
    }
}

extension AdjudicationAttackReviewTests {
    /// Finding C5 (low, genesis-trusted): genesis checks a pool's shard layer ranges but not that the canonical
    /// executor can run its model. The node started (its weights check only looked for the files), and the first fraud
    /// claim in such a pool made the adjudicator throw, which `processAdjudications` turns into a ledger fault on every
    /// validator: the chain halts at the first claim. The node must refuse to start instead.
    @Test func aPoolTheExecutorCannotRunIsRefusedAtStartupNotAtTheFirstClaim() throws {
        let (index, pool, canonical, _) = try Self.setup()
        var bad = pool
        bad.model.numKVHeads = 3  // 4 query heads are not a multiple of 3 kv heads
        // What the first adjudication in that pool does: an error, i.e. a ledger fault in block processing.
        #expect(throws: (any Error).self) {
            _ = try VerifierAdjudicator(weights: index).adjudicate(
                AdjudicationRequest(pool: bad, shardIndex: 0, input: canonical, positionOffset: 0, tokenCount: 4))
        }
        try index.check(pools: [pool])
        #expect(throws: WeightsError.self) { try index.check(pools: [bad]) }
    }

    /// Eighth review (low, genesis-trusted): the startup check only looked for a file with the pinned hash, so a pinned
    /// file that does not hold the shard (another model's weights, a truncated export) started the node and failed at
    /// the pool's first fraud claim, a ledger fault on every validator. Each shard is now loaded once at startup.
    @Test func aPinnedFileThatDoesNotHoldTheShardIsRefusedAtStartup() throws {
        let dir = TempDir("weights-check")
        let junk = Array("{\"not\": \"a model\"}".utf8)
        var header = withUnsafeBytes(of: UInt64(junk.count).littleEndian) { Array($0) }
        header += junk
        let path = (dir.path as NSString).appendingPathComponent("other.safetensors")
        try Data(header).write(to: URL(fileURLWithPath: path))
        let index = try WeightsIndex(directory: dir.path)
        let (_, good, _, _) = try Self.setup()
        var pool = good
        pool.shards[0].weightsSHA256 = SHA256.hash(header)
        #expect(index.files[pool.shards[0].weightsSHA256] != nil, "the pinned hash is found")
        #expect { try index.check(pools: [pool]) } throws: { "\($0)".contains("does not hold this shard") }
    }
}

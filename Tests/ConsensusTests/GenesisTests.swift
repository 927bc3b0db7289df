import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

@Suite struct GenesisTests {
    let v0 = key("v0"), v1 = key("v1"), alice = key("alice")

    func load(_ json: String) throws -> Genesis { try GenesisDocument.decode(Data(json.utf8)).resolve() }

    @Test func parsesAndHashesDeterministically() throws {
        let g = try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)]))
        #expect(g.allocation.validators.map(\.key) == [v0.publicKey, v1.publicKey])
        #expect(g.allocation.balances.first?.amount == 5000)
        #expect(g.ledger.unbondingBlocks == 300)
        #expect(g.ledger.jailBlocks == LedgerParams().jailBlocks)
        #expect(g.allocation.pools[0].model.rmsNormEpsBits == 0x3727_c5ac)
        // The same document gives the same chain id; any change gives another.
        #expect(try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)])).chainId == g.chainId)
        #expect(try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5001)])).chainId != g.chainId)
        #expect(try load(sampleGenesisJSON(validators: [v1, v0], balances: [(alice, 5000)])).chainId != g.chainId)
        // Whitespace and key order of the JSON do not matter: the id hashes the canonical form.
        let compact = sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)]).replacingOccurrences(of: "\n", with: " ")
        #expect(try load(compact).chainId == g.chainId)
        #expect(g.slot(atMillis: 1_700_000_000_000 + 25_000) == 2)
        #expect(g.slotStartMillis(3) == 1_700_000_030_000)
    }

    @Test func rejectsBadDocumentsWithClearErrors() throws {
        func error(_ json: String) -> String {
            do { _ = try load(json); return "accepted" } catch { return "\(error)" }
        }
        #expect(error("{") .contains("malformed JSON"))
        #expect(error(sampleGenesisJSON(validators: [], balances: [])).contains("no validators"))
        #expect(error(sampleGenesisJSON(validators: [v0, v0], balances: [])).contains("duplicate validator"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, 1), (alice, 2)])).contains("duplicate balance"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, 0)])).contains("zero balance"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, UInt64.max)])).contains("overflows"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "canon-f32-v1", with: "fast-f16")).contains("unknown executor spec"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"stake\": \"1000\"", with: "\"stake\": \"0\"")).contains("zero stake"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "0x3727c5ac", with: "1e-5")).contains("bit pattern"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"shr1", with: "\"tshr1")).contains("address"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"layerEnd\": 2", with: "\"layerEnd\": 9")).contains("layer range"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"unbondingBlocks\": 300", with: "\"unbondingBlocks\": 100")).contains("unbondingBlocks"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [], poolExtra: ", \"payableCapBps\": 9000")).contains("payableCapBps"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"addressPrefix\"", with: "\"adressPrefix\"")).contains("unknown ledger parameter 'adressPrefix'"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"chainName\": \"test-chain\",", with: "")).contains("chainName"))
        // Staking F2: a hop-challenge span of one or two blocks lets one or two proposers censor a window's challenges.
        func beacon(_ delay: Int, _ maxDelay: Int) -> String {
            sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(
                of: "\"unbondingBlocks\": 300", with: "\"unbondingBlocks\": 300, \"beaconDelay\": \(delay), \"beaconMaxDelay\": \(maxDelay)")
        }
        #expect(error(beacon(1, 1)).contains("must be at least 3 blocks"))
        #expect(error(beacon(2, 2)).contains("max(beaconDelay, beaconMaxDelay) is 2"))
        #expect(error(beacon(1, 3)) == "accepted")
        #expect(error(beacon(3, 3)) == "accepted")
    }

    /// Ninth review (open until now): adjudications were bounded by count only, so a genesis with a large shard let a few
    /// false claims per block (each costing one bond) take longer than the slot to replay on every validator. A pool the
    /// size of Qwen2.5-0.5B as one shard, 64 tokens a pass: ≈ 46 GFLOP a replay, so four a block exceed the 100 GFLOP of
    /// a 10 s slot and the genesis is refused naming the parameters; two replays a block, or two shards, fit.
    @Test func refusesAdjudicationsWhoseReplaysDoNotFitTheSlot() throws {
        let qwen = """
            "model": {"hiddenSize": 896, "numHeads": 14, "numKVHeads": 2, "headDim": 64, "intermediateSize": 4864, "numLayers": 24,
                      "rmsNormEpsBits": "0x358637bd", "ropeThetaBits": "0x49742400", "qkvBias": true},
            "shards": [SHARDS],
            """
        func shard(_ a: Int, _ b: Int) -> String {
            "{\"layerStart\": \(a), \"layerEnd\": \(b), \"finalNorm\": \(b == 24), \"weightsSHA256\": \"\(String(repeating: "ab", count: 32))\"}"
        }
        func document(shards: [String], adjudications: Int?, slotSeconds: Int = 10) throws -> String {
            var json = sampleGenesisJSON(validators: [v0], balances: [], poolExtra: ", \"maxTokensPerPass\": 64")
            let start = try #require(json.range(of: "\"model\":"))
            let end = try #require(json.range(of: "\"priceInputToken\""))
            json.replaceSubrange(start.lowerBound..<end.lowerBound, with: qwen.replacingOccurrences(of: "SHARDS", with: shards.joined(separator: ",")))
            if let adjudications {
                json = json.replacingOccurrences(of: "\"unbondingBlocks\": 300", with: "\"unbondingBlocks\": 300, \"maxAdjudicationsPerBlock\": \(adjudications)")
            }
            return json.replacingOccurrences(of: "\"slotSeconds\": 10", with: "\"slotSeconds\": \(slotSeconds)")
        }
        func error(_ json: String) -> String {
            do { _ = try load(json); return "accepted" } catch { return "\(error)" }
        }
        let refused = error(try document(shards: [shard(0, 24)], adjudications: nil))
        #expect(refused.contains("maxAdjudicationsPerBlock 4") && refused.contains("46154 MFLOP") && refused.contains("slotSeconds 10"), "\(refused)")
        #expect(error(try document(shards: [shard(0, 24)], adjudications: 2)) == "accepted")
        #expect(error(try document(shards: [shard(0, 12), shard(12, 24)], adjudications: nil)) == "accepted")
        // A longer slot has room for more replays; a shorter one for fewer.
        #expect(error(try document(shards: [shard(0, 24)], adjudications: nil, slotSeconds: 20)) == "accepted")
        #expect(error(try document(shards: [shard(0, 12), shard(12, 24)], adjudications: nil, slotSeconds: 5)).contains("replay budget"))
        // The tiny pool of the other tests and the shipped devnets replay in a few MFLOP.
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [])) == "accepted")
    }

    /// The replay cost counts every weight a pass multiplies and the attention over its own tokens, per layer of the
    /// largest shard: for Qwen2.5-0.5B (H 896, q 14·64, kv 2·64, I 4864) a layer and token is 2·896·896 + 2·896·128 +
    /// 3·896·4864 + 2·896·T multiply-adds, which at T = 64 over 24 layers is ≈ 46 GFLOP (verifier-canon-f32-v1.md §11).
    @Test func replayCostOfAPass() throws {
        let model = ModelSpec(hiddenSize: 896, numHeads: 14, numKVHeads: 2, headDim: 64, intermediateSize: 4864, numLayers: 24,
                              rmsNormEpsBits: 0x358637bd, ropeThetaBits: 0x49742400, qkvBias: true)
        func shard(_ a: UInt32, _ b: UInt32) -> PoolShard {
            PoolShard(layerStart: a, layerEnd: b, finalNorm: b == 24, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 1)
        }
        let perTokenLayer: UInt64 = 2 * 896 * 896 + 2 * 896 * 128 + 3 * 896 * 4864 + 2 * 896 * 64
        var pool = PoolConfig(id: 0, modelId: "qwen", executorSpec: "canon-f32-v1", model: model, shards: [shard(0, 24)], minWorkerStake: 1)
        pool.maxTokensPerPass = 64
        #expect(pool.maxReplayFlops == 2 * 24 * 64 * perTokenLayer)
        #expect(pool.maxReplayFlops.map { $0 / 1_000_000_000 } == 46)
        // The largest shard counts, not the sum.
        pool.shards = [shard(0, 6), shard(6, 24)]
        #expect(pool.maxReplayFlops == 2 * 18 * 64 * perTokenLayer)
        // A count beyond 64 bits is no count.
        pool.model.hiddenSize = .max; pool.model.intermediateSize = .max
        #expect(pool.maxReplayFlops == nil)
    }

    @Test func shippedGenesisFilesLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["devnet.json", "devnet-4.json"] {
            let path = root.appendingPathComponent("Genesis/\(name)").path
            guard FileManager.default.fileExists(atPath: path) else {
                Issue.record("Genesis/\(name) is missing")
                continue
            }
            let g = try GenesisDocument.load(path: path)
            #expect(!g.allocation.validators.isEmpty)
            #expect(!g.allocation.pools.isEmpty)
        }
    }
}

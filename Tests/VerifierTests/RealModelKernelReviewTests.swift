import Foundation
import Primitives
import Testing
@testable import Verifier

extension ExecutorAttackReviewTests {
    /// Regression (held): on real weights (SmolLM2-135M, GGUF Q4_1, llama-permuted q/k; tools/fetch-models), a whole
    /// pass on the portable kernel only — what a validator on a CPU without AVX2 computes — gives the numpy reference's
    /// canonical output bit for bit, like the run-time-selected kernel does in `RealModelTests`.
    @Test func realModelPassOnThePortableKernelMatchesTheReference() throws {
        let path = try TestFiles.cachedModel("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let meta = try JSONDecoder().decode(RealModelTests.SmolMeta.self, from: Data(TestFiles.resource("smollm2/meta.json")))
        let file = try GGUFFile(path: path)
        let input = try Tensor(tns1: TestFiles.resource("smollm2/input.tns"))
        let shard = ShardSpec(layerStart: meta.layer_start, layerEnd: meta.layer_end, finalNorm: meta.final_norm)
        let exec = try CanonExecutor.load(model: try file.modelConfig(), shard: shard, weights: WeightsRef(path: path, sha256: file.sha256()))
        let out = try exec.run(input, positionOffset: meta.position_offset, threads: 1, kernel: .portable)
        #expect(out.hash.hex == meta.canon_output_hash)
    }
}

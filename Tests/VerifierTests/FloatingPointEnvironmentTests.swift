import CVerifierKernels
import Foundation
import Testing
@testable import Verifier

extension ExecutorAttackReviewTests {
    /// Ninth review H1: a library that switches the process to another rounding mode (or flush-to-zero, as code built
    /// with -ffast-math does) would silently change verdicts on some passes and split the validators. The replay checks
    /// the environment first and refuses to adjudicate in a wrong one; in the right one it replays as before.
    @Test func aReplayRefusesToRunInANonCanonicalFloatingPointEnvironment() throws {
        let (d, w) = try Self.tiny()
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        let input = [UInt8](try Data(contentsOf: root.appendingPathComponent("example.in.tns")))
        let replayer = ShardReplayer()
        #expect(canon_fp_environment_is_canonical())
        guard case .output = try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: input, positionOffset: 0) else {
            Issue.record("the example input must replay"); return
        }
        // The rounding mode is per thread and nothing here suspends, so the change stays within this test.
        for mode: Int32 in [FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO] {
            #expect(fesetround(mode) == 0)
            defer { let nearest: Int32 = FE_TONEAREST; fesetround(nearest) }
            #expect(!canon_fp_environment_is_canonical(), "rounding mode \(mode) passed as canonical")
            #expect(throws: WeightError.floatingPointEnvironment) {
                try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: input, positionOffset: 0)
            }
        }
        #expect(canon_fp_environment_is_canonical())
    }
}

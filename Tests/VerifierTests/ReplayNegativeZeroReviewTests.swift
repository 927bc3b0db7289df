import Foundation
import Primitives
import Testing
@testable import Verifier

extension ExecutorAttackReviewTests {
    /// Attack (finding C1, pools with checkers): the ledger defines a pass input as a canonical TNS1 tensor with finite
    /// values and **no negative zero** (Specs/economics.md §3: one activation, one encoding, one content key; copies made by
    /// flipping signs of zeros are rejected at reveal). The sealed path never shows the plaintext to the ledger: the
    /// checkers and the validators' replay are the only judges, and both rely on this replay's verdict. Before the fix
    /// the replay accepted −0, so a worker could commit a "new" pass that is a sign-of-zero copy of another (same work,
    /// another content key, same output), honest checkers answered its output hash, and a fraud claim against it was
    /// upheld (the claimant's bond burned) — while `publishSealKey` convicts the worker for the very same plaintext.
    /// The replay must call such an input invalid.
    @Test func negativeZeroCopyOfAnInputIsAnInvalidInputForTheReplay() throws {
        let (d, w) = try Self.tiny()
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        var canonical = try Tensor(tns1: [UInt8](try Data(contentsOf: root.appendingPathComponent("example.in.tns"))))
        canonical.data[3] = 0
        var copy = canonical
        copy.data[3] = -0.0
        #expect(canonical.hash != copy.hash, "a different input hash, so a different content key")
        let replayer = ShardReplayer()
        let ok = try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: canonical.tns1, positionOffset: 0)
        guard case .output = ok else { Issue.record("the canonical input must replay, got \(ok)"); return }
        let v = try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: copy.tns1, positionOffset: 0)
        guard case .invalidInput = v else {
            Issue.record("a −0 input must be an invalid input (the ledger's canonical rule), got \(v) (same output: \(v == ok))")
            return
        }
    }
}

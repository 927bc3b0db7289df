import Foundation
import Primitives
import Testing
@testable import Verifier

extension ExecutorAttackReviewTests {
    /// Finding C2 (low): `TNS1.decode` promises errors, never traps, for any `maxElements`, and `ShardReplayer` passes
    /// `Int.max` when `maxTokens × hidden` overflows. A header claiming 2^62 elements then made `header + 4 × count`
    /// overflow and trap (a crash of the node replaying the ticket) instead of reporting a truncated tensor.
    @Test func hugeDimensionsWithAnUnboundedLimitAreRejectedNotATrap() throws {
        func header(_ dims: [UInt64]) -> [UInt8] {
            var b: [UInt8] = TNS1.magic + [1, UInt8(dims.count)]
            for d in dims { for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: d >> (8 * UInt64(i)))) } }
            return b + [0, 0, 0x80, 0x3F]
        }
        for dims: [UInt64] in [[1 << 62, 1], [1 << 61, 2], [UInt64(Int.max), 1], [1 << 31, 1 << 31], [(1 << 62) - 1, 1]] {
            #expect(throws: TensorError.self) { _ = try TNS1.decode(header(dims), maxElements: Int.max) }
        }
        // Any limit, negative ones too (converting one to UInt64 trapped; eighteenth-session audit): nothing is admitted.
        for limit in [-1, Int.min, 0] {
            #expect(throws: TensorError.self) { _ = try TNS1.decode(header([1]), maxElements: limit) }
        }
        // Through the replayer, with limits whose product overflows (maxElements becomes Int.max).
        let (d, w) = try Self.tiny()
        let replayer = ShardReplayer(limits: ReplayLimits(maxTokens: Int.max))
        let v = try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: header([1 << 56, 64]), positionOffset: 0)
        guard case .invalidInput = v else { Issue.record("expected invalidInput, got \(v)"); return }
    }
}

extension ExecutorAttackReviewTests {
    /// Regression (held after C2): ticket inputs whose header lies about the shape — dimensions near 2^32 and 2^64,
    /// rank 0 and 9, truncated or extended data — are invalid inputs for the node's replay limits
    /// (`maxTokens = UInt32.max`), never a trap, and rejected before any weights are loaded.
    @Test func lyingHeadersAreInvalidInputsForTheNodesReplayLimits() throws {
        let (d, w) = try Self.tiny()
        let replayer = ShardReplayer(limits: ReplayLimits(maxTokens: Int(UInt32.max)))
        let root = TestFiles.repositoryRoot.appendingPathComponent("Genesis/models/tiny")
        let good = [UInt8](try Data(contentsOf: root.appendingPathComponent("example.in.tns")))
        func withDims(_ dims: [UInt64], data: Int = 4 * 64 * 4) -> [UInt8] {
            var b: [UInt8] = TNS1.magic + [1, UInt8(truncatingIfNeeded: dims.count)]
            for x in dims { for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: x >> (8 * UInt64(i)))) } }
            return b + good.suffix(data)
        }
        var cases: [[UInt8]] = []
        for t: UInt64 in [0, 5, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, 1 << 58, UInt64(Int.max), .max] {
            cases.append(withDims([t, 64]))
            cases.append(withDims([4, t]))
            cases.append(withDims([t, 64, 1]))
        }
        cases.append(withDims([]))
        cases.append(withDims(Array(repeating: 2, count: 9)))
        cases.append(withDims([4, 64], data: 4 * 64 * 4 - 1))
        cases.append(withDims([4, 64]) + [0])
        for (i, bytes) in cases.enumerated() {
            let v = try replayer.replay(model: d.config, shard: Self.whole, weights: w, input: bytes, positionOffset: 0)
            guard case .invalidInput = v else { Issue.record("case \(i): \(v)"); continue }
        }
        #expect(replayer.loadCount == 0)
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// The per-height queue records and the work record's commitment list (Specs/state-machine.md §1): seeded random
/// values round-trip, and every truncation or a trailing byte is refused.
@Suite struct StateRecordCodecTests {
    func hashes(_ g: inout SplitMix64, _ n: Int) -> [Hash32] {
        (0..<n).map { _ in Hash32(bytes: (0..<4).flatMap { _ in g.next().bigEndianBytes })! }
    }

    func checkStrict<T: CanonicalCodable & Equatable>(_ value: T) throws {
        let bytes = value.canonicalEncoding
        #expect(try T(canonicalEncoding: bytes) == value)
        for cut in 0..<bytes.count { #expect(throws: CodecError.self) { try T(canonicalEncoding: Array(bytes[0..<cut])) } }
        #expect(throws: CodecError.self) { try T(canonicalEncoding: bytes + [0]) }
    }

    @Test func queuesAndWorkRecordsRoundTripAndAreStrict() throws {
        var g = SplitMix64(seed: 12)
        for n in [0, 1, 2, 17, 300] {
            try checkStrict(IdQueue(hashes(&g, n)))
            let keys = (0..<n).map { i in StateKey.revealedPass(UInt32(i % 3), hashes(&g, 1)[0]) + Array(repeating: UInt8(i % 7), count: i % 3) }
            try checkStrict(KeyQueue(keys.sorted { $0.lexicographicallyPrecedes($1) }))
            let shards = (0..<(n % 4)).map { ShardWork(shard: UInt32($0), paidTokens: g.next(), earned: Amount(g.next() >> 1),
                                                       committedTokens: g.next(), commitments: UInt32(g.next() % 16)) }
            try checkStrict(WorkRecord(shards: shards, payers: UInt32(n), minCommitStake: Amount(g.next()), checkDeposit: Amount(g.next() >> 2),
                                       commitmentIds: hashes(&g, n % 40)))
        }
    }

    /// A queue length beyond what the bytes can hold is refused before any allocation.
    @Test func anAbsurdQueueLengthIsRefused() {
        var w = CanonicalWriter()
        w.length(IdQueue.maxIds)
        #expect(throws: CodecError.self) { try IdQueue(canonicalEncoding: w.bytes + Array(repeating: 0, count: 64)) }
        #expect(throws: CodecError.self) { try KeyQueue(canonicalEncoding: w.bytes + [1, 2]) }
    }
}

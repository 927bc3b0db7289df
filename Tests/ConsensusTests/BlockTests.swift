import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

@Suite struct BlockTests {
    let proposer = key("proposer"), alice = key("alice")
    let chainId = SHA256.hash([1, 2, 3])

    func header(height: UInt64 = 5, slot: UInt64 = 7, payload: UInt8 = 0) -> BlockHeader {
        BlockHeader(chainId: chainId, height: height, slot: slot, parent: SHA256.hash([payload]), timestamp: 1_700_000_070_000,
                    proposer: proposer.publicKey, randaoReveal: SHA256.hash([9]), txRoot: Block.txRoot([]),
                    receiptsRoot: SHA256.hash([4]), stateRoot: SHA256.hash([5]))
    }

    @Test func headerEncodingIsFixedSizeAndRoundTrips() throws {
        let sh = SignedHeader(header: header(), signedBy: proposer)
        let bytes = sh.canonicalEncoding
        #expect(bytes.count == BlockLimits.signedHeaderBytes)
        let back = try SignedHeader(canonicalEncoding: bytes)
        #expect(back == sh && back.hash == sh.hash && back.hasValidSignature)
        for cut in 0..<bytes.count { #expect(throws: CodecError.self) { try SignedHeader(canonicalEncoding: Array(bytes[0..<cut])) } }
        #expect(throws: CodecError.self) { try SignedHeader(canonicalEncoding: bytes + [0]) }
        // Flipping any byte of the header invalidates the signature.
        var tampered = bytes
        tampered[20] ^= 1
        #expect(try !SignedHeader(canonicalEncoding: tampered).hasValidSignature)
    }

    @Test func blockRoundTripsWithTransactions() throws {
        let txs = (0..<3).map { i in
            Transaction(chainId: chainId, sender: alice.publicKey, nonce: UInt64(i), fee: 500, body: .transfer(to: proposer.publicKey, amount: 1)).signed(by: alice)
        }
        var h = header()
        h.txRoot = Block.txRoot(txs)
        let b = Block(signedHeader: SignedHeader(header: h, signedBy: proposer), transactions: txs)
        let bytes = b.canonicalEncoding
        let back = try Block(canonicalEncoding: bytes, maxTransactions: 10)
        #expect(back == b)
        #expect(throws: CodecError.self) { try Block(canonicalEncoding: bytes, maxTransactions: 2) }
        #expect(try Block.decodeBody(b.bodyEncoding, maxTransactions: 10) == txs)
        #expect(Block.txRoot(txs) == Merkle.root(leafHashes: txs.map { Merkle.leafHash($0.id) }))
    }

    @Test func randomBytesNeverCrashTheBlockDecoder() {
        var g = SplitMix64(seed: 5)
        let valid = Block(signedHeader: SignedHeader(header: header(), signedBy: proposer), transactions: []).canonicalEncoding
        for _ in 0..<5_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &g) { bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            if Bool.random(using: &g) { bytes += (0..<Int.random(in: 0...50, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) } }
            _ = try? Block(canonicalEncoding: bytes, maxTransactions: 100)
        }
    }

    @Test func equivocationEvidenceNeedsTwoSignedHeadersForOneSlot() {
        let verifier = HeaderEquivocationVerifier()
        let a = SignedHeader(header: header(payload: 1), signedBy: proposer).canonicalEncoding
        let b = SignedHeader(header: header(payload: 2), signedBy: proposer).canonicalEncoding
        #expect(verifier.verify(headerA: a, headerB: b, chainId: chainId) == Equivocation(offender: proposer.publicKey, slot: 7))
        #expect(verifier.verify(headerA: a, headerB: a, chainId: chainId) == nil)
        #expect(verifier.verify(headerA: a, headerB: b, chainId: SHA256.hash([0])) == nil)
        let otherSlot = SignedHeader(header: header(slot: 8, payload: 2), signedBy: proposer).canonicalEncoding
        #expect(verifier.verify(headerA: a, headerB: otherSlot, chainId: chainId) == nil)
        let forged = SignedHeader(header: header(payload: 3), signature: alice.sign(digest: header(payload: 3).hash)).canonicalEncoding
        #expect(verifier.verify(headerA: a, headerB: forged, chainId: chainId) == nil)
        #expect(verifier.verify(headerA: [1, 2, 3], headerB: b, chainId: chainId) == nil)
    }
}

@Suite struct LeaderScheduleTests {
    @Test func leadersAreProportionalToStakeAndDeterministic() {
        let keys = (0..<3).map { key("l\($0)").publicKey }.sorted()
        let snapshot = ValidatorSnapshot(epoch: 0, seed: SHA256.hash([7]),
                                         validators: zip(keys, [1000, 2000, 7000]).map { .init(key: $0, stake: Amount(UInt64($1))) })
        var counts = [PublicKey: Int]()
        for slot in 0..<UInt64(20_000) { counts[LeaderSchedule.leader(of: slot, in: snapshot)!, default: 0] += 1 }
        #expect(abs(counts[keys[0]]! - 2_000) < 300)
        #expect(abs(counts[keys[1]]! - 4_000) < 400)
        #expect(abs(counts[keys[2]]! - 14_000) < 500)
        #expect(LeaderSchedule.leader(of: 42, in: snapshot) == LeaderSchedule.leader(of: 42, in: snapshot))
        var other = snapshot
        other.seed = SHA256.hash([8])
        let differs = (0..<UInt64(50)).contains { LeaderSchedule.leader(of: $0, in: snapshot) != LeaderSchedule.leader(of: $0, in: other) }
        #expect(differs)
        #expect(LeaderSchedule.leader(of: 1, in: ValidatorSnapshot(epoch: 0, seed: .zero, validators: [])) == nil)
    }
}

import Primitives
import PropertyTestSupport
import Testing

@testable import Sealing

/// The decoder is strict and total: every malformed input is a `SealingError`, never a trap.
@Suite struct SealingDecoderTests {
    let envelope: SealedEnvelope = try! SealedEnvelope.seal(
        plaintext: Fixture.plaintext(200), recipients: Fixture.keyPairs(3).map(\.publicKey), context: Fixture.context,
        randomness: Fixture.randomness(seed: 11))

    /// Byte offset of the recipient count and of the payload length prefix.
    let countAt = 1 + 32 + 32
    var payloadLengthAt: Int { countAt + 1 + 3 * SealedEnvelope.slotCount }

    @Test func truncationAtEveryLength() {
        let bytes = envelope.encoded
        for n in 0..<bytes.count {
            #expect(throws: SealingError.self, "prefix of \(n) bytes") { try SealedEnvelope(decoding: Array(bytes.prefix(n))) }
            do {
                _ = try SealedEnvelope(decoding: Array(bytes.prefix(n)))
            } catch {
                guard case .malformed(let e) = error, case .truncated = e.kind else {
                    Issue.record("prefix of \(n) bytes: \(error)")
                    continue
                }
            }
        }
        #expect(throws: Never.self) { try SealedEnvelope(decoding: bytes) }
    }

    @Test func trailingBytesRejected() {
        for extra in [[UInt8(0)], [1, 2, 3]] {
            do {
                _ = try SealedEnvelope(decoding: envelope.encoded + extra)
                Issue.record("accepted trailing bytes")
            } catch {
                guard case .malformed(let e) = error, e.kind == .trailingBytes(extra.count) else {
                    Issue.record("\(error)")
                    continue
                }
            }
        }
    }

    @Test func badVersions() {
        for v in [UInt8(0), 2, 0xff] {
            var b = envelope.encoded
            b[0] = v
            #expect(throws: SealingError.unsupportedVersion(v)) { try SealedEnvelope(decoding: b) }
        }
    }

    @Test func badRecipientCounts() {
        let b = envelope.encoded
        func with(count: [UInt8]) -> [UInt8] { Array(b[..<countAt]) + count + Array(b[(countAt + 1)...]) }
        #expect(throws: SealingError.recipientCount(0)) { try SealedEnvelope(decoding: with(count: [0])) }
        #expect(throws: SealingError.recipientCount(17)) { try SealedEnvelope(decoding: with(count: [17])) }
        #expect(throws: SealingError.recipientCount(1 << 20)) { try SealedEnvelope(decoding: with(count: [0x80, 0x80, 0x40])) }
        // Two and four slots where three are encoded: the input ends early or the payload prefix is misread.
        #expect(throws: SealingError.self) { try SealedEnvelope(decoding: with(count: [2])) }
        #expect(throws: SealingError.self) { try SealedEnvelope(decoding: with(count: [4])) }
        do {
            _ = try SealedEnvelope(decoding: with(count: [0x83, 0x00]))
            Issue.record("accepted a non-minimal count")
        } catch {
            #expect(error.specName == "nonMinimalLength")
        }
    }

    @Test func duplicateRecipientRejected() {
        var b = envelope.encoded
        let slot1 = countAt + 1 + SealedEnvelope.slotCount
        for i in 0..<32 { b[slot1 + i] = b[countAt + 1 + i] }
        #expect(throws: SealingError.duplicateRecipient(index: 1)) { try SealedEnvelope(decoding: b) }
    }

    @Test func oversizedPayloadRejectedBeforeReading() {
        let b = envelope.encoded
        // The real envelope with a lower maximum.
        #expect(throws: SealingError.plaintextTooLarge(count: 200, maximum: 199)) {
            try SealedEnvelope(decoding: b, maxPlaintextCount: 199)
        }
        #expect(throws: Never.self) { try SealedEnvelope(decoding: b, maxPlaintextCount: 200) }
        // A claimed 4 GiB payload in a tiny input: refused from the prefix alone.
        let huge = Array(b[..<payloadLengthAt]) + [0xff, 0xff, 0xff, 0xff, 0x0f]
        #expect(throws: SealingError.plaintextTooLarge(count: Int(UInt32.max) - 16, maximum: SealedEnvelope.defaultMaxPlaintextCount)) {
            try SealedEnvelope(decoding: huge)
        }
        // A payload shorter than its tag.
        let short = Array(b[..<payloadLengthAt]) + [15] + [UInt8](repeating: 0, count: 15)
        do {
            _ = try SealedEnvelope(decoding: short)
            Issue.record("accepted a payload shorter than the tag")
        } catch {
            #expect(error.specName == "payloadTooShort")
        }
    }

    /// Random mutations and random garbage never trap; whatever decodes re-encodes to the same bytes.
    @Test func randomInputsNeverCrash() async {
        let base = envelope.encoded
        await checkSeeds(count: 300) { seed in
            var rng = SplitMix64(seed: seed)
            var b: [UInt8]
            switch rng.next() % 3 {
            case 0: b = Fixture.bytes(Int(rng.next() % 600), &rng)
            case 1:
                b = base
                for _ in 0..<(1 + rng.next() % 4) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                b = Array(base.prefix(Int(rng.next() % UInt64(base.count + 1))))
                b += Fixture.bytes(Int(rng.next() % 40), &rng)
            }
            if let e = try? SealedEnvelope(decoding: b) {
                #expect(e.encoded == b)
            }
        }
    }
}

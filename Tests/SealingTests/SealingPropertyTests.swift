import Primitives
import PropertyTestSupport
import Testing

@testable import Sealing

/// Random plaintexts and recipient sets: every recipient opens what was sealed, sizes are exact, and the
/// encoding round-trips.
@Suite struct SealingPropertyTests {
    @Test func sealOpenRoundTrip() async {
        await checkSeeds(count: 60) { seed in
            var rng = SplitMix64(seed: seed)
            let k = 1 + Int(rng.next() % UInt64(SealedEnvelope.maxRecipients))
            // Mostly small, sometimes past the one- and two-byte LEB128 payload lengths.
            let count = rng.next() % 4 == 0 ? Int(rng.next() % 40_000) : Int(rng.next() % 300)
            let keys = Fixture.keyPairs(k, seed: rng.next())
            let plaintext = Fixture.bytes(count, &rng)
            let context = SealingContext(chainId: SHA256.hash(Fixture.bytes(8, &rng)), ticketId: SHA256.hash(Fixture.bytes(8, &rng)),
                                         inputHash: SHA256.hash(plaintext))
            let envelope = try SealedEnvelope.seal(plaintext: plaintext, recipients: keys.map(\.publicKey), context: context,
                                                   randomness: Fixture.randomness(seed: rng.next()))
            let bytes = envelope.encoded
            #expect(bytes.count == SealedEnvelope.encodedSize(plaintextCount: count, recipients: k))
            let decoded = try SealedEnvelope(decoding: bytes)
            #expect(decoded == envelope)
            #expect(decoded.encoded == bytes)
            for (i, key) in keys.enumerated() {
                #expect(try decoded.open(recipientIndex: i, keyPair: key, context: context) == plaintext)
            }
        }
    }
}

import Testing
@testable import Node
@testable import Primitives
import Sealing

/// The worker simulator's sealed reveals (review D): a reveal whose send failed after the node took it may still land,
/// so the retry must seal the identical envelope, or the ephemeral key the worker keeps for a dispute would not open
/// the envelope on chain (`publishSealKey` fails with `wrongSealKey`) and the honest worker would be convicted.
@Suite struct RevealSealingTests {
    @Test func aRetriedRevealSealsTheIdenticalEnvelopeSoTheKeptKeyOpensTheOneOnChain() throws {
        let checkers = try (1...3).map { i in try CheckerKeyPair(privateKey: SHA256.hash(Array("checker-\(i)".utf8)).bytes) }
        let context = SealingContext(chainId: SHA256.hash(Array("chain".utf8)), ticketId: SHA256.hash(Array("ticket".utf8)),
                                     inputHash: SHA256.hash(Array("input".utf8)))
        let plaintext = Array("an input tensor".utf8)
        var sealing = RevealSealing()
        func seal(_ sample: UInt32, _ sealing: inout RevealSealing) throws -> (SealedEnvelope, SealingRandomness) {
            let r = sealing.randomness(forSample: sample)
            return (try SealedEnvelope.seal(plaintext: plaintext, recipients: checkers.map(\.publicKey), context: context, randomness: r), r)
        }
        // The first attempt's answer is lost (it lands); the retry seals again and is the one remembered.
        let (landed, _) = try seal(3, &sealing)
        let (retried, kept) = try seal(3, &sealing)
        #expect(retried.encoded == landed.encoded, "a retry sealed a different envelope")
        // The dispute: the kept ephemeral key opens the envelope that landed.
        #expect(try landed.openAll(ephemeralPrivateKey: kept.ephemeralPrivateKey, context: context) == plaintext)
        // Another sample's reveal gets its own randomness.
        let (other, otherRandomness) = try seal(4, &sealing)
        #expect(other.encoded != landed.encoded)
        #expect(otherRandomness.ephemeralPrivateKey != kept.ephemeralPrivateKey)
    }
}

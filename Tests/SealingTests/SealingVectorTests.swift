import Foundation
import Primitives
import Testing

@testable import Sealing

/// Specs/vectors/sealing/*.json, written by the independent Python reference `tools/sealing_ref.py`: the Swift
/// implementation must produce the same bytes from the same keys and open them. Only the committed files are
/// read; the script is never run from here.
@Suite struct SealingVectorTests {
    struct Vector: Decodable {
        struct Context: Decodable { let chainId, ticketId, inputHash: String }
        struct Trace: Decodable { let sharedSecret, keyEncryptionKey, wrappedKey: String }
        struct Intermediate: Decodable {
            let ephemeralPublicKey, payloadKey, keyCommitment: String
            let recipients: [Trace]
        }
        let name: String
        let recipientPrivateKeys, recipientPublicKeys: [String]
        let ephemeralPrivateKey, contentSecret: String
        let context: Context
        let contextBytes, plaintext: String
        let intermediate: Intermediate
        let encodedSize: Int
        let envelope: String
    }

    struct Invalid: Decodable {
        struct Case: Decodable { let name, envelope, error: String }
        let cases: [Case]
    }

    static let names = ["k1-empty", "k3-small", "k3-row", "k16-max"]

    static func hex(_ s: String) throws -> [UInt8] { try Hex.decode(s) }

    @Test(arguments: names) func matchesReferenceByteForByte(name: String) throws {
        let v = try JSONDecoder().decode(Vector.self, from: RepositoryFiles.sealingVector("\(name).json"))
        let keys = try v.recipientPrivateKeys.map { try CheckerKeyPair(privateKey: Self.hex($0)) }
        #expect(try keys.map(\.publicKey.bytes) == v.recipientPublicKeys.map(Self.hex))
        let context = SealingContext(chainId: try Hash32(hex: v.context.chainId), ticketId: try Hash32(hex: v.context.ticketId),
                                     inputHash: try Hash32(hex: v.context.inputHash))
        #expect(context.bytes == (try Self.hex(v.contextBytes)))
        let randomness = try SealingRandomness(ephemeralPrivateKey: Self.hex(v.ephemeralPrivateKey),
                                               contentSecret: Self.hex(v.contentSecret))
        let plaintext = try Self.hex(v.plaintext)

        // Intermediate values first, so a mismatch says which step differs.
        let derived = SealedEnvelope.contentKeys(secret: randomness.contentSecret)
        #expect(derived.payloadKey.withUnsafeBytes { Array($0) } == (try Self.hex(v.intermediate.payloadKey)))
        #expect(derived.commitment == (try Self.hex(v.intermediate.keyCommitment)))

        let envelope = try SealedEnvelope.seal(plaintext: plaintext, recipients: keys.map(\.publicKey), context: context,
                                               randomness: randomness)
        #expect(envelope.ephemeralPublicKey == (try Self.hex(v.intermediate.ephemeralPublicKey)))
        for (i, trace) in v.intermediate.recipients.enumerated() {
            #expect(envelope.slots[i].wrappedKey == (try Self.hex(trace.wrappedKey)), "slot \(i)")
        }
        let expected = try Self.hex(v.envelope)
        #expect(envelope.encoded == expected)
        #expect(expected.count == v.encodedSize)
        #expect(SealedEnvelope.encodedSize(plaintextCount: plaintext.count, recipients: keys.count) == v.encodedSize)

        // The reference's bytes decode and open for every recipient.
        let decoded = try SealedEnvelope(decoding: expected)
        for (i, key) in keys.enumerated() {
            #expect(try decoded.open(recipientIndex: i, keyPair: key, context: context) == plaintext)
        }
    }

    @Test func invalidEncodingsRejectedWithTheSpecError() throws {
        let file = try JSONDecoder().decode(Invalid.self, from: RepositoryFiles.sealingVector("invalid.json"))
        #expect(file.cases.count >= 10)
        for c in file.cases {
            do {
                _ = try SealedEnvelope(decoding: Self.hex(c.envelope))
                Issue.record("\(c.name): decoded")
            } catch let e as SealingError {
                #expect(e.specName == c.error, "\(c.name)")
            }
        }
    }

    /// Every file in the directory is one this test knows, so a new vector cannot go unchecked.
    @Test func everyVectorFileIsChecked() throws {
        let dir = RepositoryFiles.root.appendingPathComponent("Specs/vectors/sealing")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files == (Self.names.map { "\($0).json" } + ["invalid.json"]).sorted())
    }
}

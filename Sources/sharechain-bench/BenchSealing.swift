import ArgumentParser
import Crypto
import Foundation
import Primitives
import Sealing

/// Sealed spot-check inputs (Specs/sealing.md): seal and open times for k recipients, each beside raw
/// ChaCha20-Poly1305 of the same bytes in the same run (the floor any envelope pays), so the ratio shows
/// what the per-recipient X25519 + HKDF work and the envelope's copies add.
struct BenchSealing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealing", abstract: "Sealed inputs: seal and open time against raw ChaCha20-Poly1305 of the same bytes.")

    @Option(help: "Seconds per measurement.") var seconds: Double = 1.0
    @Option(help: "Recipients (checkers) per envelope.") var recipients: Int = 3
    @Option(help: "Plaintext sizes in bytes (default: one 576-wide float32 row × 6 tokens, and 256 KiB).")
    var sizes: [Int] = [576 * 4 * 6, 256 * 1024]

    func validate() throws {
        try requirePositiveSeconds(["--seconds": seconds])
        guard (1...SealedEnvelope.maxRecipients).contains(recipients) else {
            throw ValidationError("--recipients must be 1...\(SealedEnvelope.maxRecipients)")
        }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--sizes must be sizes of at least 0 bytes") }
    }

    func run() async throws {
        print("== sealed inputs (one core, k = \(recipients)) ==")
        var rng = SplitMix64(seed: 42)
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let keys = try (0..<recipients).map { _ in try CheckerKeyPair(privateKey: bytes(32)) }
        let context = SealingContext(chainId: Primitives.SHA256.hash(bytes(8)), ticketId: Primitives.SHA256.hash(bytes(8)), inputHash: Primitives.SHA256.hash(bytes(8)))
        let publicKeys = keys.map(\.publicKey)

        // The fixed cost: sealing does k + 1 X25519 operations (the ephemeral public key, then one shared
        // secret per recipient), opening one; a 32-byte AEAD and HKDF per slot are small beside them.
        let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKeys[0].bytes)
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let x25519 = try rate(seconds) { n in
            for _ in 0..<n { blackHole(try ephemeral.sharedSecretFromKeyAgreement(with: peer)) }
        }
        print("x25519 (one shared secret)  \(String(format: "%.1f µs", 1e6 / x25519).leftPad(11))")

        for size in sizes {
            let plaintext = bytes(size)
            let key = SymmetricKey(size: .bits256)
            let nonce = try ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12))
            let aad = context.bytes

            // Baseline: one AEAD seal of the same plaintext, with the bytes copied out as the envelope does.
            let rawSeal = try rate(seconds) { n in
                for _ in 0..<n {
                    let box = try ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: aad)
                    blackHole(Array(box.ciphertext) + Array(box.tag))
                }
            }
            // Fresh randomness every envelope, as production seals.
            let seal = try rate(seconds) { n in
                for _ in 0..<n {
                    blackHole(try SealedEnvelope.seal(plaintext: plaintext, recipients: publicKeys, context: context).encoded)
                }
            }
            line("seal \(label(size))", seal, baseline: rawSeal, bytes: size)

            let box = try ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: aad)
            let rawOpen = try rate(seconds) { n in
                for _ in 0..<n { blackHole(Array(try ChaChaPoly.open(box, using: key, authenticating: aad))) }
            }
            let encoded = try SealedEnvelope.seal(plaintext: plaintext, recipients: publicKeys, context: context).encoded
            // What a checker does with a reveal: decode the bytes, then open its own slot.
            let open = try rate(seconds) { n in
                for _ in 0..<n {
                    let envelope = try SealedEnvelope(decoding: encoded)
                    blackHole(try envelope.open(recipientIndex: 1, keyPair: keys[1], context: context))
                }
            }
            line("decode+open \(label(size))", open, baseline: rawOpen, bytes: size)
            // What a validator does: decode and size-check only.
            let validate = try rate(seconds) { n in
                for _ in 0..<n {
                    let envelope = try SealedEnvelope(decoding: encoded)
                    precondition(encoded.count == SealedEnvelope.encodedSize(plaintextCount: envelope.plaintextCount,
                                                                              recipients: envelope.slots.count))
                }
            }
            line("decode+size-check \(label(size))", validate, baseline: nil, bytes: size)
        }
    }

    private func label(_ size: Int) -> String {
        size % 1024 == 0 ? "\(size / 1024) KiB" : String(format: "%.1f KiB", Double(size) / 1024)
    }

    private func line(_ name: String, _ value: Double, baseline: Double?, bytes: Int) {
        let us = String(format: "%.1f µs", 1e6 / value)
        let mbs = String(format: "%.0f MB/s", value * Double(bytes) / 1e6)
        var out = "\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(us.leftPad(11))  \(mbs.leftPad(10))"
        if let baseline {
            out += "   raw ChaChaPoly \(String(format: "%.1f µs", 1e6 / baseline).leftPad(10))   ratio \(String(format: "%.2f", baseline / value)) (time)"
        }
        print(out)
    }
}

import Foundation
import Primitives
@testable import Sealing

/// Deterministic keys, contexts and plaintexts for the tests.
enum Fixture {
    /// `count` key pairs derived from `seed`.
    static func keyPairs(_ count: Int, seed: UInt64 = 1) -> [CheckerKeyPair] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in try! CheckerKeyPair(privateKey: bytes(32, &rng)) }
    }

    static func bytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func hash(_ label: String) -> Hash32 { SHA256.hash(Array(label.utf8)) }

    static let context = SealingContext(chainId: hash("chain"), ticketId: hash("ticket"), inputHash: hash("input"))

    /// Seeded sealing randomness (tests only; production draws fresh values).
    static func randomness(seed: UInt64) -> SealingRandomness {
        var rng = SplitMix64(seed: seed ^ 0x5EA1)
        return try! SealingRandomness(ephemeralPrivateKey: bytes(32, &rng), contentSecret: bytes(32, &rng))
    }

    static func plaintext(_ count: Int, seed: UInt64 = 7) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return bytes(count, &rng)
    }
}

/// Locates the repository's committed files (the vectors are read from the source tree, never generated).
enum RepositoryFiles {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func sealingVector(_ name: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent("Specs/vectors/sealing/\(name)"))
    }
}

extension SealingError {
    /// The error's case name, as `tools/sealing_ref.py` and Specs/sealing.md section 4.2 spell it.
    var specName: String {
        switch self {
        case .malformed(let e):
            switch e.kind {
            case .truncated: return "truncated"
            case .trailingBytes: return "trailingBytes"
            case .nonMinimalLength: return "nonMinimalLength"
            case .lengthOverflow: return "lengthOverflow"
            case .lengthExceedsMaximum: return "lengthExceedsMaximum"
            case .unknownTag: return "unknownTag"
            case .invalidValue: return e.field == "payload" ? "payloadTooShort" : "invalidValue"
            }
        case .unsupportedVersion: return "unsupportedVersion"
        case .recipientCount: return "recipientCount"
        case .duplicateRecipient: return "duplicateRecipient"
        case .plaintextTooLarge: return "plaintextTooLarge"
        default: return "\(self)"
        }
    }
}

import Crypto
import Primitives

/// Why sealing, decoding or opening a sealed input failed (Specs/sealing.md section 6).
///
/// Opening failures name what did not authenticate, so a checker can report *which* part of a worker's
/// envelope was bad when it opens a dispute; none of them carries secret material.
public enum SealingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a canonical envelope (truncated, trailing bytes, bad length prefix, over a maximum).
    case malformed(CodecError)
    /// The version byte is not one this implementation knows (only 1).
    case unsupportedVersion(UInt8)
    /// The recipient count is outside 1...16 (`SealedEnvelope.maxRecipients`).
    case recipientCount(Int)
    /// Two recipient slots name the same public key (the later slot's index).
    case duplicateRecipient(index: Int)
    /// The plaintext (or the ciphertext it implies) is larger than the maximum in force.
    case plaintextTooLarge(count: Int, maximum: Int)
    /// A key was not 32 bytes.
    case invalidKeyLength(Int)
    /// The shared secret with this recipient's key is all zero (a low-order point): the key is unusable.
    case weakRecipientKey(index: Int)
    /// The randomness given for sealing is not 32 + 32 bytes.
    case invalidRandomness
    /// The recipient index is not a slot of this envelope.
    case recipientIndexOutOfRange(index: Int, count: Int)
    /// No slot of this envelope is addressed to the given key pair's public key.
    case notARecipient
    /// The given key pair's public key is not the one slot `index` is addressed to.
    case keyMismatch(index: Int)
    /// The shared secret with the envelope's ephemeral key is all zero (the worker sent a low-order point).
    case keyAgreementFailed(index: Int)
    /// The wrapped content secret in slot `index` did not authenticate: wrong key, wrong context (another
    /// chain, ticket or input hash), or a modified slot or ephemeral key.
    case unwrapFailed(index: Int)
    /// The content secret from slot `index` does not match the envelope's key commitment: the worker wrapped
    /// different secrets for different checkers.
    case keyCommitmentMismatch(index: Int)
    /// The payload did not authenticate: a modified header or payload, or a wrong context.
    case payloadAuthenticationFailed
    /// A published ephemeral private key that is not the envelope's (dispute opening).
    case ephemeralKeyMismatch
    /// The AEAD refused to encrypt (it does only for a wrong key or nonce size, which this module fixes).
    case encryptionFailed

    public var description: String {
        switch self {
        case .malformed(let e): return "malformed sealed envelope: \(e)"
        case .unsupportedVersion(let v): return "unsupported sealed envelope version \(v)"
        case .recipientCount(let n): return "recipient count \(n) outside 1...\(SealedEnvelope.maxRecipients)"
        case .duplicateRecipient(let i): return "recipient \(i) repeats an earlier recipient's key"
        case .plaintextTooLarge(let n, let m): return "plaintext of \(n) bytes exceeds the maximum \(m)"
        case .invalidKeyLength(let n): return "X25519 key must be 32 bytes, got \(n)"
        case .weakRecipientKey(let i): return "recipient \(i)'s key is a low-order point (all-zero shared secret)"
        case .invalidRandomness: return "sealing randomness must be a 32-byte ephemeral key and a 32-byte content secret"
        case .recipientIndexOutOfRange(let i, let n): return "recipient index \(i) out of range 0..<\(n)"
        case .notARecipient: return "this key is not a recipient of the envelope"
        case .keyMismatch(let i): return "this key is not recipient \(i)'s key"
        case .keyAgreementFailed(let i): return "all-zero shared secret for recipient \(i): low-order ephemeral key"
        case .unwrapFailed(let i): return "recipient \(i)'s wrapped key did not authenticate (wrong key, wrong context or modified envelope)"
        case .keyCommitmentMismatch(let i): return "recipient \(i)'s content secret does not match the key commitment"
        case .payloadAuthenticationFailed: return "payload did not authenticate (wrong context or modified envelope)"
        case .ephemeralKeyMismatch: return "the published ephemeral private key is not the envelope's"
        case .encryptionFailed: return "ChaCha20-Poly1305 refused to encrypt"
        }
    }
}

/// A checker's X25519 public key: 32 raw bytes (RFC 7748 u-coordinate, little-endian).
public struct CheckerPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Wraps 32 raw bytes; any other length is rejected. The bytes are not otherwise validated here: a
    /// low-order key is refused when an envelope is sealed to it (`SealingError.weakRecipientKey`).
    public init(bytes: [UInt8]) throws(SealingError) {
        guard bytes.count == 32 else { throw .invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// Wraps bytes already known to be 32 long (decoder, key pair).
    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { Hex.encode(bytes) }

    /// Whether envelopes can be sealed to this key: its encoding is canonical (top bit clear, u-coordinate below
    /// p = 2^255 - 19) and its X25519 shared secret with a fixed scalar is not all zero. Clamped scalars are
    /// multiples of the cofactor, so a low-order point gives zero with every scalar and one test decides it;
    /// validators run it when a checker registers, so no registered key can make a worker's reveal impossible
    /// (Specs/verification.md §2). X25519 ignores the top bit and reduces u modulo p, so without the canonical
    /// test `R | 2^255` (or `R + p`) would be a second byte string for the same point, and the registry's
    /// byte-wise uniqueness check (`sealingKeyInUse`) would let another checker register an alias of an honest
    /// checker's key (review D, finding D1).
    public var isCanonical: Bool {
        guard bytes[31] & 0x80 == 0 else { return false }
        // u >= p only for 2^255 - 19 ... 2^255 - 1: bytes[31] = 0x7F, bytes[1...30] = 0xFF, bytes[0] >= 0xED.
        guard bytes[31] == 0x7F, bytes[1...30].allSatisfy({ $0 == 0xFF }) else { return true }
        return bytes[0] < 0xED
    }

    /// Whether a checker may register this key: canonical (`isCanonical`), not of low order, and in the prime-order
    /// subgroup. The last test closes the other way to alias a key: for `T` of order 2, 4 or 8, X25519 with any
    /// clamped scalar gives the same result for `R + T` as for `R` (e.g. `u(R + (0,0)) = 1/u(R)`, a canonical
    /// encoding of its own). `subgroupScalar` is the clamped scalar `m ≡ −1 (mod ℓ)`, `m ≡ 0 (mod 8)`, so
    /// `X25519(m, R) = u(−R_ℓ) = u(R_ℓ)`, where `R_ℓ` is `R`'s prime-order component: it equals `u(R)` exactly when `R`
    /// has no low-order component (and is on the curve, not its twist) (review D, finding D1).
    public var isUsableRecipient: Bool {
        guard isCanonical else { return false }
        guard let peer = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes),
              let probe = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x5A, count: 32)),
              let shared = try? probe.sharedSecretFromKeyAgreement(with: peer),
              let m = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: Self.subgroupScalar),
              let image = try? m.sharedSecretFromKeyAgreement(with: peer) else { return false }
        guard shared.withUnsafeBytes({ b in b.reduce(UInt8(0)) { $0 | $1 } != 0 }) else { return false }
        return image.withUnsafeBytes { Array($0) } == bytes
    }

    /// `m = 0x50000000000000000000000000000000685ae1592ed6102fb85bef83d0cd23a0` little-endian: `m ≡ −1 (mod ℓ)`,
    /// `m ≡ 0 (mod 8)`, bit 254 set and bit 255 clear, so X25519's clamping leaves it unchanged.
    static let subgroupScalar: [UInt8] = [
        0xA0, 0x23, 0xCD, 0xD0, 0x83, 0xEF, 0x5B, 0xB8, 0x2F, 0x10, 0xD6, 0x2E, 0x59, 0xE1, 0x5A, 0x68,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
    ]
}

/// A checker's X25519 key pair: the private key as 32 raw bytes (clamped by X25519 as RFC 7748 says) and
/// its public key. Immutable, so it can be shared across tasks.
public struct CheckerKeyPair: Sendable {
    let key: Curve25519.KeyAgreement.PrivateKey
    /// The public key senders seal to.
    public let publicKey: CheckerPublicKey

    /// A key pair from 32 raw private-key bytes.
    public init(privateKey: [UInt8]) throws(SealingError) {
        guard privateKey.count == 32 else { throw .invalidKeyLength(privateKey.count) }
        // swift-crypto accepts every 32-byte string (clamping happens inside X25519), so this cannot fail.
        guard let k = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey) else {
            throw .invalidKeyLength(privateKey.count)
        }
        self.init(k)
    }

    init(_ key: Curve25519.KeyAgreement.PrivateKey) {
        self.key = key
        publicKey = CheckerPublicKey(unchecked: Array(key.publicKey.rawRepresentation))
    }

    /// A fresh key pair from the system CSPRNG (swift-crypto's).
    public static func generate() -> CheckerKeyPair { CheckerKeyPair(Curve25519.KeyAgreement.PrivateKey()) }

    /// The 32 raw private-key bytes (for a key file; handle as a secret).
    public var privateKeyBytes: [UInt8] { Array(key.rawRepresentation) }
}

/// What a sealed input is bound to: the chain, the spot-check ticket and the input's clear hash
/// (Specs/sealing.md section 3). An envelope opened under any other context fails to authenticate, so a
/// worker cannot replay one ticket's envelope for another ticket or chain.
public struct SealingContext: Hashable, Sendable {
    /// The chain id (genesis hash).
    public let chainId: Hash32
    /// The spot-check ticket the input is revealed for.
    public let ticketId: Hash32
    /// The input tensor's hash, published in clear beside the envelope.
    public let inputHash: Hash32

    public init(chainId: Hash32, ticketId: Hash32, inputHash: Hash32) {
        self.chainId = chainId
        self.ticketId = ticketId
        self.inputHash = inputHash
    }

    /// The label every context starts with; a new envelope version gets a new label.
    public static let label: [UInt8] = Array("sharechain/sealed-input/v1".utf8)

    /// `label ‖ chainId ‖ ticketId ‖ inputHash` (26 + 96 bytes). Every part has a fixed length, so the
    /// concatenation is unambiguous without length prefixes.
    public var bytes: [UInt8] {
        var out = Self.label
        out.reserveCapacity(Self.label.count + 96)
        out += chainId.bytes
        out += ticketId.bytes
        out += inputHash.bytes
        return out
    }
}

/// The two random values one envelope consumes. Only for test vectors and benchmarks: an envelope sealed
/// twice with the same randomness leaks the XOR of the two plaintexts, so production code calls
/// `SealedEnvelope.seal(plaintext:recipients:context:)`, which draws fresh values.
public struct SealingRandomness: Sendable {
    /// The ephemeral X25519 private key (32 bytes).
    public let ephemeralPrivateKey: [UInt8]
    /// The content secret (32 bytes) from which the payload key and the key commitment are derived.
    public let contentSecret: [UInt8]

    public init(ephemeralPrivateKey: [UInt8], contentSecret: [UInt8]) throws(SealingError) {
        guard ephemeralPrivateKey.count == 32, contentSecret.count == 32 else { throw .invalidRandomness }
        self.init(checked: ephemeralPrivateKey, contentSecret)
    }

    /// Both already 32 bytes.
    private init(checked ephemeralPrivateKey: [UInt8], _ contentSecret: [UInt8]) {
        self.ephemeralPrivateKey = ephemeralPrivateKey
        self.contentSecret = contentSecret
    }

    /// Fresh values from the system CSPRNG.
    public static func fresh() -> SealingRandomness {
        // Both 32-byte draws come from swift-crypto's CSPRNG (BoringSSL's RAND_bytes, seeded by the kernel).
        let e = Array(Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
        let s = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        return SealingRandomness(checked: e, s)  // both draws are 32 bytes by construction
    }
}

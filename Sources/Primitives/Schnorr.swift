import COpenSSL
import CSecp256k1

/// The shared secp256k1 context for signing and key derivation.
///
/// libsecp256k1 documents contexts as safe for concurrent use by functions that take a `const` context
/// (everything except randomization), and randomization happens once, here, before publication.
final class Secp256k1Context: @unchecked Sendable {
    let pointer: OpaquePointer

    static let shared = Secp256k1Context()

    private init() {
        guard let ctx = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            preconditionFailure("secp256k1_context_create failed")
        }
        // Blinding against side channels; a fresh seed per process.
        var seed = SecureRandom.bytes(32)
        _ = secp256k1_context_randomize(ctx, &seed)
        pointer = ctx
    }

    /// The immutable static context, sufficient for verification and parsing.
    static var verification: OpaquePointer { sharechain_secp256k1_context_static() }
}

/// Errors from key handling.
public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A secret key is zero or not below the curve order.
    case invalidSecretKey
    /// A secret key or signature of the wrong size.
    case wrongLength(expected: Int, actual: Int)
    /// Signing failed inside libsecp256k1 (only possible with an invalid key).
    case signingFailed

    public var description: String {
        switch self {
        case .invalidSecretKey: return "secret key is zero or not below the secp256k1 group order"
        case .wrongLength(let e, let a): return "expected \(e) bytes, got \(a)"
        case .signingFailed: return "Schnorr signing failed"
        }
    }
}

/// A BIP-340 x-only public key (32 bytes). Any 32 bytes can be held; `isValid` tells whether they are the
/// x coordinate of a curve point, and verification against an invalid key always fails.
public struct PublicKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32 key bytes.
    public let rawValue: Hash32

    public init(rawValue: Hash32) { self.rawValue = rawValue }

    /// From exactly 32 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard let h = Hash32(bytes: bytes) else { return nil }
        rawValue = h
    }

    /// From 64 hex digits.
    public init(hex: String) throws(HexError) { rawValue = try Hash32(hex: hex) }

    public var bytes: [UInt8] { rawValue.bytes }
    public var hex: String { rawValue.hex }
    public var description: String { rawValue.hex }

    /// Whether the bytes are a valid x-only key (an x coordinate on the curve, below the field size).
    public var isValid: Bool {
        var parsed = secp256k1_xonly_pubkey()
        return rawValue.withUnsafeBytes { raw in
            secp256k1_xonly_pubkey_parse(Secp256k1Context.verification, &parsed,
                                         raw.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1
        }
    }

    /// Verifies a BIP-340 signature over `message` (any length).
    public func verify(_ signature: Signature, message: UnsafeRawBufferPointer) -> Bool {
        let ctx = Secp256k1Context.verification
        guard var parsed = ParsedKeyCache.shared.parsed(rawValue) else { return false }
        return signature.withUnsafeBytes { sig in
            secp256k1_schnorrsig_verify(ctx, sig.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                        message.count, &parsed) == 1
        }
    }

    /// Verifies a BIP-340 signature over `message`.
    public func verify(_ signature: Signature, message: [UInt8]) -> Bool {
        message.withUnsafeBytes { verify(signature, message: $0) }
    }

    /// Verifies a BIP-340 signature over a 32-byte digest (the protocol always signs tagged hashes).
    public func verify(_ signature: Signature, digest: Hash32) -> Bool {
        digest.withUnsafeBytes { verify(signature, message: $0) }
    }

    public static func < (a: PublicKey, b: PublicKey) -> Bool { a.rawValue < b.rawValue }
}

/// A BIP-340 signature (64 bytes: R.x then s).
public struct Signature: Hashable, Sendable, CustomStringConvertible {
    /// First 32 bytes (R.x).
    public let r: Hash32
    /// Last 32 bytes (s).
    public let s: Hash32

    public init(r: Hash32, s: Hash32) { self.r = r; self.s = s }

    /// From exactly 64 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 64 else { return nil }
        let a = Array(bytes)
        r = Hash32(bytes: a[0..<32])!
        s = Hash32(bytes: a[32..<64])!
    }

    /// From 128 hex digits.
    public init(hex: String) throws(HexError) {
        let b = try Hex.decode(hex, count: 64)
        self.init(bytes: b)!
    }

    public var bytes: [UInt8] { r.bytes + s.bytes }
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var pair = (r, s)
        return Swift.withUnsafeBytes(of: &pair) { body($0) }
    }

    /// All-zero placeholder (never a valid signature); used while building a value to be signed.
    public static let zero = Signature(r: .zero, s: .zero)
}

/// A BIP-340 secret key with its precomputed keypair.
///
/// The secret lives in one heap buffer that is wiped with `OPENSSL_cleanse` when the last reference goes
/// away; `description` never shows it. Copies of the secret exist only where the caller asks for them
/// (`secretBytes`, for writing a key file).
public final class PrivateKey: @unchecked Sendable, CustomStringConvertible {
    // Layout: 32 bytes secret key, then the 96-byte secp256k1_keypair. Immutable after init, which is
    // what makes sharing across threads safe.
    private let storage: UnsafeMutableRawPointer
    private static let keypairOffset = 32
    private static let size = 32 + MemoryLayout<secp256k1_keypair>.size

    /// The x-only public key.
    public let publicKey: PublicKey

    /// A key from 32 secret bytes; throws when they are zero or not below the group order.
    public init<C: Collection>(secretBytes: C) throws(KeyError) where C.Element == UInt8 {
        guard secretBytes.count == 32 else { throw .wrongLength(expected: 32, actual: secretBytes.count) }
        storage = UnsafeMutableRawPointer.allocate(byteCount: Self.size, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: Self.size)
        for (i, b) in secretBytes.enumerated() { storage.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
        let ctx = Secp256k1Context.shared.pointer
        let secret = storage.assumingMemoryBound(to: UInt8.self)
        let keypair = (storage + Self.keypairOffset).assumingMemoryBound(to: secp256k1_keypair.self)
        guard secp256k1_keypair_create(ctx, keypair, secret) == 1 else {
            OPENSSL_cleanse(storage, Self.size)
            storage.deallocate()
            throw .invalidSecretKey
        }
        var xonly = secp256k1_xonly_pubkey()
        var parity: Int32 = 0
        _ = secp256k1_keypair_xonly_pub(ctx, &xonly, &parity, keypair)
        var out = [UInt8](repeating: 0, count: 32)
        _ = secp256k1_xonly_pubkey_serialize(ctx, &out, &xonly)
        publicKey = PublicKey(bytes: out)!
    }

    /// A fresh key from the OS CSPRNG.
    public static func generate() -> PrivateKey {
        while true {
            var secret = SecureRandom.bytes(32)
            defer { secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, 32) } }
            if let key = try? PrivateKey(secretBytes: secret) { return key }
        }
    }

    /// From 64 hex digits.
    public convenience init(hex: String) throws {
        var bytes = try Hex.decode(hex, count: 32)
        defer { bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, 32) } }
        try self.init(secretBytes: bytes)
    }

    deinit {
        OPENSSL_cleanse(storage, Self.size)
        storage.deallocate()
    }

    /// A copy of the secret (for key files). The caller owns wiping it.
    public var secretBytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: storage, count: 32))
    }

    /// Signs `message` (any length) with the given 32 bytes of auxiliary randomness.
    public func sign(message: UnsafeRawBufferPointer, auxRand: Hash32) -> Signature {
        var out = (Hash32.zero, Hash32.zero)
        let keypair = (storage + Self.keypairOffset).assumingMemoryBound(to: secp256k1_keypair.self)
        var aux = auxRand
        let ok = withUnsafeMutableBytes(of: &out) { sigRaw in
            withUnsafeBytes(of: &aux) { auxRaw in
                sharechain_schnorrsig_sign(Secp256k1Context.shared.pointer,
                                           sigRaw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                           message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                                           keypair, auxRaw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // The keypair was validated at init, so signing cannot fail.
        precondition(ok == 1, "secp256k1 signing failed with a validated keypair")
        return Signature(r: out.0, s: out.1)
    }

    /// Signs a 32-byte digest with the given auxiliary randomness.
    public func sign(digest: Hash32, auxRand: Hash32) -> Signature {
        digest.withUnsafeBytes { sign(message: $0, auxRand: auxRand) }
    }

    /// Signs `message` with the given auxiliary randomness.
    public func sign(message: [UInt8], auxRand: Hash32) -> Signature {
        message.withUnsafeBytes { sign(message: $0, auxRand: auxRand) }
    }

    /// Signs a 32-byte digest with fresh auxiliary randomness from the OS CSPRNG.
    public func sign(digest: Hash32) -> Signature {
        digest.withUnsafeBytes { sign(message: $0, auxRand: SecureRandom.hash32()) }
    }

    public var description: String { "PrivateKey(public: \(publicKey.hex), secret: <redacted>)" }
}

extension PublicKey: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.hash(rawValue) }
    public init(from reader: inout CanonicalReader) throws(CodecError) { rawValue = try reader.hash("publicKey") }
}

extension Signature: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.hash(r); writer.hash(s) }
    public init(from reader: inout CanonicalReader) throws(CodecError) {
        r = try reader.hash("signature")
        s = try reader.hash("signature")
    }
}

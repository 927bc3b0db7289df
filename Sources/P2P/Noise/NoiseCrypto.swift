import COpenSSL
import Crypto
import Primitives

/// Why the Noise transport refused a peer or a record (Specs/p2p.md section 2). Every case ends the connection.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An AEAD tag did not verify: the bytes were altered, replayed, reordered, or the keys differ.
    case decryptionFailed
    /// A cipher's 64-bit nonce reached 2^64 − 1 (reserved by the Noise specification): the session must end.
    case nonceExhausted
    /// A Diffie-Hellman input was rejected (not a valid X25519 point, or a low-order point giving zero).
    case invalidPublicKey
    /// A handshake message or record does not have the size the protocol requires.
    case malformedMessage(String)
    /// A message was written or read out of turn.
    case outOfOrder
    /// The peer's first bytes are a plaintext (pre-Noise, protocol v1) frame.
    case plaintextPeer
    /// The peer announced another protocol version in its first handshake message.
    case wrongVersion(UInt32)
    /// The peer announced another chain in its first handshake message.
    case wrongChain(Hash32)
    /// The identity payload does not decode, or names an invalid node key.
    case badIdentity(String)
    /// The node key's signature over the Noise static key does not verify (a relay substituted its own
    /// static key, or the payload was forged).
    case identitySignatureInvalid
    /// The authenticated node key is not the one that was dialled.
    case identityMismatch(expected: PublicKey, got: PublicKey)
    /// The handshake did not finish in time.
    case timeout
    /// The connection closed before the handshake finished.
    case closed
    /// The crypto library reported an internal failure.
    case library(String)

    public var description: String {
        switch self {
        case .decryptionFailed: "record authentication failed (altered, replayed or reordered data)"
        case .nonceExhausted: "nonce space exhausted"
        case .invalidPublicKey: "invalid X25519 public key"
        case .malformedMessage(let m): "malformed Noise message: \(m)"
        case .outOfOrder: "Noise message out of turn"
        case .plaintextPeer: "peer speaks the unencrypted protocol (v1); encryption is required"
        case .wrongVersion(let v): "peer speaks protocol version \(v), we speak \(p2pProtocolVersion)"
        case .wrongChain(let c): "peer is on chain \(c.hex.prefix(16))"
        case .badIdentity(let m): "bad identity payload: \(m)"
        case .identitySignatureInvalid: "identity signature over the Noise static key does not verify"
        case .identityMismatch(let e, let g): "identity mismatch: dialled \(e.hex.prefix(16)), peer is \(g.hex.prefix(16))"
        case .timeout: "Noise handshake timed out"
        case .closed: "connection closed during the Noise handshake"
        case .library(let m): "crypto library failure: \(m)"
        }
    }
}

/// An X25519 key pair (swift-crypto's `Curve25519.KeyAgreement`, BoringSSL underneath) and the raw 32-byte
/// public key. X25519 is the handshake's cost (eight scalar multiplications per handshake, both sides):
/// BoringSSL's is markedly faster than OpenSSL 3.0's through EVP (measured 45 µs per operation there, about
/// 30 % more complete handshakes per second here). swift-crypto was already in the resolved package graph.
/// Immutable after creation: safe to share across event loops.
public final class X25519KeyPair: Sendable {
    let key: Curve25519.KeyAgreement.PrivateKey
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// A key from 32 raw private bytes (clamped by X25519 as usual).
    public init(privateKey: [UInt8]) throws(NoiseError) {
        guard privateKey.count == 32 else { throw .malformedMessage("X25519 private key must be 32 bytes") }
        do { key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey) } catch { throw .library("X25519 key: \(error)") }
        publicKey = Array(key.publicKey.rawRepresentation)
    }

    private init(_ key: Curve25519.KeyAgreement.PrivateKey) {
        self.key = key
        publicKey = Array(key.publicKey.rawRepresentation)
    }

    /// A fresh key from the system CSPRNG (BoringSSL's).
    public static func generate() -> X25519KeyPair { X25519KeyPair(Curve25519.KeyAgreement.PrivateKey()) }

    /// X25519(self, peer). Throws for a low-order peer point, whose shared secret is all zero whatever our key:
    /// swift-crypto does not reject it (its BoringSSL backend ignores X25519's return code), so it is checked here.
    /// A peer sending one would only void its own session's forward secrecy (the static keys still authenticate in
    /// XX), but a session keyed by a constant is refused outright.
    public func dh(_ peer: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard peer.count == 32 else { throw .invalidPublicKey }
        let shared: [UInt8]
        do {
            let secret = try key.sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer))
            shared = secret.withUnsafeBytes { Array($0) }
        } catch {
            throw .invalidPublicKey
        }
        // OR-ing every byte keeps the test free of data-dependent branches.
        guard shared.reduce(UInt8(0), { $0 | $1 }) != 0 else { throw .invalidPublicKey }
        return shared
    }
}

/// One ChaCha20-Poly1305 key with an OpenSSL context set up for one direction at a time (re-initialized only
/// when a handshake cipher switches between sealing and opening; a transport cipher never does).
final class ChaChaPolyKey {
    private let ctx: OpaquePointer
    private(set) var key: [UInt8]
    private var mode: Int32 = -1

    init(_ key: [UInt8]) throws(NoiseError) {
        precondition(key.count == 32)
        guard let c = EVP_CIPHER_CTX_new() else { throw .library("EVP_CIPHER_CTX_new") }
        ctx = c
        self.key = key
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    private func prepare(_ encrypt: Int32) throws(NoiseError) {
        guard mode != encrypt else { return }
        guard key.withUnsafeBufferPointer({ sc_aead_init(ctx, $0.baseAddress, encrypt) }) == 1 else { throw .library("EVP_CipherInit_ex") }
        mode = encrypt
    }

    /// Seals `plaintext` into `out` (plaintext.count + 16 bytes).
    func seal(nonce n: UInt64, ad: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        precondition(out.count >= plaintext.count + 16)
        try prepare(1)
        var iv = NonceBytes(n)
        let ok = withUnsafeBytes(of: &iv.bytes) { ivp in
            sc_aead_seal(ctx, ivp.baseAddress!.assumingMemoryBound(to: UInt8.self), ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count,
                         plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), plaintext.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard ok == 1 else { throw .library("ChaCha20-Poly1305 seal") }
    }

    /// Opens `ciphertext` (with its 16-byte tag) into `out` (ciphertext.count − 16 bytes).
    func open(nonce n: UInt64, ad: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        guard ciphertext.count >= 16 else { throw .decryptionFailed }
        precondition(out.count >= ciphertext.count - 16)
        try prepare(0)
        var iv = NonceBytes(n)
        // A zero-length output buffer may have no base address; OpenSSL writes nothing to it then.
        var scratch: UInt8 = 0
        let ok = withUnsafeBytes(of: &iv.bytes) { ivp in
            withUnsafeMutablePointer(to: &scratch) { s in
                sc_aead_open(ctx, ivp.baseAddress!.assumingMemoryBound(to: UInt8.self), ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count,
                             ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), ciphertext.count,
                             out.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? s)
            }
        }
        guard ok == 1 else { throw .decryptionFailed }
    }

    /// Replaces the key (Noise `Rekey`): the context is re-initialized on next use.
    func replaceKey(_ newKey: [UInt8]) {
        key = newKey
        mode = -1
    }
}

/// The 12-byte ChaCha20-Poly1305 nonce of Noise: four zero bytes, then the 64-bit counter little-endian.
/// A homogeneous tuple, so its 12 bytes are contiguous with no padding.
struct NonceBytes {
    var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    init(_ n: UInt64) {
        bytes = (0, 0, 0, 0, UInt8(truncatingIfNeeded: n), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n >> 16),
                 UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 32), UInt8(truncatingIfNeeded: n >> 40),
                 UInt8(truncatingIfNeeded: n >> 48), UInt8(truncatingIfNeeded: n >> 56))
    }
}

enum NoiseHash {
    /// HMAC-SHA256 (OpenSSL).
    static func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { sc_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, $0.baseAddress) }
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed")
        return out
    }

    /// The Noise specification's HKDF (section 4.3) with two outputs.
    static func hkdf2(chainingKey: [UInt8], _ ikm: [UInt8]) -> ([UInt8], [UInt8]) {
        let temp = hmac(key: chainingKey, ikm)
        let o1 = hmac(key: temp, [0x01])
        let o2 = hmac(key: temp, o1 + [0x02])
        return (o1, o2)
    }

    static func sha256(_ data: [UInt8]) -> [UInt8] { Primitives.SHA256.hash(data).bytes }
}

import Primitives

/// What each handshake message carries besides the Noise tokens (Specs/p2p.md section 2.2), and the binding
/// of a node key to a Noise static key.
public enum NoisePayload {
    /// Signed by the node key: `H_noise-identity(chainId ‖ noiseStatic)`.
    public static let identityTag = TaggedHash("sharechain/noise-identity")

    /// The prologue both sides mix in: `chainId (32) ‖ protocol version u32 LE`. A peer on another chain or
    /// version derives other keys, so the handshake cannot complete with it.
    public static func prologue(chainId: Hash32, version: UInt32 = p2pProtocolVersion) -> [UInt8] {
        var w = CanonicalWriter(capacity: 36)
        w.hash(chainId)
        w.u32(version)
        return w.bytes
    }

    /// First message (sent in the clear, authenticated by the prologue later): `version u32 LE ‖ chainId`,
    /// so a responder can log a precise reason instead of an opaque decryption failure.
    public static let helloBytes = 36
    /// Second and third messages (encrypted): `nodeKey (32) ‖ signature (64)`.
    public static let identityBytes = 96

    public static func hello(chainId: Hash32, version: UInt32 = p2pProtocolVersion) -> [UInt8] {
        var w = CanonicalWriter(capacity: 36)
        w.u32(version)
        w.hash(chainId)
        return w.bytes
    }

    /// Checks a first-message payload against ours.
    public static func checkHello(_ payload: [UInt8], chainId: Hash32) throws(NoiseError) {
        guard payload.count == helloBytes else { throw .malformedMessage("first message payload of \(payload.count) bytes") }
        let version = UInt32(payload[0]) | UInt32(payload[1]) << 8 | UInt32(payload[2]) << 16 | UInt32(payload[3]) << 24
        guard version == p2pProtocolVersion else { throw .wrongVersion(version) }
        let chain = Hash32(bytes: payload[4...])!
        guard chain == chainId else { throw .wrongChain(chain) }
    }

    public static func digest(chainId: Hash32, noiseStatic: [UInt8]) -> Hash32 {
        var w = CanonicalWriter(capacity: 64)
        w.hash(chainId)
        w.raw(noiseStatic)
        return identityTag.hash(w.bytes)
    }

    /// Decodes and checks an identity payload against the static key the handshake authenticated.
    public static func verifyIdentity(_ payload: [UInt8], remoteStatic: [UInt8], chainId: Hash32) throws(NoiseError) -> PublicKey {
        guard payload.count == identityBytes else { throw .badIdentity("payload of \(payload.count) bytes, expected \(identityBytes)") }
        let key = PublicKey(bytes: payload[0..<32])!
        guard key.isValid else { throw .badIdentity("node key is not a valid public key") }
        let signature = Signature(bytes: payload[32..<96])!
        guard key.verify(signature, digest: digest(chainId: chainId, noiseStatic: remoteStatic)) else { throw .identitySignatureInvalid }
        return key
    }
}

/// A node's Noise identity for one chain: a fresh X25519 static key per process and the node key's signature
/// binding it, made once (so a handshake costs no signing).
public final class NoiseIdentity: Sendable {
    public let nodeKey: PublicKey
    public let chainId: Hash32
    public let staticKey: X25519KeyPair
    /// `nodeKey ‖ signature`, the payload of our identity message.
    public let payload: [UInt8]

    public init(nodeKey: PrivateKey, chainId: Hash32, staticKey: X25519KeyPair = .generate()) {
        self.nodeKey = nodeKey.publicKey
        self.chainId = chainId
        self.staticKey = staticKey
        let sig = nodeKey.sign(digest: NoisePayload.digest(chainId: chainId, noiseStatic: staticKey.publicKey))
        payload = nodeKey.publicKey.bytes + sig.bytes
    }

    /// An identity that presents `payload` as is (for attack tests: a relay replaying someone else's payload).
    public init(forgedPayload: [UInt8], nodeKey: PublicKey, chainId: Hash32, staticKey: X25519KeyPair = .generate()) {
        self.nodeKey = nodeKey
        self.chainId = chainId
        self.staticKey = staticKey
        payload = forgedPayload
    }
}

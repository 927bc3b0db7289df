import Primitives

/// The handshake's signed statement (Specs/p2p.md section 4).
public enum Handshake {
    /// `H_handshake(chainId ‖ challenge ‖ signerKey ‖ verifierKey)`: the signer proves it holds `signerKey`
    /// by signing the verifier's fresh challenge, bound to this chain and to both identities (so a
    /// signature cannot be replayed on another chain, to another peer, or in another session).
    public static func digest(chainId: Hash32, challenge: Hash32, signer: PublicKey, verifier: PublicKey) -> Hash32 {
        var w = CanonicalWriter(capacity: 128)
        w.hash(chainId)
        w.hash(challenge)
        w.encode(signer)
        w.encode(verifier)
        return Tags.handshake.hash(w.bytes)
    }

    /// Our answer to the peer's `hello`.
    public static func sign(chainId: Hash32, peerChallenge: Hash32, key: PrivateKey, peerKey: PublicKey) -> Signature {
        key.sign(digest: digest(chainId: chainId, challenge: peerChallenge, signer: key.publicKey, verifier: peerKey))
    }

    /// Checks the peer's answer to our challenge.
    public static func verify(_ signature: Signature, chainId: Hash32, ourChallenge: Hash32, peerKey: PublicKey, ourKey: PublicKey) -> Bool {
        peerKey.verify(signature, digest: digest(chainId: chainId, challenge: ourChallenge, signer: peerKey, verifier: ourKey))
    }
}

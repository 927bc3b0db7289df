import P2P
import Primitives
import Testing

/// Review D (cryptographic constructions): attacks on the Noise transport (Specs/p2p.md §2). All are regressions:
/// the attacks are performed and the transport defends them.
@Suite struct NoiseReviewTests {
    static let chain = SHA256.hash(Array("review-d".utf8))

    /// Regression (reflection): an on-path attacker sends a peer's own record back to it. The two directions have
    /// different keys after `Split()`, so the reflected record fails authentication instead of being read as the
    /// other side's message.
    @Test func regressionReflectedRecordIsRejected() throws {
        let s = try NoiseTests.session(chain: Self.chain)
        let (isend, irecv) = try s.i.split()
        let tx = NoiseTransportCipher(isend), rx = NoiseTransportCipher(irecv)
        let record = try tx.seal(Array("ping".utf8))
        #expect(throws: NoiseError.decryptionFailed) { try rx.open(record) }
    }

    /// Regression (transcript binding): the first message travels in the clear. An attacker that alters its payload
    /// (the hello) or its ephemeral key cannot make both sides agree: the initiator cannot read the second message.
    @Test func regressionAlteredClearFirstMessageBreaksTheHandshake() throws {
        for position in [5, 40] {  // inside the ephemeral key, inside the hello payload
            let ri = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: Self.chain)
            let i = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: Self.chain))
            let r = NoiseHandshake(role: .responder, staticKey: ri.staticKey, prologue: NoisePayload.prologue(chainId: Self.chain))
            var m1 = try i.writeMessage(payload: NoisePayload.hello(chainId: Self.chain))
            m1[position] ^= 0x01
            _ = try r.readMessage(m1)
            let m2 = try r.writeMessage(payload: ri.payload)
            #expect(throws: NoiseError.decryptionFailed) { try i.readMessage(m2) }
        }
    }

    /// Regression (low-order ephemeral): a peer whose ephemeral key is a low-order point would key the session by a
    /// constant; the responder refuses to continue.
    @Test func regressionLowOrderEphemeralKeyIsRefused() throws {
        let r = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: Self.chain))
        _ = try r.readMessage([UInt8](repeating: 0, count: 32) + NoisePayload.hello(chainId: Self.chain))
        #expect(throws: NoiseError.invalidPublicKey) { try r.writeMessage(payload: [UInt8](repeating: 0, count: 96)) }
    }

    /// Regression (identity misbinding): a relay answers with its own Noise static key and the victim's identity
    /// payload (node key and signature). The initiator checks the signature against the static key the handshake
    /// authenticated, so it refuses.
    @Test func regressionRelayCannotPresentAnotherNodesIdentity() throws {
        let victim = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: Self.chain)
        let relay = NoiseIdentity(forgedPayload: victim.payload, nodeKey: victim.nodeKey, chainId: Self.chain)
        let i = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: Self.chain))
        let r = NoiseHandshake(role: .responder, staticKey: relay.staticKey, prologue: NoisePayload.prologue(chainId: Self.chain))
        _ = try r.readMessage(try i.writeMessage(payload: NoisePayload.hello(chainId: Self.chain)))
        let payload = try i.readMessage(try r.writeMessage(payload: relay.payload))
        #expect(throws: NoiseError.identitySignatureInvalid) {
            try NoisePayload.verifyIdentity(payload, remoteStatic: i.remoteStatic!, chainId: Self.chain)
        }
    }

    /// Regression (key confirmation): an altered third message (the initiator's static key and identity) fails at
    /// the responder, which therefore never completes a session it cannot attribute.
    @Test func regressionAlteredThirdMessageFailsAtTheResponder() throws {
        let ii = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: Self.chain)
        let ri = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: Self.chain)
        let i = NoiseHandshake(role: .initiator, staticKey: ii.staticKey, prologue: NoisePayload.prologue(chainId: Self.chain))
        let r = NoiseHandshake(role: .responder, staticKey: ri.staticKey, prologue: NoisePayload.prologue(chainId: Self.chain))
        _ = try r.readMessage(try i.writeMessage(payload: NoisePayload.hello(chainId: Self.chain)))
        _ = try i.readMessage(try r.writeMessage(payload: ri.payload))
        var m3 = try i.writeMessage(payload: ii.payload)
        m3[70] ^= 0x80
        #expect(throws: NoiseError.decryptionFailed) { try r.readMessage(m3) }
        #expect(!r.isComplete)
    }
}

import Primitives
import Testing

@testable import Sealing

/// Sealing and opening: round trips, and every way a wrong key, context or byte must fail.
@Suite struct SealingTests {
    let keys = Fixture.keyPairs(3)
    var recipients: [CheckerPublicKey] { keys.map(\.publicKey) }

    @Test func roundTripForEachRecipient() throws {
        let plaintext = Fixture.plaintext(576 * 4 * 6)
        let envelope = try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: Fixture.context)
        #expect(envelope.recipients == recipients)
        #expect(envelope.plaintextCount == plaintext.count)
        #expect(envelope.encoded.count == SealedEnvelope.encodedSize(plaintextCount: plaintext.count, recipients: 3))
        let decoded = try SealedEnvelope(decoding: envelope.encoded)
        #expect(decoded == envelope)
        for (i, key) in keys.enumerated() {
            #expect(try decoded.open(recipientIndex: i, keyPair: key, context: Fixture.context) == plaintext)
            #expect(try decoded.open(keyPair: key, context: Fixture.context) == plaintext)
            #expect(decoded.slotIndex(of: key.publicKey) == i)
        }
    }

    @Test func freshRandomnessEveryEnvelope() throws {
        let a = try SealedEnvelope.seal(plaintext: [1, 2, 3], recipients: recipients, context: Fixture.context)
        let b = try SealedEnvelope.seal(plaintext: [1, 2, 3], recipients: recipients, context: Fixture.context)
        #expect(a.ephemeralPublicKey != b.ephemeralPublicKey)
        #expect(a.keyCommitment != b.keyCommitment)
        #expect(a.payload != b.payload)
    }

    @Test func sameRandomnessIsDeterministic() throws {
        let r = Fixture.randomness(seed: 3)
        let a = try SealedEnvelope.seal(plaintext: [9, 9], recipients: recipients, context: Fixture.context, randomness: r)
        let b = try SealedEnvelope.seal(plaintext: [9, 9], recipients: recipients, context: Fixture.context, randomness: r)
        #expect(a.encoded == b.encoded)
    }

    @Test func wrongKeyFails() throws {
        let envelope = try SealedEnvelope.seal(plaintext: [1, 2, 3], recipients: recipients, context: Fixture.context)
        let outsider = CheckerKeyPair.generate()
        #expect(throws: SealingError.notARecipient) { try envelope.open(keyPair: outsider, context: Fixture.context) }
        #expect(throws: SealingError.keyMismatch(index: 0)) {
            try envelope.open(recipientIndex: 0, keyPair: outsider, context: Fixture.context)
        }
        // Another recipient's key on someone else's slot.
        #expect(throws: SealingError.keyMismatch(index: 2)) {
            try envelope.open(recipientIndex: 2, keyPair: keys[0], context: Fixture.context)
        }
        #expect(throws: SealingError.recipientIndexOutOfRange(index: 3, count: 3)) {
            try envelope.open(recipientIndex: 3, keyPair: keys[0], context: Fixture.context)
        }
        #expect(throws: SealingError.recipientIndexOutOfRange(index: -1, count: 3)) {
            try envelope.open(recipientIndex: -1, keyPair: keys[0], context: Fixture.context)
        }
    }

    /// A slot whose key is right but whose wrapped secret was made for another key pair: the X25519 path
    /// itself (not the public-key comparison) rejects it.
    @Test func wrongPrivateKeyForSlotFailsToUnwrap() throws {
        let envelope = try SealedEnvelope.seal(plaintext: [1, 2, 3], recipients: recipients, context: Fixture.context)
        let outsider = CheckerKeyPair.generate()
        // Readdress slot 0 to the outsider without re-wrapping: only the key comparison changes.
        var slots = envelope.slots
        slots[0] = SealedEnvelope.Slot(recipient: outsider.publicKey, wrappedKey: slots[0].wrappedKey)
        let forged = SealedEnvelope(ephemeralPublicKey: envelope.ephemeralPublicKey, keyCommitment: envelope.keyCommitment,
                                    slots: slots, payload: envelope.payload)
        #expect(throws: SealingError.unwrapFailed(index: 0)) { try forged.open(keyPair: outsider, context: Fixture.context) }
    }

    @Test func wrongContextFails() throws {
        let c = Fixture.context
        let envelope = try SealedEnvelope.seal(plaintext: Fixture.plaintext(100), recipients: recipients, context: c)
        let others = [
            SealingContext(chainId: Fixture.hash("other chain"), ticketId: c.ticketId, inputHash: c.inputHash),
            SealingContext(chainId: c.chainId, ticketId: Fixture.hash("other ticket"), inputHash: c.inputHash),
            SealingContext(chainId: c.chainId, ticketId: c.ticketId, inputHash: Fixture.hash("other input")),
        ]
        for other in others {
            for (i, key) in keys.enumerated() {
                #expect(throws: SealingError.unwrapFailed(index: i)) { try envelope.open(keyPair: key, context: other) }
            }
        }
    }

    /// Every single-bit flip anywhere in the encoding fails for every recipient: the decoder rejects it, or
    /// opening does (the header is the payload's associated data, so a flip in another recipient's slot
    /// fails too).
    @Test func flippedByteAnywhereFails() throws {
        let plaintext = Fixture.plaintext(40)
        let bytes = try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: Fixture.context).encoded
        for position in bytes.indices {
            for bit in [0, 7] {
                var tampered = bytes
                tampered[position] ^= UInt8(1 << bit)
                let envelope: SealedEnvelope
                do { envelope = try SealedEnvelope(decoding: tampered) } catch { continue }
                for (i, key) in keys.enumerated() {
                    do {
                        let opened = try envelope.open(recipientIndex: i, keyPair: key, context: Fixture.context)
                        Issue.record("flip of bit \(bit) at byte \(position) opened for recipient \(i): \(opened.count) bytes")
                    } catch {
                        switch error {
                        case .keyMismatch, .keyAgreementFailed, .unwrapFailed, .keyCommitmentMismatch,
                             .payloadAuthenticationFailed:
                            break
                        default: Issue.record("unexpected error \(error) at byte \(position)")
                        }
                    }
                }
            }
        }
    }

    /// A worker that wraps different secrets for different checkers is caught by the key commitment (the
    /// checker with the odd secret) and by the header binding (everyone else).
    @Test func splicedSlotsAreDetected() throws {
        let plaintext = Fixture.plaintext(64)
        // The same ephemeral key (so slot 1 still unwraps) around a different content secret.
        let r2 = try SealingRandomness(ephemeralPrivateKey: Fixture.randomness(seed: 1).ephemeralPrivateKey,
                                       contentSecret: Fixture.randomness(seed: 9).contentSecret)
        let a = try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: Fixture.context,
                                        randomness: Fixture.randomness(seed: 1))
        let b = try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: Fixture.context, randomness: r2)
        var slots = a.slots
        slots[1] = b.slots[1]
        let spliced = SealedEnvelope(ephemeralPublicKey: a.ephemeralPublicKey, keyCommitment: a.keyCommitment,
                                     slots: slots, payload: a.payload)
        #expect(throws: SealingError.keyCommitmentMismatch(index: 1)) {
            try spliced.open(recipientIndex: 1, keyPair: keys[1], context: Fixture.context)
        }
        #expect(throws: SealingError.payloadAuthenticationFailed) {
            try spliced.open(recipientIndex: 0, keyPair: keys[0], context: Fixture.context)
        }
    }

    @Test func lowOrderEphemeralKeyFailsKeyAgreement() throws {
        let envelope = try SealedEnvelope.seal(plaintext: [1], recipients: recipients, context: Fixture.context)
        let forged = SealedEnvelope(ephemeralPublicKey: [UInt8](repeating: 0, count: 32), keyCommitment: envelope.keyCommitment,
                                    slots: envelope.slots, payload: envelope.payload)
        let decoded = try SealedEnvelope(decoding: forged.encoded)
        #expect(throws: SealingError.keyAgreementFailed(index: 1)) {
            try decoded.open(recipientIndex: 1, keyPair: keys[1], context: Fixture.context)
        }
    }

    @Test func sealRejectsBadArguments() throws {
        let c = Fixture.context
        #expect(throws: SealingError.recipientCount(0)) { try SealedEnvelope.seal(plaintext: [], recipients: [], context: c) }
        let seventeen = Fixture.keyPairs(17, seed: 2).map(\.publicKey)
        #expect(throws: SealingError.recipientCount(17)) { try SealedEnvelope.seal(plaintext: [], recipients: seventeen, context: c) }
        #expect(throws: SealingError.duplicateRecipient(index: 2)) {
            try SealedEnvelope.seal(plaintext: [], recipients: [recipients[0], recipients[1], recipients[0]], context: c)
        }
        #expect(throws: SealingError.plaintextTooLarge(count: 11, maximum: 10)) {
            try SealedEnvelope.seal(plaintext: Fixture.plaintext(11), recipients: recipients, context: c, maxPlaintextCount: 10)
        }
        let zero = try CheckerPublicKey(bytes: [UInt8](repeating: 0, count: 32))
        #expect(throws: SealingError.weakRecipientKey(index: 1)) {
            try SealedEnvelope.seal(plaintext: [], recipients: [recipients[0], zero], context: c)
        }
        #expect(throws: SealingError.invalidKeyLength(31)) { try CheckerPublicKey(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: SealingError.invalidKeyLength(33)) { try CheckerKeyPair(privateKey: [UInt8](repeating: 1, count: 33)) }
        #expect(throws: SealingError.invalidRandomness) {
            try SealingRandomness(ephemeralPrivateKey: [UInt8](repeating: 1, count: 32), contentSecret: [])
        }
        // Sixteen recipients and an exactly-maximum plaintext are fine.
        let sixteen = Array(seventeen.prefix(16))
        let e = try SealedEnvelope.seal(plaintext: Fixture.plaintext(10), recipients: sixteen, context: c, maxPlaintextCount: 10)
        #expect(try SealedEnvelope(decoding: e.encoded, maxPlaintextCount: 10) == e)
    }

    @Test func keyPairRoundTripsItsPrivateBytes() throws {
        let k = CheckerKeyPair.generate()
        let again = try CheckerKeyPair(privateKey: k.privateKeyBytes)
        #expect(again.publicKey == k.publicKey)
    }

    @Test func encodedSizeMatchesEveryBoundary() throws {
        // Around the LEB128 boundaries of the payload length (127/128 and 16383/16384 bytes with the tag).
        for count in [0, 1, 111, 112, 113, 16_367, 16_368, 16_369] {
            for k in [1, 3, 16] {
                let rs = Fixture.keyPairs(k, seed: 5).map(\.publicKey)
                let e = try SealedEnvelope.seal(plaintext: Fixture.plaintext(count), recipients: rs, context: Fixture.context)
                #expect(e.encoded.count == SealedEnvelope.encodedSize(plaintextCount: count, recipients: k), "\(count) \(k)")
            }
        }
    }
}

/// Disputes (Specs/verification.md §4.1): the worker publishes the envelope's ephemeral private key and anyone
/// opens every slot with it, so a worker that sealed something else to one checker is caught.
@Suite struct SealingDisputeTests {
    let keys = Fixture.keyPairs(3)
    var recipients: [CheckerPublicKey] { keys.map(\.publicKey) }

    @Test func thePublishedEphemeralKeyOpensEverySlot() throws {
        let r = Fixture.randomness(seed: 11)
        let plaintext = Fixture.plaintext(1_000)
        let envelope = try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: Fixture.context, randomness: r)
        #expect(try envelope.openAll(ephemeralPrivateKey: r.ephemeralPrivateKey, context: Fixture.context) == plaintext)
        // Another key, or the right key under another ticket's context, opens nothing.
        #expect(throws: SealingError.ephemeralKeyMismatch) {
            try envelope.openAll(ephemeralPrivateKey: Fixture.randomness(seed: 12).ephemeralPrivateKey, context: Fixture.context)
        }
        let other = SealingContext(chainId: Fixture.hash("chain"), ticketId: Fixture.hash("other ticket"), inputHash: Fixture.hash("input"))
        #expect(throws: SealingError.unwrapFailed(index: 0)) { try envelope.openAll(ephemeralPrivateKey: r.ephemeralPrivateKey, context: other) }
    }

    @Test func aSlotSealedWithAnotherSecretIsCaughtAtItsIndex() throws {
        let r = Fixture.randomness(seed: 21)
        let honest = try SealedEnvelope.seal(plaintext: [1, 2, 3, 4], recipients: recipients, context: Fixture.context, randomness: r)
        // Same ephemeral key, another content secret: what a worker would send checker 1 to show it other bytes.
        let forged = try SealedEnvelope.seal(plaintext: [9, 9, 9, 9], recipients: recipients, context: Fixture.context,
                                             randomness: SealingRandomness(ephemeralPrivateKey: r.ephemeralPrivateKey,
                                                                           contentSecret: Fixture.randomness(seed: 22).contentSecret))
        var slots = honest.slots
        slots[1] = forged.slots[1]
        let spliced = SealedEnvelope(ephemeralPublicKey: honest.ephemeralPublicKey, keyCommitment: honest.keyCommitment, slots: slots,
                                     payload: honest.payload)
        #expect(throws: SealingError.keyCommitmentMismatch(index: 1)) {
            try spliced.openAll(ephemeralPrivateKey: r.ephemeralPrivateKey, context: Fixture.context)
        }
        // Checker 1 alone also sees it, and can say so in its answer.
        #expect(throws: SealingError.keyCommitmentMismatch(index: 1)) { try spliced.open(recipientIndex: 1, keyPair: keys[1], context: Fixture.context) }
    }
}

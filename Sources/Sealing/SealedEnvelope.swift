import Crypto
import Primitives

/// A spot-checked pass's input, encrypted once and readable by each of its k assigned checkers
/// (Specs/sealing.md).
///
/// One ephemeral X25519 key per envelope; a random 32-byte content secret `s` yields the payload key and a
/// key commitment (HKDF-SHA256); the plaintext is encrypted once with ChaCha20-Poly1305; for each recipient,
/// `s` is wrapped with ChaCha20-Poly1305 under a key derived by HKDF-SHA256 from the X25519 shared secret,
/// salted with `ephemeral ‖ recipient` and bound to the `SealingContext` (chain, ticket, input hash).
///
/// The ledger never opens an envelope: it decodes it (`init(decoding:maxPlaintextCount:)`), compares the
/// recipient keys with the assigned checkers and the size with `encodedSize(plaintextCount:recipients:)`.
public struct SealedEnvelope: Hashable, Sendable {
    /// One recipient's slot: whom it is for and the content secret wrapped for them.
    public struct Slot: Hashable, Sendable {
        /// The recipient's X25519 public key.
        public let recipient: CheckerPublicKey
        /// ChaCha20-Poly1305 of the 32-byte content secret: 32 bytes of ciphertext, then the 16-byte tag.
        public let wrappedKey: [UInt8]
    }

    /// The only envelope version this implementation reads or writes.
    public static let version: UInt8 = 1
    /// At most this many recipients (checkers) per envelope.
    public static let maxRecipients = 16
    /// The default maximum plaintext size: 4 MiB, far above one pass's input (576 float32 × a few hundred
    /// tokens) yet small enough that a block cannot be bloated by one reveal. Callers may pass their own.
    public static let defaultMaxPlaintextCount = 4 << 20
    /// Bytes of a ChaCha20-Poly1305 tag.
    public static let tagCount = 16
    /// Bytes of one encoded slot: recipient key, wrapped secret, tag.
    public static let slotCount = 32 + 32 + tagCount

    /// The envelope's ephemeral X25519 public key (32 bytes).
    public let ephemeralPublicKey: [UInt8]
    /// HKDF-derived commitment to the content secret (32 bytes): every recipient checks the secret it
    /// unwrapped against it, so all honest recipients decrypt the same payload with the same key.
    public let keyCommitment: [UInt8]
    /// The recipients' slots, in the order the sealer gave the recipients.
    public let slots: [Slot]
    /// ChaCha20-Poly1305 of the plaintext: ciphertext (as long as the plaintext), then the 16-byte tag.
    public let payload: [UInt8]

    /// The plaintext's size, known without decrypting.
    public var plaintextCount: Int { payload.count - Self.tagCount }

    /// The recipients' public keys, in slot order.
    public var recipients: [CheckerPublicKey] { slots.map(\.recipient) }

    // MARK: - Sizes

    /// The exact encoded size of an envelope of `plaintextCount` bytes for `recipients` recipients, so the
    /// ledger can check a reveal's size (and charge for it) without decrypting anything.
    public static func encodedSize(plaintextCount: Int, recipients: Int) -> Int {
        let payloadCount = plaintextCount + tagCount
        return 1 + 32 + 32 + lebCount(recipients) + recipients * slotCount + lebCount(payloadCount) + payloadCount
    }

    /// Bytes of the shortest LEB128 form of `n`.
    static func lebCount(_ n: Int) -> Int {
        var bytes = 1
        var v = n >> 7
        while v > 0 { bytes += 1; v >>= 7 }
        return bytes
    }

    // MARK: - Sealing

    /// Seals `plaintext` to `recipients` (1...16 distinct X25519 public keys, kept in the order given)
    /// under `context`. `randomness` defaults to fresh CSPRNG values; fixed values are for vectors only.
    public static func seal(
        plaintext: [UInt8],
        recipients: [CheckerPublicKey],
        context: SealingContext,
        maxPlaintextCount: Int = defaultMaxPlaintextCount,
        randomness: SealingRandomness = .fresh()
    ) throws(SealingError) -> SealedEnvelope {
        guard (1...maxRecipients).contains(recipients.count) else { throw .recipientCount(recipients.count) }
        guard plaintext.count <= maxPlaintextCount else {
            throw .plaintextTooLarge(count: plaintext.count, maximum: maxPlaintextCount)
        }
        if let i = firstDuplicate(recipients) { throw .duplicateRecipient(index: i) }

        let ephemeral = try CheckerKeyPair(privateKey: randomness.ephemeralPrivateKey)
        let ctx = context.bytes
        let derived = contentKeys(secret: randomness.contentSecret)

        var slots: [Slot] = []
        slots.reserveCapacity(recipients.count)
        for (i, recipient) in recipients.enumerated() {
            guard let kek = keyEncryptionKey(privateKey: ephemeral.key, peer: recipient.bytes,
                                             ephemeralPublic: ephemeral.publicKey.bytes, recipient: recipient, context: ctx)
            else { throw .weakRecipientKey(index: i) }
            slots.append(Slot(recipient: recipient, wrappedKey: try aeadSeal(key: kek, randomness.contentSecret, aad: ctx)))
        }

        let header = encodeHeader(ephemeralPublicKey: ephemeral.publicKey.bytes, keyCommitment: derived.commitment, slots: slots)
        let payload = try aeadSeal(key: derived.payloadKey, plaintext, aad: ctx + header)
        return SealedEnvelope(ephemeralPublicKey: ephemeral.publicKey.bytes, keyCommitment: derived.commitment,
                              slots: slots, payload: payload)
    }

    // MARK: - Opening

    /// Opens the envelope as recipient `recipientIndex`, whose key pair is `keyPair`, under `context`;
    /// returns the plaintext. Every failure is a distinct `SealingError` a checker can cite in a dispute.
    ///
    /// The caller still checks the plaintext against the clear input hash: the envelope proves the worker
    /// sealed these bytes to this ticket, not that they are the input the worker committed to.
    public func open(recipientIndex: Int, keyPair: CheckerKeyPair, context: SealingContext) throws(SealingError) -> [UInt8] {
        guard slots.indices.contains(recipientIndex) else {
            throw .recipientIndexOutOfRange(index: recipientIndex, count: slots.count)
        }
        let slot = slots[recipientIndex]
        guard slot.recipient == keyPair.publicKey else { throw .keyMismatch(index: recipientIndex) }
        let ctx = context.bytes

        guard let kek = Self.keyEncryptionKey(privateKey: keyPair.key, peer: ephemeralPublicKey,
                                              ephemeralPublic: ephemeralPublicKey, recipient: slot.recipient, context: ctx)
        else { throw .keyAgreementFailed(index: recipientIndex) }
        guard let secret = Self.aeadOpen(key: kek, slot.wrappedKey, aad: ctx) else { throw .unwrapFailed(index: recipientIndex) }

        let derived = Self.contentKeys(secret: secret)
        // Not secret (it is in the envelope), so an ordinary comparison is fine.
        guard derived.commitment == keyCommitment else { throw .keyCommitmentMismatch(index: recipientIndex) }

        let header = Self.encodeHeader(ephemeralPublicKey: ephemeralPublicKey, keyCommitment: keyCommitment, slots: slots)
        guard let plaintext = Self.aeadOpen(key: derived.payloadKey, payload, aad: ctx + header) else {
            throw .payloadAuthenticationFailed
        }
        return plaintext
    }

    /// Opens the envelope with its ephemeral private key `e`, which the worker publishes when a dispute opens
    /// (Specs/verification.md §4.1, Specs/sealing.md §6.1): checks that `e` is the envelope's, that **every** slot
    /// unwraps to a secret matching the key commitment (so each checker could open what it was sent), and
    /// returns the plaintext. The first slot that fails is the error (a worker that sealed garbage to one checker
    /// is caught here, whoever that checker is).
    public func openAll(ephemeralPrivateKey e: [UInt8], context: SealingContext) throws(SealingError) -> [UInt8] {
        let ephemeral = try CheckerKeyPair(privateKey: e)
        guard ephemeral.publicKey.bytes == ephemeralPublicKey else { throw .ephemeralKeyMismatch }
        let ctx = context.bytes
        var secret: [UInt8]?
        for (i, slot) in slots.enumerated() {
            guard let kek = Self.keyEncryptionKey(privateKey: ephemeral.key, peer: slot.recipient.bytes,
                                                  ephemeralPublic: ephemeralPublicKey, recipient: slot.recipient, context: ctx)
            else { throw .keyAgreementFailed(index: i) }
            guard let s = Self.aeadOpen(key: kek, slot.wrappedKey, aad: ctx) else { throw .unwrapFailed(index: i) }
            guard Self.contentKeys(secret: s).commitment == keyCommitment else { throw .keyCommitmentMismatch(index: i) }
            secret = s
        }
        guard let secret else { throw .recipientCount(0) }
        let header = Self.encodeHeader(ephemeralPublicKey: ephemeralPublicKey, keyCommitment: keyCommitment, slots: slots)
        guard let plaintext = Self.aeadOpen(key: Self.contentKeys(secret: secret).payloadKey, payload, aad: ctx + header) else {
            throw .payloadAuthenticationFailed
        }
        return plaintext
    }

    /// Opens the envelope with `keyPair`, finding its slot by public key.
    public func open(keyPair: CheckerKeyPair, context: SealingContext) throws(SealingError) -> [UInt8] {
        guard let i = slotIndex(of: keyPair.publicKey) else { throw .notARecipient }
        return try open(recipientIndex: i, keyPair: keyPair, context: context)
    }

    /// The index of the slot addressed to `key`, if any.
    public func slotIndex(of key: CheckerPublicKey) -> Int? {
        slots.firstIndex { $0.recipient == key }
    }

    // MARK: - Encoding

    /// The canonical encoding (Specs/sealing.md section 4).
    public var encoded: [UInt8] {
        var w = CanonicalWriter(capacity: Self.encodedSize(plaintextCount: plaintextCount, recipients: slots.count))
        w.raw(Self.encodeHeader(ephemeralPublicKey: ephemeralPublicKey, keyCommitment: keyCommitment, slots: slots))
        w.bytes(payload)
        return w.bytes
    }

    /// Decodes an envelope strictly: every non-canonical input is a `SealingError`, never a trap, and
    /// nothing is allocated beyond the input. No cryptography runs here, so validators can afford it.
    public init(decoding bytes: [UInt8], maxPlaintextCount: Int = defaultMaxPlaintextCount) throws(SealingError) {
        var r = CanonicalReader(bytes)
        do {
            let version = try r.u8("version")
            guard version == Self.version else { throw SealingError.unsupportedVersion(version) }
            ephemeralPublicKey = try r.raw("ephemeralPublicKey", count: 32)
            keyCommitment = try r.raw("keyCommitment", count: 32)
            // The count is read without a codec maximum so that 0 and 17 both report `recipientCount`; the
            // range check comes before any slot is read or allocated.
            let count = try r.length("recipients", max: Int(UInt32.max), minElementSize: 0)
            guard (1...Self.maxRecipients).contains(count) else { throw SealingError.recipientCount(count) }
            var slots: [Slot] = []
            slots.reserveCapacity(count)
            for _ in 0..<count {
                let key = try r.raw("recipient", count: 32)
                let wrapped = try r.raw("wrappedKey", count: 32 + Self.tagCount)
                slots.append(Slot(recipient: CheckerPublicKey(unchecked: key), wrappedKey: wrapped))
            }
            if let i = Self.firstDuplicate(slots.map(\.recipient)) { throw SealingError.duplicateRecipient(index: i) }
            self.slots = slots

            let payloadAt = r.offset
            let payloadCount = try r.length("payload", max: Int(UInt32.max), minElementSize: 0)
            guard payloadCount >= Self.tagCount else {
                throw SealingError.malformed(r.invalid("payload", "shorter than the 16-byte tag", at: payloadAt))
            }
            guard payloadCount - Self.tagCount <= maxPlaintextCount else {
                throw SealingError.plaintextTooLarge(count: payloadCount - Self.tagCount, maximum: maxPlaintextCount)
            }
            payload = try r.raw("payload", count: payloadCount)
            try r.finish()
        } catch let e as SealingError {
            throw e
        } catch let e as CodecError {
            throw .malformed(e)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    init(ephemeralPublicKey: [UInt8], keyCommitment: [UInt8], slots: [Slot], payload: [UInt8]) {
        self.ephemeralPublicKey = ephemeralPublicKey
        self.keyCommitment = keyCommitment
        self.slots = slots
        self.payload = payload
    }

    // MARK: - Internals

    /// `version ‖ ephemeralPublicKey ‖ keyCommitment ‖ len(k) ‖ slots`: everything before the payload, and
    /// (after the context) the payload's associated data, so a change to any slot fails every recipient.
    static func encodeHeader(ephemeralPublicKey: [UInt8], keyCommitment: [UInt8], slots: [Slot]) -> [UInt8] {
        var w = CanonicalWriter(capacity: 1 + 64 + 1 + slots.count * slotCount)
        w.u8(version)
        w.raw(ephemeralPublicKey)
        w.raw(keyCommitment)
        w.length(slots.count)
        for s in slots {
            w.raw(s.recipient.bytes)
            w.raw(s.wrappedKey)
        }
        return w.bytes
    }

    /// The HKDF info string of the content-key derivation.
    static let contentInfo: [UInt8] = Array("sharechain/sealed-input/v1/content".utf8)

    /// `HKDF-SHA256(ikm: s, salt: empty, info: contentInfo, L: 64)`, split into the payload key and the key
    /// commitment. Both come from one secret so that a recipient holding `s` can check the commitment.
    static func contentKeys(secret: [UInt8]) -> (payloadKey: SymmetricKey, commitment: [UInt8]) {
        let okm = HKDF<Crypto.SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), salt: [UInt8](),
                                         info: contentInfo, outputByteCount: 64)
        return okm.withUnsafeBytes { b in
            (SymmetricKey(data: UnsafeRawBufferPointer(rebasing: b[0..<32])), Array(b[32..<64]))
        }
    }

    /// `HKDF-SHA256(ikm: X25519(privateKey, peer), salt: ephemeralPublic ‖ recipient, info: context, L: 32)`, or nil
    /// when the shared secret is all zero (a low-order point; RFC 7748 section 6.1 allows the check).
    static func keyEncryptionKey(
        privateKey: Curve25519.KeyAgreement.PrivateKey, peer: [UInt8],
        ephemeralPublic: [UInt8], recipient: CheckerPublicKey, context: [UInt8]
    ) -> SymmetricKey? {
        guard let peerKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer),
              let shared = try? privateKey.sharedSecretFromKeyAgreement(with: peerKey)
        else { return nil }
        // swift-crypto deliberately does not reject the all-zero secret (its BoringSSL backend ignores
        // X25519's return code), so check here; OR-ing keeps the test free of data-dependent branches.
        let allZero = shared.withUnsafeBytes { b in b.reduce(UInt8(0)) { $0 | $1 } == 0 }
        if allZero { return nil }
        return shared.hkdfDerivedSymmetricKey(using: Crypto.SHA256.self, salt: ephemeralPublic + recipient.bytes,
                                              sharedInfo: context, outputByteCount: 32)
    }

    /// ChaCha20-Poly1305 under `key` with the all-zero nonce: every key this module derives encrypts exactly
    /// one message (Specs/sealing.md section 5), so a fixed nonce never repeats under one key.
    static func aeadSeal(key: SymmetricKey, _ plaintext: [UInt8], aad: [UInt8]) throws(SealingError) -> [UInt8] {
        // Sealing fails only for a wrong key or nonce size, both fixed here: reported, not trapped.
        guard let nonce = zeroNonce, let box = try? ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: aad) else {
            throw .encryptionFailed
        }
        var out = [UInt8]()
        out.reserveCapacity(plaintext.count + tagCount)
        out += box.ciphertext
        out += box.tag
        return out
    }

    /// Opens `ciphertext ‖ tag`, or nil when it does not authenticate.
    static func aeadOpen(key: SymmetricKey, _ sealed: [UInt8], aad: [UInt8]) -> [UInt8]? {
        guard sealed.count >= tagCount else { return nil }
        let split = sealed.count - tagCount
        guard let nonce = zeroNonce, let box = try? ChaChaPoly.SealedBox(nonce: nonce, ciphertext: sealed[0..<split], tag: sealed[split...]),
              let plain = try? ChaChaPoly.open(box, using: key, authenticating: aad)
        else { return nil }
        return Array(plain)
    }

    /// The all-zero 12-byte nonce (nil only if swift-crypto refused a 12-byte nonce).
    static let zeroNonce = try? ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12))

    /// The index of the first key that repeats an earlier one.
    static func firstDuplicate(_ keys: [CheckerPublicKey]) -> Int? {
        var seen = Set<CheckerPublicKey>()
        for (i, k) in keys.enumerated() where !seen.insert(k).inserted { return i }
        return nil
    }
}

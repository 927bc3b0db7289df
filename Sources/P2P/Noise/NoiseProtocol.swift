/// The Noise Protocol Framework (revision 34) state machine for exactly one protocol,
/// `Noise_XX_25519_ChaChaPoly_SHA256` (Specs/p2p.md section 2). The primitives are OpenSSL's
/// (`NoiseCrypto.swift`); this file is the framework's bookkeeping: nonces, chaining key, handshake hash,
/// and the XX message patterns. Names follow the specification's.

/// Runs `body`, restoring the typed error that Array's rethrowing `withUnsafeBytes` erases.
@inline(__always)
func typed<T>(_ body: () throws -> T) throws(NoiseError) -> T {
    do { return try body() } catch let e as NoiseError { throw e } catch { throw .library("\(error)") }
}

/// Sizes fixed by the protocol.
public enum NoiseConstants {
    /// `Noise_XX_25519_ChaChaPoly_SHA256`: exactly 32 bytes, so it is used as the initial `h` unhashed.
    public static let protocolName = Array("Noise_XX_25519_ChaChaPoly_SHA256".utf8)
    /// Largest Noise message (handshake message or transport record), the specification's limit.
    public static let maxMessageBytes = 65_535
    /// The AEAD tag.
    public static let tagBytes = 16
    /// Largest plaintext one transport record carries.
    public static let maxRecordPlaintext = maxMessageBytes - tagBytes
    /// Records per direction after which both sides rekey (Noise `Rekey()`), bounding how much traffic
    /// one key protects; deterministic, so no signalling is needed.
    public static let rekeyInterval: UInt64 = 1 << 16
}

/// Noise `CipherState`: a key (or none) and a 64-bit counter nonce.
public final class NoiseCipherState {
    private var key: ChaChaPolyKey?
    /// The next nonce.
    public private(set) var nonce: UInt64 = 0

    init() {}

    init(key: [UInt8]) throws(NoiseError) {
        self.key = try ChaChaPolyKey(key)
    }

    var hasKey: Bool { key != nil }

    func initializeKey(_ k: [UInt8]) throws(NoiseError) {
        if let key { key.replaceKey(k) } else { key = try ChaChaPolyKey(k) }
        nonce = 0
    }

    /// Noise `SetNonce`, for tests of nonce exhaustion.
    public func setNonce(_ n: UInt64) { nonce = n }

    /// `EncryptWithAd`: the plaintext unchanged when there is no key yet.
    func encrypt(ad: [UInt8], _ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        var out = [UInt8](repeating: 0, count: plaintext.count + NoiseConstants.tagBytes)
        try typed { try ad.withUnsafeBytes { a in  // Array's rethrowing closures erase the error type
            try plaintext.withUnsafeBytes { p in
                try out.withUnsafeMutableBytes { o in try key.seal(nonce: nonce, ad: a, plaintext: p, into: o) }
            }
        } }
        nonce += 1
        return out
    }

    /// `DecryptWithAd`: the ciphertext unchanged when there is no key yet. The nonce advances only on success.
    func decrypt(ad: [UInt8], _ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        guard ciphertext.count >= NoiseConstants.tagBytes else { throw .decryptionFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - NoiseConstants.tagBytes)
        try typed { try ad.withUnsafeBytes { a in  // Array's rethrowing closures erase the error type
            try ciphertext.withUnsafeBytes { c in
                try out.withUnsafeMutableBytes { o in try key.open(nonce: nonce, ad: a, ciphertext: c, into: o) }
            }
        } }
        nonce += 1
        return out
    }

    /// Seals one transport record (empty associated data) from raw memory into raw memory.
    func seal(_ plaintext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        guard let key else { throw .outOfOrder }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        try key.seal(nonce: nonce, ad: UnsafeRawBufferPointer(start: nil, count: 0), plaintext: plaintext, into: out)
        nonce += 1
    }

    /// Opens one transport record (empty associated data) from raw memory into raw memory.
    func open(_ ciphertext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        guard let key else { throw .outOfOrder }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        try key.open(nonce: nonce, ad: UnsafeRawBufferPointer(start: nil, count: 0), ciphertext: ciphertext, into: out)
        nonce += 1
    }

    /// Noise `Rekey()`: `k = first 32 bytes of ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes)`; the nonce is kept.
    func rekey() throws(NoiseError) {
        guard let key else { throw .outOfOrder }
        let zeros = [UInt8](repeating: 0, count: 32)
        var out = [UInt8](repeating: 0, count: 48)
        try typed { try zeros.withUnsafeBytes { z in  // Array's rethrowing closures erase the error type
            try out.withUnsafeMutableBytes { o in
                try key.seal(nonce: UInt64.max, ad: UnsafeRawBufferPointer(start: nil, count: 0), plaintext: z, into: o)
            }
        } }
        key.replaceKey(Array(out[0..<32]))
    }
}

/// Noise `SymmetricState`: chaining key, handshake hash and the handshake's cipher.
final class NoiseSymmetricState {
    private(set) var ck: [UInt8]
    private(set) var h: [UInt8]
    let cipher = NoiseCipherState()

    init(protocolName: [UInt8]) {
        if protocolName.count <= 32 {
            h = protocolName + [UInt8](repeating: 0, count: 32 - protocolName.count)
        } else {
            h = NoiseHash.sha256(protocolName)
        }
        ck = h
    }

    func mixKey(_ ikm: [UInt8]) throws(NoiseError) {
        let (newCk, tempK) = NoiseHash.hkdf2(chainingKey: ck, ikm)
        ck = newCk
        try cipher.initializeKey(tempK)
    }

    func mixHash(_ data: [UInt8]) { h = NoiseHash.sha256(h + data) }

    func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let c = try cipher.encrypt(ad: h, plaintext)
        mixHash(c)
        return c
    }

    func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let p = try cipher.decrypt(ad: h, ciphertext)
        mixHash(ciphertext)
        return p
    }

    /// `Split()`: the initiator's sending cipher first.
    func split() throws(NoiseError) -> (NoiseCipherState, NoiseCipherState) {
        let (k1, k2) = NoiseHash.hkdf2(chainingKey: ck, [])
        return (try NoiseCipherState(key: k1), try NoiseCipherState(key: k2))
    }
}

/// Which side of the handshake we are: the dialer initiates.
public enum NoiseRole: Sendable {
    case initiator
    case responder
}

/// Noise `HandshakeState` for the XX pattern:
///
///     -> e
///     <- e, ee, s, es
///     -> s, se
public final class NoiseHandshake {
    private enum Token { case e, s, ee, es, se }
    private static let pattern: [[Token]] = [[.e], [.e, .ee, .s, .es], [.s, .se]]

    public let role: NoiseRole
    private let symmetric: NoiseSymmetricState
    private let s: X25519KeyPair
    private var e: X25519KeyPair?
    private let fixedEphemeral: X25519KeyPair?
    /// The peer's static and ephemeral public keys, once received.
    public private(set) var remoteStatic: [UInt8]?
    private var remoteEphemeral: [UInt8]?
    private var index = 0

    /// - Parameters:
    ///   - staticKey: our Noise static key.
    ///   - prologue: data both sides must agree on (mixed into the handshake hash, never sent).
    ///   - ephemeral: a fixed ephemeral key, for test vectors only; nil draws a fresh one.
    public init(role: NoiseRole, staticKey: X25519KeyPair, prologue: [UInt8], ephemeral: X25519KeyPair? = nil) {
        self.role = role
        s = staticKey
        fixedEphemeral = ephemeral
        symmetric = NoiseSymmetricState(protocolName: NoiseConstants.protocolName)
        symmetric.mixHash(prologue)
    }

    /// All three messages were processed: call `split()`.
    public var isComplete: Bool { index == Self.pattern.count }

    /// Whether the next message is ours to write.
    public var isOurTurn: Bool { !isComplete && (index % 2 == 0) == (role == .initiator) }

    /// The handshake hash `h` (a channel binding once complete).
    public var handshakeHash: [UInt8] { symmetric.h }

    /// The next message, carrying `payload` (encrypted from the second message on).
    public func writeMessage(payload: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard isOurTurn else { throw .outOfOrder }
        var out = [UInt8]()
        for token in Self.pattern[index] {
            switch token {
            case .e:
                let eph = fixedEphemeral ?? X25519KeyPair.generate()
                e = eph
                out += eph.publicKey
                symmetric.mixHash(eph.publicKey)
            case .s:
                out += try symmetric.encryptAndHash(s.publicKey)
            case .ee, .es, .se:
                try mix(token)
            }
        }
        out += try symmetric.encryptAndHash(payload)
        guard out.count <= NoiseConstants.maxMessageBytes else { throw .malformedMessage("message over 65535 bytes") }
        index += 1
        return out
    }

    /// Processes the peer's next message; returns its payload. Any failure leaves the handshake unusable.
    public func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard !isComplete && !isOurTurn else { throw .outOfOrder }
        guard message.count <= NoiseConstants.maxMessageBytes else { throw .malformedMessage("message over 65535 bytes") }
        var at = 0
        func take(_ n: Int) throws(NoiseError) -> [UInt8] {
            guard message.count - at >= n else { throw .malformedMessage("truncated handshake message") }
            defer { at += n }
            return Array(message[at..<(at + n)])
        }
        for token in Self.pattern[index] {
            switch token {
            case .e:
                let re = try take(32)
                remoteEphemeral = re
                symmetric.mixHash(re)
            case .s:
                let n = symmetric.cipher.hasKey ? 32 + NoiseConstants.tagBytes : 32
                remoteStatic = try symmetric.decryptAndHash(try take(n))
            case .ee, .es, .se:
                try mix(token)
            }
        }
        let payload = try symmetric.decryptAndHash(Array(message[at...]))
        index += 1
        return payload
    }

    private func mix(_ token: Token) throws(NoiseError) {
        guard let e else { throw .outOfOrder }
        let initiator = role == .initiator
        switch token {
        case .ee:
            guard let re = remoteEphemeral else { throw .outOfOrder }
            try symmetric.mixKey(try e.dh(re))
        case .es:
            // DH(initiator's ephemeral, responder's static).
            if initiator {
                guard let rs = remoteStatic else { throw .outOfOrder }
                try symmetric.mixKey(try e.dh(rs))
            } else {
                guard let re = remoteEphemeral else { throw .outOfOrder }
                try symmetric.mixKey(try s.dh(re))
            }
        case .se:
            // DH(initiator's static, responder's ephemeral).
            if initiator {
                guard let re = remoteEphemeral else { throw .outOfOrder }
                try symmetric.mixKey(try s.dh(re))
            } else {
                guard let rs = remoteStatic else { throw .outOfOrder }
                try symmetric.mixKey(try e.dh(rs))
            }
        case .e, .s:
            break
        }
    }

    /// The transport ciphers once the handshake is complete: ours for sending, then for receiving.
    public func split() throws(NoiseError) -> (send: NoiseCipherState, receive: NoiseCipherState) {
        guard isComplete else { throw .outOfOrder }
        let (c1, c2) = try symmetric.split()
        return role == .initiator ? (c1, c2) : (c2, c1)
    }
}

/// One direction of an established session: seals or opens records and rekeys every
/// `NoiseConstants.rekeyInterval` records.
public final class NoiseTransportCipher {
    let cipher: NoiseCipherState
    let rekeyInterval: UInt64

    /// - Parameter rekeyInterval: records between rekeys (the protocol's constant; tests use small ones).
    public init(_ cipher: NoiseCipherState, rekeyInterval: UInt64 = NoiseConstants.rekeyInterval) {
        self.cipher = cipher
        self.rekeyInterval = max(1, rekeyInterval)
    }

    /// The next record's nonce.
    public var nonce: UInt64 { cipher.nonce }

    /// Noise `SetNonce` (tests of exhaustion).
    public func setNonce(_ n: UInt64) { cipher.setNonce(n) }

    private func afterRecord() throws(NoiseError) {
        if cipher.nonce % rekeyInterval == 0 { try cipher.rekey() }
    }

    /// Seals one record's plaintext (at most `maxRecordPlaintext` bytes) into `out` (plaintext + 16 bytes).
    public func seal(_ plaintext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        guard plaintext.count <= NoiseConstants.maxRecordPlaintext else { throw .malformedMessage("record plaintext over the limit") }
        try cipher.seal(plaintext, into: out)
        try afterRecord()
    }

    /// Opens one record (16 … 65535 bytes) into `out` (ciphertext − 16 bytes).
    public func open(_ ciphertext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(NoiseError) {
        guard ciphertext.count >= NoiseConstants.tagBytes, ciphertext.count <= NoiseConstants.maxMessageBytes else {
            throw .malformedMessage("record of \(ciphertext.count) bytes")
        }
        try cipher.open(ciphertext, into: out)
        try afterRecord()
    }

    /// Convenience for tests and tools: seals an array.
    public func seal(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + NoiseConstants.tagBytes)
        try typed { try plaintext.withUnsafeBytes { p in  // Array's rethrowing closures erase the error type
            try out.withUnsafeMutableBytes { o in try seal(p, into: o) }
        } }
        return out
    }

    /// Convenience for tests and tools: opens an array.
    public func open(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard ciphertext.count >= NoiseConstants.tagBytes else { throw .malformedMessage("record of \(ciphertext.count) bytes") }
        var out = [UInt8](repeating: 0, count: ciphertext.count - NoiseConstants.tagBytes)
        try typed { try ciphertext.withUnsafeBytes { c in  // Array's rethrowing closures erase the error type
            try out.withUnsafeMutableBytes { o in try open(c, into: o) }
        } }
        return out
    }
}

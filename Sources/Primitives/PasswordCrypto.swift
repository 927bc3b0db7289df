import COpenSSL

/// A failure of the password-based key derivation or of authenticated encryption.
public enum PasswordCryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// scrypt parameters OpenSSL refuses (N not a power of two above 1, or too much memory).
    case invalidKDFParameters(String)
    /// The ciphertext or its associated data was altered, or the key is wrong (a wrong passphrase).
    case authenticationFailed
    /// Wrong key, nonce or tag length.
    case invalidLength(String)
    /// OpenSSL reported an internal failure.
    case openSSL(String)

    public var description: String {
        switch self {
        case .invalidKDFParameters(let why): "invalid scrypt parameters: \(why)"
        case .authenticationFailed: "authentication failed (wrong passphrase, or the data was altered)"
        case .invalidLength(let why): "invalid length: \(why)"
        case .openSSL(let what): "OpenSSL failure in \(what)"
        }
    }
}

/// scrypt (RFC 7914) through OpenSSL's `EVP_PBE_scrypt`: the memory-hard password KDF of geth's keystore v3.
public enum Scrypt {
    /// Parameters of one derivation, stored beside the ciphertext so that a file can be opened later.
    public struct Parameters: Sendable, Equatable, Codable {
        /// CPU/memory cost, a power of two (memory used is about 128·r·N bytes).
        public var n: UInt64
        /// Block size.
        public var r: UInt64
        /// Parallelism.
        public var p: UInt64

        public init(n: UInt64, r: UInt64, p: UInt64) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// geth's "standard" cost: N = 2¹⁸, r = 8, p = 1 (256 MiB, about a second on a server core).
        public static let standard = Parameters(n: 1 << 18, r: 8, p: 1)

        /// The most any file may ask for (N ≤ 2²⁰, r ≤ 32, p ≤ 16, and N · r ≤ 2²³, so scrypt's 128 · r · N bytes stay
        /// within 1 GiB; the separate bounds alone allowed 4 GiB, tenth review): a key file comes from disk, and a
        /// hostile one must not make the node allocate gigabytes or spin for minutes before it can fail.
        public var isWithinLimits: Bool {
            n > 1 && n & (n - 1) == 0 && n <= 1 << 20 && (1...32).contains(r) && (1...16).contains(p) && n * r <= 1 << 23
        }

        /// Memory scrypt needs (OpenSSL's own formula: the V array plus the B blocks), with 1 MiB headroom.
        var memoryBytes: UInt64 { 128 * r * (n + 2) + 128 * r * p + (1 << 20) }
    }

    /// Derives `length` bytes from a passphrase and salt.
    public static func derive(passphrase: [UInt8], salt: [UInt8], parameters: Parameters, length: Int = 32) throws(PasswordCryptoError) -> [UInt8] {
        guard parameters.isWithinLimits else {
            throw .invalidKDFParameters("n=\(parameters.n) r=\(parameters.r) p=\(parameters.p) (N a power of two ≤ 2^20, r ≤ 32, p ≤ 16)")
        }
        var out = [UInt8](repeating: 0, count: length)
        let ok = passphrase.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { salt in
                out.withUnsafeMutableBufferPointer { out in
                    pass.withMemoryRebound(to: CChar.self) { pass in
                        EVP_PBE_scrypt(pass.baseAddress, pass.count, salt.baseAddress, salt.count,
                                       parameters.n, parameters.r, parameters.p, parameters.memoryBytes, out.baseAddress, out.count)
                    }
                }
            }
        }
        guard ok == 1 else { throw .invalidKDFParameters("OpenSSL refused n=\(parameters.n) r=\(parameters.r) p=\(parameters.p)") }
        return out
    }
}

/// AES-256-GCM through OpenSSL's EVP API: 32-byte key, 12-byte nonce, 16-byte tag.
public enum AES256GCM {
    public static let keyLength = 32
    public static let nonceLength = 12
    public static let tagLength = 16

    /// Encrypts and authenticates `plaintext`, and authenticates `aad` without encrypting it.
    public static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], aad: [UInt8] = []) throws(PasswordCryptoError)
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        try checkLengths(key: key, nonce: nonce)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: tagLength)
        var len: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceLength), nil) == 1,
              EVP_EncryptInit_ex(ctx, nil, nil, key, nonce) == 1
        else { throw .openSSL("AES-256-GCM init") }
        if !aad.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &len, aad, Int32(aad.count)) == 1 else { throw .openSSL("AES-256-GCM aad") }
        }
        let updated = out.withUnsafeMutableBufferPointer { o in
            plaintext.isEmpty ? 1 : EVP_EncryptUpdate(ctx, o.baseAddress, &len, plaintext, Int32(plaintext.count))
        }
        guard updated == 1 else { throw .openSSL("AES-256-GCM encrypt") }
        total = Int(plaintext.isEmpty ? 0 : len)
        let finished = out.withUnsafeMutableBufferPointer { o in EVP_EncryptFinal_ex(ctx, o.baseAddress! + total, &len) }
        guard finished == 1 else { throw .openSSL("AES-256-GCM final") }
        total += Int(len)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(tagLength), &tag) == 1 else { throw .openSSL("AES-256-GCM tag") }
        return (Array(out[..<total]), tag)
    }

    /// Checks the tag and decrypts; ``PasswordCryptoError/authenticationFailed`` when the key is wrong or
    /// anything was altered (no plaintext is returned then).
    public static func open(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8], aad: [UInt8] = []) throws(PasswordCryptoError) -> [UInt8] {
        try checkLengths(key: key, nonce: nonce)
        guard tag.count == tagLength else { throw .invalidLength("tag of \(tag.count) bytes, expected \(tagLength)") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var len: Int32 = 0
        var total = 0
        var tag = tag
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceLength), nil) == 1,
              EVP_DecryptInit_ex(ctx, nil, nil, key, nonce) == 1
        else { throw .openSSL("AES-256-GCM init") }
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &len, aad, Int32(aad.count)) == 1 else { throw .openSSL("AES-256-GCM aad") }
        }
        let updated = out.withUnsafeMutableBufferPointer { o in
            ciphertext.isEmpty ? 1 : EVP_DecryptUpdate(ctx, o.baseAddress, &len, ciphertext, Int32(ciphertext.count))
        }
        guard updated == 1 else { throw .openSSL("AES-256-GCM decrypt") }
        total = Int(ciphertext.isEmpty ? 0 : len)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength), &tag) == 1 else { throw .openSSL("AES-256-GCM tag") }
        // The tag is checked here: a failure means wrong key or altered data, and the output is discarded.
        let finished = out.withUnsafeMutableBufferPointer { o in EVP_DecryptFinal_ex(ctx, o.baseAddress! + total, &len) }
        guard finished == 1 else {
            for i in out.indices { out[i] = 0 }
            throw .authenticationFailed
        }
        total += Int(len)
        return Array(out[..<total])
    }

    private static func checkLengths(key: [UInt8], nonce: [UInt8]) throws(PasswordCryptoError) {
        guard key.count == keyLength else { throw .invalidLength("key of \(key.count) bytes, expected \(keyLength)") }
        guard nonce.count == nonceLength else { throw .invalidLength("nonce of \(nonce.count) bytes, expected \(nonceLength)") }
    }
}

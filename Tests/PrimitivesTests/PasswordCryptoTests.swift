import Testing
@testable import Primitives

/// scrypt and AES-256-GCM through OpenSSL against published vectors.
@Suite struct PasswordCryptoTests {
    /// RFC 7914 section 12, the third vector.
    @Test func scryptMatchesRFC7914() throws {
        let out = try Scrypt.derive(passphrase: Array("pleaseletmein".utf8), salt: Array("SodiumChloride".utf8),
                                    parameters: .init(n: 16_384, r: 8, p: 1), length: 64)
        #expect(out.hex == "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887")
        // Out-of-range costs are refused without running.
        #expect(throws: PasswordCryptoError.self) { try Scrypt.derive(passphrase: [], salt: [], parameters: .init(n: 1000, r: 8, p: 1)) }
        #expect(throws: PasswordCryptoError.self) { try Scrypt.derive(passphrase: [], salt: [], parameters: .init(n: 1 << 21, r: 8, p: 1)) }
    }

    /// The GCM specification's test cases 13 and 14 (256-bit zero key, zero nonce).
    @Test func aesGCMMatchesTheSpecificationVectors() throws {
        let key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 12)
        let empty = try AES256GCM.seal(key: key, nonce: nonce, plaintext: [])
        #expect(empty.ciphertext.isEmpty && empty.tag.hex == "530f8afbc74536b9a963b4f1c4cb738b")
        let block = try AES256GCM.seal(key: key, nonce: nonce, plaintext: [UInt8](repeating: 0, count: 16))
        #expect(block.ciphertext.hex == "cea7403d4d606b6e074ec5d3baf39d18" && block.tag.hex == "d0d1c8a799996bf0265b98b5d48ab919")
        #expect(try AES256GCM.open(key: key, nonce: nonce, ciphertext: block.ciphertext, tag: block.tag) == [UInt8](repeating: 0, count: 16))
    }

    @Test func aesGCMRejectsAnyChange() throws {
        let key = SecureRandom.bytes(32), nonce = SecureRandom.bytes(12), aad = Array("bound".utf8)
        let sealed = try AES256GCM.seal(key: key, nonce: nonce, plaintext: Array("secret".utf8), aad: aad)
        #expect(try AES256GCM.open(key: key, nonce: nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, aad: aad) == Array("secret".utf8))
        var otherKey = key
        otherKey[0] ^= 1
        #expect(throws: PasswordCryptoError.authenticationFailed) {
            try AES256GCM.open(key: otherKey, nonce: nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, aad: aad)
        }
        #expect(throws: PasswordCryptoError.authenticationFailed) {
            try AES256GCM.open(key: key, nonce: nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, aad: Array("other".utf8))
        }
        var tag = sealed.tag
        tag[15] ^= 0x80
        #expect(throws: PasswordCryptoError.authenticationFailed) {
            try AES256GCM.open(key: key, nonce: nonce, ciphertext: sealed.ciphertext, tag: tag, aad: aad)
        }
        #expect(throws: PasswordCryptoError.self) { try AES256GCM.seal(key: [1], nonce: nonce, plaintext: []) }
    }
}

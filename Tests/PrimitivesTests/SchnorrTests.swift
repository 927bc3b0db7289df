import Foundation
import Testing
@testable import Primitives

/// BIP-340 official vectors and key-handling behaviour.
@Suite struct SchnorrTests {
    struct Row {
        let index: Int
        let secretKey: String
        let publicKey: String
        let auxRand: String
        let message: String
        let signature: String
        let valid: Bool
        let comment: String
    }

    static func rows() throws -> [Row] {
        let text = String(decoding: try TestFiles.resource("bip340-test-vectors.csv"), as: UTF8.self)
        var rows = [Row]()
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            rows.append(Row(index: Int(f[0])!, secretKey: f[1], publicKey: f[2], auxRand: f[3], message: f[4],
                            signature: f[5], valid: f[6] == "TRUE", comment: f.count > 7 ? f[7] : ""))
        }
        return rows
    }

    @Test func allNineteenOfficialRowsArePresent() throws {
        let rows = try Self.rows()
        #expect(rows.count == 19)
        #expect(rows.map(\.index) == Array(0..<19))
    }

    @Test func officialVectorsVerify() throws {
        for row in try Self.rows() {
            let key = try PublicKey(hex: row.publicKey)
            let sig = try Signature(hex: row.signature)
            let msg = try Hex.decode(row.message)
            #expect(key.verify(sig, message: msg) == row.valid, "BIP-340 row \(row.index): \(row.comment)")
        }
    }

    /// Verification goes through the parsed-key cache: a second pass over the vectors (every valid key now cached)
    /// gives the same verdicts, an invalid key is never cached, and a full cache starts over instead of growing.
    @Test func parsedKeyCacheChangesNoVerdictAndStaysBounded() throws {
        for _ in 0..<2 {
            for row in try Self.rows() {
                let key = try PublicKey(hex: row.publicKey)
                #expect(key.verify(try Signature(hex: row.signature), message: try Hex.decode(row.message)) == row.valid,
                        "BIP-340 row \(row.index) with a cached key")
            }
        }
        let cache = ParsedKeyCache(capacity: 4)
        let notOnCurve = try Hash32(hex: "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34")  // BIP-340 row 5
        #expect(cache.parsed(notOnCurve) == nil && cache.count == 0)
        let keys = (0..<9).map { _ in PrivateKey.generate().publicKey.rawValue }
        for k in keys { #expect(cache.parsed(k) != nil); #expect(cache.count <= 4) }
        #expect(cache.count == 1)  // the ninth key started it over
    }

    @Test func officialVectorsSign() throws {
        var signed = 0
        for row in try Self.rows() where !row.secretKey.isEmpty {
            let key = try PrivateKey(hex: row.secretKey)
            #expect(key.publicKey.hex == row.publicKey.lowercased(), "row \(row.index) public key")
            let sig = key.sign(message: try Hex.decode(row.message), auxRand: try Hash32(hex: row.auxRand))
            #expect(sig.hex == row.signature.lowercased(), "row \(row.index) signature")
            signed += 1
        }
        #expect(signed == 8)
    }

    @Test func generatedKeysSignAndVerify() {
        let key = PrivateKey.generate()
        let other = PrivateKey.generate()
        #expect(key.publicKey != other.publicKey)
        let digest = Tags.txSig.hash([1, 2, 3])
        let sig = key.sign(digest: digest)
        #expect(key.publicKey.verify(sig, digest: digest))
        #expect(!other.publicKey.verify(sig, digest: digest))
        #expect(!key.publicKey.verify(sig, digest: Tags.txSig.hash([1, 2, 4])))
        var tampered = sig.bytes
        tampered[40] ^= 1
        #expect(!key.publicKey.verify(Signature(bytes: tampered)!, digest: digest))
        #expect(key.publicKey.isValid)
    }

    @Test func invalidSecretKeysAreRejected() {
        #expect(throws: KeyError.invalidSecretKey) { try PrivateKey(secretBytes: [UInt8](repeating: 0, count: 32)) }
        // The group order n itself is not a valid secret.
        let n = try! Hex.decode("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")
        #expect(throws: KeyError.invalidSecretKey) { try PrivateKey(secretBytes: n) }
        #expect(throws: KeyError.wrongLength(expected: 32, actual: 31)) { try PrivateKey(secretBytes: [UInt8](repeating: 1, count: 31)) }
    }

    @Test func secretNeverAppearsInDescriptions() throws {
        let secretHex = "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef"
        let key = try PrivateKey(hex: secretHex)
        #expect(!key.description.contains(secretHex))
        #expect(!String(describing: key).contains(secretHex))
        #expect(!String(reflecting: key).contains(secretHex))
        #expect(key.description.contains("redacted"))
        #expect(key.secretBytes.hex == secretHex)
    }

    @Test func invalidPublicKeyNeverVerifies() throws {
        let bad = try PublicKey(hex: "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34")
        #expect(!bad.isValid)
    }
}

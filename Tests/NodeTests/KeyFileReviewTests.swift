import Foundation
import Node
import Primitives
import Testing
import TestSupport

/// Review D (keys at rest): fields of a key file that the node acts on but that no tag authenticates.
@Suite struct KeyFileReviewTests {
    static let light = Scrypt.Parameters(n: 1 << 10, r: 8, p: 1)

    /// Finding D3: `randaoGeneration` and `randaoChainLength` sit in clear beside the encrypted secret and are not
    /// in the AES-GCM associated data (only the public key is), yet `NodeRuntime` builds `generation + 1` hash chains
    /// of `length` hashes from them at startup. Someone who can write the file (not read the secret) sets
    /// `randaoChainLength` to 0 (the node traps on `RandaoHashChain`'s precondition) or `randaoGeneration` to
    /// 2^32 − 1 (the node hashes for ever before it starts). Secure outcome: loading refuses such a file with an
    /// error that names it, before any chain is built.
    @Test func outOfRangeRandaoFieldsOfAnEncryptedKeyFileAreRefused() throws {
        let dir = TempDir("keyfile-review")
        let key = PrivateKey.generate()
        var file = try KeyFile(key: key, hrp: "shr", passphrase: "pw", scrypt: Self.light)
        file.randaoGeneration = 0
        file.randaoChainLength = ValidatorRandao.defaultLength
        let good = dir.file("good.json")
        try file.write(path: good)
        _ = try KeyFile.load(path: good, passphrase: .literal("pw"))
        var rotated = file
        rotated.randaoGeneration = 63
        let rotatedPath = dir.file("rotated.json")
        try rotated.write(path: rotatedPath)
        #expect(try KeyFile.load(path: rotatedPath, passphrase: .literal("pw")).1.randaoGeneration == 63, "64 default-length chains load")

        // The last two: each field within its own bound, but 1 024 chains of 2²⁴ hashes (about an hour and a half of
        // hashing before the node starts; tenth review) or 64 chains of the default length plus one.
        let tampered: [(UInt32?, Int?)] = [(nil, 0), (nil, -5), (nil, Int.max), (UInt32.max, nil), (1 << 20, ValidatorRandao.defaultLength),
                                           (KeyFile.maxRandaoGeneration, KeyFile.maxRandaoChainLength), (64, ValidatorRandao.defaultLength)]
        for (i, (generation, length)) in tampered.enumerated() {
            var t = file
            if let generation { t.randaoGeneration = generation }
            if let length { t.randaoChainLength = length }
            let path = dir.file("t\(i).json")
            try t.write(path: path)
            #expect(throws: KeyFileError.self, "randaoGeneration \(String(describing: generation)), length \(String(describing: length))") {
                _ = try KeyFile.load(path: path, passphrase: .literal("pw"))
            }
        }
    }

    /// Tenth review: scrypt's separate bounds (N ≤ 2²⁰, r ≤ 32) allowed a file asking for 4 GiB; N · r is bounded too.
    /// Operator review (seventeenth session): a file that is not a key file was reported with Swift's decoding dump
    /// (`DecodingError.keyNotFound … CodingKeys(stringValue: …)`). Now the field and what is wrong, and how to make one.
    @Test func aFileThatIsNotAKeyFileIsReportedInPlainWords() throws {
        let dir = TempDir("keyfile-garbage")
        let cases: [(String, String)] = [
            ("{\"type\": \"x\"}", "missing field 'publicKey'"),
            ("[1, 2]", "not a JSON object"),
            ("garbage", "not JSON"),
            ("{\"type\": 5, \"publicKey\": \"00\"}", "wrong type for 'type'"),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let path = (dir.path as NSString).appendingPathComponent("k\(i).key")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let message = "\(try #require(throws: KeyFileError.self) { try KeyFile.read(path: path) })"
            #expect(message.contains(expected) && message.contains("sharechain keys new"), "\(message)")
            #expect(!message.contains("CodingKeys") && !message.contains("DecodingError"), "\(message)")
        }
    }

    @Test func scryptParametersAboveAGibibyteAreRefused() {
        #expect(Scrypt.Parameters.standard.isWithinLimits)
        #expect(Scrypt.Parameters(n: 1 << 20, r: 8, p: 1).isWithinLimits, "1 GiB is the limit")
        #expect(!Scrypt.Parameters(n: 1 << 20, r: 32, p: 1).isWithinLimits, "4 GiB")
        #expect(!Scrypt.Parameters(n: 1 << 19, r: 17, p: 1).isWithinLimits)
    }
}

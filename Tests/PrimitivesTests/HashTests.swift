import Foundation
import Testing
@testable import Primitives

@Suite struct HashTests {
    @Test func sha256KnownAnswers() {
        #expect(SHA256.hash([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hash(long).hex == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func incrementalEqualsOneShot() {
        var g = SplitMix64(seed: 1)
        for _ in 0..<100 {
            let data = (0..<Int.random(in: 0...300, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let cut = Int.random(in: 0...data.count, using: &g)
            var h = SHA256()
            h.update(Array(data[..<cut]))
            h.update(Array(data[cut...]))
            #expect(h.finalize() == SHA256.hash(data))
        }
    }

    @Test func taggedHashMatchesDefinition() {
        let tag = "BIP0340/challenge"
        let msg: [UInt8] = Array(0..<100)
        let t = SHA256.hash(Array(tag.utf8)).bytes
        #expect(TaggedHash(tag).hash(msg) == SHA256.hash(t + t + msg))
        // Distinct tags separate domains.
        #expect(Tags.tx.hash(msg) != Tags.block.hash(msg))
    }

    @Test func specVectors() throws {
        struct V: Decodable {
            struct T: Decodable { let tag: String; let message: String; let hash: String }
            struct S: Decodable { let message: String; let hash: String }
            let taggedHashes: [T]
            let sha256: [S]
        }
        let v = try JSONDecoder().decode(V.self, from: TestFiles.specVector("primitives.json"))
        #expect(!v.taggedHashes.isEmpty)
        for t in v.taggedHashes {
            #expect(TaggedHash(t.tag).hash(try Hex.decode(t.message)).hex == t.hash, "\(t.tag)")
        }
        for s in v.sha256 { #expect(SHA256.hash(try Hex.decode(s.message)).hex == s.hash) }
    }

    @Test func hash32OrderingIsLexicographic() {
        var g = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let a = Hash32(bytes: (0..<32).map { _ in UInt8.random(in: 0...3, using: &g) })!
            let b = Hash32(bytes: (0..<32).map { _ in UInt8.random(in: 0...3, using: &g) })!
            #expect((a < b) == a.bytes.lexicographicallyPrecedes(b.bytes))
        }
    }

    @Test func hexIsStrict() throws {
        #expect(try Hex.decode("0x00ff10") == [0, 255, 16])
        #expect(try Hex.decode("ABcd") == [0xab, 0xcd])
        #expect(try Hex.decode("") == [])
        #expect(throws: HexError.oddLength(3)) { try Hex.decode("abc") }
        #expect(throws: HexError.invalidCharacter("g", offset: 1)) { try Hex.decode("0g") }
        #expect(throws: HexError.invalidCharacter(" ", offset: 2)) { try Hex.decode("00 1") }
        #expect(throws: HexError.wrongLength(expected: 32, actual: 2)) { try Hash32(hex: "0x0102") }
        #expect([UInt8]([1, 0xab]).hex == "01ab")
    }
}

import Foundation
import Primitives
import Testing

/// Review D (cryptographic constructions): domain separation of everything the node keys sign or hash.
/// Regressions: the properties hold on the reviewed code.
@Suite struct DomainSeparationReviewTests {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Every `TaggedHash("…")` literal in the sources, with the file that declares it.
    static func tagLiterals() throws -> [(tag: String, file: String)] {
        let sources = root.appendingPathComponent("Sources")
        guard let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        let pattern = try Regex(#"TaggedHash\("([^"]*)"\)"#)
        var out: [(String, String)] = []
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for m in text.matches(of: pattern) {
                if let tag = m.output[1].substring { out.append((String(tag), url.lastPathComponent)) }
            }
        }
        return out
    }

    /// Regression: every tag is declared once and none is a prefix-free clash with another (tagged hashes hash the
    /// tag first, so distinct tags are distinct domains). A signature the node key makes (block header, transaction,
    /// finality vote, handshake answer, Noise identity) is over a digest in its own domain, so it cannot be
    /// replayed as another kind; the chain id is inside every one of them.
    @Test func regressionEveryTagIsDeclaredOnceAndIsNamespaced() throws {
        let tags = try Self.tagLiterals()
        #expect(tags.count >= 30)
        var seen: [String: String] = [:]
        for (tag, file) in tags {
            #expect(seen[tag] == nil, "tag \(tag) declared in \(seen[tag] ?? "") and \(file)")
            seen[tag] = file
            #expect(tag.hasPrefix("sharechain/"), "tag \(tag) outside the sharechain/ namespace")
        }
    }

    /// Regression: one key's signature over a digest of one domain does not verify for the same message bytes in
    /// any other domain (the signing hashes differ), and BIP-340 verification refuses a signature with a flipped
    /// bit, the twin `(r, n − s)` or an s equal to the group order (no malleable twin of a signed message exists).
    @Test func regressionSignaturesDoNotCrossDomainsAndAreNotMalleable() throws {
        let key = try PrivateKey(secretBytes: SHA256.hash(Array("review-d".utf8)).bytes)
        let body = [UInt8](repeating: 0xAB, count: 64)
        let domains = [Tags.tx, Tags.txSig, Tags.block, Tags.voucher, Tags.finalityVote, Tags.handshake, Tags.fraudClaim]
        let sig = key.sign(digest: Tags.txSig.hash(body), auxRand: .zero)
        for d in domains {
            #expect(key.publicKey.verify(sig, digest: d.hash(body)) == (d.tag == Tags.txSig.tag))
        }
        // The ECDSA-style twin (r, n − s) and an out-of-range s (= n) are refused: no third party can re-sign a
        // message into another valid signature (and so another transaction id).
        let n: [UInt8] = try Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        var negS = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        let sBytes = sig.s.bytes
        for i in stride(from: 31, through: 0, by: -1) {
            var v = Int(n[i]) - Int(sBytes[i]) - borrow
            borrow = v < 0 ? 1 : 0
            if v < 0 { v += 256 }
            negS[i] = UInt8(v)
        }
        #expect(!key.publicKey.verify(Signature(r: sig.r, s: Hash32(bytes: negS)!), digest: Tags.txSig.hash(body)))
        #expect(!key.publicKey.verify(Signature(r: sig.r, s: Hash32(bytes: n)!), digest: Tags.txSig.hash(body)))
        var flipped = sig.bytes
        flipped[40] ^= 1
        #expect(!key.publicKey.verify(Signature(bytes: flipped)!, digest: Tags.txSig.hash(body)))
    }
}

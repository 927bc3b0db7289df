import Foundation
import Testing
@testable import Primitives

@Suite struct MerkleTests {
    static func leaves(_ n: Int) -> [Hash32] { (0..<n).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0), 0xaa]) } }

    @Test func knownRoots() {
        #expect(Merkle.root(leafHashes: []).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // RFC 6962: the hash of an empty leaf is SHA256(0x00).
        #expect(Merkle.leafHash([]).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }

    @Test func bottomUpRootEqualsRecursiveDefinition() {
        for n in 0...70 {
            let l = Self.leaves(n)
            #expect(Merkle.root(leafHashes: l) == Merkle.subtreeRoot(l[...]), "n=\(n)")
        }
    }

    @Test func everyProofVerifiesAndNoOtherPositionDoes() {
        for n in 1...40 {
            let l = Self.leaves(n)
            let root = Merkle.root(leafHashes: l)
            for i in 0..<n {
                let p = Merkle.proof(index: i, leafHashes: l)
                #expect(Merkle.verify(leafHash: l[i], index: UInt64(i), treeSize: UInt64(n), proof: p, root: root))
                // Wrong index, wrong size, wrong leaf, truncated or extended proof: all fail.
                if n > 1 {
                    #expect(!Merkle.verify(leafHash: l[i], index: UInt64((i + 1) % n), treeSize: UInt64(n), proof: p, root: root))
                    #expect(!Merkle.verify(leafHash: l[(i + 1) % n], index: UInt64(i), treeSize: UInt64(n), proof: p, root: root))
                    #expect(!Merkle.verify(leafHash: l[i], index: UInt64(i), treeSize: UInt64(n), proof: Array(p.dropLast()), root: root))
                }
                // (A proof can be valid for several tree sizes with the same shape, so the size is bound by
                // context: the pass count committed on chain. An index beyond the size always fails.)
                #expect(!Merkle.verify(leafHash: l[i], index: UInt64(i), treeSize: UInt64(i), proof: p, root: root))
                #expect(!Merkle.verify(leafHash: l[i], index: UInt64(i), treeSize: UInt64(n), proof: p + [root], root: root))
            }
            #expect(!Merkle.verify(leafHash: l[0], index: UInt64(n), treeSize: UInt64(n), proof: [], root: root))
        }
    }

    @Test func specVectors() throws {
        struct V: Decodable {
            struct P: Decodable { let index: Int; let path: [String] }
            struct M: Decodable { let leaves: [String]; let root: String; let proofs: [P] }
            let merkle: [M]
        }
        let v = try JSONDecoder().decode(V.self, from: TestFiles.specVector("primitives.json"))
        #expect(v.merkle.count >= 10)
        for m in v.merkle {
            let hashes = try m.leaves.map { Merkle.leafHash(try Hex.decode($0)) }
            let root = Merkle.root(leafHashes: hashes)
            #expect(root.hex == m.root)
            for p in m.proofs {
                let path = Merkle.proof(index: p.index, leafHashes: hashes)
                #expect(path.map(\.hex) == p.path)
                #expect(Merkle.verify(leafHash: hashes[p.index], index: UInt64(p.index), treeSize: UInt64(hashes.count), proof: path, root: root))
            }
        }
    }
}

@Suite struct AmountTests {
    @Test func checkedArithmetic() throws {
        let max = Amount(.max)
        #expect(throws: AmountError.overflow) { try max.adding(1) }
        #expect(throws: AmountError.underflow) { try Amount(1).subtracting(2) }
        #expect(throws: AmountError.overflow) { try max.multiplied(by: 2) }
        #expect(try Amount(5).adding(7) == 12)
        #expect(try Amount.sum([1, 2, 3]) == 6)
        #expect(throws: AmountError.overflow) { try Amount.sum([max, 1]) }
    }

    @Test func mulDivIsExactBeyond64Bits() throws {
        // (2^64-1) * (2^64-1) / (2^64-1) needs a 128-bit intermediate.
        #expect(try Amount.mulDiv(.max, .max, .max) == .max)
        #expect(try Amount.mulDiv(10, 3, 4) == 7)
        #expect(throws: AmountError.divisionByZero) { try Amount.mulDiv(1, 1, 0) }
        #expect(throws: AmountError.overflow) { try Amount.mulDiv(.max, 2, 1) }
        var g = SplitMix64(seed: 3)
        for _ in 0..<1000 {
            let a = UInt64.random(in: 0...UInt64(UInt32.max), using: &g)
            let b = UInt64.random(in: 0...UInt64(UInt32.max), using: &g)
            let c = UInt64.random(in: 1...UInt64(UInt32.max), using: &g)
            #expect(try Amount.mulDiv(a, b, c) == a * b / c)
        }
    }

    @Test func decimalParsingIsStrict() {
        #expect(Amount(decimal: "123") == 123)
        #expect(Amount(decimal: "18446744073709551615") == Amount(.max))
        #expect(Amount(decimal: "18446744073709551616") == nil)
        #expect(Amount(decimal: "-1") == nil)
        #expect(Amount(decimal: "+1") == nil)
        #expect(Amount(decimal: "1e3") == nil)
        #expect(Amount(decimal: "") == nil)
    }
}

import Primitives
import Testing
@testable import Verifier

@Suite struct TensorTests {
    static func header(rank: UInt8, dims: [UInt64], dtype: UInt8 = 1) -> [UInt8] {
        var b: [UInt8] = Array("TNS1".utf8) + [dtype, rank]
        for d in dims { withUnsafeBytes(of: d.littleEndian) { b += $0 } }
        return b
    }

    @Test func encodingLayoutAndHash() throws {
        let t = try Tensor(shape: [2, 3], data: [1, -2, 0.5, 0, -0.0, 3.25])
        let enc = t.tns1
        var expected = Self.header(rank: 2, dims: [2, 3])
        for v in t.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { expected += $0 } }
        #expect(enc == expected)
        #expect(enc.count == 6 + 16 + 24)
        #expect(t.hash == Tags.tensor.hash(enc))
        #expect(try Tensor(tns1: enc) == t)
        // The shape is covered by the hash: same data, other shape, other hash.
        let flat = try Tensor(shape: [6], data: t.data)
        #expect(flat.hash != t.hash)
        // -0.0 and +0.0 are distinct encodings.
        let pz = try Tensor(shape: [1], data: [0]), nz = try Tensor(shape: [1], data: [-0.0])
        #expect(pz.hash != nz.hash)
    }

    @Test func specExample() throws {
        let t = try Tensor(shape: [1, 2], data: [1, -2])
        #expect(Hex.encode(t.tns1) == "544e53310102010000000000000002000000000000000000803f000000c0")
        #expect(t.hash.hex == "ca5a0ad7aa0b6e9407e78cd772643cb3cdaae87e243d08a77ba567f5a0d702a6")
    }

    @Test func roundTripRandom() throws {
        var g = SplitMix64(seed: 3)
        for _ in 0..<50 {
            let rank = Int.random(in: 1...4, using: &g)
            let shape = (0..<rank).map { _ in Int.random(in: 1...5, using: &g) }
            let data = (0..<shape.reduce(1, *)).map { _ in Float(bitPattern: UInt32.random(in: .min ... .max, using: &g)) }
            let t = try Tensor(shape: shape, data: data)
            let back = try Tensor(tns1: t.tns1)
            #expect(back.shape == shape)
            #expect(back.data.map(\.bitPattern) == data.map(\.bitPattern))
        }
    }

    @Test func strictDecoder() throws {
        let good = try Tensor(shape: [2, 2], data: [1, 2, 3, 4]).tns1
        #expect(throws: TensorError.badMagic) { try Tensor(tns1: [0x54, 0x4E, 0x53, 0x32] + good.dropFirst(4)) }
        #expect(throws: TensorError.unknownDType(2)) { try Tensor(tns1: Self.header(rank: 1, dims: [1], dtype: 2) + [0, 0, 0, 0]) }
        #expect(throws: TensorError.unknownDType(0)) { try Tensor(tns1: Self.header(rank: 1, dims: [1], dtype: 0) + [0, 0, 0, 0]) }
        #expect(throws: TensorError.badRank(0)) { try Tensor(tns1: Self.header(rank: 0, dims: [])) }
        #expect(throws: TensorError.badRank(9)) { try Tensor(tns1: Self.header(rank: 9, dims: Array(repeating: 1, count: 9))) }
        #expect(throws: TensorError.zeroDimension(index: 1)) { try Tensor(tns1: Self.header(rank: 2, dims: [3, 0])) }
        #expect(throws: TensorError.trailingBytes(1)) { try Tensor(tns1: good + [0]) }
        #expect(throws: TensorError.truncated(needed: good.count, available: good.count - 1)) { try Tensor(tns1: Array(good.dropLast())) }
        #expect(throws: TensorError.truncated(needed: 6, available: 3)) { try Tensor(tns1: [0x54, 0x4E, 0x53]) }
        #expect(throws: TensorError.truncated(needed: 22, available: 14)) { try Tensor(tns1: Array(Self.header(rank: 2, dims: [1, 1]).prefix(14))) }
        // Products that overflow 64 bits, or exceed the limit, are rejected before any allocation.
        #expect(throws: TensorError.tooLarge(elements: nil, maximum: TNS1.defaultMaxElements)) {
            try Tensor(tns1: Self.header(rank: 2, dims: [1 << 40, 1 << 40]))
        }
        #expect(throws: TensorError.tooLarge(elements: 1 << 30, maximum: TNS1.defaultMaxElements)) {
            try Tensor(tns1: Self.header(rank: 2, dims: [1 << 15, 1 << 15]))
        }
        #expect(throws: TensorError.tooLarge(elements: 4, maximum: 3)) { try TNS1.decode(good, maxElements: 3) }
        // Every truncation of a valid encoding is an error, never a crash.
        for n in 0..<good.count { #expect(throws: TensorError.self) { try Tensor(tns1: Array(good.prefix(n))) } }
    }

    @Test func constructorChecks() {
        #expect(throws: TensorError.lengthMismatch(expected: 6, actual: 5)) { try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5]) }
        #expect(throws: TensorError.zeroDimension(index: 0)) { try Tensor(shape: [0], data: []) }
        #expect(throws: TensorError.badRank(0)) { try Tensor(shape: [], data: [1]) }
    }
}

import Foundation
import Primitives
import Testing
@testable import Verifier

@Suite struct SafetensorsTests {
    /// A file from a raw header string and data bytes.
    static func file(_ header: String, data: [UInt8], pad: Bool = false) -> [UInt8] {
        var h = Array(header.utf8)
        if pad { while h.count % 8 != 0 { h.append(0x20) } }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        return out + h + data
    }

    static func expectMalformed(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(bytes: bytes)
            Issue.record("accepted a malformed file (\(fragment))", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func roundTripAllFloatTypes() throws {
        let values: [Float] = [0, -0.0, 1, -2.5, 0.1, 65504, 1e-7, 3.14159]
        for dtype in [SafetensorsFile.DType.f32, .f16, .bf16] {
            let bytes = SafetensorsFile.serialize([("b", [2, 4], values), ("a", [1], [7])], dtype: dtype, metadata: ["format": "pt"])
            let f = try SafetensorsFile(bytes: bytes)
            #expect(f.names == ["a", "b"])
            #expect(f.metadata == ["format": "pt"])
            #expect(f.tensors["b"]?.shape == [2, 4])
            #expect(f.tensors["b"]?.dtype == dtype)
            let back = try f.floats("b")
            for (v, b) in zip(values, back) {
                switch dtype {
                case .f32: #expect(v.bitPattern == b.bitPattern)
                case .f16: #expect(abs(v - b) <= max(abs(v) * 0x1p-11, 0x1p-25))  // f16 subnormals below 2^-14
                default: #expect(abs(v - b) <= abs(v) * 0x1p-8)
                }
            }
        }
    }

    @Test func halfConversionsAreExact() {
        // Every binary16 value converts exactly (compare with Swift's own Float16 where available).
        #expect(HalfFloat.f16(0x3C00) == 1)
        #expect(HalfFloat.f16(0xC000) == -2)
        #expect(HalfFloat.f16(0x7BFF) == 65504)
        #expect(HalfFloat.f16(0x0001) == 0x1p-24)
        #expect(HalfFloat.f16(0x8000).bitPattern == (-0.0 as Float).bitPattern)
        #expect(HalfFloat.f16(0x7C00) == .infinity)
        #expect(HalfFloat.f16(0x7E00).isNaN)
        #expect(HalfFloat.bf16(0x3F80) == 1)
        #expect(HalfFloat.bf16(0xC0A0) == -5)
        for h in UInt16.min...UInt16.max where (h & 0x7C00) != 0x7C00 {
            let f = HalfFloat.f16(h)
            #expect(Float16Bits.fromFloat(f) == h, "f16 \(h) does not round-trip")
        }
    }

    @Test func rejectsMalformedFiles() {
        let data4: [UInt8] = [0, 0, 128, 63]
        let ok = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(throws: Never.self) { try SafetensorsFile(bytes: Self.file(ok, data: data4)) }
        Self.expectMalformed([1, 2, 3], "shorter than the 8-byte header length")
        Self.expectMalformed(Self.file(ok, data: data4).prefix(20).map { $0 }, "exceeds the file")
        var huge: [UInt8] = []
        withUnsafeBytes(of: UInt64(100_000_001).littleEndian) { huge += $0 }
        Self.expectMalformed(huge + [0x7B], "exceeds 100000000")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: data4), "duplicate member")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, data: data4), "unknown dtype")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: data4), "needs 8")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: data4 + [0]), "not covered")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: data4 + data4), "gap")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: data4), "overlaps")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: data4), "outside")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: data4), "non-negative")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: data4), "non-negative")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#, data: data4), "overflows")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, data: data4), "unknown field")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1]}}"#, data: data4), "needs dtype")
        Self.expectMalformed(Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, data: data4), "unterminated")
        Self.expectMalformed(Self.file(#"[1,2]"#, data: []), "not a JSON object")
        Self.expectMalformed(Self.file(#"{"__metadata__":{"k":1}}"#, data: []), "not a string")
        Self.expectMalformed(Self.file(String(repeating: "[", count: 100), data: []), "nesting")
        Self.expectMalformed(Self.file("{\"a\":\"\\ud800\"}", data: []), "surrogate")
    }

    @Test func truncationsAndBitFlipsNeverCrash() throws {
        let bytes = SafetensorsFile.serialize([("x", [3, 5], (0..<15).map(Float.init)), ("y", [2], [1, 2])], dtype: .bf16)
        for n in 0..<bytes.count {
            #expect(throws: WeightError.self) { try SafetensorsFile(bytes: Array(bytes.prefix(n))) }
        }
        var g = SplitMix64(seed: 11)
        for _ in 0..<2000 {
            var b = bytes
            b[Int.random(in: 0..<b.count, using: &g)] ^= UInt8(1 << Int.random(in: 0..<8, using: &g))
            if let f = try? SafetensorsFile(bytes: b) {
                for n in f.names { _ = try? f.floats(n) }
            }
        }
    }

    @Test func escapedNamesAndWhitespace() throws {
        let h = "  {\"a\\\"b\\u00e9\" : {\"dtype\":\"BF16\" , \"shape\":[ 2 ],\"data_offsets\":[0,4]}}\n\t "
        let f = try SafetensorsFile(bytes: Self.file(h, data: [0x80, 0x3F, 0x00, 0xC0]))
        #expect(f.names == ["a\"bé"])
        #expect(try f.floats("a\"bé") == [1, -2])
        #expect(throws: WeightError.unsupportedType(name: "i", type: "I64")) {
            try SafetensorsFile(bytes: Self.file(#"{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))).floats("i")
        }
    }
}

import Foundation
import Primitives
import Testing
@testable import Verifier

/// Builds small GGUF v3 files for malformed-input tests.
struct GGUFBuilder {
    var version: UInt32 = 3
    var alignment = 32
    var kv: [(String, UInt32, [UInt8])] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, data: [UInt8], offset: UInt64?)] = []

    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    var bytes: [UInt8] {
        var out = Array("GGUF".utf8) + Self.le(version) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(kv.count))
        for (k, t, v) in kv { out += Self.str(k) + Self.le(t) + v }
        var offset: UInt64 = 0
        var offsets: [UInt64] = []
        for t in tensors {
            let o = t.offset ?? offset
            offsets.append(o)
            out += Self.str(t.name) + Self.le(UInt32(t.dims.count))
            for d in t.dims { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(o)
            offset = o + UInt64((t.data.count + alignment - 1) / alignment * alignment)
        }
        while out.count % alignment != 0 { out.append(0) }
        let base = out.count
        for (t, o) in zip(tensors, offsets) where o < 1 << 20 {  // an absurd offset stays absurd (no data written)
            let end = base + Int(o) + t.data.count
            if out.count < end { out += [UInt8](repeating: 0, count: end - out.count) }
            out.replaceSubrange((base + Int(o))..<end, with: t.data)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out
    }
}

@Suite struct GGUFTests {
    static func f32(_ v: [Float]) -> [UInt8] { v.flatMap { GGUFBuilder.le($0.bitPattern) } }

    @Test func goldenFileMetadataAndShapes() throws {
        let f = try GGUFFile(path: TestFiles.resourceURL("golden/m4.gguf").path)
        #expect(f.version == 3)
        #expect(f.architecture == "llama")
        let cfg = try f.modelConfig()
        #expect(cfg.hiddenSize == 32 && cfg.numAttentionHeads == 4 && cfg.numKeyValueHeads == 2 && cfg.headDim == 8)
        #expect(cfg.intermediateSize == 64 && cfg.numHiddenLayers == 2 && !cfg.attentionBias)
        #expect(f.tensors["blk.0.attn_q.weight"]?.type == .q4_1)
        #expect(f.tensors["blk.0.attn_k.weight"]?.type == .q8_0)
        #expect(f.tensors["blk.0.attn_v.weight"]?.type == .f16)
        #expect(f.tensors["blk.0.attn_k.weight"]?.shape == [16, 32])
        #expect(f.tensors["blk.0.attn_k.weight"]?.dims == [32, 16])
        #expect(try f.floats("blk.1.ffn_down.weight").count == 32 * 64)
    }

    @Test func quantizedBlocksDequantizeAsSpecified() throws {
        // Q8_0: d = 0.5 (f16 0x3800), q = -128...-97 → q·d.
        let q8values: [UInt8] = (0..<32).map { (j: Int) -> UInt8 in UInt8(bitPattern: Int8(-128 + j)) }
        let q8: [UInt8] = GGUFBuilder.le(UInt16(0x3800)) + q8values
        // Q4_1: d = 2 (0x4000), m = -1 (0xBC00); byte j = (j+1)<<4 | j → low nibbles j, high nibbles j+1.
        let nibbles: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8((j + 1) % 16) << 4 | UInt8(j) }
        let q41: [UInt8] = GGUFBuilder.le(UInt16(0x4000)) + GGUFBuilder.le(UInt16(0xBC00)) + nibbles
        var b = GGUFBuilder()
        b.kv = [("general.architecture", 8, GGUFBuilder.str("llama"))]
        b.tensors = [("q8", [32], 8, q8, nil), ("q41", [32], 3, q41, nil), ("h", [2], 1, GGUFBuilder.le(UInt16(0x3C00)) + GGUFBuilder.le(UInt16(0xC000)), nil),
                     ("bf", [1], 30, GGUFBuilder.le(UInt16(0x3FC0)), nil)]
        let f = try GGUFFile(bytes: b.bytes)
        let expected8: [Float] = (0..<32).map { (j: Int) -> Float in Float(-128 + j) * 0.5 }
        #expect(try f.floats("q8") == expected8)
        let low: [Float] = (0..<16).map { (j: Int) -> Float in Float(j) * 2 - 1 }
        let high: [Float] = (0..<16).map { (j: Int) -> Float in Float((j + 1) % 16) * 2 - 1 }
        let expected41 = low + high
        #expect(try f.floats("q41") == expected41)
        #expect(try f.floats("h") == [1, -2])
        #expect(try f.floats("bf") == [1.5])
    }

    @Test func unpermuteInvertsLlamaCppRowOrder() {
        // 2 heads of d = 4, 1 column: HF rows [h0: a0 a1 b0 b1 | h1: c0 c1 d0 d1] are stored as
        // [a0 b0 a1 b1 | c0 d0 c1 d1] (pairs interleaved).
        let stored: [Float] = [0, 2, 1, 3, 4, 6, 5, 7]
        #expect(GGUFSource.unpermute(stored, rows: 8, cols: 1, heads: 2) == [0, 1, 2, 3, 4, 5, 6, 7])
    }

    /// Metadata arrays are kept as values only up to `maxMaterializedElements` elements in the whole file; later ones
    /// are `.largeArray` (type and count), nested ones included. A file of many small arrays took ~45 times its size
    /// in memory (eighteenth-session audit); the values before the budget runs out, and every later scalar, stay exact.
    @Test func metadataArraysAreKeptOnlyUpToABudgetForTheWholeFile() throws {
        var b = GGUFBuilder()
        b.tensors = [("t", [4], 0, Self.f32([1, 2, 3, 4]), nil)]
        let perArray = 200, arrays = GGUFFile.maxMaterializedElements / perArray + 5
        let u8Array = GGUFBuilder.le(UInt32(0)) + GGUFBuilder.le(UInt64(perArray)) + [UInt8](repeating: 7, count: perArray)
        for i in 0..<arrays { b.kv.append(("a\(i)", 9, u8Array)) }
        // An array of arrays once the budget is nearly spent: its two entries fit, their elements do not.
        let nested = GGUFBuilder.le(UInt32(9)) + GGUFBuilder.le(UInt64(2)) + u8Array + u8Array
        b.kv.append(("nested", 9, nested))
        b.kv.append(("general.alignment", 4, GGUFBuilder.le(UInt32(64))))
        b.alignment = 64
        let f = try GGUFFile(bytes: b.bytes)
        var kept = 0, summarized = 0
        for i in 0..<arrays {
            switch f.metadata["a\(i)"] {
            case .array(let items)?: kept += items.count; #expect(items.allSatisfy { $0 == .uint(7) })
            case .largeArray(elementType: 0, count: UInt64(perArray))?: summarized += 1
            default: Issue.record("a\(i): \(String(describing: f.metadata["a\(i)"]))")
            }
        }
        #expect(kept <= GGUFFile.maxMaterializedElements && kept >= GGUFFile.maxMaterializedElements - perArray)
        #expect(summarized >= 5)
        #expect(f.metadata["nested"] == .array([.largeArray(elementType: 0, count: UInt64(perArray)),
                                                 .largeArray(elementType: 0, count: UInt64(perArray))]))
        #expect(f.alignment == 64 && f.tensors["t"] != nil)
    }

    @Test func rejectsMalformedFiles() {
        func expectMalformed(_ b: GGUFBuilder, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try GGUFFile(bytes: b.bytes)
                Issue.record("accepted (\(fragment))", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        var b = GGUFBuilder()
        b.tensors = [("t", [4], 0, Self.f32([1, 2, 3, 4]), nil)]
        #expect(throws: Never.self) { try GGUFFile(bytes: b.bytes) }
        var v = b; v.version = 2; expectMalformed(v, "version 2")
        var t = b; t.tensors[0].type = 99; expectMalformed(t, "unknown tensor type 99")
        var q = b; q.tensors[0].type = 8; expectMalformed(q, "not a multiple of the block size")
        var o = b; o.tensors[0].offset = 4; expectMalformed(o, "not aligned")
        var far = b; far.tensors[0].offset = 1 << 40; expectMalformed(far, "beyond the end")
        var dup = b; dup.tensors.append(("t", [4], 0, Self.f32([1, 2, 3, 4]), nil)); expectMalformed(dup, "duplicate tensor")
        var r = b; r.tensors[0].dims = [1, 1, 1, 1, 4]; expectMalformed(r, "rank 5")
        var z = b; z.tensors[0].dims = [0]; expectMalformed(z, "dimension 0")
        var kt = b; kt.kv = [("k", 13, [])]; expectMalformed(kt, "unknown metadata value type")
        var al = b; al.kv = [("general.alignment", 4, GGUFBuilder.le(UInt32(3)))]; expectMalformed(al, "power of two")
        var bl = b; bl.kv = [("flag", 7, [2])]; expectMalformed(bl, "bool value")
        var arr = b; arr.kv = [("a", 9, GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt64(1) << 60))]; expectMalformed(arr, "array length")
        #expect(throws: WeightError.self) { try GGUFFile(bytes: Array("GGUX".utf8) + [3, 0, 0, 0]) }
    }

    @Test func truncationsAndBitFlipsNeverCrash() throws {
        let bytes = try TestFiles.resource("golden/m4.gguf")
        // Every prefix up to the end of the tensor infos, then a sample of longer ones.
        for n in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 3000)) {
            #expect(throws: WeightError.self) { try GGUFFile(bytes: Array(bytes.prefix(n))) }
        }
        var g = SplitMix64(seed: 5)
        for _ in 0..<300 {
            var b = bytes
            b[Int.random(in: 0..<min(b.count, 2048), using: &g)] ^= UInt8(1 << Int.random(in: 0..<8, using: &g))
            if let f = try? GGUFFile(bytes: b) {
                for n in f.tensors.keys { _ = try? f.floats(n) }
                _ = try? f.modelConfig()
            }
        }
    }
}

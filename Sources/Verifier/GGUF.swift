import Primitives

/// A GGUF v3 file (llama.cpp's container), validated on open and memory-mapped.
///
/// Layout: `GGUF`, u32 version (3), u64 tensor count, u64 metadata count, metadata key/value pairs, tensor
/// infos (name, u32 rank, u64 dims innermost first, u32 ggml type, u64 offset), padding to the alignment
/// (`general.alignment`, default 32), tensor data. Validation: version 3, bounded counts and string
/// lengths, known value and tensor types, rank 1...4, overflow-checked sizes, block-quantized rows a whole
/// number of blocks, aligned offsets, every tensor inside the file, no duplicate names.
///
/// Dequantization to float32 (each step rounded to float32, no fused multiply-add, so every reader gets the
/// same bits): F32 as is; F16 and BF16 exactly; Q8_0 blocks of 32 (f16 d, 32 × i8 q): x = q·d;
/// Q4_1 blocks of 32 (f16 d, f16 m, 16 bytes): element j < 16 is the low nibble of byte j, element
/// j ≥ 16 the high nibble of byte j − 16, x = (q·d) + m.
public struct GGUFFile: Sendable {
    /// A metadata value. Arrays longer than 256 elements keep only their type and length (tokenizer
    /// vocabularies are not needed by the verifier).
    public indirect enum Value: Sendable, Equatable {
        case uint(UInt64)
        case int(Int64)
        case float(Double)
        case bool(Bool)
        case string(String)
        case array([Value])
        case largeArray(elementType: UInt32, count: UInt64)

        /// The value as an integer, if it is one.
        public var int: Int? {
            switch self {
            case .uint(let v): v <= UInt64(Int.max) ? Int(v) : nil
            case .int(let v): Int(exactly: v)
            default: nil
            }
        }

        /// The value as a floating-point number, if it is numeric.
        public var double: Double? {
            switch self {
            case .float(let v): v
            case .uint(let v): Double(v)
            case .int(let v): Double(v)
            default: nil
            }
        }

        /// The value as a string, if it is one.
        public var string: String? {
            if case .string(let s) = self { return s }
            return nil
        }
    }

    /// ggml tensor types this reader can size (and, for F32/F16/BF16/Q8_0/Q4_1, dequantize).
    public enum TensorType: UInt32, Sendable {
        case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
        case q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, bf16 = 30

        /// (elements per block, bytes per block).
        var block: (elements: Int, bytes: Int) {
            switch self {
            case .f32: (1, 4)
            case .f16, .bf16: (1, 2)
            case .q4_0: (32, 18)
            case .q4_1: (32, 20)
            case .q5_0: (32, 22)
            case .q5_1: (32, 24)
            case .q8_0: (32, 34)
            case .q8_1: (32, 36)
            case .q2_k: (256, 84)
            case .q3_k: (256, 110)
            case .q4_k: (256, 144)
            case .q5_k: (256, 176)
            case .q6_k: (256, 210)
            case .q8_k: (256, 292)
            }
        }
    }

    /// One tensor info.
    public struct TensorInfo: Sendable, Equatable {
        /// Name.
        public let name: String
        /// Dimensions as GGUF lists them, innermost (contiguous) first.
        public let dims: [Int]
        /// Element type.
        public let type: TensorType
        /// Absolute byte range in the file.
        public let byteRange: Range<Int>
        /// Dimensions outermost first (row-major shape, e.g. [out, in] for a projection).
        public var shape: [Int] { dims.reversed() }
        /// Number of elements.
        public var count: Int { dims.reduce(1, *) }
    }

    /// Largest accepted tensor and metadata counts.
    public static let maxEntries = 1 << 20
    /// Most metadata array elements kept as values in a whole file; arrays past it are kept as `.largeArray` (type and
    /// length). Each kept element is a heap value of ~50 bytes for a 1-byte one in the file: without a bound across
    /// the file, one of small arrays took ~45 times its size in memory (eighteenth-session audit).
    public static let maxMaterializedElements = 1 << 16

    let store: ByteStore
    /// Format version (3).
    public let version: UInt32
    /// Metadata by key.
    public let metadata: [String: Value]
    /// Tensors by name.
    public let tensors: [String: TensorInfo]
    /// Data alignment.
    public let alignment: Int

    /// Opens and validates a file (memory-mapped).
    public init(path: String) throws(WeightError) {
        try self.init(store: try ByteStore(path: path))
    }

    /// Validates a file held in memory.
    public init(bytes: [UInt8]) throws(WeightError) {
        try self.init(store: ByteStore(bytes: bytes))
    }

    init(store: ByteStore) throws(WeightError) {
        self.store = store
        var c = ByteCursor(store.buffer, format: "GGUF")
        try c.need(4, "magic")
        guard store.buffer[0] == 0x47, store.buffer[1] == 0x47, store.buffer[2] == 0x55, store.buffer[3] == 0x46 else {
            throw c.fail("bad magic (expected \"GGUF\")")
        }
        c.offset = 4
        version = try c.u32("version")
        guard version == 3 else { throw c.fail("version \(version) (only 3 is supported)") }
        let nTensors = try c.u64("tensor count")
        let nKV = try c.u64("metadata count")
        guard nTensors <= UInt64(Self.maxEntries), nKV <= UInt64(Self.maxEntries) else { throw c.fail("too many entries") }
        var meta: [String: Value] = [:]
        var budget = Self.maxMaterializedElements
        for _ in 0..<Int(nKV) {
            let key = try c.string("metadata key")
            let type = try c.u32("metadata type of \(key)")
            let v = try Self.value(&c, type: type, depth: 0, budget: &budget)
            guard meta.updateValue(v, forKey: key) == nil else { throw c.fail("duplicate metadata key \(key)") }
        }
        metadata = meta
        var align = 32
        if let a = meta["general.alignment"] {
            guard let ai = a.int, ai > 0, ai <= 1 << 16, ai & (ai - 1) == 0 else { throw c.fail("general.alignment must be a power of two ≤ 65536") }
            align = ai
        }
        alignment = align
        var infos: [(name: String, dims: [Int], type: TensorType, offset: UInt64, bytes: Int)] = []
        var names = Set<String>()
        for _ in 0..<Int(nTensors) {
            let name = try c.string("tensor name")
            guard names.insert(name).inserted else { throw c.fail("duplicate tensor \(name)") }
            let rank = try c.u32("rank of \(name)")
            guard (1...4).contains(rank) else { throw c.fail("\(name): rank \(rank) outside 1...4") }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<rank {
                let d = try c.u64("dimension of \(name)")
                guard d >= 1, d <= UInt64(Int32.max) else { throw c.fail("\(name): dimension \(d) outside 1...2^31-1") }
                let (p, o) = count.multipliedReportingOverflow(by: Int(d))
                guard !o, p <= 1 << 40 else { throw c.fail("\(name): too many elements") }
                count = p
                dims.append(Int(d))
            }
            let rawType = try c.u32("type of \(name)")
            guard let type = TensorType(rawValue: rawType) else { throw c.fail("\(name): unknown tensor type \(rawType)") }
            let (per, bytesPer) = type.block
            guard dims[0] % per == 0 else { throw c.fail("\(name): row length \(dims[0]) is not a multiple of the block size \(per)") }
            let offset = try c.u64("offset of \(name)")
            guard offset % UInt64(align) == 0 else { throw c.fail("\(name): offset \(offset) not aligned to \(align)") }
            infos.append((name, dims, type, offset, count / per * bytesPer))
        }
        let dataStart = (c.offset + align - 1) / align * align
        var table: [String: TensorInfo] = [:]
        for info in infos {
            let size = UInt64(store.count)
            guard UInt64(dataStart) <= size, info.offset <= size - UInt64(dataStart),
                  UInt64(info.bytes) <= size - UInt64(dataStart) - info.offset else {
                throw c.fail("\(info.name): data [\(info.offset), +\(info.bytes)) beyond the end of the file")
            }
            let begin = dataStart + Int(info.offset)
            table[info.name] = TensorInfo(name: info.name, dims: info.dims, type: info.type, byteRange: begin..<(begin + info.bytes))
        }
        tensors = table
    }

    static func value(_ c: inout ByteCursor, type: UInt32, depth: Int, budget: inout Int) throws(WeightError) -> Value {
        switch type {
        case 0: return .uint(UInt64(try c.u8("u8")))
        case 1: return .int(Int64(Int8(bitPattern: try c.u8("i8"))))
        case 2: return .uint(UInt64(try c.u16("u16")))
        case 3: return .int(Int64(Int16(bitPattern: try c.u16("i16"))))
        case 4: return .uint(UInt64(try c.u32("u32")))
        case 5: return .int(Int64(Int32(bitPattern: try c.u32("i32"))))
        case 6: return .float(Double(Float(bitPattern: try c.u32("f32"))))
        case 7:
            let b = try c.u8("bool")
            guard b <= 1 else { throw c.fail("bool value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try c.string("string value", max: 1 << 24))
        case 9:
            guard depth < 4 else { throw c.fail("arrays nested too deeply") }
            let et = try c.u32("array element type")
            let n = try c.u64("array length")
            guard n <= UInt64(c.remaining) else { throw c.fail("array length \(n) exceeds the file") }
            if n > 256 || n > UInt64(max(budget, 0)) {
                // Skip without materializing: fixed-size elements in one step, strings one by one.
                if let size = fixedSize(et) {
                    try c.skip(n * UInt64(size), "array")
                } else if et == 8 {
                    for _ in 0..<n { try c.skip(try c.u64("string length"), "string") }
                } else {
                    // Nested arrays, read and dropped one at a time (none is kept, so none draws on the budget).
                    for _ in 0..<n { var none = 0; _ = try value(&c, type: et, depth: depth + 1, budget: &none) }
                }
                return .largeArray(elementType: et, count: n)
            }
            budget -= Int(n)
            var items: [Value] = []
            for _ in 0..<n { items.append(try value(&c, type: et, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case 10: return .uint(try c.u64("u64"))
        case 11: return .int(Int64(bitPattern: try c.u64("i64")))
        case 12: return .float(Double(bitPattern: try c.u64("f64")))
        default: throw c.fail("unknown metadata value type \(type)")
        }
    }

    static func fixedSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 10, 11, 12: 8
        default: nil
        }
    }

    /// Size of the file in bytes.
    public var byteCount: Int { store.count }

    /// SHA-256 of the whole file.
    public func sha256() -> Hash32 { store.sha256() }

    /// The tensor dequantized to float32, row-major in `shape` order (outermost first).
    public func floats(_ name: String) throws(WeightError) -> [Float] {
        guard let info = tensors[name] else { throw .missingTensor(name) }
        let raw = UnsafeRawBufferPointer(rebasing: store.buffer[info.byteRange])
        let n = info.count
        switch info.type {
        case .f32:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                for i in 0..<n { buf[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                done = n
            }
        case .f16:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                for i in 0..<n { buf[i] = HalfFloat.f16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                done = n
            }
        case .bf16:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                for i in 0..<n { buf[i] = HalfFloat.bf16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                done = n
            }
        case .q8_0:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                for b in 0..<(n / 32) {
                    let o = 34 * b
                    let d = HalfFloat.f16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                    for j in 0..<32 {
                        buf[32 * b + j] = Float(Int8(bitPattern: raw[o + 2 + j])) * d
                    }
                }
                done = n
            }
        case .q4_1:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                for b in 0..<(n / 32) {
                    let o = 20 * b
                    let d = HalfFloat.f16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                    let m = HalfFloat.f16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o + 2, as: UInt16.self)))
                    for j in 0..<16 {
                        let q = raw[o + 4 + j]
                        let lo = Float(q & 0x0F) * d
                        let hi = Float(q >> 4) * d
                        buf[32 * b + j] = lo + m
                        buf[32 * b + 16 + j] = hi + m
                    }
                }
                done = n
            }
        default:
            throw .unsupportedType(name: name, type: "\(info.type)")
        }
    }

    /// The model architecture (`general.architecture`).
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// The decoder configuration from the metadata of a `llama` or `qwen2` file.
    public func modelConfig() throws(WeightError) -> ModelConfig {
        guard let arch = architecture else { throw .config("GGUF: general.architecture missing") }
        guard arch == "llama" || arch == "qwen2" else { throw .config("GGUF: unsupported architecture \(arch)") }
        func int(_ k: String) throws(WeightError) -> Int {
            guard let v = metadata["\(arch).\(k)"]?.int else { throw .config("GGUF: \(arch).\(k) missing") }
            return v
        }
        func double(_ k: String) throws(WeightError) -> Double {
            guard let v = metadata["\(arch).\(k)"]?.double else { throw .config("GGUF: \(arch).\(k) missing") }
            return v
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kv = metadata["\(arch).attention.head_count_kv"]?.int ?? heads
        let headDim = metadata["\(arch).attention.key_length"]?.int ?? (heads > 0 ? hidden / heads : 0)
        if let rot = metadata["\(arch).rope.dimension_count"]?.int, rot != headDim {
            throw .config("GGUF: partial rotary (\(rot) of \(headDim)) is not supported")
        }
        let theta = metadata["\(arch).rope.freq_base"]?.double ?? 10000
        let hasBias = tensors["blk.0.attn_q.bias"] != nil
        let cfg = ModelConfig(architecture: arch, hiddenSize: hidden, numAttentionHeads: heads, numKeyValueHeads: kv,
                              headDim: headDim, intermediateSize: try int("feed_forward_length"),
                              rmsNormEps: try double("attention.layer_norm_rms_epsilon"), ropeTheta: theta,
                              attentionBias: hasBias, numHiddenLayers: try int("block_count"))
        try cfg.validate()
        return cfg
    }
}

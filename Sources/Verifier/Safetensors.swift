import Primitives

/// A safetensors file, validated on open and memory-mapped (tensor data is read in place).
///
/// Layout: u64 LE header length N, N bytes of JSON header, then the data buffer. The header maps tensor
/// names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the buffer) plus an optional
/// `__metadata__` string map. Validation, so a malformed file is an error and never a crash:
/// N ≤ 100 MB and within the file; the header is strict JSON without duplicate keys; every dtype known;
/// begin ≤ end and end − begin = elements × dtype size (overflow-checked); the tensors, sorted by offset,
/// are contiguous from 0 and end exactly at the end of the file.
public struct SafetensorsFile: Sendable {
    /// Element types of the safetensors format.
    public enum DType: String, Sendable, CaseIterable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
        case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
        case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
            case .i16, .u16, .f16, .bf16: 2
            case .i32, .u32, .f32: 4
            case .f64, .i64, .u64: 8
            }
        }
    }

    /// One tensor entry of the header.
    public struct TensorInfo: Sendable, Equatable {
        /// Name.
        public let name: String
        /// Element type.
        public let dtype: DType
        /// Dimensions, outermost first (empty for a scalar).
        public let shape: [Int]
        /// Byte range in the file (absolute).
        public let byteRange: Range<Int>
        /// Number of elements.
        public var count: Int { shape.reduce(1, *) }
    }

    /// Largest accepted header.
    public static let maxHeaderBytes = 100_000_000
    /// Largest accepted rank.
    public static let maxRank = 16

    let store: ByteStore
    /// Tensors by name.
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` map.
    public let metadata: [String: String]

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
        (tensors, metadata) = try Self.parse(store.buffer)
    }

    /// Tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// Size of the file in bytes.
    public var byteCount: Int { store.count }

    /// SHA-256 of the whole file.
    public func sha256() -> Hash32 { store.sha256() }

    /// The tensor's values as float32 (F32, F16 and BF16 convert exactly; other types are an error).
    public func floats(_ name: String) throws(WeightError) -> [Float] {
        guard let info = tensors[name] else { throw .missingTensor(name) }
        let raw = UnsafeRawBufferPointer(rebasing: store.buffer[info.byteRange])
        let n = info.count
        switch info.dtype {
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
        default:
            throw .unsupportedType(name: name, type: info.dtype.rawValue)
        }
    }

    /// The tensor's raw little-endian bytes.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let info = tensors[name] else { throw WeightError.missingTensor(name) }
        return try body(UnsafeRawBufferPointer(rebasing: store.buffer[info.byteRange]))
    }

    static func parse(_ raw: UnsafeRawBufferPointer) throws(WeightError) -> ([String: TensorInfo], [String: String]) {
        func bad(_ s: String) -> WeightError { .malformed(format: "safetensors", reason: s) }
        guard raw.count >= 8 else { throw bad("file of \(raw.count) bytes is shorter than the 8-byte header length") }
        let n64 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n64 <= UInt64(maxHeaderBytes) else { throw bad("header length \(n64) exceeds \(maxHeaderBytes) bytes") }
        let n = Int(n64)
        guard n <= raw.count - 8 else { throw bad("header length \(n) exceeds the file (\(raw.count) bytes)") }
        let dataStart = 8 + n
        let dataLength = raw.count - dataStart
        let root: JSON
        do {
            // Duplicate keys are rejected by the parser (a header naming a tensor twice is malformed).
            var limits = JSONLimits()
            limits.maxDepth = 8
            limits.maxObjectMembers = 1 << 20
            root = try JSONParser(limits: limits).parse(Array(UnsafeRawBufferPointer(rebasing: raw[8..<dataStart])))
        } catch {
            throw bad("header: \(error)")
        }
        guard case .object(let header) = root else { throw bad("header is not a JSON object") }
        let members = header.members.map { ($0.key, $0.value) }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let kv) = value else { throw bad("__metadata__ is not an object") }
                for (k, v) in kv.members.map({ ($0.key, $0.value) }) {
                    guard case .string(let s) = v else { throw bad("__metadata__ value of \(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let object) = value else { throw bad("entry \(name) is not an object") }
            let fields = object.members.map { ($0.key, $0.value) }
            var dtype: DType?
            var shape: [Int]?
            var offsets: [Int]?
            for (k, v) in fields {
                switch k {
                case "dtype":
                    guard case .string(let s) = v else { throw bad("\(name): dtype is not a string") }
                    guard let d = DType(rawValue: s) else { throw bad("\(name): unknown dtype \(s)") }
                    dtype = d
                case "shape":
                    guard case .array(let a) = v, a.count <= maxRank else { throw bad("\(name): shape is not an array of at most \(maxRank) integers") }
                    var dims: [Int] = []
                    for d in a {
                        guard let i = d.nonNegativeInt else { throw bad("\(name): shape entry is not a non-negative integer") }
                        dims.append(i)
                    }
                    shape = dims
                case "data_offsets":
                    guard case .array(let a) = v, a.count == 2, let b = a[0].nonNegativeInt, let e = a[1].nonNegativeInt else {
                        throw bad("\(name): data_offsets is not a pair of non-negative integers")
                    }
                    offsets = [b, e]
                default:
                    throw bad("\(name): unknown field \(k)")
                }
            }
            guard let dtype, let shape, let offsets else { throw bad("\(name): needs dtype, shape and data_offsets") }
            var bytes = dtype.size
            for d in shape {
                let (p, o) = bytes.multipliedReportingOverflow(by: d)
                guard !o else { throw bad("\(name): size overflows") }
                bytes = p
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataLength else {
                throw bad("\(name): data_offsets [\(begin), \(end)) outside the \(dataLength)-byte data buffer")
            }
            guard end - begin == bytes else {
                throw bad("\(name): data_offsets span \(end - begin) bytes but \(dtype.rawValue) \(shape) needs \(bytes)")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
            spans.append((begin, end, name))
        }
        // Contiguity: sorted by (begin, end), each tensor starts where the previous ended; no gap, no overlap,
        // no unreferenced bytes at the end.
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for s in spans {
            guard s.begin == cursor else {
                throw bad(s.begin > cursor ? "gap of \(s.begin - cursor) bytes before \(s.name)" : "\(s.name) overlaps the previous tensor")
            }
            cursor = s.end
        }
        guard cursor == dataLength else { throw bad("\(dataLength - cursor) bytes after the last tensor are not covered") }
        return (tensors, metadata)
    }

    /// Serializes tensors to a safetensors file (F32, F16 or BF16 storage; values rounded to nearest even),
    /// with names sorted and the header padded with spaces to a multiple of 8. Used by tests and benchmarks.
    public static func serialize(_ tensors: [(name: String, shape: [Int], values: [Float])], dtype: DType = .f32,
                                 metadata: [String: String] = [:]) -> [UInt8] {
        precondition([.f32, .f16, .bf16].contains(dtype), "serialize supports F32, F16 and BF16")
        let sorted = tensors.sorted { $0.name < $1.name }
        var header = "{"
        var offset = 0
        var first = true
        func quote(_ s: String) -> String {
            var o = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                default:
                    if u.value < 0x20 {
                        let h = String(u.value, radix: 16)
                        o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                    } else { o.unicodeScalars.append(u) }
                }
            }
            return o + "\""
        }
        for t in sorted {
            let bytes = t.values.count * dtype.size
            if !first { header += "," }
            first = false
            header += "\(quote(t.name)):{\"data_offsets\":[\(offset),\(offset + bytes)],\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))]}"
            offset += bytes
        }
        if !metadata.isEmpty {
            if !first { header += "," }
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\(quote($0.value))" }.joined(separator: ",") + "}"
        }
        header += "}"
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + offset)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        for t in sorted {
            for v in t.values {
                switch dtype {
                case .f32:
                    withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
                case .f16:
                    withUnsafeBytes(of: Float16Bits.fromFloat(v).littleEndian) { out.append(contentsOf: $0) }
                default:
                    withUnsafeBytes(of: Float16Bits.bf16FromFloat(v).littleEndian) { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }
}

/// float32 → 16-bit float encodings with round-to-nearest-even (used only to write test files).
enum Float16Bits {
    static func bf16FromFloat(_ v: Float) -> UInt16 {
        let b = v.bitPattern
        if v.isNaN { return UInt16(b >> 16) | 0x40 }
        let rounded = (UInt64(b) + 0x7FFF + UInt64((b >> 16) & 1)) >> 16
        return UInt16(truncatingIfNeeded: rounded)
    }

    static func fromFloat(_ v: Float) -> UInt16 {
        let b = v.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        if v.isNaN { return sign | 0x7E00 }
        let a = abs(v)
        if a >= 65520 { return sign | 0x7C00 }                // rounds to infinity
        if a < Float(bitPattern: 0x3880_0000) {               // below 2^-14: subnormal half
            let q = (a * 16_777_216).rounded(.toNearestOrEven)  // units of 2^-24; exact scaling
            return sign | UInt16(q)
        }
        let exp = Int((a.bitPattern >> 23) & 0xFF) - 127 + 15
        let mant = a.bitPattern & 0x7F_FFFF
        var h = UInt32(exp) << 10 | (mant >> 13)
        let rest = mant & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) { h += 1 }
        return sign | UInt16(h)
    }
}

extension JSON {
    /// The value as a non-negative integer that fits in `Int`, if it is one (no sign, fraction or exponent).
    var nonNegativeInt: Int? {
        guard case .number(let s) = self, !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(s)
    }
}

import Primitives

/// A dense float32 tensor in row-major order (the last dimension is contiguous).
///
/// Activations crossing the protocol (ticket inputs, pass outputs) are `[tokens, hidden]` tensors; their
/// identity is the tagged hash of their TNS1 encoding (Specs/tensor-tns1.md).
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first. Every dimension is at least 1.
    public let shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public internal(set) var data: [Float]

    /// Creates a tensor; the element count must equal the product of `shape` and every dimension must be ≥ 1.
    public init(shape: [Int], data: [Float]) throws(TensorError) {
        guard (1...TNS1.maxRank).contains(shape.count) else { throw .badRank(shape.count) }
        var n = 1
        for (i, d) in shape.enumerated() {
            guard d >= 1 else { throw .zeroDimension(index: i) }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw .tooLarge(elements: nil, maximum: Int.max) }
            n = p
        }
        guard n == data.count else { throw .lengthMismatch(expected: n, actual: data.count) }
        self.shape = shape
        self.data = data
    }

    /// Number of elements.
    public var count: Int { data.count }

    /// True when no element is NaN or ±infinity.
    public var isFinite: Bool { data.allSatisfy { $0.isFinite } }

    /// The canonical TNS1 encoding.
    public var tns1: [UInt8] { TNS1.encode(self) }

    /// Tagged hash (`sharechain/tensor`) of the TNS1 encoding: the tensor's identity in the protocol.
    public var hash: Hash32 { TNS1.hash(self) }
}

/// Why a tensor or its TNS1 encoding was rejected.
public enum TensorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended early.
    case truncated(needed: Int, available: Int)
    /// The first four bytes are not `TNS1`.
    case badMagic
    /// A dtype code this version does not define.
    case unknownDType(UInt8)
    /// Rank outside 1...8.
    case badRank(Int)
    /// A dimension of size 0.
    case zeroDimension(index: Int)
    /// More elements than allowed (`elements` is nil when the product overflows 64 bits).
    case tooLarge(elements: UInt64?, maximum: Int)
    /// Element count differs from the product of the shape.
    case lengthMismatch(expected: Int, actual: Int)
    /// Bytes left after the data.
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "TNS1: truncated, needs \(needed) bytes, \(available) available"
        case .badMagic: "TNS1: bad magic (expected \"TNS1\")"
        case .unknownDType(let c): "TNS1: unknown dtype code \(c)"
        case .badRank(let r): "TNS1: rank \(r) outside 1...\(TNS1.maxRank)"
        case .zeroDimension(let i): "TNS1: dimension \(i) is zero"
        case .tooLarge(let n, let max):
            n.map { "TNS1: \($0) elements exceed the maximum \(max)" } ?? "TNS1: element count overflows 64 bits"
        case .lengthMismatch(let e, let a): "tensor: shape holds \(e) elements but \(a) were given"
        case .trailingBytes(let n): "TNS1: \(n) trailing bytes after the data"
        }
    }
}

/// The TNS1 tensor encoding (Specs/tensor-tns1.md):
///
///     magic "TNS1" | dtype u8 (1 = float32) | rank u8 (1...8) | rank × u64 LE dims | data (LE, row-major)
///
/// One encoding per tensor value, so hash(decode(x)) is stable; the hash covers the shape.
public enum TNS1 {
    /// `TNS1`.
    public static let magic: [UInt8] = [0x54, 0x4E, 0x53, 0x31]
    /// dtype code of float32, the only one defined in version 1.
    public static let dtypeF32: UInt8 = 1
    /// Largest rank.
    public static let maxRank = 8
    /// Default element limit of `decode` (64 MiB of float32).
    public static let defaultMaxElements = 1 << 24

    /// Encodes a tensor.
    public static func encode(_ t: Tensor) -> [UInt8] {
        let header = 6 + 8 * t.shape.count
        var out = [UInt8](repeating: 0, count: header + 4 * t.count)
        out.withUnsafeMutableBytes { raw in
            for i in 0..<4 { raw[i] = magic[i] }
            raw[4] = dtypeF32
            raw[5] = UInt8(t.shape.count)
            for (i, d) in t.shape.enumerated() {
                raw.storeBytes(of: UInt64(d).littleEndian, toByteOffset: 6 + 8 * i, as: UInt64.self)
            }
            t.data.withUnsafeBufferPointer { src in
                for (i, v) in src.enumerated() {
                    raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: header + 4 * i, as: UInt32.self)
                }
            }
        }
        return out
    }

    /// Tagged hash of the encoding of `t`.
    public static func hash(_ t: Tensor) -> Hash32 {
        Tags.tensor.hash(encode(t))
    }

    /// Decodes a TNS1 encoding strictly: magic, known dtype, rank 1...8, no zero dimension, overflow-checked
    /// element count at most `maxElements`, data length exactly matching the shape, no trailing bytes.
    /// Any float32 bit pattern is accepted (callers decide whether NaN or infinity are meaningful).
    public static func decode(_ bytes: [UInt8], maxElements: Int = defaultMaxElements) throws(TensorError) -> Tensor {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(TensorError) -> Tensor in try decode(raw, maxElements: maxElements) }
        }
        return try result.get()
    }

    /// Decodes from raw bytes; see `decode(_:maxElements:)`.
    public static func decode(_ raw: UnsafeRawBufferPointer, maxElements: Int = defaultMaxElements) throws(TensorError) -> Tensor {
        guard raw.count >= 6 else { throw .truncated(needed: 6, available: raw.count) }
        guard raw[0] == magic[0], raw[1] == magic[1], raw[2] == magic[2], raw[3] == magic[3] else { throw .badMagic }
        guard raw[4] == dtypeF32 else { throw .unknownDType(raw[4]) }
        let rank = Int(raw[5])
        guard (1...maxRank).contains(rank) else { throw .badRank(rank) }
        let header = 6 + 8 * rank
        guard raw.count >= header else { throw .truncated(needed: header, available: raw.count) }
        var shape: [Int] = []
        shape.reserveCapacity(rank)
        var n: UInt64 = 1
        var overflow = false
        for i in 0..<rank {
            let d = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 6 + 8 * i, as: UInt64.self))
            guard d >= 1 else { throw .zeroDimension(index: i) }
            if !overflow {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                if o { overflow = true } else { n = p }
            }
            shape.append(d > UInt64(Int.max) ? Int.max : Int(d))
        }
        guard !overflow else { throw .tooLarge(elements: nil, maximum: maxElements) }
        // A negative limit admits nothing (converting it to UInt64 trapped).
        guard n <= UInt64(max(maxElements, 0)) else { throw .tooLarge(elements: n, maximum: maxElements) }
        let count = Int(n)
        // count ≤ maxElements may be as large as Int.max (a caller with no limit): 4 × count must not trap.
        let (dataBytes, o1) = count.multipliedReportingOverflow(by: 4)
        let (needed, o2) = header.addingReportingOverflow(dataBytes)
        guard !o1, !o2 else { throw .truncated(needed: Int.max, available: raw.count) }
        guard raw.count >= needed else { throw .truncated(needed: needed, available: raw.count) }
        guard raw.count == needed else { throw .trailingBytes(raw.count - needed) }
        let data = [Float](unsafeUninitializedCapacity: count) { buf, initialized in
            for i in 0..<count {
                buf[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: header + 4 * i, as: UInt32.self)))
            }
            initialized = count
        }
        return try Tensor(shape: shape, data: data)
    }
}

extension Tensor {
    /// Decodes a TNS1 encoding (see `TNS1.decode`).
    public init(tns1 bytes: [UInt8], maxElements: Int = TNS1.defaultMaxElements) throws(TensorError) {
        self = try TNS1.decode(bytes, maxElements: maxElements)
    }
}

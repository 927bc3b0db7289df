#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Primitives

/// Immutable bytes of a weight file: memory-mapped from disk, or owned in memory (tests, fuzzing).
///
/// `@unchecked Sendable`: the bytes are never written after init and the mapping lives until deinit.
/// A file truncated by another process while mapped would fault on access; weight files are pinned,
/// read-only inputs, and the loader copies what it needs and drops the mapping right after loading.
final class ByteStore: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int
    private let mapped: Bool

    /// Maps `path` read-only.
    init(path: String) throws(WeightError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .io(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        count = size
        mapped = size > 0
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw .io(path: path, reason: "mmap: " + String(cString: strerror(errno))) }
        base = UnsafeRawPointer(p)
    }

    /// Copies `bytes` into owned memory.
    init(bytes: [UInt8]) {
        count = bytes.count
        mapped = false
        if bytes.isEmpty {
            base = nil
        } else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            bytes.withUnsafeBytes { src in
                if let from = src.baseAddress { p.copyMemory(from: from, byteCount: src.count) }
            }
            base = UnsafeRawPointer(p)
        }
    }

    deinit {
        guard let base else { return }
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// All bytes.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// SHA-256 of all bytes.
    func sha256() -> Hash32 { SHA256.hash(buffer) }
}

/// A bounds-checked little-endian cursor over raw bytes; every read reports truncation as `WeightError`.
struct ByteCursor {
    let raw: UnsafeRawBufferPointer
    var offset: Int
    let format: String

    init(_ raw: UnsafeRawBufferPointer, offset: Int = 0, format: String) {
        self.raw = raw
        self.offset = offset
        self.format = format
    }

    var remaining: Int { raw.count - offset }

    func fail(_ reason: String) -> WeightError { .malformed(format: format, reason: reason) }

    mutating func need(_ n: Int, _ what: String) throws(WeightError) {
        guard n >= 0, n <= remaining else { throw fail("truncated reading \(what) at byte \(offset)") }
    }

    mutating func u8(_ what: String) throws(WeightError) -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return raw[offset]
    }

    mutating func u16(_ what: String) throws(WeightError) -> UInt16 {
        try need(2, what)
        defer { offset += 2 }
        return UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    mutating func u32(_ what: String) throws(WeightError) -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64(_ what: String) throws(WeightError) -> UInt64 {
        try need(8, what)
        defer { offset += 8 }
        return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func skip(_ n: UInt64, _ what: String) throws(WeightError) {
        guard n <= UInt64(remaining) else { throw fail("truncated reading \(what) at byte \(offset)") }
        offset += Int(n)
    }

    /// A length-prefixed (u64) UTF-8 string of at most `max` bytes.
    mutating func string(_ what: String, max: Int = 1 << 16) throws(WeightError) -> String {
        let n = try u64(what + " length")
        guard n <= UInt64(max) else { throw fail("\(what) length \(n) exceeds \(max)") }
        try need(Int(n), what)
        let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(n)])
        offset += Int(n)
        guard let s = String(validating: slice, as: UTF8.self) else { throw fail("\(what) is not valid UTF-8") }
        return s
    }
}

/// Exact conversions of 16-bit floats to float32 (every half and bfloat16 value is a float32 value).
enum HalfFloat {
    /// IEEE binary16 → float32.
    @inline(__always)
    static func f16(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = UInt32(h >> 10) & 0x1F
        let mant = UInt32(h) & 0x3FF
        if exp == 0 {
            // Zero or subnormal: mant × 2^-24, exact in float32.
            let v = Float(mant) * Float(bitPattern: 0x3380_0000)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// bfloat16 → float32 (the upper half of a float32).
    @inline(__always)
    static func bf16(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }
}

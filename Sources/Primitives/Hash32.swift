/// A 32-byte value: a SHA-256 digest, an identifier, a tensor hash.
///
/// Stored inline (no heap allocation). Ordering is lexicographic over the bytes, which is the order
/// used wherever the protocol sorts hashes (fork-choice ties, sorted write sets).
public struct Hash32: Hashable, Comparable, Sendable {
    // Raw memory of the 32 bytes, in order; each word is the native load of 8 bytes.
    @usableFromInline var w0: UInt64
    @usableFromInline var w1: UInt64
    @usableFromInline var w2: UInt64
    @usableFromInline var w3: UInt64

    /// All-zero value.
    public static let zero = Hash32(w0: 0, w1: 0, w2: 0, w3: 0)

    @usableFromInline init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    /// Creates a value from exactly 32 bytes; returns nil for any other length.
    @inlinable
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 32 else { return nil }
        var v = Hash32.zero
        // Arrays and slices (every decoder's input) copy in one move; other collections byte by byte.
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { src in
            withUnsafeMutableBytes(of: &v) { dst in dst.copyMemory(from: UnsafeRawBufferPointer(src)) }
            return true
        }
        if copied == nil {
            withUnsafeMutableBytes(of: &v) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
        }
        self = v
    }

    /// Creates a value by copying 32 bytes from a raw buffer that holds at least 32 bytes.
    public init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count >= 32, "Hash32 needs 32 bytes")
        var v = Hash32.zero
        withUnsafeMutableBytes(of: &v) { dst in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<32])) }
        self = v
    }

    /// Parses 64 hex digits (optional `0x` prefix).
    public init(hex: String) throws(HexError) {
        let bytes = try Hex.decode(hex, count: 32)
        self.init(bytes: bytes)!
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        Swift.withUnsafeBytes(of: self) { Array($0) }
    }

    /// Calls `body` with the 32 bytes, without copying.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self, body)
    }

    /// Lower-case hex without prefix.
    public var hex: String { Hex.encode(bytes) }

    /// The first eight bytes read as a big-endian integer (used for hash-to-index and ticket ids).
    public var prefixUInt64: UInt64 { UInt64(bigEndian: w0) }

    public static func < (a: Hash32, b: Hash32) -> Bool {
        let a0 = UInt64(bigEndian: a.w0), b0 = UInt64(bigEndian: b.w0)
        if a0 != b0 { return a0 < b0 }
        let a1 = UInt64(bigEndian: a.w1), b1 = UInt64(bigEndian: b.w1)
        if a1 != b1 { return a1 < b1 }
        let a2 = UInt64(bigEndian: a.w2), b2 = UInt64(bigEndian: b.w2)
        if a2 != b2 { return a2 < b2 }
        return UInt64(bigEndian: a.w3) < UInt64(bigEndian: b.w3)
    }
}

extension Hash32: CustomStringConvertible, CustomDebugStringConvertible {
    /// `0x`-prefixed hex, the form used in logs and JSON.
    public var description: String { "0x" + hex }
    public var debugDescription: String { "Hash32(0x\(hex))" }
}

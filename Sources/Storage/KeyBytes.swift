/// Byte helpers for key layouts: big-endian integers (so numeric order is byte order) and prefix bounds.
public enum KeyBytes {
    /// `v` as 8 big-endian bytes.
    @inlinable
    public static func be64(_ v: UInt64) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }

    /// `v` as 4 big-endian bytes.
    @inlinable
    public static func be32(_ v: UInt32) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }

    /// Reads a big-endian integer of `T`'s width at `offset`; nil when the bytes are too short.
    public static func readBE<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ bytes: some Collection<UInt8>, at offset: Int) -> T? {
        let width = MemoryLayout<T>.size
        guard offset >= 0, bytes.count >= offset + width else { return nil }
        var v: T = 0
        for b in bytes.dropFirst(offset).prefix(width) { v = v << 8 | T(b) }
        return v
    }

    /// The smallest key greater than every key starting with `prefix`: the prefix with its last
    /// non-0xFF byte incremented and the trailing 0xFF bytes dropped. Nil when no such key exists
    /// (empty prefix, or all bytes 0xFF): the range is then unbounded above.
    public static func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
        var s = prefix
        while let last = s.last {
            if last == 0xFF {
                s.removeLast()
            } else {
                s[s.count - 1] = last + 1
                return s
            }
        }
        return nil
    }
}

/// `Array.withUnsafeBytes` with a typed error (the standard one is `rethrows`, which erases the type).
@inlinable
func withBytes<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = bytes.withUnsafeBytes { p in Result { () throws(E) -> R in try body(p) } }
    return try result.get()
}

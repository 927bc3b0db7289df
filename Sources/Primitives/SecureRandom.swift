/// Bytes from the operating system's CSPRNG.
///
/// Backed by `SystemRandomNumberGenerator`, which on Linux reads `getrandom(2)` (falling back to
/// `/dev/urandom`): the kernel CSPRNG, with no user-space state to seed or fork.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }

    /// Fills a buffer with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var g = SystemRandomNumberGenerator()
        var i = 0
        while i < buffer.count {
            var word = g.next()
            let n = min(8, buffer.count - i)
            withUnsafeBytes(of: &word) { w in
                for j in 0..<n { buffer[i + j] = w[j] }
            }
            word = 0
            i += n
        }
    }

    /// A random 32-byte value.
    public static func hash32() -> Hash32 {
        var h = Hash32.zero
        withUnsafeMutableBytes(of: &h) { fill($0) }
        return h
    }
}

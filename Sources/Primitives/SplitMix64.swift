/// SplitMix64: a tiny, fast, deterministic generator for seeded simulations, tests and generated inputs.
/// Not cryptographic: keys and nonces come from `SecureRandom`.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension FixedWidthInteger {
    /// Big-endian bytes (keys use big-endian so byte order equals numeric order).
    public var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }

    /// Reads a big-endian integer from (at most) `MemoryLayout<Self>.size` bytes.
    public init<C: Collection>(bigEndianBytes bytes: C) where C.Element == UInt8 {
        var v: Self = 0
        for b in bytes { v = v << 8 | Self(b) }
        self = v
    }
}

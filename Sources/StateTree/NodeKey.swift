import Primitives

/// The first `count` nibbles (4-bit digits, most significant first) of a 256-bit key hash: the position
/// of a node in the 16-ary tree. The root is the empty path.
public struct NibblePath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The nibbles, left-aligned; every nibble at or beyond `count` is zero, so equal paths are equal values.
    public let bits: Hash32
    /// Number of nibbles, 0...64.
    public let count: Int

    /// The most nibbles a path can have (a 256-bit key hash).
    public static let maxCount = 64
    /// The root's path.
    public static let root = NibblePath(bits: .zero, count: 0)

    private init(bits: Hash32, count: Int) {
        self.bits = bits
        self.count = count
    }

    /// The first `count` nibbles of `key`.
    public init(prefixOf key: Hash32, count: Int) {
        precondition(count >= 0 && count <= Self.maxCount, "nibble path length out of range")
        var b = key
        Swift.withUnsafeMutableBytes(of: &b) { raw in
            let full = count >> 1
            if count & 1 == 1 { raw[full] &= 0xF0 }
            for i in (full + (count & 1))..<32 { raw[i] = 0 }
        }
        self.init(bits: b, count: count)
    }

    /// Nibble `i` (< count).
    public func nibble(_ i: Int) -> UInt8 {
        precondition(i >= 0 && i < count, "nibble index out of range")
        return bits.treeNibble(i)
    }

    /// This path extended by one nibble.
    public func appending(_ nibble: UInt8) -> NibblePath {
        precondition(count < Self.maxCount && nibble < 16, "cannot extend nibble path")
        var b = bits
        Swift.withUnsafeMutableBytes(of: &b) { raw in
            let i = count >> 1
            raw[i] |= count & 1 == 0 ? nibble << 4 : nibble
        }
        return NibblePath(bits: b, count: count + 1)
    }

    /// Whether `key`'s first `count` nibbles are this path.
    public func isPrefix(of key: Hash32) -> Bool {
        NibblePath(prefixOf: key, count: count) == self
    }

    /// Shorter paths first, then by nibbles: a total order, used only to make outputs deterministic.
    public static func < (a: NibblePath, b: NibblePath) -> Bool {
        a.count != b.count ? a.count < b.count : a.bits < b.bits
    }

    /// Encoding: `u8 count ‖ ceil(count/2) bytes` of packed nibbles (a trailing odd nibble in the high half
    /// of the last byte, its low half zero).
    func encode(to w: inout CanonicalWriter) {
        w.u8(UInt8(count))
        let n = (count + 1) >> 1
        bits.withUnsafeBytes { w.raw(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Strict decoding: the count must be ≤ 64 and the padding nibble zero, so one path has one encoding.
    init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        let c = Int(try r.u8("nibble count"))
        guard c <= Self.maxCount else { throw r.invalid("nibble count", "\(c) nibbles (at most 64)", at: at) }
        let packed = try r.raw("nibbles", count: (c + 1) >> 1)
        if c & 1 == 1, packed[packed.count - 1] & 0x0F != 0 {
            throw r.invalid("nibbles", "padding nibble is not zero", at: at)
        }
        // Copied into a zero value directly: `Hash32(bytes:)` is generic over collections and, not being
        // specialized across modules, costs more than the rest of a node key's decoding.
        var bits = Hash32.zero
        Swift.withUnsafeMutableBytes(of: &bits) { dst in
            packed.withUnsafeBytes { src in dst.copyMemory(from: src) }
        }
        self.init(bits: bits, count: c)
    }

    public var description: String {
        count == 0 ? "<root>" : String((0..<count).map { Character(String(nibble($0), radix: 16)) })
    }
}

/// Where a node is stored: the version (block height) that wrote it and its path. Nodes are written once
/// and never modified, so a key names one node forever (until pruning or a revert deletes it).
public struct NodeKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The version that created the node.
    public let version: UInt64
    /// The node's position.
    public let path: NibblePath

    public init(version: UInt64, path: NibblePath) {
        self.version = version
        self.path = path
    }

    /// The root node of `version`.
    public static func root(_ version: UInt64) -> NodeKey { NodeKey(version: version, path: .root) }

    /// Version first (so a version's nodes are one contiguous key range in storage), then path.
    public static func < (a: NodeKey, b: NodeKey) -> Bool {
        a.version != b.version ? a.version < b.version : a.path < b.path
    }

    /// Storage key bytes: `BE64(version) ‖ u8 count ‖ packed nibbles` (Specs/state-tree.md section 6).
    /// Big-endian version so byte order is version order: one version's nodes are one key range.
    public var storageKey: [UInt8] {
        var w = CanonicalWriter(capacity: 41)
        encode(to: &w)
        return w.bytes
    }

    /// Strict inverse of `storageKey`.
    public init(storageKey bytes: [UInt8]) throws(CodecError) {
        self = try NodeKey(canonicalEncoding: bytes)
    }

    public var description: String { "\(version):\(path)" }
}

extension NodeKey: CanonicalCodable {
    /// The storage-key form, `BE64(version) ‖ u8 count ‖ packed nibbles`; self-delimiting, so node keys
    /// also appear in lists (the stale index) in this form.
    public func encode(to w: inout CanonicalWriter) {
        w.raw(version.bigEndianBytes)
        path.encode(to: &w)
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        version = UInt64(bigEndianBytes: try r.raw("version", count: 8))
        path = try NibblePath(from: &r)
    }
}

import Primitives

/// The hash functions of the state tree (Specs/state-tree.md section 2).
///
/// Keys and values enter the tree as plain SHA-256 digests; the tree's own nodes use BIP-340 tagged hashes
/// with tags of their own, so a leaf can never be mistaken for an internal node (or either for any other
/// hash of the protocol) and a proof cannot pass one off as the other.
public enum TreeHash {
    /// Tag of a leaf: `H_leaf(keyHash ‖ valueHash)`.
    public static let leafTag = TaggedHash("sharechain/jmt-leaf")
    /// Tag of an internal binary node: `H_internal(left ‖ right)`.
    public static let internalTag = TaggedHash("sharechain/jmt-internal")

    /// The hash of an empty subtree: 32 zero bytes. No tagged hash is zero (finding one is a preimage
    /// attack on SHA-256), so the placeholder cannot collide with a real subtree.
    public static let placeholder = Hash32.zero

    /// Where a raw ledger key goes in the tree: `SHA-256(key)`, read as 256 bits, most significant first.
    @inlinable
    public static func key(_ rawKey: [UInt8]) -> Hash32 { SHA256.hash(rawKey) }

    /// What a leaf commits to for a raw ledger value: `SHA-256(value)` (an empty value is present and
    /// hashes like any other; absence is the lack of a leaf, never a special value).
    @inlinable
    public static func value(_ rawValue: [UInt8]) -> Hash32 { SHA256.hash(rawValue) }

    /// `H_leaf(keyHash ‖ valueHash)`.
    @inlinable
    public static func leaf(keyHash: Hash32, valueHash: Hash32) -> Hash32 {
        var h = leafTag.hasher()
        h.update(keyHash)
        h.update(valueHash)
        return h.finalize()
    }

    /// `H_internal(left ‖ right)`. Never called with two placeholders, nor with a leaf next to a
    /// placeholder: the tree collapses those subtrees (section 2 of the spec).
    @inlinable
    public static func internalNode(_ left: Hash32, _ right: Hash32) -> Hash32 {
        var h = internalTag.hasher()
        h.update(left)
        h.update(right)
        return h.finalize()
    }
}

extension Hash32 {
    /// Bit `i` (0 = the most significant bit of the first byte) of the 256-bit value, as 0 or 1.
    @inline(__always)
    func treeBit(_ i: Int) -> UInt8 {
        withUnsafeBytes { b in (b[i >> 3] >> (7 - UInt8(i & 7))) & 1 }
    }

    /// Nibble `i` (0 = the high half of the first byte) of the 256-bit value.
    @inline(__always)
    func treeNibble(_ i: Int) -> UInt8 {
        withUnsafeBytes { b in
            let byte = b[i >> 1]
            return i & 1 == 0 ? byte >> 4 : byte & 0x0F
        }
    }

    /// How many leading bits `self` and `other` share (256 when equal).
    func commonPrefixBits(with other: Hash32) -> Int {
        withUnsafeBytes { a in
            other.withUnsafeBytes { b in
                for i in 0..<32 where a[i] != b[i] {
                    return i * 8 + (a[i] ^ b[i]).leadingZeroBitCount
                }
                return 256
            }
        }
    }
}

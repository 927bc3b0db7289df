/// Merkle trees over SHA-256 with RFC 6962 / RFC 9162 domain separation:
/// leaf = SHA256(0x00 || data), node = SHA256(0x01 || left || right), the empty tree hashes to SHA256(""),
/// and a tree of n leaves splits at the largest power of two below n.
public enum Merkle {
    /// Hash of a leaf's data.
    public static func leafHash(_ data: [UInt8]) -> Hash32 {
        var h = SHA256()
        var prefix: UInt8 = 0
        withUnsafeBytes(of: &prefix) { h.update($0) }
        h.update(data)
        return h.finalize()
    }

    /// Hash of a leaf whose data is a 32-byte value.
    public static func leafHash(_ value: Hash32) -> Hash32 {
        var h = SHA256()
        var prefix: UInt8 = 0
        withUnsafeBytes(of: &prefix) { h.update($0) }
        h.update(value)
        return h.finalize()
    }

    /// Hash of an interior node.
    public static func nodeHash(_ left: Hash32, _ right: Hash32) -> Hash32 {
        var h = SHA256()
        var prefix: UInt8 = 1
        withUnsafeBytes(of: &prefix) { h.update($0) }
        h.update(left)
        h.update(right)
        return h.finalize()
    }

    /// Root over already-hashed leaves.
    ///
    /// Computed bottom-up: pairing left to right and carrying an unpaired last node up unchanged gives
    /// the same tree as RFC 6962's largest-power-of-two split (the tests check both against each other).
    public static func root(leafHashes: [Hash32]) -> Hash32 {
        if leafHashes.isEmpty { return SHA256.hash([]) }
        var level = leafHashes
        while level.count > 1 {
            var next = [Hash32]()
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i + 1 < level.count {
                next.append(nodeHash(level[i], level[i + 1]))
                i += 2
            }
            if i < level.count { next.append(level[i]) }
            level = next
        }
        return level[0]
    }

    /// Root over raw leaf data.
    public static func root(leaves: [[UInt8]]) -> Hash32 {
        root(leafHashes: leaves.map(leafHash))
    }

    /// The audit path for leaf `index` (RFC 9162 section 2.1.3.1), siblings from the leaf upwards.
    public static func proof(index: Int, leafHashes: [Hash32]) -> [Hash32] {
        precondition(index >= 0 && index < leafHashes.count, "leaf index out of range")
        return path(index, leafHashes[...])
    }

    private static func path(_ m: Int, _ d: ArraySlice<Hash32>) -> [Hash32] {
        let n = d.count
        if n <= 1 { return [] }
        let k = largestPowerOfTwoBelow(n)
        let start = d.startIndex
        if m < k {
            return path(m, d[start..<(start + k)]) + [subtreeRoot(d[(start + k)...])]
        } else {
            return path(m - k, d[(start + k)...]) + [subtreeRoot(d[start..<(start + k)])]
        }
    }

    /// RFC 6962 MTH by the recursive definition (used for proofs and to cross-check `root`).
    public static func subtreeRoot(_ d: ArraySlice<Hash32>) -> Hash32 {
        let n = d.count
        if n == 0 { return SHA256.hash([]) }
        if n == 1 { return d[d.startIndex] }
        let k = largestPowerOfTwoBelow(n)
        let s = d.startIndex
        return nodeHash(subtreeRoot(d[s..<(s + k)]), subtreeRoot(d[(s + k)...]))
    }

    static func largestPowerOfTwoBelow(_ n: Int) -> Int {
        precondition(n > 1)
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// Verifies an inclusion proof (RFC 9162 section 2.1.3.2). Never traps on malformed input.
    public static func verify(leafHash: Hash32, index: UInt64, treeSize: UInt64, proof: [Hash32], root: Hash32) -> Bool {
        guard index < treeSize else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }
}

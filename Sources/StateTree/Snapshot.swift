import Primitives

/// A state snapshot's table of contents (Specs/state-tree.md §9): the state split into 256 chunks by the first
/// byte of the key hash, each summarised by its key count and its subtree hash `T(S_b, 8)` (§2). The 256 entries
/// recompute the state root, so a manifest is checked against a trusted header's `stateRoot` alone, and each chunk
/// against its entry, before anything is written.
public struct SnapshotManifest: Hashable, Sendable {
    /// Chunks per snapshot: one per value of the key hash's first byte.
    public static let chunkCount = 256

    /// One chunk's summary.
    public struct Chunk: Hashable, Sendable {
        /// Keys in the chunk.
        public let count: UInt64
        /// `T(S_b, 8)`: the placeholder when empty, the key's leaf when it holds one key.
        public let hash: Hash32
        public init(count: UInt64, hash: Hash32) { self.count = count; self.hash = hash }
    }

    public let height: UInt64
    public let blockHash: Hash32
    public let chunks: [Chunk]

    public init(height: UInt64, blockHash: Hash32, chunks: [Chunk]) {
        self.height = height; self.blockHash = blockHash; self.chunks = chunks
    }

    /// The total number of keys.
    public var keyCount: UInt64 { chunks.reduce(0) { $0 &+ $1.count } }

    /// The state root the chunk summaries add up to: eight levels of pairs, where two empty subtrees make an empty
    /// one, a single leaf beside an empty subtree moves up unchanged (§2: a one-key subtree is its leaf wherever it
    /// sits), and anything else is `node(left, right)`. Nil for a manifest without exactly 256 chunks, or with an
    /// entry whose hash is the placeholder when its count is not 0 or the other way round: counts are not hashed, and
    /// beside a subtree of two or more keys an "empty" entry is combined by its hash, so a real chunk's hash counted 0
    /// would add up while that chunk is never downloaded nor checked (a count-0 part is done before it starts).
    public func stateRoot() -> Hash32? {
        guard chunks.count == Self.chunkCount else { return nil }
        guard chunks.allSatisfy({ ($0.count == 0) == ($0.hash == TreeHash.placeholder) }) else { return nil }
        var level = chunks
        while level.count > 1 {
            var next = [Chunk]()
            next.reserveCapacity(level.count / 2)
            for i in stride(from: 0, to: level.count, by: 2) {
                let l = level[i], r = level[i + 1]
                if l.count == 0 && r.count <= 1 { next.append(r) }
                else if r.count == 0 && l.count == 1 { next.append(l) }
                else { next.append(Chunk(count: l.count &+ r.count, hash: TreeHash.internalNode(l.hash, r.hash))) }
            }
            level = next
        }
        return level[0].hash
    }
}

/// Why a snapshot part was refused.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    case manifestRootMismatch(expected: Hash32, got: Hash32?)
    case chunkIndexOutOfRange(Int)
    case keyOutsideChunk(index: Int, position: Int)
    case keysNotIncreasing(index: Int, position: Int)
    case chunkCountMismatch(index: Int, expected: UInt64, got: Int)
    case chunkHashMismatch(index: Int)

    public var description: String {
        switch self {
        case .manifestRootMismatch(let e, let g): "manifest adds up to \(g.map { "\($0)" } ?? "nothing") but the trusted stateRoot is \(e)"
        case .chunkIndexOutOfRange(let i): "chunk index \(i) is not in 0..<256"
        case .keyOutsideChunk(let i, let p): "chunk \(i): entry \(p) does not belong to this chunk"
        case .keysNotIncreasing(let i, let p): "chunk \(i): entry \(p) is not in increasing key-hash order"
        case .chunkCountMismatch(let i, let e, let g): "chunk \(i): \(g) entries, the manifest says \(e)"
        case .chunkHashMismatch(let i): "chunk \(i): its entries do not hash to the manifest's subtree hash"
        }
    }
}

public enum StateSnapshot {
    /// `T(S, depth)` of §2 for leaves sorted by key hash that all share their first `depth` bits.
    public static func subtreeHash(_ leaves: ArraySlice<LeafNode>, depth: Int) -> Hash32 {
        guard let first = leaves.first else { return TreeHash.placeholder }
        if leaves.count == 1 { return first.hash }
        // Sorted: the leaves with bit `depth` = 0 come first.
        let split = leaves.firstIndex { bit($0.keyHash, depth) } ?? leaves.endIndex
        return TreeHash.internalNode(subtreeHash(leaves[leaves.startIndex..<split], depth: depth + 1),
                                     subtreeHash(leaves[split..<leaves.endIndex], depth: depth + 1))
    }

    static func bit(_ h: Hash32, _ i: Int) -> Bool { h.withUnsafeBytes { ($0[i >> 3] >> UInt8(7 - (i & 7))) & 1 == 1 } }

    /// The chunk a key hash belongs to: its first byte.
    public static func chunkIndex(_ keyHash: Hash32) -> Int { Int(keyHash.withUnsafeBytes { $0[0] }) }

    /// Checks a manifest against a trusted state root.
    public static func verify(_ manifest: SnapshotManifest, stateRoot: Hash32) throws(SnapshotError) {
        let got = manifest.stateRoot()
        guard got == stateRoot else { throw .manifestRootMismatch(expected: stateRoot, got: got) }
    }

    /// Checks chunk `index`'s raw entries against a verified manifest: every key hash starts with the byte
    /// `index`, key hashes strictly increase, the count and the subtree hash match. Returns the entries' leaves.
    @discardableResult
    public static func verify(chunk entries: [(key: [UInt8], value: [UInt8])], index: Int,
                              manifest: SnapshotManifest) throws(SnapshotError) -> [LeafNode] {
        guard index >= 0, index < manifest.chunks.count else { throw .chunkIndexOutOfRange(index) }
        let expected = manifest.chunks[index]
        guard UInt64(entries.count) == expected.count else { throw .chunkCountMismatch(index: index, expected: expected.count, got: entries.count) }
        var leaves = [LeafNode]()
        leaves.reserveCapacity(entries.count)
        for (p, e) in entries.enumerated() {
            let leaf = LeafNode(keyHash: TreeHash.key(e.key), valueHash: TreeHash.value(e.value))
            guard chunkIndex(leaf.keyHash) == index else { throw .keyOutsideChunk(index: index, position: p) }
            if let last = leaves.last, !(last.keyHash < leaf.keyHash) { throw .keysNotIncreasing(index: index, position: p) }
            leaves.append(leaf)
        }
        guard subtreeHash(leaves[...], depth: 8) == expected.hash else { throw .chunkHashMismatch(index: index) }
        return leaves
    }
}

import Consensus
import Foundation
import Ledger
import Primitives
import StateTree
import Storage
import Synchronization

/// The parts of a state snapshot on the wire (Specs/p2p.md §7): the 256 state chunks of the manifest, then the
/// snapshot block's body and its receipts as byte blobs cut into pieces (entries with an empty key).
public enum SnapshotParts {
    /// Parts per snapshot: 256 chunks, the body, the receipts.
    public static let count = SnapshotManifest.chunkCount + 2
    /// The snapshot block's body (`Block.bodyEncoding`).
    public static let body = UInt16(SnapshotManifest.chunkCount)
    /// The snapshot block's receipts (the stored receipts encoding).
    public static let receipts = UInt16(SnapshotManifest.chunkCount + 1)
    /// Bytes of a blob piece (the last one may be shorter).
    public static let pieceBytes = 64 * 1024
    /// Entries in one `snapshotPart` message.
    public static let maxEntriesPerMessage = 1 << 17
    /// Bytes of a state key.
    public static let maxKeyBytes = 1024

    /// Pieces of a blob of `bytes` bytes.
    public static func pieces(_ bytes: UInt32) -> UInt32 {
        // Without `bytes + pieceBytes − 1`, which would trap for a size near 2³² from an offer.
        bytes / UInt32(pieceBytes) + (bytes % UInt32(pieceBytes) == 0 ? 0 : 1)
    }

    /// A blob cut into pieces.
    static func cut(_ blob: [UInt8]) -> [KeyValue] {
        stride(from: 0, to: blob.count, by: pieceBytes).map { KeyValue(key: [], value: Array(blob[$0..<min(blob.count, $0 + pieceBytes)])) }
    }
}

/// What a node offers for one snapshot height: the block's signed header (whose `stateRoot` the manifest adds up
/// to), the manifest's 256 chunk summaries, and the byte sizes of the block's body and receipts.
public struct SnapshotOffer: Sendable, Hashable {
    public var header: SignedHeader
    public var chunks: [SnapshotManifest.Chunk]
    public var bodyBytes: UInt32
    public var receiptsBytes: UInt32

    public init(header: SignedHeader, chunks: [SnapshotManifest.Chunk], bodyBytes: UInt32, receiptsBytes: UInt32) {
        self.header = header; self.chunks = chunks; self.bodyBytes = bodyBytes; self.receiptsBytes = receiptsBytes
    }

    public var manifest: SnapshotManifest { SnapshotManifest(height: header.header.height, blockHash: header.hash, chunks: chunks) }

    /// Entries part `part` holds in all.
    public func total(of part: UInt16) -> UInt32 {
        switch part {
        case SnapshotParts.body: SnapshotParts.pieces(bodyBytes)
        case SnapshotParts.receipts: SnapshotParts.pieces(receiptsBytes)
        default: UInt32(clamping: chunks[Int(part)].count)
        }
    }
}

/// A request for a snapshot part's entries from position `start`.
public struct SnapshotPartRequest: Sendable, Hashable {
    public var height: UInt64
    public var blockHash: Hash32
    public var part: UInt16
    public var start: UInt32
    public init(height: UInt64, blockHash: Hash32, part: UInt16, start: UInt32) {
        self.height = height; self.blockHash = blockHash; self.part = part; self.start = start
    }
}

/// Entries `start..<start + entries.count` of a part of `total`, or `available == false` when the sender does
/// not serve that snapshot.
public struct SnapshotPart: Sendable, Hashable {
    public var height: UInt64
    public var blockHash: Hash32
    public var part: UInt16
    public var start: UInt32
    public var total: UInt32
    public var entries: [KeyValue]
    public var available: Bool
    public init(height: UInt64, blockHash: Hash32, part: UInt16, start: UInt32, total: UInt32, entries: [KeyValue], available: Bool) {
        self.height = height; self.blockHash = blockHash; self.part = part; self.start = start; self.total = total
        self.entries = entries; self.available = available
    }

    public var request: SnapshotPartRequest { SnapshotPartRequest(height: height, blockHash: blockHash, part: part, start: start) }
}

/// Serves state snapshots to peers that state-sync (Specs/p2p.md §7). A snapshot is built from the state
/// history once per height (one pass over the state, held in memory) and kept for the next requests; at most
/// `cacheSize` heights are kept, and a height not cached is built only once the last build has ended and
/// `max(rebuildInterval, buildSpacingFactor × its duration)` has passed since, so that a peer asking for ever new
/// heights cannot keep the node scanning its state: builds take at most 1/(1 + factor) of the time, however long
/// each takes (spacing them from their start let builds longer than the interval run back to back).
final class SnapshotServer: Sendable {
    struct Served: Sendable {
        let offer: SnapshotOffer
        /// Parts 0..<258 (chunks, body pieces, receipt pieces).
        let parts: [[KeyValue]]
    }

    private struct Cache: Sendable {
        /// Snapshots built or being built, with when a peer last asked for one of their parts.
        var entries: [(hash: Hash32, task: Task<Served?, Never>, lastUsed: ContinuousClock.Instant)] = []
        /// No build starts before this instant (set when a build ends).
        var nextBuild: ContinuousClock.Instant?
        var building = false
    }

    private let chain: ChainService
    private let cache = Mutex(Cache())
    private let cacheSize = 2
    /// A cached snapshot asked for within this long is in use: it is not evicted for another one (the other is then
    /// not served for now). A first-in-first-out cache let any peer, asking for two other heights, take away the
    /// snapshot an honest peer was downloading, whose progress was then lost (eighteenth-session audit).
    static let inUseWindow: Duration = .seconds(30)
    private let rebuildInterval: Duration
    /// The pause after a build, in multiples of its duration (at least `rebuildInterval`).
    static let buildSpacingFactor = 4
    /// Tests only: added to every build's duration (a slow build without a large state).
    private let buildDelayForTests: Duration
    /// Builds run, and the time they took (tests).
    let buildStats = Mutex<(count: Int, time: Duration)>((0, .zero))
    /// Tests only: how this node lies (`.none`: it does not).
    private let corrupt: SnapshotCorruption

    init(chain: ChainService, rebuildInterval: Duration = .seconds(5), corrupt: SnapshotCorruption = .none, buildDelayForTests: Duration = .zero) {
        self.chain = chain
        self.rebuildInterval = rebuildInterval
        self.buildDelayForTests = buildDelayForTests
        self.corrupt = corrupt
    }

    /// The canonical block hash at `height` when this node can serve its snapshot (0: the newest finalized height).
    func servableBlock(height: UInt64) throws -> (height: UInt64, hash: Hash32)? {
        let view = try chain.readView()
        guard let tip = try view.tip() else { return nil }
        let h = height == 0 ? (try view.finalizedHeight() ?? 0) : height
        guard h > 0, h <= tip.height, h >= (try view.stateRetainedFrom()) else { return nil }
        guard let hash = try view.canonicalHash(at: h) else { return nil }
        return (h, hash)
    }

    /// The offer for a height, or nil when this node does not serve it.
    func offer(height: UInt64) async -> SnapshotOffer? {
        guard let (h, hash) = try? servableBlock(height: height) else { return nil }
        return await served(height: h, hash: hash)?.offer
    }

    /// A page of a part: entries from `start` as long as they fit `budget` bytes (at least one).
    func part(_ q: SnapshotPartRequest, budget: Int) async -> SnapshotPart {
        let unavailable = SnapshotPart(height: q.height, blockHash: q.blockHash, part: q.part, start: q.start, total: 0, entries: [], available: false)
        guard Int(q.part) < SnapshotParts.count, let served = await served(height: q.height, hash: q.blockHash) else { return unavailable }
        let all = served.parts[Int(q.part)]
        guard Int(q.start) <= all.count else { return unavailable }
        var end = Int(q.start), size = 0
        while end < all.count {
            let n = all[end].key.count + all[end].value.count + 16
            if end > Int(q.start) && size + n > budget { break }
            size += n
            end += 1
        }
        return SnapshotPart(height: q.height, blockHash: q.blockHash, part: q.part, start: q.start, total: UInt32(all.count),
                            entries: Array(all[Int(q.start)..<end]), available: true)
    }

    private func served(height: UInt64, hash: Hash32) async -> Served? {
        let chain = self.chain, corrupt = self.corrupt
        if let hit = cache.withLock({ c -> Task<Served?, Never>? in
            guard let i = c.entries.firstIndex(where: { $0.hash == hash }) else { return nil }
            c.entries[i].lastUsed = .now
            return c.entries[i].task
        }) { return await finish(hit, hash) }
        // Only a block this node can serve may start a build: requests naming junk must not use up the build budget.
        guard height > 0, let (h, canonical) = try? servableBlock(height: height), h == height, canonical == hash else { return nil }
        let task: Task<Served?, Never>? = cache.withLock { c in
            if let hit = c.entries.first(where: { $0.hash == hash }) { return hit.task }
            // Never two builds at once (a build scans the whole state), and a pause after each in proportion to it.
            if let next = c.nextBuild, ContinuousClock.now < next { return nil }
            if c.building { return nil }
            // Room: the least recently used snapshot goes, unless every cached one is in use.
            if c.entries.count >= cacheSize {
                guard let lru = c.entries.indices.min(by: { c.entries[$0].lastUsed < c.entries[$1].lastUsed }),
                      ContinuousClock.now - c.entries[lru].lastUsed >= Self.inUseWindow else { return nil }
                c.entries.remove(at: lru)
            }
            c.building = true
            let delay = buildDelayForTests
            let t = Task<Served?, Never>.detached { [self] in
                let start = ContinuousClock.now
                if delay > .zero { try? await Task.sleep(for: delay) }
                let served = Self.build(chain: chain, height: height, hash: hash, corrupt: corrupt)
                let end = ContinuousClock.now
                self.cache.withLock {
                    $0.building = false
                    $0.nextBuild = end + max(self.rebuildInterval, (end - start) * Self.buildSpacingFactor)
                }
                self.buildStats.withLock { $0.count += 1; $0.time += end - start }
                return served
            }
            c.entries.append((hash, t, .now))
            return t
        }
        guard let task else { return nil }
        return await finish(task, hash)
    }

    private func finish(_ task: Task<Served?, Never>, _ hash: Hash32) async -> Served? {
        let served = await task.value
        if served == nil { cache.withLock { c in c.entries.removeAll { $0.hash == hash } } }
        return served
    }

    private static func build(chain: ChainService, height: UInt64, hash: Hash32, corrupt: SnapshotCorruption) -> Served? {
        do {
            let view = try chain.readView()
            guard try view.canonicalHash(at: height) == hash, let headerBytes = try view.header(hash), let body = try view.body(hash),
                  let receipts = try view.receipts(hash) else { return nil }
            let header = try SignedHeader(canonicalEncoding: headerBytes)
            let snapshot = try view.stateSnapshot(height: height)
            guard snapshot.manifest.blockHash == hash else { return nil }
            var parts = snapshot.chunks
            var chunks = snapshot.manifest.chunks
            switch corrupt {
            case .none: break
            case .values:
                for i in parts.indices where !parts[i].isEmpty { parts[i][0] = KeyValue(key: parts[i][0].key, value: parts[i][0].value + [0xFF]) }
            case .counts:
                // A liar grinds its variant until it wins the tie-break against the real manifest (the lower order digest,
                // `StateSyncer.order`): the strongest form of the attack, so a test of it never passes by the liar losing.
                func offer(_ c: [SnapshotManifest.Chunk]) -> SnapshotOffer {
                    SnapshotOffer(header: header, chunks: c, bodyBytes: UInt32(body.count), receiptsBytes: UInt32(receipts.count))
                }
                let real = StateSyncer.order(offer(chunks))
                var variant = chunks
                for i in chunks.indices where chunks[i].count > 2 { variant[i] = .init(count: chunks[i].count - 1, hash: chunks[i].hash) }
                for i in chunks.indices where chunks[i].count > 2 && StateSyncer.order(offer(variant)) > real {
                    variant[i] = .init(count: chunks[i].count - 2, hash: chunks[i].hash)
                }
                chunks = variant
            }
            parts.append(SnapshotParts.cut(body))
            parts.append(SnapshotParts.cut(receipts))
            let offer = SnapshotOffer(header: header, chunks: chunks, bodyBytes: UInt32(body.count), receiptsBytes: UInt32(receipts.count))
            return Served(offer: offer, parts: parts)
        } catch {
            return nil
        }
    }
}

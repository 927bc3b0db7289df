import Foundation
import Primitives

/// Addresses the node may dial, with reconnect backoff. Bootstrap peers are kept forever; learned ones
/// (peer exchange, the peers file) are bounded and dropped after repeated failures.
struct AddressBook: Sendable {
    /// Anchors (peers we were connected to at the last shutdown) are dialled first, then bootstrap peers.
    enum Source: Sendable { case anchor, bootstrap, learned }

    struct Entry: Sendable {
        let endpoint: PeerEndpoint
        var source: Source
        var failures = 0
        var nextAttempt: ContinuousClock.Instant
        var dialing = false
        /// The address turned out to be ourselves: never dial it again.
        var isSelf = false
        /// Last successful session (for the peers file).
        var lastConnected: Date?
        /// The node key found there (so a node already connected in the other direction is not dialed).
        var nodeKey: PublicKey?
        /// The address group of the peer that shared it (nil: the peers file, or not learned).
        var learnedFrom: String?
    }

    private(set) var entries: [PeerEndpoint: Entry] = [:]
    let maxLearned = 1000
    /// Learned addresses kept from the peers of one address group (ninth review F3: one source filled the book).
    let maxLearnedPerSource = 64
    let backoffMin: Duration
    let backoffMax: Duration

    init(bootstrap: [PeerEndpoint], backoffMin: Duration, backoffMax: Duration) {
        self.backoffMin = backoffMin
        self.backoffMax = backoffMax
        let now = ContinuousClock.now
        for e in bootstrap { entries[e] = Entry(endpoint: e, source: .bootstrap, nextAttempt: now) }
    }

    var hasBootstrap: Bool { entries.values.contains { $0.source == .bootstrap } }

    /// Adds a learned address (no effect on known ones), shared by a peer in address group `source` (nil: from the
    /// peers file). A source keeps at most `maxLearnedPerSource` addresses in the book. When the book is full, an address
    /// never connected to from the source holding the most is evicted for it, unless that is this source: so no one
    /// source (nor a few) can fill the book and shut later peers' addresses out (Specs/p2p.md §8). False when not added.
    @discardableResult
    mutating func learn(_ e: PeerEndpoint, from source: String? = nil) -> Bool {
        guard entries[e] == nil else { return false }
        let learned = entries.values.filter { $0.source == .learned }
        if let source, learned.count(where: { $0.learnedFrom == source }) >= maxLearnedPerSource { return false }
        if learned.count >= maxLearned {
            var bySource: [String: [Entry]] = [:]
            for entry in learned where entry.lastConnected == nil && !entry.dialing {
                if let from = entry.learnedFrom { bySource[from, default: []].append(entry) }
            }
            guard let (from, candidates) = bySource.max(by: { $0.value.count < $1.value.count }), from != source,
                  source == nil || candidates.count > learned.count(where: { $0.learnedFrom == source }) + 1,
                  let victim = candidates.randomElement() else { return false }
            entries[victim.endpoint] = nil
        }
        var entry = Entry(endpoint: e, source: .learned, nextAttempt: .now)
        entry.learnedFrom = source
        entries[e] = entry
        return true
    }

    /// Endpoints due for a dial attempt, bootstrap first, marked as dialing.
    mutating func takeDue(max: Int, skip: (Entry) -> Bool) -> [PeerEndpoint] {
        guard max > 0 else { return [] }
        let now = ContinuousClock.now
        let due = entries.values
            .filter { !$0.dialing && !$0.isSelf && $0.nextAttempt <= now && !skip($0) }
            .sorted { (Self.rank($0.source), $0.failures) < (Self.rank($1.source), $1.failures) }
            .prefix(max)
            .map(\.endpoint)
        for e in due { entries[e]?.dialing = true }
        return due
    }

    /// A dial or session ended. `lasted` is how long an established session stayed up (nil: never established).
    mutating func finished(_ e: PeerEndpoint, lasted: Duration?, wasSelf: Bool = false, nodeKey: PublicKey? = nil) {
        guard var entry = entries[e] else { return }
        entry.dialing = false
        if let nodeKey { entry.nodeKey = nodeKey }
        if wasSelf {
            entry.isSelf = true
            entries[e] = entry
            return
        }
        if let lasted, lasted >= .seconds(30) {
            entry.failures = 0
        } else {
            entry.failures += 1
        }
        if lasted != nil { entry.lastConnected = Date() }
        // Exponential backoff with ±25 % jitter, so restarted peers are not dialed in lockstep.
        let exponent = min(entry.failures, 16)
        var delay = backoffMin * (1 << max(0, exponent - 1))
        if delay > backoffMax { delay = backoffMax }
        if entry.failures == 0 { delay = backoffMin }
        let jitter = Double.random(in: 0.75...1.25)
        entry.nextAttempt = .now + delay * jitter
        // An anchor gets one chance to come first; afterwards it is an ordinary learned address.
        if entry.source == .anchor { entry.source = .learned }
        if entry.source == .learned && entry.failures >= 8 && entry.lastConnected == nil {
            entries[e] = nil
        } else {
            entries[e] = entry
        }
    }

    private static func rank(_ s: Source) -> Int {
        switch s {
        case .anchor: 0
        case .bootstrap: 1
        case .learned: 2
        }
    }

    /// Adds an anchor (or marks a known address as one): dialled before everything else.
    mutating func anchor(_ e: PeerEndpoint, nodeKey: PublicKey) {
        var entry = entries[e] ?? Entry(endpoint: e, source: .anchor, nextAttempt: .now)
        if entry.source == .learned { entry.source = .anchor }
        entry.nodeKey = nodeKey
        entry.nextAttempt = .now
        entries[e] = entry
    }

    /// A reserved dial that did not happen.
    mutating func release(_ e: PeerEndpoint) { entries[e]?.dialing = false }

    /// Makes every entry due now (after the operator lifts a block, or a peer list changes).
    mutating func resetBackoff() {
        for k in entries.keys {
            entries[k]?.failures = 0
            entries[k]?.nextAttempt = .now
        }
    }

    /// Addresses worth keeping in the peers file: ones we connected to, then other learned ones.
    func persistable(limit: Int) -> [String] {
        entries.values.filter { !$0.isSelf }
            .sorted { ($0.lastConnected ?? .distantPast) > ($1.lastConnected ?? .distantPast) }
            .prefix(limit).map(\.endpoint.description)
    }
}

/// The peers file: a JSON array of `host:port` strings (Specs/p2p.md section 8).
enum PeersFile {
    /// The addresses in the file (none when it does not exist yet); an unreadable or malformed file is an error the
    /// node reports and then starts without it (its bootstrap peers and what it learns rebuild the list).
    static func load(_ path: String) throws(P2PConfigError) -> [PeerEndpoint] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else { throw P2PConfigError("cannot read \(path)") }
        guard let list = try? JSONDecoder().decode([String].self, from: data) else {
            throw P2PConfigError("\(path) is not a JSON array of host:port strings")
        }
        return list.prefix(1000).compactMap { try? PeerEndpoint(parsing: $0) }
    }

    static func save(_ path: String, _ endpoints: [String]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted]
        let data = try enc.encode(endpoints)
        // Written, flushed, renamed over the old file and the directory flushed: a crash or power loss leaves the old
        // list or the new one, never a torn file (which would load as no peers at all).
        do { try DurableFile.replace(path, with: data, mode: 0o644) } catch {
            throw P2PConfigError("cannot replace \(path): \(error)")
        }
    }
}

/// The operator's block list file: node keys (64 hex) and `host:port` listen addresses, one per line;
/// `#` starts a comment; other lines are ignored.
public enum BlockListFile {
    /// The keys and normalized `host:port` strings listed in `text`.
    public static func parse(_ text: String) -> (keys: Set<PublicKey>, endpoints: Set<String>) {
        var keys = Set<PublicKey>(), endpoints = Set<String>()
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map {
                $0.trimmingCharacters(in: .whitespaces)
            } ?? ""
            if line.isEmpty { continue }
            if line.count == 64, let k = try? PublicKey(hex: line) { keys.insert(k) }
            else if let e = try? PeerEndpoint(parsing: line) { endpoints.insert(e.description) }
        }
        return (keys, endpoints)
    }
}

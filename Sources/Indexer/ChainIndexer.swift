import HummingbirdWSClient
import Logging
import Primitives
import RPC
import Synchronization

/// How `sharechain indexer` runs.
public struct IndexerConfiguration: Sendable {
    /// The node's JSON-RPC URL (`http://host:port`); its WebSocket is `/ws` on the same address.
    public var rpcURL: String
    /// Where to write.
    public var postgres: PostgresTarget
    /// Longest wait between looks at the node when no notification arrives (the subscription is only a
    /// wake-up: correctness never depends on it).
    public var pollInterval: Duration = .seconds(2)
    /// Time between progress log lines.
    public var progressInterval: Duration = .seconds(5)
    /// Subscribe to `newHeads` and `reorg` over the node's WebSocket (off: poll only).
    public var subscribe = true

    public init(rpcURL: String, postgres: PostgresTarget) {
        self.rpcURL = rpcURL
        self.postgres = postgres
    }
}

/// What one `syncToTip` did.
public struct SyncReport: Sendable, Equatable {
    /// Blocks written.
    public var blocks = 0
    /// Transactions in them.
    public var transactions = 0
    /// Blocks rolled back (reorgs).
    public var rolledBack = 0
    /// The indexed tip afterwards.
    public var height: UInt64?
    public init() {}
}

/// Follows a node and keeps a PostgreSQL database equal to its canonical chain (Specs/indexer.md).
///
/// Backfills from genesis (from the node's earliest stored block when it joined by state sync), or from the block
/// `indexer_state` records; each block is one PostgreSQL
/// transaction, so a crash at any moment leaves the database at a block boundary and a restart continues
/// from there. Before writing a block it checks that the block's parent is the indexed tip; when it is not
/// (a reorg), it walks down to the highest height where the indexed hash equals the node's canonical hash
/// and rolls every table back to it in one transaction, then continues up the new branch.
public final class ChainIndexer: Sendable {
    /// The node it follows.
    public let source: NodeSource
    /// The database it writes.
    public let sink: PostgresSink
    let configuration: IndexerConfiguration
    /// Rounds in a row that write nothing although the node offers blocks (and the indexed tip does not move) before
    /// `syncToTip` gives up with `.malformed`: an honest reorg between two calls settles in one or two.
    static let maxStalledRounds = 10
    let logger: Logger
    private let progress = Mutex(Progress())
    /// The node's chain id once `prepare` has checked it and stored the pools (once per indexer).
    private let preparedChainId = Mutex<String?>(nil)
    /// Whether the last look found the node behind the index (logged once per episode).
    private let nodeBehind = Atomic<Bool>(false)

    struct Progress {
        var blocks = 0
        var transactions = 0
        var since = ContinuousClock.now
        var nodeTip: UInt64 = 0
        var height: UInt64?
    }

    /// Connects to PostgreSQL, applies the schema migrations and checks the database belongs to the node's chain.
    public static func start(_ configuration: IndexerConfiguration, logger: Logger) async throws(IndexerError) -> ChainIndexer {
        let source = try NodeSource(url: configuration.rpcURL)
        let sink = try await PostgresSink.connect(configuration.postgres, logger: logger)
        do throws(IndexerError) {
            let version = try await sink.migrate()
            logger.info("indexer database ready", metadata: ["postgres": "\(configuration.postgres)", "schema": "\(version)"])
            return ChainIndexer(source: source, sink: sink, configuration: configuration, logger: logger)
        } catch {
            await sink.close()
            throw error
        }
    }

    init(source: NodeSource, sink: PostgresSink, configuration: IndexerConfiguration, logger: Logger) {
        self.source = source
        self.sink = sink
        self.configuration = configuration
        self.logger = logger
    }

    /// Closes the database connection.
    public func close() async { await sink.close() }

    /// Checks the database against the node's chain id and refreshes the pools; returns the chain id.
    @discardableResult
    public func prepare() async throws(IndexerError) -> String {
        let chainId = try await source.chainId()
        // Asked every round (one small call): a node restarted at the same address with another chain is refused
        // before anything is compared, rather than walked back through the whole database.
        if let known = preparedChainId.withLock({ $0 }) {
            guard known == chainId else { throw .wrongChain(stored: known, node: chainId) }
            return known
        }
        if let tip = try await sink.indexedTip(), tip.chainId != chainId { throw .wrongChain(stored: tip.chainId, node: chainId) }
        try await sink.upsertPools(try await source.pools())
        preparedChainId.withLock { $0 = chainId }
        return chainId
    }

    /// Indexes up to the node's current tip (rolling back first when the node reorganized), then returns.
    @discardableResult
    public func syncToTip() async throws(IndexerError) -> SyncReport {
        let chainId = try await prepare()
        var report = SyncReport()
        var idle = 0
        // The next range, fetched while the current one is written (node reads and PostgreSQL writes overlap).
        var prefetch: (from: UInt64, task: Task<Result<[BlockRows], IndexerError>, Never>)?
        defer { prefetch?.task.cancel() }
        // The node stores genesis and every block from `earliest` on (a node that joined by state sync has nothing in
        // between; Specs/rpc.md §6). Read once per call: it changes only when a genesis-only node completes a state sync.
        let earliest = try await source.earliestBlockHeight()
        var stalled = 0
        var lastTip: (UInt64, String)?
        var next: UInt64 = earliest
        while true {
            try Task.checkCancellationTyped()
            let nodeTip = try await source.tipHeight()
            progress.withLock { $0.nodeTip = nodeTip }
            let local = try await sink.indexedTip()
            report.height = local?.height
            // An empty database starts at the node's earliest block (recorded as `indexer_state.first_height`).
            next = local.map { $0.height &+ 1 } ?? earliest
            var parentUnchecked = false
            if let local {
                guard local.chainId == chainId else { throw .wrongChain(stored: local.chainId, node: chainId) }
                // The next block is one the node does not store: it cannot be had here (asking stalled at it for good).
                if local.height &+ 1 < earliest { throw .blocksNotOnNode(needed: local.height + 1, earliest: earliest) }
                // The indexed tip is the block just below the node's earliest: its hash cannot be compared at its height,
                // only with the parent of the node's earliest block (checked below, before anything is written).
                parentUnchecked = local.height > 0 && local.height < earliest
            }
            // Rounds that wrote nothing although the node offered blocks; reset whenever the indexed tip moves.
            if let local, lastTip.map({ $0 != (local.height, local.hash) }) ?? true { stalled = 0 }
            lastTip = local.map { ($0.height, $0.hash) }
            if stalled > Self.maxStalledRounds {
                // The node's answers contradict each other for good (its block at the indexed tip's height is the
                // indexed one, yet its next block does not follow it, or it answers another height): a faulty or lying
                // node. End the round with an error, so that the caller backs off instead of asking again at once.
                throw .malformed("the node's blocks from height \(next) on do not follow its block \(next &- 1) (\(stalled) rounds)")
            }
            if let local, !parentUnchecked {
                if local.height > nodeTip {
                    // The node is behind the index: on the same branch (still syncing, restored from an older copy, a
                    // lagging replica), or below the database's first block where nothing can be compared. Nothing above
                    // its tip is contradicted, so wait for it instead of rolling back.
                    let ours = try await sink.blockHash(at: nodeTip)
                    let theirs = ours == nil ? nil : try await source.canonicalHash(at: nodeTip)
                    if ours == nil || theirs == ours {
                        if !nodeBehind.exchange(true, ordering: .relaxed) {
                            logger.warning("the node is behind the index: waiting for it", metadata: ["height": "\(local.height)", "nodeTip": "\(nodeTip)"])
                        }
                        return report
                    }
                }
                nodeBehind.store(false, ordering: .relaxed)
                if try await source.canonicalHash(at: local.height) != local.hash {
                    let gone = try await rollBack(from: local.height, nodeTip: nodeTip, earliest: earliest)
                    report.rolledBack += gone ?? 0
                    if gone == nil { stalled += 1 }
                    continue
                }
                if local.height >= nodeTip { return report }
                next = local.height + 1
            } else if let local {
                if local.height >= nodeTip { return report }
                next = local.height + 1
            } else if earliest > 0, report.blocks == 0 {
                logger.info("the node joined by state sync: indexing starts at its earliest stored block",
                            metadata: ["height": "\(earliest)", "nodeTip": "\(nodeTip)"])
            }
            let blocks: [BlockRows]
            if let p = prefetch, p.from == next {
                blocks = try await p.task.value.get()
            } else {
                prefetch?.task.cancel()
                blocks = try await source.blocks(from: next, through: nodeTip)
            }
            prefetch = nil
            if let last = blocks.last, last.height < nodeTip {
                let (source, from) = (self.source, last.height + 1)
                prefetch = (from, Task { await source.blocksResult(from: from, through: nodeTip) })
            }
            if blocks.isEmpty {
                // The tip moved between the calls (or a reorg is under way): look again, a few times.
                idle += 1
                if idle > 20 { return report }
                continue
            }
            idle = 0
            stalled += 1  // undone below as soon as a block is written
            if parentUnchecked, let local, let first = blocks.first, first.parent != local.hash {
                // The node's earliest block does not follow the indexed tip, and the node has no block below it to find
                // where the two chains part: stop rather than write a block onto a tip it does not follow.
                throw .earliestBlockDoesNotFollow(indexed: local.height, earliest: earliest)
            }
            var parent = local?.hash
            writing: for b in blocks {
                if let p = parent, b.parent != p { break }  // a reorg: the next round rolls back
                do throws(IndexerError) {
                    try await sink.apply(b, chainId: chainId, firstHeight: next)
                } catch {
                    // Another indexer wrote to this database in between: re-read its state and go on from there.
                    guard case .indexedTipMoved(let why) = error else { throw error }
                    logger.warning("indexed tip moved, re-reading it", metadata: ["detail": "\(why)"])
                    break writing
                }
                parent = b.hash
                stalled = 0
                report.blocks += 1
                report.transactions += b.transactionCount
                report.height = b.height
                progress.withLock {
                    $0.blocks += 1
                    $0.transactions += b.transactionCount
                    $0.height = b.height
                }
                logProgressIfDue()
            }
        }
    }

    /// Rolls back to the highest height at or below `height` where the indexed block is the node's canonical
    /// one; returns how many blocks went, or nil when nothing was written because the node's answers or the database
    /// moved meanwhile (the caller looks again).
    ///
    /// Only heights the node stores are compared: from its tip down (the blocks above it go with the rollback anyway),
    /// and not below its earliest stored block (a node that joined by state sync has none there). A height it does not
    /// answer is unknown, never "different": taking it for different walked a state-synced node's empty range down to
    /// genesis and deleted the whole index.
    func rollBack(from height: UInt64, nodeTip: UInt64, earliest: UInt64) async throws(IndexerError) -> Int? {
        var h = min(height, nodeTip)
        let lowest = try await sink.lowestIndexedHeight() ?? 0
        while true {
            guard let indexed = try await sink.blockHash(at: h) else { throw .reorgBelowIndexedHistory(height: h) }
            let matches: Bool
            if h > 0, h < earliest {
                // Every stored height down to `earliest` differs: the fork is at `h` = earliest − 1 exactly when the node's
                // earliest block follows the indexed block there; below it the node has nothing to compare with.
                guard let first = try await source.canonicalHeader(at: earliest) else { return nil }
                guard first.parent == indexed else { throw .earliestBlockDoesNotFollow(indexed: h, earliest: earliest) }
                matches = true
            } else {
                guard let theirs = try await source.canonicalHash(at: h) else { return nil }  // its tip went down meanwhile
                matches = theirs == indexed
            }
            if matches {
                do throws(IndexerError) { try await sink.rollback(to: h, hash: indexed) } catch {
                    guard case .indexedTipMoved(let why) = error else { throw error }
                    logger.warning("indexed tip moved during the rollback, re-reading it", metadata: ["detail": "\(why)"])
                    return nil
                }
                logger.warning("reorg: rolled back", metadata: ["from": "\(height)", "to": "\(h)", "blocks": "\(height - h)"])
                return Int(height - h)
            }
            guard h > lowest else { throw .reorgBelowIndexedHistory(height: h) }
            h -= 1
        }
    }

    func logProgressIfDue(force: Bool = false) {
        let line: (Double, Double, UInt64?, UInt64)? = progress.withLock { p in
            let elapsed = ContinuousClock.now - p.since
            guard force || elapsed >= configuration.progressInterval else { return nil }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let out = (Double(p.blocks) / max(seconds, 1e-9), Double(p.transactions) / max(seconds, 1e-9), p.height, p.nodeTip)
            p.blocks = 0
            p.transactions = 0
            p.since = .now
            return out
        }
        guard let (bps, tps, height, tip) = line else { return }
        let lag = height.map { tip > $0 ? tip - $0 : 0 } ?? tip + 1
        logger.info("indexing", metadata: [
            "height": "\(height.map(String.init) ?? "-")", "nodeTip": "\(tip)", "lag": "\(lag)",
            "blocksPerSecond": "\(Int(bps.rounded()))", "transactionsPerSecond": "\(Int(tps.rounded()))",
        ])
    }

    /// Follows the node until cancelled: indexes to the tip whenever a `newHeads` or `reorg` notification
    /// arrives or `pollInterval` passes. A node that is down is retried with backoff (logged); a PostgreSQL
    /// failure or a database of another chain ends the run with that error.
    public func run() async throws {
        let (wake, wakeSink) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [configuration] in
                while !Task.isCancelled {
                    wakeSink.yield()
                    try? await Task.sleep(for: configuration.pollInterval)
                }
            }
            if configuration.subscribe {
                group.addTask { await self.watchNode(wakeSink) }
            }
            group.addTask {
                var backoff = Duration.milliseconds(500)
                for await _ in wake {
                    do throws(IndexerError) {
                        let r = try await self.syncToTip()
                        backoff = .milliseconds(500)
                        if r.blocks > 0 { self.logProgressIfDue() }
                    } catch {
                        if Task.isCancelled { return }
                        switch error {
                        case .node, .malformed:
                            self.logger.warning("node unavailable, retrying", metadata: ["error": "\(error)", "retryIn": "\(backoff)"])
                            try? await Task.sleep(for: backoff)
                            backoff = min(backoff * 2, .seconds(30))
                        default:
                            throw error
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            // The first task to end (the sync loop on a fatal error, or any on cancellation) ends the run.
            try await group.next()
            wakeSink.finish()
        }
    }

    /// Subscribes to `newHeads` and `reorg` and wakes the sync loop on every notification; reconnects with
    /// backoff while the node is unreachable. Ends when cancelled.
    func watchNode(_ wake: AsyncStream<Void>.Continuation) async {
        var backoff = Duration.seconds(1)
        let url = source.webSocketURL
        while !Task.isCancelled {
            do {
                try await WebSocketClient.connect(url: url, logger: logger) { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","id":1,"method":"sub_subscribe","params":{"kind":"newHeads"}}"#))
                    try await outbound.write(.text(#"{"jsonrpc":"2.0","id":2,"method":"sub_subscribe","params":{"kind":"reorg"}}"#))
                    for try await message in inbound.messages(maxSize: 4 << 20) {
                        guard case .text(let text) = message, let json = try? JSONParser().parse(text) else { continue }
                        if json["method"]?.string == "sub_notification" {
                            wake.yield()
                        } else if let e = json["error"] {
                            self.logger.warning("subscription refused", metadata: ["error": "\(JSONWriter.string(e))"])
                        }
                    }
                }
                backoff = .seconds(1)
            } catch {
                if Task.isCancelled { return }
                logger.debug("node WebSocket unavailable", metadata: ["url": "\(url)", "error": "\(error)"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// `checkCancellation` as an indexer error (so typed-throws callers need no conversion).
    static func checkCancellationTyped() throws(IndexerError) {
        if Task.isCancelled { throw .cancelled }
    }
}

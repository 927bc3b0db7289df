import Consensus
import Dispatch
import Foundation
import Logging
import Primitives
import Synchronization

/// What the sync loop reacts to. Sessions post these; a ticker posts `.tick`.
enum SyncEvent: Sendable {
    case status(Peer)
    case headers(Peer, [SignedHeader])
    case block(Peer, Block)
    case notFound(Peer, [Hash32])
    /// The peer sent a block whose parent we lack: ask it for headers.
    case orphan(Peer)
    case disconnected(Peer)
    case tick
}

/// The node's sync position, for the block producer and status pages.
public struct SyncStatus: Sendable, Hashable {
    /// Whether the node has caught up with its peers (the block producer waits for this).
    public var isSynced: Bool
    /// Our canonical height.
    public var height: UInt64
    /// The best height a peer claims (our height when no peer is ahead).
    public var target: UInt64
    /// Established sessions.
    public var peers: Int
    /// Headers queued for download and not yet imported.
    public var queued: Int
}

/// Headers-first sync (Specs/p2p.md section 6): headers from the best peer, bodies from every capable peer
/// in parallel with a bounded number in flight per peer, re-requested elsewhere on timeout or `notFound`,
/// imported strictly in order. One task owns all of its state; it reacts to events in arrival order.
final class SyncManager: Sendable {
    private let chain: ChainService
    private let table: PeerTable
    private let config: P2PConfig
    private let logger: Logger
    private let hasBootstrap: Bool
    /// Set while state sync runs: no headers or blocks are asked for, and the node is not synced.
    private let stateSync: StateSyncGate
    private let penalize: @Sendable (Peer, Misbehaviour, String) -> Void
    private let stream: AsyncStream<SyncEvent>
    private let continuation: AsyncStream<SyncEvent>.Continuation
    private let published: Mutex<SyncStatus>
    /// Blocks to hold downloaded ahead of the import position.
    private let window: Int

    init(chain: ChainService, table: PeerTable, config: P2PConfig, logger: Logger, hasBootstrap: Bool, stateSync: StateSyncGate = StateSyncGate(),
         penalize: @escaping @Sendable (Peer, Misbehaviour, String) -> Void) {
        self.stateSync = stateSync
        self.chain = chain
        self.table = table
        self.config = config
        self.logger = logger
        self.hasBootstrap = hasBootstrap
        self.penalize = penalize
        (stream, continuation) = AsyncStream<SyncEvent>.makeStream()
        published = Mutex(SyncStatus(isSynced: !hasBootstrap && config.syncedWithoutPeers, height: 0, target: 0, peers: 0, queued: 0))
        // About 256 MiB of full blocks, at least 16 and at most 1024 blocks.
        window = max(16, min(1024, (256 << 20) / max(1, chain.genesis.consensus.maxBlockBytes)))
    }

    func post(_ event: SyncEvent) { continuation.yield(event) }

    var status: SyncStatus {
        var s = published.withLock { $0 }
        if stateSync.isActive { s.isSynced = false }
        return s
    }

    func finish() { continuation.finish() }

    // MARK: - The loop

    private struct Assignment {
        let peer: UInt64
        let deadline: ContinuousClock.Instant
    }

    private struct State {
        /// The branch being downloaded, oldest first; `next` is the first not yet imported.
        var queue: [SignedHeader] = []
        var next = 0
        var queued: Set<Hash32> = []
        var source: UInt64?
        var fetched: [Hash32: (block: Block, from: UInt64)] = [:]
        var assigned: [Hash32: Assignment] = [:]
        /// Requests no longer waited for (timed out, or dropped by a queue reset) that may still be on the wire:
        /// their answers stay solicited until the deadline, so an honest peer is never punished for answering late
        /// or for answering a request this node stopped caring about.
        var abandoned: [Hash32: Assignment] = [:]
        var notFoundBy: [Hash32: Set<UInt64>] = [:]
        /// Blocks of the queue the chain did not store one by one (`notStored`) and their descendants, oldest first:
        /// held until the run makes its branch lead, then imported as one (`ChainService.importBranch`).
        var run: [Block] = []
        var runBytes = 0
        /// The peer the last held block came from.
        var runFrom: UInt64?
        var headersPending: Assignment?
        /// The queue's next block to import and since when it has been next: a block nobody delivers within
        /// `queueStallLimit` drops the queue (ninth review F1).
        var headWait: (hash: Hash32, since: ContinuousClock.Instant)?
        /// Peers that refused or timed out on the block at `headWait`.
        var headFailures: Set<UInt64> = []
        var wanted: Set<UInt64> = []
        var everSynced = false
        // Progress accounting.
        var syncing = false
        var syncStart = ContinuousClock.now
        var syncStartHeight: UInt64 = 0
        var lastLog = ContinuousClock.now
        var lastLogHeight: UInt64 = 0
        var importedBlocks = 0
        var importedTxs = 0
        var loggedProgress = false

        var remaining: Int { queue.count - next }
    }

    func run() async {
        let started = ContinuousClock.now
        var s = State()
        for await event in stream {
            if Task.isCancelled { break }
            await handle(event, &s)
            await step(&s, started: started)
        }
    }

    private func handle(_ event: SyncEvent, _ s: inout State) async {
        switch event {
        case .tick, .status:
            break
        case .orphan(let peer):
            s.wanted.insert(peer.id)
        case .disconnected(let peer):
            if s.headersPending?.peer == peer.id { s.headersPending = nil }
            for (h, a) in s.assigned where a.peer == peer.id { s.assigned[h] = nil }
            for (h, a) in s.abandoned where a.peer == peer.id { s.abandoned[h] = nil }
            s.wanted.remove(peer.id)
        case .notFound(let peer, let hashes):
            for h in hashes where s.abandoned[h]?.peer == peer.id { s.abandoned[h] = nil }
            var refusedQueued = false
            for h in hashes where s.assigned[h]?.peer == peer.id {
                s.assigned[h] = nil
                s.notFoundBy[h, default: []].insert(peer.id)
                if s.queued.contains(h) { refusedQueued = true }
                if s.headWait?.hash == h { s.headFailures.insert(peer.id) }
            }
            // The peer that sent the queued headers does not have their blocks: it has no chain to follow. Its claim is
            // discredited and its headers dropped (a peer announcing a header and refusing its block used to keep the
            // node unsynced for good, ninth review F1). An honest source that just reorged only makes us start again
            // from a fresh locator.
            if refusedQueued, peer.id == s.source {
                peer.state.withLock { $0.discreditedHeight = $0.status?.height }
                penalize(peer, .falseStatus, "refused the block of a header it sent")
                logger.info("sync: the peer that sent the queued headers does not have their blocks; dropping them",
                            metadata: ["peer": "\(peer.label)"])
                resetQueue(&s)
            }
        case .block(let peer, let block):
            let h = block.hash
            if s.abandoned[h]?.peer == peer.id { s.abandoned[h] = nil }
            guard s.assigned[h]?.peer == peer.id || s.queued.contains(h) else { return }
            s.assigned[h] = nil
            if s.queued.contains(h) { s.fetched[h] = (block, peer.id) }
        case .headers(let peer, let headers):
            if s.headersPending?.peer == peer.id { s.headersPending = nil }
            peer.state.withLock { $0.unansweredHeaderRequests = 0 }
            await accept(headers, from: peer, &s)
        }
    }

    /// Checks a headers response and queues its unknown blocks for download.
    private func accept(_ headers: [SignedHeader], from peer: Peer, _ s: inout State) async {
        let ours = await chain.status()
        guard let first = headers.first else {
            // Nothing after our locator: if the peer claimed to be ahead (and stores the blocks after our tip), it
            // could not back the claim.
            if let st = peer.status, st.height > max(ours.height, s.queue.last?.header.height ?? 0), st.canServe(after: ours.height) {
                peer.state.withLock { $0.discreditedHeight = st.height }
                penalize(peer, .falseStatus, "claimed height \(st.height) but sent no headers past our locator")
            }
            return
        }
        // An answer that cannot back the peer's claim discredits it (and costs points, so a peer that re-announces the
        // claim after each discredit is banned): before, an answer of headers we already had, or of headers that
        // connect to nothing, kept the claim credible and the peer "vouching" for it, so the node never counted itself
        // synced and its validators stopped producing, asked that peer again hundreds of times a second, and had their
        // downloads reset by it (eighteenth-session audit).
        func discredit(beyond reached: UInt64, _ why: String) {
            guard let st = peer.status, st.height > max(ours.height, s.queue.last?.header.height ?? 0, reached) else { return }
            peer.state.withLock { $0.discreditedHeight = st.height }
            penalize(peer, .falseStatus, "claimed height \(st.height) but \(why)")
        }
        // Where the headers attach, first: lookups, before their signatures are checked on every core.
        let continues = s.queue.last.map { $0.hash == first.header.parent } ?? false
        let parentHeight: UInt64?
        if continues { parentHeight = s.queue.last?.header.height } else { parentHeight = (try? chain.block(first.header.parent))?.header.height }
        guard continues || parentHeight != nil else {
            // Our locator ends in genesis, so an answer to it connects; one that does not backs no claim.
            logger.debug("headers do not connect to our chain or queue; ignored", metadata: ["peer": "\(peer.label)"])
            discredit(beyond: 0, "sent headers that connect to nothing we have")
            return
        }
        let nowMillis = UInt64(Date().timeIntervalSince1970 * 1000)
        if let problem = Self.problem(in: headers, genesis: chain.genesis, nowMillis: nowMillis) {
            penalize(peer, .invalidHeaders, problem)
            return
        }
        if let parentHeight, first.header.height != parentHeight &+ 1 {
            penalize(peer, .invalidHeaders, "first header's height \(first.header.height) does not follow its parent's \(parentHeight)")
            return
        }
        // A header on one of our canonical blocks must be signed by its slot's leader (its block's import checks
        // exactly this): otherwise any key pair could make itself the queue (ninth review F1).
        if !continues, await chain.proposerLeads(first.header) == false {
            penalize(peer, .invalidHeaders, "first header's proposer does not lead slot \(first.header.slot) on its parent")
            return
        }
        var fresh = headers[...]
        while let h = fresh.first, (try? await chain.hasBlock(h.hash)) ?? false { fresh = fresh.dropFirst() }
        guard !fresh.isEmpty else {
            // Nothing new: the current download is kept (it was reset here, before this was known).
            discredit(beyond: headers.last?.header.height ?? 0, "answered only with headers we have")
            return
        }
        if !continues { resetQueue(&s) }
        s.source = peer.id
        for h in fresh where s.queued.insert(h.hash).inserted { s.queue.append(h) }
        let target = fresh.last?.header.height ?? ours.height
        if !s.syncing && target > ours.height + 2 {
            s.syncing = true
            s.syncStart = .now
            s.syncStartHeight = ours.height
            s.lastLog = .now
            s.lastLogHeight = ours.height
            s.importedBlocks = 0
            s.importedTxs = 0
            s.loggedProgress = false
            logger.info("sync started", metadata: ["height": "\(ours.height)", "target": "\(peer.status?.height ?? target)", "peer": "\(peer.label)"])
        }
    }

    /// Why a run of headers cannot be a chain of this network, or nil.
    static func problem(in headers: [SignedHeader], genesis: Genesis, nowMillis: UInt64) -> String? {
        for (i, h) in headers.enumerated() {
            guard h.header.chainId == genesis.chainId else { return "header for another chain" }
            guard Plausibility.slotIsPlausible(h.header.slot, genesis: genesis, nowMillis: nowMillis) else {
                return "header \(i) has slot \(h.header.slot), far ahead of the clock"
            }
            if i > 0 {
                let p = headers[i - 1]
                guard h.header.parent == p.hash else { return "headers do not link at index \(i)" }
                guard p.header.height < UInt64.max, h.header.height == p.header.height + 1 else { return "heights not consecutive at index \(i)" }
                guard h.header.slot > p.header.slot else { return "slots not increasing at index \(i)" }
            }
        }
        // Proposer signatures, on all cores (2000 headers are ~90 ms of verification on one).
        let bad = Mutex(false)
        let chunks = min(headers.count, 16)
        let per = (headers.count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = min(headers.count, c * per), hi = min(headers.count, lo + per)
            for i in lo..<hi where !headers[i].hasValidSignature {
                bad.withLock { $0 = true }
                return
            }
        }
        return bad.withLock { $0 } ? "bad proposer signature" : nil
    }

    private func resetQueue(_ s: inout State) {
        // Requests in flight stay solicited for a while: the peers were asked and will answer.
        let grace = ContinuousClock.now + config.requestTimeout
        for (h, a) in s.assigned { s.abandoned[h] = Assignment(peer: a.peer, deadline: max(a.deadline, grace)) }
        s.queue = []
        s.next = 0
        s.queued = []
        s.fetched = [:]
        s.assigned = [:]
        s.notFoundBy = [:]
        s.source = nil
        s.headWait = nil
        s.headFailures = []
        s.run = []
        s.runBytes = 0
        s.runFrom = nil
    }

    /// One pass: time out requests, import what is ready, ask for more headers and bodies, publish status.
    private func step(_ s: inout State, started: ContinuousClock.Instant) async {
        if stateSync.isActive {
            let ours = await chain.status()
            published.withLock { $0 = SyncStatus(isSynced: false, height: ours.height, target: ours.height, peers: table.peers.count, queued: 0) }
            return
        }
        let now = ContinuousClock.now
        // 1. Timeouts: re-request elsewhere.
        // A late answer is slow, not unsolicited: the peer keeps its request open (headers until it answers, blocks
        // for one more timeout) and only the timeout itself costs points.
        if let hp = s.headersPending, hp.deadline < now {
            s.headersPending = nil
            if let p = table.peer(hp.peer) {
                // Until the peer answers a headers request its claims do not keep us from being synced (it is still
                // asked: a slow peer on a loaded machine is not a liar, and may be the only one ahead).
                p.state.withLock { $0.unansweredHeaderRequests += 1 }
                penalize(p, .requestTimeout, "headers request timed out")
            }
        }
        // One penalty per timed-out request (a `getBlocks` of up to 16 blocks shares one deadline), not per block: a peer
        // with a slower uplink than 16 full blocks per timeout is slow, not a liar (ninth review F2).
        var timedOut: [UInt64: Set<ContinuousClock.Instant>] = [:]
        for (h, a) in s.assigned where a.deadline < now {
            s.assigned[h] = nil
            s.notFoundBy[h, default: []].insert(a.peer)
            s.abandoned[h] = Assignment(peer: a.peer, deadline: now + config.requestTimeout)
            if s.headWait?.hash == h { s.headFailures.insert(a.peer) }
            timedOut[a.peer, default: []].insert(a.deadline)
        }
        for (id, requests) in timedOut {
            guard let p = table.peer(id) else { continue }
            for _ in requests { penalize(p, .requestTimeout, "block request timed out") }
        }
        for (h, a) in s.abandoned where a.deadline < now {
            s.abandoned[h] = nil
            // Asked again of the same peer meanwhile: that request is live.
            guard s.assigned[h]?.peer != a.peer else { continue }
            table.peer(a.peer)?.state.withLock { _ = $0.requestedBlocks.remove(h) }
        }

        // 2. Import downloaded blocks in order.
        await importReady(&s)

        // A queued block nobody delivers (its header's sender refuses it or stays silent, and no other peer has it) is not
        // waited for forever: after `queueStallLimit` the queue is dropped and the sender's claim discredited, so the node
        // can count itself synced again (ninth review F1: one peer kept a validator from producing and voting for good).
        if s.next < s.queue.count {
            let head = s.queue[s.next].hash
            if s.headWait?.hash != head {
                s.headWait = (head, now)
                s.headFailures = []
            } else if let wait = s.headWait, now - wait.since > config.queueStallLimit {
                let source = s.source.flatMap { table.peer($0) }
                logger.info("sync: no peer delivered queued block \(s.queue[s.next].header.height) within \(config.queueStallLimit); dropping the queue",
                            metadata: ["source": "\(source?.label ?? "gone")"])
                if let source {
                    source.state.withLock { $0.discreditedHeight = $0.status?.height }
                    if s.headFailures.contains(source.id) { penalize(source, .falseStatus, "did not deliver the block of a header it sent") }
                }
                resetQueue(&s)
            }
        } else {
            s.headWait = nil
            s.headFailures = []
        }

        let ours = await chain.status()
        let peers = table.peers.filter { !$0.isClosed }
        let credible: [(Peer, PeerStatus)] = peers.compactMap { p in
            let (st, discredited) = p.state.withLock { ($0.status, $0.discreditedHeight) }
            guard let st, st.height != discredited else { return nil }
            return (p, st)
        }

        // 3. More headers: from the best peer ahead of us (or one that sent an orphan block).
        let horizon = max(ours.height, s.queue.last?.header.height ?? 0)
        if s.headersPending == nil && s.remaining < P2PLimits.maxHeadersPerMessage / 2 {
            var best: (Peer, PeerStatus)?
            for (p, st) in credible where st.canServe(after: ours.height) {
                let ahead = st.height > horizon
                let tieBreak = s.queue.isEmpty && st.height == ours.height && st.tipHash != ours.tipHash && st.tipHash < ours.tipHash
                guard ahead || tieBreak || s.wanted.contains(p.id) else { continue }
                if tieBreak, (try? await chain.hasBlock(st.tipHash)) ?? true { continue }
                if let b = best {
                    let latency = p.state.withLock { $0.latency } ?? .seconds(1)
                    let bestLatency = b.0.state.withLock { $0.latency } ?? .seconds(1)
                    if st.height < b.1.height || (st.height == b.1.height && latency >= bestLatency) { continue }
                }
                best = (p, st)
            }
            if let p = best?.0, var locator = try? await chain.locator() {
                // The queue's end first, whichever peer is asked: a peer on the same chain continues the queue
                // (answering from our tip instead would restart the download), one on another branch falls back to
                // our chain's locator.
                if let last = s.queue.last { locator.insert(last.hash, at: 0) }
                locator = Array(locator.prefix(P2PLimits.maxLocatorHashes))
                s.wanted.remove(p.id)
                p.state.withLock { $0.headersRequested = true }
                if p.send(.getHeaders(locator: locator, max: UInt32(P2PLimits.maxHeadersPerMessage))) {
                    s.headersPending = Assignment(peer: p.id, deadline: now + config.requestTimeout)
                }
            }
        }

        // A held run nobody offers more blocks for cannot lead: drop it, and stop following the claim of the peer it came
        // from (not misbehaviour: its chain may have changed since it announced its status).
        if !s.run.isEmpty && s.remaining == 0 && s.headersPending == nil {
            logger.debug("sync: dropping \(s.run.count) held side blocks whose branch does not lead")
            dropRun(&s)
        }

        // 4. Bodies: spread the download window over peers with free request slots.
        if s.remaining > 0 {
            var inFlight: [UInt64: Int] = [:]
            for p in peers { inFlight[p.id] = p.state.withLock { $0.requestedBlocks.count } }
            var batches: [UInt64: [Hash32]] = [:]
            let end = min(s.queue.count, s.next + window)
            // Requests go out in batches: while blocks are in flight, wait until a quarter of the window is free.
            // Refilling one slot per imported block would send a message per block, and at hundreds of blocks per
            // second cross the peers' per-peer message rate, which drops requests (each then waits a timeout).
            let free = (s.next..<end).count { s.fetched[s.queue[$0].hash] == nil && s.assigned[s.queue[$0].hash] == nil }
            let batch = max(1, min(window / 4, P2PLimits.maxHashesPerRequest))
            for i in s.next..<end where free >= batch || s.assigned.isEmpty {
                let h = s.queue[i]
                guard s.fetched[h.hash] == nil, s.assigned[h.hash] == nil else { continue }
                let excluded = s.notFoundBy[h.hash] ?? []
                var choice: Peer?
                for (p, st) in credible where !excluded.contains(p.id) && (inFlight[p.id] ?? 0) < config.maxBlocksInFlightPerPeer {
                    guard p.id == s.source || st.height >= h.header.height else { continue }
                    guard st.earliestHeight <= max(h.header.height, 1) else { continue }
                    if let c = choice, (inFlight[c.id] ?? 0) <= (inFlight[p.id] ?? 0) { continue }
                    choice = p
                }
                guard let p = choice else {
                    // Everyone capable refused or timed out: forget that and try again on a later pass.
                    if !excluded.isEmpty && credible.allSatisfy({ excluded.contains($0.0.id) }) { s.notFoundBy[h.hash] = nil }
                    continue
                }
                inFlight[p.id, default: 0] += 1
                batches[p.id, default: []].append(h.hash)
                s.assigned[h.hash] = Assignment(peer: p.id, deadline: now + config.requestTimeout)
            }
            for (id, hashes) in batches {
                guard let p = table.peer(id) else { for h in hashes { s.assigned[h] = nil }; continue }
                p.state.withLock { st in for h in hashes { st.requestedBlocks.insert(h) } }
                for chunk in stride(from: 0, to: hashes.count, by: P2PLimits.maxHashesPerRequest) {
                    p.send(.getBlocks(Array(hashes[chunk..<min(hashes.count, chunk + P2PLimits.maxHashesPerRequest)])))
                }
            }
        }

        // 5. Publish: synced when no credible peer is ahead and nothing is queued. A peer whose headers requests
        // went unanswered does not count until it answers one (its claim is unproven).
        let vouched = credible.filter { p, _ in p.state.withLock { $0.unansweredHeaderRequests } == 0 }
        let target = vouched.map(\.1.height).max() ?? ours.height
        let synced: Bool
        if vouched.isEmpty {
            // Alone, or only unproven claims: as with no peer, except that a download under way (from a slow peer
            // that timed out once) is finished first.
            synced = config.syncedWithoutPeers
                && (s.everSynced || !hasBootstrap || ContinuousClock.now - started > config.soloGrace)
                && (credible.isEmpty || s.remaining == 0)
        } else {
            synced = ours.height >= target && s.remaining == 0
        }
        if synced { s.everSynced = true }
        published.withLock { $0 = SyncStatus(isSynced: synced, height: ours.height, target: max(target, ours.height), peers: peers.count, queued: s.remaining) }
        logProgress(&s, height: ours.height, target: max(target, ours.height), done: synced || (s.remaining == 0 && s.headersPending == nil && target <= ours.height))
    }

    private func importReady(_ s: inout State) async {
        while s.next < s.queue.count, let entry = s.fetched.removeValue(forKey: s.queue[s.next].hash) {
            let (block, from) = (entry.block, entry.from)
            let outcome: BlockImportOutcome
            if s.run.isEmpty {
                outcome = await chain.importBlock(block)
            } else {
                // Its parent is held, not stored: it joins the run, offered to the chain once it reaches our height (a
                // shorter branch cannot lead).
                guard hold(block, from: from, &s) else {
                    logger.warning("sync: more than \(window) held side blocks (\(s.runBytes) bytes) without their branch leading; dropped")
                    dropRun(&s)
                    return
                }
                outcome = block.header.height >= (await chain.status()).height ? await chain.importBranch(s.run) : .notStored(.branchDoesNotLead)
                if outcome.isValid { s.run = []; s.runBytes = 0; s.runFrom = nil }
            }
            if case .notStored(let why) = outcome {
                // Not invalid: held until its branch leads (then executed, every leader checked exactly). A proposer this
                // node knows nothing of is never executed here (Specs/consensus.md §4): the branch cannot be followed.
                guard why.mayExecute else {
                    logger.warning("sync: a block of the branch has a proposer unknown here (\(why)); not following it")
                    dropRun(&s, from: from)
                    return
                }
                if s.run.isEmpty { hold(block, from: from, &s) }
            }
            switch outcome {
            case .imported, .sideChain, .alreadyKnown, .notStored:
                s.next += 1
                s.importedBlocks += 1
                s.importedTxs += block.transactions.count
            case .invalid(let e):
                // A body that matches its header's transaction root (the header is the queued one, its signature
                // checked) is exactly the block its proposer committed to: the server delivered what it was asked for,
                // and may hold it unexecuted (a side block an honest node stored and serves). The fault is the
                // proposer's, and that of the peer whose headers queued it (an honest peer's headers are its executed
                // canonical chain). Scoring the server let a validator get honest nodes banned by syncing ones
                // (eighteenth-session audit).
                let delivered = Block.txRoot(block.transactions) == block.header.txRoot
                if let blamed = delivered ? s.source : from, let p = table.peer(blamed) {
                    penalize(p, .invalidBlock, "sync: block \(block.header.height) \(block.hash.hex.prefix(16)): \(e)")
                }
                resetQueue(&s)
                return
            case .belowFinality:
                if let p = table.peer(from) {
                    p.state.withLock { $0.discreditedHeight = $0.status?.height }
                    logger.warning("peer's branch forks below our finalized height; not following it", metadata: ["peer": "\(p.label)"])
                }
                resetQueue(&s)
                return
            case .unknownParent, .fromFuture:
                // The queue no longer connects (a reorg under us) or the block is early (kept by the chain
                // service and retried there): start again from a fresh locator.
                logger.debug("sync: \(outcome) at height \(block.header.height); restarting from a new locator")
                resetQueue(&s)
                return
            case .fault(let m):
                logger.error("sync: importing block \(block.header.height) failed: \(m)")
                resetQueue(&s)
                return
            }
        }
        // A held run keeps the queue's last header: the next headers continue it (their parent is not stored).
        if s.next > 0 && s.next == s.queue.count && s.run.isEmpty {
            s.queue = []
            s.next = 0
            s.queued = []
            s.notFoundBy = [:]
        } else if s.next >= 4096 {
            let drop = s.run.isEmpty ? s.next : s.next - 1
            for h in s.queue[..<drop] { s.queued.remove(h.hash); s.notFoundBy[h.hash] = nil }
            s.queue.removeFirst(drop)
            s.next -= drop
        }
    }

    /// Adds a block to the held run; false when the run would exceed the download window (in blocks or bytes).
    @discardableResult
    private func hold(_ block: Block, from: UInt64, _ s: inout State) -> Bool {
        let bytes = block.bodyEncoding.count
        guard s.run.count < window, s.runBytes + bytes <= window * chain.genesis.consensus.maxBlockBytes else { return false }
        s.run.append(block)
        s.runBytes += bytes
        s.runFrom = from
        return true
    }

    /// Gives up a held run (and the queue), and stops following the claim of the peer it came from: its branch did not
    /// lead, or cannot be followed here. Not misbehaviour (its chain may have changed since it announced its status).
    private func dropRun(_ s: inout State, from: UInt64? = nil) {
        if let source = from ?? s.runFrom, let p = table.peer(source) {
            p.state.withLock { $0.discreditedHeight = $0.status?.height }
        }
        resetQueue(&s)
    }

    private func logProgress(_ s: inout State, height: UInt64, target: UInt64, done: Bool) {
        guard s.syncing else { return }
        let now = ContinuousClock.now
        if done {
            let secs = max(0.001, (now - s.syncStart).seconds)
            logger.info("sync complete", metadata: [
                "height": "\(height)", "blocks": "\(s.importedBlocks)", "txs": "\(s.importedTxs)", "seconds": "\(Self.fixed(secs, 1))",
                "blocks/s": "\(Self.fixed(Double(s.importedBlocks) / secs, 1))",
            ])
            s.syncing = false
            return
        }
        // Every interval, and once early (after 500 blocks) so even a short sync shows its rate and ETA.
        guard now - s.lastLog >= config.progressInterval || (!s.loggedProgress && s.importedBlocks >= 500) else { return }
        s.loggedProgress = true
        let secs = max(0.001, (now - s.lastLog).seconds)
        let rate = Double(height >= s.lastLogHeight ? height - s.lastLogHeight : 0) / secs
        // Targets are peers' claims: keep the arithmetic finite whatever they say.
        let etaSeconds = rate > 0 ? Double(target - min(target, height)) / rate : .infinity
        let eta = etaSeconds < 1e9 ? "\(Int(etaSeconds)) s" : "unknown"
        logger.info("sync progress", metadata: [
            "height": "\(height)", "target": "\(target)", "blocks/s": "\(Self.fixed(rate, 1))", "eta": "\(eta)",
            "txs": "\(s.importedTxs)", "peers": "\(table.peers.count)",
        ])
        s.lastLog = now
        s.lastLogHeight = height
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        let p = pow10(digits)
        return "\(Double(Int((v * p).rounded())) / p)"
    }

    private static func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }
}

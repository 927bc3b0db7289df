import Foundation
import Ledger
import Metrics
import Primitives
import Storage

/// Something the chain announces to subscribers (RPC subscriptions, P2P relay, the devnet summary).
public enum ChainEvent: Sendable {
    /// A block became part of the canonical chain (in order; after a reorg, one per applied block).
    case newBlock(Block, receipts: [Receipt])
    /// The canonical chain switched branches.
    case reorg(TipChange)
    /// A transaction entered the mempool.
    case pendingTransaction(SignedTransaction)
}

/// The finality gadget's view of the tip (Specs/consensus.md §8).
public struct FinalityStatus: Sendable, Hashable {
    public struct Tally: Sendable, Hashable {
        public let targetHeight: UInt64
        public let stake: UInt64
        public let votes: UInt32
    }
    public let justified: Checkpoint
    public let finalized: Checkpoint
    /// `finalityDepth` below the tip: a label, not finality.
    public let safeHeight: UInt64
    public let tipHeight: UInt64
    /// Stake of the set the next votes are counted against, the finalized checkpoint's (a checkpoint needs more than
    /// two thirds of it; Specs/consensus.md §8).
    public let totalStake: UInt64
    /// Counted stake per target above the justified checkpoint.
    public let pending: [Tally]
}

/// A snapshot of the chain's position.
public struct ChainStatus: Sendable, Hashable {
    public let chainId: Hash32
    public let genesisHash: Hash32
    public let tipHash: Hash32
    public let height: UInt64
    public let slot: UInt64
    public let timestamp: UInt64
    public let finalizedHeight: UInt64
    /// The lowest height above genesis whose block is stored (1, or the snapshot height after state sync).
    public let earliestBlockHeight: UInt64
    public let mempoolTransactions: Int
    public let mempoolBytes: Int
}

/// What importing a block did, for callers that need to react (P2P relay and misbehaviour scoring).
public enum BlockImportOutcome: Sendable {
    case imported(TipChange)
    case sideChain
    case alreadyKnown
    case unknownParent(Hash32)
    case fromFuture
    case invalid(BlockValidationError)
    case belowFinality
    /// A side block refused for storage although nothing shows it invalid (not misbehaviour; sync imports it with its
    /// branch via `importBranch` once the branch leads).
    case notStored(SideBlockDeferral)
    case fault(String)

    /// The `outcome` label of `sharechain_blocks_imported_total`.
    public var metricLabel: String {
        switch self {
        case .imported: return "imported"
        case .sideChain: return "side"
        case .alreadyKnown: return "known"
        case .unknownParent: return "unknown_parent"
        case .fromFuture: return "future"
        case .invalid: return "invalid"
        case .belowFinality: return "below_finality"
        case .notStored: return "not_stored"
        case .fault: return "fault"
        }
    }

    /// Whether the block passed validation (or is known valid), so it may be relayed.
    public var isValid: Bool {
        switch self {
        case .imported, .sideChain, .alreadyKnown: return true
        default: return false
        }
    }
}

/// A validator's signing key and RANDAO hash chains (generation 0 first).
public struct ValidatorIdentity: Sendable {
    public let key: PrivateKey
    public let chains: [RandaoHashChain]
    private var lastIndex: [Int: Int] = [:]

    public init(key: PrivateKey, chains: [RandaoHashChain]) {
        self.key = key
        self.chains = chains
    }

    /// The preimage of the on-chain commitment, from whichever generation holds it.
    public mutating func reveal(for commitment: Hash32) -> Hash32? {
        for (g, chain) in chains.enumerated() {
            if let r = chain.reveal(for: commitment, hint: lastIndex[g]) {
                lastIndex[g] = r.index
                return r.reveal
            }
        }
        return nil
    }
}

/// The node's chain, serialised behind an actor: imports, production, the mempool, and events. Readers that
/// need consistency across many reads (RPC) take `readView()` snapshots instead of going through the actor.
public actor ChainService {
    public nonisolated let genesis: Genesis
    public nonisolated let store: ChainStore
    public nonisolated let ledger: Ledger
    /// Verified signatures; callers may fill it ahead of time (`preverify`) from any thread.
    public nonisolated let signatures: SignatureCache
    private let engine: ChainEngine
    private var mempool: Mempool
    /// The mempool's senders, sorted, at a mempool generation: pages of its contents binary-search them instead
    /// of sorting the pool per call.
    private var sortedSenders: (generation: UInt64, keys: [PublicKey])?
    /// The clearing fee rate at a mempool generation and tip: it reads every sender's account, so fee estimates
    /// compute it once per change, not per call (an RPC batch of estimates held the actor for one pass each).
    private var clearingRate: (generation: UInt64, tip: Hash32, rate: UInt64?)?
    private let clock: @Sendable () -> UInt64
    private var subscribers: [UUID: (continuation: AsyncStream<ChainEvent>.Continuation, transactions: Bool)] = [:]
    /// Blocks whose timestamp was ahead of the local clock, retried on the next tick.
    private var early: [Hash32: Block] = [:]
    /// Headers seen by (proposer, slot), to catch equivocation; a bounded window of recent slots.
    private var seenHeaders = EquivocationWatch()
    /// Schedules computed from the tip for the header watch, by epoch (`tipSchedule`).
    private var scheduleCache: (tip: Hash32, byEpoch: [UInt64: ValidatorSnapshot]) = (.zero, [:])
    /// The key that signs evidence transactions for the equivocations this node sees (nil: only detect).
    private var evidenceReporter: PrivateKey?
    /// Finality votes seen, to catch double and surround votes.
    private(set) var votesSeen = VoteWatch()
    /// The evidence transaction submitted against each offender the vote watch has a pair of: one per offender until it
    /// is punished (tenth review, consensus F2), submitted again only if it left the mempool without reaching the chain.
    private var voteEvidenceSent: [PublicKey: Hash32] = [:]
    /// The members of the tip's schedule snapshot, by tip (`watchesVotes`).
    private var scheduledKeys: (tip: Hash32, keys: Set<PublicKey>) = (.zero, [])
    /// The tip epoch at which the vote watch was last pruned of keys no longer watched.
    private var voteWatchPrunedEpoch: UInt64?

    /// Wraps an engine. `clock` returns Unix milliseconds: the node passes the wall clock (the one reading
    /// consensus allows, for the future-timestamp rule), tests a virtual clock.
    public init(engine: sending ChainEngine, mempool config: MempoolConfig = MempoolConfig(), clock: @escaping @Sendable () -> UInt64,
                evidenceReporter: PrivateKey? = nil) {
        self.evidenceReporter = evidenceReporter
        genesis = engine.genesis
        store = engine.store
        ledger = engine.ledger
        signatures = engine.signatures
        self.engine = engine
        mempool = Mempool(config: config)
        self.clock = clock
    }

    /// A consistent snapshot of the whole chain (state and blocks) for readers on any thread.
    public nonisolated func readView() throws -> ReadView { try store.readView() }

    /// The input tensor a reveal transaction or a hop answer carried in clear (inputs live in block bodies, not in state).
    public nonisolated func revealedInput(_ txId: Hash32) throws -> [UInt8]? {
        let view = try readView()
        guard let loc = try view.transactionLocation(txId), let body = try view.body(loc.blockHash) else { return nil }
        let txs = try Block.decodeBody(body, maxTransactions: genesis.consensus.maxBlockTransactions)
        guard Int(loc.position) < txs.count, txs[Int(loc.position)].id == txId else { return nil }
        return txs[Int(loc.position)].transaction.body.revealedInput
    }

    public func now() -> UInt64 { clock() }

    public func status() -> ChainStatus {
        ChainStatus(chainId: genesis.chainId, genesisHash: engine.genesisHash, tipHash: engine.tipHash, height: engine.tipHeight,
                    slot: engine.tipHeader.slot, timestamp: engine.tipHeader.timestamp, finalizedHeight: engine.finalizedHeight,
                    earliestBlockHeight: engine.earliestBlockHeight, mempoolTransactions: mempool.count, mempoolBytes: mempool.totalBytes)
    }

    public var tipHeader: BlockHeader { engine.tipHeader }
    public var genesisHash: Hash32 { engine.genesisHash }

    /// Turns on per-block invariant checking (`--check-invariants`).
    public func enableInvariantChecks() throws {
        engine.invariantTracker = try InvariantTracker(state: store.current)
    }

    // MARK: Events

    /// A stream of chain events. A subscriber that falls `buffer` events behind is dropped: its stream
    /// finishes, and it must resubscribe (RPC closes the WebSocket with a reason). `transactions: false` leaves out
    /// `pendingTransaction`, which anyone can cause at will: a service that acts on blocks alone takes blocks
    /// alone, so a burst of gossiped transactions cannot push it behind.
    public func events(buffer: Int = 1024, transactions: Bool = true) -> AsyncStream<ChainEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<ChainEvent>.makeStream(bufferingPolicy: .bufferingOldest(buffer))
        subscribers[id] = (continuation, transactions)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    /// A subscription to block events alone (`newBlock`, `reorg`), for `forEachBlockEvent`.
    public func blockEvents(buffer: Int = 1024) -> AsyncStream<ChainEvent> { events(buffer: buffer, transactions: false) }

    /// Calls `body` with every block event of `first` (a `blockEvents` subscription taken when the service started, so
    /// no block between its start and its loop is missed), then of new subscriptions whenever one is dropped for falling
    /// `buffer` events behind, until the task is cancelled. For the node's services that act on blocks: one that
    /// returned would end the node, and a fast sync can outrun any of them.
    public nonisolated func forEachBlockEvent(startingWith first: AsyncStream<ChainEvent>, buffer: Int = 1024,
                                              _ body: (ChainEvent) async -> Void) async {
        var events = first
        while !Task.isCancelled {
            for await event in events { await body(event) }
            guard !Task.isCancelled else { return }
            events = await self.events(buffer: buffer, transactions: false)
        }
    }

    private func unsubscribe(_ id: UUID) { subscribers[id] = nil }

    public var subscriberCount: Int { subscribers.count }

    private func publish(_ event: ChainEvent) {
        let isTransaction = if case .pendingTransaction = event { true } else { false }
        for (id, (c, transactions)) in subscribers where transactions || !isTransaction {
            if case .dropped = c.yield(event) {
                c.finish()
                subscribers[id] = nil
            }
        }
    }

    // MARK: Transactions

    /// A pool's parameters at the tip, for the bonds and fees the mempool counts against a sender (nil: unknown, or
    /// unreadable: then the ledger's own check decides in the block).
    private func poolAtTip(_ id: UInt32) -> PoolConfig? { try? engine.tipReader.pool(id) }

    /// Admits a transaction to the mempool (after checking it against the tip) and announces it.
    @discardableResult
    public func submit(_ tx: SignedTransaction) throws(MempoolError) -> Hash32 {
        let account: Account
        // A read failure is ours: reporting it as the transaction's fault would make peers score each other.
        do { account = try engine.tipReader.account(tx.transaction.sender) } catch { throw .fault("reading the sender's account: \(error)") }
        try mempool.add(tx, account: account, ledger: ledger, now: clock(), checkSignature: !signatures.contains(tx.id),
                        pool: poolAtTip)
        signatures.insert(CollectionOfOne(tx.id))
        publish(.pendingTransaction(tx))
        watchVotes(CollectionOfOne(tx))
        return tx.id
    }

    public func mempoolTransaction(_ id: Hash32) -> SignedTransaction? { mempool.transaction(id) }
    public func mempoolContents() -> [SignedTransaction] { mempool.all }

    /// Up to `limit` pending transactions ordered by sender, then nonce, strictly after `cursor`, of one sender
    /// or all, and whether more follow. Costs O(log senders + limit) between mempool changes (`Mempool.page`).
    public func mempoolPage(sender: PublicKey?, after cursor: (sender: PublicKey, nonce: UInt64)?, limit: Int)
        -> (transactions: [SignedTransaction], more: Bool) {
        let senders: [PublicKey]
        if let sender {
            senders = [sender]
        } else if let cached = sortedSenders, cached.generation == mempool.generation {
            senders = cached.keys
        } else {
            senders = mempool.senders
            sortedSenders = (mempool.generation, senders)
        }
        return mempool.page(sortedSenders: senders, after: cursor, limit: limit)
    }
    public func mempoolContains(_ id: Hash32) -> Bool { mempool.contains(id) }

    /// The fee a transaction of `size` bytes should pay to enter the next block ahead of the waiting ones:
    /// the minimum fee while the next block has room for every executable pending transaction, otherwise
    /// just above the lowest fee rate that block would hold (never below the minimum).
    public func suggestedFee(size: Int) throws -> Amount {
        let minimum = ledger.minimumFee(size: size)
        let engine = self.engine
        let rate: UInt64?
        if let cached = clearingRate, cached.generation == mempool.generation, cached.tip == engine.tipHash {
            rate = cached.rate
        } else {
            rate = try mempool.clearingFeeRate(maxCount: genesis.consensus.maxBlockTransactions,
                                               maxBytes: genesis.consensus.maxBlockBytes, account: { try engine.tipReader.account($0) })
            clearingRate = (mempool.generation, engine.tipHash, rate)
        }
        guard let rate else { return minimum }
        return max(minimum, Mempool.leastFee(beating: rate, size: size))
    }

    /// The nonce a sender's next transaction should carry (account nonce past its queued transactions).
    public func nextNonce(for sender: PublicKey) throws -> UInt64 {
        mempool.nextNonce(for: sender, accountNonce: try engine.tipReader.account(sender).nonce)
    }

    // MARK: Blocks

    /// Imports a block from the network (or a producer), updating the mempool and announcing changes.
    public func importBlock(_ block: Block) -> BlockImportOutcome {
        let started = ContinuousClock.now
        let (stagesBefore, storeBefore) = (engine.timings, engine.store.committed)
        let outcome = importBlockUnmeasured(block)
        // Metric names: Specs/rpc.md, "Metrics" (exposed by the RPC server's /metrics).
        Counter(label: "sharechain_blocks_imported_total", dimensions: [("outcome", outcome.metricLabel)]).increment()
        if case .imported = outcome {
            Metrics.Timer(label: "sharechain_block_import_seconds").record(duration: ContinuousClock.now - started)
            Self.recordImportWork(stages: (stagesBefore, engine.timings), store: (storeBefore, engine.store.committed))
        }
        return outcome
    }

    /// Where an import's time went (the blocks it applied, more than one on a reorg) and what its commits wrote:
    /// what an operator needs to tell a slow disk from slow execution.
    private static func recordImportWork(stages: (ImportTimings, ImportTimings), store: (CommitTotals, CommitTotals)) {
        // The totals only grow (one writer, sums of non-negative durations and counts).
        let (a, b) = stages
        for (stage, d) in [("signatures", b.signatures - a.signatures), ("execution", b.execution - a.execution),
                           ("commit", b.commit - a.commit)] {
            Metrics.Timer(label: "sharechain_block_import_stage_seconds", dimensions: [("stage", stage)]).record(duration: d)
        }
        let (x, y) = store
        Metrics.Timer(label: "sharechain_store_write_seconds").record(duration: y.writeTime - x.writeTime)
        for (label, delta) in [("sharechain_store_batch_entries_total", y.batchEntries - x.batchEntries),
                               ("sharechain_store_batch_bytes_total", y.batchBytes - x.batchBytes),
                               ("sharechain_state_keys_written_total", y.stateEntries - x.stateEntries),
                               ("sharechain_state_tree_nodes_written_total", y.treeNodes - x.treeNodes)] where delta > 0 {
            Counter(label: label).increment(by: delta)
        }
    }

    /// Lets this node submit `doubleSignEvidence` for every equivocation it sees, signed and paid by `key`.
    public func setEvidenceReporter(_ key: PrivateKey?) { evidenceReporter = key }

    /// Every equivocation this node has seen (proposer and slot), newest last.
    public var detectedEquivocations: [Equivocation] { seenHeaders.detected }

    /// Remembers a validly signed header of this chain and, if its proposer signed a different one for the same
    /// slot, submits the two as evidence (Specs/consensus.md §5). Runs before validation: a signed header
    /// proves the signature whatever else is wrong with its block.
    private func watchForEquivocation(_ header: SignedHeader) {
        let h = header.header
        guard h.chainId == genesis.chainId, h.slot >= 1 else { return }
        let clockSlot = genesis.slot(atMillis: clock())
        let admission = seenHeaders.knows(proposer: h.proposer, slot: h.slot) ? nil : headerAdmission(h, clockSlot: clockSlot)
        guard let first = seenHeaders.record(header, admission: admission, clockSlot: clockSlot, keepSlots: genesis.ledger.unbondingBlocks) else {
            return
        }
        Counter(label: "sharechain_equivocations_detected_total").increment()
        guard let reporter = evidenceReporter, reporter.publicKey != h.proposer else { return }
        let offence = LedgerIds.equivocationOffence(offender: h.proposer, slot: h.slot)
        // Already punished on the tip: nothing to submit.
        let punished: [UInt8]? = (try? store.current.get(StateKey.offence(offence))) ?? nil
        if punished != nil { return }
        submitEvidence(.doubleSignEvidence(headerA: first, headerB: header.canonicalEncoding), offender: h.proposer)
    }

    /// Headers for slots further ahead of the local clock are not remembered: as gossip's plausibility bound (P2P
    /// `Plausibility.maxFutureSlots`), no honest leader signs them yet.
    static let maxFutureHeaderSlots: UInt64 = 64

    /// How a header new to the watch is admitted (Specs/consensus.md §5 **Automatic evidence**), or nil. Only validators'
    /// headers can be evidence (`doubleSignEvidence` needs a staker record): other keys' would only fill the watch. A
    /// header whose proposer leads its slot under the tip's schedule (the tip's epoch, or the next one's snapshot of the
    /// tip state) is scheduled; any other active validator's, or a validator's with stake still unbonding (slashable until
    /// it matures, eleventh review B2), is unscheduled (bounded per key, eighth review F2: keys signing headers for slots
    /// they do not lead must not crowd out the first header of an equivocation).
    private func headerAdmission(_ h: BlockHeader, clockSlot: UInt64) -> EquivocationWatch.Admission? {
        guard h.slot <= clockSlot &+ Self.maxFutureHeaderSlots else { return nil }
        let staker: Staker?
        do { staker = try LedgerReader(store.current).staker(.validator, h.proposer) } catch { return nil }
        guard let staker else { return nil }
        let perEpoch = genesis.ledger.slotsPerEpoch
        let epoch = h.slot / perEpoch, tipEpoch = engine.tipHeader.slot / perEpoch
        if epoch == tipEpoch || epoch == tipEpoch + 1, let schedule = tipSchedule(slot: h.slot),
           LeaderSchedule.leader(of: h.slot, in: schedule) == h.proposer {
            return .scheduled
        }
        if staker.isActive(minimum: genesis.ledger.validatorMinStake) { return .unscheduled }
        guard staker.status != .tombstoned, (try? LedgerReader(store.current).hasUnbonding(.validator, h.proposer)) == true else { return nil }
        return .unscheduled
    }

    /// The schedule snapshot of `slot`'s epoch for a block on the tip, cached per tip (a fresh snapshot scans every
    /// validator record).
    private func tipSchedule(slot: UInt64) -> ValidatorSnapshot? {
        let epoch = slot / genesis.ledger.slotsPerEpoch
        if scheduleCache.tip != engine.tipHash { scheduleCache = (engine.tipHash, [:]) }
        if let cached = scheduleCache.byEpoch[epoch] { return cached }
        guard let snapshot = try? LeaderSchedule.snapshot(for: slot, parentState: engine.tipState, ledger: ledger) else { return nil }
        scheduleCache.byEpoch[epoch] = snapshot
        return snapshot
    }

    // MARK: Finality

    /// The vote `validator` should sign now on the canonical chain (Specs/consensus.md §8), or nil: it must be
    /// scheduled in the tip's epoch, and the highest checkpoint recorded on the tip (below the tip's height)
    /// must be above the justified one. Source: the tip state's justified checkpoint.
    public func finalityVoteCandidate(for validator: PublicKey) throws -> FinalityVote? {
        try ChainEngine.finalityVoteCandidate(for: validator, engine: engine)
    }

    /// The tip's justified and finalized checkpoints and the safe height: two reads, for `/metrics`, which must stay
    /// cheap however long finality stalls.
    public func finalityHeights() throws -> (justified: Checkpoint, finalized: Checkpoint, safeHeight: UInt64) {
        let (justified, finalized) = try Ledger.finality(of: engine.tipState)
        return (justified, finalized, engine.safeHeight)
    }

    /// Whether `vote` still has to reach a block: the tip does not count it yet (no vote record of its validator for its
    /// target) and no pending transaction of its validator carries it. A signed vote that was lost (never sent, dropped,
    /// expired) is then sent again, identical (Specs/consensus.md §8 **Voting (node)**).
    public func finalityVoteOutstanding(_ vote: FinalityVote) throws -> Bool {
        if try store.current.get(StateKey.finalityVote(vote.target.height, vote.validator)) != nil { return false }
        let pending = mempoolPage(sender: vote.validator, after: nil, limit: Int(clamping: mempool.config.maxNonceGap) &+ 1).transactions
        return !pending.contains { tx in
            guard case .finalityVotes(let votes) = tx.transaction.body else { return false }
            return votes.contains { $0.source == vote.source && $0.target == vote.target && $0.validator == vote.validator }
        }
    }

    /// The finality of the tip: justified and finalized checkpoints, the safe height, and the counted stake of
    /// each pending target with the epoch's total (RPC `chain_getFinality`).
    public func finality() throws -> FinalityStatus {
        let state = engine.tipState
        let (justified, finalized) = try Ledger.finality(of: state)
        let total = try ledger.finalitySet(of: state)?.totalStake ?? 0
        let pending = try Ledger.voteTallies(of: state).filter { $0.target > justified.height }
            .map { FinalityStatus.Tally(targetHeight: $0.target, stake: $0.tally.stake.units, votes: $0.tally.votes) }
        return FinalityStatus(justified: justified, finalized: finalized, safeHeight: engine.safeHeight, tipHeight: engine.tipHeight,
                              totalStake: total, pending: pending)
    }

    /// Votes of one side block whose validator record and signature the watch examines at most (Specs/consensus.md §8
    /// **Slashing**): a side block is stored after the proposer check only, never executed, so its votes may be junk
    /// signed by nobody (eighth review, F1: ~23 800 per 4 MiB block). Votes already recorded cost nothing, and those
    /// that would conflict with a recorded vote (what evidence needs) are examined first.
    static let sideBlockVoteChecks = 64
    /// Vote signatures the watch verified (a measure of the work blocks and transactions made it do).
    private(set) var voteSignaturesChecked = 0

    /// Whether the votes of `validator` are watched on the tip (tenth review, consensus F2): a member of the tip's
    /// schedule snapshot, or a validator with stake bonded or still unbonding, and not tombstoned. Evidence against any
    /// other key can only fail (`unknownStaker`, already punished) or slash nothing (a former validator whose unbonding
    /// has matured keeps its record): either way the reporter pays a fee for nothing, and such a key could make it pay one
    /// per pair. Stake still unbonding is slashable until it matures (eleventh review B2: a validator that had unbonded
    /// everything was no longer watched, though the ledger would still slash its unbonding entries).
    private func watchesVotes(of validator: PublicKey, reader: LedgerReader) -> Bool {
        guard let staker = (try? reader.staker(.validator, validator)) ?? nil, staker.status != .tombstoned else { return false }
        if staker.stake > .zero { return true }
        if (try? reader.hasUnbonding(.validator, validator)) == true { return true }
        if scheduledKeys.tip != engine.tipHash {
            let snapshot = (try? Ledger.currentSnapshot(of: engine.tipState)) ?? nil
            scheduledKeys = (engine.tipHash, Set(snapshot?.validators.map(\.key) ?? []))
        }
        return scheduledKeys.keys.contains(validator)
    }

    /// Checks the finality votes of transactions for conflicts with votes seen before and submits the evidence of
    /// each new double or surround vote (when this node reports evidence), one transaction per offender until it is
    /// punished. `limit`: at most this many votes examined.
    private func watchVotes(_ txs: some Sequence<SignedTransaction>, limit: Int? = nil) {
        var fresh = [FinalityVote]()
        for tx in txs {
            guard case .finalityVotes(let votes) = tx.transaction.body else { continue }
            // A vote seen before (mempool, then block) had its signature checked then; an offender with a pair on
            // file needs no more (and a flood of its votes must not cost a signature check each).
            fresh += votes.filter { !votesSeen.hasEvidence(against: $0.validator) && !votesSeen.contains($0) }
        }
        guard !fresh.isEmpty else { return }
        if limit != nil {
            // Those that would conflict first, each vote judged once.
            var suspect = [FinalityVote](), rest = [FinalityVote]()
            for vote in fresh { if votesSeen.wouldConflict(vote) { suspect.append(vote) } else { rest.append(vote) } }
            fresh = suspect + rest
        }
        // Only watched keys' votes (`watchesVotes`), judged once per key per call: the watch would otherwise grow by
        // one entry per fresh key, and the reporter pay for evidence that fails or slashes nothing.
        let reader = LedgerReader(store.current)
        var watched = [PublicKey: Bool]()
        var valid = [FinalityVote]()
        for (examined, vote) in fresh.enumerated() {
            if let limit, examined >= limit { break }
            let isWatched = watched[vote.validator] ?? watchesVotes(of: vote.validator, reader: reader)
            watched[vote.validator] = isWatched
            guard isWatched else { continue }
            voteSignaturesChecked += 1
            if vote.hasValidSignature(chainId: genesis.chainId) { valid.append(vote) }
        }
        for (a, _) in votesSeen.record(valid) {
            Counter(label: "sharechain_conflicting_votes_detected_total").increment()
            reportVoteEvidence(against: a.validator)
        }
    }

    /// Submits the conflicting pair on file against `offender`, unless an earlier submission of it is still in the
    /// mempool or was included (it then failed, as the offender is not tombstoned: a second copy would fail too).
    private func reportVoteEvidence(against offender: PublicKey) {
        guard let (a, b) = votesSeen.evidence[offender] else { return }
        if let sent = voteEvidenceSent[offender] {
            if mempool.contains(sent) { return }
            if ((try? store.current.transactionLocation(sent)) ?? nil) != nil { return }
        }
        if let id = submitEvidence(.voteEvidence(a: a, b: b), offender: offender) { voteEvidenceSent[offender] = id }
    }

    /// After a tip change: forgets the offenders punished (or no longer watched) on the new tip, re-submits the evidence
    /// against the others if it was dropped, and once per epoch forgets the votes of keys no longer watched (the watch
    /// holds only current validators' votes).
    private func reviewVoteWatch() {
        let reader = LedgerReader(store.current)
        for offender in votesSeen.evidence.keys {
            if watchesVotes(of: offender, reader: reader) {
                reportVoteEvidence(against: offender)
            } else {
                votesSeen.forget(offender)
                voteEvidenceSent[offender] = nil
            }
        }
        let epoch = engine.tipHeader.slot / genesis.ledger.slotsPerEpoch
        guard voteWatchPrunedEpoch != epoch else { return }
        voteWatchPrunedEpoch = epoch
        for key in votesSeen.keys where !watchesVotes(of: key, reader: reader) {
            votesSeen.forget(key)
            voteEvidenceSent[key] = nil
        }
    }

    /// Signs and submits an evidence transaction with the reporter key (not against itself); returns its id.
    @discardableResult
    private func submitEvidence(_ body: TxBody, offender: PublicKey) -> Hash32? {
        guard let reporter = evidenceReporter, reporter.publicKey != offender else { return nil }
        do {
            let nonce = try nextNonce(for: reporter.publicKey)
            // The fee depends on the size only, and a signature's size is fixed: no need to sign the probe.
            let probe = Transaction(chainId: genesis.chainId, sender: reporter.publicKey, nonce: nonce, fee: .zero, body: body)
            let fee = try suggestedFee(size: SignedTransaction(transaction: probe, signature: .zero).encodedSize)
            return try submit(Transaction(chainId: genesis.chainId, sender: reporter.publicKey, nonce: nonce, fee: fee, body: body).signed(by: reporter))
        } catch {
            Counter(label: "sharechain_evidence_submit_failures_total").increment()
            return nil
        }
    }

    private func importBlockUnmeasured(_ block: Block) -> BlockImportOutcome {
        if block.signedHeader.hasValidSignature { watchForEquivocation(block.signedHeader) }
        do {
            // The votes of a block are watched only once it is stored (a side branch too: a conflicting vote there is
            // what the watch is for), so its header was signed by a scheduled proposer: before that, any peer could
            // make this node check the signatures of thousands of junk votes per message without any penalty (an
            // unknown parent is not misbehaviour).
            switch try engine.importBlock(block, now: clock()) {
            case .alreadyKnown: return .alreadyKnown
            case .sideChain:
                watchVotes(block.transactions, limit: Self.sideBlockVoteChecks)
                return .sideChain
            case .tipChanged(let change):
                watchVotes(block.transactions)
                afterTipChange(change)
                retryEarly()
                return .imported(change)
            }
        } catch {
            if case .fromFuture = error, keepsEarly(block) { early[block.hash] = block }
            return Self.outcome(of: error)
        }
    }

    /// What an import error tells the caller.
    private static func outcome(of error: ImportError) -> BlockImportOutcome {
        switch error {
        case .invalid(let e): return .invalid(e)
        case .unknownParent(let p): return .unknownParent(p)
        case .fromFuture: return .fromFuture
        case .belowFinality: return .belowFinality
        case .notStored(let why): return .notStored(why)
        case .fault(let m): return .fault(m)
        }
    }

    /// Imports a branch fetched by sync, oldest first, whose first block's parent is stored: block by block while they
    /// import; from the first block not stored (`notStored`) on, the rest as one run (`ChainEngine.importBranch`),
    /// executed once it leads. The outcome is that of the last block, or of the run.
    public func importBranch(_ blocks: [Block]) -> BlockImportOutcome {
        var outcome = BlockImportOutcome.alreadyKnown
        for (i, block) in blocks.enumerated() {
            outcome = importBlock(block)
            guard case .notStored = outcome else {
                if outcome.isValid { continue } else { return outcome }
            }
            let run = Array(blocks[i...])
            guard run.count > 1 else { return outcome }
            for b in run.dropFirst() where b.signedHeader.hasValidSignature { watchForEquivocation(b.signedHeader) }
            do {
                switch try engine.importBranch(run, now: clock()) {
                case .alreadyKnown: return .alreadyKnown
                case .sideChain:
                    // Executed (its blocks are valid), then the switch did not stand: stored as side blocks.
                    return .sideChain
                case .tipChanged(let change):
                    for b in run { watchVotes(b.transactions) }
                    afterTipChange(change)
                    retryEarly()
                    return .imported(change)
                }
            } catch {
                return Self.outcome(of: error)
            }
        }
        return outcome
    }

    /// Whether an early block is worth keeping for a retry: at most 64 in all and `maxEarlyPerProposer` per proposer,
    /// and only a validly signed block of a validator whose body matches its `txRoot` (the engine defers those checks for
    /// an early block), so junk, or a genuine header with another body, cannot take the places of genuine blocks.
    private func keepsEarly(_ block: Block) -> Bool {
        guard early.count < 64, block.signedHeader.hasValidSignature,
              Block.txRoot(block.transactions) == block.header.txRoot else { return false }
        let proposer = block.header.proposer
        let staker: Staker?
        do { staker = try LedgerReader(store.current).staker(.validator, proposer) } catch { return false }
        guard staker != nil else { return false }
        return early.values.lazy.filter { $0.header.proposer == proposer }.count < Self.maxEarlyPerProposer
    }

    static let maxEarlyPerProposer = 4

    /// Retries blocks that arrived before their time.
    public func retryEarly() {
        let now = clock()
        for (hash, b) in early where b.header.timestamp <= now + genesis.consensus.clockToleranceMillis {
            early[hash] = nil
            _ = importBlock(b)
        }
    }

    private func afterTipChange(_ change: TipChange) {
        for b in change.applied { for t in b.transactions { mempool.remove(t.id) } }
        let now = clock()
        if change.isReorg {
            // Reorgs are not tracked incrementally: re-seed the invariant tracker from a full check.
            if engine.invariantTracker == nil, checkingInvariants { engine.invariantTracker = try? InvariantTracker(state: store.current) }
            for t in change.orphanedTransactions {
                if let a = try? engine.tipReader.account(t.transaction.sender) {
                    _ = try? mempool.add(t, account: a, ledger: ledger, now: now, checkSignature: false, pool: poolAtTip)
                }
            }
            publish(.reorg(change))
        }
        let engine = self.engine
        _ = try? mempool.revalidate(now: now) { try engine.tipReader.account($0) }
        reviewVoteWatch()
        for (b, r) in zip(change.applied, change.receipts) { publish(.newBlock(b, receipts: r)) }
    }

    private var checkingInvariants: Bool = false

    /// The leader of `slot` on the current tip.
    public func leader(of slot: UInt64) throws -> PublicKey? { try engine.leader(of: slot) }

    /// Whether `key` is in the validator set that schedules `slot` on the current tip (it can lead slots at all).
    public func isScheduled(_ key: PublicKey, slot: UInt64) throws -> Bool { try engine.isScheduled(key, slot: slot) }

    /// Produces, imports and returns a block for `slot` if `identity` leads it on the current tip; nil when
    /// it does not lead, or the slot is not after the tip. Stops adding transactions at `deadline` (Unix ms).
    public func produce(slot: UInt64, identity: inout ValidatorIdentity, deadline: UInt64) throws -> Block? {
        guard slot > engine.tipHeader.slot, try engine.leader(of: slot) == identity.key.publicKey else { return nil }
        guard let staker = try engine.tipReader.staker(.validator, identity.key.publicKey) else { return nil }
        guard let reveal = identity.reveal(for: staker.randaoCommitment(forEpoch: slot / genesis.ledger.slotsPerEpoch)) else {
            throw ImportError.fault("no RANDAO hash chain of this key reveals the registered commitment (re-commit with a bond transaction)")
        }
        let engine = self.engine
        // Twice a block's worth: the builder passes over candidates that fail their envelope at their turn (or do not
        // fit) and fills their space from the rest.
        func twice(_ n: Int) -> Int { n.multipliedReportingOverflow(by: 2).overflow ? .max : 2 * n }
        let candidates = try mempool.select(maxCount: twice(genesis.consensus.maxBlockTransactions), maxBytes: twice(genesis.consensus.maxBlockBytes)) {
            try engine.tipReader.account($0)
        }
        let clock = self.clock
        let block = try engine.produceBlock(slot: slot, key: identity.key, randaoReveal: reveal, candidates: candidates, now: clock(),
                                            shouldStop: { clock() >= deadline })
        switch importBlock(block) {
        case .imported: return block
        case let other: throw ImportError.fault("own block did not import: \(other)")
        }
    }

    public func setInvariantChecking(_ on: Bool) throws {
        checkingInvariants = on
        engine.invariantTracker = on ? try InvariantTracker(state: store.current) : nil
    }

    // MARK: Sync support

    /// Verifies the transaction signatures of blocks about to be imported, outside the actor (sync can
    /// verify the next blocks while the current one executes). Returns false if any signature is bad.
    public nonisolated func preverify(_ blocks: [Block]) -> Bool {
        blocks.allSatisfy { signatures.verify($0.transactions) == nil }
    }

    /// Starts this genesis-only chain from a verified snapshot (state sync; `ChainEngine.adoptSnapshot`) and
    /// announces the snapshot block as the new head.
    public func adoptSnapshot(block: Block, receipts: [Receipt], entries: [KeyValue]) throws(ImportError) {
        try engine.adoptSnapshot(block: block, receipts: receipts, entries: entries)
        publish(.newBlock(block, receipts: receipts))
    }

    public func locator() throws -> [Hash32] { try engine.locator() }
    /// Canonical headers after the first locator hash on the canonical chain, at most `max`: read from a snapshot off
    /// the chain actor, so serving peers' header and block requests never queues behind (or holds up) block import
    /// (P2P F4). A snapshot taken between a reorganisation's batches sees the fork point as the tip: a short answer,
    /// which the peer's sync continues from.
    public nonisolated func headers(after locator: [Hash32], max: Int) throws -> [SignedHeader] {
        try ChainEngine.headers(after: locator, max: max, in: readView())
    }

    /// A stored block (canonical or side), read off the chain actor like `headers(after:max:)`.
    public nonisolated func block(_ hash: Hash32) throws -> Block? {
        try ChainEngine.block(hash, in: store.current, maxTransactions: genesis.consensus.maxBlockTransactions)
    }
    public func hasBlock(_ hash: Hash32) throws -> Bool { try engine.hasBlock(hash) }
    /// Whether a header on a canonical block at or above the finalized height names its slot's leader (`ChainEngine.proposerLeads`).
    public func proposerLeads(_ header: BlockHeader) -> Bool? { engine.proposerLeads(header) }

    /// Canonical block at a height.
    public func canonicalBlock(at height: UInt64) throws -> Block? {
        guard let h = try store.current.canonicalHash(at: height) else { return nil }
        return try engine.block(h)
    }
}

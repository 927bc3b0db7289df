import Dispatch
import Ledger
import Primitives
import StateTree
import Storage
import Synchronization

/// Outcome of `importBlock` when the block is not applied (or not yet).
public enum ImportError: Error, Sendable, CustomStringConvertible {
    /// The block is invalid.
    case invalid(BlockValidationError)
    /// The parent is unknown: fetch it first.
    case unknownParent(Hash32)
    /// The timestamp is ahead of the local clock by more than the tolerance; retry later.
    case fromFuture(slot: UInt64)
    /// The block forks below the finalized height.
    case belowFinality(forkHeight: UInt64, finalized: UInt64)
    /// A side block this node does not store (yet) although nothing shows it invalid: its proposer's right to the slot
    /// can only be settled by executing its branch, which is done once the branch leads (`importBranch`). Not
    /// misbehaviour: the peer that sent it is not scored.
    case notStored(SideBlockDeferral)
    /// A storage or ledger fault: the node cannot continue safely.
    case fault(String)

    public var description: String {
        switch self {
        case .notStored(let why): return "side block not stored: \(why)"
        case .invalid(let e): return "invalid block: \(e)"
        case .unknownParent(let h): return "unknown parent \(h)"
        case .fromFuture(let s): return "block for slot \(s) is from the future"
        case .belowFinality(let f, let fin): return "fork at height \(f) is below the finalized height \(fin)"
        case .fault(let m): return "fault: \(m)"
        }
    }
}

/// Why a side block is refused for storage without being invalid (Specs/consensus.md §4, "Side blocks").
public enum SideBlockDeferral: Sendable, Equatable, CustomStringConvertible {
    /// In the fork point snapshot's epoch, its proposer is in that snapshot but not its slot's leader there: only a
    /// removal on its branch (which changes the draw) can make it the leader, and only executing the branch shows that.
    case notLeaderAtForkPoint
    /// In a later epoch, its proposer is not an active validator at the fork point (it may have bonded or topped up
    /// on the branch, which only executing the branch shows).
    case inactiveAtForkPoint
    /// In a later epoch, its proposer has no validator record at the fork point or at the tip: not executed even when
    /// its branch leads (keys that never bonded here cannot make the node revert and re-execute its chain).
    case unknownProposer
    /// A second block of its proposer for its slot (an equivocation: the first is stored or canonical).
    case secondBlockForSlot
    /// Its branch does not beat the canonical chain, so it is not executed.
    case branchDoesNotLead

    /// Whether a branch ending in such a block may be executed when it leads (execution then checks every leader exactly).
    public var mayExecute: Bool { self != .unknownProposer }

    public var description: String {
        switch self {
        case .notLeaderAtForkPoint: return "its proposer does not lead its slot under the fork point's schedule"
        case .inactiveAtForkPoint: return "its proposer is not an active validator at the fork point"
        case .unknownProposer: return "its proposer has no validator record at the fork point or the tip"
        case .secondBlockForSlot: return "its proposer already has a stored block for this slot"
        case .branchDoesNotLead: return "its branch does not lead"
        }
    }
}

/// A change of the canonical tip.
public struct TipChange: Sendable {
    public let oldTip: Hash32
    public let newTip: Hash32
    public let newHeight: UInt64
    /// Blocks removed from the canonical chain, newest first.
    public let reverted: [Block]
    /// Blocks added, oldest first.
    public let applied: [Block]
    /// Receipts of each applied block.
    public let receipts: [[Receipt]]
    /// The common ancestor of the old and new tips.
    public let commonAncestor: Hash32
    /// Transactions of reverted blocks that are not in any applied block (back to the mempool).
    public var orphanedTransactions: [SignedTransaction] {
        let kept = Set(applied.flatMap { $0.transactions.map(\.id) })
        return reverted.reversed().flatMap { $0.transactions.filter { !kept.contains($0.id) } }
    }
    public var isReorg: Bool { !reverted.isEmpty }
}

/// Where import time goes (monotonic clock; for metrics and benchmarks, never for consensus decisions).
public struct ImportTimings: Sendable {
    public var blocks = 0
    public var transactions = 0
    public var signatures: Duration = .zero
    public var execution: Duration = .zero
    public var commit: Duration = .zero
    public var total: Duration { signatures + execution + commit }
    public init() {}
}

/// The result of importing a block.
public enum ImportResult: Sendable {
    case alreadyKnown
    /// Stored on a branch that does not beat the canonical chain.
    case sideChain
    /// The canonical tip changed (an extension or a reorganisation).
    case tipChanged(TipChange)
}

/// The canonical chain and its competitors over a `ChainStore`: validation, fork choice (most blocks, then
/// timely arrival, then the earlier slot; `prefers`), reorganisation with undo data, never below the finalized height. Not thread-safe:
/// one owner (the node's chain service) calls it.
public final class ChainEngine {
    public let genesis: Genesis
    public let ledger: Ledger
    public let store: ChainStore
    /// The genesis block's hash (parent of height 1).
    public let genesisHash: Hash32

    /// The canonical tip's header.
    public private(set) var tipHeader: BlockHeader
    public private(set) var tipHash: Hash32
    /// Blocks found invalid (bounded memory; a re-sent invalid block is rejected without re-execution).
    private var invalid: Set<Hash32> = []
    private var invalidOrder: [Hash32] = []
    /// The stored side blocks (stored by `importBlock`, or reverted by a reorganisation), by (proposer, slot): at most
    /// one each from `importBlock` (a second is an equivocation, evidence from its header alone, and is not stored).
    /// Entries at or below the finalized block's slot are dropped (no side block forks below finality). Rebuilt at
    /// startup from the store's side-block index above the finalized height, so a restart allows no second block.
    private var sideSlots: [SideSlot: Hash32] = [:]
    private struct SideSlot: Hashable {
        let proposer: PublicKey
        let slot: UInt64
    }
    /// Optional per-block invariant checking (`--check-invariants`).
    public var invariantTracker: InvariantTracker?
    /// Accumulated time per import phase.
    public private(set) var timings = ImportTimings()
    /// The last state tree version prepared (`preparedTree`).
    private var lastTree: (parent: Hash32, writeSet: WriteSet, batch: ChainStore.PreparedState)?
    private let clock = ContinuousClock()

    /// Verified transaction signatures (shared with mempool admission and sync pre-verification).
    public let signatures: SignatureCache

    /// Opens the engine on a store, committing the genesis block when the store is empty.
    public init(genesis: Genesis, store: ChainStore, adjudicator: any Adjudicator, signatures: SignatureCache = SignatureCache()) throws {
        self.genesis = genesis
        self.store = store
        self.signatures = signatures
        // One replay per case however often it is executed (production then import, reorgs).
        ledger = Ledger(params: genesis.ledger, chainId: genesis.chainId,
                        adjudicator: adjudicator is MemoizedAdjudicator ? adjudicator : MemoizedAdjudicator(adjudicator),
                        equivocationVerifier: HeaderEquivocationVerifier())
        let ws = try ledger.genesisWriteSet(genesis.allocation)
        let g = try ChainEngine.genesisHeader(genesis, writeSet: ws)
        genesisHash = g.hash
        // A snapshot load cut short (state sync, Specs/storage.md §12) leaves the store as it was before it.
        try store.recoverInterruptedSnapshotImport(genesisState: Self.stateEntries(ws))
        if try store.tip() == nil {
            try store.commit(Self.genesisRecord(g), writeSet: ws, finalizedHeight: 0)
        }
        guard let tip = try store.tip() else { throw ImportError.fault("store has no tip after genesis") }
        guard let canonicalGenesis = try store.current.canonicalHash(at: 0), canonicalGenesis == g.hash else {
            throw ImportError.fault("the data directory holds another genesis block for this chain id")
        }
        tipHash = tip.hash
        tipHeader = try ChainEngine.loadHeader(store.current, tip.hash).header
        finalizedHeight = try store.finalizedHeight() ?? 0
        // A crash between a reorg's last commit and its `finalize` leaves the stored height below the tip state's
        // finalized checkpoint (Specs/consensus.md §9): raise it now, not at the next block, so the below-finality
        // checks hold from the start.
        let stateFinalized = try Ledger.finality(of: LedgerState(base: store.current)).finalized.height
        if stateFinalized > finalizedHeight, stateFinalized <= tip.height {
            try store.finalize(upTo: stateFinalized)
            finalizedHeight = stateFinalized
        }
        earliestBlockHeight = try store.current.earliestBlockHeight()
        try rebuildSideSlots()
        try chooseAmongStoredBranches()
    }

    /// What the fork-choice pass at opening did (`chooseAmongStoredBranches`), for the node's log.
    public struct OpeningForkChoice: Sendable {
        /// Stored side-branch tips above the finalized height weighed against the canonical tip.
        public var candidates = 0
        /// Branches executed because they might lead, whose switch did not stand or that proved invalid.
        public var rejected: [Hash32] = []
        /// The switches made, in order (normally none, or one completing a reorganisation a crash interrupted).
        public var switches: [TipChange] = []
    }
    /// What the fork-choice pass at opening did.
    public private(set) var openingForkChoice = OpeningForkChoice()

    /// Fork choice over the stored side branches when the store is opened (Specs/consensus.md §4, "Restart"). A
    /// reorganisation is one batch per reverted and per applied block, so a crash between them leaves the canonical
    /// tip on the fork point or part way up the new branch, the rest stored as side blocks; without this pass the
    /// node sat there until the next block arrived. Each stored side-branch tip above the finalized height (a side
    /// block no stored side block builds on), best first by `prefers`' order, is weighed against the current tip by
    /// the same rules and code an import uses (`forkChoice`, then `switchIfKept`: full execution, `keepsSwitch`).
    /// Their arrival time is unknown after a restart: they count as not timely (the canonical tip keeps its
    /// restart default, timely), so an equal-height branch never displaces the tip here. Bounded by the side blocks
    /// the unfinalized window holds (pruned below finality, at most one per proposer and slot); never below the
    /// finalized height (forks below it are skipped, and reverts stop there).
    private func chooseAmongStoredBranches() throws {
        let view = store.current
        var tips = [(hash: Hash32, header: BlockHeader)]()
        var builtOn = Set<Hash32>()
        for (_, hash) in try view.sideBlocks(from: finalizedHeight &+ 1, limit: 1 << 20) {
            let h = try ChainEngine.loadHeader(view, hash).header
            builtOn.insert(h.parent)
            tips.append((hash, h))
        }
        tips.removeAll { builtOn.contains($0.hash) }
        // Best first: more blocks, then the earlier slot (the hash only orders the rest deterministically).
        tips.sort { a, b in
            if a.header.height != b.header.height { return a.header.height > b.header.height }
            if a.header.slot != b.header.slot { return a.header.slot < b.header.slot }
            return a.hash < b.hash
        }
        openingForkChoice.candidates = tips.count
        for tip in tips {
            // A switch made earlier in this pass may have made it canonical.
            guard !(try store.current.isCanonical(tip.hash)) else { continue }
            let fork: (hash: Hash32, height: UInt64)
            do { fork = try forkPoint(of: tip.hash) } catch let e as ImportError {
                // An ancestor pruned with the side blocks at or below finality: the branch forks below it.
                guard case .unknownParent = e else { throw e }
                continue
            }
            guard fork.height >= finalizedHeight else { continue }
            guard let last = try block(tip.hash) else { throw ImportError.fault("missing side block \(tip.hash)") }
            let branch = try branchBlocks(to: last, fork: fork)
            // Every block of the branch is weighed: none was weighed against this tip in this process.
            let choice = try forkChoice(candidate: tip.header, timely: false, weighing: branch)
            guard choice.executes else { continue }
            do throws(ImportError) {
                if let change = try switchIfKept(branch: branch, fork: fork, choice: choice) {
                    openingForkChoice.switches.append(change)
                    tipArrivedTimely = false
                } else {
                    openingForkChoice.rejected.append(tip.hash)
                }
            } catch {
                // An invalid branch block: `reorganize` marked it and restored the chain. Faults stop the opening.
                guard case .invalid = error else { throw error }
                openingForkChoice.rejected.append(tip.hash)
            }
        }
    }

    /// The entries a write set leaves in an empty state (the genesis state, to undo an interrupted snapshot load with).
    static func stateEntries(_ ws: WriteSet) -> [KeyValue] {
        ws.entries.compactMap { e in e.value.map { KeyValue(key: e.key, value: $0) } }
    }

    /// The (proposer, slot) index from the stored side blocks above the finalized height (lowest first), bounded by
    /// what the side-block rules let be stored over the unfinalized window.
    private func rebuildSideSlots() throws {
        let view = store.current
        for (_, hash) in try view.sideBlocks(from: finalizedHeight &+ 1, limit: 1 << 20) {
            let h = try ChainEngine.loadHeader(view, hash).header
            let key = SideSlot(proposer: h.proposer, slot: h.slot)
            if sideSlots[key] == nil { sideSlots[key] = hash }
        }
    }

    /// The genesis block header (Specs/genesis.md section 4); its `stateRoot` is the state tree's root of the
    /// genesis state (Specs/state-tree.md).
    public static func genesisHeader(_ genesis: Genesis, writeSet: WriteSet) throws -> BlockHeader {
        let root = try StateTree.root(of: writeSet.entries.map { TreeUpdate(key: $0.key, value: $0.value) })
        return BlockHeader(chainId: genesis.chainId, height: 0, slot: 0, parent: .zero, timestamp: genesis.genesisTime * 1000,
                           proposer: PublicKey(rawValue: .zero), randaoReveal: .zero, txRoot: Block.txRoot([]),
                           receiptsRoot: Receipt.root([]), stateRoot: root)
    }

    /// The genesis block's stored records (an unsigned header, no transactions).
    static func genesisRecord(_ g: BlockHeader) -> BlockRecord {
        BlockRecord(hash: g.hash, height: 0, parent: .zero, header: SignedHeader(header: g, signature: .zero).canonicalEncoding,
                    body: Block(signedHeader: SignedHeader(header: g, signature: .zero), transactions: []).bodyEncoding,
                    receipts: ChainEngine.encodeReceipts([]), transactions: [])
    }

    static func encodeReceipts(_ receipts: [Receipt]) -> [UInt8] {
        var w = CanonicalWriter(capacity: receipts.count * 96 + 8)
        w.list(receipts)
        return w.bytes
    }

    /// Decodes stored receipts.
    public static func decodeReceipts(_ bytes: [UInt8]) throws(CodecError) -> [Receipt] {
        var r = CanonicalReader(bytes)
        let out = try r.list("receipts", max: 1 << 20, of: Receipt.self)
        try r.finish()
        return out
    }

    static func loadHeader(_ view: ReadView, _ hash: Hash32) throws -> SignedHeader {
        guard let bytes = try view.header(hash) else { throw ImportError.fault("missing header \(hash)") }
        do { return try SignedHeader(canonicalEncoding: bytes) } catch { throw ImportError.fault("corrupt header \(hash): \(error)") }
    }

    /// A stored block (canonical or side).
    public func block(_ hash: Hash32) throws -> Block? {
        try ChainEngine.block(hash, in: store.current, maxTransactions: genesis.consensus.maxBlockTransactions)
    }

    /// A stored block (canonical or side) read from `view`: the engine's reads and the node's serving to peers off the
    /// chain actor share this one implementation.
    public static func block(_ hash: Hash32, in view: ReadView, maxTransactions: Int) throws -> Block? {
        guard let hb = try view.header(hash), let bb = try view.body(hash) else { return nil }
        let h = try SignedHeader(canonicalEncoding: hb)
        return Block(signedHeader: h, transactions: try Block.decodeBody(bb, maxTransactions: maxTransactions))
    }

    public var tipHeight: UInt64 { tipHeader.height }
    /// Whether the canonical tip arrived within its slot (true after a restart: unknown, and it was chosen; false when
    /// the fork-choice pass at opening switched to a stored side branch, whose blocks count as not timely).
    public private(set) var tipArrivedTimely = true

    /// The `safe` height: `finalityDepth` blocks below the tip (a label; finality is the gadget's).
    public var safeHeight: UInt64 { tipHeader.height > genesis.consensus.finalityDepth ? tipHeader.height - genesis.consensus.finalityDepth : 0 }

    /// The finalized height (the gadget's finalized checkpoint): never decreases (a reorg's intermediate blocks do
    /// not lower it).
    public private(set) var finalizedHeight: UInt64 = 0
    /// The lowest height above genesis whose block this node stores: 1, or the snapshot's height after state sync.
    public private(set) var earliestBlockHeight: UInt64 = 1

    /// The state after the canonical tip.
    public var tipState: LedgerState { LedgerState(base: store.current) }
    /// Typed queries over the state after the canonical tip.
    public var tipReader: LedgerReader { LedgerReader(store.current) }

    // MARK: - Leaders

    /// The leader of `slot` for a block on top of the canonical tip.
    public func leader(of slot: UInt64) throws -> PublicKey? {
        LeaderSchedule.leader(of: slot, in: try LeaderSchedule.snapshot(for: slot, parentState: tipState, ledger: ledger))
    }

    /// Whether `key` is among the validators (with stake) that schedule `slot` on top of the canonical tip: a key that
    /// is not leads no slot at all (not bonded, below the minimum, jailed, or bonded too recently to be in this epoch's set).
    public func isScheduled(_ key: PublicKey, slot: UInt64) throws -> Bool {
        let snapshot = try LeaderSchedule.snapshot(for: slot, parentState: tipState, ledger: ledger)
        return (snapshot.stake(of: key) ?? .zero) > .zero
    }

    /// Whether `h`, whose parent is a canonical block at or above the finalized height, is signed by its slot's leader in
    /// a slot after its parent's: exactly the checks its block's import makes (`validateAndCommit` on the tip,
    /// `checkSideProposer` at a fork point), so a header failing them can only be the header of an invalid block. Nil when
    /// it cannot be told here (the parent unknown, a side block or below finality; the schedule unreadable). Sync uses it
    /// on a headers answer's first header (Specs/p2p.md §6, ninth review F1).
    public func proposerLeads(_ h: BlockHeader) -> Bool? {
        let view = store.current
        guard let info = try? view.blockInfo(h.parent), info.height >= finalizedHeight,
              (try? view.isCanonical(h.parent)) == true,
              let parent = try? Self.loadHeader(view, h.parent) else { return nil }
        guard h.slot > parent.header.slot else { return false }
        let state = h.parent == tipHash ? tipState : LedgerState(base: view.state(at: info.height))
        guard let snapshot = try? LeaderSchedule.snapshot(for: h.slot, parentState: state, ledger: ledger) else { return nil }
        return LeaderSchedule.leader(of: h.slot, in: snapshot) == h.proposer
    }

    /// Leaders of the slots strictly between `parentSlot` and `slot`, unless the gap is a network halt.
    func missedSlots(parentSlot: UInt64, slot: UInt64, parentState: LedgerState) throws -> [BlockContext.MissedSlot] {
        let gap = slot - parentSlot - 1
        guard gap > 0, gap <= ledger.params.slotsPerEpoch / 4 else { return [] }
        var out = [BlockContext.MissedSlot]()
        var cache: [UInt64: ValidatorSnapshot] = [:]
        for s in (parentSlot + 1)..<slot {
            let epoch = s / ledger.params.slotsPerEpoch
            let snap = try cache[epoch] ?? LeaderSchedule.snapshot(for: s, parentState: parentState, ledger: ledger)
            cache[epoch] = snap
            if let l = LeaderSchedule.leader(of: s, in: snap) { out.append(.init(slot: s, leader: l)) }
        }
        return out
    }

    // MARK: - Import

    /// Checks that need no state (cheap first): the pure rules of `BlockValidation`, in this order, with the
    /// local-clock rule (not a validity rule: such a block is retried) between the timestamp and the signature.
    func statelessChecks(_ block: Block, now: UInt64) throws(ImportError) {
        let h = block.header
        let consensus = genesis.consensus
        do {
            try BlockValidation.validateVersion(h.version)
            try BlockValidation.validateChain(h.chainId, expected: genesis.chainId)
            try BlockValidation.validateTransactionCount(block.transactions.count, maximum: consensus.maxBlockTransactions)
            try BlockValidation.validateSize(BlockValidation.encodedSize(of: block.transactions), maximum: consensus.maxBlockBytes)
            try BlockValidation.validateTimestamp(h.timestamp, slotStart: genesis.slotStartMillis(h.slot), slotMillis: genesis.slotMillis)
        } catch { throw .invalid(error) }
        if BlockValidation.isFromFuture(timestamp: h.timestamp, now: now, toleranceMillis: consensus.clockToleranceMillis) {
            throw .fromFuture(slot: h.slot)
        }
        do {
            try BlockValidation.validateProposerSignature(block.signedHeader)
            try BlockValidation.validateUniqueTransactions(block.transactions)
            try BlockValidation.validateTxRoot(h.txRoot, transactions: block.transactions)
        } catch { throw .invalid(error) }
    }

    /// Imports a block received from a peer or produced locally. `now` is the local clock (Unix ms).
    public func importBlock(_ block: Block, now: UInt64) throws(ImportError) -> ImportResult {
        let hash = block.hash
        if invalid.contains(hash) { throw .invalid(.knownInvalid) }
        do { if try store.current.blockInfo(hash) != nil { return .alreadyKnown } } catch { throw .fault("\(error)") }
        if invalid.contains(block.header.parent) { markInvalid(hash); throw .invalid(.descendsFromInvalid) }
        try statelessChecks(block, now: now)
        let timely = arrivedTimely(block.header, now: now)
        let parentInfo: BlockInfo
        do {
            guard let p = try store.current.blockInfo(block.header.parent) else { throw ImportError.unknownParent(block.header.parent) }
            parentInfo = p
        } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        do { try BlockValidation.validateHeight(block.header.height, parentHeight: parentInfo.height) } catch { throw .invalid(error) }
        let parentHeader: BlockHeader
        do { parentHeader = try ChainEngine.loadHeader(store.current, block.header.parent).header } catch { throw .fault("\(error)") }
        do { try BlockValidation.validateSlot(block.header.slot, parentSlot: parentHeader.slot) } catch { throw .invalid(error) }

        if block.header.parent == tipHash {
            let receipts = try validateAndCommit(block, parentHeader: parentHeader)
            tipArrivedTimely = timely
            let change = TipChange(oldTip: block.header.parent, newTip: hash, newHeight: block.header.height, reverted: [], applied: [block],
                                   receipts: [receipts], commonAncestor: block.header.parent)
            return .tipChanged(change)
        }
        // A side branch: never below finality.
        let fork: (hash: Hash32, height: UInt64)
        do { fork = try forkPoint(of: block.header.parent) } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        guard fork.height >= finalizedHeight else { throw .belowFinality(forkHeight: fork.height, finalized: finalizedHeight) }
        var deferral = try checkSideProposer(block.header, hash: hash, fork: fork)
        let slotKey = SideSlot(proposer: block.header.proposer, slot: block.header.slot)
        // Another stored side block of this proposer for this slot. The canonical block of the slot does not count: a
        // branch an equivocating leader built on the other side of a partition must still be importable block by block
        // once it leads (the equivocation itself goes to the header watch); storage stays at the canonical block plus
        // one side block per (proposer, slot).
        if deferral == nil, let other = sideSlots[slotKey], other != hash { deferral = .secondBlockForSlot }
        // Fork choice (Specs/consensus.md §4): the higher justified checkpoint first, then `prefers`. A branch can
        // justify above the tip's justified checkpoint only with votes for a higher target, so only a branch that
        // wins on height or whose new block carries such votes is executed (blocks arrive parents first, so an
        // earlier block's votes were weighed when it arrived); the result decides whether the switch stands.
        let choice = try forkChoice(candidate: block.header, timely: timely, weighing: [block])
        let executes = choice.executes
        if let deferral {
            // Not stored. A block that makes its branch lead is executed all the same: execution checks its leader
            // exactly (and a switch that does not stand leaves it stored, executed, as a side block). A second block of
            // a (proposer, slot) only when it wins on height: its votes alone never raise justification that the first
            // block's did not, and a leader signing variant after variant with a vote above the tip's justified height
            // made every node it reached revert and re-execute its chain once per variant (eighteenth-session audit).
            let runs = deferral == .secondBlockForSlot ? choice.heightWins : executes
            guard runs, deferral.mayExecute else { throw .notStored(deferral) }
        } else {
            do {
                try store.storeSideBlock(hash: hash, height: block.header.height, parent: block.header.parent,
                                         header: block.signedHeader.canonicalEncoding, body: block.bodyEncoding)
            } catch { throw .fault("storing side block: \(error)") }
            rememberSideSlot(slotKey, hash: hash)
        }
        guard executes else { return .sideChain }
        let branch: [Block]
        do { branch = try branchBlocks(to: block, fork: fork) } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        guard let change = try switchIfKept(branch: branch, fork: fork, choice: choice) else { return .sideChain }
        tipArrivedTimely = timely
        return .tipChanged(change)
    }

    /// Fork choice's decision before execution (Specs/consensus.md §4): whether the branch wins on `prefers`, the tip's
    /// justified checkpoint (for `keepsSwitch` once the branch is executed), and whether the branch is executed at all.
    private struct ForkChoice {
        let heightWins: Bool
        let tipJustified: Checkpoint
        let executes: Bool
    }

    /// The decision for a branch ending in `candidate` against the canonical tip: executed when it wins on height, or
    /// one of `weighing` (its blocks not weighed before) carries votes above the tip's justified checkpoint.
    /// `importBlock`, `importBranch` and the restart pass (`chooseAmongStoredBranches`) all decide here.
    private func forkChoice(candidate: BlockHeader, timely: Bool, weighing: [Block]) throws(ImportError) -> ForkChoice {
        let heightWins = ChainEngine.prefers(candidate, timely: timely, over: tipHeader, tipTimely: tipArrivedTimely)
        let justified: Checkpoint
        do { justified = try Ledger.finality(of: tipState).justified } catch { throw .fault("finality: \(error)") }
        return ForkChoice(heightWins: heightWins, tipJustified: justified,
                          executes: heightWins || ChainEngine.carriesVotes(weighing, above: justified.height))
    }

    /// Executes `branch` from `fork` and keeps the switch when `keepsSwitch` says so (nil: the old chain is restored).
    private func switchIfKept(branch: [Block], fork: (hash: Hash32, height: UInt64), choice: ForkChoice) throws(ImportError) -> TipChange? {
        try reorganize(branch: branch, fork: fork, accept: { branchJustified in
            ChainEngine.keepsSwitch(branchJustified: branchJustified.height, tipJustified: choice.tipJustified.height,
                                    heightWins: choice.heightWins)
        })
    }

    /// The proposer check a side block passes before it is stored (and so before its votes are watched or it can make
    /// the node revert its chain), Specs/consensus.md §4 "Side blocks". Without it any key pair could fill the store
    /// with blocks nobody leads and, with a branch one block longer than the canonical chain, make the node revert to
    /// the fork point and re-execute every reverted block.
    /// - The first block of a branch (its parent canonical) must be signed by its slot's leader, computed exactly as
    ///   `validateAndCommit` will, from the canonical state at the fork point (retained: forks are at or above the
    ///   finalized height, and state is pruned only below it). Otherwise it is invalid.
    /// - A deeper block in the epoch of the fork point's stored snapshot: its proposer must be in that snapshot (the
    ///   snapshot only shrinks within an epoch, so otherwise it is invalid) and its slot's leader under it. A branch
    ///   that removed a validator draws other leaders, so a mismatch is `notLeaderAtForkPoint`: not stored, not invalid.
    /// - A deeper block in a later epoch (its leader needs the branch's RANDAO mix, i.e. its execution): its proposer
    ///   must be an active validator at the fork point; tombstoned there is invalid (for good), anything else not stored.
    /// Returns nil when the block may be stored, else why not (exact failures throw `invalid`).
    func checkSideProposer(_ h: BlockHeader, hash: Hash32, fork: (hash: Hash32, height: UInt64)) throws(ImportError) -> SideBlockDeferral? {
        let forkView = store.current.state(at: fork.height)
        let forkState = LedgerState(base: forkView)
        if h.parent == fork.hash {
            let expected: PublicKey?
            do {
                expected = LeaderSchedule.leader(of: h.slot, in: try LeaderSchedule.snapshot(for: h.slot, parentState: forkState, ledger: ledger))
            } catch { throw .fault("schedule at the fork point: \(error)") }
            do { try BlockValidation.validateLeader(h.proposer, expected: expected) } catch {
                markInvalid(hash)
                throw .invalid(error)
            }
            return nil
        }
        let stored: ValidatorSnapshot?
        do { stored = try Ledger.currentSnapshot(of: forkState) } catch { throw .fault("schedule at the fork point: \(error)") }
        if let stored, stored.epoch == h.slot / ledger.params.slotsPerEpoch {
            guard stored.holds(h.proposer) else {
                markInvalid(hash)
                throw .invalid(.wrongLeader(got: h.proposer, expected: nil))
            }
            // Membership alone would let any member sign a stored block for every slot (eighth review, F1).
            return LeaderSchedule.leader(of: h.slot, in: stored) == h.proposer ? nil : .notLeaderAtForkPoint
        }
        do {
            if let atFork = try LedgerReader(forkView).staker(.validator, h.proposer) {
                if atFork.status == .tombstoned {
                    markInvalid(hash)
                    throw ImportError.invalid(.wrongLeader(got: h.proposer, expected: nil))
                }
                return atFork.isActive(minimum: ledger.params.validatorMinStake) ? nil : .inactiveAtForkPoint
            }
            return try LedgerReader(store.current).staker(.validator, h.proposer) != nil ? .inactiveAtForkPoint : .unknownProposer
        } catch let e as ImportError { throw e } catch { throw .fault("staker lookup: \(error)") }
    }

    /// Remembers a stored side block's (proposer, slot); now and then forgets slots at or below the finalized block's.
    private func rememberSideSlot(_ key: SideSlot, hash: Hash32) {
        sideSlots[key] = hash
        guard sideSlots.count % 1024 == 0 else { return }
        guard let finalized = try? store.current.canonicalHash(at: finalizedHeight),
              let slot = try? ChainEngine.loadHeader(store.current, finalized).header.slot else { return }
        sideSlots = sideSlots.filter { $0.key.slot > slot }
    }

    /// Imports a run of linked blocks, none of them stored, whose first block's parent is stored and not the tip: how
    /// sync follows a branch whose blocks `importBlock` did not store one by one (`notStored`, e.g. a leader that a
    /// removal on the branch changed). The run is executed only when its last block makes the branch lead (exactly
    /// as `importBlock` decides for one block), and every block's proposer first passes the checks that need no
    /// execution (a validator known here; exact failures are invalid). Nothing is stored otherwise.
    public func importBranch(_ run: [Block], now: UInt64) throws(ImportError) -> ImportResult {
        guard let first = run.first, let last = run.last else { return .alreadyKnown }
        var parent: BlockHeader
        do {
            guard try store.current.blockInfo(first.header.parent) != nil else { throw ImportError.unknownParent(first.header.parent) }
            parent = try ChainEngine.loadHeader(store.current, first.header.parent).header
        } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        guard parent.hash != tipHash else { throw .fault("importBranch: the run extends the tip (import its blocks one by one)") }
        for b in run {
            if invalid.contains(b.hash) { throw .invalid(.knownInvalid) }
            guard b.header.parent == parent.hash else { throw .unknownParent(b.header.parent) }
            do { if try store.current.blockInfo(b.hash) != nil { throw ImportError.fault("importBranch: block \(b.hash) is stored") } }
            catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
            try statelessChecks(b, now: now)
            do {
                try BlockValidation.validateHeight(b.header.height, parentHeight: parent.height)
                try BlockValidation.validateSlot(b.header.slot, parentSlot: parent.slot)
            } catch { throw .invalid(error) }
            parent = b.header
        }
        let fork: (hash: Hash32, height: UInt64)
        do { fork = try forkPoint(of: first.header.parent) } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        guard fork.height >= finalizedHeight else { throw .belowFinality(forkHeight: fork.height, finalized: finalizedHeight) }
        for b in run {
            if let d = try checkSideProposer(b.header, hash: b.hash, fork: fork), !d.mayExecute { throw .notStored(d) }
        }
        let timely = arrivedTimely(last.header, now: now)
        let choice = try forkChoice(candidate: last.header, timely: timely, weighing: run)
        guard choice.executes else { throw .notStored(.branchDoesNotLead) }
        let branch: [Block]
        do { branch = try branchBlocks(to: first, fork: fork) + run.dropFirst() } catch let e as ImportError { throw e } catch { throw .fault("\(error)") }
        guard let change = try switchIfKept(branch: branch, fork: fork, choice: choice) else { return .sideChain }
        tipArrivedTimely = timely
        return .tipChanged(change)
    }

    /// Whether a switch to a branch stands once the branch is executed (Specs/consensus.md §4): a branch whose
    /// justified checkpoint is higher wins, a lower one loses whatever its height (Casper FFG: validators that
    /// voted from the higher justified checkpoint could not vote on it without a surround vote), and at equal
    /// justified heights `prefers` (height, timeliness, slot) decided.
    public static func keepsSwitch(branchJustified: UInt64, tipJustified: UInt64, heightWins: Bool) -> Bool {
        branchJustified != tipJustified ? branchJustified > tipJustified : heightWins
    }

    /// Whether any block of `branch` carries a finality vote for a target above `height`: without one the
    /// branch's justified checkpoint cannot exceed that of a chain whose justified height is `height` (the fork
    /// point's is at most the tip's).
    static func carriesVotes(_ branch: [Block], above height: UInt64) -> Bool {
        branch.contains { b in
            b.transactions.contains { tx in
                guard case .finalityVotes(let votes) = tx.transaction.body else { return false }
                return votes.contains { $0.target.height > height }
            }
        }
    }

    /// The stored blocks from the fork point (exclusive) to `block`, oldest first.
    func branchBlocks(to block: Block, fork: (hash: Hash32, height: UInt64)) throws -> [Block] {
        var branch = [block]
        var h = block.header.parent
        while h != fork.hash {
            guard let b = try self.block(h) else { throw ImportError.fault("missing side block \(h)") }
            branch.append(b)
            h = b.header.parent
        }
        return branch.reversed()
    }

    /// Fork choice between a new branch tip and the canonical tip (Specs/consensus.md §4): more blocks win; at
    /// equal height a block that arrived within its slot beats one that did not, then the earlier slot wins,
    /// and within one slot (one leader: an equivocation) the tip seen first stays. Nothing here is a hash a
    /// proposer could grind.
    public static func prefers(_ candidate: BlockHeader, timely: Bool, over tip: BlockHeader, tipTimely: Bool) -> Bool {
        if candidate.height != tip.height { return candidate.height > tip.height }
        if timely != tipTimely { return timely }
        return candidate.slot < tip.slot
    }

    /// Whether a block arrived by the end of its slot (local clock; fork choice only, never validity).
    func arrivedTimely(_ header: BlockHeader, now: UInt64) -> Bool {
        let start = genesis.slotStartMillis(header.slot)
        return now < start.addingReportingOverflow(genesis.slotMillis).partialValue
    }

    /// The canonical ancestor of a stored block and its height.
    func forkPoint(of hash: Hash32) throws -> (hash: Hash32, height: UInt64) {
        var h = hash
        while true {
            if try store.current.isCanonical(h), let info = try store.current.blockInfo(h) { return (h, info.height) }
            guard let info = try store.current.blockInfo(h) else { throw ImportError.unknownParent(h) }
            h = info.parent
        }
    }

    private func markInvalid(_ hash: Hash32) {
        if invalid.insert(hash).inserted {
            invalidOrder.append(hash)
            if invalidOrder.count > 10_000 { invalid.remove(invalidOrder.removeFirst()) }
        }
    }

    /// Reverts to the fork point and applies `branch` (oldest first). On an invalid branch block, or when `accept`
    /// rejects the branch's justified checkpoint, restores the previous chain (returning nil for the latter).
    private func reorganize(branch: [Block], fork: (hash: Hash32, height: UInt64),
                            accept: (Checkpoint) -> Bool) throws(ImportError) -> TipChange? {
        let oldTip = tipHash
        var reverted = [Block]()
        do {
            while tipHash != fork.hash {
                guard let b = try self.block(tipHash) else { throw ImportError.fault("missing canonical block \(tipHash)") }
                _ = try store.revertTip()
                reverted.append(b)
                tipHash = b.header.parent
                tipHeader = try ChainEngine.loadHeader(store.current, tipHash).header
            }
        } catch let e as ImportError { throw e } catch { throw .fault("reverting: \(error)") }
        invariantTracker = nil  // reverts are not tracked incrementally; re-seeded by the node after a reorg
        var applied = [Block](), receipts = [[Receipt]]()
        for b in branch {
            do {
                // The branch's finality is committed only once the switch stands (below): a later block of the run
                // that is invalid, or a switch that does not stand, must be able to revert every block of it
                // (eighteenth-session audit: the restore stopped at the branch's finalized block, in a fault).
                receipts.append(try validateAndCommit(b, parentHeader: tipHeader, deferringFinality: true))
                applied.append(b)
            } catch ImportError.invalid(let reason) {
                markInvalid(b.hash)
                try restore(undoing: applied.count, reapplying: reverted, oldTip: oldTip)
                throw .invalid(reason)
            }
        }
        let branchJustified: Checkpoint
        do { branchJustified = try Ledger.finality(of: tipState).justified } catch { throw .fault("finality: \(error)") }
        guard accept(branchJustified) else {
            try restore(undoing: applied.count, reapplying: reverted, oldTip: oldTip)
            return nil
        }
        let branchFinalized: UInt64
        do { branchFinalized = try Ledger.finality(of: tipState).finalized.height } catch { throw .fault("finality: \(error)") }
        if branchFinalized > finalizedHeight {
            do { try store.finalize(upTo: branchFinalized) } catch { throw .fault("finalizing the branch: \(error)") }
            finalizedHeight = branchFinalized
        }
        // The index follows what is stored off the canonical chain: reverted blocks are side blocks now, applied ones
        // no longer are (the same set a restart rebuilds it from).
        for b in applied {
            let key = SideSlot(proposer: b.header.proposer, slot: b.header.slot)
            if sideSlots[key] == b.hash { sideSlots[key] = nil }
        }
        for b in reverted {
            let key = SideSlot(proposer: b.header.proposer, slot: b.header.slot)
            if sideSlots[key] == nil { sideSlots[key] = b.hash }
        }
        return TipChange(oldTip: oldTip, newTip: tipHash, newHeight: tipHeader.height, reverted: reverted, applied: applied,
                         receipts: receipts, commonAncestor: fork.hash)
    }

    /// Back to the old chain: undoes `count` applied branch blocks and re-applies the reverted ones.
    private func restore(undoing count: Int, reapplying reverted: [Block], oldTip: Hash32) throws(ImportError) {
        do {
            for _ in 0..<count {
                _ = try store.revertTip()
                tipHash = tipHeader.parent
                tipHeader = try ChainEngine.loadHeader(store.current, tipHash).header
            }
            for old in reverted.reversed() { _ = try validateAndCommit(old, parentHeader: tipHeader) }
        } catch { throw .fault("restoring the chain: \(error)") }
        precondition(tipHash == oldTip, "restored chain has a different tip")
    }

    /// The state tree's next version for `ws` on the tip `parent`: the one this engine computed last for the
    /// same parent and the same write set (a block it produced, now imported), or a new one. The write set is
    /// compared whole, so a cached root never stands for other state changes.
    /// `previous`: the written keys' values at the tip, as the execution read them (`writeSetWithPrevious`).
    func preparedTree(_ ws: WriteSet, previous: [[UInt8]?], height: UInt64, parent: Hash32) throws -> ChainStore.PreparedState {
        if let c = lastTree, c.parent == parent, c.batch.tree.version == height, c.writeSet == ws { return c.batch }
        let batch = try store.prepareTree(writeSet: ws, previous: previous, height: height)
        lastTree = (parent, ws, batch)
        return batch
    }

    /// Full validation of a block whose parent is the canonical tip, then the atomic commit. With `deferringFinality`
    /// the finalized height stays where it is (a reorg's branch under trial raises it once the switch stands).
    @discardableResult
    func validateAndCommit(_ block: Block, parentHeader: BlockHeader, deferringFinality: Bool = false) throws(ImportError) -> [Receipt] {
        let h = block.header
        let parentState = tipState
        let context: BlockContext
        do {
            let snapshot = try LeaderSchedule.snapshot(for: h.slot, parentState: parentState, ledger: ledger)
            do { try BlockValidation.validateLeader(h.proposer, expected: LeaderSchedule.leader(of: h.slot, in: snapshot)) } catch {
                markInvalid(block.hash)
                throw ImportError.invalid(error)
            }
            context = BlockContext(height: h.height, slot: h.slot, proposer: h.proposer, randaoReveal: h.randaoReveal,
                                   missedSlots: try missedSlots(parentSlot: parentHeader.slot, slot: h.slot, parentState: parentState),
                                   parentHash: h.parent)
        } catch let e as ImportError { throw e } catch { throw .fault("schedule: \(error)") }
        let t0 = clock.now
        // The claims' voucher signatures are checked with the transactions', on all cores, instead of one by one in
        // execution (an escrow's owner never changes, so the parent state names the key execution would use).
        let (bad, vouchers) = signatures.verify(block.transactions, vouchers: ledger.voucherSignatures(in: block.transactions, state: parentState))
        if let bad {
            markInvalid(block.hash)
            throw .invalid(.badTransactionSignature(index: bad))
        }
        let t1 = clock.now
        var state = parentState
        let receipts: [Receipt]
        do {
            receipts = try ledger.applyBlock(context, transactions: block.transactions, to: &state, signaturesChecked: true,
                                             verifiedVouchers: vouchers)
        } catch let e {
            if case .fault(let f) = e { throw .fault(f.description) }
            markInvalid(block.hash)
            throw .invalid(.ledger(e))
        }
        let ws: WriteSet, previous: [[UInt8]?]
        do { (ws, previous) = try state.overlay.writeSetWithPrevious() } catch { throw .fault("write set: \(error)") }
        let tree: ChainStore.PreparedState
        do { tree = try preparedTree(ws, previous: previous, height: h.height, parent: h.parent) } catch { throw .fault("state tree: \(error)") }
        do {
            try BlockValidation.validateReceiptsRoot(h.receiptsRoot, receipts: receipts)
            try BlockValidation.validateStateRoot(h.stateRoot, computed: tree.rootHash)
        } catch {
            markInvalid(block.hash)
            throw .invalid(error)
        }
        var before: MemoryState?
        if invariantTracker != nil {
            var old = [KeyValue]()
            do {
                for e in ws.entries { if let v = try store.current.get(e.key) { old.append(KeyValue(key: e.key, value: v)) } }
            } catch { throw .fault("invariant check read: \(error)") }
            before = MemoryState(entries: old)
        }
        let record = BlockRecord(hash: block.hash, height: h.height, parent: h.parent, header: block.signedHeader.canonicalEncoding,
                                 body: block.bodyEncoding, receipts: ChainEngine.encodeReceipts(receipts),
                                 transactions: Self.indexEntries(block.transactions, receipts),
                                 addressEvents: Self.addressEventEntries(block.transactions, receipts))
        // Finality is the gadget's (Specs/consensus.md §8): the finalized checkpoint of this block's state. The
        // depth rule is only the `safe` label now; it never stops a reorg.
        let finalized: UInt64
        do {
            finalized = deferringFinality ? finalizedHeight : max(finalizedHeight, try Ledger.finality(of: state).finalized.height)
        } catch { throw .fault("finality: \(error)") }
        let t2 = clock.now
        do { try store.commit(record, writeSet: ws, prepared: tree, finalizedHeight: finalized) } catch { throw .fault("commit: \(error)") }
        let t3 = clock.now
        timings.blocks += 1
        timings.transactions += block.transactions.count
        timings.signatures += t1 - t0
        timings.execution += t2 - t1
        timings.commit += t3 - t2
        finalizedHeight = finalized
        tipHash = block.hash
        tipHeader = h
        if var t = invariantTracker, let before {
            do { try t.apply(ws, before: before, after: store.current) } catch { throw .fault("\(error)") }
            invariantTracker = t
        }
        return receipts
    }

    /// Address-index entries: the sender and every key a receipt's events mention.
    static func indexEntries(_ txs: [SignedTransaction], _ receipts: [Receipt]) -> [TxIndexEntry] {
        txs.enumerated().map { i, tx in
            var keys = [tx.transaction.sender]
            if case .transfer(let to, _) = tx.transaction.body { keys.append(to) }
            for e in receipts[i].events { keys.append(contentsOf: e.involvedKeys) }
            var seen = Set<PublicKey>()
            let unique = keys.filter { seen.insert($0).inserted }
            return TxIndexEntry(txHash: tx.id, position: UInt32(i), addresses: unique.map(\.rawValue))
        }
    }

    /// Address event history entries (Specs/storage.md §1): every event of every receipt, filed under each
    /// key the event names and, for a transaction's receipt, under its sender (an escrow top-up names no
    /// key but concerns its owner, who sent it). The block-processing receipt comes last (index = count).
    static func addressEventEntries(_ txs: [SignedTransaction], _ receipts: [Receipt]) -> [AddressEventEntry] {
        var out = [AddressEventEntry]()
        for (ri, receipt) in receipts.enumerated() {
            let tx: SignedTransaction? = ri < txs.count ? txs[ri] : nil
            for (ei, event) in receipt.events.enumerated() {
                var keys = event.involvedKeys
                if let sender = tx?.transaction.sender { keys.append(sender) }
                var seen = Set<PublicKey>()
                let pool = event.pool, worker = event.worker?.rawValue, kind = event.kindCode
                for k in keys where seen.insert(k).inserted {
                    out.append(AddressEventEntry(address: k.rawValue, receipt: UInt32(ri), event: UInt32(ei), kind: kind, pool: pool,
                                                 worker: worker, txHash: tx?.id))
                }
            }
        }
        return out
    }

    // MARK: - Production

    /// Builds and signs a block for `slot` on the canonical tip from mempool candidates (already
    /// signature-checked), stopping early when `shouldStop` says the slot deadline is near. The caller
    /// imports the result like any other block.
    public func produceBlock(slot: UInt64, key: PrivateKey, randaoReveal: Hash32, candidates: [SignedTransaction], now: UInt64,
                             shouldStop: () -> Bool = { false }) throws -> Block {
        do { try BlockValidation.validateSlot(slot, parentSlot: tipHeader.slot) } catch { throw ImportError.invalid(error) }
        let parentState = tipState
        let context = BlockContext(height: tipHeader.height + 1, slot: slot, proposer: key.publicKey, randaoReveal: randaoReveal,
                                   missedSlots: try missedSlots(parentSlot: tipHeader.slot, slot: slot, parentState: parentState),
                                   parentHash: tipHash)
        var state = parentState
        // The limits are the builder's, on what it includes: cutting the candidates to one block's bytes beforehand left
        // the space of every candidate that then failed its envelope (a sender's balance moved away by its own first
        // transaction) unused (ninth review F1). The caller may pass more candidates than fit.
        let limit = genesis.consensus.maxBlockBytes - BlockLimits.signedHeaderBytes - 16
        // Candidates' signatures were checked at admission (cached); their claims' vouchers are checked here on all cores.
        let (_, vouchers) = signatures.verify([], vouchers: ledger.voucherSignatures(in: candidates, state: parentState))
        let built = try ledger.buildBlock(context, candidates: candidates, to: &state, signaturesChecked: true,
                                          verifiedVouchers: vouchers, maxTransactions: genesis.consensus.maxBlockTransactions,
                                          maxBytes: limit, shouldStop: shouldStop)
        let (ws, previous) = try state.overlay.writeSetWithPrevious()
        let start = genesis.slotStartMillis(slot)
        let timestamp = min(max(now, start), start.addingReportingOverflow(genesis.slotMillis - 1).partialValue)
        let header = BlockHeader(chainId: genesis.chainId, height: context.height, slot: slot, parent: tipHash, timestamp: timestamp,
                                 proposer: key.publicKey, randaoReveal: randaoReveal, txRoot: Block.txRoot(built.transactions),
                                 receiptsRoot: Receipt.root(built.receipts),
                                 stateRoot: try preparedTree(ws, previous: previous, height: context.height, parent: tipHash).rootHash)
        return Block(signedHeader: SignedHeader(header: header, signedBy: key), transactions: built.transactions)
    }

    // MARK: - Sync support

    /// Replaces a genesis-only chain with a verified state snapshot (state sync, Specs/p2p.md §7): stores `block`
    /// with its `receipts` and the whole state as of it, and continues from there as if it had been replayed (its
    /// tip, finalized height and retained state start at the block). The caller verified the block against its
    /// trusted hash, the manifest against its `stateRoot` and every chunk against the manifest; here the body is
    /// checked against the header's `txRoot`, the receipts against `receiptsRoot`, and the entries' tree root
    /// against `stateRoot` (in the store). `entries` in key order.
    public func adoptSnapshot(block: Block, receipts: [Receipt], entries: [KeyValue]) throws(ImportError) {
        let h = block.header
        guard tipHeader.height == 0 else { throw .fault("state sync needs a chain holding genesis alone; this one is at height \(tipHeader.height)") }
        guard h.chainId == genesis.chainId, h.height > 0 else { throw .fault("the snapshot block is not a block of this chain above genesis") }
        guard Block.txRoot(block.transactions) == h.txRoot else { throw .fault("the snapshot block's body does not match its txRoot") }
        guard Receipt.root(receipts) == h.receiptsRoot, receipts.count == block.transactions.count + 1 else {
            throw .fault("the snapshot block's receipts do not match its receiptsRoot")
        }
        let record = BlockRecord(hash: block.hash, height: h.height, parent: h.parent, header: block.signedHeader.canonicalEncoding,
                                 body: block.bodyEncoding, receipts: ChainEngine.encodeReceipts(receipts),
                                 transactions: Self.indexEntries(block.transactions, receipts),
                                 addressEvents: Self.addressEventEntries(block.transactions, receipts))
        do {
            let g = try ChainEngine.loadHeader(store.current, genesisHash).header
            // An earlier attempt in this process that stopped before completing (an ingestion error) is undone first.
            let genesisState = Self.stateEntries(try ledger.genesisWriteSet(genesis.allocation))
            try store.importSnapshot(genesis: Self.genesisRecord(g), block: record, stateRoot: h.stateRoot, entries: entries,
                                     genesisState: genesisState)
        } catch { throw .fault("importing the snapshot: \(error)") }
        tipHash = block.hash
        tipHeader = h
        do { finalizedHeight = try store.finalizedHeight() ?? h.height } catch { throw .fault("\(error)") }
        earliestBlockHeight = h.height
        lastTree = nil
        invalid = []
        invalidOrder = []
        if invariantTracker != nil {
            do { invariantTracker = try InvariantTracker(state: store.current) } catch { throw .fault("invariants: \(error)") }
        }
    }

    /// Canonical hashes from the tip back with exponentially growing gaps, ending at genesis (for
    /// headers-first sync).
    public func locator() throws -> [Hash32] {
        var out = [Hash32]()
        var height = tipHeader.height
        var step: UInt64 = 1
        while true {
            if let h = try store.current.canonicalHash(at: height) { out.append(h) }
            if height == 0 { break }
            if out.count >= 10 { step *= 2 }
            height = height > step ? height - step : 0
        }
        return out
    }

    /// Canonical headers of `view` after the first locator hash found on its canonical chain, at most `max`, up to the
    /// view's tip. Read from one snapshot, the answer is one chain even while blocks are committed.
    public static func headers(after locator: [Hash32], max: Int, in view: ReadView) throws -> [SignedHeader] {
        guard let tip = try view.tip() else { return [] }
        var start: UInt64 = 0
        for h in locator where try view.isCanonical(h) {
            if let info = try view.blockInfo(h) { start = info.height + 1; break }
        }
        var out = [SignedHeader]()
        var height = start
        while out.count < max, height <= tip.height, let hash = try view.canonicalHash(at: height) {
            out.append(try ChainEngine.loadHeader(view, hash))
            height += 1
        }
        return out
    }

    /// Whether a block is stored (canonical or side).
    public func hasBlock(_ hash: Hash32) throws -> Bool { try store.current.blockInfo(hash) != nil }
}

extension Event {
    /// Event names in tag order: the kind code of an event (its canonical encoding's tag, Specs/encoding.md)
    /// is its index here. The address event index stores the code; RPC filters by name.
    public static let kindNames: [String] = [
        "transfer", "feePaid", "bonded", "unbondingStarted", "unbonded", "slashed", "jailed", "unjailed", "tombstoned",
        "escrowOpened", "escrowToppedUp", "escrowClosed", "usageClaimed", "sharesCommitted", "ticketSelected", "ticketRevealed",
        "revealWithheld", "fraudProven", "fraudRejected", "sharesForfeited", "escrowUnlocking", "windowSettled", "payoutCredited",
        "escrowAllocated", "fraudCommitted", "fraudClaimOpened", "bountyPaid", "fraudBondReturned", "fraudBondBurned", "ticketVoided",
        "passReused", "refundCredited", "voteCounted", "checkpointJustified", "checkpointFinalized",
        "checkerRegistered", "checkersAssigned", "checkersUnavailable", "answerCommitted", "outputUnblinded", "answerRevealed",
        "checkPassed", "checkerAbsent", "disputeOpened", "sealedInputPublished", "sealedCheckFailed", "checkFeeOwed", "checkFeePaid",
        "disputeBountyPaid",
        "hopChallenged", "hopChallengeAnswered", "hopChallengeUnanswered", "hopBondPaid",
    ]

    /// Kind code of an event name, nil for an unknown name.
    public static func kindCode(named name: String) -> UInt16? { kindCodes[name] }

    private static let kindCodes: [String: UInt16] = Dictionary(
        uniqueKeysWithValues: kindNames.enumerated().map { ($1, UInt16($0)) })

    /// This event's kind code (its canonical encoding's tag byte).
    public var kindCode: UInt16 { Self.kindCodes[name] ?? UInt16.max }

    /// The pool an event concerns, if it names one (directly or through a worker role).
    public var pool: UInt32? {
        switch self {
        case .escrowOpened(_, _, let p, _, _), .usageClaimed(_, _, let p, _, _, _, _, _), .sharesCommitted(_, _, let p, _, _, _, _),
             .sharesForfeited(let p, _, _), .windowSettled(let p, _, _), .payoutCredited(let p, _, _, _, _), .refundCredited(let p, _, _, _, _),
             .hopChallenged(_, let p, _, _, _, _, _, _):
            return p
        case .bonded(_, let r, _), .unbondingStarted(_, let r, _, _, _), .unbonded(_, let r, _, _), .slashed(_, let r, _, _, _),
             .jailed(_, let r, _), .unjailed(_, let r):
            if case .worker(let p) = r { return p }
            return nil
        default:
            return nil
        }
    }

    /// The worker an event concerns, if it names one (a payee, a committing or convicted worker, or a staker
    /// in a worker role).
    public var worker: PublicKey? {
        switch self {
        case .usageClaimed(_, let k, _, _, _, _, _, _), .sharesCommitted(_, let k, _, _, _, _, _), .revealWithheld(_, let k),
             .fraudProven(_, let k, _, _), .sharesForfeited(_, let k, _), .payoutCredited(_, _, let k, _, _), .refundCredited(_, _, let k, _, _),
             .escrowAllocated(_, let k, _), .ticketVoided(_, let k), .passReused(_, let k),
             .hopChallenged(_, _, _, _, let k, _, _, _), .hopChallengeUnanswered(_, let k, _, _):
            return k
        case .bonded(let k, let r, _), .unbondingStarted(let k, let r, _, _, _), .unbonded(let k, let r, _, _), .slashed(let k, let r, _, _, _),
             .jailed(let k, let r, _), .unjailed(let k, let r):
            if case .worker = r { return k }
            return nil
        default:
            return nil
        }
    }

    /// Public keys an event concerns (for the per-address index).
    public var involvedKeys: [PublicKey] {
        switch self {
        case .transfer(let a, let b, _), .feePaid(let a, let b, _): return [a, b]
        case .bonded(let k, _, _), .unbondingStarted(let k, _, _, _, _), .unbonded(let k, _, _, _), .slashed(let k, _, _, _, _),
             .jailed(let k, _, _), .unjailed(let k, _), .tombstoned(let k), .escrowOpened(_, let k, _, _, _),
             .sharesCommitted(_, let k, _, _, _, _, _), .revealWithheld(_, let k), .sharesForfeited(_, let k, _),
             .payoutCredited(_, _, let k, _, _), .usageClaimed(_, let k, _, _, _, _, _, _), .escrowAllocated(_, let k, _),
             .fraudCommitted(_, let k, _), .fraudClaimOpened(_, _, let k), .bountyPaid(_, let k, _, _),
             .fraudBondReturned(_, let k, _), .fraudBondBurned(_, let k, _), .passReused(_, let k), .fraudProven(_, let k, _, _):
            return [k]
        case .refundCredited(_, _, let a, let b, _): return [a, b]
        case .ticketVoided(_, let k), .voteCounted(let k, _, _): return [k]
        case .checkpointJustified, .checkpointFinalized: return []
        case .escrowToppedUp, .escrowClosed, .escrowUnlocking, .ticketSelected, .ticketRevealed, .windowSettled, .fraudRejected:
            return []
        case .checkerRegistered(_, let k, _), .answerCommitted(_, let k), .answerRevealed(_, let k, _), .checkerAbsent(_, let k, _),
             .sealedCheckFailed(_, let k, _), .checkFeeOwed(_, let k, _), .disputeBountyPaid(_, let k, _):
            return [k]
        case .checkersAssigned(_, let ks): return ks
        case .checkFeePaid(_, _, let a, _, let b, _): return [a, b]
        case .checkersUnavailable, .outputUnblinded, .checkPassed, .disputeOpened, .sealedInputPublished: return []
        case .hopChallenged(_, _, _, _, let a, let b, _, _), .hopChallengeUnanswered(_, let a, let b, _): return [a, b]
        case .hopChallengeAnswered(_, _, let k, _), .hopBondPaid(_, let k, _): return [k]
        }
    }
}

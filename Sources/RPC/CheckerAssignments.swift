import Consensus
import Ledger
import Primitives
import Storage

/// What an assigned checker has to do next on one ticket (Specs/verification.md §4), judged from the current state
/// for a transaction in the next block.
public enum CheckerAction: String, Sendable, Hashable, CaseIterable {
    /// The commit phase is open and this checker has not committed.
    case commit
    /// The reveal phase is open and this checker committed but has not revealed.
    case reveal
    /// A dispute over an output this checker's revealed answer contradicts (bad input included: a slot that opened to
    /// an input the replay finds invalid), before the key deadline and while no input is published: it may publish the
    /// input it opened (`publishSealedInput`) so the replay runs even if the worker withholds its key.
    case publishInput
    /// Something is still owed, but not yet: the worker has not revealed, or the reveal phase has not opened.
    case wait
    /// Nothing is left for this checker (answered, too late, or the check is over or gone).
    case none
}

/// Where an assigned check stands: a `CheckStatus`, or why its record is gone.
public enum AssignmentPhase: Sendable, Hashable {
    /// The check record exists and has this status.
    case check(CheckStatus)
    /// The ticket exists but its check record is gone: the sealed reveal voided the ticket or reused a pass.
    case cancelled
    /// Neither the ticket nor its check record is in state any more: pruned when the worker's window was paid out.
    case settled

    /// The name the RPC answers with (`checkStatus` names, `cancelled`, `settled`).
    public var name: String {
        switch self {
        case .check(let s): return Render.checkStatusName(s)
        case .cancelled: return "cancelled"
        case .settled: return "settled"
        }
    }

    /// The phase of a name; nil for an unknown one.
    public init?(name: String) {
        switch name {
        case "cancelled": self = .cancelled
        case "settled": self = .settled
        default:
            guard let s = CheckStatus.allCases.first(where: { Render.checkStatusName($0) == name }) else { return nil }
            self = .check(s)
        }
    }
}

/// How far one checker got with its answer on one ticket.
public enum AnswerStatus: String, Sendable, Hashable, CaseIterable {
    /// No commitment (yet, or ever).
    case notCommitted
    /// Committed, not revealed.
    case committed
    /// Revealed; the worker has not unblinded its output, so there is nothing to compare with.
    case revealed
    /// Revealed and equal to the worker's unblinded output.
    case matches
    /// Revealed and different from the worker's unblinded output.
    case differs
    /// Revealed the bad-input sentinel (its slot did not open to the input).
    case badInput
    /// The check record is gone: unknown.
    case unknown
}

/// One assignment of a checker to a sealed ticket (a `checkersAssigned` event naming it), with the check's state
/// as of `CheckerAssignments.Page.height`.
public struct CheckerAssignment: Sendable, Hashable {
    /// The sealed ticket.
    public var ticketId: Hash32
    /// Height of the block whose `checkersAssigned` event drew the checker.
    public var assignedHeight: UInt64
    /// The checker's position in the assignment (its slot of the envelope).
    public var slot: Int
    /// Checkers the ticket was assigned.
    public var checkerCount: Int
    /// The ticket's pool; nil once the ticket is pruned.
    public var pool: UInt32?
    /// The ticket's worker; nil once the ticket is pruned.
    public var worker: PublicKey?
    /// The ticket's status; nil once the ticket is pruned.
    public var ticketStatus: TicketStatus?
    /// The check's status, or why its record is gone.
    public var phase: AssignmentPhase
    /// Whether this checker committed an answer; nil when the record is gone.
    public var committed: Bool?
    /// The revealed answer (an output hash or `badInputAnswer`).
    public var answer: Hash32?
    /// How far the checker got with its answer.
    public var answerStatus: AnswerStatus
    /// Height of the sealed reveal; nil before it (or when the record is gone).
    public var revealHeight: UInt64?
    /// Last height of the commit phase (`r + A`); nil before the reveal.
    public var commitEndHeight: UInt64?
    /// Last height of the unblind phase (`r + A + U`); nil before the reveal.
    public var unblindEndHeight: UInt64?
    /// Last height of the reveal phase, where the check resolves (`r + A + U + V`); nil before the reveal.
    public var revealEndHeight: UInt64?
    /// Last height for the dispute key (or a published input); nil without a dispute.
    public var keyDeadline: UInt64?
    /// The worker's unblinded output hash.
    public var unblindedOutputHash: Hash32?
    /// What the checker has to do next.
    public var nextAction: CheckerAction

    /// An assignment with the given members (`derive` computes them from the records).
    public init(ticketId: Hash32, assignedHeight: UInt64, slot: Int, checkerCount: Int, pool: UInt32? = nil, worker: PublicKey? = nil,
                ticketStatus: TicketStatus? = nil, phase: AssignmentPhase, committed: Bool? = nil, answer: Hash32? = nil,
                answerStatus: AnswerStatus = .unknown, revealHeight: UInt64? = nil, commitEndHeight: UInt64? = nil,
                unblindEndHeight: UInt64? = nil, revealEndHeight: UInt64? = nil, keyDeadline: UInt64? = nil,
                unblindedOutputHash: Hash32? = nil, nextAction: CheckerAction = .none) {
        self.ticketId = ticketId; self.assignedHeight = assignedHeight; self.slot = slot; self.checkerCount = checkerCount
        self.pool = pool; self.worker = worker; self.ticketStatus = ticketStatus; self.phase = phase; self.committed = committed
        self.answer = answer; self.answerStatus = answerStatus; self.revealHeight = revealHeight; self.commitEndHeight = commitEndHeight
        self.unblindEndHeight = unblindEndHeight; self.revealEndHeight = revealEndHeight; self.keyDeadline = keyDeadline
        self.unblindedOutputHash = unblindedOutputHash; self.nextAction = nextAction
    }

    /// Whether the checker still owes an action (now or later).
    public var isPending: Bool { nextAction != .none }

    /// Derives an assignment's state from the ledger records as of height `tip` (actions are judged for a
    /// transaction in block `tip + 1`, the next one).
    ///
    /// - Parameters:
    ///   - checker: the assigned checker.
    ///   - slot: its index in the `checkersAssigned` event (the assignment order).
    ///   - ticket: the ticket record, nil when pruned.
    ///   - check: the ticket's check record, nil when gone.
    ///   - checking: the ticket's pool's checker parameters (nil when the ticket is gone).
    public static func derive(ticketId: Hash32, assignedHeight: UInt64, checker: PublicKey, slot: Int, checkerCount: Int,
                              ticket: Ticket?, check: SealedCheck?, checking: CheckingConfig?, tip: UInt64,
                              inputPublished: Bool = false) -> CheckerAssignment {
        var a = CheckerAssignment(ticketId: ticketId, assignedHeight: assignedHeight, slot: slot, checkerCount: checkerCount,
                                  pool: ticket?.pool, worker: ticket?.worker, ticketStatus: ticket?.status,
                                  phase: ticket == nil ? .settled : .cancelled)
        guard let check, let cfg = checking else { return a }
        a.phase = .check(check.status)
        // The record is authoritative for the slot (assignment order); the event's index is the fallback.
        if let i = check.slots.firstIndex(where: { $0.checker == checker }) { a.slot = i }
        guard a.slot < check.slots.count, check.slots[a.slot].checker == checker else { return a }
        let s = check.slots[a.slot]
        a.committed = s.commitment != .zero
        a.answer = s.answer
        a.unblindedOutputHash = check.unblinded
        if check.revealHeight != 0 {
            let r = check.revealHeight
            a.revealHeight = r
            a.commitEndHeight = r &+ cfg.answerCommitBlocks
            a.unblindEndHeight = r &+ cfg.answerCommitBlocks &+ cfg.unblindBlocks
            a.revealEndHeight = r &+ cfg.resolutionDelay
        }
        a.keyDeadline = check.keyDeadline == 0 ? nil : check.keyDeadline
        if s.commitment == .zero {
            a.answerStatus = .notCommitted
        } else if let answer = s.answer {
            if answer == badInputAnswer {
                a.answerStatus = .badInput
            } else if let out = check.unblinded {
                a.answerStatus = answer == out ? .matches : .differs
            } else {
                a.answerStatus = .revealed
            }
        } else {
            a.answerStatus = .committed
        }
        let next = tip &+ 1
        switch check.status {
        case .assigned:
            a.nextAction = ticket?.status == .awaitingReveal ? .wait : .none
        case .checking:
            let commitEnd = check.revealHeight &+ cfg.answerCommitBlocks
            let revealEnd = check.revealHeight &+ cfg.resolutionDelay
            if s.commitment == .zero {
                a.nextAction = next > check.revealHeight && next <= commitEnd ? .commit : .none
            } else if s.answer != nil {
                a.nextAction = .none
            } else if next <= commitEnd {
                a.nextAction = .wait
            } else {
                a.nextAction = next <= revealEnd ? .reveal : .none
            }
        case .disputed:
            // A bad-input answer too (tenth review): the checker may hold an input that opened and that the replay
            // finds invalid, and only its publication slashes colluders that attested the pass. Whether the slot opens
            // is the checker's to judge. Once an input is published (a pending case) there is nothing left to send.
            if let answer = s.answer, answer != check.unblinded, next <= check.keyDeadline, !inputPublished {
                a.nextAction = .publishInput
            } else {
                a.nextAction = .none
            }
        case .passed, .replaying, .fraud, .upheld, .failed:
            a.nextAction = .none
        }
        return a
    }
}

/// `checker_getAssignments` (Specs/rpc.md §7.2): a checker's assignments, found through the per-address event index
/// (every `checkersAssigned` event is indexed under each checker it names), newest first, with each check's state.
public enum CheckerAssignments {
    /// One page.
    public struct Page: Sendable {
        /// The assignments, newest first.
        public var items: [CheckerAssignment]
        /// Pass back for the next page; nil at the end.
        public var nextCursor: AddressEventCursor?
        /// The tip height the states were read at.
        public var height: UInt64
    }

    /// Why a page could not be read: stored data that contradicts itself.
    public struct Fault: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Blocks from an assignment after which its checker can owe nothing: the worker's reveal deadline, the commit,
    /// unblind and reveal phases, and a dispute's key window (the longest of `pools`' with checkers).
    public static func openSpan(_ pools: [PoolConfig]) -> UInt64 {
        pools.compactMap { p in p.checking.map { p.revealDeadlineBlocks &+ $0.resolutionDelay &+ $0.disputeInputBlocks &+ 1 } }.max() ?? 0
    }

    /// Reads a page of `checker`'s assignments from one snapshot, newest first, strictly after `cursor`.
    ///
    /// Reads at most `scanLimit` index entries: with `pool` or `pendingOnly` a page may hold fewer than `limit`
    /// items and still have a next cursor. `pendingOnly` keeps the assignments whose `nextAction` is not `none`, and
    /// only looks at assignments recent enough to be open (`openSpan` blocks), so it costs O(open assignments).
    /// With `pool`, assignments whose ticket is pruned (pool unknown) are left out.
    ///
    /// Decodes the receipts of at most `blockLimit` distinct blocks: a filter that skips most entries (a `pool`
    /// whose assignments are settled) would otherwise decode up to `scanLimit` blocks' receipts for one page. The
    /// page then ends short, its cursor after the last entry of the blocks it read.
    public static func page(_ view: ReadView, checker: PublicKey, pool: UInt32?, pendingOnly: Bool, after cursor: AddressEventCursor?,
                            limit: Int, scanLimit: Int = RPCLimits.historyScanEntries,
                            blockLimit: Int = RPCLimits.assignmentBlocksPerPage) throws -> Page {
        guard let tip = try view.tip()?.height else { throw Fault(description: "no tip") }
        let reader = LedgerReader(view)
        // Nodes before the checker events had names stored them (tags 35-48) under kind `UInt16.max`: both that and
        // the proper code are read, and the events themselves are told apart below.
        var kinds: Set<UInt16> = [UInt16.max]
        if let code = Event.kindCode(named: "checkersAssigned") { kinds.insert(code) }
        var filter = AddressEventFilter(kinds: kinds)
        var pools = [UInt32: PoolConfig]()
        if pendingOnly {
            let relevant = try pool.map { id in try reader.pool(id).map { [$0] } ?? [] } ?? reader.pools()
            let span = openSpan(relevant)
            filter.fromHeight = tip > span ? tip - span : 0
        }
        guard limit > 0 else { return Page(items: [], nextCursor: nil, height: tip) }
        let entries = try view.addressEvents(checker.rawValue, after: cursor, filter: filter, limit: max(scanLimit, limit), order: .descending,
                                             scanLimit: scanLimit)
        var blocks = [UInt64: [Receipt]]()
        var items = [CheckerAssignment]()
        for (n, entry) in entries.items.enumerated() {
            let receipts: [Receipt]
            if let r = blocks[entry.height] {
                receipts = r
            } else {
                // Entries are in block order, so the blocks read so far are done: resume after the previous entry.
                if blocks.count >= max(1, blockLimit), n > 0 {
                    return Page(items: items, nextCursor: entries.items[n - 1].cursor, height: tip)
                }
                guard let hash = try view.canonicalHash(at: entry.height), let bytes = try view.receipts(hash) else {
                    throw Fault(description: "address event index names block \(entry.height), whose receipts this node lacks")
                }
                receipts = try ChainEngine.decodeReceipts(bytes)
                blocks[entry.height] = receipts
            }
            guard Int(entry.receipt) < receipts.count, Int(entry.event) < receipts[Int(entry.receipt)].events.count else {
                throw Fault(description: "address event index names receipt \(entry.receipt) event \(entry.event) of block \(entry.height), which it lacks")
            }
            // Another checker event of this checker (a commit, a reveal, a fee…).
            guard case .checkersAssigned(let ticketId, let checkers) = receipts[Int(entry.receipt)].events[Int(entry.event)] else { continue }
            guard let slot = checkers.firstIndex(of: checker) else {
                throw Fault(description: "address event index lists an assignment at \(entry.height)/\(entry.receipt)/\(entry.event) that does not name \(checker.hex)")
            }
            let ticket = try reader.ticket(ticketId)
            if let pool, ticket?.pool != pool { continue }
            var checking: CheckingConfig?
            if let t = ticket {
                if pools[t.pool] == nil { pools[t.pool] = try reader.pool(t.pool) }
                checking = pools[t.pool]?.checking
            }
            let check = ticket == nil ? nil : try reader.sealedCheck(ticketId)
            // A disputed ticket with a case already holds a published input (the replay waits for the key deadline).
            let inputPublished = check?.status == .disputed ? try reader.fraudCase(ticketId) != nil : false
            let a = CheckerAssignment.derive(ticketId: ticketId, assignedHeight: entry.height, checker: checker, slot: slot,
                                             checkerCount: checkers.count, ticket: ticket,
                                             check: check, checking: checking, tip: tip,
                                             inputPublished: inputPublished)
            if pendingOnly && !a.isPending { continue }
            items.append(a)
            if items.count == limit {
                let more = n < entries.items.count - 1 || entries.nextCursor != nil
                return Page(items: items, nextCursor: more ? entry.cursor : nil, height: tip)
            }
        }
        return Page(items: items, nextCursor: entries.nextCursor, height: tip)
    }
}

import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `checker_*`: what an assigned checker has to do (Specs/rpc.md §7.2).
    func addCheckerMethods(to m: inout MethodTable) {
        let r = render
        m.add("checker_getAssignments", [ParamSpec("address"), .optional("pool"), .optional("pending"), .optional("limit"),
                                         .optional("cursor")]) { p, _ in
            let key = try p.required("address", p.address)
            let pool = try p.uint32("pool")
            let pending = try p.bool("pending") ?? false
            let limit = try p.limit()
            let cursor = try self.cursor(p, length: 16).flatMap(AddressEventCursor.init(bytes:))
            let view = try self.view()
            if let pool, try LedgerReader(view).pool(pool) == nil { throw RPCError.notFound("pool", .int(UInt64(pool))) }
            let page: CheckerAssignments.Page
            do {
                page = try CheckerAssignments.page(view, checker: key, pool: pool, pendingOnly: pending, after: cursor, limit: limit)
            } catch let e as CheckerAssignments.Fault {
                throw StorageFault(e.description)
            }
            guard case .object(var o) = self.page(page.items.map(r.checkerAssignment), next: page.nextCursor?.bytes) else {
                throw RPCError.internalError
            }
            o["height"] = .int(page.height)
            return .object(o)
        }
    }
}

extension Render {
    /// One item of `checker_getAssignments`.
    public func checkerAssignment(_ a: CheckerAssignment) -> JSON {
        func opt(_ v: UInt64?) -> JSON { v.map { .int($0) } ?? .null }
        return .object([
            "ticketId": hash(a.ticketId), "assignedHeight": .int(a.assignedHeight), "slot": .int(UInt64(a.slot)),
            "checkerCount": .int(UInt64(a.checkerCount)), "pool": a.pool.map { .int(UInt64($0)) } ?? .null,
            "worker": a.worker.map(address) ?? .null,
            "ticketStatus": a.ticketStatus.map { .string(Render.ticketStatusName($0)) } ?? .null,
            "phase": .string(a.phase.name), "committed": a.committed.map { .bool($0) } ?? .null,
            "revealed": a.committed == nil ? .null : .bool(a.answer != nil),
            "answer": a.answer.map(hash) ?? .null, "answerStatus": .string(a.answerStatus.rawValue),
            "revealHeight": opt(a.revealHeight), "commitEndHeight": opt(a.commitEndHeight), "unblindEndHeight": opt(a.unblindEndHeight),
            "revealEndHeight": opt(a.revealEndHeight), "keyDeadline": opt(a.keyDeadline),
            "unblindedOutputHash": a.unblindedOutputHash.map(hash) ?? .null, "nextAction": .string(a.nextAction.rawValue),
        ])
    }
}

extension CheckerAssignment {
    /// Why an answer of `checker_getAssignments` could not be read back.
    public struct DecodingError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Parses one item of `checker_getAssignments` (what `Render.checkerAssignment` writes); `worker` is read as
    /// given by `key` (the caller knows the node's address format).
    public init(json j: JSON, key: (String) -> PublicKey?) throws(DecodingError) {
        func fail(_ what: String) -> DecodingError { DecodingError(description: "checker assignment: '\(what)' is missing or malformed") }
        func u64(_ k: String) throws(DecodingError) -> UInt64 {
            switch j[k] {
            case .number(let n)?: if let v = UInt64(n) { return v }
            case .string(let s)?: if let v = UInt64(s) { return v }
            default: break
            }
            throw fail(k)
        }
        func optU64(_ k: String) throws(DecodingError) -> UInt64? {
            if j[k] == nil || j[k] == .null { return nil }
            return try u64(k)
        }
        func hash(_ k: String) throws(DecodingError) -> Hash32 {
            guard let s = j[k]?.string, let h = try? Hash32(hex: s) else { throw fail(k) }
            return h
        }
        func optHash(_ k: String) throws(DecodingError) -> Hash32? {
            if j[k] == nil || j[k] == .null { return nil }
            return try hash(k)
        }
        guard let phaseName = j["phase"]?.string, let phase = AssignmentPhase(name: phaseName) else { throw fail("phase") }
        guard let actionName = j["nextAction"]?.string, let action = CheckerAction(rawValue: actionName) else { throw fail("nextAction") }
        guard let answerName = j["answerStatus"]?.string, let answerStatus = AnswerStatus(rawValue: answerName) else {
            throw fail("answerStatus")
        }
        var ticketStatus: TicketStatus?
        if let s = j["ticketStatus"]?.string {
            guard let st = TicketStatus.allCases.first(where: { Render.ticketStatusName($0) == s }) else { throw fail("ticketStatus") }
            ticketStatus = st
        }
        var committed: Bool?
        if case .bool(let b)? = j["committed"] { committed = b }
        var worker: PublicKey?
        if let s = j["worker"]?.string {
            guard let k = key(s) else { throw fail("worker") }
            worker = k
        }
        let pool = try optU64("pool")
        guard pool.map({ $0 <= UInt64(UInt32.max) }) ?? true else { throw fail("pool") }
        self.init(ticketId: try hash("ticketId"), assignedHeight: try u64("assignedHeight"), slot: Int(clamping: try u64("slot")),
                  checkerCount: Int(clamping: try u64("checkerCount")), pool: pool.map { UInt32($0) }, worker: worker,
                  ticketStatus: ticketStatus, phase: phase, committed: committed, answer: try optHash("answer"),
                  answerStatus: answerStatus, revealHeight: try optU64("revealHeight"), commitEndHeight: try optU64("commitEndHeight"),
                  unblindEndHeight: try optU64("unblindEndHeight"), revealEndHeight: try optU64("revealEndHeight"),
                  keyDeadline: try optU64("keyDeadline"), unblindedOutputHash: try optHash("unblindedOutputHash"), nextAction: action)
    }
}

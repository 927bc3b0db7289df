import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `ticket_*`, `commitment_get` and `proof_*`: spot-check tickets, share commitments and fraud proofs.
    func addTicketMethods(to m: inout MethodTable) {
        let r = render
        m.add("ticket_get", [ParamSpec("ticketId"), .optional("block")]) { p, _ in
            let id = try p.required("ticketId", p.hash)
            let view = try self.view()
            let reader = LedgerReader(try self.state(p, view).reader)
            guard let t = try reader.ticket(id) else { throw RPCError.notFound("ticket", r.hash(id)) }
            var o = r.ticket(id, t)
            // The input is not kept in state: it is read from the reveal transaction's body (verifiers replay it, and
            // a fraud claim re-supplies it).
            if let input = try self.revealedInput(view, t) {
                o["input"] = .hex(input)
                o["inputAvailable"] = .bool(true)
            } else {
                o["input"] = .null
                o["inputAvailable"] = .bool(false)
            }
            // A ticket exists only once its commitment is drawn.
            o["commitment"] = try reader.commitment(t.commitmentId).map { r.commitment(t.commitmentId, $0, drawn: true) } ?? .null
            o["fraudCase"] = try reader.fraudCase(id).map(r.fraudCase) ?? .null
            // Pools with checkers: the assignment, the answers and the outcome; while the check runs, the envelope
            // (ciphertext only its checkers can open).
            o["check"] = try reader.sealedCheck(id).map(r.sealedCheck) ?? .null
            o["sealedInput"] = try reader.sealedInput(id).map { .hex($0) } ?? .null
            return .object(o)
        }
        m.add("commitment_get", [ParamSpec("commitmentId"), .optional("block")]) { p, _ in
            let id = try p.required("commitmentId", p.hash)
            let reader = LedgerReader(try self.state(p))
            guard let c = try reader.commitment(id) else { throw RPCError.notFound("commitment", r.hash(id)) }
            guard case .object(var o) = r.commitment(id, c, drawn: try reader.isDrawn(c)) else { throw RPCError.internalError }
            // The passes the beacon selected (empty until the selection height), for workers and explorers.
            o["tickets"] = .array(try reader.tickets(commitment: id).map {
                .object(["sample": .int(UInt64($0.sample)), "ticketId": r.hash($0.id)])
            })
            return .object(o)
        }
        m.add("ticket_list", [ParamSpec("status"), .optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let names = TicketStatus.allCases.map(Render.ticketStatusName) + ["open", "adjudicated"]
            let name = try p.required("status") { (n: String) throws(RPCError) -> String? in try p.choice(n, names) }
            let statuses: [TicketStatus]
            switch name {
            case "open": statuses = [.awaitingReveal]
            case "adjudicated": statuses = [.fraudProven, .upheld]
            default: statuses = TicketStatus.allCases.filter { Render.ticketStatusName($0) == name }
            }
            let limit = try p.limit()
            let cursor = try self.cursor(p, prefixes: [StateKey.tickets], length: 1 + 32)
            // A filtered scan (the chain keeps no index by status): a page may hold fewer than `limit` tickets and
            // still have a next cursor.
            let page = try LedgerReader(try self.state(p)).tickets(statuses: Set(statuses), cursor: cursor, limit: limit)
            return self.page(page.items.map { .object(r.ticket($0.0, $0.1)) }, next: page.nextCursor)
        }
        m.add("proof_list", [.optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let limit = try p.limit()
            let prefix = [StateKey.Prefix.fraudCase.rawValue]
            let cursor = try self.cursor(p, prefixes: [prefix], length: 33)
            let page = try LedgerReader(try self.state(p)).fraudCases(cursor: cursor, limit: limit)
            return self.page(page.items.map(r.fraudCase), next: page.nextCursor)
        }
        m.add("proof_get", [ParamSpec("ticketId"), .optional("block")]) { p, _ in
            let id = try p.required("ticketId", p.hash)
            guard let f = try LedgerReader(try self.state(p)).fraudCase(id) else { throw RPCError.notFound("fraud proof", r.hash(id)) }
            return r.fraudCase(f)
        }
    }
}

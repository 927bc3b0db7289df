import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `escrow_*`: client escrows and their allocations.
    func addEscrowMethods(to m: inout MethodTable) {
        let r = render
        m.add("escrow_get", [ParamSpec("escrowId"), .optional("block")]) { p, _ in
            let id = try p.required("escrowId", p.hash)
            let reader = LedgerReader(try self.state(p))
            guard let e = try reader.escrow(id) else { throw RPCError.notFound("escrow", r.hash(id)) }
            guard case .object(var o) = r.escrow(id, e) else { throw RPCError.internalError }
            o["allocations"] = .array(try reader.allocations(id).map { payee, a in
                .object(["payee": r.address(payee), "remaining": r.amount(a.remaining), "charged": r.amount(a.charged)])
            })
            return .object(o)
        }
        m.add("escrow_list", [ParamSpec("owner"), .optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let owner = try p.required("owner", p.address)
            let limit = try p.limit()
            let prefix = StateKey.escrows(owner: owner)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let page = try LedgerReader(try self.state(p)).escrows(owner: owner, cursor: cursor, limit: limit)
            return self.page(page.items.map { r.escrow($0.0, $0.1) }, next: page.nextCursor)
        }
    }
}

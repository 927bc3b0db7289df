import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `sub_*`: subscriptions over the WebSocket transport.
    func addSubscriptionMethods(to m: inout MethodTable) {
        m.add("sub_subscribe", [ParamSpec("kind"), .optional("filter")]) { p, c in
            let kind = try p.required("kind") { (n: String) throws(RPCError) -> SubscriptionKind? in
                try p.choice(n, SubscriptionKind.allCases.map(\.rawValue)).flatMap(SubscriptionKind.init(rawValue:))
            }
            let filter = try SubscriptionFilter(p.raw("filter"), kind: kind, hrp: self.hrp)
            guard c.transport == .webSocket, let session = c.session else { throw RPCError.unsupportedTransport("sub_subscribe") }
            return .string(try session.subscribe(kind, filter: filter))
        }
        m.add("sub_unsubscribe", [ParamSpec("subscription")]) { p, c in
            let id = try p.required("subscription", p.string)
            guard c.transport == .webSocket, let session = c.session else { throw RPCError.unsupportedTransport("sub_unsubscribe") }
            return .bool(session.unsubscribe(id))
        }
    }
}

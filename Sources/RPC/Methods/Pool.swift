import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `pool_*`: model pools, their shards and workers.
    func addPoolMethods(to m: inout MethodTable) {
        let r = render
        m.add("pool_list", [.optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let limit = try p.limit()
            let prefix = [StateKey.Prefix.pool.rawValue]
            let cursor = try self.cursor(p, prefixes: [prefix], length: 5)
            let (entries, next) = try self.scanPage(try self.state(p), prefixes: [prefix], cursor: cursor, limit: limit)
            let delay = self.genesis.ledger.selectionDelayBound
            return self.page(try entries.map { r.pool(try PoolConfig(canonicalEncoding: $0.value), beaconDelay: delay) }, next: next)
        }
        m.add("pool_get", [ParamSpec("pool"), .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            guard let pool = try LedgerReader(try self.state(p)).pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            return r.pool(pool, beaconDelay: self.genesis.ledger.selectionDelayBound)
        }
    }
}

import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `mempool_*` and `net_*`: pending transactions and connected peers.
    func addMempoolMethods(to m: inout MethodTable) {
        let r = render
        m.add("mempool_status") { _, _ in
            let s = await self.chain.status()
            return .object(["transactions": .int(s.mempoolTransactions), "bytes": .int(s.mempoolBytes)])
        }
        m.add("mempool_content", [.optional("sender"), .optional("limit"), .optional("cursor")]) { p, _ in
            let sender = try p.address("sender")
            let limit = try p.limit()
            let cursor = try self.cursor(p, length: 40)
            // Ordered by sender key, then nonce; the cursor is the last (sender ‖ nonce) returned. One page costs the
            // page, not a pass over the pool (the chain actor's time is the node's: imports and production wait for it).
            let after = cursor.flatMap { c in PublicKey(bytes: c.prefix(32)).map { (sender: $0, nonce: UInt64(bigEndianBytes: c.dropFirst(32))) } }
            let (items, more) = await self.chain.mempoolPage(sender: sender, after: after, limit: limit)
            func key(_ t: SignedTransaction) -> [UInt8] { t.transaction.sender.bytes + t.transaction.nonce.bigEndianBytes }
            return self.page(items.map(r.transactionSummary), next: more ? items.last.map(key) : nil)
        }
        m.add("net_peers") { _, _ in
            .array(await self.network.peers().map { peer in
                .object(["nodeId": .string(peer.nodeId), "address": .string(peer.address), "inbound": .bool(peer.inbound),
                         "height": peer.height.map { .int($0) } ?? .null, "score": peer.score.map { .int($0) } ?? .null,
                         "addressGroup": peer.addressGroup.map { .string($0) } ?? .null, "banned": .bool(peer.banned),
                         "encryption": peer.encryption.map { .string($0) } ?? .null])
            })
        }
        m.add("net_peerCount") { _, _ in .int(await self.network.peers().count) }
    }
}

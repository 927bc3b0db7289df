import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `chain_*`: blocks, headers and receipts of the stored chain.
    func addChainMethods(to m: inout MethodTable) {
        let r = render
        m.add("chain_blockNumber") { _, _ in .int(try self.tipHeight(self.latest)) }
        m.add("chain_getFinality") { _, _ in
            let f = try await self.chain.finality()
            func checkpoint(_ c: Checkpoint) -> JSON { .object(["height": .int(c.height), "hash": r.hash(c.hash)]) }
            return .object([
                "justified": checkpoint(f.justified), "finalized": checkpoint(f.finalized), "safeHeight": .int(f.safeHeight),
                "tipHeight": .int(f.tipHeight), "totalStake": .decimal(f.totalStake),
                "checkpointBlocks": .int(self.genesis.ledger.checkpointBlocks),
                "pending": .array(f.pending.map { t in
                    .object(["targetHeight": .int(t.targetHeight), "stake": .decimal(t.stake), "votes": .int(UInt64(t.votes))])
                }),
            ])
        }
        m.add("chain_getBlockByNumber", [ParamSpec("block"), .optional("fullTransactions")]) { p, _ in
            let view = self.latest
            let (hash, height) = try self.resolve(try p.required("block", p.block), view)
            return try self.renderBlock(view, hash, height: height, canonical: true, full: try p.bool("fullTransactions") ?? false)
        }
        m.add("chain_getBlockByHash", [ParamSpec("hash"), .optional("fullTransactions")]) { p, _ in
            let view = self.latest
            let hash = try p.required("hash", p.hash)
            guard let info = try view.blockInfo(hash) else { throw RPCError.notFound("block", r.hash(hash)) }
            return try self.renderBlock(view, hash, height: info.height, canonical: nil, full: try p.bool("fullTransactions") ?? false)
        }
        m.add("chain_getHeaders", [ParamSpec("from"), .optional("count")]) { p, _ in
            let from = try p.required("from", p.uint64)
            let count = try self.count(p, default: 10)
            let view = try self.view()
            let tip = try self.tipHeight(view)
            var out = [JSON]()
            var h = from
            while out.count < count, h <= tip, let hash = try view.canonicalHash(at: h) {
                out.append(.object(r.header(try self.header(view, hash))))
                h += 1
            }
            return .array(out)
        }
        m.add("chain_getBlockReceipts", [ParamSpec("block")]) { p, _ in
            let view = try self.view()
            let hash: Hash32
            if case .string(let s)? = p.raw("block"), s.hasPrefix("0x") {
                hash = try p.required("block", p.hash)
                guard try view.blockInfo(hash) != nil else { throw RPCError.notFound("block", r.hash(hash)) }
            } else {
                hash = try self.resolve(try p.required("block", p.block), view).hash
            }
            let h = try self.header(view, hash)
            let receipts = try self.receipts(view, hash)
            return .object(["blockHash": r.hash(hash), "blockHeight": .int(h.header.height),
                            "receipts": .array(receipts.enumerated().map { r.receipt($1, index: $0, blockHash: hash, height: h.header.height) })])
        }
    }
}

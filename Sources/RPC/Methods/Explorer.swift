import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// Explorer methods (Specs/rpc.md "explorers"): everything a block did, and every event that touched an
    /// address, cursor-paged and filtered.
    func addExplorerMethods(to m: inout MethodTable) {
        let r = render
        m.add("chain_getBlockResults", [ParamSpec("block")]) { p, _ in
            let view = try self.view()
            let hash: Hash32
            let height: UInt64
            if case .string(let s)? = p.raw("block"), s.hasPrefix("0x") {
                hash = try p.required("block", p.hash)
                guard let info = try view.blockInfo(hash) else { throw RPCError.notFound("block", r.hash(hash)) }
                height = info.height
            } else {
                (hash, height) = try self.resolve(try p.required("block", p.block), view)
            }
            // Receipts exist for canonical blocks only (`receipts` answers -32004 for a side block).
            let receipts = try self.receipts(view, hash)
            let h = try self.header(view, hash)
            let (txs, _) = try self.transactions(view, hash)
            let finalized = height <= (try view.finalizedHeight() ?? 0)
            let eventCount = receipts.reduce(0) { $0 + $1.events.count }
            return .object([
                "blockHash": r.hash(hash), "blockHeight": .int(height), "slot": .int(h.header.slot),
                "timestamp": .int(h.header.timestamp), "proposer": r.address(h.header.proposer), "finalized": .bool(finalized),
                "transactionCount": .int(txs.count), "eventCount": .int(eventCount),
                "transactions": .array(txs.map(r.transactionSummary)),
                "receipts": .array(receipts.enumerated().map { r.receipt($1, index: $0, blockHash: hash, height: height) }),
            ])
        }
        m.add("account_getHistory", [ParamSpec("address"), .optional("kinds"), .optional("pool"), .optional("worker"),
                                     .optional("fromHeight"), .optional("toHeight"), .optional("limit"), .optional("cursor"),
                                     .optional("order")]) { p, _ in
            let key = try p.required("address", p.address)
            var filter = AddressEventFilter()
            if let raw = p.raw("kinds") {
                guard case .array(let names) = raw else { throw p.wrongType("kinds", "an array of event types", raw) }
                guard !names.isEmpty else { throw p.invalid("kinds", "must name at least one event type (omit it for all)") }
                guard names.count <= Event.kindNames.count else {
                    throw RPCError.limitExceeded("kinds", maximum: Event.kindNames.count, requested: names.count)
                }
                var codes = Set<UInt16>()
                for n in names {
                    guard case .string(let s) = n else { throw p.wrongType("kinds", "an array of event type strings", n) }
                    guard let code = Event.kindCode(named: s) else {
                        throw p.invalid("kinds", "holds an unknown event type \"\(s.prefix(40))\"")
                    }
                    codes.insert(code)
                }
                filter.kinds = codes
            }
            filter.pool = try p.uint32("pool")
            filter.worker = try p.address("worker")?.rawValue
            filter.fromHeight = try p.uint64("fromHeight")
            filter.toHeight = try p.uint64("toHeight")
            if let from = filter.fromHeight, let to = filter.toHeight, from > to {
                throw p.invalid("toHeight", "must not be below fromHeight")
            }
            let limit = try p.limit()
            let order: ScanOrder = try p.choice("order", ["asc", "desc"]) == "asc" ? .ascending : .descending
            let cursor = try self.cursor(p, length: 16).flatMap(AddressEventCursor.init(bytes:))
            let view = try self.view()
            let page = try view.addressEvents(key.rawValue, after: cursor, filter: filter, limit: limit, order: order,
                                              scanLimit: RPCLimits.historyScanEntries)
            // The events themselves come from the blocks' receipts (one decode per block of the page).
            var blocks = [UInt64: (Hash32, [Receipt])]()
            var items = [JSON]()
            items.reserveCapacity(page.items.count)
            for item in page.items {
                let block: (Hash32, [Receipt])
                if let b = blocks[item.height] {
                    block = b
                } else {
                    guard let hash = try view.canonicalHash(at: item.height) else { throw StorageFault("no canonical block at \(item.height)") }
                    block = (hash, try self.receipts(view, hash))
                    blocks[item.height] = block
                }
                let (hash, receipts) = block
                guard Int(item.receipt) < receipts.count, Int(item.event) < receipts[Int(item.receipt)].events.count else {
                    throw StorageFault("address event index names receipt \(item.receipt) event \(item.event) of block \(hash), which it lacks")
                }
                let event = receipts[Int(item.receipt)].events[Int(item.event)]
                items.append(.object([
                    "blockHeight": .int(item.height), "blockHash": r.hash(hash), "receiptIndex": .int(UInt64(item.receipt)),
                    "eventIndex": .int(UInt64(item.event)), "transactionHash": item.txHash.map(r.hash) ?? .null,
                    "pool": item.pool.map { .int(UInt64($0)) } ?? .null,
                    "worker": item.worker.map { r.address(PublicKey(rawValue: $0)) } ?? .null,
                    "event": r.event(event),
                ]))
            }
            return self.page(items, next: page.nextCursor?.bytes)
        }
    }
}

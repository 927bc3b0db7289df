import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `window_*` and `share_list`: settlement windows and the shares committed in them.
    func addWindowMethods(to m: inout MethodTable) {
        let r = render
        m.add("window_get", [ParamSpec("pool"), ParamSpec("window"), .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let w = try p.required("window", p.uint64)
            let reader = LedgerReader(try self.state(p))
            guard let pool = try reader.pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            guard let rec = try reader.window(id, w) else {
                throw RPCError.notFound("window", .object(["pool": .int(UInt64(id)), "window": .int(w)]))
            }
            return r.window(pool: pool, index: w, beaconDelay: self.genesis.ledger.selectionDelayBound, rec)
        }
        m.add("window_list", [ParamSpec("pool"), .optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let limit = try p.limit()
            let prefix = StateKey.windows(id)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 8)
            let reader = LedgerReader(try self.state(p))
            guard let pool = try reader.pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            let page = try reader.windows(id, cursor: cursor, limit: limit)
            let delay = self.genesis.ledger.selectionDelayBound
            return self.page(page.items.map { r.window(pool: pool, index: $0.0, beaconDelay: delay, $0.1) }, next: page.nextCursor)
        }
        m.add("window_getPayouts", [ParamSpec("pool"), ParamSpec("window"), .optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let w = try p.required("window", p.uint64)
            let limit = try p.limit()
            let prefix = StateKey.payouts(id, w)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let state = try self.state(p)
            guard let rec = try LedgerReader(state).window(id, w) else {
                throw RPCError.notFound("window", .object(["pool": .int(UInt64(id)), "window": .int(w)]))
            }
            let (entries, next) = try self.scanPage(state, prefixes: [prefix], cursor: cursor, limit: limit)
            var out = try self.page(entries.map { kv -> JSON in
                guard let k = PublicKey(bytes: kv.key.suffix(32)) else { throw StorageFault("corrupt payout key") }
                let rec = try PayoutRecord(canonicalEncoding: kv.value)
                return .object(["worker": r.address(k), "paid": r.amount(rec.paid), "refunded": r.amount(rec.refunded),
                                "height": .int(rec.height), "encoded": .hex(rec.canonicalEncoding)])
            }, next: next).object ?? [:]
            out["windowStatus"] = .string(r.windowStatus(rec.status))
            return .object(out)
        }
        m.add("hop_list", [ParamSpec("pool"), ParamSpec("window"), ParamSpec("worker"), .optional("limit"), .optional("cursor"),
                           .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let w = try p.required("window", p.uint64)
            let worker = try p.required("worker", p.address)
            let limit = try p.limit()
            let prefix = StateKey.hopChallenges(id, w, worker)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let state = try self.state(p)
            guard try LedgerReader(state).pool(id) != nil else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            let (entries, next) = try self.scanPage(state, prefixes: [prefix], cursor: cursor, limit: limit)
            return try self.page(entries.map { kv -> JSON in
                guard let challenge = Hash32(bytes: kv.key.suffix(32)) else { throw StorageFault("corrupt hop challenge key") }
                return r.hopChallenge(pool: id, window: w, worker: worker, id: challenge, try HopChallenge(canonicalEncoding: kv.value))
            }, next: next)
        }
        m.add("share_list", [ParamSpec("pool"), .optional("window"), .optional("worker"), .optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let limit = try p.limit()
            let window = try p.uint64("window")
            let worker = try p.address("worker")
            let reader = LedgerReader(try self.state(p))
            guard try reader.pool(id) != nil else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            func tally(_ w: UInt64, _ k: PublicKey, _ t: WorkRecord) throws -> JSON {
                guard case .object(var o) = r.work(k, t) else { throw RPCError.internalError }
                o["pool"] = .int(UInt64(id)); o["window"] = .int(w)
                o["commitmentIds"] = .array(try reader.commitments(id, window: w, worker: k).map(r.hash))
                return .object(o)
            }
            switch (window, worker) {
            case (let w?, nil):
                let prefix = StateKey.workRecords(id, w)
                let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
                let page = try reader.work(id, window: w, cursor: cursor, limit: limit)
                return self.page(try page.items.map { try tally(w, $0.0, $0.1) }, next: page.nextCursor)
            case (nil, let k?):
                // By worker: walks the pool's windows (newest last); a page may hold fewer items than `limit`.
                let prefix = StateKey.windows(id)
                let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 8)
                let windows = try reader.windows(id, cursor: cursor, limit: limit)
                var items = [JSON]()
                for (w, _) in windows.items {
                    if let t = try reader.work(id, window: w, worker: k) { items.append(try tally(w, k, t)) }
                }
                return self.page(items, next: windows.nextCursor)
            case (let w?, let k?):
                guard p.raw("cursor") == nil else { throw RPCError.invalidParams("'cursor' is not used with both 'window' and 'worker'", param: "cursor") }
                let items = try reader.work(id, window: w, worker: k).map { [try tally(w, k, $0)] } ?? []
                return self.page(items, next: nil)
            case (nil, nil):
                throw RPCError.invalidParams("give 'window', 'worker' or both")
            }
        }
    }
}

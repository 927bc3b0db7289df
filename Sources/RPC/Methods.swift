import Consensus
import Ledger
import Primitives
import Storage

/// The methods (Specs/rpc.md, "Methods"). Every handler that reads chain or ledger data takes one snapshot
/// (`ReadView`) and reads everything from it, so a page or a block with its receipts is consistent.
extension RPCNode {
    func methods() -> [RPCMethod] {
        var m = [RPCMethod]()
        func add(_ name: String, _ params: [ParamSpec] = [], _ handler: @escaping @Sendable (Params, CallContext) async throws -> JSON) {
            m.append(RPCMethod(name: name, params: params, handler: handler))
        }
        let r = render

        // MARK: node_* and rpc.discover

        add("node_status") { _, _ in
            let s = await self.chain.status()
            async let syncing = self.network.isSyncing()
            async let peers = self.network.peers()
            return .object([
                "version": .string(self.config.nodeVersion), "chainName": .string(self.genesis.chainName),
                "chainId": r.hash(s.chainId), "genesisHash": r.hash(s.genesisHash), "height": .int(s.height),
                "tipHash": r.hash(s.tipHash), "slot": .int(s.slot), "timestamp": .int(s.timestamp),
                "finalizedHeight": .int(s.finalizedHeight), "syncing": .bool(await syncing), "peers": .int(await peers.count),
                "mempool": .object(["transactions": .int(s.mempoolTransactions), "bytes": .int(s.mempoolBytes)]),
            ])
        }
        add("node_version") { _, _ in .string(self.config.nodeVersion) }
        add("node_chainId") { _, _ in r.hash(self.genesis.chainId) }
        add("rpc.discover") { _, _ in try OpenRPC.document() }

        // MARK: chain_*

        add("chain_blockNumber") { _, _ in .int(try self.tipHeight(self.latest)) }
        add("chain_getBlockByNumber", [ParamSpec("block"), .optional("fullTransactions")]) { p, _ in
            let view = self.latest
            let (hash, height) = try self.resolve(try p.required("block", p.block), view)
            return try self.renderBlock(view, hash, height: height, canonical: true, full: try p.bool("fullTransactions") ?? false)
        }
        add("chain_getBlockByHash", [ParamSpec("hash"), .optional("fullTransactions")]) { p, _ in
            let view = self.latest
            let hash = try p.required("hash", p.hash)
            guard let info = try view.blockInfo(hash) else { throw RPCError.notFound("block", r.hash(hash)) }
            return try self.renderBlock(view, hash, height: info.height, canonical: nil, full: try p.bool("fullTransactions") ?? false)
        }
        add("chain_getHeaders", [ParamSpec("from"), .optional("count")]) { p, _ in
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
        add("chain_getBlockReceipts", [ParamSpec("block")]) { p, _ in
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

        // MARK: tx_*

        add("tx_getByHash", [ParamSpec("hash")]) { p, _ in
            let id = try p.required("hash", p.hash)
            let view = try self.view()
            if let loc = try view.transactionLocation(id), let found = try self.locate(view, loc, id) {
                let (tx, tip, finalized) = found
                var o = r.transaction(tx, location: .init(blockHash: loc.blockHash, height: loc.height, position: loc.position))
                o["status"] = "included"
                o["canonical"] = .bool(try view.isCanonical(loc.blockHash))
                o["confirmations"] = .int(tip >= loc.height ? tip - loc.height + 1 : 0)
                o["finalized"] = .bool(loc.height <= finalized)
                return .object(o)
            }
            if let tx = await self.chain.mempoolTransaction(id) {
                var o = r.transaction(tx, location: nil)
                o["status"] = "pending"
                o["blockHash"] = .null; o["blockHeight"] = .null; o["position"] = .null
                o["canonical"] = .bool(false); o["confirmations"] = .int(0); o["finalized"] = .bool(false)
                return .object(o)
            }
            throw RPCError.notFound("transaction", r.hash(id))
        }
        add("tx_getReceipt", [ParamSpec("hash")]) { p, _ in
            let id = try p.required("hash", p.hash)
            let view = try self.view()
            guard let loc = try view.transactionLocation(id) else {
                let pending = await self.chain.mempoolContains(id)
                throw RPCError(code: RPCError.notFoundCode, message: pending ? "receipt not found: transaction is pending" : "receipt not found",
                               data: .object(["what": "receipt", "key": r.hash(id), "pending": .bool(pending)]))
            }
            let receipts = try self.receipts(view, loc.blockHash)
            guard Int(loc.position) < receipts.count, receipts[Int(loc.position)].txId == id else {
                throw StorageFault("receipt \(loc.position) of \(loc.blockHash) is not \(id)")
            }
            let tip = try self.tipHeight(view)
            guard case .object(var o) = r.receipt(receipts[Int(loc.position)], index: Int(loc.position), blockHash: loc.blockHash, height: loc.height)
            else { throw StorageFault("receipt rendering") }
            o["confirmations"] = .int(tip >= loc.height ? tip - loc.height + 1 : 0)
            return .object(o)
        }
        add("tx_sendRaw", [ParamSpec("transaction")]) { p, _ in
            let max = self.genesis.ledger.maxTransactionBytes
            let bytes = try p.required("transaction") { (n: String) throws(RPCError) -> [UInt8]? in try p.bytes(n, maxBytes: max) }
            let tx: SignedTransaction
            do { tx = try SignedTransaction(canonicalEncoding: bytes) } catch {
                throw RPCError(code: RPCError.invalidParamsCode, message: "invalid params: 'transaction' is not a canonical signed transaction (\(error))",
                               data: .object(["param": "transaction", "reason": "malformed"]))
            }
            do { return r.hash(try await self.chain.submit(tx)) } catch let e as MempoolError { throw RPCError.rejected(e) }
        }
        add("tx_estimateFee", [.optional("transaction"), .optional("size")]) { p, _ in
            let size: Int
            if p.has("transaction") {
                guard !p.has("size") else { throw RPCError.invalidParams("give either 'transaction' or 'size', not both") }
                let bytes = try p.required("transaction") { (n: String) throws(RPCError) -> [UInt8]? in
                    try p.bytes(n, maxBytes: self.genesis.ledger.maxTransactionBytes)
                }
                do { size = try SignedTransaction(canonicalEncoding: bytes).encodedSize } catch {
                    throw RPCError.invalidParams("'transaction' is not a canonical signed transaction (\(error))", param: "transaction")
                }
            } else if let s = try p.uint64("size") {
                guard s <= UInt64(self.genesis.ledger.maxTransactionBytes) else {
                    throw RPCError.limitExceeded("transaction size", maximum: self.genesis.ledger.maxTransactionBytes, requested: Int(clamping: s))
                }
                size = Int(s)
            } else {
                throw RPCError.invalidParams("give 'transaction' (hex) or 'size' (bytes)")
            }
            let minimum = self.chain.ledger.minimumFee(size: size)
            let suggested = try await self.chain.suggestedFee(size: size)
            return .object(["size": .int(size), "minFeePerByte": .decimal(self.genesis.ledger.minFeePerByte),
                            "minimumFee": r.amount(minimum), "suggestedFee": r.amount(suggested)])
        }

        // MARK: account_*

        add("account_get", [ParamSpec("address")]) { p, _ in
            let key = try p.required("address", p.address)
            let view = try self.view()
            let reader = LedgerReader(view)
            let account = try reader.account(key)
            var stakes = [JSON]()
            for (role, s) in try reader.roles(of: key) {
                var o = r.staker(s)
                o["role"] = r.role(role)
                o["unbonding"] = .array(try reader.unbondings(role, key).map { r.unbonding($0.id, $0.entry) })
                stakes.append(.object(o))
            }
            // Unbonding can outlive the stake (a full unbond removes the staker record).
            for role in [StakeRole.validator] + (try reader.pools().map { StakeRole.worker(pool: $0.id) }) where try reader.staker(role, key) == nil {
                let u = try reader.unbondings(role, key)
                if !u.isEmpty {
                    stakes.append(.object(["role": r.role(role), "stake": "0", "status": "unbonded", "jailedUntil": .null,
                                           "randaoCommitment": .null, "since": .null, "unbonding": .array(u.map { r.unbonding($0.id, $0.entry) })]))
                }
            }
            // The mempool's view (its queue past the account nonce); read from the chain actor, not the snapshot.
            let pendingNonce = max(account.nonce, (try? await self.chain.nextNonce(for: key)) ?? account.nonce)
            return .object(["address": r.address(key), "publicKey": .string("0x" + key.hex), "balance": r.amount(account.balance),
                            "nonce": .int(account.nonce), "pendingNonce": .int(pendingNonce), "stakes": .array(stakes),
                            "height": .int(try self.tipHeight(view))])
        }
        add("account_getTransactions", [ParamSpec("address"), .optional("limit"), .optional("cursor"), .optional("order")]) { p, _ in
            let key = try p.required("address", p.address)
            let limit = try p.limit()
            let order: ScanOrder = try p.choice("order", ["asc", "desc"]) == "asc" ? .ascending : .descending
            var cursor: AddressTxCursor?
            if let c = try self.cursor(p, length: 12) {
                cursor = AddressTxCursor(height: UInt64(bigEndianBytes: c[0..<8]), position: UInt32(bigEndianBytes: c[8..<12]))
            }
            let view = try self.view()
            let page = try view.addressTransactions(key.rawValue, after: cursor, limit: limit, order: order)
            return self.page(page.items.map { .object(["hash": r.hash($0.txHash), "blockHeight": .int($0.height), "position": .int(UInt64($0.position))]) },
                             next: page.nextCursor.map { $0.height.bigEndianBytes + $0.position.bigEndianBytes })
        }

        // MARK: validator_*

        add("validator_list", [.optional("limit"), .optional("cursor")]) { p, _ in
            let limit = try p.limit()
            let prefix = StateKey.stakers(.validator)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let view = try self.view()
            let page = try LedgerReader(view).stakers(.validator, cursor: cursor, limit: limit)
            return self.page(page.items.map { k, s in
                var o = r.staker(s)
                o["address"] = r.address(k)
                return .object(o)
            }, next: page.nextCursor)
        }
        add("validator_get", [ParamSpec("address")]) { p, _ in
            let key = try p.required("address", p.address)
            let view = try self.view()
            let reader = LedgerReader(view)
            guard let s = try reader.staker(.validator, key) else { throw RPCError.notFound("validator", r.address(key)) }
            var o = r.staker(s)
            o["address"] = r.address(key)
            o["unbonding"] = .array(try reader.unbondings(.validator, key).map { r.unbonding($0.id, $0.entry) })
            if let raw = try view.get(StateKey.liveness(key)) {
                let l = try Liveness(canonicalEncoding: raw)
                o["liveness"] = .object(["epoch": .int(l.epoch), "led": .int(l.led), "missed": .int(l.missed)])
            } else {
                o["liveness"] = .null
            }
            o["active"] = .bool(s.isActive(minimum: self.genesis.ledger.validatorMinStake))
            return .object(o)
        }
        add("validator_getSchedule", [.optional("fromSlot"), .optional("count")]) { p, _ in
            let view = try self.view()
            let state = LedgerState(base: view)
            let tip = try Ledger.tip(of: state)
            let from = try p.uint64("fromSlot") ?? (tip.slot + 1)
            guard from > tip.slot else {
                throw RPCError.invalidParams("'fromSlot' must be after the tip's slot \(tip.slot) (the schedule of past slots is in the blocks)", param: "fromSlot")
            }
            let count = try self.count(p, default: 10)
            let perEpoch = self.genesis.ledger.slotsPerEpoch
            let stored = try Ledger.currentSnapshot(of: state)
            var cache = [UInt64: ValidatorSnapshot]()
            var items = [JSON]()
            // Slots near 2^64 simply yield fewer items (no wrap-around).
            let (sum, overflow) = from.addingReportingOverflow(UInt64(count))
            let end = overflow ? UInt64.max : sum
            for slot in from..<end {
                let epoch = slot / perEpoch
                let snap = try cache[epoch] ?? LeaderSchedule.snapshot(for: slot, parentState: state, ledger: self.chain.ledger)
                cache[epoch] = snap
                let leader = LeaderSchedule.leader(of: slot, in: snap)
                items.append(.object(["slot": .int(slot), "epoch": .int(epoch), "leader": leader.map(r.address) ?? .null,
                                      "final": .bool(stored?.epoch == epoch)]))
            }
            return .object(["tipSlot": .int(tip.slot), "slotsPerEpoch": .int(perEpoch), "items": .array(items)])
        }

        // MARK: pool_*

        add("pool_list", [.optional("limit"), .optional("cursor")]) { p, _ in
            let limit = try p.limit()
            let prefix = [StateKey.Prefix.pool.rawValue]
            let cursor = try self.cursor(p, prefixes: [prefix], length: 5)
            let view = try self.view()
            let (entries, next) = try self.scanPage(view, prefixes: [prefix], cursor: cursor, limit: limit)
            let delay = self.genesis.ledger.selectionDelayBound
            return self.page(try entries.map { r.pool(try PoolConfig(canonicalEncoding: $0.value), beaconDelay: delay) }, next: next)
        }
        add("pool_get", [ParamSpec("pool")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            guard let pool = try LedgerReader(try self.view()).pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            return r.pool(pool, beaconDelay: self.genesis.ledger.selectionDelayBound)
        }

        // MARK: escrow_*

        add("escrow_get", [ParamSpec("escrowId")]) { p, _ in
            let id = try p.required("escrowId", p.hash)
            guard let e = try LedgerReader(try self.view()).escrow(id) else { throw RPCError.notFound("escrow", r.hash(id)) }
            guard case .object(var o) = r.escrow(id, e) else { throw RPCError.internalError }
            o["allocations"] = .array(try LedgerReader(try self.view()).allocations(id).map { payee, a in
                .object(["payee": r.address(payee), "remaining": r.amount(a.remaining), "charged": r.amount(a.charged)])
            })
            return .object(o)
        }
        add("escrow_list", [ParamSpec("owner"), .optional("limit"), .optional("cursor")]) { p, _ in
            let owner = try p.required("owner", p.address)
            let limit = try p.limit()
            let prefix = StateKey.escrows(owner: owner)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let page = try LedgerReader(try self.view()).escrows(owner: owner, cursor: cursor, limit: limit)
            return self.page(page.items.map { r.escrow($0.0, $0.1) }, next: page.nextCursor)
        }

        // MARK: window_* and share_list

        add("window_get", [ParamSpec("pool"), ParamSpec("window")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let w = try p.required("window", p.uint64)
            let reader = LedgerReader(try self.view())
            guard let pool = try reader.pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            guard let rec = try reader.window(id, w) else {
                throw RPCError.notFound("window", .object(["pool": .int(UInt64(id)), "window": .int(w)]))
            }
            return r.window(pool: pool, index: w, beaconDelay: self.genesis.ledger.selectionDelayBound, rec)
        }
        add("window_list", [ParamSpec("pool"), .optional("limit"), .optional("cursor")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let limit = try p.limit()
            let prefix = StateKey.windows(id)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 8)
            let reader = LedgerReader(try self.view())
            guard let pool = try reader.pool(id) else { throw RPCError.notFound("pool", .int(UInt64(id))) }
            let page = try reader.windows(id, cursor: cursor, limit: limit)
            let delay = self.genesis.ledger.selectionDelayBound
            return self.page(page.items.map { r.window(pool: pool, index: $0.0, beaconDelay: delay, $0.1) }, next: page.nextCursor)
        }
        add("window_getPayouts", [ParamSpec("pool"), ParamSpec("window"), .optional("limit"), .optional("cursor")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let w = try p.required("window", p.uint64)
            let limit = try p.limit()
            let prefix = StateKey.payouts(id, w)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let view = try self.view()
            guard let rec = try LedgerReader(view).window(id, w) else {
                throw RPCError.notFound("window", .object(["pool": .int(UInt64(id)), "window": .int(w)]))
            }
            let (entries, next) = try self.scanPage(view, prefixes: [prefix], cursor: cursor, limit: limit)
            var out = try self.page(entries.map { kv -> JSON in
                guard let k = PublicKey(bytes: kv.key.suffix(32)) else { throw StorageFault("corrupt payout key") }
                let rec = try PayoutRecord(canonicalEncoding: kv.value)
                return .object(["worker": r.address(k), "paid": r.amount(rec.paid), "refunded": r.amount(rec.refunded),
                                "height": .int(rec.height), "encoded": .hex(rec.canonicalEncoding)])
            }, next: next).object ?? [:]
            out["windowStatus"] = .string(r.windowStatus(rec.status))
            return .object(out)
        }
        add("share_list", [ParamSpec("pool"), .optional("window"), .optional("worker"), .optional("limit"), .optional("cursor")]) { p, _ in
            let id = try p.required("pool", p.uint32)
            let limit = try p.limit()
            let window = try p.uint64("window")
            let worker = try p.address("worker")
            let view = try self.view()
            let reader = LedgerReader(view)
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

        // MARK: ticket_* and proof_*

        add("ticket_get", [ParamSpec("ticketId")]) { p, _ in
            let id = try p.required("ticketId", p.hash)
            let view = try self.view()
            let reader = LedgerReader(view)
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
            o["commitment"] = try reader.commitment(t.commitmentId).map { r.commitment(t.commitmentId, $0) } ?? .null
            o["fraudCase"] = try reader.fraudCase(id).map(r.fraudCase) ?? .null
            return .object(o)
        }
        add("commitment_get", [ParamSpec("commitmentId")]) { p, _ in
            let id = try p.required("commitmentId", p.hash)
            let reader = LedgerReader(try self.view())
            guard let c = try reader.commitment(id) else { throw RPCError.notFound("commitment", r.hash(id)) }
            guard case .object(var o) = r.commitment(id, c) else { throw RPCError.internalError }
            // The passes the beacon selected (empty until the selection height), for workers and explorers.
            o["tickets"] = .array(try reader.tickets(commitment: id).map {
                .object(["sample": .int(UInt64($0.sample)), "ticketId": r.hash($0.id)])
            })
            return .object(o)
        }
        add("ticket_list", [ParamSpec("status"), .optional("limit"), .optional("cursor")]) { p, _ in
            let names = TicketStatus.allCases.map(Render.ticketStatusName) + ["open", "adjudicated"]
            let name = try p.required("status") { (n: String) throws(RPCError) -> String? in try p.choice(n, names) }
            let statuses: [TicketStatus]
            switch name {
            case "open": statuses = [.awaitingReveal]
            case "adjudicated": statuses = [.fraudProven, .upheld]
            default: statuses = TicketStatus.allCases.filter { Render.ticketStatusName($0) == name }
            }
            let limit = try p.limit()
            let prefixes = statuses.map { StateKey.tickets(status: $0) }
            let cursor = try self.cursor(p, prefixes: prefixes, length: 2 + 32)
            let view = try self.view()
            let reader = LedgerReader(view)
            let (entries, next) = try self.scanPage(view, prefixes: prefixes, cursor: cursor, limit: limit)
            return self.page(try entries.compactMap { kv -> JSON? in
                guard let id = Hash32(bytes: kv.key.suffix(32)), let t = try reader.ticket(id) else { return nil }
                return .object(r.ticket(id, t))
            }, next: next)
        }
        add("proof_list", [.optional("limit"), .optional("cursor")]) { p, _ in
            let limit = try p.limit()
            let prefix = [StateKey.Prefix.fraudCase.rawValue]
            let cursor = try self.cursor(p, prefixes: [prefix], length: 33)
            let page = try LedgerReader(try self.view()).fraudCases(cursor: cursor, limit: limit)
            return self.page(page.items.map(r.fraudCase), next: page.nextCursor)
        }
        add("proof_get", [ParamSpec("ticketId")]) { p, _ in
            let id = try p.required("ticketId", p.hash)
            guard let f = try LedgerReader(try self.view()).fraudCase(id) else { throw RPCError.notFound("fraud proof", r.hash(id)) }
            return r.fraudCase(f)
        }

        // MARK: mempool_* and net_*

        add("mempool_status") { _, _ in
            let s = await self.chain.status()
            return .object(["transactions": .int(s.mempoolTransactions), "bytes": .int(s.mempoolBytes)])
        }
        add("mempool_content", [.optional("sender"), .optional("limit"), .optional("cursor")]) { p, _ in
            let sender = try p.address("sender")
            let limit = try p.limit()
            let cursor = try self.cursor(p, length: 40)
            // Ordered by sender key, then nonce; the cursor is the last (sender ‖ nonce) returned.
            let all = await self.chain.mempoolContents().filter { sender == nil || $0.transaction.sender == sender }
            func key(_ t: SignedTransaction) -> [UInt8] { t.transaction.sender.bytes + t.transaction.nonce.bigEndianBytes }
            var items = [SignedTransaction]()
            var more = false
            for t in all {
                if let cursor, !cursor.lexicographicallyPrecedes(key(t)) { continue }
                if items.count == limit { more = true; break }
                items.append(t)
            }
            return self.page(items.map(r.transactionSummary), next: more ? items.last.map(key) : nil)
        }
        add("net_peers") { _, _ in
            .array(await self.network.peers().map { peer in
                .object(["nodeId": .string(peer.nodeId), "address": .string(peer.address), "inbound": .bool(peer.inbound),
                         "height": peer.height.map { .int($0) } ?? .null, "score": peer.score.map { .int($0) } ?? .null,
                         "addressGroup": peer.addressGroup.map { .string($0) } ?? .null, "banned": .bool(peer.banned),
                         "encryption": peer.encryption.map { .string($0) } ?? .null])
            })
        }
        add("net_peerCount") { _, _ in .int(await self.network.peers().count) }

        // MARK: Subscriptions (WebSocket)

        add("sub_subscribe", [ParamSpec("kind"), .optional("filter")]) { p, c in
            let kind = try p.required("kind") { (n: String) throws(RPCError) -> SubscriptionKind? in
                try p.choice(n, SubscriptionKind.allCases.map(\.rawValue)).flatMap(SubscriptionKind.init(rawValue:))
            }
            let filter = try SubscriptionFilter(p.raw("filter"), kind: kind, hrp: self.hrp)
            guard c.transport == .webSocket, let session = c.session else { throw RPCError.unsupportedTransport("sub_subscribe") }
            return .string(try session.subscribe(kind, filter: filter))
        }
        add("sub_unsubscribe", [ParamSpec("subscription")]) { p, c in
            let id = try p.required("subscription", p.string)
            guard c.transport == .webSocket, let session = c.session else { throw RPCError.unsupportedTransport("sub_unsubscribe") }
            return .bool(session.unsubscribe(id))
        }
        return m
    }

    // MARK: - Helpers

    /// A `{items, nextCursor}` page.
    func page(_ items: [JSON], next: [UInt8]?) -> JSON {
        .object(["items": .array(items), "nextCursor": next.map { .hex($0) } ?? .null])
    }

    /// `count` of range methods: default, at most `RPCLimits.maxRange`.
    func count(_ p: Params, default d: Int) throws(RPCError) -> Int {
        guard let c = try p.uint64("count") else { return d }
        guard c >= 1 else { throw RPCError.invalidParams("'count' must be at least 1", param: "count") }
        guard c <= UInt64(RPCLimits.maxRange) else { throw RPCError.limitExceeded("count", maximum: RPCLimits.maxRange, requested: Int(clamping: c)) }
        return Int(c)
    }

    /// The `cursor` parameter: 0x-hex of exactly `length` bytes starting with one of `prefixes`.
    func cursor(_ p: Params, prefixes: [[UInt8]] = [[]], length: Int) throws(RPCError) -> [UInt8]? {
        guard let s = try p.string("cursor") else { return nil }
        let bad = RPCError.invalidParams("'cursor' is not a cursor of this list (pass back nextCursor unchanged)", param: "cursor")
        guard s.hasPrefix("0x"), s.utf8.count == 2 + 2 * length, let bytes = try? Hex.decode(s), bytes.count == length,
              prefixes.contains(where: { bytes.starts(with: $0) }) else { throw bad }
        return bytes
    }

    /// Up to `limit` state entries under `prefixes` in order, strictly after `cursor` (which lies under one of
    /// them), and the cursor of the next page.
    func scanPage(_ view: ReadView, prefixes: [[UInt8]], cursor: [UInt8]?, limit: Int) throws -> ([KeyValue], [UInt8]?) {
        var out = [KeyValue]()
        var start = 0
        if let cursor, let i = prefixes.firstIndex(where: { cursor.starts(with: $0) }) { start = i }
        for i in start..<prefixes.count {
            let after = i == start ? cursor : nil
            out += try view.scan(prefix: prefixes[i], after: after, limit: limit + 1 - out.count)
            if out.count > limit { break }
        }
        guard out.count > limit else { return (out, nil) }
        out.removeLast()
        return (out, out.last?.key)
    }

    func tipHeight(_ view: ReadView) throws -> UInt64 {
        guard let t = try view.tip() else { throw StorageFault("no tip") }
        return t.height
    }

    /// The canonical block a selector names, from one view.
    func resolve(_ sel: BlockSelector, _ view: ReadView) throws -> (hash: Hash32, height: UInt64) {
        let height: UInt64
        switch sel {
        case .latest: height = try tipHeight(view)
        case .finalized: height = try view.finalizedHeight() ?? 0
        case .earliest: height = 0
        case .height(let h): height = h
        }
        guard let hash = try view.canonicalHash(at: height) else { throw RPCError.notFound("block", .int(height)) }
        return (hash, height)
    }

    func header(_ view: ReadView, _ hash: Hash32) throws -> SignedHeader {
        guard let bytes = try view.header(hash) else { throw StorageFault("missing header \(hash)") }
        return try SignedHeader(canonicalEncoding: bytes)
    }

    /// The input tensor of a revealed ticket, from its reveal transaction (nil when the ticket was not revealed, or
    /// the transaction is not on the canonical chain this node keeps).
    func revealedInput(_ view: ReadView, _ t: Ticket) throws -> [UInt8]? {
        guard t.leaf != nil, t.revealTx != .zero, let loc = try view.transactionLocation(t.revealTx),
              let (tx, _, _) = try locate(view, loc, t.revealTx),
              case .revealTicket(_, _, _, _, let input) = tx.transaction.body else { return nil }
        return input
    }

    func transactions(_ view: ReadView, _ hash: Hash32) throws -> ([SignedTransaction], Int) {
        guard let bytes = try view.body(hash) else { throw StorageFault("missing body \(hash)") }
        return (try Block.decodeBody(bytes, maxTransactions: genesis.consensus.maxBlockTransactions), bytes.count)
    }

    /// Receipts of a stored block: kept for canonical blocks only.
    func receipts(_ view: ReadView, _ hash: Hash32) throws -> [Receipt] {
        guard let bytes = try view.receipts(hash) else {
            throw RPCError.pruned("receipts", "this node keeps receipts of canonical blocks only; \(hash) is not canonical")
        }
        return try ChainEngine.decodeReceipts(bytes)
    }

    /// A block by hash at `height`; `canonical` when the caller already knows (it resolved the hash from the
    /// canonical index). Rendered once per key, then served from the cache.
    func renderBlock(_ view: ReadView, _ hash: Hash32, height: UInt64, canonical known: Bool?, full: Bool) throws -> JSON {
        let canonical = try known ?? view.isCanonical(hash)
        let finalized = try canonical && height <= (view.finalizedHeight() ?? 0)
        let key = BlockCache.Key(hash: hash, full: full, canonical: canonical, finalized: finalized)
        if let cached = blocks.get(key) { return .raw(cached) }
        let h = try header(view, hash)
        let (txs, bodySize) = try transactions(view, hash)
        let encoded = JSONWriter.encode(render.block(h, txs, full: full, canonical: canonical, finalized: finalized,
                                                     size: BlockLimits.signedHeaderBytes + bodySize))
        blocks.put(key, encoded)
        return .raw(encoded)
    }

    /// The transaction at an index location, with the tip and finalized heights of the same view.
    func locate(_ view: ReadView, _ loc: TxLocation, _ id: Hash32) throws -> (SignedTransaction, UInt64, UInt64)? {
        let (txs, _) = try transactions(view, loc.blockHash)
        guard Int(loc.position) < txs.count, txs[Int(loc.position)].id == id else { throw StorageFault("index of \(id) points elsewhere") }
        return (txs[Int(loc.position)], try tipHeight(view), try view.finalizedHeight() ?? 0)
    }
}

/// Stored data that contradicts itself: reported as an internal error, logged with the detail.
struct StorageFault: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}


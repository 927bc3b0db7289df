import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `tx_*`: transactions by hash, receipts, submission and fee estimates.
    func addTxMethods(to m: inout MethodTable) {
        let r = render
        m.add("tx_getByHash", [ParamSpec("hash")]) { p, _ in
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
        m.add("tx_getReceipt", [ParamSpec("hash")]) { p, _ in
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
        m.add("tx_sendRaw", [ParamSpec("transaction")]) { p, _ in
            let max = self.genesis.ledger.maxTransactionBytes
            let bytes = try p.required("transaction") { (n: String) throws(RPCError) -> [UInt8]? in try p.bytes(n, maxBytes: max) }
            let tx: SignedTransaction
            do { tx = try SignedTransaction(canonicalEncoding: bytes) } catch {
                throw RPCError(code: RPCError.invalidParamsCode, message: "invalid params: 'transaction' is not a canonical signed transaction (\(error))",
                               data: .object(["param": "transaction", "reason": "malformed"]))
            }
            do { return r.hash(try await self.chain.submit(tx)) } catch let error as MempoolError {
                // A fault of this node is an internal error (logged by the dispatcher), not a rejection of the transaction.
                if case .fault(let m) = error { throw StorageFault(m) }
                throw RPCError.rejected(error)
            }
        }
        m.add("tx_estimateFee", [.optional("transaction"), .optional("size")]) { p, _ in
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
                guard s >= 1 else { throw RPCError.invalidParams("'size' must be at least 1 byte", param: "size") }
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
    }
}

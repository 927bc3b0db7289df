import Consensus
import Ledger
import Primitives
import Storage

/// The methods (Specs/rpc.md, "Methods"), one file a namespace in `Methods/`. Every handler that reads chain or
/// ledger data takes one snapshot (`ReadView`) and reads everything from it, so a page or a block with its
/// receipts is consistent.
extension RPCNode {
    /// Every method, in the order of Specs/rpc.md.
    func methods() -> [RPCMethod] {
        var m = MethodTable()
        addNodeMethods(to: &m)
        addChainMethods(to: &m)
        addExplorerMethods(to: &m)
        addTxMethods(to: &m)
        addAccountMethods(to: &m)
        addValidatorMethods(to: &m)
        addPoolMethods(to: &m)
        addEscrowMethods(to: &m)
        addWindowMethods(to: &m)
        addTicketMethods(to: &m)
        addCheckerMethods(to: &m)
        addStateMethods(to: &m)
        addMempoolMethods(to: &m)
        addSubscriptionMethods(to: &m)
        return m.methods
    }

    // MARK: - Helpers shared by the namespaces

    /// The ledger state a request reads (Specs/rpc.md, "Queries at a height"): as of the canonical block its
    /// optional `block` parameter names (a height or a tag; default `latest`), from one snapshot `view`. The tip is
    /// read from the state itself, an earlier block from the state history; a height above the tip is
    /// `-32000 block not found`.
    func state(_ p: Params, _ view: ReadView) throws -> (reader: any StateReader, height: UInt64) {
        let tip = try tipHeight(view)
        guard let sel = try p.block("block") else { return (view, tip) }
        let (_, height) = try resolve(sel, view)
        if height == tip { return (view, tip) }
        let retained = try view.stateRetainedFrom()
        guard height >= retained else {
            throw RPCError.pruned("state at height", "this node keeps the state from height \(retained) on (pruning); ask an archive node")
        }
        return (view.state(at: height), height)
    }

    /// `state(p, view)` on a new snapshot.
    func state(_ p: Params) throws -> any StateReader { try state(p, try self.view()).reader }

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
    /// them), and the cursor of the next page. At most `LedgerReader.pageVisitBudget` keys are examined (at a past
    /// height absent ones count): a page may be short with a cursor, the last key examined.
    func scanPage(_ view: any StateReader, prefixes: [[UInt8]], cursor: [UInt8]?, limit: Int) throws -> ([KeyValue], [UInt8]?) {
        var out = [KeyValue]()
        var start = 0
        var remaining = max(limit + 1, LedgerReader.pageVisitBudget)
        if let cursor, let i = prefixes.firstIndex(where: { cursor.starts(with: $0) }) { start = i }
        for i in start..<prefixes.count {
            let after = i == start ? cursor : nil
            let scan = try view.scan(prefix: prefixes[i], after: after, limit: limit + 1 - out.count, visitBudget: remaining)
            out += scan.entries
            remaining -= scan.visited
            if out.count > limit { break }
            // (A budget spent exactly at the end of one prefix leaves the next one a budget of one key.)
            if let stopped = scan.stoppedAfter { return (out, stopped) }
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
        case .safe:
            let tip = try tipHeight(view)
            height = tip > genesis.consensus.finalityDepth ? tip - genesis.consensus.finalityDepth : 0
        case .earliest: height = 0
        case .height(let h): height = h
        }
        guard let hash = try view.canonicalHash(at: height) else {
            // A node that joined by state sync stores no block between genesis and its snapshot's: say so (an indexer
            // or explorer starting from genesis must start at the earliest block instead), not "not found".
            let earliest = Self.earliestBlock(try view.earliestBlockHeight())
            if height > 0, height < earliest, height <= (try tipHeight(view)) { throw RPCError.blockNotStored(height, earliest: earliest) }
            throw RPCError.notFound("block", .int(height))
        }
        return (hash, height)
    }

    /// `node_status.earliestBlockHeight` from the store's earliest block above genesis (Specs/rpc.md §7): the node stores
    /// every canonical block from it to the tip (and genesis), so a node holding its whole chain says 0, not 1.
    static func earliestBlock(_ earliestAboveGenesis: UInt64) -> UInt64 { earliestAboveGenesis <= 1 ? 0 : earliestAboveGenesis }

    func header(_ view: ReadView, _ hash: Hash32) throws -> SignedHeader {
        guard let bytes = try view.header(hash) else { throw StorageFault("missing header \(hash)") }
        return try SignedHeader(canonicalEncoding: bytes)
    }

    /// The input tensor of a revealed ticket, from its reveal transaction or hop answer (nil when the ticket was not
    /// revealed in clear, or the transaction is not on the canonical chain this node keeps).
    func revealedInput(_ view: ReadView, _ t: Ticket) throws -> [UInt8]? {
        guard t.leaf != nil, t.revealTx != .zero, let loc = try view.transactionLocation(t.revealTx),
              let (tx, _, _) = try locate(view, loc, t.revealTx) else { return nil }
        return tx.transaction.body.revealedInput
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


/// The methods being registered, in order (the dispatcher indexes them by name).
struct MethodTable {
    private(set) var methods = [RPCMethod]()

    mutating func add(_ name: String, _ params: [ParamSpec] = [], _ handler: @escaping @Sendable (Params, CallContext) async throws -> JSON) {
        methods.append(RPCMethod(name: name, params: params, handler: handler))
    }
}

import HeapModule
import Ledger
import Primitives

/// Mempool limits and policies (not consensus: every node may choose its own).
public struct MempoolConfig: Sendable, Hashable {
    public var maxTransactions = 50_000
    public var maxBytes = 64 * 1024 * 1024
    /// How far ahead of the account nonce a transaction may be queued.
    public var maxNonceGap: UInt64 = 64
    /// Queued transactions per sender.
    public var maxPerSender = 256
    /// A replacement (same sender and nonce) must pay at least this many percent more.
    public var replacementBumpPercent: UInt64 = 10
    /// Transactions older than this are dropped.
    public var expiryMillis: UInt64 = 15 * 60 * 1000

    public init() {}
}

/// Why the mempool refused a transaction.
public enum MempoolError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalid(EnvelopeError)
    case alreadyKnown
    case nonceTooLow(accountNonce: UInt64)
    case nonceTooFarAhead(accountNonce: UInt64, maximumGap: UInt64)
    case replacementUnderpriced(minimumFee: Amount)
    case senderQueueFull
    case poolFull
    /// The sender's balance, what this transaction and its `queued` others would take from it at most (their fees and
    /// the amounts they move; `UInt64.max` when the sum passes 2⁶⁴).
    case cannotAffordQueuedFees(balance: Amount, required: Amount, queued: Int)
    /// The node could not read what admission needs (the sender's account): a storage fault of ours, not a
    /// property of the transaction, which may be valid.
    case fault(String)

    public var description: String {
        switch self {
        case .invalid(let e): return "invalid transaction: \(e)"
        case .alreadyKnown: return "transaction already in the mempool"
        case .nonceTooLow(let n): return "nonce already used (account nonce is \(n))"
        case .nonceTooFarAhead(let n, let g): return "nonce more than \(g) ahead of the account nonce \(n)"
        case .replacementUnderpriced(let m): return "replacement needs a fee of at least \(m)"
        case .senderQueueFull: return "too many queued transactions from this sender"
        case .poolFull: return "mempool full and the fee is too low to evict anything"
        case .cannotAffordQueuedFees(let balance, let required, let queued):
            let need = required.units == .max ? "more than 2^64" : "\(required.units)"
            return queued == 0
                ? "balance \(balance.units) cannot pay this transaction's fee and what it moves (\(need) needed)"
                : "balance \(balance.units) cannot pay this and the sender's \(queued) queued transactions (their fees and the amounts they move: \(need) needed)"
        case .fault(let m): return "cannot check the transaction: \(m)"
        }
    }
}

/// Pending transactions: per-sender nonce queues, fee-rate priority for block building, bounded size with
/// eviction of the cheapest tails, replacement by a higher fee, expiry. A value type; the node owns one.
public struct Mempool: Sendable {
    public struct Entry: Sendable, Hashable {
        public let tx: SignedTransaction
        public let addedAt: UInt64
        /// Fee per byte, scaled by 1000 for ordering.
        public let feeRate: UInt64
        /// What it takes from its sender's balance at most (`cost(of:minFeePerByte:pool:)`), fixed at admission.
        public let cost: UInt64
    }

    /// A queue's last transaction, an eviction candidate. Ordered cheapest first: lowest fee rate, then highest id.
    struct Tail: Comparable, Sendable {
        let rate: UInt64, id: Hash32, sender: PublicKey, nonce: UInt64
        static func < (a: Tail, b: Tail) -> Bool { a.rate != b.rate ? a.rate < b.rate : a.id > b.id }
    }

    public let config: MempoolConfig
    private(set) var bySender: [PublicKey: [UInt64: Entry]] = [:]
    /// Every queue's tail, cheapest first, so a full pool finds what to evict (or that nothing is cheaper) in
    /// O(log n) instead of a pass over every sender for each transaction that does not fit. Entries that stopped
    /// being a tail stay until they reach the top (then dropped) or the heap is rebuilt at twice the senders.
    private var tails = Heap<Tail>()
    /// Each sender's account nonce when last seen (admission, revalidation): a queue is executable up to its first
    /// gap from it.
    private var baseNonce: [PublicKey: UInt64] = [:]
    private var byId: [Hash32: (sender: PublicKey, nonce: UInt64)] = [:]
    public private(set) var totalBytes = 0
    /// Changes with every admission and removal: what is derived from the pool at one generation (the sorted
    /// senders, the clearing fee rate at a tip) holds until the next, so callers may cache it.
    public private(set) var generation: UInt64 = 0

    public init(config: MempoolConfig = MempoolConfig()) { self.config = config }

    public var count: Int { byId.count }
    public func contains(_ id: Hash32) -> Bool { byId[id] != nil }

    public func transaction(_ id: Hash32) -> SignedTransaction? {
        guard let loc = byId[id] else { return nil }
        return bySender[loc.sender]?[loc.nonce]?.tx
    }

    /// Every pending transaction, by sender (ascending key) and nonce.
    public var all: [SignedTransaction] {
        bySender.keys.sorted().flatMap { s in bySender[s]!.keys.sorted().map { bySender[s]![$0]!.tx } }
    }

    /// The senders with pending transactions, ascending (the order of `all`).
    public var senders: [PublicKey] { bySender.keys.sorted() }

    /// Up to `limit` pending transactions in the order of `all`, strictly after `cursor` (a sender and nonce),
    /// taken from `sortedSenders` (ascending; `senders`, or one sender to list only its queue), and whether
    /// more follow. Costs a binary search and the page, not a pass over the pool.
    public func page(sortedSenders: [PublicKey], after cursor: (sender: PublicKey, nonce: UInt64)?, limit: Int)
        -> (transactions: [SignedTransaction], more: Bool) {
        var lo = 0, hi = sortedSenders.count
        if let cursor {
            while lo < hi {
                let mid = (lo + hi) / 2
                if sortedSenders[mid] < cursor.sender { lo = mid + 1 } else { hi = mid }
            }
        }
        var out = [SignedTransaction]()
        for s in sortedSenders[lo...] {
            guard let q = bySender[s] else { continue }
            for n in q.keys.sorted() {
                if let cursor, s == cursor.sender, n <= cursor.nonce { continue }
                if out.count == limit { return (out, true) }
                out.append(q[n]!.tx)
            }
        }
        return (out, false)
    }

    /// What a transaction takes from its sender's balance at most, as far as its body and its pool's parameters say:
    /// the fee, plus the amount a transfer, bond, escrow opening or top-up moves out, the bond of a fraud commitment or a
    /// hop challenge, or a commitment's ticket fees and check deposit (saturating). `pool` gives a pool's parameters
    /// (genesis-fixed, so the figure cannot change while the transaction waits); a pool it does not know adds nothing,
    /// and the transaction fails in its block as it would anyway.
    static func cost(of t: Transaction, minFeePerByte: UInt64, pool: (UInt32) -> PoolConfig?) -> UInt64 {
        let moved: UInt64
        switch t.body {
        case .transfer(_, let amount), .bond(_, let amount, _), .escrowOpen(_, let amount, _), .escrowTopUp(_, let amount, _):
            moved = amount.units
        case .fraudCommit(_, let poolId):
            moved = pool(poolId)?.fraudProofBond.units ?? 0
        case .hopChallenge(let receipt):
            moved = pool(receipt.pool)?.hopChallengeBond(minFeePerByte: minFeePerByte)?.units ?? .max
        case .commitShares(let poolId, _, _, _, let tokenTotal, _):
            guard let p = pool(poolId) else { moved = 0; break }
            // The same figures `commitShares` debits (Specs/economics.md §3): fee per sample, and in a pool with
            // checkers each sample's check fees; an overflow there fails the transaction, and saturates here.
            let samples = UInt64(p.sampleCount(tokenTotal: tokenTotal))
            let (fees, o1) = p.ticketFee.units.multipliedReportingOverflow(by: samples)
            var deposit: UInt64 = 0, o2 = false
            if let checking = p.checking {
                let (perSample, o3) = checking.checkFee.units.multipliedReportingOverflow(by: UInt64(checking.checkersPerTicket))
                (deposit, o2) = perSample.multipliedReportingOverflow(by: samples)
                o2 = o2 || o3
            }
            let (sum, o4) = fees.addingReportingOverflow(deposit)
            moved = o1 || o2 || o4 ? .max : sum
        default:
            moved = 0
        }
        let (sum, overflow) = t.fee.units.addingReportingOverflow(moved)
        return overflow ? .max : sum
    }

    static func feeRate(_ tx: SignedTransaction) -> UInt64 {
        // Saturating: a fee above 1.8 · 10¹⁶ would wrap around to a low rate.
        let (thousandths, overflow) = tx.transaction.fee.units.multipliedReportingOverflow(by: 1000)
        return (overflow ? .max : thousandths) / UInt64(max(tx.encodedSize, 1))
    }

    /// Adds a transaction checked against its sender's account at the tip. Returns the replaced transaction,
    /// if any. `checkSignature` may be false when the caller verified it already.
    @discardableResult
    /// `pool` gives a pool's parameters at the tip, for the bonds and commitment fees a body takes (nil: unknown pool).
    public mutating func add(_ tx: SignedTransaction, account: Account, ledger: Ledger, now: UInt64,
                             checkSignature: Bool = true,
                             pool: (UInt32) -> PoolConfig? = { _ in nil }) throws(MempoolError) -> SignedTransaction? {
        let t = tx.transaction
        guard byId[tx.id] == nil else { throw .alreadyKnown }
        guard t.nonce >= account.nonce else { throw .nonceTooLow(accountNonce: account.nonce) }
        guard t.nonce - account.nonce <= config.maxNonceGap else {
            throw .nonceTooFarAhead(accountNonce: account.nonce, maximumGap: config.maxNonceGap)
        }
        do { try ledger.checkEnvelope(tx, account: account, expectedNonce: t.nonce, checkSignature: checkSignature) } catch {
            throw .invalid(error)
        }
        var queue = bySender[t.sender] ?? [:]
        var replaced: Entry?
        if let existing = queue[t.nonce] {
            let (scaled, overflow) = existing.tx.transaction.fee.units.multipliedReportingOverflow(by: 100 + config.replacementBumpPercent)
            let bump = overflow ? UInt64.max : scaled / 100  // saturating: a wrapped product would ask for less than the old fee
            let minimum = Amount(max(bump, existing.tx.transaction.fee.units + 1))
            guard t.fee >= minimum else { throw .replacementUnderpriced(minimumFee: minimum) }
            replaced = existing
        } else if queue.count >= config.maxPerSender {
            throw .senderQueueFull
        }
        // The sender must be able to pay everything it has queued, whatever the order it sent it in: the fees and the
        // amounts the bodies move out of its balance. Counting fees alone below this nonce let a sender queue fees worth
        // many times its balance (nonces sent in descending order), or move its balance away in its first transaction so
        // that the rest, selected for a block by their fee rate, could not pay and left their space unused (ninth
        // review F1/F2).
        let ownCost = Self.cost(of: t, minFeePerByte: ledger.params.minFeePerByte, pool: pool)
        var cost: UInt64? = ownCost
        for (n, e) in queue where n != t.nonce {
            // A sum past 2⁶⁴ is beyond any balance (nil; reported as 2⁶⁴ − 1), even one of 2⁶⁴ − 1.
            cost = cost.flatMap { c in c.addingReportingOverflow(e.cost).overflow ? nil : c + e.cost }
        }
        guard let cost, cost <= account.balance.units else {
            let others = queue.count - (queue[t.nonce] == nil ? 0 : 1)
            throw .cannotAffordQueuedFees(balance: account.balance, required: Amount(cost ?? .max), queued: others)
        }

        let entry = Entry(tx: tx, addedAt: now, feeRate: Self.feeRate(tx), cost: ownCost)
        // Make room: evict the cheapest queue tails, only when they pay less than the newcomer. A transaction behind a
        // nonce gap cannot be included, so it never pays: it counts as paying nothing, both as a victim (evicted
        // first) and as a newcomer (it evicts nothing). Otherwise gapped transactions bidding high fee rates they
        // never pay would hold a full pool against every paying one.
        // A replacement is held to the same bounds by its net growth (ninth review F3: replacing small transactions
        // behind a gap by 256 KiB ones grew a 64 MiB pool past a gigabyte).
        let executable = (account.nonce..<t.nonce).allSatisfy { queue[$0] != nil }
        // Mined no sooner than the sender's earlier nonces: it bids the lowest rate among them and itself (a cheap first
        // transaction with costly followers bid the followers' rate while none of them could be mined before it).
        let ahead = queue.lazy.filter { $0.key < t.nonce }.map(\.value.feeRate).min() ?? .max
        let newcomerRate = executable ? min(entry.feeRate, ahead) : 0
        let freed: (count: Int, bytes: Int) = replaced.map { (1, $0.tx.encodedSize) } ?? (0, 0)
        while byId.count - freed.count + 1 > config.maxTransactions || totalBytes - freed.bytes + tx.encodedSize > config.maxBytes {
            guard let victim = cheapestTail(excluding: t.sender), victim.rate < newcomerRate else { throw .poolFull }
            remove(victim.id)
        }
        if let replaced {
            byId[replaced.tx.id] = nil
            totalBytes -= replaced.tx.encodedSize
        }
        queue[t.nonce] = entry
        bySender[t.sender] = queue
        baseNonce[t.sender] = account.nonce
        // The tail, or its rate (a filled gap makes the tail executable), may have changed.
        pushTail(of: t.sender, queue)
        byId[tx.id] = (t.sender, t.nonce)
        totalBytes += tx.encodedSize
        generation &+= 1
        return replaced?.tx
    }

    /// The cheapest queue tail of another sender than `sender`, at its eviction rate (stale heap entries met on the
    /// way are dropped).
    private mutating func cheapestTail(excluding sender: PublicKey) -> Tail? {
        var aside: Tail?
        defer { if let aside { tails.insert(aside) } }
        while let top = tails.min {
            guard let q = bySender[top.sender], let current = tail(of: top.sender, q), current == top else {
                _ = tails.popMin()
                continue
            }
            guard top.sender != sender else {
                // The newcomer's own queue is not evicted for it: look past its tail, then put it back.
                aside = tails.popMin()
                continue
            }
            return top
        }
        return nil
    }

    /// `queue`'s last transaction as an eviction candidate: at the lowest fee rate of the queue when it has no nonce
    /// gap from the sender's account nonce (the last one is mined after all the others, so no sooner than the cheapest
    /// of them: the rate it really bids, as Bitcoin ranks by ancestor fee rate), at 0 when it has one (it cannot be
    /// included, so it pays nothing). Ranked by its own rate, costly followers of a minimum-fee first transaction
    /// evicted, and could not be evicted by, transactions mined before them (eighteenth-session audit).
    private func tail(of sender: PublicKey, _ queue: [UInt64: Entry]) -> Tail? {
        guard let last = queue.keys.max(), let e = queue[last] else { return nil }
        // Every queued nonce is at least the base (admission and revalidation see to it) and they are distinct, so
        // the queue is gapless exactly when it holds every nonce from the base to its last.
        let base = baseNonce[sender] ?? last
        let gapless = last >= base && last - base + 1 == UInt64(queue.count)
        return Tail(rate: gapless ? queue.values.lazy.map(\.feeRate).min() ?? 0 : 0, id: e.tx.id, sender: sender, nonce: last)
    }

    /// Records `queue`'s tail at its eviction rate; rebuilds the heap when stale entries pile up.
    private mutating func pushTail(of sender: PublicKey, _ queue: [UInt64: Entry]) {
        guard let t = tail(of: sender, queue) else { return }
        tails.insert(t)
        if tails.count > 2 * bySender.count + 1024 {
            tails = Heap(bySender.compactMap { s, q in tail(of: s, q) })
        }
    }

    /// Removes a transaction (included in a block, evicted, expired).
    @discardableResult
    public mutating func remove(_ id: Hash32) -> SignedTransaction? {
        guard let loc = byId.removeValue(forKey: id), var q = bySender[loc.sender], let e = q.removeValue(forKey: loc.nonce) else { return nil }
        totalBytes -= e.tx.encodedSize
        bySender[loc.sender] = q.isEmpty ? nil : q
        if q.isEmpty { baseNonce[loc.sender] = nil }
        // The tail left (the next one is the tail), or a gap opened below it (it pays nothing now).
        pushTail(of: loc.sender, q)
        generation &+= 1
        return e.tx
    }

    /// Drops transactions made stale by a new tip (nonce used, fees unaffordable) or expired. Returns them.
    @discardableResult
    public mutating func revalidate(now: UInt64, account: (PublicKey) throws -> Account) rethrows -> [SignedTransaction] {
        var dropped = [SignedTransaction]()
        for sender in bySender.keys.sorted() {
            let a = try account(sender)
            guard let q = bySender[sender] else { continue }
            baseNonce[sender] = a.nonce
            var cost: UInt64 = 0, pastAnyBalance = false
            for n in q.keys.sorted() {
                let e = q[n]!
                // Only transactions still to be included pay (fees and amounts, as on admission) from the current balance.
                if n >= a.nonce {
                    let (sum, overflow) = cost.addingReportingOverflow(e.cost)
                    cost = sum
                    if overflow { pastAnyBalance = true }  // this one and every later one cannot be paid
                }
                let expired = now >= e.addedAt && now - e.addedAt > config.expiryMillis
                if n < a.nonce || expired || pastAnyBalance || cost > a.balance.units {
                    if let tx = remove(e.tx.id) { dropped.append(tx) }
                }
            }
            // The new account nonce may have closed a gap (a block included the missing nonce) or opened one.
            if let left = bySender[sender] { pushTail(of: sender, left) }
        }
        return dropped
    }

    /// Transactions for a block: each sender's queue from its account nonce without gaps, best fee rate first
    /// across senders (ties by id), within the limits.
    public func select(maxCount: Int, maxBytes: Int, account: (PublicKey) throws -> Account) rethrows -> [SignedTransaction] {
        try selection(maxCount: maxCount, maxBytes: maxBytes, account: account).transactions
    }

    /// The fee rate (fee × 1000 / size, as `Entry.feeRate`) a transaction must beat to enter the next block
    /// ahead of what is waiting: the lowest rate of the block `select` would build, when that block leaves
    /// executable transactions out; nil when everything executable fits (the minimum fee is enough).
    public func clearingFeeRate(maxCount: Int, maxBytes: Int, account: (PublicKey) throws -> Account) rethrows -> UInt64? {
        let s = try selection(maxCount: maxCount, maxBytes: maxBytes, account: account)
        guard s.leftOut else { return nil }
        return s.transactions.map(Self.feeRate).min() ?? 0
    }

    /// The least fee whose rate for a transaction of `size` bytes is above `rate`:
    /// `⌊fee × 1000 / size⌋ > rate  ⇔  fee × 1000 ≥ (rate + 1) × size`, so `⌈(rate + 1) × size / 1000⌉`
    /// (saturating at the largest amount).
    public static func leastFee(beating rate: UInt64, size: Int) -> Amount {
        let (above, o1) = rate.addingReportingOverflow(1)
        let (product, o2) = above.multipliedReportingOverflow(by: UInt64(max(size, 1)))
        guard !o1, !o2 else { return Amount(UInt64.max) }
        return Amount(product / 1000 + (product % 1000 == 0 ? 0 : 1))
    }

    /// `select`, and whether an executable transaction was left out for lack of room.
    private func selection(maxCount: Int, maxBytes: Int, account: (PublicKey) throws -> Account) rethrows
        -> (transactions: [SignedTransaction], leftOut: Bool) {
        struct Head: Comparable {
            let rate: UInt64, id: Hash32, sender: PublicKey, nonce: UInt64
            static func < (a: Head, b: Head) -> Bool { a.rate != b.rate ? a.rate < b.rate : a.id > b.id }
        }
        var heap = Heap<Head>()
        var next = [PublicKey: UInt64]()
        for (sender, q) in bySender {
            let n = try account(sender).nonce
            if let e = q[n] {
                heap.insert(Head(rate: e.feeRate, id: e.tx.id, sender: sender, nonce: n))
                next[sender] = n
            }
        }
        var out = [SignedTransaction]()
        var bytes = 0
        var leftOut = false
        while out.count < maxCount, let head = heap.popMax() {
            let e = bySender[head.sender]![head.nonce]!
            if bytes + e.tx.encodedSize > maxBytes {  // this sender's later nonces cannot follow either
                leftOut = true
                continue
            }
            out.append(e.tx)
            bytes += e.tx.encodedSize
            let n = head.nonce + 1
            if let following = bySender[head.sender]?[n] {
                heap.insert(Head(rate: following.feeRate, id: following.tx.id, sender: head.sender, nonce: n))
            }
        }
        return (out, leftOut || !heap.isEmpty)
    }

    /// Pending transactions of one sender, by nonce.
    public func pending(from sender: PublicKey) -> [SignedTransaction] {
        guard let q = bySender[sender] else { return [] }
        return q.keys.sorted().map { q[$0]!.tx }
    }

    /// The next nonce a sender should use given its account nonce (past its contiguous queued run).
    public func nextNonce(for sender: PublicKey, accountNonce: UInt64) -> UInt64 {
        var n = accountNonce
        while bySender[sender]?[n] != nil { n += 1 }
        return n
    }
}

import Consensus
import Foundation
import Ledger
import Primitives
import RPC
import Storage

/// What the worker simulator and the verifier service need from a node. `LocalChainClient` serves it
/// in-process; the RPC client serves it over JSON-RPC.
public protocol ChainClient: Sendable {
    /// The chain id, for signing.
    func chainId() async throws -> Hash32
    /// The canonical tip's height and slot.
    func tip() async throws -> (height: UInt64, slot: UInt64)
    func account(_ key: PublicKey) async throws -> Account
    /// The nonce the sender's next transaction should carry (past its pending transactions).
    func nextNonce(_ key: PublicKey) async throws -> UInt64
    /// Submits a signed transaction; throws with the node's reason when it is rejected.
    func submit(_ tx: SignedTransaction) async throws -> Hash32
    /// Minimum fee for a transaction of this many bytes.
    func minimumFee(size: Int) async throws -> Amount
    func pool(_ id: UInt32) async throws -> PoolConfig?
    func staker(_ role: StakeRole, _ key: PublicKey) async throws -> Staker?
    func escrow(_ id: Hash32) async throws -> Escrow?
    func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord?
    /// Tickets drawn from a commitment (sample number and ticket id).
    func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)]
    func ticket(_ id: Hash32) async throws -> Ticket?
    /// The input tensor of a revealed ticket (from its reveal transaction).
    func ticketInput(_ id: Hash32) async throws -> [UInt8]?
    /// A sealed ticket's checkers and check phases (pools with checkers).
    func sealedCheck(_ id: Hash32) async throws -> SealedCheck?
    /// A sealed ticket's envelope while its check runs (ciphertext only its checkers can open).
    func sealedInput(_ id: Hash32) async throws -> [UInt8]?
    /// A registered checker of a pool.
    func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord?
    /// A page of tickets in a status, after `cursor` (opaque, nil for the first page).
    func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?)
    /// A page of a checker's assignments, newest first, with each check's state (`checker_getAssignments`):
    /// `pending` keeps those where the checker still owes an action; `cursor` is opaque, nil for the first page.
    func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?)
    func fraudCase(_ ticket: Hash32) async throws -> FraudCase?
    /// The height of the canonical block holding transaction `id`, nil while it is not in one (pending, dropped,
    /// unknown).
    func transactionHeight(_ id: Hash32) async throws -> UInt64?
    /// Whether transaction `id` waits in the node's mempool (accepted, in no block yet). With `transactionHeight`, what
    /// tells a transaction the node still holds from one it dropped (evicted, replaced, lost to a restart).
    func transactionPending(_ id: Hash32) async throws -> Bool
    /// Windows of a pool with a record, by index.
    func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)]
    /// Paid-out workers of a window.
    func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)]
    /// Workers' unpaid work in a window, by worker.
    func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)]
    /// Escrows of an owner.
    func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)]
    /// The hop challenges of a worker's window, by challenge id (until its payout prunes them).
    func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)]
    /// Every adjudicated fraud proof.
    func fraudCases() async throws -> [FraudCase]
    /// Number of tickets in a status.
    func ticketCount(status: TicketStatus) async throws -> Int
    /// Subscribes to tickets revealed in blocks as they become canonical and returns their ids once the node
    /// has confirmed the subscription. The stream ends, or throws, when the subscription is lost. Pushed ids
    /// are hints that save a round of polling; the ticket lists stay the source of truth.
    func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error>
}

extension Receipt {
    /// Ids of the tickets these receipts reveal, in order.
    public static func revealedTickets(_ receipts: [Receipt]) -> [Hash32] {
        receipts.flatMap { r in
            r.events.compactMap { e -> Hash32? in
                if case .ticketRevealed(let id, _, _) = e { return id }
                return nil
            }
        }
    }
}

/// A `ChainClient` over an in-process `ChainService` (tests, and components running inside a node).
public struct LocalChainClient: ChainClient {
    public let chain: ChainService

    public init(chain: ChainService) { self.chain = chain }

    func reader() throws -> LedgerReader { LedgerReader(try chain.readView()) }

    public func chainId() async throws -> Hash32 { chain.genesis.chainId }
    public func tip() async throws -> (height: UInt64, slot: UInt64) {
        let s = await chain.status()
        return (s.height, s.slot)
    }
    public func account(_ key: PublicKey) async throws -> Account { try reader().account(key) }
    public func nextNonce(_ key: PublicKey) async throws -> UInt64 { try await chain.nextNonce(for: key) }
    public func submit(_ tx: SignedTransaction) async throws -> Hash32 { try await chain.submit(tx) }
    public func minimumFee(size: Int) async throws -> Amount { chain.ledger.minimumFee(size: size) }
    public func pool(_ id: UInt32) async throws -> PoolConfig? { try reader().pool(id) }
    public func staker(_ role: StakeRole, _ key: PublicKey) async throws -> Staker? { try reader().staker(role, key) }
    public func escrow(_ id: Hash32) async throws -> Escrow? { try reader().escrow(id) }
    public func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? { try reader().window(pool, w) }
    public func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)] { try reader().tickets(commitment: commitment) }
    public func ticket(_ id: Hash32) async throws -> Ticket? { try reader().ticket(id) }
    public func ticketInput(_ id: Hash32) async throws -> [UInt8]? {
        guard let t = try reader().ticket(id), t.leaf != nil else { return nil }
        return try chain.revealedInput(t.revealTx)
    }
    public func sealedCheck(_ id: Hash32) async throws -> SealedCheck? { try reader().sealedCheck(id) }
    public func sealedInput(_ id: Hash32) async throws -> [UInt8]? { try reader().sealedInput(id) }
    public func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord? { try reader().checker(pool: pool, key) }
    public func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
        let page = try reader().tickets(status: status, cursor: try cursor.map { try Hex.decode($0) }, limit: limit)
        return (page.items.map(\.0), page.nextCursor.map(\.hex))
    }
    public func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?) {
        var after: AddressEventCursor?
        if let cursor {
            guard let bytes = try? Hex.decode(cursor), let c = AddressEventCursor(bytes: bytes) else { throw BadCursor(cursor: cursor) }
            after = c
        }
        let page = try CheckerAssignments.page(try chain.readView(), checker: checker, pool: pool, pendingOnly: pending, after: after,
                                               limit: min(max(limit, 1), RPCLimits.maxPageSize))
        return (page.items, page.nextCursor.map { $0.bytes.hex })
    }

    /// A cursor that is not one this client handed out.
    public struct BadCursor: Error, CustomStringConvertible {
        public let cursor: String
        public var description: String { "not a cursor of this list: \(cursor.prefix(80))" }
    }

    public func fraudCase(_ ticket: Hash32) async throws -> FraudCase? { try reader().fraudCase(ticket) }
    public func transactionHeight(_ id: Hash32) async throws -> UInt64? { try chain.readView().transactionLocation(id)?.height }
    public func transactionPending(_ id: Hash32) async throws -> Bool { await chain.mempoolContains(id) }
    public func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] { try reader().windows(pool).items }
    public func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)] {
        try reader().payouts(pool, w)
    }
    public func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)] { try reader().work(pool, window: w).items }
    public func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] { try reader().escrows(owner: owner).items }
    public func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)] {
        try reader().hopChallenges(pool: pool, window: window, worker: worker)
    }
    public func fraudCases() async throws -> [FraudCase] { try reader().fraudCases().items }
    public func ticketCount(status: TicketStatus) async throws -> Int { try reader().tickets(status: status).items.count }
    public func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error> {
        let events = await chain.events(transactions: false)
        let (stream, continuation) = AsyncThrowingStream<Hash32, any Error>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let task = Task {
            for await event in events {
                if case .newBlock(_, let receipts) = event {
                    for id in Receipt.revealedTickets(receipts) { continuation.yield(id) }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

extension ChainClient {
    /// Signs and submits a transaction body from `key` with the next nonce and the minimum fee; returns the
    /// transaction's id and the nonce it carries (what an id derived from the sender's nonce, such as an
    /// escrow's, must use: another sender of the same key may take the nonce read a moment earlier).
    @discardableResult
    public func send(_ body: TxBody, from key: PrivateKey, feeMultiplier: UInt64 = 1) async throws -> (id: Hash32, nonce: UInt64) {
        let chain = try await chainId()
        let nonce = try await nextNonce(key.publicKey)
        var tx = Transaction(chainId: chain, sender: key.publicKey, nonce: nonce, fee: 0, body: body)
        let size = tx.signed(by: key).encodedSize
        tx.fee = Amount(try await minimumFee(size: size).units * feeMultiplier)
        return (try await submit(tx.signed(by: key)), nonce)
    }
}

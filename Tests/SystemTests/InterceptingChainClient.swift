import Consensus
import Ledger
import Primitives
import Synchronization
@testable import Node
import RPC
import TestSupport

/// A `LocalChainClient` that plays the network's awkward moments: its ticket subscription can be refused until
/// `open()` is called (the verifier has to find tickets by listing first, then re-subscribe), and a hook sees
/// every transaction it has submitted (to act right after it, as another sender of the same key would).
final class InterceptingChainClient: ChainClient {
    struct Refused: Error {}
    let base: LocalChainClient
    private let isOpen: Mutex<Bool>
    private let refusals = Mutex(0)
    private let afterSubmit: (@Sendable (SignedTransaction) async throws -> Void)?
    /// What a lying node does to a ticket's input before serving it.
    private let tamperInput: (@Sendable ([UInt8]) -> [UInt8])?
    /// Transactions refused before they reach the node (a failed send: an RPC error, a full mempool).
    private let refuseSubmit: (@Sendable (SignedTransaction) -> Bool)?

    /// Blocks a node that is ahead adds to the tip it reports.
    private let tipAhead: UInt64
    /// Tickets served as unknown (a verifier that watches only some tickets).
    private let hideTicket: (@Sendable (Ticket) -> Bool)?

    init(base: LocalChainClient, subscriptionOpen: Bool = false, afterSubmit: (@Sendable (SignedTransaction) async throws -> Void)? = nil,
         tamperInput: (@Sendable ([UInt8]) -> [UInt8])? = nil, tipAhead: UInt64 = 0,
         refuseSubmit: (@Sendable (SignedTransaction) -> Bool)? = nil, hideTicket: (@Sendable (Ticket) -> Bool)? = nil) {
        self.refuseSubmit = refuseSubmit
        self.hideTicket = hideTicket
        self.base = base
        self.tipAhead = tipAhead
        self.isOpen = Mutex(subscriptionOpen)
        self.afterSubmit = afterSubmit
        self.tamperInput = tamperInput
    }

    func open() { isOpen.withLock { $0 = true } }
    /// How many subscription attempts were refused.
    var refused: Int { refusals.withLock { $0 } }

    func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error> {
        guard isOpen.withLock({ $0 }) else {
            refusals.withLock { $0 += 1 }
            throw Refused()
        }
        return try await base.subscribeRevealedTickets()
    }

    func chainId() async throws -> Hash32 { try await base.chainId() }
    func tip() async throws -> (height: UInt64, slot: UInt64) {
        let t = try await base.tip()
        return (t.height + tipAhead, t.slot + tipAhead)
    }
    func account(_ key: PublicKey) async throws -> Account { try await base.account(key) }
    func nextNonce(_ key: PublicKey) async throws -> UInt64 { try await base.nextNonce(key) }
    func submit(_ tx: SignedTransaction) async throws -> Hash32 {
        if let refuse = refuseSubmit, refuse(tx) { throw Refused() }
        let id = try await base.submit(tx)
        try await afterSubmit?(tx)
        return id
    }
    func minimumFee(size: Int) async throws -> Amount { try await base.minimumFee(size: size) }
    func pool(_ id: UInt32) async throws -> PoolConfig? { try await base.pool(id) }
    func sealedCheck(_ id: Hash32) async throws -> SealedCheck? { try await base.sealedCheck(id) }
    func sealedInput(_ id: Hash32) async throws -> [UInt8]? { try await base.sealedInput(id) }
    func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord? { try await base.checker(pool: pool, key) }
    func staker(_ role: StakeRole, _ key: PublicKey) async throws -> Staker? { try await base.staker(role, key) }
    func escrow(_ id: Hash32) async throws -> Escrow? { try await base.escrow(id) }
    func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? { try await base.window(pool, w) }
    func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)] { try await base.tickets(commitment: commitment) }
    func ticket(_ id: Hash32) async throws -> Ticket? {
        guard let ticket = try await base.ticket(id) else { return nil }
        return hideTicket?(ticket) == true ? nil : ticket
    }
    func ticketInput(_ id: Hash32) async throws -> [UInt8]? {
        guard let input = try await base.ticketInput(id) else { return nil }
        return tamperInput.map { $0(input) } ?? input
    }
    func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
        try await base.tickets(status: status, cursor: cursor, limit: limit)
    }
    func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?) {
        try await base.checkerAssignments(checker, pool: pool, pending: pending, cursor: cursor, limit: limit)
    }
    func fraudCase(_ ticket: Hash32) async throws -> FraudCase? { try await base.fraudCase(ticket) }
    func transactionHeight(_ id: Hash32) async throws -> UInt64? { try await base.transactionHeight(id) }
    func transactionPending(_ id: Hash32) async throws -> Bool { try await base.transactionPending(id) }
    func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] { try await base.windows(pool) }
    func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)] {
        try await base.payouts(pool, w)
    }
    func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)] { try await base.work(pool, window: w) }
    func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] { try await base.escrows(owner: owner) }
    func fraudCases() async throws -> [FraudCase] { try await base.fraudCases() }
    func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)] {
        try await base.hopChallenges(pool: pool, window: window, worker: worker)
    }
    func ticketCount(status: TicketStatus) async throws -> Int { try await base.ticketCount(status: status) }
}

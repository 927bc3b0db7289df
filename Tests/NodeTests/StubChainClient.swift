import Ledger
@testable import Node
import Primitives
import RPC

/// What a stub node answers for everything a test does not set up.
struct StubUnavailable: Error {}

/// A `ChainClient` whose every call throws `StubUnavailable` unless the conforming test double implements it: a
/// double states only what its test needs.
protocol StubChainClient: ChainClient {}

extension StubChainClient {
    func chainId() async throws -> Hash32 { throw StubUnavailable() }
    func tip() async throws -> (height: UInt64, slot: UInt64) { throw StubUnavailable() }
    func account(_ key: PublicKey) async throws -> Account { throw StubUnavailable() }
    func nextNonce(_ key: PublicKey) async throws -> UInt64 { throw StubUnavailable() }
    func submit(_ tx: SignedTransaction) async throws -> Hash32 { throw StubUnavailable() }
    func minimumFee(size: Int) async throws -> Amount { throw StubUnavailable() }
    func pool(_ id: UInt32) async throws -> PoolConfig? { throw StubUnavailable() }
    func staker(_ role: StakeRole, _ key: PublicKey) async throws -> Staker? { throw StubUnavailable() }
    func escrow(_ id: Hash32) async throws -> Escrow? { throw StubUnavailable() }
    func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? { throw StubUnavailable() }
    func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)] { throw StubUnavailable() }
    func ticket(_ id: Hash32) async throws -> Ticket? { throw StubUnavailable() }
    func ticketInput(_ id: Hash32) async throws -> [UInt8]? { throw StubUnavailable() }
    func sealedCheck(_ id: Hash32) async throws -> SealedCheck? { throw StubUnavailable() }
    func sealedInput(_ id: Hash32) async throws -> [UInt8]? { throw StubUnavailable() }
    func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord? { throw StubUnavailable() }
    func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) { throw StubUnavailable() }
    func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?) { throw StubUnavailable() }
    func fraudCase(_ ticket: Hash32) async throws -> FraudCase? { throw StubUnavailable() }
    func transactionHeight(_ id: Hash32) async throws -> UInt64? { throw StubUnavailable() }
    func transactionPending(_ id: Hash32) async throws -> Bool { throw StubUnavailable() }
    func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] { throw StubUnavailable() }
    func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)] { throw StubUnavailable() }
    func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)] { throw StubUnavailable() }
    func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] { throw StubUnavailable() }
    func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)] {
        throw StubUnavailable()
    }
    func fraudCases() async throws -> [FraudCase] { throw StubUnavailable() }
    func ticketCount(status: TicketStatus) async throws -> Int { throw StubUnavailable() }
    func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error> { throw StubUnavailable() }
}

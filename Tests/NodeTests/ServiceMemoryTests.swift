import Foundation
import Logging
import Synchronization
import Testing
@testable import Ledger
@testable import Node
@testable import Primitives
import RPC
import TestSupport

/// A node whose revealed-ticket listing the test sets: every listed ticket reads back as `withheld` (settled, so the
/// verifier marks it checked without a replay).
final class ListingClient: ChainClient {
    struct Unavailable: Error {}
    let listing = Mutex<[Hash32]>([])

    func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
        // Pages of `limit`, the cursor being the index of the next one.
        let all = listing.withLock { $0 }
        let start = cursor.flatMap(Int.init) ?? 0
        let end = min(all.count, start + limit)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
    func ticket(_ id: Hash32) async throws -> Ticket? {
        Ticket(commitmentId: id, sample: 0, point: 0, worker: try review10Key("listing-worker").publicKey, pool: 0, window: 0,
               shard: 0, status: .withheld, selectedHeight: 1, revealDeadline: 2, challengeEnd: 3)
    }
    func fraudCases() async throws -> [FraudCase] { [] }

    func sealedCheck(_ id: Hash32) async throws -> SealedCheck? { throw Unavailable() }
    func sealedInput(_ id: Hash32) async throws -> [UInt8]? { throw Unavailable() }
    func fraudCase(_ ticket: Hash32) async throws -> FraudCase? { throw Unavailable() }
    func chainId() async throws -> Hash32 { throw Unavailable() }
    func tip() async throws -> (height: UInt64, slot: UInt64) { throw Unavailable() }
    func account(_ key: PublicKey) async throws -> Account { throw Unavailable() }
    func nextNonce(_ key: PublicKey) async throws -> UInt64 { throw Unavailable() }
    func submit(_ tx: SignedTransaction) async throws -> Hash32 { throw Unavailable() }
    func transactionHeight(_ id: Hash32) async throws -> UInt64? { throw Unavailable() }
    func transactionPending(_ id: Hash32) async throws -> Bool { throw Unavailable() }
    func minimumFee(size: Int) async throws -> Amount { throw Unavailable() }
    func pool(_ id: UInt32) async throws -> PoolConfig? { throw Unavailable() }
    func staker(_ role: StakeRole, _ key: PublicKey) async throws -> Staker? { throw Unavailable() }
    func escrow(_ id: Hash32) async throws -> Escrow? { throw Unavailable() }
    func window(_ pool: UInt32, _ w: UInt64) async throws -> WindowRecord? { throw Unavailable() }
    func tickets(commitment: Hash32) async throws -> [(sample: UInt32, id: Hash32)] { throw Unavailable() }
    func ticketInput(_ id: Hash32) async throws -> [UInt8]? { throw Unavailable() }
    func checker(pool: UInt32, _ key: PublicKey) async throws -> CheckerRecord? { throw Unavailable() }
    func checkerAssignments(_ checker: PublicKey, pool: UInt32?, pending: Bool, cursor: String?, limit: Int) async throws
        -> (items: [CheckerAssignment], next: String?) { throw Unavailable() }
    func windows(_ pool: UInt32) async throws -> [(UInt64, WindowRecord)] { throw Unavailable() }
    func payouts(_ pool: UInt32, _ w: UInt64) async throws -> [(worker: PublicKey, record: PayoutRecord)] { throw Unavailable() }
    func work(_ pool: UInt32, window w: UInt64) async throws -> [(PublicKey, WorkRecord)] { throw Unavailable() }
    func escrows(owner: PublicKey) async throws -> [(Hash32, Escrow)] { throw Unavailable() }
    func hopChallenges(pool: UInt32, window: UInt64, worker: PublicKey) async throws -> [(id: Hash32, challenge: HopChallenge)] {
        throw Unavailable()
    }
    func ticketCount(status: TicketStatus) async throws -> Int { throw Unavailable() }
    func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error> { throw Unavailable() }
}

/// Long-running services keep per-ticket bookkeeping only for tickets that can still need them (the fourteenth
/// review left both growing by one entry per ticket for the life of the process).
@Suite struct ServiceMemoryTests {
    static func ids(_ range: Range<Int>) -> [Hash32] { range.map { SHA256.hash(Array("ticket \($0)".utf8)) } }

    /// Performed: a verifier sweeps 250 revealed tickets, then they leave the listing (paid out and pruned) while 50
    /// new ones are revealed. It forgets the 250 (in memory and in its state file) and keeps the 50. Mutation: without
    /// the forgetting, it held 300 and the file grew with every ticket it ever checked.
    @Test func theVerifierForgetsTicketsNoLongerRevealed() async throws {
        let dir = TempDir("verifier-memory")
        let client = ListingClient()
        var config = VerifierConfig()
        config.stateFile = (dir.path as NSString).appendingPathComponent("verifier.state")
        let verifier = VerifierService(key: try review10Key("listing-verifier"), client: client,
                                       weights: try WeightsIndex(directory: dir.path), config: config,
                                       logger: Logger(label: "test"))
        let old = Self.ids(0..<250), new = Self.ids(250..<300)
        client.listing.withLock { $0 = old }
        try await verifier.sweep()
        #expect(verifier.progress.withLock { $0.checked } == Set(old))
        client.listing.withLock { $0 = new }
        try await verifier.sweep()
        #expect(verifier.progress.withLock { $0.checked } == Set(new))
        let saved = try String(contentsOfFile: config.stateFile!, encoding: .utf8).split(separator: "\n")
        #expect(Set(saved.compactMap { try? Hash32(hex: String($0)) }) == Set(new))
        // Nothing listed: everything goes, except a ticket with a claim not yet opened.
        verifier.progress.withLock {
            $0.claims = [.init(ticketId: new[0], commitTx: .zero, pool: 0)]
        }
        client.listing.withLock { $0 = [] }
        try await verifier.sweep()
        #expect(verifier.progress.withLock { $0.checked } == [new[0]])
    }

    /// The checker's bookkeeping follows its pending assignments: done and sent entries of tickets no longer pending go.
    @Test func theCheckerForgetsTicketsNoLongerPending() {
        let t = Self.ids(0..<4)
        var done: Set<Hash32> = [t[0], t[1], t[2]]
        var sent: [Hash32: UInt64] = [t[1]: 5, t[3]: 6]
        CheckerService.forget(notPending: [t[1], t[3]], done: &done, sent: &sent)
        #expect(done == [t[1]])
        #expect(sent == [t[1]: 5, t[3]: 6])
        CheckerService.forget(notPending: [], done: &done, sent: &sent)
        #expect(done.isEmpty && sent.isEmpty)
    }
}

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
final class ListingClient: StubChainClient {
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

import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import Verifier
import TestSupport

/// `sharechain verifier replay`'s logic against real revealed tickets: a chain on 1-second slots in this process
/// with an honest worker and a worker corrupting every output; no verifier, so nothing else touches the tickets.
/// Part of the `EconomyTests` suite: it runs on the wall clock, so it belongs to the SystemTests target, which
/// `make test` runs serially after the unit tests.
extension EconomyTests {
    @Test(.timeLimit(.minutes(3))) func replayMatchesHonestPassesAndExposesCorruptedOnes() async throws {
        let chain = try InProcessChain(label: "replay")
        let (runtime, client, weights, logger) = (chain.runtime, chain.client, chain.weights, chain.logger)
        func worker(_ i: Int, cheat: Double) -> WorkerSimulator { chain.worker(i, cheat: cheat) }
        let honestKey = DevelopmentKeys.worker(0).publicKey, cheaterKey = DevelopmentKeys.worker(1).publicKey
        let group = ServiceGroup(configuration: .init(
            services: (runtime.services() + [worker(0, cheat: 0), worker(1, cheat: 1.0)]).map { .init(service: $0) }, logger: logger))

        /// A ticket of `worker` with a revealed pass, if any yet.
        func revealedTicket(of worker: PublicKey) async throws -> Hash32? {
            for status in [TicketStatus.revealed, .upheld, .fraudProven] {
                var cursor: String?
                repeat {
                    let page = try await client.tickets(status: status, cursor: cursor, limit: 100)
                    for id in page.ids {
                        if let t = try await client.ticket(id), t.worker == worker, t.leaf != nil { return id }
                    }
                    cursor = page.next
                } while cursor != nil
            }
            return nil
        }

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The node keeps running while the replays read from it; it shuts down however the checks end.
            do {
                try await Self.checkReplays(client: client, weights: weights, honestKey: honestKey, cheaterKey: cheaterKey, revealedTicket: revealedTicket)
            } catch {
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func checkReplays(client: LocalChainClient, weights: WeightsIndex, honestKey: PublicKey, cheaterKey: PublicKey,
                      revealedTicket: (PublicKey) async throws -> Hash32?) async throws {
        var honest: Hash32?, corrupted: Hash32?
        let found = try await EconomyTests.until(150) {
            honest = try await revealedTicket(honestKey)
            corrupted = try await revealedTicket(cheaterKey)
            return honest != nil && corrupted != nil
        }
        try #require(found, "no revealed tickets of both workers in time")

        let good = try await TicketReplay.run(ticket: honest!, client: client, weights: weights)
        let leaf = try #require(try await client.ticket(honest!)?.leaf)
        #expect(good.matches)
        #expect(good.check == .match)
        #expect(good.committedOutputHash == leaf.outputHash && good.recomputedOutputHash == leaf.outputHash)
        #expect(good.worker == honestKey && good.pool == 0)

        let bad = try await TicketReplay.run(ticket: corrupted!, client: client, weights: weights)
        #expect(!bad.matches)
        guard case .mismatch(let recomputed) = bad.check else {
            Issue.record("the corrupted pass replayed as \(bad.check)")
            return
        }
        #expect(recomputed != bad.committedOutputHash && bad.recomputedOutputHash == recomputed)
        // The recomputed hash is the canonical output: the executor run directly on the revealed input agrees.
        let input = try #require(try await client.ticketInput(corrupted!))
        let pool = try #require(try await client.pool(0))
        let badLeaf = try #require(try await client.ticket(corrupted!)?.leaf)
        let shard = pool.shards[Int(badLeaf.shard)]
        let direct = try ShardReplayer().replay(model: PoolModels.config(pool), shard: PoolModels.shard(shard),
                                                weights: WeightsRef(path: try #require(weights.files[shard.weightsSHA256]), sha256: shard.weightsSHA256),
                                                input: input, positionOffset: badLeaf.positionOffset)
        #expect(direct == .output(hash: recomputed))

        // What cannot be replayed says why.
        let unknown = SHA256.hash(Array("no such ticket".utf8))
        await #expect(throws: TicketReplayError.unknownTicket(unknown)) {
            try await TicketReplay.run(ticket: unknown, client: client, weights: weights)
        }
    }
}

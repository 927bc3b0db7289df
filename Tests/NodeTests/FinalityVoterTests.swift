import Foundation
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
import TestSupport

/// The validator's voting service (Specs/consensus.md §8, "Voting (node)").
@Suite struct FinalityVoterTests {
    /// A syncing node's tip is not the network's: a vote for one of its old checkpoints would spend that target
    /// height (slashing protection refuses a second vote for it). The voter casts nothing while the node is
    /// behind and votes on the first new block once it has caught up.
    @Test func noVotesWhileSyncing() async throws {
        let g = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 3600, checkpointBlocks: 2)
        let dir = TempDir()
        let clock = TestClock(g.genesis.slotStartMillis(1))
        let chain = try g.chainService(dataDir: dir.path, clock: clock)
        let synced = Mutex(false)
        let asked = Mutex(0)
        let protection = dir.file("finality-votes.json")
        let voter = FinalityVoterService(chain: chain, key: DevelopmentKeys.validator(0), protectionFile: protection,
                                         logger: testLogger("voter"), isSynced: {
                                             asked.withLock { $0 += 1 }
                                             return synced.withLock { $0 }
                                         })
        let running = Task { try await voter.run() }
        defer { running.cancel() }
        // The voter subscribes when it starts; wait for it before producing.
        try await waitUntil("the voter subscribed") { await chain.subscriberCount > 0 }
        var identities = [TestGenesis.identity(0)]
        try await g.produce(on: chain, through: 9, clock: clock, identities: &identities)
        try await waitUntil("the voter saw every block") { asked.withLock { $0 } >= 9 }
        #expect(await votesInMempool(chain).isEmpty, "voted while syncing")
        #expect(!FileManager.default.fileExists(atPath: protection), "recorded a vote while syncing")
        synced.withLock { $0 = true }
        try await g.produce(on: chain, through: 10, clock: clock, identities: &identities)
        try await waitUntil("a vote once synced") { await !votesInMempool(chain).isEmpty }
        let votes = await votesInMempool(chain)
        #expect(votes.count == 1)
        #expect(votes.first?.target.height == 8, "the vote is for the tip's latest checkpoint")
        #expect(votes.first?.source.height == 0)
    }

    func votesInMempool(_ chain: ChainService) async -> [FinalityVote] {
        await chain.mempoolContents().flatMap { tx -> [FinalityVote] in
            if case .finalityVotes(let v) = tx.transaction.body { return v } else { return [] }
        }
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while await !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out waiting for \(what)"); throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

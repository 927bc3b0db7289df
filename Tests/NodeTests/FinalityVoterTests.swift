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

    /// Tenth review, lifecycle F6 (and the vote loss of consensus F2): a signed vote that never reached a block (here: the
    /// node restarted with the vote in its mempool only) was lost for good, since protection refused even the identical
    /// vote. Now the identical vote is sent again (once: not while it is pending, not once counted), and protection still
    /// refuses any other vote for that target height.
    @Test func aSignedVoteThatNeverReachedABlockIsSentAgainAfterARestart() async throws {
        let g = try TestGenesis(validators: 1, checkpointBlocks: 4)
        let dir = TempDir()
        let clock = TestClock(g.genesis.slotStartMillis(1))
        let dirA = TempDir(), dirB = TempDir()
        let before = try g.chainService(dataDir: dirA.path, clock: clock)
        let after = try g.chainService(dataDir: dirB.path, clock: clock)
        let key = DevelopmentKeys.validator(0)
        var identities = [TestGenesis.identity(0)]
        try await g.produce(on: before, through: 9, clock: clock, identities: &identities)
        for h in UInt64(1)...9 {
            let hash = try #require(try before.readView().canonicalHash(at: h))
            let block = try #require(try before.block(hash))
            guard case .imported = await after.importBlock(block) else { Issue.record("block \(h) not imported"); return }
        }
        let file = dir.file("finality-votes.json")
        var protection = SlashingProtection()
        let cast = try #require(try await FinalityVoterService.castDueVote(chain: before, key: key, protection: &protection, protectionFile: file))
        #expect(await votesInMempool(before).map(\.target) == [cast.target])
        // The restarted node: the same chain, an empty mempool, the protection file read back.
        var reloaded = try FinalityVoterService.loadProtection(file)
        let resent = try await FinalityVoterService.castDueVote(chain: after, key: key, protection: &reloaded, protectionFile: file)
        #expect(resent?.source == cast.source && resent?.target == cast.target, "the signed vote was not sent again: \(String(describing: resent))")
        #expect(await votesInMempool(after).map(\.target) == [cast.target])
        // Pending: not sent a second time (each copy would take a nonce).
        #expect(try await FinalityVoterService.castDueVote(chain: after, key: key, protection: &reloaded, protectionFile: file) == nil)
        #expect(await votesInMempool(after).count == 1)
        // Counted in a block: not sent again.
        var afterIdentities = [TestGenesis.identity(0)]
        try await g.produce(on: after, through: 10, clock: clock, identities: &afterIdentities)
        #expect(await votesInMempool(after).isEmpty, "the vote was not included")
        #expect(try await FinalityVoterService.castDueVote(chain: after, key: key, protection: &reloaded, protectionFile: file) == nil)
        #expect(await votesInMempool(after).isEmpty)
        // Any other vote for the target height is still refused, across the reload too.
        var other = cast
        other.target = Checkpoint(height: cast.target.height, hash: SHA256.hash(Array("another block".utf8)))
        #expect(!reloaded.permits(other) && !reloaded.isIdentical(toSigned: other))
        other = cast
        other.source = Checkpoint(height: cast.source.height, hash: SHA256.hash(Array("another source".utf8)))
        #expect(!reloaded.permits(other) && !reloaded.isIdentical(toSigned: other))
        #expect(reloaded.isIdentical(toSigned: cast))
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

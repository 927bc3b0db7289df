import Foundation
@testable import Ledger
import Primitives
import TestSupport
import Testing

@testable import Consensus
@testable import Storage

/// Side blocks no longer stay on disk for good (Specs/consensus.md §4 "Side blocks", Specs/storage.md §4): the commit that
/// moves the finalized height past one deletes it, and the one-side-block-per-(proposer, slot) rule survives a restart.
@Suite struct SideBlockPruningTests {
    typealias Forge = ConsensusAttackReviewTests

    func importError(_ engine: ChainEngine, _ b: Block, now: UInt64) -> ImportError? {
        do { _ = try engine.importBlock(b, now: now); return nil } catch { return error }
    }

    /// A leader's side blocks at heights 2 and 3 are stored while unfinalized; finalizing height 2 deletes the one at 2
    /// (header, body, block record, index entry) and keeps the one at 3; finalizing 4 deletes that one too. A deleted
    /// side block sent again is refused as below finality, not stored again.
    @Test func sideBlocksAreDeletedOnceTheFinalizedHeightPassesThem() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 3, checkpointBlocks: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let shared = try net.produce(ea)
        _ = try eb.importBlock(shared, now: net.now(shared.header.slot))
        func checkpoint(_ h: UInt64) throws -> Checkpoint { try net.checkpoint(ea, h) }
        func votes(_ source: Checkpoint, _ target: Checkpoint) throws -> SignedTransaction { try net.allVotes(ea, source, target) }
        try net.produce(ea)
        try net.produce(ea)  // height 3 records checkpoint 2
        // B's branch of two blocks at heights 2 and 3, in later slots: equal height, so A keeps its chain and stores them.
        let s2 = try net.produce(eb, from: ea.tipHeader.slot + 1)
        let s3 = try net.produce(eb)
        for s in [s2, s3] {
            guard case .sideChain = try ea.importBlock(s, now: net.now(s.header.slot)) else { Issue.record("side block not stored"); return }
        }
        let view = { ea.store.current }
        #expect(try view().sideBlocks(from: 0, limit: 10).map(\.hash) == [s2.hash, s3.hash])

        try net.produce(ea, txs: [try votes(checkpoint(0), checkpoint(2))])
        try net.produce(ea)  // height 5 records checkpoint 4
        try net.produce(ea, txs: [try votes(checkpoint(2), checkpoint(4))])
        #expect(ea.finalizedHeight == 2)
        #expect(try view().blockInfo(s2.hash) == nil)
        #expect(try view().header(s2.hash) == nil)
        #expect(try view().body(s2.hash) == nil)
        #expect(try view().blockInfo(s3.hash) != nil, "a side block above the finalized height was deleted")
        #expect(try view().sideBlocks(from: 0, limit: 10).map(\.hash) == [s3.hash])
        // Canonical blocks at or below the finalized height are untouched.
        for h in UInt64(0)...ea.tipHeight {
            let hash = try #require(try view().canonicalHash(at: h))
            #expect(try view().header(hash) != nil && view().body(hash) != nil && view().blockInfo(hash) != nil)
        }
        guard case .belowFinality = importError(ea, s2, now: net.now(s2.header.slot)) else {
            Issue.record("a deleted side block sent again was not refused as below finality"); return
        }
        #expect(try view().blockInfo(s2.hash) == nil)

        try net.produce(ea)  // height 7 records checkpoint 6
        try net.produce(ea, txs: [try votes(checkpoint(4), checkpoint(6))])
        #expect(ea.finalizedHeight == 4)
        #expect(try view().blockInfo(s3.hash) == nil)
        #expect(try view().sideBlocks(from: 0, limit: 10).isEmpty)
    }

    /// The (proposer, slot) rule is rebuilt from the store at startup: a leader's second side block for a slot is not
    /// stored after a restart either (before, the index was in memory only and a restart let one more through).
    @Test func aRestartDoesNotLetASecondSideBlockForOneSlotBeStored() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30, slotsPerEpoch: 1000)
        let dir = TempDir()
        let (canonical, orphan, _) = try ConsensusAttackReview8Tests.canonicalAndOrphan(net)
        var engine = try net.engine(at: dir)
        for b in canonical { _ = try engine.importBlock(b, now: net.now(b.header.slot)) }
        guard case .sideChain = try engine.importBlock(orphan, now: net.now(orphan.header.slot)) else { Issue.record("orphan not stored"); return }
        let attacker = net.validators[0]
        var slot = orphan.header.slot + 1
        while try engine.leader(of: slot) != attacker.publicKey { slot += 1 }
        let first = Forge.forge(net, parent: orphan.header, slot: slot, key: attacker)
        let transfer = Transaction(chainId: net.genesis.chainId, sender: net.accounts[3].publicKey, nonce: 0, fee: 100_000,
                                   body: .transfer(to: net.accounts[2].publicKey, amount: 1)).signed(by: net.accounts[3])
        let second = Forge.forge(net, parent: orphan.header, slot: slot, key: attacker, txs: [transfer])
        #expect(first.hash != second.hash)
        guard case .sideChain = try engine.importBlock(first, now: net.now(slot)) else { Issue.record("the leader's side block was not stored"); return }

        try engine.store.close()
        engine = try net.engine(at: dir)
        let error = importError(engine, second, now: net.now(slot))
        guard case .notStored(.secondBlockForSlot) = error else { Issue.record("second block after a restart: \(String(describing: error))"); return }
        #expect(try engine.store.current.blockInfo(second.hash) == nil)
        #expect(try engine.store.current.blockInfo(first.hash) != nil)
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import Storage
import TestSupport

/// A reorg's branch finalizes only once the switch stands (Specs/consensus.md §4, §9; eighteenth-session audit, fixed
/// in the nineteenth): the branch's blocks were committed with their own finalized height, so when a later block of the
/// same run failed, the restore could not revert below the branch's finalized block and the import ended in a fault,
/// the node left on the branch with no reorg announced.
@Suite struct ReorgFinalityTests {
    /// Nodes A and B, B's blocks not yet given to A, and the next free slot.
    struct Branches {
        let net: TestNetwork
        let dirs: (TempDir, TempDir)   // kept for as long as the engines are used
        let ea: ChainEngine, eb: ChainEngine
        var side: [Block]
        let slot: UInt64
    }

    /// Node A at height 6 with its checkpoint 4 justified straight from genesis (0 → 4, nothing finalized), and B's
    /// branch from the shared height 1, at later slots: heights 2–6 justifying its checkpoint 2 (0 → 2 at 4) and then
    /// finalizing it (2 → 4 at 6), the validators voting on both branches. Returns B's blocks and the next free slot.
    static func twoBranches() throws -> Branches {
        let (net, dirs) = (TestNetwork(validators: 2, finalityDepth: 30, checkpointBlocks: 2), (TempDir(), TempDir()))
        let ea = try net.engine(at: dirs.0), eb = try net.engine(at: dirs.1)
        let shared = try net.produce(ea)
        _ = try eb.importBlock(shared, now: net.now(shared.header.slot))
        for _ in 2...5 { try net.produce(ea) }   // height 5 records checkpoint 4
        try net.produce(ea, txs: [try net.allVotes(ea, try net.checkpoint(ea, 0), try net.checkpoint(ea, 4))])
        var slot = ea.tipHeader.slot + 1
        var side = [Block]()
        func next(_ txs: [SignedTransaction] = []) throws {
            let blk = try net.produce(eb, from: slot, txs: txs)
            side.append(blk)
            slot = blk.header.slot + 1
        }
        try next(); try next()   // heights 2, 3 (3 records checkpoint 2)
        try next([try net.allVotes(eb, try net.checkpoint(eb, 0), try net.checkpoint(eb, 2))])
        try next()               // height 5 records checkpoint 4
        try next([try net.allVotes(eb, try net.checkpoint(eb, 2), try net.checkpoint(eb, 4))])
        return Branches(net: net, dirs: dirs, ea: ea, eb: eb, side: side, slot: slot)
    }

    /// Performed: node A justified its checkpoint 4 straight from genesis (nothing finalized); B's branch, forking at
    /// height 1, justifies its checkpoint 2 and then finalizes it with 2 → 4 (the validators vote on both branches), as
    /// high as A's tip, and wins on height only with a seventh block whose state root is wrong. A executes the run,
    /// B's checkpoint 2 finalized on the way, then the bad block: A must refuse it and be back on its own chain, with
    /// nothing finalized and its undo records intact, able to go on.
    @Test func aBranchThatFinalizesAndThenFailsLeavesTheNodeOnItsChain() throws {
        var branches = try Self.twoBranches()
        let (net, ea, eb, slot) = (branches.net, branches.ea, branches.eb, branches.slot)
        #expect(ea.tipHeight == 6 && ea.finalizedHeight == 0)
        #expect(try Ledger.finality(of: ea.tipState).justified.height == 4)
        let aTip = ea.tipHash
        #expect(eb.tipHeight == 6 && eb.finalizedHeight == 2, "B's branch finalizes its checkpoint 2")
        // Height 7: a block its slot's leader signed, with a wrong state root.
        let v = net.index(of: try #require(try eb.leader(of: slot)))
        let good = try eb.produceBlock(slot: slot, key: net.validators[v], randaoReveal: try net.reveal(eb, v), candidates: [], now: net.now(slot))
        var header = good.header
        header.stateRoot = SHA256.hash(Array("not the state".utf8))
        branches.side.append(Block(signedHeader: SignedHeader(header: header, signedBy: net.validators[v]), transactions: good.transactions))

        for blk in branches.side.dropLast() {
            guard case .sideChain = try ea.importBlock(blk, now: net.now(blk.header.slot)) else {
                Issue.record("B's block at height \(blk.header.height) was taken on its own"); return
            }
        }
        let bad = try #require(branches.side.last)
        do {
            _ = try ea.importBlock(bad, now: net.now(bad.header.slot))
            Issue.record("a block with a wrong state root was imported")
        } catch ImportError.invalid {
            // Refused, and the previous chain restored.
        } catch {
            Issue.record("the failed branch ended in \(error), not a refusal")
        }
        #expect(ea.tipHash == aTip && ea.tipHeight == 6)
        let stored = try ea.store.finalizedHeight() ?? 0
        #expect(ea.finalizedHeight == 0 && stored == 0, "B's finality stayed behind")
        #expect(try Ledger.finality(of: ea.tipState).justified.height == 4)
        // A goes on from its own tip.
        let more = try net.produce(ea, from: slot + 1)
        #expect(ea.tipHash == more.hash && ea.tipHeight == 7)
    }

    /// When the switch stands, its finality is committed with it: the same branch without the bad block, one block
    /// longer than A, is taken, and B's checkpoint 2 is finalized on A, in the store too.
    @Test func aBranchThatStandsCommitsItsFinality() throws {
        var branches = try Self.twoBranches()
        let (net, ea, eb, slot) = (branches.net, branches.ea, branches.eb, branches.slot)
        branches.side.append(try net.produce(eb, from: slot))   // height 7: B is one block longer
        var changed = false
        for blk in branches.side {
            if case .tipChanged = try ea.importBlock(blk, now: net.now(blk.header.slot)) { changed = true }
        }
        #expect(changed && ea.tipHash == eb.tipHash && ea.tipHeight == 7)
        let stored = try ea.store.finalizedHeight()
        #expect(ea.finalizedHeight == 2 && stored == 2)
        // A's old block at height 2, at the new finalized height, is gone from the side index (its blocks above stay).
        #expect(try ea.store.current.sideBlocks(from: 0, limit: 100).allSatisfy { $0.height > 2 })
    }

    /// A crash between a reorg's last commit and its `finalize` leaves the stored finalized height below the tip state's
    /// (nineteenth-session review): reopening raises it at once, so the below-finality checks hold from the start rather
    /// than from the next block. The crash is stood in for by writing the stored height back to 0.
    @Test func reopeningRaisesAStoredFinalizedHeightLeftBehindByACrash() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30, checkpointBlocks: 2)
        let dir = TempDir()
        do {
            let ea = try net.engine(at: dir)
            for _ in 1...3 { try net.produce(ea) }
            try net.produce(ea, txs: [try net.allVotes(ea, try net.checkpoint(ea, 0), try net.checkpoint(ea, 2))])
            try net.produce(ea)
            try net.produce(ea, txs: [try net.allVotes(ea, try net.checkpoint(ea, 2), try net.checkpoint(ea, 4))])
            #expect(ea.finalizedHeight == 2)
            try ea.store.close()
        }
        let db = try Database.open(path: dir.path, columnFamilies: ChainSchema.columnFamilies)
        try db.put(try db.columnFamily(ChainSchema.Family.meta), ChainSchema.MetaKey.finalized, UInt64(0).canonicalEncoding, sync: true)
        try db.close()
        let reopened = try net.engine(at: dir)
        let stored = try reopened.store.finalizedHeight()
        #expect(reopened.finalizedHeight == 2 && stored == 2)
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// The fork-choice pass at opening (Specs/consensus.md §4, "Restart"): a reorganisation is one batch per reverted and
/// per applied block, and a kill between them left the node on the fork point (or part way up the winning branch)
/// until the next block arrived. Opening the store now completes the switch, and only a switch fork choice makes.
@Suite struct RestartForkChoiceTests {
    /// A shares three blocks with B, then builds one block (with a transfer); B builds two on later slots and wins.
    /// A has imported B's first block (a side block: equal height, later slot) and stored B's second, as `importBlock`
    /// does before it reorganises. Returns A's engine, B's engine, the fork point's header and B's branch.
    func interruptedReorg(_ net: TestNetwork, _ a: TempDir, _ b: TempDir) throws -> (ChainEngine, ChainEngine, BlockHeader, [Block]) {
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        for _ in 0..<3 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        let forkHeader = ea.tipHeader
        try net.produce(ea, txs: [try net.transfer(ea, from: 1, to: net.accounts[3].publicKey, amount: 77)])
        var branch = [Block]()
        var slot = ea.tipHeader.slot + 1
        for i in 0..<2 {
            let blk = try net.produce(eb, from: slot, txs: [try net.transfer(eb, from: 2, to: net.accounts[3].publicKey, amount: UInt64(100 + i))])
            branch.append(blk); slot = blk.header.slot + 1
        }
        guard case .sideChain = try ea.importBlock(branch[0], now: net.now(branch[0].header.slot)) else {
            throw ImportError.fault("B's first block should be a side block on A")
        }
        try ea.store.storeSideBlock(hash: branch[1].hash, height: branch[1].header.height, parent: branch[1].header.parent,
                                    header: branch[1].signedHeader.canonicalEncoding, body: branch[1].bodyEncoding)
        return (ea, eb, forkHeader, branch)
    }

    /// Killed after the revert batch (tip on the fork point) or after the first apply batch (tip part way up B):
    /// reopening switches to B's tip, with exactly the state of a node that imported B normally.
    @Test(arguments: [0, 1]) func reopeningCompletesAnInterruptedReorganisation(appliedBeforeTheKill: Int) throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30)
        let a = TempDir(), b = TempDir()
        let (ea, eb, forkHeader, branch) = try interruptedReorg(net, a, b)
        // The store as a kill between the batches leaves it: A's block reverted (a side block now), and none or the
        // first of B's blocks committed, each by the same batch `reorganize` writes.
        try ea.store.revertTip()
        if appliedBeforeTheKill == 1 { try ea.validateAndCommit(branch[0], parentHeader: forkHeader) }
        #expect(try ea.store.tip()?.height == forkHeader.height + UInt64(appliedBeforeTheKill))
        try ea.store.close()

        let reopened = try net.engine(at: a)
        #expect(reopened.tipHash == eb.tipHash, "the node stayed on the interrupted reorganisation's tip")
        #expect(reopened.tipHeader.stateRoot == eb.tipHeader.stateRoot)
        #expect(try reopened.store.current.dumpState() == eb.store.current.dumpState())
        #expect(try reopened.tipState.account(net.accounts[3].publicKey).balance == Amount(10_000_000 + 100 + 101))
        #expect(reopened.openingForkChoice.switches.count == 1)
        #expect(reopened.openingForkChoice.switches.first?.applied.map(\.hash) == Array(branch.dropFirst(appliedBeforeTheKill).map(\.hash)))
        #expect(!reopened.tipArrivedTimely, "stored side blocks count as not timely after a restart")
        // And the chain continues on B.
        let next = try net.produce(eb)
        guard case .tipChanged = try reopened.importBlock(next, now: net.now(next.header.slot)) else {
            Issue.record("B's next block did not extend the reopened node"); return
        }
        #expect(reopened.tipHash == eb.tipHash)
    }

    /// A side branch fork choice does not take is not switched to on reopening: one block shorter, or as long and on
    /// earlier slots but arrived after its slots (the tip, timely, beat it then; after a restart stored side blocks count
    /// as not timely and the canonical tip as timely, so the decision stands).
    @Test(arguments: [1, 2]) func reopeningKeepsTheTipOverABranchForkChoiceDoesNotPrefer(sideBlocks: Int) throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        for _ in 0..<3 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        // B's blocks take the earlier slots; A's two blocks come after them.
        var side = [Block]()
        for _ in 0..<sideBlocks { side.append(try net.produce(eb)) }
        try net.produce(ea, from: eb.tipHeader.slot + 1)
        try net.produce(ea)
        #expect(side.last!.header.height <= ea.tipHeight && side.last!.header.slot < ea.tipHeader.slot)
        // A receives them late (after A's tip's slot began): side blocks.
        for blk in side {
            guard case .sideChain = try ea.importBlock(blk, now: net.now(ea.tipHeader.slot)) else {
                Issue.record("B's block should stay a side block on A"); return
            }
        }
        let tip = ea.tipHash, root = ea.tipHeader.stateRoot
        let state = try ea.store.current.dumpState()
        try ea.store.close()

        let reopened = try net.engine(at: a)
        #expect(reopened.openingForkChoice.candidates == 1)
        #expect(reopened.tipHash == tip && reopened.tipHeader.stateRoot == root, "the node switched to a branch fork choice does not prefer")
        #expect(try reopened.store.current.dumpState() == state)
        #expect(reopened.openingForkChoice.switches.isEmpty && reopened.openingForkChoice.rejected.isEmpty)
        #expect(try reopened.hasBlock(side.last!.hash) && !reopened.store.current.isCanonical(side.last!.hash))
    }
}

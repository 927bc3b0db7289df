import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Independent security review (review A) of consensus v2: each test performs an attack and asserts the secure
/// outcome. Tests marked "regression" pass on the reviewed code (the attack is defended); the others failed on it.
@Suite struct ConsensusAttackReviewTests {
    /// A block that passes every stateless check (chain, size, timestamp in its slot, a valid signature by
    /// `key`, transaction root) but whose proposer is whoever holds `key`: no leader check, no valid roots.
    static func forge(_ net: TestNetwork, parent: BlockHeader, slot: UInt64, key: PrivateKey, txs: [SignedTransaction] = []) -> Block {
        let header = BlockHeader(chainId: net.genesis.chainId, height: parent.height + 1, slot: slot, parent: parent.hash,
                                 timestamp: net.genesis.slotStartMillis(slot) + 1, proposer: key.publicKey, randaoReveal: .zero,
                                 txRoot: Block.txRoot(txs), receiptsRoot: .zero, stateRoot: .zero)
        return Block(signedHeader: SignedHeader(header: header, signedBy: key), transactions: txs)
    }

    static func canonicalHeader(_ engine: ChainEngine, at height: UInt64) throws -> BlockHeader {
        let hash = try #require(try engine.store.current.canonicalHash(at: height))
        return try #require(try engine.block(hash)).header
    }

    /// Finding A1: a side block is stored (and reported `.sideChain`, which P2P relays to every peer) after the
    /// stateless checks only, so anyone with a fresh key pair can fill every node's disk with blocks nobody leads.
    @Test func aSideBlockFromANonValidatorIsRejectedAndNotStored() throws {
        let net = TestNetwork(validators: 1, finalityDepth: 30)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        for _ in 0..<3 { try net.produce(engine) }
        let parent = try Self.canonicalHeader(engine, at: 1)
        let attacker = key("not-a-validator")
        var stored = 0
        for i in 0..<20 {
            let slot = engine.tipHeader.slot + 1 + UInt64(i)
            let forged = Self.forge(net, parent: parent, slot: slot, key: attacker)
            do {
                let r = try engine.importBlock(forged, now: net.now(slot))
                if case .sideChain = r { /* accepted as a competitor */ }
            } catch ImportError.invalid {
                // the secure outcome
            }
            if try engine.hasBlock(forged.hash) { stored += 1 }
        }
        #expect(stored == 0, "\(stored) blocks signed by a key that is not even a validator were stored as side blocks")
    }

    /// Finding A1 (cost): a branch of such blocks that wins on height makes the node revert its chain to the fork
    /// point, fail the first forged block's leader check, and re-execute every reverted block. Any key pair can do it
    /// again and again (a new first block each time), for the price of a few hundred bytes per block.
    @Test func aNonValidatorBranchCannotMakeTheNodeRevertAndReexecuteItsChain() throws {
        let net = TestNetwork(validators: 1, finalityDepth: 30)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        for _ in 0..<8 { try net.produce(engine) }
        let tip = engine.tipHash
        let before = engine.timings.blocks
        let attacker = key("not-a-validator")
        var parent = try Self.canonicalHeader(engine, at: 1)
        var slot = engine.tipHeader.slot + 1
        var rejected = false
        // Heights 2 … 9: one more block than the canonical chain.
        for _ in 0..<8 {
            let forged = Self.forge(net, parent: parent, slot: slot, key: attacker)
            do { _ = try engine.importBlock(forged, now: net.now(slot)) } catch { rejected = true; break }
            parent = forged.header
            slot += 1
        }
        #expect(engine.tipHash == tip)
        #expect(rejected, "the forged branch was never rejected")
        #expect(engine.timings.blocks == before,
                "a branch of blocks signed by a non-validator made the node revert and re-execute \(engine.timings.blocks - before) blocks")
    }

    /// Regression (defended): a non-validator's block on the tip itself is refused by the leader check.
    @Test func aNonValidatorBlockOnTheTipIsInvalid() throws {
        let net = TestNetwork(validators: 1, finalityDepth: 30)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        for _ in 0..<2 { try net.produce(engine) }
        let slot = engine.tipHeader.slot + 1
        let forged = Self.forge(net, parent: engine.tipHeader, slot: slot, key: key("not-a-validator"))
        #expect(throws: ImportError.self) { try engine.importBlock(forged, now: net.now(slot)) }
        #expect(try !engine.hasBlock(forged.hash))
    }

    /// Regression (defended): a side block by the genuine leader of its slot on the fork point is still stored,
    /// and a longer honest branch still wins (the fix for A1 must not refuse honest forks).
    @Test func anHonestSideBranchIsStillStoredAndWins() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        for _ in 0..<3 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        try net.produce(ea)
        var slot = ea.tipHeader.slot + 1
        var branch = [Block]()
        for _ in 0..<2 { let blk = try net.produce(eb, from: slot); branch.append(blk); slot = blk.header.slot + 1 }
        var last: ImportResult?
        for blk in branch { last = try ea.importBlock(blk, now: net.now(blk.header.slot)) }
        guard case .tipChanged = last else { Issue.record("the longer honest branch did not win"); return }
        #expect(ea.tipHash == eb.tipHash)
    }
}

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

    /// A chain service on a fresh store of `net` at slot 5 that submits evidence paid by account 2 (the store and
    /// the clock live as long as the tuple).
    static func reportingService(_ net: TestNetwork) async throws -> (service: ChainService, dir: TempDir, clock: TestClock) {
        let dir = TempDir()
        let clock = TestClock(net.now(5))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        await service.setEvidenceReporter(net.accounts[2])
        return (service, dir, clock)
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

    /// A validator leading a slot in the unfinalized window signs variant after variant of one side block for it, each
    /// with a finality vote whose target is above the tip's justified height. Every variant made the node revert to
    /// the fork point, execute it, and re-execute its own chain (and stayed stored), at no cost past one tombstoning
    /// (eighteenth-session audit: 420 block executions for 20 variants). Only the first is executed and stored now.
    @Test func variantsOfOneSlotsSideBlockCarryingVotesAreNotEachExecuted() throws {
        let net = TestNetwork(validators: 1, finalityDepth: 30)
        let vd = TempDir(), ad = TempDir()
        let victim = try net.engine(at: vd), attacker = try net.engine(at: ad)
        let forkHeight: UInt64 = 5, tipHeight: UInt64 = 25
        for h in 1...tipHeight {
            let b = try net.produce(victim)
            if h <= forkHeight { _ = try attacker.importBlock(b, now: net.now(b.header.slot)) }
        }
        let v = net.validators[0], slot = victim.tipHeader.slot + 1, sender = net.accounts[3]
        let vote = FinalityVote(validator: v.publicKey, source: Checkpoint(height: 0, hash: attacker.genesisHash),
                                target: Checkpoint(height: 1_000_000, hash: SHA256.hash([7]))).signed(by: v, chainId: net.genesis.chainId)
        let voteTx = Transaction(chainId: net.genesis.chainId, sender: sender.publicKey, nonce: try attacker.tipState.account(sender.publicKey).nonce,
                                 fee: 10_000, body: .finalityVotes(votes: [vote])).signed(by: sender)
        let before = victim.timings.blocks, tip = victim.tipHash
        var hashes = [Hash32]()
        for k in 0..<12 {
            let b = try attacker.produceBlock(slot: slot, key: v, randaoReveal: try net.reveal(attacker, 0), candidates: [voteTx],
                                              now: net.genesis.slotStartMillis(slot) + UInt64(k))
            hashes.append(b.hash)
            _ = try? victim.importBlock(b, now: net.now(slot) + 500)
        }
        #expect(victim.tipHash == tip)
        let executions = victim.timings.blocks - before
        // The first variant: the branch (one block) and the canonical chain back (20 blocks), once.
        #expect(executions <= Int(tipHeight - forkHeight) + 2, "\(executions) block executions for \(hashes.count) variants")
        #expect(try hashes.filter { try victim.hasBlock($0) }.count <= 1, "variants of one (proposer, slot) were stored")
        // A variant that wins on height is still executed (an equivocating leader's branch from a partition can lead).
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

    /// Finding A2: the equivocation watch keeps at most 16 384 (proposer, slot) entries and, when full, keeps the
    /// newest slots. Headers need only a valid signature by any key (they are recorded before validation, even for
    /// a block whose parent is unknown), so a flood of self-signed headers for current slots evicts a validator's
    /// first header, and its second header for the same slot is then not detected: the equivocation goes unreported.
    @Test func aFloodOfSelfSignedHeadersDoesNotHideAnEquivocation() async throws {
        let net = TestNetwork(validators: 2)
        let producerDir = TempDir(), dir = TempDir()
        let producer = try net.engine(at: producerDir)
        let honest = try net.produce(producer)
        let offender = net.validators[net.index(of: honest.header.proposer)]
        var h = honest.header
        h.txRoot = SHA256.hash([7])
        let twin = Block(signedHeader: SignedHeader(header: h, signedBy: offender), transactions: [])
        let clock = TestClock(net.now(honest.header.slot + 40))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        guard case .imported = await service.importBlock(honest) else { Issue.record("honest block not imported"); return }
        // The flood: blocks with unknown parents, each signed by one of 512 fresh keys, for the next 33 slots (within the
        // kept window of slots, keepSlots = unbondingBlocks = 40, so only the size bound evicts).
        let spam = (0..<512).map { key("spam-\($0)") }
        for i in 0..<(EquivocationWatch.maxEntries + 1) {
            let slot = honest.header.slot + 1 + UInt64(i / spam.count)
            let header = BlockHeader(chainId: net.genesis.chainId, height: 5, slot: slot, parent: SHA256.hash([1]),
                                     timestamp: net.genesis.slotStartMillis(slot), proposer: spam[i % spam.count].publicKey,
                                     randaoReveal: .zero, txRoot: Block.txRoot([]), receiptsRoot: .zero, stateRoot: .zero)
            _ = await service.importBlock(Block(signedHeader: SignedHeader(header: header, signedBy: spam[i % spam.count]), transactions: []))
        }
        _ = await service.importBlock(twin)
        #expect(await service.detectedEquivocations == [Equivocation(offender: offender.publicKey, slot: honest.header.slot)],
                "the flood evicted the validator's first header: its equivocation went unnoticed")
    }

    /// Finding A4: the node submits `voteEvidence` for conflicting votes of any key, read from any block before it is
    /// validated (even one whose parent is unknown, signed by nobody in particular). The evidence fails on chain
    /// (`unknownStaker`) but the reporter (a validator node's own key) pays its fee: a junk block with one transaction
    /// of k conflicting votes by a fresh key makes every validator node pay up to k(k-1)/2 fees, and the vote watch
    /// grows by one entry per fresh key, without bound.
    @Test func conflictingVotesOfANonValidatorDoNotMakeTheNodePayForEvidence() async throws {
        let net = TestNetwork(validators: 1)
        let node = try await Self.reportingService(net)
        let service = node.service
        let stranger = key("not-a-validator")
        let source = Checkpoint(height: 0, hash: await service.genesisHash)
        let votes = (0..<8).map { i in
            FinalityVote(validator: stranger.publicKey, source: source, target: Checkpoint(height: 10, hash: SHA256.hash([UInt8(i)])))
                .signed(by: stranger, chainId: net.genesis.chainId)
        }
        let tx = Transaction(chainId: net.genesis.chainId, sender: stranger.publicKey, nonce: 0, fee: 1,
                             body: .finalityVotes(votes: votes)).signed(by: stranger)
        let genesisHeader = await service.tipHeader
        let junk = Self.forge(net, parent: BlockHeader(chainId: net.genesis.chainId, height: 7, slot: 3, parent: SHA256.hash([3]),
                                                       timestamp: 0, proposer: stranger.publicKey, randaoReveal: .zero, txRoot: .zero,
                                                       receiptsRoot: .zero, stateRoot: .zero),
                              slot: genesisHeader.slot + 4, key: stranger, txs: [tx])
        _ = await service.importBlock(junk)
        let evidence = await service.mempoolContents().filter { if case .voteEvidence = $0.transaction.body { return true }; return false }
        #expect(evidence.isEmpty, "the node queued \(evidence.count) evidence transactions, paid by its own key, against a key that is not a validator")
    }

    /// Finding A4 (headers): likewise two headers for one slot signed by a key that is not a validator make the node
    /// submit (and pay for) `doubleSignEvidence` that can only fail.
    @Test func twoHeadersOfANonValidatorDoNotMakeTheNodePayForEvidence() async throws {
        let net = TestNetwork(validators: 1)
        let node = try await Self.reportingService(net)
        let service = node.service
        let stranger = key("not-a-validator")
        let tip = await service.tipHeader
        let a = Self.forge(net, parent: tip, slot: 3, key: stranger)
        var h = a.header
        h.stateRoot = SHA256.hash([1])
        let b = Block(signedHeader: SignedHeader(header: h, signedBy: stranger), transactions: [])
        _ = await service.importBlock(a)
        _ = await service.importBlock(b)
        let evidence = await service.mempoolContents().filter { if case .doubleSignEvidence = $0.transaction.body { return true }; return false }
        #expect(evidence.isEmpty, "the node queued evidence, paid by its own key, against a key that is not a validator")
    }

    /// Regression (defended, must survive the A2/A4 fixes): a validator's conflicting votes seen in a block are still
    /// reported.
    @Test func conflictingVotesOfAValidatorAreStillReported() async throws {
        let net = TestNetwork(validators: 2)
        let node = try await Self.reportingService(net)
        let service = node.service
        let v = net.validators[0]
        let source = Checkpoint(height: 0, hash: await service.genesisHash)
        let votes = (0..<2).map { i in
            FinalityVote(validator: v.publicKey, source: source, target: Checkpoint(height: 10, hash: SHA256.hash([UInt8(i)])))
                .signed(by: v, chainId: net.genesis.chainId)
        }
        let sender = net.accounts[1]
        let tx = Transaction(chainId: net.genesis.chainId, sender: sender.publicKey, nonce: 0, fee: 100_000,
                             body: .finalityVotes(votes: votes)).signed(by: sender)
        _ = try await service.submit(tx)
        let evidence = await service.mempoolContents().filter { if case .voteEvidence = $0.transaction.body { return true }; return false }
        #expect(evidence.count == 1)
    }

    /// Finding A5: a block more than the clock tolerance ahead is kept for a retry (`early`, 64 blocks) before its
    /// signature or proposer is looked at. Anyone can fill the 64 places with junk blocks up to 64 slots ahead
    /// (`Plausibility.maxFutureSlots`; up to 64 × maxBlockBytes = 256 MiB held for about ten minutes), and a genuine
    /// block that arrives early (a node whose clock is behind) is then dropped, and gossip has marked it seen.
    @Test func junkFutureBlocksDoNotCrowdOutAGenuineEarlyBlock() async throws {
        let net = TestNetwork(validators: 1)
        let producerDir = TempDir(), dir = TempDir()
        let producer = try net.engine(at: producerDir)
        let genuine = try net.produce(producer, from: 5)
        let clock = TestClock(net.now(2))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        let genesisHeader = await service.tipHeader
        for i in 0..<64 {
            let junk = Self.forge(net, parent: genesisHeader, slot: 6, key: key("junk-\(i)"))
            _ = await service.importBlock(junk)
        }
        guard case .fromFuture = await service.importBlock(genuine) else { Issue.record("expected the genuine block to be early"); return }
        clock.set(net.now(genuine.header.slot))
        await service.retryEarly()
        #expect(await service.tipHeader.hash == genuine.hash, "the genuine early block was dropped: junk filled the retry pool")
    }

    /// Finding A1 (residual after the first fix): a key with a validator record that is not scheduled in the fork
    /// point's epoch (here: bonded in this epoch, so it leads nothing before the next) extends a stored honest side
    /// block with junk; the branch, once longer, makes the node revert and re-execute. Within the fork point's epoch
    /// every leader of the branch is in the fork point's stored snapshot (it only shrinks), so such blocks can be refused
    /// before they are stored.
    @Test func aValidatorNotScheduledCannotExtendASideBranchWithJunk() throws {
        let net = TestNetwork(validators: 1, finalityDepth: 30, slotsPerEpoch: 1000)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let joiner = net.accounts[3]
        let bond = Transaction(chainId: net.genesis.chainId, sender: joiner.publicKey, nonce: 0, fee: 10_000,
                               body: .bond(role: .validator, amount: 1000, randaoCommitment: SHA256.hash([42]))).signed(by: joiner)
        for i in 0..<3 {
            let blk = try net.produce(ea, txs: i == 0 ? [bond] : [])
            _ = try eb.importBlock(blk, now: net.now(blk.header.slot))
        }
        #expect(try ea.tipState.staker(.validator, joiner.publicKey) != nil)
        for _ in 0..<3 { try net.produce(ea) }  // canonical heights 4 … 6
        // An honest side block at height 4 (the same leader, a later slot: no equivocation).
        let side = try net.produce(eb, from: ea.tipHeader.slot + 1)
        guard case .sideChain = try ea.importBlock(side, now: net.now(side.header.slot)) else { Issue.record("honest side block not stored"); return }
        let before = ea.timings.blocks
        let tip = ea.tipHash
        var parent = side.header
        var slot = side.header.slot + 1
        for _ in 0..<3 {  // heights 5 … 7: one more than the canonical chain
            let forged = Self.forge(net, parent: parent, slot: slot, key: joiner)
            do { _ = try ea.importBlock(forged, now: net.now(slot)) } catch { break }
            parent = forged.header
            slot += 1
        }
        #expect(ea.tipHash == tip)
        #expect(ea.timings.blocks == before,
                "junk signed by an unscheduled validator made the node revert and re-execute \(ea.timings.blocks - before) blocks")
    }
}

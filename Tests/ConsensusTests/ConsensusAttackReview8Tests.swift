import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Eighth review, consensus findings F1 and F2: each test performs the attack and asserts that it fails (both
/// attacks succeeded on the reviewed code), plus the honest case the F1 fix must keep working.
@Suite struct ConsensusAttackReview8Tests {
    typealias Forge = ConsensusAttackReviewTests

    /// A node (a chain service on a fresh store) at the canonical heights 1 … 8 of `producer`, plus an honest orphan X
    /// at height 3 (a sibling of canonical height 3, by the leader of its slot): the anchor the attacker builds on.
    /// Eight canonical blocks and an honest orphan forking at height 2 (a slot after the canonical tip's), from two
    /// engines in `dirs`.
    static func canonicalAndOrphan(_ net: TestNetwork) throws -> (canonical: [Block], orphan: Block, dirs: [TempDir]) {
        let pd = TempDir(), od = TempDir()
        let producer = try net.engine(at: pd), orphaner = try net.engine(at: od)
        var canonical = [Block]()
        for _ in 0..<2 { let b = try net.produce(producer); canonical.append(b); _ = try orphaner.importBlock(b, now: net.now(b.header.slot)) }
        for _ in 0..<6 { canonical.append(try net.produce(producer)) }
        return (canonical, try net.produce(orphaner, from: producer.tipHeader.slot + 1), [pd, od])
    }

    static func nodeWithOrphan(_ net: TestNetwork) async throws
        -> (service: ChainService, dir: TempDir, dirs: [TempDir], clock: TestClock, orphan: Block) {
        let dir = TempDir()
        let (canonical, orphan, dirs) = try canonicalAndOrphan(net)
        let clock = TestClock(net.now(orphan.header.slot))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        await service.setEvidenceReporter(net.accounts[2])
        for b in canonical { guard case .imported = await service.importBlock(b) else { throw TestFailure("canonical block not imported") } }
        guard case .sideChain = await service.importBlock(orphan) else { throw TestFailure("the honest orphan was not stored") }
        return (service, dir, dirs, clock, orphan)
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// `count` finalityVotes transactions of `votes` votes each naming `victim`, with junk signatures and target
    /// height 0 (not above the justified height: the branch is never executed, the votes only watched).
    static func junkVotes(_ net: TestNetwork, victim: PublicKey, sender: PrivateKey, count: Int, votes: Int, salt: UInt8) -> [SignedTransaction] {
        var txs = [SignedTransaction]()
        for t in 0..<count {
            var vs = [FinalityVote]()
            for i in 0..<votes {
                let tag: [UInt8] = [salt, UInt8(t), UInt8(i & 0xff), UInt8(i >> 8)]
                let junk = Signature(r: SHA256.hash(tag + [1]), s: SHA256.hash([2]))
                let target = Checkpoint(height: 0, hash: SHA256.hash(tag))
                vs.append(FinalityVote(validator: victim, source: Checkpoint(height: 0, hash: .zero), target: target, signature: junk))
            }
            let tx = Transaction(chainId: net.genesis.chainId, sender: sender.publicKey, nonce: UInt64(t), fee: 1, body: .finalityVotes(votes: vs))
            txs.append(tx.signed(by: sender))
        }
        return txs
    }

    /// F1 (high): a validator signs a junk block for every slot after an honest orphan X, each a child of X and full of
    /// finality votes with junk signatures naming another validator. On the reviewed code every one was stored (any
    /// member of the fork point's snapshot passed) and its votes' signatures were all checked (~1 s of the chain actor
    /// per 4 MiB block). Now only blocks of slots the key leads under the fork point's schedule are stored (one per
    /// slot), and at most `sideBlockVoteChecks` vote signatures are checked per stored block.
    @Test func aValidatorCannotGetJunkSideBlocksStoredForSlotsItDoesNotLead() async throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30, slotsPerEpoch: 1000)
        let node = try await Self.nodeWithOrphan(net)
        let service = node.service
        let orphan = node.orphan.header
        let attacker = net.validators[0], victim = net.validators[1].publicKey
        let txs = Self.junkVotes(net, victim: victim, sender: net.accounts[3], count: 4, votes: 256, salt: 9)
        var stored = 0, ledSlots = 0, refused = 0
        for slot in (orphan.slot + 1)...(orphan.slot + 30) {
            node.clock.set(net.now(slot))
            if try await service.leader(of: slot) == attacker.publicKey { ledSlots += 1 }
            let junk = Forge.forge(net, parent: orphan, slot: slot, key: attacker, txs: txs)
            switch await service.importBlock(junk) {
            case .sideChain: stored += 1
            case .notStored(.notLeaderAtForkPoint): refused += 1
            case let other: Issue.record("unexpected outcome for slot \(slot): \(other)")
            }
            #expect(try await service.hasBlock(junk.hash) == (await service.leader(of: slot) == attacker.publicKey))
        }
        #expect(ledSlots < 30 && refused == 30 - ledSlots)
        #expect(stored == ledSlots, "\(stored) junk side blocks stored for the \(ledSlots) slots the attacker leads")
        let checked = await service.voteSignaturesChecked
        #expect(checked <= stored * ChainService.sideBlockVoteChecks,
                "\(checked) junk vote signatures checked for \(stored) stored side blocks (cap \(ChainService.sideBlockVoteChecks) each)")
    }

    /// F1 (b): two different junk children of X for one slot the attacker leads: the first is stored, the second is
    /// not (an equivocation: its header is evidence, recorded by the header watch, and its body is never stored).
    @Test func aSecondSideBlockOfAProposerForOneSlotIsNotStoredAndIsReported() async throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30, slotsPerEpoch: 1000)
        let node = try await Self.nodeWithOrphan(net)
        let service = node.service
        let orphan = node.orphan.header
        let attacker = net.validators[0]
        var slot = orphan.slot + 1
        while try await service.leader(of: slot) != attacker.publicKey { slot += 1 }
        node.clock.set(net.now(slot))
        let a = Forge.forge(net, parent: orphan, slot: slot, key: attacker,
                            txs: Self.junkVotes(net, victim: net.validators[1].publicKey, sender: net.accounts[3], count: 1, votes: 8, salt: 1))
        let b = Forge.forge(net, parent: orphan, slot: slot, key: attacker,
                            txs: Self.junkVotes(net, victim: net.validators[1].publicKey, sender: net.accounts[3], count: 1, votes: 8, salt: 2))
        guard case .sideChain = await service.importBlock(a) else { Issue.record("the first block of a leader was not stored"); return }
        let second = await service.importBlock(b)
        guard case .notStored(.secondBlockForSlot) = second else { Issue.record("second block for the slot: \(second)"); return }
        #expect(try await !service.hasBlock(b.hash), "a second side block of one proposer for one slot was stored")
        #expect(await service.detectedEquivocations.contains(Equivocation(offender: attacker.publicKey, slot: slot)))
    }

    /// F1 (liveness of the fix): an honest branch whose schedule changed (it tombstones a validator, so the draw of its
    /// later slots differs from the fork point's) has blocks the node does not store one by one (`notStored`, not
    /// invalid: no peer is scored). Once the branch is longer, `importBranch` (what sync calls with the held blocks)
    /// executes it and the node switches to it.
    @Test func anHonestBranchWhoseScheduleChangedStillWinsOnceItLeads() async throws {
        let net = TestNetwork(validators: 3, finalityDepth: 30, slotsPerEpoch: 1000)
        let pd = TempDir(), bd = TempDir(), dir = TempDir()
        let producer = try net.engine(at: pd), brancher = try net.engine(at: bd)
        var canonical = [Block]()
        for _ in 0..<2 { let b = try net.produce(producer); canonical.append(b); _ = try brancher.importBlock(b, now: net.now(b.header.slot)) }
        for _ in 0..<10 { canonical.append(try net.produce(producer)) }
        let forkSchedule = try #require(try Ledger.currentSnapshot(of: brancher.tipState))
        // The branch's first block carries evidence of an equivocation by validator 2, who leaves its schedule at once.
        let offender = net.validators[2]
        let genesisHeader = try ConsensusAttackReviewTests.canonicalHeader(producer, at: 0)
        let h1 = Forge.forge(net, parent: genesisHeader, slot: 1, key: offender).signedHeader
        var other = h1.header
        other.stateRoot = SHA256.hash([5])
        let h2 = SignedHeader(header: other, signedBy: offender)
        let evidence = Transaction(chainId: net.genesis.chainId, sender: net.accounts[1].publicKey, nonce: 0, fee: 100_000,
                                   body: .doubleSignEvidence(headerA: h1.canonicalEncoding, headerB: h2.canonicalEncoding)).signed(by: net.accounts[1])
        var branch = [try net.produce(brancher, from: producer.tipHeader.slot + 1, txs: [evidence])]
        #expect(try brancher.tipState.staker(.validator, offender.publicKey)?.status == .tombstoned)
        while branch.count < 11 { branch.append(try net.produce(brancher)) }
        let firstMismatch = try #require(branch.dropFirst().firstIndex { LeaderSchedule.leader(of: $0.header.slot, in: forkSchedule) != $0.header.proposer },
                                         "the branch's schedule never differed from the fork point's")
        #expect(firstMismatch < branch.count - 1)

        let clock = TestClock(net.now(branch.last!.header.slot))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        for b in canonical { guard case .imported = await service.importBlock(b) else { Issue.record("canonical block not imported"); return } }
        for b in branch[..<firstMismatch] {
            guard case .sideChain = await service.importBlock(b) else { Issue.record("honest side block \(b.header.height) not stored"); return }
        }
        let deferred = await service.importBlock(branch[firstMismatch])
        guard case .notStored(.notLeaderAtForkPoint) = deferred else { Issue.record("expected the block not stored, not invalid: \(deferred)"); return }
        #expect(try await !service.hasBlock(branch[firstMismatch].hash))
        // Held blocks that do not make the branch lead yet are not executed or stored.
        let short = Array(branch[firstMismatch..<(branch.count - 1)])
        if short.count > 1 {
            let r = await service.importBranch(short)
            guard case .notStored(.branchDoesNotLead) = r else { Issue.record("a branch that does not lead: \(r)"); return }
        }
        let outcome = await service.importBranch(Array(branch[firstMismatch...]))
        guard case .imported = outcome else { Issue.record("the longer honest branch was not imported: \(outcome)"); return }
        #expect(await service.tipHeader.hash == brancher.tipHash)
    }

    /// F2 (medium): the equivocation watch was shared by every key with a validator record and, when full, kept the
    /// highest slots seen. 128 validators sign headers (blocks with unknown parents, no offence) for the next 64 slots,
    /// which evicted the offender's first header, so its second header for the same slot went unnoticed. Now only a
    /// slot's scheduled leader is recorded without bound, other validators at most 16 headers each, and entries leave
    /// only when the local clock's slot passes them by the horizon.
    @Test func aFloodOfValidatorHeadersDoesNotHideAnEquivocation() async throws {
        let net = TestNetwork(validators: 129, slotsPerEpoch: 1000)
        let pd = TempDir(), dir = TempDir()
        let producer = try net.engine(at: pd)
        let honest = try net.produce(producer)
        let offender = net.validators[net.index(of: honest.header.proposer)]
        var h = honest.header
        h.txRoot = SHA256.hash([7])
        let twin = Block(signedHeader: SignedHeader(header: h, signedBy: offender), transactions: [])
        let s = honest.header.slot
        let clock = TestClock(net.now(s + 1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        await service.setEvidenceReporter(net.accounts[2])
        guard case .imported = await service.importBlock(honest) else { Issue.record("honest block not imported"); return }
        let flood = net.validators.filter { $0.publicKey != offender.publicKey }
        for slot in (s + 1)...(s + 64) {
            for k in flood {
                let header = BlockHeader(chainId: net.genesis.chainId, height: 5, slot: slot, parent: SHA256.hash([1]),
                                         timestamp: net.genesis.slotStartMillis(slot), proposer: k.publicKey,
                                         randaoReveal: .zero, txRoot: Block.txRoot([]), receiptsRoot: .zero, stateRoot: .zero)
                _ = await service.importBlock(Block(signedHeader: SignedHeader(header: header, signedBy: k), transactions: []))
            }
        }
        _ = await service.importBlock(twin)
        #expect(await service.detectedEquivocations.contains(Equivocation(offender: offender.publicKey, slot: s)),
                "the flood of validators' headers evicted the offender's first header: its equivocation went unnoticed")
        let evidence = await service.mempoolContents().filter { if case .doubleSignEvidence = $0.transaction.body { return true }; return false }
        #expect(evidence.count == 1, "no evidence submitted for the equivocation")
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import StateTree
import TestSupport

@Suite struct EngineTests {
    @Test func producesImportsAndRestartsOnTheSameChain() throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        var hashes = [Hash32]()
        do {
            let engine = try net.engine(at: dir)
            #expect(engine.tipHeight == 0)
            for i in 0..<5 {
                let b = try net.produce(engine, txs: [try net.transfer(engine, from: 0, to: net.accounts[1].publicKey, amount: UInt64(10 + i))])
                #expect(b.transactions.count == 1)
                hashes.append(b.hash)
            }
            #expect(engine.tipHeight == 5)
            try engine.store.close()
        }
        // Reopen: same tip, same state, and the chain continues.
        let engine = try net.engine(at: dir)
        #expect(engine.tipHash == hashes.last)
        let expected: UInt64 = 10_000_000 + 10 + 11 + 12 + 13 + 14
        #expect(try engine.tipState.account(net.accounts[1].publicKey).balance == Amount(expected))
        try net.produce(engine)
        #expect(engine.tipHeight == 6)
        #expect(try engine.store.current.canonicalHash(at: 3) == hashes[2])
    }

    @Test func reopeningWithAnotherGenesisFails() throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        try net.engine(at: dir).store.close()
        let other = TestNetwork(validators: 2)
        #expect(throws: StorageError.self) { try ChainStore(path: dir.path, genesis: other.genesis.chainId, options: other.storeOptions()) }
    }

    /// A valid block for the next slot, to be corrupted by the tests below.
    func candidate(_ net: TestNetwork, _ engine: ChainEngine, txs: [SignedTransaction] = []) throws -> (Block, UInt64) {
        let slot = engine.tipHeader.slot + 1
        let v = net.index(of: try engine.leader(of: slot)!)
        return (try engine.produceBlock(slot: slot, key: net.validators[v], randaoReveal: try net.reveal(engine, v), candidates: txs, now: net.now(slot)), slot)
    }

    func resign(_ h: BlockHeader, _ net: TestNetwork, txs: [SignedTransaction]) -> Block {
        Block(signedHeader: SignedHeader(header: h, signedBy: net.validators[net.index(of: h.proposer)]), transactions: txs)
    }

    /// The import error, or nil when the block was imported.
    func importError(_ engine: ChainEngine, _ b: Block, now: UInt64) -> ImportError? {
        do {
            _ = try engine.importBlock(b, now: now)
            return nil
        } catch {
            return error
        }
    }

    func expectInvalid(_ engine: ChainEngine, _ b: Block, now: UInt64, _ check: (BlockValidationError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = importError(engine, b, now: now)
        guard case .invalid(let reason) = error else {
            Issue.record("expected an invalid block, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(check(reason), "unexpected reason \(reason)", sourceLocation: sourceLocation)
    }

    /// An engine one block past genesis, a valid next block (with one transfer), and its slot.
    func setup() throws -> (TestNetwork, TempDir, ChainEngine, Block, SignedTransaction) {
        let net = TestNetwork(validators: 2)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        try net.produce(engine)
        let tx = try net.transfer(engine, from: 0, to: net.accounts[2].publicKey, amount: 5)
        let good = try candidate(net, engine, txs: [tx]).0
        return (net, dir, engine, good, tx)
    }

    func other(_ net: TestNetwork, _ b: Block) -> PrivateKey { net.validators.first { $0.publicKey != b.header.proposer }! }

    @Test func wrongLeaderAndBadSignatures() throws {
        let (net, dir, engine, good, tx) = try setup()
        _ = dir
        let now = net.now(good.header.slot)
        let o = other(net, good)
        var h = good.header
        h.proposer = o.publicKey
        expectInvalid(engine, Block(signedHeader: SignedHeader(header: h, signedBy: o), transactions: good.transactions), now: now) {
            $0 == .wrongLeader(got: o.publicKey, expected: good.header.proposer)
        }
        let badSig = Block(signedHeader: SignedHeader(header: good.header, signature: o.sign(digest: good.hash)), transactions: good.transactions)
        expectInvalid(engine, badSig, now: now) { $0 == .badSignature }
        let forged = SignedTransaction(transaction: tx.transaction, signature: o.sign(digest: tx.transaction.signingHash))
        h = good.header
        h.txRoot = Block.txRoot([forged])
        expectInvalid(engine, resign(h, net, txs: [forged]), now: now) { $0 == .badTransactionSignature(index: 0) }
    }

    @Test func wrongRootsAndContents() throws {
        let (net, dir, engine, good, tx) = try setup()
        _ = dir
        let now = net.now(good.header.slot)
        var h = good.header
        h.stateRoot = SHA256.hash([1])
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now) { $0 == .badStateRoot(got: SHA256.hash([1]), expected: good.header.stateRoot) }
        h = good.header
        h.receiptsRoot = SHA256.hash([2])
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now) { $0 == .badReceiptsRoot(got: SHA256.hash([2]), expected: good.header.receiptsRoot) }
        expectInvalid(engine, Block(signedHeader: good.signedHeader, transactions: []), now: now) { $0 == .badTxRoot(got: good.header.txRoot, expected: Block.txRoot([])) }
        h = good.header
        h.txRoot = Block.txRoot([tx, tx])
        expectInvalid(engine, resign(h, net, txs: [tx, tx]), now: now) {
            if case .duplicateTransaction = $0 { return true } else { return false }
        }
        h = good.header
        h.chainId = SHA256.hash([3])
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now) { $0 == .wrongChain(got: SHA256.hash([3]), expected: net.genesis.chainId) }
    }

    @Test func wrongPlaceInTheChain() throws {
        let (net, dir, engine, good, _) = try setup()
        _ = dir
        let now = net.now(good.header.slot)
        let expectedHeight = engine.tipHeight + 1
        var h = good.header
        h.timestamp = net.genesis.slotStartMillis(good.header.slot + 1)
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now + 5_000) {
            $0 == .timestampOutsideSlot(timestamp: h.timestamp, slotStart: net.genesis.slotStartMillis(good.header.slot),
                                        slotEnd: net.genesis.slotStartMillis(good.header.slot + 1))
        }
        h = good.header
        h.height += 1
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now) { $0 == .wrongHeight(got: expectedHeight + 1, expected: expectedHeight) }
        h = good.header
        h.slot = engine.tipHeader.slot
        h.timestamp = net.genesis.slotStartMillis(h.slot)
        expectInvalid(engine, resign(h, net, txs: good.transactions), now: now) { $0 == .slotNotAfterParent(slot: h.slot, parentSlot: engine.tipHeader.slot) }
        h = good.header
        h.parent = SHA256.hash([4])
        let orphan = importError(engine, resign(h, net, txs: good.transactions), now: now)
        guard case .unknownParent(let parent) = orphan else { Issue.record("expected unknownParent, got \(String(describing: orphan))"); return }
        #expect(parent == SHA256.hash([4]))
        // From the future: not invalid, to be retried later.
        let early = importError(engine, good, now: good.header.timestamp - net.genesis.consensus.clockToleranceMillis - 1)
        guard case .fromFuture = early else { Issue.record("expected fromFuture, got \(String(describing: early))"); return }
        // The untouched block is still accepted after all of that, once.
        let first = try engine.importBlock(good, now: now)
        guard case .tipChanged = first else { Issue.record("good block not applied"); return }
        #expect(try engine.importBlock(good, now: now).isAlreadyKnown)
    }

    @Test func blockLimitsAreEnforced() throws {
        let (net, dir, _, good, _) = try setup()
        _ = dir
        var consensus = net.genesis.consensus
        consensus.maxBlockTransactions = 0
        let small = Genesis(chainName: net.genesis.chainName, genesisTime: net.genesis.genesisTime, consensus: consensus,
                            ledger: net.genesis.ledger, allocation: net.genesis.allocation)
        let dir2 = TempDir()
        let strict = try ChainEngine(genesis: small, store: try ChainStore(path: dir2.path, genesis: small.chainId, options: net.storeOptions()),
                                     adjudicator: HashAdjudicator())
        var h = good.header
        h.chainId = small.chainId
        expectInvalid(strict, resign(h, net, txs: good.transactions), now: net.now(good.header.slot)) {
            if case .tooManyTransactions = $0 { return true } else { return false }
        }
    }

    @Test func longerBranchWinsAndOrphanedTransactionsAreReturned() throws {
        let net = TestNetwork(validators: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        // Shared prefix.
        for _ in 0..<3 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        // Fork: A builds 1 block with a transaction, B builds 2 blocks on later slots.
        let tx = try net.transfer(ea, from: 1, to: net.accounts[3].publicKey, amount: 77)
        let fa = try net.produce(ea, txs: [tx])
        let fb1 = try net.produce(eb, from: fa.header.slot + 1)
        let fb2 = try net.produce(eb)
        #expect(ea.tipHeight == 4 && eb.tipHeight == 5)
        // A receives B's branch. Depending on hashes the reorg happens at fb1 (equal height, lower hash) or fb2.
        var changes = [TipChange]()
        for blk in [fb1, fb2] {
            if case .tipChanged(let c) = try ea.importBlock(blk, now: net.now(fb2.header.slot)) { changes.append(c) }
        }
        #expect(changes.contains { $0.isReorg })
        #expect(changes.flatMap(\.reverted).map(\.hash) == [fa.hash])
        #expect(changes.flatMap(\.applied).map(\.hash) == [fb1.hash, fb2.hash])
        #expect(changes.flatMap(\.orphanedTransactions).map(\.id) == [tx.id])
        #expect(ea.tipHash == eb.tipHash)
        #expect(ea.tipHeader.stateRoot == eb.tipHeader.stateRoot)
        #expect(try ea.tipState.account(net.accounts[3].publicKey).balance == 10_000_000)
        // The orphaned block is still stored as a side block.
        #expect(try ea.hasBlock(fa.hash))
        #expect(try !ea.store.current.isCanonical(fa.hash))
    }

    /// Attack (consensus v2): the next leader builds a sibling of its predecessor's block instead of extending
    /// it, grinding the sibling's contents until its hash is lower (v1 broke equal-height ties by the lower hash),
    /// to orphan the predecessor and take its fees and slot. Fork choice uses no hash: the earlier slot wins
    /// between timely blocks, and a block that arrives after its slot does not displace a timely one.
    @Test func equalHeightForkChoiceCannotBeGroundAndLateBlocksDoNotDisplaceTimelyOnes() throws {
        let net = TestNetwork(validators: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let shared = try net.produce(ea)
        _ = try eb.importBlock(shared, now: net.now(shared.header.slot))
        let x = try net.produce(ea)
        let slot = x.header.slot + 1
        let v = net.index(of: try eb.leader(of: slot)!)
        var y: Block?
        for amount in UInt64(1)...64 {
            let candidate = try eb.produceBlock(slot: slot, key: net.validators[v], randaoReveal: try net.reveal(eb, v),
                                                candidates: [try net.transfer(eb, from: 0, to: net.accounts[1].publicKey, amount: amount)],
                                                now: net.now(slot))
            if candidate.hash < x.hash { y = candidate; break }
        }
        let sibling = try #require(y, "no ground sibling with a lower hash in 64 tries")
        #expect(sibling.header.height == x.header.height && sibling.header.parent == x.header.parent)
        // Both timely: the predecessor's earlier slot wins, although the sibling's hash is lower.
        guard case .sideChain = try ea.importBlock(sibling, now: net.now(slot)) else { Issue.record("the ground sibling displaced its predecessor"); return }
        #expect(ea.tipHash == x.hash)
        // A node that saw the sibling first keeps it when the predecessor's block arrives after its slot ended.
        _ = try eb.importBlock(sibling, now: net.now(slot))
        #expect(eb.tipHash == sibling.hash)
        guard case .sideChain = try eb.importBlock(x, now: net.now(slot)) else { Issue.record("a late block displaced a timely one"); return }
        #expect(eb.tipHash == sibling.hash)
        // The next block decides: more blocks win everywhere.
        let next = try net.produce(ea, from: slot + 1)
        _ = try eb.importBlock(next, now: net.now(next.header.slot))
        #expect(eb.tipHash == next.hash && ea.tipHash == next.hash)
    }

    @Test func forkChoicePrefersHeightThenTimelinessThenTheEarlierSlot() {
        func header(height: UInt64, slot: UInt64) -> BlockHeader {
            BlockHeader(chainId: .zero, height: height, slot: slot, parent: .zero, timestamp: 0, proposer: key("p").publicKey,
                        randaoReveal: .zero, txRoot: .zero, receiptsRoot: .zero, stateRoot: .zero)
        }
        let tip = header(height: 5, slot: 10)
        #expect(ChainEngine.prefers(header(height: 6, slot: 30), timely: false, over: tip, tipTimely: true))
        #expect(!ChainEngine.prefers(header(height: 4, slot: 9), timely: true, over: tip, tipTimely: false))
        #expect(!ChainEngine.prefers(header(height: 5, slot: 9), timely: false, over: tip, tipTimely: true))
        #expect(ChainEngine.prefers(header(height: 5, slot: 11), timely: true, over: tip, tipTimely: false))
        #expect(ChainEngine.prefers(header(height: 5, slot: 9), timely: true, over: tip, tipTimely: true))
        #expect(!ChainEngine.prefers(header(height: 5, slot: 11), timely: true, over: tip, tipTimely: true))
        // One slot, one leader: an equivocating twin never displaces the block seen first.
        #expect(!ChainEngine.prefers(header(height: 5, slot: 10), timely: true, over: tip, tipTimely: true))
    }

    @Test func reorgAcrossAWindowSettlementGivesTheSameStateAsTheWinningNode() throws {
        // Window length 5: settlement at height 5 + 1 + 2 + 3 + 1 + 3 = 15. Fork at 13, branches to 17 and 18.
        let net = TestNetwork(validators: 2, finalityDepth: 20, windowBlocks: 5)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let worker = net.accounts[0]
        let escrowOpen = Transaction(chainId: net.genesis.chainId, sender: net.accounts[1].publicKey, nonce: 0, fee: 1_000,
                                     body: .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 1000)).signed(by: net.accounts[1])
        let escrowId = LedgerIds.escrow(owner: net.accounts[1].publicKey, nonce: 0)
        let allocate = Transaction(chainId: net.genesis.chainId, sender: net.accounts[1].publicKey, nonce: 1, fee: 1_000,
                                   body: .escrowAllocate(escrowId: escrowId, payee: worker.publicKey, amount: 50_000)).signed(by: net.accounts[1])
        // A commitment nobody can reveal (a made-up root): the worker is slashed for withholding in both branches.
        let commit = Transaction(chainId: net.genesis.chainId, sender: worker.publicKey, nonce: 0, fee: 1_000,
                                 body: .commitShares(pool: 0, window: 0, shard: 0, leafCount: 2, tokenTotal: 4, root: SHA256.hash([1]))).signed(by: worker)
        let claim = Transaction(chainId: net.genesis.chainId, sender: worker.publicKey, nonce: 1, fee: 1_000,
                                body: .claimUsage(voucher: UsageVoucher(chainId: net.genesis.chainId, escrowId: escrowId, payee: worker.publicKey,
                                                                        shard: 0, window: 0, cumulativeInputTokens: 500, cumulativeOutputTokens: 0)
                                    .signed(by: net.accounts[1]))).signed(by: worker)
        for txs in [[escrowOpen, allocate], [commit, claim]] {
            let blk = try net.produce(ea, txs: txs)
            _ = try eb.importBlock(blk, now: net.now(blk.header.slot))
        }
        while ea.tipHeight < 13 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        var branchA = [Block](), branchB = [Block]()
        while ea.tipHeight < 17 { branchA.append(try net.produce(ea)) }
        var slot = ea.tipHeader.slot + 1
        while eb.tipHeight < 18 { let blk = try net.produce(eb, from: slot); branchB.append(blk); slot = blk.header.slot + 1 }
        // Both branches settled window 0 at height 15.
        #expect(try ea.tipState.window(0, 0)?.status == .settled)
        for blk in branchB { _ = try ea.importBlock(blk, now: net.now(blk.header.slot)) }
        #expect(ea.tipHash == eb.tipHash)
        #expect(ea.tipHeader.stateRoot == eb.tipHeader.stateRoot)
        #expect(try ea.store.current.dumpState() == eb.store.current.dumpState())
        #expect(try Invariants.check(ea.store.current).burned > 0)
    }

    /// Claims' voucher signatures are verified with the transactions' on all cores before execution (and cached);
    /// a voucher signed by the wrong key is not among the verified ones, so its claim still fails in execution on
    /// the producer and on every importer alike.
    @Test func voucherSignaturesAreCheckedAheadAndABadOneStillFailsItsClaim() throws {
        let net = TestNetwork(validators: 2, windowBlocks: 10)
        let a = TempDir(), b = TempDir()
        let cacheB = SignatureCache()
        let ea = try net.engine(at: a)
        let eb = try ChainEngine(genesis: net.genesis, store: try ChainStore(path: b.path, genesis: net.genesis.chainId, options: net.storeOptions()),
                                 adjudicator: HashAdjudicator(), signatures: cacheB)
        let owner = net.accounts[1], worker = net.accounts[0], other = net.accounts[2]
        let escrowId = LedgerIds.escrow(owner: owner.publicKey, nonce: 0)
        func tx(_ from: PrivateKey, _ nonce: UInt64, _ body: TxBody) -> SignedTransaction {
            Transaction(chainId: net.genesis.chainId, sender: from.publicKey, nonce: nonce, fee: 1_000, body: body).signed(by: from)
        }
        func voucher(_ payee: PrivateKey, tokens: UInt64, signer: PrivateKey) -> UsageVoucher {
            UsageVoucher(chainId: net.genesis.chainId, escrowId: escrowId, payee: payee.publicKey, shard: 0, window: 0,
                         cumulativeInputTokens: tokens, cumulativeOutputTokens: 0).signed(by: signer)
        }
        let setup = try net.produce(ea, txs: [tx(owner, 0, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 1000)),
                                              tx(owner, 1, .escrowAllocate(escrowId: escrowId, payee: worker.publicKey, amount: 40_000)),
                                              tx(owner, 2, .escrowAllocate(escrowId: escrowId, payee: other.publicKey, amount: 40_000))])
        _ = try eb.importBlock(setup, now: net.now(setup.header.slot))
        let good = voucher(worker, tokens: 300, signer: owner)
        let forged = voucher(other, tokens: 300, signer: other)  // the payee signs its own voucher
        let claims = try net.produce(ea, txs: [tx(worker, 0, .claimUsage(voucher: good)), tx(other, 0, .claimUsage(voucher: forged))])
        #expect(claims.transactions.count == 2)
        _ = try eb.importBlock(claims, now: net.now(claims.header.slot))
        #expect(eb.tipHash == claims.hash && eb.tipHeader.stateRoot == ea.tipHeader.stateRoot)
        for engine in [ea, eb] {
            let receipts = try ChainEngine.decodeReceipts(try engine.store.current.receipts(claims.hash)!)
            #expect(receipts[0].status == .success)
            #expect(receipts[1].status == .failed(.voucherBadSignature))
        }
        // The importer verified the good voucher ahead of execution and cached it; the forged one is not cached.
        let check = { (v: UsageVoucher, key: PrivateKey) in VoucherSignature(owner: key.publicKey, digest: v.signingHash, signature: v.signature) }
        #expect(cacheB.contains(SignatureCache.id(of: check(good, owner))))
        #expect(!cacheB.contains(SignatureCache.id(of: check(forged, owner))))
        let (bad, valid) = cacheB.verify(claims.transactions, vouchers: [check(good, owner), check(forged, owner)])
        #expect(bad == nil && valid == [check(good, owner)])

        // A batch's vouchers are verified ahead too: both are cached by the importer, and both claims land on both
        // nodes with the same state root.
        let batch = [voucher(worker, tokens: 600, signer: owner), voucher(worker, tokens: 900, signer: owner)]
        let batched = try net.produce(ea, txs: [tx(worker, 1, .claimUsageBatch(vouchers: batch))])
        _ = try eb.importBlock(batched, now: net.now(batched.header.slot))
        #expect(eb.tipHash == batched.hash && eb.tipHeader.stateRoot == ea.tipHeader.stateRoot)
        for engine in [ea, eb] {
            let receipts = try ChainEngine.decodeReceipts(try engine.store.current.receipts(batched.hash)!)
            #expect(receipts[0].status == .success)
            #expect(receipts[0].events.filter { if case .usageClaimed = $0 { true } else { false } }.count == 2)
        }
        #expect(batch.allSatisfy { cacheB.contains(SignatureCache.id(of: check($0, owner))) })
    }

    /// Finality is the gadget's (Specs/consensus.md §8): once two thirds of the stake voted two consecutive
    /// checkpoints, a longer branch forking below the finalized one is refused; the depth rule stops nothing.
    @Test func reorgBelowTheFinalizedCheckpointIsRefused() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 3, checkpointBlocks: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let shared = try net.produce(ea)
        _ = try eb.importBlock(shared, now: net.now(shared.header.slot))
        func checkpoint(_ h: UInt64) throws -> Checkpoint { try net.checkpoint(ea, h) }
        func votes(_ source: Checkpoint, _ target: Checkpoint) throws -> SignedTransaction { try net.allVotes(ea, source, target) }
        try net.produce(ea)
        try net.produce(ea)  // height 3 records checkpoint 2
        try net.produce(ea, txs: [try votes(checkpoint(0), checkpoint(2))])
        try net.produce(ea)  // height 5 records checkpoint 4
        #expect(ea.finalizedHeight == 0, "justified, not yet finalized")
        try net.produce(ea, txs: [try votes(checkpoint(2), checkpoint(4))])
        #expect(ea.finalizedHeight == 2)
        #expect(try Ledger.finality(of: ea.tipState).justified.height == 4)
        try net.produce(ea)
        var side = [Block]()
        var slot = ea.tipHeader.slot + 1
        for _ in 0..<9 { let blk = try net.produce(eb, from: slot); side.append(blk); slot = blk.header.slot + 1 }
        // B's branch is longer, but forks at height 1, below A's finalized checkpoint at 2.
        let error = importError(ea, side[0], now: net.now(side.last!.header.slot))
        guard case .belowFinality(let fork, let finalized) = error else { Issue.record("expected belowFinality, got \(String(describing: error))"); return }
        #expect(fork == 1)
        #expect(finalized == 2)
        #expect(ea.tipHeight == 7)
        // Without votes there is no finality: B (no votes on its branch) took A's short branch when it was longer.
        #expect(eb.finalizedHeight == 0)
    }

    /// Casper FFG's fork choice (Specs/consensus.md §4): the branch with the higher justified checkpoint wins even
    /// when it is shorter, and a longer branch with a lower justified checkpoint does not displace it. Without
    /// this rule the validators that voted on A could not vote on B without a surround vote, and finality would
    /// stall for good; with it, a node on B switches to A when it sees A's votes, and both converge.
    @Test func theHigherJustifiedCheckpointBeatsALongerBranch() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30, checkpointBlocks: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        for _ in 0..<3 { let blk = try net.produce(ea); _ = try eb.importBlock(blk, now: net.now(blk.header.slot)) }
        // Height 3 recorded checkpoint 2; A includes both validators' votes 0 → 2 and justifies it.
        let target = Checkpoint(height: 2, hash: try #require(try ea.store.current.canonicalHash(at: 2)))
        let source = Checkpoint(height: 0, hash: ea.genesisHash)
        let votes = net.validators.map { FinalityVote(validator: $0.publicKey, source: source, target: target).signed(by: $0, chainId: net.genesis.chainId) }
        let sender = net.accounts[0]
        let voteTx = Transaction(chainId: net.genesis.chainId, sender: sender.publicKey, nonce: try ea.tipState.account(sender.publicKey).nonce,
                                 fee: 10_000, body: .finalityVotes(votes: votes)).signed(by: sender)
        let justifying = try net.produce(ea, txs: [voteTx])
        #expect(try Ledger.finality(of: ea.tipState).justified == target)
        // B builds three blocks without the votes, on later slots: longer, justified only at genesis.
        var longer = [Block]()
        var slot = justifying.header.slot + 1
        for _ in 0..<3 { let blk = try net.produce(eb, from: slot); longer.append(blk); slot = blk.header.slot + 1 }
        #expect(eb.tipHeight == 6 && ea.tipHeight == 4)
        for blk in longer {
            guard case .sideChain = try ea.importBlock(blk, now: net.now(blk.header.slot)) else {
                Issue.record("a longer branch with a lower justified checkpoint displaced the justified one"); return
            }
        }
        #expect(ea.tipHash == justifying.hash)
        #expect(try Ledger.finality(of: ea.tipState).justified == target, "the restored chain lost its justification")
        // B sees A's shorter block with the votes and switches to it.
        guard case .tipChanged(let change) = try eb.importBlock(justifying, now: net.now(slot)) else {
            Issue.record("the branch with the higher justified checkpoint was not taken"); return
        }
        #expect(change.reverted.map(\.hash) == longer.reversed().map(\.hash))
        #expect(eb.tipHash == ea.tipHash && eb.tipHeader.stateRoot == ea.tipHeader.stateRoot)
        // From here heights decide again: the next block on A extends both.
        let next = try net.produce(ea, from: slot)
        _ = try eb.importBlock(next, now: net.now(next.header.slot))
        #expect(eb.tipHash == next.hash)
        #expect(try ea.store.current.dumpState() == eb.store.current.dumpState())
    }

    @Test func switchingRuleOrdersJustificationBeforeHeight() {
        #expect(ChainEngine.keepsSwitch(branchJustified: 4, tipJustified: 2, heightWins: false))
        #expect(!ChainEngine.keepsSwitch(branchJustified: 2, tipJustified: 4, heightWins: true))
        #expect(ChainEngine.keepsSwitch(branchJustified: 4, tipJustified: 4, heightWins: true))
        #expect(!ChainEngine.keepsSwitch(branchJustified: 4, tipJustified: 4, heightWins: false))
    }

    /// Protocol 3 (Specs/state-machine.md §8): every header's `stateRoot` is the state tree's root of the whole
    /// state after the block, the stored tree version of each height matches its header, and a reorg leaves the
    /// tree exactly where a node that only ever saw the winning branch has it.
    @Test func stateRootIsTheTreeRootOfTheWholeStateAcrossAReorg() throws {
        let net = TestNetwork(validators: 2, finalityDepth: 30)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        func root(of engine: ChainEngine) throws -> Hash32 {
            try StateTree.root(of: engine.store.current.dumpState().map { TreeUpdate(key: $0.key, value: $0.value) })
        }
        #expect(try ea.tipHeader.stateRoot == root(of: ea), "genesis")
        for i in 0..<3 {
            let blk = try net.produce(ea, txs: [try net.transfer(ea, from: 1, to: net.accounts[2].publicKey, amount: UInt64(10 + i))])
            _ = try eb.importBlock(blk, now: net.now(blk.header.slot))
            #expect(try ea.tipHeader.stateRoot == root(of: ea))
        }
        // A: one block with a transfer; B: two blocks with other transfers, on later slots. A reorganizes to B.
        try net.produce(ea, txs: [try net.transfer(ea, from: 1, to: net.accounts[3].publicKey, amount: 5)])
        var branch = [Block]()
        var slot = ea.tipHeader.slot + 1
        for i in 0..<2 {
            let blk = try net.produce(eb, from: slot, txs: [try net.transfer(eb, from: 2, to: net.accounts[3].publicKey, amount: UInt64(100 + i))])
            branch.append(blk); slot = blk.header.slot + 1
        }
        for blk in branch { _ = try ea.importBlock(blk, now: net.now(blk.header.slot)) }
        #expect(ea.tipHash == eb.tipHash)
        #expect(try ea.tipHeader.stateRoot == root(of: ea))
        for h in UInt64(0)...ea.tipHeight {
            let hash = try #require(try ea.store.current.canonicalHash(at: h))
            #expect(try ea.store.tree.rootHash(version: h) == ChainEngine.loadHeader(ea.store.current, hash).header.stateRoot, "tree version \(h)")
        }
        func nodes(_ e: ChainEngine) throws -> [KeyValue] { try e.store.database.scan(try e.store.database.columnFamily(StateTreeSchema.Family.nodes), prefix: []) }
        #expect(try nodes(ea) == nodes(eb),
                "the reorganized node's tree differs from the winner's")
        // A proof for an account against the tip header verifies, and fails against another root.
        let key = StateKey.account(net.accounts[3].publicKey)
        let proof = try ea.store.tree.proof(version: ea.tipHeight, keyHash: TreeHash.key(key))
        let value = try #require(try ea.store.current.get(key))
        #expect(proof.verify(root: ea.tipHeader.stateRoot, keyHash: TreeHash.key(key), valueHash: TreeHash.value(value)))
        #expect(try !proof.verify(root: ea.store.tree.rootHash(version: 1), keyHash: TreeHash.key(key), valueHash: TreeHash.value(value)))
    }

    @Test func invalidBranchRestoresTheOldChain() throws {
        let net = TestNetwork(validators: 2)
        let a = TempDir(), b = TempDir()
        let ea = try net.engine(at: a), eb = try net.engine(at: b)
        let shared = try net.produce(ea)
        _ = try eb.importBlock(shared, now: net.now(shared.header.slot))
        try net.produce(ea)
        let b1 = try net.produce(eb, from: ea.tipHeader.slot + 1)
        // b2: a validly signed header with a wrong state root, on top of b1.
        let good2 = try EngineTests().candidate(net, eb).0
        var h = good2.header
        h.stateRoot = SHA256.hash([9])
        let bad2 = Block(signedHeader: SignedHeader(header: h, signedBy: net.validators[net.index(of: h.proposer)]), transactions: [])
        _ = try? ea.importBlock(b1, now: net.now(bad2.header.slot))
        // b1 ties with A's own block at height 2; whichever the fork choice kept is the chain to restore.
        let oldTip = ea.tipHash, oldRoot = ea.tipHeader.stateRoot
        let first = importError(ea, bad2, now: net.now(bad2.header.slot))
        guard case .invalid(let reason) = first else { Issue.record("invalid branch accepted: \(String(describing: first))"); return }
        #expect(reason == .badStateRoot(got: SHA256.hash([9]), expected: good2.header.stateRoot))
        #expect(ea.tipHash == oldTip && ea.tipHeader.stateRoot == oldRoot)
        // And the same block is rejected at once next time.
        let again = importError(ea, bad2, now: net.now(bad2.header.slot))
        guard case .invalid(let reason2) = again else { Issue.record("accepted: \(String(describing: again))"); return }
        #expect(reason2 == .knownInvalid)
    }

    @Test func equivocationEvidenceFromRealHeadersIsAcceptedOnce() throws {
        let net = TestNetwork(validators: 2)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let blk = try net.produce(engine)
        // The proposer signs a second, different header for the same slot.
        var h = blk.header
        h.txRoot = SHA256.hash([5])
        let proposer = net.validators[net.index(of: h.proposer)]
        let twin = SignedHeader(header: h, signedBy: proposer)
        let evidence = TxBody.doubleSignEvidence(headerA: blk.signedHeader.canonicalEncoding, headerB: twin.canonicalEncoding)
        let t1 = Transaction(chainId: net.genesis.chainId, sender: net.accounts[2].publicKey, nonce: 0, fee: 2_000, body: evidence).signed(by: net.accounts[2])
        let t2 = Transaction(chainId: net.genesis.chainId, sender: net.accounts[2].publicKey, nonce: 1, fee: 2_000, body: evidence).signed(by: net.accounts[2])
        let b2 = try net.produce(engine, allowed: Set([1 - net.index(of: h.proposer)]), txs: [t1, t2])
        let receipts = try ChainEngine.decodeReceipts(try engine.store.current.receipts(b2.hash)!)
        #expect(receipts[0].status == .success)
        #expect(receipts[1].status == .failed(.evidenceAlreadyProcessed))
        #expect(try engine.tipState.staker(.validator, proposer.publicKey)?.status == .tombstoned)
        #expect(try engine.tipState.staker(.validator, proposer.publicKey)?.stake == 950)
        // A tombstoned validator leaves the schedule at the next epoch.
        while engine.tipHeader.slot < 40 { try net.produce(engine) }
        #expect(try Ledger.currentSnapshot(of: engine.tipState)!.validators.map(\.key) == [net.validators[1 - net.index(of: h.proposer)].publicKey])
    }

    @Test func absentValidatorIsJailedForLiveness() throws {
        let net = TestNetwork(validators: 2, slotsPerEpoch: 16)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        // Only validator 0 produces; validator 1's slots pass empty.
        while engine.tipHeader.slot < 40 { try net.produce(engine, allowed: [0]) }
        guard case .jailed = try engine.tipState.staker(.validator, net.validators[1].publicKey)!.status else {
            Issue.record("absent validator not jailed"); return
        }
        #expect(try engine.tipState.staker(.validator, net.validators[0].publicKey)?.status == .active)
    }

    /// Seventh review: the finality votes of a block from the network were checked (a signature each, for every vote of
    /// a staked validator) before the block was validated at all, so any peer could send blocks with an unknown parent
    /// carrying thousands of junk votes and make the node verify them for nothing, unpenalized (an unknown parent is not
    /// misbehaviour). Now a block's votes are watched only once it is stored: performed here with two conflicting votes
    /// (validly signed, so the watch would report them): in a block with an unknown parent they are not looked at; in the
    /// same block on its real parent they are, and become evidence.
    @Test func votesOfABlockThatIsNotStoredAreNotWatched() async throws {
        let net = TestNetwork(validators: 2, checkpointBlocks: 2)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let offender = net.validators[0]
        func vote(_ hash: UInt8) -> FinalityVote {
            FinalityVote(validator: offender.publicKey, source: Checkpoint(height: 0, hash: SHA256.hash([0])),
                         target: Checkpoint(height: 2, hash: SHA256.hash([2, hash]))).signed(by: offender, chainId: net.genesis.chainId)
        }
        let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[0].publicKey, nonce: 0, fee: 10_000,
                             body: .finalityVotes(votes: [vote(0), vote(9)])).signed(by: net.accounts[0])
        let good = try candidate(net, engine, txs: [tx]).0
        var h = good.header
        h.parent = SHA256.hash([4])
        let junk = resign(h, net, txs: good.transactions)
        let clock = TestClock(net.now(good.header.slot))
        let service = ChainService(engine: engine, clock: { clock.now }, evidenceReporter: net.accounts[2])
        func evidence() async -> Int {
            await service.mempoolContents().filter { if case .voteEvidence = $0.transaction.body { true } else { false } }.count
        }
        guard case .unknownParent = await service.importBlock(junk) else { Issue.record("expected an unknown parent"); return }
        #expect(await evidence() == 0, "the votes of a block nobody stored were checked")
        guard case .imported = await service.importBlock(good) else { Issue.record("the good block was not imported"); return }
        #expect(await evidence() == 1, "the votes of a stored block are watched")
    }
}

extension ImportResult {
    var isAlreadyKnown: Bool { if case .alreadyKnown = self { return true }; return false }
}

@Suite struct HostileHeaderTests {
    /// Any u64 slot or timestamp from the network is handled without trapping.
    @Test func absurdSlotsAndTimestampsAreRejectedNotFatal() throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let good = try net.produce(engine)
        for (slot, ts) in [(UInt64.max, UInt64.max), (UInt64.max / 1000, 5), (1 << 62, UInt64.max), (good.header.slot + 1, UInt64.max)] {
            var h = good.header
            h.height = 2
            h.parent = good.hash
            h.slot = slot
            h.timestamp = ts
            let b = Block(signedHeader: SignedHeader(header: h, signedBy: net.validators[0]), transactions: [])
            do {
                _ = try engine.importBlock(b, now: net.now(good.header.slot + 1))
                Issue.record("accepted a block with slot \(slot)")
            } catch {
                // Any error is fine; the point is that nothing traps.
            }
        }
        #expect(net.genesis.slotStartMillis(.max) == .max)
        #expect(net.genesis.slot(atMillis: .max) > 0)
    }
}

import Foundation
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport


@Suite struct ChainServiceTests {
    /// A store that cannot be read (closed under the service: every read throws `StorageError.closed`) is the
    /// node's fault, never the transaction's: not `badSignature`, which would make peers score each other.
    @Test func aStorageFaultIsNotATransactionRejection() async throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let store = engine.store
        let service = ChainService(engine: engine, clock: { net.now(1) })
        let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[0].publicKey, nonce: 0, fee: 1_000,
                             body: .transfer(to: net.accounts[1].publicKey, amount: 5)).signed(by: net.accounts[0])
        try store.close()
        do {
            _ = try await service.submit(tx)
            Issue.record("submitted on a closed store")
        } catch {
            guard case .fault(let m) = error else { Issue.record("expected a fault, got \(error)"); return }
            #expect(m.contains("closed"))
        }
        #expect(await service.mempoolContains(tx.id) == false)
    }

    @Test func submitProduceAndAnnounce() async throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        let events = await service.events()
        let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[0].publicKey, nonce: 0, fee: 1_000,
                             body: .transfer(to: net.accounts[1].publicKey, amount: 5)).signed(by: net.accounts[0])
        #expect(try await service.submit(tx) == tx.id)
        #expect(try await service.nextNonce(for: net.accounts[0].publicKey) == 1)
        // A duplicate is refused with a precise reason.
        await #expect(throws: MempoolError.alreadyKnown) { try await service.submit(tx) }
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        let block = try await service.produce(slot: 1, identity: &identity, deadline: .max)
        #expect(block?.transactions.map(\.id) == [tx.id])
        #expect(await service.status().height == 1)
        #expect(await service.status().mempoolTransactions == 0)
        // Events: the pending transaction, then the block.
        var it = events.makeAsyncIterator()
        guard case .pendingTransaction(let t) = await it.next() else { Issue.record("no pending event"); return }
        #expect(t.id == tx.id)
        guard case .newBlock(let b, let receipts) = await it.next() else { Issue.record("no block event"); return }
        #expect(b.hash == block?.hash)
        #expect(receipts.count == 2)
        // Not the leader of a past slot: nothing produced.
        #expect(try await service.produce(slot: 1, identity: &identity, deadline: .max) == nil)
    }

    @Test func suggestedFeeIsTheMinimumUntilTheNextBlockIsFull() async throws {
        let net = TestNetwork(validators: 1, accounts: 4, maxBlockTransactions: 2)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        func transfer(_ i: Int, fee: UInt64) -> SignedTransaction {
            Transaction(chainId: net.genesis.chainId, sender: net.accounts[i].publicKey, nonce: 0, fee: Amount(fee),
                        body: .transfer(to: net.accounts[3].publicKey, amount: 5)).signed(by: net.accounts[i])
        }
        let size = transfer(0, fee: 0).encodedSize
        let minimum = service.ledger.minimumFee(size: size)
        #expect(try await service.suggestedFee(size: size) == minimum)
        _ = try await service.submit(transfer(0, fee: 5_000))
        _ = try await service.submit(transfer(1, fee: 7_000))
        #expect(try await service.suggestedFee(size: size) == minimum, "two fit in a block of two")
        _ = try await service.submit(transfer(2, fee: 9_000))
        // Three waiting for a block of two: beat the cheaper of the two it would hold (7 000).
        let suggested = try await service.suggestedFee(size: size)
        #expect(suggested == Mempool.leastFee(beating: Mempool.feeRate(transfer(1, fee: 7_000)), size: size))
        #expect(suggested > Amount(7_000) && suggested <= Amount(7_001 + UInt64(size) / 1000 + 1))
        // Once a block takes two, the remaining one fits: back to the minimum.
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        #expect(try await service.produce(slot: 1, identity: &identity, deadline: .max)?.transactions.count == 2)
        #expect(try await service.suggestedFee(size: size) == minimum)
    }

    @Test func slowSubscribersAreDropped() async throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        let slow = await service.events(buffer: 2)
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        for slot in UInt64(1)...4 {
            clock.set(net.now(slot))
            _ = try await service.produce(slot: slot, identity: &identity, deadline: .max)
        }
        // The first two events were kept, then the stream was finished.
        var received = 0
        for await _ in slow { received += 1 }
        #expect(received == 2)
        #expect(await service.subscriberCount == 0)
    }

    /// Pending transactions are anyone's to cause: a subscriber that takes blocks alone is not pushed behind by a
    /// burst of them (the state pruner and the finality voter were, and the node stopped with them).
    @Test func aBlockSubscriberIsNotDroppedByABurstOfTransactions() async throws {
        let net = TestNetwork(validators: 1, accounts: 2)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        let blocks = await service.events(buffer: 2, transactions: false)
        let all = await service.events(buffer: 2)
        for nonce in UInt64(0)..<6 {
            let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[0].publicKey, nonce: nonce, fee: 1_000,
                                 body: .transfer(to: net.accounts[1].publicKey, amount: 5)).signed(by: net.accounts[0])
            _ = try await service.submit(tx)
        }
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        let block = try #require(try await service.produce(slot: 1, identity: &identity, deadline: .max))
        var it = blocks.makeAsyncIterator()
        guard case .newBlock(let b, _) = await it.next() else { Issue.record("the block subscriber lost the block"); return }
        #expect(b.hash == block.hash)
        var received = 0
        for await _ in all { received += 1 }
        #expect(received == 2, "a subscriber of everything fell behind and was dropped, as before")
        #expect(await service.subscriberCount == 1)
    }

    /// A service following blocks outlives its subscription being dropped: it subscribes again and sees later blocks
    /// (returning would have ended the node).
    @Test func followingBlocksSurvivesFallingBehind() async throws {
        let net = TestNetwork(validators: 1)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        let (seen, seenInput) = AsyncStream<UInt64>.makeStream()
        let (gate, openGate) = AsyncStream<Void>.makeStream()
        let follower = Task {
            var gateIterator = gate.makeAsyncIterator()
            var first = true
            await service.forEachBlockEvent(startingWith: await service.blockEvents(buffer: 1), buffer: 1) { event in
                guard case .newBlock(let b, _) = event else { return }
                seenInput.yield(b.header.height)
                // Blocked on the first block while three more arrive: the one-event buffer overflows.
                if first { first = false; _ = await gateIterator.next() }
            }
            seenInput.finish()
        }
        var seenIterator = seen.makeAsyncIterator()
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        let deadline = ContinuousClock.now + .seconds(60)
        while await service.subscriberCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(await service.subscriberCount == 1, "the follower subscribed")
        clock.set(net.now(1))
        _ = try await service.produce(slot: 1, identity: &identity, deadline: .max)
        #expect(await seenIterator.next() == 1)
        for slot in UInt64(2)...4 {
            clock.set(net.now(slot))
            _ = try await service.produce(slot: slot, identity: &identity, deadline: .max)
        }
        openGate.yield(())
        #expect(await seenIterator.next() == 2, "the block the buffer held")
        // Subscribed again: a later block arrives (poll the subscriber count rather than sleeping).
        while await service.subscriberCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(await service.subscriberCount == 1, "the follower subscribed again")
        clock.set(net.now(5))
        _ = try await service.produce(slot: 5, identity: &identity, deadline: .max)
        #expect(await seenIterator.next() == 5)
        follower.cancel()
        #expect(await seenIterator.next() == nil, "cancelled: it returns")
    }

    @Test func blocksFromTheFutureAreRetried() async throws {
        let net = TestNetwork(validators: 1)
        let producerDir = TempDir(), dir = TempDir()
        let producer = try net.engine(at: producerDir)
        let block = try net.produce(producer)
        let clock = TestClock(block.header.timestamp - 10_000)
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        guard case .fromFuture = await service.importBlock(block) else { Issue.record("expected fromFuture"); return }
        clock.set(block.header.timestamp)
        await service.retryEarly()
        #expect(await service.status().tipHash == block.hash)
    }
}

/// Equivocation seen by a node becomes evidence on chain without anyone's help (Specs/consensus.md §5).
@Suite struct EquivocationDetectionTests {
    @Test func aNodeThatSeesTwoHeadersForOneSlotSubmitsTheEvidenceAndTheOffenderIsTombstoned() async throws {
        let net = TestNetwork(validators: 2)
        let producerDir = TempDir(), dir = TempDir()
        let producer = try net.engine(at: producerDir)
        let honest = try net.produce(producer)
        let offender = net.validators[net.index(of: honest.header.proposer)]
        // The leader signs a second block for the same slot (different contents).
        var h = honest.header
        h.txRoot = SHA256.hash([7])
        let twin = Block(signedHeader: SignedHeader(header: h, signedBy: offender), transactions: [])
        let clock = TestClock(net.now(honest.header.slot))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        // The reporting node pays the evidence's fee from a funded key (a validator node uses its own key).
        let reporter = net.accounts[2]
        await service.setEvidenceReporter(reporter)
        guard case .imported = await service.importBlock(honest) else { Issue.record("honest block not imported"); return }
        #expect(await service.mempoolContents().isEmpty)
        // The twin is invalid (its transaction root does not match) but its signed header proves the offence.
        _ = await service.importBlock(twin)
        #expect(await service.detectedEquivocations == [Equivocation(offender: offender.publicKey, slot: honest.header.slot)])
        let pending = await service.mempoolContents()
        #expect(pending.count == 1)
        guard case .doubleSignEvidence = pending.first?.transaction.body else { Issue.record("no evidence submitted: \(pending)"); return }
        #expect(pending.first?.transaction.sender == reporter.publicKey)
        // Seeing the twin again submits nothing more.
        _ = await service.importBlock(twin)
        #expect(await service.mempoolContents().count == 1)
        // The next block (by the other validator) includes it: the offender is slashed and tombstoned.
        let other = 1 - net.index(of: offender.publicKey)
        var identity = ValidatorIdentity(key: net.validators[other], chains: [net.chains[other]])
        var slot = honest.header.slot + 1
        while try await service.leader(of: slot) != net.validators[other].publicKey { slot += 1 }
        clock.set(net.now(slot))
        let block = try #require(try await service.produce(slot: slot, identity: &identity, deadline: .max))
        #expect(block.transactions.count == 1)
        let view = try service.readView()
        #expect(try LedgerReader(view).staker(.validator, offender.publicKey)?.status == .tombstoned)
    }
}

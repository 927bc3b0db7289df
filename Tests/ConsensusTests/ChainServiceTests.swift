import Foundation
import Synchronization
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage

/// A settable clock for services under test.
final class TestClock: Sendable {
    private let value: Mutex<UInt64>
    init(_ v: UInt64) { value = Mutex(v) }
    func set(_ v: UInt64) { value.withLock { $0 = v } }
    var now: UInt64 { value.withLock { $0 } }
}

@Suite struct ChainServiceTests {
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

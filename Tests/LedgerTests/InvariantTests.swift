import Testing
@testable import Ledger
@testable import Primitives

/// The invariant checkers must catch real violations, or the simulation proves nothing.
@Suite struct InvariantTests {
    let alice = testKey("alice")

    @Test func mintingIsCaughtByBothCheckers() throws {
        let c = try Chain(accounts: [(alice, 1_000)])
        var tracker = try InvariantTracker(state: c.state)
        let minted = WriteSet([WriteEntry(key: StateKey.account(alice.publicKey), value: Account(balance: 1_001).canonicalEncoding)])
        let before = MemoryState(entries: c.state.dump())
        c.state.apply(minted)
        #expect(throws: InvariantViolation.self) { try tracker.apply(minted, before: before, after: c.state) }
        #expect(throws: InvariantViolation.self) { try Invariants.check(c.state) }
    }

    @Test func brokenIndexesAreCaught() throws {
        let c = try Chain(accounts: [(alice, 1_000)], workers: [(alice, 0, 500)])
        // A stake change without its history entry.
        var s = try c.staker(.worker(pool: 0), alice.publicKey)!
        s.stake = 400
        let burn = WriteSet([
            WriteEntry(key: StateKey.staker(.worker(pool: 0), alice.publicKey), value: s.canonicalEncoding),
            WriteEntry(key: StateKey.global(.burned), value: UInt64(100).canonicalEncoding),
        ])
        var tracker = try InvariantTracker(state: c.state)
        let before = MemoryState(entries: c.state.dump())
        c.state.apply(burn)
        #expect(throws: InvariantViolation.self) { try tracker.apply(burn, before: before, after: c.state) }
        #expect(throws: InvariantViolation.self) { try Invariants.check(c.state) }
    }

    @Test func commitmentOutsideItsWorkRecordIsCaught() throws {
        let c = try Chain()
        let id = SHA256.hash([2])
        let commitment = Commitment(worker: alice.publicKey, pool: 0, window: 0, shard: 0, leafCount: 1, tokenTotal: 1, root: .zero,
                                    includedHeight: 1, selectionHeight: 3, samples: 1)
        // Queued for its draw, but no work record lists it (a payout could never prune it).
        let ws = WriteSet([WriteEntry(key: StateKey.commitment(id), value: commitment.canonicalEncoding),
                           WriteEntry(key: StateKey.selectionQueue(at: 3), value: IdQueue([id]).canonicalEncoding)])
        var tracker = try InvariantTracker(state: c.state)
        let before = MemoryState(entries: c.state.dump())
        c.state.apply(ws)
        #expect(throws: InvariantViolation.self) { try tracker.apply(ws, before: before, after: c.state) }
        #expect(throws: InvariantViolation.self) { try Invariants.check(c.state) }
    }

    @Test func ticketOutsideAStoredCommitmentIsCaught() throws {
        let c = try Chain()
        let id = LedgerIds.ticket(commitment: .zero, sample: 0)
        let t = Ticket(commitmentId: .zero, sample: 0, point: 0, worker: alice.publicKey, pool: 0, window: 0, shard: 0, status: .revealed,
                       selectedHeight: 1, revealDeadline: 5, challengeEnd: 9)
        let ws = WriteSet([WriteEntry(key: StateKey.ticket(id), value: t.canonicalEncoding)])
        var tracker = try InvariantTracker(state: c.state)
        let before = MemoryState(entries: c.state.dump())
        c.state.apply(ws)
        #expect(throws: InvariantViolation.self) { try tracker.apply(ws, before: before, after: c.state) }
        #expect(throws: InvariantViolation.self) { try Invariants.check(c.state) }
    }
}

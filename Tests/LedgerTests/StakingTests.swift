import Testing
@testable import Ledger
@testable import Primitives

@Suite struct StakingTests {
    let alice = testKey("alice"), bob = testKey("bob")

    @Test func bondAsWorkerAndValidator() throws {
        var c = try Chain(accounts: [(alice, 10_000), (bob, 10_000)])
        let chain = RandaoHashChain(seed: SHA256.hash([42]), length: 16)
        let r = try c.block([
            try c.tx(alice, .bond(role: .worker(pool: 0), amount: 150, randaoCommitment: nil)),
            try c.tx(bob, .bond(role: .validator, amount: 100, randaoCommitment: nil)),
            try c.tx(bob, .bond(role: .validator, amount: 50, randaoCommitment: chain.commitment), nonce: 1),
            try c.tx(alice, .bond(role: .worker(pool: 9), amount: 150, randaoCommitment: nil), nonce: 1),
            try c.tx(alice, .bond(role: .worker(pool: 0), amount: 0, randaoCommitment: nil), nonce: 2),
        ])
        #expect(r[0].succeeded)
        #expect(r[0].events == [.bonded(staker: alice.publicKey, role: .worker(pool: 0), amount: 150)])
        #expect(r[1].failure == .missingRandaoCommitment)
        #expect(r[2].failure == .belowMinimumStake)  // validator minimum is 100
        #expect(r[3].failure == .unknownPool)
        #expect(r[4].failure == .zeroAmount)
        #expect(try c.staker(.worker(pool: 0), alice.publicKey)?.stake == 150)
        #expect(try c.staker(.validator, bob.publicKey) == nil)
        let ok = try c.block([try c.tx(bob, .bond(role: .validator, amount: 120, randaoCommitment: chain.commitment))])
        #expect(ok[0].succeeded)
        #expect(try c.staker(.validator, bob.publicKey)?.randaoCommitment == chain.commitment)
    }

    @Test func unbondingMaturesAfterTheUnbondingPeriod() throws {
        var c = try Chain(accounts: [(alice, 10_000)])
        try c.block([try c.tx(alice, .bond(role: .worker(pool: 0), amount: 500, randaoCommitment: nil))])
        let before = try c.balance(alice.publicKey)
        let r = try c.block([try c.tx(alice, .unbond(role: .worker(pool: 0), amount: 200))])
        let fee = r[0].feePaid.units
        #expect(r[0].events == [.unbondingStarted(staker: alice.publicKey, role: .worker(pool: 0), amount: 200, entryId: 0, matureHeight: 52)])
        #expect(try c.staker(.worker(pool: 0), alice.publicKey)?.stake == 300)
        try c.advance(to: 51)
        #expect(try c.balance(alice.publicKey) == before - fee)
        let mature = try c.block()
        #expect(mature.last!.events.contains(.unbonded(staker: alice.publicKey, role: .worker(pool: 0), amount: 200, entryId: 0)))
        #expect(try c.balance(alice.publicKey) == before - fee + 200)
    }

    @Test func unbondLimits() throws {
        var c = try Chain(accounts: [(alice, 10_000)])
        try c.block([try c.tx(alice, .bond(role: .worker(pool: 0), amount: 1000, randaoCommitment: nil))])
        var txs = [SignedTransaction]()
        for i in 0..<8 { txs.append(try c.tx(alice, .unbond(role: .worker(pool: 0), amount: 10), nonce: 1 + UInt64(i))) }
        txs.append(try c.tx(alice, .unbond(role: .worker(pool: 0), amount: 5000), nonce: 9))
        txs.append(try c.tx(bob, .unbond(role: .validator, amount: 1), nonce: 0, fee: 0))
        let r = try c.block(Array(txs.prefix(9)))
        #expect(r[0..<7].allSatisfy { $0.succeeded })
        #expect(r[7].failure == .tooManyUnbondingEntries)
        #expect(r[8].failure == .insufficientStake)
        let unknown = try c.block([try c.tx(alice, .unbond(role: .validator, amount: 1))])
        #expect(unknown[0].failure == .unknownStaker)
    }

    @Test func jailAndUnjail() throws {
        var c = try Chain(accounts: [(alice, 10_000)])
        try c.block([try c.tx(alice, .bond(role: .worker(pool: 0), amount: 500, randaoCommitment: nil))])
        #expect(try c.block([try c.tx(alice, .unjail(role: .worker(pool: 0)))])[0].failure == .notJailed)
        // Jail directly through a liveness-free path: construct with the executor.
        var ls = c.ledgerState
        var exec = Execution(ledger: c.ledger, context: BlockContext(height: 3, slot: 3, proposer: c.validators[0].key.publicKey, randaoReveal: .zero), state: ls)
        try exec.jail(alice.publicKey, role: .worker(pool: 0), into: .system)
        ls = exec.state
        c.state.apply(try ls.overlay.writeSet())
        #expect(try c.staker(.worker(pool: 0), alice.publicKey)?.status == .jailed(until: 11))
        #expect(try c.block([try c.tx(alice, .unjail(role: .worker(pool: 0)))])[0].failure == .jailPeriodNotOver)
        try c.advance(to: 10)
        let r = try c.block([try c.tx(alice, .unjail(role: .worker(pool: 0)))])
        #expect(r[0].succeeded)
        #expect(r[0].events == [.unjailed(staker: alice.publicKey, role: .worker(pool: 0))])
        #expect(try c.staker(.worker(pool: 0), alice.publicKey)?.status == .active)
    }
}

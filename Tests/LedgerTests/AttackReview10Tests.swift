import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// Tenth red-team round (sealing and staking, /tmp/review10): each test performs the attack on the in-memory ledger
/// and asserts that it fails or loses the attacker money.
@Suite struct AttackReview10Tests {
    // MARK: - Sealing F3: registry squatting with a checker below the minimum

    /// A key bonds `checkerMinStake` as a checker, unbonds all of it in the same block, and registers: it held a
    /// registry slot with zero stake, never assignable and never deregistered (no later unbond or slash could reach
    /// it), so a few such keys filled `maxCheckers` for good and honest checkers got `checkerRegistryFull`.
    /// Secure outcome: the registration fails `belowMinimumStake` and the honest checker takes the free slot.
    @Test func anUnbondedCheckerCannotSquatARegistrySlot() throws {
        var pool = CheckerFixture.checkingPool()
        pool.checking!.maxCheckers = 3
        var f = try CheckerFixture(register: 2, pool: pool)
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 2)
        let squatter = 3, honest = 2
        let min = f.cfg.checkerMinStake
        let r = try f.c.block([
            try f.c.tx(f.checkers[squatter], .bond(role: .checker(pool: 0), amount: min, randaoCommitment: nil), nonce: 0),
            try f.c.tx(f.checkers[squatter], .unbond(role: .checker(pool: 0), amount: min), nonce: 1),
            try f.c.tx(f.checkers[squatter], .registerChecker(pool: 0, sealingKey: f.sealingKey(squatter)), nonce: 2),
        ])
        #expect(r[0].succeeded && r[1].succeeded, "\(r.map(\.status))")
        #expect(try f.c.staker(.checker(pool: 0), f.checkers[squatter].publicKey)?.stake == .zero)
        #expect(r[2].failure == .belowMinimumStake, "the unbonded key registered: \(r[2].status)")
        #expect(try f.c.record(StateKey.checker(0, f.checkers[squatter].publicKey), CheckerRecord.self) == nil)
        // The last slot is still free for a checker that keeps its stake bonded.
        let h = try f.c.block([
            try f.c.tx(f.checkers[honest], .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil), nonce: 0),
            try f.c.tx(f.checkers[honest], .registerChecker(pool: 0, sealingKey: f.sealingKey(honest)), nonce: 1),
        ])
        #expect(h.dropLast().allSatisfy { $0.succeeded }, "honest checker refused: \(h.map(\.status))")
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 3)
    }

    /// A checker slashed below the minimum leaves the registry (row 47); it then registered again at once without
    /// topping up, and held the slot with less than the minimum for good. Secure outcome: refused until it bonds
    /// back up to the minimum.
    @Test func aCheckerSlashedBelowTheMinimumCannotRegisterAgainWithoutToppingUp() throws {
        var f = try CheckerFixture()
        let r = try f.c.block(try (0..<4).map { try f.c.tx(f.checkers[$0], .unbond(role: .checker(pool: 0), amount: 600)) })
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        let s = SealedBatch.make(count: 24, seed: 10_003)
        let tid = try f.revealed(s)
        let slot = try f.check(tid)!.slots[0]
        let a = f.index(of: slot.checker)
        let (_, _, resolution) = try f.play(s, tid, moves: [a: .absent])
        #expect(resolution.slashes.contains { $0.0 == slot.checker && $0.2 == .checkerAbsent })
        #expect(try f.c.record(StateKey.checker(0, slot.checker), CheckerRecord.self) == nil, "slashed below the minimum, still registered")
        let n = try f.c.account(f.checkers[a].publicKey).nonce
        let again = try f.c.block([try f.c.tx(f.checkers[a], .registerChecker(pool: 0, sealingKey: f.sealingKey(a)), nonce: n)])
        #expect(again[0].failure == .belowMinimumStake, "re-registered below the minimum: \(again[0].status)")
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 3)
    }

    // MARK: - Sealing F1: sealing garbage and publishing the input to skip the check fees

    func feesPaid(_ r: Receipt) -> UInt64 {
        r.events.reduce(UInt64(0)) { if case .checkFeePaid(_, _, _, _, _, let a) = $1 { return $0 + a.units }; return $0 }
    }

    /// A pool whose check fee is well above the cost of publishing an input (the economy simulation's 6 000 is of this
    /// order; the older fixture's 40 hid the attack), with a minimum stake genesis accepts for it.
    static func costlyCheckPool() -> PoolConfig {
        var p = CheckerFixture.checkingPool()
        p.checking!.checkFee = 10_000
        p.checking!.checkerFalseAlarmSlashBps = 5_000
        p.checking!.checkerMinStake = 20_000
        return p
    }

    /// One sampled ticket through to the payout: honest sealing, or (`garbage`) an envelope of the right size holding
    /// garbage, whose checkers all answer bad input, after which the worker publishes the true input itself instead
    /// of its key. Returns the worker's balance change from before its commitment to after the payout, the check
    /// fees paid, the checkers' stake lost and the check's final status.
    func run(garbage: Bool) throws -> (worker: Int, fees: UInt64, checkersLost: UInt64, status: CheckStatus?) {
        var f = try CheckerFixture(pool: Self.costlyCheckPool(), checkerBond: 40_000)
        let s = SealedBatch.make(count: 24, seed: 10_101)
        let before = try f.c.balance(f.worker.publicKey)
        let stakes = try f.checkers.map { try f.c.staker(.checker(pool: 0), $0.publicKey)?.stake.units ?? 0 }
        let t = try f.commit(s)
        let i0 = s.batch.leafIndex(point: t.ticket.point)
        let plaintext = garbage ? testInput(tokens: s.batch.leaves[i0].tokenCount, seed: 10_199) : nil
        #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t, plaintext: plaintext))])[0].succeeded)
        let (_, reveals, _) = try f.play(s, t.id)
        #expect(reveals.allSatisfy { $0.succeeded })
        if garbage {
            #expect(try f.check(t.id)?.status == .disputed)
            #expect(try f.check(t.id)!.slots.allSatisfy { $0.answer == badInputAnswer })
            let pub = try f.c.block([try f.c.tx(f.worker, .publishSealedInput(ticketId: t.id, input: s.batch.inputs[i0]))])[0]
            #expect(pub.succeeded, "\(pub.status)")
            try f.c.advance(to: try f.check(t.id)!.keyDeadline + 1)
        }
        try f.c.advance(to: f.settleHeight)
        let status = try f.check(t.id)?.status  // the payout deletes the check record
        let p = try f.c.block([try f.c.tx(f.verifier, .claimPayout(pool: 0, window: 0, worker: f.worker.publicKey))])[0]
        #expect(p.succeeded, "\(p.status)")
        let after = try f.checkers.map { try f.c.staker(.checker(pool: 0), $0.publicKey)?.stake.units ?? 0 }
        return (Int(try f.c.balance(f.worker.publicKey)) - Int(before), feesPaid(p),
                zip(stakes, after).map { $0 - $1 }.reduce(0, +), status)
    }

    /// The worker seals garbage, its honest checkers answer bad input, the worker unblinds its (honest) output and,
    /// instead of its key (which would open the envelope to garbage and convict it), publishes the true input. The
    /// replay upholds the output and every bad-input answer was "unverified": no fee was owed at all, so the worker's
    /// whole check deposit came back, ahead of the honest path by about `k × checkFee` less one publication fee.
    /// Secure outcome: without the key by the deadline the bad-input answers are owed their fees on the upheld
    /// verdict; the worker ends below the honest path and the checkers lose nothing.
    @Test func sealingGarbageAndPublishingTheInputDoesNotSaveTheCheckFees() throws {
        let honest = try run(garbage: false), trick = try run(garbage: true)
        let k = UInt64(CheckerFixture.checkingPool().checking!.checkersPerTicket)
        let fee = Self.costlyCheckPool().checking!.checkFee.units
        print("garbage + publish: worker \(trick.worker) vs honest \(honest.worker); fees \(trick.fees) vs \(honest.fees)")
        #expect(honest.fees == k * fee && honest.status == .passed)
        #expect(trick.status == .upheld)
        #expect(trick.fees == k * fee, "the bad-input answers went unpaid: fees \(trick.fees)")
        #expect(trick.checkersLost == 0)
        #expect(trick.worker < honest.worker, "the trick paid: \(trick.worker) against \(honest.worker)")
    }

    /// Row 71 stays closed: on an honest ticket a lazy checker answers bad input (it opened nothing) and publishes the
    /// input first; the publication no longer cuts off the worker's key, which then judges the answers: the lazy
    /// checker is slashed for a false alarm and owed nothing, the honest ones are paid.
    @Test func aPublishedInputDoesNotCutOffTheWorkersKey() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 10_201)
        let t = try f.commit(s)
        let i0 = s.batch.leafIndex(point: t.ticket.point)
        #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])[0].succeeded)
        let slots = try f.check(t.id)!.slots
        let lazy = f.index(of: slots[0].checker)
        try f.play(s, t.id, moves: [lazy: .answer(badInputAnswer)])
        #expect(try f.check(t.id)?.status == .disputed)
        let pub = try f.c.block([try f.c.tx(f.checkers[lazy], .publishSealedInput(ticketId: t.id, input: s.batch.inputs[i0]))])[0]
        #expect(pub.succeeded, "\(pub.status)")
        #expect(try f.check(t.id)?.status == .disputed, "the publication cut off the key")
        let again = try f.c.block([try f.c.tx(f.verifier, .publishSealedInput(ticketId: t.id, input: s.batch.inputs[i0]))])[0]
        #expect(again.failure == .inputAlreadyPublished, "\(again.status)")
        let key = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: t.id, ephemeralPrivateKey: CheckerFixture.ephemeral(t.id)))])
        #expect(key[0].succeeded, "\(key[0].status)")
        let verdict = key.last!
        #expect(verdict.slashes.contains { $0.0 == f.checkers[lazy].publicKey && $0.2 == .falseAlarm })
        #expect(try f.check(t.id)?.status == .upheld)
        #expect(try f.c.ledgerState.raw(StateKey.checkFeeOwed(0, 0, f.worker.publicKey, t.id, 0)) == nil,
                "the lazy checker is owed a fee")
    }

    // MARK: - Staking F1: a second slash through hop challenges against a forfeited window

    /// Window 0 of the default pool closes commitments at 12 and takes hop challenges at 13–14. The worker (stake
    /// 100 000) commits 40 passes at 2 and is paid for them; `reveal` says whether it reveals its drawn tickets.
    func paidWindow(seed: UInt64, reveal: Bool) throws -> (Chain, PassBatch, PrivateKey, PrivateKey) {
        let client = testKey("r10-client"), worker = testKey("r10-worker")
        var c = try Chain(accounts: [(client, 10_000_000), (worker, 1_000_000)], workers: [(worker, 0, 100_000)])
        let escrow = try c.openEscrow(client, amount: 1_000_000, payees: [(worker, 1_000_000)])  // 1
        let b = PassBatch.from((0..<40).map { i -> (PassLeaf, [UInt8], Bool) in
            let p = HopChallengeTests.pass(seed: seed &+ UInt64(i), position: UInt64(i) * 4)
            return (p.0, p.1, false)
        })
        let r = try c.block([try c.tx(worker, c.commit(b)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, input: b.tokenCount, output: 0), nonce: 1)])  // 2
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        try c.advance(to: 4)
        if reveal { #expect(try c.revealAll(worker, b, commitment: c.commitmentId(worker, b)).dropLast().allSatisfy { $0.succeeded }) }
        return (c, b, client, worker)
    }

    /// A receipt for a pass the worker served in window 0 and never committed (it was jailed before it could).
    func servedReceipt(_ worker: PrivateKey, _ client: PrivateKey, seed: UInt64) -> HopReceipt {
        HopReceipt(leaf: HopChallengeTests.pass(seed: seed, position: 512).0, pool: 0, window: 0, worker: worker.publicKey,
                   holder: client.publicKey).signed(by: worker, chainId: Chain.chainId)
    }

    /// The worker withholds a reveal of window 0 and is convicted: half its stake, jailed, window 0 forfeited (its
    /// client gets everything back). The client then challenges a receipt of a pass the worker served in window 0 but
    /// could no longer commit (jailed): nobody can answer it, and at the deadline the worker was convicted again
    /// (stake 25 000, a longer jail) at the price of the client's transaction fee. Secure outcome: the challenge is
    /// refused (`workerForfeited`) and the stake stays at 50 000.
    @Test func aForfeitedWindowTakesNoHopChallenge() throws {
        var (c, _, client, worker) = try paidWindow(seed: 10_301, reveal: false)
        try c.advance(to: 12)
        let stake = try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units
        #expect(stake == 50_000, "the withheld reveal convicted the worker once")
        let hop = try c.block([try c.tx(client, .hopChallenge(receipt: servedReceipt(worker, client, seed: 10_399)))])[0]  // 13
        #expect(hop.failure == .workerForfeited, "\(hop.status)")
        try c.advance(to: 20)
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000, "slashed a second time")
    }

    /// A challenge sent before the window was forfeited: the worker (honest in window 0) is convicted for a withheld
    /// reveal of window 1 in the block the challenge's answer is due, which forfeits window 0 and jails it. The
    /// challenge then only returns its bond: no second conviction for a window that pays nothing.
    @Test func aChallengeWhoseWindowIsForfeitedBeforeItsDeadlineOnlyReturnsTheBond() throws {
        var (c, _, client, worker) = try paidWindow(seed: 10_401, reveal: true)
        // A commitment of window 1 at 11, drawn at 13, its reveal due by 16: never revealed.
        let b1 = PassBatch.from((0..<8).map { i -> (PassLeaf, [UInt8], Bool) in
            let p = HopChallengeTests.pass(seed: 10_450 &+ UInt64(i), position: UInt64(i) * 4)
            return (p.0, p.1, false)
        })
        try c.advance(to: 10)
        #expect(try c.block([try c.tx(worker, c.commit(b1, window: 1))])[0].succeeded)  // 11
        try c.advance(to: 13)
        let before = try c.balance(client.publicKey)
        let hopTx = try c.tx(client, .hopChallenge(receipt: servedReceipt(worker, client, seed: 10_499)))
        let hop = try c.block([hopTx])[0]  // 14, due by 17
        #expect(hop.succeeded, "\(hop.status)")
        try c.advance(to: 20)
        let tickets = try c.tickets(c.commitmentId(worker, b1, window: 1))
        #expect(!tickets.isEmpty && tickets.allSatisfy { $0.ticket.status == .withheld })
        #expect(try c.staker(.worker(pool: 0), worker.publicKey)!.stake.units == 50_000, "convicted twice")
        #expect(try c.balance(client.publicKey) == before - hopTx.transaction.fee.units, "the bond did not come back")
    }
}


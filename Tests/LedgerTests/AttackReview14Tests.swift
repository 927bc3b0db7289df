import Testing
@testable import Ledger
@testable import Primitives

/// An independent review (fourteenth session) of the thirteenth session's fixes (the snapshot fallback, a tombstoned
/// validator's votes withdrawn, the first block past the finality stall limit clearing every vote, the dispute
/// publisher paid only when right), of the escrow lifecycle, and of bounded state. Each test performs an attack through
/// signed transactions in blocks on the in-memory ledger. Where the rule holds, the test asserts that the attack fails
/// or loses the attacker money. Two attacks succeeded (checkpoint records kept for the whole of a finality stall) and
/// were fixed in the same session; their tests now assert the secure outcome.
@Suite struct FinalityStallReview14Tests {
    static let submitter = testKey("r14-vote-submitter")

    /// Checkpoints every 4 blocks, epochs of 8 slots, the harness's stall limit (`unbondingBlocks = 50`), four validators.
    static func chain() throws -> Chain {
        var p = Chain.defaultParams()
        p.checkpointBlocks = 4
        p.slotsPerEpoch = 8
        var c = try Chain(validatorCount: 4, accounts: [(submitter, 10_000_000)], params: p)
        c.pseudoBlockHashes = true
        return c
    }

    static func checkpoint(_ c: Chain, _ h: UInt64) -> Checkpoint { Checkpoint(height: h, hash: c.blockHashes[Int(h)]) }

    static func vote(_ c: Chain, _ v: Int, source: Checkpoint, target: Checkpoint) -> FinalityVote {
        FinalityVote(validator: c.validators[v].key.publicKey, source: source, target: target)
            .signed(by: c.validators[v].key, chainId: Chain.chainId)
    }

    static func justified(_ r: [Receipt], _ h: UInt64) -> Bool {
        r.contains { $0.events.contains { if case .checkpointJustified(let x, _) = $0 { return x == h }; return false } }
    }

    /// The checkpoint sets (`3E`) and checkpoint hashes (`30`) in the state, by height.
    static func checkpointSets(_ c: Chain) -> [(key: [UInt8], value: [UInt8])] {
        c.state.scan(prefix: [StateKey.Prefix.checkpointSet.rawValue], after: nil, limit: .max).map { ($0.key, $0.value) }
    }

    /// The most checkpoint sets a state ever needs while finality stalls: the finalized checkpoint's, and those a
    /// vote can still target and a finalization still reach, which are at most `unbondingBlocks` old (a vote counts
    /// against the schedule past that, and its evidence ages out with it), plus one for the checkpoint being recorded.
    static func bound(_ c: Chain) -> Int {
        Int(c.ledger.params.unbondingBlocks / c.ledger.params.checkpointBlocks) + 3
    }

    /// Fixed hole (bounded state; `pruneAgedCheckpoint` in Sources/Ledger/Finality.swift; consensus §8 **Checkpoints**,
    /// state-machine §1 rows `30` and `3E`). Performed: validators holding more than a third of the stake withhold their
    /// votes (no transaction at all), and the chain runs 400 blocks. Every checkpoint block's successor stores a copy of
    /// the whole schedule (`3E`, 40 bytes per validator) and the checkpoint's hash (`30`); before the fix only a
    /// finalization deleted them, so the state grew by one validator set every `checkpointBlocks` blocks for as long as
    /// the stall lasted, without any fee (100 sets and hashes here). Now each block deletes the checkpoint
    /// `unbondingBlocks + 1` below it: the state holds exactly the checkpoints of the last `unbondingBlocks` blocks.
    @Test func checkpointSetsAccumulateWithoutBoundWhileFinalityStalls() throws {
        var c = try Self.chain()
        try c.advance(to: 400)
        #expect(try Ledger.finality(of: c.ledgerState).finalized.height == 0)
        let heights = { (prefix: StateKey.Prefix) in
            c.state.scan(prefix: [prefix.rawValue], after: nil, limit: .max).map { UInt64(bigEndianBytes: $0.key[1..<9]) }.sorted()
        }
        let live = Array(stride(from: UInt64(352), to: 400, by: 4))   // heights 350...399 (unbondingBlocks 50)
        #expect(heights(.checkpointSet) == live, "checkpoint sets kept: \(heights(.checkpointSet))")
        #expect(heights(.checkpoint) == live, "checkpoint hashes kept: \(heights(.checkpoint))")
        #expect(live.count <= Self.bound(c))
    }

    /// Fixed hole (work per transaction; `dropFromCheckpointSets` in Sources/Ledger/Staking.swift, state-machine §3.2
    /// `doubleSignEvidence`/`voteEvidence`). Performed: after the 400-block stall above, one `doubleSignEvidence`
    /// transaction (a few hundred bytes, one fee) tombstones a validator, and `dropFromCheckpointSets` rewrites every
    /// stored checkpoint set holding it. Before the fix that was every set the stall accumulated (100 here; on a
    /// year-long stall at the defaults, 3 million); now the sets are those of the last `unbondingBlocks` blocks, so the
    /// rewrite is bounded by `unbondingBlocks / checkpointBlocks + 1` whatever the stall's length.
    @Test func aTombstoningAfterALongStallRewritesEveryCheckpointSet() throws {
        var c = try Self.chain()
        try c.advance(to: 400)
        let before = Dictionary(uniqueKeysWithValues: Self.checkpointSets(c).map { ($0.key, $0.value) })
        let offender = c.validators[3].key
        let a = FakeEquivocationVerifier.header(offender, height: 399, slot: 399, payload: 1)
        let b = FakeEquivocationVerifier.header(offender, height: 399, slot: 399, payload: 2)
        let r = try c.block([try c.tx(Self.submitter, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)
        #expect(r[0].succeeded, "\(r[0].status)")
        #expect(try c.staker(.validator, offender.publicKey)?.status == .tombstoned)
        let rewritten = Self.checkpointSets(c).filter { kv in before[kv.key].map { $0 != kv.value } ?? false }.count
        #expect(rewritten == 12, "\(rewritten) checkpoint sets rewritten by one evidence transaction")
        #expect(rewritten <= Self.bound(c), "\(rewritten) sets rewritten, \(Self.bound(c)) at most")
        let sets = Self.checkpointSets(c).compactMap { try? ValidatorSnapshot(canonicalEncoding: $0.value) }
        #expect(sets.count == 13 && sets.allSatisfy { !$0.validators.contains { $0.key == offender.publicKey } })
    }

    /// Genesis refuses a checkpoint interval longer than half the unbonding period (genesis.md): checkpoints age out
    /// `unbondingBlocks` after their height, and honest validators vote for the latest one over the next
    /// `checkpointBlocks` blocks, so a longer interval would let votes age out before they count.
    @Test func aCheckpointIntervalLongerThanHalfTheUnbondingPeriodIsRefused() throws {
        var p = Chain.defaultParams()
        p.unbondingBlocks = 50
        p.checkpointBlocks = 26
        #expect(throws: GenesisError.self) { _ = try Chain(validatorCount: 4, params: p) }
        p.checkpointBlocks = 25
        _ = try Chain(validatorCount: 4, params: p)
    }

    /// Rule holds (consensus §8 **Counting**, thirteenth-session step `clearVotesWhoseSetChanged`; liveness past the stall
    /// limit). Performed: far past the stall limit (finalized = genesis, height 61+), three honest validators vote for
    /// checkpoint 60. The attacking proposer of the epoch's last block (63) includes only two of the votes, so they are
    /// counted and then deleted by the epoch change of block 64 (which also takes the third vote); slashing protection
    /// forbids the two voters to sign another vote for 60. The attack fails: the deletion removes the vote records, so
    /// the identical signed votes, which a node re-sends while the tip does not count them (`castDueVote`), count
    /// again in block 65, justify 60 with more than two thirds of the epoch's schedule, and the next checkpoint
    /// finalizes it. Mutation: without the epoch-change deletion past the limit, block 64 justifies (fails at the tally).
    @Test func votesAnAttackerLandsBeforeAnEpochChangePastTheStallLimitCountWhenResent() throws {
        var c = try Self.chain()
        try c.advance(to: 62)
        let genesis = Self.checkpoint(c, 0), sixty = Self.checkpoint(c, 60)
        let votes = (0..<3).map { Self.vote(c, $0, source: genesis, target: sixty) }
        let r63 = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: Array(votes.prefix(2))))], proposer: 3)
        #expect(c.slot == 63 && r63[0].succeeded, "\(r63[0].status)")
        #expect(try c.record(StateKey.voteTally(60), VoteTally.self)?.votes == 2)
        let r64 = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: [votes[2]]))])
        #expect(try c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.epoch == 8)
        #expect(!Self.justified(r64, 60))
        #expect(try c.record(StateKey.voteTally(60), VoteTally.self)?.votes == 1, "the epoch change deleted the two votes")
        let r65 = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: Array(votes.prefix(2))))])
        #expect(Self.justified(r65, 60), "the re-sent identical votes count again")
        let sixtyFour = Self.checkpoint(c, 64)
        try c.block([try c.tx(Self.submitter, .finalityVotes(votes: (0..<3).map { Self.vote(c, $0, source: sixty, target: sixtyFour) }))])
        let f = try Ledger.finality(of: c.ledgerState)
        #expect(f.justified.height == 64 && f.finalized.height == 60)
    }

    /// Rule holds (consensus §8, the thirteenth session's stall-limit deletion; "justify with less than two thirds").
    /// Performed: inside the stall limit two of four validators vote for checkpoint 48 in block 49 (counted against the
    /// finalized checkpoint's set); block 51 is the first past the limit, where the set becomes the schedule, with no
    /// epoch change in between. Had the two votes survived, one more vote would make three of four counted against two
    /// different sets; with the deletion, a tally never mixes them, and liveness does not suffer: the two voters' records
    /// are gone, so their identical signed votes re-sent count again. Asserted: after block 51 no tally and no vote
    /// record exists; the third vote alone does not justify; the re-sent pair with it does.
    /// Mutation: dropping the `sinceFinalized == unbondingBlocks + 1` deletion makes the lone vote justify in block 52.
    @Test func theFirstBlockPastTheStallLimitStartsTheCountAfresh() throws {
        var c = try Self.chain()
        try c.advance(to: 48)
        let genesis = Self.checkpoint(c, 0), fortyEight = Self.checkpoint(c, 48)
        let votes = (0..<3).map { Self.vote(c, $0, source: genesis, target: fortyEight) }
        let r49 = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: Array(votes.prefix(2))))])
        #expect(r49[0].succeeded && !Self.justified(r49, 48))
        #expect(try c.record(StateKey.voteTally(48), VoteTally.self)?.votes == 2)
        try c.advance(to: 51)
        #expect(c.slot / 8 == 6, "no epoch change between 49 and 51: only the stall limit deletes")
        #expect(try c.keys(.voteTally) == 0 && c.keys(.finalityVote) == 0)
        let lone = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: [votes[2]]))])
        #expect(!Self.justified(lone, 48), "one vote of four, counted against the schedule")
        let resent = try c.block([try c.tx(Self.submitter, .finalityVotes(votes: Array(votes.prefix(2))))])
        #expect(Self.justified(resent, 48))
    }
}

/// The escrow lifecycle: close, unlock period, refund; voucher lanes; batches; self-dealing.
@Suite struct EscrowLifecycleReview14Tests {
    static let client = testKey("r14-client"), worker = testKey("r14-worker"), anyone = testKey("r14-anyone")

    static func charged(_ r: [Receipt]) -> (charged: UInt64, fee: UInt64) {
        r.flatMap(\.events).reduce((UInt64(0), UInt64(0))) {
            if case .usageClaimed(_, _, _, _, _, let ch, let fee, _) = $1 { return ($0.0 + ch.units, $0.1 + fee.units) }
            return $0
        }
    }

    /// Rule holds (economics §2, genesis's claim horizon `escrowUnlockBlocks ≥ windowBlocks + commitGraceBlocks + 3`;
    /// `escrowClose`, `Escrow.acceptsClaims`). Performed: the client's escrow expires at 11, the first block of window 1;
    /// in that very block the client starts the close and then, racing it, tries to top the escrow up (to extend nothing)
    /// and to allocate more to a second payee. The worker serves through window 1 and claims its final voucher at 22,
    /// window 1's commit deadline (the latest claim the close could have cut off). The client's final close is refused
    /// until the unlock period ends, then refunds exactly what was never charged; nobody's money is created or lost.
    /// Mutation: an unlocking escrow refusing claims (`acceptsClaims` false) fails the final claim.
    @Test func aCloseAtExpiryLeavesTheWorkersFinalVoucherClaimable() throws {
        var c = try Chain(accounts: [(Self.client, 1_000_000), (Self.worker, 100_000)], workers: [(Self.worker, 0, 10_000)])
        let escrow = try c.openEscrow(Self.client, amount: 10_000, payees: [(Self.worker, 5_000)], expiry: 11)  // 1
        let start = try c.balance(Self.client.publicKey)
        try c.advance(to: 10)
        var fees: UInt64 = 0
        let nonce = try c.account(Self.client.publicKey).nonce
        let r11 = try c.block([try c.tx(Self.client, .escrowClose(escrowId: escrow), nonce: nonce),
                               try c.tx(Self.client, .escrowTopUp(escrowId: escrow, amount: 500, newExpiryHeight: nil), nonce: nonce + 1),
                               try c.tx(Self.client, .escrowAllocate(escrowId: escrow, payee: Self.anyone.publicKey, amount: 1), nonce: nonce + 2)])
        fees += r11.dropLast().reduce(0) { $0 + $1.feePaid.units }
        #expect(c.height == 11 && r11[0].succeeded, "\(r11[0].status)")
        #expect(r11[1].failure == .escrowUnlocking && r11[2].failure == .escrowUnlocking, "\(r11.map(\.status))")
        guard case .escrowUnlocking(_, let until)? = r11[0].events.first else { Issue.record("no unlock"); return }
        #expect(until == 31)
        #expect(try c.block([try c.tx(Self.worker, c.voucher(Self.client, escrow: escrow, payee: Self.worker, window: 0, input: 40, output: 5))])[0].succeeded)
        let deadline = c.pool.commitDeadline(ofWindow: 1)
        #expect(deadline == 22)
        try c.advance(to: deadline - 1)
        let last = try c.block([try c.tx(Self.worker, c.voucher(Self.client, escrow: escrow, payee: Self.worker, window: 1, input: 300, output: 60))])
        #expect(c.height == deadline && last[0].succeeded, "the final voucher of window 1: \(last[0].status)")
        let late = try c.block([try c.tx(Self.worker, c.voucher(Self.client, escrow: escrow, payee: Self.worker, window: 1, input: 301, output: 60))])
        #expect(late[0].failure == .claimPeriodOver)
        let totalCharged = try #require(try LedgerReader(c.state).escrow(escrow)).totalCharged.units
        #expect(totalCharged == (40 * 2 + 5 * 7) + (300 * 2 + 60 * 7))
        try c.advance(to: until - 2)
        let early = try c.block([try c.tx(Self.client, .escrowClose(escrowId: escrow))])
        #expect(early[0].failure == .escrowStillUnlocking)
        fees += early[0].feePaid.units
        let close = try c.block([try c.tx(Self.client, .escrowClose(escrowId: escrow))])
        fees += close[0].feePaid.units
        #expect(c.height == until && close[0].succeeded)
        #expect(close[0].events.contains(.escrowClosed(escrowId: escrow, refund: Amount(10_000 - totalCharged))))
        // The client paid the escrow (10 000 at opening, before `start`) and got back what was not charged.
        #expect(try c.balance(Self.client.publicKey) == start - fees + 10_000 - totalCharged)
        #expect(try c.keys(.allocation) == 0 && c.keys(.escrow) == 0 && c.keys(.escrowByOwner) == 0)
    }

    /// Rule holds (state-machine §3.2: a batch runs under one checkpoint; economics §2 lanes per escrow, payee, shard
    /// and window). Performed: the worker holds vouchers of two escrows of one client and sends one `claimUsageBatch`
    /// mixing the lanes, whose last item goes back on the first lane (an older voucher of escrow 1 after its newer
    /// one): the whole batch fails and nothing is charged (no lane, no work record, no escrow charged). A batch that
    /// advances each lane claims each lane's delta exactly once, including a voucher of another window of escrow 1,
    /// which starts its own lane (its counters are the client's per-window counters, which it signed).
    @Test func aClaimsBatchMixingLanesIsAllOrNothingAndChargesEachDeltaOnce() throws {
        var c = try Chain(accounts: [(Self.client, 1_000_000), (Self.worker, 100_000)], workers: [(Self.worker, 0, 10_000)])
        let e1 = try c.openEscrow(Self.client, amount: 50_000, payees: [(Self.worker, 20_000)])
        let e2 = try c.openEscrow(Self.client, amount: 50_000, payees: [(Self.worker, 20_000)])
        try c.advance(to: 10)  // the batches land at 11 and 12: window 1 has begun, window 0 takes claims until 12
        func v(_ e: Hash32, _ w: UInt64, _ i: UInt64) -> UsageVoucher {
            UsageVoucher(chainId: Chain.chainId, escrowId: e, payee: Self.worker.publicKey, shard: 0, window: w,
                         cumulativeInputTokens: i, cumulativeOutputTokens: 0).signed(by: Self.client)
        }
        let bad = try c.block([try c.tx(Self.worker, .claimUsageBatch(vouchers: [v(e1, 0, 100), v(e2, 0, 50), v(e1, 0, 90)]))])
        #expect(bad[0].failure == .voucherNotIncreasing, "\(bad[0].status)")
        #expect(try c.keys(.payerLane) == 0 && c.keys(.workRecord) == 0)
        #expect(try LedgerReader(c.state).escrow(e1)?.totalCharged == 0 && LedgerReader(c.state).escrow(e2)?.totalCharged == 0)
        let good = try c.block([try c.tx(Self.worker, .claimUsageBatch(vouchers: [v(e1, 0, 100), v(e2, 0, 50), v(e1, 0, 150), v(e1, 1, 30)]))])
        #expect(good[0].succeeded, "\(good[0].status)")
        #expect(try LedgerReader(c.state).escrow(e1)?.totalCharged == Amount((150 + 30) * 2))
        #expect(try LedgerReader(c.state).escrow(e2)?.totalCharged == Amount(50 * 2))
        #expect(Self.charged(good).charged == (150 + 50 + 30) * 2)
        let replay = try c.block([try c.tx(Self.worker, .claimUsageBatch(vouchers: [v(e1, 1, 30)]))])
        #expect(replay[0].failure == .voucherNotIncreasing)
    }

    /// Rule holds (economics §2, "self-dealing loses at least the fee"). Performed: a worker opens an escrow of its own,
    /// allocates to itself, signs its own vouchers, commits and reveals honest passes for them and claims its payout:
    /// the whole payment comes back (paid to itself as the worker), less the protocol fee, which is burned.
    /// Counting every transaction fee back in, it ends at least the protocol fee poorer. Mutation: a zero protocol fee
    /// in `claimUsage` fails the fee assertions.
    @Test func aWorkerPayingItselfLosesAtLeastTheProtocolFee() throws {
        let w = Self.worker
        var c = try Chain(accounts: [(w, 1_000_000)], workers: [(w, 0, 100_000)])
        let before = try c.wealth(w)
        var txFees: UInt64 = 0
        let nonce = try c.account(w.publicKey).nonce
        let escrow = LedgerIds.escrow(owner: w.publicKey, nonce: nonce)
        let opened = try c.block([try c.tx(w, .escrowOpen(pool: 0, amount: 100_000, expiryHeight: 1_000), nonce: nonce),
                                  try c.tx(w, .escrowAllocate(escrowId: escrow, payee: w.publicKey, amount: 50_000), nonce: nonce + 1)])
        #expect(opened.dropLast().allSatisfy { $0.succeeded })
        txFees += opened.dropLast().reduce(0) { $0 + $1.feePaid.units }
        let b = PassBatch.make(count: 20, shard: 0, seed: 1401)
        let i = b.tokenCount - b.tokenCount / 5, o = b.tokenCount / 5
        let r = try c.block([try c.tx(w, c.commit(b)), try c.tx(w, c.voucher(w, escrow: escrow, payee: w, input: i, output: o), nonce: nonce + 3)])
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        txFees += r.dropLast().reduce(0) { $0 + $1.feePaid.units }
        let (charged, fee) = Self.charged(r)
        #expect(charged == i * 2 + o * 7)
        try c.advance(to: 4)
        let reveals = try c.revealAll(w, b, commitment: c.commitmentId(w, b))
        #expect(reveals.dropLast().allSatisfy { $0.succeeded })
        txFees += reveals.dropLast().reduce(0) { $0 + $1.feePaid.units }
        try c.advance(to: c.settleHeight0)
        let payout = try c.block([try c.tx(w, .claimPayout(pool: 0, window: 0, worker: w.publicKey))])
        #expect(payout[0].succeeded, "\(payout[0].status)")
        txFees += payout[0].feePaid.units
        let escrowLeft = try #require(try LedgerReader(c.state).escrow(escrow)).balance.units
        let lost = Int64(before) - Int64(try c.wealth(w)) - Int64(escrowLeft) - Int64(txFees)
        #expect(fee > 0 && fee >= charged * 500 / 10_000, "protocol fee \(fee) of \(charged)")
        #expect(lost >= Int64(fee), "self-dealing lost \(lost), the protocol fee is \(fee)")
    }
}

/// The dispute publisher's share of a collusion slash, paid only to a checker whose answer was right (thirteenth
/// session, `rightKeys` in `settleCheckers`).
@Suite struct RightPublisherReview14Tests {
    /// Rule holds (verification §4.1, economics §7 row 87). Performed: a cartel holds two slots of a cheating worker's
    /// committee. Its first checker attests the false output (to get the ticket passed); seeing the honest checker
    /// dissent, the cartel's second checker answers right as well, publishes the input it opened at once (so it, not the
    /// honest checker, is the publisher) and the worker withholds its key. At the key deadline the published input
    /// replays: fraud. The cartel's second key is a right checker, so it does earn the publisher share, but only
    /// `verifierBountyBps` of its partner's collusion slash: the colluder wins back a tenth of its slash and the cartel
    /// still loses the rest (and the worker its fraud slash). Asserted: the share is exactly
    /// `⌊slash × verifierBountyBps / 10 000⌋`, nothing else goes to the colluder, and the cartel's net is a loss.
    @Test func aColludersPartnerThatAnswersRightRecoversOnlyTheBountyShareOfItsSlash() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1414, cheat: true)
        let tid = try f.revealed(s)
        let slots = try #require(try f.check(tid)).slots
        let i0 = s.batch.leafIndex(point: try #require(try f.c.record(StateKey.ticket(tid), Ticket.self)).point)
        let colluder = f.index(of: slots[0].checker), partner = f.index(of: slots[1].checker)
        let colluderStake = try #require(try f.c.staker(.checker(pool: 0), slots[0].checker)).stake.units
        let partnerBefore = try f.c.balance(slots[1].checker)
        try f.play(s, tid, moves: [colluder: .answer(s.outputs[i0])])
        let check = try #require(try f.check(tid))
        #expect(check.status == .disputed)
        let p = try f.c.block([try f.c.tx(f.checkers[partner], .publishSealedInput(
            ticketId: tid, input: try SupersededPublisherReview13Tests.input(f, tid, opener: partner)))])
        #expect(p[0].succeeded, "\(p[0].status)")
        var receipts = [Receipt]()
        while f.c.height < check.keyDeadline + 1 { receipts += try f.c.block() }
        #expect(try f.check(tid)?.status == .fraud)
        let slashes = receipts.flatMap(\.slashes)
        let collusion = try #require(slashes.first { $0.0 == slots[0].checker && $0.2 == .checkerCollusion }).1
        let shares = receipts.flatMap { SupersededPublisherReview13Tests.bounties($0, tid) }
        let toPartner = shares.filter { $0.0 == slots[1].checker }.map(\.1)
        #expect(shares.allSatisfy { $0.0 != slots[0].checker })
        #expect(toPartner.contains(collusion * UInt64(f.pool.verifierBountyBps) / 10_000), "\(toPartner) of a \(collusion) slash")
        let colluderAfter = try f.c.staker(.checker(pool: 0), slots[0].checker)?.stake.units ?? 0
        let cartelLost = Int64(colluderStake - colluderAfter)
        let partnerGained = Int64(try f.c.balance(slots[1].checker)) - Int64(partnerBefore)
        // The partner's gain includes its check fee and bounty share, which an honest answer earns anyway.
        #expect(cartelLost > 0 && partnerGained - cartelLost < 0, "cartel lost \(cartelLost), partner gained \(partnerGained)")
    }
}

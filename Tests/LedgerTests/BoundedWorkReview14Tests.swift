import Synchronization
import Testing
@testable import Ledger
@testable import Primitives

/// A sweep of the ledger for unbounded state and unbounded work per transaction or block (fourteenth session, after
/// the checkpoint-set hole fixed in e6da193). Each test performs the sequence on the in-memory ledger and measures what
/// a block reads (entries its scans return from the committed state, by record kind) or writes (its write set). Holes
/// assert the secure bound inside `withKnownIssue`, so the suite stays green until they are fixed.

/// The committed state a block executes over, counting the entries its scans return, by record kind (the key's first
/// byte). Point reads are not counted: every bound here is about scans.
final class ScanCountingReader: StateReader {
    let base: MemoryState
    let scanned = Mutex<[UInt8: Int]>([:])

    init(_ base: MemoryState) { self.base = base }

    func get(_ key: [UInt8]) throws -> [UInt8]? { base.get(key) }

    func scan(prefix: [UInt8], after: [UInt8]?, limit: Int) throws -> [KeyValue] {
        let out = base.scan(prefix: prefix, after: after, limit: limit)
        if let kind = prefix.first { scanned.withLock { $0[kind, default: 0] += out.count } }
        return out
    }
}

/// One block's measurements.
struct MeasuredBlock {
    var receipts: [Receipt]
    var writeSet: WriteSet
    var scanned: [UInt8: Int]

    func scanned(_ p: StateKey.Prefix) -> Int { scanned[p.rawValue] ?? 0 }
    func written(_ p: StateKey.Prefix) -> Int { writeSet.entries.filter { $0.key.first == p.rawValue }.count }
}

extension Chain {
    /// Executes the next block (round-robin proposer) once over a counting reader to measure it, then applies it as
    /// `block(_:)` does; execution is deterministic, so both runs are the same block.
    mutating func measuredBlock(_ txs: [SignedTransaction] = []) throws -> MeasuredBlock {
        let reader = ScanCountingReader(state)
        var ls = LedgerState(base: reader)
        _ = try ledger.applyBlock(nextContext(), transactions: txs, to: &ls)
        let ws = try ls.overlay.writeSet()
        let scanned = reader.scanned.withLock { $0 }
        let receipts = try block(txs)
        return MeasuredBlock(receipts: receipts, writeSet: ws, scanned: scanned)
    }
}

@Suite struct BoundedWorkReview14Tests {
    static let spammer = testKey("bw14-spammer"), anyone = testKey("bw14-anyone")

    // MARK: - Holes

    /// Fixed hole (state kept for ever, and begin-block work growing with it; `activeValidators` in
    /// Sources/Ledger/BlockProcessing.swift:164, called twice by every epoch change's begin-block (the new `schedule`
    /// and `nextSchedule`); state-machine §1 row `02`). Performed: 12 fresh keys each bond `validatorMinStake` as
    /// validators (one `bond`), unbond all of it in the next block (one `unbond`) and get it back `unbondingBlocks`
    /// later. Before the fix no rule deleted a staker record, so each key left a validator record of stake 0 for ever
    /// (and two stake-history entries, a known limitation), and every later epoch change scanned it twice, for two
    /// transaction fees and `validatorMinStake` locked for the unbonding period, which the next key reused. Now the
    /// maturity of a validator's last entry deletes a record that holds nothing (`deleteValidatorIfEmpty`): an epoch
    /// change visits only validators that hold stake (here the 4 genesis validators, twice).
    @Test func deadValidatorRecordsAreScannedByEveryEpochChangeForEver() throws {
        let cyclers = (0..<12).map { testKey("bw14-cycler-\($0)") }
        var c = try Chain(validatorCount: 4, accounts: cyclers.map { ($0, 10_000) })
        let minimum = c.ledger.params.validatorMinStake
        let bonds = try cyclers.map { k in
            try c.tx(k, .bond(role: .validator, amount: minimum, randaoCommitment: SHA256.hash(k.publicKey.bytes)))
        }
        let r1 = try c.block(bonds)
        #expect(r1.dropLast().allSatisfy { $0.succeeded }, "\(r1.map(\.status))")
        let r2 = try c.block(try cyclers.map { try c.tx($0, .unbond(role: .validator, amount: minimum)) })
        #expect(r2.dropLast().allSatisfy { $0.succeeded }, "\(r2.map(\.status))")
        let fees = (r1.dropLast() + r2.dropLast()).reduce(UInt64(0)) { $0 + $1.feePaid.units }
        // Past maturity: every cycler has its stake back, and its record is gone.
        let epoch = c.ledger.params.slotsPerEpoch
        try c.advance(to: (c.ledger.params.unbondingBlocks / epoch + 2) * epoch - 1)
        let held = try cyclers.reduce(UInt64(0)) { $0 + (try c.balance($1.publicKey)) }
        #expect(held + fees == 12 * 10_000, "the cycle cost only fees")
        for k in cyclers { #expect(try c.staker(.validator, k.publicKey) == nil) }
        let records = c.state.scan(prefix: StateKey.stakers(.validator), after: nil, limit: .max).count
        #expect(records == 4)
        // The next block is the first of an epoch.
        let m = try c.measuredBlock()
        #expect(c.slot % epoch == 0)
        let plain = try c.measuredBlock()
        #expect(plain.scanned(.staker) == 0, "a block inside an epoch scans no staker record")
        print("epoch change scanned \(m.scanned(.staker)) validator records (4 hold stake); 12 dead records cost \(fees) in fees")
        #expect(m.scanned(.staker) == 2 * 4, "an epoch change scanned \(m.scanned(.staker)) validator records for 4 with stake")
    }

    /// Fixed hole (end-of-block work growing with accumulated state; `matureUnbondings` in Sources/Ledger/Staking.swift:87,
    /// end-block step 1; economics §9 says unbonding maturity touches at most the entries one earlier block's
    /// transactions created). Performed: four workers each unbond `maxUnbondingEntries` (7) one-unit entries; a
    /// spammer opens false fraud claims (one bond each, burned) against their 64 revealed tickets, interleaved, so with
    /// one adjudication per block each worker's hold lasts until about height 69. From height 52 on every held entry is
    /// re-keyed in every block (entry rewritten, old queue key deleted, new one written): 28 entries and 84 write-set
    /// entries per block here, for every block of the backlog, although no unbonding was created 50 blocks before. The
    /// number grows with the held stakers' entries (up to 7 × (1 + checkersPerTicket) per queued ticket), and the
    /// backlog lasts as long as the queue the attacker filled: quadratic in what the attacker spends. Secure bound: a
    /// block touches only the entries created `unbondingBlocks` before it, plus those of holds released in it.
    @Test func heldUnbondingEntriesAreRekeyedInEveryBlockOfABacklog() throws {
        var params = Chain.defaultParams()
        params.maxAdjudicationsPerBlock = 1
        let workers = (0..<4).map { testKey("bw14-held-\($0)") }
        var c = try Chain(accounts: workers.map { ($0, 100_000) } + [(Self.spammer, 1_000_000)],
                          workers: workers.map { ($0, 0, 107) }, params: params)
        let batches = (0..<4).map { PassBatch.make(count: 100, shard: 0, seed: 900 + UInt64($0)) }
        #expect(try c.block(try zip(workers, batches).map { try c.tx($0, c.commit($1)) }).dropLast().allSatisfy { $0.succeeded })
        // 2: each worker unbonds seven one-unit entries (stake 107 → 100, still active).
        var unbonds = [SignedTransaction]()
        for w in workers {
            for n in 0..<7 { unbonds.append(try c.tx(w, .unbond(role: .worker(pool: 0), amount: 1), nonce: 1 + UInt64(n))) }
        }
        #expect(try c.block(unbonds).dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: 3)
        // 4: honest reveals of every ticket, and a blind claim against each.
        var reveals = [SignedTransaction](), commits = [SignedTransaction]()
        var targets = [[(id: Hash32, input: [UInt8], salt: Hash32)]]()
        for (w, b) in zip(workers, batches) {
            var n = try c.account(w.publicKey).nonce
            var mine = [(id: Hash32, input: [UInt8], salt: Hash32)]()
            for (id, t) in try c.tickets(c.commitmentId(w, b)) {
                reveals.append(try c.tx(w, b.reveal(id, point: t.point), nonce: n)); n += 1
                mine.append((id, b.inputs[b.leafIndex(point: t.point)], SHA256.hash(id.bytes)))
            }
            targets.append(mine)
        }
        // Interleaved, so every worker has a ticket near the end of the queue.
        let queue = (0..<targets.map(\.count).max()!).flatMap { i in targets.compactMap { i < $0.count ? $0[i] : nil } }
        #expect(queue.count >= 56, "\(queue.count) tickets")
        for (j, s) in queue.enumerated() {
            commits.append(try c.tx(Self.spammer, .fraudCommit(claim: fraudClaimHash(ticketId: s.id, prover: Self.spammer.publicKey, salt: s.salt),
                                                                pool: 0), nonce: UInt64(j)))
        }
        #expect(try c.block(reveals + commits).dropLast().allSatisfy { $0.succeeded })
        let opens = try queue.enumerated().map { j, s in
            try c.tx(Self.spammer, .fraudReveal(ticketId: s.id, salt: s.salt, input: s.input), nonce: UInt64(queue.count + j))
        }
        #expect(try c.block(opens).dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: 54)
        for w in workers { #expect(try LedgerReader(c.state).adjudicationHold(.worker(pool: 0), w.publicKey) > 0) }
        // Height 55: no unbonding was created at 5; before the fix every held entry was re-keyed (28 entries, 56
        // queue keys). Now the held entries stay parked.
        let m = try c.measuredBlock()
        let rekeyed = m.writeSet.entries.filter { $0.key.first == StateKey.Prefix.unbonding.rawValue }.count
        #expect(rekeyed == 0, "\(rekeyed) entries rewritten by a block in which none matured")
        #expect(m.written(.unbondingQueue) == 0, "\(m.written(.unbondingQueue)) queue keys written")
        // Once the backlog drains, every entry is paid: the stake comes back in full.
        let before = try workers.map { try c.balance($0.publicKey) }
        var h = c.height
        while try workers.contains(where: { try !LedgerReader(c.state).unbondings(.worker(pool: 0), $0.publicKey).isEmpty }) {
            try c.advance(to: h + 1)
            h = c.height
            #expect(h < 400, "the held entries were never paid")
            if h >= 400 { break }
        }
        for (i, w) in workers.enumerated() {
            #expect(try LedgerReader(c.state).adjudicationHold(.worker(pool: 0), w.publicKey) == 0)
            #expect(try c.balance(w.publicKey) > before[i], "worker \(i) got its unbonded stake back")
        }
    }

    /// Fixed hole (work per transaction growing with other validators' records; `withdrawVotes` in
    /// Sources/Ledger/Staking.swift:264, reached from `unbond` → `dropFromSchedule`, jailing and tombstoning; consensus
    /// §8). Performed: during a stall (finality at genesis), two validators each vote for every checkpoint a vote may
    /// still target (12 here, ⌊unbondingBlocks / checkpointBlocks⌋ + 1 at most; 865 at the defaults; allowed: same
    /// source, different targets is neither a double nor a surround vote). Then a third validator unbonds one unit,
    /// which drops it from the schedule and withdraws its votes: the withdrawal scans every validator's vote records
    /// (24), though the leaver has none. With V validators voting every target and V of them unbonding one unit each in
    /// one block, the block visits V² × 865 records. Secure bound: a withdrawal visits at most one record per live
    /// target (point reads of `31 ‖ target ‖ validator`).
    @Test func aValidatorsWithdrawalScansEveryValidatorsVotes() throws {
        var p = Chain.defaultParams()
        p.checkpointBlocks = 4
        p.slotsPerEpoch = 8
        var c = try Chain(validatorCount: 4, accounts: [(Self.spammer, 1_000_000), (testKey("validator-3"), 10_000)], params: p)
        c.pseudoBlockHashes = true
        try c.advance(to: 48)
        let genesis = Checkpoint(height: 0, hash: c.blockHashes[0])
        let targets = stride(from: UInt64(4), through: 48, by: 4).map { Checkpoint(height: $0, hash: c.blockHashes[Int($0)]) }
        let votes = (0..<2).flatMap { v in
            targets.map { FinalityVote(validator: c.validators[v].key.publicKey, source: genesis, target: $0).signed(by: c.validators[v].key, chainId: Chain.chainId) }
        }
        let r49 = try c.block([try c.tx(Self.spammer, .finalityVotes(votes: votes))])
        #expect(r49[0].succeeded && r49[0].events.count == 24, "\(r49[0].status), \(r49[0].events.count) votes counted")
        #expect(try c.keys(.finalityVote) == 24)
        let m = try c.measuredBlock([try c.tx(c.validators[3].key, .unbond(role: .validator, amount: 1))])
        #expect(c.slot / 8 == 49 / 8, "no epoch change: only the withdrawal scans the votes")
        #expect(m.receipts[0].succeeded)
        #expect(try !(c.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.validators.contains { $0.key == c.validators[3].key.publicKey } ?? true))
        let live = Int(p.unbondingBlocks / p.checkpointBlocks) + 1
        print("one 1-unit unbond scanned \(m.scanned(.finalityVote)) vote records; \(live) live targets")
        // Fixed: the withdrawal scans the tallies (one per target with votes) and reads the leaver's record at each.
        #expect(m.scanned(.finalityVote) == 0, "\(m.scanned(.finalityVote)) vote records scanned")
        #expect(m.scanned(.voteTally) == 12 && m.scanned(.voteTally) <= live, "\(m.scanned(.voteTally)) tallies visited, \(live) targets live")
        #expect(try c.keys(.finalityVote) == 24, "the other validators' votes stay")
    }

    /// Fixed in the fifteenth session (was: state kept for ever; state-machine §1 rows `11` and `0A`, no rule deleted
    /// them). `claimPayout` now deletes the pass and hop offences of what it prunes, and the last payout of a window
    /// schedules the window record's deletion with its payout records (`OffencePruningTests` for the validator
    /// offences). Performed: a worker commits
    /// three batches and reveals none; the reveal deadline convicts it once per commitment (the third conviction
    /// slashes nothing: the first two took all its stake at inclusion, yet it still writes its offence record). After
    /// settlement anyone's `claimPayout` prunes the worker's commitments, tickets and work record, and the payout record
    /// ages out; the three offence records and the window record stay for ever. Nothing reads a pass offence again once
    /// the commitment is gone (a commitment of a past window can never be made again), nor the window record once its
    /// last work record is paid; equivocation and vote offences are refused after `unbondingBlocks`. Cost per permanent
    /// offence record: one commitment's fee and ticket fees (the stake only for the first two). Secure bound: none of a
    /// paid-out window's records outlives the retention period.
    @Test func offenceAndWindowRecordsOutliveEverythingTheyGuard() throws {
        let w = testKey("bw14-withholder")
        var c = try Chain(accounts: [(w, 100_000), (Self.anyone, 10_000)], workers: [(w, 0, 100)])
        let batches = (0..<3).map { PassBatch.make(count: 8, shard: 0, seed: 700 + UInt64($0)) }
        #expect(try c.block(try batches.enumerated().map { try c.tx(w, c.commit($1), nonce: UInt64($0)) }).dropLast().allSatisfy { $0.succeeded })
        try c.advance(to: c.settleHeight0)
        #expect(try c.keys(.offence) == 3)
        #expect(try c.block([try c.tx(Self.anyone, .claimPayout(pool: 0, window: 0, worker: w.publicKey))])[0].succeeded)
        try c.advance(to: c.height + c.ledger.params.revealedKeyRetentionBlocks + c.ledger.params.unbondingBlocks + 1)
        #expect(try c.keys(.commitment) == 0 && c.keys(.ticket) == 0 && c.keys(.workRecord) == 0 && c.keys(.payout) == 0)
        #expect(try c.keys(.offence) == 0, "offence records of a pruned window")
        #expect(try c.keys(.window) == 0, "window records with nothing left to pay")
    }

    // MARK: - Bounds that hold

    /// Rule holds (end-block step 3 and the check of `0F`, economics §9). A block whose deadline record lists tickets
    /// that were revealed reads each ticket once and rewrites none of them; the record itself is deleted. Mutation:
    /// a deadline step that rewrote revealed tickets would put them in the write set.
    @Test func aDeadlineBlockRewritesOnlyWithheldTickets() throws {
        let w = testKey("bw14-revealer")
        var c = try Chain(accounts: [(w, 100_000)], workers: [(w, 0, 10_000)])
        let b = PassBatch.make(count: 20, shard: 0, seed: 42)
        #expect(try c.block([try c.tx(w, c.commit(b))])[0].succeeded)
        try c.advance(to: 3)
        let id = c.commitmentId(w, b)
        #expect(try c.revealAll(w, b, commitment: id).dropLast().allSatisfy { $0.succeeded })
        let deadline = try c.tickets(id)[0].ticket.revealDeadline
        try c.advance(to: deadline - 1)
        let m = try c.measuredBlock()
        #expect(m.written(.ticket) == 0, "revealed tickets rewritten at their deadline")
        #expect(try m.written(.revealDeadlineQueue) == 1 && c.keys(.revealDeadlineQueue) == 0)
    }

    /// Rule holds (begin-block step 5 and proposer records, economics §9). However long the chain, the proposer
    /// records kept are `max(unbondingBlocks, beaconMaxDelay) + 1`, and the liveness records at most one per leader of
    /// the current and the previous epoch. Mutation: without the deletion in `beginBlock` the count grows with height.
    @Test func proposerAndLivenessRecordsStayBoundedByParameters() throws {
        var c = try Chain(validatorCount: 3)
        try c.advance(to: 200)
        #expect(try c.keys(.proposer) == Int(c.ledger.params.proposerRecordRetention))
        #expect(try c.keys(.liveness) <= 3)
    }
}

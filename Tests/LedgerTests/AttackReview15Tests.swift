import Testing
@testable import Ledger
@testable import Primitives

/// Fifteenth review: attacks on the pruning of offence (`11`) and window (`0A`) records (state-machine §1, §3.2
/// `claimPayout`, `doubleSignEvidence`, `voteEvidence`) and on the overlay's sorted pending-key index. Every test
/// performs the attack on the in-memory chain, whose invariant tracker checks each block (`unpaidWorkers` against the
/// work records included), and asserts the secure outcome.
@Suite struct AttackReview15Tests: FinalityFixture {
    static let client = testKey("r15-client"), prover = testKey("r15-prover")
    static let withholder = testKey("r15-withholder"), cheater = testKey("r15-cheater"), honest = testKey("r15-honest")

    func workerStake(_ c: Chain, _ k: PrivateKey) throws -> UInt64 { try c.staker(.worker(pool: 0), k.publicKey)?.stake.units ?? 0 }

    /// Performed: in one window a worker withholds every reveal (convicted at the deadline), another is proven to have
    /// cheated (fraud claim, replay), a third is honest; all three were paid by a client. The first two are paid out
    /// (nothing, refunds) at settlement, which deletes their pass offences with their commitments and tickets. Then
    /// every way back to the same offences is tried: a reveal and a fraud claim of their tickets, a new commitment in
    /// the settled window, a hop challenge. All fail and take nothing; the stakes stay as after the first slash. The
    /// honest worker is paid out more than `revealedKeyRetentionBlocks` after the others: its window record is still
    /// there (it counted an unpaid worker), and is deleted that long after the last payout, with the payout records.
    @Test func convictionsCannotBeRepeatedOnceThePayoutPrunedTheirOffences() throws {
        let (w, f, h, client) = (Self.withholder, Self.cheater, Self.honest, Self.client)
        var c = try Chain(accounts: [(client, 10_000_000), (Self.prover, 1_000_000), (w, 100_000), (f, 100_000), (h, 100_000)],
                          workers: [(w, 0, 10_000), (f, 0, 10_000), (h, 0, 10_000)])
        let escrow = try c.openEscrow(client, amount: 3_000_000, payees: [(w, 1_000_000), (f, 1_000_000), (h, 1_000_000)])  // 1
        let bw = PassBatch.make(count: 20, shard: 0, seed: 1501)
        let bf = PassBatch.make(count: 20, shard: 0, seed: 1502, cheat: Set(0..<20))
        let bh = PassBatch.make(count: 20, shard: 0, seed: 1503)
        var txs = [SignedTransaction]()
        for (k, b) in [(w, bw), (f, bf), (h, bh)] {
            txs.append(try c.tx(k, c.commit(b), nonce: 0))
            txs.append(try c.tx(k, c.voucher(client, escrow: escrow, payee: k, input: b.tokenCount, output: 0), nonce: 1))
        }
        #expect(try c.block(txs).dropLast().allSatisfy { $0.succeeded })  // 2: commitment and claim of each in one block
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 3)
        try c.advance(to: 4)
        let (idW, idF, idH) = (c.commitmentId(w, bw), c.commitmentId(f, bf), c.commitmentId(h, bh))
        #expect(try c.revealAll(f, bf, commitment: idF).dropLast().allSatisfy { $0.succeeded })  // 5
        #expect(try c.revealAll(h, bh, commitment: idH).dropLast().allSatisfy { $0.succeeded })  // 6
        let fraudTickets = try c.tickets(idF)
        let (ft, ftTicket) = try #require(fraudTickets.first)
        let proof = try c.proveFraud(Self.prover, ticket: ft, input: bf.inputs[bf.leafIndex(point: ftTicket.point)])
        #expect(proof.commit.succeeded && proof.reveal.succeeded)
        let withheldTickets = try c.tickets(idW)
        #expect(withheldTickets.allSatisfy { $0.ticket.status == .withheld })
        #expect(try LedgerReader(c.state).ticket(ft)?.status == .fraudProven)
        let passOffences = [idW, idF].map { StateKey.offence(LedgerIds.passOffence(commitment: $0)) }
        for k in passOffences { #expect(c.state.get(k) != nil) }
        let slashedStakes = (try workerStake(c, w), try workerStake(c, f))
        #expect(slashedStakes.0 == 5_000 && slashedStakes.1 == 5_000, "slashed once each (fraudSlashBps 50 %)")

        try c.advance(to: c.settleHeight0)
        let paid = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: w.publicKey)),
                                try c.tx(client, .claimPayout(pool: 0, window: 0, worker: f.publicKey), nonce: try c.account(client.publicKey).nonce + 1)])
        #expect(paid.dropLast().allSatisfy { $0.succeeded }, "\(paid.map(\.status))")
        let payoutHeight = c.height
        for k in passOffences { #expect(c.state.get(k) == nil, "the payout deletes the pass offence") }
        #expect(try c.keys(.offence) == 0)
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 1)

        // Every way back to the pruned offences.
        let n = try c.account(w.publicKey).nonce
        let (wt, wTicket) = try #require(withheldTickets.first)
        let again = try c.block([
            try c.tx(w, bw.reveal(wt, point: wTicket.point), nonce: n),
            try c.tx(f, bf.reveal(fraudTickets[1].id, point: fraudTickets[1].ticket.point)),
            try c.tx(w, c.commit(bw), nonce: n + 1),
        ])
        #expect(again[0].failure == .unknownTicket)
        #expect(again[1].failure == .unknownTicket)
        #expect(again[2].failure == .notActiveWorker || again[2].failure == .commitDeadlinePassed, "\(again[2].status)")
        let targets = [(wt, bw.inputs[bw.leafIndex(point: wTicket.point)]),
                       (fraudTickets[1].id, bf.inputs[bf.leafIndex(point: fraudTickets[1].ticket.point)])]
        for (k, input) in targets {
            let s = SHA256.hash(k.bytes)
            let claimed = try c.block([try c.tx(Self.prover, .fraudCommit(claim: fraudClaimHash(ticketId: k, prover: Self.prover.publicKey, salt: s), pool: 0))])
            #expect(claimed[0].succeeded)
            let opened = try c.block([try c.tx(Self.prover, .fraudReveal(ticketId: k, salt: s, input: input))])
            #expect(opened[0].failure == .unknownTicket)
        }
        let hop = HopReceipt(leaf: bw.leaves[0], pool: 0, window: 0, worker: w.publicKey, holder: client.publicKey).signed(by: w, chainId: Chain.chainId)
        let challenged = try c.block([try c.tx(client, .hopChallenge(receipt: hop))])
        #expect(!challenged[0].succeeded)
        #expect(try workerStake(c, w) == slashedStakes.0 && workerStake(c, f) == slashedStakes.1, "never slashed twice")
        #expect(try c.keys(.offence) == 0)

        // The honest worker's payout, long after: its window record waited for it.
        try c.advance(to: payoutHeight + c.ledger.params.revealedKeyRetentionBlocks + 10)
        #expect(try LedgerReader(c.state).payouts(0, 0).isEmpty, "the first payouts' records are gone")
        #expect(try LedgerReader(c.state).window(0, 0)?.status == .settled)
        let late = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: h.publicKey))])
        #expect(late[0].succeeded, "\(late[0].status)")
        #expect(try #require(payout(late[0])).paid > 0)
        let lastPayout = c.height
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 0)
        // A second payout of anyone in the window fails as a transaction (never the unpaidWorkers fault).
        let twice = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: h.publicKey)),
                                 try c.tx(client, .claimPayout(pool: 0, window: 0, worker: w.publicKey), nonce: try c.account(client.publicKey).nonce + 1)])
        #expect(twice[0].failure == .nothingToPay && twice[1].failure == .nothingToPay)
        try c.advance(to: lastPayout + c.ledger.params.revealedKeyRetentionBlocks - 1)
        #expect(try LedgerReader(c.state).window(0, 0) != nil && !LedgerReader(c.state).payouts(0, 0).isEmpty,
                "explorers read the window beside its last payout record")
        try c.block()
        #expect(try LedgerReader(c.state).window(0, 0) == nil && LedgerReader(c.state).payouts(0, 0).isEmpty)
        let gone = try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: h.publicKey))])
        #expect(gone[0].failure == .windowNotSettled)
        #expect(try c.keys(.window) == 0 && c.keys(.workRecord) == 0 && c.keys(.commitment) == 0 && c.keys(.ticket) == 0)
    }

    /// Performed: `unpaidWorkers` against the transactions that create work records: a claim-only worker (a claim of one
    /// escrow in window 0 in one transaction, then a batch of two more escrows' vouchers in which the second fails, so
    /// the whole batch rolls back), a worker whose batch creates its record and then fails (rolled back: no record, no
    /// count), a worker that commits in one block and claims in the next, and a worker that commits twice in one block
    /// and never claims. The tracker checks the count at every block; the window counts exactly the workers with a
    /// record, and paying them out in any order (one block, the last first) never reaches the fault of claimPayout.
    @Test func unpaidWorkersFollowsWorkRecordsThroughRollbacksBatchesAndSameBlockWork() throws {
        let workers = (0..<4).map { testKey("r15-count-\($0)") }
        let clients = (0..<3).map { testKey("r15-payer-\($0)") }
        var c = try Chain(accounts: clients.map { ($0, 1_000_000) } + workers.map { ($0, 100_000) },
                          workers: workers.map { ($0, 0, 10_000) })
        var escrows = [Hash32]()
        for k in clients { escrows.append(try c.openEscrow(k, amount: 100_000, payees: workers.map { ($0, 10_000) })) }  // 1–3
        func v(_ e: Int, _ payee: PrivateKey, window: UInt64 = 0, input: UInt64) -> UsageVoucher {
            UsageVoucher(chainId: Chain.chainId, escrowId: escrows[e], payee: payee.publicKey, shard: 0, window: window,
                         cumulativeInputTokens: input, cumulativeOutputTokens: 0).signed(by: clients[e])
        }
        let b2 = PassBatch.make(count: 10, shard: 0, seed: 1511)
        let b3a = PassBatch.make(count: 10, shard: 0, seed: 1512), b3b = PassBatch.make(count: 10, shard: 0, seed: 1513)
        let r4 = try c.block([
            try c.tx(workers[0], c.voucher(clients[0], escrow: escrows[0], payee: workers[0], input: 10, output: 0)),
            // Worker 1: its record would be created by the first voucher; the second is not increasing: all rolled back.
            try c.tx(workers[1], .claimUsageBatch(vouchers: [v(0, workers[1], input: 10), v(1, workers[1], input: 0)])),
            try c.tx(workers[2], c.commit(b2)),
            try c.tx(workers[3], c.commit(b3a), nonce: 0), try c.tx(workers[3], c.commit(b3b), nonce: 1),
        ])
        #expect(r4[0].succeeded && r4[2].succeeded && r4[3].succeeded && r4[4].succeeded, "\(r4.map(\.status))")
        #expect(r4[1].failure == .voucherNotIncreasing)
        #expect(try LedgerReader(c.state).work(0, window: 0, worker: workers[1].publicKey) == nil)
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 3)
        let r5 = try c.block([
            // Worker 0: its second claim round fails as a whole (the third voucher is not increasing).
            try c.tx(workers[0], .claimUsageBatch(vouchers: [v(1, workers[0], input: 5), v(2, workers[0], input: 5), v(0, workers[0], input: 10)])),
            try c.tx(workers[0], .claimUsageBatch(vouchers: [v(1, workers[0], input: 5), v(2, workers[0], input: 5)]), nonce: 2),
            try c.tx(workers[2], c.voucher(clients[2], escrow: escrows[2], payee: workers[2], input: b2.tokenCount, output: 0)),
        ])
        #expect(r5[0].failure == .voucherNotIncreasing && r5[1].succeeded && r5[2].succeeded, "\(r5.map(\.status))")
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 3)
        try c.advance(to: 6)  // drawn at the end of 6, due by 9
        for (k, b) in [(workers[2], b2), (workers[3], b3a), (workers[3], b3b)] {
            #expect(try c.revealAll(k, b, commitment: c.commitmentId(k, b)).dropLast().allSatisfy { $0.succeeded })
        }
        try c.advance(to: c.settleHeight0)
        // Worker 1 has nothing; the others are paid in one block, the last first.
        let n = try c.account(clients[0].publicKey).nonce
        let order = [workers[3], workers[1], workers[2], workers[0], workers[3]]
        let paid = try c.block(try order.enumerated().map { i, k in try c.tx(clients[0], .claimPayout(pool: 0, window: 0, worker: k.publicKey), nonce: n + UInt64(i)) })
        #expect(paid[0].succeeded && paid[2].succeeded && paid[3].succeeded, "\(paid.map(\.status))")
        #expect(paid[1].failure == .nothingToPay && paid[4].failure == .nothingToPay)
        #expect(try LedgerReader(c.state).window(0, 0)?.unpaidWorkers == 0)
        try c.advance(to: c.height + c.ledger.params.revealedKeyRetentionBlocks)
        #expect(try c.keys(.window) == 0 && c.keys(.payout) == 0 && c.keys(.workRecord) == 0)
        #expect(try Invariants.check(c.state) == c.tracker?.report)
    }

    /// Performed: on a chain whose slots run ahead of its heights (skipped slots), a validator equivocates at slot `s`
    /// and is punished; the same evidence is sent again at every height until well past the record's deletion at the
    /// end of height `s + unbondingBlocks`. While the record stays it is `evidenceAlreadyProcessed` or (slots ahead)
    /// `evidenceTooOld`; after, always `evidenceTooOld`. The validator is slashed once.
    @Test func equivocationEvidenceOnAChainWhoseSlotsRunAheadNeverSlashesTwice() throws {
        var c = try Chain(validatorCount: 2, accounts: [(submitter, 1_000_000)])
        let u = c.ledger.params.unbondingBlocks
        let v = c.validators[1].key
        try c.advance(to: 3)
        try c.block(proposer: 0, skipSlots: 5)
        let slot = c.slot
        let a = FakeEquivocationVerifier.header(v, height: 4, slot: slot, payload: 1)
        let b = FakeEquivocationVerifier.header(v, height: 4, slot: slot, payload: 2)
        let offence = StateKey.offence(LedgerIds.equivocationOffence(offender: v.publicKey, slot: slot))
        #expect(try c.block([try c.tx(submitter, .doubleSignEvidence(headerA: a, headerB: b))], proposer: 0)[0].succeeded)
        let afterSlash = try c.staker(.validator, v.publicKey)?.stake
        var sawTooOldWhileKept = false
        while c.height < slot + u + 5 {
            let kept = c.state.get(offence) != nil
            let r = try c.block([try c.tx(submitter, .doubleSignEvidence(headerA: b, headerB: a))], proposer: 0, skipSlots: c.height % 7 == 0 ? 1 : 0)
            if kept && r[0].failure == .evidenceTooOld { sawTooOldWhileKept = true }
            #expect(r[0].failure == .evidenceAlreadyProcessed || r[0].failure == .evidenceTooOld, "height \(c.height): \(r[0].status)")
            if !kept { #expect(r[0].failure == .evidenceTooOld) }
            #expect(c.slot >= c.height)
            if c.height > slot + u { #expect(c.state.get(offence) == nil, "kept past height s + unbondingBlocks") }
        }
        #expect(sawTooOldWhileKept, "slots ran ahead: the evidence aged out before its record went")
        #expect(try c.staker(.validator, v.publicKey)?.stake == afterSlash, "slashed once")
        #expect(try c.keys(.offence) == 0)
    }

    /// Performed: conflicting votes whose higher target is exactly `unbondingBlocks` below the height (the oldest
    /// admissible): the record is deleted at the end of the very block that punished, and the pair sent again in the
    /// next block is too old. Then votes with targets at the top of `UInt64` (`max` and `max − unbondingBlocks`): no
    /// overflow, no fault, and the pairs sent again are already processed (their records are kept). Slashed once each.
    @Test func voteOffencesAtTheAgeLimitAndNearTheTopOfUInt64AreNeverPunishedTwice() throws {
        var c = try chain()
        let u = c.ledger.params.unbondingBlocks
        try c.advance(to: u + 8)
        let genesis = checkpoint(c, 0)
        let oldTarget = c.height + 1 - u  // the next block is at height oldTarget + unbondingBlocks
        let x = vote(c, 1, source: genesis, target: Checkpoint(height: oldTarget, hash: SHA256.hash([1])))
        let y = vote(c, 1, source: genesis, target: Checkpoint(height: oldTarget, hash: SHA256.hash([2])))
        let oldOffence = StateKey.offence(LedgerIds.voteOffence(validator: x.validator, x.signingHash(chainId: Chain.chainId),
                                                                y.signingHash(chainId: Chain.chainId)))
        let first = try c.block([try c.tx(submitter, .voteEvidence(a: x, b: y))])
        #expect(first[0].succeeded, "\(first[0].status)")
        #expect(c.state.get(oldOffence) == nil, "deleted at the end of the block that punished")
        let stake1 = try c.staker(.validator, x.validator)?.stake
        let again = try c.block([try c.tx(submitter, .voteEvidence(a: y, b: x))])
        #expect(again[0].failure == .evidenceTooOld)
        #expect(try c.staker(.validator, x.validator)?.stake == stake1)

        for (v, top) in [(2, UInt64.max), (3, UInt64.max - u)] {
            let p = vote(c, v, source: genesis, target: Checkpoint(height: top, hash: SHA256.hash([3])))
            let q = vote(c, v, source: genesis, target: Checkpoint(height: top, hash: SHA256.hash([4])))
            let r = try c.block([try c.tx(submitter, .voteEvidence(a: p, b: q))])
            #expect(r[0].succeeded, "\(r[0].status)")
            let stake = try c.staker(.validator, p.validator)?.stake
            try c.advance(to: c.height + u + 3)
            let twice = try c.block([try c.tx(submitter, .voteEvidence(a: q, b: p))])
            #expect(twice[0].failure == .evidenceAlreadyProcessed)
            #expect(try c.staker(.validator, p.validator)?.stake == stake)
        }
    }

    /// The overlay's sorted pending-key index under adversarial key shapes: empty keys, keys that are prefixes of one
    /// another, runs of 0x00 and 0xFF bytes, and `after` before, inside, equal to, a prefix of and beyond the prefix
    /// range; against a sorted reference, across chunk splits and removals.
    @Test func sortedKeysAgreeWithAReferenceForAdversarialKeysAndBounds() {
        var g = SplitMix64(seed: 1515)
        let alphabet: [UInt8] = [0x00, 0x01, 0x7F, 0xFE, 0xFF]
        func key() -> [UInt8] { (0..<Int(g.next() % 6)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] } }
        var keys = SortedKeys(), model = Set<[UInt8]>()
        func expected(prefix: [UInt8], after: [UInt8]?) -> [[UInt8]] {
            model.filter { k in k.starts(with: prefix) && (after.map { keyPrecedes($0, k) } ?? true) }.sorted { keyPrecedes($0, $1) }
        }
        for step in 0..<20_000 {
            let k = key()
            if step < 12_000 ? g.next() % 5 != 0 : g.next() % 5 == 0 {
                #expect(keys.insert(k) == model.insert(k).inserted)
            } else {
                #expect(keys.remove(k) == (model.remove(k) != nil))
            }
            if step % 53 == 0 {
                let prefix = Array(key().prefix(3))
                var afters: [[UInt8]?] = [nil, [], prefix, prefix + [0x00], prefix + [0xFF], prefix + [0xFF, 0xFF, 0xFF], key()]
                if !prefix.isEmpty { afters += [Array(prefix.dropLast()), Array(prefix.dropLast()) + [0xFF], Array(prefix.dropLast()) + [0x00]] }
                for after in afters {
                    #expect(keys.keys(prefix: prefix, after: after) == expected(prefix: prefix, after: after),
                            "prefix \(prefix) after \(String(describing: after))")
                }
            }
        }
        #expect(keys.count == model.count)
        #expect(keys.keys(prefix: [], after: nil) == expected(prefix: [], after: nil))
        #expect(keys.keys(prefix: [0xFF, 0xFF], after: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == expected(prefix: [0xFF, 0xFF], after: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
    }

    /// The overlay's scans over pending keys of every shape (the empty key, one-byte keys, 0xFF runs) merged with a base,
    /// with `after` cursors anywhere, through checkpoints and rollbacks: the same entries as the writes applied.
    @Test func overlayScansMatchAppliedWritesForAdversarialKeys() throws {
        var g = SplitMix64(seed: 1516)
        let alphabet: [UInt8] = [0x00, 0x07, 0xFF]
        func key() -> [UInt8] { (0..<Int(g.next() % 5)).map { _ in alphabet[Int(g.next() % 3)] } }
        let baseEntries = Dictionary((0..<200).map { _ in (key(), [UInt8(1)]) }, uniquingKeysWith: { a, _ in a })
        let base = MemoryState(entries: baseEntries.map { KeyValue(key: $0.key, value: $0.value) })
        var m = OverlayModel(base: base)
        #expect(m.model == baseEntries)
        for step in 0..<4_000 {
            let k = key()
            m.apply(roll: g.next() % 16, key: k, value: [UInt8(step % 256)])
            if step % 37 == 0 {
                let (overlay, model) = (m.overlay, m.model)
                let prefix = Array(key().prefix(2))
                let after: [UInt8]? = g.next() % 2 == 0 ? nil : key()
                let want = model.filter { e in e.key.starts(with: prefix) && (after.map { a in keyPrecedes(a, e.key) } ?? true) }
                    .sorted { keyPrecedes($0.key, $1.key) }.map { KeyValue(key: $0.key, value: $0.value) }
                #expect(try overlay.scan(prefix: prefix, after: after) == want, "prefix \(prefix) after \(String(describing: after))")
            }
        }
    }
}

import Testing
@testable import Ledger
@testable import Primitives
import Sealing

/// A worker's passes with blinded outputs (Specs/verification.md §4 step 1): the leaves carry
/// `H_blind(outputHash ‖ salt)`; the worker keeps the outputs and salts by leaf index.
struct SealedBatch {
    var batch: PassBatch
    var outputs: [Hash32]
    var salts: [Hash32]

    /// With `derivedSalts`, each leaf is blinded with `derivedBlindingSalt` (what the node's worker does), else with a
    /// salt of the test's own.
    static func make(count: Int, seed: UInt64, cheat: Bool = false, derivedSalts: Bool = false) -> SealedBatch {
        let plain = PassBatch.make(count: count, shard: 0, seed: seed, cheat: cheat ? Set(0..<count) : [])
        var passes = [(PassLeaf, [UInt8], Bool)](), secrets = [Hash32: (Hash32, Hash32)]()
        for (i, leaf) in plain.leaves.enumerated() {
            let salt = derivedSalts ? derivedBlindingSalt(contentKey: leaf.contentKey, input: plain.inputs[i])
                                    : SHA256.hash(Array("salt-\(seed)-\(i)".utf8))
            var blinded = leaf
            blinded.outputHash = blindedOutputHash(leaf.outputHash, salt: salt)
            secrets[leaf.contentKey] = (leaf.outputHash, salt)
            passes.append((blinded, plain.inputs[i], cheat))
        }
        let batch = PassBatch.from(passes)
        return SealedBatch(batch: batch, outputs: batch.leaves.map { secrets[$0.contentKey]!.0 },
                           salts: batch.leaves.map { secrets[$0.contentKey]!.1 })
    }
}

/// What an assigned checker does with a ticket.
enum CheckerMove {
    /// Opens its slot, replays the pass, commits and reveals the output it computed.
    case honest
    /// Commits and reveals this answer without replaying (lazy, lying or colluding).
    case answer(Hash32)
    /// Does nothing.
    case absent
    /// Commits honestly, never reveals.
    case commitOnly
    /// Copies another checker's commitment from the chain and tries to reveal that checker's answer.
    case copy(of: Int)
}

/// The in-memory chain with a checking pool: a client, a worker, a verifier and four registered checkers.
struct CheckerFixture {
    var c: Chain
    let client = testKey("client"), worker = testKey("worker"), verifier = testKey("verifier")
    let checkers: [PrivateKey] = (0..<4).map { testKey("checker-\($0)") }
    let sealing: [CheckerKeyPair] = (0..<4).map { try! CheckerKeyPair(privateKey: SHA256.hash(Array("sealing-\($0)".utf8)).bytes) }

    static func checkingPool(k: UInt32 = 3) -> PoolConfig {
        var p = Chain.defaultPool()
        // One ticket per commitment of up to 128 tokens, so each test follows one check.
        p.spotCheckPpm = 125_000
        p.checking = CheckingConfig(checkersPerTicket: k, checkerMinStake: 400, maxCheckers: 8, checkerActivationBlocks: 2,
                                    checkFee: 40, answerCommitBlocks: 3, unblindBlocks: 3, answerRevealBlocks: 3,
                                    disputeInputBlocks: 3, checkerAbsentSlashBps: 100, checkerBenchBlocks: 20,
                                    checkerFalseAlarmSlashBps: 1_000, checkerCollusionSlashBps: 5_000, checkerHonestStakeBps: 5_000)
        return p
    }

    static func params() -> LedgerParams {
        var p = Chain.defaultParams()
        p.unbondingBlocks = 100
        p.revealedKeyRetentionBlocks = 60
        return p
    }

    /// The pool the fixture was made with.
    let pool: PoolConfig
    var cfg: CheckingConfig { pool.checking! }
    var settleHeight: UInt64 { pool.settleHeight(ofWindow: 0, beaconDelay: c.ledger.params.selectionDelayBound) }

    /// `checkerBond`: what each registered checker bonds (a pool with a large `checkFee` needs a large minimum).
    init(register: Int = 4, pool: PoolConfig = CheckerFixture.checkingPool(), checkerBond: UInt64 = 1_000) throws {
        let keys = (0..<4).map { testKey("checker-\($0)") }
        self.pool = pool
        c = try Chain(accounts: [(client, 1_000_000), (worker, 100_000), (verifier, 100_000)] + keys.map { ($0, Amount(max(10_000, 9_000 + checkerBond))) },
                      workers: [(worker, 0, 10_000)], pools: [pool], params: CheckerFixture.params())
        var txs = [SignedTransaction]()
        for i in 0..<register {
            txs.append(try c.tx(checkers[i], .bond(role: .checker(pool: 0), amount: Amount(checkerBond), randaoCommitment: nil), nonce: 0))
            txs.append(try c.tx(checkers[i], .registerChecker(pool: 0, sealingKey: sealingKey(i)), nonce: 1))
        }
        let r = try c.block(txs)
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "checker setup: \(r.map(\.status))")
    }

    func sealingKey(_ i: Int) -> Hash32 { Hash32(bytes: sealing[i].publicKey.bytes)! }
    func index(of key: PublicKey) -> Int { checkers.firstIndex { $0.publicKey == key }! }
    func check(_ tid: Hash32) throws -> SealedCheck? { try c.record(StateKey.ticketCheck(tid), SealedCheck.self) }
    static func ephemeral(_ tid: Hash32) -> Hash32 { SHA256.hash(Array("ephemeral".utf8) + tid.bytes) }

    /// Opens an escrow paying the worker for the batch's tokens and commits the batch (height 2); waits for the draw.
    /// Returns the ticket and its assignment.
    mutating func commit(_ s: SealedBatch) throws -> (id: Hash32, ticket: Ticket) {
        let escrow = try c.openEscrow(client, amount: 100_000, payees: [(worker, 50_000)])
        let tokens = s.batch.tokenCount
        let w = pool.window(ofHeight: c.height + 1)
        let r = try c.block([try c.tx(worker, c.commit(s.batch, window: w)),
                             try c.tx(worker, c.voucher(client, escrow: escrow, payee: worker, window: w, input: tokens - tokens / 5,
                                                        output: tokens / 5), nonce: try c.account(worker.publicKey).nonce + 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "commit: \(r.map(\.status))")
        try c.advance(to: c.height + 2)
        let tickets = try c.tickets(c.commitmentId(worker, s.batch, window: w))
        try #require(tickets.count == 1, "one ticket per commitment")
        return tickets[0]
    }

    /// The sealed reveal of a ticket: the leaf and proofs, and the input (or `plaintext`) sealed to `recipients`
    /// (default: the assigned checkers in order).
    func sealedReveal(_ s: SealedBatch, _ t: (id: Hash32, ticket: Ticket), plaintext: [UInt8]? = nil,
                      recipients: [Hash32]? = nil) throws -> TxBody {
        let i = s.batch.leafIndex(point: t.ticket.point)
        let (l, r) = s.batch.tree.neighbours(i)
        let leaf = s.batch.leaves[i]
        let keys = try (recipients ?? check(t.id)!.slots.map(\.sealingKey)).map { try CheckerPublicKey(bytes: $0.bytes) }
        let envelope = try SealedEnvelope.seal(
            plaintext: plaintext ?? s.batch.inputs[i], recipients: keys,
            context: SealingContext(chainId: Chain.chainId, ticketId: t.id, inputHash: leaf.inputHash),
            randomness: SealingRandomness(ephemeralPrivateKey: CheckerFixture.ephemeral(t.id).bytes,
                                          contentSecret: SHA256.hash(Array("secret".utf8) + t.id.bytes).bytes))
        return .revealSealedTicket(ticketId: t.id, leaf: s.batch.tree.proof(i), left: l, right: r, envelope: envelope.encoded)
    }

    /// What an honest checker computes: it opens its slot of the envelope on chain and replays the pass.
    func replay(_ checker: Int, _ tid: Hash32) throws -> Hash32 {
        let t = try c.record(StateKey.ticket(tid), Ticket.self)!
        let bytes = try c.ledgerState.raw(StateKey.sealedInput(tid))!
        let envelope = try SealedEnvelope(decoding: bytes)
        let leaf = t.leaf!
        let input: [UInt8]
        do {
            input = try envelope.open(keyPair: sealing[checker],
                                      context: SealingContext(chainId: Chain.chainId, ticketId: tid, inputHash: leaf.inputHash))
        } catch { return badInputAnswer }
        guard Tags.tensor.hash(input) == leaf.inputHash else { return badInputAnswer }
        return FakeAdjudicator.canonicalOutput(input: input, shard: Int(leaf.shard), positionOffset: leaf.positionOffset)
    }

    static func nonce(_ checker: Int, _ tid: Hash32) -> Hash32 { SHA256.hash(Array("nonce-\(checker)".utf8) + tid.bytes) }

    /// The single ticket of `s`'s commitment, revealed sealed now and checked by honest checkers: it must pass.
    /// Returns the ticket and the resolution receipt.
    mutating func revealSoleTicketAndPass(_ s: SealedBatch) throws -> (ticket: (id: Hash32, ticket: Ticket), resolution: Receipt) {
        let tickets = try c.tickets(c.commitmentId(worker, s.batch))
        try #require(tickets.count == 1)
        let t = tickets[0]
        #expect(try c.block([try c.tx(worker, sealedReveal(s, t))])[0].succeeded)
        let (_, _, resolution) = try play(s, t.id)
        #expect(resolution.has(.checkPassed(ticketId: t.id, outputHash: s.outputs[s.batch.leafIndex(point: t.ticket.point)])))
        return (t, resolution)
    }

    /// Plays the check phases of a revealed ticket: every assigned checker's move (honest unless given), the
    /// worker's unblinding, up to the end of the resolution block. Returns the commit, reveal and resolution receipts.
    @discardableResult
    mutating func play(_ s: SealedBatch, _ tid: Hash32, moves: [Int: CheckerMove] = [:], unblind: Bool = true) throws
        -> (commits: [Receipt], reveals: [Receipt], resolution: Receipt) {
        let check = try check(tid)!
        let r = check.revealHeight
        var answers = [Int: Hash32](), commitments = [Int: Hash32]()
        var commitTxs = [SignedTransaction]()
        let order = check.slots.map { index(of: $0.checker) }
        for i in order {
            let move = moves[i] ?? .honest
            let answer: Hash32
            switch move {
            case .honest, .commitOnly: answer = try replay(i, tid)
            case .answer(let a): answer = a
            case .absent, .copy: continue
            }
            answers[i] = answer
            let commitment = checkCommitmentHash(ticketId: tid, checker: checkers[i].publicKey, answer: answer,
                                                 nonce: CheckerFixture.nonce(i, tid))
            commitments[i] = commitment
            commitTxs.append(try c.tx(checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: tid, commitment: commitment)])))
        }
        try c.advance(to: r)
        var commits = Array(try c.block(commitTxs).dropLast())
        // Copiers see the others' commitments on chain and commit the same hash a block later.
        var copyTxs = [SignedTransaction]()
        for i in order {
            if case .copy(let j) = moves[i] ?? .honest, let h = commitments[j] {
                copyTxs.append(try c.tx(checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: tid, commitment: h)])))
            }
        }
        commits += try c.block(copyTxs).dropLast()
        try c.advance(to: r + cfg.answerCommitBlocks)
        var revealTxs = [SignedTransaction]()
        let i0 = s.batch.leafIndex(point: try c.record(StateKey.ticket(tid), Ticket.self)!.point)
        if unblind {
            revealTxs.append(try c.tx(worker, .unblindOutput(items: [UnblindItem(ticketId: tid, outputHash: s.outputs[i0], salt: s.salts[i0])])))
        }
        for i in order {
            switch moves[i] ?? .honest {
            case .honest, .answer:
                revealTxs.append(try c.tx(checkers[i], .checkReveal(items: [CheckRevealItem(ticketId: tid, answer: answers[i]!, nonce: CheckerFixture.nonce(i, tid))])))
            case .copy(let j):
                guard let a = answers[j] else { continue }
                revealTxs.append(try c.tx(checkers[i], .checkReveal(items: [CheckRevealItem(ticketId: tid, answer: a, nonce: CheckerFixture.nonce(j, tid))])))
            case .absent, .commitOnly: continue
            }
        }
        let reveals = Array(try c.block(revealTxs).dropLast())
        try c.advance(to: r + cfg.resolutionDelay - 1)
        let resolution = try c.block().last!
        return (commits, reveals, resolution)
    }

    /// Commits, waits for the draw and reveals sealed; returns the ticket id.
    mutating func revealed(_ s: SealedBatch) throws -> Hash32 {
        let t = try commit(s)
        let r = try c.block([try c.tx(worker, sealedReveal(s, t))])
        #expect(r[0].succeeded, "sealed reveal: \(r[0].status)")
        return t.id
    }

    /// Settles window 0 and claims the worker's payout; returns its receipt.
    mutating func payout() throws -> Receipt {
        try c.advance(to: settleHeight)
        #expect(try c.record(StateKey.window(0, 0), WindowRecord.self)?.status == .settled)
        return try c.block([try c.tx(client, .claimPayout(pool: 0, window: 0, worker: worker.publicKey))])[0]
    }

    /// Whether `needle` (a pass input's tensor data) occurs in any state value or any block's transactions.
    func chainHolds(_ needle: [UInt8]) throws -> Bool {
        let data = Array(needle.dropFirst(22))
        func contains(_ hay: [UInt8]) -> Bool {
            guard hay.count >= data.count, let first = data.first else { return false }
            var i = 0
            while i + data.count <= hay.count {
                if hay[i] == first && Array(hay[i..<i + data.count]) == data { return true }
                i += 1
            }
            return false
        }
        for kv in c.state.scan(prefix: [], after: nil, limit: .max) where contains(kv.value) || contains(kv.key) { return true }
        for (_, txs) in c.history { for t in txs where contains(t.canonicalEncoding) { return true } }
        return false
    }
}

extension Receipt {
    func has(_ event: Event) -> Bool { events.contains(event) }
    var slashes: [(PublicKey, UInt64, OffenceKind)] {
        events.compactMap { if case .slashed(let k, _, let a, let o, _) = $0 { return (k, a.units, o) }; return nil }
    }
}

/// Private, paid verification (Specs/verification.md): every path of a sealed ticket, performed on the chain.
@Suite struct CheckerTests {
    /// Honest worker, honest checkers: each replays and is paid its fee before the worker; nothing public.
    @Test func honestTicketPaysItsCheckersAndPublishesNothing() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1)
        let tid = try f.revealed(s)
        let check = try f.check(tid)!
        #expect(check.status == .checking && check.slots.count == 3)
        let (commits, reveals, resolution) = try f.play(s, tid)
        #expect(commits.allSatisfy { $0.succeeded } && reveals.allSatisfy { $0.succeeded }, "\(commits.map(\.status)) \(reveals.map(\.status))")
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        #expect(resolution.has(.checkPassed(ticketId: tid, outputHash: s.outputs[i0])))
        #expect(try f.check(tid)?.status == .passed)
        #expect(try f.c.ledgerState.raw(StateKey.sealedInput(tid)) == nil, "the envelope is dropped once the check passes")
        // Payout: the three fees from the check-fee deposit (the rest of it returned), the revenue to the worker
        // (economics.md §7 row 52: fees never come out of the revenue the clients would get back).
        let earned = try f.c.record(StateKey.workRecord(0, 0, f.worker.publicKey), WorkRecord.self)!.earned
        let p = try f.payout()
        #expect(p.succeeded)
        for slot in check.slots {
            #expect(p.has(.checkFeePaid(pool: 0, window: 0, worker: f.worker.publicKey, ticketId: tid, checker: slot.checker, amount: 40)))
        }
        #expect(p.has(.payoutCredited(pool: 0, window: 0, worker: f.worker.publicKey, paid: Amount(earned), refunded: 0)))
        // No block and no state value ever held any plaintext input of the batch.
        for input in s.batch.inputs { #expect(try !f.chainHolds(input)) }
        #expect(try f.c.keys(.caseInput) == 0)
    }

    /// A cheated output: honest checkers disagree, the dispute publishes the key, the replay proves fraud; the
    /// worker is slashed and forfeits, the checkers get their fees and the bounty in equal parts.
    @Test func cheatedTicketIsDisputedAndTheWorkerSlashed() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 2, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let (_, _, resolution) = try f.play(s, tid)
        let deadline = f.c.height + f.cfg.disputeInputBlocks
        #expect(resolution.has(.disputeOpened(ticketId: tid, keyDeadline: deadline)))
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        #expect(r[0].has(.sealedInputPublished(ticketId: tid)))
        let system = r.last!
        #expect(system.slashes.contains { $0.0 == f.worker.publicKey && $0.1 == 5_000 && $0.2 == .fraud })
        let parts = system.events.compactMap { e -> UInt64? in
            if case .disputeBountyPaid(tid, let to, let a) = e, slots.contains(where: { $0.checker == to }) { return a.units }; return nil
        }
        #expect(parts.sorted() == [166, 167, 167])
        #expect(try f.check(tid)?.status == .fraud)
        #expect(try f.c.record(StateKey.fraudCase(tid), FraudCase.self)?.status == .paid)
        let p = try f.payout()
        #expect(p.events.filter { if case .checkFeePaid = $0 { return true }; return false }.count == 3)
        #expect(p.events.contains { if case .payoutCredited(_, _, _, let paid, _) = $0 { return paid == 0 }; return false })
    }

    /// The guessing attack: a lazy checker dissents from every output without replaying, which is right about every
    /// cheated ticket. On a fraud verdict only the dissent that gave the replayed output earns the fee and the
    /// bounty; the guess is slashed as a false alarm, so guessing loses money even where cheating is common.
    @Test func aGuessingDissenterEarnsNothingWhenTheWorkerCheated() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 2, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let guesser = f.index(of: slots[2].checker)
        try f.play(s, tid, moves: [guesser: .answer(SHA256.hash(Array("a guess".utf8)))])
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = r.last!
        #expect(system.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        #expect(system.slashes.contains { $0.0 == slots[2].checker && $0.2 == .falseAlarm }, "the guess was not slashed: \(system.slashes)")
        let parts = system.events.compactMap { e -> (PublicKey, UInt64)? in
            if case .disputeBountyPaid(tid, let to, let a) = e { return (to, a.units) }; return nil
        }
        // The whole bounty (500 of the 5 000 slash) goes to the two checkers that gave the true output.
        #expect(parts.map(\.0).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
                == [slots[0].checker, slots[1].checker].sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        #expect(parts.map(\.1).reduce(0, +) == 500)
        let p = try f.payout()
        let paidTo = p.events.compactMap { e -> PublicKey? in if case .checkFeePaid(_, _, _, _, let k, _) = e { return k }; return nil }
        #expect(Set(paidTo) == [slots[0].checker, slots[1].checker])
    }

    /// The worker blinds with the derived salt and sends no unblinding: the first matching reveal carrying the salt
    /// unblinds the output and the ticket passes; a false answer with the same salt opens nothing.
    @Test func aMatchingCheckerRevealUnblindsForTheWorker() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 5, derivedSalts: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        let salt = derivedBlindingSalt(contentKey: s.batch.leaves[i0].contentKey, input: s.batch.inputs[i0])
        #expect(blindedOutputHash(s.outputs[i0], salt: salt) == s.batch.leaves[i0].outputHash)
        var commits = [SignedTransaction]()
        for slot in slots {
            let i = f.index(of: slot.checker)
            commits.append(try f.c.tx(f.checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: tid, commitment: checkCommitmentHash(
                ticketId: tid, checker: slot.checker, answer: try f.replay(i, tid), nonce: CheckerFixture.nonce(i, tid)))])))
        }
        #expect(try f.c.block(commits).dropLast().allSatisfy(\.succeeded))
        try f.c.advance(to: try f.check(tid)!.revealHeight + f.cfg.answerCommitBlocks)
        // A reveal with a wrong salt: the answer counts, nothing is unblinded.
        let first = f.index(of: slots[0].checker)
        let wrong = try f.c.block([try f.c.tx(f.checkers[first], .checkReveal(items: [CheckRevealItem(
            ticketId: tid, answer: try f.replay(first, tid), nonce: CheckerFixture.nonce(first, tid), salt: SHA256.hash([7]))]))])
        #expect(wrong[0].succeeded && !wrong[0].events.contains { if case .outputUnblinded = $0 { true } else { false } })
        #expect(try f.check(tid)?.unblinded == nil)
        var reveals = [SignedTransaction]()
        for slot in slots.dropFirst() {
            let i = f.index(of: slot.checker)
            reveals.append(try f.c.tx(f.checkers[i], .checkReveal(items: [CheckRevealItem(
                ticketId: tid, answer: try f.replay(i, tid), nonce: CheckerFixture.nonce(i, tid), salt: salt)])))
        }
        let opened = try f.c.block(reveals)
        #expect(opened[0].has(.outputUnblinded(ticketId: tid, outputHash: s.outputs[i0])))
        #expect(!opened[1].events.contains { if case .outputUnblinded = $0 { true } else { false } }, "unblinded twice")
        #expect(try f.check(tid)?.unblinded == s.outputs[i0])
        try f.c.advance(to: try f.check(tid)!.revealHeight + f.cfg.resolutionDelay - 1)
        let resolution = try f.c.block().last!
        #expect(resolution.has(.checkPassed(ticketId: tid, outputHash: s.outputs[i0])))
        #expect(resolution.slashes.isEmpty)
    }

    /// The same ring when nobody publishes the input: at the key deadline the worker fails (key withheld), and no
    /// answer is owed a fee, the colluder's included: nothing showed which answer was right.
    @Test func aHiddenOutputWithTheKeyWithheldPaysNoAnswer() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 2, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        try f.play(s, tid, moves: [f.index(of: slots[0].checker): .answer(s.outputs[i0])], unblind: false)
        try f.c.advance(to: try f.check(tid)!.keyDeadline - 1)
        let end = try f.c.block().last!
        #expect(end.has(.sealedCheckFailed(ticketId: tid, worker: f.worker.publicKey, reason: .sealKeyWithheld)))
        #expect(!end.events.contains { if case .checkFeeOwed = $0 { true } else { false } }, "\(end.events)")
        #expect(!end.events.contains { if case .disputeBountyPaid = $0 { true } else { false } })
    }

    /// A cheating worker that never publishes the disputed key is convicted at the key deadline.
    @Test func withholdingTheDisputeKeyConvicts() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 3, cheat: true)
        let tid = try f.revealed(s)
        try f.play(s, tid)
        // Nobody can frame the worker with a key that is not the envelope's.
        let wrong = try f.c.block([try f.c.tx(f.verifier, .publishSealKey(ticketId: tid, ephemeralPrivateKey: SHA256.hash([9])))])
        #expect(wrong[0].failure == .wrongSealKey)
        try f.c.advance(to: try f.check(tid)!.keyDeadline - 1)
        let end = try f.c.block().last!
        #expect(end.has(.sealedCheckFailed(ticketId: tid, worker: f.worker.publicKey, reason: .sealKeyWithheld)))
        #expect(end.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .failedSealedCheck })
        #expect(try f.check(tid)?.status == .failed)
        #expect(try f.c.keys(.caseInput) == 0, "the input never became public")
    }

    /// A checker that lies about an honest pass (or guesses without replaying) raises a false alarm: the replay
    /// upholds the worker, the liar is slashed and part of it goes to the worker; the honest checkers are paid.
    @Test func lyingCheckerIsSlashedForAFalseAlarm() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 4)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let liar = f.index(of: slots[1].checker)
        try f.play(s, tid, moves: [liar: .answer(SHA256.hash([1, 2, 3]))])
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = r.last!
        #expect(system.has(.fraudRejected(ticketId: tid, bondsBurned: 0)))
        #expect(system.slashes.map { $0.0 } == [slots[1].checker])
        #expect(system.slashes.first?.1 == 100 && system.slashes.first?.2 == .falseAlarm)
        #expect(system.has(.disputeBountyPaid(ticketId: tid, to: f.worker.publicKey, amount: 10)))
        #expect(try f.check(tid)?.status == .upheld)
        let p = try f.payout()
        let paidTo = p.events.compactMap { e -> PublicKey? in if case .checkFeePaid(_, _, _, _, let k, _) = e { return k }; return nil }
        #expect(Set(paidTo) == [slots[0].checker, slots[2].checker])
        #expect(p.events.contains { if case .payoutCredited(_, _, _, let paid, _) = $0 { return paid > 0 }; return false })
    }

    /// An absent checker (no commitment) and one that commits but never reveals: no fee, a slash, and a bench
    /// that keeps them out of later assignments; the ticket still passes on the third answer.
    @Test func absentCheckersAreSlashedAndBenched() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 5)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let a = f.index(of: slots[0].checker), b = f.index(of: slots[2].checker)
        let (_, _, resolution) = try f.play(s, tid, moves: [a: .absent, b: .commitOnly])
        let bench = f.c.height + f.cfg.checkerBenchBlocks
        #expect(resolution.has(.checkerAbsent(ticketId: tid, checker: slots[0].checker, benchedUntil: bench)))
        #expect(resolution.has(.checkerAbsent(ticketId: tid, checker: slots[2].checker, benchedUntil: bench)))
        #expect(Set(resolution.slashes.filter { $0.2 == .checkerAbsent }.map(\.0)) == [slots[0].checker, slots[2].checker])
        #expect(resolution.events.contains { if case .checkPassed = $0 { return true }; return false })
        #expect(try f.c.record(StateKey.checker(0, slots[0].checker), CheckerRecord.self)?.benchedUntil == bench)
        // While benched they are not assignable: the next ticket draws among the two others only.
        let t2 = try f.commit(SealedBatch.make(count: 24, seed: 55))
        let second = try f.check(t2.id)!.slots.map(\.checker)
        #expect(!second.contains(slots[0].checker) && !second.contains(slots[2].checker))
        #expect(second.count == 2)
    }

    /// A committee that stays silent cannot pass a ticket: with no answer at all the ticket goes to a dispute, the
    /// validators replay the published input, and a cheat is convicted anyway (silence is no cheaper than collusion).
    @Test func silentCommitteeSendsTheTicketToADispute() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 14, cheat: true)
        let tid = try f.revealed(s)
        var moves = [Int: CheckerMove]()
        for slot in try f.check(tid)!.slots { moves[f.index(of: slot.checker)] = .absent }
        let (_, _, resolution) = try f.play(s, tid, moves: moves)
        #expect(!resolution.events.contains { if case .checkPassed = $0 { return true }; return false })
        #expect(resolution.events.contains { if case .disputeOpened = $0 { return true }; return false })
        #expect(resolution.slashes.filter { $0.2 == .checkerAbsent }.count == 3)
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        #expect(r.last!.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        #expect(try f.check(tid)?.status == .fraud)
    }

    /// Unbonding below the minimum leaves the registry: the slot and the sealing key are free again, so a temporary
    /// bond cannot hold registry slots for good.
    @Test func unbondingBelowTheMinimumLeavesTheRegistry() throws {
        var f = try CheckerFixture(register: 2)
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 2)
        let r = try f.c.block([try f.c.tx(f.checkers[0], .unbond(role: .checker(pool: 0), amount: 950))])
        #expect(r[0].succeeded)
        #expect(try f.c.record(StateKey.checker(0, f.checkers[0].publicKey), CheckerRecord.self) == nil)
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 1)
        // A partial unbond that stays at the minimum keeps the registration.
        #expect(try f.c.block([try f.c.tx(f.checkers[1], .unbond(role: .checker(pool: 0), amount: 600))])[0].succeeded)
        #expect(try f.c.record(StateKey.checker(0, f.checkers[1].publicKey), CheckerRecord.self) != nil)
        // The freed sealing key can be registered again.
        let again = try f.c.block([try f.c.tx(f.checkers[2], .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil)),
                                   try f.c.tx(f.checkers[2], .registerChecker(pool: 0, sealingKey: f.sealingKey(0)), nonce: 1)])
        #expect(again.dropLast().allSatisfy { $0.succeeded }, "\(again.map(\.status))")
    }

    /// A checker slashed below the minimum leaves the registry, as one that unbonds below it does (found by the
    /// fourth review): it can never be assigned again, yet it kept its slot, so a pool's registry could be filled for
    /// good for the price of the locked stake, pushing its tickets back to public reveals.
    @Test func slashedBelowTheMinimumLeavesTheRegistry() throws {
        var f = try CheckerFixture()
        // Every checker at exactly the minimum (400 of 1 000): still registered and assignable.
        let r = try f.c.block(try (0..<4).map { try f.c.tx(f.checkers[$0], .unbond(role: .checker(pool: 0), amount: 600)) })
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "\(r.map(\.status))")
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 4)
        let s = SealedBatch.make(count: 24, seed: 5)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let a = f.index(of: slots[0].checker)
        let (_, _, resolution) = try f.play(s, tid, moves: [a: .absent])
        #expect(resolution.slashes.contains { $0.0 == slots[0].checker && $0.2 == .checkerAbsent })
        #expect(try f.c.staker(.checker(pool: 0), slots[0].checker)!.stake < f.cfg.checkerMinStake)
        #expect(try f.c.record(StateKey.checker(0, slots[0].checker), CheckerRecord.self) == nil)
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 3)
        for slot in slots.dropFirst() {
            #expect(try f.c.record(StateKey.checker(0, slot.checker), CheckerRecord.self) != nil, "an answering checker lost its slot")
        }
        // The slot and the sealing key are free: topped up to the minimum, it registers again.
        let n = try f.c.account(f.checkers[a].publicKey).nonce
        let again = try f.c.block([try f.c.tx(f.checkers[a], .bond(role: .checker(pool: 0), amount: 100, randaoCommitment: nil), nonce: n),
                                   try f.c.tx(f.checkers[a], .registerChecker(pool: 0, sealingKey: f.sealingKey(a)), nonce: n + 1)])
        #expect(again.dropLast().allSatisfy { $0.succeeded }, "\(again.map(\.status))")
        #expect(try f.c.record(StateKey.checkerCount(0), UInt64.self) == 4)
    }

    /// Answers travel in batches (one transaction per checker and block): a batch is all or nothing, and an empty
    /// one is refused.
    @Test func answerBatchesAreAllOrNothing() throws {
        var f = try CheckerFixture()
        let tid = try f.revealed(SealedBatch.make(count: 24, seed: 15))
        let k = f.index(of: try f.check(tid)!.slots[0].checker)
        let good = CheckCommitItem(ticketId: tid, commitment: SHA256.hash([7]))
        let r = try f.c.block([try f.c.tx(f.checkers[k], .checkCommit(items: [good, CheckCommitItem(ticketId: SHA256.hash([8]), commitment: SHA256.hash([9]))]))])
        #expect(r[0].failure == .unknownTicket)
        #expect(try f.check(tid)!.slots[0].commitment == .zero, "a failed batch left an item behind")
        #expect(try f.c.block([try f.c.tx(f.checkers[k], .checkCommit(items: []))])[0].failure == .emptyBatch)
        #expect(try f.c.block([try f.c.tx(f.checkers[k], .checkCommit(items: [good]))])[0].succeeded)
        #expect(try f.check(tid)!.slots[0].commitment == good.commitment)
    }

    /// A ticket named twice in one batch fails the whole batch (the second item finds the first one's effect) and
    /// leaves nothing behind: commitments, unblindings and answer reveals alike.
    @Test func duplicateItemsFailTheWholeBatch() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 16)
        let tid = try f.revealed(s)
        let check = try f.check(tid)!
        let k = f.index(of: check.slots[0].checker)
        let answer = try f.replay(k, tid)
        let item = CheckCommitItem(ticketId: tid, commitment: checkCommitmentHash(ticketId: tid, checker: f.checkers[k].publicKey, answer: answer,
                                                                                  nonce: CheckerFixture.nonce(k, tid)))
        try f.c.advance(to: check.revealHeight)
        let twice = try f.c.block([try f.c.tx(f.checkers[k], .checkCommit(items: [item, item]))])
        #expect(twice[0].failure == .answerAlreadyCommitted)
        #expect(try f.check(tid)!.slots[0].commitment == .zero, "a failed batch left its first item behind")
        #expect(try f.c.block([try f.c.tx(f.checkers[k], .checkCommit(items: [item]))])[0].succeeded)

        try f.c.advance(to: check.revealHeight + f.cfg.answerCommitBlocks)
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        let unblind = UnblindItem(ticketId: tid, outputHash: s.outputs[i0], salt: s.salts[i0])
        let reveal = CheckRevealItem(ticketId: tid, answer: answer, nonce: CheckerFixture.nonce(k, tid))
        let r = try f.c.block([try f.c.tx(f.worker, .unblindOutput(items: [unblind, unblind])),
                               try f.c.tx(f.checkers[k], .checkReveal(items: [reveal, reveal]))])
        #expect(r[0].failure == .outputAlreadyUnblinded)
        #expect(r[1].failure == .answerAlreadyRevealed)
        let after = try f.check(tid)!
        #expect(after.unblinded == nil && after.slots[0].answer == nil, "a failed batch left its first item behind")
        let again = try f.c.block([try f.c.tx(f.worker, .unblindOutput(items: [unblind])),
                                   try f.c.tx(f.checkers[k], .checkReveal(items: [reveal]))])
        #expect(again[0].succeeded && again[1].succeeded)
        #expect(try f.check(tid)!.slots[0].answer == answer)
    }

    /// The worker cannot shield a colluding checker by withholding its key: a dissenting checker publishes the input
    /// it opened, the validators replay it, the colluder is slashed and the publisher earns part of that slash.
    @Test func withheldKeyCannotShieldColluders() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 16, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let point = try f.c.record(StateKey.ticket(tid), Ticket.self)!.point
        let falseOutput = s.outputs[s.batch.leafIndex(point: point)]
        let colluder = f.index(of: slots[0].checker), publisher = f.index(of: slots[1].checker)
        try f.play(s, tid, moves: [colluder: .answer(falseOutput)])
        #expect(try f.check(tid)?.status == .disputed)
        // What the dissenting checker opened; a wrong input is refused and changes nothing.
        let bytes = try f.c.ledgerState.raw(StateKey.sealedInput(tid))!
        let leaf = try f.c.record(StateKey.ticket(tid), Ticket.self)!.leaf!
        let input = try SealedEnvelope(decoding: bytes).open(keyPair: f.sealing[publisher],
                                                              context: SealingContext(chainId: Chain.chainId, ticketId: tid, inputHash: leaf.inputHash))
        let wrong = try f.c.block([try f.c.tx(f.checkers[publisher], .publishSealedInput(ticketId: tid, input: Array(input.dropLast(4)) + [0, 0, 0, 0]))])
        #expect(wrong[0].failure == .inputHashMismatch)
        let r = try f.c.block([try f.c.tx(f.checkers[publisher], .publishSealedInput(ticketId: tid, input: input))])
        #expect(r[0].has(.sealedInputPublished(ticketId: tid)))
        #expect(try f.check(tid)?.status == .disputed, "the key may still come until the deadline")
        // The published input replays at the key deadline.
        try f.c.advance(to: try f.check(tid)!.keyDeadline - 1)
        let system = try f.c.block().last!
        #expect(system.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        #expect(system.slashes.contains { $0.0 == slots[0].checker && $0.1 == 500 && $0.2 == .checkerCollusion })
        #expect(system.has(.disputeBountyPaid(ticketId: tid, to: slots[1].checker, amount: 50)), "the publisher's share of the collusion slash")
        #expect(try f.check(tid)?.status == .fraud)
        // The dispute is over: a late key is refused.
        #expect(try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])[0].failure == .ticketNotDisputed)
    }

    /// A worker that never unblinds its output is convicted; the answers nothing opened go to a dispute whose replay
    /// settles them: with the key published, every checker that gave the true output is owed its fee and shares the
    /// bounty. A ticket nobody answered and nobody unblinded fails at once.
    @Test func workerThatNeverUnblindsIsConvicted() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 6)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let (_, _, resolution) = try f.play(s, tid, unblind: false)
        #expect(resolution.has(.disputeOpened(ticketId: tid, keyDeadline: f.c.height + f.cfg.disputeInputBlocks)))
        let r = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: tid, ephemeralPrivateKey: CheckerFixture.ephemeral(tid)))])
        let system = r.last!
        #expect(system.slashes.map(\.0) == [f.worker.publicKey] && system.slashes.first?.1 == 5_000 && system.slashes.first?.2 == .fraud,
                "\(system.slashes)")
        let paid = system.events.compactMap { e -> PublicKey? in if case .disputeBountyPaid(tid, let to, _) = e { return to }; return nil }
        #expect(Set(paid) == Set(slots.map(\.checker)))
        #expect(try f.c.record(StateKey.ticket(tid), Ticket.self)?.status == .fraudProven)
        #expect(try f.check(tid)?.status == .fraud)
        let p = try f.payout()
        #expect(p.events.filter { if case .checkFeePaid = $0 { return true }; return false }.count == 3)

        var g = try CheckerFixture()
        let s2 = SealedBatch.make(count: 24, seed: 7)
        let tid2 = try g.revealed(s2)
        let everyone = Dictionary(uniqueKeysWithValues: try g.check(tid2)!.slots.map { (g.index(of: $0.checker), CheckerMove.absent) })
        let (_, _, silent) = try g.play(s2, tid2, moves: everyone, unblind: false)
        #expect(silent.has(.sealedCheckFailed(ticketId: tid2, worker: g.worker.publicKey, reason: .notUnblinded)))
        #expect(silent.slashes.contains { $0.0 == g.worker.publicKey && $0.1 == 5_000 })
        #expect(try g.check(tid2)?.status == .failed)
    }

    /// The ring attack: a cheating worker's colluder attests the false output, an honest checker dissents, and the
    /// worker, having seen the dissent, leaves its output unopened so that no answer could be compared with it. The
    /// answers still go to a replay (an honest dissenter publishes the input it opened): the worker is convicted, the
    /// colluder's answer is not the pass's output and is slashed as collusion, and the honest checkers take the fees
    /// and the bounty (the publisher also a share of the collusion slash).
    @Test func aCheaterThatLeavesItsOutputUnopenedCannotSpareItsColluder() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 2, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let i0 = s.batch.leafIndex(point: try f.c.record(StateKey.ticket(tid), Ticket.self)!.point)
        let colluder = f.index(of: slots[0].checker)
        let (_, _, resolution) = try f.play(s, tid, moves: [colluder: .answer(s.outputs[i0])], unblind: false)
        #expect(resolution.has(.disputeOpened(ticketId: tid, keyDeadline: f.c.height + f.cfg.disputeInputBlocks)))
        #expect(!resolution.events.contains { if case .sealedCheckFailed = $0 { true } else { false } })
        let honest = f.index(of: slots[1].checker)
        let r = try f.c.block([try f.c.tx(f.checkers[honest], .publishSealedInput(ticketId: tid, input: s.batch.inputs[i0]))])
        #expect(r[0].succeeded, "\(r[0].status)")
        try f.c.advance(to: try f.check(tid)!.keyDeadline - 1)
        let system = try f.c.block().last!
        #expect(system.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        // Slashed as a colluder (not merely a false alarm): hiding the output does not soften the colluder's slash.
        #expect(system.slashes.contains { $0.0 == slots[0].checker && $0.2 == .checkerCollusion && $0.1 == 500 },
                "the colluder escaped: \(system.slashes)")
        let paid = system.events.compactMap { e -> PublicKey? in if case .disputeBountyPaid(tid, let to, _) = e { return to }; return nil }
        #expect(Set(paid) == [slots[1].checker, slots[2].checker])
        let p = try f.payout()
        let feesTo = p.events.compactMap { e -> PublicKey? in if case .checkFeePaid(_, _, _, _, let k, _) = e { return k }; return nil }
        #expect(Set(feesTo) == [slots[1].checker, slots[2].checker])
    }

    /// A checker cannot copy another's answer: a copied commitment names the other checker's key, so the copier
    /// cannot open it (and is absent); after the commit phase, commitments are refused.
    @Test func copiedCommitmentsCannotBeOpenedAndLateOnesAreRefused() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 7)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let source = f.index(of: slots[0].checker), copier = f.index(of: slots[1].checker)
        let (commits, reveals, resolution) = try f.play(s, tid, moves: [copier: .copy(of: source)])
        #expect(commits.allSatisfy { $0.succeeded })
        #expect(reveals.contains { $0.failure == .checkCommitmentMismatch })
        #expect(resolution.slashes.map(\.0) == [slots[1].checker])
        // A late commitment (after r + A) is refused.
        var g = try CheckerFixture()
        let t2 = try g.revealed(SealedBatch.make(count: 24, seed: 8))
        let late = try g.check(t2)!
        try g.c.advance(to: late.revealHeight + g.cfg.answerCommitBlocks)
        let k = g.index(of: late.slots[0].checker)
        let r = try g.c.block([try g.c.tx(g.checkers[k], .checkCommit(items: [CheckCommitItem(ticketId: t2, commitment: SHA256.hash([1]))]))])
        #expect(r[0].failure == .checkPhaseClosed)
        // And a key that is not assigned cannot commit at all.
        let outsider = (0..<4).first { i in !late.slots.contains { $0.checker == g.checkers[i].publicKey } }!
        #expect(try g.c.block([try g.c.tx(g.checkers[outsider], .checkCommit(items: [CheckCommitItem(ticketId: t2, commitment: SHA256.hash([2]))]))])[0].failure == .notAssignedChecker)
    }

    /// Checkers colluding with a cheating worker (attesting its output without replaying) pass the check only when
    /// all of them collude; a public fraud claim then slashes every colluder and takes back their fees. With one
    /// honest checker among them, the dispute convicts the worker and slashes the colluders.
    @Test func collusionLosesMoney() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 9, cheat: true)
        let tid = try f.revealed(s)
        let slots = try f.check(tid)!.slots
        let point = try f.c.record(StateKey.ticket(tid), Ticket.self)!.point
        let falseOutput = s.outputs[s.batch.leafIndex(point: point)]
        var moves = [Int: CheckerMove]()
        for slot in slots { moves[f.index(of: slot.checker)] = .answer(falseOutput) }
        let (_, _, resolution) = try f.play(s, tid, moves: moves)
        #expect(resolution.has(.checkPassed(ticketId: tid, outputHash: falseOutput)))
        // The client (who holds the input) proves the fraud publicly.
        let input = s.batch.inputs[s.batch.leafIndex(point: point)]
        let (_, opened) = try f.c.proveFraud(f.verifier, ticket: tid, input: input)
        #expect(opened.succeeded, "\(opened.status)")
        let verdict = f.c.lastReceipts.last!
        #expect(verdict.events.contains { if case .fraudProven = $0 { return true }; return false })
        #expect(Set(verdict.slashes.filter { $0.2 == .checkerCollusion }.map(\.0)) == Set(slots.map(\.checker)))
        for slot in slots {
            let stake = try f.c.staker(.checker(pool: 0), slot.checker)!.stake.units
            #expect(stake == 500, "colluder \(slot.checker) keeps \(stake)")
        }
        let p = try f.payout()
        #expect(!p.events.contains { if case .checkFeePaid = $0 { return true }; return false })

        // One honest checker among colluders: the dispute convicts the worker, the colluders are slashed.
        var g = try CheckerFixture()
        let s2 = SealedBatch.make(count: 24, seed: 10, cheat: true)
        let t2 = try g.revealed(s2)
        let slots2 = try g.check(t2)!.slots
        let false2 = s2.outputs[s2.batch.leafIndex(point: try g.c.record(StateKey.ticket(t2), Ticket.self)!.point)]
        try g.play(s2, t2, moves: [g.index(of: slots2[0].checker): .answer(false2), g.index(of: slots2[1].checker): .answer(false2)])
        let r = try g.c.block([try g.c.tx(g.worker, .publishSealKey(ticketId: t2, ephemeralPrivateKey: CheckerFixture.ephemeral(t2)))])
        let system = r.last!
        #expect(Set(system.slashes.filter { $0.2 == .checkerCollusion }.map(\.0)) == [slots2[0].checker, slots2[1].checker])
        #expect(system.has(.disputeBountyPaid(ticketId: t2, to: slots2[2].checker, amount: 500)))
    }

    /// An envelope that does not open to the input (garbage sealed at the right size): the checkers answer "bad
    /// input", the published key shows it to every validator, and the worker is convicted without a replay.
    @Test func garbageEnvelopeConvictsTheWorker() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 11)
        let t = try f.commit(s)
        let leaf = s.batch.leaves[s.batch.leafIndex(point: t.ticket.point)]
        let garbage = testInput(tokens: leaf.tokenCount, seed: 999)
        let r = try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t, plaintext: garbage))])
        #expect(r[0].succeeded)
        let (_, reveals, resolution) = try f.play(s, t.id)
        #expect(reveals.allSatisfy { $0.succeeded })
        #expect(resolution.events.contains { if case .disputeOpened = $0 { return true }; return false })
        let k = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: t.id, ephemeralPrivateKey: CheckerFixture.ephemeral(t.id)))])
        #expect(k[0].has(.sealedCheckFailed(ticketId: t.id, worker: f.worker.publicKey, reason: .badEnvelope)))
        #expect(try f.c.keys(.caseInput) == 0)
    }

    /// Sealed reveals are checked for shape: the right recipients in assignment order and the input's size; a
    /// sealed ticket cannot be revealed in clear.
    @Test func sealedRevealsAreCheckedAndClearRevealsRefused() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 12)
        let t = try f.commit(s)
        let keys = try f.check(t.id)!.slots.map(\.sealingKey)
        let leaf = s.batch.leaves[s.batch.leafIndex(point: t.ticket.point)]
        let plain = s.batch.reveal(t.id, point: t.ticket.point)
        var bodies = [plain, try f.sealedReveal(s, t, recipients: keys.reversed()),
                      try f.sealedReveal(s, t, plaintext: testInput(tokens: leaf.tokenCount + 1, seed: 5))]
        if case .revealSealedTicket(let id, let l, let left, let right, _) = try f.sealedReveal(s, t) {
            bodies.append(.revealSealedTicket(ticketId: id, leaf: l, left: left, right: right, envelope: [1, 2, 3]))
        }
        let base = try f.c.account(f.worker.publicKey).nonce
        let r = try f.c.block(try bodies.enumerated().map { try f.c.tx(f.worker, $0.element, nonce: base + UInt64($0.offset)) })
        #expect(r.dropLast().map(\.failure) == [.sealedRevealRequired, .envelopeRecipientsMismatch, .envelopeSizeMismatch, .invalidEnvelope])
        #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])[0].succeeded)
    }

    /// With no assignable checker the ticket falls back to a public reveal, and then its input is on chain (the
    /// control for the privacy scan of the honest test).
    @Test func emptyRegistryFallsBackToPublicReveals() throws {
        var f = try CheckerFixture(register: 0)
        let s = SealedBatch.make(count: 24, seed: 13)
        let t = try f.commit(s)
        #expect(try f.check(t.id) == nil)
        let i = s.batch.leafIndex(point: t.ticket.point)
        let (l, rn) = s.batch.tree.neighbours(i)
        let sealed = try f.c.block([try f.c.tx(f.worker, .revealSealedTicket(ticketId: t.id, leaf: s.batch.tree.proof(i), left: l, right: rn, envelope: []))])
        #expect(sealed[0].failure == .ticketNotSealed)
        let r = try f.c.block([try f.c.tx(f.worker, s.batch.reveal(t.id, point: t.ticket.point))])
        #expect(r[0].succeeded)
        #expect(try f.chainHolds(s.batch.inputs[s.batch.leafIndex(point: t.ticket.point)]))
    }

    /// A ticket that fell back to a public reveal (no checker to assign) still holds its output blinded. A public
    /// fraud claim against an honest worker's fallback ticket must fail: the replay's output is compared with the
    /// leaf through the derived salt, which the published input yields.
    @Test func aFallbackRevealOfABlindedLeafCannotBeFramed() throws {
        var f = try CheckerFixture(register: 0)
        let s = SealedBatch.make(count: 24, seed: 13, derivedSalts: true)
        let t = try f.commit(s)
        #expect(try f.check(t.id) == nil)
        let i0 = s.batch.leafIndex(point: t.ticket.point)
        #expect(try f.c.block([try f.c.tx(f.worker, s.batch.reveal(t.id, point: t.ticket.point))])[0].succeeded)
        let salt = SHA256.hash([91])
        #expect(try f.c.block([try f.c.tx(f.client, .fraudCommit(claim: fraudClaimHash(ticketId: t.id, prover: f.client.publicKey, salt: salt), pool: 0))])[0].succeeded)
        let v = try f.c.block([try f.c.tx(f.client, .fraudReveal(ticketId: t.id, salt: salt, input: s.batch.inputs[i0]))])
        #expect(v[0].succeeded, "\(v[0].status)")
        let verdict = v.last!
        #expect(!verdict.events.contains { if case .fraudProven = $0 { return true }; return false }, "an honest worker was convicted")
        #expect(verdict.slashes.allSatisfy { $0.0 != f.worker.publicKey })
    }

    /// Assignment: stake-weighted among active, registered, activated checkers; never the worker's own key.
    @Test func assignmentSkipsTheWorkerAndUnactivatedCheckers() throws {
        var f = try CheckerFixture(register: 3)
        // The worker registers as a checker too, and a fourth checker registers late.
        let wSeal = try CheckerKeyPair(privateKey: SHA256.hash(Array("worker-sealing".utf8)).bytes)
        let r = try f.c.block([try f.c.tx(f.worker, .bond(role: .checker(pool: 0), amount: 5_000, randaoCommitment: nil)),
                               try f.c.tx(f.worker, .registerChecker(pool: 0, sealingKey: Hash32(bytes: wSeal.publicKey.bytes)!), nonce: 1)])
        #expect(r.dropLast().allSatisfy { $0.succeeded })
        try f.c.advance(to: f.c.height + 2)
        let late = try f.c.block([try f.c.tx(f.checkers[3], .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil)),
                                  try f.c.tx(f.checkers[3], .registerChecker(pool: 0, sealingKey: f.sealingKey(3)), nonce: 1)])
        #expect(late.dropLast().allSatisfy { $0.succeeded })
        for seed in 20..<25 {
            let s = SealedBatch.make(count: 24, seed: UInt64(seed))
            let t = try f.commit(s)
            let assigned = try f.check(t.id)!.slots.map(\.checker)
            #expect(!assigned.contains(f.worker.publicKey), "the worker checks its own ticket")
            #expect(Set(assigned).count == assigned.count)
            if try f.c.record(StateKey.checker(0, f.checkers[3].publicKey), CheckerRecord.self)!.registeredHeight + 2 > t.ticket.selectedHeight {
                #expect(!assigned.contains(f.checkers[3].publicKey), "a checker is assigned before its activation")
            }
            #expect(try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t))])[0].succeeded)
            let (_, _, resolution) = try f.play(s, t.id)
            #expect(resolution.events.contains { if case .checkPassed = $0 { return true }; return false })
        }
    }

    /// Registration rules: a checker stake first, a usable X25519 key (not zero, not low order), one key per checker.
    @Test func registrationRefusesUnusableAndReusedKeys() throws {
        var f = try CheckerFixture(register: 1)
        let lowOrder = Hash32(bytes: [1] + [UInt8](repeating: 0, count: 31))!
        let r = try f.c.block([
            try f.c.tx(f.checkers[1], .registerChecker(pool: 0, sealingKey: f.sealingKey(1))),
            try f.c.tx(f.checkers[2], .bond(role: .checker(pool: 0), amount: 1_000, randaoCommitment: nil)),
            try f.c.tx(f.checkers[2], .registerChecker(pool: 0, sealingKey: .zero), nonce: 1),
            try f.c.tx(f.checkers[2], .registerChecker(pool: 0, sealingKey: lowOrder), nonce: 2),
            try f.c.tx(f.checkers[2], .registerChecker(pool: 0, sealingKey: f.sealingKey(0)), nonce: 3),
            try f.c.tx(f.checkers[0], .registerChecker(pool: 0, sealingKey: f.sealingKey(3))),
            try f.c.tx(f.checkers[2], .registerChecker(pool: 0, sealingKey: f.sealingKey(2)), nonce: 4),
        ])
        #expect(r.dropLast().map(\.failure) == [.notAChecker, nil, .invalidSealingKey, .invalidSealingKey, .sealingKeyInUse,
                                                .checkerAlreadyRegistered, nil])
        // A pool without checkers has no checker role.
        var g = try Chain(accounts: [(f.checkers[0], 10_000)])
        #expect(try g.block([try g.tx(f.checkers[0], .registerChecker(pool: 0, sealingKey: f.sealingKey(0)))])[0].failure == .poolHasNoCheckers)
    }

    /// Genesis: the committee's v_min replaces the assumed replay probability, the fee must cover a replay, and
    /// every phase must outlast a three-slot censorship run.
    @Test func genesisChecksTheCommittee() throws {
        #expect(CheckingConfig(checkersPerTicket: 3, checkerHonestStakeBps: 5_000).minReplayProbabilityBps == 8_750)
        #expect(CheckingConfig(checkersPerTicket: 1, checkerHonestStakeBps: 5_000).minReplayProbabilityBps == 5_000)
        #expect(CheckingConfig(checkersPerTicket: 2, checkerHonestStakeBps: 3_333).minReplayProbabilityBps == 5_555)
        let params = CheckerFixture.params()
        var ok = CheckerFixture.checkingPool()
        try Ledger.checkHorizons(ok, params)
        func rejects(_ change: (inout PoolConfig) -> Void) -> Bool {
            var p = CheckerFixture.checkingPool()
            change(&p)
            do { try Ledger.checkHorizons(p, params); return false } catch { return true }
        }
        #expect(rejects { $0.checking!.checkFee = 35 })  // 9 × 16 / 4 = 36
        #expect(rejects { $0.checking!.unblindBlocks = 2 })
        #expect(rejects { $0.checking!.checkerMinStake = 300 })  // a false alarm (10 % of 300) would cost less than a fee of 40
        #expect(rejects { $0.checking!.checkersPerTicket = 17 })
        // σ·(1 − β)·v/(1−v) = 4 500 at v = 1/2 (economics.md §7 row 53: a self-proving cheater gets β of its slash back)
        #expect(rejects { $0.checking!.checkersPerTicket = 1; $0.payableCapBps = 4_501 })
        #expect(!rejects { $0.checking!.checkersPerTicket = 1; $0.payableCapBps = 4_500 })
        ok.checking!.checkersPerTicket = 3
        ok.payableCapBps = 9_000  // above the protocol-3 bound (2 249 at v = 1/3), within σ·(1 − β)·v/(1−v) = 31 500 at v = 7/8
        #expect(throws: Never.self) { try Ledger.checkHorizons(ok, params) }
        // The settlement horizon includes the check phases.
        #expect(ok.settlementHorizon(beaconDelay: 2) == Chain.defaultPool().settlementHorizon(beaconDelay: 2) + 12)
    }
}

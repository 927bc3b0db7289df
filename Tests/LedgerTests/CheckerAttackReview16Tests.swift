import Testing
@testable import Ledger
@testable import Primitives
@testable import Sealing

/// Sixteenth review: an attacker's look at private, paid verification (Specs/verification.md). Every test performs the
/// attack on the in-memory chain of `CheckerFixture` (four registered checkers, `k = 3`), whose invariant tracker checks
/// supply conservation after every block, and asserts the secure outcome. A hole in a ledger rule is kept as a
/// `withKnownIssue` until its rule is changed (the split envelope's, below, was changed in the same review).
@Suite struct CheckerAttackReview16Tests {
    /// The sealed reveal of `t` whose slots `garbled` (indices in assignment order) wrap another content secret than the
    /// one the key commitment and the payload are made with: every other slot opens to the true input, those do not.
    /// Validators cannot tell (they check recipients and size only), and only the worker can make one.
    static func splitReveal(_ f: CheckerFixture, _ s: SealedBatch, _ t: (id: Hash32, ticket: Ticket), garbled: Set<Int>) throws -> TxBody {
        let i = s.batch.leafIndex(point: t.ticket.point)
        let (l, r) = s.batch.tree.neighbours(i)
        let leaf = s.batch.leaves[i]
        let keys = try f.check(t.id)!.slots.map { try CheckerPublicKey(bytes: $0.sealingKey.bytes) }
        let ctx = SealingContext(chainId: Chain.chainId, ticketId: t.id, inputHash: leaf.inputHash)
        let secret = SHA256.hash(Array("secret".utf8) + t.id.bytes).bytes
        let e = CheckerFixture.ephemeral(t.id).bytes
        let honest = try SealedEnvelope.seal(plaintext: s.batch.inputs[i], recipients: keys, context: ctx,
                                             randomness: SealingRandomness(ephemeralPrivateKey: e, contentSecret: secret))
        let eph = try CheckerKeyPair(privateKey: e)
        var slots = honest.slots
        for j in garbled {
            let kek = try #require(SealedEnvelope.keyEncryptionKey(privateKey: eph.key, peer: keys[j].bytes, ephemeralPublic: eph.publicKey.bytes,
                                                                  recipient: keys[j], context: ctx.bytes))
            slots[j] = SealedEnvelope.Slot(recipient: keys[j], wrappedKey: try SealedEnvelope.aeadSeal(key: kek, [UInt8](repeating: 0x42, count: 32),
                                                                                                     aad: ctx.bytes))
        }
        // The payload's associated data is the header: encrypted again (same key) for the header with the odd slots.
        let header = SealedEnvelope.encodeHeader(ephemeralPublicKey: honest.ephemeralPublicKey, keyCommitment: honest.keyCommitment, slots: slots)
        let payload = try SealedEnvelope.aeadSeal(key: SealedEnvelope.contentKeys(secret: secret).payloadKey, s.batch.inputs[i],
                                                  aad: ctx.bytes + header)
        let forged = SealedEnvelope(ephemeralPublicKey: honest.ephemeralPublicKey, keyCommitment: honest.keyCommitment, slots: slots,
                                    payload: payload)
        return .revealSealedTicket(ticketId: t.id, leaf: s.batch.tree.proof(i), left: l, right: r, envelope: forged.encoded)
    }

    /// Performed (verification.md §4.1, economics.md §7): a cheating worker tries to shield the checkers that attest
    /// its false output from their collusion slash. The ring knows its members when the draw names them, before the
    /// sealed reveal; the worker seals the true input to the other slots and another content secret to the colluders'
    /// (they never open anything). When an honest checker dissents, it publishes the input it opened, and the worker
    /// answers with its ephemeral key before the deadline: `openAll` fails at a colluder's slot. Before the sixteenth
    /// review the key took precedence and the ticket ended `sealedCheckFailed(badEnvelope)`, which judged no attester:
    /// the colluders kept their stake. Now a key that does not open the envelope after a publication counts as no key:
    /// the published input replays as at the key deadline, and its fraud verdict slashes both colluders 50 % and pays
    /// the publisher its share, as when the key is withheld (`CheckerTests.withheldKeyCannotShieldColluders`).
    @Test func aSplitEnvelopeAndAKeyAfterThePublicationCannotShieldTheColluders() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1601, cheat: true)
        let t = try f.commit(s)
        let slots = try f.check(t.id)!.slots
        let honest = f.index(of: slots[0].checker)
        let colluders = [slots[1].checker, slots[2].checker]
        #expect(try f.c.block([try f.c.tx(f.worker, Self.splitReveal(f, s, t, garbled: [1, 2]))])[0].succeeded,
                "validators cannot tell a split envelope from an honest one")
        let falseOutput = s.outputs[s.batch.leafIndex(point: t.ticket.point)]
        let stakesBefore = try colluders.map { try #require(try f.c.staker(.checker(pool: 0), $0)).stake.units }
        try f.play(s, t.id, moves: [f.index(of: colluders[0]): .answer(falseOutput), f.index(of: colluders[1]): .answer(falseOutput)])
        #expect(try f.check(t.id)?.status == .disputed)
        // The honest checker's slot opens: it publishes the input (what the node's checker does in every dissent).
        let leaf = try f.c.record(StateKey.ticket(t.id), Ticket.self)!.leaf!
        let input = try SealedEnvelope(decoding: try f.c.ledgerState.raw(StateKey.sealedInput(t.id))!)
            .open(keyPair: f.sealing[honest], context: SealingContext(chainId: Chain.chainId, ticketId: t.id, inputHash: leaf.inputHash))
        #expect(try f.c.block([try f.c.tx(f.checkers[honest], .publishSealedInput(ticketId: t.id, input: input))])[0].succeeded)
        // The worker sends its key before the deadline: it is the envelope's, so the transaction succeeds, but it does
        // not open the colluders' slots, so it counts as no key and the published input replays.
        let k = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: t.id, ephemeralPrivateKey: CheckerFixture.ephemeral(t.id)))])
        #expect(k[0].succeeded)
        #expect(!k[0].has(.sealedCheckFailed(ticketId: t.id, worker: f.worker.publicKey, reason: .badEnvelope)),
                "the bad envelope no longer ends the ticket without judging the checkers")
        #expect(!k[0].has(.sealedInputPublished(ticketId: t.id)), "the input was announced at its publication")
        // The replay runs in the key's block (end-block step 6): fraud; the worker is convicted, both colluders are
        // slashed for collusion, and the publisher earns its share of their slashes.
        let system = try #require(k.last)
        #expect(system.slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .fraud })
        for c in colluders {
            #expect(system.slashes.contains { $0.0 == c && $0.2 == .checkerCollusion }, "colluder \(c) slashed for collusion")
        }
        let shares = system.events.compactMap { e -> UInt64? in
            if case .disputeBountyPaid(t.id, slots[0].checker, let a) = e { return a.units }; return nil
        }
        #expect(shares.count >= 2 && shares.allSatisfy { $0 > 0 }, "the publisher's share of each collusion slash: \(shares)")
        try f.c.advance(to: f.c.height + f.cfg.disputeInputBlocks + 2)
        #expect(try f.check(t.id)?.status == .fraud)
        #expect(try f.c.record(StateKey.ticket(t.id), Ticket.self)?.status == .fraudProven, "the worker is convicted")
        let stakesAfter = try colluders.map { try f.c.staker(.checker(pool: 0), $0)?.stake.units ?? 0 }
        for (before, after) in zip(stakesBefore, stakesAfter) {
            #expect(after <= before / 2, "a colluder attesting a proven-false output kept \(after) of \(before)")
        }
        #expect(try Invariants.check(f.c.state) == f.c.tracker?.report)
    }

    /// The same split envelope without a publication (the honest checker publishes nothing): nothing can be replayed,
    /// so the worker's key ends the ticket as before, `sealedCheckFailed(badEnvelope)` in the key's receipt, the worker
    /// convicted (`failedSealedCheck`). The colluders' attestation stays unjudged: the remaining limit of §8, where
    /// the ring still loses the worker's conviction.
    @Test func aSplitEnvelopeWithoutAPublicationStillConvictsTheWorkerByItsKey() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1604, cheat: true)
        let t = try f.commit(s)
        let slots = try f.check(t.id)!.slots
        let colluders = [slots[1].checker, slots[2].checker]
        #expect(try f.c.block([try f.c.tx(f.worker, Self.splitReveal(f, s, t, garbled: [1, 2]))])[0].succeeded)
        let falseOutput = s.outputs[s.batch.leafIndex(point: t.ticket.point)]
        let stakesBefore = try colluders.map { try #require(try f.c.staker(.checker(pool: 0), $0)).stake.units }
        try f.play(s, t.id, moves: [f.index(of: colluders[0]): .answer(falseOutput), f.index(of: colluders[1]): .answer(falseOutput)])
        #expect(try f.check(t.id)?.status == .disputed)
        let k = try f.c.block([try f.c.tx(f.worker, .publishSealKey(ticketId: t.id, ephemeralPrivateKey: CheckerFixture.ephemeral(t.id)))])
        #expect(k[0].has(.sealedCheckFailed(ticketId: t.id, worker: f.worker.publicKey, reason: .badEnvelope)))
        #expect(k[0].slashes.contains { $0.0 == f.worker.publicKey && $0.2 == .failedSealedCheck }, "the worker is convicted")
        #expect(try f.check(t.id)?.status == .failed)
        #expect(try f.c.ledgerState.raw(StateKey.fraudCase(t.id)) == nil, "nothing replays")
        try f.c.advance(to: f.c.height + f.cfg.disputeInputBlocks + 2)
        let stakesAfter = try colluders.map { try f.c.staker(.checker(pool: 0), $0)?.stake.units ?? 0 }
        #expect(stakesAfter == stakesBefore, "the remaining limit: without a publication no answer is judged")
        #expect(try Invariants.check(f.c.state) == f.c.tracker?.report)
    }

    /// Performed: a checker told the worker's output off-chain (a colluder) commits before it could have opened its
    /// slot: before the reveal, and in the reveal's own block after the reveal transaction. A checker that was not
    /// drawn answers too, and an assigned one commits twice. All refused; the answer phase opens the block after the
    /// reveal, and the refused answers change nothing on the check.
    @Test func answersBeforeTheEnvelopeExistsOrFromOutsideTheCommitteeAreRefused() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1602)
        let t = try f.commit(s)
        let slots = try f.check(t.id)!.slots
        let first = f.index(of: slots[0].checker)
        let outsider = try #require((0..<4).first { i in !slots.contains { $0.checker == f.checkers[i].publicKey } })
        let output = s.outputs[s.batch.leafIndex(point: t.ticket.point)]
        func commit(_ i: Int) throws -> SignedTransaction {
            let h = checkCommitmentHash(ticketId: t.id, checker: f.checkers[i].publicKey, answer: output, nonce: CheckerFixture.nonce(i, t.id))
            return try f.c.tx(f.checkers[i], .checkCommit(items: [CheckCommitItem(ticketId: t.id, commitment: h)]))
        }
        #expect(try f.c.block([try commit(first)])[0].failure == .checkPhaseClosed, "committed before the reveal")
        let same = try f.c.block([try f.c.tx(f.worker, f.sealedReveal(s, t)), try commit(first)])
        #expect(same[0].succeeded)
        #expect(same[1].failure == .checkPhaseClosed, "committed in the reveal's block")
        #expect(try f.check(t.id)!.slots.allSatisfy { $0.commitment == .zero })
        let next = try f.c.block([try commit(outsider), try commit(first)])
        #expect(next[0].failure == .notAssignedChecker)
        #expect(next[1].succeeded)
        #expect(try f.c.block([try commit(first)])[0].failure == .answerAlreadyCommitted)
    }

    /// Privacy (verification.md §7), performed as a checker reading the chain: nothing about its ticket (the ticket,
    /// the check record, the envelope, the commitment, the reveal and check transactions) names the client or its
    /// escrow. What does link them is the window: the worker's payer lanes (and the voucher that made them) name every
    /// client that paid it in that window, so a worker with one client in a window has its checkers know that client.
    /// The spec's claim is about leaves and envelopes and holds; the window-level link is written down in §7.
    @Test func nothingOnATicketNamesTheClientOnlyTheWindowDoes() throws {
        var f = try CheckerFixture()
        let s = SealedBatch.make(count: 24, seed: 1603)
        let tid = try f.revealed(s)
        try f.play(s, tid)
        #expect(try f.check(tid)?.status == .passed)
        let client = f.client.publicKey.bytes
        func names(_ hay: [UInt8]) -> Bool {
            guard hay.count >= client.count else { return false }
            return (0...(hay.count - client.count)).contains { Array(hay[$0..<($0 + client.count)]) == client }
        }
        let ticket = try #require(try f.c.ledgerState.raw(StateKey.ticket(tid)))
        let commitmentId = try f.c.record(StateKey.ticket(tid), Ticket.self)!.commitmentId
        for (what, bytes) in [("ticket", ticket), ("check", try f.c.ledgerState.raw(StateKey.ticketCheck(tid)) ?? []),
                              ("commitment", try f.c.ledgerState.raw(StateKey.commitment(commitmentId)) ?? [])] {
            #expect(!names(bytes), "the \(what) record names the client")
        }
        // Every transaction a checker needs to read (reveals, commits, reveals of answers, unblinding): none names it.
        for (_, txs) in f.c.history {
            for tx in txs {
                switch tx.transaction.body {
                case .revealSealedTicket, .checkCommit, .checkReveal, .unblindOutput:
                    #expect(!names(tx.canonicalEncoding), "a check transaction names the client")
                default: continue
                }
            }
        }
        // The window link: the worker's payer lanes name the client.
        let lanes = try f.c.ledgerState.scan(StateKey.payerLanes(0, 0, f.worker.publicKey))
        #expect(try lanes.map { try PayerLane(canonicalEncoding: $0.value).owner } == [f.client.publicKey])
    }
}

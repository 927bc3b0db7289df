import Testing
@testable import Ledger
@testable import Primitives

/// Share commitments, spot-check selection, reveals, withholding and fraud proofs.
@Suite struct SharesTests {
    let honest = testKey("honest"), cheat = testKey("cheat"), verifier = testKey("verifier"), client = testKey("client")

    func chain() throws -> Chain {
        try Chain(accounts: [(honest, 10_000), (cheat, 10_000), (verifier, 10_000), (client, 100_000)],
                  workers: [(honest, 0, 1_000), (cheat, 0, 1_000)])
    }

    func commit(_ c: inout Chain, _ key: PrivateKey, _ batch: PassBatch, shard: UInt32 = 0) throws -> (Receipt, Hash32) {
        let w = c.ledger.params.beaconDelay >= 0 ? Chain.defaultPool().window(ofHeight: c.height + 1) : 0
        let r = try c.block([try c.tx(key, .commitShares(pool: 0, window: w, shard: shard, passCount: UInt32(batch.leaves.count),
                                                         tokenCount: batch.tokenCount, passRoot: batch.root))])
        return (r[0], LedgerIds.commitment(worker: key.publicKey, pool: 0, window: w, passRoot: batch.root))
    }

    /// Tickets selected for a commitment, by pass index.
    func tickets(_ c: Chain, _ commitment: Hash32) throws -> [(UInt32, Hash32)] {
        try c.ledgerState.scan(StateKey.tickets(commitment: commitment)).map {
            (UInt32(bigEndianBytes: $0.key.suffix(4)), Hash32(bytes: $0.value)!)
        }
    }

    @Test func commitValidation() throws {
        var c = try chain()
        let b = PassBatch.make(count: 4, shard: 0, seed: 1)
        let r = try c.block([
            try c.tx(client, .commitShares(pool: 0, window: 0, shard: 0, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root)),
            try c.tx(honest, .commitShares(pool: 0, window: 3, shard: 0, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root)),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 9, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root), nonce: 1),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 0, passCount: 0, tokenCount: 0, passRoot: b.root), nonce: 2),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 0, passCount: 4, tokenCount: 65, passRoot: b.root), nonce: 3),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 0, passCount: 4, tokenCount: 3, passRoot: b.root), nonce: 4),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 1, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root), nonce: 5),
            try c.tx(honest, .commitShares(pool: 0, window: 0, shard: 1, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root), nonce: 6),
            try c.tx(honest, .commitShares(pool: 4, window: 0, shard: 1, passCount: 4, tokenCount: b.tokenCount, passRoot: b.root), nonce: 7),
        ])
        #expect(r.prefix(9).map(\.failure) == [.notActiveWorker, .wrongWindow, .unknownShard, .invalidCommitment, .invalidCommitment,
                                                 .invalidCommitment, nil, .duplicateCommitment, .unknownPool])
        let id = LedgerIds.commitment(worker: honest.publicKey, pool: 0, window: 0, passRoot: b.root)
        // Weighted share = tokens × the shard's cost weight (shard 1 weighs 5).
        #expect(r[6].events == [.sharesCommitted(commitmentId: id, worker: honest.publicKey, pool: 0, window: 0, weightedShares: b.tokenCount * 5)])
        #expect(try c.record(StateKey.shareTally(0, 0, honest.publicKey), ShareTally.self) == ShareTally(shares: b.tokenCount * 5, commitments: 1))
    }

    @Test func selectionUsesTheBeaconOfALaterBlockAndIsDeterministic() throws {
        var c = try chain()
        let b = PassBatch.make(count: 60, shard: 0, seed: 2)
        let (r, id) = try commit(&c, honest, b)
        #expect(r.succeeded)
        let included = c.height
        // Nothing is selected until the beacon block (included + beaconDelay).
        try c.block()
        #expect(try tickets(c, id).isEmpty)
        let sel = try c.block()
        let selected = try tickets(c, id)
        #expect(c.height == included + 2)
        // 20 % of 60 passes: expect some, not all.
        #expect(!selected.isEmpty && selected.count < 60)
        // Exactly the passes the published rule selects with this block's mix.
        let mix = try c.ledgerState.randaoMix()
        let expected = (0..<UInt32(60)).filter { Execution.isSelected(beacon: mix, commitment: id, index: $0, ppm: 200_000) }
        #expect(selected.map(\.0) == expected)
        #expect(sel.last!.events.filter { if case .ticketSelected = $0 { return true }; return false }.count == expected.count)
        let commitment = try c.record(StateKey.commitment(id), Commitment.self)!
        #expect(commitment.selectionDone && commitment.selectedCount == UInt32(expected.count))
    }

    /// Runs the commit → select flow and returns the chain, commitment id, batch and selected tickets.
    func selected(seed: UInt64, worker: PrivateKey, cheatAll: Bool = false, minTickets: Int = 1) throws -> (Chain, Hash32, PassBatch, [(UInt32, Hash32)]) {
        var s = seed
        while true {
            // A fresh chain per attempt: Chain shares its MemoryState between copies.
            var c = try chain()
            let b = PassBatch.make(count: 30, shard: 0, seed: s, cheat: cheatAll ? Set(0..<30) : [])
            let (r, id) = try commit(&c, worker, b)
            #expect(r.succeeded)
            try c.block(); try c.block()
            let t = try tickets(c, id)
            if t.count >= minTickets { return (c, id, b, t) }
            s += 1000
        }
    }

    @Test func revealChecksProofLeafAndInput() throws {
        var (c, _, b, t) = try selected(seed: 3, worker: honest)
        let (index, ticket) = t[0]
        let i = Int(index)
        let wrongIndex = (i + 1) % b.leaves.count
        var badLeaf = b.leaves[i]; badLeaf.shard = 1
        let good = TxBody.revealTicket(ticketId: ticket, leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i])
        let txs: [SignedTransaction] = [
            try c.tx(cheat, good),
            try c.tx(honest, .revealTicket(ticketId: ticket, leaf: b.leaves[wrongIndex], proof: b.proof(wrongIndex), input: b.inputs[wrongIndex])),
            try c.tx(honest, .revealTicket(ticketId: ticket, leaf: badLeaf, proof: b.proof(i), input: b.inputs[i]), nonce: 2),
            try c.tx(honest, .revealTicket(ticketId: ticket, leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i] + [0]), nonce: 3),
            try c.tx(honest, .revealTicket(ticketId: SHA256.hash([1]), leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i]), nonce: 4),
            try c.tx(honest, good, nonce: 5),
            try c.tx(honest, good, nonce: 6),
        ]
        let r = try c.block(txs)
        #expect(r.prefix(7).map(\.failure) == [.notTicketWorker, .invalidMerkleProof, .leafMismatch, .inputHashMismatch,
                                                .unknownTicket, nil, .ticketNotAwaitingReveal])
        let stored = try c.record(StateKey.ticket(ticket), Ticket.self)!
        #expect(stored.status == .revealed && stored.leaf == b.leaves[i] && stored.challengeEnd == c.height + 10)
        #expect(try c.ledgerState.raw(StateKey.ticketInput(ticket)) == b.inputs[i])
    }

    @Test func withheldRevealIsSlashedOncePerCommitment() throws {
        var (c, id, _, t) = try selected(seed: 4, worker: honest)
        let deadline = try c.record(StateKey.ticket(t[0].1), Ticket.self)!.revealDeadline
        let stakeBefore = try c.staker(.worker(pool: 0), honest.publicKey)!.stake
        let burnedBefore = try c.burned()
        try c.advance(to: deadline - 1)
        let r = try c.block()
        let events = r.last!.events
        let slashes = events.filter { if case .slashed = $0 { return true }; return false }
        #expect(slashes.count == 1)
        // 10 % of the stake bonded at the offence (the commitment's height).
        let expected = stakeBefore.basisPoints(1000)
        #expect(slashes == [.slashed(staker: honest.publicKey, role: .worker(pool: 0), amount: expected, offence: .withheldReveal,
                                     offenceId: LedgerIds.withholdOffence(commitment: id))])
        #expect(try c.staker(.worker(pool: 0), honest.publicKey)!.stake.units == stakeBefore.units - expected.units)
        #expect(try c.burned() == burnedBefore + expected.units)
        for (_, tid) in t { #expect(try c.record(StateKey.ticket(tid), Ticket.self)!.status == .withheld) }
        // Revealing after the deadline fails.
        let late = try c.block([try c.tx(honest, .revealTicket(ticketId: t[0].1, leaf: PassLeaf(shard: 0, positionOffset: 0, tokenCount: 1, inputHash: .zero, outputHash: .zero), proof: [], input: []))])
        #expect(late[0].failure == .ticketNotAwaitingReveal)
    }

    @Test func fraudProofAgainstACheaterSlashesJailsPaysBountyAndForfeits() throws {
        var (c, id, b, t) = try selected(seed: 5, worker: cheat, cheatAll: true)
        let (index, ticket) = t[0]
        let i = Int(index)
        try c.block([try c.tx(cheat, .revealTicket(ticketId: ticket, leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i]))])
        let stake = try c.staker(.worker(pool: 0), cheat.publicKey)!.stake
        let proverBefore = try c.balance(verifier.publicKey)
        let burnedBefore = try c.burned()
        let r = try c.block([try c.tx(verifier, .fraudProof(ticketId: ticket))])
        #expect(r[0].succeeded)
        let slashed = stake.basisPoints(5000)
        let bounty = slashed.basisPoints(1000)
        #expect(r[0].events.contains(.fraudProven(ticketId: ticket, prover: verifier.publicKey, worker: cheat.publicKey, slashed: slashed, bounty: bounty)))
        #expect(r[0].events.contains(.jailed(staker: cheat.publicKey, role: .worker(pool: 0), untilHeight: c.height + 8)))
        #expect(r[0].events.contains(.sharesForfeited(pool: 0, worker: cheat.publicKey, fromWindow: 0, toWindow: 0)))
        // Bond returned, bounty paid, the rest of the slash burned.
        #expect(try c.balance(verifier.publicKey) == proverBefore - r[0].feePaid.units + bounty.units)
        #expect(try c.burned() == burnedBefore + slashed.units - bounty.units)
        #expect(try c.record(StateKey.ticket(ticket), Ticket.self)!.status == .fraudProven)
        let fc = try c.record(StateKey.fraudCase(ticket), FraudCase.self)!
        #expect(fc.fraud && fc.canonicalOutputHash == FakeAdjudicator.canonicalOutput(input: b.inputs[i], shard: 0, positionOffset: b.leaves[i].positionOffset))
        _ = id
        // Adjudicated once.
        let again = try c.block([try c.tx(verifier, .fraudProof(ticketId: ticket))])
        #expect(again[0].failure == .ticketAlreadyAdjudicated)
        // A jailed worker cannot commit.
        let b2 = PassBatch.make(count: 2, shard: 0, seed: 77)
        let w = Chain.defaultPool().window(ofHeight: c.height + 1)
        let blocked = try c.block([try c.tx(cheat, .commitShares(pool: 0, window: w, shard: 0, passCount: 2, tokenCount: b2.tokenCount, passRoot: b2.root))])
        #expect(blocked[0].failure == .notActiveWorker)
    }

    @Test func fraudProofAgainstAnHonestWorkerBurnsTheBond() throws {
        var (c, _, b, t) = try selected(seed: 6, worker: honest)
        let (index, ticket) = t[0]
        let i = Int(index)
        try c.block([try c.tx(honest, .revealTicket(ticketId: ticket, leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i]))])
        let before = try c.balance(verifier.publicKey)
        let stake = try c.staker(.worker(pool: 0), honest.publicKey)!.stake
        let burned = try c.burned()
        let r = try c.block([try c.tx(verifier, .fraudProof(ticketId: ticket))])
        #expect(r[0].events == [.fraudRejected(ticketId: ticket, prover: verifier.publicKey, bondBurned: 50)])
        #expect(try c.balance(verifier.publicKey) == before - r[0].feePaid.units - 50)
        #expect(try c.burned() == burned + 50)
        #expect(try c.staker(.worker(pool: 0), honest.publicKey)!.stake == stake)
        #expect(try c.record(StateKey.ticket(ticket), Ticket.self)!.status == .upheld)
        #expect(try c.block([try c.tx(verifier, .fraudProof(ticketId: ticket))])[0].failure == .ticketAlreadyAdjudicated)
    }

    @Test func fraudProofTimingAndCap() throws {
        var (c, _, b, t) = try selected(seed: 7, worker: cheat, cheatAll: true, minTickets: 5)
        // Not yet revealed.
        #expect(try c.block([try c.tx(verifier, .fraudProof(ticketId: t[0].1))])[0].failure == .ticketNotRevealed)
        var txs = [SignedTransaction]()
        for (n, (index, ticket)) in t.enumerated() {
            let i = Int(index)
            txs.append(try c.tx(cheat, .revealTicket(ticketId: ticket, leaf: b.leaves[i], proof: b.proof(i), input: b.inputs[i]), nonce: UInt64(1 + n)))
        }
        try c.block(txs)
        var proofs = [SignedTransaction]()
        for (n, (_, ticket)) in t.prefix(5).enumerated() {
            proofs.append(try c.tx(verifier, .fraudProof(ticketId: ticket), nonce: UInt64(1 + n)))
        }
        let r = try c.block(proofs)
        #expect(r.prefix(4).allSatisfy { $0.succeeded })
        #expect(r[4].failure == .fraudProofCapReached)
        // After the challenge period, proofs fail and the ticket is closed unchallenged.
        let last = t.last!.1
        let end = try c.record(StateKey.ticket(last), Ticket.self)!.challengeEnd
        try c.advance(to: end)
        let status = try c.record(StateKey.ticket(last), Ticket.self)!.status
        #expect(status == .unchallenged || status == .fraudProven)
        if status == .unchallenged {
            #expect(try c.ledgerState.raw(StateKey.ticketInput(last)) == nil)
            #expect(try c.block([try c.tx(verifier, .fraudProof(ticketId: last))])[0].failure == .ticketNotRevealed)
        }
    }
}

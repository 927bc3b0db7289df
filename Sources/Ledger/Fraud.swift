import Primitives

/// Fraud proofs: blind commitments, reveals, the adjudication queue and the bounty (Specs/economics.md §4).
extension Execution {
    /// Locks the pool's bond behind a blind claim `H_fraud-claim(ticketId ‖ prover ‖ salt)`. Nobody can copy a
    /// claim they cannot see, and the prover is part of the hash, so a copied hash proves nothing for another key.
    /// Commitments are keyed by prover and claim: a copy sent ahead under another pool id takes a key of its own and
    /// cannot block the prover's commitment (eighth review).
    mutating func fraudCommit(_ sender: PublicKey, claim: Hash32, pool poolId: UInt32) throws(ExecError) {
        guard let pool = try poolConfig(poolId) else { throw .failed(.unknownPool) }
        let key = StateKey.fraudCommitment(sender, claim)
        guard try !state.exists(key) else { throw .failed(.duplicateFraudClaim) }
        try state.debit(sender, pool.fraudProofBond)
        state.put(key, FraudCommitment(prover: sender, pool: poolId, height: height, bond: pool.fraudProofBond))
        // Unrevealed by the end of its reveal period, the bond is burned.
        state.putRaw(StateKey.fraudCommitmentExpiry(height &+ pool.fraudRevealBlocks, sender, claim), [])
        txEvents.append(.fraudCommitted(claim: claim, prover: sender, bond: pool.fraudProofBond))
    }

    /// Opens a committed claim against a revealed ticket. The first claim queues the ticket for replay; later
    /// ones join the case. Among claims that prove fraud, the earliest committed wins the bounty.
    mutating func fraudReveal(_ sender: PublicKey, ticketId: Hash32, salt: Hash32, input: [UInt8]) throws(ExecError) {
        let claim = fraudClaimHash(ticketId: ticketId, prover: sender, salt: salt)
        let commitKey = StateKey.fraudCommitment(sender, claim)
        guard let commit = try state.record(commitKey, FraudCommitment.self) else { throw .failed(.unknownFraudClaim) }
        guard commit.height < height else { throw .failed(.fraudRevealTooEarly) }
        guard let pool = try poolConfig(commit.pool) else { throw .fault(LedgerFault("fraud claim of unknown pool")) }
        guard height <= commit.height &+ pool.fraudRevealBlocks else { throw .failed(.fraudRevealTooLate) }
        guard let ticket = try state.record(StateKey.ticket(ticketId), Ticket.self) else { throw .failed(.unknownTicket) }
        guard ticket.pool == commit.pool else { throw .failed(.wrongPool) }
        switch ticket.status {
        case .revealed, .fraudProven, .upheld: break
        case .awaitingReveal, .withheld, .voided, .reused: throw .failed(.ticketNotRevealed)
        }
        guard commit.height <= ticket.challengeEnd else { throw .failed(.challengePeriodOver) }
        // A sealed ticket is open to public claims once its checkers are done; during the check and a dispute the
        // committee's replay path runs (Specs/verification.md §4.1).
        if let check = try state.record(StateKey.ticketCheck(ticketId), SealedCheck.self),
           ![.passed, .fraud, .upheld].contains(check.status) { throw .failed(.checkInProgress) }
        guard let leaf = ticket.leaf else { throw .fault(LedgerFault("revealed ticket \(ticketId) without a leaf")) }
        guard input.count <= pool.maxInputTensorBytes else { throw .failed(.inputTooLarge) }
        guard Tags.tensor.hash(input) == leaf.inputHash else { throw .failed(.inputHashMismatch) }

        // The same claim opened again (committed twice) would overwrite its first record, whose bond would then be
        // neither returned nor burned (eighth review): refused, and the second commitment's bond burns at expiry.
        guard try !state.exists(StateKey.fraudClaim(ticketId, claim)) else { throw .failed(.duplicateFraudClaim) }
        let caseKey = StateKey.fraudCase(ticketId)
        var fraudCase = try state.record(caseKey, FraudCase.self)
        state.delete(commitKey)
        state.delete(StateKey.fraudCommitmentExpiry(commit.height &+ pool.fraudRevealBlocks, sender, claim))
        txEvents.append(.fraudClaimOpened(ticketId: ticketId, claim: claim, prover: sender))
        let opened = FraudClaim(prover: sender, commitHeight: commit.height, bond: commit.bond)
        if let c = fraudCase, c.status == .pending, Int(c.claims) >= params.maxClaimsPerTicket {
            try keepEarliestClaims(ticketId, opening: claim, opened)
            return
        }

        guard var c = fraudCase else {
            // First claim: the ticket joins the adjudication queue, and its window waits for the verdict.
            fraudCase = FraudCase(ticketId: ticketId, worker: ticket.worker, pool: ticket.pool, window: ticket.window,
                                  openedHeight: height, winner: sender, winnerCommitHeight: commit.height, winnerClaim: claim,
                                  claims: 1, finalHeight: ticket.challengeEnd &+ pool.fraudRevealBlocks)
            state.put(caseKey, fraudCase!)
            state.put(StateKey.fraudClaim(ticketId, claim), opened)
            state.putRaw(StateKey.caseInput(ticketId), input)
            let seq = try state.globalU64(.nextAdjudication)
            state.setGlobalU64(.nextAdjudication, seq &+ 1)
            state.putRaw(StateKey.adjudicationQueue(seq), ticketId.bytes)
            try changeAdjudicationHolds(ticketId, ticket, by: 1)
            var window = try state.window(ticket.pool, ticket.window) ?? WindowRecord()
            window.pendingAdjudications &+= 1
            state.put(StateKey.window(ticket.pool, ticket.window), window)
            return
        }
        c.claims &+= 1
        switch c.status {
        case .pending:
            state.put(StateKey.fraudClaim(ticketId, claim), opened)
        case .fraud, .paid:
            // Already proven: the claim is right, so its bond is not at risk; it may still be the earliest.
            if c.status == .fraud, (commit.height, claim) < (c.winnerCommitHeight, c.winnerClaim) {
                try state.credit(c.winner, c.winnerBond)
                txEvents.append(.fraudBondReturned(claim: c.winnerClaim, prover: c.winner, amount: c.winnerBond))
                c.winner = sender; c.winnerCommitHeight = commit.height; c.winnerClaim = claim; c.winnerBond = commit.bond
            } else {
                try state.credit(sender, commit.bond)
                txEvents.append(.fraudBondReturned(claim: claim, prover: sender, amount: commit.bond))
            }
        case .upheld:
            // A claim against a pass the validators already found correct: a false proof burns its bond.
            try state.burn(commit.bond)
            c.bondsBurned = Amount(c.bondsBurned.units &+ commit.bond.units)
            txEvents.append(.fraudBondBurned(claim: claim, prover: sender, amount: commit.bond))
        }
        state.put(caseKey, c)
    }

    /// A claim opened on a pending case that already holds `maxClaimsPerTicket`: the case keeps its earliest-committed
    /// claims (the order the bounty goes by), and the latest of its claims and this one gets its bond back now. It
    /// was refused, and its bond burned if the verdict came after its reveal period, though it could be the earliest,
    /// rightful claim (economics §4, review G); a claim the case cannot keep risks nothing and adds no state.
    private mutating func keepEarliestClaims(_ ticketId: Hash32, opening claim: Hash32, _ opened: FraudClaim) throws(ExecError) {
        var latest: (claim: Hash32, FraudClaim)?
        for kv in try state.scan(StateKey.fraudClaims(ticketId)) {
            guard let h = Hash32(bytes: kv.key.suffix(32)), let c = try? FraudClaim(canonicalEncoding: kv.value) else {
                throw .fault(LedgerFault("corrupt fraud claim \(kv.key.hex)"))
            }
            if latest.map({ ($0.1.commitHeight, $0.claim) < (c.commitHeight, h) }) ?? true { latest = (h, c) }
        }
        guard let latest else { throw .fault(LedgerFault("full fraud case \(ticketId) without claims")) }
        if (opened.commitHeight, claim) < (latest.1.commitHeight, latest.claim) {
            state.delete(StateKey.fraudClaim(ticketId, latest.claim))
            state.put(StateKey.fraudClaim(ticketId, claim), opened)
            try state.credit(latest.1.prover, latest.1.bond)
            txEvents.append(.fraudBondReturned(claim: latest.claim, prover: latest.1.prover, amount: latest.1.bond))
        } else {
            try state.credit(opened.prover, opened.bond)
            txEvents.append(.fraudBondReturned(claim: claim, prover: opened.prover, amount: opened.bond))
        }
    }

    /// Replays up to `maxAdjudicationsPerBlock` queued tickets, oldest first. A queued ticket is never dropped:
    /// spam can delay a window's settlement (each false claim burning a bond) but cannot keep a proof out.
    mutating func processAdjudications() throws(ExecError) {
        for kv in try state.scan([StateKey.Prefix.adjudicationQueue.rawValue], limit: max(1, params.maxAdjudicationsPerBlock)) {
            state.delete(kv.key)
            guard let ticketId = Hash32(bytes: kv.value),
                  var c = try state.record(StateKey.fraudCase(ticketId), FraudCase.self), c.status == .pending,
                  var ticket = try state.record(StateKey.ticket(ticketId), Ticket.self), let leaf = ticket.leaf,
                  let input = try state.raw(StateKey.caseInput(ticketId)),
                  let pool = try poolConfig(ticket.pool),
                  let commitment = try state.record(StateKey.commitment(ticket.commitmentId), Commitment.self) else {
                throw .fault(LedgerFault("adjudication queue entry \(kv.key.hex) without a pending case, ticket or input"))
            }
            state.delete(StateKey.caseInput(ticketId))
            // Released before the verdict: the slashes below reach the entries the hold kept.
            try changeAdjudicationHolds(ticketId, ticket, by: -1)
            let verdict: AdjudicationVerdict
            do {
                verdict = try ledger.adjudicator.adjudicate(AdjudicationRequest(
                    pool: pool, shardIndex: Int(leaf.shard), input: input, positionOffset: leaf.positionOffset,
                    tokenCount: leaf.tokenCount))
            } catch {
                throw .fault(LedgerFault("adjudicator failed on ticket \(ticketId): \(error)"))
            }
            // In a pool with checkers the leaf holds its output blinded: a sealed ticket claims its unblinded output
            // (none when it never unblinded, the worker at fault either way), a ticket that fell back to a public
            // reveal the output its derived salt opens (`leafClaims`).
            let check = try state.record(StateKey.ticketCheck(ticketId), SealedCheck.self)
            let fraud: Bool
            switch verdict {
            case .output(let h): c.canonicalOutputHash = h; fraud = !leafClaims(h, leaf: leaf, input: input, pool: pool, check: check)
            case .invalidInput, .invalidOutput: c.canonicalOutputHash = .zero; fraud = true
            }
            c.adjudicatedHeight = height

            // Every claim so far, in key order (by claim hash).
            var claims = [(claim: Hash32, FraudClaim)]()
            for ckv in try state.scan(StateKey.fraudClaims(ticketId)) {
                state.delete(ckv.key)
                guard let h = Hash32(bytes: ckv.key.suffix(32)) else { throw .fault(LedgerFault("corrupt fraud claim key")) }
                do { claims.append((h, try FraudClaim(canonicalEncoding: ckv.value))) } catch {
                    throw .fault(LedgerFault("corrupt fraud claim \(ckv.key.hex)"))
                }
            }
            if fraud {
                ticket.status = .fraudProven
                state.put(StateKey.ticket(ticketId), ticket)
                let slashed = try convict(ticket.worker, pool: pool, commitment: ticket.commitmentId,
                                          includedHeight: commitment.includedHeight, kind: .fraud, into: .system)
                let bounty = slashed.basisPoints(pool.verifierBountyBps)
                try state.burn(Amount(slashed.units - bounty.units))
                c.slashed = slashed
                c.bounty = bounty
                // The earliest commitment wins (ties: the lower claim hash); the others get their bonds back.
                let ordered = claims.sorted { ($0.1.commitHeight, $0.claim) < ($1.1.commitHeight, $1.claim) }
                if let best = ordered.first {
                    c.winner = best.1.prover; c.winnerCommitHeight = best.1.commitHeight; c.winnerClaim = best.claim
                    c.winnerBond = best.1.bond
                }
                for other in ordered.dropFirst() {
                    try state.credit(other.1.prover, other.1.bond)
                    systemEvents.append(.fraudBondReturned(claim: other.claim, prover: other.1.prover, amount: other.1.bond))
                }
                c.status = .fraud
                systemEvents.append(.fraudProven(ticketId: ticketId, worker: ticket.worker, slashed: slashed, bounty: bounty))
            } else {
                ticket.status = .upheld
                state.put(StateKey.ticket(ticketId), ticket)
                var burned = Amount.zero
                for cl in claims {
                    try state.burn(cl.1.bond)
                    burned = Amount(burned.units &+ cl.1.bond.units)
                    systemEvents.append(.fraudBondBurned(claim: cl.claim, prover: cl.1.prover, amount: cl.1.bond))
                }
                c.bondsBurned = Amount(c.bondsBurned.units &+ burned.units)
                c.winnerBond = .zero
                c.status = .upheld
                systemEvents.append(.fraudRejected(ticketId: ticketId, bondsBurned: burned))
            }
            try settleCheckers(afterReplayOf: ticketId, check: check, ticket: ticket, pool: pool, fraud: fraud, case: &c)
            state.put(StateKey.fraudCase(ticketId), c)
            if c.status == .fraud {
                if height >= c.finalHeight { try payBounty(ticketId) } else {
                    state.putRaw(StateKey.caseFinalQueue(c.finalHeight, ticketId), [])
                }
            }
            schedulePrune(StateKey.fraudCase(ticketId), at: max(height, c.finalHeight) &+ params.revealedKeyRetentionBlocks)
            try releaseWindowHold(ticket)
        }
    }

    /// Pays the winner of a proven case its bond and the bounty, once no earlier claim can still appear.
    mutating func payBounty(_ ticketId: Hash32) throws(ExecError) {
        guard var c = try state.record(StateKey.fraudCase(ticketId), FraudCase.self) else {
            throw .fault(LedgerFault("bounty for a missing case \(ticketId)"))
        }
        guard c.status == .fraud else { return }
        try state.credit(c.winner, c.bounty)
        try state.credit(c.winner, c.winnerBond)
        systemEvents.append(.bountyPaid(ticketId: ticketId, prover: c.winner, bounty: c.bounty, bond: c.winnerBond))
        c.status = .paid
        state.put(StateKey.fraudCase(ticketId), c)
    }

    /// Cases whose last claim could land in this block are final: the bounty is paid.
    mutating func finalizeCases() throws(ExecError) {
        for kv in try state.scan(StateKey.caseFinalQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key.suffix(32)) else { throw .fault(LedgerFault("corrupt case queue key")) }
            try payBounty(id)
        }
    }

    /// Fraud commitments never revealed within their period: the bond is burned.
    mutating func expireFraudCommitments() throws(ExecError) {
        for kv in try state.scan(StateKey.fraudCommitmentExpiry(at: height)) {
            state.delete(kv.key)
            guard kv.key.count == 73, let prover = PublicKey(bytes: kv.key[9..<41]), let claim = Hash32(bytes: kv.key.suffix(32)) else {
                throw .fault(LedgerFault("corrupt fraud expiry key"))
            }
            guard let commit = try state.record(StateKey.fraudCommitment(prover, claim), FraudCommitment.self) else { continue }
            state.delete(StateKey.fraudCommitment(prover, claim))
            try state.burn(commit.bond)
            systemEvents.append(.fraudBondBurned(claim: claim, prover: commit.prover, amount: commit.bond))
        }
    }
}

import Primitives

extension Execution {
    mutating func commitShares(_ sender: PublicKey, pool poolId: UInt32, window: UInt64, shard: UInt32,
                               passCount: UInt32, tokenCount: UInt64, root: Hash32) throws(ExecError) {
        guard let pool = try poolConfig(poolId) else { throw .failed(.unknownPool) }
        guard let worker = try state.staker(.worker(pool: poolId), sender), worker.isActive(minimum: pool.minWorkerStake)
        else { throw .failed(.notActiveWorker) }
        guard window == pool.window(ofHeight: height) else { throw .failed(.wrongWindow) }
        guard Int(shard) < pool.shards.count else { throw .failed(.unknownShard) }
        // Every pass has at least one and at most maxTokensPerPass tokens.
        guard passCount >= 1, passCount <= params.maxPassesPerCommitment, tokenCount >= UInt64(passCount),
              tokenCount <= UInt64(passCount) * UInt64(pool.maxTokensPerPass) else { throw .failed(.invalidCommitment) }
        let (weighted, overflow) = tokenCount.multipliedReportingOverflow(by: pool.shards[Int(shard)].costWeight)
        guard !overflow else { throw .failed(.invalidCommitment) }
        let id = LedgerIds.commitment(worker: sender, pool: poolId, window: window, passRoot: root)
        guard try !state.exists(StateKey.commitment(id)) else { throw .failed(.duplicateCommitment) }
        let tallyKey = StateKey.shareTally(poolId, window, sender)
        var tally = try state.record(tallyKey, ShareTally.self) ?? ShareTally()
        guard Int(tally.commitments) < params.maxCommitmentsPerWindow else { throw .failed(.tooManyCommitments) }

        var record = try state.window(poolId, window) ?? WindowRecord()
        let (newShares, o1) = tally.shares.addingReportingOverflow(weighted)
        let (newTotal, o2) = record.totalShares.addingReportingOverflow(weighted)
        guard !o1, !o2 else { throw .failed(.amountOverflow) }
        tally.shares = newShares
        tally.commitments += 1
        record.totalShares = newTotal
        record.commitments += 1
        state.put(StateKey.window(poolId, window), record)
        state.put(tallyKey, tally)
        let selection = height &+ params.beaconDelay
        state.put(StateKey.commitment(id), Commitment(worker: sender, pool: poolId, window: window, shard: shard,
                                                      passCount: passCount, tokenCount: tokenCount, weightedShares: weighted,
                                                      passRoot: root, includedHeight: height, selectionHeight: selection))
        state.putRaw(StateKey.commitmentByWorker(poolId, window, sender, id), [])
        state.putRaw(StateKey.selectionQueue(selection, id), [])
        txEvents.append(.sharesCommitted(commitmentId: id, worker: sender, pool: poolId, window: window, weightedShares: weighted))
    }

    /// Whether pass `index` of a commitment is selected under `beacon`: the first 8 bytes (big-endian) of
    /// `H_ticket(beacon ‖ commitmentId ‖ index u32)`, modulo 1 000 000, below the pool's rate in ppm.
    static func isSelected(beacon: Hash32, commitment: Hash32, index: UInt32, ppm: UInt32) -> Bool {
        var h = Tags.ticket.hasher()
        h.update(beacon)
        h.update(commitment)
        var le = index.littleEndian
        withUnsafeBytes(of: &le) { h.update($0) }
        return h.finalize().prefixUInt64 % 1_000_000 < UInt64(ppm)
    }

    /// Selects tickets of every commitment whose selection height is this block, with this block's mix.
    mutating func selectTickets(beacon: Hash32) throws(ExecError) {
        for kv in try state.scan(StateKey.selectionQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key[9...]),
                  var c = try state.record(StateKey.commitment(id), Commitment.self) else {
                throw .fault(LedgerFault("selection queue points at a missing commitment \(kv.key.hex)"))
            }
            guard let pool = try poolConfig(c.pool) else { throw .fault(LedgerFault("commitment of unknown pool")) }
            let deadline = height &+ pool.revealDeadlineBlocks
            var selected: UInt32 = 0
            for i in 0..<c.passCount where Self.isSelected(beacon: beacon, commitment: id, index: i, ppm: pool.spotCheckPpm) {
                let tid = LedgerIds.ticket(commitment: id, passIndex: i)
                let t = Ticket(commitmentId: id, passIndex: i, worker: c.worker, pool: c.pool, window: c.window,
                               status: .awaitingReveal, selectedHeight: height, revealDeadline: deadline)
                putTicket(tid, t, previous: nil)
                state.putRaw(StateKey.ticketByCommitment(id, i), tid.bytes)
                state.putRaw(StateKey.revealDeadlineQueue(deadline, tid), [])
                systemEvents.append(.ticketSelected(ticketId: tid, commitmentId: id, passIndex: i, deadline: deadline))
                selected += 1
            }
            c.selectedCount = selected
            c.selectionDone = true
            state.put(StateKey.commitment(id), c)
        }
    }

    /// Writes a ticket and keeps the by-status index in step.
    mutating func putTicket(_ id: Hash32, _ t: Ticket, previous: TicketStatus?) {
        if let previous, previous != t.status { state.delete(StateKey.ticketByStatus(previous, id)) }
        state.putRaw(StateKey.ticketByStatus(t.status, id), [])
        state.put(StateKey.ticket(id), t)
    }

    mutating func revealTicket(_ sender: PublicKey, ticketId: Hash32, leaf: PassLeaf, proof: [Hash32], input: [UInt8]) throws(ExecError) {
        guard var ticket = try state.record(StateKey.ticket(ticketId), Ticket.self) else { throw .failed(.unknownTicket) }
        guard ticket.status == .awaitingReveal else { throw .failed(.ticketNotAwaitingReveal) }
        guard height <= ticket.revealDeadline else { throw .failed(.revealDeadlinePassed) }
        guard sender == ticket.worker else { throw .failed(.notTicketWorker) }
        guard let c = try state.record(StateKey.commitment(ticket.commitmentId), Commitment.self),
              let pool = try poolConfig(ticket.pool) else { throw .fault(LedgerFault("ticket without commitment or pool")) }
        guard leaf.shard == c.shard, leaf.tokenCount >= 1, leaf.tokenCount <= pool.maxTokensPerPass else {
            throw .failed(.leafMismatch)
        }
        guard Merkle.verify(leafHash: leaf.merkleLeafHash, index: UInt64(ticket.passIndex), treeSize: UInt64(c.passCount),
                            proof: proof, root: c.passRoot) else { throw .failed(.invalidMerkleProof) }
        guard input.count <= pool.maxInputTensorBytes else { throw .failed(.inputTooLarge) }
        guard Tags.tensor.hash(input) == leaf.inputHash else { throw .failed(.inputHashMismatch) }
        ticket.status = .revealed
        ticket.leaf = leaf
        ticket.revealedHeight = height
        ticket.challengeEnd = height &+ pool.challengeBlocks
        putTicket(ticketId, ticket, previous: .awaitingReveal)
        state.putRaw(StateKey.ticketInput(ticketId), input)
        state.delete(StateKey.revealDeadlineQueue(ticket.revealDeadline, ticketId))
        state.putRaw(StateKey.challengeEndQueue(ticket.challengeEnd, ticketId), [])
        txEvents.append(.ticketRevealed(ticketId: ticketId, challengeEnd: ticket.challengeEnd))
    }

    /// Tickets whose reveal deadline is this block and that were not revealed: the worker is slashed by the
    /// withholding fraction, once per commitment.
    mutating func expireRevealDeadlines() throws(ExecError) {
        for kv in try state.scan(StateKey.revealDeadlineQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key[9...]), var t = try state.record(StateKey.ticket(id), Ticket.self) else {
                throw .fault(LedgerFault("deadline queue points at a missing ticket \(kv.key.hex)"))
            }
            guard t.status == .awaitingReveal else { continue }
            t.status = .withheld
            putTicket(id, t, previous: .awaitingReveal)
            systemEvents.append(.revealWithheld(ticketId: id, worker: t.worker))
            let offence = LedgerIds.withholdOffence(commitment: t.commitmentId)
            if try state.exists(StateKey.offence(offence)) { continue }
            state.put(StateKey.offence(offence), height)
            guard let pool = try poolConfig(t.pool),
                  let c = try state.record(StateKey.commitment(t.commitmentId), Commitment.self) else {
                throw .fault(LedgerFault("ticket without pool or commitment"))
            }
            let taken = try slash(t.worker, role: .worker(pool: t.pool), bps: pool.withholdSlashBps, offenceHeight: c.includedHeight,
                                  kind: .withheldReveal, offenceId: offence, into: .system)
            try state.burn(taken)
        }
    }

    /// Revealed tickets whose challenge period ended this block without a proof.
    mutating func endChallenges() throws(ExecError) {
        for kv in try state.scan(StateKey.challengeEndQueue(at: height)) {
            state.delete(kv.key)
            guard let id = Hash32(bytes: kv.key[9...]), var t = try state.record(StateKey.ticket(id), Ticket.self) else {
                throw .fault(LedgerFault("challenge queue points at a missing ticket \(kv.key.hex)"))
            }
            guard t.status == .revealed else { continue }
            t.status = .unchallenged
            putTicket(id, t, previous: .revealed)
            state.delete(StateKey.ticketInput(id))
        }
    }

    mutating func fraudProof(_ prover: PublicKey, ticketId: Hash32) throws(ExecError) {
        guard var ticket = try state.record(StateKey.ticket(ticketId), Ticket.self) else { throw .failed(.unknownTicket) }
        switch ticket.status {
        case .revealed: break
        case .fraudProven, .upheld: throw .failed(.ticketAlreadyAdjudicated)
        case .awaitingReveal, .withheld, .unchallenged: throw .failed(.ticketNotRevealed)
        }
        guard height <= ticket.challengeEnd else { throw .failed(.challengePeriodOver) }
        // Per-block cap, counted in state so it is part of the transition.
        var counter = CanonicalReader(try state.raw(StateKey.global(.fraudProofsInBlock)) ?? [])
        var used: UInt64 = 0
        if counter.remaining == 16, (try? counter.u64("height")) == height { used = (try? counter.u64("count")) ?? 0 }
        guard used < UInt64(params.maxFraudProofsPerBlock) else { throw .failed(.fraudProofCapReached) }
        var w = CanonicalWriter(); w.u64(height); w.u64(used + 1)
        state.putRaw(StateKey.global(.fraudProofsInBlock), w.bytes)

        guard let pool = try poolConfig(ticket.pool), let leaf = ticket.leaf,
              let c = try state.record(StateKey.commitment(ticket.commitmentId), Commitment.self),
              let input = try state.raw(StateKey.ticketInput(ticketId)) else {
            throw .fault(LedgerFault("revealed ticket \(ticketId) lacks pool, leaf, commitment or input"))
        }
        try state.debit(prover, pool.fraudProofBond)

        let verdict: AdjudicationVerdict
        do {
            verdict = try ledger.adjudicator.adjudicate(AdjudicationRequest(
                pool: pool, shardIndex: Int(leaf.shard), input: input, positionOffset: leaf.positionOffset,
                tokenCount: leaf.tokenCount))
        } catch {
            throw .fault(LedgerFault("adjudicator failed on ticket \(ticketId): \(error)"))
        }
        let canonical: Hash32
        let fraud: Bool
        switch verdict {
        case .output(let h): canonical = h; fraud = h != leaf.outputHash
        case .invalidInput, .invalidOutput: canonical = .zero; fraud = true
        }
        state.delete(StateKey.ticketInput(ticketId))
        if fraud {
            let offence = LedgerIds.fraudOffence(ticket: ticketId)
            state.put(StateKey.offence(offence), height)
            let role = StakeRole.worker(pool: pool.id)
            let taken = try slash(ticket.worker, role: role, bps: pool.fraudSlashBps, offenceHeight: c.includedHeight,
                                  kind: .fraud, offenceId: offence, into: .transaction)
            let bounty = taken.basisPoints(pool.verifierBountyBps)
            try state.burn(Amount(taken.units - bounty.units))
            try state.credit(prover, bounty)
            try state.credit(prover, pool.fraudProofBond)
            try jail(ticket.worker, role: role, into: .transaction)
            try forfeit(ticket.worker, pool: pool)
            ticket.status = .fraudProven
            putTicket(ticketId, ticket, previous: .revealed)
            state.put(StateKey.fraudCase(ticketId), FraudCase(
                ticketId: ticketId, prover: prover, worker: ticket.worker, pool: pool.id, height: height, fraud: true,
                canonicalOutputHash: canonical, slashed: taken, bounty: bounty, bondBurned: .zero))
            txEvents.append(.fraudProven(ticketId: ticketId, prover: prover, worker: ticket.worker, slashed: taken, bounty: bounty))
        } else {
            try state.burn(pool.fraudProofBond)
            ticket.status = .upheld
            putTicket(ticketId, ticket, previous: .revealed)
            state.put(StateKey.fraudCase(ticketId), FraudCase(
                ticketId: ticketId, prover: prover, worker: ticket.worker, pool: pool.id, height: height, fraud: false,
                canonicalOutputHash: canonical, slashed: .zero, bounty: .zero, bondBurned: pool.fraudProofBond))
            txEvents.append(.fraudRejected(ticketId: ticketId, prover: prover, bondBurned: pool.fraudProofBond))
        }
    }

    /// Forfeits a convicted worker's shares in every window a future settlement can still read: from the
    /// oldest unsettled window (minus the PPLNS lookback) to the current window.
    mutating func forfeit(_ worker: PublicKey, pool: PoolConfig) throws(ExecError) {
        let current = pool.window(ofHeight: height)
        // Oldest window w with settleHeight(w) >= height, i.e. still to be settled at or after this block.
        var oldest: UInt64 = 0
        if height > pool.closeHeight(ofWindow: 0) + pool.challengeBlocks {
            // settleHeight(w) = (w+1)·L + C ≥ h  ⇔  w ≥ ceil((h − C)/L) − 1
            let numerator = height - pool.challengeBlocks
            oldest = (numerator + pool.windowBlocks - 1) / pool.windowBlocks - 1
        }
        if case .pplns = pool.rewardScheme {
            oldest = oldest >= params.pplnsMaxLookbackWindows ? oldest - params.pplnsMaxLookbackWindows : 0
        }
        state.put(StateKey.forfeiture(pool.id, worker, from: oldest), current)
        txEvents.append(.sharesForfeited(pool: pool.id, worker: worker, fromWindow: oldest, toWindow: current))
    }

    /// Whether a worker's shares in window `w` of `pool` were forfeited.
    func isForfeited(_ worker: PublicKey, pool: UInt32, window w: UInt64) throws(ExecError) -> Bool {
        for kv in try state.scan(StateKey.forfeitures(pool, worker)) {
            let from = UInt64(bigEndianBytes: kv.key[(kv.key.count - 8)...])
            guard let to = try? UInt64(canonicalEncoding: kv.value) else {
                throw .fault(LedgerFault("corrupt forfeiture record \(kv.key.hex)"))
            }
            if w >= from && w <= to { return true }
        }
        return false
    }
}

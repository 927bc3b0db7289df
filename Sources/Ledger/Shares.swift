import Primitives
import Sealing

extension Execution {
    /// Records a sum-tree commitment of passes for one shard in one window (Specs/economics.md §3). Burns the
    /// ticket fee of the samples it will be checked with.
    mutating func commitShares(_ sender: PublicKey, pool poolId: UInt32, window: UInt64, shard: UInt32,
                               leafCount: UInt32, tokenTotal: UInt64, root: Hash32) throws(ExecError) {
        // Checked first: the cap bounds the samples one end-block draws and one deadline block expires (§9).
        guard commitmentsInBlock < params.maxCommitmentsPerBlock else { throw .failed(.tooManyCommitmentsInBlock) }
        guard let pool = try poolConfig(poolId) else { throw .failed(.unknownPool) }
        guard let worker = try state.staker(.worker(pool: poolId), sender), worker.isActive(minimum: pool.minWorkerStake)
        else { throw .failed(.notActiveWorker) }
        guard Int(shard) < pool.shards.count else { throw .failed(.unknownShard) }
        // Compared as window numbers: `startHeight(ofWindow:)` of an absurd window would wrap around.
        guard window <= pool.window(ofHeight: height) else { throw .failed(.wrongWindow) }
        guard height <= pool.commitDeadline(ofWindow: window) else { throw .failed(.commitDeadlinePassed) }
        // Every leaf holds at least one and at most maxTokensPerPass tokens.
        guard leafCount >= 1, leafCount <= params.maxLeavesPerCommitment, tokenTotal >= UInt64(leafCount),
              tokenTotal <= UInt64(leafCount) * UInt64(pool.maxTokensPerPass) else { throw .failed(.invalidCommitment) }
        let id = LedgerIds.commitment(worker: sender, pool: poolId, window: window, shard: shard, root: root)
        guard try !state.exists(StateKey.commitment(id)) else { throw .failed(.duplicateCommitment) }

        let workKey = StateKey.workRecord(poolId, window, sender)
        let existingWork = try state.record(workKey, WorkRecord.self)
        var work = existingWork ?? WorkRecord()
        // The payout cap takes the lowest stake of any commitment: a conviction slashes the stake at a commitment's
        // inclusion, so stake bonded later (or unbonded before a late commitment) cannot raise the cap above it.
        work.minCommitStake = min(work.minCommitStake, worker.stake)
        let limit = params.maxCommitmentsPerWindow
        try work.withShard(shard) { (s: inout ShardWork) throws(ExecError) in
            guard Int(s.commitments) < limit else { throw .failed(.tooManyCommitments) }
            let (t, o) = s.committedTokens.addingReportingOverflow(tokenTotal)
            guard !o else { throw .failed(.amountOverflow) }
            s.committedTokens = t
            s.commitments += 1
        }
        let samples = pool.sampleCount(tokenTotal: tokenTotal)
        let fee: Amount
        // Pools with checkers: the check fees of every sample are deposited up front, so checkers are paid for
        // checking work nobody paid for too (Specs/verification.md §5).
        let deposit: Amount
        do {
            fee = try pool.ticketFee.multiplied(by: UInt64(samples))
            deposit = try (pool.checking.map { try $0.checkFee.multiplied(by: UInt64(samples) * UInt64($0.checkersPerTicket)) } ?? .zero)
            work.checkDeposit = try work.checkDeposit.adding(deposit)
            _ = try fee.adding(deposit)
        } catch { throw .failed(.amountOverflow) }
        try state.debit(sender, fee)
        try state.burn(fee)
        if deposit > .zero { try state.debit(sender, deposit) }

        var record = try state.window(poolId, window) ?? WindowRecord()
        record.commitments &+= 1
        if existingWork == nil { record.unpaidWorkers &+= 1 }  // at most one per staked worker key
        state.put(StateKey.window(poolId, window), record)
        work.commitmentIds.append(id)
        state.put(workKey, work)
        let selection = height &+ params.beaconDelay
        state.put(StateKey.commitment(id), Commitment(worker: sender, pool: poolId, window: window, shard: shard, leafCount: leafCount,
                                                      tokenTotal: tokenTotal, root: root, includedHeight: height,
                                                      selectionHeight: selection, samples: samples))
        txEvents.append(.sharesCommitted(commitmentId: id, worker: sender, pool: poolId, window: window, shard: shard,
                                         tokenTotal: tokenTotal, samples: samples))
        // Last: nothing after it can fail, so a rolled-back body is neither counted nor queued.
        committedInBlock.append(id)
        commitmentsInBlock += 1
    }

    /// Queues the block's commitments for drawing at `height + beaconDelay`: one record, ids ascending. First in
    /// end-block, so no selection can see a partial queue.
    mutating func queueCommittedForSelection() {
        guard !committedInBlock.isEmpty else { return }
        state.put(StateKey.selectionQueue(at: height &+ params.beaconDelay), IdQueue(committedInBlock.sorted()))
        committedInBlock = []
    }

    /// The token sample `j` of a commitment selects under `beacon`: the first 8 bytes (big-endian) of
    /// `H_ticket(beacon ‖ commitmentId ‖ j u32)` modulo `tokenTotal`.
    public static func samplePoint(beacon: Hash32, commitment: Hash32, sample: UInt32, tokenTotal: UInt64) -> UInt64 {
        var h = Tags.ticket.hasher()
        h.update(beacon)
        h.update(commitment)
        var le = sample.littleEndian
        withUnsafeBytes(of: &le) { h.update($0) }
        return h.finalize().prefixUInt64 % max(1, tokenTotal)
    }

    /// The highest inclusion height whose commitments are selected at the end of this block
    /// (Specs/consensus.md §3): at least `beaconDelay` blocks old, and either followed by blocks of
    /// `min(beaconMinProposers, scheduled validators)` distinct proposers or `beaconMaxDelay` blocks old.
    /// Nil when none is ready.
    func selectableInclusionHeight() throws(ExecError) -> UInt64? {
        let d = params.beaconDelay, dMax = max(params.beaconMaxDelay, params.beaconDelay)
        guard height > d else { return nil }
        let scheduled = try state.record(StateKey.global(.schedule), ValidatorSnapshot.self)?.validators.count ?? 1
        let needed = max(1, min(params.beaconMinProposers, scheduled))
        // Walk back from this block until `needed` distinct proposers are seen: every inclusion height below the
        // last block visited has them after it.
        var seen = Set<[UInt8]>(), mixed: UInt64 = 0
        var h = height
        while h >= 1 && height - h < dMax {
            guard let record = try state.raw(StateKey.proposer(h)), record.count == 40 else {
                throw .fault(LedgerFault("missing or malformed proposer record at height \(h)"))
            }
            seen.insert(Array(record[0..<32]))
            if seen.count >= needed { mixed = h - 1; break }
            h -= 1
        }
        let forced = height >= dMax ? height - dMax : 0
        let ready = min(height - d, max(mixed, forced))
        return ready >= 1 ? ready : nil
    }

    /// Draws the samples of every commitment that became selectable at this block, with this block's mix.
    /// The queue is keyed by `includedHeight + beaconDelay`; inclusion heights below `height − beaconMaxDelay`
    /// were forced out by earlier blocks, so only the keys from there on are visited.
    mutating func selectTickets(beacon: Hash32) throws(ExecError) {
        guard let ready = try selectableInclusionHeight() else { return }
        let d = params.beaconDelay, dMax = max(params.beaconMaxDelay, params.beaconDelay)
        let first = max(1, height >= dMax ? height - dMax + d : d + 1)
        let last = ready + d
        guard first <= last else { return }
        var deadlines: [UInt64: [Hash32]] = [:]
        for queueHeight in first...last {
            try selectTickets(queuedAt: queueHeight, beacon: beacon, deadlines: &deadlines)
        }
        // One record per deadline height; another pool's tickets drawn earlier may share it.
        for (deadline, drawn) in deadlines.sorted(by: { $0.key < $1.key }) {
            let key = StateKey.revealDeadlineQueue(at: deadline)
            let queued = try state.record(key, IdQueue.self)?.ids ?? []
            state.put(key, IdQueue((queued + drawn).sorted()))
        }
    }

    mutating func selectTickets(queuedAt queueHeight: UInt64, beacon: Hash32, deadlines: inout [UInt64: [Hash32]]) throws(ExecError) {
        let queueKey = StateKey.selectionQueue(at: queueHeight)
        guard let queue = try state.record(queueKey, IdQueue.self) else { return }
        state.delete(queueKey)
        for id in queue.ids {
            guard let c = try state.record(StateKey.commitment(id), Commitment.self) else {
                throw .fault(LedgerFault("selection queue \(queueHeight) points at a missing commitment \(id)"))
            }
            guard let pool = try poolConfig(c.pool) else { throw .fault(LedgerFault("commitment of unknown pool")) }
            let deadline = height &+ pool.revealDeadlineBlocks
            let challengeEnd = pool.challengeEnd(ofWindow: c.window, beaconDelay: params.selectionDelayBound)
            // From the state before this block's transactions (`prepareCheckerTables`).
            var table: CheckerTable?
            if pool.checking != nil {
                guard let t = checkerTables[c.pool] else { throw .fault(LedgerFault("no checker table prepared for pool \(c.pool)")) }
                table = t
            }
            for j in 0..<c.samples {
                let point = Execution.samplePoint(beacon: beacon, commitment: id, sample: j, tokenTotal: c.tokenTotal)
                let tid = LedgerIds.ticket(commitment: id, sample: j)
                let t = Ticket(commitmentId: id, sample: j, point: point, worker: c.worker, pool: c.pool, window: c.window,
                               shard: c.shard, status: .awaitingReveal, selectedHeight: height, revealDeadline: deadline,
                               challengeEnd: challengeEnd)
                state.put(StateKey.ticket(tid), t)
                deadlines[deadline, default: []].append(tid)
                systemEvents.append(.ticketSelected(ticketId: tid, commitmentId: id, sample: j, point: point, deadline: deadline))
                // Checkers are drawn in the same step with the same beacon (Specs/verification.md §3).
                if let table, let cfg = pool.checking {
                    let slots = Execution.assignCheckers(table: table, k: Int(cfg.checkersPerTicket), beacon: beacon, ticketId: tid,
                                                         worker: c.worker)
                    if slots.isEmpty {
                        systemEvents.append(.checkersUnavailable(ticketId: tid))
                    } else {
                        state.put(StateKey.ticketCheck(tid), SealedCheck(slots: slots))
                        systemEvents.append(.checkersAssigned(ticketId: tid, checkers: slots.map(\.checker)))
                    }
                }
            }
            var record = try state.window(c.pool, c.window) ?? WindowRecord()
            record.tickets &+= UInt64(c.samples)
            state.put(StateKey.window(c.pool, c.window), record)
        }
    }

    /// Checks a neighbour proof, which is optional (Specs/economics.md §3: the key ranges on the leaf's own path
    /// already prove that no other leaf with a verifying path has its content key): none where the tree has no leaf
    /// at `index`; a given one valid against the commitment, a well-formed leaf of the commitment's shard, and on the
    /// right side of `key`.
    func checkNeighbour(_ proof: LeafProof?, index: Int64, of c: Commitment, pool: PoolConfig, key: Hash32, isLeft: Bool) -> Bool {
        guard index >= 0, index < Int64(c.leafCount) else { return proof == nil }
        guard let proof else { return true }
        guard Int64(proof.leaf.index) == index, proof.leaf.shard == c.shard, proof.leaf.tokenCount >= 1,
              proof.leaf.tokenCount <= pool.maxTokensPerPass,
              SumTree.verify(proof, leafCount: c.leafCount, root: c.root, tokenTotal: c.tokenTotal) != nil else { return false }
        let neighbourKey = proof.leaf.contentKey
        return isLeft ? neighbourKey < key : key < neighbourKey
    }

    /// Reveals the leaf holding a ticket's sampled token, with its neighbours and its input (Specs/economics.md §3).
    mutating func revealTicket(_ sender: PublicKey, ticketId: Hash32, proof: LeafProof, left: LeafProof?, right: LeafProof?,
                               input: [UInt8], txId: Hash32) throws(ExecError) {
        let (ticket, c, pool) = try checkRevealedLeaf(sender, ticketId: ticketId, proof: proof, left: left, right: right)
        // Only a pool with checkers assigns them (the draw), and pool configurations are fixed at genesis: a pool
        // without checkers needs no lookup.
        if pool.checking != nil {
            guard try !state.exists(StateKey.ticketCheck(ticketId)) else { throw .failed(.sealedRevealRequired) }
        }
        let leaf = proof.leaf
        try checkRevealedInput(input, of: leaf, pool: pool)
        _ = try recordReveal(sender, ticketId: ticketId, ticket, c, leaf: leaf, pool: pool, txId: txId)
    }

    /// A revealed pass's input: at most the pool's input size, hashing to the leaf's input hash, and a canonical
    /// `[tokenCount, hidden]` tensor (a reveal in clear and a hop challenge's answer check it alike).
    func checkRevealedInput(_ input: [UInt8], of leaf: PassLeaf, pool: PoolConfig) throws(ExecError) {
        guard input.count <= pool.maxInputTensorBytes else { throw .failed(.inputTooLarge) }
        guard Tags.tensor.hash(input) == leaf.inputHash else { throw .failed(.inputHashMismatch) }
        guard CanonicalInput.isValid(input, tokens: leaf.tokenCount, hidden: pool.model.hiddenSize) else {
            throw .failed(.invalidInputTensor)
        }
    }

    /// Reveals a ticket of a pool with checkers (Specs/verification.md §4 step 2): the leaf and its proofs in clear,
    /// the input sealed to the ticket's checkers in assignment order. Validators check the envelope's shape, not
    /// its plaintext (the checkers do). The envelope is kept, as ciphertext, until the check ends.
    mutating func revealSealedTicket(_ sender: PublicKey, ticketId: Hash32, proof: LeafProof, left: LeafProof?, right: LeafProof?,
                                     envelope bytes: [UInt8], txId: Hash32) throws(ExecError) {
        let (ticket, c, pool) = try checkRevealedLeaf(sender, ticketId: ticketId, proof: proof, left: left, right: right)
        guard let cfg = pool.checking, var check = try state.record(StateKey.ticketCheck(ticketId), SealedCheck.self) else {
            throw .failed(.ticketNotSealed)
        }
        let leaf = proof.leaf
        let envelope: SealedEnvelope
        do { envelope = try SealedEnvelope(decoding: bytes, maxPlaintextCount: pool.maxInputTensorBytes) } catch {
            throw .failed(.invalidEnvelope)
        }
        guard envelope.recipients.map(\.bytes) == check.slots.map(\.sealingKey.bytes) else {
            throw .failed(.envelopeRecipientsMismatch)
        }
        guard envelope.plaintextCount == pool.inputTensorBytes(tokens: leaf.tokenCount) else {
            throw .failed(.envelopeSizeMismatch)
        }
        let status = try recordReveal(sender, ticketId: ticketId, ticket, c, leaf: leaf, pool: pool, txId: txId)
        guard status == .revealed else {
            // Voided or reused: nothing left to check.
            state.delete(StateKey.ticketCheck(ticketId))
            return
        }
        check.status = .checking
        check.revealHeight = height
        state.put(StateKey.ticketCheck(ticketId), check)
        state.putRaw(StateKey.sealedInput(ticketId), bytes)
        state.putRaw(StateKey.checkResolutionQueue(height &+ cfg.resolutionDelay, ticketId), [])
        // The window does not settle before the check (and a dispute's replay) ends.
        var window = try state.window(ticket.pool, ticket.window) ?? WindowRecord()
        window.pendingAdjudications &+= 1
        state.put(StateKey.window(ticket.pool, ticket.window), window)
    }

    /// The checks every reveal shares: the ticket awaits this worker's reveal, the leaf is in the commitment at the
    /// sampled token (its path, whose key ranges also make it the only verifiable leaf with its content key), and
    /// the neighbours it gives, if any, are its own.
    mutating func checkRevealedLeaf(_ sender: PublicKey, ticketId: Hash32, proof: LeafProof, left: LeafProof?,
                                    right: LeafProof?) throws(ExecError) -> (Ticket, Commitment, PoolConfig) {
        guard let ticket = try state.record(StateKey.ticket(ticketId), Ticket.self) else { throw .failed(.unknownTicket) }
        guard ticket.status == .awaitingReveal else { throw .failed(.ticketNotAwaitingReveal) }
        guard height <= ticket.revealDeadline else { throw .failed(.revealDeadlinePassed) }
        guard sender == ticket.worker else { throw .failed(.notTicketWorker) }
        guard let c = try state.record(StateKey.commitment(ticket.commitmentId), Commitment.self),
              let pool = try poolConfig(ticket.pool) else { throw .fault(LedgerFault("ticket without commitment or pool")) }
        let leaf = proof.leaf
        guard leaf.shard == c.shard, leaf.tokenCount >= 1, leaf.tokenCount <= pool.maxTokensPerPass else {
            throw .failed(.leafMismatch)
        }
        guard let offset = SumTree.verify(proof, leafCount: c.leafCount, root: c.root, tokenTotal: c.tokenTotal) else {
            throw .failed(.invalidSumProof)
        }
        guard ticket.point >= offset, ticket.point - offset < UInt64(leaf.tokenCount) else { throw .failed(.sampleNotInLeaf) }
        let key = leaf.contentKey
        guard checkNeighbour(left, index: Int64(leaf.index) - 1, of: c, pool: pool, key: key, isLeft: true),
              checkNeighbour(right, index: Int64(leaf.index) + 1, of: c, pool: pool, key: key, isLeft: false)
        else { throw .failed(.neighbourMismatch) }
        return (ticket, c, pool)
    }

    /// Records a checked reveal: the ticket's leaf, and whether the pass counts, was sold twice (reuse: fraud) or is a
    /// copy of the same output that another worker's drawn sample revealed first (voided). Returns the new status. A
    /// leaf that claims another output than the first reveal is not a copy: it stays revealed, open to fraud claims
    /// (one of the two is false). A hop ticket (an answered hop challenge) is never voided and never takes a pass from
    /// another worker (economics §3, §4.1, threat rows 66–67).
    mutating func recordReveal(_ sender: PublicKey, ticketId: Hash32, _ ticketIn: Ticket, _ commitment: Commitment, leaf: PassLeaf,
                               pool: PoolConfig, txId: Hash32) throws(ExecError) -> TicketStatus {
        var ticket = ticketIn, c = commitment
        let key = leaf.contentKey
        ticket.leaf = leaf
        ticket.revealedHeight = height
        ticket.revealTx = txId
        txEvents.append(.ticketRevealed(ticketId: ticketId, leafIndex: leaf.index, challengeEnd: ticket.challengeEnd))

        // A pass counts once: the first drawn reveal of a content key in the pool, and each worker's hop answers of
        // it, are remembered for the retention period.
        let passKey = StateKey.revealedPass(ticket.pool, key)
        let first = try state.record(passKey, RevealedPass.self)
        let hopKey = StateKey.hopAnsweredPass(ticket.pool, key, sender)
        let answered = try state.record(hopKey, RevealedPass.self)
        let reusedAfterDrawn = first.map { $0.worker == sender && $0.commitmentId != ticket.commitmentId } ?? false
        let reusedAfterAnswer = answered.map { $0.commitmentId != ticket.commitmentId } ?? false
        if reusedAfterDrawn || reusedAfterAnswer {
            // The worker sold the same pass twice: punished as fraud.
            ticket.status = .reused
            state.put(StateKey.ticket(ticketId), ticket)
            txEvents.append(.passReused(ticketId: ticketId, worker: sender))
            let slashed = try convict(sender, pool: pool, commitment: ticket.commitmentId, includedHeight: c.includedHeight,
                                      kind: .reusedPass, into: .transaction)
            try state.burn(slashed)
            return .reused
        }
        if ticket.isHopTicket {
            // The receipt binds this worker's output: whoever revealed the pass first, the answer is checked like any
            // revealed ticket. Coverage counts drawn samples only, so it changes nothing there.
            if answered == nil {
                state.put(hopKey, RevealedPass(worker: sender, commitmentId: ticket.commitmentId, height: height,
                                               outputHash: leaf.outputHash))
                schedulePrune(hopKey, at: height &+ params.revealedKeyRetentionBlocks)
            }
        } else if let first, first.worker != sender, first.outputHash == leaf.outputHash {
            // Another worker's drawn sample revealed the same output first (copied, or an honest shared prefix): this
            // sample's share of the commitment's tokens does not count, without a slash.
            ticket.status = .voided
            state.put(StateKey.ticket(ticketId), ticket)
            c.voided += 1
            state.put(StateKey.commitment(ticket.commitmentId), c)
            txEvents.append(.ticketVoided(ticketId: ticketId, firstWorker: first.worker))
            return .voided
        } else if first == nil {
            state.put(passKey, RevealedPass(worker: sender, commitmentId: ticket.commitmentId, height: height,
                                            outputHash: leaf.outputHash))
            schedulePrune(passKey, at: height &+ params.revealedKeyRetentionBlocks)
        }
        ticket.status = .revealed
        state.put(StateKey.ticket(ticketId), ticket)
        return .revealed
    }

    /// Tickets whose reveal deadline is this block and that were not revealed: withholding is punished as fraud.
    mutating func expireRevealDeadlines() throws(ExecError) {
        let key = StateKey.revealDeadlineQueue(at: height)
        guard let queue = try state.record(key, IdQueue.self) else { return }
        state.delete(key)
        for id in queue.ids {
            // A revealed ticket stays queued and is skipped here; a missing one was pruned with its settled window.
            guard var t = try state.record(StateKey.ticket(id), Ticket.self), t.status == .awaitingReveal else { continue }
            t.status = .withheld
            state.put(StateKey.ticket(id), t)
            systemEvents.append(.revealWithheld(ticketId: id, worker: t.worker))
            guard let pool = try poolConfig(t.pool),
                  let c = try state.record(StateKey.commitment(t.commitmentId), Commitment.self) else {
                throw .fault(LedgerFault("ticket without pool or commitment"))
            }
            let slashed = try convict(t.worker, pool: pool, commitment: t.commitmentId, includedHeight: c.includedHeight,
                                      kind: .withheldReveal, into: .system)
            try state.burn(slashed)
        }
    }

    /// Punishes a worker for a bad pass in a commitment (fraud, withholding or reuse: one offence per
    /// commitment): slashes `fraudSlashBps` of the stake bonded at the commitment's inclusion, jails, and
    /// forfeits every unpaid window through the current one. Returns the amount slashed (zero when the offence
    /// was punished before); the caller burns it or pays a bounty from it.
    mutating func convict(_ worker: PublicKey, pool: PoolConfig, commitment: Hash32, includedHeight: UInt64,
                          kind: OffenceKind, into target: EventTarget) throws(ExecError) -> Amount {
        try convict(worker, pool: pool, offence: LedgerIds.passOffence(commitment: commitment), offenceHeight: includedHeight,
                    kind: kind, into: target)
    }

    /// The conviction of `convict(_:pool:commitment:…)` under any offence id, slashing the stake at `offenceHeight`.
    mutating func convict(_ worker: PublicKey, pool: PoolConfig, offence: Hash32, offenceHeight: UInt64,
                          kind: OffenceKind, into target: EventTarget) throws(ExecError) -> Amount {
        guard try !state.exists(StateKey.offence(offence)) else { return .zero }
        state.put(StateKey.offence(offence), height)
        let role = StakeRole.worker(pool: pool.id)
        let slashed = try slash(worker, role: role, bps: pool.fraudSlashBps, offenceHeight: offenceHeight,
                                kind: kind, offenceId: offence, into: target)
        try jail(worker, role: role, into: target)
        let through = pool.window(ofHeight: height)
        let key = StateKey.forfeiture(pool.id, worker)
        let previous = try state.record(key, UInt64.self) ?? 0
        state.put(key, max(previous, through))
        emit(target, .sharesForfeited(pool: pool.id, worker: worker, throughWindow: max(previous, through)))
        return slashed
    }

    /// Whether a worker's work in window `w` of `pool` was forfeited by a conviction.
    func isForfeited(_ worker: PublicKey, pool: UInt32, window w: UInt64) throws(ExecError) -> Bool {
        guard let through = try state.record(StateKey.forfeiture(pool, worker), UInt64.self) else { return false }
        return w <= through
    }
}

/// The ledger's check of a revealed input tensor (Specs/tensor-tns1.md), without the executor: a canonical
/// rank-2 float32 TNS1 tensor of `[tokens, hidden]` whose values are finite and never −0, so one activation has
/// exactly one encoding (and one content key).
public enum CanonicalInput {
    /// The TNS1 encoding of a `[tokens, hidden]` float32 tensor given as its IEEE-754 bit patterns (row-major,
    /// `tokens × hidden` of them; a client passes `values.map(\.bitPattern)`). For clients, tools and tests that
    /// build inputs; the state transition never calls it and only compares bit patterns (`isValid`): the ledger
    /// module holds no floating-point type at all.
    public static func encode(tokens: UInt32, hidden: UInt32, bitPatterns: [UInt32]) -> [UInt8] {
        precondition(bitPatterns.count == Int(tokens) * Int(hidden))
        var out: [UInt8] = [0x54, 0x4E, 0x53, 0x31, 1, 2]
        out.reserveCapacity(22 + bitPatterns.count * 4)
        for d in [UInt64(tokens), UInt64(hidden)] { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: d >> (8 * UInt64(i)))) } }
        for b in bitPatterns { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: b >> (8 * UInt32(i)))) } }
        return out
    }

    public static func isValid(_ bytes: [UInt8], tokens: UInt32, hidden: UInt32) -> Bool {
        let header = 6 + 16
        let elements = UInt64(tokens) * UInt64(hidden)
        guard bytes.count == header + Int(elements) * 4, bytes.count >= header,
              bytes[0] == 0x54, bytes[1] == 0x4E, bytes[2] == 0x53, bytes[3] == 0x31, bytes[4] == 1, bytes[5] == 2
        else { return false }
        func u64(_ at: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[at + i]) }
            return v
        }
        guard u64(6) == UInt64(tokens), u64(14) == UInt64(hidden) else { return false }
        var i = header
        while i < bytes.count {
            let bits = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            // Exponent all ones: infinity or NaN. 0x80000000: negative zero.
            if bits & 0x7F80_0000 == 0x7F80_0000 || bits == 0x8000_0000 { return false }
            i += 4
        }
        return true
    }
}

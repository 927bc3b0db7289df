import Primitives

extension Ticket {
    /// The sample number of a hop ticket (an answered hop challenge): no drawn sample has it.
    public static let hopSample = UInt32.max

    /// Whether this ticket is an answered hop challenge rather than a drawn sample.
    public var isHopTicket: Bool { sample == Ticket.hopSample }
}

extension HopChallenge {
    /// The bond the chain holds for it: the whole bond while open or answered (held until the worker's payout judges
    /// the answer), nothing once paid out (unanswered, or answered with a reused pass).
    public var heldBond: UInt64 { status == .open || status == .answered ? bond.units : 0 }
}

extension PoolConfig {
    /// Whether a hop answer in this pool carries the pass's input. A pool with checkers keeps inputs off chain (they are
    /// sealed to its checkers), so there an answer is the leaf and its path alone and a fraud claim supplies the input
    /// (Specs/economics.md §4.1).
    public var hopAnswersCarryInput: Bool { checking == nil }

    /// Bytes of an answer besides its input that the bond pays for: the transaction's fixed fields, the leaf and a path of
    /// up to 32 nodes (112 bytes each) fit in 4 096.
    public static let hopAnswerOverheadBytes: UInt64 = 4096

    /// The bond of a hop challenge: the fraud-claim bond plus the minimum fee of the largest answer, its input (none in
    /// a pool with checkers) plus `hopAnswerOverheadBytes` (Specs/economics.md §4.1), so an honest worker's answer is
    /// paid for. Nil on overflow.
    public func hopChallengeBond(minFeePerByte: UInt64) -> Amount? {
        let answerInput: UInt64 = hopAnswersCarryInput ? UInt64(maxInputTensorBytes) : 0
        let (inputFee, o1) = minFeePerByte.multipliedReportingOverflow(by: answerInput + Self.hopAnswerOverheadBytes)
        let (total, o2) = fraudProofBond.units.addingReportingOverflow(inputFee)
        return o1 || o2 ? nil : Amount(total)
    }
}

extension Execution {
    /// Whoever holds a worker's hop receipt challenges it (Specs/economics.md §4.1): after the window's commit deadline,
    /// while its samples are drawn, the worker must show the served pass in one of its commitments of the window and
    /// shard. The sender need not be the receipt's holder: the receipt is the worker's own statement, anyone it reaches
    /// may hold the worker to it at the price of the bond, and so a client can challenge from an account that is not
    /// its escrow's (Privacy, §4.1).
    mutating func hopChallenge(_ sender: PublicKey, receipt: HopReceipt) throws(ExecError) {
        guard let pool = try poolConfig(receipt.pool) else { throw .failed(.unknownPool) }
        guard Int(receipt.shard) < pool.shards.count else { throw .failed(.unknownShard) }
        guard receipt.tokenCount >= 1, receipt.tokenCount <= pool.maxTokensPerPass else { throw .failed(.invalidReceipt) }
        // Window numbers compared first, so no deadline of an absurd window is computed.
        guard receipt.window <= pool.window(ofHeight: height) else { throw .failed(.hopChallengeClosed) }
        let deadline = pool.commitDeadline(ofWindow: receipt.window)
        guard height > deadline, height - deadline <= params.selectionDelayBound else { throw .failed(.hopChallengeClosed) }
        let id = receipt.signingHash(chainId: ledger.chainId)
        // A check verified ahead of execution (`voucherSignatures(in:state:)`) is accepted only for this very worker,
        // receipt hash and signature.
        guard verifiedVouchers.contains(VoucherSignature(owner: receipt.worker, digest: id, signature: receipt.signature))
                || receipt.worker.verify(receipt.signature, digest: id) else { throw .failed(.badReceiptSignature) }
        let key = StateKey.hopChallenge(receipt.pool, receipt.window, receipt.worker, id)
        guard try !state.exists(key) else { throw .failed(.duplicateHopChallenge) }
        // Only paid work is worth protecting: a worker that claimed nothing for the shard is paid nothing for it.
        let work = try state.record(StateKey.workRecord(receipt.pool, receipt.window, receipt.worker), WorkRecord.self)
        guard let paid = work?.shards.first(where: { $0.shard == receipt.shard })?.paidTokens, paid > 0 else {
            throw .failed(.nothingToChallenge)
        }
        // A forfeited window pays nothing (every unit goes back to its payers), so there is nothing to protect; and the
        // jail that came with the forfeiture keeps the worker from committing the passes it served, so an unanswerable
        // challenge would only slash it a second time (tenth review; the same guard as claimUsage's, row 74).
        guard try !isForfeited(receipt.worker, pool: receipt.pool, window: receipt.window) else { throw .failed(.workerForfeited) }
        guard let bond = pool.hopChallengeBond(minFeePerByte: params.minFeePerByte) else { throw .failed(.amountOverflow) }
        try state.debit(sender, bond)
        let answerBy = height &+ pool.revealDeadlineBlocks
        state.put(key, HopChallenge(challenger: sender, shard: receipt.shard, contentKey: receipt.contentKey, outputHash: receipt.outputHash,
                                    tokenCount: receipt.tokenCount, bond: bond, height: height, deadline: answerBy))
        state.putRaw(StateKey.hopDeadlineQueue(answerBy, receipt.pool, receipt.window, receipt.worker, id), [])
        txEvents.append(.hopChallenged(challengeId: id, pool: receipt.pool, window: receipt.window, shard: receipt.shard,
                                       worker: receipt.worker, challenger: sender, bond: bond, deadline: answerBy))
    }

    /// The worker answers a hop challenge with the receipt's leaf in one of its commitments of the window and shard, and
    /// the pass's input, except in a pool with checkers, whose inputs stay off chain (the answer carries none; a fraud
    /// claim supplies it, as any public claim does). The leaf becomes a hop ticket, revealed: the revealed-pass index
    /// judges it, and fraud claims may target it like any revealed ticket.
    mutating func answerHopChallenge(_ sender: PublicKey, challengeId: Hash32, commitmentId: Hash32, proof: LeafProof,
                                     input: [UInt8], txId: Hash32) throws(ExecError) {
        guard let c = try state.record(StateKey.commitment(commitmentId), Commitment.self), c.worker == sender else {
            throw .failed(.unknownHopChallenge)
        }
        let key = StateKey.hopChallenge(c.pool, c.window, sender, challengeId)
        guard var challenge = try state.record(key, HopChallenge.self) else { throw .failed(.unknownHopChallenge) }
        guard height <= challenge.deadline else { throw .failed(.revealDeadlinePassed) }
        guard challenge.status == .open else { throw .failed(.hopChallengeAnswered) }
        guard let pool = try poolConfig(c.pool) else { throw .fault(LedgerFault("commitment of unknown pool")) }
        let leaf = proof.leaf
        guard c.shard == challenge.shard, leaf.shard == c.shard, leaf.tokenCount == challenge.tokenCount,
              leaf.outputHash == challenge.outputHash, leaf.contentKey == challenge.contentKey else {
            throw .failed(.receiptMismatch)
        }
        guard let offset = SumTree.verify(proof, leafCount: c.leafCount, root: c.root, tokenTotal: c.tokenTotal) else {
            throw .failed(.invalidSumProof)
        }
        if pool.hopAnswersCarryInput {
            try checkRevealedInput(input, of: leaf, pool: pool)
        } else {
            // Publishing it would undo the sealing of the pass that every sampled reveal of this pool keeps.
            guard input.isEmpty else { throw .failed(.inputInClear) }
        }
        let ticketId = LedgerIds.hopTicket(challenge: challengeId)
        let ticket = Ticket(commitmentId: commitmentId, sample: Ticket.hopSample, point: offset, worker: sender, pool: c.pool,
                            window: c.window, shard: c.shard, status: .awaitingReveal, selectedHeight: challenge.height,
                            revealDeadline: challenge.deadline,
                            challengeEnd: pool.challengeEnd(ofWindow: c.window, beaconDelay: params.selectionDelayBound))
        let status = try recordReveal(sender, ticketId: ticketId, ticket, c, leaf: leaf, pool: pool, txId: txId)
        // The challenger caught a pass sold twice: its bond comes back now. Otherwise it pays for the worker's answer,
        // but only once the answer has stood: it is held until the worker's payout, when a hop ticket proven
        // fraudulent returns it to the challenger instead (`pruneHopChallenges`). Paid at the answer, a garbage
        // answer earned the cheater the bond of the client that caught it (tenth note, staking F3).
        let bondTo = status == .reused ? challenge.challenger : sender
        if status == .reused { try state.credit(bondTo, challenge.bond) }
        challenge.status = status == .reused ? .reused : .answered
        challenge.ticketId = ticketId
        state.put(key, challenge)
        txEvents.append(.hopChallengeAnswered(challengeId: challengeId, ticketId: ticketId, bondTo: bondTo, bond: challenge.bond))
    }

    /// Hop challenges whose answer deadline is this block and that are still open: the bond goes back to the challenger and
    /// the worker is convicted (one offence per pool, window and worker), unless its work in the window was forfeited
    /// after the challenge was sent: the window then pays nothing, and the conviction that forfeited it punished it.
    mutating func expireHopChallenges() throws(ExecError) {
        let prefix = StateKey.hopDeadlineQueue(at: height)
        for kv in try state.scan(prefix) {
            state.delete(kv.key)
            // The rest of the queue key is the challenge's key: pool ‖ window ‖ worker ‖ challengeId.
            let rest = Array(kv.key[prefix.count...])
            guard rest.count == 4 + 8 + 32 + 32, let worker = PublicKey(bytes: rest[12..<44]),
                  let id = Hash32(bytes: rest[44..<76]) else {
                throw .fault(LedgerFault("corrupt hop deadline key \(kv.key.hex)"))
            }
            let poolId = UInt32(bigEndianBytes: rest[0..<4]), w = UInt64(bigEndianBytes: rest[4..<12])
            let key = StateKey.hopChallenge(poolId, w, worker, id)
            guard var challenge = try state.record(key, HopChallenge.self), challenge.status == .open else { continue }
            guard let pool = try poolConfig(poolId) else { throw .fault(LedgerFault("hop challenge of unknown pool")) }
            challenge.status = .unanswered
            state.put(key, challenge)
            try state.credit(challenge.challenger, challenge.bond)
            systemEvents.append(.hopChallengeUnanswered(challengeId: id, worker: worker, challenger: challenge.challenger, bond: challenge.bond))
            guard try !isForfeited(worker, pool: poolId, window: w) else { continue }
            let slashed = try convict(worker, pool: pool, offence: LedgerIds.hopOffence(pool: poolId, window: w, worker: worker),
                                      offenceHeight: pool.closeHeight(ofWindow: w), kind: .unansweredHopChallenge, into: .system)
            try state.burn(slashed)
        }
    }

    /// Deletes a worker's hop challenges of a window and their hop tickets (at its payout), paying each held bond: to
    /// the worker for an answer that stood, back to the challenger for one proven fraudulent. The window settled
    /// only after every claim on its tickets was judged, so the hop ticket's status is final here.
    mutating func pruneHopChallenges(pool: UInt32, window w: UInt64, worker: PublicKey) throws(ExecError) {
        let prefix = StateKey.hopChallenges(pool, w, worker)
        for kv in try state.scan(prefix) {
            state.delete(kv.key)
            let challenge: HopChallenge
            do { challenge = try HopChallenge(canonicalEncoding: kv.value) } catch { throw .fault(LedgerFault("corrupt hop challenge")) }
            guard challenge.status == .answered || challenge.status == .reused else { continue }
            let ticketKey = StateKey.ticket(challenge.ticketId)
            if challenge.status == .answered {
                guard let ticket = try state.record(ticketKey, Ticket.self), let id = Hash32(bytes: kv.key.suffix(32)) else {
                    throw .fault(LedgerFault("answered hop challenge \(kv.key.hex) without its hop ticket"))
                }
                let to = ticket.status == .fraudProven ? challenge.challenger : worker
                try state.credit(to, challenge.bond)
                txEvents.append(.hopBondPaid(challengeId: id, to: to, bond: challenge.bond))
            }
            state.delete(ticketKey)
        }
    }
}

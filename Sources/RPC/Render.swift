import Consensus
import Ledger
import Primitives
import Storage
import Synchronization

/// JSON forms of chain and ledger values (Specs/rpc.md, "Value formats"): hashes and byte strings as
/// 0x-hex, amounts as decimal strings, heights and counts as numbers, keys as bech32m addresses with the
/// chain's prefix.
public struct Render: Sendable {
    /// The address prefix (genesis `addressPrefix`).
    public let hrp: String
    let addresses = AddressCache()

    /// Rendering for a chain whose addresses use `hrp`.
    public init(hrp: String) { self.hrp = hrp }

    /// bech32m costs microseconds per key and the same keys recur in every block: cached.
    public func address(_ k: PublicKey) -> JSON { .string(addresses.encode(k, hrp: hrp)) }
    /// `0x` + hex.
    public func hash(_ h: Hash32) -> JSON { .string("0x" + h.hex) }
    func amount(_ a: Amount) -> JSON { .decimal(a.units) }
    func signature(_ s: Signature) -> JSON { .string("0x" + s.hex) }

    func role(_ r: StakeRole) -> JSON {
        switch r {
        case .validator: return .object(["type": "validator"])
        case .worker(let p): return .object(["type": "worker", "pool": .int(UInt64(p))])
        case .checker(let p): return .object(["type": "checker", "pool": .int(UInt64(p))])
        }
    }

    // MARK: Blocks

    /// A header with its hash and the proposer's signature.
    func header(_ h: SignedHeader) -> JSONObject {
        let x = h.header
        return [
            "hash": hash(h.hash), "height": .int(x.height), "slot": .int(x.slot), "parent": hash(x.parent),
            "timestamp": .int(x.timestamp), "proposer": address(x.proposer), "version": .int(UInt64(x.version)),
            "chainId": hash(x.chainId), "randaoReveal": hash(x.randaoReveal), "txRoot": hash(x.txRoot),
            "receiptsRoot": hash(x.receiptsRoot), "stateRoot": hash(x.stateRoot), "signature": signature(h.signature),
        ]
    }

    /// A block: the header, then `transactions` as hashes or as full objects.
    func block(_ h: SignedHeader, _ txs: [SignedTransaction], full: Bool, canonical: Bool, finalized: Bool, size: Int) -> JSON {
        block(h, transactionCount: txs.count, transactions: transactions(h, txs, full: full), canonical: canonical, finalized: finalized, size: size)
    }

    /// The `transactions` member of a block: hashes, or full objects with their positions.
    func transactions(_ h: SignedHeader, _ txs: [SignedTransaction], full: Bool) -> JSON {
        .array(txs.enumerated().map { i, t in
            full ? .object(transaction(t, location: TxPlace(blockHash: h.hash, height: h.header.height, position: UInt32(i)))) : hash(t.id)
        })
    }

    /// A block around an already-rendered `transactions` member.
    func block(_ h: SignedHeader, transactionCount: Int, transactions: JSON, canonical: Bool, finalized: Bool, size: Int) -> JSON {
        var o = header(h)
        o["size"] = .int(size)
        o["canonical"] = .bool(canonical)
        o["finalized"] = .bool(finalized)
        o["transactionCount"] = .int(transactionCount)
        o["transactions"] = transactions
        return .object(o)
    }

    // MARK: Transactions

    /// Where a transaction sits in a block.
    public struct TxPlace: Sendable {
        /// The block.
        public let blockHash: Hash32
        /// Its height.
        public let height: UInt64
        /// Index in the block.
        public let position: UInt32

        /// A place.
        public init(blockHash: Hash32, height: UInt64, position: UInt32) {
            self.blockHash = blockHash; self.height = height; self.position = position
        }
    }

    /// A transaction object (Specs/rpc.md, "tx"), with its place when included.
    public func transaction(_ st: SignedTransaction, location: TxPlace?) -> JSONObject {
        let t = st.transaction
        var o: JSONObject = [
            "hash": hash(st.id), "sender": address(t.sender), "nonce": .int(t.nonce), "fee": amount(t.fee),
            "kind": .string(t.body.kindName), "body": .object(body(t)), "signature": signature(st.signature),
            "size": .int(st.encodedSize), "chainId": hash(t.chainId),
        ]
        if let location {
            o["blockHash"] = hash(location.blockHash)
            o["blockHeight"] = .int(location.height)
            o["position"] = .int(UInt64(location.position))
        }
        return o
    }

    /// A short form for mempool listings and pending-transaction notifications (no bulky bodies).
    func transactionSummary(_ st: SignedTransaction) -> JSON {
        let t = st.transaction
        return .object(["hash": hash(st.id), "sender": address(t.sender), "nonce": .int(t.nonce), "fee": amount(t.fee),
                        "kind": .string(t.body.kindName), "size": .int(st.encodedSize)])
    }

    func body(_ t: Transaction) -> JSONObject {
        switch t.body {
        case .transfer(let to, let a):
            return ["to": address(to), "amount": amount(a)]
        case .bond(let r, let a, let c):
            return ["role": role(r), "amount": amount(a), "randaoCommitment": c.map(hash) ?? .null]
        case .unbond(let r, let a):
            return ["role": role(r), "amount": amount(a)]
        case .escrowOpen(let p, let a, let e):
            return ["pool": .int(UInt64(p)), "amount": amount(a), "expiryHeight": .int(e),
                    "escrowId": hash(LedgerIds.escrow(owner: t.sender, nonce: t.nonce))]
        case .escrowTopUp(let id, let a, let e):
            return ["escrowId": hash(id), "amount": amount(a), "newExpiryHeight": e.map { .int($0) } ?? .null]
        case .escrowClose(let id):
            return ["escrowId": hash(id)]
        case .escrowAllocate(let id, let payee, let a):
            return ["escrowId": hash(id), "payee": address(payee), "amount": amount(a)]
        case .claimUsage(let v):
            return ["voucher": voucher(v)]
        case .claimUsageBatch(let vs):
            return ["vouchers": .array(vs.map(voucher))]
        case .commitShares(let p, let w, let s, let leaves, let tokens, let root):
            return ["pool": .int(UInt64(p)), "window": .int(w), "shard": .int(UInt64(s)), "leafCount": .int(UInt64(leaves)),
                    "tokenTotal": .int(tokens), "root": hash(root),
                    "commitmentId": hash(LedgerIds.commitment(worker: t.sender, pool: p, window: w, shard: s, root: root))]
        case .revealTicket(let id, let leaf, let left, let right, let input):
            return ["ticketId": hash(id), "leaf": leafProof(leaf), "left": left.map(leafProof) ?? .null,
                    "right": right.map(leafProof) ?? .null, "input": .hex(input), "inputSize": .int(input.count)]
        case .fraudCommit(let claim, let p):
            return ["claim": hash(claim), "pool": .int(UInt64(p))]
        case .fraudReveal(let id, let salt, let input):
            return ["ticketId": hash(id), "salt": hash(salt), "input": .hex(input), "inputSize": .int(input.count)]
        case .claimPayout(let p, let w, let worker):
            return ["pool": .int(UInt64(p)), "window": .int(w), "worker": address(worker)]
        case .doubleSignEvidence(let a, let b):
            return ["headerA": .hex(a), "headerB": .hex(b)]
        case .unjail(let r):
            return ["role": role(r)]
        case .finalityVotes(let votes):
            return ["votes": .array(votes.map(vote))]
        case .voteEvidence(let a, let b):
            return ["a": vote(a), "b": vote(b)]
        case .registerChecker(let p, let key):
            return ["pool": .int(UInt64(p)), "sealingKey": hash(key)]
        case .revealSealedTicket(let id, let leaf, let left, let right, let envelope):
            // The envelope is ciphertext for the ticket's checkers: its size, not its bytes, is what an explorer shows.
            return ["ticketId": hash(id), "leaf": leafProof(leaf), "left": left.map(leafProof) ?? .null,
                    "right": right.map(leafProof) ?? .null, "envelopeSize": .int(envelope.count)]
        case .checkCommit(let items):
            return ["items": .array(items.map { .object(["ticketId": hash($0.ticketId), "commitment": hash($0.commitment)]) })]
        case .unblindOutput(let items):
            return ["items": .array(items.map { .object(["ticketId": hash($0.ticketId), "outputHash": hash($0.outputHash), "salt": hash($0.salt)]) })]
        case .checkReveal(let items):
            return ["items": .array(items.map {
                .object(["ticketId": hash($0.ticketId), "answer": hash($0.answer), "nonce": hash($0.nonce),
                         "salt": $0.salt.map(hash) ?? .null])
            })]
        case .publishSealKey(let id, let k):
            return ["ticketId": hash(id), "ephemeralPrivateKey": hash(k)]
        case .publishSealedInput(let id, let input):
            return ["ticketId": hash(id), "input": .hex(input), "inputSize": .int(input.count)]
        case .hopChallenge(let r):
            return ["receipt": hopReceipt(r), "challengeId": hash(r.signingHash(chainId: t.chainId))]
        case .answerHopChallenge(let id, let c, let leaf, let input):
            return ["challengeId": hash(id), "commitmentId": hash(c), "leaf": leafProof(leaf), "input": .hex(input),
                    "inputSize": .int(input.count), "ticketId": hash(LedgerIds.hopTicket(challenge: id))]
        }
    }

    func checkpoint(_ c: Checkpoint) -> JSON { .object(["height": .int(c.height), "hash": hash(c.hash)]) }

    func vote(_ v: FinalityVote) -> JSON {
        .object(["validator": address(v.validator), "source": checkpoint(v.source), "target": checkpoint(v.target),
                 "signature": signature(v.signature)])
    }

    func passLeaf(_ l: PassLeaf) -> JSON {
        .object(["index": .int(UInt64(l.index)), "shard": .int(UInt64(l.shard)), "positionOffset": .int(l.positionOffset),
                 "tokenCount": .int(UInt64(l.tokenCount)), "inputHash": hash(l.inputHash), "outputHash": hash(l.outputHash),
                 "contentKey": hash(l.contentKey)])
    }

    func leafProof(_ p: LeafProof) -> JSON {
        .object(["leaf": passLeaf(p.leaf),
                 "path": .array(p.path.map {
                     .object(["hash": hash($0.hash), "sum": .int($0.sum), "minKey": hash($0.minKey), "maxKey": hash($0.maxKey)])
                 })])
    }

    // MARK: Receipts and events

    func receipt(_ r: Receipt, index: Int, blockHash: Hash32, height: UInt64) -> JSON {
        var o: JSONObject = [
            "transactionHash": r.txId == .zero ? .null : hash(r.txId),
            "kind": r.txId == .zero ? "blockProcessing" : "transaction",
            "index": .int(index), "blockHash": hash(blockHash), "blockHeight": .int(height),
        ]
        switch r.status {
        case .success:
            o["status"] = "success"
            o["failure"] = .null
        case .failed(let reason):
            o["status"] = "failed"
            o["failure"] = failure(reason)
        }
        o["feePaid"] = amount(r.feePaid)
        o["events"] = .array(r.events.map(event))
        return .object(o)
    }

    func failure(_ f: FailureReason) -> JSON {
        .object(["code": .int(UInt64(f.rawValue)), "reason": .string(Render.failureName(f)), "message": .string(f.description)])
    }

    /// Stable camelCase name of a failure reason (the enum case name).
    static func failureName(_ f: FailureReason) -> String { String(describing: FailureReasonName(f)) }

    func event(_ e: Event) -> JSON {
        var o: JSONObject = ["type": .string(e.name)]
        switch e {
        case .transfer(let f, let t, let a): o["from"] = address(f); o["to"] = address(t); o["amount"] = amount(a)
        case .feePaid(let p, let q, let a): o["payer"] = address(p); o["proposer"] = address(q); o["amount"] = amount(a)
        case .bonded(let s, let r, let a): o["staker"] = address(s); o["role"] = role(r); o["amount"] = amount(a)
        case .unbondingStarted(let s, let r, let a, let id, let m):
            o["staker"] = address(s); o["role"] = role(r); o["amount"] = amount(a); o["entryId"] = .int(id); o["matureHeight"] = .int(m)
        case .unbonded(let s, let r, let a, let id):
            o["staker"] = address(s); o["role"] = role(r); o["amount"] = amount(a); o["entryId"] = .int(id)
        case .slashed(let s, let r, let a, let k, let id):
            o["staker"] = address(s); o["role"] = role(r); o["amount"] = amount(a); o["offence"] = .string(offence(k)); o["offenceId"] = hash(id)
        case .jailed(let s, let r, let u): o["staker"] = address(s); o["role"] = role(r); o["untilHeight"] = .int(u)
        case .unjailed(let s, let r): o["staker"] = address(s); o["role"] = role(r)
        case .tombstoned(let s): o["staker"] = address(s)
        case .voteCounted(let v, let t, let s): o["validator"] = address(v); o["targetHeight"] = .int(t); o["stake"] = amount(s)
        case .checkpointJustified(let h, let c), .checkpointFinalized(let h, let c): o["height"] = .int(h); o["hash"] = hash(c)
        case .escrowOpened(let id, let owner, let p, let a, let e):
            o["escrowId"] = hash(id); o["owner"] = address(owner); o["pool"] = .int(UInt64(p)); o["amount"] = amount(a); o["expiryHeight"] = .int(e)
        case .escrowToppedUp(let id, let a, let e): o["escrowId"] = hash(id); o["amount"] = amount(a); o["expiryHeight"] = .int(e)
        case .escrowClosed(let id, let r): o["escrowId"] = hash(id); o["refund"] = amount(r)
        case .usageClaimed(let id, let payee, let p, let shard, let w, let c, let f, let s):
            o["escrowId"] = hash(id); o["payee"] = address(payee); o["pool"] = .int(UInt64(p)); o["shard"] = .int(UInt64(shard))
            o["window"] = .int(w); o["charged"] = amount(c); o["fee"] = amount(f); o["shortfall"] = amount(s)
        case .sharesCommitted(let c, let wk, let p, let w, let shard, let t, let m):
            o["commitmentId"] = hash(c); o["worker"] = address(wk); o["pool"] = .int(UInt64(p)); o["window"] = .int(w)
            o["shard"] = .int(UInt64(shard)); o["tokenTotal"] = .int(t); o["samples"] = .int(UInt64(m))
        case .ticketSelected(let t, let c, let j, let point, let d):
            o["ticketId"] = hash(t); o["commitmentId"] = hash(c); o["sample"] = .int(UInt64(j)); o["point"] = .int(point)
            o["revealDeadline"] = .int(d)
        case .ticketRevealed(let t, let i, let end): o["ticketId"] = hash(t); o["leafIndex"] = .int(UInt64(i)); o["challengeEnd"] = .int(end)
        case .revealWithheld(let t, let wk): o["ticketId"] = hash(t); o["worker"] = address(wk)
        case .fraudProven(let t, let wk, let s, let b):
            o["ticketId"] = hash(t); o["worker"] = address(wk); o["slashed"] = amount(s); o["bounty"] = amount(b)
        case .fraudRejected(let t, let b): o["ticketId"] = hash(t); o["bondsBurned"] = amount(b)
        case .sharesForfeited(let p, let wk, let t):
            o["pool"] = .int(UInt64(p)); o["worker"] = address(wk); o["throughWindow"] = .int(t)
        case .escrowUnlocking(let id, let u): o["escrowId"] = hash(id); o["untilHeight"] = .int(u)
        case .windowSettled(let p, let w, let e): o["pool"] = .int(UInt64(p)); o["window"] = .int(w); o["earned"] = amount(e)
        case .payoutCredited(let p, let w, let wk, let paid, let refunded):
            o["pool"] = .int(UInt64(p)); o["window"] = .int(w); o["worker"] = address(wk); o["paid"] = amount(paid)
            o["refunded"] = amount(refunded)
        case .escrowAllocated(let id, let payee, let a): o["escrowId"] = hash(id); o["payee"] = address(payee); o["amount"] = amount(a)
        case .fraudCommitted(let c, let p, let b): o["claim"] = hash(c); o["prover"] = address(p); o["bond"] = amount(b)
        case .fraudClaimOpened(let t, let c, let p): o["ticketId"] = hash(t); o["claim"] = hash(c); o["prover"] = address(p)
        case .bountyPaid(let t, let p, let b, let bond):
            o["ticketId"] = hash(t); o["prover"] = address(p); o["bounty"] = amount(b); o["bond"] = amount(bond)
        case .fraudBondReturned(let c, let p, let a): o["claim"] = hash(c); o["prover"] = address(p); o["amount"] = amount(a)
        case .fraudBondBurned(let c, let p, let a): o["claim"] = hash(c); o["prover"] = address(p); o["amount"] = amount(a)
        case .ticketVoided(let t, let first): o["ticketId"] = hash(t); o["firstWorker"] = address(first)
        case .passReused(let t, let wk): o["ticketId"] = hash(t); o["worker"] = address(wk)
        case .refundCredited(let p, let w, let wk, let owner, let a):
            o["pool"] = .int(UInt64(p)); o["window"] = .int(w); o["worker"] = address(wk); o["owner"] = address(owner)
            o["amount"] = amount(a)
        case .checkerRegistered(let p, let c, let k): o["pool"] = .int(UInt64(p)); o["checker"] = address(c); o["sealingKey"] = hash(k)
        case .checkersAssigned(let t, let cs): o["ticketId"] = hash(t); o["checkers"] = .array(cs.map(address))
        case .checkersUnavailable(let t), .sealedInputPublished(let t): o["ticketId"] = hash(t)
        case .answerCommitted(let t, let c): o["ticketId"] = hash(t); o["checker"] = address(c)
        case .outputUnblinded(let t, let out), .checkPassed(let t, let out): o["ticketId"] = hash(t); o["outputHash"] = hash(out)
        case .answerRevealed(let t, let c, let a): o["ticketId"] = hash(t); o["checker"] = address(c); o["answer"] = hash(a)
        case .checkerAbsent(let t, let c, let b): o["ticketId"] = hash(t); o["checker"] = address(c); o["benchedUntil"] = .int(b)
        case .disputeOpened(let t, let d): o["ticketId"] = hash(t); o["keyDeadline"] = .int(d)
        case .sealedCheckFailed(let t, let wk, let r):
            o["ticketId"] = hash(t); o["worker"] = address(wk)
            switch r {
            case .notUnblinded: o["reason"] = "notUnblinded"
            case .sealKeyWithheld: o["reason"] = "sealKeyWithheld"
            case .badEnvelope: o["reason"] = "badEnvelope"
            }
        case .checkFeeOwed(let t, let c, let a): o["ticketId"] = hash(t); o["checker"] = address(c); o["amount"] = amount(a)
        case .checkFeePaid(let p, let w, let wk, let t, let c, let a):
            o["pool"] = .int(UInt64(p)); o["window"] = .int(w); o["worker"] = address(wk); o["ticketId"] = hash(t); o["checker"] = address(c)
            o["amount"] = amount(a)
        case .disputeBountyPaid(let t, let to, let a): o["ticketId"] = hash(t); o["to"] = address(to); o["amount"] = amount(a)
        case .hopChallenged(let id, let p, let w, let s, let wk, let h, let b, let d):
            o["challengeId"] = hash(id); o["pool"] = .int(UInt64(p)); o["window"] = .int(w); o["shard"] = .int(UInt64(s))
            o["worker"] = address(wk); o["challenger"] = address(h); o["bond"] = amount(b); o["deadline"] = .int(d)
        case .hopChallengeAnswered(let id, let t, let to, let b):
            o["challengeId"] = hash(id); o["ticketId"] = hash(t); o["bondTo"] = address(to); o["bond"] = amount(b)
        case .hopChallengeUnanswered(let id, let wk, let h, let b):
            o["challengeId"] = hash(id); o["worker"] = address(wk); o["challenger"] = address(h); o["bond"] = amount(b)
        case .hopBondPaid(let id, let to, let b):
            o["challengeId"] = hash(id); o["to"] = address(to); o["bond"] = amount(b)
        }
        return .object(o)
    }

    func offence(_ k: OffenceKind) -> String {
        switch k {
        case .fraud: return "fraud"
        case .withheldReveal: return "withheldReveal"
        case .equivocation: return "equivocation"
        case .reusedPass: return "reusedPass"
        case .missedSlot: return "missedSlot"
        case .finalityVote: return "finalityVote"
        case .checkerAbsent: return "checkerAbsent"
        case .falseAlarm: return "falseAlarm"
        case .checkerCollusion: return "checkerCollusion"
        case .failedSealedCheck: return "failedSealedCheck"
        case .unansweredHopChallenge: return "unansweredHopChallenge"
        }
    }

    // MARK: Ledger records

    func staker(_ s: Staker) -> JSONObject {
        var o: JSONObject = ["stake": amount(s.stake)]
        switch s.status {
        case .active: o["status"] = "active"; o["jailedUntil"] = .null
        case .jailed(let until): o["status"] = "jailed"; o["jailedUntil"] = .int(until)
        case .tombstoned: o["status"] = "tombstoned"; o["jailedUntil"] = .null
        }
        o["randaoCommitment"] = hash(s.randaoCommitment)
        o["since"] = .int(s.since)
        return o
    }

    func unbonding(_ id: UInt64, _ e: UnbondingEntry) -> JSON {
        .object(["entryId": .int(id), "amount": amount(e.amount), "createdHeight": .int(e.createdHeight), "matureHeight": .int(e.matureHeight)])
    }

    func hopReceipt(_ r: HopReceipt) -> JSON {
        .object(["pool": .int(UInt64(r.pool)), "shard": .int(UInt64(r.shard)), "window": .int(r.window), "worker": address(r.worker),
                 "holder": address(r.holder), "contentKey": hash(r.contentKey), "outputHash": hash(r.outputHash),
                 "tokenCount": .int(UInt64(r.tokenCount)), "signature": signature(r.signature)])
    }

    func voucher(_ v: UsageVoucher) -> JSON {
        .object(["chainId": hash(v.chainId), "escrowId": hash(v.escrowId), "payee": address(v.payee),
                 "shard": .int(UInt64(v.shard)), "window": .int(v.window),
                 "cumulativeInputTokens": .int(v.cumulativeInputTokens),
                 "cumulativeOutputTokens": .int(v.cumulativeOutputTokens),
                 "signature": signature(v.signature)])
    }

    func escrow(_ id: Hash32, _ e: Escrow) -> JSON {
        let status: String, unlock: JSON
        switch e.status {
        case .open: status = "open"; unlock = .null
        case .unlocking(let until): status = "unlocking"; unlock = .int(until)
        }
        return .object(["escrowId": hash(id), "owner": address(e.owner), "pool": .int(UInt64(e.pool)), "balance": amount(e.balance),
                        "allocated": amount(e.allocated), "expiryHeight": .int(e.expiryHeight), "openedHeight": .int(e.openedHeight),
                        "totalCharged": amount(e.totalCharged), "shortfall": amount(e.shortfall), "status": .string(status),
                        "unlockHeight": unlock, "encoded": .hex(e.canonicalEncoding)])
    }

    func pool(_ p: PoolConfig, beaconDelay: UInt64) -> JSON {
        let m = p.model
        return .object([
            "id": .int(UInt64(p.id)), "modelId": .string(p.modelId), "executorSpec": .string(p.executorSpec),
            "model": .object(["hiddenSize": .int(UInt64(m.hiddenSize)), "numHeads": .int(UInt64(m.numHeads)),
                              "numKVHeads": .int(UInt64(m.numKVHeads)), "headDim": .int(UInt64(m.headDim)),
                              "intermediateSize": .int(UInt64(m.intermediateSize)), "numLayers": .int(UInt64(m.numLayers)),
                              "rmsNormEpsBits": .string(hex32(m.rmsNormEpsBits)), "ropeThetaBits": .string(hex32(m.ropeThetaBits)),
                              "qkvBias": .bool(m.qkvBias)]),
            "shards": .array(p.shards.enumerated().map { i, s in
                .object(["index": .int(i), "layerStart": .int(UInt64(s.layerStart)), "layerEnd": .int(UInt64(s.layerEnd)),
                         "finalNorm": .bool(s.finalNorm), "weightsSHA256": hash(s.weightsSHA256),
                         "priceInputToken": amount(s.priceInputToken), "priceOutputToken": amount(s.priceOutputToken)])
            }),
            "minWorkerStake": amount(p.minWorkerStake), "windowBlocks": .int(p.windowBlocks),
            "commitGraceBlocks": .int(p.commitGraceBlocks), "challengeBlocks": .int(p.challengeBlocks),
            "spotCheckPpm": .int(UInt64(p.spotCheckPpm)), "maxTicketsPerCommitment": .int(UInt64(p.maxTicketsPerCommitment)),
            "ticketFee": amount(p.ticketFee), "revealDeadlineBlocks": .int(p.revealDeadlineBlocks),
            "fraudRevealBlocks": .int(p.fraudRevealBlocks), "fraudSlashBps": .int(UInt64(p.fraudSlashBps)),
            "verifierBountyBps": .int(UInt64(p.verifierBountyBps)), "fraudProofBond": amount(p.fraudProofBond),
            "maxTokensPerPass": .int(UInt64(p.maxTokensPerPass)), "payableCapBps": .int(UInt64(p.payableCapBps)),
            "minReplayProbabilityBps": .int(UInt64(p.minReplayProbabilityBps)),
            "settlementHorizon": .int(p.settlementHorizon(beaconDelay: beaconDelay)),
            "encoded": .hex(p.canonicalEncoding),
        ])
    }

    func hex32(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    func windowStatus(_ s: WindowStatus) -> String {
        switch s {
        case .open: return "open"
        case .awaitingAdjudication: return "awaitingAdjudication"
        case .settled: return "settled"
        }
    }

    func window(pool: PoolConfig, index w: UInt64, beaconDelay: UInt64, _ r: WindowRecord) -> JSON {
        .object([
            "pool": .int(UInt64(pool.id)), "window": .int(w), "status": .string(windowStatus(r.status)),
            "startHeight": .int(pool.startHeight(ofWindow: w)), "closeHeight": .int(pool.closeHeight(ofWindow: w)),
            "commitDeadline": .int(pool.commitDeadline(ofWindow: w)),
            "challengeEnd": .int(pool.challengeEnd(ofWindow: w, beaconDelay: beaconDelay)),
            "settleHeight": .int(pool.settleHeight(ofWindow: w, beaconDelay: beaconDelay)),
            "earned": amount(r.earned), "feesBurned": amount(r.feesBurned), "commitments": .int(r.commitments),
            "tickets": .int(r.tickets), "pendingAdjudications": .int(r.pendingAdjudications),
            "paid": amount(r.paid), "refunded": amount(r.refunded), "unpaidWorkers": .int(r.unpaidWorkers),
            "encoded": .hex(r.canonicalEncoding),
        ])
    }

    func work(_ worker: PublicKey, _ w: WorkRecord) -> JSON {
        .object([
            "worker": address(worker), "payers": .int(UInt64(w.payers)), "earned": amount(Amount(w.earned)),
            "shards": .array(w.shards.map { s in
                .object(["shard": .int(UInt64(s.shard)), "paidTokens": .int(s.paidTokens), "earned": amount(s.earned),
                         "committedTokens": .int(s.committedTokens), "commitments": .int(UInt64(s.commitments))])
            }),
            "encoded": .hex(w.canonicalEncoding),
        ])
    }

    /// A hop challenge (Specs/economics.md §4.1) under its pool, window and worker.
    func hopChallenge(pool: UInt32, window: UInt64, worker: PublicKey, id: Hash32, _ c: HopChallenge) -> JSON {
        let status: String
        switch c.status {
        case .open: status = "open"
        case .answered: status = "answered"
        case .unanswered: status = "unanswered"
        case .reused: status = "reused"
        }
        return .object([
            "challengeId": hash(id), "pool": .int(UInt64(pool)), "window": .int(window), "worker": address(worker),
            "challenger": address(c.challenger), "shard": .int(UInt64(c.shard)), "contentKey": hash(c.contentKey), "outputHash": hash(c.outputHash),
            "tokenCount": .int(UInt64(c.tokenCount)), "bond": amount(c.bond), "height": .int(c.height), "deadline": .int(c.deadline),
            "status": .string(status), "ticketId": c.status == .answered || c.status == .reused ? hash(c.ticketId) : .null,
            "bondHeld": .bool(c.heldBond > 0),
            "encoded": .hex(c.canonicalEncoding),
        ])
    }

    static func ticketStatusName(_ s: TicketStatus) -> String {
        switch s {
        case .awaitingReveal: return "awaitingReveal"
        case .revealed: return "revealed"
        case .withheld: return "withheld"
        case .fraudProven: return "fraudProven"
        case .upheld: return "upheld"
        case .voided: return "voided"
        case .reused: return "reused"
        }
    }

    func ticket(_ id: Hash32, _ t: Ticket) -> JSONObject {
        [
            "ticketId": hash(id), "commitmentId": hash(t.commitmentId), "sample": .int(UInt64(t.sample)), "point": .int(t.point),
            "worker": address(t.worker), "pool": .int(UInt64(t.pool)), "window": .int(t.window), "shard": .int(UInt64(t.shard)),
            "status": .string(Render.ticketStatusName(t.status)), "selectedHeight": .int(t.selectedHeight),
            "revealDeadline": .int(t.revealDeadline), "leaf": t.leaf.map(passLeaf) ?? .null,
            "revealedHeight": t.leaf == nil ? .null : .int(t.revealedHeight),
            "revealTransaction": t.leaf == nil ? .null : hash(t.revealTx),
            "challengeEnd": .int(t.challengeEnd), "encoded": .hex(t.canonicalEncoding),
        ]
    }

    static func checkStatusName(_ s: CheckStatus) -> String {
        switch s {
        case .assigned: return "assigned"
        case .checking: return "checking"
        case .passed: return "passed"
        case .disputed: return "disputed"
        case .replaying: return "replaying"
        case .fraud: return "fraud"
        case .upheld: return "upheld"
        case .failed: return "failed"
        }
    }

    /// A sealed ticket's check: its checkers in assignment order with their answers, and where it stands.
    func sealedCheck(_ c: SealedCheck) -> JSON {
        .object([
            "status": .string(Render.checkStatusName(c.status)),
            "checkers": .array(c.slots.map { s in
                .object(["checker": address(s.checker), "sealingKey": hash(s.sealingKey), "committed": .bool(s.commitment != .zero),
                         "answer": s.answer.map(hash) ?? .null,
                         "matches": s.answer.flatMap { a in c.unblinded.map { .bool(a == $0) } } ?? .null])
            }),
            "revealHeight": c.revealHeight == 0 ? .null : .int(c.revealHeight),
            "unblindedOutputHash": c.unblinded.map(hash) ?? .null,
            "keyDeadline": c.keyDeadline == 0 ? .null : .int(c.keyDeadline),
            "encoded": .hex(c.canonicalEncoding),
        ])
    }

    func commitment(_ id: Hash32, _ c: Commitment, drawn: Bool) -> JSON {
        .object([
            "commitmentId": hash(id), "worker": address(c.worker), "pool": .int(UInt64(c.pool)), "window": .int(c.window),
            "shard": .int(UInt64(c.shard)), "leafCount": .int(UInt64(c.leafCount)), "tokenTotal": .int(c.tokenTotal),
            "root": hash(c.root), "includedHeight": .int(c.includedHeight), "selectionHeight": .int(c.selectionHeight),
            "selectionDone": .bool(drawn), "samples": .int(UInt64(c.samples)), "voided": .int(UInt64(c.voided)),
            "coveredTokens": .int(c.coveredTokens), "encoded": .hex(c.canonicalEncoding),
        ])
    }

    static func caseStatusName(_ s: FraudCaseStatus) -> String {
        switch s {
        case .pending: return "pending"
        case .fraud: return "fraudProven"
        case .upheld: return "upheld"
        case .paid: return "paid"
        }
    }

    func fraudCase(_ f: FraudCase) -> JSON {
        .object([
            "ticketId": hash(f.ticketId), "worker": address(f.worker), "pool": .int(UInt64(f.pool)), "window": .int(f.window),
            "status": .string(Render.caseStatusName(f.status)),
            "fraud": f.status == .pending ? .null : .bool(f.status == .fraud || f.status == .paid),
            "openedHeight": .int(f.openedHeight), "adjudicatedHeight": f.status == .pending ? .null : .int(f.adjudicatedHeight),
            "canonicalOutputHash": hash(f.canonicalOutputHash), "slashed": amount(f.slashed), "bounty": amount(f.bounty),
            "winner": f.status == .fraud || f.status == .paid ? address(f.winner) : .null,
            "bondsBurned": amount(f.bondsBurned), "claims": .int(UInt64(f.claims)), "finalHeight": .int(f.finalHeight),
            "encoded": .hex(f.canonicalEncoding),
        ])
    }
}

/// Bounded memo of bech32m addresses (cleared when full: a simple bound, and keys of active accounts return).
final class AddressCache: Sendable {
    private let map = Mutex<[PublicKey: String]>([:])
    static let capacity = 65_536

    func encode(_ k: PublicKey, hrp: String) -> String {
        if let s = map.withLock({ $0[k] }) { return s }
        let s = Address.encode(k, hrp: hrp)
        map.withLock { m in
            if m.count >= Self.capacity { m.removeAll(keepingCapacity: true) }
            m[k] = s
        }
        return s
    }
}

/// Mirrors a failure reason's case name (`String(describing:)` of the enum would give its description).
struct FailureReasonName: CustomStringConvertible {
    let reason: FailureReason
    init(_ r: FailureReason) { reason = r }
    var description: String {
        switch reason {
        case .insufficientBalance: return "insufficientBalance"
        case .amountOverflow: return "amountOverflow"
        case .zeroAmount: return "zeroAmount"
        case .unknownPool: return "unknownPool"
        case .belowMinimumStake: return "belowMinimumStake"
        case .missingRandaoCommitment: return "missingRandaoCommitment"
        case .insufficientStake: return "insufficientStake"
        case .tooManyUnbondingEntries: return "tooManyUnbondingEntries"
        case .tombstoned: return "tombstoned"
        case .jailed: return "jailed"
        case .unknownEscrow: return "unknownEscrow"
        case .notEscrowOwner: return "notEscrowOwner"
        case .escrowNotExpired: return "escrowNotExpired"
        case .escrowClosed: return "escrowClosed"
        case .expiryNotInFuture: return "expiryNotInFuture"
        case .voucherWrongChain: return "voucherWrongChain"
        case .voucherBadSignature: return "voucherBadSignature"
        case .voucherNotIncreasing: return "voucherNotIncreasing"
        case .notActiveWorker: return "notActiveWorker"
        case .wrongWindow: return "wrongWindow"
        case .duplicateCommitment: return "duplicateCommitment"
        case .invalidCommitment: return "invalidCommitment"
        case .tooManyCommitments: return "tooManyCommitments"
        case .unknownShard: return "unknownShard"
        case .unknownTicket: return "unknownTicket"
        case .ticketNotAwaitingReveal: return "ticketNotAwaitingReveal"
        case .revealDeadlinePassed: return "revealDeadlinePassed"
        case .notTicketWorker: return "notTicketWorker"
        case .invalidSumProof: return "invalidSumProof"
        case .leafMismatch: return "leafMismatch"
        case .inputHashMismatch: return "inputHashMismatch"
        case .inputTooLarge: return "inputTooLarge"
        case .ticketNotRevealed: return "ticketNotRevealed"
        case .challengePeriodOver: return "challengePeriodOver"
        case .ticketAlreadyAdjudicated: return "ticketAlreadyAdjudicated"
        case .invalidEvidence: return "invalidEvidence"
        case .evidenceTooOld: return "evidenceTooOld"
        case .evidenceAlreadyProcessed: return "evidenceAlreadyProcessed"
        case .notJailed: return "notJailed"
        case .jailPeriodNotOver: return "jailPeriodNotOver"
        case .unknownStaker: return "unknownStaker"
        case .notVoucherPayee: return "notVoucherPayee"
        case .claimPeriodOver: return "claimPeriodOver"
        case .noAllocation: return "noAllocation"
        case .tooManyPayers: return "tooManyPayers"
        case .tooManyAllocations: return "tooManyAllocations"
        case .escrowUnlocking: return "escrowUnlocking"
        case .escrowStillUnlocking: return "escrowStillUnlocking"
        case .commitDeadlinePassed: return "commitDeadlinePassed"
        case .sampleNotInLeaf: return "sampleNotInLeaf"
        case .neighbourMismatch: return "neighbourMismatch"
        case .invalidInputTensor: return "invalidInputTensor"
        case .duplicateFraudClaim: return "duplicateFraudClaim"
        case .unknownFraudClaim: return "unknownFraudClaim"
        case .fraudRevealTooEarly: return "fraudRevealTooEarly"
        case .fraudRevealTooLate: return "fraudRevealTooLate"
        case .tooManyClaims: return "tooManyClaims"
        case .windowNotSettled: return "windowNotSettled"
        case .nothingToPay: return "nothingToPay"
        case .wrongPool: return "wrongPool"
        case .tooManyVotes: return "tooManyVotes"
        case .invalidVoteSignature: return "invalidVoteSignature"
        case .tooManyCommitmentsInBlock: return "tooManyCommitmentsInBlock"
        case .poolHasNoCheckers: return "poolHasNoCheckers"
        case .checkerAlreadyRegistered: return "checkerAlreadyRegistered"
        case .invalidSealingKey: return "invalidSealingKey"
        case .sealingKeyInUse: return "sealingKeyInUse"
        case .checkerRegistryFull: return "checkerRegistryFull"
        case .notAChecker: return "notAChecker"
        case .sealedRevealRequired: return "sealedRevealRequired"
        case .ticketNotSealed: return "ticketNotSealed"
        case .invalidEnvelope: return "invalidEnvelope"
        case .envelopeRecipientsMismatch: return "envelopeRecipientsMismatch"
        case .envelopeSizeMismatch: return "envelopeSizeMismatch"
        case .notAssignedChecker: return "notAssignedChecker"
        case .checkPhaseClosed: return "checkPhaseClosed"
        case .answerAlreadyCommitted: return "answerAlreadyCommitted"
        case .invalidCheckCommitment: return "invalidCheckCommitment"
        case .answerNotCommitted: return "answerNotCommitted"
        case .answerAlreadyRevealed: return "answerAlreadyRevealed"
        case .checkCommitmentMismatch: return "checkCommitmentMismatch"
        case .outputAlreadyUnblinded: return "outputAlreadyUnblinded"
        case .unblindMismatch: return "unblindMismatch"
        case .ticketNotDisputed: return "ticketNotDisputed"
        case .wrongSealKey: return "wrongSealKey"
        case .checkInProgress: return "checkInProgress"
        case .emptyBatch: return "emptyBatch"
        case .notReceiptHolder: return "notReceiptHolder"
        case .invalidReceipt: return "invalidReceipt"
        case .hopChallengeClosed: return "hopChallengeClosed"
        case .badReceiptSignature: return "badReceiptSignature"
        case .duplicateHopChallenge: return "duplicateHopChallenge"
        case .nothingToChallenge: return "nothingToChallenge"
        case .unknownHopChallenge: return "unknownHopChallenge"
        case .hopChallengeAnswered: return "hopChallengeAnswered"
        case .receiptMismatch: return "receiptMismatch"
        case .inputInClear: return "inputInClear"
        case .payeeForfeited: return "payeeForfeited"
        case .inputAlreadyPublished: return "inputAlreadyPublished"
        case .workerForfeited: return "workerForfeited"
        }
    }
}

import Testing
@testable import Ledger
@testable import Primitives

/// Steps of the v2 economy on the in-memory test chain (Specs/economics.md).
extension Chain {
    var pool: PoolConfig { Chain.defaultPool() }

    /// Opens an escrow for `client` and allocates to each payee; returns the escrow id.
    @discardableResult
    mutating func openEscrow(_ client: PrivateKey, amount: Amount, payees: [(PrivateKey, Amount)], expiry: UInt64 = 1000) throws -> Hash32 {
        let nonce = try account(client.publicKey).nonce
        var txs = [try tx(client, .escrowOpen(pool: 0, amount: amount, expiryHeight: expiry))]
        let id = LedgerIds.escrow(owner: client.publicKey, nonce: nonce)
        for (i, p) in payees.enumerated() {
            txs.append(try tx(client, .escrowAllocate(escrowId: id, payee: p.0.publicKey, amount: p.1), nonce: nonce + 1 + UInt64(i)))
        }
        let r = try block(txs)
        #expect(r.dropLast().allSatisfy { $0.succeeded }, "escrow setup failed: \(r.map(\.status))")
        return id
    }

    /// A voucher for `payee` signed by `signer` (normally the escrow owner).
    func voucher(_ signer: PrivateKey, escrow: Hash32, payee: PrivateKey, shard: UInt32 = 0, window: UInt64 = 0,
                 input: UInt64, output: UInt64) -> TxBody {
        .claimUsage(voucher: UsageVoucher(chainId: Chain.chainId, escrowId: escrow, payee: payee.publicKey, shard: shard, window: window,
                                          cumulativeInputTokens: input, cumulativeOutputTokens: output).signed(by: signer))
    }

    /// The commit body of a batch.
    func commit(_ b: PassBatch, shard: UInt32 = 0, window: UInt64 = 0) -> TxBody {
        .commitShares(pool: 0, window: window, shard: shard, leafCount: b.leafCount, tokenTotal: b.tokenCount, root: b.root)
    }

    func commitmentId(_ worker: PrivateKey, _ b: PassBatch, shard: UInt32 = 0, window: UInt64 = 0) -> Hash32 {
        LedgerIds.commitment(worker: worker.publicKey, pool: 0, window: window, shard: shard, root: b.root)
    }

    /// Tickets drawn from a commitment, by sample number.
    func tickets(_ commitment: Hash32) throws -> [(id: Hash32, ticket: Ticket)] {
        try LedgerReader(state).tickets(commitment: commitment).map { ($0.id, try LedgerReader(state).ticket($0.id)!) }
    }

    /// Reveals every awaiting ticket of a commitment honestly (one block); returns the receipts.
    @discardableResult
    mutating func revealAll(_ worker: PrivateKey, _ b: PassBatch, commitment: Hash32) throws -> [Receipt] {
        var txs = [SignedTransaction]()
        var nonce = try account(worker.publicKey).nonce
        for (id, t) in try tickets(commitment) where t.status == .awaitingReveal {
            txs.append(try tx(worker, b.reveal(id, point: t.point), nonce: nonce))
            nonce += 1
        }
        return try block(txs)
    }

    /// A blind fraud claim by `prover` against `ticket` committed in one block and opened in the next.
    @discardableResult
    mutating func proveFraud(_ prover: PrivateKey, ticket: Hash32, input: [UInt8], salt: UInt8 = 1) throws -> (commit: Receipt, reveal: Receipt) {
        let s = SHA256.hash([salt])
        let claim = fraudClaimHash(ticketId: ticket, prover: prover.publicKey, salt: s)
        let c = try block([try tx(prover, .fraudCommit(claim: claim, pool: 0))])
        let r = try block([try tx(prover, .fraudReveal(ticketId: ticket, salt: s, input: input))])
        return (c[0], r[0])
    }

    /// Heights of window 0 of the default pool.
    var settleHeight0: UInt64 { pool.settleHeight(ofWindow: 0, beaconDelay: ledger.params.selectionDelayBound) }

    /// Holdings of a key: balance plus stake and unbonding in pool 0.
    func wealth(_ k: PrivateKey) throws -> UInt64 {
        let role = StakeRole.worker(pool: 0)
        let unbonding = try LedgerReader(state).unbondings(role, k.publicKey).reduce(UInt64(0)) { $0 + $1.entry.amount.units }
        return try balance(k.publicKey) + (staker(role, k.publicKey)?.stake.units ?? 0) + unbonding
    }

    /// Every state key under a prefix.
    func keys(_ prefix: StateKey.Prefix) throws -> Int { state.scan(prefix: [prefix.rawValue], after: nil, limit: .max).count }
}

/// Builds a sum tree over leaves exactly as given (no sorting, no duplicate check): what an attacker commits.
func unsortedTree(_ leaves: [PassLeaf]) -> SumTree.Built { SumTree.buildUnchecked(leaves)! }

extension Receipt {
    /// Amounts slashed by this receipt's events.
    var slashed: UInt64 {
        events.reduce(0) { if case .slashed(_, _, let a, _, _) = $1 { return $0 + a.units }; return $0 }
    }
}

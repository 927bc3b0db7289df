import Foundation
import Testing
@testable import Ledger
@testable import Primitives

/// Spec vectors in `Specs/vectors/ledger/`: a pre-state, one block (context and signed transactions), and the
/// expected receipts and write set, or the expected block error. Regenerate with
/// `REGENERATE_VECTORS=1 swift test --filter LedgerVectorTests` after a deliberate rule change.
struct LedgerVector: Codable {
    struct Context: Codable {
        var height: UInt64
        var slot: UInt64
        var proposer: String
        var randaoReveal: String
        var missedSlots: [[String]]
    }
    struct Entry: Codable { var key: String; var value: String? }

    var name: String
    var description: String
    var chainId: String
    var params: LedgerParams
    var preState: [Entry]
    var context: Context
    var transactions: [String]
    var expectedReceipts: [String]?
    var expectedStatuses: [String]?
    var expectedWriteSet: [Entry]?
    var expectedError: String?
}

@Suite struct LedgerVectorTests {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Specs/vectors/ledger")
    }

    static func status(_ r: Receipt) -> String {
        switch r.status {
        case .success: return "success"
        case .failed(let reason): return "failed:\(reason.rawValue):\(reason)"
        }
    }

    /// Records the next block of `chain` as a vector (and applies it to the chain).
    static func capture(_ chain: inout Chain, name: String, description: String, _ txs: [SignedTransaction],
                        missed: [BlockContext.MissedSlot] = []) throws -> LedgerVector {
        let pre = chain.state.dump().map { LedgerVector.Entry(key: $0.key.hex, value: $0.value.hex) }
        let p = chain.validators[Int(chain.height % UInt64(chain.validators.count))].key.publicKey
        let ctx = LedgerVector.Context(height: chain.height + 1, slot: chain.slot + 1, proposer: p.hex,
                                       randaoReveal: chain.nextReveal(p).hex,
                                       missedSlots: missed.map { [String($0.slot), $0.leader.hex] })
        var v = LedgerVector(name: name, description: description, chainId: Chain.chainId.hex, params: chain.ledger.params,
                             preState: pre, context: ctx, transactions: txs.map { $0.canonicalEncoding.hex })
        do {
            let receipts = try chain.block(txs, missed: missed)
            v.expectedReceipts = receipts.map { $0.canonicalEncoding.hex }
            v.expectedStatuses = receipts.map(status)
            let post = Dictionary(uniqueKeysWithValues: chain.state.dump().map { ($0.key.hex, $0.value.hex) })
            let preMap = Dictionary(uniqueKeysWithValues: pre.map { ($0.key, $0.value!) })
            var ws = [LedgerVector.Entry]()
            for k in Set(post.keys).union(preMap.keys).sorted() where post[k] != preMap[k] {
                ws.append(.init(key: k, value: post[k]))
            }
            v.expectedWriteSet = ws
        } catch {
            v.expectedError = "\(error)"
        }
        return v
    }

    /// The scenarios, built with the test chain.
    static func scenarios() throws -> [LedgerVector] {
        let alice = testKey("alice"), bob = testKey("bob"), client = testKey("client"), worker = testKey("worker")
        var out = [LedgerVector]()
        var c = try Chain(accounts: [(alice, 1_000_000), (bob, 1_000), (client, 1_000_000), (worker, 100_000)],
                          workers: [(worker, 0, 1_000)])
        out.append(try capture(&c, name: "transfer", description: "A transfer and a failing transfer (insufficient balance).", [
            try c.tx(alice, .transfer(to: bob.publicKey, amount: 12_345)),
            try c.tx(bob, .transfer(to: alice.publicKey, amount: 1_000_000)),
        ]))
        out.append(try capture(&c, name: "bad-signature", description: "A block whose transaction is signed by another key is invalid.", [
            SignedTransaction(transaction: try c.tx(alice, .transfer(to: bob.publicKey, amount: 1)).transaction,
                              signature: bob.sign(digest: SHA256.hash([1]))),
        ]))
        let chain = RandaoHashChain(seed: SHA256.hash([7]), length: 10)
        out.append(try capture(&c, name: "bond-unbond", description: "Bond a validator with a RANDAO commitment; unbond part of a worker stake.", [
            try c.tx(alice, .bond(role: .validator, amount: 500, randaoCommitment: chain.commitment)),
            try c.tx(worker, .unbond(role: .worker(pool: 0), amount: 100)),
        ]))
        out.append(try capture(&c, name: "escrow-open", description: "Open an escrow for pool 0.", [
            try c.tx(client, .escrowOpen(pool: 0, amount: 10_000, expiryHeight: 100)),
        ]))
        let escrow = LedgerIds.escrow(owner: client.publicKey, nonce: 0)
        out.append(try capture(&c, name: "escrow-allocate", description: "Reserve part of the escrow for the worker; an over-allocation fails.", [
            try c.tx(client, .escrowAllocate(escrowId: escrow, payee: worker.publicKey, amount: 5_000)),
            try c.tx(client, .escrowAllocate(escrowId: escrow, payee: alice.publicKey, amount: 6_000), nonce: 2),
        ]))
        let window = Chain.defaultPool().window(ofHeight: c.height + 1)
        let v1 = UsageVoucher(chainId: Chain.chainId, escrowId: escrow, payee: worker.publicKey, shard: 0, window: window,
                              cumulativeInputTokens: 100, cumulativeOutputTokens: 40).signed(by: client)
        out.append(try capture(&c, name: "claim-usage", description: "The payee claims a cumulative voucher (fee burned); replaying it fails.", [
            try c.tx(worker, .claimUsage(voucher: v1)),
            try c.tx(worker, .claimUsage(voucher: v1), nonce: 2),
        ]))
        // A cheating batch for the reveal and fraud vectors.
        let batch = PassBatch.make(count: 30, shard: 0, seed: 1, cheat: Set(0..<30))
        out.append(try capture(&c, name: "commit-shares", description: "A worker commits a sum tree of 30 passes (shard 0); the ticket fee is burned.", [
            try c.tx(worker, c.commit(batch, window: window)),
        ]))
        let cid = c.commitmentId(worker, batch, window: window)
        try c.block()
        out.append(try capture(&c, name: "ticket-selection", description: "End-block draws token-weighted samples with this block's RANDAO mix.", []))
        let (tid, t) = try c.tickets(cid)[0]
        out.append(try capture(&c, name: "reveal-ticket", description: "The worker reveals the sampled leaf with its sum-tree path, neighbours and input.", [
            try c.tx(worker, batch.reveal(tid, point: t.point)),
        ]))
        let leaf = try c.tickets(cid)[0].ticket.leaf!
        let salt = SHA256.hash([3])
        out.append(try capture(&c, name: "fraud-commit", description: "A blind fraud claim locks the bond.", [
            try c.tx(alice, .fraudCommit(claim: fraudClaimHash(ticketId: tid, prover: alice.publicKey, salt: salt), pool: 0)),
        ]))
        out.append(try capture(&c, name: "fraud-reveal", description: "The claim is opened; end-block replays it: slash, jail, forfeiture, bounty held.", [
            try c.tx(alice, .fraudReveal(ticketId: tid, salt: salt, input: batch.inputs[Int(leaf.index)])),
        ]))
        out.append(try capture(&c, name: "liveness-and-missed-slots", description: "A block that reports a missed slot of its own validator.",
                               [], missed: [.init(slot: c.slot + 1, leader: c.validators[0].key.publicKey)]))
        try c.advance(to: c.settleHeight0 - 1)
        out.append(try capture(&c, name: "window-settlement", description: "End-block settles window 0 of pool 0 and pays the bounty.", []))
        out.append(try capture(&c, name: "claim-payout", description: "A payout of a convicted worker: nothing paid, everything refunded to the payer.", [
            try c.tx(client, .claimPayout(pool: 0, window: window, worker: worker.publicKey)),
        ]))
        return out
    }

    @Test func vectorsMatchTheImplementation() throws {
        let fm = FileManager.default
        if ProcessInfo.processInfo.environment["REGENERATE_VECTORS"] != nil {
            try fm.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            for v in try Self.scenarios() {
                try (enc.encode(v) + Data("\n".utf8)).write(to: Self.directory.appendingPathComponent("\(v.name).json"))
            }
        }
        let files = try fm.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count >= 10, "run with REGENERATE_VECTORS=1 to create the vectors")
        for f in files {
            let v = try JSONDecoder().decode(LedgerVector.self, from: Data(contentsOf: Self.directory.appendingPathComponent(f)))
            try Self.run(v)
        }
    }

    /// Replays one vector from its JSON alone.
    static func run(_ v: LedgerVector) throws {
        let base = MemoryState(entries: try v.preState.map { KeyValue(key: try Hex.decode($0.key), value: try Hex.decode($0.value ?? "")) })
        let ledger = Ledger(params: v.params, chainId: try Hash32(hex: v.chainId), adjudicator: FakeAdjudicator(),
                            equivocationVerifier: FakeEquivocationVerifier())
        let ctx = BlockContext(height: v.context.height, slot: v.context.slot, proposer: try PublicKey(hex: v.context.proposer),
                               randaoReveal: try Hash32(hex: v.context.randaoReveal),
                               missedSlots: try v.context.missedSlots.map { .init(slot: UInt64($0[0])!, leader: try PublicKey(hex: $0[1])) })
        let txs = try v.transactions.map { try SignedTransaction(canonicalEncoding: try Hex.decode($0)) }
        var state = LedgerState(base: base)
        do {
            let receipts = try ledger.applyBlock(ctx, transactions: txs, to: &state)
            #expect(v.expectedError == nil, "\(v.name): expected error \(v.expectedError ?? "")")
            #expect(receipts.map { $0.canonicalEncoding.hex } == v.expectedReceipts, "\(v.name): receipts")
            #expect(receipts.map(status) == v.expectedStatuses, "\(v.name): statuses")
            let ws = try state.overlay.writeSet().entries.map { LedgerVector.Entry(key: $0.key.hex, value: $0.value?.hex) }
            #expect(ws.map(\.key) == v.expectedWriteSet?.map(\.key), "\(v.name): write-set keys")
            #expect(ws.map(\.value) == v.expectedWriteSet?.map(\.value), "\(v.name): write-set values")
        } catch {
            #expect("\(error)" == v.expectedError, "\(v.name)")
        }
    }
}

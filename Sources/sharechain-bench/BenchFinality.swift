import ArgumentParser
import Dispatch
import Ledger
import Primitives

/// Finality votes at scale (Specs/consensus.md §8): the cost of verifying and counting one checkpoint's votes
/// of `validators` validators, against the time budget of the blocks that carry them.
struct BenchFinality: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finality",
        abstract: "Verifying and counting one checkpoint's finality votes of many validators, as a share of block time.")

    @Option(help: "Validators, each voting once per checkpoint.") var validators = 100
    @Option(help: "Blocks between checkpoints.") var checkpointBlocks: UInt64 = 10
    @Option(help: "Slot length in seconds (the time budget of one block).") var slotSeconds = 10.0

    struct NoAdjudicator: Adjudicator {
        struct Unavailable: Error {}
        func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
    }

    struct NoEvidence: EquivocationVerifier {
        func verify(headerA: [UInt8], headerB: [UInt8], chainId: Hash32) -> Equivocation? { nil }
    }

    func validate() throws {
        try requireOptions(atLeast: 1, ["--validators": validators, "--checkpoint-blocks": Int(clamping: checkpointBlocks)])
        // Each validator's RANDAO chain is checkpointBlocks + 8 long, in memory.
        guard checkpointBlocks <= 1 << 20 else { throw ValidationError("--checkpoint-blocks must be at most \(1 << 20)") }
        try requirePositiveSeconds(["--slot-seconds": slotSeconds])
    }

    func run() async throws {
        print("== finality votes (\(validators) validators, checkpoint every \(checkpointBlocks) blocks, \(slotSeconds) s slots) ==")
        let keys = try (0..<validators).map { try PrivateKey(secretBytes: SHA256.hash(Array("bench-finality-\($0)".utf8)).bytes) }
        let chains = keys.map { RandaoHashChain(seed: SHA256.hash($0.secretBytes), length: Int(checkpointBlocks) + 8) }
        let submitter = try PrivateKey(secretBytes: SHA256.hash(Array("bench-finality-submitter".utf8)).bytes)
        var params = LedgerParams()
        params.checkpointBlocks = checkpointBlocks
        params.maxVotesPerTransaction = max(validators, 1)
        let chainId = SHA256.hash(Array("bench-finality".utf8))
        let ledger = Ledger(params: params, chainId: chainId, adjudicator: NoAdjudicator(), equivocationVerifier: NoEvidence())
        let state = MemoryState()
        state.apply(try ledger.genesisWriteSet(GenesisAllocation(
            balances: [.init(key: submitter.publicKey, amount: 1_000_000_000)],
            validators: zip(keys, chains).map { .init(key: $0.publicKey, stake: 1_000, randaoCommitment: $1.commitment) },
            workers: [], pools: [])))
        // Blocks up to the checkpoint's successor (which records the checkpoint), each by validator 0 in turn.
        var hashes = [SHA256.hash(Array("genesis".utf8))]
        var reveals = chains.map { $0.length }
        func context(_ height: UInt64) -> BlockContext {
            let v = Int(height) % keys.count
            reveals[v] -= 1
            return BlockContext(height: height, slot: height, proposer: keys[v].publicKey, randaoReveal: chains[v].value(reveals[v]),
                                parentHash: hashes[Int(height) - 1])
        }
        for h in 1...(checkpointBlocks + 1) {
            var ls = LedgerState(base: state)
            _ = try ledger.applyBlock(context(h), transactions: [], to: &ls)
            state.apply(try ls.overlay.writeSet())
            hashes.append(SHA256.hash(hashes.last!.bytes + h.bigEndianBytes))
        }
        let source = Checkpoint(height: 0, hash: hashes[0]), target = Checkpoint(height: checkpointBlocks, hash: hashes[Int(checkpointBlocks)])
        let votes = keys.map { FinalityVote(validator: $0.publicKey, source: source, target: target).signed(by: $0, chainId: chainId) }
        let tx = Transaction(chainId: chainId, sender: submitter.publicKey, nonce: 0, fee: 1_000_000, body: .finalityVotes(votes: votes))
            .signed(by: submitter)
        let next = context(checkpointBlocks + 2)
        // The same block applied to a fresh overlay each time: with the votes, and empty (the baseline).
        func apply(_ txs: [SignedTransaction]) throws -> [Receipt] {
            var ls = LedgerState(base: state)
            return try ledger.applyBlock(next, transactions: txs, to: &ls, signaturesChecked: true)
        }
        let receipts = try apply([tx])
        guard receipts[0].status == .success,
              receipts[0].events.contains(where: { if case .checkpointJustified = $0 { return true }; return false }) else {
            throw ValidationError("the benchmark votes did not justify the checkpoint: \(receipts[0])")
        }
        var failure: (any Error)?
        let withVotes = rate(1.0) { n in for _ in 0..<n { do { blackHole(try apply([tx])) } catch { failure = error } } }
        let empty = rate(1.0) { n in for _ in 0..<n { do { blackHole(try apply([])) } catch { failure = error } } }
        if let failure { throw failure }
        let voteSeconds = max(0, 1 / withVotes - 1 / empty)
        let perBlock = voteSeconds / Double(checkpointBlocks)
        print(String(format: "one checkpoint's %d votes: %.2f ms (verify and count; empty block %.3f ms)", validators, voteSeconds * 1e3, 1e3 / empty))
        print(String(format: "per block at one checkpoint every %d blocks: %.3f ms = %.4f %% of a %.0f s slot (target ≤ 5 %%)",
                     checkpointBlocks, perBlock * 1e3, perBlock / slotSeconds * 100, slotSeconds))
        report("votes verified+counted", Double(validators) / voteSeconds, baseline: nil, unit: "votes/s",
               machine: "one Schnorr verify per vote, 21.7 k/s per core")
    }
}

import Consensus
import Foundation
import Ledger
import Logging
import Metrics
import Primitives
import ServiceLifecycle

/// Casts the validator's finality votes (Specs/consensus.md §8): after each new block, if a checkpoint above
/// the justified one is recorded on the tip, signs `justified → checkpoint` and submits it as a
/// `finalityVotes` transaction (gossiped like any other). Slashing protection: every vote is written to
/// `protectionFile` (atomically) before it is signed, and a vote that would make a double or surround pair with
/// anything written there is never signed, across restarts. Does not vote while `isSynced` says the node is
/// behind: a syncing node's tip is not the network's, and a vote for an old checkpoint spends its target height
/// (slashing protection refuses a second vote for it).
public struct FinalityVoterService: Service {
    public let chain: ChainService
    public let key: PrivateKey
    public let protectionFile: String
    public let logger: Logger
    let isSynced: @Sendable () async -> Bool

    public init(chain: ChainService, key: PrivateKey, protectionFile: String, logger: Logger,
                isSynced: @escaping @Sendable () async -> Bool = { true }) {
        self.chain = chain; self.key = key; self.protectionFile = protectionFile; self.logger = logger; self.isSynced = isSynced
    }

    /// Reads the protection record; a missing file is an empty record, an unreadable one an error (voting on
    /// without it could sign a slashable pair).
    public static func loadProtection(_ path: String) throws -> SlashingProtection {
        guard FileManager.default.fileExists(atPath: path) else { return SlashingProtection() }
        do { return try JSONDecoder().decode(SlashingProtection.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw NodeStartupError("slashing-protection file \(path) is unreadable (\(error)); refusing to vote without it")
        }
    }

    /// Replaces the record durably (`DurableFile`), so that a power loss right after a vote cannot leave an empty
    /// file (the node would refuse to start) or the record without that vote (it could sign a slashable pair).
    static func saveProtection(_ p: SlashingProtection, to path: String) throws {
        do { try DurableFile.replace(path, with: try JSONEncoder().encode(p)) } catch let e as DurableFile.Failure {
            throw NodeStartupError("cannot write the slashing-protection file: \(e)")
        }
    }

    /// Signs and submits the vote due on the current tip, if any. Returns the vote.
    ///
    /// A due vote identical to one signed before (the same source and target checkpoints) is sent again while the tip
    /// does not count it and no pending transaction carries it: a signed vote that never reached a block (a restart, a
    /// refused or expired submission) would otherwise be lost for good, since protection refuses any other vote for
    /// its target height (tenth review, lifecycle F6 and consensus F2). Identical copies sign one message, so this adds
    /// no slashable pair; a vote that differs in anything is still refused.
    @discardableResult
    public static func castDueVote(chain: ChainService, key: PrivateKey, protection: inout SlashingProtection,
                                   protectionFile: String) async throws -> FinalityVote? {
        guard let candidate = try await chain.finalityVoteCandidate(for: key.publicKey) else { return nil }
        if protection.permits(candidate) {
            var updated = protection
            updated.record(candidate)
            try saveProtection(updated, to: protectionFile)
            protection = updated
        } else {
            guard protection.isIdentical(toSigned: candidate), try await chain.finalityVoteOutstanding(candidate) else { return nil }
        }
        let vote = candidate.signed(by: key, chainId: chain.genesis.chainId)
        let body = TxBody.finalityVotes(votes: [vote])
        let nonce = try await chain.nextNonce(for: key.publicKey)
        let probe = Transaction(chainId: chain.genesis.chainId, sender: key.publicKey, nonce: nonce, fee: .zero, body: body).signed(by: key)
        let fee = try await chain.suggestedFee(size: probe.encodedSize)
        try await chain.submit(Transaction(chainId: chain.genesis.chainId, sender: key.publicKey, nonce: nonce, fee: fee, body: body).signed(by: key))
        return vote
    }

    public func run() async throws {
        let loaded = try Self.loadProtection(protectionFile)
        // Registered at start, so that /metrics shows 0 votes rather than nothing before the first one.
        let votesCast = Counter(label: "sharechain_finality_votes_cast_total")
        let events = await chain.blockEvents()
        logger.info("finality voter started", metadata: ["votesSigned": "\(loaded.signed.count)"])
        await cancelWhenGracefulShutdown {
            var protection = loaded
            // Blocks alone, subscribing again if it falls behind (returning would end the node); the next block brings
            // any vote that is due.
            await chain.forEachBlockEvent(startingWith: events) { event in
                guard case .newBlock = event else { return }
                guard await isSynced() else { return }
                do {
                    if let vote = try await Self.castDueVote(chain: chain, key: key, protection: &protection, protectionFile: protectionFile) {
                        votesCast.increment()
                        logger.info("finality vote", metadata: [
                            "source": "\(vote.source.height)", "target": "\(vote.target.height)", "hash": "\(vote.target.hash.hex.prefix(16))",
                        ])
                    }
                } catch {
                    logger.warning("finality vote not cast: \(error)")
                }
            }
        }
    }
}

import Foundation
import Logging
import Synchronization
import Testing
@testable import Ledger
@testable import Node
@testable import Primitives
import RPC
import Sealing
import TestSupport

/// A node as `CheckerService.step` sees it: one sealed ticket, its check record and envelope, and whether an input was
/// published. Everything else is unavailable.
final class OneTicketClient: StubChainClient {
    struct State { var ticket: Ticket; var check: SealedCheck; var envelope: [UInt8]; var fraudCase: FraudCase? }
    let state: Mutex<State>
    init(_ s: State) { state = Mutex(s) }

    func ticket(_ id: Hash32) async throws -> Ticket? { state.withLock { $0.ticket } }
    func sealedCheck(_ id: Hash32) async throws -> SealedCheck? { state.withLock { $0.check } }
    func sealedInput(_ id: Hash32) async throws -> [UInt8]? { state.withLock { $0.envelope } }
    func fraudCase(_ ticket: Hash32) async throws -> FraudCase? { state.withLock { $0.fraudCase } }
}

func review10Key(_ label: String) throws -> PrivateKey {
    try PrivateKey(secretBytes: SHA256.hash(Array("review10/\(label)".utf8)).bytes)
}

/// Tenth review, the checker node (sealing F2, F4).
@Suite struct CheckerServiceReview10Tests {
    static let chainId = SHA256.hash(Array("review10".utf8))
    static let tid = SHA256.hash(Array("ticket".utf8))

    /// A checker service, the devnet pool (with checkers) and one sealed ticket whose envelope opens, for the checker,
    /// to an input with a negative zero: it hashes to the leaf's input hash, but the replay finds it invalid, so the
    /// honest answer is bad input although the checker holds a publishable input.
    static func setup(_ status: CheckStatus, answer: Hash32? = nil, commitment: Hash32 = .zero)
        throws -> (CheckerService, OneTicketClient, PoolConfig, [UInt8]) {
        let (weights, devPool, _, negativeZero) = try AdjudicationAttackReviewTests.setup()
        var pool = devPool
        pool.checking = CheckingConfig()
        let key = try review10Key("review10-checker")
        let sealing = try CheckerService.sealingKeyPair(for: key)
        let leaf = PassLeaf(index: 0, shard: 0, positionOffset: 0, tokenCount: 4, inputHash: Tags.tensor.hash(negativeZero),
                            outputHash: SHA256.hash([1]))
        let ticket = Ticket(commitmentId: SHA256.hash([2]), sample: 0, point: 0, worker: try review10Key("worker").publicKey, pool: 0,
                            window: 0, shard: 0, status: .revealed, selectedHeight: 10, revealDeadline: 13, leaf: leaf,
                            challengeEnd: 100)
        let envelope = try SealedEnvelope.seal(
            plaintext: negativeZero, recipients: [try CheckerPublicKey(bytes: sealing.publicKey.bytes)],
            context: SealingContext(chainId: chainId, ticketId: tid, inputHash: leaf.inputHash),
            randomness: SealingRandomness(ephemeralPrivateKey: SHA256.hash([3]).bytes, contentSecret: SHA256.hash([4]).bytes))
        let slot = CheckerSlot(checker: key.publicKey, sealingKey: Hash32(bytes: sealing.publicKey.bytes)!, commitment: commitment,
                               answer: answer)
        let check = SealedCheck(status: status, slots: [slot], revealHeight: 20, unblinded: SHA256.hash([5]), keyDeadline: 40)
        let client = OneTicketClient(.init(ticket: ticket, check: check, envelope: envelope.encoded, fraudCase: nil))
        var logger = Logger(label: "review10")
        logger.logLevel = .critical
        return (try CheckerService(key: key, client: client, weights: weights, logger: logger), client, pool, negativeZero)
    }

    /// F2: colluders attest a fabricated pass whose input is invalid (a negative zero); the honest checker opened the
    /// input and answered bad input; the worker withholds its key. The node published only for answers other than bad
    /// input, so the check failed as `sealKeyWithheld` and the colluders kept their stake. Secure outcome: it publishes
    /// the input it opened (the replay finds it invalid and slashes the colluders), and stops once one is published.
    @Test func aBadInputAnswerOnAnOpenedInputIsPublished() async throws {
        let (service, client, pool, input) = try Self.setup(.disputed, answer: badInputAnswer, commitment: SHA256.hash([6]))
        let step = try await service.step(Self.tid, tip: 30, pool: pool, checking: pool.checking!, chainId: Self.chainId)
        guard case .publish(let published) = step else { Issue.record("not published: \(step)"); return }
        #expect(published == input)
        // Someone published already: the replay waits for the key deadline; nothing is left to send.
        let other = try review10Key("other").publicKey
        client.state.withLock {
            $0.fraudCase = FraudCase(ticketId: Self.tid, worker: $0.ticket.worker, pool: 0, window: 0, openedHeight: 30,
                                     winner: other, winnerCommitHeight: 0, winnerClaim: .zero, finalHeight: 30)
        }
        let again = try await service.step(Self.tid, tip: 31, pool: pool, checking: pool.checking!, chainId: Self.chainId)
        guard case .done = again else { Issue.record("published again: \(again)"); return }
    }

    /// F4: the checker replayed each pass twice, at its commit and again at its reveal, against a fee sized for one.
    /// Secure outcome: one replay from commit to reveal; a restarted checker (nothing kept) replays again and still
    /// reveals the answer it committed.
    @Test func aTicketIsReplayedOnceFromCommitToReveal() async throws {
        let (service, client, pool, _) = try Self.setup(.checking)
        let cfg = pool.checking!
        let commit = try await service.step(Self.tid, tip: 20, pool: pool, checking: cfg, chainId: Self.chainId)
        guard case .commit(let item) = commit else { Issue.record("no commit: \(commit)"); return }
        #expect(service.stats.replays == 1)
        #expect(service.keptAnswers == 1)
        client.state.withLock { $0.check.slots[0].commitment = item.commitment }
        let revealTip = 20 + cfg.answerCommitBlocks
        let reveal = try await service.step(Self.tid, tip: revealTip, pool: pool, checking: cfg, chainId: Self.chainId)
        guard case .reveal(let r) = reveal else { Issue.record("no reveal: \(reveal)"); return }
        #expect(r.answer == badInputAnswer)
        #expect(service.stats.replays == 1, "replayed \(service.stats.replays) times")
        // After a restart: recomputed, and it still opens the commitment.
        let (restarted, _, _, _) = try Self.setup(.checking)
        let fresh = OneTicketClient(client.state.withLock { $0 })
        let again = try CheckerService(key: restarted.key, client: fresh, weights: try AdjudicationAttackReviewTests.setup().0,
                                       logger: Logger(label: "review10"))
        let recomputed = try await again.step(Self.tid, tip: revealTip, pool: pool, checking: cfg, chainId: Self.chainId)
        guard case .reveal(let r2) = recomputed else { Issue.record("no reveal after a restart: \(recomputed)"); return }
        #expect(r2.answer == r.answer && r2.nonce == r.nonce)
        #expect(again.stats.replays == 1)
    }

    /// Sixteenth review: a dropped commit was sent again only three blocks later, so in the shortest commit phase the
    /// genesis allows (3 blocks) the checker lost its slot (no fee, the absent slash). Secure outcome: not sent again
    /// after one block without it, but after two, still inside the phase.
    @Test func aDroppedAnswerIsSentAgainWithinTheShortestPhase() {
        let phase: UInt64 = 3   // the genesis minimum of every checking phase
        let firstTip: UInt64 = 100  // sent at this tip: the phase's heights are firstTip + 1 ... firstTip + phase
        #expect(CheckerService.mayResend(sentAt: nil, tip: firstTip))
        #expect(!CheckerService.mayResend(sentAt: firstTip, tip: firstTip), "sent twice in one round")
        #expect(!CheckerService.mayResend(sentAt: firstTip, tip: firstTip + 1), "sent again after one block: it may still be pending")
        let again = (firstTip...(firstTip + 10)).first { CheckerService.mayResend(sentAt: firstTip, tip: $0) }
        #expect(again.map { $0 + 1 <= firstTip + phase } ?? false, "sent again at tip \(String(describing: again)): after the phase")
    }
}

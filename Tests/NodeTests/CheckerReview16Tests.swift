import Foundation
import Logging
import Synchronization
import Testing
@testable import Ledger
@testable import Node
@testable import Primitives
import RPC
@testable import Sealing
import TestSupport

/// Sixteenth review, the checker node against hostile envelopes: a worker (or a node serving the checker) hands
/// `CheckerService.step` an envelope that is malformed, truncated, oversized, sealed to someone else, replayed from
/// another ticket or chain, or split (this checker's slot wrapping another secret). Each must end in the bad-input
/// answer, committed like any other, never in a thrown round (one throw skips every other ticket of the round) or a
/// crash; and in a dispute such an envelope publishes nothing.
@Suite struct CheckerReview16Tests {
    static let chainId = SHA256.hash(Array("review16".utf8))
    static let tid = SHA256.hash(Array("review16/ticket".utf8))

    struct Setup {
        let service: CheckerService
        let client: OneTicketClient
        let pool: PoolConfig
        let input: [UInt8]
        let context: SealingContext
        let me: CheckerPublicKey
        let other: CheckerKeyPair
    }

    /// A checker, the devnet pool with checkers and one sealed ticket whose leaf's input is canonical (its honest
    /// answer is an output hash); the envelope starts honest, sealed to this checker and another.
    static func setup(_ status: CheckStatus = .checking, answer: Hash32? = nil, commitment: Hash32 = .zero) throws -> Setup {
        let (weights, devPool, canonical, _) = try AdjudicationAttackReviewTests.setup()
        var pool = devPool
        pool.checking = CheckingConfig()
        let key = try review10Key("review16-checker")
        let sealing = try CheckerService.sealingKeyPair(for: key)
        let other = try CheckerKeyPair(privateKey: SHA256.hash(Array("review16/other".utf8)).bytes)
        let leaf = PassLeaf(index: 0, shard: 0, positionOffset: 0, tokenCount: 4, inputHash: Tags.tensor.hash(canonical),
                            outputHash: SHA256.hash([1]))
        let ticket = Ticket(commitmentId: SHA256.hash([2]), sample: 0, point: 0, worker: try review10Key("review16-worker").publicKey,
                            pool: 0, window: 0, shard: 0, status: .revealed, selectedHeight: 10, revealDeadline: 13, leaf: leaf,
                            challengeEnd: 100)
        let context = SealingContext(chainId: chainId, ticketId: tid, inputHash: leaf.inputHash)
        let envelope = try SealedEnvelope.seal(plaintext: canonical, recipients: [sealing.publicKey, other.publicKey], context: context)
        let slots = [CheckerSlot(checker: key.publicKey, sealingKey: Hash32(bytes: sealing.publicKey.bytes)!, commitment: commitment, answer: answer),
                     CheckerSlot(checker: try review10Key("review16-other").publicKey, sealingKey: Hash32(bytes: other.publicKey.bytes)!)]
        let check = SealedCheck(status: status, slots: slots, revealHeight: 20, unblinded: SHA256.hash([5]), keyDeadline: 40)
        let client = OneTicketClient(.init(ticket: ticket, check: check, envelope: envelope.encoded, fraudCase: nil))
        var logger = Logger(label: "review16")
        logger.logLevel = .critical
        return Setup(service: try CheckerService(key: key, client: client, weights: weights, logger: logger), client: client, pool: pool,
                     input: canonical, context: context, me: sealing.publicKey, other: other)
    }

    /// The hostile envelopes, by name, for the setup's ticket.
    static func hostile(_ s: Setup) throws -> [(String, [UInt8])] {
        let honest = s.client.state.withLock { $0.envelope }
        let both = [s.me, s.other.publicKey]
        func sealed(_ plaintext: [UInt8], to recipients: [CheckerPublicKey], _ context: SealingContext, max: Int = SealedEnvelope.defaultMaxPlaintextCount)
            throws -> [UInt8] {
            try SealedEnvelope.seal(plaintext: plaintext, recipients: recipients, context: context, maxPlaintextCount: max).encoded
        }
        var badVersion = honest
        badVersion[0] = 2
        var tooMany = Array(honest[0..<65])
        tooMany.append(17)
        var dup = Array(honest[0..<65]) + [2]
        let slot = Array(honest[66..<(66 + SealedEnvelope.slotCount)])
        dup += slot + slot + Array(honest[(66 + 2 * SealedEnvelope.slotCount)...])
        var lengthBomb = Array(honest[0..<(66 + 2 * SealedEnvelope.slotCount)])
        lengthBomb += [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]  // a payload of 2^32 − 1 bytes announced, none given
        // This checker's slot wraps another secret than the key commitment's (the payload is re-encrypted for the header).
        let r = try SealingRandomness(ephemeralPrivateKey: SHA256.hash([7]).bytes, contentSecret: SHA256.hash([8]).bytes)
        let base = try SealedEnvelope.seal(plaintext: s.input, recipients: both, context: s.context, randomness: r)
        let eph = try CheckerKeyPair(privateKey: r.ephemeralPrivateKey)
        let kek = try #require(SealedEnvelope.keyEncryptionKey(privateKey: eph.key, peer: s.me.bytes, ephemeralPublic: eph.publicKey.bytes,
                                                              recipient: s.me, context: s.context.bytes))
        var slots = base.slots
        slots[0] = SealedEnvelope.Slot(recipient: s.me, wrappedKey: try SealedEnvelope.aeadSeal(key: kek, [UInt8](repeating: 9, count: 32),
                                                                                              aad: s.context.bytes))
        let header = SealedEnvelope.encodeHeader(ephemeralPublicKey: base.ephemeralPublicKey, keyCommitment: base.keyCommitment, slots: slots)
        let split = SealedEnvelope(ephemeralPublicKey: base.ephemeralPublicKey, keyCommitment: base.keyCommitment, slots: slots,
                                   payload: try SealedEnvelope.aeadSeal(key: SealedEnvelope.contentKeys(secret: r.contentSecret).payloadKey,
                                                                        s.input, aad: s.context.bytes + header))
        var rng = SystemRandomNumberGenerator()
        return [
            ("empty", []),
            ("truncated", Array(honest.dropLast())),
            ("trailing byte", honest + [0]),
            ("version 2", badVersion),
            ("17 recipients", tooMany),
            ("duplicate recipient", dup),
            ("payload length bomb", lengthBomb),
            ("oversized plaintext", try sealed(s.input + [UInt8](repeating: 0, count: s.pool.maxInputTensorBytes), to: both, s.context,
                                               max: 4 * s.pool.maxInputTensorBytes)),
            ("sealed to someone else", try sealed(s.input, to: [s.other.publicKey], s.context)),
            ("replayed from another ticket", try sealed(s.input, to: both, SealingContext(chainId: chainId, ticketId: SHA256.hash([9]),
                                                                                           inputHash: s.context.inputHash))),
            ("replayed from another chain", try sealed(s.input, to: both, SealingContext(chainId: SHA256.hash([10]), ticketId: tid,
                                                                                          inputHash: s.context.inputHash))),
            ("not the input", try sealed(Array(s.input.dropLast(4)) + [0, 0, 0x80, 0x3F], to: both, s.context)),
            ("split: my slot wraps another secret", split.encoded),
            ("random bytes", (0..<honest.count).map { _ in UInt8.random(in: 0...255, using: &rng) }),
        ]
    }

    /// Performed: each hostile envelope in the commit phase. The checker commits the bad-input answer (and would
    /// reveal it), never throws; the honest envelope, the control, commits an output hash.
    @Test func hostileEnvelopesAreAnsweredBadInputWithoutFailingTheRound() async throws {
        let s = try Self.setup()
        let cfg = s.pool.checking!
        let key = s.service.key.publicKey
        let badInput = checkCommitmentHash(ticketId: Self.tid, checker: key, answer: badInputAnswer, nonce: s.service.nonce(Self.tid))
        let control = try await s.service.step(Self.tid, tip: 20, pool: s.pool, checking: cfg, chainId: Self.chainId)
        guard case .commit(let honest) = control else { Issue.record("no commit on the honest envelope: \(control)"); return }
        #expect(honest.commitment != badInput, "the control answered bad input")
        for (name, bytes) in try Self.hostile(s) {
            let t = try Self.setup()
            t.client.state.withLock { $0.envelope = bytes }
            let step: CheckerService.StepResult
            do { step = try await t.service.step(Self.tid, tip: 20, pool: t.pool, checking: cfg, chainId: Self.chainId) } catch {
                Issue.record("\(name): the round failed: \(error)"); continue
            }
            guard case .commit(let item) = step else { Issue.record("\(name): \(step)"); continue }
            #expect(item.commitment == badInput, "\(name): not the bad-input answer")
            // The reveal after a restart (nothing kept) replays again and still opens the commitment.
            t.client.state.withLock { $0.check.slots[0].commitment = item.commitment }
            let fresh = try CheckerService(key: t.service.key, client: OneTicketClient(t.client.state.withLock { $0 }),
                                           weights: try AdjudicationAttackReviewTests.setup().0, logger: Logger(label: "review16"))
            let reveal = try await fresh.step(Self.tid, tip: 20 + cfg.answerCommitBlocks, pool: t.pool, checking: cfg, chainId: Self.chainId)
            guard case .reveal(let r) = reveal else { Issue.record("\(name): no reveal: \(reveal)"); continue }
            #expect(r.answer == badInputAnswer && r.salt == nil, "\(name)")
        }
    }

    /// Performed: a dispute over a hostile envelope this checker dissented on. It has no input to publish and sends
    /// nothing (a publication of garbage would fail `inputHashMismatch` and cost its fee); the honest envelope, the
    /// control, is published.
    @Test func aDisputeOverAHostileEnvelopePublishesNothing() async throws {
        let s = try Self.setup(.disputed, answer: badInputAnswer, commitment: SHA256.hash([6]))
        let cfg = s.pool.checking!
        let control = try await s.service.step(Self.tid, tip: 30, pool: s.pool, checking: cfg, chainId: Self.chainId)
        guard case .publish(let input) = control else { Issue.record("the control published nothing: \(control)"); return }
        #expect(input == s.input)
        for (name, bytes) in try Self.hostile(s) {
            let t = try Self.setup(.disputed, answer: badInputAnswer, commitment: SHA256.hash([6]))
            t.client.state.withLock { $0.envelope = bytes }
            do {
                let step = try await t.service.step(Self.tid, tip: 30, pool: t.pool, checking: cfg, chainId: Self.chainId)
                guard case .done = step else { Issue.record("\(name): \(step)"); continue }
            } catch {
                Issue.record("\(name): the round failed: \(error)")
            }
        }
    }
}

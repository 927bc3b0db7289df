import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import Ledger
@testable import Node
@testable import Primitives
import TestSupport

/// Protocol 5 on a live chain (Specs/economics.md §4.1): clients challenge every hop receipt of their workers after each
/// commit deadline. The honest worker answers each challenge with its leaf and is never slashed; the reuse adversary
/// (worker-sim `--adversary reuse`: half its paid passes served garbage and covered with banked passes) cannot answer a
/// garbage pass's receipt and is convicted: slashed, jailed, its window forfeited. The honest worker's client challenges
/// from an account without an escrow, and the chain then holds nothing that links its escrow key to a challenged pass.
@Suite(.serialized, .tags(.system)) struct HopChallengeSystemTests {
    @Test func honestWorkersAnswerAndAReusingWorkerIsConvicted() async throws {
        let chain = try InProcessChain(label: "hop-challenges", checkInvariants: true)
        let runtime = chain.runtime
        let challenger = DevelopmentKeys.account(5)
        let honest = chain.worker(0, cheat: 0, hopChallengeRate: 1, challengerKey: challenger)
        let reuse = chain.worker(2, cheat: 0, adversary: .reuse, hopChallengeRate: 1)
        try await runtime.chain.setInvariantChecking(true)
        let role = StakeRole.worker(pool: 0)
        let start = try LedgerReader(runtime.chain.readView())
        let honestStake = try #require(try start.staker(role, honest.key.publicKey)).stake
        let reuseStake = try #require(try start.staker(role, reuse.key.publicKey)).stake
        // Done once the reuser was slashed for an unanswered challenge and the honest worker answered some.
        try await chain.run(with: [honest, reuse], until: { r in
            (try r.staker(role, reuse.key.publicKey)?.stake ?? reuseStake) < reuseStake && honest.stats.hopAnswers >= 2
        }) { done in
            let r = LedgerReader(try runtime.chain.readView())
            #expect(done, "honest \(honest.stats), reuse \(reuse.stats)")
            #expect(honest.stats.hopChallenges >= 2 && reuse.stats.hopChallenges >= 1, "honest \(honest.stats), reuse \(reuse.stats)")
            // The honest worker answered every challenge it got and kept its stake; the reuser was jailed.
            #expect(try r.staker(role, honest.key.publicKey)?.stake == honestStake)
            if case .jailed = try r.staker(role, reuse.key.publicKey)?.status {} else {
                Issue.record("the reusing worker is not jailed: \(String(describing: try r.staker(role, reuse.key.publicKey)))")
            }
            // Privacy (economics §4.1, row 63): each of the honest worker's challenges came from the challenger account,
            // its receipt named a fresh holder key, and no challenge or answer names the client's escrow key.
            var challenges = [(PublicKey, HopReceipt)](), answers = 0
            for h in 1...(await runtime.chain.tipHeader.height) {
                for tx in try await runtime.chain.canonicalBlock(at: h)?.transactions ?? [] {
                    switch tx.transaction.body {
                    case .hopChallenge(let receipt) where receipt.worker == honest.key.publicKey:
                        challenges.append((tx.transaction.sender, receipt))
                    case .answerHopChallenge where tx.transaction.sender == honest.key.publicKey:
                        answers += 1
                        #expect(!tx.transaction.body.canonicalEncoding.containsWindow(DevelopmentKeys.client.publicKey.bytes))
                    default: break
                    }
                }
            }
            #expect(challenges.count >= 2 && answers >= 2)
            #expect(challenges.allSatisfy { $0.0 == challenger.publicKey }, "\(challenges.map(\.0))")
            #expect(challenges.allSatisfy { $0.1.holder != DevelopmentKeys.client.publicKey && $0.1.holder != challenger.publicKey })
            #expect(Set(challenges.map(\.1.holder)).count == challenges.count, "a fresh holder key per receipt")
        }
    }

    /// Row 65: a cheater that answers its client's challenges with the corrupted leaves it committed turns them into hop
    /// tickets, and the verifier daemon, reading each input from the answer, replays one and proves it false. The
    /// verifier here watches hop tickets only: proving the cheater's sampled tickets false would forfeit its window
    /// first, and a forfeited window takes no hop challenge (tenth review, economics row 81).
    @Test func theVerifierReplaysAGarbageLeafThatAnswersAChallenge() async throws {
        let chain = try InProcessChain(label: "hop-verifier", checkInvariants: true)
        let cheater = chain.worker(2, cheat: 0.5, hopChallengeRate: 1, challengerKey: DevelopmentKeys.account(6))
        var vc = VerifierConfig()
        vc.pollInterval = .milliseconds(300)
        vc.stateFile = chain.dir.file("verifier.state")
        let hopTicketsOnly = InterceptingChainClient(base: chain.client, subscriptionOpen: true, hideTicket: { !$0.isHopTicket })
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: hopTicketsOnly, weights: chain.weights, config: vc, logger: chain.logger)
        try await chain.run(with: [cheater, verifier], until: { r in
            try r.tickets(status: .fraudProven).items.contains(where: { $0.1.isHopTicket })
        }) { done in
            #expect(done, "no hop ticket proven false: cheater \(cheater.stats), verifier \(verifier.stats)")
            #expect(cheater.stats.hopAnswers >= 1, "\(cheater.stats)")
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func containsWindow(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}

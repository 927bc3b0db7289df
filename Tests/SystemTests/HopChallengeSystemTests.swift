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
/// garbage pass's receipt and is convicted: slashed, jailed, its window forfeited.
@Suite(.serialized, .tags(.system)) struct HopChallengeSystemTests {
    @Test func honestWorkersAnswerAndAReusingWorkerIsConvicted() async throws {
        let chain = try InProcessChain(label: "hop-challenges", checkInvariants: true)
        let (runtime, logger) = (chain.runtime, chain.logger)
        let honest = chain.worker(0, cheat: 0, hopChallengeRate: 1)
        let reuse = chain.worker(2, cheat: 0, adversary: .reuse, hopChallengeRate: 1)
        try await runtime.chain.setInvariantChecking(true)
        let role = StakeRole.worker(pool: 0)
        let start = try LedgerReader(runtime.chain.readView())
        let honestStake = try #require(try start.staker(role, honest.key.publicKey)).stake
        let reuseStake = try #require(try start.staker(role, reuse.key.publicKey)).stake
        let group = ServiceGroup(configuration: .init(services: (runtime.services() + [honest, reuse]).map { .init(service: $0) }, logger: logger))
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { try await group.run(); return false }
            tasks.addTask {
                // Done once the reuser was slashed for an unanswered challenge and the honest worker answered some.
                let deadline = ContinuousClock.now + .seconds(240)
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(300))
                    let r = LedgerReader(try runtime.chain.readView())
                    let slashed = (try r.staker(role, reuse.key.publicKey)?.stake ?? reuseStake) < reuseStake
                    if slashed && honest.stats.hopAnswers >= 2 { return true }
                }
                return false
            }
            let done = try await tasks.next()!
            let r = LedgerReader(try runtime.chain.readView())
            #expect(done, "honest \(honest.stats), reuse \(reuse.stats)")
            #expect(honest.stats.hopChallenges >= 2 && reuse.stats.hopChallenges >= 1, "honest \(honest.stats), reuse \(reuse.stats)")
            // The honest worker answered every challenge it got and kept its stake; the reuser was jailed.
            #expect(try r.staker(role, honest.key.publicKey)?.stake == honestStake)
            if case .jailed = try r.staker(role, reuse.key.publicKey)?.status {} else {
                Issue.record("the reusing worker is not jailed: \(String(describing: try r.staker(role, reuse.key.publicKey)))")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

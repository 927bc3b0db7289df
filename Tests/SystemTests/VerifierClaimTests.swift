import Foundation
import Synchronization
import Testing
@testable import Ledger
@testable import Node
@testable import Primitives
import TestSupport

/// Tenth review, lifecycle F1: the verifier's committed fraud claims lived in memory only, with a random salt, and the
/// ticket was marked checked before the claim was sent; a failed reveal send dropped the claim. A restart or a failed
/// send between the commitment and its reveal therefore burned the bond and let the fabricated pass go unpunished.
@Suite(.serialized, .tags(.system)) struct VerifierClaimTests {
    /// A verifier commits a claim on a fabricated pass, its reveal send fails (the claim stays pending), and it is
    /// stopped; a new verifier with the same key and state file opens the claim, and the fraud is proven.
    @Test func aCommittedClaimIsOpenedAfterAFailedRevealSendAndARestart() async throws {
        let chain = try InProcessChain(label: "verifier-claims")
        let honest = chain.worker(0, cheat: 0), cheater = chain.worker(2, cheat: 1.0)
        var config = VerifierConfig()
        config.stateFile = chain.dir.file("verifier.state")
        let refusedReveals = Mutex(0)
        // The first verifier's reveals never reach the node (an RPC error, a full mempool).
        let refusing = InterceptingChainClient(base: chain.client, refuseSubmit: { tx in
            guard case .fraudReveal = tx.transaction.body else { return false }
            refusedReveals.withLock { $0 += 1 }
            return true
        })
        let client = chain.client
        let first = VerifierService(key: DevelopmentKeys.verifier, client: refusing, weights: chain.weights, config: config, logger: chain.logger)
        try await chain.run(with: [honest, cheater], until: { _ in true }) { _ in
            // Sweep until a claim is committed.
            let deadline = ContinuousClock.now + .seconds(180)
            while first.pendingClaims.isEmpty {
                guard ContinuousClock.now < deadline else { Issue.record("no claim committed: \(first.stats)"); return }
                try await first.pass()
                try await Task.sleep(for: .milliseconds(200))
            }
            // Follow it up until its reveal was tried (the commitment is in a block below the tip) and refused.
            while refusedReveals.withLock({ $0 }) == 0 {
                guard ContinuousClock.now < deadline else { Issue.record("no reveal tried: \(first.stats)"); return }
                try await first.followUp()
                try await Task.sleep(for: .milliseconds(50))
            }
            let claim = try #require(first.pendingClaims.first)
            #expect(try await client.transactionHeight(claim.commitTx) != nil, "the commitment is not in a block")
            #expect(try await client.fraudCase(claim.ticketId) == nil)
            // The claim whose reveal failed is still pending, and on disk (as at a shutdown).
            first.persist()
            // The restart: a new service with the same key and state file.
            let second = VerifierService(key: DevelopmentKeys.verifier, client: client, weights: chain.weights, config: config, logger: chain.logger)
            #expect(second.pendingClaims.contains(claim), "the committed claim was not restored: \(second.pendingClaims)")
            #expect(try await second.checkOnce(claim.ticketId) == false, "the claimed ticket was checked (and committed) again")
            var proven = false
            while !proven, ContinuousClock.now < deadline {
                try await second.followUp()
                let status = try await client.fraudCase(claim.ticketId)?.status
                proven = status == .fraud || status == .paid
                if !proven { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(proven, "the claim committed before the restart was never opened: \(second.stats)")
            #expect(second.pendingClaims.isEmpty)
        }
    }

    /// A failed commitment send (an RPC error, a full mempool) left the ticket marked checked, so its fraud was never
    /// claimed. Now the ticket counts as checked only once its commitment is accepted: the next sweep commits the same
    /// claim.
    @Test func aTicketWhoseCommitmentSendFailedIsClaimedOnTheNextSweep() async throws {
        let chain = try InProcessChain(label: "verifier-commit-retry")
        let honest = chain.worker(0, cheat: 0), cheater = chain.worker(2, cheat: 1.0)
        let refused = Mutex([Hash32]()), accepted = Mutex(Set<Hash32>())
        // The first fraudCommit never reaches the node; the others are recorded once the node accepted them.
        let flaky = InterceptingChainClient(base: chain.client, afterSubmit: { tx in
            if case .fraudCommit(let claim, _) = tx.transaction.body { accepted.withLock { _ = $0.insert(claim) } }
        }, refuseSubmit: { tx in
            guard case .fraudCommit(let claim, _) = tx.transaction.body else { return false }
            return refused.withLock { r in
                guard r.isEmpty else { return false }
                r.append(claim)
                return true
            }
        })
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: flaky, weights: chain.weights, logger: chain.logger)
        try await chain.run(with: [honest, cheater], until: { _ in true }) { _ in
            let deadline = ContinuousClock.now + .seconds(180)
            func retried() -> Bool {
                // The same claim (its salt derives from the key and the ticket), sent again and accepted.
                guard let claim = refused.withLock({ $0.first }) else { return false }
                return accepted.withLock { $0.contains(claim) }
            }
            while !retried() {
                guard ContinuousClock.now < deadline else {
                    Issue.record("the ticket whose commitment was refused was never claimed again (refused: \(refused.withLock { $0.count }), \(verifier.stats))")
                    return
                }
                try await verifier.pass()
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

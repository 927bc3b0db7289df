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
            // The claim is let go once the follow-up sees its reveal in a block.
            try await second.followUp()
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

    /// Eleventh review, B1: a reveal the node accepted (`tx_sendRaw`) but that then left its mempool without reaching the
    /// chain (evicted, replaced, a node restart, a reorg) counted as sent, the claim was forgotten, and its bond burned at the
    /// end of the reveal period while the fraud went unpunished. Here another sender of the verifier's key replaces the
    /// first reveal in the mempool (same nonce, higher fee) right after the node accepted it: the verifier sends the reveal
    /// again and the fraud is proven; it sends nothing while the second reveal waits in the mempool, nor once it is on chain.
    @Test func aRevealDroppedFromTheMempoolIsSentAgainUntilItIsOnChain() async throws {
        let chain = try InProcessChain(label: "verifier-reveal-dropped")
        let honest = chain.worker(0, cheat: 0), cheater = chain.worker(2, cheat: 1.0)
        let base = chain.client
        let reveals = Mutex([Hash32]()), replacement = Mutex<Hash32?>(nil)
        let payee = try PrivateKey(secretBytes: SHA256.hash(Array("reveal-replacement-payee".utf8)).bytes).publicKey
        let dropping = InterceptingChainClient(base: base, afterSubmit: { tx in
            guard case .fraudReveal = tx.transaction.body else { return }
            guard reveals.withLock({ r -> Bool in r.append(tx.id); return r.count == 1 }) else { return }
            let t = tx.transaction
            let replacing = Transaction(chainId: t.chainId, sender: t.sender, nonce: t.nonce, fee: Amount(t.fee.units &* 2),
                                        body: .transfer(to: payee, amount: Amount(1))).signed(by: DevelopmentKeys.verifier)
            do {
                let id = try await base.submit(replacing)
                replacement.withLock { $0 = id }
            } catch {
                Issue.record("set-up: the first reveal could not be replaced in the mempool: \(error)")
            }
        })
        var config = VerifierConfig()
        config.stateFile = chain.dir.file("verifier.state")
        let verifier = VerifierService(key: DevelopmentKeys.verifier, client: dropping, weights: chain.weights, config: config, logger: chain.logger)
        try await chain.run(with: [honest, cheater], until: { _ in true }) { _ in
            let deadline = ContinuousClock.now + .seconds(180)
            while verifier.pendingClaims.isEmpty {
                guard ContinuousClock.now < deadline else { Issue.record("no claim committed: \(verifier.stats)"); return }
                try await verifier.pass()
                try await Task.sleep(for: .milliseconds(200))
            }
            let claim = try #require(verifier.pendingClaims.first)
            // Followed up every 50 ms, many times per 1-second block: a reveal waiting in the mempool must not be sent again.
            var proven = false
            while !proven {
                guard ContinuousClock.now < deadline else { Issue.record("the fraud was never proven: \(verifier.stats)"); return }
                try await verifier.followUp()
                let status = try await base.fraudCase(claim.ticketId)?.status
                proven = status == .fraud || status == .paid
                if !proven { try await Task.sleep(for: .milliseconds(50)) }
            }
            let sent = reveals.withLock { $0 }
            #expect(sent.count == 2, "reveals sent: \(sent.count) (one dropped, one sent again; none while it was pending)")
            #expect(replacement.withLock { $0 } != nil)
            if let first = sent.first { #expect(try await base.transactionHeight(first) == nil, "the first reveal reached the chain") }
            if sent.count > 1 { #expect(try await base.transactionHeight(sent[1]) != nil) }
            #expect(verifier.stats.revealsResent == 1)
            // On chain: the claim is let go, and further follow-ups across blocks send nothing.
            let tip = try await base.tip().height
            while try await base.tip().height < tip + 2, ContinuousClock.now < deadline {
                try await verifier.followUp()
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(verifier.pendingClaims.isEmpty, "the claim whose reveal is on chain is still pending")
            #expect(reveals.withLock { $0.count } == sent.count, "a reveal was sent again after one reached the chain")
        }
    }

    /// The state file keeps the reveal a claim last sent, so a restarted verifier does not send a second copy of one still
    /// pending, and reads the lines of claims saved before any reveal (and before this field existed).
    @Test func aClaimLineKeepsItsRevealTransaction() throws {
        let a = SHA256.hash([1]), b = SHA256.hash([2]), c = SHA256.hash([3])
        let sent = VerifierService.PendingClaim(ticketId: a, commitTx: b, pool: 7, revealTx: c)
        #expect(VerifierService.PendingClaim(line: Substring(sent.line)) == sent)
        let unsent = VerifierService.PendingClaim(ticketId: a, commitTx: b, pool: 7)
        #expect(unsent.line == "claim \(a.hex) \(b.hex) 7")
        #expect(VerifierService.PendingClaim(line: Substring(unsent.line)) == unsent)
        #expect(VerifierService.PendingClaim(line: Substring(unsent.line + " nothex")) == nil)
    }
}

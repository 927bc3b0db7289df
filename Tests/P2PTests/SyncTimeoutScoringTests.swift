@testable import P2P
import Testing
import TestSupport

extension SyncAttackTests {
    /// Ninth review (P2P), F2: a peer that does not answer a `getBlocks` of 16 blocks is scored one request timeout (2 points), not 16.
    @Test(.timeLimit(.minutes(3))) func aTimedOutGetBlocksCostsOneTimeoutNotOnePerBlock() async throws {
        let chains = try await Self.chains(blocks: 41, victimHeight: 1, "timeouts")
        let headers = Array(chains.blocks.dropFirst().map(\.signedHeader))
        try await Self.run(chains, claim: 41, headers: { _ in headers }, answer: .silence) { sync, peer, log in
            // Asked twice: the first request timed out and its blocks were asked for again.
            // Both conditions are waited for: a loaded machine can log the penalty a moment after the request again.
            #expect(await eventually(.seconds(60)) {
                log.getBlocks.load(ordering: .relaxed) >= 2 && log.count(.requestTimeout, peer: peer.id, containing: "block request") >= 1
            }, "blocks were not asked for again after a timeout penalty")
            // Penalties first: each follows its request, so read in this order the count cannot pass the requests'.
            let timeouts = log.count(.requestTimeout, peer: peer.id, containing: "block request")
            let requests = log.getBlocks.load(ordering: .relaxed)
            #expect(timeouts >= 1)
            #expect(timeouts <= requests, "\(timeouts) block-timeout penalties for \(requests) getBlocks requests")
        }
    }
}

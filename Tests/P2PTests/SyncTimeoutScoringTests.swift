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
            #expect(await eventually(.seconds(60)) { log.getBlocks.load(ordering: .relaxed) >= 2 }, "blocks were not asked for again")
            let requests = log.getBlocks.load(ordering: .relaxed)
            let timeouts = log.count(.requestTimeout, peer: peer.id, containing: "block request")
            #expect(timeouts >= 1)
            #expect(timeouts <= requests, "\(timeouts) block-timeout penalties for \(requests) getBlocks requests")
        }
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Tenth review, consensus F2: a flood of conflicting finality votes made every validator node submit one evidence
/// transaction per conflicting pair (~k²/2 for k votes), paid by its own key, filling its nonce window (its own finality
/// vote was then refused) and growing the vote watch without bound. Each test performs the attack and asserts it fails.
@Suite struct ConsensusAttackReview10Tests {
    struct Node {
        let service: ChainService
        let dir: TempDir
        let clock: TestClock
        var identities: [ValidatorIdentity]
        var slot: UInt64
    }

    /// A chain service reporting evidence with account 2's key (a validator node uses its own, funded, key).
    static func node(_ net: TestNetwork) async throws -> Node {
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now }, evidenceReporter: net.accounts[2])
        return Node(service: service, dir: dir, clock: clock,
                    identities: net.validators.indices.map { ValidatorIdentity(key: net.validators[$0], chains: [net.chains[$0]]) }, slot: 1)
    }

    /// Produces one block at the next slot some validator leads.
    static func produce(_ node: inout Node, _ net: TestNetwork) async throws -> Block {
        while true {
            node.clock.set(net.now(node.slot))
            defer { node.slot += 1 }
            for i in node.identities.indices {
                if let b = try await node.service.produce(slot: node.slot, identity: &node.identities[i], deadline: .max) { return b }
            }
        }
    }

    static func send(_ node: Node, _ net: TestNetwork, from sender: PrivateKey, _ body: TxBody, nonceAhead: UInt64 = 0) async throws {
        let nonce = try await node.service.nextNonce(for: sender.publicKey) + nonceAhead
        try await node.service.submit(Transaction(chainId: net.genesis.chainId, sender: sender.publicKey, nonce: nonce, fee: 200_000,
                                                  body: body).signed(by: sender))
    }

    /// `count` validly signed votes of `offender` for one target height with made-up hashes: every two conflict.
    static func conflictingVotes(_ net: TestNetwork, _ offender: PrivateKey, count: Int, salt: UInt8) -> [FinalityVote] {
        (0..<count).map { i in
            FinalityVote(validator: offender.publicKey, source: Checkpoint(height: 0, hash: SHA256.hash([0])),
                         target: Checkpoint(height: 10, hash: SHA256.hash([salt, UInt8(i)]))).signed(by: offender, chainId: net.genesis.chainId)
        }
    }

    static func evidence(_ node: Node) async -> [SignedTransaction] {
        await node.service.mempoolContents().filter { if case .voteEvidence = $0.transaction.body { true } else { false } }
    }

    /// A former validator that unbonded everything (out of the schedule; its record is deleted once its last entry
    /// matures, state-machine §4 end-block step 1) and whose unbonding has matured (nothing left to slash; while it unbonds it is still watched, `ConsensusReview11Tests`) floods
    /// 70 conflicting votes in a gapped transaction (admitted, never executable, never paid). On the reviewed code the
    /// node submitted one evidence transaction per pair until its nonce window was full (65), each succeeding on chain
    /// with a slash of 0. Now its votes are not watched at all: no evidence, no signature checked.
    @Test func aZeroStakeFormerValidatorsVoteFloodMakesTheNodeSubmitNothing() async throws {
        let net = TestNetwork(validators: 3)
        var node = try await Self.node(net)
        let former = net.validators[2]
        try await Self.send(node, net, from: net.accounts[0], .transfer(to: former.publicKey, amount: Amount(1_000_000)))
        _ = try await Self.produce(&node, net)
        try await Self.send(node, net, from: former, .unbond(role: .validator, amount: Amount(1000)))
        _ = try await Self.produce(&node, net)
        while try !LedgerReader(node.service.readView()).unbondings(.validator, former.publicKey).isEmpty {
            _ = try await Self.produce(&node, net)
            #expect(node.slot < 200, "the unbonding never matured")
            if node.slot >= 200 { return }
        }
        let view = try node.service.readView()
        // Since the fourteenth review the maturity of its last entry deletes a record that holds nothing.
        #expect(try LedgerReader(view).staker(.validator, former.publicKey) == nil, "the set-up needs a former validator with nothing left")
        let checkedBefore = await node.service.voteSignaturesChecked
        try await Self.send(node, net, from: net.accounts[1], .finalityVotes(votes: Self.conflictingVotes(net, former, count: 70, salt: 1)),
                            nonceAhead: 5)
        let evidence = await Self.evidence(node)
        #expect(evidence.isEmpty, "the node queued \(evidence.count) evidence transactions against a zero-stake key")
        #expect(await node.service.voteSignaturesChecked == checkedBefore, "the votes of a key that is not watched were verified")
        #expect(await node.service.votesSeen.keys.isEmpty)
    }

    /// A staked validator that double-votes 70 times (and again in a second transaction) costs the reporting node one
    /// evidence transaction, not one per pair; its further votes are not even verified; once the evidence is in a block
    /// (it is tombstoned) the watch forgets it.
    @Test func aStakedDoubleVoterCostsTheReporterOneEvidenceTransaction() async throws {
        let net = TestNetwork(validators: 3)
        var node = try await Self.node(net)
        let offender = net.validators[1]
        try await Self.send(node, net, from: net.accounts[1], .finalityVotes(votes: Self.conflictingVotes(net, offender, count: 70, salt: 1)),
                            nonceAhead: 5)
        let evidence = await Self.evidence(node)
        #expect(evidence.count == 1, "\(evidence.count) evidence transactions for one offender")
        let checked = await node.service.voteSignaturesChecked
        try await Self.send(node, net, from: net.accounts[2], .finalityVotes(votes: Self.conflictingVotes(net, offender, count: 70, salt: 2)),
                            nonceAhead: 5)
        #expect(await Self.evidence(node).count == 1, "a second flood added evidence transactions")
        #expect(await node.service.voteSignaturesChecked == checked, "an offender with a pair on file had its further votes verified")
        #expect(await node.service.votesSeen.evidence.count == 1)
        // The reporter's nonce window is not filled: its next nonce is one past the evidence.
        #expect(try await node.service.nextNonce(for: net.accounts[2].publicKey) == 1)
        while try LedgerReader(node.service.readView()).staker(.validator, offender.publicKey)?.status != .tombstoned {
            _ = try await Self.produce(&node, net)
            #expect(node.slot < 200, "the evidence was never included")
            if node.slot >= 200 { return }
        }
        #expect(await node.service.votesSeen.keys.isEmpty, "the punished offender is still in the vote watch")
        #expect(await Self.evidence(node).isEmpty)
    }
}

import Foundation
import Testing
import TestSupport
@testable import Consensus
@testable import Ledger
@testable import Primitives

/// The node side of the finality gadget (Specs/consensus.md §8): slashing protection, the vote due on a tip,
/// and automatic evidence for conflicting votes.
@Suite struct FinalityVotingTests {
    func vote(_ key: PrivateKey, _ s: UInt64, _ t: UInt64, hash: UInt8 = 0) -> FinalityVote {
        FinalityVote(validator: key.publicKey, source: Checkpoint(height: s, hash: SHA256.hash([UInt8(s)])),
                     target: Checkpoint(height: t, hash: SHA256.hash([UInt8(t), hash])))
    }

    @Test func slashingProtectionNeverPermitsADoubleOrSurroundVote() {
        let k = key("protected")
        var p = SlashingProtection()
        #expect(p.permits(vote(k, 0, 10)))
        p.record(vote(k, 0, 10))
        #expect(!p.permits(vote(k, 0, 10)), "the same target again")
        #expect(!p.permits(vote(k, 0, 10, hash: 1)), "double vote")
        #expect(p.permits(vote(k, 10, 20)))
        p.record(vote(k, 10, 20))
        #expect(!p.permits(vote(k, 0, 30)), "surrounds 10 → 20")
        #expect(!p.permits(vote(k, 12, 18)), "surrounded by 10 → 20")
        #expect(!p.permits(vote(k, 20, 20)), "not a link")
        #expect(p.permits(vote(k, 20, 30)))
        // Round trip through the file format the node keeps.
        let data = try! JSONEncoder().encode(p)
        #expect(try! JSONDecoder().decode(SlashingProtection.self, from: data) == p)
    }

    /// A single validator's votes justify and finalize its own checkpoints (it holds all the stake); the vote due
    /// names the justified checkpoint as source and the highest recorded checkpoint as target.
    @Test func theVoteDueOnTheTipFinalizesASoleValidatorsChain() async throws {
        let net = TestNetwork(validators: 1, checkpointBlocks: 2)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now })
        var identity = ValidatorIdentity(key: net.validators[0], chains: [net.chains[0]])
        let v = net.validators[0]
        var protection = SlashingProtection()
        var cast = [FinalityVote]()
        for slot in UInt64(1)...12 {
            clock.set(net.now(slot))
            _ = try await service.produce(slot: slot, identity: &identity, deadline: .max)
            if let due = try await service.finalityVoteCandidate(for: v.publicKey), protection.permits(due) {
                protection.record(due)
                cast.append(due)
                let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[0].publicKey,
                                     nonce: try await service.nextNonce(for: net.accounts[0].publicKey), fee: 10_000,
                                     body: .finalityVotes(votes: [due.signed(by: v, chainId: net.genesis.chainId)])).signed(by: net.accounts[0])
                try await service.submit(tx)
            }
        }
        #expect(cast.first?.source.height == 0 && cast.first?.target.height == 2)
        #expect(zip(cast, cast.dropFirst()).allSatisfy { $0.target.height < $1.target.height })
        let f = try await service.finality()
        #expect(f.finalized.height >= 6, "finality did not advance: \(f)")
        #expect(await service.status().finalizedHeight == f.finalized.height)
        #expect(f.justified.height > f.finalized.height)
    }

    /// A node that sees two conflicting votes of one validator (in the mempool or in blocks) submits the
    /// evidence; the next block slashes and tombstones the validator.
    @Test func conflictingVotesSeenByANodeBecomeEvidence() async throws {
        let net = TestNetwork(validators: 2, checkpointBlocks: 2)
        let dir = TempDir()
        let clock = TestClock(net.now(1))
        let service = ChainService(engine: try net.engine(at: dir), clock: { clock.now }, evidenceReporter: net.accounts[2])
        let offender = net.validators[0]
        let a = vote(offender, 0, 2).signed(by: offender, chainId: net.genesis.chainId)
        let b = vote(offender, 0, 2, hash: 9).signed(by: offender, chainId: net.genesis.chainId)
        for (i, v) in [a, b].enumerated() {
            let tx = Transaction(chainId: net.genesis.chainId, sender: net.accounts[i].publicKey, nonce: 0, fee: 10_000,
                                 body: .finalityVotes(votes: [v])).signed(by: net.accounts[i])
            try await service.submit(tx)
        }
        let evidence = await service.mempoolContents().filter { if case .voteEvidence = $0.transaction.body { true } else { false } }
        #expect(evidence.count == 1)
        #expect(evidence.first?.transaction.sender == net.accounts[2].publicKey)
        var identities = (0..<2).map { ValidatorIdentity(key: net.validators[$0], chains: [net.chains[$0]]) }
        var slot: UInt64 = 1
        while await service.status().height < 1 {
            clock.set(net.now(slot))
            for i in identities.indices { if try await service.produce(slot: slot, identity: &identities[i], deadline: .max) != nil { break } }
            slot += 1
        }
        #expect(try LedgerReader(service.readView()).staker(.validator, offender.publicKey)?.status == .tombstoned)
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import Storage
import TestSupport

/// Eleventh review, B2: since the tenth review the vote watch kept only keys in the tip's schedule or with bonded stake,
/// and the header watch only active validators' unscheduled headers. A validator that unbonded everything leaves the
/// schedule at once, but its stake is unbonding, and slashable, until it matures: the ledger would slash it on evidence,
/// yet no node submitted any. Each test performs the offence and asserts the node now submits the evidence and the ledger
/// slashes the unbonding stake.
@Suite struct ConsensusReview11Tests {
    typealias R10 = ConsensusAttackReview10Tests

    /// Validator 2 of `net` pays for its own unbond and unbonds all its stake (1000): the block doing so, after which it
    /// has a record with no bonded stake, out of the schedule, and an unbonding entry.
    static func unbondEverything(_ node: inout R10.Node, _ net: TestNetwork) async throws -> (former: PrivateKey, block: Block) {
        let former = net.validators[2]
        try await R10.send(node, net, from: net.accounts[0], .transfer(to: former.publicKey, amount: Amount(1_000_000)))
        _ = try await R10.produce(&node, net)
        try await R10.send(node, net, from: former, .unbond(role: .validator, amount: Amount(1000)))
        let block = try await R10.produce(&node, net)
        let reader = LedgerReader(try node.service.readView())
        let record = try #require(try reader.staker(.validator, former.publicKey))
        #expect(record.stake == .zero && record.status != .tombstoned, "the set-up needs a zero-stake validator record: \(record)")
        #expect(try reader.unbondings(.validator, former.publicKey).map(\.entry.amount) == [Amount(1000)])
        #expect(try reader.unbondings(.validator, former.publicKey).first?.entry.createdHeight == block.header.height)
        return (former, block)
    }

    /// Produces blocks until `key` is tombstoned on the tip (at most up to slot 200); returns what is left unbonding.
    static func untilTombstoned(_ node: inout R10.Node, _ net: TestNetwork, _ key: PublicKey) async throws -> Amount? {
        while try LedgerReader(node.service.readView()).staker(.validator, key)?.status != .tombstoned {
            guard node.slot < 200 else { return nil }
            _ = try await R10.produce(&node, net)
        }
        let left = try LedgerReader(node.service.readView()).unbondings(.validator, key).reduce(UInt64(0)) { $0 + $1.entry.amount.units }
        return Amount(left)
    }

    /// The validator that unbonded everything signs two conflicting votes for a target at the height it unbonded (where
    /// its stake was still bonded): the node submits one evidence transaction, and the ledger slashes the unbonding entry
    /// (`equivocationSlashBps` of 1000) and tombstones it.
    @Test func aValidatorWithOnlyUnbondingStakeIsSlashedForConflictingVotes() async throws {
        let net = TestNetwork(validators: 3)
        var node = try await R10.node(net)
        let (former, block) = try await Self.unbondEverything(&node, net)
        let votes = (0..<2).map { i in
            FinalityVote(validator: former.publicKey, source: Checkpoint(height: 0, hash: SHA256.hash([0])),
                         target: Checkpoint(height: block.header.height, hash: SHA256.hash([9, UInt8(i)]))).signed(by: former, chainId: net.genesis.chainId)
        }
        try await R10.send(node, net, from: net.accounts[1], .finalityVotes(votes: votes), nonceAhead: 5)
        let evidence = await R10.evidence(node)
        #expect(evidence.count == 1, "\(evidence.count) evidence transactions against a validator whose stake is unbonding")
        guard evidence.count == 1 else { return }
        let left = try await Self.untilTombstoned(&node, net, former.publicKey)
        let expected = Amount(1000 - Amount(1000).basisPoints(net.genesis.ledger.equivocationSlashBps).units)
        #expect(left == expected, "unbonding stake left after the evidence: \(String(describing: left)), expected \(expected)")
    }

    /// The same validator signs two different headers for the slot of the block in which it unbonded (a slot it no longer
    /// leads under the tip's schedule): the node submits `doubleSignEvidence`, and the ledger slashes the unbonding entry.
    @Test func aValidatorWithOnlyUnbondingStakeIsSlashedForDoubleSigning() async throws {
        let net = TestNetwork(validators: 3)
        var node = try await R10.node(net)
        let (former, block) = try await Self.unbondEverything(&node, net)
        let tip = await node.service.tipHeader
        let a = ConsensusAttackReviewTests.forge(net, parent: tip, slot: block.header.slot, key: former)
        var h = a.header
        h.stateRoot = SHA256.hash([1])
        let b = Block(signedHeader: SignedHeader(header: h, signedBy: former), transactions: [])
        _ = await node.service.importBlock(a)
        _ = await node.service.importBlock(b)
        let evidence = await node.service.mempoolContents().filter { if case .doubleSignEvidence = $0.transaction.body { true } else { false } }
        #expect(evidence.count == 1, "\(evidence.count) double-sign evidence transactions against a validator whose stake is unbonding")
        guard evidence.count == 1 else { return }
        let left = try await Self.untilTombstoned(&node, net, former.publicKey)
        let expected = Amount(1000 - Amount(1000).basisPoints(net.genesis.ledger.equivocationSlashBps).units)
        #expect(left == expected, "unbonding stake left after the evidence: \(String(describing: left)), expected \(expected)")
    }
}

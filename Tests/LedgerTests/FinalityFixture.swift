import Testing
@testable import Ledger
@testable import Primitives

/// The chain the finality suites share: checkpoints every 4 blocks, one long epoch, pseudo block hashes, and an
/// account that submits votes.
protocol FinalityFixture {}

extension FinalityFixture {
    var submitter: PrivateKey { testKey("vote-submitter") }

    func chain(validators: Int = 4) throws -> Chain {
        var params = Chain.defaultParams()
        params.checkpointBlocks = 4
        params.slotsPerEpoch = 1_000
        var c = try Chain(validatorCount: validators, accounts: [(submitter, 10_000_000)], params: params)
        c.pseudoBlockHashes = true
        return c
    }

    func checkpoint(_ c: Chain, _ height: UInt64) -> Checkpoint { Checkpoint(height: height, hash: c.blockHashes[Int(height)]) }

    /// `v`'s signed vote from `source` to `target`.
    func vote(_ c: Chain, _ v: Int, source: Checkpoint, target: Checkpoint) -> FinalityVote {
        FinalityVote(validator: c.validators[v].key.publicKey, source: source, target: target)
            .signed(by: c.validators[v].key, chainId: Chain.chainId)
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import Storage

/// Genesis documents that loaded and then stopped every node (crash audit of the seventeenth session): the chain-wide
/// checks ran only once per pool, so a genesis without pools skipped them; times, sizes and counts had no upper bound
/// (or no lower one, for signed counts). Each is now refused when the document loads, naming the field.
@Suite struct GenesisReview17Tests {
    let v0 = key("v0"), alice = key("alice")

    func document() throws -> GenesisDocument {
        try GenesisDocument.decode(Data(sampleGenesisJSON(validators: [v0], balances: [(alice, 5000)]).utf8))
    }

    func refusal(_ change: (inout GenesisDocument) -> Void) throws -> String {
        var d = try document()
        change(&d)
        do { _ = try d.resolve(); return "accepted" } catch { return "\(error)" }
    }

    /// A genesis without pools is a chain of transfers and validators: still accepted. But with `checkpointBlocks` 0 it
    /// computed `height % 0` in the first block's begin-block on every node, with `missedSlotSlashBps` above 10 000 it
    /// slashed more than the stake at the first missed slot (an underflow trap), and with `maxVotesPerTransaction` 0 no
    /// checkpoint could ever be finalized. Mutation: running the chain-wide checks only per pool accepts all three.
    @Test func aGenesisWithoutPoolsStillHasItsChainParametersChecked() throws {
        #expect(try refusal { $0.pools = [] } == "accepted")
        #expect(try refusal { $0.pools = []; $0.ledger?.checkpointBlocks = 0 }.contains("ledger.checkpointBlocks must be at least 1"))
        #expect(try refusal { $0.pools = []; $0.ledger?.missedSlotSlashBps = 20_000 }.contains("ledger.missedSlotSlashBps exceeds 10000"))
        #expect(try refusal { $0.pools = []; $0.ledger?.maxVotesPerTransaction = 0 }.contains("ledger.maxVotesPerTransaction must be at least 1"))
        #expect(try refusal { $0.pools = []; $0.ledger?.beaconMaxDelay = 0; $0.ledger?.beaconDelay = 1 }.contains("ledger.beaconMaxDelay"))
    }

    /// A `genesisTime` in milliseconds (or nanoseconds) overflowed `genesisTime × 1000` when a node opened the chain; a
    /// slot of 10¹⁶ seconds the producer's slot arithmetic. Refused, naming the unit.
    @Test func timesBeyondAnyClockAreRefused() throws {
        #expect(try refusal { $0.genesisTime = 1_700_000_000_000_000_000 }.contains("Unix time in seconds"))
        #expect(try refusal { $0.genesisTime = Genesis.maxGenesisTime + 1 }.contains("genesisTime"))
        #expect(try refusal { $0.genesisTime = Genesis.maxGenesisTime } == "accepted")
        #expect(try refusal { $0.consensus?.slotSeconds = 10_000_000_000_000_000 }.contains("consensus.slotSeconds"))
        #expect(try refusal { $0.consensus?.slotSeconds = Genesis.maxSlotSeconds } == "accepted")
        #expect(try refusal { $0.consensus?.clockToleranceMillis = UInt64.max - 5 }.contains("consensus.clockToleranceMillis"))
        #expect(try refusal { $0.consensus?.clockToleranceMillis = Genesis.maxClockToleranceMillis } == "accepted")
    }

    /// A block size of 2⁶² overflowed the P2P frame budget on every node; a transaction count above what the chain store
    /// keeps of a block made valid blocks unstorable; a negative count trapped the canonical encoding (the chain id)
    /// before any check.
    @Test func sizesAndCountsOutOfRangeAreRefused() throws {
        #expect(try refusal { $0.consensus?.maxBlockBytes = 1 << 62 }.contains("consensus.maxBlockBytes"))
        #expect(try refusal { $0.consensus?.maxBlockBytes = 0 }.contains("consensus.maxBlockBytes"))
        #expect(try refusal { $0.consensus?.maxBlockBytes = Genesis.maxBlockBytesLimit } == "accepted")
        #expect(try refusal { $0.consensus?.maxBlockTransactions = StorageLimits.maxTransactionsPerBlock + 1 }.contains("consensus.maxBlockTransactions"))
        #expect(try refusal { $0.consensus?.maxBlockTransactions = -1 }.contains("consensus.maxBlockTransactions"))
        #expect(try refusal { $0.ledger?.maxUnbondingEntries = -1 }.contains("ledger.maxUnbondingEntries -1 is negative"))
        #expect(try refusal { $0.ledger?.maxTransactionBytes = -5 }.contains("ledger.maxTransactionBytes -5 is negative"))
        #expect(try refusal { $0.ledger?.maxCommitmentsPerBlock = -2 }.contains("ledger.maxCommitmentsPerBlock -2 is negative"))
    }
}

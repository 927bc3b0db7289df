import Foundation
import Testing
@testable import Consensus
@testable import Node
@testable import Primitives
import TestSupport

/// The block producer's protection against signing two blocks for one slot (an equivocation, tombstoned:
/// Specs/consensus.md §5). Review A, suspicion S3: the producer signs for the slot the wall clock names, so a clock
/// stepped back while its first block of that slot is not on its chain (reorged out, or never stored) made an
/// honest validator sign the slot again.
@Suite struct BlockSigningProtectionTests {
    @Test func aSlotSignedOnceIsNeverSignedAgainEvenByANodeThatLostItsBlock() async throws {
        let g = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let dir = TempDir()
        let file = dir.file("signed-blocks.json")
        let clock = TestClock(g.genesis.slotStartMillis(1) + 5)
        var identity = TestGenesis.identity(0)
        var protection = try BlockSigningProtection.load(file)
        #expect(protection.lastSignedSlot == nil)

        for sub in ["a", "b"] { try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true) }
        let first = try g.chainService(dataDir: dir.file("a"), clock: clock)
        let signed = try await BlockSigningProtectionTests.produce(slot: 1, first, &identity, &protection, file, clock, g)
        #expect(signed?.header.slot == 1)
        #expect(try BlockSigningProtection.load(file).lastSignedSlot == 1, "the slot is on disk before the block leaves")

        // The same validator on a chain without that block (the first one reorged out, or a restart that lost it),
        // with the clock back in slot 1: it leads slot 1 there, and must not sign it again.
        let second = try g.chainService(dataDir: dir.file("b"), clock: clock)
        #expect(try await second.leader(of: 1) == identity.key.publicKey)
        var reloaded = try BlockSigningProtection.load(file)
        #expect(try await BlockSigningProtectionTests.produce(slot: 1, second, &identity, &reloaded, file, clock, g) == nil,
                "signed a second block for slot 1")
        #expect(await second.status().height == 0)
        // The next slot is signed as usual.
        clock.set(g.genesis.slotStartMillis(2) + 5)
        #expect(try await BlockSigningProtectionTests.produce(slot: 2, second, &identity, &reloaded, file, clock, g)?.header.slot == 2)
        #expect(try BlockSigningProtection.load(file).lastSignedSlot == 2)
    }

    @Test func anUnreadableRecordStopsTheProducerInsteadOfStartingFromScratch() throws {
        let dir = TempDir()
        let file = dir.file("signed-blocks.json")
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: NodeStartupError.self) { try BlockSigningProtection.load(file) }
    }

    @Test func permitsOnlySlotsAboveEverySlotSigned() {
        var p = BlockSigningProtection()
        #expect(p.permits(slot: 0) && p.permits(slot: 7))
        p.record(slot: 7)
        #expect(!p.permits(slot: 7) && !p.permits(slot: 3) && p.permits(slot: 8))
        p.record(slot: 5)
        #expect(p.lastSignedSlot == 7, "an older slot never lowers the record")
    }

    static func produce(slot: UInt64, _ chain: ChainService, _ identity: inout ValidatorIdentity, _ protection: inout BlockSigningProtection,
                        _ file: String, _ clock: TestClock, _ g: TestGenesis) async throws -> Block? {
        try await BlockProducerService.produceIfPermitted(slot: slot, chain: chain, identity: &identity, protection: &protection,
                                                          protectionFile: file, deadline: .max)
    }
}

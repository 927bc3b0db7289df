import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import TestSupport

/// `ChainService.isScheduled`: what the block producer asks to tell an operator that its key leads no slot.
@Suite struct ScheduleQueryTests {
    @Test func onlyTheScheduledValidatorsAreScheduled() async throws {
        let net = TestNetwork(validators: 2)
        let dir = TempDir()
        let service = ChainService(engine: try net.engine(at: dir), clock: { net.now(1) })
        for slot in [UInt64(1), 2, 40] {
            #expect(try await service.isScheduled(net.validators[0].publicKey, slot: slot))
            #expect(try await service.isScheduled(net.validators[1].publicKey, slot: slot))
            #expect(try await service.isScheduled(net.accounts[0].publicKey, slot: slot) == false, "a funded account that never bonded")
            #expect(try await service.isScheduled(key("stranger").publicKey, slot: slot) == false)
        }
    }
}

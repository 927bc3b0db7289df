import Testing
@testable import Node

/// The economy simulation on the real ledger (every invariant checked after every block): the deterministic
/// deviations lose money against honest work. (The statistical table over 1 000 windows and 10 seeds is
/// `sharechain sim economy`, in release; Specs/economics.md §5.)
@Suite struct EconomySimulationTests {
    @Test func everyDeterministicDeviationLosesMoney() throws {
        var config = EconomySimulation.Config()
        config.seed = 7
        config.windows = 24
        config.strategies = [.honest, .fabricate(1), .withhold, .duplicate, .selfDeal]
        var sim = try EconomySimulation(config: config)
        let report = try sim.run()
        let outcomes = report.workers
        let honest = try #require(outcomes.first { $0.strategy == .honest })
        #expect(honest.profitPerWindow > 0, "honest work must pay: \(outcomes)")
        // Honest work is paid (only the stake cap, in windows of three times the usual demand, sends some back).
        #expect(honest.paid > 10 * honest.refunded)
        for o in outcomes where o.strategy != .honest {
            #expect(o.profitPerWindow < 0, "\(o.strategy) made money: \(o)")
            #expect(o.profitPerWindow < honest.profitPerWindow)
        }
        // The cheaters were slashed; the self-dealer (honest compute on its own money) was not.
        for o in outcomes where [.fabricate(1), .withhold, .duplicate].contains(o.strategy) { #expect(o.slashed > 0, "\(o)") }
        #expect(outcomes.first { $0.strategy == .selfDeal }?.slashed == 0)
        // The verifier earned bounties; copying its proofs a block later and spamming false claims lose money.
        let claimants = Dictionary(uniqueKeysWithValues: report.claimants.map { ($0.claimant, $0.profitPerWindow) })
        #expect(claimants[.verifier]! > 0, "\(report.claimants)")
        #expect(claimants[.frontRunner]! < 0, "\(report.claimants)")
        #expect(claimants[.spammer]! < 0, "\(report.claimants)")
    }

    @Test func sameSeedSameOutcome() throws {
        var config = EconomySimulation.Config()
        config.windows = 6
        config.strategies = [.honest, .fabricate(0.2)]
        var a = try EconomySimulation(config: config), b = try EconomySimulation(config: config)
        #expect(try a.run().workers.map(\.profitPerWindow) == b.run().workers.map(\.profitPerWindow))
    }
}

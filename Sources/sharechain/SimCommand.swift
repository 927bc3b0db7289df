import ArgumentParser
import Foundation
import Node

/// `sharechain sim ...`: in-process simulations on the real ledger.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim", abstract: "In-process simulations on the real ledger.", subcommands: [Economy.self])

    struct Economy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Honest and adversarial workers, clients, verifiers and a claim spammer over many windows; each strategy's profit against honest.",
            discussion: """
            Runs --seeds independent chains (seeds S, S+1, ...) of --windows windows each, checking every ledger invariant after
            every block, and prints each strategy's mean profit per window (payouts minus compute, fees, slashes and bonds),
            its difference to the honest worker's, and a 95 % confidence interval over the seeds. Specs/economics.md §5 derives
            why every deviation should lose money.

            With --checkers (e.g. honest,honest,lazy,colluding,absent) the pool runs protocol 4 (Specs/verification.md):
            one checker per entry bonds --checker-stake and registers, tickets are revealed sealed to k = 3 assigned
            checkers, and each checker's profit per window (fees + bounties − slashes − transaction fees − replay compute)
            is printed too. Cheating workers withhold the dispute key (cheaper: convicted either way) unless
            --cheaters-publish-key.
            """)

        @Option(help: "First seed.") var seed: UInt64 = 1
        @Option(help: "Seeds (independent runs).") var seeds = 10
        @Option(help: "Windows per run.") var windows = 1_000
        @Option(help: "Probability that a verifier replays a revealed ticket.") var replayProbability = 1.0
        @Option(help: "Compute cost per token as a share of its price.") var computeCost = 0.7
        @Option(help: "Probability that a client challenges each hop receipt it holds (protocol 5; 0 turns hop challenges off).")
        var hopChallengeProbability = 0.05
        @Option(help: "Protocol-4 checkers, comma-separated: honest, lazy, colluding, silent (colludes, withholds its reveal on a dissent), absent, bad-input (answers bad input to every ticket without replaying) (empty: protocol 3).")
        var checkers = ""
        @Option(help: "Each checker's bonded stake.") var checkerStake: UInt64 = 100_000
        @Flag(help: "Cheating workers publish the dispute key (default: they withhold it).") var cheatersPublishKey = false

        var checkerStrategies: [EconomySimulation.CheckerStrategy] {
            get throws {
                try checkers.split(separator: ",").map { name in
                    guard let s = EconomySimulation.CheckerStrategy(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("unknown checker strategy '\(name)' (honest, lazy, colluding, silent, absent, bad-input)")
                    }
                    return s
                }
            }
        }

        func validate() throws {
            guard (1...10_000).contains(seeds), (1...10_000_000).contains(windows) else {
                throw ValidationError("--seeds must be in 1...10000 and --windows in 1...10000000")
            }
            guard !seed.addingReportingOverflow(UInt64(seeds)).overflow else { throw ValidationError("--seed + --seeds must stay below 2^64") }
            guard (0...1).contains(replayProbability), (0...1).contains(computeCost), (0...1).contains(hopChallengeProbability) else {
                throw ValidationError("--replay-probability, --compute-cost and --hop-challenge-probability are shares between 0 and 1")
            }
            _ = try checkerStrategies
        }

        func run() async throws {
            var profits = [String: [Double]]()
            var order = [String]()
            var claimantProfits = [String: [Double]]()
            var claimantOrder = [String]()
            var checkerProfits = [String: [Double]]()
            var checkerParts = [String: [Double]]()  // fees, bounties, slashed, compute, assigned: summed over seeds
            var checkerOrder = [String]()
            var hops = [0, 0, 0]  // challenged, answered, unanswered
            for s in 0..<seeds {
                var config = EconomySimulation.Config()
                config.seed = seed + UInt64(s)
                config.windows = windows
                config.replayProbability = replayProbability
                config.computeCostShare = computeCost
                config.hopChallengeProbability = hopChallengeProbability
                config.checkers = try checkerStrategies
                config.checkerStake = checkerStake
                config.cheatersPublishKey = cheatersPublishKey
                var sim = try EconomySimulation(config: config)
                let report = try sim.run()
                hops[0] += sim.hopChallenges; hops[1] += sim.hopAnswered; hops[2] += sim.hopUnanswered
                let outcomes = report.workers
                let honest = outcomes.first { $0.strategy == .honest }!.profitPerWindow
                for o in outcomes {
                    let name = o.strategy.description
                    if profits[name] == nil { order.append(name) }
                    profits[name, default: []].append(o.profitPerWindow)
                    profits[name + " − honest", default: []].append(o.profitPerWindow - honest)
                }
                for c in report.claimants {
                    if claimantProfits[c.claimant.rawValue] == nil { claimantOrder.append(c.claimant.rawValue) }
                    claimantProfits[c.claimant.rawValue, default: []].append(c.profitPerWindow)
                }
                for (i, c) in report.checkers.enumerated() {
                    let name = "\(c.strategy) #\(i)"
                    if checkerProfits[name] == nil { checkerOrder.append(name) }
                    checkerProfits[name, default: []].append(c.profitPerWindow)
                    let parts = [Double(c.fees), Double(c.bounties), Double(c.slashed), c.computeCost, Double(c.assigned)]
                    checkerParts[name] = zip(checkerParts[name] ?? Array(repeating: 0, count: parts.count), parts).map { $0 + $1 }
                }
                FileHandle.standardError.write(Data("seed \(config.seed): done\n".utf8))
            }
            print("economy simulation: \(seeds) seeds × \(windows) windows, replay probability \(replayProbability), compute cost \(computeCost) of price, hop challenge probability \(hopChallengeProbability)")
            print("| strategy | profit per window (mean ± 95 % CI) | vs honest (mean ± 95 % CI) | below honest | below zero |")
            print("|---|---|---|---|---|")
            for name in order {
                let (m, h) = Self.interval(profits[name]!)
                let (dm, dh) = Self.interval(profits[name + " − honest"]!)
                let below = name == "honest" ? "—" : (dm + dh < 0 ? "yes" : "no")
                print("| \(name) | \(Self.format(m)) ± \(Self.format(h)) | \(Self.format(dm)) ± \(Self.format(dh)) | \(below) | \(m + h < 0 ? "yes" : "no") |")
            }
            print("hop challenges: \(hops[0]) sent, \(hops[1]) answered, \(hops[2]) unanswered")
            print("")
            print("| fraud claimant | balance change per window (mean ± 95 % CI) |")
            print("|---|---|")
            for name in claimantOrder {
                let (m, h) = Self.interval(claimantProfits[name]!)
                print("| \(name) | \(Self.format(m)) ± \(Self.format(h)) |")
            }
            if !checkerOrder.isEmpty {
                print("")
                print("checkers: k = 3 per ticket, stake \(checkerStake) each; cheating workers \(cheatersPublishKey ? "publish" : "withhold") the dispute key")
                print("| checker | profit per window (mean ± 95 % CI) | below zero | tickets | fees | bounties | slashed | replay compute |")
                print("|---|---|---|---|---|---|---|---|")
                let runs = Double(seeds * windows)
                for name in checkerOrder {
                    let (m, h) = Self.interval(checkerProfits[name]!)
                    let p = checkerParts[name]!.map { Self.format($0 / runs) }
                    print("| \(name) | \(Self.format(m)) ± \(Self.format(h)) | \(m + h < 0 ? "yes" : "no") | \(String(format: "%.2f", checkerParts[name]![4] / runs)) | \(p[0]) | \(p[1]) | \(p[2]) | \(p[3]) |")
                }
                print("(tickets and amounts per window; profit = fees + bounties − slashed − transaction fees − replay compute)")
            }
        }

        /// Mean and half-width of the 95 % interval (normal approximation over seeds).
        static func interval(_ xs: [Double]) -> (Double, Double) {
            let n = Double(xs.count)
            let mean = xs.reduce(0, +) / n
            guard xs.count > 1 else { return (mean, 0) }
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
            return (mean, 1.96 * (variance / n).squareRoot())
        }

        static func format(_ x: Double) -> String { String(format: "%.0f", x) }
    }
}

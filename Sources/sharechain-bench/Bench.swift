import ArgumentParser

/// `sharechain-bench ...`: performance measurements, in their own executable so the `sharechain` node binary
/// does not link the benchmarks, their C baselines (CBaseline) or the raw HTTP baseline servers. Build in
/// release (`swift build -c release --product sharechain-bench`); each benchmark prints its figure beside a
/// baseline measured in the same run.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharechain-bench",
        abstract: "Measure performance (run a release build).",
        subcommands: [BenchPrimitives.self, BenchLedger.self, BenchStorage.self, BenchStateTree.self, BenchExecutor.self, BenchImport.self,
                      BenchSync.self, BenchStateSync.self, BenchFinality.self, BenchPruning.self, BenchAll.self, BenchRPCServer.self, BenchIndexer.self, BenchChainGenerator.self,
                      BenchSealing.self, BenchSealedReveal.self]
    )
}

/// Runs every benchmark with default settings.
struct BenchAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: "Run every benchmark.")

    func run() async throws {
        try await BenchPrimitives.parse([]).run()
        try await BenchLedger.parse([]).run()
        try await BenchStorage.parse([]).run()
        try await BenchStateTree.parse([]).run()
        try await BenchExecutor.parse([]).run()
        try await BenchImport.parse([]).run()
        try await BenchSync.parse([]).run()
        try await BenchStateSync.parse([]).run()
        try await BenchFinality.parse([]).run()
        try await BenchPruning.parse([]).run()
        try await BenchSealing.parse([]).run()
    }
}

import Foundation
import Testing
@testable import Ledger
@testable import Primitives

/// The differential test (issue step 5/6): the executable specification `tools/ledger_ref.py` generates seeded
/// random multi-block scenarios into a temporary directory and the Swift ledger replays them, comparing every
/// block's receipts root, statuses and Jellyfish state root with the Python model's. CI runs a small fixed set;
/// `make reliability` runs many (`LEDGER_DIFF_SEED`, `LEDGER_DIFF_COUNT`, `LEDGER_DIFF_BLOCKS`). With `--checks` (the
/// default; `LEDGER_DIFF_CHECKS=0` turns it off) half the seeds also run protocol 4 with real sealing: checkers
/// registering and unbonding, sealed reveals, answers, unblinding, disputes, published keys and inputs.
@Suite struct LedgerDifferentialTests {
    static func env(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? fallback
    }

    @Test func swiftAgreesWithTheExecutableSpecOnRandomChains() throws {
        let seed = Self.env("LEDGER_DIFF_SEED", 100_000), count = Self.env("LEDGER_DIFF_COUNT", 30)
        let blocks = Self.env("LEDGER_DIFF_BLOCKS", 16)
        let checks = Self.env("LEDGER_DIFF_CHECKS", 1) != 0 ? ["--checks"] : []
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-diff-\(ProcessInfo.processInfo.processIdentifier)-\(seed)")
        try? FileManager.default.removeItem(at: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", LedgerVectorReplay.root.appendingPathComponent("tools/ledger_ref.py").path, "random",
                       "--seed", "\(seed)", "--count", "\(count)", "--blocks", "\(blocks)", "--out", dir.path] + checks
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(p.terminationStatus == 0, "tools/ledger_ref.py random failed: \(stderr)")
        let (n, failures) = try LedgerVectorReplay.runAll(in: dir)
        #expect(n == count)
        print("ledger differential: seeds \(seed)..<\(seed + count), \(blocks) blocks each\(checks.isEmpty ? "" : ", --checks"), \(n) scenarios, \(failures.count) differ")
        for (f, d) in failures.sorted(by: { $0.key < $1.key }) {
            Issue.record("\(f) (regenerate with: python3 tools/ledger_ref.py random --seed \(f.dropFirst(5).dropLast(5)) --count 1 --blocks \(blocks)\(checks.isEmpty ? "" : " --checks") --out DIR --verbose):\n\(d.prefix(20).joined(separator: "\n"))")
        }
    }
}

import Foundation
import Ledger
import Primitives
import StateTree
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

/// Review B (crash safety): SIGKILL the crash-test child at random moments of a snapshot import (marker, SST
/// ingestion of state, history and tree, completing batch); the reopened store, after the recovery the chain engine
/// runs at open, must be exactly the genesis-only store or exactly the imported one — never a mix — and an
/// interrupted import must then run to the end.
@Suite(.serialized) struct SnapshotCrashTests {
    struct Run { var started = false; var done = false; var killed = false; var status: Int32 = 0; var stderr = "" }

    static func runChild(_ exe: URL, path: String, keys: Int, killAfter: Double?) throws -> Run {
        let p = Process()
        p.executableURL = exe
        p.arguments = [path, "snapshot", String(keys)]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var output = Data()
        if let killAfter {
            output.append(out.fileHandleForReading.availableData)  // blocks until "I import" (or exit)
            usleep(UInt32(killAfter * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
        }
        output.append(out.fileHandleForReading.readDataToEndOfFile())
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self)
        return Run(started: text.contains("I import"), done: text.contains("\nD") || text.hasPrefix("D"),
                   killed: p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL, status: p.terminationStatus,
                   stderr: String(decoding: errors, as: UTF8.self))
    }

    enum Outcome { case genesisOnly, imported }

    /// Opens the store as the engine does (recovery first) and checks it is one of the two whole states.
    static func check(_ path: String, _ w: SnapshotCrashWorkload, recovered: UnsafeMutablePointer<Int>? = nil) throws -> Outcome {
        let store = try ChainStore(path: path, genesis: w.genesisID)
        defer { try? store.close() }
        if try store.recoverInterruptedSnapshotImport(genesisState: w.genesisState) { recovered?.pointee += 1 }
        #expect(try store.database.get(store.columns.meta, ChainSchema.MetaKey.snapshotImport) == nil)
        let tip = try #require(try store.tip())
        let view = try store.readView()
        if tip.height == SnapshotCrashWorkload.height {
            #expect(difference(try store.current.dumpState(), w.entries) == nil, "imported: state")
            #expect(difference(try view.state(at: SnapshotCrashWorkload.height).scan(prefix: [], after: nil, limit: .max), w.entries) == nil,
                    "imported: history at h")
            #expect(try view.stateTreeRoot(height: SnapshotCrashWorkload.height) == w.stateRoot)
            #expect(try view.finalizedHeight() == SnapshotCrashWorkload.height)
            #expect(try view.stateRetainedFrom() == SnapshotCrashWorkload.height)
            return .imported
        }
        #expect(tip.height == 0)
        #expect(difference(try store.current.dumpState(), w.genesisState) == nil, "genesis-only: state")
        let history = try store.dump(ChainSchema.Family.history)
        #expect(history.count == w.genesisState.count, "genesis-only: history holds \(history.count) entries, want \(w.genesisState.count)")
        #expect(difference(try view.state(at: 0).scan(prefix: [], after: nil, limit: .max), w.genesisState) == nil, "genesis-only: history")
        #expect(throws: (any Error).self) { try view.stateTreeRoot(height: SnapshotCrashWorkload.height) }
        #expect(try view.stateTreeRoot(height: 0) == (try StateTree.root(of: w.genesisState.map { TreeUpdate(key: $0.key, value: $0.value) })))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("ingest-") }
        #expect(leftovers.isEmpty, "ingestion files left: \(leftovers)")
        return .genesisOnly
    }

    @Test func sigkillDuringASnapshotImportLeavesGenesisOnlyOrTheWholeSnapshot() throws {
        let exe = try CrashTests.childExecutable()
        let keys = 60_000
        let w = try SnapshotCrashWorkload(keys: keys)
        try withTempDirectory("snapshot-crash") { base in
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            // How long an import takes here, uninterrupted.
            let t0 = Date()
            let full = try Self.runChild(exe, path: base + "/full", keys: keys, killAfter: nil)
            let duration = Date().timeIntervalSince(t0)
            #expect(full.done && full.status == 0, "uninterrupted run failed: \(full.stderr)")
            #expect(try Self.check(base + "/full", w) == .imported)
            var outcomes: [Outcome] = []
            var recoveries = 0
            var g = SplitMix64(seed: 9)
            for trial in 0..<10 {
                let path = base + "/t\(trial)"
                let delay = Double(g.next() % 1000) / 1000 * duration
                let run = try Self.runChild(exe, path: path, keys: keys, killAfter: delay)
                #expect(run.started, "trial \(trial): \(run.stderr)")
                let outcome = try withUnsafeMutablePointer(to: &recoveries) { try Self.check(path, w, recovered: $0) }
                outcomes.append(outcome)
                if outcome == .genesisOnly {
                    // The load runs again to the end.
                    let again = try Self.runChild(exe, path: path, keys: keys, killAfter: nil)
                    #expect(again.done && again.status == 0, "trial \(trial): second import failed: \(again.stderr)")
                    #expect(try Self.check(path, w) == .imported)
                }
            }
            print("snapshot crash: import \(String(format: "%.2f", duration)) s; outcomes \(outcomes); \(recoveries) interrupted loads undone at open")
        }
    }
}

/// Review B (crash safety): SIGKILL the crash-test child while it prunes state one height per batch; the reopened
/// store's retained range reads exactly as an unpruned archive (state at each height and the tree roots), and pruning
/// resumes to the target.
@Suite(.serialized) struct PruneCrashTests {
    static func runChild(_ exe: URL, path: String, blocks: UInt64, killAfter: Double?) throws -> (done: Bool, status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = exe
        p.arguments = [path, "prune", String(blocks)]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var output = Data()
        if let killAfter {
            output.append(out.fileHandleForReading.availableData)
            usleep(UInt32(killAfter * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
        }
        output.append(out.fileHandleForReading.readDataToEndOfFile())
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self)
        return (text.contains("\nD"), p.terminationStatus, String(decoding: errors, as: UTF8.self))
    }

    static func check(_ path: String, _ w: PruneCrashWorkload, _ states: [[KeyValue]], _ roots: [Hash32]) throws -> UInt64 {
        let store = try ChainStore(path: path, genesis: w.genesisID)
        defer { try? store.close() }
        let view = try store.readView()
        let retained = try view.stateRetainedFrom()
        #expect(retained <= w.target)
        for h in retained..<w.blocks {
            #expect(difference(try view.state(at: h).scan(prefix: [], after: nil, limit: .max), states[Int(h)]) == nil, "height \(h) (retained from \(retained))")
            #expect(try view.stateTreeRoot(height: h) == roots[Int(h)], "tree at \(h)")
        }
        // Resume to the target: the same reads from there.
        while try store.pruneState(retainFrom: w.target, maxHeights: 64) > 0 {}
        let after = try store.readView()
        #expect(try after.stateRetainedFrom() == w.target)
        for h in w.target..<w.blocks {
            #expect(difference(try after.state(at: h).scan(prefix: [], after: nil, limit: .max), states[Int(h)]) == nil, "resumed, height \(h)")
            #expect(try after.stateTreeRoot(height: h) == roots[Int(h)])
        }
        return retained
    }

    @Test func sigkillWhilePruningKeepsTheRetainedRangeExactAndResumes() throws {
        let exe = try CrashTests.childExecutable()
        let w = PruneCrashWorkload(blocks: 260)
        let model = MemoryState()
        var states: [[KeyValue]] = [], roots: [Hash32] = []
        for ws in w.writeSets {
            model.apply(ws)
            states.append(model.dump())
            roots.append(try StateTree.root(of: states.last!.map { TreeUpdate(key: $0.key, value: $0.value) }))
        }
        try withTempDirectory("prune-crash") { base in
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            // One uninterrupted run (the child builds the archive, prunes it and exits).
            let full = try Self.runChild(exe, path: base + "/full", blocks: w.blocks, killAfter: nil)
            #expect(full.done && full.status == 0, "uninterrupted run failed: \(full.stderr)")
            _ = try Self.check(base + "/full", w, states, roots)
            var g = SplitMix64(seed: 3)
            var retainedAtKill: [UInt64] = []
            for trial in 0..<10 {
                let path = base + "/t\(trial)"
                // Build the archive without pruning it (kill at once after "I prune" would race the first batch), so
                // make the kill land inside the pruning: 0-120 ms after it starts (it takes about that long here).
                let delay = Double(g.next() % 120) / 1000
                let run = try Self.runChild(exe, path: path, blocks: w.blocks, killAfter: delay)
                #expect(run.stderr.isEmpty, "trial \(trial): \(run.stderr)")
                retainedAtKill.append(try Self.check(path, w, states, roots))
            }
            print("prune crash: retained-from at the kills \(retainedAtKill) (target \(w.target))")
        }
    }
}

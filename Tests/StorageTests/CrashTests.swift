import Foundation
import Ledger
import Primitives
import StateTree
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

/// Kills a child process (StorageCrashChild) with SIGKILL at random moments while it builds the
/// `CrashWorkload` chain, and after every kill checks the reopened database against an in-memory replay.
@Suite(.serialized) struct CrashTests {
    typealias Tip = (height: UInt64, variant: UInt8)

    static func same(_ a: Tip?, _ b: Tip?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let a?, let b?): a.height == b.height && a.variant == b.variant
        default: false
        }
    }

    /// The child binary, built next to the test bundle. Missing is a failure, never a skip.
    static func childExecutable() throws -> URL {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dirs = [me.deletingLastPathComponent()]
        if let arg0 = CommandLine.arguments.first {
            dirs.append(URL(fileURLWithPath: arg0).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        for dir in dirs {
            let candidate = dir.appendingPathComponent("StorageCrashChild")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        Issue.record("StorageCrashChild not found next to the test binary (looked in \(dirs.map(\.path))); build it with `swift build --build-tests`")
        throw CancellationError()
    }

    struct ChildRun {
        var done: [CrashWorkload.Step] = []
        var pending: CrashWorkload.Step?
        var killed = false
        var exitStatus: Int32 = 0
        var stderr = ""
    }

    /// When to kill the child.
    enum Kill {
        /// Never: let it run to completion.
        case never
        /// This long after the process starts (lands in start-up and database recovery, or in work).
        case afterStart(Double)
        /// This long after it reports its first step (the database is open: lands in the work).
        case afterFirstStep(Double)
    }

    /// Runs the child on `path` and kills it as told.
    static func runChild(_ exe: URL, path: String, seed: UInt64, kill when: Kill, maxSteps: Int? = nil) throws -> ChildRun {
        let p = Process()
        p.executableURL = exe
        p.arguments = [path, String(seed)] + (maxSteps.map { [String($0)] } ?? [])
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var output = Data()
        switch when {
        case .never:
            break
        case .afterStart(let seconds):
            usleep(UInt32(seconds * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
        case .afterFirstStep(let seconds):
            // Blocks until the child writes (its first step) or exits (end of file).
            output.append(out.fileHandleForReading.availableData)
            usleep(UInt32(seconds * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
        }
        output.append(out.fileHandleForReading.readDataToEndOfFile())
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var run = ChildRun()
        run.killed = p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL
        run.exitStatus = p.terminationStatus
        run.stderr = String(decoding: errors, as: UTF8.self)
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            if line == "D" {
                if let s = run.pending { run.done.append(s) }
                run.pending = nil
            } else if line.hasPrefix("I "), let step = CrashWorkload.Step(line.dropFirst(2)) {
                run.pending = step
            }
        }
        return run
    }

    @Test func sigkillDuringCommitsAndRevertsNeverLosesOrCorruptsABlock() throws {
        let exe = try Self.childExecutable()
        try withTempDirectory("crash") { path in try Self.killRepeatedly(exe, path: path) }
    }

    static func killRepeatedly(_ exe: URL, path: String) throws {
        let seed: UInt64 = 0xC0FFEE
        let workload = CrashWorkload(seed: seed)
        var rng = SplitMix64(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        var tip: Tip? = nil
        let cache = ReplayCache()
        var kills = 0, inFlight = 0, steps = 0, reverts = 0
        let started = Date()

        while kills < 36 {
            // Every sixth kill counts from process start (0 to 100 ms: start-up and WAL recovery); the
            // others from the first reported step (0 to 150 ms into the work), whatever the machine load.
            let kill: Kill = kills % 6 == 5
                ? .afterStart(Double(rng.next() % 100) / 1000) : .afterFirstStep(Double(rng.next() % 150) / 1000)
            let run = try runChild(exe, path: path, seed: seed, kill: kill)
            guard run.killed else {
                Issue.record("child exited by itself (status \(run.exitStatus)): \(run.stderr)")
                return
            }
            kills += 1
            steps += run.done.count
            reverts += run.done.filter { if case .revert = $0 { true } else { false } }.count
            if run.pending != nil { inFlight += 1 }

            // Where the database must be: after the last step that returned, or after the one in flight.
            var afterDone = tip
            for s in run.done { afterDone = workload.tipAfter(s) }
            let afterPending = run.pending.flatMap { workload.tipAfter($0) }

            let store = try ChainStore(path: path, genesis: workload.genesisID)
            let actual = try workload.currentTip(store.current)
            let acceptable = same(actual, afterDone) || (run.pending != nil && same(actual, afterPending))
            #expect(acceptable, "kill \(kills): tip \(String(describing: actual)), last returned step gives \(String(describing: afterDone)), in flight \(String(describing: run.pending))")
            try verify(store, workload, cache: cache)
            tip = actual
            try store.close()
            if !acceptable { return }
        }
        print("crash test: \(kills) kills, \(steps) steps returned (\(reverts) reverts), \(inFlight) kills during a step, tip \(String(describing: tip)), \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        // The schedule made real progress through commits and reorgs, and kills hit work in flight.
        #expect(steps >= 40, "only \(steps) steps completed in \(kills) runs")
        #expect(reverts >= 2, "only \(reverts) reverts")
        #expect(inFlight >= 18, "only \(inFlight) kills landed during a step")
        #expect(Date().timeIntervalSince(started) < 120)
    }

    /// The database equals a fresh in-memory replay of its canonical chain, with every index.
    /// The replay at the last verified finalized height. Finalized blocks never change, so later checks
    /// confirm that prefix is still canonical and replay only the blocks above it.
    final class ReplayCache {
        var hashes: [Hash32] = []
        var state: [KeyValue] = []
        var txIndex: [[UInt8]: [UInt8]] = [:]
        var addressIndex: [[UInt8]: [UInt8]] = [:]
        var addressEvents: [[UInt8]: [UInt8]] = [:]
    }

    static func verify(_ store: ChainStore, _ workload: CrashWorkload, cache: ReplayCache = ReplayCache()) throws {
        let view = try store.readView()
        guard let tip = try view.tip() else {
            #expect(try view.dumpState().isEmpty)
            return
        }
        let finalized = try view.finalizedHeight()
        var canonical: [UInt64: Hash32] = [:]
        for (h, hash) in cache.hashes.enumerated() {
            let stored = try view.canonicalHash(at: UInt64(h))
            #expect(stored == hash, "finalized block at \(h) changed")
            canonical[UInt64(h)] = hash
        }
        let model = MemoryState(entries: cache.state)
        var txIndex = cache.txIndex
        var addressIndex = cache.addressIndex
        var addressEvents = cache.addressEvents
        var parent = cache.hashes.last ?? .zero
        for h in stride(from: UInt64(cache.hashes.count), through: tip.height, by: 1) {
            let hash = try #require(try view.canonicalHash(at: h), "no canonical block at \(h)")
            let v = try #require(workload.variant(of: hash, height: h), "unknown block at \(h)")
            #expect(workload.parentHash(height: h, variant: v) == parent, "height \(h) does not link")
            #expect(try view.blockInfo(hash) == BlockInfo(height: h, parent: parent))
            let block = workload.block(height: h, variant: v)
            #expect(try view.header(hash) == block.header)
            #expect(try view.body(hash) == block.body)
            #expect(try view.receipts(hash) == block.receipts)
            model.apply(workload.writeSet(height: h, variant: v))
            for tx in block.transactions {
                txIndex[tx.txHash.bytes] = TxLocation(blockHash: hash, height: h, position: tx.position).canonicalEncoding
                for a in tx.addresses { addressIndex[ChainSchema.addressKey(a, height: h, position: tx.position)] = tx.txHash.bytes }
            }
            for e in block.addressEvents {
                addressEvents[ChainSchema.addressEventKey(e.address, height: h, receipt: e.receipt, event: e.event)] =
                    AddressEventValue(kind: e.kind, pool: e.pool, worker: e.worker, txHash: e.txHash).canonicalEncoding
            }
            canonical[h] = hash
            parent = hash
            if h == finalized {
                cache.hashes = (0...h).compactMap { canonical[$0] }
                cache.state = model.dump()
                cache.txIndex = txIndex
                cache.addressIndex = addressIndex
                cache.addressEvents = addressEvents
            }
        }
        #expect(try view.canonicalHash(at: tip.height + 1) == nil)
        #expect(difference(try view.dumpState(), model.dump()) == nil, "state at \(tip) differs from the replay")
        // The history agrees: the state as of the tip, read from it, is the state.
        #expect(difference(try view.state(at: tip.height).scan(prefix: [], after: nil, limit: .max), model.dump()) == nil, "history at \(tip)")
        // The state tree is at the same block: its tip version is the root of exactly this state.
        let treeRoot = try store.tree.rootHash(version: tip.height, snapshot: view.snapshot)
        #expect(treeRoot == (try StateTree.root(of: model.dump().map { TreeUpdate(key: $0.key, value: $0.value) })), "state tree at \(tip)")
        func sorted(_ d: [[UInt8]: [UInt8]]) -> [KeyValue] {
            d.map { KeyValue(key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        }
        let db = store.database
        #expect(difference(try db.scan(store.columns.txIndex, prefix: [], snapshot: view.snapshot), sorted(txIndex)) == nil, "tx index")
        #expect(difference(try db.scan(store.columns.addressIndex, prefix: [], snapshot: view.snapshot), sorted(addressIndex)) == nil, "address index")
        #expect(difference(try db.scan(store.columns.addressEvents, prefix: [], snapshot: view.snapshot), sorted(addressEvents)) == nil,
                "address event index")
        #expect(try db.scan(store.columns.canonical, prefix: [], snapshot: view.snapshot).count == Int(tip.height) + 1)

        // Decoys that were reverted are side blocks: header kept, receipts gone.
        for h in stride(from: UInt64(cache.hashes.count), through: tip.height, by: 1) where CrashWorkload.isReorgHeight(h) && canonical[h] == workload.blockHash(height: h, variant: 0) {
            let decoy = workload.blockHash(height: h, variant: 1)
            if try view.header(decoy) != nil {
                #expect(try view.receipts(decoy) == nil)
                #expect(try !view.isCanonical(decoy))
            }
        }
        // Finality trails the tip by the workload's depth (it never goes back on a revert), and undo
        // records exist exactly for the canonical blocks above it.
        if tip.height >= CrashWorkload.finalityDepth + 1 {
            let f = try #require(finalized)
            #expect(f + CrashWorkload.finalityDepth >= tip.height && f + 2 <= tip.height, "finalized \(f) at tip \(tip.height)")
        }
        var undoCount = 0
        for h in stride(from: finalized.map { $0 + 1 } ?? 0, through: tip.height, by: 1) {
            let hash = try #require(canonical[h])
            let present = try view.undoRecord(height: h, hash: hash) != nil
            #expect(present, "undo record at \(h)")
            if present { undoCount += 1 }
        }
        #expect(try db.scan(store.columns.undo, prefix: [], snapshot: view.snapshot).count == undoCount)
    }

    @Test func anotherProcessCannotOpenALockedStore() throws {
        let exe = try Self.childExecutable()
        let dir = TempDir("lock")
        let workload = CrashWorkload(seed: 1)
        let store = try ChainStore(path: dir.db, genesis: workload.genesisID)
        let run = try Self.runChild(exe, path: dir.db, seed: 1, kill: .never, maxSteps: 5)
        #expect(!run.killed && run.exitStatus == 3, "status \(run.exitStatus): \(run.stderr)")
        #expect(run.stderr.contains("already open"))
        #expect(run.done.isEmpty)
        try store.close()
        // Once released, the child opens it and runs to completion.
        let ok = try Self.runChild(exe, path: dir.db, seed: 1, kill: .never, maxSteps: 12)
        #expect(ok.exitStatus == 0 && ok.done.count == 12, "status \(ok.exitStatus): \(ok.stderr)")
        let reopened = try ChainStore(path: dir.db, genesis: workload.genesisID)
        try Self.verify(reopened, workload)
    }
}

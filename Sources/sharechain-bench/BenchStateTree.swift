import ArgumentParser
import Foundation
import Primitives
import StateTree
import Storage
import Synchronization

/// State-tree throughput on a large state in RocksDB, each figure beside a baseline from the same run on
/// the same disk: block updates (tree nodes + state) against the same writes to the state alone, and proof
/// generation against plain point reads of the same keys.
struct BenchStateTree: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state-tree",
        abstract: "State tree: block updates/s over a large state and proofs/s, against state-only writes and reads.")

    @Option(help: "Keys in the state before the measured blocks.") var keys: Int = 1_000_000
    @Option(help: "Measured blocks.") var blocks: Int = 30
    @Option(help: "Writes per block (75 % overwrite existing keys, 20 % new keys, 5 % deletions).") var writesPerBlock: Int = 2000
    @Option(help: "Seconds per proof measurement.") var seconds: Double = 2.0
    @Option(help: "Sync each block's batch to disk, as a node does.") var sync: Bool = true
    @Option(help: "Update the root's subtrees in parallel.") var parallel: Bool = true
    @Option(help: "Read the written keys' previous values in the timed part, as a node's commit does for its undo record.") var readPrevious: Bool = true
    @Option(help: "0: archive (never prune while measuring). N > 0: keep the newest N versions, pruning the older ones' stale nodes inside each block's batch (the load's stale nodes are pruned first, untimed).")
    var pruneWindow: UInt64 = 0
    @Option(help: "Directory for the temporary databases (default: the system temporary directory).") var dir: String?

    func validate() throws {
        try requireOptions(atLeast: 1, ["--keys": keys, "--blocks": blocks, "--writes-per-block": writesPerBlock])
        try requirePositiveSeconds(["--seconds": seconds])
    }

    func run() async throws {
        print("== state tree (Jellyfish sparse Merkle tree in RocksDB) ==")
        let root = URL(fileURLWithPath: dir ?? NSTemporaryDirectory()).appendingPathComponent("sharechain-bench-tree-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        var options = DatabaseOptions()
        options.syncWrites = sync
        let families = StateTreeSchema.columnFamilies + [ColumnFamilyDescriptor("state", profile: .heavy)]
        let treeDB = try Database.open(path: root.appendingPathComponent("tree").path, columnFamilies: families, options: options)
        let plainDB = try Database.open(path: root.appendingPathComponent("plain").path, columnFamilies: families, options: options)
        let tree = try StateTreeStore(database: treeDB)
        let treeState = try treeDB.columnFamily("state"), plainState = try plainDB.columnFamily("state")

        // Load: the same keys into both databases, the tree in versions of 50 000 keys (not the measurement).
        var rng = SplitMix64(seed: 0x7EE5)
        var live: [[UInt8]] = []
        live.reserveCapacity(keys + blocks * writesPerBlock)
        var version: UInt64?
        let loadStart = DispatchTime.now().uptimeNanoseconds
        var loaded = 0
        while loaded < keys {
            let n = min(50_000, keys - loaded)
            let chunk = (0..<n).map { _ in randomBytes(&rng, 32) }
            let value = randomBytes(&rng, 64)
            let next = version.map { $0 + 1 } ?? 0
            let batch = try tree.prepare(base: version, version: next, updates: TreeUpdate.sorted(chunk.map { TreeUpdate(key: $0, value: value) }))
            let wb = try treeDB.makeWriteBatch(), pb = try plainDB.makeWriteBatch()
            tree.write(batch, into: wb)
            for k in chunk { wb.put(treeState, k, value); pb.put(plainState, k, value) }
            try treeDB.write(wb, sync: false)
            try plainDB.write(pb, sync: false)
            live.append(contentsOf: chunk)
            version = next
            loaded += n
        }
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        print("  loaded \(keys) keys in \(version.map { $0 + 1 } ?? 0) versions, \(String(format: "%.1f", loadSeconds)) s (both databases)")

        if pruneWindow > 0 {
            let pruned = try tree.prune(keepingFrom: version!)
            print("  pruned \(pruned) stale nodes of the load; then keeping the newest \(pruneWindow) versions")
        }

        // Blocks: the same write set to both databases, alternating, each one synced batch.
        var treeNanos: UInt64 = 0, plainNanos: UInt64 = 0, updateNanos: UInt64 = 0, sequentialNanos: UInt64 = 0
        var nodesWritten = 0, staleNodes = 0, prunedInBlocks = 0
        for _ in 0..<blocks {
            var writes: [[UInt8]: [UInt8]?] = [:]
            while writes.count < writesPerBlock {
                let r = rng.next() % 100
                if r < 75 {
                    writes[live[Int(rng.next() % UInt64(live.count))]] = randomBytes(&rng, 64)
                } else if r < 95 {
                    let k = randomBytes(&rng, 32)
                    live.append(k)
                    writes[k] = randomBytes(&rng, 64)
                } else {
                    writes[live[Int(rng.next() % UInt64(live.count))]] = .some(nil)
                }
            }
            let entries = writes.map { ($0.key, $0.value) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }

            let p0 = DispatchTime.now().uptimeNanoseconds
            let pb = try plainDB.makeWriteBatch()
            for (k, v) in entries { if let v { pb.put(plainState, k, v) } else { pb.delete(plainState, k) } }
            try plainDB.write(pb, sync: sync)
            plainNanos += DispatchTime.now().uptimeNanoseconds - p0

            // Timed: reading the written keys' previous values (a node's commit does it for the undo record),
            // hashing the write set, the tree update (node reads, hashing), and the combined batch.
            let next = version! + 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            if readPrevious { _ = try treeDB.multiGet(treeState, entries.map(\.0), sortedInput: true) }
            let updates = TreeUpdate.sorted(entries.map { TreeUpdate(key: $0.0, value: $0.1) })
            let batch = try tree.prepare(base: version, version: next, updates: updates, parallel: parallel)
            let u1 = DispatchTime.now().uptimeNanoseconds
            updateNanos += u1 - t0
            let wb = try treeDB.makeWriteBatch()
            for (k, v) in entries { if let v { wb.put(treeState, k, v) } else { wb.delete(treeState, k) } }
            tree.write(batch, into: wb)
            // The same update on one thread, computed only (not written, not in the block's time).
            let s0 = DispatchTime.now().uptimeNanoseconds
            let sequential = try tree.prepare(base: version, version: next, updates: updates)
            sequentialNanos += DispatchTime.now().uptimeNanoseconds - s0
            let t1 = DispatchTime.now().uptimeNanoseconds
            if pruneWindow > 0, next >= pruneWindow {
                prunedInBlocks += try tree.pruneStep(keepingFrom: next - pruneWindow, limit: .max, into: wb).nodes
            }
            try treeDB.write(wb, sync: sync)
            treeNanos += DispatchTime.now().uptimeNanoseconds - t1 + (s0 - t0)
            version = next
            guard sequential.rootHash == batch.rootHash else { throw ValidationError("parallel and sequential roots differ") }
            nodesWritten += batch.nodes.count
            staleNodes += batch.staleNodes.count
        }
        let total = Double(blocks * writesPerBlock)
        let treeRate = total / (Double(treeNanos) / 1e9), plainRate = total / (Double(plainNanos) / 1e9)
        print("  \(blocks) blocks × \(writesPerBlock) writes over ≥ \(keys) keys, sync \(sync); per block \(nodesWritten / max(blocks, 1)) nodes written, \(staleNodes / max(blocks, 1)) made stale, \(prunedInBlocks / max(blocks, 1)) pruned")
        report("block update, tree", treeRate, baseline: plainRate, unit: "writes/s", machine: "baseline: same writes, state only")
        report("  per block", Double(treeNanos) / Double(blocks) / 1e6, baseline: Double(plainNanos) / Double(blocks) / 1e6, unit: "ms", machine: "\(writesPerBlock) writes")
        report("  tree update in it", Double(updateNanos) / Double(blocks) / 1e6, baseline: nil, unit: "ms", machine: parallel ? "incl. previous-value read; subtrees in parallel" : "incl. previous-value read; one thread")
        report("  same, one thread", Double(sequentialNanos) / Double(blocks) / 1e6, baseline: nil, unit: "ms", machine: "compute only")

        // Proofs of random present keys at the newest version, from one snapshot, against point reads of
        // the same keys from the same snapshot. Verification is pure hashing.
        let snap = try treeDB.snapshot()
        let reader = tree.reader(snapshot: snap)
        let tip = version!
        let rootHash = try StateTree.rootHash(reader, version: tip)
        let sample = (0..<4096).map { _ in live[Int(rng.next() % UInt64(live.count))] }
        let hashes = sample.map(TreeHash.key)
        var failures = 0
        let proofRate = try rateThrowing(seconds) { n in
            for i in 0..<n { blackHole(try StateTree.proof(reader, version: tip, keyHash: hashes[i & 4095])) }
        }
        let getRate = try rateThrowing(seconds) { n in
            for i in 0..<n { blackHole(try treeDB.get(treeState, sample[i & 4095], snapshot: snap)) }
        }
        report("proof generation", proofRate, baseline: getRate, unit: "proofs/s", machine: "target ≥ 20 k/s; baseline: point get")
        // Both cores (RPC serves proofs concurrently): each thread walks its own keys.
        let threads = 2
        let perThread = max(1, Int(proofRate * seconds) / threads)
        let failed = Atomic<Int>(0)
        let p0 = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                do { blackHole(try StateTree.proof(reader, version: tip, keyHash: hashes[(i &* 7 &+ t) & 4095])) } catch {
                    failed.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        let parallelRate = Double(perThread * threads) / (Double(DispatchTime.now().uptimeNanoseconds - p0) / 1e9)
        guard failed.load(ordering: .relaxed) == 0 else { throw ValidationError("proof generation failed on a thread") }
        report("  on \(threads) threads", parallelRate, baseline: getRate, unit: "proofs/s", machine: "baseline: point get, one thread")
        let proofs = try hashes.map { try StateTree.proof(reader, version: tip, keyHash: $0) }
        let values = try sample.map { try treeDB.get(treeState, $0, snapshot: snap).map(TreeHash.value) }
        let verifyRate = rate(seconds) { n in
            for i in 0..<n where !proofs[i & 4095].verify(root: rootHash, keyHash: hashes[i & 4095], valueHash: values[i & 4095]) {
                failures += 1
            }
        }
        guard failures == 0 else { throw ValidationError("\(failures) proofs failed to verify") }
        let sizes = proofs.map { $0.canonicalEncoding.count }
        report("proof verification", verifyRate, baseline: nil, unit: "proofs/s", machine: "mean proof \(sizes.reduce(0, +) / sizes.count) B")

        // Pruning: keep only the newest version.
        let pr0 = DispatchTime.now().uptimeNanoseconds
        let pruned = try tree.prune(keepingFrom: tip)
        let pruneSeconds = Double(DispatchTime.now().uptimeNanoseconds - pr0) / 1e9
        report("prune to newest", Double(pruned) / pruneSeconds, baseline: nil, unit: "nodes/s", machine: "\(pruned) stale nodes deleted")
        withExtendedLifetime(snap) {}
    }
}

private func randomBytes(_ g: inout SplitMix64, _ n: Int) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(n)
    while out.count < n {
        let w = g.next()
        withUnsafeBytes(of: w) { out.append(contentsOf: $0.prefix(n - out.count)) }
    }
    return out
}

/// `rate` for a body that can throw.
private func rateThrowing(_ seconds: Double, _ body: (Int) throws -> Void) throws -> Double {
    var failure: (any Error)?
    let r = rate(seconds) { n in
        guard failure == nil else { return }
        do { try body(n) } catch { failure = error }
    }
    if let failure { throw failure }
    return r
}

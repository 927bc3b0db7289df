import ArgumentParser
import CBaseline
import Foundation
import Ledger
import Primitives
import Storage

/// Chain-store commit throughput against raw RocksDB batched puts from C, in the same run, on the same
/// disk, with the same tuning, key and value sizes, batch size and sync policy.
struct BenchStorage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Chain-store commit throughput (keys/s) against raw RocksDB batched puts.")

    @Option(help: "Blocks (write batches) per measurement.") var blocks: Int = 50
    @Option(help: "State keys written per block.") var keysPerBlock: Int = 10_000
    @Option(help: "Value size in bytes.") var valueSize: Int = 64
    @Option(help: "Alternating raw/chain-store rounds; the median of each is reported.") var rounds: Int = 3
    @Option(help: "Directory for the temporary databases (default: the system temporary directory).") var dir: String?

    func validate() throws {
        try requireOptions(atLeast: 1, ["--blocks": blocks, "--keys-per-block": keysPerBlock, "--rounds": rounds])
        try requireOptions(atLeast: 0, ["--value-size": valueSize])
    }

    func run() async throws {
        print("== storage (RocksDB, one synced write batch per block) ==")
        let root = URL(fileURLWithPath: dir ?? NSTemporaryDirectory())
            .appendingPathComponent("sharechain-bench-storage-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        // Rounds alternate so that load from other processes on a shared machine hits both sides alike.
        var raw: [Double] = [], rawSorted: [Double] = [], chain: [ChainStoreRates] = []
        for round in 0..<max(1, rounds) {
            let seed = 0x5EED + UInt64(round)
            raw.append(try rawRate(root.appendingPathComponent("raw\(round)").path, seed: seed, sorted: false))
            rawSorted.append(try rawRate(root.appendingPathComponent("sorted\(round)").path, seed: seed, sorted: true))
            chain.append(try chainStoreRates(root.appendingPathComponent("chain\(round)").path, seed: seed))
        }
        print("  \(keysPerBlock) keys × \(blocks) blocks per round, 32 B keys, \(valueSize) B values, median of \(raw.count) rounds")
        report("raw C batched puts", median(raw), baseline: nil, unit: "keys/s", machine: "200–260 k keys/s")
        report("raw C, sorted batches", median(rawSorted), baseline: nil, unit: "keys/s", machine: "write sets are sorted")
        // A state key costs the store several RocksDB entries (the key, its history entry, its share of the tree's
        // nodes) and the tree's hashing: the end-to-end rate is per state key, the write's rate per entry.
        report("chain store commit", median(chain.map(\.commit)), baseline: median(raw), unit: "keys/s",
               machine: "state keys, incl. the state tree update and every entry below")
        print(String(format: "    per state key: %.2f RocksDB entries (state, history, tree nodes, undo, block parts); tree update %.0f%% of the time",
                     median(chain.map(\.entriesPerKey)), median(chain.map(\.treeShare)) * 100))
        report("  its RocksDB write", median(chain.map(\.write)), baseline: median(raw), unit: "entries/s",
               machine: "target ≥ 0.80 of raw puts")
        report("  vs sorted raw", median(chain.map(\.write)), baseline: median(rawSorted), unit: "entries/s", machine: "write sets are sorted")
        report("chain store revert", median(chain.map(\.revert)), baseline: nil, unit: "keys/s", machine: "undo applied in one batch")
    }

    private func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    /// The same batches written directly through the C API; only filling and writing batches is timed.
    private func rawRate(_ path: String, seed: UInt64, sorted: Bool) throws -> Double {
        var err = [CChar](repeating: 0, count: 512)
        var nanos: UInt64 = 0
        let written = cbaseline_rocksdb_batched_puts(
            path, Int64(blocks), Int64(keysPerBlock), Int64(valueSize), seed, sorted ? 1 : 0, &nanos, &err, err.count)
        guard written >= 0, nanos > 0 else {
            let message = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ValidationError("raw RocksDB baseline failed: \(message)")
        }
        return Double(written) / (Double(nanos) / 1e9)
    }

    /// What the chain store's commits measured: state keys per second end to end, the RocksDB write alone in batch
    /// entries per second (the figure comparable with raw puts), the tree update's share, and entries per state key.
    private struct ChainStoreRates {
        var commit = 0.0, write = 0.0, treeShare = 0.0, entriesPerKey = 0.0, revert = 0.0
    }

    /// Each block's write set goes through `prepareTree` (the previous-value lookup and the state tree's new version)
    /// and `commit` (undo record, history, tree nodes, block parts, indexes, tip) in one synced batch; then the last
    /// blocks are reverted. Generating and sorting the write sets is the ledger's work and is not timed.
    private func chainStoreRates(_ path: String, seed: UInt64) throws -> ChainStoreRates {
        let store = try ChainStore(path: path, genesis: SHA256.hash(Array("bench".utf8)))
        var parent = Hash32.zero
        var keys = KeyStream(seed: seed)
        let value = [UInt8](repeating: 0x5A, count: valueSize)
        var seconds = 0.0, treeSeconds = 0.0
        var committed = 0
        var before = CommitTotals()
        for height in UInt64(0)...UInt64(blocks) {
            // Height 0 is an empty genesis, not measured.
            let ws = height == 0 ? WriteSet.empty : WriteSet((0..<keysPerBlock).map { _ in WriteEntry(key: keys.next(), value: value) })
            let hash = SHA256.hash(parent.bytes + KeyBytes.be64(height))
            let block = BlockRecord(
                hash: hash, height: height, parent: parent, header: Array(repeating: 1, count: 200),
                body: Array(repeating: 2, count: 1000), receipts: Array(repeating: 3, count: 100), transactions: [])
            let start = DispatchTime.now().uptimeNanoseconds
            let prepared = try store.prepareTree(writeSet: ws, height: height)
            let treeDone = DispatchTime.now().uptimeNanoseconds
            try store.commit(block, writeSet: ws, prepared: prepared, finalizedHeight: height >= 30 ? height - 30 : nil)
            if height > 0 {
                seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                treeSeconds += Double(treeDone - start) / 1e9
                committed += ws.entries.count
            } else {
                before = store.committed
            }
            parent = hash
        }
        let after = store.committed
        let entries = Double(after.batchEntries - before.batchEntries)
        let writeSeconds = (after.writeTime - before.writeTime).seconds
        let reverts = min(10, blocks)
        let r0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reverts { try store.revertTip() }
        let revertSeconds = Double(DispatchTime.now().uptimeNanoseconds - r0) / 1e9
        try store.close()
        return ChainStoreRates(commit: Double(committed) / seconds, write: entries / writeSeconds, treeShare: treeSeconds / seconds,
                               entriesPerKey: entries / Double(max(1, committed)), revert: Double(reverts * keysPerBlock) / revertSeconds)
    }
}

/// The keys the C baseline writes: 32 bytes from four SplitMix64 outputs in native byte order.
private struct KeyStream {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    private mutating func nextWord() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next() -> [UInt8] {
        let words = (nextWord(), nextWord(), nextWord(), nextWord())
        return withUnsafeBytes(of: words) { Array($0) }
    }
}

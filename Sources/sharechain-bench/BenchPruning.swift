import ArgumentParser
import Foundation
import Ledger
import Primitives
import Storage

/// Disk use per block in each pruning mode (Specs/storage.md §11): the same blocks of state writes committed to
/// an archive store, a `default` store (keeping the last `--keep` heights) and a `minimal` store, each pruned
/// after every block as a node does, then compacted; the archive store is the baseline of the same run.
struct BenchPruning: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pruning",
        abstract: "Disk use per block with --pruning archive, default and minimal, on the same blocks.")

    @Option(help: "Keys in the state before the measured blocks.") var keys: Int = 50_000
    @Option(help: "Measured blocks.") var blocks: Int = 300
    @Option(help: "Writes per block (75 % overwrites, 20 % new keys, 5 % deletions).") var writesPerBlock: Int = 2000
    @Option(help: "Heights kept by the default mode in this run.") var keep: UInt64 = 100
    @Option(help: "Blocks between a block and its finality.") var finalityLag: UInt64 = 10
    @Option(help: "Directory for the temporary databases (default: the system temporary directory).") var dir: String?

    func validate() throws {
        try requireOptions(atLeast: 1, ["--keys": keys, "--blocks": blocks, "--writes-per-block": writesPerBlock,
                                        "--keep": Int(clamping: keep)])
    }

    func run() async throws {
        print("== state pruning: disk use per block (\(blocks) blocks of \(writesPerBlock) writes over \(keys) keys) ==")
        let root = URL(fileURLWithPath: dir ?? NSTemporaryDirectory()).appendingPathComponent("sharechain-bench-prune-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        var options = DatabaseOptions()
        options.syncWrites = false
        let modes: [(String, PruningMode)] = [("archive", .archive), ("default", .keepRecent(keep)), ("minimal", .minimal)]
        let stores = try modes.map { try ChainStore(path: root.appendingPathComponent($0.0).path, genesis: SHA256.hash([1]), options: options) }
        var rng = SplitMix64(seed: 42)
        var live = [[UInt8]]()
        func value() -> [UInt8] { (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        func newKey() -> [UInt8] { [0x01] + (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        var parent = Hash32.zero
        func commit(_ height: UInt64, _ entries: [WriteEntry]) throws {
            let ws = WriteSet(entries)
            let hash = SHA256.hash(height.bigEndianBytes)
            let record = BlockRecord(hash: hash, height: height, parent: parent, header: [UInt8](repeating: 1, count: 200), body: [],
                                     receipts: [], transactions: [])
            let finalized = height > finalityLag ? height - finalityLag : 0
            for (i, s) in stores.enumerated() {
                try s.commit(record, writeSet: ws, finalizedHeight: finalized)
                if let target = modes[i].1.retainFrom(tip: height, finalized: finalized) {
                    while try s.pruneState(retainFrom: target, maxHeights: 64) > 0 {}
                }
            }
            parent = hash
        }
        // Genesis: the initial state.
        var genesis = [WriteEntry]()
        for _ in 0..<keys { let k = newKey(); live.append(k); genesis.append(WriteEntry(key: k, value: value())) }
        try commit(0, genesis)
        for s in stores { try s.compact() }
        let before = stores.map { Self.diskBytes($0.path) }
        let started = Date()
        for h in 1...UInt64(blocks) {
            var byKey = [[UInt8]: [UInt8]?]()
            for _ in 0..<writesPerBlock {
                let r = rng.next() % 100
                if r < 75, !live.isEmpty { byKey[live[Int(rng.next() % UInt64(live.count))]] = .some(value()) }
                else if r < 95 { let k = newKey(); live.append(k); byKey[k] = .some(value()) }
                else if !live.isEmpty {
                    let i = Int(rng.next() % UInt64(live.count))
                    byKey[live[i]] = .some(nil)
                    live.swapAt(i, live.count - 1); live.removeLast()
                }
            }
            try commit(h, byKey.map { WriteEntry(key: $0.key, value: $0.value) })
        }
        let elapsed = Date().timeIntervalSince(started)
        for s in stores { try s.compact() }
        let after = stores.map { Self.diskBytes($0.path) }
        let archivePerBlock = Double(after[0] - before[0]) / Double(blocks)
        for (i, (name, mode)) in modes.enumerated() {
            let perBlock = Double(after[i] - before[i]) / Double(blocks)
            let retained = (try? stores[i].current.stateRetainedFrom()) ?? 0
            print(String(format: "%-8@ %8.1f KiB/block   total %7.1f MiB   ratio to archive %.2f   retained from height %llu   (%@)",
                         name as NSString, perBlock / 1024, Double(after[i]) / 1_048_576, perBlock / archivePerBlock, retained,
                         "\(mode)" as NSString))
        }
        print(String(format: "    %d blocks committed to all three stores with pruning in %.1f s; sizes after a full compaction", blocks, elapsed))
    }

    static func diskBytes(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        for case let f as String in e {
            let attrs = try? FileManager.default.attributesOfItem(atPath: (path as NSString).appendingPathComponent(f))
            total += (attrs?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return total
    }
}

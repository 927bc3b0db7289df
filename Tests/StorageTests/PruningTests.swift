import Foundation
import Ledger
import Primitives
import StateTree
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

/// State pruning (Specs/storage.md §10): what is retained reads exactly as before, what is pruned is refused,
/// and the pruned store stays bounded while an archive store grows with every block.
@Suite struct PruningTests {
    static func root(_ state: [KeyValue]) throws -> Hash32 {
        try StateTree.root(of: state.map { TreeUpdate(key: $0.key, value: $0.value) })
    }

    func entries(_ store: ChainStore, _ family: String) throws -> Int { try store.dump(family).count }

    @Test func prunedStoresKeepRetainedHeightsExactAndStayBounded() throws {
        try withTempDirectory("prune") { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let archive = try ChainStore(path: path + "/archive", genesis: .test("prune"))
            let pruned = try ChainStore(path: path + "/minimal", genesis: .test("prune"))
            var g = SplitMix64(seed: 77)
            let model = MemoryState()
            var states: [[KeyValue]] = []
            var parent = Hash32.zero
            let lag: UInt64 = 5
            for h in UInt64(0)..<150 {
                let ws = RandomWrites.writeSet(&g, maxEntries: 20, spread: 12)
                let block = testBlock("b\(h)", height: h, parent: parent)
                let finalized = h >= lag ? h - lag : 0
                try archive.commit(block, writeSet: ws, finalizedHeight: finalized)
                try pruned.commit(block, writeSet: ws, finalizedHeight: finalized)
                model.apply(ws)
                states.append(model.dump())
                parent = block.hash
                try pruned.pruneState(retainFrom: PruningMode.minimal.retainFrom(tip: h, finalized: finalized) ?? 0)
                #expect(try pruned.current.stateRetainedFrom() == finalized)
            }
            let view = try pruned.readView()
            let retained = try view.stateRetainedFrom()
            #expect(retained == 144)
            for h in retained...149 {
                let past = view.state(at: h)
                #expect(difference(try past.scan(prefix: [], after: nil, limit: .max), states[Int(h)]) == nil, "pruned store, height \(h)")
                #expect(try view.stateTreeRoot(height: h) == Self.root(states[Int(h)]), "tree at \(h)")
            }
            // The archive answers everywhere, the pruned store's tree below the retained range is gone.
            let old = try archive.readView()
            for h in [UInt64(0), 1, 70, 143] {
                #expect(difference(try old.state(at: h).scan(prefix: [], after: nil, limit: .max), states[Int(h)]) == nil, "archive, height \(h)")
                #expect(try old.stateTreeRoot(height: h) == Self.root(states[Int(h)]))
            }
            #expect(throws: (any Error).self) { try view.stateTreeRoot(height: 10) }
            // Bounded: at most a few history entries per live key plus the unfinalized blocks' writes; the archive
            // keeps every write.
            let liveKeys = states.last!.count
            let history = try entries(pruned, ChainSchema.Family.history), archived = try entries(archive, ChainSchema.Family.history)
            let nodes = try entries(pruned, StateTreeSchema.Family.nodes), archivedNodes = try entries(archive, StateTreeSchema.Family.nodes)
            print("pruning: history \(history) vs archive \(archived) entries, tree nodes \(nodes) vs \(archivedNodes), \(liveKeys) live keys")
            #expect(history <= liveKeys + 6 * 20, "history not bounded: \(history)")
            #expect(history * 4 < archived)
            #expect(nodes * 4 < archivedNodes)
            // Blocks above the finalized height still revert exactly after pruning.
            for _ in 0..<3 { try pruned.revertTip() }
            #expect(difference(try pruned.current.dumpState(), states[146]) == nil)
            #expect(try pruned.tree.rootHash(version: 146) == Self.root(states[146]))
            // Pruning above the finalized height is refused: a reorg could need those versions.
            #expect(throws: StorageError.self) { try pruned.pruneState(retainFrom: 146) }
        }
    }

    @Test func modesChooseTheRetainedRange() {
        #expect(PruningMode.archive.retainFrom(tip: 1000, finalized: 990) == nil)
        #expect(PruningMode.minimal.retainFrom(tip: 1000, finalized: 990) == 990)
        #expect(PruningMode.keepRecent(100).retainFrom(tip: 1000, finalized: 990) == 900)
        #expect(PruningMode.keepRecent(100).retainFrom(tip: 1000, finalized: 850) == 850, "never above the finalized height")
        #expect(PruningMode.keepRecent(100).retainFrom(tip: 50, finalized: 40) == 0)
    }
}

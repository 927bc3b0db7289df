import Testing
@testable import Ledger
@testable import Primitives

/// The overlay the ledger executes against: reads, merged scans, checkpoints, write sets.
@Suite struct OverlayTests {
    func key(_ g: inout SplitMix64) -> [UInt8] { [UInt8.random(in: 0...3, using: &g), UInt8.random(in: 0...3, using: &g), UInt8.random(in: 0...255, using: &g)] }

    @Test func overlayBehavesLikeApplyingItsWrites() throws {
        var g = SplitMix64(seed: 11)
        for _ in 0..<80 {
            let base = MemoryState(entries: (0..<Int.random(in: 0...40, using: &g)).map { _ in KeyValue(key: key(&g), value: [UInt8.random(in: 0...255, using: &g)]) }
                .reduce(into: [[UInt8]: KeyValue]()) { $0[$1.key] = $1 }.values.map { $0 })
            var overlay = StateOverlay(base: base)
            var model = Dictionary(uniqueKeysWithValues: base.dump().map { ($0.key, $0.value) })
            var checkpointModels: [[[UInt8]: [UInt8]]] = []
            for _ in 0..<60 {
                switch g.next() % 10 {
                case 0..<5:
                    let k = key(&g), v = [UInt8.random(in: 0...255, using: &g)]
                    overlay.set(k, v); model[k] = v
                case 5..<7:
                    let k = model.keys.sorted { $0.lexicographicallyPrecedes($1) }.first ?? key(&g)
                    overlay.delete(k); model[k] = nil
                case 7:
                    overlay.checkpoint(); checkpointModels.append(model)
                case 8 where !checkpointModels.isEmpty:
                    overlay.rollback(); model = checkpointModels.removeLast()
                case 9 where !checkpointModels.isEmpty:
                    overlay.commit(); checkpointModels.removeLast()
                default: break
                }
                // Reads and scans agree with the model.
                let k = key(&g)
                #expect(try overlay.get(k) == model[k])
                let prefix = [UInt8.random(in: 0...3, using: &g)]
                let expected = model.filter { $0.key.starts(with: prefix) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                #expect(try overlay.scan(prefix: prefix).map(\.key) == expected.map(\.key))
                let after = expected.isEmpty ? nil : expected[expected.count / 2].key
                let tail = expected.filter { after == nil || after!.lexicographicallyPrecedes($0.key) }
                #expect(try overlay.scan(prefix: prefix, after: after, limit: 3).map(\.key) == Array(tail.prefix(3)).map(\.key))
            }
            // Each entry's previous value is the base's, whether execution read the key or wrote it blind.
            let (ws, previous) = try overlay.writeSetWithPrevious()
            #expect(ws == (try overlay.writeSet()))
            #expect(previous.count == ws.entries.count)
            for (e, p) in zip(ws.entries, previous) { #expect(base.get(e.key) == p) }
            // The write set applied to the base yields the model.
            base.apply(ws)
            #expect(Dictionary(uniqueKeysWithValues: base.dump().map { ($0.key, $0.value) }) == model)
        }
    }

    @Test func writeSetDropsNoOpWritesAndIsSorted() throws {
        let base = MemoryState(entries: [KeyValue(key: [1], value: [9])])
        var o = StateOverlay(base: base)
        o.set([1], [9])
        o.set([3], [1]); o.set([2], [1]); o.delete([4])
        let ws = try o.writeSet()
        #expect(ws.entries.map(\.key) == [[2], [3]])
        #expect(ws.digest != WriteSet.empty.digest)
        // The state commitment is order-sensitive in height and content.
        let a = StateCommitment.next(previous: .zero, height: 1, writeSet: ws)
        #expect(a != StateCommitment.next(previous: .zero, height: 2, writeSet: ws))
        #expect(a != StateCommitment.next(previous: .zero, height: 1, writeSet: .empty))
    }

    @Test func randaoChainRevealsHashToTheCommitment() {
        let chain = RandaoHashChain(seed: SHA256.hash([5]), length: 3000)
        var current = chain.commitment
        for k in 1...5 {
            let r = chain.value(chain.length - k)
            #expect(Tags.randao.hash(r.bytes) == current)
            #expect(chain.reveal(for: current)?.reveal == r)
            #expect(chain.reveal(for: current, hint: chain.length - k + 1)?.index == chain.length - k)
            current = r
        }
        #expect(chain.reveal(for: SHA256.hash([1])) == nil)
    }
}

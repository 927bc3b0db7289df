import Testing
@testable import Ledger
@testable import Primitives

/// The ordered index of an overlay's pending keys (`SortedKeys`): inserts, removals and prefix ranges agree with a
/// sorted reference set across many chunk splits and merges, and an overlay with thousands of pending keys of one kind
/// (checkpoints and rollbacks included) scans like applying its writes.
@Suite struct SortedKeysTests {
    func key(_ g: inout SplitMix64) -> [UInt8] {
        // Short keys that share prefixes often, and some that are prefixes of others.
        (0..<Int.random(in: 1...4, using: &g)).map { _ in UInt8.random(in: 0...5, using: &g) }
    }

    func expected(_ set: Set<[UInt8]>, prefix: [UInt8], after: [UInt8]?) -> [[UInt8]] {
        set.filter { k in k.starts(with: prefix) && (after.map { a in keyPrecedes(a, k) } ?? true) }.sorted { keyPrecedes($0, $1) }
    }

    @Test func rangesMatchASortedReferenceAcrossChunkSplits() {
        var g = SplitMix64(seed: 15)
        var keys = SortedKeys(), model = Set<[UInt8]>()
        for step in 0..<12_000 {
            // Mostly inserts at first (chunks split), then mostly removals (chunks empty and go).
            let inserting = step < 7_000 ? g.next() % 4 != 0 : g.next() % 4 == 0
            let k = key(&g)
            if inserting {
                #expect(keys.insert(k) == model.insert(k).inserted)
            } else {
                #expect(keys.remove(k) == (model.remove(k) != nil))
            }
            #expect(keys.count == model.count)
            if step % 97 == 0 {
                let prefix = Array(key(&g).prefix(Int.random(in: 0...2, using: &g)))
                let after: [UInt8]? = g.next() % 3 == 0 ? nil : key(&g)
                #expect(keys.keys(prefix: prefix, after: after) == expected(model, prefix: prefix, after: after),
                        "prefix \(prefix) after \(after.map { "\($0)" } ?? "nil")")
            }
        }
        #expect(keys.keys(prefix: [], after: nil) == expected(model, prefix: [], after: nil))
    }

    @Test func anOverlayWithThousandsOfPendingKeysOfOneKindScansLikeItsWrites() throws {
        var g = SplitMix64(seed: 16)
        let base = MemoryState(entries: (0..<300).map { i in KeyValue(key: [7, UInt8(i % 256), UInt8(i / 256)], value: [1]) })
        var m = OverlayModel(base: base)
        for step in 0..<6_000 {
            let k: [UInt8] = [7, UInt8.random(in: 0...255, using: &g), UInt8.random(in: 0...40, using: &g)]
            m.apply(roll: g.next() % 20, key: k, value: [UInt8(step % 256)])
            if step % 211 == 0 {
                let (overlay, model) = (m.overlay, m.model)
                let prefix: [UInt8] = [7, UInt8.random(in: 0...255, using: &g)]
                let want = model.filter { $0.key.starts(with: prefix) }.sorted { keyPrecedes($0.key, $1.key) }.map(\.key)
                #expect(try overlay.scan(prefix: prefix).map(\.key) == want)
                #expect(try overlay.scan(prefix: [7]).map(\.key) == model.keys.sorted { keyPrecedes($0, $1) })
            }
        }
        let ws = try m.overlay.writeSet()
        base.apply(ws)
        #expect(Dictionary(uniqueKeysWithValues: base.dump().map { ($0.key, $0.value) }) == m.model)
    }
}

import CRocksDB
import Foundation
import Ledger
import Primitives
import StorageTestSupport
import Testing

@testable import Storage
import TestSupport

@Suite struct DatabaseTests {
    static let families = [ColumnFamilyDescriptor("a", profile: .heavy), ColumnFamilyDescriptor("b")]

    @Test func putGetDeleteDistinguishesEmptyFromMissing() throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        #expect(try db.get(a, [1]) == nil)
        try db.put(a, [1], [])
        #expect(try db.get(a, [1]) == [])
        try db.put(a, [], [9, 9])
        #expect(try db.get(a, []) == [9, 9])
        try db.put(a, [1], [7, 8])
        #expect(try db.get(a, [1]) == [7, 8])
        try db.delete(a, [1])
        #expect(try db.get(a, [1]) == nil)
        try db.delete(a, [42])  // deleting an absent key is fine
        // Column families are separate key spaces.
        let b = try db.columnFamily("b")
        try db.put(b, [5], [1])
        #expect(try db.get(a, [5]) == nil)
        #expect(try db.multiGet(a, [[1], [], [5]]) == [nil, [9, 9], nil])
        #expect(try db.multiGet(b, [[5], [6]], sortedInput: true) == [[1], nil])
        // Unsorted input passed as sorted is checked, not trusted.
        try db.put(b, [6], [])
        #expect(try db.multiGet(b, [[6], [5]], sortedInput: true) == [[], [1]])
        #expect(throws: StorageError.unknownColumnFamily("zzz")) { try db.columnFamily("zzz") }
    }

    /// The memtable insert hints (Specs/storage.md §10) come from RocksDB's option-string parser, since the C API
    /// has no setter: a RocksDB that renamed the option would silently drop them and lose the speed.
    @Test func thisRocksDBAcceptsTheMemtableInsertHintOption() throws {
        let plain = rocksdb_options_create()!
        let hinted = RocksOptionObjects.withInsertHints(plain)
        #expect(hinted != plain, "\(RocksOptionObjects.insertHintOption) refused")
        rocksdb_options_destroy(hinted)
        // RocksDB 7.8 shares a memtable's hints between its point entries and its range tombstones, so a range
        // deletion in a hinted family is refused (the whole batch: nothing of it is applied).
        let dir0 = TempDir()
        let db0 = try Database.open(path: dir0.db, columnFamilies: Self.families)
        let heavy = try db0.columnFamily("a"), light = try db0.columnFamily("b")
        let refused = try db0.makeWriteBatch()
        refused.put(light, [1], [1])
        refused.deleteRange(heavy, from: [0], to: [9])
        #expect(throws: StorageError.rangeDeletionRefused(family: "a")) { try db0.write(refused, sync: false) }
        #expect(try db0.get(light, [1]) == nil)
        // A database whose every family has them keeps its order whatever the insert order.
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        for k in (0..<512).map({ UInt16($0 &* 7919 % 512) }) { try db.put(a, [0, UInt8(k >> 8), UInt8(k & 0xFF)], [1]) }
        #expect(try db.scan(a, prefix: [0]).map(\.key) == (0..<512).map { [0, UInt8($0 >> 8), UInt8($0 & 0xFF)] })
    }

    @Test func scansMatchAnInMemoryModel() throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        var g = SplitMix64(seed: 99)
        let model = MemoryState()
        for _ in 0..<6 {
            let ws = RandomWrites.writeSet(&g, maxEntries: 200, spread: 40)
            let batch = try db.makeWriteBatch()
            for e in ws.entries {
                if let v = e.value { batch.put(a, e.key, v) } else { batch.delete(a, e.key) }
            }
            try db.write(batch, sync: false)
            model.apply(ws)
        }
        #expect(model.count > 50)
        #expect(try db.scan(a, prefix: []) == model.dump())
        let prefixes: [[UInt8]] = [[], [0x00], [0x01], [0x01, 0xFF], [0x02], [0xFF], [0xFF, 0xFF], [0xFF, 0xFF, 0x00], [0x03]]
        for prefix in prefixes {
            for _ in 0..<20 {
                let after: [UInt8]? = g.chance(0.3) ? nil : RandomWrites.key(&g, spread: 40)
                let limit = g.chance(0.5) ? Int.max : Int(g.next() % 10)
                let got = try db.scan(a, prefix: prefix, after: after, limit: limit)
                #expect(got == model.scan(prefix: prefix, after: after, limit: limit), "prefix \(prefix) after \(String(describing: after))")
            }
        }
    }

    @Test func iteratorsRespectBoundsInBothDirections() throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        let keys: [[UInt8]] = [[0x01], [0x01, 0x00], [0x01, 0xFF], [0x01, 0xFF, 0xFF], [0x02], [0x02, 0x00], [0xFF], [0xFF, 0xFF]]
        for k in keys.reversed() { try db.put(a, k, k) }

        func collect(_ it: DatabaseIterator, forward: Bool) -> [[UInt8]] {
            var out: [[UInt8]] = []
            while let k = it.key() {
                out.append(k)
                if forward { it.next() } else { it.prev() }
            }
            return out
        }
        // Prefix [0x01, 0xFF]: its successor is [0x02], which must stay out.
        let p = try db.makeIterator(a, prefix: [0x01, 0xFF])
        p.seekToFirst()
        #expect(collect(p, forward: true) == [[0x01, 0xFF], [0x01, 0xFF, 0xFF]])
        p.seekToLast()
        #expect(collect(p, forward: false) == [[0x01, 0xFF, 0xFF], [0x01, 0xFF]])
        // A prefix of only 0xFF bytes has no upper bound.
        let f = try db.makeIterator(a, prefix: [0xFF])
        f.seekToLast()
        #expect(collect(f, forward: false) == [[0xFF, 0xFF], [0xFF]])
        // Explicit range [0x01, 0x00] ..< [0x02, 0x00].
        let r = try db.makeIterator(a, lowerBound: [0x01, 0x00], upperBound: [0x02, 0x00])
        r.seekToFirst()
        #expect(collect(r, forward: true) == [[0x01, 0x00], [0x01, 0xFF], [0x01, 0xFF, 0xFF], [0x02]])
        r.seekForPrev([0x01, 0xFF, 0x00])
        #expect(r.key() == [0x01, 0xFF])
        r.seek([0x03])
        #expect(!r.isValid)
        #expect(r.key() == nil && r.value() == nil)
        r.next()  // harmless when invalid
        try r.checkStatus()
        // Values come back intact.
        r.seek([0x02])
        #expect(r.value() == [0x02])
    }

    @Test func snapshotsSeeAFixedPointInTime() throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        try db.put(a, [1], [1])
        try db.put(a, [2], [2])
        let snap = try db.snapshot()
        try db.put(a, [1], [10])
        try db.delete(a, [2])
        try db.put(a, [3], [3])
        #expect(try db.get(a, [1], snapshot: snap) == [1])
        #expect(try db.get(a, [2], snapshot: snap) == [2])
        #expect(try db.get(a, [3], snapshot: snap) == nil)
        #expect(try db.multiGet(a, [[1], [2], [3]], snapshot: snap) == [[1], [2], nil])
        #expect(try db.scan(a, prefix: [], snapshot: snap).map(\.key) == [[1], [2]])
        #expect(try db.scan(a, prefix: []).map(\.key) == [[1], [3]])
        // An iterator through the snapshot, used after further writes.
        let it = try db.makeIterator(a, snapshot: snap)
        try db.put(a, [0], [0])
        it.seekToFirst()
        #expect(it.key() == [1])
        // A snapshot of another database is refused, not misused.
        let other = try Database.open(path: dir.file("other"), columnFamilies: Self.families)
        #expect(throws: StorageError.self) { try other.get(try other.columnFamily("a"), [1], snapshot: snap) }
    }

    @Test func writeBatchesAreAtomicAcrossColumnFamilies() throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        let b = try db.columnFamily("b")
        try db.put(a, [9], [9])
        let batch = try db.makeWriteBatch()
        batch.put(a, [1], [1])
        batch.put(b, [1], [2])
        batch.delete(a, [9])
        batch.put(b, [5], [5])
        batch.deleteRange(b, from: [5], to: [6])
        #expect(batch.count == 5)
        #expect(try db.get(a, [1]) == nil)  // nothing visible before the write
        try db.write(batch, sync: true)
        #expect(try db.get(a, [1]) == [1])
        #expect(try db.get(b, [1]) == [2])
        #expect(try db.get(a, [9]) == nil)
        #expect(try db.get(b, [5]) == nil)
        batch.clear()
        #expect(batch.count == 0)

        // A column family of another database poisons the batch: the write throws and applies nothing.
        let other = try Database.open(path: dir.file("other"), columnFamilies: Self.families)
        let foreign = try other.columnFamily("a")
        let bad = try db.makeWriteBatch()
        bad.put(a, [7], [7])
        bad.put(foreign, [7], [7])
        #expect(throws: StorageError.self) { try db.write(bad, sync: true) }
        #expect(try db.get(a, [7]) == nil)
        #expect(throws: StorageError.self) { try other.write(batch, sync: false) }
    }

    @Test func dataAndColumnFamiliesSurviveReopen() throws {
        let dir = TempDir()
        let path = dir.db
        do {
            let db = try Database.open(path: path, columnFamilies: Self.families)
            try db.put(try db.columnFamily("a"), [1], [1], sync: true)
            try db.put(try db.columnFamily("b"), [2], [], sync: true)
            try db.close()
        }
        do {
            // Asking for fewer families still opens every existing one (RocksDB requires it).
            let db = try Database.open(path: path, columnFamilies: [ColumnFamilyDescriptor("a")])
            #expect(Set(db.columnFamilyNames) == ["default", "a", "b"])
            #expect(try db.get(try db.columnFamily("b"), [2]) == [])
            try db.close()
        }
        do {
            // A new family is created next to the existing ones.
            let db = try Database.open(path: path, columnFamilies: Self.families + [ColumnFamilyDescriptor("c")])
            #expect(Set(db.columnFamilyNames) == ["default", "a", "b", "c"])
            #expect(try db.get(try db.columnFamily("a"), [1]) == [1])
            try db.put(try db.columnFamily("c"), [3], [3])
            try db.close()
        }
        let db = try Database.open(path: path, columnFamilies: [])
        #expect(try db.get(try db.columnFamily("c"), [3]) == [3])
    }

    @Test func badPathGivesAClearError() throws {
        let dir = TempDir()
        let file = dir.file("file")
        #expect(FileManager.default.createFile(atPath: file, contents: Data([1, 2, 3])))
        for path in [file + "/db", "/nonexistent-\(UUID().uuidString)/deeper/db"] {
            do {
                _ = try Database.open(path: path, columnFamilies: Self.families)
                Issue.record("opening \(path) succeeded")
            } catch {
                guard case .openFailed(let p, let message) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(p == path)
                #expect(!message.isEmpty)
                #expect(error.description.contains(path))
            }
        }
    }

    @Test func secondOpenOfTheSameDirectoryIsLocked() throws {
        let dir = TempDir()
        let path = dir.db
        let db = try Database.open(path: path, columnFamilies: Self.families)
        do {
            _ = try Database.open(path: path, columnFamilies: Self.families)
            Issue.record("second open succeeded")
        } catch {
            guard case .locked(let p, _) = error else {
                Issue.record("expected locked, got \(error)")
                return
            }
            #expect(p == path)
            #expect(error.description.contains("already open"))
        }
        try db.close()
        // Once closed, the directory can be opened again.
        let again = try Database.open(path: path, columnFamilies: Self.families)
        try again.close()
    }

    @Test func closeWaitsForLiveResourcesAndLaterCallsFail() throws {
        let dir = TempDir()
        let path = dir.db
        let db = try Database.open(path: path, columnFamilies: Self.families)
        let a = try db.columnFamily("a")
        try db.put(a, [1], [1])
        do {
            let it = try db.makeIterator(a)
            it.seekToFirst()
            #expect(throws: StorageError.busy(path: path, liveResources: 1)) { try db.close() }
            #expect(it.key() == [1])
        }
        do {
            let snap = try db.snapshot()
            let batch = try db.makeWriteBatch()
            #expect(throws: StorageError.busy(path: path, liveResources: 2)) { try db.close() }
            withExtendedLifetime((snap, batch)) {}
        }
        try db.close()
        try db.close()  // idempotent
        #expect(db.isClosed)
        #expect(throws: StorageError.closed(path: path)) { try db.get(a, [1]) }
        #expect(throws: StorageError.closed(path: path)) { try db.put(a, [1], [2]) }
        #expect(throws: StorageError.closed(path: path)) { try db.makeIterator(a) }
        #expect(throws: StorageError.closed(path: path)) { try db.snapshot() }
        #expect(throws: StorageError.closed(path: path)) { try db.makeWriteBatch() }
    }

    @Test func droppingTheLastReferenceClosesTheDatabase() throws {
        let dir = TempDir()
        let path = dir.db
        do {
            let db = try Database.open(path: path, columnFamilies: Self.families)
            try db.put(try db.columnFamily("a"), [1], [1], sync: true)
        }
        // No explicit close: the lock must be gone anyway.
        let db = try Database.open(path: path, columnFamilies: Self.families)
        #expect(try db.get(try db.columnFamily("a"), [1]) == [1])
    }

    @Test func prefixSuccessor() {
        #expect(KeyBytes.prefixSuccessor([]) == nil)
        #expect(KeyBytes.prefixSuccessor([0xFF, 0xFF]) == nil)
        #expect(KeyBytes.prefixSuccessor([0x01]) == [0x02])
        #expect(KeyBytes.prefixSuccessor([0x01, 0xFF]) == [0x02])
        #expect(KeyBytes.prefixSuccessor([0x01, 0xFE, 0xFF]) == [0x01, 0xFF])
        #expect(KeyBytes.readBE(UInt32.self, KeyBytes.be32(0x0102_0304), at: 0) == 0x0102_0304)
        #expect(KeyBytes.readBE(UInt64.self, [1, 2, 3], at: 0) == nil)
    }
}

@Suite struct DatabaseCloseRaceTests {
    /// Closing while other threads read: they get `closed` errors, never touch freed handles.
    @Test func closeDuringConcurrentReadsIsSafe() async throws {
        let dir = TempDir()
        let db = try Database.open(path: dir.db, columnFamilies: [ColumnFamilyDescriptor("a")])
        let a = try db.columnFamily("a")
        for i in 0..<100 { try db.put(a, [UInt8(i)], [UInt8(i)]) }
        let reads = SharedCounter()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    while true {
                        do {
                            let i = UInt8(reads.count % 100)
                            guard try db.get(a, [i]) == [i] else { return false }
                            _ = try db.multiGet(a, [[1], [2]])
                            reads.increment()
                        } catch StorageError.closed {
                            return true
                        }
                        await Task.yield()
                    }
                }
            }
            while reads.count < 50 { await Task.yield() }
            try db.close()
            for try await sawClosed in group { #expect(sawClosed) }
        }
    }
}

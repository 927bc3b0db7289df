import Foundation
import Synchronization
import Ledger
import Primitives
@testable import Storage
import TestSupport

extension TempDir {
    /// The database path inside the directory (not created).
    var db: String { file("db") }
}

extension Hash32 {
    /// A test hash derived from a label.
    static func test(_ label: String) -> Hash32 { SHA256.hash(Array(label.utf8)) }
}

extension ChainStore {
    /// Every entry of a column family, ascending (tests compare whole column families).
    func dump(_ family: String) throws -> [KeyValue] {
        try database.scan(try database.columnFamily(family), prefix: [])
    }
}

/// A block with the given transactions and distinct opaque parts.
func testBlock(_ label: String, height: UInt64, parent: Hash32, transactions: [TxIndexEntry] = []) -> BlockRecord {
    let hash = Hash32.test(label)
    return BlockRecord(
        hash: hash, height: height, parent: parent, header: Array("header \(label)".utf8),
        body: Array("body \(label)".utf8), receipts: Array("receipts \(label)".utf8), transactions: transactions)
}

/// Shorthand for a write set.
func writes(_ pairs: [([UInt8], [UInt8]?)]) -> WriteSet {
    WriteSet(pairs.map { WriteEntry(key: $0.0, value: $0.1) })
}

/// Nil when equal; otherwise a short description of the first difference (keeps failure output readable
/// where a plain `==` would print two whole states).
func difference(_ got: [KeyValue], _ want: [KeyValue]) -> String? {
    for (i, (g, w)) in zip(got, want).enumerated() where g != w {
        return "entry \(i): got \(Hex.encode(g.key))=\(Hex.encode(g.value)), want \(Hex.encode(w.key))=\(Hex.encode(w.value))"
    }
    if got.count != want.count {
        let extra = got.count > want.count ? got[want.count] : want[got.count]
        return "got \(got.count) entries, want \(want.count); first unmatched \(Hex.encode(extra.key))"
    }
    return nil
}

/// A counter shared between concurrent test tasks.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Runs `body` with a fresh temporary directory that is removed only after `body` has returned, so
/// every database `body` opened there (its locals) is closed before the files go.
func withTempDirectory<R>(_ label: String, _ body: (String) throws -> R) throws -> R {
    let dir = TempDir(label)
    return try withExtendedLifetime(dir) { try body(dir.db) }
}

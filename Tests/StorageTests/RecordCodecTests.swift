import Ledger
import Primitives
import StorageTestSupport
import Testing

@testable import Storage

/// Every record Storage decodes from disk goes through the strict canonical reader: exact round trips,
/// and any damage is a typed error, never a trap.
@Suite struct RecordCodecTests {
    static func randomUndo(_ g: inout SplitMix64) -> UndoRecord {
        let state = (0..<Int(g.next() % 30)).map { _ in
            UndoRecord.StateEntry(key: g.bytes(Int(g.next() % 40)), previous: g.chance(0.4) ? nil : g.bytes(Int(g.next() % 60)))
        }
        let txs = (0..<Int(g.next() % 5)).map { i in
            UndoRecord.Transaction(
                txHash: SHA256.hash(g.bytes(8)), position: UInt32(i),
                addresses: (0..<Int(g.next() % 4)).map { _ in SHA256.hash(g.bytes(8)) },
                previousLocation: g.chance(0.3) ? TxLocation(blockHash: SHA256.hash(g.bytes(8)), height: g.next(), position: UInt32(truncatingIfNeeded: g.next())) : nil)
        }
        let events = (0..<Int(g.next() % 6)).map { _ in
            UndoRecord.AddressEvent(address: SHA256.hash(g.bytes(8)), receipt: UInt32(truncatingIfNeeded: g.next()), event: UInt32(truncatingIfNeeded: g.next()))
        }
        return UndoRecord(height: g.next(), parent: SHA256.hash(g.bytes(8)), state: state, transactions: txs, addressEvents: events)
    }

    @Test func undoRecordsRoundTripExactly() throws {
        var g = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let u = Self.randomUndo(&g)
            let bytes = u.canonicalEncoding
            let back = try UndoRecord(canonicalEncoding: bytes)
            #expect(back == u)
            #expect(back.canonicalEncoding == bytes)
            #expect(bytes.count <= u.encodedSizeEstimate)
        }
    }

    @Test func damagedUndoRecordsAreRejected() throws {
        var g = SplitMix64(seed: 8)
        for _ in 0..<40 {
            let bytes = Self.randomUndo(&g).canonicalEncoding
            for cut in 0..<bytes.count {
                #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: Array(bytes[0..<cut])) }
            }
            #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: bytes + [0]) }
            #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: [UndoRecord.formatVersion + 1] + bytes.dropFirst()) }
            #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: [UndoRecord.formatVersion - 1] + bytes.dropFirst()) }
        }
        // An optional tag other than 0 or 1.
        let one = UndoRecord(height: 1, parent: .zero, state: [.init(key: [1], previous: nil)], transactions: [])
        var bytes = one.canonicalEncoding
        bytes[bytes.count - 3] = 2  // the state entry's `previous` tag (then 0 transactions, 0 address events)
        #expect(throws: CodecError.self) { try UndoRecord(canonicalEncoding: bytes) }
    }

    /// History keys keep the state's key order, group each key's heights together (ascending) and round-trip,
    /// whatever zero bytes and prefixes the keys hold.
    @Test func historyKeysPreserveOrderAndRoundTrip() {
        let keys: [[UInt8]] = [[], [0], [0, 0], [0, 1], [0, 0xFF], [1], [1, 0], [1, 0, 0], [1, 1], [0xFF], [0xFF, 0]]
        let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
        var encoded = [[UInt8]]()
        for k in sorted { for h: UInt64 in [0, 1, 0x0100, .max] { encoded.append(ChainSchema.historyKey(k, height: h)) } }
        #expect(encoded == encoded.sorted { $0.lexicographicallyPrecedes($1) }, "history keys out of order")
        for k in keys {
            let e = ChainSchema.historyKey(k, height: 42)
            #expect(ChainSchema.decodeHistoryKey(e)?.key == k && ChainSchema.decodeHistoryKey(e)?.height == 42)
            #expect(e.starts(with: ChainSchema.escapedPrefix(k)))
        }
        #expect(ChainSchema.decodeHistoryKey([0, 2] + KeyBytes.be64(1)) == nil, "a bad escape")
        #expect(ChainSchema.decodeHistoryKey([1, 2, 3]) == nil)
    }

    @Test func randomBytesNeverCrashAnyDecoder() {
        var g = SplitMix64(seed: 9)
        for _ in 0..<20_000 {
            let bytes = g.bytes(Int(g.next() % 120))
            if let u = try? UndoRecord(canonicalEncoding: bytes) { #expect(u.canonicalEncoding == bytes) }
            if let t = try? TxLocation(canonicalEncoding: bytes) { #expect(t.canonicalEncoding == bytes) }
            if let t = try? ChainTip(canonicalEncoding: bytes) { #expect(t.canonicalEncoding == bytes) }
            if let b = try? BlockInfo(canonicalEncoding: bytes) { #expect(b.canonicalEncoding == bytes) }
            _ = try? ReadView.decodeAddressEntry(key: bytes, value: bytes)
            if let (key, height) = ChainSchema.decodeHistoryKey(bytes) { #expect(ChainSchema.historyKey(key, height: height) == bytes) }
            if let keys = try? ChainSchema.decodeKeyList(bytes, key: []) { #expect(ChainSchema.encodeKeyList(keys) == bytes) }
            _ = try? HistoricalState.decodeValue(bytes, key: [])
        }
    }

    @Test func fixedRecordLayoutsAreByteExact() {
        let h = Hash32(bytes: [UInt8](repeating: 0xAB, count: 32)) ?? .zero
        #expect(ChainTip(hash: h, height: 0x0102).canonicalEncoding == h.bytes + [0x02, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(BlockInfo(height: 5, parent: h).canonicalEncoding == [5, 0, 0, 0, 0, 0, 0, 0] + h.bytes)
        #expect(TxLocation(blockHash: h, height: 1, position: 2).canonicalEncoding == h.bytes + [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0])
        #expect(ChainSchema.canonicalKey(0x0102) == [0, 0, 0, 0, 0, 0, 1, 2])
        #expect(ChainSchema.undoKey(height: 3, hash: h) == [0, 0, 0, 0, 0, 0, 0, 3] + h.bytes)
        #expect(ChainSchema.addressKey(h, height: 1, position: 0x0A0B) == h.bytes + [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x0A, 0x0B])
        #expect(ChainSchema.version.canonicalEncoding == [6, 0, 0, 0])
        #expect(ChainSchema.historyKey([0, 7], height: 0x0102) == [0, 0xFF, 7, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2])
        #expect(ChainSchema.encodeKeyList([[7], []]) == [2, 1, 7, 0])
        #expect(ChainSchema.addressEventKey(h, height: 1, receipt: 2, event: 0x0304) == h.bytes + [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 3, 4])
        #expect(AddressEventValue(kind: 0x0102, pool: 5, worker: nil, txHash: h).canonicalEncoding == [2, 1, 1, 5, 0, 0, 0, 0, 1] + h.bytes)
        let undo = UndoRecord(height: 2, parent: h, state: [.init(key: [7], previous: []), .init(key: [], previous: nil)], transactions: [])
        // format, height, parent, 2 entries: ([7], present []), ([], absent), then 0 transactions, 0 address events.
        #expect(undo.canonicalEncoding == [2] + [2, 0, 0, 0, 0, 0, 0, 0] + h.bytes + [2, 1, 7, 1, 0, 0, 0] + [0] + [0])
    }
}

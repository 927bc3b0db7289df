import Ledger
@testable import P2P
import Primitives
import Testing

/// The state-sync messages (Specs/p2p.md §7): canonical round trips, and strict decoding of everything else.
@Suite struct SnapshotMessageTests {
    @Test func snapshotMessagesRoundTripAndRejectGarbage() throws {
        let limits = P2PLimits(maxBlockBytes: 1 << 20, maxBlockTransactions: 1000)
        let part = SnapshotPart(height: 7, blockHash: SHA256.hash([1]), part: 3, start: 2, total: 5,
                                entries: [KeyValue(key: [1, 2], value: [3]), KeyValue(key: [4], value: [])], available: true)
        let messages: [P2PMessage] = [
            .getSnapshot(height: 0), .getSnapshotPart(SnapshotPartRequest(height: 7, blockHash: SHA256.hash([1]), part: 257, start: 9)),
            .snapshotPart(part), .snapshot(height: 9, nil),
            .snapshotPart(SnapshotPart(height: 7, blockHash: .zero, part: 1, start: 0, total: 0, entries: [], available: false)),
        ]
        for m in messages {
            #expect(try P2PMessage.decode(type: m.type.rawValue, payload: m.payload, limits: limits) == m)
            // Every truncation is an error, never a crash.
            for n in 0..<m.payload.count { #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: m.type.rawValue, payload: Array(m.payload[..<n]), limits: limits) } }
            #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: m.type.rawValue, payload: m.payload + [0], limits: limits) }
        }
        // A part index past the receipts, entries past the announced total.
        var bad = P2PMessage.getSnapshotPart(SnapshotPartRequest(height: 1, blockHash: .zero, part: 0, start: 0)).payload
        bad[40] = 0x02; bad[41] = 0x01
        #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: MessageType.getSnapshotPart.rawValue, payload: bad, limits: limits) }
        var over = part
        over.total = 3
        #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: MessageType.snapshotPart.rawValue, payload: P2PMessage.snapshotPart(over).payload, limits: limits) }
    }

    /// A body or receipts size from an offer is cut into 64 KiB pieces without an addition that could wrap near 2³²
    /// (seventh review: `bytes + 65 535` trapped for a size above 2³² − 65 536).
    @Test func piecesOfAnySizeCountWithoutOverflow() {
        #expect(SnapshotParts.pieces(0) == 0)
        #expect(SnapshotParts.pieces(1) == 1)
        #expect(SnapshotParts.pieces(UInt32(SnapshotParts.pieceBytes)) == 1)
        #expect(SnapshotParts.pieces(UInt32(SnapshotParts.pieceBytes) + 1) == 2)
        #expect(SnapshotParts.pieces(UInt32.max) == 65_536)
        #expect(SnapshotParts.pieces(UInt32.max - 10) == 65_536)
    }
}

import Consensus
import Foundation
import Ledger
import NIOCore
import NIOEmbedded
import Node
import P2P
import Primitives
import StateTree
import Testing

/// Every message's encoding round-trips and the decoder refuses everything else (Specs/p2p.md section 3).
@Suite struct CodecTests {
    static let limits = P2PLimits(maxBlockBytes: 1 << 20, maxBlockTransactions: 1000)

    static func sampleBlock(txs: Int = 2) -> Block {
        let v = DevelopmentKeys.validator(0)
        let a = DevelopmentKeys.account(0)
        let chain = SHA256.hash(Array("chain".utf8))
        let transactions = (0..<txs).map { i in
            Transaction(chainId: chain, sender: a.publicKey, nonce: UInt64(i), fee: 1_000,
                        body: .transfer(to: DevelopmentKeys.account(1).publicKey, amount: 5)).signed(by: a)
        }
        let header = BlockHeader(chainId: chain, height: 7, slot: 9, parent: SHA256.hash([1]), timestamp: 1_700_000_000_000,
                                 proposer: v.publicKey, randaoReveal: SHA256.hash([2]), txRoot: Block.txRoot(transactions),
                                 receiptsRoot: SHA256.hash([3]), stateRoot: SHA256.hash([4]))
        return Block(signedHeader: SignedHeader(header: header, signedBy: v), transactions: transactions)
    }

    static var samples: [P2PMessage] {
        let b = sampleBlock()
        let h = SHA256.hash(Array("x".utf8))
        return [
            .hello(Hello(chainId: h, genesisHash: SHA256.hash([9]), nodeKey: DevelopmentKeys.account(3).publicKey, challenge: SHA256.hash([5]),
                         listenPort: 30_300, userAgent: "sharechain/0.1 ✓")),
            .auth(DevelopmentKeys.account(3).sign(digest: h)),
            .disconnect(.wrongChain, "this node is on chain …"),
            .disconnect(.shutdown, ""),
            .ping(0), .pong(.max),
            .status(PeerStatus(tipHash: h, height: 12, slot: 40, finalizedHeight: 2)),
            .status(PeerStatus(tipHash: h, height: 12, slot: 40, finalizedHeight: 8, earliestHeight: 8)),
            .getHeaders(locator: [h, SHA256.hash([1])], max: 2000),
            .headers([b.signedHeader, sampleBlock(txs: 0).signedHeader]),
            .headers([]),
            .getBlocks([h]),
            .block(b),
            .block(sampleBlock(txs: 0)),
            .notFound([h, h]),
            .newBlock(b),
            .transactions(b.transactions),
            .getPeers,
            .peers([WireAddress(ip: [8, 8, 8, 8], port: 1)!, WireAddress(ip: [UInt8](repeating: 0x20, count: 16), port: 65_535)!]),
            .peers([]),
            .getSnapshot(height: 0),
            .snapshot(height: b.header.height, SnapshotOffer(header: b.signedHeader,
                                                             chunks: (0..<256).map { SnapshotManifest.Chunk(count: UInt64($0 % 3), hash: SHA256.hash([UInt8($0)])) },
                                                             bodyBytes: 1234, receiptsBytes: 99)),
            .snapshot(height: 5, nil),
            .getSnapshotPart(SnapshotPartRequest(height: 5, blockHash: h, part: 256, start: 3)),
            .snapshotPart(SnapshotPart(height: 5, blockHash: h, part: 0, start: 0, total: 2,
                                       entries: [KeyValue(key: [1], value: [2, 3]), KeyValue(key: [], value: [])], available: true)),
            .snapshotPart(SnapshotPart(height: 5, blockHash: h, part: 257, start: 0, total: 0, entries: [], available: false)),
        ]
    }

    @Test func everyMessageTypeHasASample() {
        #expect(Set(Self.samples.map(\.type)) == Set(MessageType.allCases))
    }

    @Test(arguments: samples) func roundTrips(_ m: P2PMessage) throws {
        let frame = m.frame
        #expect(Int(UInt32(frame[0]) | UInt32(frame[1]) << 8 | UInt32(frame[2]) << 16 | UInt32(frame[3]) << 24) == frame.count - 4)
        #expect(frame[4] == m.type.rawValue)
        let back = try P2PMessage.decode(type: frame[4], payload: Array(frame[5...]), limits: Self.limits)
        #expect(back == m)
        #expect(back.frame == frame)
    }

    @Test(arguments: samples) func rejectsTruncationAndExtension(_ m: P2PMessage) {
        let p = m.payload
        for cut in 0..<p.count {
            #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: m.type.rawValue, payload: Array(p[..<cut]), limits: Self.limits) }
        }
        #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: m.type.rawValue, payload: p + [0], limits: Self.limits) }
    }

    @Test func rejectsGarbage() {
        func bad(_ type: UInt8, _ payload: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: P2PWireError.self, sourceLocation: sourceLocation) { try P2PMessage.decode(type: type, payload: payload, limits: Self.limits) }
        }
        let t = { (m: MessageType) in m.rawValue }
        for unknown: UInt8 in [0x00, 0x10, 0x7f, 0xff] { bad(unknown, []) }
        bad(t(.disconnect), [200, 0])                         // unknown reason tag
        bad(t(.disconnect), [0, 2, 0xc3, 0x28])               // invalid UTF-8
        bad(t(.getHeaders), [0] + [1, 0, 0, 0])               // empty locator
        bad(t(.getHeaders), [1] + [UInt8](repeating: 1, count: 32) + [0, 0, 0, 0])        // max 0
        bad(t(.getHeaders), [1] + [UInt8](repeating: 1, count: 32) + [0xd1, 0x07, 0, 0])  // max 2001
        bad(t(.getHeaders), [0x41] + [UInt8](repeating: 1, count: 32 * 65) + [1, 0, 0, 0])  // 65 locator hashes
        bad(t(.getBlocks), [0])                               // empty
        bad(t(.getBlocks), [0x81, 0x00] + [UInt8](repeating: 1, count: 32))  // non-minimal length prefix
        bad(t(.transactions), [0])                            // empty
        bad(t(.peers), [1, 5] + [UInt8](repeating: 1, count: 6))  // unknown family
        bad(t(.peers), [1, 4, 1, 2, 3, 4, 0, 0])              // port 0
        bad(t(.getPeers), [0])                                // a payload where none is allowed
        var agent = CanonicalWriter()
        agent.u32(1); agent.hash(.zero); agent.hash(.zero); agent.hash(.zero); agent.hash(.zero); agent.u16(1)
        agent.string(String(repeating: "a", count: 65))
        bad(t(.hello), agent.bytes)                           // user agent over 64 bytes
        // A block with more transactions than the chain allows is refused before decoding them.
        let small = P2PLimits(maxBlockBytes: 1 << 20, maxBlockTransactions: 1)
        let m = P2PMessage.block(Self.sampleBlock(txs: 2))
        #expect(throws: P2PWireError.self) { try P2PMessage.decode(type: m.type.rawValue, payload: m.payload, limits: small) }
    }

    @Test func frameCapCoversTheLargestBlockAndHeaders() {
        let l = P2PLimits(maxBlockBytes: 4 << 20, maxBlockTransactions: 20_000)
        #expect(l.maxFrameBytes >= 4 << 20)
        let tiny = P2PLimits(maxBlockBytes: 1024, maxBlockTransactions: 10)
        #expect(tiny.maxFrameBytes >= P2PLimits.maxHeadersPerMessage * BlockLimits.signedHeaderBytes)
    }

    @Test func handshakeSignatureBindsChainChallengeAndBothKeys() {
        let a = DevelopmentKeys.account(0), b = DevelopmentKeys.account(1), c = DevelopmentKeys.account(2)
        let chain = SHA256.hash([1]), challenge = SHA256.hash([2])
        let sig = Handshake.sign(chainId: chain, peerChallenge: challenge, key: a, peerKey: b.publicKey)
        #expect(Handshake.verify(sig, chainId: chain, ourChallenge: challenge, peerKey: a.publicKey, ourKey: b.publicKey))
        #expect(!Handshake.verify(sig, chainId: SHA256.hash([9]), ourChallenge: challenge, peerKey: a.publicKey, ourKey: b.publicKey))
        #expect(!Handshake.verify(sig, chainId: chain, ourChallenge: SHA256.hash([9]), peerKey: a.publicKey, ourKey: b.publicKey))
        #expect(!Handshake.verify(sig, chainId: chain, ourChallenge: challenge, peerKey: a.publicKey, ourKey: c.publicKey))
        #expect(!Handshake.verify(sig, chainId: chain, ourChallenge: challenge, peerKey: c.publicKey, ourKey: b.publicKey))
    }

    @Test func addresses() throws {
        #expect(WireAddress(host: "127.0.0.1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "10.1.2.3", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "172.20.0.1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "192.168.1.1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "::1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "fd00::1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "::ffff:192.168.0.1", port: 1) == nil || WireAddress(host: "::ffff:c0a8:1", port: 1)!.isPrivateOrLocal)
        #expect(!WireAddress(host: "8.8.8.8", port: 1)!.isPrivateOrLocal)
        #expect(!WireAddress(host: "2001:db8::1", port: 1)!.isPrivateOrLocal)
        #expect(WireAddress(host: "1.2.3", port: 1) == nil)
        #expect(WireAddress(host: "1.2.3.256", port: 1) == nil)
        #expect(WireAddress(host: "8.8.8.8", port: 0) == nil)
        #expect(try PeerEndpoint(parsing: "[::1]:30300") == PeerEndpoint(host: "::1", port: 30_300))
        #expect(try PeerEndpoint(parsing: "node.example:1").host == "node.example")
        #expect(throws: P2PConfigError.self) { try PeerEndpoint(parsing: "nohost") }
        #expect(throws: P2PConfigError.self) { try PeerEndpoint(parsing: "h:0") }
    }

    /// The frame decoder on an embedded channel: frames split across reads, and the cap enforced from the
    /// length prefix alone (the oversize payload is never buffered).
    @Test func frameDecoderSplitsAndCaps() throws {
        let ch = EmbeddedChannel(handler: FrameDecoder(maxFrameBytes: 100, stallTimeout: .seconds(5)))
        let f = P2PMessage.ping(42).frame + P2PMessage.getPeers.frame
        for b in f { try ch.writeInbound(ByteBuffer(bytes: [b])) }
        let first = try #require(try ch.readInbound(as: Frame.self))
        #expect(try P2PMessage.decode(type: first.type, payload: first.payload, limits: Self.limits) == .ping(42))
        let second = try #require(try ch.readInbound(as: Frame.self))
        #expect(second.type == MessageType.getPeers.rawValue && second.payload.isEmpty)

        let capped = EmbeddedChannel(handler: FrameDecoder(maxFrameBytes: 100, stallTimeout: .seconds(5)))
        #expect(throws: P2PWireError.badFrameLength(101, maximum: 100)) { try capped.writeInbound(ByteBuffer(bytes: [101, 0, 0, 0, 1])) }
        let zero = EmbeddedChannel(handler: FrameDecoder(maxFrameBytes: 100, stallTimeout: .seconds(5)))
        #expect(throws: P2PWireError.badFrameLength(0, maximum: 100)) { try zero.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0])) }
    }

    @Test func blockListFile() throws {
        let k = DevelopmentKeys.account(0).publicKey
        let (keys, endpoints) = BlockListFile.parse("# cut\n\(k.hex)\n127.0.0.1:30301  # group b\n\nnot an entry\n")
        #expect(keys == [k])
        #expect(endpoints == ["127.0.0.1:30301"])
    }
}

import Consensus
import Ledger
import Primitives
import StateTree

/// The wire protocol version this implementation speaks (Specs/p2p.md). Peers must match exactly.
public let p2pProtocolVersion: UInt32 = 3

/// Message type bytes (Specs/p2p.md section 3). Unknown types are a protocol violation.
public enum MessageType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 0x01
    case auth = 0x02
    case disconnect = 0x03
    case ping = 0x04
    case pong = 0x05
    case status = 0x06
    case getHeaders = 0x07
    case headers = 0x08
    case getBlocks = 0x09
    case block = 0x0A
    case notFound = 0x0B
    case newBlock = 0x0C
    case transactions = 0x0D
    case getPeers = 0x0E
    case peers = 0x0F
    case getSnapshot = 0x10
    case snapshot = 0x11
    case getSnapshotPart = 0x12
    case snapshotPart = 0x13

    public var description: String {
        switch self {
        case .hello: "hello"
        case .auth: "auth"
        case .disconnect: "disconnect"
        case .ping: "ping"
        case .pong: "pong"
        case .status: "status"
        case .getHeaders: "getHeaders"
        case .headers: "headers"
        case .getBlocks: "getBlocks"
        case .block: "block"
        case .notFound: "notFound"
        case .newBlock: "newBlock"
        case .transactions: "transactions"
        case .getPeers: "getPeers"
        case .peers: "peers"
        case .getSnapshot: "getSnapshot"
        case .snapshot: "snapshot"
        case .getSnapshotPart: "getSnapshotPart"
        case .snapshotPart: "snapshotPart"
        }
    }
}

/// Size and count limits of the wire protocol. The frame cap derives from the genesis block size, so the
/// largest legal block always fits in one frame and nothing much larger can be sent.
public struct P2PLimits: Sendable, Hashable {
    /// Genesis `consensus.maxBlockBytes`.
    public let maxBlockBytes: Int
    /// Genesis `consensus.maxBlockTransactions`.
    public let maxBlockTransactions: Int

    /// Hashes in a block locator.
    public static let maxLocatorHashes = 64
    /// Headers in one `headers` message (and the most a `getHeaders` may ask for).
    public static let maxHeadersPerMessage = 2000
    /// Hashes in one `getBlocks` or `notFound` message.
    public static let maxHashesPerRequest = 64
    /// Transactions in one `transactions` message (the frame cap bounds the bytes).
    public static let maxTransactionsPerMessage = 4096
    /// Addresses in one `peers` message.
    public static let maxPeersPerMessage = 64
    /// Bytes of a disconnect reason text.
    public static let maxReasonBytes = 256
    /// Bytes of a user agent string.
    public static let maxUserAgentBytes = 64
    /// Bytes of framing overhead allowed above the largest payload (type byte and slack).
    public static let frameSlack = 1024

    public init(maxBlockBytes: Int, maxBlockTransactions: Int) {
        self.maxBlockBytes = maxBlockBytes
        self.maxBlockTransactions = maxBlockTransactions
    }

    /// The limits of a chain.
    public init(genesis: Genesis) {
        self.init(maxBlockBytes: genesis.consensus.maxBlockBytes, maxBlockTransactions: genesis.consensus.maxBlockTransactions)
    }

    /// Largest value of a frame's length field (type byte plus payload): a full block or a full headers
    /// message, whichever is larger, plus slack.
    public var maxFrameBytes: Int {
        max(maxBlockBytes, Self.maxHeadersPerMessage * BlockLimits.signedHeaderBytes + 8) + Self.frameSlack
    }

    /// Largest payload a sender may put in one frame.
    public var maxPayloadBytes: Int { maxFrameBytes - 1 }
}

/// Why a connection is closed, sent in a `disconnect` message before closing.
public enum DisconnectReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case shutdown = 0
    case wrongChain = 1
    case wrongVersion = 2
    case badHandshake = 3
    case selfConnection = 4
    case duplicate = 5
    case tooManyPeers = 6
    case banned = 7
    case protocolViolation = 8
    case timeout = 9
    case blocked = 10
    case slowConsumer = 11

    public var description: String {
        switch self {
        case .shutdown: "shutting down"
        case .wrongChain: "wrong chain"
        case .wrongVersion: "wrong protocol version"
        case .badHandshake: "bad handshake"
        case .selfConnection: "connection to self"
        case .duplicate: "duplicate connection"
        case .tooManyPeers: "too many peers"
        case .banned: "banned"
        case .protocolViolation: "protocol violation"
        case .timeout: "timeout"
        case .blocked: "blocked by the operator"
        case .slowConsumer: "peer reads too slowly"
        }
    }
}

/// The first message on every connection, sent by both sides at once.
public struct Hello: Sendable, Hashable {
    public var version: UInt32
    public var chainId: Hash32
    public var genesisHash: Hash32
    /// The sender's node identity key (not a validator key).
    public var nodeKey: PublicKey
    /// 32 random bytes the receiver must sign.
    public var challenge: Hash32
    /// The port the sender accepts connections on (0: none).
    public var listenPort: UInt16
    /// Free-form software name, at most 64 bytes of UTF-8.
    public var userAgent: String

    public init(version: UInt32 = p2pProtocolVersion, chainId: Hash32, genesisHash: Hash32, nodeKey: PublicKey, challenge: Hash32,
                listenPort: UInt16, userAgent: String) {
        self.version = version; self.chainId = chainId; self.genesisHash = genesisHash; self.nodeKey = nodeKey
        self.challenge = challenge; self.listenPort = listenPort; self.userAgent = userAgent
    }
}

/// A node's chain position, sent after the handshake and whenever its tip changes (coalesced).
public struct PeerStatus: Sendable, Hashable {
    public var tipHash: Hash32
    public var height: UInt64
    public var slot: UInt64
    public var finalizedHeight: UInt64
    /// The lowest height above genesis whose block the sender stores (1; the snapshot height after state sync):
    /// it cannot serve headers or blocks below it.
    public var earliestHeight: UInt64

    public init(tipHash: Hash32, height: UInt64, slot: UInt64, finalizedHeight: UInt64, earliestHeight: UInt64 = 1) {
        self.tipHash = tipHash; self.height = height; self.slot = slot; self.finalizedHeight = finalizedHeight
        self.earliestHeight = earliestHeight
    }

    public init(_ s: ChainStatus) {
        self.init(tipHash: s.tipHash, height: s.height, slot: s.slot, finalizedHeight: s.finalizedHeight, earliestHeight: s.earliestBlockHeight)
    }

    /// Whether the sender can serve the headers that follow a chain whose tip is at `height`: it must store that
    /// tip's height (its locator's first hash must be on the sender's stored chain), or be a node with every block.
    public func canServe(after height: UInt64) -> Bool { earliestHeight <= max(height, 1) }
}

/// An IP address and port as exchanged in `peers` messages (never a host name).
public struct WireAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6).
    public let ip: [UInt8]
    public let port: UInt16

    /// Fails unless `ip` has 4 or 16 bytes and the port is not 0.
    public init?(ip: [UInt8], port: UInt16) {
        guard ip.count == 4 || ip.count == 16, port != 0 else { return nil }
        self.ip = ip
        self.port = port
    }

    /// Parses a numeric IPv4 (`a.b.c.d`) or IPv6 address.
    public init?(host: String, port: Int) {
        guard port > 0, port < 65_536, let bytes = IPAddressParsing.parse(host) else { return nil }
        self.init(ip: bytes, port: UInt16(port))
    }

    /// Loopback, private (RFC 1918, RFC 4193), link-local, unspecified or CGNAT space: not announced or
    /// accepted from peer exchange unless the node allows private addresses.
    public var isPrivateOrLocal: Bool {
        if ip.count == 4 {
            let (a, b) = (ip[0], ip[1])
            return a == 0 || a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && (16...31).contains(b))
                || (a == 192 && b == 168) || (a == 100 && (64...127).contains(b))
        }
        let isUnspecified = ip.allSatisfy { $0 == 0 }
        let isLoopback = ip.dropLast().allSatisfy { $0 == 0 } && ip[15] == 1
        let isMappedV4 = ip[0..<10].allSatisfy { $0 == 0 } && ip[10] == 0xff && ip[11] == 0xff
        if isMappedV4, let v4 = WireAddress(ip: Array(ip[12..<16]), port: port) { return v4.isPrivateOrLocal }
        return isUnspecified || isLoopback || (ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80)
    }

    /// The numeric host (`1.2.3.4` or an IPv6 text form).
    public var host: String {
        if ip.count == 4 { return ip.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(ip[$0]) << 8 | UInt16(ip[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    public var description: String { ip.count == 4 ? "\(host):\(port)" : "[\(host)]:\(port)" }
}

/// Numeric IP parsing (no name resolution: peer exchange carries addresses, never names).
enum IPAddressParsing {
    static func parse(_ s: String) -> [UInt8]? {
        if s.contains(":") { return parseV6(s) }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    static func parseV6(_ s: String) -> [UInt8]? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out = [UInt16]()
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}

/// Every message of the protocol (Specs/p2p.md section 3 gives each encoding).
public enum P2PMessage: Sendable, Hashable {
    case hello(Hello)
    /// BIP-340 signature over `Handshake.digest` answering the peer's challenge.
    case auth(Signature)
    case disconnect(DisconnectReason, String)
    case ping(UInt64)
    case pong(UInt64)
    case status(PeerStatus)
    /// Canonical headers after the first locator hash the receiver has on its canonical chain, at most `max`.
    case getHeaders(locator: [Hash32], max: UInt32)
    case headers([SignedHeader])
    case getBlocks([Hash32])
    /// A block answering `getBlocks`.
    case block(Block)
    /// Requested hashes the sender does not have.
    case notFound([Hash32])
    /// An unsolicited new block (announcement and relay).
    case newBlock(Block)
    case transactions([SignedTransaction])
    case getPeers
    case peers([WireAddress])
    /// Asks for the snapshot offer at a height (0: the newest height the peer offers, its finalized checkpoint).
    case getSnapshot(height: UInt64)
    /// The offer at `height`, or nil when the peer cannot serve that height.
    case snapshot(height: UInt64, SnapshotOffer?)
    /// Asks for part `part` of the snapshot of block `blockHash`, from entry `start` (Specs/p2p.md §7).
    case getSnapshotPart(SnapshotPartRequest)
    /// Entries of a part from the requested position (as many as fit a frame), or unavailable.
    case snapshotPart(SnapshotPart)

    public var type: MessageType {
        switch self {
        case .hello: .hello
        case .auth: .auth
        case .disconnect: .disconnect
        case .ping: .ping
        case .pong: .pong
        case .status: .status
        case .getHeaders: .getHeaders
        case .headers: .headers
        case .getBlocks: .getBlocks
        case .block: .block
        case .notFound: .notFound
        case .newBlock: .newBlock
        case .transactions: .transactions
        case .getPeers: .getPeers
        case .peers: .peers
        case .getSnapshot: .getSnapshot
        case .snapshot: .snapshot
        case .getSnapshotPart: .getSnapshotPart
        case .snapshotPart: .snapshotPart
        }
    }

    /// The payload's canonical encoding (without the frame header).
    public var payload: [UInt8] {
        var w = CanonicalWriter(capacity: 128)
        switch self {
        case .hello(let h):
            w.u32(h.version); w.hash(h.chainId); w.hash(h.genesisHash); w.encode(h.nodeKey); w.hash(h.challenge)
            w.u16(h.listenPort); w.string(h.userAgent)
        case .auth(let s): w.encode(s)
        case .disconnect(let r, let m): w.u8(r.rawValue); w.string(m)
        case .ping(let n), .pong(let n): w.u64(n)
        case .status(let s): w.hash(s.tipHash); w.u64(s.height); w.u64(s.slot); w.u64(s.finalizedHeight); w.u64(s.earliestHeight)
        case .getHeaders(let locator, let max): w.list(locator); w.u32(max)
        case .headers(let hs): w.list(hs)
        case .getBlocks(let hs), .notFound(let hs): w.list(hs)
        case .block(let b), .newBlock(let b):
            w = CanonicalWriter(capacity: BlockLimits.signedHeaderBytes + b.transactions.reduce(8) { $0 + $1.encodedSize })
            w.encode(b)
        case .transactions(let txs):
            w = CanonicalWriter(capacity: txs.reduce(8) { $0 + $1.encodedSize })
            w.list(txs)
        case .getPeers: break
        case .peers(let addrs):
            w.list(addrs) { w, a in
                w.u8(a.ip.count == 4 ? 4 : 6); w.raw(a.ip); w.u16(a.port)
            }
        case .getSnapshot(let height): w.u64(height)
        case .snapshot(let height, let offer):
            w = CanonicalWriter(capacity: 12_000)
            w.u64(height)
            w.optional(offer) { w, o in
                w.encode(o.header)
                for c in o.chunks { w.u64(c.count); w.hash(c.hash) }
                w.u32(o.bodyBytes); w.u32(o.receiptsBytes)
            }
        case .getSnapshotPart(let q): w.u64(q.height); w.hash(q.blockHash); w.u16(q.part); w.u32(q.start)
        case .snapshotPart(let p):
            w = CanonicalWriter(capacity: p.entries.reduce(64) { $0 + $1.key.count + $1.value.count + 8 })
            w.u64(p.height); w.hash(p.blockHash); w.u16(p.part); w.u32(p.start)
            w.bool(p.available)
            if p.available {
                w.u32(p.total)
                w.list(p.entries) { w, e in w.bytes(e.key); w.bytes(e.value) }
            }
        }
        return w.bytes
    }

    /// The complete frame: `length u32 LE ‖ type u8 ‖ payload`, where length counts the type byte and payload.
    public var frame: [UInt8] {
        let p = payload
        var out = [UInt8]()
        out.reserveCapacity(p.count + 5)
        let n = UInt32(p.count + 1)
        out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)])
        out.append(type.rawValue)
        out.append(contentsOf: p)
        return out
    }

    /// Decodes one frame's type and payload strictly: unknown types, truncation, trailing bytes and
    /// over-limit lists are errors.
    public static func decode(type rawType: UInt8, payload: [UInt8], limits: P2PLimits) throws(P2PWireError) -> P2PMessage {
        guard let type = MessageType(rawValue: rawType) else { throw .unknownMessageType(rawType) }
        var r = CanonicalReader(payload)
        do {
            let m = try decodeBody(type, &r, limits)
            try r.finish()
            return m
        } catch {
            throw .malformed(type, error)
        }
    }

    private static func decodeBody(_ type: MessageType, _ r: inout CanonicalReader, _ limits: P2PLimits) throws(CodecError) -> P2PMessage {
        switch type {
        case .hello:
            let version = try r.u32("version"), chainId = try r.hash("chainId"), genesis = try r.hash("genesisHash")
            let key = try r.decode(PublicKey.self), challenge = try r.hash("challenge"), port = try r.u16("listenPort")
            let agent = try r.string("userAgent", max: P2PLimits.maxUserAgentBytes)
            return .hello(Hello(version: version, chainId: chainId, genesisHash: genesis, nodeKey: key, challenge: challenge,
                                listenPort: port, userAgent: agent))
        case .auth:
            return .auth(try r.decode(Signature.self))
        case .disconnect:
            let at = r.offset
            let raw = try r.u8("reason")
            guard let reason = DisconnectReason(rawValue: raw) else { throw r.unknownTag("reason", raw, at: at) }
            return .disconnect(reason, try r.string("message", max: P2PLimits.maxReasonBytes))
        case .ping: return .ping(try r.u64("nonce"))
        case .pong: return .pong(try r.u64("nonce"))
        case .status:
            return .status(PeerStatus(tipHash: try r.hash("tipHash"), height: try r.u64("height"), slot: try r.u64("slot"),
                                      finalizedHeight: try r.u64("finalizedHeight"), earliestHeight: try r.u64("earliestHeight")))
        case .getHeaders:
            let locator = try hashList(&r, "locator", max: P2PLimits.maxLocatorHashes)
            let at = r.offset
            let max = try r.u32("max")
            guard max >= 1, max <= UInt32(P2PLimits.maxHeadersPerMessage) else {
                throw r.invalid("max", "must be 1...\(P2PLimits.maxHeadersPerMessage)", at: at)
            }
            return .getHeaders(locator: locator, max: max)
        case .headers:
            return .headers(try r.list("headers", max: P2PLimits.maxHeadersPerMessage, minElementSize: BlockLimits.signedHeaderBytes) {
                (r: inout CanonicalReader) throws(CodecError) in try r.decode(SignedHeader.self)
            })
        case .getBlocks: return .getBlocks(try hashList(&r, "hashes", max: P2PLimits.maxHashesPerRequest))
        case .notFound: return .notFound(try hashList(&r, "hashes", max: P2PLimits.maxHashesPerRequest))
        case .block: return .block(try decodeBlock(&r, limits))
        case .newBlock: return .newBlock(try decodeBlock(&r, limits))
        case .transactions:
            let at = r.offset
            let txs = try r.list("transactions", max: P2PLimits.maxTransactionsPerMessage, minElementSize: 100) {
                (r: inout CanonicalReader) throws(CodecError) in try r.decode(SignedTransaction.self)
            }
            guard !txs.isEmpty else { throw r.invalid("transactions", "empty list", at: at) }
            return .transactions(txs)
        case .getPeers: return .getPeers
        case .peers:
            return .peers(try r.list("peers", max: P2PLimits.maxPeersPerMessage, minElementSize: 7) {
                (r: inout CanonicalReader) throws(CodecError) in
                let at = r.offset
                let family = try r.u8("family")
                let ip: [UInt8]
                switch family {
                case 4: ip = try r.raw("ip", count: 4)
                case 6: ip = try r.raw("ip", count: 16)
                default: throw r.unknownTag("family", family, at: at)
                }
                let port = try r.u16("port")
                guard let a = WireAddress(ip: ip, port: port) else { throw r.invalid("port", "port 0") }
                return a
            })
        case .getSnapshot: return .getSnapshot(height: try r.u64("height"))
        case .snapshot:
            let height = try r.u64("height")
            let offer = try r.optional("offer") { (r: inout CanonicalReader) throws(CodecError) -> SnapshotOffer in
                let header = try r.decode(SignedHeader.self)
                var chunks = [SnapshotManifest.Chunk]()
                chunks.reserveCapacity(SnapshotManifest.chunkCount)
                for _ in 0..<SnapshotManifest.chunkCount { chunks.append(.init(count: try r.u64("count"), hash: try r.hash("hash"))) }
                let body = try r.u32("bodyBytes"), receipts = try r.u32("receiptsBytes")
                return SnapshotOffer(header: header, chunks: chunks, bodyBytes: body, receiptsBytes: receipts)
            }
            if let offer, offer.header.header.height != height { throw r.invalid("offer", "header height \(offer.header.header.height) for height \(height)") }
            return .snapshot(height: height, offer)
        case .getSnapshotPart:
            let height = try r.u64("height"), hash = try r.hash("blockHash")
            let at = r.offset
            let part = try r.u16("part")
            guard Int(part) < SnapshotParts.count else { throw r.invalid("part", "must be below \(SnapshotParts.count)", at: at) }
            return .getSnapshotPart(SnapshotPartRequest(height: height, blockHash: hash, part: part, start: try r.u32("start")))
        case .snapshotPart:
            let height = try r.u64("height"), hash = try r.hash("blockHash")
            let at = r.offset
            let part = try r.u16("part")
            guard Int(part) < SnapshotParts.count else { throw r.invalid("part", "must be below \(SnapshotParts.count)", at: at) }
            let start = try r.u32("start")
            guard try r.bool("available") else {
                return .snapshotPart(SnapshotPart(height: height, blockHash: hash, part: part, start: start, total: 0, entries: [], available: false))
            }
            let total = try r.u32("total")
            let entries = try r.list("entries", max: SnapshotParts.maxEntriesPerMessage, minElementSize: 2) {
                (r: inout CanonicalReader) throws(CodecError) -> KeyValue in
                KeyValue(key: try r.bytes("key", max: SnapshotParts.maxKeyBytes), value: try r.bytes("value", max: limits.maxBlockBytes))
            }
            guard UInt64(start) + UInt64(entries.count) <= UInt64(total) else { throw r.invalid("entries", "past the part's total \(total)") }
            return .snapshotPart(SnapshotPart(height: height, blockHash: hash, part: part, start: start, total: total, entries: entries, available: true))
        }
    }

    /// A non-empty list of hashes.
    private static func hashList(_ r: inout CanonicalReader, _ field: StaticString, max: Int) throws(CodecError) -> [Hash32] {
        let at = r.offset
        let hs = try r.list(field, max: max, minElementSize: 32) { (r: inout CanonicalReader) throws(CodecError) in try r.hash(field) }
        guard !hs.isEmpty else { throw r.invalid(field, "empty list", at: at) }
        return hs
    }

    private static func decodeBlock(_ r: inout CanonicalReader, _ limits: P2PLimits) throws(CodecError) -> Block {
        let h = try r.decode(SignedHeader.self)
        let txs = try r.list("transactions", max: limits.maxBlockTransactions, minElementSize: 100) {
            (r: inout CanonicalReader) throws(CodecError) in try r.decode(SignedTransaction.self)
        }
        return Block(signedHeader: h, transactions: txs)
    }
}

/// A wire-level failure: the peer sent something this protocol does not allow.
public enum P2PWireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A frame's length field is above the cap (or zero).
    case badFrameLength(UInt32, maximum: Int)
    /// A type byte this version does not know.
    case unknownMessageType(UInt8)
    /// The payload does not decode as its type.
    case malformed(MessageType, CodecError)
    /// A partial frame was not completed in time (slow-loris).
    case frameTimeout(receivedBytes: Int)

    public var description: String {
        switch self {
        case .badFrameLength(let n, let m): return "frame length \(n) outside 1...\(m)"
        case .unknownMessageType(let t): return "unknown message type \(t)"
        case .malformed(let t, let e): return "malformed \(t) message: \(e)"
        case .frameTimeout(let n): return "partial frame (\(n) bytes) not completed in time"
        }
    }
}

/// Sanity bounds on what a peer may claim, checked before anything reaches consensus code.
public enum Plausibility {
    /// Slots a block may be ahead of the local clock's slot and still be worth looking at. Honest nodes only
    /// relay blocks they imported (never more than the clock tolerance ahead), so anything further is junk;
    /// the bound also keeps slot arithmetic (`slotStartMillis`) far from overflow.
    public static let maxFutureSlots: UInt64 = 64

    /// Whether a header's slot is within reach of the current slot.
    public static func slotIsPlausible(_ slot: UInt64, genesis: Genesis, nowMillis: UInt64) -> Bool {
        let current = genesis.slot(atMillis: nowMillis)
        return slot <= current &+ maxFutureSlots && slot < UInt64.max / 2
    }
}

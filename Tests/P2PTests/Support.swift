import Consensus
import Foundation
import Ledger
import Logging
import NIOCore
import NIOPosix
import Node
import P2P
import Primitives
import Storage
import Synchronization
import Testing

/// A throwaway directory, removed when released.
final class TempDir: Sendable {
    let path: String
    init(_ label: String = "p2p") {
        path = NSTemporaryDirectory() + "sharechain-\(label)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func sub(_ name: String) -> String {
        let p = (path as NSString).appendingPathComponent(name)
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
    /// A file path inside the directory (not created).
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Never asked in these tests (no fraud proofs); refuses if it is.
struct NoAdjudicator: Adjudicator {
    struct Unavailable: Error {}
    func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw Unavailable() }
}

/// A settable clock (Unix ms) for chain services built in-process.
final class TestClock: Sendable {
    private let value: Mutex<UInt64?>
    init(_ v: UInt64) { value = Mutex(v) }
    func set(_ v: UInt64) { value.withLock { $0 = v } }
    /// Follow the real clock from now on.
    func live() { value.withLock { $0 = nil } }
    var now: UInt64 { value.withLock { $0 } ?? UInt64(Date().timeIntervalSince1970 * 1000) }
}

enum Paths {
    /// The package root (three levels above this file).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let models = (root as NSString).appendingPathComponent("Genesis/models")
    static let tinyModel = (models as NSString).appendingPathComponent("tiny/model.safetensors")

    /// The built `sharechain` binary, next to the test bundle. Missing is a failure, never a skip.
    static func sharechain() throws -> String {
        var dirs = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()]
        if let arg0 = CommandLine.arguments.first { dirs.append(URL(fileURLWithPath: arg0).resolvingSymlinksInPath().deletingLastPathComponent()) }
        for d in dirs {
            let c = d.appendingPathComponent("sharechain").path
            if FileManager.default.isExecutableFile(atPath: c) { return c }
        }
        Issue.record("the sharechain binary is not next to the test bundle (looked in \(dirs.map(\.path))); build it with `swift build --build-tests`")
        throw CancellationError()
    }
}

/// Development genesis documents for tests: short slots, short RANDAO chains, small finality depth.
struct TestGenesis {
    static let randaoLength = 20_000
    let document: GenesisDocument
    let genesis: Genesis

    init(validators: Int = 4, slotSeconds: UInt64 = 1, genesisTime: UInt64 = UInt64(Date().timeIntervalSince1970),
         finalityDepth: UInt64 = 30, slotsPerEpoch: UInt64 = 60, maxBlockTransactions: Int? = nil, accounts: Int = 8) throws {
        var b = DevnetGenesisBuilder(modelFile: Paths.tinyModel)
        b.validators = validators
        b.slotSeconds = slotSeconds
        b.genesisTime = genesisTime
        b.randaoLength = Self.randaoLength
        b.accounts = accounts
        b.chainName = "p2p-test"
        var doc = try b.document()
        doc.consensus?.finalityDepth = finalityDepth
        if let maxBlockTransactions { doc.consensus?.maxBlockTransactions = maxBlockTransactions }
        doc.ledger?.slotsPerEpoch = slotsPerEpoch
        document = doc
        genesis = try doc.resolve()
    }

    func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(document).write(to: URL(fileURLWithPath: path))
    }

    static func identity(_ i: Int) -> ValidatorIdentity {
        let key = DevelopmentKeys.validator(i)
        return ValidatorIdentity(key: key, chains: [ValidatorRandao.chain(for: key, length: randaoLength)])
    }

    /// A validator key file matching the short RANDAO chains.
    static func writeKey(_ i: Int, to path: String) throws {
        var file = KeyFile(key: DevelopmentKeys.validator(i), hrp: "shr", note: "test validator \(i)")
        file.randaoGeneration = 0
        file.randaoChainLength = randaoLength
        try file.write(path: path, overwrite: true)
    }

    /// A chain service on a fresh store under `dir` (the layout a node uses: `<dir>/chain`).
    func chainService(dataDir: String, clock: TestClock? = nil) throws -> ChainService {
        var o = DatabaseOptions()
        o.syncWrites = false
        let store = try ChainStore(path: (dataDir as NSString).appendingPathComponent("chain"), genesis: genesis.chainId, options: o)
        let engine = try ChainEngine(genesis: genesis, store: store, adjudicator: NoAdjudicator())
        if let clock { return ChainService(engine: engine, clock: { clock.now }) }
        return ChainService(engine: engine, clock: SystemClock.unixMillis)
    }

    /// Produces a block in every slot from the tip's next slot through `lastSlot`, as that slot's leader,
    /// with `clock` set inside each slot (fast-forward: the slots are in the past).
    func produce(on chain: ChainService, through lastSlot: UInt64, clock: TestClock, identities: inout [ValidatorIdentity],
                 transactions: (UInt64) -> [SignedTransaction] = { _ in [] }) async throws {
        var slot = await chain.status().slot + 1
        while slot <= lastSlot {
            clock.set(genesis.slotStartMillis(slot) + 5)
            for tx in transactions(slot) { _ = try? await chain.submit(tx) }
            for i in identities.indices {
                if try await chain.produce(slot: slot, identity: &identities[i], deadline: .max) != nil { break }
            }
            slot += 1
        }
    }
}

/// Collects frames of a test connection.
final class Inbox: Sendable {
    let frames = Mutex<[Frame]>([])
    let closed = Mutex(false)
    let error = Mutex<(any Error)?>(nil)
}

final class CollectingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    let inbox: Inbox
    init(_ inbox: Inbox) { self.inbox = inbox }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.frames.withLock { $0.append(Self.unwrapInboundIn(data)) } }
    func channelInactive(context: ChannelHandlerContext) { inbox.closed.withLock { $0 = true } }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { inbox.error.withLock { $0 = error } }
}

/// Hands the Noise handler's future out of the channel initializer.
final class FutureBox: Sendable {
    let value = Mutex<EventLoopFuture<NoisePeer>?>(nil)
}

/// A hand-driven peer for tests: raw bytes or messages out, decoded messages in. It speaks Noise like a node
/// (as the initiator, with `key` as its node identity), so messages travel encrypted; `sendRaw` bytes are
/// encrypted too (they test the frame layer inside the tunnel). With `chainId` nil it speaks plaintext.
final class TestPeer: Sendable {
    let channel: any Channel
    let inbox: Inbox
    let limits: P2PLimits
    /// The Noise handshake's outcome (nil for a plaintext peer).
    let noise: EventLoopFuture<NoisePeer>?

    private init(channel: any Channel, inbox: Inbox, limits: P2PLimits, noise: EventLoopFuture<NoisePeer>?) {
        self.channel = channel
        self.inbox = inbox
        self.limits = limits
        self.noise = noise
    }

    /// - Parameters:
    ///   - chainId: the chain for the Noise prologue; nil for a plaintext (v1-style) connection.
    ///   - key: the node key the Noise handshake presents (use the same one in `hello`).
    ///   - expectedPeer: the node key we expect to reach.
    static func connect(port: Int, limits: P2PLimits, chainId: Hash32?, key: PrivateKey = .generate(),
                        expectedPeer: PublicKey? = nil, host: String = "127.0.0.1", sourceHost: String? = nil) async throws -> TestPeer {
        let inbox = Inbox()
        let noise = FutureBox()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let sourceHost { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceHost, port: 0)) }
        let channel = try await bootstrap
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let chainId {
                        let handler = NoiseHandler(role: .initiator, identity: NoiseIdentity(nodeKey: key, chainId: chainId),
                                                   expectedPeer: expectedPeer, timeout: .seconds(60), eventLoop: ch.eventLoop)
                        noise.value.withLock { $0 = handler.established }
                        try ch.pipeline.syncOperations.addHandler(handler)
                    }
                    try ch.pipeline.syncOperations.addHandler(FrameDecoder(maxFrameBytes: 64 << 20, stallTimeout: .seconds(120)))
                    try ch.pipeline.syncOperations.addHandler(CollectingHandler(inbox))
                }
            }
            .connect(host: host, port: port).get()
        return TestPeer(channel: channel, inbox: inbox, limits: limits, noise: noise.value.withLock { $0 })
    }

    /// Waits for the Noise handshake; throws its `NoiseError`.
    @discardableResult
    func established() async throws -> NoisePeer {
        guard let noise else { throw TestFailure("plaintext peer") }
        return try await noise.get()
    }

    func sendRaw(_ bytes: [UInt8]) { channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil) }
    func send(_ m: P2PMessage) { sendRaw(m.frame) }
    func close() { channel.close(promise: nil) }

    var isClosed: Bool { inbox.closed.withLock { $0 } }

    /// The next message matching `filter` (earlier non-matching ones are dropped), or nil on timeout.
    func receive(timeout: Duration = .seconds(30), where filter: (P2PMessage) -> Bool = { _ in true }) async -> P2PMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let frames = inbox.frames.withLock { f -> [Frame] in defer { f = [] }; return f }
            for (i, f) in frames.enumerated() {
                if let m = try? P2PMessage.decode(type: f.type, payload: f.payload, limits: limits), filter(m) {
                    let rest = Array(frames[(i + 1)...])
                    inbox.frames.withLock { $0.insert(contentsOf: rest, at: 0) }
                    return m
                }
            }
            if isClosed && inbox.frames.withLock({ $0.isEmpty }) { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Waits for the server to close the connection.
    func waitUntilClosed(timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isClosed { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isClosed
    }

    /// Runs our side of the handshake; returns the server's hello.
    @discardableResult
    func handshake(chainId: Hash32, genesisHash: Hash32, key: PrivateKey, listenPort: UInt16 = 0) async throws -> Hello {
        let challenge = SecureRandom.hash32()
        send(.hello(Hello(chainId: chainId, genesisHash: genesisHash, nodeKey: key.publicKey, challenge: challenge,
                          listenPort: listenPort, userAgent: "test-peer")))
        guard case .hello(let theirs)? = await receive(where: { if case .hello = $0 { true } else { false } }) else {
            throw TestFailure("no hello from the server")
        }
        send(.auth(Handshake.sign(chainId: chainId, peerChallenge: theirs.challenge, key: key, peerKey: theirs.nodeKey)))
        guard case .auth(let sig)? = await receive(where: { if case .auth = $0 { true } else { false } }) else {
            throw TestFailure("no auth from the server")
        }
        guard Handshake.verify(sig, chainId: chainId, ourChallenge: challenge, peerKey: theirs.nodeKey, ourKey: key.publicKey) else {
            throw TestFailure("server's handshake signature does not verify")
        }
        return theirs
    }

    /// The server's disconnect reason if it sent one before closing.
    func disconnectReason(timeout: Duration = .seconds(30)) async -> DisconnectReason? {
        if case .disconnect(let r, _)? = await receive(timeout: timeout, where: { if case .disconnect = $0 { true } else { false } }) { return r }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration, every: Duration = .milliseconds(50), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: every)
    }
    return await condition()
}

/// A logger that keeps quiet unless `P2P_TEST_LOGS=1`.
func testLogger(_ label: String) -> Logger {
    var l = Logger(label: label, factory: { label in
        if ProcessInfo.processInfo.environment["P2P_TEST_LOGS"] == "1" { return StreamLogHandler.standardError(label: label) }
        return SwiftLogNoOpLogHandler()
    })
    l.logLevel = .debug
    return l
}

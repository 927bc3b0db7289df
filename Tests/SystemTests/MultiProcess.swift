import Consensus
import Foundation
import Ledger
import NIOCore
import NIOPosix
import Node
import P2P
import Primitives
import Testing
import TestSupport

/// A `sharechain node` child process on 127.0.0.1.
final class NodeProcess: @unchecked Sendable {
    let name: String
    let dataDir: String
    let p2pPort: Int
    let args: [String]
    let logPath: String
    let nodeKey: PublicKey
    private var process: Process?

    init(name: String, exe: String, genesis: String, dataDir: String, validator: Int?, p2pPort: Int, rpcPort: Int, peers: [Int],
         blockFile: String? = nil) throws {
        self.name = name
        self.dataDir = dataDir
        self.p2pPort = p2pPort
        logPath = (dataDir as NSString).appendingPathComponent("test-node.log")
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        nodeKey = try NodeIdentity.loadOrCreate(dataDir: dataDir, hrp: "shr").publicKey
        var a = ["node", "--genesis", genesis, "--data-dir", dataDir, "--p2p-addr", "127.0.0.1:\(p2pPort)", "--rpc-addr", "127.0.0.1:\(rpcPort)",
                 "--weights-dir", Paths.models, "--p2p-allow-private", "--log-level", "info"]
        if let validator {
            let key = (dataDir as NSString).appendingPathComponent("validator.key")
            try TestGenesis.writeKey(validator, to: key)
            a += ["--validator-key", key]
        }
        for p in peers { a += ["--peer", "127.0.0.1:\(p)"] }
        if let blockFile { a += ["--p2p-block-file", blockFile] }
        args = a
        self.exe = exe
    }

    private let exe: String
    /// Flags added to the node's command line (load, invariant checks).
    var extraArguments: [String] = []

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args + extraArguments
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        h.seekToEndOfFile()
        p.standardOutput = h
        p.standardError = h
        try p.run()
        process = p
    }

    var isRunning: Bool { process?.isRunning ?? false }

    func kill9() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// SIGTERM and wait (SIGKILL after `timeout`).
    func stop(timeout: Duration = .seconds(10)) {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while p.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The last lines of the log, for failure messages.
    var logTail: String { log.split(separator: "\n").suffix(15).joined(separator: "\n") }
    /// The last lines that are not the test's own probes or periodic progress: what explains a failure.
    var eventTail: String {
        log.split(separator: "\n").filter { !$0.contains("agent=probe") && !$0.contains("seconds=0 [P2P] peer disconnected") && !$0.contains("sync progress") }
            .suffix(25).joined(separator: "\n")
    }

    deinit { kill9() }
}

/// What a probe sees of a node: its status and canonical headers from genesis.
struct ChainView {
    let status: PeerStatus
    let headers: [SignedHeader]
    var tip: Hash32 { status.tipHash }
    func hash(at height: UInt64) -> Hash32? {
        guard height >= 1, Int(height) <= headers.count else { return nil }
        return headers[Int(height) - 1].hash
    }
}

/// A network of node processes for one test.
final class TestNetworkProcesses: @unchecked Sendable {
    let dir = TempDir("net")
    let exe: String
    let genesis: TestGenesis
    let genesisPath: String
    let ports: [Int]
    var nodes: [NodeProcess] = []
    var limits: P2PLimits { P2PLimits(genesis: genesis.genesis) }

    init(genesis: TestGenesis, count: Int) throws {
        exe = try Paths.sharechain()
        self.genesis = genesis
        genesisPath = (dir.path as NSString).appendingPathComponent("genesis.json")
        try genesis.write(to: genesisPath)
        ports = try freePorts(count * 2)
    }

    func p2pPort(_ i: Int) -> Int { ports[2 * i] }
    func blockFile(_ i: Int) -> String { (dir.path as NSString).appendingPathComponent("block-\(i)") }

    /// Adds node `i` (validator `validator`), peering with `peers` (indices).
    @discardableResult
    func add(_ i: Int, validator: Int?, peers: [Int], dataDir: String? = nil) throws -> NodeProcess {
        _ = FileManager.default.createFile(atPath: blockFile(i), contents: Data())
        let n = try NodeProcess(name: "node-\(i)", exe: exe, genesis: genesisPath, dataDir: dataDir ?? dir.sub("node-\(i)"), validator: validator,
                                p2pPort: p2pPort(i), rpcPort: ports[2 * i + 1], peers: peers.map(p2pPort), blockFile: blockFile(i))
        nodes.append(n)
        return n
    }

    /// Connects as a peer, handshakes, and reads the node's status and canonical headers from genesis.
    func view(_ i: Int) async throws -> ChainView {
        let key = PrivateKey.generate()
        let peer = try await TestPeer.connect(port: p2pPort(i), limits: limits, chainId: genesis.genesis.chainId, key: key)
        defer { peer.close() }
        let hello = try await peer.handshakeAdopting(key: key)
        guard case .status(let st)? = await peer.receive(where: { if case .status = $0 { true } else { false } }) else {
            throw TestFailure("no status from node \(i)")
        }
        var headers = [SignedHeader]()
        var locator = [hello.genesisHash]
        while true {
            peer.send(.getHeaders(locator: locator, max: UInt32(P2PLimits.maxHeadersPerMessage)))
            guard case .headers(let hs)? = await peer.receive(where: { if case .headers = $0 { true } else { false } }) else {
                throw TestFailure("no headers from node \(i)")
            }
            headers += hs
            guard hs.count == P2PLimits.maxHeadersPerMessage, let last = hs.last else { break }
            locator = [last.hash]
        }
        return ChainView(status: st, headers: headers)
    }

    /// Full blocks by hash from node `i`, in request order.
    func blocks(_ i: Int, _ hashes: [Hash32]) async throws -> [Block] {
        let key = PrivateKey.generate()
        let peer = try await TestPeer.connect(port: p2pPort(i), limits: limits, chainId: genesis.genesis.chainId, key: key)
        defer { peer.close() }
        try await peer.handshakeAdopting(key: key)
        var out = [Block]()
        for chunk in stride(from: 0, to: hashes.count, by: P2PLimits.maxHashesPerRequest) {
            let want = Array(hashes[chunk..<min(hashes.count, chunk + P2PLimits.maxHashesPerRequest)])
            peer.send(.getBlocks(want))
            for h in want {
                guard case .block(let b)? = await peer.receive(where: { if case .block(let b) = $0 { b.hash == h } else { false } }) else {
                    throw TestFailure("node \(i) did not serve block \(h)")
                }
                out.append(b)
            }
        }
        return out
    }

    /// Views of every running node (nil for one that does not answer).
    func views(_ indices: [Int]) async -> [Int: ChainView] {
        var out = [Int: ChainView]()
        for i in indices { out[i] = try? await view(i) }
        return out
    }

    func stopAll() { for n in nodes { n.stop() } }
    deinit { for n in nodes { n.kill9() } }
}

extension TestPeer {
    /// Handshake taking the chain id and genesis hash from the server's hello (probes need no genesis state).
    @discardableResult
    func handshakeAdopting(key: PrivateKey) async throws -> Hello {
        guard case .hello(let theirs)? = await receive(where: { if case .hello = $0 { true } else { false } }) else {
            throw TestFailure("no hello from the server")
        }
        let challenge = SecureRandom.hash32()
        send(.hello(Hello(chainId: theirs.chainId, genesisHash: theirs.genesisHash, nodeKey: key.publicKey, challenge: challenge,
                          listenPort: 0, userAgent: "probe")))
        send(.auth(Handshake.sign(chainId: theirs.chainId, peerChallenge: theirs.challenge, key: key, peerKey: theirs.nodeKey)))
        guard case .auth(let sig)? = await receive(where: { if case .auth = $0 { true } else { false } }),
              Handshake.verify(sig, chainId: theirs.chainId, ourChallenge: challenge, peerKey: theirs.nodeKey, ourKey: key.publicKey) else {
            throw TestFailure("handshake with the node failed")
        }
        return theirs
    }
}

/// Ports that were free a moment ago (bound to port 0 and released).
func freePorts(_ n: Int) throws -> [Int] {
    var channels = [any Channel]()
    defer { for c in channels { try? c.close().wait() } }
    for _ in 0..<n {
        let c = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        channels.append(c)
    }
    return channels.compactMap { $0.localAddress?.port }
}

/// Whether the views agree on every block up to `height`.
func agree(_ views: [ChainView], through height: UInt64) -> Bool {
    guard height >= 1 else { return true }
    let hashes = views.map { $0.hash(at: height) }
    guard let first = hashes.first, first != nil else { return false }
    // Headers link by parent hash, so agreeing at `height` means agreeing below it too.
    return hashes.allSatisfy { $0 == first }
}

import Consensus
import Foundation
import Ledger
import NIOCore
@testable import P2P
import Primitives
import Synchronization
import Testing
import TestSupport

/// The message handler without sockets: a `Peer` on a plain stream, messages fed in, the typed session end, the
/// answers queued in the peer's outbox and the misbehaviour scores checked.
@Suite struct MessageHandlerTests {
    /// A chain with a few blocks, a service that is never run (no listener), and one handshaken peer.
    struct Fixture {
        let dir: TempDir
        let chain: ChainService
        let service: P2PService
        let handler: MessageHandler
        let peer: Peer
        let sent: AsyncStream<ByteBuffer>
        let limits: P2PLimits
        let genesis: TestGenesis

        init(blocks: UInt64 = 2) async throws {
            dir = TempDir("handler")
            let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
            genesis = g
            let clock = TestClock(g.genesis.slotStartMillis(1))
            chain = try g.chainService(dataDir: dir.path, clock: clock)
            var ids = (0..<4).map { TestGenesis.identity($0) }
            try await g.produce(on: chain, through: blocks, clock: clock, identities: &ids)
            clock.live()
            service = P2PService(config: P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate()), chain: chain,
                                 logger: testLogger("handler"))
            handler = service.messageHandler
            limits = P2PLimits(genesis: g.genesis)
            let (stream, outbox) = AsyncStream<ByteBuffer>.makeStream()
            sent = stream
            peer = Peer(id: 1, nodeKey: PrivateKey.generate().publicKey, direction: .inbound, remoteHost: "192.0.2.1",
                        remoteAddress: "192.0.2.1:9000", listenEndpoint: nil, userAgent: "test", outbox: outbox, maxQueuedBytes: 1 << 20,
                        bucket: TokenBucket(rate: 100, burst: 100, now: .now))
        }

        /// Everything queued for the peer so far, decoded (the outbox is finished first: call once, at the end).
        func answers() async throws -> [P2PMessage] {
            peer.closeOutbox()
            var out = [P2PMessage]()
            for await frame in sent {
                let bytes = Array(frame.readableBytesView)
                #expect(bytes.count >= 5)
                out.append(try P2PMessage.decode(type: bytes[4], payload: Array(bytes[5...]), limits: limits))
            }
            return out
        }

        /// Whether the peer's score is `points` (less the decay of the test's few milliseconds).
        /// Another node's three-block branch from genesis (slots 3–5): its first block is a side branch here, its third
        /// makes the branch lead (this fixture's chain holds blocks of slots 1 and 2).
        func otherBranch() async throws -> [Block] {
            let otherDir = TempDir("handler-other")
            let clock = TestClock(genesis.genesis.slotStartMillis(3))
            let other = try genesis.chainService(dataDir: otherDir.path, clock: clock)
            var ids = (0..<4).map { TestGenesis.identity($0) }
            var branch = [Block]()
            for slot in UInt64(3)...5 {
                clock.set(genesis.genesis.slotStartMillis(slot) + 5)
                for i in ids.indices {
                    if let b = try await other.produce(slot: slot, identity: &ids[i], deadline: .max) { branch.append(b); break }
                }
            }
            try #require(branch.count == 3)
            try other.store.close()  // before its directory goes
            return branch
        }

        func scored(_ points: Int) -> Bool { abs(service.misbehaviourScore(node: peer.nodeKey) - Double(points)) < 0.5 }
    }

    @Test func handshakeMessagesAfterTheHandshakeEndTheSession() async throws {
        let f = try await Fixture()
        let end = await f.handler.handle(.auth(Signature(r: .zero, s: .zero)), from: f.peer)
        #expect(end == .handshakeMessageAfterHandshake(.auth))
        // A protocol violation is worth a ban at once: the peer is told so, not just `protocolViolation`.
        #expect(f.service.isBanned(f.peer.nodeKey))
        guard case .disconnect(.banned, _)? = try await f.answers().last else { Issue.record("no ban sent"); return }
    }

    @Test func malformedFrameEndsTheSessionAndScores() async throws {
        let f = try await Fixture()
        let end = await f.handler.handle(Frame(type: MessageType.ping.rawValue, payload: [1, 2, 3]), from: f.peer)
        guard case .malformedMessage? = end else { Issue.record("expected malformedMessage, got \(String(describing: end))"); return }
        #expect(f.service.isBanned(f.peer.nodeKey))
        let unknown = try await Fixture()
        let end2 = await unknown.handler.handle(Frame(type: 0xEE, payload: []), from: unknown.peer)
        guard case .malformedMessage? = end2 else { Issue.record("expected malformedMessage, got \(String(describing: end2))"); return }
    }

    @Test func remoteDisconnectIsTyped() async throws {
        let f = try await Fixture()
        #expect(await f.handler.handle(.disconnect(.tooManyPeers, "full"), from: f.peer) == .remoteDisconnected(.tooManyPeers, "full"))
        #expect(SessionEnd.remoteDisconnected(.tooManyPeers, "full").description == "peer said: too many peers (full)")
    }

    @Test func pingIsAnsweredAndTheSessionGoesOn() async throws {
        let f = try await Fixture()
        #expect(await f.handler.handle(.ping(42), from: f.peer) == nil)
        #expect(try await f.answers() == [.pong(42)])
        #expect(f.scored(0))
    }

    @Test func servesHeadersAndBlocksAndSaysWhatIsMissing() async throws {
        let f = try await Fixture(blocks: 2)
        let genesisHash = await f.chain.genesisHash
        #expect(await f.handler.handle(.getHeaders(locator: [genesisHash], max: 10), from: f.peer) == nil)
        let b1 = try #require(try await f.chain.canonicalBlock(at: 1))
        let missing = SHA256.hash([7])
        #expect(await f.handler.handle(.getBlocks([b1.hash, missing]), from: f.peer) == nil)
        let answers = try await f.answers()
        guard answers.count == 3, case .headers(let headers) = answers[0] else { Issue.record("unexpected answers \(answers)"); return }
        #expect(headers.map(\.header.height) == [1, 2])
        #expect(answers[1] == .block(b1))
        #expect(answers[2] == .notFound([missing]))
    }

    /// P2P F4: serving `getHeaders` and `getBlocks` ran on the chain actor, so peers asking for blocks queued behind block
    /// import and held it up. Performed: the chain actor is held by a synchronous job (as a long block import would
    /// hold it) while a peer asks for headers and blocks; both are answered before the actor is released.
    @Test func servingHeadersAndBlocksDoesNotWaitForTheChainActor() async throws {
        let f = try await Fixture(blocks: 2)
        let genesisHash = await f.chain.genesisHash
        let b2 = try #require(try await f.chain.canonicalBlock(at: 2))
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let holder = Task { await f.chain.holdForTesting(entered: held, until: release) }
        defer { release.signal() }
        #expect(await Self.waitFor(held), "the chain actor was never entered")
        let served = Task {
            _ = await f.handler.handle(.getHeaders(locator: [genesisHash], max: 10), from: f.peer)
            _ = await f.handler.handle(.getBlocks([b2.hash]), from: f.peer)
        }
        // Generous: in a parallel run long synchronous tests can hold the other cooperative threads for minutes.
        let answered = await Self.finishes(served, within: .seconds(600))
        release.signal()
        await holder.value
        #expect(answered, "the requests waited for the chain actor")
        await served.value
        let answers = try await f.answers()
        guard answers.count == 2, case .headers(let headers) = answers[0] else { Issue.record("unexpected answers \(answers)"); return }
        #expect(headers.map(\.header.height) == [1, 2])
        #expect(answers[1] == .block(b2))
    }

    /// Whether `semaphore` is signalled within ten minutes, polled without blocking a cooperative thread.
    static func waitFor(_ semaphore: DispatchSemaphore) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            if semaphore.wait(timeout: .now()) == .success { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Whether `task` finishes within `limit` (polled: the task is not cancelled).
    static func finishes(_ task: Task<Void, Never>, within limit: Duration) async -> Bool {
        let done = Mutex(false)
        let watcher = Task { await task.value; done.withLock { $0 = true } }
        defer { watcher.cancel() }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if done.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Seventh review: a block stored on a side branch passed only stateless checks (it is executed only if its branch
    /// comes to lead), yet it was relayed; a peer that executed it and found it invalid banned this honest relayer.
    /// Now only blocks this node executed and imported are relayed. Performed: another node of the chain builds a branch
    /// of three blocks from genesis; its first block is a side branch here (our tip is at height 2) and is not relayed
    /// to the other peer; its third makes the branch lead, is executed and imported, and is relayed.
    @Test func aSideBranchBlockIsNotRelayedButAnImportedOneIs() async throws {
        let f = try await Fixture(blocks: 2)
        let branch = try await f.otherBranch()
        let (watcher, watched) = StateSyncStallTests.scriptedPeer(2, agent: "watcher")
        guard case .accepted = f.service.table.register(watcher).0 else { Issue.record("watcher not registered"); return }
        for b in branch { #expect(await f.handler.handle(.newBlock(b), from: f.peer) == nil) }
        #expect(await f.chain.status().height == 3, "the longer branch leads")
        watcher.closeOutbox()
        var relayed = Set<Hash32>()
        for await m in StateSyncStallTests.messages(watched, limits: f.limits) { if case .newBlock(let b) = m { relayed.insert(b.hash) } }
        #expect(!relayed.contains(branch[0].hash), "a block stored on a side branch, never executed, was relayed")
        #expect(relayed.contains(branch[2].hash), "the block that made the branch lead was executed and imported: relayed")
        #expect(f.scored(0))
    }

    /// The block hash covers the header only, so a copy of a genuine block with a flipped signature bit, or with
    /// another body, has its hash: sent first by an attacker, it must neither make the node refuse the genuine block
    /// nor get the honest peers that relay the genuine one banned (p2p.md §7).
    @Test(arguments: [false, true])
    func aForgedCopyOfAGenuineBlockNeitherBlocksItNorGetsItsRelayersBanned(otherBody: Bool) async throws {
        let f = try await Fixture(blocks: 2)
        let branch = try await f.otherBranch()
        let genuine = branch[2]
        var s = genuine.signedHeader.signature.s.bytes
        s[31] ^= 1
        let a = PrivateKey.generate()
        let stranger = Transaction(chainId: f.genesis.genesis.chainId, sender: a.publicKey, nonce: 0, fee: 1_000,
                                   body: .transfer(to: PrivateKey.generate().publicKey, amount: 5)).signed(by: a)
        let forged = otherBody
            ? Block(signedHeader: genuine.signedHeader, transactions: genuine.transactions.isEmpty ? [stranger] : [])
            : Block(signedHeader: SignedHeader(header: genuine.header, signature: Signature(r: genuine.signedHeader.signature.r, s: Hash32(bytes: s)!)),
                    transactions: genuine.transactions)
        #expect(forged.hash == genuine.hash, "the forgery shares the genuine block's hash")
        let (attacker, _) = StateSyncStallTests.scriptedPeer(2, agent: "attacker")
        let (honest, _) = StateSyncStallTests.scriptedPeer(3, agent: "honest")
        for p in [attacker, honest] {
            guard case .accepted = f.service.table.register(p).0 else { Issue.record("peer not registered"); return }
        }
        for b in branch.prefix(2) { #expect(await f.handler.handle(.newBlock(b), from: f.peer) == nil) }
        _ = await f.handler.handle(.newBlock(forged), from: attacker)
        #expect(f.service.isBanned(attacker.nodeKey), "an invalid block bans its sender")
        #expect(await f.handler.handle(.newBlock(genuine), from: honest) == nil)
        #expect(await f.chain.status().height == 3, "the genuine block was imported and its branch leads")
        #expect(f.service.misbehaviourScore(node: honest.nodeKey) < 0.5, "the honest relayer was scored")
        #expect(!f.service.isBanned(honest.nodeKey))
    }

    @Test func unsolicitedAnswersScoreButKeepTheSession() async throws {
        let f = try await Fixture()
        #expect(await f.handler.handle(.headers([]), from: f.peer) == nil)
        #expect(await f.handler.handle(.peers([]), from: f.peer) == nil)
        #expect(f.scored(2 * Misbehaviour.unsolicited.points))
        #expect(try await f.answers().isEmpty)
    }

    @Test func aBanDuringHandlingEndsTheSession() async throws {
        let f = try await Fixture()
        var end: SessionEnd?
        // Unsolicited headers until the score crosses the ban threshold.
        for _ in 0..<1_000 where end == nil { end = await f.handler.handle(.headers([]), from: f.peer) }
        #expect(end == .disconnectedByUs)
        #expect(f.service.isBanned(f.peer.nodeKey))
        guard case .disconnect(.banned, _)? = try await f.answers().last else { Issue.record("no ban sent"); return }
    }
}

/// Serving from a store that cannot be read: no empty `headers` and no `notFound` (both would be lies the peer
/// acts on); the request goes unanswered, the fault is logged, and the peer is not scored.
@Suite struct MessageHandlerStorageFaultTests {
    @Test func storageFaultsAreNotAnsweredAsMissing() async throws {
        let f = try await MessageHandlerTests.Fixture(blocks: 2)
        let b1 = try #require(try await f.chain.canonicalBlock(at: 1))
        let genesisHash = await f.chain.genesisHash
        try f.chain.store.close()
        #expect(await f.handler.handle(.getHeaders(locator: [genesisHash], max: 10), from: f.peer) == nil)
        #expect(await f.handler.handle(.getBlocks([b1.hash, SHA256.hash([7])]), from: f.peer) == nil)
        #expect(try await f.answers().isEmpty)
        #expect(f.scored(0))
    }
}

extension ChainService {
    /// Holds the chain actor with a synchronous wait (at most fifteen minutes, so a failing test cannot hang the suite),
    /// as a long block import would hold it.
    func holdForTesting(entered: DispatchSemaphore, until release: DispatchSemaphore) {
        entered.signal()
        _ = release.wait(timeout: .now() + 900)
    }
}

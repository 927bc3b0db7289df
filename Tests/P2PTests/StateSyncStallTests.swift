import Consensus
import Foundation
import Ledger
import NIOCore
import Node
@testable import P2P
import Primitives
import Synchronization
import Testing
import TestSupport

/// Review B (security): a peer that stalls state sync mid-download. The syncer without sockets: one peer in the
/// table, its outbox read by the test, which plays the peer. The peer serves the REAL snapshot (every chunk would
/// verify in the end) but answers each part request with a single entry just before the request timeout: every
/// continuation used to get a fresh deadline, so the peer could hold each of its parts for `entries × timeout` (a
/// 2²⁷-key state has chunks of ~500 000 entries: weeks) and no other peer was ever given them.
@Suite struct StateSyncStallTests {
    /// A source chain whose state has chunks of several entries.
    static func sourceChain(_ g: TestGenesis, dir: TempDir, blocks: UInt64, transfersPerBlock: Int) async throws -> ChainService {
        let clock = TestClock(g.genesis.slotStartMillis(1))
        let chain = try g.chainService(dataDir: dir.path, clock: clock)
        var ids = (0..<4).map { TestGenesis.identity($0) }
        var nonces = [PublicKey: UInt64]()
        let senders = (0..<8).map(DevelopmentKeys.account)
        for slot in UInt64(1)...blocks {
            for i in 0..<transfersPerBlock {
                let from = senders[(Int(slot) * transfersPerBlock + i) % senders.count]
                let nonce = nonces[from.publicKey, default: 0]
                nonces[from.publicKey] = nonce + 1
                let tx = Transaction(chainId: g.genesis.chainId, sender: from.publicKey, nonce: nonce, fee: 10_000,
                                     body: .transfer(to: PrivateKey.generate().publicKey, amount: 1)).signed(by: from)
                _ = try await chain.submit(tx)
            }
            try await g.produce(on: chain, through: slot, clock: clock, identities: &ids)
        }
        clock.live()
        return chain
    }

    @Test(.timeLimit(.minutes(3))) func aPeerTricklingOneEntryPerReplyCannotHoldAPartPastTheRequestTimeout() async throws {
        let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let srcDir = TempDir("stall-src"), freshDir = TempDir("stall-fresh")
        let source = try await Self.sourceChain(g, dir: srcDir, blocks: 8, transfersPerBlock: 100)
        let height: UInt64 = 8
        let server = SnapshotServer(chain: source, rebuildInterval: .zero)
        let offer = try #require(await server.offer(height: height))
        let biggest = offer.chunks.map(\.count).max() ?? 0
        #expect(biggest >= 6, "the state needs chunks of several entries (biggest \(biggest))")

        let fresh = try g.chainService(dataDir: freshDir.path)
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        config.requestTimeout = .seconds(1)
        let limits = P2PLimits(genesis: g.genesis)
        let table = PeerTable(ourKey: config.nodeKey.publicKey, maxInbound: 8, maxOutbound: 8, banThreshold: 100, banDuration: .seconds(60))
        let (stream, outbox) = AsyncStream<ByteBuffer>.makeStream()
        let liar = Peer(id: 7, nodeKey: PrivateKey.generate().publicKey, direction: .outbound, remoteHost: "192.0.2.7",
                        remoteAddress: "192.0.2.7:9000", listenEndpoint: nil, userAgent: "trickler", outbox: outbox, maxQueuedBytes: 64 << 20,
                        bucket: TokenBucket(rate: 1000, burst: 1000, now: .now))
        guard case .accepted = table.register(liar).0 else { Issue.record("peer not registered"); return }
        let penalties = Mutex<[(Misbehaviour, String, ContinuousClock.Instant)]>([])
        final class Counter: Sendable { let n = Atomic<Int>(0) }
        let continuations = Counter()
        var sync = StateSyncConfig(trustedHeight: height, trustedHash: offer.header.hash)
        sync.waitForAnswers = 1
        let syncer = StateSyncer(chain: fresh, table: table, config: config, sync: sync, limits: limits, logger: testLogger("stall"),
                                 gate: StateSyncGate()) { _, what, detail in penalties.withLock { $0.append((what, detail, .now)) } }

        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = await syncer.run() }
            group.addTask {
                while !Task.isCancelled {
                    syncer.post(.tick)
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            // The trickling peer: the real offer, then one entry per part request, 0.7 s after each request.
            group.addTask {
                for await frame in stream {
                    let bytes = Array(frame.readableBytesView)
                    guard bytes.count >= 5, let message = try? P2PMessage.decode(type: bytes[4], payload: Array(bytes[5...]), limits: limits) else { continue }
                    switch message {
                    case .getSnapshot:
                        syncer.post(.offer(liar, height: height, offer))
                    case .getSnapshotPart(let q):
                        if q.start > 0 { continuations.n.add(1, ordering: .relaxed) }
                        Task {
                            try? await Task.sleep(for: .milliseconds(700))
                            syncer.post(.part(liar, await server.part(q, budget: 1)))  // budget 1: exactly one entry
                        }
                    default: break
                    }
                }
            }
            // Watch for 5 s: 5 × 0.7 s per big part is far past the 1 s request timeout.
            try await Task.sleep(for: .seconds(5))
            group.cancelAll()
            syncer.finish()
            liar.closeOutbox()
        }
        let got = penalties.withLock { $0 }
        // The download was under way: the trickler was asked to continue parts.
        #expect(continuations.n.load(ordering: .relaxed) > 0)
        let timeouts = got.filter { if case .requestTimeout = $0.0 { true } else { false } }
        // Secure outcome: the trickler cannot keep a multi-entry part beyond (about) one request timeout: it is timed
        // out (and the part freed for other peers) within the watch.
        #expect(!timeouts.isEmpty, "a peer sending one entry per reply held its parts for \(ContinuousClock.now - start) without a timeout")
        if let first = timeouts.first { #expect(first.2 - start < .seconds(4), "first timeout after \(first.2 - start)") }
    }
}

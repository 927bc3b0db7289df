import Consensus
import Foundation
import Ledger
import Node
@testable import P2P
import Primitives
import Storage
import Testing
import TestSupport

/// State sync over real sockets (Specs/p2p.md §7): a genesis-only node downloads a snapshot from two peers, one
/// of which corrupts every chunk it serves; the liar is banned, its parts come from the honest peer, and the node
/// ends with the same state as a node that replayed every block, then follows the chain.
@Suite(.tags(.system)) struct StateSyncTests {
    /// A chain of `blocks` fast-forwarded blocks whose transfers create many accounts, in `dir` (closed afterwards).
    static func makeChain(_ g: TestGenesis, in dir: TempDir, blocks: UInt64, transfersPerBlock: Int) async throws {
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
        try chain.store.close()
    }

    static func service(_ g: TestGenesis, dataDir: String, peers: [Int] = [], configure: (inout P2PConfig) -> Void = { _ in })
        throws -> (ChainService, P2PService) {
        let chain = try g.chainService(dataDir: dataDir)
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: PrivateKey.generate())
        config.allowPrivateAddresses = true
        config.bootstrapPeers = peers.map { PeerEndpoint(host: "127.0.0.1", port: $0) }
        configure(&config)
        return (chain, P2PService(config: config, chain: chain, logger: testLogger("state-sync")))
    }

    /// The liar serves the real manifest with a changed value in every chunk: its chunks fail verification.
    @Test(.timeLimit(.minutes(3))) func aNodeStateSyncsFromATrustedBlockAndBansAPeerServingBadChunks() async throws {
        try await stateSyncBeside(liar: .values)
    }

    /// The liar offers the real header and chunk hashes with lowered counts (which still add up to the stateRoot,
    /// counts being unhashed) and wins the tie against the one honest offer as the smaller manifest: its own data
    /// contradicts its offer, so it is banned, the manifest rejected, and the honest one chosen.
    @Test(.timeLimit(.minutes(3))) func aManifestWithAlteredCountsIsRejectedAndItsPeerBanned() async throws {
        try await stateSyncBeside(liar: .counts)
    }

    func stateSyncBeside(liar corruption: SnapshotCorruption) async throws {
        let blocks: UInt64 = 40
        let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let honestDir = TempDir("ss-honest"), liarDir = TempDir("ss-liar"), freshDir = TempDir("ss-fresh")
        try await Self.makeChain(g, in: honestDir, blocks: blocks, transfersPerBlock: 25)
        try FileManager.default.copyItem(atPath: honestDir.sub("chain"), toPath: liarDir.sub("chain"))

        let (honestChain, honest) = try Self.service(g, dataDir: honestDir.path)
        let (_, liar) = try Self.service(g, dataDir: liarDir.path) { $0.corruptSnapshotsForTests = corruption }
        let trustedHeight: UInt64 = 30
        let view = try honestChain.readView()
        let trustedHash = try #require(try view.canonicalHash(at: trustedHeight))
        let expectedState = try view.dumpState()
        #expect(expectedState.count > 1000)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await honest.run() }
            group.addTask { try await liar.run() }
            defer { group.cancelAll() }
            let ports = [try await honest.listeningPort(timeout: .seconds(90)), try await liar.listeningPort(timeout: .seconds(90))]
            let (fresh, syncer) = try Self.service(g, dataDir: freshDir.path, peers: ports) {
                $0.stateSync = StateSyncConfig(trustedHeight: trustedHeight, trustedHash: trustedHash)
                $0.stateSync?.maxPartsInFlightPerPeer = 2
                // Both peers answer before the choice, however slowly one connects: the liar is always in play.
                $0.stateSync?.waitForAnswers = 2
                $0.stateSync?.offerWait = .seconds(60)
            }
            #expect(!syncer.isSynced())
            group.addTask { try await syncer.run() }
            let target = await honestChain.status()
            let followed = await eventually(.seconds(120), every: .milliseconds(200)) { await fresh.status().tipHash == target.tipHash }
            #expect(followed, "the state-synced node did not reach the source's tip")
            #expect(await eventually(.seconds(10)) { syncer.isSynced() })
            // The liar served bad chunks: banned. The honest peer is not.
            #expect(syncer.isBanned(liar.nodeKey))
            #expect(!syncer.isBanned(honest.nodeKey))
            // Same state as the replaying node; the blocks below the snapshot are absent, the snapshot block is there.
            #expect(try fresh.store.current.dumpState() == expectedState)
            let freshView = try fresh.readView()
            #expect(try freshView.canonicalHash(at: trustedHeight) == trustedHash)
            #expect(try freshView.canonicalHash(at: trustedHeight - 1) == nil)
            #expect(try freshView.stateRetainedFrom() == trustedHeight)
            #expect(try freshView.receipts(trustedHash) == view.receipts(trustedHash))
            // Queries at the snapshot height answer as on the source; a genesis key the chain deleted stays absent.
            #expect(try freshView.state(at: trustedHeight).scan(prefix: [], after: nil, limit: .max)
                == view.state(at: trustedHeight).scan(prefix: [], after: nil, limit: .max))
        }
    }

    /// A state-synced node has no blocks below its snapshot and says so in its status (`earliestHeight`): a node
    /// replaying from genesis beside it syncs from the full node and neither asks it for what it lacks nor scores it
    /// for answering nothing (Specs/p2p.md §6.1).
    @Test(.timeLimit(.minutes(3))) func aReplayingNodeSyncsBesideAStateSyncedPeerWithoutScoringIt() async throws {
        let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let fullDir = TempDir("ss-full"), syncedDir = TempDir("ss-synced"), replayDir = TempDir("ss-replay")
        try await Self.makeChain(g, in: fullDir, blocks: 30, transfersPerBlock: 5)
        let (fullChain, full) = try Self.service(g, dataDir: fullDir.path)
        let snapshotHeight: UInt64 = 20
        let trustedHash = try #require(try fullChain.readView().canonicalHash(at: snapshotHeight))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await full.run() }
            defer { group.cancelAll() }
            let fullPort = try await full.listeningPort(timeout: .seconds(90))
            let (syncedChain, synced) = try Self.service(g, dataDir: syncedDir.path, peers: [fullPort]) {
                $0.stateSync = StateSyncConfig(trustedHeight: snapshotHeight, trustedHash: trustedHash)
            }
            group.addTask { try await synced.run() }
            let target = await fullChain.status()
            #expect(await eventually(.seconds(90), every: .milliseconds(200)) { await syncedChain.status().tipHash == target.tipHash })
            #expect(await syncedChain.status().earliestBlockHeight == snapshotHeight)
            let syncedPort = try await synced.listeningPort(timeout: .seconds(30))

            let (replayChain, replay) = try Self.service(g, dataDir: replayDir.path, peers: [syncedPort, fullPort])
            group.addTask { try await replay.run() }
            #expect(await eventually(.seconds(90), every: .milliseconds(200)) { await replayChain.status().tipHash == target.tipHash })
            #expect(await replayChain.status().earliestBlockHeight == 1)
            #expect(!replay.isBanned(synced.nodeKey))
            #expect(replay.misbehaviourScore(node: synced.nodeKey) < 1, "the replaying node scored the state-synced peer")
        }
    }

    /// Requests naming blocks the node cannot serve are answered "unavailable" without using up the build budget,
    /// so junk cannot keep a serving node from building the snapshot peers really ask for.
    @Test func junkRequestsDoNotBlockARealSnapshotBuild() async throws {
        let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let dir = TempDir("ss-serve")
        try await Self.makeChain(g, in: dir, blocks: 6, transfersPerBlock: 3)
        let chain = try g.chainService(dataDir: dir.path)
        let server = SnapshotServer(chain: chain, rebuildInterval: .seconds(3600))
        let junk = SnapshotPartRequest(height: 4, blockHash: SHA256.hash([7]), part: 0, start: 0)
        #expect(await server.part(junk, budget: 1 << 20).available == false)
        #expect(await server.offer(height: 99) == nil, "a height above the tip is not served")
        #expect(await server.offer(height: 0) == nil, "nothing finalized: no default offer")
        let offer = try #require(await server.offer(height: 5), "the junk request used up the build budget")
        #expect(offer.header.header.height == 5 && offer.manifest.stateRoot() == offer.header.header.stateRoot)
        // Within the interval another height is not built, the cached one is served.
        #expect(await server.offer(height: 4) == nil)
        #expect(await server.offer(height: 5) == offer)
        let page = await server.part(SnapshotPartRequest(height: 5, blockHash: offer.header.hash, part: SnapshotParts.receipts, start: 0), budget: 1 << 20)
        #expect(page.available && page.total == offer.total(of: SnapshotParts.receipts))
    }
}

import Consensus
import Foundation
import NIOCore
@testable import P2P
import Primitives
import Synchronization
import Testing
import TestSupport

/// Ninth review (P2P), F1 and F2: headers-first sync against a peer that sends headers and then does not deliver their
/// blocks. The sync manager without sockets: scripted peers in a table, their outboxes read by the test, which plays
/// them (as `StateSyncStallTests` does for state sync).
@Suite struct SyncAttackTests {
    /// A source chain of `blocks` blocks, one per slot an hour ago, and a victim that holds the first `victimHeight`.
    struct Chains {
        let g: TestGenesis
        let source: ChainService
        let victim: ChainService
        let blocks: [Block]
    }

    static func chains(blocks: UInt64, victimHeight: UInt64, _ name: String) async throws -> Chains {
        let g = try TestGenesis(genesisTime: UInt64(Date().timeIntervalSince1970) - 3600)
        let srcDir = TempDir("\(name)-src"), victimDir = TempDir("\(name)-victim")
        let clock = TestClock(g.genesis.slotStartMillis(1))
        let source = try g.chainService(dataDir: srcDir.path, clock: clock)
        var ids = (0..<4).map { TestGenesis.identity($0) }
        try await g.produce(on: source, through: blocks, clock: clock, identities: &ids)
        clock.live()
        let victim = try g.chainService(dataDir: victimDir.path)
        var all = [Block]()
        let genesisHash = await source.status().genesisHash
        for h in try source.headers(after: [genesisHash], max: 2000) {
            all.append(try #require(try source.block(h.hash)))
        }
        #expect(all.count == Int(blocks))
        for b in all.prefix(Int(victimHeight)) { _ = await victim.importBlock(b) }
        #expect(await victim.status().height == victimHeight)
        return Chains(g: g, source: source, victim: victim, blocks: all)
    }

    /// What the syncer did to a peer, as the test saw it.
    final class Log: Sendable {
        let penalties = Mutex<[(peer: UInt64, what: Misbehaviour, detail: String)]>([])
        let getBlocks = Atomic<Int>(0)
        let getHeaders = Atomic<Int>(0)

        func count(_ what: Misbehaviour, peer: UInt64, containing text: String = "") -> Int {
            penalties.withLock { $0.count { $0.peer == peer && $0.what == what && (text.isEmpty || $0.detail.contains(text)) } }
        }
    }

    /// How the scripted peer answers `getBlocks`.
    enum Answer { case notFound, silence, serve }

    /// Runs a sync manager on `chains.victim` with an honest peer at the victim's height and a peer (id 2) that claims
    /// `claim`, answers `getHeaders` with `headers` and `getBlocks` as `answer` says, then calls `body` while it runs.
    /// With `honestServes`, the honest peer announces the source's tip instead and answers `getBlocks` from it (it
    /// answers no headers), and the node is not first expected synced.
    static func run(_ chains: Chains, claim: UInt64, headers: @escaping @Sendable ([Hash32]) async -> [SignedHeader], answer: Answer,
                    honestServes: Bool = false,
                    _ body: @Sendable (SyncManager, Peer, Log) async throws -> Void) async throws {
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        config.requestTimeout = .seconds(2)
        let table = PeerTable(ourKey: config.nodeKey.publicKey, maxInbound: 8, maxOutbound: 8, banThreshold: 100, banDuration: .seconds(60))
        let log = Log()
        let sync = SyncManager(chain: chains.victim, table: table, config: config, logger: testLogger("sync-attack"), hasBootstrap: false) { p, what, detail in
            log.penalties.withLock { $0.append((p.id, what, detail)) }
        }
        let (honest, honestOut) = StateSyncStallTests.scriptedPeer(1, agent: "honest")
        let (peer, out) = StateSyncStallTests.scriptedPeer(2, agent: "scripted")
        guard case .accepted = table.register(honest).0, case .accepted = table.register(peer).0 else {
            Issue.record("peers not registered"); return
        }
        let ours = honestServes ? await chains.source.status() : await chains.victim.status()
        honest.state.withLock { $0.status = PeerStatus(ours) }
        let limits = P2PLimits(genesis: chains.g.genesis)
        let source = chains.source
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await sync.run() }
            group.addTask {
                while !Task.isCancelled {
                    sync.post(.tick)
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            group.addTask {
                for await message in StateSyncStallTests.messages(honestOut, limits: limits) where honestServes {
                    guard case .getBlocks(let hashes) = message else { continue }
                    for h in hashes {
                        if let b = try? source.block(h), honest.takeRequested(h) { sync.post(.block(honest, b)) }
                    }
                }
            }
            group.addTask {
                for await message in StateSyncStallTests.messages(out, limits: limits) {
                    switch message {
                    case .getHeaders(let locator, _):
                        log.getHeaders.add(1, ordering: .relaxed)
                        sync.post(.headers(peer, await headers(locator)))
                    case .getBlocks(let hashes):
                        log.getBlocks.add(1, ordering: .relaxed)
                        switch answer {
                        // As the message handler does: an answer takes the request off the peer's in-flight set.
                        case .notFound: sync.post(.notFound(peer, hashes.filter { peer.takeRequested($0) }))
                        case .silence: break
                        case .serve:
                            for h in hashes {
                                if let b = try? source.block(h), peer.takeRequested(h) { sync.post(.block(peer, b)) }
                            }
                        }
                    default: break
                    }
                }
            }
            sync.post(.status(honest))
            if !honestServes {
                #expect(await eventually(.seconds(60)) { sync.status.isSynced }, "not synced before the attack: \(sync.status)")
            }
            let tip = try #require(chains.blocks.last)
            peer.state.withLock { $0.status = PeerStatus(tipHash: tip.hash, height: claim, slot: tip.header.slot, finalizedHeight: 0) }
            sync.post(.status(peer))
            try await body(sync, peer, log)
            group.cancelAll()
            sync.finish()
            peer.closeOutbox()
            honest.closeOutbox()
        }
    }

    /// Attack A: a peer sends the header of the block after our tip (a real one: its leader signed it, e.g. a validator
    /// withholding its own block) and then refuses the block (`notFound`) or never answers. The header used to stay
    /// queued for good, so the node never counted itself synced again: its block producer and finality voter stopped.
    @Test(.timeLimit(.minutes(3)), arguments: [Answer.notFound, .silence])
    func aHeaderWhoseBlockNobodyDeliversDoesNotKeepTheNodeUnsynced(answer: Answer) async throws {
        let chains = try await Self.chains(blocks: 6, victimHeight: 5, "withheld-\(answer)")
        let withheld = chains.blocks[5].signedHeader
        try await Self.run(chains, claim: 6, headers: { _ in [withheld] }, answer: answer) { sync, peer, log in
            // The header was queued and its block asked for: the attack is under way.
            #expect(await eventually(.seconds(60)) { log.getBlocks.load(ordering: .relaxed) > 0 }, "the block was never asked for")
            // Secure outcome: the node drops the undeliverable header and is synced again (with the peer still connected
            // and still claiming the height), within a generous deadline.
            #expect(await eventually(.seconds(60)) { sync.status.isSynced && sync.status.queued == 0 },
                    "a withheld block keeps the node unsynced: \(sync.status)")
            #expect(peer.state.withLock { $0.discreditedHeight } == 6, "the withholding peer's claim still counts")
            if answer == .notFound { #expect(log.count(.falseStatus, peer: peer.id) >= 1) }
        }
    }

    /// A peer claiming a far height that answers every headers request with a header we already have, or with headers
    /// that connect to nothing we have (eighteenth-session audit). Its claim stayed credible and it counted as vouching
    /// for it, so the node never counted itself synced (every validator it reached stopped producing) and asked it again
    /// hundreds of times a second, verifying the junk headers' signatures on every core each time. Now such an answer
    /// discredits the claim and costs points, and the node is synced again.
    @Test(.timeLimit(.minutes(3)), arguments: ["known", "unconnected"])
    func aPeerWhoseHeadersCannotBackItsClaimDoesNotKeepTheNodeUnsynced(kind: String) async throws {
        let chains = try await Self.chains(blocks: 5, victimHeight: 5, "unbacked-\(kind)")
        let known = chains.blocks[0].signedHeader
        let signer = PrivateKey.generate()
        var junk = [SignedHeader]()
        var parent = SHA256.hash(Array("nowhere".utf8))
        for i in UInt64(0)..<50 {
            let slot = 100 + i
            let h = SignedHeader(header: BlockHeader(chainId: chains.g.genesis.chainId, height: 40 + i, slot: slot, parent: parent,
                                                     timestamp: chains.g.genesis.slotStartMillis(slot), proposer: signer.publicKey,
                                                     randaoReveal: .zero, txRoot: Block.txRoot([]), receiptsRoot: .zero, stateRoot: .zero),
                                 signedBy: signer)
            junk.append(h)
            parent = h.hash
        }
        let answer = kind == "known" ? [known] : junk
        try await Self.run(chains, claim: 1_000, headers: { _ in answer }, answer: .silence) { sync, peer, log in
            #expect(await eventually(.seconds(60)) { log.count(.falseStatus, peer: peer.id) >= 1 }, "the unbacked claim cost nothing")
            #expect(peer.state.withLock { $0.discreditedHeight } == 1_000)
            #expect(await eventually(.seconds(60)) { sync.status.isSynced }, "still unsynced: \(sync.status)")
            #expect(log.getHeaders.load(ordering: .relaxed) < 20, "asked \(log.getHeaders.load(ordering: .relaxed)) times")
        }
    }

    /// A validator signs an invalid block in a slot it leads, on an older parent, and gives it to an honest node, which
    /// stores it unexecuted as a side block. A peer then feeds a syncing node headers ending in it and leaves the
    /// download to others: the honest node serves the block it stored, the block fails, and the server was scored
    /// `invalidBlock` (100 points: banned) for the proposer's block (eighteenth-session audit). The peer whose headers
    /// queued it is scored now.
    @Test(.timeLimit(.minutes(3))) func servingAStoredSideBlockThatFailsExecutionDoesNotGetTheServerBanned() async throws {
        let chains = try await Self.chains(blocks: 8, victimHeight: 5, "side-ban")
        let lead = chains.blocks[6].header  // height 7: its proposer leads slot `lead.slot`
        let key = try #require((0..<4).map { TestGenesis.identity($0).key }.first { $0.publicKey == lead.proposer })
        // Height 6 on the victim's tip (height 5), in a slot its signer leads, with a state root no execution gives.
        let bad = Block(signedHeader: SignedHeader(header: BlockHeader(chainId: chains.g.genesis.chainId, height: 6, slot: lead.slot,
                                                                       parent: chains.blocks[4].hash, timestamp: chains.g.genesis.slotStartMillis(lead.slot),
                                                                       proposer: lead.proposer, randaoReveal: .zero, txRoot: Block.txRoot([]),
                                                                       receiptsRoot: .zero, stateRoot: .zero), signedBy: key),
                        transactions: [])
        guard case .sideChain = await chains.source.importBlock(bad) else { Issue.record("not stored as a side block"); return }
        try await Self.run(chains, claim: 1_000, headers: { _ in [bad.signedHeader] }, answer: .silence, honestServes: true) { sync, peer, log in
            #expect(await eventually(.seconds(60)) { log.count(.invalidBlock, peer: peer.id) >= 1 },
                    "the peer whose headers queued the invalid block was not scored")
            #expect(log.count(.invalidBlock, peer: 1) == 0, "the honest server was scored for the proposer's block")
        }
    }

    /// Attack A as the review found it: a header on our tip signed by a fresh key. Its block could never be valid (its
    /// proposer does not lead the slot), so the header is refused at once as invalid and never queued.
    @Test(.timeLimit(.minutes(3))) func aSelfSignedHeaderOnOurTipIsRefused() async throws {
        let chains = try await Self.chains(blocks: 5, victimHeight: 5, "self-signed")
        let tip = try #require(chains.blocks.last)
        let fresh = PrivateKey.generate()
        let slot = tip.header.slot + 1
        let fake = SignedHeader(header: BlockHeader(chainId: chains.g.genesis.chainId, height: tip.header.height + 1, slot: slot, parent: tip.hash,
                                                    timestamp: chains.g.genesis.slotStartMillis(slot), proposer: fresh.publicKey, randaoReveal: .zero,
                                                    txRoot: Block.txRoot([]), receiptsRoot: .zero, stateRoot: .zero), signedBy: fresh)
        try await Self.run(chains, claim: 6, headers: { _ in [fake] }, answer: .notFound) { sync, peer, log in
            #expect(await eventually(.seconds(60)) { log.count(.invalidHeaders, peer: peer.id) >= 1 },
                    "a header by a key that does not lead its slot was accepted: \(sync.status)")
            #expect(log.getBlocks.load(ordering: .relaxed) == 0, "the self-signed header was queued and its block asked for")
            #expect(sync.status.queued == 0)
        }
    }

    /// The rules above leave honest sync alone: a peer that serves the blocks of its headers gets the node to its height.
    @Test(.timeLimit(.minutes(3))) func anHonestPeerStillSyncsTheNode() async throws {
        let chains = try await Self.chains(blocks: 41, victimHeight: 1, "honest")
        let source = chains.source
        try await Self.run(chains, claim: 41, headers: { locator in (try? source.headers(after: locator, max: 2000)) ?? [] },
                           answer: .serve) { sync, peer, log in
            #expect(await eventually(.seconds(90)) { sync.status.isSynced && sync.status.height == 41 }, "not synced: \(sync.status)")
            #expect(log.count(.falseStatus, peer: peer.id) == 0)
            #expect(log.count(.invalidHeaders, peer: peer.id) == 0)
        }
    }
}

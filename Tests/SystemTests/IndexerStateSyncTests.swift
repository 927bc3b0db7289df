import Foundation
import Logging
import Testing
@testable import Consensus
@testable import Indexer
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import RPC
@testable import Storage
import TestSupport

/// An indexer following a node that joined by state sync (Specs/indexer.md §1 step 2, rpc.md §6): the node stores
/// genesis and the blocks from its snapshot's height on. The indexer used to start at height 0, ask for block 1
/// (answered "not available") and stall there without an error.
@Suite(.serialized, .tags(.system)) struct IndexerStateSyncTests {
    static let logger = testLogger("indexer-state-sync")
    static let snapshotHeight: UInt64 = 8

    /// A node of `a`'s chain that adopted the state snapshot of `snapshotHeight` and then imported `a`'s later blocks.
    func stateSyncedNode(from a: IndexedChain, label: String) async throws -> (ChainService, TempDir) {
        let view = try a.service.readView()
        let height = Self.snapshotHeight
        let hash = try #require(try view.canonicalHash(at: height))
        let snapshot = try view.stateSnapshot(height: height)
        let entries = snapshot.chunks.flatMap { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let receipts = try ChainEngine.decodeReceipts(try #require(try view.receipts(hash)))
        let dir = TempDir(label)
        var options = DatabaseOptions()
        options.syncWrites = false
        let genesis = a.genesis.genesis
        let store = try ChainStore(path: (dir.path as NSString).appendingPathComponent("chain"), genesis: genesis.chainId, options: options)
        let engine = try ChainEngine(genesis: genesis, store: store, adjudicator: NoAdjudicator())
        let block = try #require(try await a.service.canonicalBlock(at: height))
        try engine.adoptSnapshot(block: block, receipts: receipts, entries: entries)
        let tip = try #require(try view.tip()).height
        for h in (height + 1)...tip {
            let next = try #require(try await a.service.canonicalBlock(at: h))
            guard case .tipChanged = try engine.importBlock(next, now: a.clock.now) else { throw ImportError.fault("block \(h) not imported") }
        }
        #expect(engine.earliestBlockHeight == height && engine.tipHeight == tip)
        let clock = a.clock
        return (ChainService(engine: engine, clock: { clock.now }), dir)
    }

    func start(_ rpc: String, _ db: String) async throws -> ChainIndexer {
        var config = IndexerConfiguration(rpcURL: rpc, postgres: try PostgresTarget(url: db))
        config.pollInterval = .milliseconds(200)
        return try await ChainIndexer.start(config, logger: Self.logger)
    }

    /// An empty database indexes from the node's earliest block, records where its history starts, and follows.
    /// A database indexed (from a full node) to below the node's earliest block stops with an error naming both
    /// heights instead of stalling. The RPC says what the node stores.
    /// A database indexed to exactly the block below the node's earliest (`earliest − 1`) cannot be compared by hash at
    /// its tip (the node does not store it): the parent of the node's earliest block decides. When it is the indexed
    /// tip the indexer continues from `earliest` without a gap; when it is not (the database indexed another branch),
    /// the indexer stops with `earliestBlockDoesNotFollow` and writes nothing.
    // Time limit: an indexer that neither writes onto nor refuses a tip it cannot follow loops for ever.
    @Test(.timeLimit(.minutes(5))) func anIndexerFollowsAStateSyncedNodeFromItsEarliestBlockOrSaysWhyItCannot() async throws {
        let pg = try PostgresServer(label: "indexer-state-sync")
        let fresh = try pg.createDatabase("fresh"), behind = try pg.createDatabase("behind")
        let adjacent = try pg.createDatabase("adjacent"), forked = try pg.createDatabase("forked")
        let forkedDeep = try pg.createDatabase("forkeddeep")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "indexer-state-sync-a")
        try await a.produce(through: 3, perBlock: 1)
        // `behind` holds the full node's blocks 0...3.
        try await withRPCServer(a.service) { rpc in
            let ix = try await start(rpc, behind)
            do {
                #expect(try await ix.syncToTip().height == 3)
                #expect(try await ix.sink.firstIndexedHeight() == 0)
                await ix.close()
            } catch {
                await ix.close()
                throw error
            }
        }
        let s = Self.snapshotHeight
        // `adjacent` holds the full node's blocks 0...s-1; `forked` holds blocks 0...s-1 of another branch of the same
        // chain (same genesis, other transactions), so its block s-1 is not the parent of the node's block s.
        try await a.produce(through: s - 1, perBlock: 1)
        let fork = try IndexedChain(genesis: genesis, label: "indexer-state-sync-fork")
        try await fork.produce(through: s - 1, perBlock: 2)
        for (chain, db) in [(a, adjacent), (fork, forked)] {
            try await withRPCServer(chain.service) { rpc in
                let ix = try await start(rpc, db)
                do {
                    #expect(try await ix.syncToTip().height == s - 1)
                    await ix.close()
                } catch {
                    await ix.close()
                    throw error
                }
            }
        }
        let forkTip = try #require(try await fork.service.canonicalBlock(at: s - 1)).hash
        let ourTip = try #require(try await a.service.canonicalBlock(at: s - 1)).hash
        #expect(forkTip != ourTip, "the fork did not fork")
        // `forkedDeep` holds the other branch through s+2: above the node's earliest block, every height differs.
        try await fork.produce(through: s + 2, perBlock: 2)
        try await withRPCServer(fork.service) { rpc in
            let ix = try await start(rpc, forkedDeep)
            do {
                #expect(try await ix.syncToTip().height == s + 2)
                await ix.close()
            } catch {
                await ix.close()
                throw error
            }
        }
        try await a.produce(through: 12, perBlock: 1)
        let (synced, _) = try await stateSyncedNode(from: a, label: "indexer-state-sync-b")
        try await withRPCServer(synced) { rpc in
            let client = try RPCClient(url: rpc)
            #expect(try await client.call("node_status", .array([])).object?["earliestBlockHeight"]?.uint64 == s)
            // Below the earliest block: a specific error naming it, not a bare "not found".
            let below: Result<JSON, RPCClientError>
            do throws(RPCClientError) { below = .success(try await client.call("chain_getBlockByNumber", .array([.int(s - 1), .bool(true)]))) } catch {
                below = .failure(error)
            }
            guard case .failure(.rpc(let e)) = below else { Issue.record("block \(s - 1): \(below), not an RPC error"); return }
            #expect(e.code == RPCError.prunedCode)
            #expect(e.data?["earliestBlockHeight"]?.uint64 == s && e.data?["height"]?.uint64 == s - 1)
            _ = try await client.call("chain_getBlockByNumber", .array([.int(0)]))
            _ = try await client.call("chain_getBlockByNumber", .array([.int(s)]))

            let ix = try await start(rpc, fresh)
            do {
                let report = try await ix.syncToTip()
                #expect(report.height == 12 && report.blocks == Int(12 - s + 1))
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', min(height), max(height), count(*)) FROM blocks") == "\(s)/12/\(12 - s + 1)")
                #expect(try await ix.sink.firstIndexedHeight() == s)
                await ix.close()
            } catch {
                await ix.close()
                throw error
            }

            let stale = try await start(rpc, behind)
            let result: Result<SyncReport, IndexerError>
            do throws(IndexerError) { result = .success(try await stale.syncToTip()) } catch { result = .failure(error) }
            await stale.close()
            guard case .failure(let e) = result else {
                Issue.record("an indexer whose next block the node does not store did not stop"); return
            }
            #expect(e == .blocksNotOnNode(needed: 4, earliest: s))
            #expect(e.description.contains("block 4") && e.description.contains("height \(s)"))

            // Indexed to s-1 on the node's branch: continues at s (the parent of block s is the indexed tip), no gap.
            let next = try await start(rpc, adjacent)
            do {
                let report = try await next.syncToTip()
                #expect(report.height == 12 && report.blocks == Int(12 - s + 1) && report.rolledBack == 0)
                #expect(try await next.sink.scalar("SELECT concat_ws('/', min(height), max(height), count(*)) FROM blocks") == "0/12/13")
                #expect(try await next.sink.firstIndexedHeight() == 0)
                #expect(try await next.sink.blockHash(at: s) == (try #require(try await synced.canonicalBlock(at: s)).hash.description))
                await next.close()
            } catch {
                await next.close()
                throw error
            }

            // Indexed to s-1 on another branch: block s does not follow it, and the node has nothing below s to find
            // where the branches part. The indexer stops and writes nothing (it used to be checked nowhere but here).
            let other = try await start(rpc, forked)
            let refused: Result<SyncReport, IndexerError>
            do throws(IndexerError) { refused = .success(try await other.syncToTip()) } catch { refused = .failure(error) }
            let after = try await other.sink.scalar("SELECT concat_ws('/', min(height), max(height), count(*)) FROM blocks")
            let tip = try await other.sink.indexedTip()
            await other.close()
            guard case .failure(let f) = refused else {
                Issue.record("an indexer whose tip the node's earliest block does not follow went on: \(refused)"); return
            }
            #expect(f == .earliestBlockDoesNotFollow(indexed: s - 1, earliest: s))
            #expect(f.description.contains("block \(s)") && f.description.contains("block \(s - 1)"))
            #expect(after == "0/\(s - 1)/\(s)", "blocks were written onto a tip they do not follow")
            #expect(tip?.height == s - 1 && tip?.hash == forkTip.description)

            // Indexed through s+2 on the other branch: the walk back compares s+2, s+1, s (all differ), then only the
            // parent of the node's block s can speak for s-1. Taking the heights the node does not store for "different"
            // walked on down to genesis and deleted every indexed block before failing.
            let deep = try await start(rpc, forkedDeep)
            let deepResult: Result<SyncReport, IndexerError>
            do throws(IndexerError) { deepResult = .success(try await deep.syncToTip()) } catch { deepResult = .failure(error) }
            let deepAfter = try await deep.sink.scalar("SELECT concat_ws('/', min(height), max(height), count(*)) FROM blocks")
            await deep.close()
            guard case .failure(let deepError) = deepResult else { Issue.record("\(deepResult)"); return }
            #expect(deepError == .earliestBlockDoesNotFollow(indexed: s - 1, earliest: s))
            #expect(deepAfter == "0/\(s + 2)/\(s + 3)", "indexed blocks were deleted")
        }

        // A node of the same chain that has imported only blocks 1...3, below the first block `fresh` holds (s): nothing
        // can be compared, nothing is contradicted. The indexer waits for it; it used to call the database "another
        // history" and stop.
        let early = try IndexedChain(genesis: genesis, label: "indexer-state-sync-early")
        for h in 1...3 {
            let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
            early.clock.set(a.clock.now)
            guard case .imported = await early.service.importBlock(block) else { Issue.record("block \(h) not imported"); return }
        }
        try await withRPCServer(early.service) { rpc in
            let ix = try await start(rpc, fresh)
            let waited: Result<SyncReport, IndexerError>
            do throws(IndexerError) { waited = .success(try await ix.syncToTip()) } catch { waited = .failure(error) }
            let after = try await ix.sink.scalar("SELECT concat_ws('/', min(height), max(height), count(*)) FROM blocks")
            await ix.close()
            guard case .success(let report) = waited else { Issue.record("\(waited)"); return }
            #expect(report.rolledBack == 0 && report.height == 12)
            #expect(after == "\(s)/12/\(12 - s + 1)")
        }
        pg.stop()
    }
}

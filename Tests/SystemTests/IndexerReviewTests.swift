import Foundation
import Logging
import Testing
@testable import Consensus
@testable import Indexer
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import RPC
import TestSupport

/// Review E (the explorer surface): the indexer's handling of operator input and of on-chain strings.
@Suite(.serialized, .tags(.system)) struct IndexerReviewTests {
    static let logger = Logger(label: "indexer-review")

    /// A `--postgres` URL that does not parse is echoed back in the error (stderr, the service journal): the
    /// password must not be in it.
    @Test func aBadPostgresURLErrorDoesNotEchoThePassword() {
        let secret = "s3cr3t-Pa55"
        for url in ["postgres://indexer:\(secret)@db.example:99999/sharechain",
                    "postgres://indexer:\(secret)@db.example:5432/sharechain?sslmode=require",
                    "postgres://indexer:\(secret)@db.example:5432",
                    "postgres://indexer:\(secret)@[::1/sharechain"] {
            do {
                _ = try PostgresTarget(url: url)
                Issue.record("\(url) parsed")
            } catch {
                #expect(!error.description.contains(secret), "the error shows the password: \(error.description)")
                #expect(error.description.contains("db.example") || error.description.contains("::1"), "the error still names the URL")
            }
        }
    }

    /// Genesis pool strings are any UTF-8 (`modelId` up to 128 bytes, U+0000 included: the genesis JSON accepts
    /// `\u0000`), and `pool_list` serves them as they are. PostgreSQL refuses U+0000 in `text` and `\u0000` in
    /// `jsonb`, so such a pool used to stop the indexer at start (the pools upsert failed on every restart).
    @Test func poolStringsWithNULDoNotStopTheIndexer() async throws {
        let pg = try PostgresServer(label: "indexer-review-nul")
        let url = try pg.createDatabase("nul")
        try await withPostgresSink(url, logger: Self.logger) { sink in
            try await sink.migrate()
            // The row exactly as NodeSource.pools builds it from a pool_list item.
            let item: JSON = .object(["id": .int(0), "modelId": .string("tiny\u{0}llama"), "executorSpec": .string("canon-f32-v1"),
                                      "windowBlocks": .int(10), "challengeBlocks": .int(5), "note\u{0}": .string("a\\u0000b")])
            var rows = TableRows("pools", [("id", "bigint"), ("model_id", "text"), ("executor_spec", "text"), ("window_blocks", "bigint"),
                                           ("challenge_blocks", "bigint"), ("data", "jsonb")])
            rows.add(["0", "tiny\u{0}llama", "canon-f32-v1", "10", "5", JSONWriter.string(item)])
            try await sink.upsertPools(rows)
            #expect(try await sink.scalar("SELECT model_id FROM pools WHERE id = 0") == "tiny\u{FFFD}llama")
            #expect(try await sink.scalar("SELECT data->>'modelId' FROM pools WHERE id = 0") == "tiny\u{FFFD}llama")
            // A backslash-u sequence that is text, not an escape, is kept as it is.
            #expect(try await sink.scalar("SELECT data->>'note\u{FFFD}' FROM pools WHERE id = 0") == "a\\u0000b")
            // The same through COPY (the append-only tables).
            var events = TableRows("events", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"),
                                              ("tx_hash", "bytea"), ("type", "text"), ("data", "jsonb")])
            events.add(["0", "0", "0", nil, "x\u{0}", JSONWriter.string(.object(["type": .string("x\u{0}")]))])
            try await sink.copy(events)
            #expect(try await sink.scalar("SELECT type || '/' || (data->>'type') FROM events") == "x\u{FFFD}/x\u{FFFD}")
        }
        pg.stop()
    }

    /// Tenth review, RPC F1: an escrow's expiry is any u64 above the height (the ledger has no upper bound), and
    /// `expiry_height` was `bigint`: one `escrowOpen` with expiry 2^64 − 1 (or a top-up to 2^63) made the block's COPY
    /// fail, and every indexer stopped at that block for good. Schema version 5 makes them `numeric(20,0)`; the block is
    /// indexed with the node's values, and a version-4 database is migrated with its rows kept.
    @Test func anEscrowExpiryAboveTheBigintRangeDoesNotStopTheIndexer() async throws {
        let pg = try PostgresServer(label: "indexer-review-expiry")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let chain = try IndexedChain(genesis: genesis, label: "indexer-review-expiry")
        let owner = DevelopmentKeys.account(7).publicKey
        let never = LedgerIds.escrow(owner: owner, nonce: 0), later = LedgerIds.escrow(owner: owner, nonce: 1)
        let bodies: [UInt64: TxBody] = [
            3: .escrowOpen(pool: 0, amount: Amount(1), expiryHeight: .max),
            4: .escrowOpen(pool: 0, amount: Amount(10), expiryHeight: 1_000),
            6: .escrowTopUp(escrowId: later, amount: Amount(5), newExpiryHeight: 1 << 63),
        ]
        let order = bodies.keys.sorted()
        try await chain.produce(through: 8, perBlock: 1) { slot in
            guard let body = bodies[slot], let n = order.firstIndex(of: slot) else { return [] }
            return [escrowTransaction(genesis, account: 7, nonce: UInt64(n), body)]
        }
        let view = try chain.service.readView()
        #expect(try LedgerReader(view).escrow(never)?.expiryHeight == .max, "the set-up needs the escrow on chain")
        #expect(try LedgerReader(view).escrow(later)?.expiryHeight == 1 << 63)
        let db = try pg.createDatabase("expiry")
        try await withRPCServer(chain.service) { rpc in
            var config = IndexerConfiguration(rpcURL: rpc, postgres: try PostgresTarget(url: db))
            config.pollInterval = .milliseconds(200)
            let ix = try await ChainIndexer.start(config, logger: Self.logger)
            do {
                let report = try await ix.syncToTip()
                #expect(report.height == 8)
                #expect(try await ix.sink.scalar("SELECT expiry_height::text FROM escrows WHERE escrow_id = '\\x\(never.hex)'::bytea")
                        == "18446744073709551615")
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', expiry_height, balance) FROM escrows WHERE escrow_id = '\\x\(later.hex)'::bytea")
                        == "9223372036854775808/15")
                #expect(try await ix.sink.scalar("SELECT string_agg(expiry_height::text, ',' ORDER BY height) FROM escrow_events WHERE expiry_height IS NOT NULL")
                        == "18446744073709551615,1000,9223372036854775808")
                await ix.close()
            } catch {
                await ix.close()
                throw error
            }
        }
        // A version-4 database (expiry columns bigint) is migrated in place, its rows kept.
        let v4 = try pg.createDatabase("v4")
        try await withPostgresSink(v4, logger: Self.logger) { sink in
            try await sink.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for m in IndexerSchema.migrations where m.version <= 4 {
                for statement in m.statements { try await sink.execute(statement) }
                try await sink.execute("INSERT INTO schema_version (version, description) VALUES (\(m.version), 'v\(m.version)')")
            }
            let id = String(repeating: "cd", count: 32)
            try await sink.execute("INSERT INTO escrows (escrow_id, owner, pool, amount, expiry_height, opened_height) VALUES ('\\x\(id)', 'shr1old', 0, 500, 100, 3)")
            #expect(try await sink.migrate() == IndexerSchema.version)
            #expect(IndexerSchema.version >= 5)
            #expect(try await sink.scalar("SELECT expiry_height::text FROM escrows") == "100")
            #expect(try await sink.scalar("""
                SELECT string_agg(table_name || '.' || data_type, ',' ORDER BY table_name) FROM information_schema.columns
                WHERE column_name = 'expiry_height'
                """) == "escrow_events.numeric,escrows.numeric")
        }
        pg.stop()
    }

    /// An indexer pointed at a node that is behind the index on the same chain (a node still syncing, restored from
    /// an older copy, or a lagging replica behind a load balancer) must wait for it, not delete the indexed blocks
    /// above the node's tip: those blocks are not contradicted (the node's block at its tip is the indexed one).
    /// Only a different hash is a reorg (Specs/indexer.md §1 step 2).
    @Test func aNodeBehindTheIndexDoesNotRollItBack() async throws {
        let pg = try PostgresServer(label: "indexer-review-behind")
        let db = try pg.createDatabase("behind")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "indexer-review-a")
        try await a.produce(through: 12, perBlock: 2)
        #expect(await a.height == 12)
        func start(_ rpc: String) async throws -> ChainIndexer {
            var config = IndexerConfiguration(rpcURL: rpc, postgres: try PostgresTarget(url: db))
            config.pollInterval = .milliseconds(200)
            return try await ChainIndexer.start(config, logger: Self.logger)
        }
        try await withRPCServer(a.service) { rpc in
            let ix = try await start(rpc)
            let report = try await ix.syncToTip()
            await ix.close()
            #expect(report.height == 12)
        }
        // A second node of the same chain that has only imported blocks 1...6 so far.
        let b = try IndexedChain(genesis: genesis, label: "indexer-review-b")
        for h in 1...6 {
            let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
            b.clock.set(a.clock.now)
            guard case .imported = await b.service.importBlock(block) else { Issue.record("B did not import block \(h)"); return }
        }
        try await withRPCServer(b.service) { rpc in
            let ix = try await start(rpc)
            do {
                let report = try await ix.syncToTip()
                #expect(report.rolledBack == 0, "blocks 7...12 were deleted although node B never contradicted them")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM blocks") == "13")
                #expect(try await ix.sink.indexedTip()?.height == 12)
                // B catches up with the same blocks: nothing to write, nothing was lost.
                for h in 7...12 {
                    let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
                    b.clock.set(a.clock.now)
                    guard case .imported = await b.service.importBlock(block) else { Issue.record("B did not import block \(h)"); return }
                }
                let again = try await ix.syncToTip()
                #expect(again.rolledBack == 0 && again.height == 12)
                #expect(try await ix.sink.scalar("SELECT count(*) FROM blocks") == "13")
                // A rollback's fork point is checked under the lock: another indexer on the database may have rolled
                // back below it since. Setting the tip to a block no longer in `blocks` left a gap every start stopped at.
                let h6 = try #require(try await ix.sink.blockHash(at: 6)), h9 = try #require(try await ix.sink.blockHash(at: 9))
                try await ix.sink.rollback(to: 6, hash: h6)
                await #expect(throws: IndexerError.self) { try await ix.sink.rollback(to: 9, hash: h9) }
                await #expect(throws: IndexerError.self) { try await ix.sink.rollback(to: 5, hash: h6) }
                #expect(try await ix.sink.indexedTip()?.height == 6)
                #expect(try await ix.sink.scalar("SELECT max(height) FROM blocks") == "6")
                #expect(try await ix.syncToTip().height == 12)
                await ix.close()
            } catch {
                await ix.close()
                throw error
            }
        }
        pg.stop()
    }

    /// The indexer asks for up to 50 blocks (full, with their results) in one batch; the node answers the calls past
    /// its 32 MiB batch budget with -32002. Blocks of a few hundred KiB of JSON each (4 MiB blocks are allowed) pass
    /// that budget, and the indexer took the -32002 for a node failure and retried the same batch forever. It must
    /// take the blocks answered and ask for the rest next. (Here the budget is small and the blocks are small.)
    @Test func blocksPastTheBatchAnswerBudgetAreFetchedInTheNextRound() async throws {
        let pg = try PostgresServer(label: "indexer-review-budget")
        let db = try pg.createDatabase("budget")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "indexer-review-budget")
        try await a.produce(through: 12, perBlock: 3)
        var rpcConfig = RPCConfiguration()
        rpcConfig.port = 0
        rpcConfig.maxResponseBytes = 16 * 1024
        let server = RPCServer(chain: a.service, configuration: rpcConfig, logger: testLogger("rpc"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = await server.listeningPort()
            var config = IndexerConfiguration(rpcURL: "http://127.0.0.1:\(port)", postgres: try PostgresTarget(url: db))
            config.pollInterval = .milliseconds(200)
            let ix = try await ChainIndexer.start(config, logger: Self.logger)
            do {
                let report = try await ix.syncToTip()
                #expect(report.height == 12 && report.blocks == 13)
                #expect(try await ix.sink.scalar("SELECT count(*) FROM transactions") == "36")
                await ix.close()
            } catch {
                await ix.close()
                Issue.record("the indexer failed: \(error)")
            }
        }
        // A budget below one block's answer: the first block of every batch passes it alone, and asking the same batch
        // again stalled at it for good. The indexer asks for that block and its results as single calls.
        let tiny = try pg.createDatabase("tiny")
        rpcConfig.maxResponseBytes = 256
        let small = RPCServer(chain: a.service, configuration: rpcConfig, logger: testLogger("rpc"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await small.run() }
            defer { group.cancelAll() }
            let port = await small.listeningPort()
            var config = IndexerConfiguration(rpcURL: "http://127.0.0.1:\(port)", postgres: try PostgresTarget(url: tiny))
            config.pollInterval = .milliseconds(200)
            let ix = try await ChainIndexer.start(config, logger: Self.logger)
            do {
                let report = try await ix.syncToTip()
                #expect(report.height == 12 && report.blocks == 13, "\(report)")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM transactions") == "36")
                await ix.close()
            } catch {
                await ix.close()
                Issue.record("the indexer failed: \(error)")
            }
        }
        pg.stop()
    }

    /// Indexers started together on an empty database: `CREATE TABLE IF NOT EXISTS schema_version` ran before the
    /// migrators' lock, and two sessions could both pass its check, one failing on the catalog's unique index (that
    /// indexer then exited at start). It runs under the writers' lock now.
    @Test func indexersStartingTogetherOnAnEmptyDatabaseAllMigrate() async throws {
        let pg = try PostgresServer(label: "indexer-review-migrate")
        for round in 0..<4 {
            let target = try PostgresTarget(url: try pg.createDatabase("race\(round)"))
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let sink = try await PostgresSink.connect(target, logger: Self.logger)
                        do {
                            let v = try await sink.migrate()
                            await sink.close()
                            return v
                        } catch {
                            await sink.close()
                            throw error
                        }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(versions == Array(repeating: IndexerSchema.version, count: 6), "round \(round): \(versions)")
        }
        pg.stop()
    }

    /// A node that contradicts itself: its block at the indexed tip's height is the indexed one, yet its next block
    /// names another parent; or it answers another height than asked. The indexer asked again at once, for ever (no
    /// error, no backoff). Now a block of the wrong height is a bad answer at once, and a next block that never
    /// follows ends the round with an error after a few tries (the run then backs off), having written nothing wrong.
    @Test(.timeLimit(.minutes(3))) func aNodeWhoseBlocksDoNotFollowIsRefusedNotAskedForever() async throws {
        let pg = try PostgresServer(label: "indexer-review-unlinked")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "indexer-review-unlinked")
        try await a.produce(through: 8, perBlock: 1)
        let other = JSON.string("0x" + String(repeating: "ab", count: 32))
        try await withRPCServer(a.service) { rpc in
            for (name, rewrite) in [
                ("unlinked", { @Sendable (method: String, params: JSON, answer: JSON) -> JSON in
                    method == "chain_getBlockByNumber" && params.array?.first?.uint64 == 6 ? answer.settingResultMember("parent", to: other) : answer
                }),
                ("misnumbered", { @Sendable (method: String, params: JSON, answer: JSON) -> JSON in
                    // Block 6 and its results, both said to be at height 7.
                    guard params.array?.first?.uint64 == 6 else { return answer }
                    if method == "chain_getBlockByNumber" { return answer.settingResultMember("height", to: .int(7)) }
                    if method == "chain_getBlockResults" { return answer.settingResultMember("blockHeight", to: .int(7)) }
                    return answer
                }),
            ] as [(String, @Sendable (String, JSON, JSON) -> JSON)] {
                let proxy = try RewritingRPCProxy(forwardingTo: rpc, rewrite: rewrite)
                defer { proxy.stop() }
                var config = IndexerConfiguration(rpcURL: proxy.url, postgres: try PostgresTarget(url: try pg.createDatabase(name)))
                config.pollInterval = .milliseconds(200)
                let ix = try await ChainIndexer.start(config, logger: Self.logger)
                let result: Result<SyncReport, IndexerError>
                do throws(IndexerError) { result = .success(try await ix.syncToTip()) } catch { result = .failure(error) }
                let tip = try await ix.sink.indexedTip()
                await ix.close()
                guard case .failure(.malformed(let why)) = result else { Issue.record("\(name): \(result)"); continue }
                if name == "unlinked" {
                    #expect(why.contains("do not follow"), "\(why)")
                    #expect(tip?.height == 5, "blocks 0…5 are written, nothing after")
                } else {
                    // The batch holding the lie is refused whole: nothing written.
                    #expect(why.contains("asked for block 6, the node answered block 7"), "\(why)")
                    #expect(tip == nil)
                }
                #expect(proxy.requests.load(ordering: .relaxed) < 200, "\(name): \(proxy.requests.load(ordering: .relaxed)) requests")
            }
        }
        pg.stop()
    }
}

import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import Consensus
@testable import Indexer
@testable import Ledger
@testable import Node
@testable import Primitives
@testable import RPC
@testable import Storage
import TestSupport

/// A chain in this process (one validator, fast-forwarded slots, transfers in every block), served over
/// JSON-RPC and WebSocket on loopback, for the indexer to follow.
final class IndexedChain {
    let genesis: TestGenesis
    let dir: TempDir
    let clock: TestClock
    let service: ChainService
    var identities = [TestGenesis.identity(0)]
    var nonces = [Int: UInt64]()

    init(genesis: TestGenesis, label: String) throws {
        self.genesis = genesis
        dir = TempDir(label)
        clock = TestClock(genesis.genesis.slotStartMillis(1))
        service = try genesis.chainService(dataDir: dir.path, clock: clock)
    }

    /// Produces a block in every slot through `lastSlot`, each with `perBlock` transfers among `senders`.
    func produce(through lastSlot: UInt64, perBlock: Int, senders: Range<Int> = 0..<4) async throws {
        var nonces = self.nonces
        let chainId = genesis.genesis.chainId
        try await genesis.produce(on: service, through: lastSlot, clock: clock, identities: &identities) { slot in
            (0..<perBlock).map { i in
                let from = senders.lowerBound + (Int(slot) + i) % senders.count
                let key = DevelopmentKeys.account(from)
                let nonce = nonces[from, default: 0]
                nonces[from] = nonce + 1
                return Transaction(chainId: chainId, sender: key.publicKey, nonce: nonce, fee: 10_000,
                                   body: .transfer(to: DevelopmentKeys.account((from + 1) % 8).publicKey, amount: Amount(1 + slot))).signed(by: key)
            }
        }
        self.nonces = nonces
    }

    var slot: UInt64 { get async { await service.status().slot } }
    var height: UInt64 { get async { await service.status().height } }
}

/// Runs an RPC server for `chain` on a free loopback port during `body`.
func withRPCServer<T: Sendable>(_ chain: ChainService, _ body: (String) async throws -> T) async throws -> T {
    var config = RPCConfiguration()
    config.port = 0
    let server = RPCServer(chain: chain, configuration: config, logger: testLogger("rpc"))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await server.run(); return nil }
        let port = await server.listeningPort()
        defer { group.cancelAll() }
        return try await body("http://127.0.0.1:\(port)")
    }
}

@Suite(.serialized, .tags(.system)) struct IndexerTests {
    static let logger = testLogger("indexer")

    func indexer(_ rpc: String, _ postgres: String) async throws -> ChainIndexer {
        var config = IndexerConfiguration(rpcURL: rpc, postgres: try PostgresTarget(url: postgres))
        config.pollInterval = .milliseconds(200)
        return try await ChainIndexer.start(config, logger: Self.logger)
    }

    /// What the node says, against what the database holds: one row per canonical block with the node's hash,
    /// every transaction, receipt and event, and the same fee and transfer sums.
    func expectMatchesNode(_ sink: PostgresSink, _ rpc: String) async throws {
        let client = try RPCClient(url: rpc)
        let tip = try #require(try await client.call("chain_blockNumber").uint64)
        var transactions = 0, events = 0, receipts = 0
        var fees: UInt64 = 0
        for h in 0...tip {
            let r = try await client.call("chain_getBlockResults", .array([.int(h)]))
            transactions += Int(try #require(r["transactionCount"]?.uint64))
            events += Int(try #require(r["eventCount"]?.uint64))
            let rs = try #require(r["receipts"]?.array)
            receipts += rs.count
            for x in rs { fees += UInt64(try #require(x["feePaid"]?.string)) ?? 0 }
            if h % 7 == 0 || h == tip {
                let hash = try #require(r["blockHash"]?.string)
                #expect(try await sink.blockHash(at: h) == hash, "block \(h)")
            }
        }
        #expect(try await sink.scalar("SELECT count(*) FROM blocks") == String(tip + 1))
        #expect(try await sink.scalar("SELECT max(height) FROM blocks") == String(tip))
        #expect(try await sink.scalar("SELECT count(*) FROM transactions") == String(transactions))
        #expect(try await sink.scalar("SELECT coalesce(sum(tx_count), 0) FROM blocks") == String(transactions))
        #expect(try await sink.scalar("SELECT count(*) FROM receipts") == String(receipts))
        #expect(try await sink.scalar("SELECT count(*) FROM events") == String(events))
        #expect(try await sink.scalar("SELECT coalesce(sum(fee_paid), 0) FROM receipts") == String(fees))
        #expect(try await sink.scalar("SELECT height FROM indexer_state") == String(tip))
        #expect(transactions > 0 && events >= transactions)
    }

    @Test func backfillThenReorgEqualsAFreshIndexOfTheNewChain() async throws {
        let pg = try PostgresServer(label: "indexer-reorg")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "indexer-a")
        try await a.produce(through: 40, perBlock: 3)
        #expect(await a.height == 40)
        let followed = try pg.createDatabase("followed")
        let fresh = try pg.createDatabase("fresh")
        try await withRPCServer(a.service) { rpc in
            let ix = try await self.indexer(rpc, followed)
            let report = try await ix.syncToTip()
            #expect(report.height == 40)
            #expect(report.blocks == 41)
            #expect(report.transactions == 120)
            try await self.expectMatchesNode(ix.sink, rpc)
            // Syncing again at the same tip writes nothing.
            let again = try await ix.syncToTip()
            #expect(again.blocks == 0 && again.rolledBack == 0)
            let before = try await ix.sink.checksums()
            // Account 0 sends in every block of this branch; the competing branch never names it.
            let client = try RPCClient(url: rpc)
            let account0 = Address.encode(DevelopmentKeys.account(0).publicKey, hrp: genesis.genesis.addressPrefix)
            func history(_ params: JSONObject) async throws -> [JSON] {
                try #require(try await client.call("account_getHistory", .object(params))["items"]?.array)
            }
            #expect(try await history(["address": .string(account0), "fromHeight": .int(34), "limit": .int(100)]).count >= 3)

            // A longer competing branch from height 33: other senders, so different blocks.
            let b = try IndexedChain(genesis: genesis, label: "indexer-b")
            for h in 1...33 {
                let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
                b.clock.set(a.clock.now)
                guard case .imported = await b.service.importBlock(block) else { Issue.record("B did not import block \(h)"); return }
            }
            try await b.produce(through: 33 + 14, perBlock: 2, senders: 4..<7)
            #expect(await b.height == 47)
            a.clock.set(b.clock.now + 1000)
            for h in 34...47 {
                let block = try #require(try await b.service.canonicalBlock(at: UInt64(h)))
                _ = await a.service.importBlock(block)
            }
            #expect(await a.service.status().tipHash == (await b.service.status().tipHash), "A did not switch to B's branch")

            // The node's address event index lost the reverted blocks' entries and kept the common prefix's.
            #expect(try await history(["address": .string(account0), "fromHeight": .int(34), "limit": .int(100)]).isEmpty)
            let kept = try await history(["address": .string(account0), "toHeight": .int(33), "limit": .int(100), "order": "asc"])
            #expect(!kept.isEmpty && kept.allSatisfy { ($0["blockHeight"]?.uint64 ?? .max) <= 33 })
            let account5 = Address.encode(DevelopmentKeys.account(5).publicKey, hrp: genesis.genesis.addressPrefix)
            #expect(try await history(["address": .string(account5), "fromHeight": .int(34), "kinds": .array(["transfer"]), "limit": .int(100)]).count >= 10)

            let afterReorg = try await ix.syncToTip()
            #expect(afterReorg.rolledBack == 7)
            #expect(afterReorg.height == 47)
            #expect(afterReorg.blocks == 14)
            try await self.expectMatchesNode(ix.sink, rpc)
            // Exactly the rows of a database that only ever saw the new chain.
            let other = try await self.indexer(rpc, fresh)
            try await other.syncToTip()
            let want = try await other.sink.checksums()
            let got = try await ix.sink.checksums()
            #expect(got == want)
            #expect(got["blocks"] != before["blocks"])
            await ix.close()
            await other.close()
        }
    }

    @Test func sigkillMidBackfillThenRestartGivesTheSameRows() async throws {
        let exe = try Paths.sharechain()
        let pg = try PostgresServer(label: "indexer-kill")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let chain = try IndexedChain(genesis: genesis, label: "indexer-kill-chain")
        try await chain.produce(through: 600, perBlock: 6)
        let tip = await chain.height
        let killed = try pg.createDatabase("killed")
        let clean = try pg.createDatabase("clean")
        let logPath = chain.dir.file("indexer.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        try await withRPCServer(chain.service) { rpc in
            func spawn() throws -> Process {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = ["indexer", "--rpc", rpc, "--postgres", killed, "--poll", "0.2", "--progress-every", "1"]
                let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
                h.seekToEndOfFile()
                p.standardOutput = h
                p.standardError = h
                try p.run()
                return p
            }
            let watcher = try await PostgresSink.connect(try PostgresTarget(url: killed), logger: Self.logger)
            func indexedHeight() async -> UInt64? {
                guard let s = try? await watcher.scalar("SELECT height FROM indexer_state WHERE id = 1") else { return nil }
                return UInt64(s)
            }
            var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
            let first = try spawn()
            #expect(await eventually(.seconds(120), every: .milliseconds(5)) { (await indexedHeight() ?? 0) >= 40 }, "no progress: \(log.suffix(2000))")
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            let stoppedAt = try #require(await indexedHeight())
            #expect(stoppedAt < tip, "the first run finished before it was killed; make the chain longer")

            let second = try spawn()
            #expect(await eventually(.seconds(180), every: .milliseconds(100)) { await indexedHeight() == tip }, "restart did not finish: \(log.suffix(2000))")
            kill(second.processIdentifier, SIGTERM)
            second.waitUntilExit()
            #expect(second.terminationStatus == 0, "\(log.suffix(2000))")
            #expect(log.contains("indexing"), "no progress lines in the log")

            let reference = try await self.indexer(rpc, clean)
            try await reference.syncToTip()
            let want = try await reference.sink.checksums()
            let got = try await watcher.checksums()
            #expect(got == want)
            #expect(want.values.allSatisfy { !$0.isEmpty })
            try await self.expectMatchesNode(watcher, rpc)
            await watcher.close()
            await reference.close()
        }
    }

    /// The in-process economy (two honest workers paid through escrows) runs until two windows have paid out;
    /// then the workers stop, and for every window Σ payouts in the database equals the window's `paid` and
    /// the settled `earned` equals the node's.
    @Test func payoutsPerWindowEqualWhatTheNodeReports() async throws {
        let pg = try PostgresServer(label: "indexer-economy")
        let db = try pg.createDatabase("economy")
        let chain = try InProcessChain(label: "indexer-economy")
        let runtime = chain.runtime
        let workers = [chain.worker(0, cheat: 0), chain.worker(1, cheat: 0)]
        let nodeGroup = ServiceGroup(configuration: .init(services: runtime.services().map { .init(service: $0) }, logger: chain.logger))
        let workerGroup = ServiceGroup(configuration: .init(services: workers.map { .init(service: $0) }, logger: chain.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await nodeGroup.run() }
            tasks.addTask { try await workerGroup.run() }
            defer { tasks.cancelAll() }
            let paidOut = await eventually(.seconds(150), every: .milliseconds(500)) {
                guard let r = try? LedgerReader(runtime.chain.readView()), let windows = try? r.windows(0).items else { return false }
                return windows.filter { $0.1.status == .settled && $0.1.paid > .zero }.count >= 2
            }
            #expect(paidOut, "two windows did not pay out in time")
            await workerGroup.triggerGracefulShutdown()
            // Nothing more is claimed once the workers' last transactions are in blocks.
            #expect(await eventually(.seconds(30), every: .milliseconds(200)) { await runtime.chain.status().mempoolTransactions == 0 })
            try await Task.sleep(for: .seconds(2))
            try await withRPCServer(runtime.chain) { rpc in
                let ix = try await self.indexer(rpc, db)
                try await ix.syncToTip()
                let client = try RPCClient(url: rpc)
                let page = try await client.call("window_list", .object(["pool": .int(0), "limit": .int(100)]))
                let windows = try #require(page["items"]?.array)
                var paidWindows = 0
                for w in windows {
                    let index = try #require(w["window"]?.uint64)
                    let paid = try #require(w["paid"]?.string)
                    let sum = try await ix.sink.scalar("SELECT coalesce(sum(paid), 0) FROM payouts WHERE pool = 0 AND window_index = \(index)")
                    #expect(sum == paid, "window \(index): payouts \(sum ?? "-") but the node says paid \(paid)")
                    if w["status"]?.string == "settled" {
                        let earned = try await ix.sink.scalar("SELECT earned FROM windows WHERE pool = 0 AND window_index = \(index)")
                        #expect(earned == w["earned"]?.string, "window \(index) earned")
                    }
                    if paid != "0" { paidWindows += 1 }
                }
                #expect(paidWindows >= 2)
                #expect(try await ix.sink.scalar("SELECT count(*) FROM payouts WHERE paid > 0") != "0")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM tickets") != "0")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM escrows") != "0")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM pools") == "1")
                await ix.close()
            }
            await nodeGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Two indexers on one database (an operator mistake) serialize on `indexer_state`: the rows equal one run's.
    @Test func twoIndexersOnOneDatabaseWriteEachBlockOnce() async throws {
        let pg = try PostgresServer(label: "indexer-two")
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let chain = try IndexedChain(genesis: genesis, label: "indexer-two-chain")
        try await chain.produce(through: 150, perBlock: 4)
        let shared = try pg.createDatabase("shared")
        let single = try pg.createDatabase("single")
        try await withRPCServer(chain.service) { rpc in
            let first = try await self.indexer(rpc, shared)
            let second = try await self.indexer(rpc, shared)
            let reference = try await self.indexer(rpc, single)
            do {
                async let a = first.syncToTip()
                async let b = second.syncToTip()
                let (ra, rb) = try await (a, b)
                #expect(ra.height == 150 && rb.height == 150)
                #expect(ra.blocks + rb.blocks == 151, "\(ra.blocks) + \(rb.blocks) blocks written")
                try await reference.syncToTip()
                #expect(try await first.sink.checksums() == (try await reference.sink.checksums()))
            } catch {
                // Connections must be closed on every path (PostgresNIO asserts on an unclosed one).
                await first.close(); await second.close(); await reference.close()
                throw error
            }
            await first.close()
            await second.close()
            await reference.close()
        }
    }

    @Test func migrationsAreRecordedAndGarbageIsRefusedClearly() async throws {
        let pg = try PostgresServer(label: "indexer-misc")
        let url = try pg.createDatabase("misc")
        let sink = try await PostgresSink.connect(try PostgresTarget(url: url), logger: Self.logger)
        #expect(try await sink.migrate() == IndexerSchema.version)
        #expect(try await sink.migrate() == IndexerSchema.version)
        #expect(try await sink.scalar("SELECT count(*) FROM schema_version") == String(IndexerSchema.migrations.count))
        // A database from a newer build is refused.
        try await sink.run("INSERT INTO schema_version (version, description) VALUES (999, 'future')")
        await #expect(throws: IndexerError.schemaTooNew(stored: 999, supported: IndexerSchema.version)) { try await sink.migrate() }
        // COPY text format: backslashes, tabs, newlines and NULL survive the round trip.
        try await sink.execute("CREATE TABLE escapes (id integer PRIMARY KEY, t text, j jsonb, b bytea)")
        var rows = TableRows("escapes", [("id", "integer"), ("t", "text"), ("j", "jsonb"), ("b", "bytea")])
        let tricky = "a\\b\tc\nd\re \\N ü"
        rows.add(["1", tricky, JSONWriter.string(.object(["k": .string(tricky)])), "\\xdeadbeef"])
        rows.add(["2", nil, nil, nil])
        try await sink.copy(rows)
        #expect(try await sink.scalar("SELECT t FROM escapes WHERE id = 1") == tricky)
        #expect(try await sink.scalar("SELECT j->>'k' FROM escapes WHERE id = 1") == tricky)
        #expect(try await sink.scalar("SELECT encode(b, 'hex') FROM escapes WHERE id = 1") == "deadbeef")
        #expect(try await sink.scalar("SELECT t IS NULL AND j IS NULL FROM escapes WHERE id = 2") == "true")
        var inserted = TableRows("escapes", [("id", "integer"), ("t", "text"), ("j", "jsonb"), ("b", "bytea")])
        inserted.add(["3", tricky, "[1]", "\\x00ff"])
        inserted.add(["1", "ignored", nil, nil])
        try await sink.insert(inserted, onConflict: "DO NOTHING")
        #expect(try await sink.scalar("SELECT t FROM escapes WHERE id = 3") == tricky)
        #expect(try await sink.scalar("SELECT t FROM escapes WHERE id = 1") == tricky)
        #expect(try await sink.scalar("SELECT encode(b, 'hex') FROM escapes WHERE id = 3") == "00ff")
        await sink.close()
        // PostgreSQL down: a clear error, not a crash.
        pg.stop()
        do {
            _ = try await PostgresSink.connect(try PostgresTarget(url: url), logger: Self.logger)
            Issue.record("connected to a stopped server")
        } catch {
            #expect("\(error)".contains("cannot connect"))
        }
        #expect(throws: IndexerError.self) { try PostgresTarget(url: "mysql://x@y/z") }
        #expect(throws: IndexerError.self) { try PostgresTarget(url: "postgres://host/db") }
        #expect(try PostgresTarget(url: "postgres://u:p%40ss@[::1]:6543/db") == PostgresTarget(host: "::1", port: 6543, username: "u", password: "p@ss", database: "db"))
        // A node that answers nothing useful.
        let source = try NodeSource(url: "http://127.0.0.1:1")
        await #expect(throws: IndexerError.self) { try await source.tipHeight() }
    }
}

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

    /// Produces a block in every slot through `lastSlot`, each with `perBlock` transfers among `senders`, plus
    /// `extra(slot)` (transactions of other accounts, with their own nonces).
    func produce(through lastSlot: UInt64, perBlock: Int, senders: Range<Int> = 0..<4,
                 extra: (UInt64) -> [SignedTransaction] = { _ in [] }) async throws {
        var nonces = self.nonces
        let chainId = genesis.genesis.chainId
        try await genesis.produce(on: service, through: lastSlot, clock: clock, identities: &identities) { slot in
            extra(slot) + (0..<perBlock).map { i in
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

/// An escrow transaction of development account `account` (its nonce given: these accounts send nothing else).
func escrowTransaction(_ genesis: TestGenesis, account: Int, nonce: UInt64, _ body: TxBody) -> SignedTransaction {
    let key = DevelopmentKeys.account(account)
    return Transaction(chainId: genesis.genesis.chainId, sender: key.publicKey, nonce: nonce, fee: 10_000, body: body).signed(by: key)
}

@Suite(.serialized, .tags(.system)) struct IndexerTests {
    static let logger = testLogger("indexer")

    func indexer(_ rpc: String, _ postgres: String) async throws -> ChainIndexer {
        var config = IndexerConfiguration(rpcURL: rpc, postgres: try PostgresTarget(url: postgres))
        config.pollInterval = .milliseconds(200)
        return try await ChainIndexer.start(config, logger: Self.logger)
    }

    /// Runs `body` with an indexer on `postgres` and closes its connection on every path (PostgresNIO asserts,
    /// crashing the whole test process, when a connection is released unclosed).
    func withIndexer<T>(_ rpc: String, _ postgres: String, _ body: (ChainIndexer) async throws -> T) async throws -> T {
        let ix = try await indexer(rpc, postgres)
        do {
            let value = try await body(ix)
            await ix.close()
            return value
        } catch {
            await ix.close()
            throw error
        }
    }

    func withSink<T>(_ postgres: String, _ body: (PostgresSink) async throws -> T) async throws -> T {
        try await withPostgresSink(postgres, logger: Self.logger, body)
    }

    /// The account and escrow state the database holds, against what the node reports at the indexed height: every
    /// account's balance, nonce, stake and unbonding (`account_get`), every escrow's balance, allocation, charges,
    /// status and expiry (`escrow_get`), and Σ balances over each owner's escrows (`escrow_list`). Returns the
    /// numbers of accounts and escrows compared.
    @discardableResult
    func expectStateMatchesNode(_ sink: PostgresSink, _ rpc: String) async throws -> (accounts: Int, escrows: Int) {
        let client = try RPCClient(url: rpc)
        let heightText = try await sink.scalar("SELECT height FROM indexer_state")
        let height = try #require(heightText.flatMap { UInt64($0) })
        let addresses = (try await sink.scalar("SELECT string_agg(address, ',' ORDER BY address) FROM accounts") ?? "")
            .split(separator: ",").map(String.init)
        var nodeTotal: UInt64 = 0
        for address in addresses {
            let a = try await client.call("account_get", .array([.string(address), .int(height)]))
            let state = try AccountState(accountGet: a)
            let row = try #require(try await sink.scalar("""
                SELECT concat_ws('/', balance, nonce, staked, unbonding, (updated_height <= \(height))::text) FROM accounts WHERE address = '\(address)'
                """))
            #expect(row == "\(state.balance ?? "-")/\(state.nonce ?? "-")/\(state.staked ?? "-")/\(state.unbonding ?? "-")/true",
                    "account \(address) at \(height)")
            nodeTotal += UInt64(state.balance ?? "0") ?? 0
        }
        #expect(try await sink.scalar("SELECT coalesce(sum(balance), 0) FROM accounts") == String(nodeTotal), "Σ account balances")
        #expect(try await sink.scalar("SELECT count(*) FROM accounts WHERE balance IS NULL") == "0")

        // A closed escrow is deleted from the node's state (state-machine.md §3.2): the database keeps its row (from
        // its events), and the node no longer knows it.
        let closed = (try await sink.scalar("SELECT string_agg('0x' || encode(escrow_id, 'hex'), ',' ORDER BY escrow_id) FROM escrows WHERE status = 'closed'") ?? "")
            .split(separator: ",").map(String.init)
        for id in closed {
            await #expect(throws: (any Error).self, "closed escrow \(id) is still in the node's state at \(height)") {
                try await client.call("escrow_get", .array([.string(id), .int(height)]))
            }
        }
        let escrows = (try await sink.scalar("SELECT string_agg('0x' || encode(escrow_id, 'hex'), ',' ORDER BY escrow_id) FROM escrows WHERE status <> 'closed'") ?? "")
            .split(separator: ",").map(String.init)
        for id in escrows {
            let e = try await client.call("escrow_get", .array([.string(id), .int(height)]))
            let want = [e["balance"]?.string, e["allocated"]?.string, e["totalCharged"]?.string, e["shortfall"]?.string, e["status"]?.string,
                        e["expiryHeight"]?.uint64.map(String.init), e["unlockHeight"]?.uint64.map(String.init) ?? "-"].map { $0 ?? "?" }
            let got = try await sink.scalar("""
                SELECT concat_ws('/', balance, allocated, total_charged, shortfall, status, expiry_height, coalesce(unlock_height::text, '-'))
                FROM escrows WHERE escrow_id = '\\x\(id.dropFirst(2))'::bytea
                """)
            #expect(got == want.joined(separator: "/"), "escrow \(id) at \(height)")
        }
        // Σ over every owner's escrows as the node lists them (a different read path from escrow_get).
        let owners = (try await sink.scalar("SELECT string_agg(DISTINCT owner, ',') FROM escrows WHERE status <> 'closed'") ?? "").split(separator: ",").map(String.init)
        var listed = 0
        var listedBalance: UInt64 = 0, listedCharged: UInt64 = 0, listedDeposits: UInt64 = 0
        for owner in owners {
            var cursor: JSON = .null
            repeat {
                let page = try await client.call("escrow_list", .object(["owner": .string(owner), "limit": .int(100), "cursor": cursor, "block": .int(height)]))
                for item in try #require(page["items"]?.array) {
                    listed += 1
                    listedBalance += UInt64(item["balance"]?.string ?? "") ?? .max / 4
                    listedCharged += UInt64(item["totalCharged"]?.string ?? "") ?? .max / 4
                    listedDeposits += (UInt64(item["balance"]?.string ?? "") ?? .max / 4) + (UInt64(item["totalCharged"]?.string ?? "") ?? 0)
                }
                cursor = page["nextCursor"] ?? .null
            } while cursor != .null
        }
        #expect(listed == escrows.count, "the node lists \(listed) escrows of these owners, the database holds \(escrows.count)")
        #expect(try await sink.scalar("SELECT coalesce(sum(balance), 0) FROM escrows WHERE status <> 'closed'") == String(listedBalance), "Σ escrow balances")
        #expect(try await sink.scalar("SELECT coalesce(sum(total_charged), 0) FROM escrows WHERE status <> 'closed'") == String(listedCharged), "Σ escrow charges")
        // Deposits are rows: Σ opening deposits and top-ups of the escrows not closed = the node's Σ (balance + charged) of them.
        #expect(try await sink.scalar("""
            SELECT coalesce(sum(amount), 0) FROM escrow_events WHERE type IN ('escrowOpened', 'escrowToppedUp')
                AND escrow_id IN (SELECT escrow_id FROM escrows WHERE status <> 'closed')
            """) == String(listedDeposits), "Σ deposits of open escrows")
        return (addresses.count, escrows.count + closed.count)
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
        // Account 7 (no transfers on branch A) keeps escrows: opened, topped up, one unlocking, an allocation, and a
        // top-up above the fork point that the reorg must take back out of the escrow's balance.
        let owner = DevelopmentKeys.account(7).publicKey
        let e1 = LedgerIds.escrow(owner: owner, nonce: 0), e2 = LedgerIds.escrow(owner: owner, nonce: 1), e3 = LedgerIds.escrow(owner: owner, nonce: 2)
        let escrowsA: [UInt64: TxBody] = [
            5: .escrowOpen(pool: 0, amount: Amount(5000), expiryHeight: 10_000),
            6: .escrowOpen(pool: 0, amount: Amount(300), expiryHeight: 15),
            8: .escrowOpen(pool: 0, amount: Amount(1000), expiryHeight: 10_000),
            20: .escrowTopUp(escrowId: e1, amount: Amount(700), newExpiryHeight: nil),
            22: .escrowClose(escrowId: e2),
            30: .escrowAllocate(escrowId: e1, payee: DevelopmentKeys.account(5).publicKey, amount: Amount(400)),
            36: .escrowTopUp(escrowId: e1, amount: Amount(900), newExpiryHeight: 20_000),
            // Only on branch A, and e3 is not touched on B: the rollback alone must restore it.
            38: .escrowTopUp(escrowId: e3, amount: Amount(50), newExpiryHeight: nil),
        ]
        let order = escrowsA.keys.sorted()
        try await a.produce(through: 40, perBlock: 3) { slot in
            guard let body = escrowsA[slot], let n = order.firstIndex(of: slot) else { return [] }
            return [escrowTransaction(genesis, account: 7, nonce: UInt64(n), body)]
        }
        #expect(await a.height == 40)
        let followed = try pg.createDatabase("followed")
        let fresh = try pg.createDatabase("fresh")
        try await withRPCServer(a.service) { rpc in
            try await self.withIndexer(rpc, followed) { ix in
                let report = try await ix.syncToTip()
                #expect(report.height == 40)
                #expect(report.blocks == 41)
                #expect(report.transactions == 128)
                try await self.expectMatchesNode(ix.sink, rpc)
                let counted = try await self.expectStateMatchesNode(ix.sink, rpc)
                #expect(counted.escrows == 3 && counted.accounts >= 9)
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', balance, allocated, deposited, expiry_height, status) FROM escrows WHERE escrow_id = '\\x\(e1.hex)'::bytea") == "6600/400/6600/20000/open")
                #expect(try await ix.sink.scalar("SELECT status FROM escrows WHERE escrow_id = '\\x\(e2.hex)'::bytea") == "unlocking")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM escrow_events WHERE type = 'escrowToppedUp'") == "3")
                #expect(try await ix.sink.scalar("SELECT balance FROM escrows WHERE escrow_id = '\\x\(e3.hex)'::bytea") == "1050")
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
                let balance0AtFork = try await client.call("account_get", .array([.string(account0), .int(33)]))["balance"]?.string

                // A longer competing branch from height 33: other senders, so different blocks; account 7 tops up e1 once more.
                let b = try IndexedChain(genesis: genesis, label: "indexer-b")
                for h in 1...33 {
                    let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
                    b.clock.set(a.clock.now)
                    guard case .imported = await b.service.importBlock(block) else { Issue.record("B did not import block \(h)"); return }
                }
                try await b.produce(through: 33 + 14, perBlock: 2, senders: 4..<7) { slot in
                    slot == 40 ? [escrowTransaction(genesis, account: 7, nonce: 6, .escrowTopUp(escrowId: e1, amount: Amount(111), newExpiryHeight: nil))] : []
                }
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
                try await self.expectStateMatchesNode(ix.sink, rpc)
                // Account 0 is not named on the new branch: its row is back at its state as of the fork point.
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', balance, (updated_height <= 33)::text) FROM accounts WHERE address = '\(account0)'")
                        == "\(balance0AtFork ?? "?")/true")
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', balance, allocated, expiry_height) FROM escrows WHERE escrow_id = '\\x\(e1.hex)'::bytea") == "5811/400/10000")
                #expect(try await ix.sink.scalar("SELECT concat_ws('/', balance, deposited) FROM escrows WHERE escrow_id = '\\x\(e3.hex)'::bytea") == "1000/1000")
                // Exactly the rows of a database that only ever saw the new chain.
                let want = try await self.withIndexer(rpc, fresh) { other in
                    try await other.syncToTip()
                    return try await other.sink.checksums()
                }
                let got = try await ix.sink.checksums()
                #expect(got == want)
                #expect(got["blocks"] != before["blocks"])
                #expect(got["accounts"] != before["accounts"] && got["escrows"] != before["escrows"])
            }
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
            try await self.withSink(killed) { watcher in
                func indexedHeight() async -> UInt64? {
                    guard let s = try? await watcher.scalar("SELECT height FROM indexer_state WHERE id = 1") else { return nil }
                    return UInt64(s)
                }
                var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
                let first = try spawn()
                defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
                #expect(await eventually(.seconds(120), every: .milliseconds(5)) { (await indexedHeight() ?? 0) >= 40 }, "no progress: \(log.suffix(2000))")
                kill(first.processIdentifier, SIGKILL)
                first.waitUntilExit()
                let stoppedAt = try #require(await indexedHeight())
                #expect(stoppedAt < tip, "the first run finished before it was killed; make the chain longer")

                let started = ContinuousClock.now
                let second = try spawn()
                defer { if second.isRunning { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() } }
                #expect(await eventually(.seconds(180), every: .milliseconds(100)) { await indexedHeight() == tip }, "restart did not finish: \(log.suffix(2000))")
                let elapsed = ContinuousClock.now - started
                kill(second.processIdentifier, SIGTERM)
                second.waitUntilExit()
                #expect(second.terminationStatus == 0, "\(log.suffix(2000))")
                #expect(log.contains("indexing"), "no progress lines in the log")
                // End to end through the node's RPC (blocks, results and every touched account's state per block).
                let resumed = tip - stoppedAt
                let transactions = try await watcher.scalar("SELECT count(*) FROM transactions WHERE height > \(stoppedAt)") ?? "0"
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                print("indexer restart: \(resumed) blocks, \(transactions) transactions, \(try await watcher.scalar("SELECT count(*) FROM account_history WHERE height > \(stoppedAt)") ?? "?") account states in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", (Double(transactions) ?? 0) / seconds)) tx/s, includes process start and the 100 ms poll)")

                let want = try await self.withIndexer(rpc, clean) { reference in
                    try await reference.syncToTip()
                    return try await reference.sink.checksums()
                }
                let got = try await watcher.checksums()
                #expect(got == want)
                #expect(want.values.allSatisfy { !$0.isEmpty })
                try await self.expectMatchesNode(watcher, rpc)
                try await self.expectStateMatchesNode(watcher, rpc)
            }
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
            try await withRPCServer(runtime.chain) { rpc in try await self.withIndexer(rpc, db) { ix in
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
                // Escrow balances (deposits, top-ups, charged usage) and every account's state equal the node's at
                // the indexed height.
                let counted = try await self.expectStateMatchesNode(ix.sink, rpc)
                // How many escrows the clients have opened by now depends on timing (one serves both workers through
                // its allocations); every one of them was compared above.
                #expect(counted.escrows >= 1, "\(counted.escrows) escrows")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM escrow_events WHERE type = 'usageClaimed'") != "0")
                #expect(try await ix.sink.scalar("SELECT count(*) FROM accounts WHERE staked > 0") != "0")
            } }
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
            try await self.withIndexer(rpc, shared) { first in try await self.withIndexer(rpc, shared) { second in
                try await self.withIndexer(rpc, single) { reference in
                    async let a = first.syncToTip()
                    async let b = second.syncToTip()
                    let (ra, rb) = try await (a, b)
                    #expect(ra.height == 150 && rb.height == 150)
                    #expect(ra.blocks + rb.blocks == 151, "\(ra.blocks) + \(rb.blocks) blocks written")
                    try await reference.syncToTip()
                    #expect(try await first.sink.checksums() == (try await reference.sink.checksums()))
                }
            } }
        }
    }

    @Test func migrationsAreRecordedAndGarbageIsRefusedClearly() async throws {
        let pg = try PostgresServer(label: "indexer-misc")
        let url = try pg.createDatabase("misc")
        try await withSink(url) { sink in
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
        }
        // A version-1 database: migration 2 adds the account and escrow state and folds the escrow events already in
        // `events` into escrow rows (accounts stay unknown until a block touches them).
        let v1 = try pg.createDatabase("v1")
        try await withSink(v1) { sink in
            try await sink.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for statement in IndexerSchema.migrations[0].statements { try await sink.execute(statement) }
            try await sink.execute("INSERT INTO schema_version (version, description) VALUES (1, 'v1')")
            let id = String(repeating: "ab", count: 32)
            try await sink.execute("INSERT INTO accounts VALUES ('shr1old', 3)")
            try await sink.execute("INSERT INTO escrows VALUES ('\\x\(id)', 'shr1old', 0, 500, 100, 3, NULL, NULL)")
            for (h, type, data) in [(3, "escrowOpened", #"{"type":"escrowOpened","escrowId":"0x\#(id)","owner":"shr1old","pool":0,"amount":"500","expiryHeight":100}"#),
                                    (4, "escrowToppedUp", #"{"type":"escrowToppedUp","escrowId":"0x\#(id)","amount":"250","expiryHeight":120}"#),
                                    (5, "escrowAllocated", #"{"type":"escrowAllocated","escrowId":"0x\#(id)","payee":"shr1w","amount":"300"}"#),
                                    (6, "usageClaimed", #"{"type":"usageClaimed","escrowId":"0x\#(id)","payee":"shr1w","pool":0,"shard":0,"window":0,"charged":"40","fee":"2","shortfall":"5"}"#)] {
                try await sink.execute("INSERT INTO events VALUES (\(h), 0, 0, NULL, '\(type)', '\(data)')")
            }
            #expect(try await sink.migrate() == IndexerSchema.version)
            #expect(try await sink.scalar("SELECT count(*) FROM escrow_events") == "4")
            #expect(try await sink.scalar("SELECT concat_ws('/', balance, allocated, total_charged, shortfall, deposited, expiry_height, status) FROM escrows")
                    == "710/260/40/5/750/120/open")
            #expect(try await sink.scalar("SELECT balance IS NULL AND updated_height IS NULL FROM accounts") == "true")
        }
        // PostgreSQL down: a clear error, not a crash.
        pg.stop()
        do {
            let unexpected = try await PostgresSink.connect(try PostgresTarget(url: url), logger: Self.logger)
            await unexpected.close()
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

/// Runs `body` with a plain connection to the PostgreSQL at `url`, closed on every path (an unclosed connection trips
/// a PostgresNIO assertion that ends the whole test run).
func withPostgresSink<T>(_ url: String, logger: Logger, _ body: (PostgresSink) async throws -> T) async throws -> T {
    let sink = try await PostgresSink.connect(try PostgresTarget(url: url), logger: logger)
    do {
        let value = try await body(sink)
        await sink.close()
        return value
    } catch {
        await sink.close()
        throw error
    }
}

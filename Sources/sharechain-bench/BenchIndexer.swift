import ArgumentParser
import Foundation
import Indexer
import Logging
import Primitives
import RPC

/// `sharechain-bench indexer`: backfill throughput of the PostgreSQL indexer (Specs/indexer.md) — node answers
/// turned into rows and written one block per transaction, exactly as `sharechain indexer` does — beside a
/// raw bulk `COPY` of the same rows into tables of the same shape, measured in the same run.
struct BenchIndexer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indexer",
        abstract: "Indexer backfill into PostgreSQL (transactions/s) beside a raw COPY of the same rows.",
        discussion: """
            Needs a PostgreSQL database it may write to (it creates and drops the schemas bench_indexer and \
            bench_raw). The blocks are synthetic node answers (chain_getBlockByNumber with full transactions, \
            chain_getBlockResults): transfers, each with its transfer and fee events, and a block-processing \
            receipt, with fixed account states attached; RPC fetching (blocks, account_get) is not part of the figure.

            Example: sharechain-bench indexer --postgres postgres://sharechain@127.0.0.1:5432/bench
            """)

    @Option(help: "PostgreSQL URL (postgres://user[:password]@host[:port]/database).") var postgres: String
    @Option(help: "Blocks to index.") var blocks: Int = 100
    @Option(help: "Transactions per block.") var transactionsPerBlock: Int = 500

    func validate() throws {
        try requireOptions(atLeast: 1, ["--blocks": blocks, "--transactions-per-block": transactionsPerBlock])
    }

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let target = try PostgresTarget(url: postgres)
        let answers = Self.synthesize(blocks: blocks, perBlock: transactionsPerBlock)
        let chainId = "0x" + String(repeating: "ab", count: 32)
        let total = blocks * transactionsPerBlock
        print("indexer backfill: \(blocks) blocks × \(transactionsPerBlock) transfers = \(total) transactions (2 events each)")

        // The indexer's path: build rows from the answers, one PostgreSQL transaction per block.
        let sink = try await PostgresSink.connect(target, logger: logger)
        try await sink.execute("DROP SCHEMA IF EXISTS bench_indexer CASCADE")
        try await sink.execute("DROP SCHEMA IF EXISTS bench_raw CASCADE")
        try await sink.execute("CREATE SCHEMA bench_indexer")
        try await sink.execute("SET search_path TO bench_indexer")
        try await sink.migrate()
        var built = [BlockRows]()
        built.reserveCapacity(blocks)
        let clock = ContinuousClock()
        let indexed = try await clock.measure {
            for (block, results) in answers {
                var rows = try BlockRows(block: block, results: results)
                // What account_get would answer for each touched account (fetching is not part of the figure).
                try rows.attach(rows.touchedAddresses.map { AccountState(address: $0, balance: "1000000", nonce: 7, staked: "0", unbonding: "0") })
                try await sink.apply(rows, chainId: chainId)
                built.append(rows)
            }
        }
        let rowCount = built.reduce(0) { $0 + $1.rowCount }
        guard try await sink.scalar("SELECT count(*) FROM transactions") == String(total) else {
            throw ValidationError("the indexer did not write every transaction")
        }

        // The baseline: the same rows, one bulk COPY per table into tables of the same shape, one transaction.
        try await sink.execute("CREATE SCHEMA bench_raw")
        for t in IndexerSchema.dataTables { try await sink.execute("CREATE TABLE bench_raw.\(t) (LIKE bench_indexer.\(t) INCLUDING ALL)") }
        try await sink.execute("SET search_path TO bench_raw")
        var merged = [String: TableRows]()
        for b in built {
            let accounts = b.accountRows.map { [$0.history, $0.accounts] } ?? []
            for t in b.appended + b.inserted + accounts {
                if var m = merged[t.table] { m.rows += t.rows; merged[t.table] = m } else { merged[t.table] = t }
            }
        }
        let raw = try await clock.measure {
            try await sink.execute("BEGIN")
            for t in merged.values.sorted(by: { $0.table < $1.table }) {
                var unique = t
                if t.table == "accounts" { unique.rows = Array(Dictionary(t.rows.map { ($0[0] ?? "", $0) }, uniquingKeysWith: { _, b in b }).values) }
                try await sink.copy(unique)
            }
            try await sink.execute("COMMIT")
        }
        try await sink.execute("SET search_path TO public")
        try await sink.execute("DROP SCHEMA bench_indexer CASCADE")
        try await sink.execute("DROP SCHEMA bench_raw CASCADE")
        await sink.close()

        let ix = Double(total) / indexed.seconds, rx = Double(total) / raw.seconds
        print(String(format: "  indexer (rows built from JSON, COPY per table, one transaction per block): %8.0f tx/s  %8.0f rows/s  (%.2f s)",
                     ix, Double(rowCount) / indexed.seconds, indexed.seconds))
        print(String(format: "  raw COPY of the same rows (one COPY per table, one transaction):            %8.0f tx/s  %8.0f rows/s  (%.2f s)",
                     rx, Double(rowCount) / raw.seconds, raw.seconds))
        print(String(format: "  indexer / raw: %.0f %%   (target: ≥ 5000 tx/s)", 100 * ix / rx))
    }

    /// Node answers for a chain of transfers, as `chain_getBlockByNumber(h, true)` and `chain_getBlockResults(h)` render them.
    static func synthesize(blocks: Int, perBlock: Int) -> [(JSON, JSON)] {
        func hash(_ parts: Int...) -> String { "0x" + SHA256.hash(Array(parts.map(String.init).joined(separator: "/").utf8)).hex }
        let accounts = (0..<64).map { "shr1bench" + String(repeating: "q", count: 48) + String(format: "%04d", $0) }
        var out = [(JSON, JSON)]()
        var parent = "0x" + String(repeating: "00", count: 32)
        var nonce = [Int](repeating: 0, count: accounts.count)
        for h in 0..<blocks {
            let blockHash = hash(1, h)
            var txs = [JSON]()
            var receipts = [JSON]()
            for i in 0..<perBlock {
                let from = (h * perBlock + i) % accounts.count, to = (from + 1) % accounts.count
                let txHash = hash(2, h, i)
                txs.append(.object([
                    "hash": .string(txHash), "sender": .string(accounts[from]), "nonce": .int(nonce[from]), "fee": .string("200"),
                    "kind": "transfer", "body": .object(["to": .string(accounts[to]), "amount": .string(String(1000 + i))]),
                    "signature": .string("0x" + String(repeating: "11", count: 64)), "size": .int(150),
                    "chainId": .string("0x" + String(repeating: "ab", count: 32)), "blockHash": .string(blockHash), "blockHeight": .int(h),
                    "position": .int(i),
                ]))
                nonce[from] += 1
                receipts.append(.object([
                    "transactionHash": .string(txHash), "kind": "transaction", "index": .int(i), "blockHash": .string(blockHash),
                    "blockHeight": .int(h), "status": "success", "failure": .null, "feePaid": "200",
                    "events": .array([
                        .object(["type": "transfer", "from": .string(accounts[from]), "to": .string(accounts[to]), "amount": .string(String(1000 + i))]),
                        .object(["type": "feePaid", "payer": .string(accounts[from]), "proposer": .string(accounts[0]), "amount": "200"]),
                    ]),
                ]))
            }
            receipts.append(.object([
                "transactionHash": .null, "kind": "blockProcessing", "index": .int(perBlock), "blockHash": .string(blockHash),
                "blockHeight": .int(h), "status": "success", "failure": .null, "feePaid": "0", "events": .array([]),
            ]))
            let block = JSON.object([
                "hash": .string(blockHash), "height": .int(h), "slot": .int(h), "parent": .string(parent), "timestamp": .int(1_700_000_000_000 + h * 10_000),
                "proposer": .string(accounts[0]), "size": .int(150 * perBlock + 300), "canonical": .bool(true), "finalized": .bool(false),
                "transactionCount": .int(perBlock), "transactions": .array(txs),
            ])
            let results = JSON.object([
                "blockHash": .string(blockHash), "blockHeight": .int(h), "eventCount": .int(2 * perBlock), "receipts": .array(receipts),
            ])
            out.append((block, results))
            parent = blockHash
        }
        return out
    }
}

import Foundation
import Synchronization
import Testing
@testable import Indexer
@testable import Primitives
import RPC
import TestSupport

/// The eighteenth session's indexer audit, the parts that need no PostgreSQL: the accounts a block touches, the pool
/// listing of a lying node, and the database URL. The PostgreSQL parts are in SystemTests (`IndexerReviewTests`,
/// `IndexerStateSyncTests`).
@Suite struct IndexerReview18Tests {
    static func hash(_ label: String) -> String { "0x" + SHA256.hash(Array(label.utf8)).hex }

    /// A hop challenge's bond goes back to its challenger in the block that settles it, named only as `challenger`
    /// (unanswered: block processing) or `bondTo` (answered with a reused pass: the worker's transaction). The
    /// challenger's `accounts` row and `account_history` stayed at the bond's debit until a later block named it.
    @Test func aHopChallengeBondRefundTouchesTheChallenger() throws {
        let worker = "shr1worker", sender = "shr1sender", unanswered = "shr1challenger", answered = "shr1bondto"
        let tx = JSON.object(["hash": .string(Self.hash("tx")), "sender": .string(sender), "nonce": .int(0), "fee": "1", "kind": "answerHop",
                              "size": .int(200), "body": .object([:])])
        let event = { (type: String, members: JSONObject) -> JSON in
            var o = members
            o["type"] = .string(type)
            return .object(o)
        }
        let receipts: [JSON] = [
            .object(["kind": "answerHop", "transactionHash": .string(Self.hash("tx")), "status": "succeeded", "feePaid": "1", "events": .array([
                event("hopChallengeAnswered", ["challengeId": .string(Self.hash("c1")), "ticketId": .string(Self.hash("t")),
                                               "bondTo": .string(answered), "bond": "10"]),
            ])]),
            .object(["kind": "blockProcessing", "status": "succeeded", "feePaid": "0", "events": .array([
                event("hopChallengeUnanswered", ["challengeId": .string(Self.hash("c2")), "worker": .string(worker),
                                                 "challenger": .string(unanswered), "bond": "10"]),
            ])]),
        ]
        let block = JSON.object(["height": .int(5), "hash": .string(Self.hash("b5")), "parent": .string(Self.hash("b4")), "slot": .int(5),
                                 "timestamp": .int(1_700_000_000_000), "proposer": .string(worker), "size": .int(100),
                                 "transactions": .array([tx])])
        let results = JSON.object(["blockHash": .string(Self.hash("b5")), "blockHeight": .int(5), "receipts": .array(receipts),
                                   "eventCount": .int(2)])
        let rows = try BlockRows(block: block, results: results)
        #expect(rows.touchedAddresses.contains(unanswered), "\(rows.touchedAddresses)")
        #expect(rows.touchedAddresses.contains(answered), "\(rows.touchedAddresses)")
        #expect(rows.touchedAddresses.contains(sender) && rows.touchedAddresses.contains(worker))
    }

    /// `pool_list` pages from a node that lies: a cursor that comes back (with or without items), or a pool listed
    /// twice, end the read with a bad-answer error; they looped for ever (growing memory with items), or failed later
    /// in PostgreSQL's upsert blaming the database. An honest two-page listing still reads.
    @Test(.timeLimit(.minutes(10))) func aPoolListingThatNeverEndsOrRepeatsIsRefused() async throws {
        @Sendable func pool(_ id: UInt64) -> JSON {
            .object(["id": .int(id), "modelId": "m", "executorSpec": "canon-f32-v1", "windowBlocks": .int(30), "challengeBlocks": .int(10)])
        }
        let cases: [(String, @Sendable (JSON) -> JSON, Bool)] = [
            ("empty pages, the same cursor", { _ in .object(["items": .array([]), "nextCursor": "again"]) }, false),
            ("new items, the same cursor", { params in
                let n = UInt64(params["cursor"]?.string?.count ?? 0)
                return .object(["items": .array([pool(n)]), "nextCursor": "again"])
            }, false),
            ("a pool twice", { params in
                params["cursor"] == .null ? .object(["items": .array([pool(1)]), "nextCursor": "2"]) : .object(["items": .array([pool(1)])])
            }, false),
            ("honest", { params in
                params["cursor"] == .null ? .object(["items": .array([pool(1)]), "nextCursor": "2"]) : .object(["items": .array([pool(2)])])
            }, true),
        ]
        for (name, answer, honest) in cases {
            let node = try LyingNode { method, params in method == "pool_list" ? answer(params) : nil }
            defer { node.stop() }
            let source = try NodeSource(url: "http://127.0.0.1:\(node.port)", timeout: LyingNodeTests.patience)
            let result: Result<TableRows, IndexerError>
            do throws(IndexerError) { result = .success(try await source.pools()) } catch { result = .failure(error) }
            switch result {
            case .success(let rows): #expect(honest && rows.rows.count == 2, "\(name): \(rows.rows.count) rows")
            case .failure(let e):
                #expect(!honest, "\(name): \(e)")
                guard case .malformed = e else { Issue.record("\(name): \(e)"); continue }
            }
            #expect(node.calls.withLock { $0.count } <= 3, "\(name): \(node.calls.withLock { $0.count }) calls")
        }
    }

    /// A '%' in the password that is not an escape made the decoded password nil: the indexer then connected with
    /// PGPASSWORD's (or the password file's) as if the URL held none. The database name's escapes are decoded (the spec
    /// says so); an unbracketed IPv6 address was host ":" and port 1.
    @Test func postgresURLEdges() throws {
        for url in ["postgres://u:50%off@h/db", "postgres://u:100%@h/db", "postgres://u@h/my%zzdb", "postgres://u@::1/db",
                    "postgres://u@fe80::1:5432/db"] {
            #expect(throws: IndexerError.self, "\(url)") { try PostgresTarget(url: url) }
        }
        do {
            _ = try PostgresTarget(url: "postgres://u:50%off@h/db")
        } catch {
            #expect(!error.description.contains("50%off") && error.description.contains("%25"), "\(error)")
        }
        #expect(try PostgresTarget(url: "postgres://u:50%25off@h/db").password == "50%off")
        #expect(try PostgresTarget(url: "postgres://u@h/my%20db").database == "my db")
        #expect(try PostgresTarget(url: "postgres://u@[::1]:6000/db") == PostgresTarget(host: "::1", port: 6000, username: "u", password: nil, database: "db"))
    }
}

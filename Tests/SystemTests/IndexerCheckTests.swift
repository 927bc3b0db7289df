import Foundation
import Logging
import Testing
@testable import Indexer
@testable import Primitives
import RPC
import TestSupport

/// A synthetic chain of blocks whose block-processing receipts carry the sealed-check events (the node's JSON,
/// Specs/rpc.md), for the indexer's `checks` and `check_answers` tables.
struct CheckEventChain {
    static func hash(_ label: String) -> String { "0x" + SHA256.hash(Array(label.utf8)).hex }
    static let worker = "shr1worker0000000000000000000000000000000000000000000000000000"
    static let a = "shr1checkera000000000000000000000000000000000000000000000000000"
    static let b = "shr1checkerb000000000000000000000000000000000000000000000000000"
    static let commitment = hash("commitment")
    /// Passes (answers match), fails (never unblinded), disputed then upheld by the replay.
    static let passed = hash("ticket-passed"), failed = hash("ticket-failed"), disputed = hash("ticket-disputed")
    static let output = hash("output"), wrong = hash("wrong")

    /// Events of each block's block-processing receipt, by height (1...9); block 0 is genesis without receipts.
    static let events: [[JSON]] = [
        [],
        [ev("sharesCommitted", ["commitmentId": .string(commitment), "worker": .string(worker), "pool": .int(0), "window": .int(0),
                                "shard": .int(0), "tokenTotal": .int(10), "samples": .int(3)])],
        [passed, failed, disputed].enumerated().flatMap { i, t in
            [ev("ticketSelected", ["ticketId": .string(t), "commitmentId": .string(commitment), "sample": .int(UInt64(i)), "point": .int(1),
                                   "revealDeadline": .int(5)]),
             ev("checkersAssigned", ["ticketId": .string(t), "checkers": .array(i == 1 ? [.string(b), .string(a)] : [.string(a), .string(b)])])]
        },
        [passed, failed, disputed].map { ev("ticketRevealed", ["ticketId": .string($0), "leafIndex": .int(0), "challengeEnd": .int(30)]) },
        [ev("answerCommitted", ["ticketId": .string(passed), "checker": .string(a)]),
         ev("answerCommitted", ["ticketId": .string(failed), "checker": .string(b)]),
         ev("answerCommitted", ["ticketId": .string(disputed), "checker": .string(a)]),
         ev("answerCommitted", ["ticketId": .string(disputed), "checker": .string(b)])],
        [ev("answerRevealed", ["ticketId": .string(passed), "checker": .string(a), "answer": .string(output)]),
         ev("outputUnblinded", ["ticketId": .string(passed), "outputHash": .string(output)]),
         ev("answerRevealed", ["ticketId": .string(failed), "checker": .string(b), "answer": .string(output)]),
         ev("outputUnblinded", ["ticketId": .string(disputed), "outputHash": .string(output)]),
         ev("answerRevealed", ["ticketId": .string(disputed), "checker": .string(a), "answer": .string(output)]),
         ev("answerRevealed", ["ticketId": .string(disputed), "checker": .string(b), "answer": .string(wrong)])],
        [ev("checkerAbsent", ["ticketId": .string(passed), "checker": .string(b), "benchedUntil": .int(26)]),
         ev("checkFeeOwed", ["ticketId": .string(passed), "checker": .string(a), "amount": "40"]),
         ev("checkPassed", ["ticketId": .string(passed), "outputHash": .string(output)]),
         ev("checkerAbsent", ["ticketId": .string(failed), "checker": .string(a), "benchedUntil": .int(26)]),
         ev("sealedCheckFailed", ["ticketId": .string(failed), "worker": .string(worker), "reason": "notUnblinded"]),
         ev("checkFeeOwed", ["ticketId": .string(failed), "checker": .string(b), "amount": "40"]),
         ev("disputeOpened", ["ticketId": .string(disputed), "keyDeadline": .int(8)])],
        [ev("sealedInputPublished", ["ticketId": .string(disputed)])],
        [ev("fraudRejected", ["ticketId": .string(disputed), "bondsBurned": "0"]),
         ev("checkFeeOwed", ["ticketId": .string(disputed), "checker": .string(a), "amount": "40"])],
        // The worker's payout: two fees paid in full; the failed ticket's fee is left unpaid (a revenue shortfall).
        [ev("checkFeePaid", ["pool": .int(0), "window": .int(0), "worker": .string(worker), "ticketId": .string(passed),
                             "checker": .string(a), "amount": "40"]),
         ev("checkFeePaid", ["pool": .int(0), "window": .int(0), "worker": .string(worker), "ticketId": .string(disputed),
                             "checker": .string(a), "amount": "40"])],
    ]

    static func ev(_ type: String, _ members: JSONObject) -> JSON {
        var o = members
        o["type"] = .string(type)
        return .object(o)
    }

    static func blockHash(_ h: Int) -> String { hash("block-\(h)") }

    /// The rows of block `h`, with every touched account's state unknown (the account tables are not under test).
    static func rows(_ h: Int) throws -> BlockRows {
        let receipts: [JSON] = h == 0 ? [] : [.object(["kind": "blockProcessing", "status": "succeeded", "feePaid": "0",
                                                        "events": .array(events[h])])]
        let block = JSON.object(["height": .int(UInt64(h)), "hash": .string(blockHash(h)), "parent": .string(h == 0 ? hash("none") : blockHash(h - 1)),
                                 "slot": .int(UInt64(h)), "timestamp": .int(1_700_000_000_000 + UInt64(h)), "proposer": .string(worker),
                                 "size": .int(100), "transactions": .array([])])
        let results = JSON.object(["blockHash": .string(blockHash(h)), "blockHeight": .int(UInt64(h)), "receipts": .array(receipts),
                                   "eventCount": .int(UInt64(h == 0 ? 0 : events[h].count))])
        var r = try BlockRows(block: block, results: results)
        try r.attach(r.touchedAddresses.map { AccountState(unknown: $0) })
        return r
    }
}

@Suite(.serialized, .tags(.system)) struct IndexerCheckTests {
    static let logger = Logger(label: "indexer-checks")
    static let chainId = CheckEventChain.hash("chain")
    typealias C = CheckEventChain

    func withSink<T>(_ url: String, _ body: (PostgresSink) async throws -> T) async throws -> T {
        try await withPostgresSink(url, logger: Self.logger, body)
    }

    func index(_ sink: PostgresSink, through h: Int, from start: Int = 0) async throws {
        for i in start...h { try await sink.apply(try C.rows(i), chainId: Self.chainId) }
    }

    func check(_ sink: PostgresSink, _ ticket: String, _ columns: String) async throws -> String? {
        try await sink.scalar("SELECT concat_ws('/', \(columns)) FROM checks WHERE ticket_id = '\\x\(ticket.dropFirst(2))'::bytea")
    }

    func answer(_ sink: PostgresSink, _ ticket: String, _ checker: String, _ columns: String) async throws -> String? {
        try await sink.scalar("""
            SELECT concat_ws('/', \(columns)) FROM check_answers WHERE ticket_id = '\\x\(ticket.dropFirst(2))'::bytea AND checker = '\(checker)'
            """)
    }

    /// The rows a block's checker events write: one `checks` row per assignment with pool and worker from the
    /// commitment, one `check_answers` row per checker, and COPY/updates in the block's transaction.
    @Test func blockRowsCarryTheChecks() throws {
        let assigned = try C.rows(2)
        let checks = try #require(assigned.appended.first { $0.table == "checks" })
        #expect(checks.rows.count == 3)
        #expect(checks.rows[1][3] == "{\(C.b),\(C.a)}", "checkers in assignment order")
        #expect(checks.rows[0][1] == "\\x" + C.commitment.dropFirst(2), "the commitment of the ticketSelected before it")
        let answers = try #require(assigned.appended.first { $0.table == "check_answers" })
        #expect(answers.rows.count == 6)
        #expect(answers.rows[2][1] == C.b && answers.rows[2][2] == "0")
        #expect(assigned.updates.contains { $0.sql.contains("sharesCommitted") })
        // A block without checker events writes no check rows and no status update.
        let plain = try C.rows(1)
        #expect(!plain.appended.contains { $0.table == "checks" })
        #expect(!plain.updates.contains { $0.sql.contains("checks") })
        // A malformed checker list is refused.
        var bad = C.events[2]
        bad[1] = C.ev("checkersAssigned", ["ticketId": .string(C.passed), "checkers": .array([.string("shr1 ; DROP")])])
        let results = JSON.object(["blockHash": .string(C.blockHash(2)), "blockHeight": .int(2),
                                   "receipts": .array([.object(["kind": "blockProcessing", "status": "succeeded", "feePaid": "0", "events": .array(bad)])]),
                                   "eventCount": .int(UInt64(bad.count))])
        let block = JSON.object(["height": .int(2), "hash": .string(C.blockHash(2)), "parent": .string(C.blockHash(1)), "slot": .int(2),
                                 "timestamp": .int(1), "proposer": .string(C.worker), "size": .int(1), "transactions": .array([])])
        #expect(throws: IndexerError.self) { try BlockRows(block: block, results: results) }
    }

    /// The checks' phases after each block, a rollback equal to a database that never saw the later blocks, and the
    /// schema migration folding the checks of an older database from its events.
    @Test func checksFollowTheEventsAndRollBackExactly() async throws {
        let pg = try PostgresServer(label: "indexer-checks")
        let full = try pg.createDatabase("full")
        try await withSink(full) { sink in
            #expect(try await sink.migrate() == IndexerSchema.version)
            try await index(sink, through: 4)
            #expect(try await check(sink, C.passed, "status, pool, worker, assigned_height, revealed_height") == "checking/0/\(C.worker)/2/3")
            #expect(try await answer(sink, C.passed, C.a, "slot, committed_height, coalesce(revealed_height::text, '-')") == "0/4/-")
            #expect(try await answer(sink, C.failed, C.a, "slot, coalesce(committed_height::text, '-')") == "1/-")
            try await index(sink, through: 9, from: 5)
            #expect(try await check(sink, C.passed, "status, passed_height, resolved_height, encode(output_hash, 'hex')")
                    == "passed/6/6/\(C.output.dropFirst(2))")
            #expect(try await answer(sink, C.passed, C.a, "revealed_height, matches::text, fee_owed, coalesce(absent_height::text, '-')") == "5/true/40/-")
            #expect(try await answer(sink, C.passed, C.b, "coalesce(committed_height::text, '-'), absent_height, benched_until") == "-/6/26")
            #expect(try await check(sink, C.failed, "status, failed_height, failure_reason, resolved_height") == "failed/6/notUnblinded/6")
            #expect(try await answer(sink, C.failed, C.b, "revealed_height, coalesce(matches::text, 'null'), fee_owed") == "5/null/40")
            #expect(try await check(sink, C.disputed, "status, disputed_height, key_deadline, input_published_height, verdict_height, resolved_height")
                    == "upheld/6/8/7/8/8")
            #expect(try await answer(sink, C.disputed, C.b, "matches::text") == "false")
            #expect(try await answer(sink, C.disputed, C.a, "matches::text") == "true")
            #expect(try await sink.scalar("SELECT count(*) FROM checks WHERE status = 'assigned'") == "0")
            // Fees paid at the payout, per ticket and checker; the unpaid one stays NULL.
            #expect(try await answer(sink, C.passed, C.a, "fee_paid, fee_paid_height") == "40/9")
            #expect(try await answer(sink, C.disputed, C.a, "fee_paid, fee_paid_height") == "40/9")
            #expect(try await answer(sink, C.failed, C.b, "coalesce(fee_paid::text, 'null')") == "null")
            // The dispute's replay is a fraud case without a claim, completed by its adjudication.
            #expect(try await sink.scalar("""
                SELECT concat_ws('/', origin, coalesce(encode(claim, 'hex'), 'null'), coalesce(prover, 'null'), opened_height, status,
                    bonds_burned, adjudicated_height) FROM fraud_cases WHERE ticket_id = '\\x\(C.disputed.dropFirst(2))'::bytea
                """) == "dispute/null/null/7/rejected/0/8")
            #expect(try await sink.scalar("SELECT count(*) FROM fraud_cases") == "1")

            // Rolled back to each height: exactly the rows of a database that only saw the blocks up to it.
            for target in [8, 7, 6, 5, 3, 1] {
                try await sink.rollback(to: UInt64(target), hash: C.blockHash(target))
                let prefix = try pg.createDatabase("prefix\(target)")
                let want = try await withSink(prefix) { other in
                    _ = try await other.migrate()
                    try await index(other, through: target)
                    return try await other.checksums()
                }
                let got = try await sink.checksums()
                #expect(got["checks"] == want["checks"], "checks after a rollback to \(target)")
                #expect(got["check_answers"] == want["check_answers"], "check_answers after a rollback to \(target)")
                #expect(got == want, "every table after a rollback to \(target)")
                if target == 8 {
                    #expect(try await answer(sink, C.passed, C.a, "coalesce(fee_paid::text, 'null')") == "null")
                }
                if target == 7 {
                    #expect(try await sink.scalar("SELECT concat_ws('/', status, coalesce(adjudicated_height::text, '-')) FROM fraud_cases")
                            == "pending/-")
                }
                if target == 5 {
                    #expect(try await check(sink, C.disputed, "status, coalesce(verdict, '-'), coalesce(disputed_height::text, '-')") == "checking/-/-")
                    #expect(try await answer(sink, C.passed, C.b, "coalesce(absent_height::text, '-')") == "-")
                }
            }
            #expect(try await sink.scalar("SELECT count(*) FROM checks") == "0")
            // And forward again to the same rows as the first time.
            try await index(sink, through: 9, from: 2)
            let again = try await sink.checksums()
            let reference = try pg.createDatabase("reference")
            let want = try await withSink(reference) { other in
                _ = try await other.migrate()
                try await index(other, through: 9)
                return try await other.checksums()
            }
            #expect(again == want)

            // A database of schema version 2: migrations 3 and 4 fold its checks, dispute cases and fees from `events`.
            try await sink.execute("DROP TABLE checks")
            try await sink.execute("DROP TABLE check_answers")
            try await sink.execute("DELETE FROM fraud_cases WHERE origin = 'dispute'")
            try await sink.execute("ALTER TABLE fraud_cases DROP COLUMN origin")
            try await sink.execute("ALTER TABLE fraud_cases ALTER COLUMN claim SET NOT NULL, ALTER COLUMN prover SET NOT NULL")
            try await sink.execute("DELETE FROM schema_version WHERE version >= 3")
            #expect(try await sink.migrate() == IndexerSchema.version)
            let migrated = try await sink.checksums()
            #expect(migrated["checks"] == want["checks"], "migrated checks")
            #expect(migrated["check_answers"] == want["check_answers"], "migrated check_answers")
            #expect(migrated["fraud_cases"] == want["fraud_cases"], "migrated fraud_cases")
        }
    }
}

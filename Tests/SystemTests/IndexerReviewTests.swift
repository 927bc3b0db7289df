import Foundation
import Logging
import Testing
@testable import Indexer
@testable import Primitives
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
}

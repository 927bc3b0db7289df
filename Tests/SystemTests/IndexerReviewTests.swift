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
}

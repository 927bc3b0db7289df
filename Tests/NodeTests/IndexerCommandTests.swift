import ArgumentParser
import Foundation
import Indexer
import Testing
@testable import sharechain

/// `sharechain indexer` parses its options and refuses bad ones before connecting anywhere.
@Suite struct IndexerCommandTests {
    @Test func parsesAndValidates() throws {
        let c = try #require(try Sharechain.parseAsRoot(["indexer", "--rpc", "http://127.0.0.1:9", "--postgres", "postgres://u@h:5433/db", "--poll", "0.5"])
            as? IndexerCommand)
        #expect(c.rpc == "http://127.0.0.1:9" && c.postgres == "postgres://u@h:5433/db" && c.poll == 0.5 && !c.noSubscribe)
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer", "--postgres", "mysql://u@h/db"]) }
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer", "--postgres", "postgres://u@h/db", "--poll", "0"]) }
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer"]) }
        #expect(Sharechain.helpMessage(for: IndexerCommand.self).contains("--postgres"))
    }

    /// Eighth review, finding 6: the redaction cut the URL at its first '?', while the parser read a raw '?' in the
    /// password as the query string and echoed the password's tail as an "unsupported option": the error showed
    /// the password. The credentials now end at the last '@' for both, and errors show the URL redacted.
    @Test func postgresErrorsNeverShowThePassword() throws {
        let secrets = ["s3cr?t-Pa55", "a/b?c&d=e", "p@ss?w:rd", "x%3Fy?z"]
        for secret in secrets {
            for url in ["postgres://indexer:\(secret)@db.internal:99999/sharechain",
                        "postgres://indexer:\(secret)@db.internal:5432/sharechain?sslmode=require",
                        "postgres://indexer:\(secret)@db.internal:5432",
                        "postgresql://indexer:\(secret)@[::1/sharechain"] {
                do {
                    _ = try PostgresTarget(url: url)
                    Issue.record("\(url) parsed")
                } catch {
                    let text = error.description
                    #expect(!text.contains(secret), "\(text)")
                    for piece in secret.split(whereSeparator: { "?@/&:=%".contains($0) }) where piece.count >= 3 {
                        #expect(!text.contains(piece), "the error shows part of the password: \(text)")
                    }
                    #expect(text.contains("db.internal") || text.contains("::1"), "the error still names the server: \(text)")
                }
            }
        }
        // A raw '?' or '/' in the password is the password, not a query or a database.
        #expect(try PostgresTarget(url: "postgres://u:s3cr?t/x@h:6543/db")
                == PostgresTarget(host: "h", port: 6543, username: "u", password: "s3cr?t/x", database: "db"))
    }

    /// The URL and the password can come from the environment or a file instead of the command line (visible to
    /// every local user in `ps`).
    @Test func postgresSettingsFromTheEnvironmentAndAPasswordFile() throws {
        let env = ["SHARECHAIN_INDEXER_DATABASE_URL": "postgres://indexer@db:5432/chain", "PGPASSWORD": "from-env"]
        let noFile: (String) throws -> String = { _ in throw CocoaLikeError() }
        #expect(try PostgresTarget.resolve(url: nil, passwordFile: nil, environment: env, readFile: noFile)
                == PostgresTarget(host: "db", username: "indexer", password: "from-env", database: "chain"))
        #expect(try PostgresTarget.resolve(url: nil, passwordFile: "/run/pw", environment: env, readFile: { _ in "from-file\nignored\n" })
                == PostgresTarget(host: "db", username: "indexer", password: "from-file", database: "chain"))
        // The flag wins over the variable; a password in the URL wins over PGPASSWORD.
        #expect(try PostgresTarget.resolve(url: "postgres://u:inline@h/d", passwordFile: nil, environment: env, readFile: noFile).password == "inline")
        #expect(throws: IndexerError.self) { try PostgresTarget.resolve(url: "postgres://u:inline@h/d", passwordFile: "/run/pw", environment: [:], readFile: { _ in "x" }) }
        #expect(throws: IndexerError.self) { try PostgresTarget.resolve(url: nil, passwordFile: nil, environment: [:], readFile: noFile) }
        #expect(throws: IndexerError.self) { try PostgresTarget.resolve(url: "postgres://u@h/d", passwordFile: "/missing", environment: [:], readFile: noFile) }
        // The command accepts no --postgres when the variable is set, and the password file option.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("review8-pw-\(UUID().uuidString)").path
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let c = try #require(try Sharechain.parseAsRoot(["indexer", "--postgres", "postgres://u@h/db", "--postgres-password-file", file]) as? IndexerCommand)
        #expect(c.postgresPasswordFile == file)
        #expect(try c.target().password == "from-file")
    }

    struct CocoaLikeError: Error {}
}

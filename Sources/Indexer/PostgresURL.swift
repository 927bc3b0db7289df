import Foundation
import PostgresNIO

/// Where the indexer writes: parsed from `postgres://user[:password]@host[:port]/database` (also
/// `postgresql://`). Percent-escapes in user, password and database name are decoded (a `%` that is not an escape is refused). TLS is not used (the database is
/// expected on loopback or a private network); `?sslmode=disable` is accepted and ignored.
public struct PostgresTarget: Sendable, Equatable, CustomStringConvertible {
    /// Server host name or address.
    public var host: String
    /// Server port (5432 by default).
    public var port: Int
    /// Role to log in as.
    public var username: String
    /// Password, nil for trust or peer authentication.
    public var password: String?
    /// Database name.
    public var database: String

    /// A target from its parts.
    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses a connection URL.
    public init(url: String) throws(IndexerError) {
        do throws(IndexerError) { try self.init(parsing: url) } catch {
            // The error is printed and logged: never with the password in it.
            guard case .badPostgresURL(let message) = error else { throw error }
            throw .badPostgresURL(Self.redacted(message, url: url))
        }
    }

    /// The environment variable `sharechain indexer` reads the URL from when `--postgres` is not given (command
    /// lines are visible to every local user in `ps` and `/proc/<pid>/cmdline`).
    public static let urlEnvironmentVariable = "SHARECHAIN_INDEXER_DATABASE_URL"
    /// libpq's password variable, used when the URL holds no password and no password file is given.
    public static let passwordEnvironmentVariable = "PGPASSWORD"

    /// The target the indexer's options and environment name: the URL from `url` (`--postgres`), else from
    /// `SHARECHAIN_INDEXER_DATABASE_URL`; the password from the URL, else from `passwordFile` (its first line),
    /// else from `PGPASSWORD`. A password both in the URL and in a file is refused (which one would win is not
    /// obvious). `readFile` reads the password file (tests pass their own).
    public static func resolve(url: String?, passwordFile: String?, environment: [String: String],
                               readFile: (String) throws -> String) throws(IndexerError) -> PostgresTarget {
        guard let url = url ?? environment[urlEnvironmentVariable], !url.isEmpty else {
            throw .postgresSettings("no database: give --postgres or set \(urlEnvironmentVariable)")
        }
        var target = try PostgresTarget(url: url)
        if let passwordFile {
            guard target.password == nil else {
                throw .postgresSettings("\(target) has a password and --postgres-password-file gives another: keep one")
            }
            let text: String
            do { text = try readFile(passwordFile) } catch {
                throw .postgresSettings("cannot read the password file \(passwordFile): \(error)")
            }
            // The first line, without its line end: files written by `echo` end in a newline.
            target.password = String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        } else if target.password == nil, let p = environment[passwordEnvironmentVariable], !p.isEmpty {
            target.password = p
        }
        return target
    }

    /// `url` with its credentials' password (everything between `user:` and the last `@`) replaced by `***`.
    static func redactedURL(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let afterScheme = url[scheme.upperBound...]
        // The last '@' ends the credentials: a password may hold '/', '?', ':' or '@' (the parser agrees).
        guard let at = afterScheme.lastIndex(of: "@"), let colon = afterScheme[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<afterScheme.index(after: colon)]) + "***" + String(afterScheme[at...])
    }

    /// `message` with `url` shown redacted and any other copy of its password (raw or percent-decoded) replaced by
    /// `***`.
    static func redacted(_ message: String, url: String) -> String {
        var out = message.replacingOccurrences(of: url, with: redactedURL(url))
        guard let scheme = url.range(of: "://") else { return out }
        let afterScheme = url[scheme.upperBound...]
        guard let at = afterScheme.lastIndex(of: "@"), let colon = afterScheme[..<at].firstIndex(of: ":") else { return out }
        let raw = String(afterScheme[afterScheme.index(after: colon)..<at])
        for password in [raw, raw.removingPercentEncoding ?? raw] where !password.isEmpty {
            out = out.replacingOccurrences(of: password, with: "***")
        }
        return out
    }

    private init(parsing url: String) throws(IndexerError) {
        var rest: Substring
        if url.hasPrefix("postgres://") { rest = url.dropFirst("postgres://".count) }
        else if url.hasPrefix("postgresql://") { rest = url.dropFirst("postgresql://".count) }
        else { throw .badPostgresURL(url) }
        // Credentials first, up to the last '@': a password with a raw '?' or '/' must not be read as the query or
        // the database (it was, and the error message then showed its tail as an "unsupported option").
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon]).removingPercentEncoding
                // A '%' not followed by two hex digits makes the decode nil: refuse it, rather than connect with no
                // password (then PGPASSWORD's or the password file's) as if none were given.
                guard let decoded = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding else {
                    throw .badPostgresURL("\(Self.redactedURL(url)) (the password has a '%' that is not an escape: write it as %25)")
                }
                password = decoded
            } else {
                user = String(credentials).removingPercentEncoding
            }
        }
        if let q = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: q)...]
            for option in query.split(separator: "&") where option != "sslmode=disable" {
                throw .badPostgresURL("\(url) (unsupported option \(option); only sslmode=disable)")
            }
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw .badPostgresURL(url) }
        guard let database = String(rest[rest.index(after: slash)...]).removingPercentEncoding else { throw .badPostgresURL(url) }
        let authority = rest[..<slash]
        var host = String(authority)
        var port = 5432
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw .badPostgresURL(url) }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), p > 0, p < 65_536 else { throw .badPostgresURL(url) }
                port = p
            } else if !after.isEmpty { throw .badPostgresURL(url) }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            // An IPv6 address goes in brackets: `::1` unbracketed would be host ":" and port 1.
            guard host.firstIndex(of: ":") == colon else { throw .badPostgresURL("\(url) (an IPv6 address goes in brackets: [::1])") }
            guard let p = Int(host[host.index(after: colon)...]), p > 0, p < 65_536 else { throw .badPostgresURL(url) }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty, !database.isEmpty, let user, !user.isEmpty else { throw .badPostgresURL(url) }
        self.init(host: host, port: port, username: user, password: password, database: database)
    }

    /// The URL without the password (for logs).
    public var description: String { "postgres://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    var configuration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: .disable)
    }
}

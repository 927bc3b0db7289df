import Foundation
import PostgresNIO

/// Where the indexer writes: parsed from `postgres://user[:password]@host[:port]/database` (also
/// `postgresql://`). Percent-escapes in user and password are decoded. TLS is not used (the database is
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

    /// `message` with the password of `url` (between `user:` and the last `@`) replaced by `***`.
    static func redacted(_ message: String, url: String) -> String {
        guard let scheme = url.range(of: "://") else { return message }
        let afterScheme = url[scheme.upperBound...]
        let authority = afterScheme.prefix { $0 != "?" }  // a password may hold '/'; the last '@' ends it
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return message }
        let password = String(authority[authority.index(after: colon)..<at])
        guard !password.isEmpty else { return message }
        return message.replacingOccurrences(of: password, with: "***")
    }

    private init(parsing url: String) throws(IndexerError) {
        var rest: Substring
        if url.hasPrefix("postgres://") { rest = url.dropFirst("postgres://".count) }
        else if url.hasPrefix("postgresql://") { rest = url.dropFirst("postgresql://".count) }
        else { throw .badPostgresURL(url) }
        if let q = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: q)...]
            for option in query.split(separator: "&") where option != "sslmode=disable" {
                throw .badPostgresURL("\(url) (unsupported option \(option); only sslmode=disable)")
            }
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw .badPostgresURL(url) }
        let database = String(rest[rest.index(after: slash)...])
        var authority = rest[..<slash]
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon]).removingPercentEncoding
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                user = String(credentials).removingPercentEncoding
            }
        }
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

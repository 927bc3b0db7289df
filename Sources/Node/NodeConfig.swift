import Consensus
import Foundation
import Logging

/// Everything a node needs to start, from a JSON config file and/or command-line flags (flags win).
public struct NodeConfig: Codable, Sendable {
    /// Genesis document path (nil: the embedded devnet genesis).
    public var genesis: String?
    /// Data directory (the chain database lives in `<dataDir>/chain`).
    public var dataDir: String
    /// Validator key file; without one the node follows the chain without producing.
    public var validatorKey: String?
    /// JSON-RPC listen address (`host:port`); loopback by default.
    public var rpcAddr: String = "127.0.0.1:8645"
    /// P2P listen address.
    public var p2pAddr: String = "127.0.0.1:8646"
    /// Bootstrap peers (`host:port`).
    public var peers: [String] = []
    /// Directory holding the pools' pinned weight files (found by SHA-256).
    public var weightsDir: String = "Genesis/models"
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// Check ledger invariants after every block (slower; for testing).
    public var checkInvariants: Bool = false
    /// Devnet load: transfers per second submitted from the development accounts.
    public var load: Double = 0
    /// Produce blocks even before the node considers itself synced (a lone first validator).
    public var produceWithoutPeers: Bool = true
    /// CORS origins allowed to call the RPC from a browser.
    public var rpcCorsOrigins: [String] = []
    /// P2P: accept and announce loopback/private addresses in peer exchange (devnets on one machine).
    public var p2pAllowPrivateAddresses: Bool?
    /// P2P: a file of node keys or `host:port` addresses to refuse and disconnect (re-read while running).
    public var p2pBlockFile: String?
    /// P2P: connection limits (defaults 32 inbound, 8 outbound).
    public var p2pMaxInbound: Int?
    public var p2pMaxOutbound: Int?

    public init(dataDir: String) { self.dataDir = dataDir }

    public static func load(path: String) throws -> NodeConfig {
        do { return try JSONDecoder().decode(NodeConfig.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw NodeStartupError("cannot read config file \(path): \(error)")
        }
    }

    public var logLevelValue: Logger.Level {
        Logger.Level(rawValue: logLevel.lowercased()) ?? .info
    }
}

/// A clear reason the node refuses to start.
public struct NodeStartupError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Splits `host:port`.
public func parseHostPort(_ s: String) throws -> (host: String, port: Int) {
    guard let i = s.lastIndex(of: ":"), let port = Int(s[s.index(after: i)...]), port >= 0, port < 65_536 else {
        throw NodeStartupError("'\(s)' is not host:port")
    }
    var host = String(s[..<i])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host.isEmpty ? "127.0.0.1" : host, port)
}

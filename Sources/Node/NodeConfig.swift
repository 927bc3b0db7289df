import Consensus
import Foundation
import Logging
import Primitives
import RPC
import Storage

/// Everything a node needs to start, from a JSON config file and/or command-line flags (flags win).
///
/// Build one with ``NodeConfig/merge(file:flags:defaultDataDir:)``: every field of a config file is optional,
/// flags override the file, the defaults below fill the rest, and only the data directory is required.
public struct NodeConfig: Codable, Sendable {
    /// Genesis document path (nil: the embedded devnet genesis).
    public var genesis: String?
    /// Data directory (the chain database lives in `<dataDir>/chain`).
    public var dataDir: String
    /// Validator key file; without one the node follows the chain without producing.
    public var validatorKey: String?
    /// File holding the passphrase of an encrypted validator key (else `SHARECHAIN_PASSPHRASE`).
    public var passphraseFile: String?
    /// JSON-RPC listen address (`host:port`); loopback by default.
    public var rpcAddr: String = "127.0.0.1:8645"
    /// P2P listen address.
    public var p2pAddr: String = "127.0.0.1:8646"
    /// Bootstrap peers (`host:port`).
    public var peers: [String] = []
    /// Directory holding the pools' pinned weight files (found by SHA-256).
    public var weightsDir: String = "Genesis/models"
    /// Log level.
    public var logLevel: Logger.Level = .info
    /// Log line format on standard error.
    public var logFormat: LogFormat = .text
    /// Check ledger invariants after every block (slower; for testing).
    public var checkInvariants: Bool = false
    /// Devnet load: transfers per second submitted from the development accounts.
    public var load: Double = 0
    /// Whether the node may count itself synced with no peer that vouches for its height (a lone first validator, or
    /// one whose peers are all unreachable after 30 s). `false`: a validator cut off from every peer neither produces
    /// nor votes, so a restart while the network is unreachable does not spend its slots and votes on a branch of its own.
    public var produceWithoutPeers: Bool = true
    /// CORS origins allowed to call the RPC from a browser.
    public var rpcCorsOrigins: [String] = []
    /// Names the RPC accepts in a request's `Host` besides `localhost` and IP literals (DNS rebinding; `*`: any).
    public var rpcAllowedHosts: [String] = []
    /// Open RPC connections one remote host (an IPv4 address, an IPv6 /64, loopback too) may hold; further ones are
    /// closed at accept (Specs/rpc.md §9). In `rpcConnectionsPerHostRange`.
    public var rpcMaxConnectionsPerHost: Int = RPCConfiguration.defaultMaxConnectionsPerHost
    /// P2P: accept and announce loopback/private addresses in peer exchange (devnets on one machine).
    public var p2pAllowPrivateAddresses: Bool?
    /// P2P: a file of node keys or `host:port` addresses to refuse and disconnect (re-read while running).
    public var p2pBlockFile: String?
    /// P2P: most inbound connections (default 32).
    public var p2pMaxInbound: Int?
    /// P2P: most outbound connections (default 8).
    public var p2pMaxOutbound: Int?
    /// State pruning: `archive` keeps every height, `default` the last `pruningKeepHeights`, `minimal` only
    /// from the finalized height on (Specs/storage.md §11).
    public var pruning: PruningSetting = .default
    /// Heights of state `default` pruning keeps.
    public var pruningKeepHeights: UInt64 = 10_000
    /// Start from a peer's state snapshot instead of replaying from genesis when the data directory is new
    /// (Specs/p2p.md §7).
    public var stateSync: Bool = false
    /// The block state sync starts from, `HEIGHT:HASH` (from a source the operator trusts); without it, the
    /// newest finalized block that `stateSyncMinPeers` peers offer alike.
    public var stateSyncTrustedBlock: String?
    /// Peers that must offer the same snapshot block (without a trusted block; default 2).
    public var stateSyncMinPeers: Int?
    /// The most bytes of keys and values a state-sync snapshot may hold in memory (default 4 GiB).
    public var stateSyncMaxBytes: UInt64?
    /// Serve state snapshots to peers that state-sync (default true).
    public var serveSnapshots: Bool = true
    /// Tests only (a hidden flag): serve corrupted snapshot chunks, to test that state-syncing peers ban this node.
    public var testingCorruptSnapshots: Bool = false

    /// The storage pruning mode these settings name.
    public var pruningMode: PruningMode {
        switch pruning {
        case .archive: .archive
        case .default: .keepRecent(pruningKeepHeights)
        case .minimal: .minimal
        }
    }

    public init(dataDir: String) { self.dataDir = dataDir }

    /// Reads a config file: any subset of the fields of ``NodeConfigFile``; an unknown field is an error.
    public static func load(path: String) throws -> NodeConfigFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw NodeStartupError("cannot read config file \(path): \(error.localizedDescription)")
        }
        let file: NodeConfigFile
        do { file = try NodeConfigFile.decode(data) } catch let e as NodeStartupError {
            throw NodeStartupError("config file \(path): \(e.message)")
        }
        return file.resolvingPaths(against: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// The configuration from a config file (if any) and the command-line flags: a field set by a flag wins over
    /// the file, a field set by neither takes its default. The data directory has no default unless
    /// `defaultDataDir` gives one; without it from either source this throws an error naming the flag and the field.
    public static func merge(file: NodeConfigFile?, flags: NodeConfigFile, defaultDataDir: String? = nil) throws -> NodeConfig {
        let file = file ?? NodeConfigFile()
        func pick<T>(_ k: KeyPath<NodeConfigFile, T?>) -> T? { flags[keyPath: k] ?? file[keyPath: k] }
        guard let dataDir = pick(\.dataDir) ?? defaultDataDir else {
            throw NodeStartupError("no data directory: pass --data-dir or set \"dataDir\" in the --config file")
        }
        var c = NodeConfig(dataDir: dataDir)
        c.genesis = pick(\.genesis)
        c.validatorKey = pick(\.validatorKey)
        c.passphraseFile = pick(\.passphraseFile)
        if let v = pick(\.rpcAddr) { c.rpcAddr = v }
        if let v = pick(\.p2pAddr) { c.p2pAddr = v }
        if let v = pick(\.peers) { c.peers = v }
        if let v = pick(\.weightsDir) { c.weightsDir = v }
        if let v = pick(\.logLevel) { c.logLevel = v }
        if let v = pick(\.logFormat) { c.logFormat = v }
        if let v = pick(\.checkInvariants) { c.checkInvariants = v }
        if let v = pick(\.load) {
            // A rate the generator can pace (its interval in nanoseconds fits 64 bits); NaN and infinities fail too.
            guard LoadGeneratorService.isPaceable(v) else {
                throw NodeStartupError("load (--load or \"load\"): \(v) is not \(LoadGeneratorService.rateRule)")
            }
            c.load = v
        }
        if let v = pick(\.produceWithoutPeers) { c.produceWithoutPeers = v }
        if let v = pick(\.rpcCorsOrigins) { c.rpcCorsOrigins = v }
        if let v = pick(\.rpcAllowedHosts) { c.rpcAllowedHosts = v }
        if let v = pick(\.rpcMaxConnectionsPerHost) {
            // 0 would refuse every client; above the server's total it would be no limit at all.
            guard Self.rpcConnectionsPerHostRange.contains(v) else {
                throw NodeStartupError("rpcMaxConnectionsPerHost (--rpc-max-connections-per-host): \(v) is not in \(Self.rpcConnectionsPerHostRange)")
            }
            c.rpcMaxConnectionsPerHost = v
        }
        c.p2pAllowPrivateAddresses = pick(\.p2pAllowPrivateAddresses)
        c.p2pBlockFile = pick(\.p2pBlockFile)
        c.p2pMaxInbound = pick(\.p2pMaxInbound)
        c.p2pMaxOutbound = pick(\.p2pMaxOutbound)
        // Zero outbound peers isolated the node (it dialled nobody, counted itself synced alone after 30 s and, as a
        // validator, produced and voted on a branch of its own); Int.max trapped adding the two limits (tenth review).
        if let n = c.p2pMaxInbound, !Self.peerLimitRange(minimum: 0).contains(n) {
            throw NodeStartupError("p2pMaxInbound (--max-inbound-peers): \(n) is not in 0...\(Self.maxPeerLimit)")
        }
        if let n = c.p2pMaxOutbound, !Self.peerLimitRange(minimum: 1).contains(n) {
            throw NodeStartupError("p2pMaxOutbound (--max-outbound-peers): \(n) is not in 1...\(Self.maxPeerLimit)")
        }
        if let v = pick(\.pruning) { c.pruning = v }
        if let v = pick(\.pruningKeepHeights) { c.pruningKeepHeights = v }
        if let v = pick(\.stateSync) { c.stateSync = v }
        c.stateSyncTrustedBlock = pick(\.stateSyncTrustedBlock)
        c.stateSyncMinPeers = pick(\.stateSyncMinPeers)
        c.stateSyncMaxBytes = pick(\.stateSyncMaxBytes)
        if let v = pick(\.serveSnapshots) { c.serveSnapshots = v }
        if let v = flags.testingCorruptSnapshots { c.testingCorruptSnapshots = v }
        // Settings that only mean something beside another were silently ignored without it (operator review).
        if pick(\.pruningKeepHeights) != nil, c.pruning != .default {
            throw NodeStartupError("pruningKeepHeights (--pruning-keep-heights) applies to --pruning default only; --pruning \(c.pruning.rawValue) \(c.pruning == .archive ? "keeps every height" : "keeps only the latest state")")
        }
        if c.stateSyncTrustedBlock != nil, !c.stateSync {
            throw NodeStartupError("stateSyncTrustedBlock (--state-sync-trusted-block) needs --state-sync (\"stateSync\": true)")
        }
        if c.rpcAddr == c.p2pAddr {
            throw NodeStartupError("rpcAddr (--rpc-addr) and p2pAddr (--p2p-addr) are both \(c.rpcAddr): give them different ports")
        }
        return c
    }

    /// The log level as swift-log's type (kept for callers of the former string field).
    public var logLevelValue: Logger.Level { logLevel }

    /// The most connections either peer limit may allow: far above what a node needs, and small enough that the two
    /// limits add up without overflow.
    public static let maxPeerLimit = 4_096
    static func peerLimitRange(minimum: Int) -> ClosedRange<Int> { minimum...maxPeerLimit }
    /// The values `rpcMaxConnectionsPerHost` may take: at least one, at most the server's connection limit.
    public static let rpcConnectionsPerHostRange = 1...RPCConfiguration().maxConnections
}

/// The `pruning` setting (Specs/storage.md §11).
public enum PruningSetting: String, Codable, CaseIterable, Sendable {
    case archive, `default`, minimal
}

/// How log lines are written: swift-log's readable text, or one JSON object per line for log collectors.
public enum LogFormat: String, Codable, CaseIterable, Sendable {
    case text, json
}

/// A node config file, or the fields set on the command line: every field optional (nil: not set here).
/// The field names are those of ``NodeConfig``.
public struct NodeConfigFile: Codable, Sendable, Equatable {
    public var genesis: String?
    public var dataDir: String?
    public var validatorKey: String?
    public var passphraseFile: String?
    public var rpcAddr: String?
    public var p2pAddr: String?
    public var peers: [String]?
    public var weightsDir: String?
    public var logLevel: Logger.Level?
    public var logFormat: LogFormat?
    public var checkInvariants: Bool?
    public var load: Double?
    public var produceWithoutPeers: Bool?
    public var rpcCorsOrigins: [String]?
    public var rpcAllowedHosts: [String]?
    public var rpcMaxConnectionsPerHost: Int?
    public var p2pAllowPrivateAddresses: Bool?
    public var p2pBlockFile: String?
    public var p2pMaxInbound: Int?
    public var p2pMaxOutbound: Int?
    public var pruning: PruningSetting?
    public var pruningKeepHeights: UInt64?
    public var stateSync: Bool?
    public var stateSyncTrustedBlock: String?
    public var stateSyncMinPeers: Int?
    public var stateSyncMaxBytes: UInt64?
    public var serveSnapshots: Bool?
    /// Flag only (not a config file field).
    public var testingCorruptSnapshots: Bool?

    public init() {}

    /// Spelled out so that unknown fields can be reported against the list of valid ones.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case genesis, dataDir, validatorKey, passphraseFile, rpcAddr, p2pAddr, peers, weightsDir, logLevel, logFormat
        case checkInvariants, load, produceWithoutPeers, rpcCorsOrigins, rpcAllowedHosts, rpcMaxConnectionsPerHost, p2pAllowPrivateAddresses
        case p2pBlockFile
        case p2pMaxInbound, p2pMaxOutbound, pruning, pruningKeepHeights, stateSync, stateSyncTrustedBlock, stateSyncMinPeers, stateSyncMaxBytes
        case serveSnapshots
    }

    /// The valid field names, in declaration order.
    public static var fieldNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The file's relative paths taken from `directory` (the config file's own): a node started by a service manager
    /// from another working directory (systemd's is `/`) finds the same files. Absolute paths stay as they are; flags
    /// are relative to the working directory as usual.
    public func resolvingPaths(against directory: String) -> NodeConfigFile {
        func resolve(_ path: String?) -> String? {
            guard let path, !path.isEmpty, !path.hasPrefix("/") else { return path }
            return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true)).standardizedFileURL.path
        }
        var file = self
        file.genesis = resolve(genesis)
        file.dataDir = resolve(dataDir)
        file.validatorKey = resolve(validatorKey)
        file.passphraseFile = resolve(passphraseFile)
        file.weightsDir = resolve(weightsDir)
        file.p2pBlockFile = resolve(p2pBlockFile)
        return file
    }

    /// Decodes a config file's JSON: a typo in a field name is an error naming it (it would otherwise be
    /// ignored silently and the node would run with the default), as is a value of the wrong type.
    public static func decode(_ data: Data) throws -> NodeConfigFile {
        // Foundation's parser keeps the last of two equal field names; a config that sets a field twice is a
        // mistake worth naming (the strict parser refuses it).
        do { _ = try JSONParser().parse(Array(data)) } catch where error.message.hasPrefix("duplicate member") {
            throw NodeStartupError("\(error.message.replacingOccurrences(of: "duplicate member", with: "field")) is set twice")
        } catch {}
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw NodeStartupError("not valid JSON (\(error.localizedDescription))")
        }
        guard let fields = object as? [String: Any] else { throw NodeStartupError("expected a JSON object of config fields") }
        let unknown = fields.keys.filter { CodingKeys(rawValue: $0) == nil }.sorted()
        guard unknown.isEmpty else {
            throw NodeStartupError("unknown field\(unknown.count > 1 ? "s" : "") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); "
                + "valid fields: \(fieldNames.joined(separator: ", "))")
        }
        // Foundation reports a negative number for an unsigned field as invalid JSON, without the field: name it.
        for key in [CodingKeys.pruningKeepHeights] {
            if let n = fields[key.rawValue] as? NSNumber, n.doubleValue < 0 {
                throw NodeStartupError("field \"\(key.rawValue)\": expected a non-negative integer, got \(n)")
            }
        }
        do { return try JSONDecoder().decode(NodeConfigFile.self, from: data) } catch let DecodingError.typeMismatch(type, ctx) {
            throw NodeStartupError("field \"\(Self.path(ctx))\": expected \(Self.describe(type))")
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            let field = Self.path(ctx)
            let hint = field == CodingKeys.logLevel.rawValue ? " (one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))"
                : field == CodingKeys.logFormat.rawValue ? " (one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", ")))"
                : field == CodingKeys.pruning.rawValue ? " (one of \(PruningSetting.allCases.map(\.rawValue).joined(separator: ", ")))" : ""
            throw NodeStartupError("field \"\(field)\": invalid value\(hint)")
        } catch {
            throw NodeStartupError("\(error)")
        }
    }

    private static func path(_ ctx: DecodingError.Context) -> String { fieldPath(ctx.codingPath) }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Double.Type: "a number"
        case is [String].Type, is [Any].Type: "an array of strings"
        default: "\(type)"
        }
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

/// A JSON field's path as an operator writes it (`peers[2]`, `a.b`), for the config and key file errors.
func fieldPath(_ keys: [any CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}

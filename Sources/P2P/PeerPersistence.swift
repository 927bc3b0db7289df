import Foundation
import Primitives

/// The network group an address belongs to (Specs/p2p.md section 8): its /24 for IPv4 (including IPv4-mapped
/// IPv6), its /48 for IPv6, and the name itself for anything that is not an IP literal. Inbound connections
/// are limited per group and outbound peers are spread across groups, so one operator with one subnet
/// cannot fill a node's slots (eclipse).
public enum AddressGroup {
    public static func of(_ host: String) -> String {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            let b = withUnsafeBytes(of: &v4) { Array($0) }
            return "\(b[0]).\(b[1]).\(b[2]).0/24"
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let b = withUnsafeBytes(of: &v6) { Array($0) }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
                return "\(b[12]).\(b[13]).\(b[14]).0/24"
            }
            let hextets = (0..<3).map { String(UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]), radix: 16) }
            return hextets.joined(separator: ":") + "::/48"
        }
        return host
    }
}

/// `<dataDir>/bans.json`: bans and misbehaviour scores, so a restart does not pardon anyone
/// (Specs/p2p.md section 7). Times are Unix milliseconds; expired bans are dropped when read, and scores
/// decay by the wall-clock time that passed.
struct BanFile: Codable, Sendable, Equatable {
    struct Ban: Codable, Sendable, Equatable {
        /// `node:<64 hex>` or `host:<ip>`.
        var key: String
        var untilMillis: UInt64
    }

    struct Score: Codable, Sendable, Equatable {
        var key: String
        var points: Double
        var atMillis: UInt64
    }

    var version = 1
    var bans: [Ban] = []
    var scores: [Score] = []

    static func encodeKey(_ k: BanKey) -> String {
        switch k {
        case .node(let key): "node:\(key.hex)"
        case .host(let h): "host:\(h)"
        }
    }

    static func decodeKey(_ s: String) -> BanKey? {
        if s.hasPrefix("node:"), let k = try? PublicKey(hex: String(s.dropFirst(5))) { return .node(k) }
        if s.hasPrefix("host:"), s.count > 5, s.count < 80 { return .host(String(s.dropFirst(5))) }
        return nil
    }

    /// The file's contents, or nil when it is missing or malformed (a corrupt file must not stop the node).
    static func load(_ path: String) -> BanFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let f = try? JSONDecoder().decode(BanFile.self, from: data), f.version == 1 else { return nil }
        return f
    }

    func save(_ path: String) throws { try writeAtomically(self, to: path) }
}

/// `<dataDir>/anchors.json`: the outbound peers we were connected to at shutdown, with their node keys; dialled
/// first at the next start (with the key pinned) and then deleted, like Bitcoin Core's anchors.
struct AnchorsFile: Codable, Sendable, Equatable {
    struct Anchor: Codable, Sendable, Equatable {
        var address: String
        var nodeKey: String
    }

    var anchors: [Anchor] = []

    static let maxAnchors = 2

    static func load(_ path: String) -> [(PeerEndpoint, PublicKey)] {
        guard let data = FileManager.default.contents(atPath: path),
              let f = try? JSONDecoder().decode(AnchorsFile.self, from: data) else { return [] }
        return f.anchors.prefix(maxAnchors).compactMap { a in
            guard let e = try? PeerEndpoint(parsing: a.address), let k = try? PublicKey(hex: a.nodeKey), k.isValid else { return nil }
            return (e, k)
        }
    }

    func save(_ path: String) throws { try writeAtomically(self, to: path) }
}

/// Writes JSON to `path` durably (`DurableFile`): a crash or a power loss leaves the old file or the new one.
func writeAtomically(_ value: some Encodable, to path: String) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    do { try DurableFile.replace(path, with: try enc.encode(value), mode: 0o644) } catch let e as DurableFile.Failure {
        throw P2PConfigError("cannot replace \(path): \(e)")
    }
}

extension PeerEndpoint {
    /// Parses `host:port`, or `<node key hex>@host:port` which also pins the node key expected there.
    public static func parsingPinned(_ s: String) throws(P2PConfigError) -> (PeerEndpoint, PublicKey?) {
        guard let at = s.firstIndex(of: "@") else { return (try PeerEndpoint(parsing: s), nil) }
        let keyText = String(s[..<at])
        guard let key = try? PublicKey(hex: keyText), key.isValid else { throw P2PConfigError("'\(keyText)' is not a node key (64 hex digits)") }
        return (try PeerEndpoint(parsing: String(s[s.index(after: at)...])), key)
    }
}

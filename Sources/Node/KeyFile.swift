import Foundation
import Ledger
import Primitives

/// Errors reading or writing key files.
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A secret key on disk: JSON with the secret, the public key and the address, readable only by its owner.
///
/// ```json
/// {"type": "sharechain-secret-key", "secretKey": "…64 hex…", "publicKey": "…", "address": "shr1…"}
/// ```
public struct KeyFile: Codable, Sendable {
    public var type: String
    public var secretKey: String
    public var publicKey: String
    public var address: String
    /// Validators: which RANDAO hash chain of this key is registered (default 0).
    public var randaoGeneration: UInt32?
    /// Validators: the registered hash chain's length (default `ValidatorRandao.defaultLength`).
    public var randaoChainLength: Int?
    public var note: String?

    public static let typeName = "sharechain-secret-key"

    public init(key: PrivateKey, hrp: String, note: String? = nil) {
        type = Self.typeName
        secretKey = key.secretBytes.hex
        publicKey = key.publicKey.hex
        address = Address.encode(key.publicKey, hrp: hrp)
        self.note = note
    }

    /// Reads and checks a key file (the public key must match the secret).
    public static func load(path: String) throws -> (PrivateKey, KeyFile) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw KeyFileError("cannot read key file \(path): \(error.localizedDescription)")
        }
        let file: KeyFile
        do { file = try JSONDecoder().decode(KeyFile.self, from: data) } catch {
            throw KeyFileError("\(path) is not a sharechain key file: \(error)")
        }
        guard file.type == typeName else { throw KeyFileError("\(path): unexpected key type '\(file.type)'") }
        let key: PrivateKey
        do { key = try PrivateKey(hex: file.secretKey) } catch { throw KeyFileError("\(path): invalid secret key (\(error))") }
        guard key.publicKey.hex == file.publicKey.lowercased() else {
            throw KeyFileError("\(path): the public key does not belong to the secret key")
        }
        return (key, file)
    }

    /// Writes the file with mode 0600; refuses to overwrite unless asked.
    public func write(path: String, overwrite: Bool = false) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !overwrite { throw KeyFileError("\(path) exists; refusing to overwrite a key") }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(self) + Data("\n".utf8)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard fm.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw KeyFileError("cannot write \(path)")
        }
    }
}

/// A validator's RANDAO hash chains: seeds derived from its secret, so a node with the key file can always
/// recompute its reveals. Generation `g` has seed `H_randao-seed(secret ‖ g u32)`.
public enum ValidatorRandao {
    /// 2²⁰ reveals, about four months of 10-second slots for a sole validator.
    public static let defaultLength = 1 << 20

    public static func chain(for key: PrivateKey, generation: UInt32 = 0, length: Int = defaultLength) -> RandaoHashChain {
        var w = CanonicalWriter(capacity: 36)
        w.raw(key.secretBytes)
        w.u32(generation)
        return RandaoHashChain(seed: Tags.randaoSeed.hash(w.bytes), length: length)
    }
}

/// Well-known development keys, derived from public strings. **Insecure**: anyone can derive them; they
/// exist so a devnet works out of the box and must never hold real value.
public enum DevelopmentKeys {
    public static func key(_ name: String) -> PrivateKey {
        // A SHA-256 output is below the group order except with negligible probability; try a counter if not.
        var i = 0
        while true {
            let label = i == 0 ? "sharechain devnet \(name)" : "sharechain devnet \(name) #\(i)"
            if let k = try? PrivateKey(secretBytes: SHA256.hash(Array(label.utf8)).bytes) { return k }
            i += 1
        }
    }

    public static func validator(_ i: Int) -> PrivateKey { key("validator \(i)") }
    public static func account(_ i: Int) -> PrivateKey { key("account \(i)") }
    public static func worker(_ i: Int) -> PrivateKey { key("worker \(i)") }
    public static let client = key("client")
    public static let verifier = key("verifier")
}

import Foundation
import Glibc
import Ledger
import Primitives

/// Errors reading or writing key files.
public struct KeyFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, so callers (and tests) can tell a wrong passphrase from a missing one or a bad file.
    public enum Kind: Sendable, Equatable {
        /// The file is encrypted and no passphrase was given (no option, no environment variable, no terminal).
        case passphraseRequired
        /// The passphrase does not open the file (or the file was altered).
        case wrongPassphrase
        /// Anything else: unreadable, not a key file, inconsistent.
        case invalid
    }

    public let kind: Kind
    public let message: String
    public init(_ message: String, kind: Kind = .invalid) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// Where the passphrase of an encrypted key file comes from, tried in this order: a file (`--passphrase-file`,
/// its first line), the environment variable `SHARECHAIN_PASSPHRASE` (unattended nodes), an interactive prompt
/// without echo when standard input is a terminal. It is only read when the key file is encrypted.
public struct KeyPassphrase: Sendable {
    /// The environment variable unattended processes take the passphrase from.
    public static let environmentVariable = "SHARECHAIN_PASSPHRASE"

    /// A passphrase file (only its first line is the passphrase, so a trailing newline does not count).
    public var file: String?
    /// The environment to look in (default: the process's).
    public var environment: [String: String]
    /// Whether to prompt on the terminal when neither the file nor the environment gives one.
    public var prompt: Bool

    public init(file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment, prompt: Bool = true) {
        self.file = file
        self.environment = environment
        self.prompt = prompt
    }

    /// A fixed passphrase (tests, and `keys new` once it has asked).
    public static func literal(_ passphrase: String) -> KeyPassphrase {
        KeyPassphrase(environment: [environmentVariable: passphrase], prompt: false)
    }

    /// No passphrase at all: only plaintext key files load.
    public static let none = KeyPassphrase(environment: [:], prompt: false)

    /// The passphrase, or nil when no source has one. `purpose` names the key in the prompt. `warn` is told when the
    /// passphrase file is open to other users (it is still read: the key file's own mode is what keeps the secret).
    public func resolve(purpose: String, warn: (String) -> Void = { _ in }) throws -> String? {
        if let file {
            var st = stat()
            if stat(file, &st) == 0, st.st_mode & 0o077 != 0 {
                warn("passphrase file \(file) is accessible to other users (mode \(String(st.st_mode & 0o777, radix: 8))); "
                    + "restrict it with `chmod 600 \(file)`")
            }
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw KeyFileError("cannot read passphrase file \(file): \(error.localizedDescription)")
            }
            return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        }
        if let p = environment[Self.environmentVariable] { return p }
        if prompt, isatty(STDIN_FILENO) == 1 { return try TerminalPrompt.secret("Passphrase for \(purpose): ") }
        return nil
    }
}

/// Reads a line from the terminal with echo off (for passphrases).
public enum TerminalPrompt {
    /// Prints `prompt` on standard error and reads one line from standard input without echoing it.
    public static func secret(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let isTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        // Restore echo whatever happens, and end the line the user typed (echo was off, so no newline showed).
        defer {
            if isTerminal { var s = saved; _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &s) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw KeyFileError("no passphrase entered", kind: .passphraseRequired) }
        return line
    }
}

/// A secret key on disk: JSON with the public key and address in clear and the secret either encrypted
/// (`crypto`, Specs/keystore.md: scrypt and AES-256-GCM, after geth's keystore v3) or, for development keys,
/// in plaintext (`secretKey`). Written readable only by its owner.
///
/// ```json
/// {"type": "sharechain-secret-key", "publicKey": "…", "address": "shr1…", "crypto": {"kdf": "scrypt", …}}
/// ```
public struct KeyFile: Codable, Sendable {
    public var type: String
    /// The secret in hex, for plaintext (development) key files only.
    public var secretKey: String?
    /// The encrypted secret, for encrypted key files.
    public var crypto: EncryptedSecret?
    public var publicKey: String
    public var address: String
    /// Validators: which RANDAO hash chain of this key is registered (default 0).
    public var randaoGeneration: UInt32?
    /// Validators: the registered hash chain's length (default `ValidatorRandao.defaultLength`).
    public var randaoChainLength: Int?
    public var note: String?

    public static let typeName = "sharechain-secret-key"
    /// The longest RANDAO hash chain a key file may ask for (16 times the default).
    public static let maxRandaoChainLength = ValidatorRandao.defaultLength << 4
    /// The highest RANDAO chain generation a key file may name (the node builds every chain up to it at startup).
    public static let maxRandaoGeneration: UInt32 = 1023
    /// The most hashes the node may compute at startup to build the chains a key file names, `(generation + 1) ×
    /// length`: 64 default-length chains (seconds of hashing).
    public static let maxRandaoStartupHashes = ValidatorRandao.defaultLength << 6

    /// Whether the secret is encrypted (opening the file needs the passphrase).
    public var isEncrypted: Bool { crypto != nil }

    /// A plaintext key file (development keys, the P2P node identity).
    public init(key: PrivateKey, hrp: String, note: String? = nil) {
        type = Self.typeName
        secretKey = key.secretBytes.hex
        publicKey = key.publicKey.hex
        address = Address.encode(key.publicKey, hrp: hrp)
        self.note = note
    }

    /// An encrypted key file: the secret sealed under a key derived from `passphrase` with scrypt.
    public init(key: PrivateKey, hrp: String, passphrase: String, scrypt: Scrypt.Parameters = .standard, note: String? = nil) throws {
        type = Self.typeName
        publicKey = key.publicKey.hex
        address = Address.encode(key.publicKey, hrp: hrp)
        crypto = try EncryptedSecret.seal(key.secretBytes, publicKey: key.publicKey, passphrase: passphrase, scrypt: scrypt)
        self.note = note
    }

    /// A decoding error in an operator's words: the field and what is wrong, not Swift's coding paths.
    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, let ctx): return "missing field '\(fieldPath(ctx.codingPath + [k]))'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return ctx.codingPath.isEmpty ? "not a JSON object" : "wrong type for '\(fieldPath(ctx.codingPath))'"
        case .dataCorrupted(let ctx): return ctx.codingPath.isEmpty ? "not JSON" : "invalid value for '\(fieldPath(ctx.codingPath))'"
        @unknown default: return "unreadable"
        }
    }

    /// Reads a key file without opening its secret: the public key and address are in clear (`keys show`).
    public static func read(path: String) throws -> KeyFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw KeyFileError("cannot read key file \(path): \(error.localizedDescription)")
        }
        let file: KeyFile
        do { file = try JSONDecoder().decode(KeyFile.self, from: data) } catch let e as DecodingError {
            throw KeyFileError("\(path) is not a sharechain key file (\(Self.describe(e))); create one with `sharechain keys new`")
        } catch {
            throw KeyFileError("\(path) is not a sharechain key file: \(error.localizedDescription)")
        }
        guard file.type == typeName else { throw KeyFileError("\(path): unexpected key type '\(file.type)'") }
        guard (file.secretKey == nil) != (file.crypto == nil) else {
            throw KeyFileError("\(path): a key file holds exactly one of secretKey (plaintext) and crypto (encrypted)")
        }
        do { _ = try PublicKey(hex: file.publicKey) } catch { throw KeyFileError("\(path): invalid public key (\(error))") }
        // The RANDAO fields are stored in clear and not authenticated (only the public key is the secret's associated
        // data), and the node builds `generation + 1` chains of `length` hashes from them before it starts: bound
        // them here, so that an altered file is an error naming it, not a trap or an endless startup (review D, D3).
        if let length = file.randaoChainLength, !(1...KeyFile.maxRandaoChainLength).contains(length) {
            throw KeyFileError("\(path): randaoChainLength \(length) outside 1...\(KeyFile.maxRandaoChainLength)")
        }
        if let generation = file.randaoGeneration, generation > KeyFile.maxRandaoGeneration {
            throw KeyFileError("\(path): randaoGeneration \(generation) above \(KeyFile.maxRandaoGeneration)")
        }
        // The two bounds alone still allowed 1 024 chains of 2²⁴ hashes, about an hour and a half of hashing and 512 MiB
        // before the node started (tenth review): bound the hashes the startup does, not each factor.
        let chains = Int(file.randaoGeneration ?? 0) + 1, length = file.randaoChainLength ?? ValidatorRandao.defaultLength
        guard chains.multipliedReportingOverflow(by: length).partialValue <= KeyFile.maxRandaoStartupHashes else {
            throw KeyFileError("\(path): randaoGeneration \(chains - 1) with randaoChainLength \(length) needs \(chains) chains of \(length) hashes at startup, above \(KeyFile.maxRandaoStartupHashes) in all")
        }
        return file
    }

    /// Reads a key file and opens its secret: with the passphrase from `passphrase` when the file is encrypted;
    /// a plaintext file loads, and `warn` is told it is not encrypted. The public key must match the secret.
    /// The secret is not opened when the group or others may read or write the file (an encrypted key too:
    /// its passphrase can be guessed offline): that is an error naming `chmod 600`, as ssh does for its keys.
    public static func load(path: String, passphrase: KeyPassphrase = KeyPassphrase(),
                            warn: (String) -> Void = { _ in }) throws -> (PrivateKey, KeyFile) {
        let file = try read(path: path)
        try checkPermissions(path: path)
        let key: PrivateKey
        if let crypto = file.crypto {
            guard let pass = try passphrase.resolve(purpose: path, warn: warn) else {
                throw KeyFileError("\(path) is encrypted: give its passphrase with --passphrase-file or \(KeyPassphrase.environmentVariable)",
                                   kind: .passphraseRequired)
            }
            let publicKey = try PublicKey(hex: file.publicKey)
            let secret: [UInt8]
            do { secret = try crypto.open(publicKey: publicKey, passphrase: pass) } catch .authenticationFailed {
                throw KeyFileError("\(path): wrong passphrase (or the file was altered)", kind: .wrongPassphrase)
            } catch {
                throw KeyFileError("\(path): cannot decrypt (\(error))")
            }
            do { key = try PrivateKey(secretBytes: secret) } catch { throw KeyFileError("\(path): invalid secret key (\(error))") }
        } else {
            do { key = try PrivateKey(hex: file.secretKey ?? "") } catch { throw KeyFileError("\(path): invalid secret key (\(error))") }
            warn("key file \(path) is not encrypted (a development key?); anyone who can read it holds the key. "
                + "Use `sharechain keys new` for an encrypted one.")
        }
        guard key.publicKey.hex == file.publicKey.lowercased() else {
            throw KeyFileError("\(path): the public key does not belong to the secret key")
        }
        return (key, file)
    }

    /// Refuses a key file that its group or others may read or write (`mode & 0o077`).
    static func checkPermissions(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw KeyFileError("cannot read key file \(path): \(String(cString: strerror(errno)))") }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw KeyFileError("key file \(path) is accessible to other users (mode \(String(mode, radix: 8))); "
                + "restrict it with `chmod 600 \(path)`")
        }
    }

    /// Writes the file with mode 0600 from its first byte: a temporary file created 0600 beside it, written and
    /// flushed to disk, then moved into place (renamed over an old key with `overwrite`, else linked so that an
    /// existing key is never replaced). A crash at any moment leaves no key, the old key or the whole new one,
    /// never a key others can read (at worst a 0600 temporary `.<name>.tmp-<pid>` beside it).
    public func write(path: String, overwrite: Bool = false) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !overwrite { throw KeyFileError("\(path) exists; refusing to overwrite a key") }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(self) + Data("\n".utf8)
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = (dir as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        func failure(_ what: String, _ code: Int32 = errno) -> KeyFileError {
            KeyFileError("cannot write \(path): \(what): \(String(cString: strerror(code)))")
        }
        unlink(tmp)
        do { try DurableFile.writeNew(data, at: tmp) } catch { throw KeyFileError("cannot write \(path): \(error)") }
        if overwrite {
            guard rename(tmp, path) == 0 else { let e = failure("renaming \(tmp)"); unlink(tmp); throw e }
        } else {
            // link(2) fails when the name exists, so a key created meanwhile is not replaced either (a file system
            // without hard links gets the rename, after the check above).
            if link(tmp, path) != 0 {
                let linkErrno = errno
                guard linkErrno == EPERM || linkErrno == EOPNOTSUPP, rename(tmp, path) == 0 else {
                    let e = linkErrno == EEXIST ? KeyFileError("\(path) exists; refusing to overwrite a key") : failure("linking \(tmp)", linkErrno)
                    unlink(tmp)
                    throw e
                }
            } else {
                unlink(tmp)
            }
        }
        DurableFile.syncDirectory(dir)
    }
}

/// The encrypted secret of a key file (Specs/keystore.md): scrypt derives a 32-byte key from the passphrase
/// and a random salt; AES-256-GCM seals the 32-byte secret under it with a random nonce, authenticating the
/// public key as associated data so the clear public key and the secret cannot be mixed between files.
public struct EncryptedSecret: Codable, Sendable, Equatable {
    /// scrypt parameters and salt.
    public struct KDFParams: Codable, Sendable, Equatable {
        public var n: UInt64
        public var r: UInt64
        public var p: UInt64
        public var dklen: Int
        /// Hex, 32 random bytes.
        public var salt: String
    }

    /// Cipher parameters.
    public struct CipherParams: Codable, Sendable, Equatable {
        /// Hex, 12 random bytes.
        public var nonce: String
    }

    /// "aes-256-gcm".
    public var cipher: String
    public var cipherparams: CipherParams
    /// Hex, the encrypted 32-byte secret.
    public var ciphertext: String
    /// Hex, the 16-byte GCM tag.
    public var tag: String
    /// "scrypt".
    public var kdf: String
    public var kdfparams: KDFParams

    static let aadPrefix = Array("sharechain-keystore-v1".utf8)

    /// Seals `secret` under `passphrase`.
    public static func seal(_ secret: [UInt8], publicKey: PublicKey, passphrase: String, scrypt: Scrypt.Parameters) throws -> EncryptedSecret {
        let salt = SecureRandom.bytes(32)
        let nonce = SecureRandom.bytes(AES256GCM.nonceLength)
        let key = try Scrypt.derive(passphrase: Array(passphrase.utf8), salt: salt, parameters: scrypt, length: AES256GCM.keyLength)
        let sealed = try AES256GCM.seal(key: key, nonce: nonce, plaintext: secret, aad: aadPrefix + publicKey.bytes)
        return EncryptedSecret(cipher: "aes-256-gcm", cipherparams: .init(nonce: nonce.hex), ciphertext: sealed.ciphertext.hex,
                               tag: sealed.tag.hex, kdf: "scrypt",
                               kdfparams: .init(n: scrypt.n, r: scrypt.r, p: scrypt.p, dklen: AES256GCM.keyLength, salt: salt.hex))
    }

    /// Opens the secret; `PasswordCryptoError.authenticationFailed` for a wrong passphrase.
    public func open(publicKey: PublicKey, passphrase: String) throws(PasswordCryptoError) -> [UInt8] {
        guard cipher == "aes-256-gcm" else { throw .invalidLength("unsupported cipher '\(cipher)'") }
        guard kdf == "scrypt" else { throw .invalidKDFParameters("unsupported kdf '\(kdf)'") }
        guard kdfparams.dklen == AES256GCM.keyLength else { throw .invalidLength("dklen \(kdfparams.dklen), expected 32") }
        guard let salt = try? Hex.decode(kdfparams.salt), let nonce = try? Hex.decode(cipherparams.nonce),
              let ciphertext = try? Hex.decode(self.ciphertext), let tag = try? Hex.decode(self.tag)
        else { throw .invalidLength("salt, nonce, ciphertext and tag must be hex") }
        let key = try Scrypt.derive(passphrase: Array(passphrase.utf8), salt: salt,
                                    parameters: .init(n: kdfparams.n, r: kdfparams.r, p: kdfparams.p), length: AES256GCM.keyLength)
        return try AES256GCM.open(key: key, nonce: nonce, ciphertext: ciphertext, tag: tag, aad: Self.aadPrefix + publicKey.bytes)
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
    public static func checker(_ i: Int) -> PrivateKey { key("checker \(i)") }
}

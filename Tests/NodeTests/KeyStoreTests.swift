import ArgumentParser
import Foundation
import Logging
import Testing
@testable import Node
@testable import Primitives
@testable import sharechain
import TestSupport

/// Encrypted key files (Specs/keystore.md): round trip, wrong and missing passphrases, plaintext development
/// keys, and `keys show` without the passphrase. Tests use a small scrypt cost (N = 2¹⁰) to stay fast; the
/// format and code path are those of the default cost.
@Suite struct KeyStoreTests {
    static let light = Scrypt.Parameters(n: 1 << 10, r: 8, p: 1)

    @Test func anEncryptedKeyRoundTripsAndKeepsItsPublicHalfInClear() throws {
        let dir = TempDir("keystore")
        let key = PrivateKey.generate()
        let path = dir.file("k.json")
        try KeyFile(key: key, hrp: "shr", passphrase: "correct horse", scrypt: Self.light).write(path: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(key.secretBytes.hex), "the secret is not in the file in clear")
        #expect(text.contains(key.publicKey.hex) && text.contains(Address.encode(key.publicKey, hrp: "shr")))
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        var warnings = [String]()
        let (loaded, file) = try KeyFile.load(path: path, passphrase: .literal("correct horse"), warn: { warnings.append($0) })
        #expect(loaded.secretBytes == key.secretBytes)
        #expect(file.isEncrypted && file.secretKey == nil)
        #expect(warnings.isEmpty, "no plaintext warning for an encrypted key")

        // The public half reads without any passphrase (`keys show`).
        let clear = try KeyFile.read(path: path)
        #expect(clear.publicKey == key.publicKey.hex && clear.address == Address.encode(key.publicKey, hrp: "shr"))

        // Two encryptions of the same key differ (fresh salt and nonce).
        let again = try KeyFile(key: key, hrp: "shr", passphrase: "correct horse", scrypt: Self.light)
        #expect(again.crypto?.kdfparams.salt != file.crypto?.kdfparams.salt && again.crypto?.ciphertext != file.crypto?.ciphertext)
    }

    @Test func aWrongOrMissingPassphraseIsAClearError() throws {
        let dir = TempDir("keystore")
        let path = dir.file("k.json")
        try KeyFile(key: PrivateKey.generate(), hrp: "shr", passphrase: "right", scrypt: Self.light).write(path: path)
        let wrong = try #require(throws: KeyFileError.self) { try KeyFile.load(path: path, passphrase: .literal("wrong")) }
        #expect(wrong.kind == .wrongPassphrase && wrong.message.contains("wrong passphrase"))
        let none = try #require(throws: KeyFileError.self) { try KeyFile.load(path: path, passphrase: .none) }
        #expect(none.kind == .passphraseRequired)
        #expect(none.message.contains("--passphrase-file") && none.message.contains(KeyPassphrase.environmentVariable))

        // From a passphrase file (its first line; the trailing newline is not part of it) and from the environment.
        try "right\n".write(toFile: dir.file("pass.txt"), atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { try KeyFile.load(path: path, passphrase: KeyPassphrase(file: dir.file("pass.txt"), prompt: false)) }
        #expect(throws: Never.self) {
            try KeyFile.load(path: path, passphrase: KeyPassphrase(environment: [KeyPassphrase.environmentVariable: "right"], prompt: false))
        }
        // The file wins over the environment.
        #expect(throws: Never.self) {
            try KeyFile.load(path: path, passphrase: KeyPassphrase(file: dir.file("pass.txt"),
                                                                   environment: [KeyPassphrase.environmentVariable: "wrong"], prompt: false))
        }
        let missingFile = try #require(throws: KeyFileError.self) {
            try KeyFile.load(path: path, passphrase: KeyPassphrase(file: dir.file("absent.txt"), prompt: false))
        }
        #expect(missingFile.message.contains("absent.txt"))
    }

    /// A passphrase file other users may read still opens the key (the key file's own mode keeps the secret), with a
    /// warning naming the file and `chmod 600`; a 0600 one is quiet.
    @Test func aPassphraseFileOthersCanReadIsWarnedAbout() throws {
        let dir = TempDir("keystore")
        let path = dir.file("k.json")
        try KeyFile(key: PrivateKey.generate(), hrp: "shr", passphrase: "right", scrypt: Self.light).write(path: path)
        let pass = dir.file("pass.txt")
        try "right\n".write(toFile: pass, atomically: true, encoding: .utf8)
        for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false), (0o400, false)] as [(mode_t, Bool)] {
            #expect(chmod(pass, mode) == 0)
            var warnings = [String]()
            _ = try KeyFile.load(path: path, passphrase: KeyPassphrase(file: pass, prompt: false), warn: { warnings.append($0) })
            #expect(warnings.count == (warned ? 1 : 0), "mode \(String(mode, radix: 8)): \(warnings)")
            if warned { #expect(warnings[0].contains(pass) && warnings[0].contains("chmod 600")) }
        }
    }

    @Test func tamperingIsDetected() throws {
        let dir = TempDir("keystore")
        let key = PrivateKey.generate()
        var file = try KeyFile(key: key, hrp: "shr", passphrase: "p", scrypt: Self.light)
        // A flipped ciphertext bit fails authentication, like a wrong passphrase.
        var flipped = file
        var ct = try Hex.decode(flipped.crypto!.ciphertext)
        ct[0] ^= 1
        flipped.crypto!.ciphertext = ct.hex
        try flipped.write(path: dir.file("flipped.json"))
        #expect(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("flipped.json"), passphrase: .literal("p")) }
        // Another public key in clear: the AEAD binds the public key, so the secret no longer opens.
        file.publicKey = PrivateKey.generate().publicKey.hex
        try file.write(path: dir.file("swapped.json"))
        let swapped = try #require(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("swapped.json"), passphrase: .literal("p")) }
        #expect(swapped.kind == .wrongPassphrase)
        // A hostile scrypt cost is refused before any work.
        var costly = try KeyFile(key: key, hrp: "shr", passphrase: "p", scrypt: Self.light)
        costly.crypto!.kdfparams.n = 1 << 30
        try costly.write(path: dir.file("costly.json"))
        let refused = try #require(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("costly.json"), passphrase: .literal("p")) }
        #expect(refused.kind == .invalid && refused.message.contains("scrypt"))
    }

    @Test func plaintextDevelopmentKeysStillLoadWithAWarning() throws {
        let dir = TempDir("keystore")
        let path = dir.file("dev.json")
        try KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr", note: "INSECURE development key").write(path: path)
        var warnings = [String]()
        // No passphrase is needed, whatever the environment says.
        let (key, file) = try KeyFile.load(path: path, passphrase: .literal("unused"), warn: { warnings.append($0) })
        #expect(key.publicKey == DevelopmentKeys.validator(0).publicKey && !file.isEncrypted)
        #expect(warnings.count == 1 && warnings[0].contains("not encrypted") && warnings[0].contains(path))
        // A file holding both or neither form is refused.
        var both = file
        both.crypto = try KeyFile(key: key, hrp: "shr", passphrase: "p", scrypt: Self.light).crypto
        try both.write(path: dir.file("both.json"))
        #expect(throws: KeyFileError.self) { try KeyFile.read(path: dir.file("both.json")) }
    }

    /// A node with an encrypted validator key: a startup error naming the way to give the passphrase without one,
    /// and the key loaded from `passphraseFile` (the config field behind `--passphrase-file`).
    @Test func aNodeOpensAnEncryptedValidatorKeyWithItsPassphraseFile() throws {
        let dir = TempDir("keystore")
        var file = try KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr", passphrase: "node pass", scrypt: Self.light)
        file.randaoChainLength = 4096
        try file.write(path: dir.file("validator.key"))
        try "node pass\n".write(toFile: dir.file("pass.txt"), atomically: true, encoding: .utf8)
        var config = NodeConfig(dataDir: dir.file("data"))
        config.validatorKey = dir.file("validator.key")
        config.weightsDir = repositoryRoot.appendingPathComponent("Genesis/models").path
        let genesis = try EconomyGenesis.json()
        if ProcessInfo.processInfo.environment[KeyPassphrase.environmentVariable] == nil {
            let error = try #require(throws: NodeStartupError.self) {
                try NodeRuntime(config: config, logger: Logger(label: "keystore"), genesisJSON: genesis)
            }
            #expect(error.message.contains("--passphrase-file"), "\(error)")
        }
        config.passphraseFile = dir.file("pass.txt")
        let runtime = try NodeRuntime(config: config, logger: Logger(label: "keystore"), genesisJSON: genesis)
        #expect(runtime.validator?.key.publicKey == DevelopmentKeys.validator(0).publicKey)
        try runtime.store.close()
    }

    /// The commands: `keys new` writes an encrypted file from --passphrase-file, `keys show` reads it without
    /// one, and a loader without a passphrase fails clearly.
    @Test func keysNewAndShowFromTheCommandLine() async throws {
        let dir = TempDir("keystore")
        try "from file\n".write(toFile: dir.file("pass.txt"), atomically: true, encoding: .utf8)
        let out = dir.file("new.key")
        var new = try #require(try Sharechain.parseAsRoot(["keys", "new", "-o", out, "--passphrase-file", dir.file("pass.txt"),
                                                           "--scrypt-log-n", "10"]) as? Keys.New)
        try await new.run()
        let file = try KeyFile.read(path: out)
        #expect(file.isEncrypted && file.crypto?.kdfparams.n == 1 << 10 && file.crypto?.cipher == "aes-256-gcm")
        let (key, _) = try KeyFile.load(path: out, passphrase: KeyPassphrase(file: dir.file("pass.txt"), prompt: false))
        #expect(key.publicKey.hex == file.publicKey)
        let show = try #require(try Sharechain.parseAsRoot(["keys", "show", out]) as? Keys.Show)
        try await show.run()
        // An empty passphrase is refused.
        try "\n".write(toFile: dir.file("empty.txt"), atomically: true, encoding: .utf8)
        new = try #require(try Sharechain.parseAsRoot(["keys", "new", "-o", dir.file("other.key"), "--passphrase-file", dir.file("empty.txt")]) as? Keys.New)
        await #expect(throws: ValidationError.self) { try await new.run() }
        #expect(!FileManager.default.fileExists(atPath: dir.file("other.key")))
    }
}

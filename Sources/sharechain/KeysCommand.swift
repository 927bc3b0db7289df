import ArgumentParser
import Foundation
import Node
import Primitives

/// `sharechain keys ...`: create and inspect key files.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and inspect key files.",
        subcommands: [New.self, Show.self, Dev.self])

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a new key from the OS random generator and write it encrypted to a file (mode 0600).",
            discussion: """
                The secret is encrypted with AES-256-GCM under a key derived from a passphrase with scrypt \
                (Specs/keystore.md); the address and public key stay readable without it. The passphrase comes from \
                --passphrase-file, else the environment variable SHARECHAIN_PASSPHRASE, else a prompt (asked twice).
                """)
        @Option(name: .shortAndLong, help: "Where to write the key file.") var output: String
        @Option(help: "Address prefix (the chain's human-readable part).") var hrp = "shr"
        @Option(help: "File holding the passphrase (its first line).") var passphraseFile: String?
        @Option(help: "scrypt cost as log2 N (default 18: 256 MiB and about a second; 10...20; below 14 a weak passphrase is cheap to guess, so it warns).") var scryptLogN: UInt64 = 18
        @Flag(help: "Replace an existing file.") var force = false

        func validate() throws {
            // N = 2 (log 1) made the passphrase the only protection: every guess cost a microsecond (operator review).
            guard (10...20).contains(scryptLogN) else { throw ValidationError("--scrypt-log-n must be between 10 and 20") }
        }

        func run() async throws {
            if scryptLogN < 14 {
                FileHandle.standardError.write(Data("warning: --scrypt-log-n \(scryptLogN) makes each passphrase guess cheap (the default is 18): use it for tests only\n".utf8))
            }
            let passphrase = try Self.newPassphrase(file: passphraseFile)
            let key = PrivateKey.generate()
            let file = try KeyFile(key: key, hrp: hrp, passphrase: passphrase, scrypt: .init(n: 1 << scryptLogN, r: 8, p: 1))
            try file.write(path: output, overwrite: force)
            print("address    \(Address.encode(key.publicKey, hrp: hrp))")
            print("public key \(key.publicKey.hex)")
            print("written to \(output) (encrypted)")
        }

        /// The passphrase for a new key: from the file or the environment as given, or asked twice on the terminal.
        static func newPassphrase(file: String?) throws -> String {
            if let given = try KeyPassphrase(file: file, prompt: false).resolve(purpose: "the new key", warn: { printWarning($0) }) {
                guard !given.isEmpty else { throw ValidationError("the passphrase is empty") }
                return given
            }
            guard isatty(STDIN_FILENO) == 1 else {
                throw ValidationError("no passphrase: give --passphrase-file or set \(KeyPassphrase.environmentVariable) (standard input is not a terminal)")
            }
            let first = try TerminalPrompt.secret("Passphrase for the new key: ")
            guard !first.isEmpty else { throw ValidationError("the passphrase is empty") }
            guard try TerminalPrompt.secret("Repeat the passphrase: ") == first else { throw ValidationError("the passphrases differ") }
            return first
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the address and public key of a key file (never the secret; no passphrase needed).")
        @Argument(help: "Key file.") var file: String
        @Option(help: "Address prefix.") var hrp = "shr"

        func run() async throws {
            // The public half is stored in clear, so this never opens (or asks for the passphrase of) the secret.
            let f = try KeyFile.read(path: file)
            let publicKey = try PublicKey(hex: f.publicKey)
            print("address    \(Address.encode(publicKey, hrp: hrp))")
            print("public key \(publicKey.hex)")
            print("encrypted  \(f.isEncrypted ? "yes" : "no (plaintext)")")
        }
    }

    struct Dev: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a well-known INSECURE development key (validator-N, account-N, worker-N, client, verifier).",
            discussion: "These keys are derived from public strings and are funded in Genesis/devnet*.json. Never use them on a real network.")
        @Argument(help: "validator-0, account-3, worker-1, client or verifier.") var name: String
        @Option(name: .shortAndLong, help: "Where to write the key file.") var output: String
        @Flag(help: "Replace an existing file.") var force = false

        func run() async throws {
            let key = try Self.resolve(name)
            var file = KeyFile(key: key, hrp: "shr", note: "INSECURE development key '\(name)'")
            if name.hasPrefix("validator-") { file.randaoGeneration = 0; file.randaoChainLength = ValidatorRandao.defaultLength }
            try file.write(path: output, overwrite: force)
            print("\(name): \(Address.encode(key.publicKey, hrp: "shr")) -> \(output)")
        }

        static func resolve(_ name: String) throws -> PrivateKey {
            func index(_ prefix: String) -> Int? { name.hasPrefix(prefix) ? Int(name.dropFirst(prefix.count)) : nil }
            if let i = index("validator-") { return DevelopmentKeys.validator(i) }
            if let i = index("account-") { return DevelopmentKeys.account(i) }
            if let i = index("worker-") { return DevelopmentKeys.worker(i) }
            if name == "client" { return DevelopmentKeys.client }
            if name == "verifier" { return DevelopmentKeys.verifier }
            throw ValidationError("unknown development key '\(name)'")
        }
    }
}

/// `sharechain genesis ...`: create and check genesis documents.
struct GenesisCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genesis", abstract: "Create and check genesis documents.", subcommands: [Devnet.self, Check.self])

    struct Devnet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a development genesis (insecure well-known keys, the tiny test model's pool).")
        @Option(help: "Number of validators.") var validators = 1
        @Option(help: "Slot length in seconds.") var slotSeconds: UInt64 = 10
        @Option(help: "Genesis time, Unix seconds.") var genesisTime: UInt64 = 1_793_491_200
        @Option(help: "Chain name.") var chainName = "sharechain-devnet"
        @Option(help: "The tiny model's weight file.") var model = "Genesis/models/tiny/model.safetensors"
        @Option(help: "RANDAO hash-chain length of each validator.") var randaoLength = ValidatorRandao.defaultLength
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws {
            guard (1...1024).contains(validators) else { throw ValidationError("--validators must be in 1...1024") }
            guard (1...KeyFile.maxRandaoChainLength).contains(randaoLength) else {
                throw ValidationError("--randao-length must be in 1...\(KeyFile.maxRandaoChainLength)")
            }
        }

        func run() async throws {
            var b = DevnetGenesisBuilder(modelFile: model)
            b.validators = validators
            b.slotSeconds = slotSeconds
            b.genesisTime = genesisTime
            b.chainName = chainName
            b.randaoLength = randaoLength
            let data = try b.json()
            let genesis = try GenesisDocumentLoader.check(data)
            if let output {
                try data.write(to: URL(fileURLWithPath: output))
                print("wrote \(output): chain id \(genesis.chainId)")
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a genesis file and print its chain id.")
        @Argument(help: "Genesis file.") var file: String

        func run() async throws {
            let g = try GenesisDocumentLoader.load(file)
            print("chain     \(g.chainName)")
            print("chain id  \(g.chainId)")
            print("validators \(g.allocation.validators.count), accounts \(g.allocation.balances.count), pools \(g.allocation.pools.count)")
        }
    }
}

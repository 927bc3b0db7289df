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
            abstract: "Generate a new key from the OS random generator and write it to a file (mode 0600).")
        @Option(name: .shortAndLong, help: "Where to write the key file.") var output: String
        @Option(help: "Address prefix (the chain's human-readable part).") var hrp = "shr"
        @Flag(help: "Replace an existing file.") var force = false

        func run() async throws {
            let key = PrivateKey.generate()
            try KeyFile(key: key, hrp: hrp).write(path: output, overwrite: force)
            print("address    \(Address.encode(key.publicKey, hrp: hrp))")
            print("public key \(key.publicKey.hex)")
            print("written to \(output)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the address and public key of a key file (never the secret).")
        @Argument(help: "Key file.") var file: String
        @Option(help: "Address prefix.") var hrp = "shr"

        func run() async throws {
            let (key, _) = try KeyFile.load(path: file)
            print("address    \(Address.encode(key.publicKey, hrp: hrp))")
            print("public key \(key.publicKey.hex)")
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

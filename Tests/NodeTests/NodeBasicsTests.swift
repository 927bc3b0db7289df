import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Node
@testable import Primitives
import TestSupport



@Suite struct NodeBasicsTests {
    @Test func embeddedGenesisMatchesTheShippedFiles() throws {
        let devnet = try String(contentsOf: repositoryRoot.appendingPathComponent("Genesis/devnet.json"), encoding: .utf8)
        let devnet4 = try String(contentsOf: repositoryRoot.appendingPathComponent("Genesis/devnet-4.json"), encoding: .utf8)
        // Compiled in by the build (Plugins/EmbedDocuments): a difference means a stale build or a broken embedding.
        #expect(EmbeddedGenesis.devnet == devnet, "the embedded genesis differs from Genesis/devnet.json")
        #expect(EmbeddedGenesis.devnet4 == devnet4, "the embedded genesis differs from Genesis/devnet-4.json")
        // And the shipped files are what the generator produces from the tiny model.
        var b = DevnetGenesisBuilder(modelFile: repositoryRoot.appendingPathComponent("Genesis/models/tiny/model.safetensors").path)
        #expect(String(decoding: try b.json(), as: UTF8.self) == devnet)
        b.validators = 4
        b.chainName = "sharechain-devnet-4"
        #expect(String(decoding: try b.json(), as: UTF8.self) == devnet4)
    }

    @Test func keyFilesRoundTripWithPrivatePermissions() throws {
        let dir = TempDir()
        let key = PrivateKey.generate()
        let path = dir.file("k.json")
        try KeyFile(key: key, hrp: "shr").write(path: path)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let (loaded, file) = try KeyFile.load(path: path)
        #expect(loaded.publicKey == key.publicKey)
        #expect(file.address == Address.encode(key.publicKey, hrp: "shr"))
        #expect(throws: KeyFileError.self) { try KeyFile(key: key, hrp: "shr").write(path: path) }
        // A file whose public key does not match its secret is refused.
        var bad = file
        bad.publicKey = PrivateKey.generate().publicKey.hex
        try bad.write(path: dir.file("bad.json"))
        #expect(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("bad.json")) }
        try "not json".write(toFile: dir.file("junk.json"), atomically: true, encoding: .utf8)
        #expect(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("junk.json")) }
    }

    /// Operator review (seventeenth session): a garbage validator key file stopped the node only after it had created
    /// the data directory, its database and node key. Now the key is read first, and nothing is left behind.
    @Test func aBadValidatorKeyLeavesNoDataDirectoryBehind() throws {
        let dir = TempDir()
        try "not a key".write(toFile: dir.file("validator.key"), atomically: true, encoding: .utf8)
        var config = NodeConfig(dataDir: dir.file("data"))
        config.weightsDir = repositoryRoot.appendingPathComponent("Genesis/models").path
        config.validatorKey = dir.file("validator.key")
        do {
            _ = try NodeRuntime(config: config, logger: .init(label: "test"))
            Issue.record("node started with a garbage validator key")
        } catch let e as NodeStartupError {
            #expect(e.message.contains("validator key") && e.message.contains("not a sharechain key file"), "\(e.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")), "the data directory was created")
    }

    @Test func missingWeightsRefuseToStartWithAClearMessage() throws {
        let dir = TempDir()
        var config = NodeConfig(dataDir: dir.file("data"))
        config.weightsDir = dir.path  // holds no weight files
        do {
            _ = try NodeRuntime(config: config, logger: .init(label: "test"))
            Issue.record("node started without the pinned weights")
        } catch let e as NodeStartupError {
            #expect(e.message.contains("cannot adjudicate"))
            #expect(e.message.contains("459d17870e225ea0"))
        }
        config.weightsDir = dir.file("nope")
        #expect(throws: NodeStartupError.self) { try NodeRuntime(config: config, logger: .init(label: "test")) }
    }

    @Test func weightsAreFoundBySHA256AndTheRealAdjudicatorAgreesWithTheExample() throws {
        let index = try WeightsIndex(directory: repositoryRoot.appendingPathComponent("Genesis/models").path)
        let genesis = try GenesisDocument.decode(Data(EmbeddedGenesis.devnet.utf8)).resolve()
        try index.check(pools: genesis.allocation.pools)
        // The tiny model's example pass (all four layers plus the final norm) replays to its documented hash.
        let pool = genesis.allocation.pools[0]
        var whole = pool
        whole.shards = [PoolShard(layerStart: 0, layerEnd: 4, finalNorm: true, weightsSHA256: pool.shards[0].weightsSHA256,
                                  priceInputToken: 1, priceOutputToken: 1)]
        let input = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("Genesis/models/tiny/example.in.tns")))
        let verdict = try VerifierAdjudicator(weights: index).adjudicate(
            AdjudicationRequest(pool: whole, shardIndex: 0, input: input, positionOffset: 0, tokenCount: 4))
        #expect(verdict == .output(try Hash32(hex: "010e58f7a977fa98874cd7ac761ce6659b8efe448994255117085703d5674dfe")))
        // A leaf claiming a different token count is an invalid pass.
        let wrong = try VerifierAdjudicator(weights: index).adjudicate(
            AdjudicationRequest(pool: whole, shardIndex: 0, input: input, positionOffset: 0, tokenCount: 3))
        guard case .invalidInput = wrong else { Issue.record("expected invalidInput, got \(wrong)"); return }
    }

    @Test func hostPortParsing() throws {
        #expect(try parseHostPort("127.0.0.1:8645") == ("127.0.0.1", 8645))
        #expect(try parseHostPort(":9") == ("127.0.0.1", 9))
        #expect(try parseHostPort("[::1]:80") == ("::1", 80))
        #expect(throws: NodeStartupError.self) { try parseHostPort("localhost") }
        #expect(throws: NodeStartupError.self) { try parseHostPort("x:99999") }
    }
}

import ArgumentParser
import Foundation
import Logging
import Synchronization
import Testing
@testable import Node
@testable import sharechain
import Storage
import TestSupport

/// `--config` files with any subset of fields, unknown fields, flags over the file, and the log options.
@Suite struct ConfigAndLoggingTests {
    func write(_ json: String, in dir: TempDir, as name: String = "node.json") throws -> String {
        let path = dir.file(name)
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The node's options exactly as `sharechain node` parses them.
    func nodeOptions(_ args: [String]) throws -> NodeOptions {
        try NodeCommand.parse(args).options
    }

    @Test func aConfigFileMayHoldAnySubsetOfFields() throws {
        let dir = TempDir("config")
        // No dataDir in the file: the flag gives it; everything else in the file applies, defaults fill the rest.
        let path = try write(#"{"rpcAddr": "127.0.0.1:9000", "peers": ["10.0.0.1:8646"], "logLevel": "debug", "checkInvariants": true}"#, in: dir)
        let c = try nodeOptions(["--config", path, "--data-dir", dir.file("data")]).resolve()
        #expect(c.dataDir == dir.file("data"))
        #expect(c.rpcAddr == "127.0.0.1:9000")
        #expect(c.peers == ["10.0.0.1:8646"])
        #expect(c.logLevel == .debug)
        #expect(c.checkInvariants)
        #expect(c.p2pAddr == "127.0.0.1:8646" && c.weightsDir == "Genesis/models" && c.logFormat == .text)

        // Only dataDir in the file is a complete config.
        let only = try write(#"{"dataDir": "/var/lib/sharechain"}"#, in: dir, as: "only.json")
        let d = try nodeOptions(["--config", only]).resolve()
        #expect(d.dataDir == "/var/lib/sharechain" && d.rpcAddr == "127.0.0.1:8645" && d.logLevel == .info)

        // An empty object is a valid file too (the data directory then comes from the flag).
        let empty = try write("{}", in: dir, as: "empty.json")
        #expect(try nodeOptions(["--config", empty, "--data-dir", "/d"]).resolve().dataDir == "/d")
    }

    /// Relative paths in a config file are the file's directory's, whatever the working directory (a service manager
    /// starts the node in `/`); absolute ones stay, and relative flags are the working directory's as usual.
    @Test func aConfigFilesRelativePathsAreItsDirectorys() throws {
        let dir = TempDir("config")
        try FileManager.default.createDirectory(atPath: dir.file("etc"), withIntermediateDirectories: true)
        let path = try write(#"{"dataDir": "data", "validatorKey": "keys/v.json", "passphraseFile": "./pass.txt", "weightsDir": "../models", "p2pBlockFile": "blocked.txt", "genesis": "/srv/genesis.json"}"#,
                             in: dir, as: "etc/node.json")
        let etc = dir.file("etc")
        let c = try nodeOptions(["--config", path]).resolve()
        #expect(c.dataDir == etc + "/data")
        #expect(c.validatorKey == etc + "/keys/v.json")
        #expect(c.passphraseFile == etc + "/pass.txt")
        #expect(c.weightsDir == dir.path + "/models")
        #expect(c.p2pBlockFile == etc + "/blocked.txt")
        #expect(c.genesis == "/srv/genesis.json")
        // Flags are not the file's: a relative --data-dir stays as given (the working directory's).
        #expect(try nodeOptions(["--config", path, "--data-dir", "here"]).resolve().dataDir == "here")
        // Fields the file does not set keep their defaults (relative to the working directory).
        let bare = try write(#"{"dataDir": "/abs"}"#, in: dir, as: "etc/bare.json")
        let b = try nodeOptions(["--config", bare]).resolve()
        #expect(b.dataDir == "/abs" && b.weightsDir == "Genesis/models" && b.validatorKey == nil)
    }

    @Test func flagsWinOverTheFile() throws {
        let dir = TempDir("config")
        let path = try write(#"{"dataDir": "/from-file", "rpcAddr": "127.0.0.1:1", "logLevel": "error", "logFormat": "json", "load": 3}"#, in: dir)
        let c = try nodeOptions(["--config", path, "--data-dir", "/from-flag", "--rpc-addr", "127.0.0.1:2", "--log-level", "trace"]).resolve()
        #expect(c.dataDir == "/from-flag")
        #expect(c.rpcAddr == "127.0.0.1:2")
        #expect(c.logLevel == .trace)
        // Not given as flags: the file's values stand.
        #expect(c.logFormat == .json)
        #expect(c.load == 3)
    }

    @Test func aMissingDataDirNamesTheFlagAndTheField() throws {
        let dir = TempDir("config")
        let path = try write(#"{"rpcAddr": "127.0.0.1:9000"}"#, in: dir)
        let error = try #require(throws: ValidationError.self) { try nodeOptions(["--config", path]).resolve() }
        #expect(error.message.contains("--data-dir") && error.message.contains("\"dataDir\""), "\(error.message)")
        // Without any config file, too.
        let bare = try #require(throws: ValidationError.self) { try nodeOptions([]).resolve() }
        #expect(bare.message.contains("--data-dir"))
        // The devnet's default data directory counts as given.
        #expect(try nodeOptions(["--config", path]).resolve(defaultDataDir: "/tmp/x").dataDir == "/tmp/x")
    }

    @Test func anUnknownFieldIsAnErrorNamingItAndTheValidFields() throws {
        let dir = TempDir("config")
        let path = try write(#"{"dataDir": "/d", "rpcAdress": "127.0.0.1:1", "logLevel": "info"}"#, in: dir)
        let error = try #require(throws: ValidationError.self) { try nodeOptions(["--config", path]).resolve() }
        #expect(error.message.contains("\"rpcAdress\""), "\(error.message)")
        #expect(error.message.contains("valid fields:"))
        for field in NodeConfigFile.fieldNames { #expect(error.message.contains(field), "\(field) not listed") }
        #expect(error.message.contains(path))
    }

    @Test func badValuesInTheFileNameTheField() throws {
        #expect(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data("[1, 2]".utf8)) }
        let typed = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data(#"{"peers": "10.0.0.1:1"}"#.utf8)) }
        #expect(typed.message.contains("\"peers\""), "\(typed.message)")
        let level = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data(#"{"logLevel": "verbose"}"#.utf8)) }
        #expect(level.message.contains("\"logLevel\"") && level.message.contains("notice"), "\(level.message)")
        let json = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data("{\"dataDir\": ".utf8)) }
        #expect(json.message.contains("not valid JSON"))
    }

    /// Every field of the config struct can be set from a file: the list of valid names is the struct's.
    @Test func everyFieldRoundTrips() throws {
        var f = NodeConfigFile()
        f.genesis = "g.json"; f.dataDir = "/d"; f.validatorKey = "v.key"; f.passphraseFile = "p.txt"; f.rpcAddr = "127.0.0.1:1"
        f.p2pAddr = "127.0.0.1:2"; f.peers = ["a:1"]; f.weightsDir = "/w"; f.logLevel = .warning; f.logFormat = .json
        f.checkInvariants = true; f.load = 1.5; f.produceWithoutPeers = false; f.rpcCorsOrigins = ["*"]; f.rpcAllowedHosts = ["node.example"]
        f.rpcMaxConnectionsPerHost = 9
        f.p2pAllowPrivateAddresses = true; f.p2pBlockFile = "b.txt"; f.p2pMaxInbound = 3; f.p2pMaxOutbound = 4
        f.pruning = .default; f.pruningKeepHeights = 77
        f.stateSync = true; f.stateSyncTrustedBlock = "5:" + String(repeating: "ab", count: 32); f.stateSyncMinPeers = 3; f.stateSyncMaxBytes = 1 << 30
        f.serveSnapshots = false
        let data = try JSONEncoder().encode(f)
        #expect(try NodeConfigFile.decode(data) == f)
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys
        #expect(Set(keys) == Set(NodeConfigFile.fieldNames))
        let c = try NodeConfig.merge(file: f, flags: NodeConfigFile())
        #expect(c.passphraseFile == "p.txt" && !c.produceWithoutPeers && c.p2pMaxOutbound == 4 && c.rpcCorsOrigins == ["*"] && c.rpcAllowedHosts == ["node.example"])
        #expect(c.pruningMode == .keepRecent(77))
        #expect(c.rpcMaxConnectionsPerHost == 9)
        #expect(c.stateSyncMaxBytes == 1 << 30)
        #expect(c.stateSync && c.stateSyncMinPeers == 3 && !c.serveSnapshots && c.stateSyncTrustedBlock?.hasPrefix("5:") == true)
        // Settings that mean nothing without another are refused, not ignored (operator review, seventeenth session).
        f.pruning = .minimal
        let keep = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
        #expect(keep.message.contains("--pruning-keep-heights") && keep.message.contains("--pruning minimal"), "\(keep.message)")
        f.pruningKeepHeights = nil
        #expect(try NodeConfig.merge(file: f, flags: NodeConfigFile()).pruningMode == .minimal)
        f.stateSync = false
        let trusted = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
        #expect(trusted.message.contains("needs --state-sync"), "\(trusted.message)")
        f.stateSync = true
        f.rpcAddr = f.p2pAddr
        let same = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
        #expect(same.message.contains("give them different ports"), "\(same.message)")
        f.rpcAddr = "127.0.0.1:1"; f.pruning = .default; f.pruningKeepHeights = 77
        #expect(NodeConfig(dataDir: "/d").pruningMode == .keepRecent(10_000), "the default keeps 10 000 heights")
        let bad = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data(#"{"pruning": "some"}"#.utf8)) }
        #expect(bad.message.contains("archive, default, minimal"), "\(bad.message)")
        let twice = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data(#"{"dataDir": "/a", "dataDir": "/b"}"#.utf8)) }
        #expect(twice.message == #"field "dataDir" is set twice"#, "\(twice.message)")
        let negative = try #require(throws: NodeStartupError.self) { try NodeConfigFile.decode(Data(#"{"pruningKeepHeights": -1}"#.utf8)) }
        #expect(negative.message.contains(#"field "pruningKeepHeights": expected a non-negative integer"#), "\(negative.message)")
        // A load the generator cannot pace is refused with the field named, never a trap when the node starts.
        for load in [Double.infinity, -5, 1e-12, 1e300, .nan] {
            f.load = load
            let e = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
            #expect(e.message.contains("load (--load or \"load\")"), "\(e.message)")
        }
        f.load = 0
        #expect(try NodeConfig.merge(file: f, flags: NodeConfigFile()).load == 0)
        // Peer limits that isolated the node (no outbound peer) or trapped at startup (Int.max) are refused, named.
        for (inbound, outbound, field) in [(3, 0, "p2pMaxOutbound"), (-1, 4, "p2pMaxInbound"), (Int.max, 4, "p2pMaxInbound"),
                                           (3, Int.max, "p2pMaxOutbound"), (3, 4_097, "p2pMaxOutbound")] {
            f.p2pMaxInbound = inbound; f.p2pMaxOutbound = outbound
            let e = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
            #expect(e.message.hasPrefix(field), "\(e.message)")
        }
        f.p2pMaxInbound = 0; f.p2pMaxOutbound = 4_096
        #expect(try NodeConfig.merge(file: f, flags: NodeConfigFile()).p2pMaxInbound == 0, "an outbound-only node is fine")
        // Eleventh review B3: a per-host RPC connection limit of 0 (no client served) or above the server's 512 (no limit)
        // is refused at startup, named; the default is 64.
        for n in [0, -1, 513, Int.max] {
            f.rpcMaxConnectionsPerHost = n
            let e = try #require(throws: NodeStartupError.self) { try NodeConfig.merge(file: f, flags: NodeConfigFile()) }
            #expect(e.message.hasPrefix("rpcMaxConnectionsPerHost (--rpc-max-connections-per-host)"), "\(e.message)")
        }
        f.rpcMaxConnectionsPerHost = 512
        #expect(try NodeConfig.merge(file: f, flags: NodeConfigFile()).rpcMaxConnectionsPerHost == 512)
        #expect(NodeConfig(dataDir: "/d").rpcMaxConnectionsPerHost == 64)
    }

    // MARK: - Log options

    @Test func aLogLevelTypoIsAUsageErrorListingTheLevels() throws {
        let cases: [[String]] = [
            ["node", "--data-dir", "/d", "--log-level", "inof"],
            ["devnet", "--log-level", "verbose"],
            ["demo", "--log-level", "warn"],
            ["worker-sim", "--key", "k", "--log-level", "INFO!"],
            ["verifier", "--key", "k", "--log-level", "debugg"],
            ["verifier", "run", "--key", "k", "--log-level", "x"],
        ]
        for args in cases {
            let error = try #require(throws: (any Error).self) { try Sharechain.parseAsRoot(args) }
            let message = Sharechain.message(for: error)
            #expect(message.contains(args.last!) && message.contains("--log-level"), "\(args): \(message)")
            for level in ["trace", "debug", "info", "notice", "warning", "error", "critical"] {
                #expect(message.contains("- \(level)"), "\(args): \(message)")
            }
            #expect(Sharechain.exitCode(for: error) == .validationFailure)
        }
        // A good level and a log format parse.
        let node = try #require(try Sharechain.parseAsRoot(["node", "--data-dir", "/d", "--log-level", "notice", "--log-format", "json"]) as? NodeCommand)
        #expect(node.options.logLevel == .notice && node.options.logFormat == .json)
        let badFormat = try #require(throws: (any Error).self) { try Sharechain.parseAsRoot(["worker-sim", "--key", "k", "--log-format", "xml"]) }
        #expect(Sharechain.message(for: badFormat).contains("'json'"))
    }

    @Test func jsonLogLinesCarryTimestampLevelLabelMessageAndMetadata() throws {
        let lines = LineSink()
        var logger = Logger(label: "test.json") { label in JSONLogHandler(label: label, sink: lines.append) }
        logger.logLevel = .debug
        logger[metadataKey: "node"] = "validator-0"
        logger.debug("plain")
        logger.notice("quote \" backslash \\ newline \n tab \t control \u{01} é", metadata: [
            "height": "12", "list": .array(["a", "b"]), "nested": .dictionary(["k": "v"]), "node": "override",
        ])
        logger.trace("below the level: not written")
        let written = lines.lines
        try #require(written.count == 2)
        #expect(written.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().firstIndex(of: "\n") == nil }, "one line each")
        let objects = try written.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects[0]["level"] as? String == "debug")
        #expect(objects[0]["label"] as? String == "test.json")
        #expect(objects[0]["message"] as? String == "plain")
        #expect((objects[0]["metadata"] as? [String: Any])?["node"] as? String == "validator-0")
        #expect(objects[1]["level"] as? String == "notice")
        #expect(objects[1]["message"] as? String == "quote \" backslash \\ newline \n tab \t control \u{01} é")
        let metadata = try #require(objects[1]["metadata"] as? [String: Any])
        #expect(metadata["height"] as? String == "12")
        #expect(metadata["list"] as? [String] == ["a", "b"])
        #expect((metadata["nested"] as? [String: String]) == ["k": "v"])
        #expect(metadata["node"] as? String == "override", "per-message metadata wins over the logger's")
        // Keys in a fixed order, RFC 3339 UTC timestamps with milliseconds.
        #expect(written[0].hasPrefix("{\"timestamp\":\""))
        let stamp = try #require(objects[0]["timestamp"] as? String)
        #expect(stamp.count == 24 && stamp.hasSuffix("Z"), "\(stamp)")
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 1_793_491_200.5)) == "2026-11-01T00:00:00.500Z")
        // No metadata: no metadata key.
        let bare = JSONLogHandler.line(timestamp: Date(timeIntervalSince1970: 0), level: .info, label: "l", message: "m", metadata: [:])
        #expect(bare == "{\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"label\":\"l\",\"message\":\"m\"}\n")
    }

    // MARK: - One spelling per flag

    @Test func weightsDirIsTheSpellingEverywhereAndWeightsStillParses() throws {
        let worker = try #require(try Sharechain.parseAsRoot(["worker-sim", "--key", "k", "--weights-dir", "/w"]) as? WorkerSimCommand)
        #expect(worker.client.weights == "/w")
        let verifier = try #require(try Sharechain.parseAsRoot(["verifier", "--key", "k", "--weights-dir", "/w"]) as? VerifierCommand.Run)
        #expect(verifier.client.weights == "/w")
        // The old spelling is a hidden, deprecated alias.
        let old = try #require(try Sharechain.parseAsRoot(["verifier", "--key", "k", "--weights", "/old"]) as? VerifierCommand.Run)
        #expect(old.client.weights == "/old")
        #expect(!VerifierCommand.Run.helpMessage().contains("--weights <"))
        #expect(VerifierCommand.Run.helpMessage().contains("--weights-dir"))
        let replay = try #require(try Sharechain.parseAsRoot(["verifier", "replay", "--ticket", "0x00", "--weights-dir", "/w"]) as? VerifierCommand.Replay)
        #expect(replay.weightsDir == "/w")
    }

    /// Every option, flag and argument of every command says what it is for (hidden ones included).
    @Test func everyArgumentOfEveryCommandHasHelpText() throws {
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(Sharechain._dumpHelp().utf8)) as? [String: Any])
        var missing = [String]()
        var checked = 0
        func walk(_ command: [String: Any], path: String) {
            let name = path.isEmpty ? (command["commandName"] as? String ?? "?") : path + " " + (command["commandName"] as? String ?? "?")
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                checked += 1
                let names = (argument["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                let label = names.first ?? (argument["valueName"] as? String ?? "?")
                if (argument["abstract"] as? String ?? "").trimmingCharacters(in: .whitespaces).isEmpty { missing.append("\(name) \(label)") }
            }
            // ArgumentParser's own `help` command is not ours to document.
            for sub in command["subcommands"] as? [[String: Any]] ?? [] where sub["commandName"] as? String != "help" { walk(sub, path: name) }
        }
        walk(try #require(dump["command"] as? [String: Any]), path: "")
        #expect(checked > 100, "the dump has \(checked) arguments")
        #expect(missing.isEmpty, "without help text: \(missing.joined(separator: ", "))")
    }

    /// `sharechain verifier --rpc … --key …` (what the demo and operators run) is still the verifier service.
    @Test func verifierWithoutASubcommandRunsTheService() throws {
        let run = try #require(try Sharechain.parseAsRoot(["verifier", "--rpc", "http://127.0.0.1:1", "--key", "v.key", "--parallel", "3"])
            as? VerifierCommand.Run)
        #expect(run.client.rpc == "http://127.0.0.1:1" && run.client.key == "v.key" && run.parallel == 3)
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["verifier", "replay", "--rpc", "http://x"]) }
    }
}

/// Collects log lines from a handler (which may be called from any task).
final class LineSink: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    @Sendable func append(_ line: String) { storage.withLock { $0.append(line) } }
}

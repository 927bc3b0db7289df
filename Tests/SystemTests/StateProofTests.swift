import Foundation
import Node
import Primitives
import RPC
import Testing
import TestSupport

/// Authenticated state across processes (Specs/state-tree.md, Specs/rpc.md "Queries at a height"): a running
/// node's proofs verify against its headers in an independent verifier (tools/verify_state_proof.py, from
/// tools/jmt_ref.py) and in `sharechain query proof --verify`, and state-reading methods answer as of past blocks.
extension MultiProcessTests {
    @Test(.timeLimit(.minutes(2))) func proofsServedByANodeVerifyAgainstItsHeaders() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 1)
        try net.add(0, validator: 0, peers: [])
        try net.nodes[0].start()
        defer { net.stopAll() }
        let url = "http://127.0.0.1:\(net.ports[1])/"
        let rpc = try RPCClient(url: url)
        let grew = await eventually(.seconds(60), every: .milliseconds(300)) {
            ((try? await rpc.call("chain_blockNumber"))?.uint64 ?? 0) >= 8
        }
        try #require(grew, "the node did not produce 8 blocks:\n\(net.nodes[0].logTail)")

        // The independent verifier: validators' accounts and stakes plus an absent key, at several heights.
        let py = try runTool("/usr/bin/env", ["python3", Paths.root + "/tools/verify_state_proof.py", "--rpc", url, "--heights", "0,3,latest", "--every", "2"])
        #expect(py.status == 0, "tools/verify_state_proof.py failed:\n\(py.output)")
        #expect(py.output.contains(" 0 failures"), "\(py.output)")

        // The CLI verifies on its own against the header it fetches.
        let validator = Address.encode(DevelopmentKeys.validator(0).publicKey, hrp: "shr")
        let cli = try runTool(try Paths.sharechain(), ["query", "proof", "--rpc", url, "--kind", "validator", validator, "--block", "3", "--verify"])
        #expect(cli.status == 0, "\(cli.output)")
        #expect(cli.output.replacingOccurrences(of: " ", with: "").contains("\"verified\":true"), "\(cli.output)")

        // State as of a past block: the validator's liveness record appears with its first block.
        let atGenesis = try await rpc.call("validator_get", .array([.string(validator), .int(0)]))
        let atTip = try await rpc.call("validator_get", .array([.string(validator)]))
        #expect(atGenesis["liveness"] == .null, "no liveness record before the first block")
        #expect(atTip["liveness"] != .null)
        let above = try? await rpc.call("account_get", .array([.string(validator), .int(1_000_000)]))
        #expect(above == nil, "a height above the tip must be an error")
    }
}

/// Runs a program to completion, returning its exit status and combined output.
func runTool(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension MultiProcessTests {
    /// `--pruning minimal` keeps the state from the finalized height on and refuses older heights with a clear
    /// error, while an archive node of the same chain answers at height 1; both serve verifiable proofs at the tip.
    @Test(.timeLimit(.minutes(2))) func prunedNodeRefusesOldHeightsWhileAnArchiveNodeAnswers() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 2)
        let pruned = try net.add(0, validator: 0, peers: [])
        pruned.extraArguments = ["--pruning", "minimal"]
        let archive = try net.add(1, validator: nil, peers: [0])
        archive.extraArguments = ["--pruning", "archive"]
        for n in net.nodes { try n.start() }
        defer { net.stopAll() }
        let prunedRPC = try RPCClient(url: "http://127.0.0.1:\(net.ports[1])/")
        let archiveRPC = try RPCClient(url: "http://127.0.0.1:\(net.ports[3])/")
        let finalized = await eventually(.seconds(90), every: .milliseconds(300)) {
            let f = (try? await prunedRPC.call("node_status"))?["finalizedHeight"]?.uint64 ?? 0
            let h = (try? await archiveRPC.call("chain_blockNumber"))?.uint64 ?? 0
            return f >= 8 && h >= 10
        }
        try #require(finalized, "no finality on the pruned node:\n\(pruned.logTail)")
        let account = Address.encode(DevelopmentKeys.validator(0).publicKey, hrp: "shr")
        let refused = await eventually(.seconds(30), every: .milliseconds(300)) {
            do { _ = try await prunedRPC.call("account_get", .array([.string(account), .int(1)])); return false } catch {
                return "\(error)".contains("-32004") || "\(error)".contains("not available")
            }
        }
        #expect(refused, "the pruned node still answers at height 1")
        let old = try await archiveRPC.call("account_get", .array([.string(account), .int(1)]))
        #expect(old["height"]?.uint64 == 1)
        // Both serve verifiable proofs at the tip, and the pruned node's retained range starts at its finalized height.
        for url in ["http://127.0.0.1:\(net.ports[1])/", "http://127.0.0.1:\(net.ports[3])/"] {
            let py = try runTool("/usr/bin/env", ["python3", Paths.root + "/tools/verify_state_proof.py", "--rpc", url, "--heights", "latest"])
            #expect(py.status == 0, "\(url): \(py.output)")
        }
        let py = try runTool("/usr/bin/env", ["python3", Paths.root + "/tools/verify_state_proof.py", "--rpc", "http://127.0.0.1:\(net.ports[3])/", "--heights", "1,2,3"])
        #expect(py.status == 0, "archive at heights 1-3: \(py.output)")
    }
}

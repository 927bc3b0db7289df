import Foundation
import Node
import Primitives
import RPC
import Testing
import TestSupport

/// `sharechain tx … --submit --wait` (operator review, seventeenth session): `--submit` alone reports what the node
/// accepted, and a transaction can still fail in its block (paying its fee); `--wait` prints the block's receipt and
/// exits 1 when it failed, naming the reason.
@Suite struct TxWaitTests {
    @Test(.timeLimit(.minutes(4))) func waitPrintsTheReceiptAndFailsOnAFailedTransactionAndTheProducerCountsItsBlocks() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 1)
        try net.add(0, validator: 0, peers: [])
        try net.nodes[0].start()
        defer { net.stopAll() }
        let url = "http://127.0.0.1:\(net.ports[1])/"
        let client = try RPCClient(url: url)
        let up = await eventually(.seconds(90), every: .milliseconds(300)) {
            ((try? await client.call("chain_blockNumber"))?.uint64 ?? 0) >= 1
        }
        try #require(up, "the node did not produce:\n\(net.nodes[0].logTail)")

        // The producer's own metrics (operator review): blocks it produced, and that its key is in the schedule.
        let metrics = String(decoding: try await client.request(method: .GET, path: "/metrics").body, as: UTF8.self)
        let produced = metrics.split(separator: "\n").first { $0.hasPrefix("sharechain_blocks_produced_total ") }
        #expect(produced.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true, "\(metrics)")
        #expect(metrics.contains("sharechain_validator_scheduled 1"), "\(metrics)")

        let dir = TempDir("tx-wait")
        let keyPath = dir.file("sender.key")
        try KeyFile(key: DevelopmentKeys.account(0), hrp: "shr", note: "tx-wait sender").write(path: keyPath, overwrite: true)
        let to = Address.encode(DevelopmentKeys.account(1).publicKey, hrp: "shr")
        func transfer(_ amount: String) async throws -> (Int32, String) {
            let out = dir.file("out-\(UUID().uuidString).txt")
            let p = try launchFromRoot(try Paths.sharechain(), ["tx", "transfer", "--key", keyPath, "--to", to, "--amount", amount,
                                                               "--rpc", url, "--submit", "--wait", "--wait-seconds", "90"], output: out)
            let exited = await eventually(.seconds(150), every: .milliseconds(100)) { !p.isRunning }
            if !exited { p.terminate() }
            #expect(exited, "tx transfer --amount \(amount) did not finish")
            return (exited ? p.terminationStatus : -1, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        // A zero transfer is accepted by the node but fails in its block (and pays its fee).
        let (failedStatus, failedOutput) = try await transfer("0")
        #expect(failedStatus == 1, "\(failedOutput)")
        #expect(failedOutput.contains("\"receipt\"") && failedOutput.contains("failed in block"), "\(failedOutput)")
        // A real one succeeds: its receipt is printed, exit 0.
        let (okStatus, okOutput) = try await transfer("5")
        #expect(okStatus == 0, "\(okOutput)")
        #expect(okOutput.contains("\"status\" : \"success\"") || okOutput.contains("\"status\": \"success\"") || okOutput.contains("\"status\":\"success\""),
                "\(okOutput)")
    }
}

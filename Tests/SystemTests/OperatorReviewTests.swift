import Foundation
import RPC
import Testing
import TestSupport

/// Review H (the operator's experience and crash safety), across processes.
extension MultiProcessTests {
    /// Finding H2: when the disk filled up, RocksDB refused the block's write batch and then every later one (its
    /// background error stays set until the database is reopened), and the node stayed up for ever: an error line
    /// per slot, no block, `/health` still `ok`, and no recovery once space was freed, until someone noticed and
    /// restarted it. Now it stops with a critical line saying why and what to do, exits non-zero (a service manager
    /// restarts it), and the restart continues from the last committed block.
    ///
    /// A full disk is played by RLIMIT_FSIZE (writes past it fail with EFBIG, SIGXFSZ ignored; both inherited
    /// through exec), so the test needs no privileges: the node's write-ahead log stops growing at 1 MiB.
    @Test(.timeLimit(.minutes(5))) func aNodeWhoseDiskFillsStopsSayingWhyAndContinuesAfterARestart() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 1)
        let node = try net.add(0, validator: 0, peers: [])
        defer { net.stopAll() }
        let limited = try launchFromRoot("/bin/bash", ["-c", "trap '' XFSZ; ulimit -S -f 1024; exec \"$0\" \"$@\"", net.exe]
            + node.args + ["--load", "200"], output: node.logPath)
        defer {
            if limited.isRunning { kill(limited.processIdentifier, SIGKILL) }
            limited.waitUntilExit()
        }
        let rpc = try RPCClient(url: "http://127.0.0.1:\(net.ports[1])/")
        var lastHeight: UInt64 = 0
        let stopped = await eventually(.seconds(180), every: .milliseconds(200)) {
            if let h = (try? await rpc.call("chain_blockNumber"))?.uint64 { lastHeight = max(lastHeight, h) }
            return !limited.isRunning
        }
        try #require(stopped, "the node with a full disk is still running at height \(lastHeight):\n\(node.logTail)")
        #expect(limited.terminationStatus != 0, "exit status \(limited.terminationStatus)")
        #expect(node.log.contains("the chain database refused a write; stopping the node"), "\(node.logTail)")
        #expect(lastHeight >= 1, "no block was committed before the disk filled:\n\(node.logTail)")

        // Space is back (no limit): the restart keeps every block the RPC showed and produces on top of them.
        try node.start()
        var resumedAt: UInt64?
        let continued = await eventually(.seconds(90), every: .milliseconds(300)) {
            guard let h = (try? await rpc.call("chain_blockNumber"))?.uint64 else { return false }
            if resumedAt == nil { resumedAt = h }
            return h > lastHeight
        }
        #expect(continued, "the restarted node did not continue past height \(lastHeight):\n\(node.logTail)")
        #expect((resumedAt ?? 0) >= lastHeight, "the restart came back at \(String(describing: resumedAt)), below \(lastHeight)")
    }
}

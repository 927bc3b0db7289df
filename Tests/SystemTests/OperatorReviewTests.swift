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

/// Whether this process may mount a tmpfs (root with the capability): the full-disk startup test needs a real
/// file system without room, which RLIMIT_FSIZE cannot play (free space is what the node looks at).
let canMountTmpfs: Bool = {
    guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
    let dir = TempDir("mount-probe")
    guard (try? runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.path]))?.status == 0 else { return false }
    _ = try? runTool("/bin/umount", [dir.path])
    return true
}()

extension MultiProcessTests {
    /// Finding H4: a node started on a data directory whose file system is full died in RocksDB's open (recovering
    /// its write-ahead log needs room; the distribution's librocksdb, assertions on, aborts) with exit status 134 and
    /// a crash backtrace, no word about the disk; after H2 a service manager restarting a node whose disk filled
    /// met that every time. Now it refuses to start below 64 MiB free, naming the directory and the space, and starts
    /// once there is room.
    @Test(.enabled(if: canMountTmpfs), .timeLimit(.minutes(5))) func aNodeOnAFullDiskRefusesToStartSayingSo() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 1)
        let mountPoint = net.dir.sub("small-disk")
        let mounted = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=256m", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "mount: \(mounted.output)")
        defer { _ = try? runTool("/bin/umount", ["-l", mountPoint]) }
        let node = try net.add(0, validator: 0, peers: [], dataDir: (mountPoint as NSString).appendingPathComponent("node"))
        defer { net.stopAll() }
        let rpc = try RPCClient(url: "http://127.0.0.1:\(net.ports[1])/")
        try node.start()
        var height: UInt64 = 0
        let produced = await eventually(.seconds(90), every: .milliseconds(300)) {
            height = (try? await rpc.call("chain_blockNumber"))?.uint64 ?? 0
            return height >= 3
        }
        try #require(produced, "the node did not produce 3 blocks:\n\(node.logTail)")
        node.kill9()

        // The disk fills up (another program, the node's own log): a file takes every free byte.
        let fill = (mountPoint as NSString).appendingPathComponent("fill")
        let filled = try runTool("/bin/sh", ["-c", "dd if=/dev/zero of=\(fill) bs=64k 2>/dev/null; true"])
        #expect(filled.status == 0)
        // Its log goes elsewhere: the node's own log file is on the full disk.
        let refusedLog = net.dir.file("refused.log")
        let refused = try launchFromRoot(net.exe, node.args, output: refusedLog)
        let exited = await eventually(.seconds(90), every: .milliseconds(100)) { !refused.isRunning }
        if !exited { kill(refused.processIdentifier, SIGKILL) }
        refused.waitUntilExit()
        #expect(exited && refused.terminationReason == .exit && refused.terminationStatus == 2,
                "status \(refused.terminationStatus) (\(refused.terminationReason == .exit ? "exit" : "signal")):\n\(Self.tail(refusedLog))")
        #expect(Self.tail(refusedLog).contains("MiB free; the node needs at least 64 MiB") && Self.tail(refusedLog).contains(mountPoint),
                "\(Self.tail(refusedLog))")

        // Room again: it starts and continues from the blocks it had.
        try FileManager.default.removeItem(atPath: fill)
        try node.start()
        let continued = await eventually(.seconds(90), every: .milliseconds(300)) {
            ((try? await rpc.call("chain_blockNumber"))?.uint64 ?? 0) > height
        }
        #expect(continued, "the node did not continue past \(height):\n\(node.logTail)")
    }

    /// The last lines of a log file.
    static func tail(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
    }
}

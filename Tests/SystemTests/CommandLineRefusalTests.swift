import Foundation
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// Options a command cannot run with are refused before anything starts: exit status 64 (usage) and an error that
/// names the option, never a crash deep inside, a silently ignored option, or a run that misbehaves.
@Suite struct CommandLineRefusalTests {
    /// `arguments` of `exe` and the text the error must hold.
    struct Case: Sendable, CustomStringConvertible {
        let arguments: [String]
        let error: String
        init(_ arguments: String, _ error: String) {
            self.arguments = arguments.split(separator: " ").map(String.init)
            self.error = error
        }
        var description: String { arguments.joined(separator: " ") }
    }

    static let sharechainCases: [Case] = [
        Case("devnet --slot-seconds 0", "--slot-seconds"),
        Case("devnet --validators 0", "--validators"),
        Case("demo --adversary withhold", "--adversary needs --fast"),
        Case("demo --fast --adversary withhold,withhold", "each strategy at most once"),
        Case("demo --fast --adversary bribe", "unknown strategy 'bribe'"),
        Case("demo --checkers 3", "--checkers needs --fast"),
        Case("demo --fast --cheat 2", "--cheat must be between 0 and 1"),
        Case("devnet --load inf", "--load must be a rate"),
        Case("devnet --load nan", "--load must be a rate"),
        Case("devnet --load=-5", "--load must be a rate"),
        Case("node --load 1e300", "--load must be a rate"),
        Case("devnet --load 1e-12", "--load must be a rate"),
        Case("demo --load inf", "--load must be a rate"),
        // Tenth review: peer limits that isolated the node or trapped, intervals that trapped or spun.
        Case("devnet --max-outbound-peers 0", "--max-outbound-peers must be in 1...4096"),
        Case("node --max-inbound-peers=-1", "--max-inbound-peers must be in 0...4096"),
        Case("devnet --max-inbound-peers 9223372036854775807", "--max-inbound-peers must be in 0...4096"),
        Case("worker-sim --key k --poll nan", "--poll must be between"),
        Case("worker-sim --key k --poll 0", "--poll must be between"),
        Case("verifier --key k --poll inf", "--poll must be between"),
        Case("verifier --key k --poll=-1", "--poll must be between"),
        Case("checker --key k --poll 1e300", "--poll must be between"),
        Case("indexer --progress-every inf", "--progress-every must be between"),
    ]

    static let benchCases: [Case] = [
        Case("ledger --blocks 0", "--blocks must be at least 1"),
        Case("ledger --block-size=-5", "--block-size must be at least 1"),
        Case("storage --value-size=-1", "--value-size must be at least 0"),
        Case("primitives --seconds 0", "--seconds must be a positive number of seconds"),
        Case("finality --slot-seconds nan", "--slot-seconds must be a positive number of seconds"),
        Case("state-tree --writes-per-block 0", "--writes-per-block must be at least 1"),
        Case("pruning --keep 0", "--keep must be at least 1"),
        Case("sealing --recipients 17", "--recipients must be 1...16"),
        Case("sealed-reveal --tokens 0", "--tokens must be at least 1"),
        Case("sync --accounts 0", "--accounts must be at least 1"),
        Case("state-sync --blocks 0", "--blocks must be at least 1"),
        Case("executor --replay-layers 0", "--replay-layers must be at least 1"),
        Case("make-chain --dir /nonexistent/x --blocks 0", "--blocks must be at least 1"),
    ]

    /// Runs `exe arguments` and returns its status and output. A refusal exits at once; a command that accepted the
    /// options and started is killed after a generous minute and reported as status -1.
    static func run(_ exe: String, _ arguments: [String]) async throws -> (Int32, String) {
        let dir = TempDir("refusal")
        let out = (dir.path as NSString).appendingPathComponent("out.txt")
        let p = try launchFromRoot(exe, arguments, output: out)
        let exited = await eventually(.seconds(60), every: .milliseconds(50)) { !p.isRunning }
        if !exited {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        return (exited ? p.terminationStatus : -1, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test(arguments: sharechainCases) func sharechainRefuses(_ c: Case) async throws {
        let (status, output) = try await Self.run(try Paths.sharechain(), c.arguments)
        #expect(status == 64, "exit status \(status):\n\(output)")
        #expect(output.contains("Error:") && output.contains(c.error), "\(output)")
    }

    /// A listen address that is taken: a clear error naming the address and the option it came from, a non-zero exit
    /// (robustness review: the JSON-RPC case printed only the socket error).
    @Test func aTakenListenAddressIsNamed() async throws {
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { taken.close(promise: nil) }
        let port = try #require(taken.localAddress?.port)
        let dir = TempDir("refusal-port")
        for (option, other, expected) in [("--rpc-addr", "--p2p-addr", "cannot listen for JSON-RPC on 127.0.0.1:\(port) (--rpc-addr"),
                                          ("--p2p-addr", "--rpc-addr", "cannot listen for peers on 127.0.0.1:\(port) (--p2p-addr")] {
            let free = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
            let freePort = try #require(free.localAddress?.port)
            try await free.close()
            let (status, output) = try await Self.run(try Paths.sharechain(), [
                "devnet", "--data-dir", dir.path + "/" + option, option, "127.0.0.1:\(port)", other, "127.0.0.1:\(freePort)"])
            #expect(status != 0 && status != -1, "exit status \(status):\n\(output)")
            #expect(output.contains(expected), "\(output)")
            // The system's words, not NIO's `bind(descriptor:ptr:bytes:): …) (errno: 98)`.
            #expect(output.contains("Address already in use (errno 98)") && !output.contains("descriptor:"), "\(output)")
        }
    }

    @Test(arguments: benchCases) func benchRefuses(_ c: Case) async throws {
        let bench = URL(fileURLWithPath: try Paths.sharechain()).deletingLastPathComponent().appendingPathComponent("sharechain-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: bench), "sharechain-bench is not next to sharechain: \(bench)")
        let (status, output) = try await Self.run(bench, c.arguments)
        #expect(status == 64, "exit status \(status):\n\(output)")
        #expect(output.contains("Error:") && output.contains(c.error), "\(output)")
    }
}

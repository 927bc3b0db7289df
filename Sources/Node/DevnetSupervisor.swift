import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the processes of a multi-validator devnet (`sharechain devnet --validators N`): starts each member,
/// relays its log lines to standard error with a `[name]` prefix and into `<dir>/node.log`, and on graceful
/// shutdown sends SIGTERM to all of them, waits for them to stop cleanly, and SIGKILLs stragglers.
/// A member that dies is reported and not restarted: the rest of the network keeps going without it.
public struct DevnetSupervisor: Service {
    public struct Member: Sendable {
        public let name: String
        public let arguments: [String]
        public let logFile: String
        /// Whether the member's log lines are also relayed to standard error (the demo keeps the console for
        /// its summary and leaves the logs in the files).
        public let echo: Bool

        public init(name: String, arguments: [String], logFile: String, echo: Bool = true) {
            self.name = name
            self.arguments = arguments
            self.logFile = logFile
            self.echo = echo
        }
    }

    let executable: String
    let members: [Member]
    let logger: Logger
    /// How long members get to stop after SIGTERM.
    let stopTimeout: Duration

    public init(executable: String, members: [Member], logger: Logger, stopTimeout: Duration = .seconds(15)) {
        self.executable = executable
        self.members = members
        self.logger = logger
        self.stopTimeout = stopTimeout
    }

    /// Line-buffered relay of one member's output.
    final class Relay: Sendable {
        let prefix: String
        let log: FileHandle?
        let echo: Bool
        let pending = Mutex<[UInt8]>([])

        init(prefix: String, log: FileHandle?, echo: Bool) {
            self.prefix = prefix
            self.log = log
            self.echo = echo
        }

        func consume(_ data: Data) {
            log?.write(data)
            guard echo else { return }
            let lines = pending.withLock { buf -> [String] in
                buf.append(contentsOf: data)
                var out = [String]()
                while let nl = buf.firstIndex(of: 10) {
                    out.append(String(decoding: buf[..<nl], as: UTF8.self))
                    buf.removeSubrange(...nl)
                }
                return out
            }
            for line in lines { FileHandle.standardError.write(Data("[\(prefix)] \(line)\n".utf8)) }
        }
    }

    public func run() async throws {
        var running: [(Member, Process)] = []
        for m in members {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = m.arguments
            _ = FileManager.default.createFile(atPath: m.logFile, contents: nil)
            let relay = Relay(prefix: m.name, log: FileHandle(forWritingAtPath: m.logFile), echo: m.echo)
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            pipe.fileHandleForReading.readabilityHandler = { h in
                let d = h.availableData
                if d.isEmpty { h.readabilityHandler = nil } else { relay.consume(d) }
            }
            let name = m.name
            let logger = self.logger
            p.terminationHandler = { proc in
                logger.notice("devnet member exited", metadata: ["member": "\(name)", "status": "\(proc.terminationStatus)"])
            }
            do { try p.run() } catch {
                for (_, q) in running { q.terminate() }
                throw NodeStartupError("cannot start \(m.name) (\(executable)): \(error.localizedDescription)")
            }
            logger.info("devnet member started", metadata: ["member": "\(m.name)", "pid": "\(p.processIdentifier)", "log": "\(m.logFile)"])
            running.append((m, p))
        }
        // Run until SIGINT/SIGTERM (the service group turns them into graceful shutdown) or cancellation.
        try? await gracefulShutdown()
        logger.info("stopping the devnet", metadata: ["members": "\(running.count)"])
        for (_, p) in running where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + stopTimeout
        while running.contains(where: { $0.1.isRunning }) && ContinuousClock.now < deadline {
            // Cancelled instead of shut down gracefully: sleeping throws at once, so wait on the thread.
            do { try await Task.sleep(for: .milliseconds(100)) } catch { usleep(100_000) }
        }
        for (m, p) in running where p.isRunning {
            logger.warning("member did not stop in time; killing it", metadata: ["member": "\(m.name)"])
            kill(p.processIdentifier, SIGKILL)
        }
        for (_, p) in running { p.waitUntilExit() }
        logger.info("devnet stopped")
    }
}

import Foundation

/// A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, `postgres` on a free loopback
/// port with trust authentication for the user `sharechain`, stopped (and its files removed) when released.
///
/// PostgreSQL refuses to run as root, so when the tests run as root (CI) both programs run as the
/// unprivileged `postgres` account (created by the Debian package) through `setpriv`, and the cluster's
/// directory is handed to it; as any other user they run as that user. The binaries are found under
/// `/usr/lib/postgresql/<version>/bin` (newest version), or `$SHARECHAIN_PG_BIN`.
public final class PostgresServer {
    /// Why a cluster could not be started.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The loopback port `postgres` listens on.
    public let port: Int
    /// The superuser (trust authentication on loopback).
    public let user = "sharechain"
    let dir: TempDir
    let bin: String
    let process: Process
    let log: String

    /// The directory holding `initdb`, `postgres` and `createdb`, nil when PostgreSQL is not installed.
    public static func binDirectory() -> String? {
        if let env = ProcessInfo.processInfo.environment["SHARECHAIN_PG_BIN"] { return env }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { v -> (Int, String)? in Int(v).map { ($0, "\(root)/\(v)/bin") } }
            .filter { FileManager.default.isExecutableFile(atPath: "\($0.1)/initdb") }
            .sorted { $0.0 > $1.0 }
        return versions.first?.1
    }

    /// Whether PostgreSQL is installed (tests that need it are skipped with a message otherwise).
    public static var isAvailable: Bool { binDirectory() != nil }

    /// Creates and starts a cluster; waits (up to `timeout`) until it accepts connections.
    public init(label: String = "pg", timeout: Duration = .seconds(90)) throws {
        guard let bin = Self.binDirectory() else {
            throw Failure(description: "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run tools/setup")
        }
        self.bin = bin
        dir = TempDir(label)
        let data = dir.file("data")
        log = dir.file("postgres.log")
        let asRoot = getuid() == 0
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        if asRoot {
            // The cluster belongs to the unprivileged account; the temporary directory must be traversable.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
            for path in [data, log] { try Self.run("/bin/chown", ["postgres:postgres", path]) }
        }
        try Self.run(bin + "/initdb", ["-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"], asPostgres: asRoot)
        var lastError = ""
        for _ in 0..<5 {
            let port = try Self.freePort()
            let p = Self.process(bin + "/postgres", [
                "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", "",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "logging_collector=off", "-c", "max_connections=50",
            ], asPostgres: asRoot)
            let logHandle = FileHandle(forWritingAtPath: log)
            logHandle?.seekToEndOfFile()
            p.standardOutput = logHandle
            p.standardError = logHandle
            try p.run()
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline, p.isRunning {
                if (try? Self.run(bin + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", user])) != nil {
                    self.port = port
                    self.process = p
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            if p.isRunning {
                p.terminate()
                p.waitUntilExit()
                throw Failure(description: "postgres did not accept connections within \(timeout): \(Self.tail(log))")
            }
            lastError = Self.tail(log)  // exited: most likely the port was taken in between; try another
        }
        throw Failure(description: "postgres would not start: \(lastError)")
    }

    /// `postgres://sharechain@127.0.0.1:<port>/<database>`.
    public func url(database: String = "postgres") -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }

    /// Creates a database and returns its URL.
    @discardableResult
    public func createDatabase(_ name: String) throws -> String {
        try Self.run(bin + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", user, name])
        return url(database: name)
    }

    /// Stops the server (fast shutdown) and waits for it.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }

    static func process(_ path: String, _ args: [String], asPostgres: Bool) -> Process {
        let p = Process()
        if asPostgres {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path] + args
        } else {
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = args
        }
        // The server must not inherit the test runner's locale quirks.
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        p.environment = env
        return p
    }

    /// Runs a program to completion; throws with its output when it fails.
    static func run(_ path: String, _ args: [String], asPostgres: Bool = false) throws {
        let p = process(path, args, asPostgres: asPostgres)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\((path as NSString).lastPathComponent) failed (\(p.terminationStatus)): \(String(decoding: output, as: UTF8.self).suffix(800))")
        }
    }

    /// A port nothing listens on right now (bound to port 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw Failure(description: "bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard named == 0 else { throw Failure(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(1500))
    }
}

import Foundation
import Glibc
import Logging
import Node
import Primitives
import Synchronization
import Testing
import TestSupport

/// Review H (the operator's experience and crash safety): key files at rest.
@Suite struct OperatorReviewTests {
    static let light = Scrypt.Parameters(n: 1 << 10, r: 8, p: 1)

    /// Finding H1, first half: a key file the group or others can read (restored from a backup, copied with the
    /// default umask, or left so by a crash) was loaded without a word; the node now refuses it with an error that
    /// says how to fix it, as ssh does for its keys.
    @Test func aKeyFileOthersCanAccessIsRefusedNamingChmod() throws {
        let dir = TempDir("operator-review")
        let path = dir.file("validator.key")
        try KeyFile(key: PrivateKey.generate(), hrp: "shr", passphrase: "pw", scrypt: Self.light).write(path: path)
        _ = try KeyFile.load(path: path, passphrase: .literal("pw"))
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602] {
            #expect(chmod(path, mode) == 0)
            let refused = try #require(throws: KeyFileError.self, "mode \(String(mode, radix: 8))") {
                _ = try KeyFile.load(path: path, passphrase: .literal("pw"))
            }
            #expect(refused.message.contains("chmod 600 \(path)") && refused.message.contains(String(mode, radix: 8)), "\(refused)")
        }
        for mode: mode_t in [0o600, 0o400] {
            #expect(chmod(path, mode) == 0)
            _ = try KeyFile.load(path: path, passphrase: .literal("pw"))
        }
        // Public data needs no secrecy: `keys show` still reads a readable file.
        #expect(chmod(path, 0o644) == 0)
        _ = try KeyFile.read(path: path)
    }

    /// Finding H1, second half: `KeyFile.write` went through Foundation's `createFile(atPath:contents:attributes:)`,
    /// which writes a temporary file with the umask's mode (0644), renames it into place and only then applies
    /// 0600; for that time, and for good after a SIGKILL in between, the secret (in plaintext for `node.key` and
    /// development keys) was readable by every user. A watcher listing the directory while keys are written must
    /// never see an entry the group or others can access.
    @Test func aKeyBeingWrittenIsNeverAccessibleToOthers() throws {
        let dir = TempDir("operator-review-write")
        let stop = Atomic<Bool>(false)
        let exposed = Mutex<Set<String>>([])
        let watcherDone = DispatchSemaphore(value: 0)
        let path = dir.path
        Thread.detachNewThread {
            defer { watcherDone.signal() }
            while !stop.load(ordering: .relaxed) {
                guard let d = opendir(path) else { continue }
                while let entry = readdir(d) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    guard name != ".", name != ".." else { continue }
                    var st = stat()
                    if stat((path as NSString).appendingPathComponent(name), &st) == 0, st.st_mode & 0o077 != 0 {
                        _ = exposed.withLock { $0.insert("\(name) \(String(st.st_mode & 0o777, radix: 8))") }
                    }
                }
                closedir(d)
            }
        }
        let key = KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr", note: "test")
        for i in 0..<150 {
            try key.write(path: dir.file("k\(i % 10).key"), overwrite: true)
            try key.write(path: dir.file("n\(i).key"))
        }
        stop.store(true, ordering: .relaxed)
        watcherDone.wait()
        #expect(exposed.withLock { $0 }.isEmpty, "entries others could read: \(exposed.withLock { $0 }.sorted())")
        // What is left: the keys themselves, each 0600, no temporary file.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names.count == 160 && names.allSatisfy { $0.hasSuffix(".key") && !$0.hasPrefix(".") }, "\(names.sorted())")
        // Not overwriting stays refused, and the refusal leaves the key alone.
        #expect(throws: KeyFileError.self) { try KeyFile(key: PrivateKey.generate(), hrp: "shr").write(path: dir.file("n0.key")) }
        #expect(try KeyFile.load(path: dir.file("n0.key")).0.publicKey == DevelopmentKeys.validator(0).publicKey)
    }

    /// Finding H5: an unreadable slashing-protection record (`signed-blocks.json` or `finality-votes.json`: a disk
    /// error, a hand edit) was read only once the services ran, so the node first listened on RPC and P2P, then tore
    /// them down with errors of its own (`Waiting on child channel: CancellationError()`, `Server shutdown error`)
    /// before the line that said why. Now building the node reads both and refuses at once, naming the file.
    @Test func anUnreadableSlashingProtectionRecordStopsTheNodeBeforeItListens() throws {
        for name in ["signed-blocks.json", "finality-votes.json"] {
            let dir = TempDir("operator-review-protection")
            var key = KeyFile(key: DevelopmentKeys.validator(0), hrp: "shr", note: "test")
            key.randaoChainLength = 4096
            try key.write(path: dir.file("validator.key"))
            let data = dir.sub("data")
            try Data("{\"lastSigned".utf8).write(to: URL(fileURLWithPath: (data as NSString).appendingPathComponent(name)))
            var config = NodeConfig(dataDir: data)
            config.validatorKey = dir.file("validator.key")
            config.weightsDir = Paths.models
            let error = try #require(throws: NodeStartupError.self, "\(name)") {
                try NodeRuntime(config: config, logger: Logger(label: "operator-review"), genesisJSON: try EconomyGenesis.json())
            }
            #expect(error.message.contains((data as NSString).appendingPathComponent(name)) && error.message.contains("unreadable"), "\(error)")
        }
    }
}

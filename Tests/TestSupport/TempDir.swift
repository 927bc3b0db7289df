import Foundation

/// A fresh directory under the system temporary directory, removed with everything in it when released. The
/// one temporary-directory helper of every test target.
public final class TempDir: Sendable {
    /// The directory.
    public let url: URL
    /// The directory's path.
    public var path: String { url.path }

    /// Creates `sharechain-<label>-<pid>-<uuid>` (the pid tells runs of concurrent test processes apart). A
    /// directory that cannot be created is reported by the first use of a path inside it.
    public init(_ label: String = "test") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sharechain-\(label)-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A path inside the directory (not created).
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// A subdirectory, created.
    public func sub(_ name: String) -> String {
        let p = file(name)
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

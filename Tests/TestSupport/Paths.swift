import Foundation
import Testing

/// The repository root (two levels above this file's folder).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Files of the repository and of the build the tests use.
public enum Paths {
    /// The repository root's path.
    public static let root = repositoryRoot.path
    public static let models = repositoryRoot.appendingPathComponent("Genesis/models").path
    public static let tinyModel = repositoryRoot.appendingPathComponent("Genesis/models/tiny/model.safetensors").path

    /// The built `sharechain` binary, next to the test bundle. Missing is a failure, never a skip.
    public static func sharechain() throws -> String {
        var dirs = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()]
        if let arg0 = CommandLine.arguments.first { dirs.append(URL(fileURLWithPath: arg0).resolvingSymlinksInPath().deletingLastPathComponent()) }
        for d in dirs {
            let c = d.appendingPathComponent("sharechain").path
            if FileManager.default.isExecutableFile(atPath: c) { return c }
        }
        Issue.record("the sharechain binary is not next to the test bundle (looked in \(dirs.map(\.path))); build it with `swift build --build-tests`")
        throw CancellationError()
    }
}

import Foundation

/// Locates test resources and repository files.
enum TestFiles {
    /// Contents of a file in this target's `Resources` folder.
    static func resource(_ name: String) throws -> Data {
        let url = Bundle.module.url(forResource: "Resources/\(name)", withExtension: nil)
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/\(name)")
        return try Data(contentsOf: url)
    }

    /// The repository root (two levels above this file's folder).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A file under `Specs/vectors/`.
    static func specVector(_ name: String) throws -> Data {
        try Data(contentsOf: repositoryRoot.appendingPathComponent("Specs/vectors/\(name)"))
    }
}


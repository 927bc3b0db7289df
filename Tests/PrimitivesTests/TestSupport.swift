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

/// A small deterministic PRNG (SplitMix64) so seeded tests reproduce exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

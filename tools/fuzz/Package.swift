// swift-tools-version: 6.1
// libFuzzer targets for every decoder reachable from the network or disk.
// Build and run with tools/fuzz/run (uses `swift build --sanitize fuzzer`).
import PackageDescription

let package = Package(
    name: "sharechain-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "sharechain")],
    targets: [
        .executableTarget(
            name: "FuzzCodec",
            dependencies: [.product(name: "Primitives", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzTNS1",
            dependencies: [.product(name: "Verifier", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzSafetensors",
            dependencies: [.product(name: "Verifier", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // Arbitrary bytes through the JSON parser and the whole JSON-RPC dispatcher over a small chain.
        .executableTarget(
            name: "FuzzJSONRPC",
            dependencies: [.product(name: "RPC", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzGGUF",
            dependencies: [.product(name: "Verifier", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzBlock",
            dependencies: [.product(name: "Consensus", package: "sharechain"), .product(name: "Ledger", package: "sharechain"),
                           .product(name: "Primitives", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // Sealed inputs (the envelope of a sealed reveal): decoded and opened every way a validator or checker does.
        .executableTarget(
            name: "FuzzEnvelope",
            dependencies: [.product(name: "Sealing", package: "sharechain"), .product(name: "Primitives", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzTransaction",
            dependencies: [.product(name: "Ledger", package: "sharechain"), .product(name: "Primitives", package: "sharechain"),
                           .product(name: "Sealing", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // Ledger records a checker or worker node decodes from a (possibly remote) JSON-RPC node's answers.
        .executableTarget(
            name: "FuzzRecords",
            dependencies: [.product(name: "Ledger", package: "sharechain"), .product(name: "Primitives", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // Noise handshake messages in every position a peer can send one (Sources/P2P/Noise).
        .executableTarget(
            name: "FuzzNoise",
            dependencies: [.product(name: "P2P", package: "sharechain"), .product(name: "Primitives", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzP2P",
            dependencies: [.product(name: "P2P", package: "sharechain")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)

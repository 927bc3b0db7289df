// swift-tools-version: 6.1
// sharechain: a share-chain ledger node for a decentralized AI-inference network.
// Module layering (DESIGN.md section 2, lowest first; a module imports only modules below it):
//   C shims -> Primitives -> Ledger, Verifier -> Storage -> Consensus -> P2P, RPC -> Node -> sharechain

import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// The canonical executor's SIMD8<Float> kernels are compiled for x86-64 with AVX2 (Haswell and later, every
// x86-64 server CPU since 2013): twice the throughput of the SSE2 baseline. This does not change results:
// Swift never contracts a*b+c into FMA and keeps IEEE order, so bits are the same for every target CPU
// (the golden tests run in debug and release). Evaluated on the host that builds the package;
// SHARECHAIN_GENERIC_X86=1 builds for baseline x86-64 (SSE2) instead, with the same results, slower.
#if arch(x86_64)
let verifierCPU: [SwiftSetting] = Context.environment["SHARECHAIN_GENERIC_X86"] == "1"
    ? [] : [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let verifierCPU: [SwiftSetting] = []
#endif

let package = Package(
    name: "sharechain",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sharechain", targets: ["sharechain"]),
        .library(name: "Primitives", targets: ["Primitives"]),
        .library(name: "Verifier", targets: ["Verifier"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // System libraries (Debian: librocksdb-dev, libsecp256k1-dev, libssl-dev; installed by tools/setup).
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        .target(
            name: "Primitives",
            dependencies: ["CSecp256k1", "COpenSSL"],
            swiftSettings: strict
        ),

        .target(
            name: "Ledger",
            dependencies: ["Primitives"],
            swiftSettings: strict
        ),

        .target(
            name: "Verifier",
            dependencies: ["Primitives"],
            swiftSettings: strict + verifierCPU
        ),

        // C loops over the same libraries, the baselines `sharechain bench` reports ratios against.
        .target(
            name: "CBaseline",
            dependencies: ["CSecp256k1", "COpenSSL"],
            linkerSettings: [.linkedLibrary("secp256k1"), .linkedLibrary("crypto")]
        ),

        .executableTarget(
            name: "sharechain",
            dependencies: [
                "Primitives",
                "Ledger",
                "Verifier",
                "CBaseline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "PrimitivesTests",
            dependencies: [
                "Primitives",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strict
        ),

        .testTarget(
            name: "VerifierTests",
            dependencies: ["Verifier", "Primitives"],
            resources: [.copy("Resources")],
            swiftSettings: strict
        ),
    ]
)

// swift-tools-version: 6.1
// sharechain: a share-chain ledger node for a decentralized AI-inference network.
// Module layering (DESIGN.md section 2, lowest first; a module imports only modules below it):
//   C shims -> Primitives -> Sealing -> Ledger; Primitives -> Verifier, StateTree -> Storage -> Consensus -> P2P, RPC -> Node, Indexer -> sharechain, sharechain-bench

import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "sharechain",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sharechain", targets: ["sharechain"]),
        .executable(name: "sharechain-bench", targets: ["sharechain-bench"]),
        .library(name: "Primitives", targets: ["Primitives"]),
        .library(name: "Verifier", targets: ["Verifier"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Consensus", targets: ["Consensus"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "StateTree", targets: ["StateTree"]),
        .library(name: "P2P", targets: ["P2P"]),
        .library(name: "RPC", targets: ["RPC"]),
        .library(name: "Indexer", targets: ["Indexer"]),
        .library(name: "Sealing", targets: ["Sealing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // RPC: HTTP + WebSocket server, metrics API and Prometheus exposition.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already in the graph (Hummingbird's dependencies build it); P2P uses its X25519 (Sources/P2P/Noise).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Indexer: the PostgreSQL wire protocol (COPY FROM STDIN, transactions) for `sharechain indexer`.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
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

        // Jellyfish-style sparse Merkle tree over the state: hashing, nodes, batch updates, proofs
        // (Specs/state-tree.md). Pure algorithms over an abstract node reader; Storage persists the nodes.
        .target(
            name: "StateTree",
            dependencies: ["Primitives"],
            swiftSettings: strict
        ),

        .target(
            name: "Ledger",
            dependencies: ["Primitives", "Sealing"],
            swiftSettings: strict
        ),

        // Sealed spot-check inputs (Specs/sealing.md): a pass's input encrypted to its k checkers with X25519,
        // HKDF-SHA256 and ChaCha20-Poly1305. Below Ledger: validators decode envelopes and, in a dispute, open
        // every slot with the published ephemeral key (Specs/verification.md §4.1); nothing here knows ledger state.
        .target(
            name: "Sealing",
            dependencies: ["Primitives", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),

        .target(
            name: "Consensus",
            dependencies: ["Primitives", "Ledger", "StateTree", "Storage", .product(name: "HeapModule", package: "swift-collections"),
                           .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict
        ),

        // Wire protocol, peers, gossip and sync over SwiftNIO (Specs/p2p.md). Below Node: never imports it.
        .target(
            name: "P2P",
            dependencies: [
                // COpenSSL: X25519, ChaCha20-Poly1305 and HMAC-SHA256 of the Noise transport (Sources/P2P/Noise).
                "Primitives", "Ledger", "Consensus", "Storage", "StateTree", "COpenSSL",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        .target(
            name: "Node",
            dependencies: [
                "Primitives", "Ledger", "Sealing", "Consensus", "Verifier", "Storage", "P2P", "RPC",
                // The verifier service follows revealed tickets over the node's WebSocket.
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict,
            // EmbeddedGenesis: Genesis/devnet.json and Genesis/devnet-4.json, compiled in at build time.
            plugins: ["EmbedDocuments"]
        ),

        // The canonical executor (Specs/verifier-canon-f32-v1.md). Portable: no CPU-specific flags, the same
        // bits on every x86-64 and arm64 CPU; its matmul kernel for AVX2 CPUs is chosen at run time (cpuid).
        .target(
            name: "Verifier",
            dependencies: ["Primitives", "CVerifierKernels"],
            swiftSettings: strict
        ),
        // The AVX2 matmul panel kernel (C, compiled for the baseline with one function targeting AVX2; never FMA).
        .target(name: "CVerifierKernels"),

        // RocksDB engine, chain store and state store with undo (Specs/storage.md).
        .target(
            name: "Storage",
            dependencies: ["Primitives", "Ledger", "StateTree", "CRocksDB"],
            swiftSettings: strict
        ),

        // JSON-RPC 2.0 over HTTP and WebSocket, subscriptions, OpenRPC, metrics (Specs/rpc.md).
        .target(
            name: "RPC",
            dependencies: [
                "Primitives", "Ledger", "StateTree", "Storage", "Consensus",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The web explorer's files: embedded by the plugin (ExplorerFiles), not sources or resources.
            exclude: ["Explorer"],
            swiftSettings: strict,
            // OpenRPCDocument: Specs/openrpc.json (what rpc.discover returns), compiled in at build time.
            plugins: ["EmbedDocuments"]
        ),

        // `sharechain indexer`: follows a node over JSON-RPC and WebSocket and writes the chain into PostgreSQL
        // (Specs/indexer.md). Above the RPC client layer; nothing below imports it.
        .target(
            name: "Indexer",
            dependencies: [
                "Primitives", "RPC",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // Documents whose source of truth lives outside a module's folder (Specs/openrpc.json, Genesis/*.json),
        // compiled into the module as string constants at build time: one copy in the repository, and a binary
        // that needs no resource bundle beside it. The plugin runs tools/embed-text.sh (POSIX sh).
        .plugin(
            name: "EmbedDocuments",
            capability: .buildTool()
        ),

        .executableTarget(
            name: "sharechain",
            dependencies: [
                "Primitives",
                "StateTree",
                "Ledger",
                "Consensus",
                "Node",
                "P2P",
                "RPC",
                "Indexer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Benchmarks (`make bench`): their own executable, so the node binary links none of them.
        .executableTarget(
            name: "sharechain-bench",
            dependencies: [
                "Primitives",
                "Ledger",
                "Consensus",
                "Node",
                "P2P",
                "Storage",
                "StateTree",
                "Verifier",
                "Sealing",
                "CBaseline",
                "RPC",
                "Indexer",
                // Raw ChaCha20-Poly1305, the baseline of `sharechain-bench sealing`.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // The raw HTTP baselines of `sharechain-bench rpc-server` (tools/bench-rpc).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // C loops over the same libraries, the baselines `sharechain-bench` reports ratios against.
        .target(
            name: "CBaseline",
            dependencies: ["CSecp256k1", "COpenSSL", "CRocksDB"],
            linkerSettings: [.linkedLibrary("secp256k1"), .linkedLibrary("crypto"), .linkedLibrary("rocksdb")]
        ),

        .testTarget(
            name: "NodeTests",
            // The `sharechain` executable too: the command-line tests parse its commands in process.
            dependencies: ["Node", "Consensus", "Ledger", "Primitives", "Storage", "Verifier", "sharechain", "Indexer", "TestSupport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConsensusTests",
            dependencies: ["Consensus", "Ledger", "Primitives", "StateTree", "Storage", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RPCTests",
            dependencies: [
                "RPC", "Consensus", "Ledger", "Primitives", "Sealing", "Storage", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // Golden files are read from the source tree (and rewritten there with RPC_GOLDEN_UPDATE=1).
            exclude: ["Resources"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "Ledger",
                "Primitives",
                "Sealing",
                "StateTree",
                "Storage",
                "TestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StateTreeTests",
            dependencies: [
                "StateTree",
                "Primitives",
                "PropertyTestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PrimitivesTests",
            dependencies: [
                "Primitives",
                "PropertyTestSupport",
            ],
            resources: [.copy("Resources")],
            swiftSettings: strict
        ),

        // Deterministic storage workloads shared by StorageTests and the crash-test child process.
        .target(
            name: "StorageTestSupport",
            dependencies: ["Primitives", "Ledger", "Storage", "StateTree"],
            path: "Tests/StorageTestSupport",
            swiftSettings: strict
        ),
        // The child process StorageTests kills with SIGKILL while it commits blocks.
        .executableTarget(
            name: "StorageCrashChild",
            dependencies: ["Storage", "StorageTestSupport"],
            path: "Tests/StorageCrashChild",
            swiftSettings: strict
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage",
                "Ledger",
                "Primitives",
                "StorageTestSupport",
                "StorageCrashChild",
                "StateTree",
                "TestSupport",
                "PropertyTestSupport",
                "CRocksDB",
            ],
            swiftSettings: strict
        ),
        // Seeded property checks that fail on a thrown error (PropertyBased's `propertyCheck` discards it).
        .target(
            name: "PropertyTestSupport",
            dependencies: [.product(name: "PropertyBased", package: "swift-property-based")],
            path: "Tests/PropertyTestSupport",
            swiftSettings: strict
        ),
        // Helpers every test target shares: the temporary directory, the settable clock, repository paths, the
        // test tags, and in-process chains (test genesis documents, a quiet logger).
        .target(
            name: "TestSupport",
            dependencies: ["Consensus", "Ledger", "Node", "Primitives", "Storage", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        // Unit tests of the P2P module without sockets: codecs, Noise vectors, the message handler.
        .testTarget(
            name: "P2PTests",
            dependencies: [
                "P2P", "Consensus", "Ledger", "Primitives", "StateTree", "Storage", "Node", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Tests with real processes, sockets or real-time slots (tag `.system`): live P2P servers, multi-process
        // devnets that spawn the built `sharechain` binary (build it first: `swift build --build-tests` builds
        // every product), the in-process economy on 1-second slots. `make test` runs them after the unit tests,
        // serially, so the CPU-heavy unit tests cannot starve their clocks.
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "P2P", "Consensus", "Ledger", "Primitives", "Storage", "Node", "RPC", "Verifier", "TestSupport", "Indexer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealingTests",
            dependencies: [
                "Sealing",
                "Primitives",
                .product(name: "Crypto", package: "swift-crypto"),
                "PropertyTestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VerifierTests",
            dependencies: ["Verifier", "Primitives", "TestSupport"],
            resources: [.copy("Resources")],
            swiftSettings: strict
        ),
    ]
)

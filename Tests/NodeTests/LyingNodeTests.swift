import Foundation
import Glibc
import Consensus
import Logging
import Synchronization
import Testing
@testable import Indexer
@testable import Ledger
@testable import Node
@testable import Primitives
import RPC
import TestSupport
import Verifier

/// A JSON-RPC "node" on loopback that answers each method with what the test sets: a node that lies to its clients.
/// One request per connection (the client sends `Connection: close`), served on a thread of its own.
final class LyingNode: Sendable {
    let port: Int
    private let listener: Int32
    private let answers: @Sendable (String, JSON) -> JSON?
    let calls = Mutex<[String]>([])

    init(_ answers: @escaping @Sendable (_ method: String, _ params: JSON) -> JSON?) throws {
        self.answers = answers
        guard let (fd, port) = listenOnLoopback() else { throw StubUnavailable() }
        self.port = port
        listener = fd
        let serve = Thread { [self] in self.serve() }
        serve.start()
    }

    /// Wakes the serving thread's `accept`, which then closes the socket itself: closing it here let another test's
    /// new socket take the same descriptor while this thread still accepted on it (and answered that test's requests).
    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func serve() {
        defer { close(listener) }
        while true {
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            let body = readHTTPRequestBody(c)
            var result: JSON = .null
            if let body, let call = try? JSONParser().parse(body), let method = call["method"]?.string {
                calls.withLock { $0.append(method) }
                let answer = answers(method, call["params"] ?? .null)
                result = answer.map { .object(["jsonrpc": "2.0", "id": call["id"] ?? .null, "result": $0]) }
                    ?? .object(["jsonrpc": "2.0", "id": call["id"] ?? .null,
                                "error": .object(["code": .int(RPCError.notFoundCode), "message": "not found"])])
            }
            let json = JSONWriter.encode(result)
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(json.count)\r\nConnection: close\r\n\r\n".utf8) + json
            _ = reply.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            close(c)
        }
    }
}

/// The companion processes (checker, verifier, worker simulator, devnet summary, indexer) trust their RPC node for the
/// chain's state, but a node that lies must not make them trap, hang or grow without bound (crash-path audit,
/// seventeenth session). Each test performs the lie; before the fixes each one trapped or looped.
@Suite struct LyingNodeTests {
    /// The lying node answers at once, so a call's deadline would only measure how long a loaded 2-core machine kept
    /// the test's tasks waiting (the 30 s default timed out there): the lies are what is tested, not the timing.
    static let patience: Duration = .seconds(300)

    static func client(_ node: LyingNode) throws -> RPCChainClient { try RPCChainClient(url: "http://127.0.0.1:\(node.port)", timeout: patience) }

    /// A tip near 2⁶⁴: the clients add horizons to it. Refused as a bad answer; a plausible one is read.
    @Test func aTipNearTheEndOfHeightsIsABadAnswer() async throws {
        let height = Mutex<UInt64>(UInt64.max)
        let node = try LyingNode { method, _ in
            method == "node_status" ? .object(["height": .string(String(height.withLock { $0 })), "slot": .int(7)]) : nil
        }
        defer { node.stop() }
        let client = try Self.client(node)
        await #expect(throws: RPCChainClient.BadAnswer.self) { try await client.tip() }
        height.withLock { $0 = RPCChainClient.implausibleHeight }
        await #expect(throws: RPCChainClient.BadAnswer.self) { try await client.tip() }
        height.withLock { $0 = 41 }
        #expect(try await client.tip() == (41, 7))
    }

    /// A listing whose next cursor comes back again ends with an error after the second page instead of a walk
    /// without end (a fresh cursor every page ends at `PagedListing.maxPages`: `pagedListingStopsAtARepeatAndAtTheLimit`).
    /// Mutation: without `PagedListing` the call never returns.
    @Test func aListingThatNeverEndsIsRefused() async throws {
        let pages = Atomic<Int>(0)
        let node = try LyingNode { method, _ in
            guard method == "proof_list" else { return nil }
            pages.add(1, ordering: .relaxed)
            return .object(["items": .array([]), "nextCursor": .string("again")])
        }
        defer { node.stop() }
        let client = try Self.client(node)
        await #expect(throws: PagedListingError.self) { _ = try await client.fraudCases() }
        #expect(pages.load(ordering: .relaxed) == 2)
    }

    /// A pool the node serves without shards or with windows of 0 blocks made the worker simulator divide by zero; a
    /// horizon near 2⁶⁴ made sums with the tip wrap. Refused as bad answers; the genesis pool is read.
    @Test func anImplausiblePoolIsABadAnswer() async throws {
        let genesis = try GenesisDocument.decode(Data(EmbeddedGenesis.devnet.utf8)).resolve().allocation.pools[0]
        var noShards = genesis; noShards.shards = []
        var noWindow = genesis; noWindow.windowBlocks = 0
        var farGrace = genesis; farGrace.commitGraceBlocks = UInt64.max - 3
        var farChecks = genesis; farChecks.checking = CheckingConfig(); farChecks.checking?.answerCommitBlocks = UInt64.max
        // Heads × head dim past Int: `ModelConfig.validate` multiplied them before bounding either, and trapped
        // (eighteenth-session audit: a verifier replaying a ticket, or a worker loading its shard, died on it).
        var wideHeads = genesis; wideHeads.model.numHeads = 0xC000_0000; wideHeads.model.numKVHeads = 0xC000_0000
        wideHeads.model.headDim = 0xFFFF_FFFE
        #expect(throws: WeightError.self) { try PoolModels.config(wideHeads).validate() }
        for pool in [noShards, noWindow, farGrace, farChecks, wideHeads] {
            #expect(throws: RPCChainClient.BadAnswer.self) { try RPCChainClient.checkPlausible(pool) }
        }
        try RPCChainClient.checkPlausible(genesis)
        let served = Mutex(noShards)
        let node = try LyingNode { method, _ in
            method == "pool_get" ? .object(["encoded": .string(Hex.encode(served.withLock { $0 }.canonicalEncoding))]) : nil
        }
        defer { node.stop() }
        let client = try Self.client(node)
        await #expect(throws: RPCChainClient.BadAnswer.self) { _ = try await client.pool(0) }
        served.withLock { $0 = genesis }
        #expect(try await client.pool(0) == genesis)
    }

    /// A ticket's sample number of 2³² or more trapped the conversion to `UInt32`.
    @Test func aSampleNumberAbove32BitsIsABadAnswer() async throws {
        let sample = Mutex<UInt64>(1 << 32)
        let node = try LyingNode { method, _ in
            guard method == "commitment_get" else { return nil }
            return .object(["tickets": .array([.object(["sample": .string(String(sample.withLock { $0 })),
                                                        "ticketId": .string("0x" + Hash32.zero.hex)])])])
        }
        defer { node.stop() }
        let client = try Self.client(node)
        await #expect(throws: RPCChainClient.BadAnswer.self) { _ = try await client.tickets(commitment: .zero) }
        sample.withLock { $0 = 3 }
        #expect(try await client.tickets(commitment: .zero).map(\.sample) == [3])
    }

    /// The checker's phase arithmetic on a check whose heights are near 2⁶⁴ (and a tip at the end of heights): it
    /// trapped on `tip + 1` and `revealHeight + answerCommitBlocks`; now the phase simply never ends or is over.
    @Test func theCheckerSurvivesHeightsNearTheEnd() async throws {
        let (service, client, pool, _) = try CheckerServiceReview10Tests.setup(.checking)
        let checking = try #require(pool.checking)
        client.state.withLock { $0.check.revealHeight = UInt64.max - 1 }
        for tip in [UInt64.max, UInt64.max - 1, 5] {
            _ = try await service.step(CheckerServiceReview10Tests.tid, tip: tip, pool: pool, checking: checking,
                                       chainId: CheckerServiceReview10Tests.chainId)
        }
        // A disputed check at the end of heights: nothing to publish, no trap.
        client.state.withLock { $0.check.status = .disputed; $0.check.keyDeadline = .max }
        let r = try await service.step(CheckerServiceReview10Tests.tid, tip: .max, pool: pool, checking: checking,
                                       chainId: CheckerServiceReview10Tests.chainId)
        guard case .done = r else { Issue.record("expected done, got \(r)"); return }
    }

    /// A verifier whose node lists revealed tickets without end: the sweep fails (and is retried later) instead of
    /// collecting ids for ever.
    @Test func theVerifierSweepOfAListingWithoutEndFails() async throws {
        final class EndlessListing: StubChainClient {
            func tickets(status: TicketStatus, cursor: String?, limit: Int) async throws -> (ids: [Hash32], next: String?) {
                let n = (cursor.flatMap(Int.init) ?? 0) + 1
                return ([SHA256.hash(Array("ticket \(n)".utf8))], String(n))
            }
        }
        let dir = TempDir("verifier-endless")
        let verifier = VerifierService(key: try review10Key("endless-verifier"), client: EndlessListing(),
                                       weights: try WeightsIndex(directory: dir.path), config: VerifierConfig(),
                                       logger: Logger(label: "test"))
        await #expect(throws: PagedListingError.self) { try await verifier.sweep() }
    }

    /// The indexer's batch end on a node whose earliest height is within 49 of 2⁶⁴: it trapped computing the batch;
    /// now it asks (here a closed port, so a transport error).
    @Test func theIndexerBatchEndSaturates() async throws {
        let node = try LyingNode { _, _ in nil }
        node.stop()
        let source = try NodeSource(url: "http://127.0.0.1:\(node.port)", timeout: Self.patience)
        await #expect(throws: IndexerError.self) { _ = try await source.blocks(from: UInt64.max - 3, through: .max) }
    }

    /// The cursor guard itself: the end, a repeat, the page limit.
    @Test func pagedListingStopsAtARepeatAndAtTheLimit() throws {
        var listing = PagedListing("m")
        #expect(try listing.follow("a"))
        #expect(try listing.follow("b"))
        #expect(throws: PagedListingError.self) { try listing.follow("a") }
        var done = PagedListing("m")
        #expect(try done.follow(nil) == false)
        var long = PagedListing("m")
        for i in 1..<PagedListing.maxPages { #expect(try long.follow(String(i))) }
        #expect(throws: PagedListingError.self) { try long.follow("last") }
    }
}

/// Operator review (seventeenth session): a worker simulator or checker whose loop ends on a permanent failure (no such
/// pool) logged it and returned, so the command printed ServiceGroup's "a service has finished unexpectedly" instead of
/// the reason. Now `run()` throws the failure itself.
@Suite struct ServiceFailureTests {
    final class NoPools: StubChainClient {
        func pool(_ id: UInt32) async throws -> PoolConfig? { nil }
        func tip() async throws -> (height: UInt64, slot: UInt64) { (5, 5) }
    }

    @Test func aWorkerForAPoolThatDoesNotExistFailsWithTheReason() async throws {
        let dir = TempDir("worker-no-pool")
        var config = WorkerSimulatorConfig()
        config.pool = 7
        let worker = WorkerSimulator(key: try review10Key("no-pool-worker"), client: NoPools(),
                                     weights: try WeightsIndex(directory: dir.path), config: config, logger: Logger(label: "test"))
        let error = await #expect(throws: (any Error).self) { try await worker.run() }
        #expect("\(error.map { "\($0)" } ?? "")".contains("pool 7 does not exist"))
    }
}

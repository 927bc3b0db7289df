import Primitives
import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC

/// Where the golden files live in the source tree (`Tests/RPCTests/Resources/rpc/<method>/<case>.json`).
let goldenRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/rpc")
/// Set to 1 to rewrite every golden response from the current behaviour (then review the diff).
let updateGolden = ProcessInfo.processInfo.environment["RPC_GOLDEN_UPDATE"] == "1"

/// One golden case: a request (JSON, or raw text for malformed input) and the exact expected response
/// (null when none is sent).
struct GoldenCase: CustomStringConvertible {
    let method: String
    let name: String
    let url: URL
    let file: JSONObject

    var description: String { "\(method)/\(name)" }

    /// Every case under `root` (the golden chain's by default).
    static func all(root: URL = goldenRoot) throws -> [GoldenCase] {
        let fm = FileManager.default
        var out = [GoldenCase]()
        for dir in try fm.contentsOfDirectory(atPath: root.path).sorted() {
            let d = root.appendingPathComponent(dir)
            for f in try fm.contentsOfDirectory(atPath: d.path).sorted() where f.hasSuffix(".json") {
                let url = d.appendingPathComponent(f)
                guard case .object(let o) = try JSONParser().parse(Array(try Data(contentsOf: url))) else {
                    throw GoldenError("\(url.path) is not a JSON object")
                }
                out.append(GoldenCase(method: dir, name: String(f.dropLast(5)), url: url, file: o))
            }
        }
        return out
    }

    /// The bytes to send, with `${name}` placeholders replaced.
    func requestBytes(_ vars: [String: String]) throws -> [UInt8] {
        var text: String
        if case .string(let raw)? = file["requestText"] { text = raw }
        else if let r = file["request"] { text = JSONWriter.string(r) }
        else { throw GoldenError("\(self) has neither request nor requestText") }
        for (k, v) in vars { text = text.replacingOccurrences(of: "${\(k)}", with: v) }
        return Array(text.utf8)
    }

    var expected: JSON? {
        guard let r = file["response"], r != .null else { return nil }
        return r
    }

    /// Rewrites the file with `actual` as the response.
    func write(_ actual: JSON?) throws {
        var o = file
        o["response"] = actual ?? .null
        try JSONWriter.pretty(.object(o)).write(to: url, atomically: true, encoding: .utf8)
    }
}

struct GoldenError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Placeholder values for requests: fixture identifiers that are long to write by hand.
func goldenVariables(_ n: GoldenNode) -> [String: String] {
    let t = n.t, f = n.facts
    var v = [
        "alice": t.address(t.alice), "bob": t.address(t.bob), "carol": t.address(t.carol), "honest": t.address(t.honest),
        "cheat": t.address(t.cheat), "verifier": t.address(t.verifier), "validator": t.address(t.validator),
        "aliceHex": "0x" + t.alice.publicKey.hex, "validatorHex": "0x" + t.validator.publicKey.hex,
        "escrowId": "0x" + f.escrowId.hex, "honestCommitment": "0x" + f.honestCommitment.hex,
        "cheatCommitment": "0x" + f.cheatCommitment.hex, "fraudTicket": "0x" + f.fraudTicket.hex,
        "upheldTicket": "0x" + f.upheldTicket.hex, "openTicket": "0x" + f.openTicket.hex, "transferTx": "0x" + f.transferTx.hex, "failedTx": "0x" + f.failedTx.hex,
        "pendingTx": "0x" + f.pendingTx.hex, "chainId": "0x" + t.genesis.chainId.hex,
        "rawTransferTx": "0x" + f.rawTransfer.hex, "rawPendingTx": "0x" + f.rawPending.hex, "rawAccepted": "0x" + f.rawAccepted.hex,
        "rawBadSignature": "0x" + f.rawBadSignature.hex, "rawLowFee": "0x" + f.rawLowFee.hex,
        "freshAddress": Address.encode(fixtureKey("fresh").publicKey, hrp: t.hrp), "wrongPrefix": Address.encode(t.alice.publicKey, hrp: "tst"),
    ]
    for (i, b) in f.blocks.enumerated() { v["block\(i + 1)"] = "0x" + b.hex }
    return v
}

@Suite(.serialized) struct GoldenTests {
    /// Every golden case through the dispatcher in process, compared exactly (JSON equality; member order
    /// aside). With RPC_GOLDEN_UPDATE=1 the files are rewritten instead.
    @Test func goldenCasesInProcess() async throws {
        let node = try await GoldenNode()
        let vars = goldenVariables(node)
        let cases = try GoldenCase.all()
        #expect(cases.count > 60)
        var failures = [String]()
        for c in cases {
            let out = await node.server.dispatcher.handle(try c.requestBytes(vars), context: CallContext(transport: .http, session: nil))
            let actual = try out.map { try JSONParser().parse($0) }
            if updateGolden { try c.write(actual); continue }
            if actual != c.expected {
                failures.append("\(c): expected \(c.expected.map(JSONWriter.string) ?? "no response")\n   got \(actual.map(JSONWriter.string) ?? "no response")")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) golden mismatches:\n\(failures.joined(separator: "\n"))")
    }

    /// The same cases over real HTTP on loopback give the same answers (one dispatcher behind both).
    @Test func goldenCasesOverHTTP() async throws {
        guard !updateGolden else { return }
        let node = try await GoldenNode()
        let vars = goldenVariables(node)
        try await withRunningServer(node.server) { port in
            let client = try RPCClient(url: "http://127.0.0.1:\(port)/")
            var failures = [String]()
            for c in try GoldenCase.all() {
                let (status, body) = try await client.post(try c.requestBytes(vars))
                let actual: JSON? = body.isEmpty ? nil : try JSONParser().parse(body)
                if c.expected == nil { #expect(status == 204, "\(c)") } else { #expect(status == 200, "\(c)") }
                if actual != c.expected { failures.append("\(c)") }
            }
            #expect(failures.isEmpty, "HTTP answers differ from the golden files: \(failures)")
        }
    }

    /// Every served method has at least one golden case, and no golden directory names an unknown method.
    @Test func everyMethodHasGoldenCases() async throws {
        let node = try await GoldenNode()
        let served = Set(node.server.dispatcher.methodNames)
        let dirs = Set(try FileManager.default.contentsOfDirectory(atPath: goldenRoot.path))
        let missing = served.subtracting(dirs)
        #expect(missing.isEmpty, "methods without golden cases: \(missing.sorted())")
        let unknown = dirs.subtracting(served).filter { !$0.hasPrefix("_") }
        #expect(unknown.isEmpty, "golden directories for unknown methods: \(unknown.sorted())")
    }
}

/// Runs `server` on loopback for the duration of `body`.
func withRunningServer<T: Sendable>(_ server: RPCServer, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await server.run(); return nil }
        let port = await server.listeningPort()
        let result = try await body(port)
        group.cancelAll()
        try? await group.waitForAll()
        return result
    }
}

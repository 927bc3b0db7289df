import Primitives
import Foundation
import Testing
@testable import Consensus
@testable import Primitives
@testable import RPC


/// Random JSON values, requests and byte-level mutations.
struct JSONFuzzer {
    var g: SplitMix64
    let methods: [String]

    mutating func int(_ n: Int) -> Int { Int(g.next() % UInt64(n)) }

    mutating func string() -> String {
        let pool = ["", "latest", "finalized", "earliest", "pending", "0x", "0x00", "0x" + String(repeating: "ab", count: 32),
                    "0x" + String(repeating: "zz", count: 32), "shr1qqqq", "validator", "open", "adjudicated", "newHeads", "\u{0}",
                    "é", "\u{1F600}", String(repeating: "a", count: 300), "-1", "1e9", "asc"] + methods
        return pool[int(pool.count)]
    }

    mutating func number() -> String {
        let pool = ["0", "1", "-1", "1.5", "1e3", "18446744073709551615", "18446744073709551616", "-0", "4294967296", "99999999999999999999999",
                    "100", "101", "25"]
        return pool[int(pool.count)]
    }

    mutating func value(depth: Int) -> JSON {
        switch int(depth > 3 ? 4 : 7) {
        case 0: return .null
        case 1: return .bool(int(2) == 0)
        case 2: return .number(number())
        case 3: return .string(string())
        case 4: return .array((0..<int(4)).map { _ in value(depth: depth + 1) })
        case 5:
            var o = JSONObject()
            let keys = ["block", "hash", "limit", "cursor", "address", "pool", "window", "status", "kind", "filter", "count", "from",
                        "transaction", "size", "worker", "fullTransactions", "order", "sender", "x", "fromSlot", "escrowId", "ticketId",
                        "owner", "subscription"]
            for _ in 0..<int(4) { o[keys[int(keys.count)]] = value(depth: depth + 1) }
            return .object(o)
        default: return .string(string())
        }
    }

    mutating func request() -> JSON {
        var o = JSONObject()
        if int(10) > 0 { o["jsonrpc"] = int(10) > 0 ? "2.0" : value(depth: 3) }
        if int(10) > 0 { o["method"] = int(8) > 0 ? .string(methods[int(methods.count)]) : value(depth: 3) }
        if int(4) > 0 { o["params"] = int(3) > 0 ? .array((0..<int(4)).map { _ in value(depth: 1) }) : value(depth: 1) }
        if int(5) > 0 { o["id"] = int(4) > 0 ? .int(int(1000)) : value(depth: 3) }
        if int(20) == 0 { o["extra"] = .null }
        return .object(o)
    }

    /// Flips, inserts, deletes and duplicates bytes of a valid request.
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        for _ in 0..<(1 + int(6)) {
            guard !b.isEmpty else { break }
            let i = int(b.count)
            switch int(5) {
            case 0: b[i] = UInt8(truncatingIfNeeded: g.next())
            case 1:
                let specials = Array("{}[]\",:\\0-e.".utf8)
                b.insert(specials[int(specials.count)], at: i)
            case 2: b.remove(at: i)
            case 3: b.insert(contentsOf: b[i..<min(b.count, i + int(16))], at: i)
            default: b = Array(b.prefix(i))
            }
        }
        return b
    }
}

@Suite struct FuzzTests {
    /// Thousands of random and mutated requests (single and batched) through the dispatcher: every answer is
    /// a well-formed JSON-RPC response (or none for notifications), nothing crashes, answers stay bounded.
    @Test func randomRequestsNeverBreakTheDispatcher() async throws {
        let node = try await GoldenNode()
        let dispatcher = node.server.dispatcher
        var fuzz = JSONFuzzer(g: SplitMix64(seed: 0x5EED), methods: dispatcher.methodNames + ["nope", "rpc.x", ""])
        var answered = 0, errors = 0
        for round in 0..<4000 {
            let bytes: [UInt8]
            switch round % 4 {
            case 0: bytes = JSONWriter.encode(fuzz.request())
            case 1: bytes = fuzz.mutate(JSONWriter.encode(fuzz.request()))
            case 2: bytes = JSONWriter.encode(.array((0..<fuzz.int(5)).map { _ in fuzz.int(3) == 0 ? fuzz.value(depth: 2) : fuzz.request() }))
            default: bytes = (0..<fuzz.int(64)).map { _ in UInt8(truncatingIfNeeded: fuzz.g.next()) }
            }
            guard let out = await dispatcher.handle(bytes, context: CallContext(transport: .http, session: nil)) else { continue }
            answered += 1
            #expect(out.count < 2_000_000, "answer of \(out.count) bytes to \(String(decoding: bytes.prefix(200), as: UTF8.self))")
            let parsed = try JSONParser().parse(out)
            for r in parsed.array ?? [parsed] {
                #expect(r["jsonrpc"] == "2.0")
                #expect(r["id"] != nil)
                let hasResult = r["result"] != nil, error = r["error"]
                #expect(hasResult != (error != nil))
                if let error {
                    errors += 1
                    #expect(error["code"]?.uint64 == nil, "codes are negative")
                    #expect(error["message"]?.string != nil)
                    // Internal errors would mean a handler failed on input it should have validated.
                    #expect(error["code"] != .int(RPCError.internalErrorCode), "internal error for \(String(decoding: bytes.prefix(300), as: UTF8.self))")
                }
            }
        }
        #expect(answered > 2000 && errors > 1000)
    }

    /// Deep nesting is refused by the parser (bounded recursion), not by the stack.
    @Test func deepNestingIsAParseError() async throws {
        let node = try await GoldenNode()
        let deep = Array(repeating: UInt8(ascii: "["), count: 100_000)
        let out = try #require(await node.server.dispatcher.handle(deep, context: CallContext(transport: .http, session: nil)))
        #expect(try JSONParser().parse(out)["error"]?["code"] == .int(RPCError.parseErrorCode))
        // Just inside the limit parses.
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONParser().parse(ok) }
        #expect(throws: JSONParseError.self) { try JSONParser().parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) }
    }

    /// The parser round-trips what the writer produces and agrees with Foundation on valid documents.
    @Test func parserAndWriterAgree() throws {
        var fuzz = JSONFuzzer(g: SplitMix64(seed: 7), methods: ["m"])
        for _ in 0..<2000 {
            let v = fuzz.value(depth: 0)
            let text = JSONWriter.encode(v)
            #expect(try JSONParser().parse(text) == v)
            #expect((try? JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])) != nil)
        }
        for bad in ["", " ", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "nul", "\"\\x\"", "\"\u{1}\"", "[1 2]", "{1:2}", "NaN", "\"\\ud800\"",
                    "\"\\udc00x\"", "{\"a\" 1}", "tru", "[", "\"abc"] {
            #expect(throws: JSONParseError.self, "\(bad.debugDescription)") { try JSONParser().parse(bad) }
        }
        #expect(try JSONParser().parse(#""\u00e9\ud83d\ude00\n""#) == .string("é\u{1F600}\n"))
        #expect(throws: JSONParseError.self, "invalid UTF-8") { try JSONParser().parse([UInt8]([0x22, 0xC3, 0x28, 0x22])) }
    }
}

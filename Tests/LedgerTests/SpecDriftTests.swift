import Foundation
import Testing
@testable import Ledger

/// The spec's code tables (Specs/state-machine.md §3.3 failure codes, §4.1 event tags and offences) against the
/// code: both are hashed into `receiptsRoot`, so an entry one side gains, loses or renumbers is a consensus
/// change and fails here.
@Suite struct SpecDriftTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The rows of the first Markdown table after `heading` whose header row starts with `firstColumn`:
    /// (number, name, rest of the row).
    static func table(after heading: String, firstColumn: String) throws -> [(Int, String, String)] {
        let text = try String(contentsOf: root.appendingPathComponent("Specs/state-machine.md"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        guard let h = lines.firstIndex(where: { $0.hasPrefix(heading) }) else { throw SpecError("no heading \(heading)") }
        guard let header = lines[h...].firstIndex(where: { $0.hasPrefix("| \(firstColumn) |") }) else {
            throw SpecError("no table with column \(firstColumn) after \(heading)")
        }
        var rows = [(Int, String, String)]()
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let n = Int(cells[0]) else { throw SpecError("malformed row: \(line)") }
            rows.append((n, cells[1], cells[2]))
        }
        return rows
    }

    /// `case name = N` (enum cases with raw values) or `case .name(...): w.u8(N)` (the event encoder) in the body of
    /// `declaration` in Sources/Ledger/Receipts.swift.
    static func sourceCases(_ declaration: String, pattern: String) throws -> [Int: String] {
        let text = try String(contentsOf: root.appendingPathComponent("Sources/Ledger/Receipts.swift"), encoding: .utf8)
        guard let start = text.range(of: declaration) else { throw SpecError("no \(declaration) in Receipts.swift") }
        // The body: up to the brace that closes the declaration's.
        var depth = 0, end = text.endIndex
        var i = text[start.upperBound...].firstIndex(of: "{")!
        while i < text.endIndex {
            if text[i] == "{" { depth += 1 } else if text[i] == "}" { depth -= 1; if depth == 0 { end = i; break } }
            i = text.index(after: i)
        }
        let body = String(text[start.upperBound..<end])
        let regex = try NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
        var out = [Int: String]()
        for m in regex.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
            let name = String(body[Range(m.range(at: 1), in: body)!]), n = Int(body[Range(m.range(at: 2), in: body)!])!
            if let old = out[n] { throw SpecError("code \(n) used by \(old) and \(name)") }
            out[n] = name
        }
        return out
    }

    struct SpecError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test func failureCodesMatchTheSpec() throws {
        let spec = try Self.table(after: "### 3.3 Failure codes", firstColumn: "code")
        let names = try Self.sourceCases("public enum FailureReason", pattern: #"^\s*case (\w+) = (\d+)\s*$"#)
        #expect(spec.count >= 50, "the failure-code table was not found or lost rows")
        let specByCode = Dictionary(uniqueKeysWithValues: spec.map { ($0.0, ($0.1, $0.2)) })
        let code = Dictionary(uniqueKeysWithValues: FailureReason.allCases.map { (Int($0.rawValue), (names[Int($0.rawValue)] ?? "?", $0.description)) })
        #expect(Set(names.keys) == Set(code.keys), "Receipts.swift parse disagrees with FailureReason.allCases")
        for n in Set(specByCode.keys).union(code.keys).sorted() {
            let s = specByCode[n], c = code[n]
            #expect(s?.0 == c?.0 && s?.1 == c?.1,
                    "failure code \(n): spec \(s.map { "\($0.0) (\($0.1))" } ?? "absent"), code \(c.map { "\($0.0) (\($0.1))" } ?? "absent")")
        }
    }

    @Test func eventTagsMatchTheSpec() throws {
        let spec = try Self.table(after: "### 4.1 Events", firstColumn: "tag")
        #expect(spec.count >= 30, "the event-tag table was not found or lost rows")
        let encoder = try Self.sourceCases("extension Event: CanonicalCodable", pattern: #"case \.(\w+)\b[^;]*?w\.u8\((\d+)\)"#)
        let specByTag = Dictionary(uniqueKeysWithValues: spec.map { ($0.0, $0.1) })
        for t in Set(specByTag.keys).union(encoder.keys).sorted() {
            #expect(specByTag[t] == encoder[t], "event tag \(t): spec \(specByTag[t] ?? "absent"), code \(encoder[t] ?? "absent")")
        }
        // Every declared case is encoded (a new case without an encoder line would be missed above).
        let text = try String(contentsOf: Self.root.appendingPathComponent("Sources/Ledger/Receipts.swift"), encoding: .utf8)
        let body = text.components(separatedBy: "public enum Event")[1].components(separatedBy: "public var name")[0]
        let cases = try NSRegularExpression(pattern: #"^\s*case (\w+)\("#, options: [.anchorsMatchLines])
            .matches(in: body, range: NSRange(body.startIndex..., in: body)).map { String(body[Range($0.range(at: 1), in: body)!]) }
        #expect(cases.count >= 30)
        #expect(Set(cases) == Set(encoder.values), "Event cases \(Set(cases).symmetricDifference(Set(encoder.values))) are not both declared and encoded")
    }

    @Test func offenceKindsMatchTheSpec() throws {
        let spec = try Self.table(after: "### 4.1 Events", firstColumn: "offence")
        #expect(spec.count >= 5, "the offence table was not found or lost rows")
        let specByCode = Dictionary(uniqueKeysWithValues: spec.map { ($0.0, $0.1) })
        var code = [Int: String]()
        for raw in 0...255 { if let k = OffenceKind(rawValue: UInt8(raw)) { code[raw] = "\(k)" } }
        for n in Set(specByCode.keys).union(code.keys).sorted() {
            #expect(specByCode[n] == code[n], "offence \(n): spec \(specByCode[n] ?? "absent"), code \(code[n] ?? "absent")")
        }
    }

    /// Determinism (DESIGN.md §2, Specs/state-machine.md): the state transition, the state tree, block validation,
    /// sealing and the primitives use no floating-point type, so no rounding mode or fused multiply-add can make two machines
    /// disagree. Checked on the source text, comments excluded, so a new `Float` or `Double` fails here.
    @Test func consensusSourcesHoldNoFloatingPoint() throws {
        let pattern = try NSRegularExpression(pattern: #"\b(Float|Double|Float16|Float32|Float64|Float80|CGFloat)\b"#)
        var scanned = 0
        for module in ["Primitives", "StateTree", "Ledger", "Consensus", "Sealing"] {
            let dir = Self.root.appendingPathComponent("Sources/\(module)")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }.sorted()
            #expect(!files.isEmpty, "no sources found in \(dir.path)")
            for file in files {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for (n, line) in text.components(separatedBy: "\n").enumerated() {
                    // Code before any line comment (doc comments included); string literals are not special-cased.
                    let code = line.components(separatedBy: "//")[0]
                    let hits = pattern.matches(in: code, range: NSRange(code.startIndex..., in: code))
                    #expect(hits.isEmpty, "Sources/\(module)/\(file):\(n + 1) uses a floating-point type: \(line)")
                }
                scanned += 1
            }
        }
        #expect(scanned >= 30)
    }
}

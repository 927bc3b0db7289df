/// A JSON value: the project's one strict JSON implementation (JSON-RPC, safetensors headers).
///
/// Parsed and written here instead of through `Codable`: callers need exact integers
/// (amounts and heights are `UInt64`, which a `Double` cannot hold), strict grammar (no duplicate keys, no
/// invalid UTF-8, bounded nesting so hostile input cannot exhaust the stack), member order preserved for
/// stable output, and speed on the hot path of small requests.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, kept as its validated literal text so no precision is lost.
    case number(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)
    /// Already-encoded JSON written verbatim: cached fragments (block transaction lists) that would otherwise be
    /// rebuilt on every request. Only the server builds these from its own writer's output; equality compares
    /// the bytes.
    case raw([UInt8])

    /// A number from an unsigned integer.
    public static func int(_ v: UInt64) -> JSON { .number(String(v)) }
    /// A number from an integer.
    public static func int(_ v: Int) -> JSON { .number(String(v)) }
    /// A decimal string (amounts: JavaScript cannot hold every `UInt64` exactly).
    public static func decimal(_ v: UInt64) -> JSON { .string(String(v)) }
    /// `0x`-prefixed lower-case hex.
    public static func hex(_ bytes: [UInt8]) -> JSON { .string("0x" + Hex.encode(bytes)) }

    /// The value of an object member, nil when absent or when this is not an object.
    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The value as an object.
    public var object: JSONObject? { if case .object(let o) = self { return o }; return nil }
    /// The value as an array.
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    /// The value as a string.
    public var string: String? { if case .string(let s) = self { return s }; return nil }

    /// The value as an unsigned integer: a number literal without sign, fraction or exponent that fits.
    public var uint64: UInt64? {
        guard case .number(let n) = self else { return nil }
        return UInt64(n)
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .raw: return "encoded JSON"
        }
    }
}

/// A JSON object: members in insertion order. Equality ignores order (JSON objects are unordered).
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// One member.
    public struct Member: Sendable, Equatable {
        /// The name.
        public let key: String
        /// The value.
        public var value: JSON
    }

    /// Members in insertion order.
    public private(set) var members: [Member]

    /// An empty object.
    public init() { members = [] }
    /// An object with these members, in order.
    public init(dictionaryLiteral elements: (String, JSON)...) {
        members = elements.map { Member(key: $0.0, value: $0.1) }
    }

    /// Number of members.
    public var count: Int { members.count }
    /// Member names in order.
    public var keys: [String] { members.map(\.key) }

    /// The value of a member; assigning nil removes it, assigning a new name appends it.
    public subscript(key: String) -> JSON? {
        get { members.first { $0.key == key }?.value }
        set {
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
            }
        }
    }

    /// Appends a member without checking for an existing key (the parser checks duplicates itself).
    public mutating func appendUnchecked(_ key: String, _ value: JSON) { members.append(Member(key: key, value: value)) }

    /// Same members with equal values, in any order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.members.count == b.members.count else { return false }
        for m in a.members { guard let v = b[m.key], v == m.value else { return false } }
        return true
    }
}

// MARK: - Parsing

/// Why a text is not acceptable JSON; `offset` is the byte offset of the problem.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    /// Byte offset of the problem in the input.
    public let offset: Int
    /// `message at byte offset`.
    public var description: String { "\(message) at byte \(offset)" }
}

/// Limits of the JSON parser. Input size is bounded by the transport (request body limit).
public struct JSONLimits: Sendable {
    /// Deepest nesting of arrays and objects.
    public var maxDepth: Int = 64
    /// Members of one object.
    public var maxObjectMembers: Int = 4096
    /// The defaults: depth 64, 4096 members.
    public init() {}
}

/// A strict RFC 8259 parser over bytes: no trailing commas, comments, `NaN`, leading zeros, duplicate keys,
/// invalid UTF-8 or lone surrogates; bounded depth; whitespace around the value only.
public struct JSONParser {
    let limits: JSONLimits

    /// A parser with `limits`.
    public init(limits: JSONLimits = JSONLimits()) { self.limits = limits }

    /// Parses exactly one JSON value from `bytes`.
    public func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { (buf: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSON in
            var cursor = Cursor(buf: buf, limits: limits)
            cursor.skipWhitespace()
            let v = try cursor.value(depth: 0)
            cursor.skipWhitespace()
            guard cursor.i == buf.count else { throw cursor.fail("unexpected data after the JSON value") }
            return v
        }
    }

    /// Parses a string's UTF-8.
    public func parse(_ text: String) throws(JSONParseError) -> JSON { try parse(Array(text.utf8)) }

    struct Cursor {
        let buf: UnsafeBufferPointer<UInt8>
        let limits: JSONLimits
        var i = 0

        init(buf: UnsafeBufferPointer<UInt8>, limits: JSONLimits) { self.buf = buf; self.limits = limits }

        func fail(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: i) }

        mutating func skipWhitespace() {
            while i < buf.count {
                switch buf[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        mutating func literal(_ word: StaticString, _ v: JSON) throws(JSONParseError) -> JSON {
            let n = word.utf8CodeUnitCount
            guard buf.count - i >= n else { throw fail("invalid literal") }
            let p = word.utf8Start
            for k in 0..<n where buf[i + k] != p[k] { throw fail("invalid literal") }
            i += n
            return v
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSON {
            guard i < buf.count else { throw fail("unexpected end of input") }
            switch buf[i] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSON {
            guard depth <= limits.maxDepth else { throw fail("nesting deeper than \(limits.maxDepth)") }
            i += 1
            var out = [JSON]()
            skipWhitespace()
            if i < buf.count, buf[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            while true {
                skipWhitespace()
                out.append(try value(depth: depth))
                skipWhitespace()
                guard i < buf.count else { throw fail("unterminated array") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSON {
            guard depth <= limits.maxDepth else { throw fail("nesting deeper than \(limits.maxDepth)") }
            i += 1
            var out = JSONObject()
            var seen = Set<String>()
            skipWhitespace()
            if i < buf.count, buf[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
            while true {
                skipWhitespace()
                guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let keyAt = i
                let key = try string()
                guard seen.insert(key).inserted else { throw JSONParseError(message: "duplicate member \"\(key)\"", offset: keyAt) }
                guard seen.count <= limits.maxObjectMembers else { throw fail("more than \(limits.maxObjectMembers) members") }
                skipWhitespace()
                guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWhitespace()
                out.appendUnchecked(key, try value(depth: depth))
                skipWhitespace()
                guard i < buf.count else { throw fail("unterminated object") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func number() throws(JSONParseError) -> JSON {
            let start = i
            if buf[i] == UInt8(ascii: "-") { i += 1 }
            guard i < buf.count else { throw fail("invalid number") }
            if buf[i] == UInt8(ascii: "0") {
                i += 1
                if i < buf.count, isDigit(buf[i]) { throw fail("leading zero in number") }
            } else if isDigit(buf[i]) {
                while i < buf.count, isDigit(buf[i]) { i += 1 }
            } else {
                throw fail("invalid number")
            }
            if i < buf.count, buf[i] == UInt8(ascii: ".") {
                i += 1
                guard i < buf.count, isDigit(buf[i]) else { throw fail("invalid fraction") }
                while i < buf.count, isDigit(buf[i]) { i += 1 }
            }
            if i < buf.count, buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E") {
                i += 1
                if i < buf.count, buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-") { i += 1 }
                guard i < buf.count, isDigit(buf[i]) else { throw fail("invalid exponent") }
                while i < buf.count, isDigit(buf[i]) { i += 1 }
            }
            return .number(String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self))
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        func hexValue(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard buf.count - i >= 4 else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let h = hexValue(buf[i]) else { throw fail("invalid \\u escape") }
                v = v << 4 | h
                i += 1
            }
            return v
        }

        mutating func string() throws(JSONParseError) -> String {
            i += 1
            let start = i
            // Fast path: no escapes.
            while i < buf.count {
                let c = buf[i]
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: buf[start..<i])
                    guard let s = String(validating: raw, as: UTF8.self) else { throw JSONParseError(message: "invalid UTF-8 in string", offset: start) }
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in string") }
                i += 1
            }
            var bytes = [UInt8](UnsafeBufferPointer(rebasing: buf[start..<i]))
            while true {
                guard i < buf.count else { throw fail("unterminated string") }
                let c = buf[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    guard let s = String(validating: bytes, as: UTF8.self) else { throw JSONParseError(message: "invalid UTF-8 in string", offset: start) }
                    return s
                }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { bytes.append(c); i += 1; continue }
                i += 1
                guard i < buf.count else { throw fail("unterminated escape") }
                let e = buf[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard buf.count - i >= 6, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone surrogate in \\u escape")
                        }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw fail("lone surrogate in \\u escape")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw fail("invalid escape")
                }
            }
        }
    }
}

// MARK: - Writing

/// Writes JSON compactly (the wire form) or pretty-printed with sorted keys (golden files, the CLI).
public struct JSONWriter {
    /// What was written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer reserving `capacity` bytes.
    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Compact encoding of a value.
    public static func encode(_ v: JSON) -> [UInt8] {
        var w = JSONWriter()
        w.write(v)
        return w.bytes
    }

    /// Compact encoding as a string.
    public static func string(_ v: JSON) -> String { String(decoding: encode(v), as: UTF8.self) }

    /// Two-space indented, object keys sorted: a stable form for files people read and diff.
    public static func pretty(_ v: JSON) -> String {
        var w = JSONWriter()
        w.writePretty(v, indent: 0)
        w.bytes.append(0x0A)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Appends `v` compactly.
    public mutating func write(_ v: JSON) {
        switch v {
        case .raw(let bytes): self.bytes.append(contentsOf: bytes)
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let n): bytes.append(contentsOf: n.utf8)
        case .string(let s): writeString(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (k, e) in a.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                write(e)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            bytes.append(UInt8(ascii: "{"))
            for (k, m) in o.members.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(m.key)
                bytes.append(UInt8(ascii: ":"))
                write(m.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Appends already-encoded JSON (a cached fragment).
    public mutating func writeRaw(_ encoded: [UInt8]) { bytes.append(contentsOf: encoded) }

    mutating func writePretty(_ v: JSON, indent: Int) {
        switch v {
        case .raw(let encoded):
            // Fragments come from this writer, so they parse; pretty-print their structure.
            if let parsed = try? JSONParser().parse(encoded) { writePretty(parsed, indent: indent) } else { write(v) }
        case .array(let a) where !a.isEmpty:
            bytes.append(UInt8(ascii: "["))
            for (k, e) in a.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 2)
                writePretty(e, indent: indent + 2)
            }
            newline(indent)
            bytes.append(UInt8(ascii: "]"))
        case .object(let o) where o.count > 0:
            bytes.append(UInt8(ascii: "{"))
            for (k, m) in o.members.sorted(by: { $0.key < $1.key }).enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 2)
                writeString(m.key)
                append(": ")
                writePretty(m.value, indent: indent + 2)
            }
            newline(indent)
            bytes.append(UInt8(ascii: "}"))
        default:
            write(v)
        }
    }

    mutating func newline(_ indent: Int) {
        bytes.append(0x0A)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
    }

    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                bytes.append(Self.hexDigits[Int(c >> 4)])
                bytes.append(Self.hexDigits[Int(c & 0x0F)])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

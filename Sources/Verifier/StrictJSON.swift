/// A small strict JSON parser (RFC 8259) for safetensors headers.
///
/// Foundation's parser silently keeps the last of duplicate keys; a weight file whose header names a
/// tensor twice must be rejected instead, so this parser reports duplicates. It also bounds nesting depth
/// (no stack exhaustion on hostile input) and keeps numbers as their source text.
enum JSONValue: Equatable, Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// The value as a non-negative integer that fits in `Int`, if it is one (no fraction, no exponent).
    var nonNegativeInt: Int? {
        guard case .number(let s) = self, !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(s)
    }
}

struct JSONParser {
    struct Failure: Error {
        let reason: String
    }

    private let bytes: UnsafeRawBufferPointer
    private var pos = 0
    private let maxDepth: Int

    /// Parses one JSON value that must span all of `bytes` (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 32) throws(Failure) -> JSONValue {
        var p = JSONParser(bytes: bytes, maxDepth: maxDepth)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.pos == bytes.count else { throw Failure(reason: "unexpected data after the JSON value at byte \(p.pos)") }
        return v
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func fail(_ reason: String) -> Failure { Failure(reason: "\(reason) at byte \(pos)") }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { pos += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(Failure) {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - pos >= n else { throw fail("truncated literal") }
        let lit = UnsafeRawBufferPointer(start: literal.utf8Start, count: n)
        for i in 0..<n where bytes[pos + i] != lit[i] { throw fail("invalid literal") }
        pos += n
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        guard let c = peek else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character \(c)")
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        pos += 1
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            guard seen.insert(key).inserted else { throw fail("duplicate key \"\(key)\"") }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard let c = peek else { throw fail("unterminated object") }
            pos += 1
            if c == UInt8(ascii: "}") { return .object(members) }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            guard let c = peek else { throw fail("unterminated array") }
            pos += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    private mutating func string() throws(Failure) -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw fail("unterminated string") }
            pos += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unterminated escape") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid code point") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("invalid escape")
                }
            case 0x00..<0x20:
                throw fail("control character in string")
            default:
                out.append(c)
            }
        }
    }

    private mutating func number() throws(Failure) -> String {
        let start = pos
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while let c = p.peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.pos += 1; n += 1 }
            return n
        }
        if peek == UInt8(ascii: "-") { pos += 1 }
        guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw fail("bad number") }
        if first == UInt8(ascii: "0") {
            pos += 1
        } else {
            _ = digits(&self)
        }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw fail("bad fraction") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw fail("bad exponent") }
        }
        guard pos - start <= 64 else { throw fail("number too long") }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
    }
}

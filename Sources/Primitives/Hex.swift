/// Errors from strict hexadecimal parsing.
public enum HexError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The string (after an optional `0x` prefix) has an odd number of digits.
    case oddLength(Int)
    /// A character that is not `0-9a-fA-F` at the given offset (counted after the prefix).
    case invalidCharacter(Character, offset: Int)
    /// The decoded value has the wrong number of bytes.
    case wrongLength(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .oddLength(let n): return "hex string has an odd number of digits (\(n))"
        case .invalidCharacter(let c, let offset): return "invalid hex character \(c.debugDescription) at offset \(offset)"
        case .wrongLength(let expected, let actual): return "expected \(expected) bytes of hex, got \(actual)"
        }
    }
}

/// Hexadecimal encoding and strict decoding.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes`, without prefix.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex, accepting an optional `0x`/`0X` prefix and either case. Rejects odd lengths,
    /// whitespace and any non-hex character.
    public static func decode(_ string: some StringProtocol) throws(HexError) -> [UInt8] {
        var utf8 = Substring(string).utf8[...]
        if utf8.count >= 2, utf8.first == UInt8(ascii: "0"),
           let x = utf8.dropFirst().first, x == UInt8(ascii: "x") || x == UInt8(ascii: "X") {
            utf8 = utf8.dropFirst(2)
        }
        guard utf8.count % 2 == 0 else { throw .oddLength(utf8.count) }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8 = 0
        for (i, c) in utf8.enumerated() {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: throw .invalidCharacter(Character(Unicode.Scalar(c)), offset: i)
            }
            if i % 2 == 0 { high = v } else { out.append(high << 4 | v) }
        }
        return out
    }

    /// Decodes hex that must be exactly `count` bytes long.
    public static func decode(_ string: some StringProtocol, count: Int) throws(HexError) -> [UInt8] {
        let bytes = try decode(string)
        guard bytes.count == count else { throw .wrongLength(expected: count, actual: bytes.count) }
        return bytes
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex without prefix.
    public var hex: String { Hex.encode(self) }
}

extension ArraySlice where Element == UInt8 {
    /// Lower-case hex without prefix.
    public var hex: String { Hex.encode(self) }
}

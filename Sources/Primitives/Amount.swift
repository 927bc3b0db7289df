/// Arithmetic failures on amounts; in consensus code these make a transaction fail, never the node.
public enum AmountError: Error, Equatable, Sendable, CustomStringConvertible {
    case overflow
    case underflow
    case divisionByZero

    public var description: String {
        switch self {
        case .overflow: return "amount overflow"
        case .underflow: return "amount underflow (insufficient funds)"
        case .divisionByZero: return "division by zero"
        }
    }
}

/// An amount of the native token in base units. All arithmetic is checked and reports errors
/// instead of trapping.
public struct Amount: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Base units.
    public var units: UInt64

    public static let zero = Amount(0)

    public init(_ units: UInt64) { self.units = units }
    public init(integerLiteral value: UInt64) { units = value }

    /// Decimal base units, e.g. for JSON.
    public var description: String { String(units) }

    /// Parses a non-negative decimal integer string (no sign, no exponent, no separators).
    public init?(decimal: String) {
        guard let v = UInt64(decimalDigits: decimal) else { return nil }
        units = v
    }

    public func adding(_ other: Amount) throws(AmountError) -> Amount {
        let (v, o) = units.addingReportingOverflow(other.units)
        if o { throw .overflow }
        return Amount(v)
    }

    public func subtracting(_ other: Amount) throws(AmountError) -> Amount {
        let (v, o) = units.subtractingReportingOverflow(other.units)
        if o { throw .underflow }
        return Amount(v)
    }

    public func multiplied(by k: UInt64) throws(AmountError) -> Amount {
        let (v, o) = units.multipliedReportingOverflow(by: k)
        if o { throw .overflow }
        return Amount(v)
    }

    /// `floor(self * numerator / denominator)` computed exactly with a 128-bit intermediate.
    public func scaled(by numerator: UInt64, over denominator: UInt64) throws(AmountError) -> Amount {
        Amount(try Amount.mulDiv(units, numerator, denominator))
    }

    /// `floor(a * b / c)` exactly; errors when `c` is zero or the quotient exceeds 64 bits.
    public static func mulDiv(_ a: UInt64, _ b: UInt64, _ c: UInt64) throws(AmountError) -> UInt64 {
        guard c != 0 else { throw .divisionByZero }
        let product = a.multipliedFullWidth(by: b)
        guard product.high < c else { throw .overflow }
        return c.dividingFullWidth((high: product.high, low: product.low)).quotient
    }

    /// Checked sum.
    public static func sum<S: Sequence>(_ amounts: S) throws(AmountError) -> Amount where S.Element == Amount {
        var total = Amount.zero
        for a in amounts { total = try total.adding(a) }
        return total
    }

    public static func < (a: Amount, b: Amount) -> Bool { a.units < b.units }
}

extension Amount: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.u64(units) }
    public init(from reader: inout CanonicalReader) throws(CodecError) { units = try reader.u64("amount") }
}

extension Amount: Codable {
    /// Amounts are decimal strings in JSON (JavaScript cannot hold every u64 exactly).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self), let a = Amount(decimal: s) { self = a; return }
        if let n = try? c.decode(UInt64.self) { self = Amount(n); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a decimal amount string")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(units))
    }
}

extension UInt64 {
    /// Digits only, below 2⁶⁴: `UInt64.init(_: String)` also takes a sign ("-0", "+1"), which no amount, height or
    /// count written by a client may carry (Specs/rpc.md §6).
    public init?(decimalDigits s: some StringProtocol) {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let v = UInt64(s) else { return nil }
        self = v
    }
}

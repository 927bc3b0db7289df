/// A decoding failure: what went wrong, in which field, at which byte offset.
public struct CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Equatable, Sendable {
        /// The input ended before the field was complete.
        case truncated(needed: Int, available: Int)
        /// Bytes were left after the value was complete.
        case trailingBytes(Int)
        /// A length prefix was not in its shortest form.
        case nonMinimalLength
        /// A length prefix does not fit in 32 bits.
        case lengthOverflow
        /// A length or count above the field's maximum.
        case lengthExceedsMaximum(length: UInt64, maximum: Int)
        /// An enum tag this version does not know.
        case unknownTag(UInt8)
        /// A value outside its allowed range or form.
        case invalidValue(String)
    }

    /// What went wrong.
    public let kind: Kind
    /// The field being decoded (innermost).
    public let field: String
    /// Byte offset in the input where the field started.
    public let offset: Int

    public init(_ kind: Kind, field: String, offset: Int) {
        self.kind = kind
        self.field = field
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case .truncated(let needed, let available): what = "truncated: needs \(needed) bytes, \(available) left"
        case .trailingBytes(let n): what = "\(n) trailing bytes after the value"
        case .nonMinimalLength: what = "length prefix is not minimally encoded"
        case .lengthOverflow: what = "length prefix exceeds 32 bits"
        case .lengthExceedsMaximum(let length, let maximum): what = "length \(length) exceeds maximum \(maximum)"
        case .unknownTag(let tag): what = "unknown tag \(tag)"
        case .invalidValue(let reason): what = "invalid value: \(reason)"
        }
        return "decoding '\(field)' at byte \(offset): \(what)"
    }
}

/// Writes the canonical binary encoding (Specs/encoding.md): little-endian fixed-width integers,
/// LEB128 length prefixes in shortest form, no padding, no optional trailing data.
public struct CanonicalWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the writer, keeping its storage: one writer encodes many records in a loop without
    /// allocating each time.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { appendLE(v) }
    public mutating func u32(_ v: UInt32) { appendLE(v) }
    public mutating func u64(_ v: UInt64) { appendLE(v) }
    /// A boolean as one byte, 0 or 1.
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    private mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A length or count as unsigned LEB128 (shortest form).
    public mutating func length(_ n: Int) {
        precondition(n >= 0 && n <= Int(UInt32.max), "length out of range")
        var v = UInt32(n)
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Length-prefixed bytes.
    public mutating func bytes<C: Collection>(_ b: C) where C.Element == UInt8 {
        length(b.count)
        bytes.append(contentsOf: b)
    }

    /// Raw bytes with no prefix (fixed-size fields).
    public mutating func raw<C: Sequence>(_ b: C) where C.Element == UInt8 {
        bytes.append(contentsOf: b)
    }

    /// Raw bytes with no prefix.
    public mutating func raw(_ b: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: b)
    }

    /// 32 raw bytes.
    public mutating func hash(_ h: Hash32) {
        h.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Length-prefixed UTF-8.
    public mutating func string(_ s: String) {
        bytes(Array(s.utf8))
    }

    /// A nested value.
    public mutating func encode(_ value: some CanonicalEncodable) {
        value.encode(to: &self)
    }

    /// A count-prefixed list.
    public mutating func list<T>(_ items: [T], _ element: (inout CanonicalWriter, T) -> Void) {
        length(items.count)
        for item in items { element(&self, item) }
    }

    /// A count-prefixed list of encodable values.
    public mutating func list<T: CanonicalEncodable>(_ items: [T]) {
        length(items.count)
        for item in items { item.encode(to: &self) }
    }

    /// An optional: tag 0 (absent) or tag 1 followed by the value.
    public mutating func optional<T>(_ value: T?, _ element: (inout CanonicalWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            element(&self, value)
        } else {
            bytes.append(0)
        }
    }
}

/// Reads the canonical binary encoding strictly: every malformed input is a `CodecError` naming the
/// field, never a trap. Callers give every length a maximum; the reader never allocates more than the
/// input it has (lengths are checked against the remaining bytes before any allocation).
public struct CanonicalReader: Sendable {
    @usableFromInline let input: [UInt8]
    /// Offset of the next unread byte.
    public private(set) var offset: Int

    public init(_ input: [UInt8]) {
        self.input = input
        self.offset = 0
    }

    /// Bytes not yet read.
    public var remaining: Int { input.count - offset }

    /// Throws unless every byte has been read.
    public func finish() throws(CodecError) {
        if remaining != 0 {
            throw CodecError(.trailingBytes(remaining), field: "end", offset: offset)
        }
    }

    private mutating func take(_ n: Int, _ field: StaticString) throws(CodecError) -> Range<Int> {
        guard n <= remaining else {
            throw CodecError(.truncated(needed: n, available: remaining), field: "\(field)", offset: offset)
        }
        let r = offset..<(offset + n)
        offset += n
        return r
    }

    private mutating func readLE<T: FixedWidthInteger>(_: T.Type, _ field: StaticString) throws(CodecError) -> T {
        let r = try take(MemoryLayout<T>.size, field)
        var v: T = 0
        for i in r.reversed() { v = v << 8 | T(input[i]) }
        return v
    }

    public mutating func u8(_ field: StaticString) throws(CodecError) -> UInt8 {
        let r = try take(1, field)
        return input[r.lowerBound]
    }
    public mutating func u16(_ field: StaticString) throws(CodecError) -> UInt16 { try readLE(UInt16.self, field) }
    public mutating func u32(_ field: StaticString) throws(CodecError) -> UInt32 { try readLE(UInt32.self, field) }
    public mutating func u64(_ field: StaticString) throws(CodecError) -> UInt64 { try readLE(UInt64.self, field) }

    /// A boolean; any byte other than 0 or 1 is rejected.
    public mutating func bool(_ field: StaticString) throws(CodecError) -> Bool {
        let at = offset
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let b: throw CodecError(.invalidValue("boolean byte \(b)"), field: "\(field)", offset: at)
        }
    }

    /// A LEB128 length or count, shortest form, at most `max`, and (since every element takes at least
    /// `minElementSize` bytes) no larger than what the remaining input could hold.
    public mutating func length(_ field: StaticString, max: Int, minElementSize: Int = 1) throws(CodecError) -> Int {
        let at = offset
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var count = 0
        while true {
            let b = try u8(field)
            count += 1
            value |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 {
                // A multi-byte encoding whose last byte is zero has a shorter form.
                if count > 1 && b == 0 { throw CodecError(.nonMinimalLength, field: "\(field)", offset: at) }
                break
            }
            shift += 7
            if count == 5 { throw CodecError(.lengthOverflow, field: "\(field)", offset: at) }
        }
        guard value <= UInt64(UInt32.max) else { throw CodecError(.lengthOverflow, field: "\(field)", offset: at) }
        guard value <= UInt64(max) else {
            throw CodecError(.lengthExceedsMaximum(length: value, maximum: max), field: "\(field)", offset: at)
        }
        let n = Int(value)
        if minElementSize > 0, n > remaining / minElementSize {
            throw CodecError(.truncated(needed: n * minElementSize, available: remaining), field: "\(field)", offset: at)
        }
        return n
    }

    /// Length-prefixed bytes of at most `max` bytes.
    public mutating func bytes(_ field: StaticString, max: Int) throws(CodecError) -> [UInt8] {
        let n = try length(field, max: max)
        return Array(input[try take(n, field)])
    }

    /// Exactly `count` raw bytes (a fixed-size field).
    public mutating func raw(_ field: StaticString, count: Int) throws(CodecError) -> [UInt8] {
        Array(input[try take(count, field)])
    }

    /// 32 raw bytes.
    public mutating func hash(_ field: StaticString) throws(CodecError) -> Hash32 {
        let r = try take(32, field)
        return input.withUnsafeBytes { Hash32(copying: UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    /// Length-prefixed UTF-8 of at most `max` bytes; invalid UTF-8 is rejected.
    public mutating func string(_ field: StaticString, max: Int) throws(CodecError) -> String {
        let at = offset
        let b = try bytes(field, max: max)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw CodecError(.invalidValue("not valid UTF-8"), field: "\(field)", offset: at)
        }
        return s
    }

    /// A nested value.
    public mutating func decode<T: CanonicalDecodable>(_: T.Type) throws(CodecError) -> T {
        try T(from: &self)
    }

    /// A count-prefixed list of at most `max` elements.
    public mutating func list<T>(
        _ field: StaticString, max: Int, minElementSize: Int = 1,
        _ element: (inout CanonicalReader) throws(CodecError) -> T
    ) throws(CodecError) -> [T] {
        let n = try length(field, max: max, minElementSize: minElementSize)
        var out = [T]()
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try element(&self)) }
        return out
    }

    /// A count-prefixed list of decodable values.
    public mutating func list<T: CanonicalDecodable>(_ field: StaticString, max: Int, of: T.Type) throws(CodecError) -> [T] {
        try list(field, max: max) { (r: inout CanonicalReader) throws(CodecError) -> T in try T(from: &r) }
    }

    /// An optional: tag 0 (absent) or 1 (present); any other tag is rejected.
    public mutating func optional<T>(
        _ field: StaticString, _ element: (inout CanonicalReader) throws(CodecError) -> T
    ) throws(CodecError) -> T? {
        let at = offset
        switch try u8(field) {
        case 0: return nil
        case 1: return try element(&self)
        case let t: throw CodecError(.unknownTag(t), field: "\(field)", offset: at)
        }
    }

    /// An error for the field just read or about to be read (for semantic checks in decoders).
    public func invalid(_ field: StaticString, _ reason: String, at: Int? = nil) -> CodecError {
        CodecError(.invalidValue(reason), field: "\(field)", offset: at ?? offset)
    }

    /// An unknown-tag error at `at`.
    public func unknownTag(_ field: StaticString, _ tag: UInt8, at: Int) -> CodecError {
        CodecError(.unknownTag(tag), field: "\(field)", offset: at)
    }
}

/// A type with one canonical binary encoding.
public protocol CanonicalEncodable {
    func encode(to writer: inout CanonicalWriter)
}

/// A type decodable from its canonical encoding, rejecting every non-canonical input.
public protocol CanonicalDecodable {
    init(from reader: inout CanonicalReader) throws(CodecError)
}

/// Both directions.
public typealias CanonicalCodable = CanonicalEncodable & CanonicalDecodable

extension CanonicalEncodable {
    /// The canonical encoding.
    public var canonicalEncoding: [UInt8] {
        var w = CanonicalWriter()
        encode(to: &w)
        return w.bytes
    }
}

extension CanonicalDecodable {
    /// Decodes a complete value; trailing bytes are an error.
    public init(canonicalEncoding bytes: [UInt8]) throws(CodecError) {
        var r = CanonicalReader(bytes)
        self = try Self(from: &r)
        try r.finish()
    }
}

extension Hash32: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.hash(self) }
    public init(from reader: inout CanonicalReader) throws(CodecError) { self = try reader.hash("hash") }
}

extension UInt64: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.u64(self) }
    public init(from reader: inout CanonicalReader) throws(CodecError) { self = try reader.u64("u64") }
}

extension UInt32: CanonicalCodable {
    public func encode(to writer: inout CanonicalWriter) { writer.u32(self) }
    public init(from reader: inout CanonicalReader) throws(CodecError) { self = try reader.u32("u32") }
}

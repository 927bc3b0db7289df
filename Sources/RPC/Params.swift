import Ledger
import Primitives

/// The declared parameters of a method, in positional order.
struct ParamSpec: Sendable, Equatable {
    let name: String
    let required: Bool
    init(_ name: String, required: Bool = true) { self.name = name; self.required = required }
    static func optional(_ name: String) -> ParamSpec { ParamSpec(name, required: false) }
}

/// A request's parameters, resolved against the method's declaration: given by position (an array) or by
/// name (an object). Unknown names, extra positions and missing required parameters are rejected before the
/// handler runs; the typed accessors reject wrong types with a message naming the parameter.
struct Params: Sendable {
    let values: [String: JSON]
    /// The chain's address prefix, for bech32m addresses.
    let hrp: String

    /// Resolves `raw` (absent, an array or an object) against `specs`.
    init(_ raw: JSON?, specs: [ParamSpec], hrp: String) throws(RPCError) {
        self.hrp = hrp
        var v = [String: JSON]()
        switch raw {
        case nil:
            break
        case .array(let a)?:
            guard a.count <= specs.count else {
                throw .invalidParams("expected at most \(specs.count) parameter\(specs.count == 1 ? "" : "s"), got \(a.count)")
            }
            for (spec, value) in zip(specs, a) where value != .null { v[spec.name] = value }
        case .object(let o)?:
            for m in o.members {
                guard specs.contains(where: { $0.name == m.key }) else {
                    let known = specs.isEmpty ? "none" : specs.map(\.name).joined(separator: ", ")
                    throw .invalidParams("unknown parameter '\(m.key)' (parameters: \(known))", param: m.key)
                }
                if m.value != .null { v[m.key] = m.value }
            }
        case let other?:
            throw .invalidRequest("params must be an array or an object, not \(other.typeName)")
        }
        for s in specs where s.required && v[s.name] == nil {
            throw .invalidParams("missing required parameter '\(s.name)'", param: s.name)
        }
        values = v
    }

    func has(_ name: String) -> Bool { values[name] != nil }
    func raw(_ name: String) -> JSON? { values[name] }

    func wrongType(_ name: String, _ expected: String, _ got: JSON) -> RPCError {
        .invalidParams("'\(name)' must be \(expected), got \(got.typeName)", param: name)
    }

    func invalid(_ name: String, _ why: String) -> RPCError {
        .invalidParams("'\(name)' \(why)", param: name)
    }

    func required<T>(_ name: String, _ parse: (String) throws(RPCError) -> T?) throws(RPCError) -> T {
        guard let v = try parse(name) else { throw .invalidParams("missing required parameter '\(name)'", param: name) }
        return v
    }

    // MARK: Typed accessors (nil when absent)

    func uint64(_ name: String) throws(RPCError) -> UInt64? {
        guard let v = values[name] else { return nil }
        guard case .number(let n) = v else { throw wrongType(name, "a non-negative integer", v) }
        guard let u = UInt64(decimalDigits: n) else { throw invalid(name, "must be a non-negative integer below 2^64, got \(n)") }
        return u
    }

    func uint32(_ name: String) throws(RPCError) -> UInt32? {
        guard let u = try uint64(name) else { return nil }
        guard let v = UInt32(exactly: u) else { throw invalid(name, "must be below 2^32") }
        return v
    }

    func bool(_ name: String) throws(RPCError) -> Bool? {
        guard let v = values[name] else { return nil }
        guard case .bool(let b) = v else { throw wrongType(name, "a boolean", v) }
        return b
    }

    func string(_ name: String) throws(RPCError) -> String? {
        guard let v = values[name] else { return nil }
        guard case .string(let s) = v else { throw wrongType(name, "a string", v) }
        return s
    }

    /// A 32-byte value as `0x`-prefixed hex (64 digits).
    func hash(_ name: String) throws(RPCError) -> Hash32? {
        guard let s = try string(name) else { return nil }
        guard s.hasPrefix("0x") || s.hasPrefix("0X") else { throw invalid(name, "must be 0x-prefixed hex of 32 bytes") }
        do { return try Hash32(hex: s) } catch { throw invalid(name, "must be 0x-prefixed hex of 32 bytes (\(error))") }
    }

    /// An account: a bech32m address with the chain's prefix, or a 0x-hex 32-byte x-only key.
    func address(_ name: String) throws(RPCError) -> PublicKey? {
        guard let s = try string(name) else { return nil }
        return try Params.parseAddress(s, hrp: hrp, name: name)
    }

    static func parseAddress(_ s: String, hrp: String, name: String) throws(RPCError) -> PublicKey {
        if s.hasPrefix("0x") || s.hasPrefix("0X") {
            do { return try PublicKey(hex: s) } catch { throw .invalidParams("'\(name)' is not a 32-byte hex key (\(error))", param: name) }
        }
        do { return try Address.decode(s, hrp: hrp) } catch {
            throw .invalidParams("'\(name)' is not a \(hrp) address or 0x-hex key (\(error))", param: name)
        }
    }

    /// An amount: a decimal string (preferred; JavaScript numbers lose precision above 2^53) or an integer.
    func amount(_ name: String) throws(RPCError) -> Amount? {
        guard let v = values[name] else { return nil }
        switch v {
        case .string(let s):
            guard let a = Amount(decimal: s) else { throw invalid(name, "must be a decimal amount string, got \"\(s.prefix(40))\"") }
            return a
        case .number(let n):
            guard let u = UInt64(decimalDigits: n) else { throw invalid(name, "must be a non-negative integer amount below 2^64") }
            return Amount(u)
        default:
            throw wrongType(name, "a decimal amount string", v)
        }
    }

    /// Bytes as `0x`-prefixed hex, at most `maxBytes` long.
    func bytes(_ name: String, maxBytes: Int) throws(RPCError) -> [UInt8]? {
        guard let s = try string(name) else { return nil }
        guard s.hasPrefix("0x") || s.hasPrefix("0X") else { throw invalid(name, "must be 0x-prefixed hex") }
        guard (s.utf8.count - 2) / 2 <= maxBytes else { throw .limitExceeded("\(name) bytes", maximum: maxBytes, requested: (s.utf8.count - 2) / 2) }
        do { return try Hex.decode(s) } catch { throw invalid(name, "must be 0x-prefixed hex (\(error))") }
    }

    /// One of a fixed set of strings.
    func choice(_ name: String, _ allowed: [String]) throws(RPCError) -> String? {
        guard let s = try string(name) else { return nil }
        guard allowed.contains(s) else { throw invalid(name, "must be one of \(allowed.joined(separator: ", ")), got \"\(s.prefix(40))\"") }
        return s
    }

    /// A page size: default 25, at most 100.
    func limit(default d: Int = RPCLimits.defaultPageSize, maximum: Int = RPCLimits.maxPageSize) throws(RPCError) -> Int {
        guard let v = try uint64("limit") else { return d }
        guard v >= 1 else { throw invalid("limit", "must be at least 1") }
        guard v <= UInt64(maximum) else { throw .limitExceeded("limit", maximum: maximum, requested: Int(clamping: v)) }
        return Int(v)
    }

    /// A block selector: a height, or `latest`, `safe`, `finalized`, `earliest`.
    func block(_ name: String) throws(RPCError) -> BlockSelector? {
        guard let v = values[name] else { return nil }
        switch v {
        case .number(let n):
            guard let h = UInt64(decimalDigits: n) else { throw invalid(name, "must be a non-negative integer height or a tag") }
            return .height(h)
        case .string(let s):
            switch s {
            case "latest": return .latest
            case "finalized": return .finalized
            case "safe": return .safe
            case "earliest": return .earliest
            default: throw RPCError.unknownBlockTag(String(s.prefix(40)))
            }
        default:
            throw wrongType(name, "a height or one of \"latest\", \"safe\", \"finalized\", \"earliest\"", v)
        }
    }
}

/// Which block a request means.
public enum BlockSelector: Sendable, Equatable {
    case height(UInt64)
    case latest
    /// `finalityDepth` blocks below the tip: the v1 depth rule, now a label (it never stops a reorg).
    case safe
    /// The finality gadget's finalized checkpoint (Specs/consensus.md §8).
    case finalized
    case earliest
}

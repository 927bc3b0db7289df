/// Errors from bech32/bech32m decoding (BIP-173, BIP-350).
public enum Bech32Error: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLong(Int)
    case mixedCase
    case noSeparator
    case emptyHumanReadablePart
    case humanReadableCharacterOutOfRange(offset: Int)
    case invalidDataCharacter(Character, offset: Int)
    case checksumTooShort
    case invalidChecksum
    /// 5-to-8-bit conversion left more than 4 bits or non-zero padding.
    case invalidPadding

    public var description: String {
        switch self {
        case .tooLong(let n): return "bech32 string is \(n) characters, the limit is 90"
        case .mixedCase: return "bech32 string mixes upper and lower case"
        case .noSeparator: return "bech32 string has no '1' separator"
        case .emptyHumanReadablePart: return "bech32 string has an empty human-readable part"
        case .humanReadableCharacterOutOfRange(let o): return "human-readable part has a character outside 33...126 at offset \(o)"
        case .invalidDataCharacter(let c, let o): return "invalid bech32 data character \(c.debugDescription) at offset \(o)"
        case .checksumTooShort: return "bech32 data part is shorter than the 6-character checksum"
        case .invalidChecksum: return "bech32m checksum does not match (typo in the address?)"
        case .invalidPadding: return "bech32 data has invalid padding"
        }
    }
}

/// The bech32 family of checksummed base32 strings.
public enum Bech32 {
    /// Which checksum constant.
    public enum Variant: Sendable {
        /// BIP-173 (constant 1); only for checking vectors.
        case bech32
        /// BIP-350 (constant 0x2bc830a3); what addresses use.
        case bech32m

        var constant: UInt32 { self == .bech32 ? 1 : 0x2bc8_30a3 }
    }

    static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    static let reverse: [Int8] = {
        var t = [Int8](repeating: -1, count: 128)
        for (i, c) in charset.enumerated() {
            t[Int(c)] = Int8(i)
            t[Int(c) - 32 >= 0 && c >= UInt8(ascii: "a") ? Int(c) - 32 : Int(c)] = Int8(i)
        }
        return t
    }()

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let gen: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var chk: UInt32 = 1
        for v in values {
            let b = chk >> 25
            chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(v)
            for i in 0..<5 where (b >> i) & 1 == 1 { chk ^= gen[i] }
        }
        return chk
    }

    static func hrpExpand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Encodes 5-bit `data` under `hrp` (lower case).
    public static func encode(hrp: String, data: [UInt8], variant: Variant = .bech32m) -> String {
        let h = Array(hrp.lowercased().utf8)
        let values = hrpExpand(h) + data + [0, 0, 0, 0, 0, 0]
        let mod = polymod(values) ^ variant.constant
        var out = h + [UInt8(ascii: "1")]
        for d in data { out.append(charset[Int(d)]) }
        for i in 0..<6 { out.append(charset[Int((mod >> (5 * (5 - UInt32(i)))) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a bech32 string; returns the lower-case human-readable part and the 5-bit data (checksum removed).
    public static func decode(_ string: String, variant: Variant = .bech32m) throws(Bech32Error) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(string.utf8)
        guard bytes.count <= 90 else { throw .tooLong(bytes.count) }
        var hasLower = false, hasUpper = false
        for (i, c) in bytes.enumerated() {
            guard c >= 33 && c <= 126 else { throw .humanReadableCharacterOutOfRange(offset: i) }
            if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { hasLower = true }
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { hasUpper = true }
        }
        if hasLower && hasUpper { throw .mixedCase }
        guard let sep = bytes.lastIndex(of: UInt8(ascii: "1")) else { throw .noSeparator }
        guard sep > 0 else { throw .emptyHumanReadablePart }
        let lower = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        let hrp = Array(lower[..<sep])
        let dataPart = lower[(sep + 1)...]
        guard dataPart.count >= 6 else { throw .checksumTooShort }
        var data = [UInt8]()
        data.reserveCapacity(dataPart.count)
        for (i, c) in dataPart.enumerated() {
            let v = c < 128 ? reverse[Int(c)] : -1
            guard v >= 0 else { throw .invalidDataCharacter(Character(Unicode.Scalar(c)), offset: sep + 1 + i) }
            data.append(UInt8(v))
        }
        guard polymod(hrpExpand(hrp) + data) == variant.constant else { throw .invalidChecksum }
        return (String(decoding: hrp, as: UTF8.self), Array(data.dropLast(6)))
    }

    /// Regroups bits (8→5 with padding, or 5→8 strictly without).
    public static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) throws(Bech32Error) -> [UInt8] {
        var acc = 0, bits = 0
        var out = [UInt8]()
        let maxv = (1 << to) - 1
        for v in data {
            guard Int(v) >> from == 0 else { throw .invalidPadding }
            acc = (acc << from) | Int(v)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((acc >> bits) & maxv))
            }
        }
        if pad {
            if bits > 0 { out.append(UInt8((acc << (to - bits)) & maxv)) }
        } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
            throw .invalidPadding
        }
        return out
    }
}

/// Errors from address parsing.
public enum AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    case bech32(Bech32Error)
    case wrongHumanReadablePart(expected: String, actual: String)
    case wrongLength(Int)

    public var description: String {
        switch self {
        case .bech32(let e): return "invalid address: \(e)"
        case .wrongHumanReadablePart(let e, let a): return "address is for network '\(a)', expected '\(e)'"
        case .wrongLength(let n): return "address carries \(n) bytes, expected a 32-byte key"
        }
    }
}

/// An account address: the bech32m encoding of a 32-byte x-only public key under the chain's
/// human-readable part (`shr` on devnet).
public enum Address {
    /// Encodes a key as an address.
    public static func encode(_ key: PublicKey, hrp: String) -> String {
        // 8→5 with padding cannot fail.
        let five = (try? Bech32.convertBits(key.bytes, from: 8, to: 5, pad: true)) ?? []
        return Bech32.encode(hrp: hrp, data: five, variant: .bech32m)
    }

    /// Decodes an address, requiring the given human-readable part.
    public static func decode(_ string: String, hrp: String) throws(AddressError) -> PublicKey {
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(string, variant: .bech32m) } catch { throw .bech32(error) }
        guard decoded.hrp == hrp.lowercased() else {
            throw .wrongHumanReadablePart(expected: hrp.lowercased(), actual: decoded.hrp)
        }
        let bytes: [UInt8]
        do { bytes = try Bech32.convertBits(decoded.data, from: 5, to: 8, pad: false) } catch { throw .bech32(error) }
        guard let key = PublicKey(bytes: bytes) else { throw .wrongLength(bytes.count) }
        return key
    }
}

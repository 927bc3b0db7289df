import Foundation
import Testing
@testable import Primitives

/// BIP-350 official vectors, plus the address layer.
@Suite struct Bech32Tests {
    struct Vectors: Decodable {
        struct Invalid: Decodable { let string: String; let reason: String }
        struct ValidSegwit: Decodable { let address: String; let scriptPubKey: String }
        struct InvalidSegwit: Decodable { let address: String; let reason: String }
        let validBech32m: [String]
        let invalidBech32m: [Invalid]
        let validSegwit: [ValidSegwit]
        let invalidSegwit: [InvalidSegwit]
    }

    static func vectors() throws -> Vectors {
        try JSONDecoder().decode(Vectors.self, from: TestFiles.resource("bip350-vectors.json"))
    }

    @Test func validBech32mStringsDecode() throws {
        let v = try Self.vectors()
        #expect(v.validBech32m.count == 7)
        for s in v.validBech32m {
            let decoded = try Bech32.decode(s, variant: .bech32m)
            // Re-encoding gives the lower-case form of the input.
            #expect(Bech32.encode(hrp: decoded.hrp, data: decoded.data, variant: .bech32m) == s.lowercased())
            // No string is valid under both constants.
            #expect(throws: Bech32Error.invalidChecksum) { try Bech32.decode(s, variant: .bech32) }
        }
    }

    @Test func invalidBech32mStringsAreRejected() throws {
        let v = try Self.vectors()
        #expect(v.invalidBech32m.count == 14)
        for inv in v.invalidBech32m {
            #expect(throws: Bech32Error.self, "\(inv.reason)") { try Bech32.decode(inv.string, variant: .bech32m) }
        }
    }

    /// BIP-350 segwit rules on top of the generic codec (test-only: the chain has no segwit addresses).
    static func decodeSegwit(hrp: String, _ address: String) throws -> (version: Int, program: [UInt8]) {
        struct Bad: Error {}
        let variant: Bech32.Variant
        // The version decides the checksum constant, so peek at it first.
        let lower = address.lowercased()
        guard let sep = lower.lastIndex(of: "1"), lower.index(after: sep) < lower.endIndex else { throw Bad() }
        let vchar = lower[lower.index(after: sep)]
        guard let vIndex = "qpzry9x8gf2tvdw0s3jn54khce6mua7l".firstIndex(of: vchar) else { throw Bad() }
        let version = "qpzry9x8gf2tvdw0s3jn54khce6mua7l".distance(from: "qpzry9x8gf2tvdw0s3jn54khce6mua7l".startIndex, to: vIndex)
        variant = version == 0 ? .bech32 : .bech32m
        let d = try Bech32.decode(address, variant: variant)
        guard d.hrp == hrp, !d.data.isEmpty, d.data[0] <= 16 else { throw Bad() }
        let program = try Bech32.convertBits(Array(d.data.dropFirst()), from: 5, to: 8, pad: false)
        guard program.count >= 2, program.count <= 40 else { throw Bad() }
        if d.data[0] == 0 && program.count != 20 && program.count != 32 { throw Bad() }
        return (Int(d.data[0]), program)
    }

    @Test func validSegwitAddresses() throws {
        for v in try Self.vectors().validSegwit {
            let hrp = v.address.lowercased().hasPrefix("bc") ? "bc" : "tb"
            let (version, program) = try Self.decodeSegwit(hrp: hrp, v.address)
            let opcode = version == 0 ? 0 : 0x50 + version
            let script = [UInt8(opcode), UInt8(program.count)] + program
            #expect(script.hex == v.scriptPubKey, "\(v.address)")
        }
    }

    @Test func invalidSegwitAddresses() throws {
        let vectors = try Self.vectors().invalidSegwit
        #expect(vectors.count == 15)
        for v in vectors {
            var failures = 0
            for hrp in ["bc", "tb"] {
                do { _ = try Self.decodeSegwit(hrp: hrp, v.address) } catch { failures += 1 }
            }
            #expect(failures == 2, "\(v.address): \(v.reason)")
        }
    }

    @Test func addressRoundTrip() throws {
        for _ in 0..<50 {
            let key = PrivateKey.generate().publicKey
            let a = Address.encode(key, hrp: "shr")
            #expect(a.hasPrefix("shr1"))
            #expect(a.count == 62)
            #expect(try Address.decode(a, hrp: "shr") == key)
            #expect(try Address.decode(a.uppercased(), hrp: "shr") == key)
        }
    }

    @Test func addressErrorsAreSpecific() throws {
        let key = try PublicKey(hex: "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        let a = Address.encode(key, hrp: "shr")
        #expect(throws: AddressError.wrongHumanReadablePart(expected: "tshr", actual: "shr")) {
            try Address.decode(a, hrp: "tshr")
        }
        // Mixed case.
        let mixed = "SHR1" + a.dropFirst(4)
        #expect(throws: AddressError.bech32(.mixedCase)) { try Address.decode(mixed, hrp: "shr") }
        // One changed character breaks the checksum.
        var chars = Array(a)
        chars[10] = chars[10] == "q" ? "p" : "q"
        #expect(throws: AddressError.bech32(.invalidChecksum)) { try Address.decode(String(chars), hrp: "shr") }
        // A valid bech32m string carrying 20 bytes instead of 32.
        let five = try Bech32.convertBits([UInt8](repeating: 7, count: 20), from: 8, to: 5, pad: true)
        let short = Bech32.encode(hrp: "shr", data: five)
        #expect(throws: AddressError.wrongLength(20)) { try Address.decode(short, hrp: "shr") }
        #expect(throws: AddressError.bech32(.noSeparator)) { try Address.decode("shrqqqqqq", hrp: "shr") }
    }
}

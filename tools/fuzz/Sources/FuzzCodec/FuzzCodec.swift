import Primitives

/// A value using every reader feature; the fuzzer throws arbitrary bytes at its decoder.
struct Everything: CanonicalDecodable, CanonicalEncodable {
    var a: UInt8, b: UInt16, c: UInt32, d: UInt64, flag: Bool
    var blob: [UInt8], name: String, items: [UInt64], maybe: Hash32?, key: PublicKey, sig: Signature

    init(from r: inout CanonicalReader) throws(CodecError) {
        a = try r.u8("a"); b = try r.u16("b"); c = try r.u32("c"); d = try r.u64("d"); flag = try r.bool("flag")
        blob = try r.bytes("blob", max: 4096)
        name = try r.string("name", max: 64)
        items = try r.list("items", max: 64, minElementSize: 8) { (r: inout CanonicalReader) throws(CodecError) in try r.u64("item") }
        maybe = try r.optional("maybe") { (r: inout CanonicalReader) throws(CodecError) in try r.hash("maybe") }
        key = try r.decode(PublicKey.self)
        sig = try r.decode(Signature.self)
    }

    func encode(to w: inout CanonicalWriter) {
        w.u8(a); w.u16(b); w.u32(c); w.u64(d); w.bool(flag); w.bytes(blob); w.string(name)
        w.list(items) { $0.u64($1) }
        w.optional(maybe) { $0.hash($1) }
        w.encode(key); w.encode(sig)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let v = try? Everything(canonicalEncoding: bytes) {
        // Accepted input must be the one canonical encoding of what it decoded to.
        precondition(v.canonicalEncoding == bytes, "non-canonical input accepted")
    }
    return 0
}

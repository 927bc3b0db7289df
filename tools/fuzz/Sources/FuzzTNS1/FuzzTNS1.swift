import Verifier

/// Arbitrary bytes into the TNS1 decoder: accepted input must be the one canonical encoding of what it
/// decoded to (so its hash is stable), and rejection must be an error, never a crash or a huge allocation.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let t = try? TNS1.decode(bytes, maxElements: 1 << 16) {
        precondition(t.tns1 == bytes, "non-canonical TNS1 accepted")
        precondition(t.shape.reduce(1, *) == t.count)
        _ = t.hash
    }
    return 0
}

import Verifier

/// Arbitrary bytes into the GGUF reader and its dequantizers: errors only, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let f = try? GGUFFile(bytes: bytes) else { return 0 }
    for (name, info) in f.tensors {
        precondition(info.byteRange.upperBound <= f.byteCount)
        if info.count <= 1 << 16, let v = try? f.floats(name) { precondition(v.count == info.count) }
    }
    _ = try? f.modelConfig()
    return 0
}

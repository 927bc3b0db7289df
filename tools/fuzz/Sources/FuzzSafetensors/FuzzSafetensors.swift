import Verifier

/// Arbitrary bytes into the safetensors reader (header JSON, offsets, conversions): errors only, never a
/// crash; every accepted tensor converts or reports an unsupported type, and lies inside the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let f = try? SafetensorsFile(bytes: bytes) else { return 0 }
    var covered = 0
    for name in f.names {
        guard let info = f.tensors[name] else { continue }
        precondition(info.byteRange.lowerBound >= 8 && info.byteRange.upperBound <= f.byteCount)
        covered += info.byteRange.count
        if let v = try? f.floats(name) { precondition(v.count == info.count) }
    }
    precondition(covered <= f.byteCount)
    return 0
}

import P2P

/// P2P frames as they arrive from any peer: the first byte is the message type, the rest the payload.
/// Decoding must never crash, and whatever decodes must re-encode to exactly the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = P2PLimits(maxBlockBytes: 1 << 20, maxBlockTransactions: 1_000)
    if let message = try? P2PMessage.decode(type: bytes[0], payload: Array(bytes[1...]), limits: limits) {
        precondition(message.payload == Array(bytes[1...]), "non-canonical P2P message accepted")
    }
    return 0
}

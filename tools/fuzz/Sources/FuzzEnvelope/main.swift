import Primitives
import Sealing

/// Sealed inputs (Specs/sealing.md) as they arrive inside sealed reveals: decoded, re-encoded, and opened by a
/// recipient key, by the published ephemeral key and with a published key pair, which must fail cleanly or succeed,
/// never trap.
private let recipient = try! CheckerKeyPair(privateKey: [UInt8](repeating: 7, count: 32))
private let context = SealingContext(chainId: Hash32.zero, ticketId: Hash32.zero, inputHash: Hash32.zero)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The ledger decodes with its pool's input bound: a bounded decode agrees with the default one.
    let bounded = try? SealedEnvelope(decoding: bytes, maxPlaintextCount: 64)
    guard let envelope = try? SealedEnvelope(decoding: bytes) else {
        precondition(bounded == nil, "bounded decode accepted what the default refuses")
        return 0
    }
    precondition(envelope.encoded == bytes, "non-canonical envelope accepted")
    precondition(bounded == nil || bounded == envelope, "bounded decode differs")
    precondition((bounded != nil) == (envelope.plaintextCount <= 64), "bound not applied")
    _ = envelope.slotIndex(of: recipient.publicKey)
    _ = try? envelope.open(keyPair: recipient, context: context)
    _ = try? envelope.open(recipientIndex: 0, keyPair: recipient, context: context)
    // The first 32 bytes after the version stand in for a published ephemeral private key.
    if bytes.count > 33 {
        _ = try? envelope.openAll(ephemeralPrivateKey: Array(bytes[1..<33]), context: context)
    }
    return 0
}

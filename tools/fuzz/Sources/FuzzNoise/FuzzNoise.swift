import P2P
import Primitives

/// Noise handshake messages as they arrive from any peer, in every position a peer can send one: the
/// responder's first read, and the initiator's read of the second message (after a real first message),
/// then the payload decoders. Nothing may crash; malformed input must be a `NoiseError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let chain = Fuzz.chain
    // As the responder's first message.
    let r = NoiseHandshake(role: .responder, staticKey: Fuzz.staticKey, prologue: Fuzz.prologue)
    if let payload = try? r.readMessage(bytes) {
        _ = try? NoisePayload.checkHello(payload, chainId: chain)
        _ = try? r.writeMessage(payload: Fuzz.identity.payload)
    }
    // As the initiator's second message.
    let i = NoiseHandshake(role: .initiator, staticKey: Fuzz.staticKey, prologue: Fuzz.prologue)
    if (try? i.writeMessage(payload: NoisePayload.hello(chainId: chain))) != nil, let payload = try? i.readMessage(bytes) {
        _ = try? NoisePayload.verifyIdentity(payload, remoteStatic: i.remoteStatic ?? [], chainId: chain)
    }
    // The payload decoders directly.
    _ = try? NoisePayload.checkHello(bytes, chainId: chain)
    _ = try? NoisePayload.verifyIdentity(bytes, remoteStatic: Array(bytes.prefix(32)), chainId: chain)
    return 0
}

enum Fuzz {
    static let chain = SHA256.hash([1])
    static let prologue = NoisePayload.prologue(chainId: chain)
    static let staticKey = X25519KeyPair.generate()
    static let identity = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: chain)
}

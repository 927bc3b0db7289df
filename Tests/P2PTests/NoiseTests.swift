import Foundation
import NIOCore
import NIOEmbedded
import P2P
import Primitives
import Testing
import TestSupport

/// The Noise state machine against published vectors and the independent Python reference
/// (`tools/noise_ref.py` → `Specs/vectors/noise.json`), byte for byte; then the identity payload, rekeying,
/// nonce exhaustion and tampering, without sockets.
@Suite struct NoiseTests {
    static let root = repositoryRoot

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("Specs/vectors/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func hex(_ v: Any?) throws -> [UInt8] { try Hex.decode(try #require(v as? String)) }

    @Test func publishedVectors() throws {
        let doc = try Self.json("noise-published.json")
        let vectors = try #require(doc["vectors"] as? [[String: Any]])
        #expect(vectors.count == 2)
        for v in vectors {
            #expect(v["protocol_name"] as? String == "Noise_XX_25519_ChaChaPoly_SHA256")
            let i = NoiseHandshake(role: .initiator, staticKey: try X25519KeyPair(privateKey: Self.hex(v["init_static"])),
                                   prologue: try Self.hex(v["init_prologue"]), ephemeral: try X25519KeyPair(privateKey: Self.hex(v["init_ephemeral"])))
            let r = NoiseHandshake(role: .responder, staticKey: try X25519KeyPair(privateKey: Self.hex(v["resp_static"])),
                                   prologue: try Self.hex(v["resp_prologue"]), ephemeral: try X25519KeyPair(privateKey: Self.hex(v["resp_ephemeral"])))
            let messages = try #require(v["messages"] as? [[String: String]])
            var ciphers: (i: (send: NoiseTransportCipher, receive: NoiseTransportCipher), r: (send: NoiseTransportCipher, receive: NoiseTransportCipher))?
            for (n, m) in messages.enumerated() {
                let payload = try Hex.decode(m["payload"]!), expected = try Hex.decode(m["ciphertext"]!)
                let fromInitiator = n % 2 == 0
                if n < 3 {
                    let (a, b) = fromInitiator ? (i, r) : (r, i)
                    let c = try a.writeMessage(payload: payload)
                    #expect(c == expected, "\(v["source"] ?? "") message \(n)")
                    #expect(try b.readMessage(c) == payload)
                    if n == 2 {
                        if let hh = v["handshake_hash"] as? String { #expect(i.handshakeHash == (try Hex.decode(hh))) }
                        #expect(i.handshakeHash == r.handshakeHash)
                        // The published vectors never rekey: an interval beyond their message count.
                        let (is_, ir) = try i.split(), (rs, rr) = try r.split()
                        ciphers = ((NoiseTransportCipher(is_, rekeyInterval: 1 << 40), NoiseTransportCipher(ir, rekeyInterval: 1 << 40)),
                                   (NoiseTransportCipher(rs, rekeyInterval: 1 << 40), NoiseTransportCipher(rr, rekeyInterval: 1 << 40)))
                    }
                } else {
                    let c = try #require(ciphers)
                    let (a, b) = fromInitiator ? (c.i, c.r) : (c.r, c.i)
                    let ct = try a.send.seal(payload)
                    #expect(ct == expected, "\(v["source"] ?? "") transport message \(n)")
                    #expect(try b.receive.open(ct) == payload)
                }
            }
        }
    }

    @Test func referenceVectors() throws {
        let doc = try Self.json("noise.json")
        let vectors = try #require(doc["vectors"] as? [[String: Any]])
        #expect(vectors.count >= 2)
        for v in vectors {
            let name = v["name"] as? String ?? "?"
            let prologue = try Self.hex(v["prologue"])
            // The prologue is exactly what the node derives from a chain id and the protocol version.
            #expect(prologue == NoisePayload.prologue(chainId: Hash32(bytes: prologue[0..<32])!), "\(name)")
            let interval = try #require(v["rekey_interval"] as? Int)
            let si = try X25519KeyPair(privateKey: Self.hex(v["init_static"]))
            let sr = try X25519KeyPair(privateKey: Self.hex(v["resp_static"]))
            #expect(si.publicKey == (try Self.hex(v["init_static_public"])))
            #expect(sr.publicKey == (try Self.hex(v["resp_static_public"])))
            let i = NoiseHandshake(role: .initiator, staticKey: si, prologue: prologue, ephemeral: try X25519KeyPair(privateKey: Self.hex(v["init_ephemeral"])))
            let r = NoiseHandshake(role: .responder, staticKey: sr, prologue: prologue, ephemeral: try X25519KeyPair(privateKey: Self.hex(v["resp_ephemeral"])))
            let hs = try #require(v["handshake"] as? [[String: String]])
            #expect(hs.count == 3)
            for (n, m) in hs.enumerated() {
                let (a, b) = n % 2 == 0 ? (i, r) : (r, i)
                let payload = try Hex.decode(m["payload"]!)
                let c = try a.writeMessage(payload: payload)
                #expect(c == (try Hex.decode(m["ciphertext"]!)), "\(name): handshake message \(n)")
                #expect(try b.readMessage(c) == payload)
            }
            #expect(i.isComplete && r.isComplete)
            #expect(i.handshakeHash == (try Self.hex(v["handshake_hash"])))
            #expect(r.remoteStatic == si.publicKey && i.remoteStatic == sr.publicKey)
            let (is_, ir) = try i.split(), (rs, rr) = try r.split()
            let ti = (send: NoiseTransportCipher(is_, rekeyInterval: UInt64(interval)), receive: NoiseTransportCipher(ir, rekeyInterval: UInt64(interval)))
            let tr = (send: NoiseTransportCipher(rs, rekeyInterval: UInt64(interval)), receive: NoiseTransportCipher(rr, rekeyInterval: UInt64(interval)))
            for (n, rec) in try #require(v["transport"] as? [[String: String]]).enumerated() {
                let (a, b) = rec["sender"] == "initiator" ? (ti, tr) : (tr, ti)
                let payload = try Hex.decode(rec["payload"]!)
                let ct = try a.send.seal(payload)
                #expect(ct == (try Hex.decode(rec["ciphertext"]!)), "\(name): record \(n)")
                #expect(try b.receive.open(ct) == payload, "\(name): record \(n)")
            }
        }
    }

    /// A fresh pair of completed handshakes with real identities.
    static func session(chain: Hash32 = SHA256.hash([7])) throws -> (i: NoiseHandshake, r: NoiseHandshake, iKey: PrivateKey, rKey: PrivateKey) {
        let iKey = PrivateKey.generate(), rKey = PrivateKey.generate()
        let ii = NoiseIdentity(nodeKey: iKey, chainId: chain), ri = NoiseIdentity(nodeKey: rKey, chainId: chain)
        let i = NoiseHandshake(role: .initiator, staticKey: ii.staticKey, prologue: NoisePayload.prologue(chainId: chain))
        let r = NoiseHandshake(role: .responder, staticKey: ri.staticKey, prologue: NoisePayload.prologue(chainId: chain))
        try NoisePayload.checkHello(try r.readMessage(try i.writeMessage(payload: NoisePayload.hello(chainId: chain))), chainId: chain)
        let m2 = try i.readMessage(try r.writeMessage(payload: ri.payload))
        #expect(try NoisePayload.verifyIdentity(m2, remoteStatic: i.remoteStatic!, chainId: chain) == rKey.publicKey)
        let m3 = try r.readMessage(try i.writeMessage(payload: ii.payload))
        #expect(try NoisePayload.verifyIdentity(m3, remoteStatic: r.remoteStatic!, chainId: chain) == iKey.publicKey)
        return (i, r, iKey, rKey)
    }

    @Test func identityBindsTheStaticKeyAndChain() throws {
        let chain = SHA256.hash([7])
        let s = try Self.session(chain: chain)
        let id = NoiseIdentity(nodeKey: s.iKey, chainId: chain)
        // Another static key (a relay's), another chain, a truncated or padded payload: all refused.
        #expect(throws: NoiseError.identitySignatureInvalid) {
            try NoisePayload.verifyIdentity(id.payload, remoteStatic: X25519KeyPair.generate().publicKey, chainId: chain)
        }
        #expect(throws: NoiseError.identitySignatureInvalid) {
            try NoisePayload.verifyIdentity(id.payload, remoteStatic: id.staticKey.publicKey, chainId: SHA256.hash([8]))
        }
        #expect(throws: NoiseError.self) { try NoisePayload.verifyIdentity(Array(id.payload.dropLast()), remoteStatic: id.staticKey.publicKey, chainId: chain) }
        #expect(throws: NoiseError.self) { try NoisePayload.verifyIdentity(id.payload + [0], remoteStatic: id.staticKey.publicKey, chainId: chain) }
        #expect(try NoisePayload.verifyIdentity(id.payload, remoteStatic: id.staticKey.publicKey, chainId: chain) == s.iKey.publicKey)
        // The clear first payload names version and chain precisely.
        #expect(throws: NoiseError.wrongChain(SHA256.hash([8]))) { try NoisePayload.checkHello(NoisePayload.hello(chainId: SHA256.hash([8])), chainId: chain) }
        #expect(throws: NoiseError.wrongVersion(1)) { try NoisePayload.checkHello(NoisePayload.hello(chainId: chain, version: 1), chainId: chain) }
    }

    @Test func prologueMismatchFailsTheHandshake() throws {
        let i = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: SHA256.hash([1])))
        let r = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: SHA256.hash([2])))
        _ = try r.readMessage(try i.writeMessage(payload: []))
        let m2 = try r.writeMessage(payload: [1, 2, 3])
        #expect(throws: NoiseError.decryptionFailed) { try i.readMessage(m2) }
    }

    @Test func tamperedReplayedAndReorderedRecordsAreRejected() throws {
        let s = try Self.session()
        let (isend, _) = try s.i.split(), (_, rrecv) = try s.r.split()
        let tx = NoiseTransportCipher(isend), rx = NoiseTransportCipher(rrecv)
        let a = try tx.seal(Array("first".utf8)), b = try tx.seal(Array("second".utf8)), c = try tx.seal(Array("third".utf8))
        #expect(try rx.open(a) == Array("first".utf8))
        #expect(throws: NoiseError.decryptionFailed) { try rx.open(a) }  // replay
        #expect(throws: NoiseError.decryptionFailed) { try rx.open(c) }  // reordered (skips b)
        var flipped = b
        flipped[2] ^= 0x01
        #expect(throws: NoiseError.decryptionFailed) { try rx.open(flipped) }
        #expect(try rx.open(b) == Array("second".utf8))  // failures do not advance the nonce
        #expect(try rx.open(c) == Array("third".utf8))
    }

    @Test func rekeyKeepsBothSidesInStepAndChangesKeys() throws {
        let s = try Self.session()
        let (isend, _) = try s.i.split(), (_, rrecv) = try s.r.split()
        let tx = NoiseTransportCipher(isend, rekeyInterval: 4), rx = NoiseTransportCipher(rrecv, rekeyInterval: 4)
        var seen = Set<[UInt8]>()
        for n in 0..<20 {
            let ct = try tx.seal([UInt8](repeating: 0, count: 16))
            seen.insert(ct)
            #expect(try rx.open(ct) == [UInt8](repeating: 0, count: 16), "record \(n)")
        }
        #expect(seen.count == 20)
        // A receiver that does not rekey at the same point cannot read on.
        let s2 = try Self.session()
        let tx2 = NoiseTransportCipher(try s2.i.split().send, rekeyInterval: 2)
        let rx2 = NoiseTransportCipher(try s2.r.split().receive, rekeyInterval: 3)
        for _ in 0..<2 { #expect(try rx2.open(try tx2.seal([1])) == [1]) }
        #expect(throws: NoiseError.decryptionFailed) { try rx2.open(try tx2.seal([1])) }
    }

    @Test func nonceExhaustionIsAHardFailure() throws {
        let s = try Self.session()
        let tx = NoiseTransportCipher(try s.i.split().send, rekeyInterval: 1 << 62)
        tx.setNonce(UInt64.max - 1)
        _ = try tx.seal([1])
        #expect(throws: NoiseError.nonceExhausted) { try tx.seal([2]) }
        #expect(throws: NoiseError.nonceExhausted) { try tx.seal([3]) }
    }

    @Test func malformedHandshakeMessagesAreErrorsNotCrashes() throws {
        for bad: [UInt8] in [[], [1, 2, 3], [UInt8](repeating: 0, count: 31)] {
            let r = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: [])
            #expect(throws: NoiseError.self) { try r.readMessage(bad) }
        }
        // A low-order (all-zero) ephemeral key: X25519 gives zero, which is refused.
        let i = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: [])
        _ = try i.writeMessage(payload: [])
        #expect(throws: NoiseError.self) { try i.readMessage([UInt8](repeating: 0, count: 32 + 48 + 16)) }
        // A low-order ephemeral key from the initiator (all zero, or u = 1): the responder's `ee` gives an all-zero
        // secret, which swift-crypto does not refuse; the responder refuses it instead of answering (robustness
        // review: it used to send a normal second message).
        for lowOrder: [UInt8] in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            #expect(throws: NoiseError.invalidPublicKey) { try X25519KeyPair.generate().dh(lowOrder) }
            let responder = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: [])
            _ = try responder.readMessage(lowOrder)
            #expect(throws: NoiseError.invalidPublicKey) { try responder.writeMessage(payload: []) }
        }
        // Out of turn.
        let r = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: [])
        #expect(throws: NoiseError.outOfOrder) { try r.writeMessage(payload: []) }
        #expect(throws: NoiseError.outOfOrder) { try r.split() }
    }

    /// What the FuzzNoise target does, on random and mutated messages: every outcome is a value or a
    /// `NoiseError`, never a crash.
    @Test func randomAndMutatedHandshakeMessages() throws {
        let chain = SHA256.hash([1])
        let prologue = NoisePayload.prologue(chainId: chain)
        let id = NoiseIdentity(nodeKey: .generate(), chainId: chain)
        // Real messages to mutate.
        let i0 = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: prologue)
        let r0 = NoiseHandshake(role: .responder, staticKey: .generate(), prologue: prologue)
        let m1 = try i0.writeMessage(payload: NoisePayload.hello(chainId: chain))
        _ = try r0.readMessage(m1)
        let m2 = try r0.writeMessage(payload: id.payload)
        var rng = SplitMix64(seed: 7)
        for n in 0..<1500 {
            var input: [UInt8]
            switch n % 3 {
            case 0: input = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1: input = m1; if !input.isEmpty { input[Int(rng.next() % UInt64(input.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            default: input = m2; if !input.isEmpty { input[Int(rng.next() % UInt64(input.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            let r = NoiseHandshake(role: .responder, staticKey: id.staticKey, prologue: prologue)
            if let p = try? r.readMessage(input) { _ = try? NoisePayload.checkHello(p, chainId: chain) }
            let i = NoiseHandshake(role: .initiator, staticKey: id.staticKey, prologue: prologue)
            _ = try i.writeMessage(payload: NoisePayload.hello(chainId: chain))
            // Typed throws: any failure here is a NoiseError by construction.
            if let p = try? i.readMessage(input) {
                _ = try? NoisePayload.verifyIdentity(p, remoteStatic: i.remoteStatic ?? [], chainId: chain)
            }
            #expect(throws: NoiseError.self) { try NoisePayload.verifyIdentity(input, remoteStatic: Array(input.prefix(32)), chainId: chain) }
        }
    }
}

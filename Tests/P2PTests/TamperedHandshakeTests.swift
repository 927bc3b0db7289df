import Consensus
import Foundation
@testable import P2P
import Primitives
import Testing
import TestSupport

/// Ninth review (P2P), F5: an on-path attacker flips one byte of an honest node's Noise handshake message. The
/// handshake fails (it must), but the honest remote used to be scored 100 points for it: an immediate 10-minute ban of
/// its address, saved to disk. Now the failure costs a few points, and only a remote that keeps failing is banned.
@Suite struct TamperedHandshakeTests {
    /// The error the dialer gets when message 2 of an honest responder was altered on the way (`byte` in its encrypted
    /// part, or in its clear ephemeral key).
    static func tamperedMessage2(byte: Int) throws -> NoiseError {
        let chain = SHA256.hash(Array("review-9".utf8))
        let responder = NoiseIdentity(nodeKey: PrivateKey.generate(), chainId: chain)
        let i = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: chain))
        let r = NoiseHandshake(role: .responder, staticKey: responder.staticKey, prologue: NoisePayload.prologue(chainId: chain))
        _ = try r.readMessage(try i.writeMessage(payload: NoisePayload.hello(chainId: chain)))
        var m2 = try r.writeMessage(payload: responder.payload)
        m2[byte] ^= 0x01
        do {
            _ = try i.readMessage(m2)
        } catch {
            return error
        }
        Issue.record("a tampered message 2 was read")
        return .closed
    }

    @Test func aTamperedHandshakeMessageDoesNotBanTheHonestRemote() async throws {
        let dir = TempDir("tampered-handshake")
        let g = try TestGenesis()
        let service = P2PService(config: P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate()),
                                 chain: try g.chainService(dataDir: dir.path), logger: testLogger("tampered"))
        let honest = "203.0.113.7"
        for byte in [5, 100] {  // the clear ephemeral key, the encrypted static key and identity
            let error = try Self.tamperedMessage2(byte: byte)
            #expect(error == .decryptionFailed)
            service.handshakeFailed(.noise(error), host: honest, remote: "\(honest):30300", direction: .outbound, timedOut: false)
        }
        // Secure outcome: the honest node's address is not banned for the attacker's tampering.
        #expect(!service.table.isBanned(host: honest), "an on-path attacker's tampering banned the honest remote")
        #expect(service.misbehaviourScore(host: honest) < 20)
        // The bound stays: a remote whose handshakes keep failing is banned after a few dozen.
        let noisy = "198.51.100.9"
        var failures = 0
        while !service.table.isBanned(host: noisy) && failures < 100 {
            service.handshakeFailed(.noise(.decryptionFailed), host: noisy, remote: "\(noisy):30300", direction: .inbound, timedOut: false)
            failures += 1
        }
        #expect(service.table.isBanned(host: noisy))
        #expect(failures > 1 && failures <= 25, "banned after \(failures) failed handshakes")
    }
}

import Consensus
import Foundation
import NIOCore
import NIOEmbedded
@testable import P2P
import Primitives
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking-free TCP client on 127.0.0.1 (POSIX sockets, non-blocking after connect): the attacker needs
/// nothing of the node's stack, and must not read or buffer more than it chooses.
struct RawSocket {
    let fd: Int32

    /// Connects to `port` on 127.0.0.1.
    static func connect(port: Int) throws -> RawSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw P2PConfigError("socket() failed: \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { _ = Glibc.close(fd); throw P2PConfigError("connect() failed: \(errno)") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return RawSocket(fd: fd)
    }

    /// Sends all of `bytes` (small messages: the socket buffer takes them at once).
    func send(_ bytes: [UInt8]) throws {
        var at = 0
        while at < bytes.count {
            let n = bytes[at...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }
            guard n > 0 else { throw P2PConfigError("send() failed: \(errno)") }
            at += n
        }
    }

    enum Read: Equatable { case bytes(Int), nothingYet, closed }

    /// Reads what is there without waiting.
    func poll() -> Read {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return .bytes(n) }
        if n == 0 { return .closed }
        return errno == EAGAIN || errno == EWOULDBLOCK ? .nothingYet : .closed
    }

    func close() { _ = Glibc.close(fd) }
}

/// Fourteenth review (denial of service, P2P): connections the node accepts but refuses are held, and handshaken,
/// without any bound on how many at once.
@Suite struct Review14P2PTests {
    /// Every accepted TCP connection gets a task of the accept loop's group (`Sessions.swift`, `acceptLoop`). One the node
    /// will refuse (inbound limit reached and nobody to evict, per-IP or per-group limit, banned address) goes to `refuse`,
    /// which first waits for the Noise handshake to finish (up to `handshakeTimeout`, 5 s by default) so that the reason
    /// can travel encrypted, doing the responder's key generation and two X25519 operations on the way. Nothing bounds
    /// how many refusals wait at once: a single host (a banned one too) opening connections in a loop and sending each
    /// a first Noise message holds rate × `handshakeTimeout` sockets (file descriptors, NIO channels, tasks) and makes
    /// the node do a handshake per connection. Fixed (`P2PService.configure`, `PendingHandshakes`): at most
    /// `maxInboundPeers` inbound handshakes run at once (and `maxInboundPerIP` per host); the rest are closed at once,
    /// unanswered.
    @Test(.timeLimit(.minutes(3))) func refusedInboundConnectionsAreNotHeldAndHandshakenWithoutBound() async throws {
        let dir = TempDir("review14-refused")
        let g = try TestGenesis()
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        config.maxInboundPeers = 2
        config.maxOutboundPeers = 0
        // Long enough that no connection is closed by the deadline while the test looks.
        config.handshakeTimeout = .seconds(120)
        let service = P2PService(config: config, chain: try g.chainService(dataDir: dir.path), logger: testLogger("review14-refused"))
        let chainId = g.genesis.chainId
        let attempts = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            let port = try await service.listeningPort(timeout: .seconds(90))
            var sockets = [RawSocket]()
            defer { for s in sockets { s.close() } }
            for _ in 0..<attempts {
                let s = try RawSocket.connect(port: port)
                sockets.append(s)
                // The first Noise message (-> e, hello): 2-byte big-endian length, then the message.
                let initiator = NoiseHandshake(role: .initiator, staticKey: .generate(), prologue: NoisePayload.prologue(chainId: chainId))
                let m1 = try initiator.writeMessage(payload: NoisePayload.hello(chainId: chainId))
                try s.send([UInt8(m1.count >> 8), UInt8(m1.count & 0xff)] + m1)
            }
            // Each connection is either answered with the responder's message 2 (the node holds it and did the handshake
            // work) or closed; wait until every one is one or the other.
            var state = [RawSocket.Read](repeating: .nothingYet, count: attempts)
            let settled = await eventually(.seconds(60)) {
                for i in 0..<attempts where state[i] == .nothingYet {
                    let r = sockets[i].poll()
                    if r != .nothingYet { state[i] = r }
                }
                return !state.contains(.nothingYet)
            }
            let handshaken = state.filter { if case .bytes = $0 { true } else { false } }.count
            let closed = state.filter { $0 == .closed }.count
            #expect(settled, "answered \(handshaken), closed \(closed) of \(attempts)")
            // Every connection answered is held open by the node until its handshake deadline.
            #expect(service.peers().isEmpty)
            // Fixed: at most maxInboundPeers inbound handshakes run at once; the others are closed unanswered.
            #expect(handshaken <= config.maxInboundPeers && handshaken >= 1,
                    "\(handshaken) connections were handshaken at once (inbound limit \(config.maxInboundPeers))")
            #expect(closed >= attempts - config.maxInboundPeers)
            group.cancelAll()
        }
    }

    /// Pending inbound handshakes are counted per ban key (an IPv6 /64 is one host), and a banned address takes no
    /// slot: eighteenth-session audit, where eight addresses of one /64 (or a banned host, whose connections were
    /// held for the handshake timeout and refused only after it) kept every honest inbound handshake out.
    @Test func aBannedAddressTakesNoHandshakeSlotAndASlash64IsOneHost() throws {
        let dir = TempDir("review18-pending")
        let g = try TestGenesis()
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        config.maxInboundPeers = 32
        config.maxInboundPerIP = 4
        config.exemptLoopbackFromAddressLimits = false
        let service = P2PService(config: config, chain: try g.chainService(dataDir: dir.path), logger: testLogger("review18-pending"))
        func admitted(_ ip: String) throws -> Bool {
            let channel = EmbeddedChannel()
            channel.remoteAddress = try SocketAddress(ipAddress: ip, port: 40_000)
            return !(try service.configure(channel, role: .responder, expectedPeer: nil)).overLimit
        }
        let oneSlash64 = try (1...8).filter { try admitted("2001:db8:0:1::\($0)") }.count
        #expect(oneSlash64 == 4, "\(oneSlash64) handshakes at once from one /64")
        #expect(try admitted("2001:db8:0:2::1"), "another /64 is another host")
        _ = service.table.penalize(key: nil, host: "203.0.113.9", .invalidBlock)
        #expect(service.table.isBanned(host: "203.0.113.9"))
        #expect(try !admitted("203.0.113.9"), "a banned address took a handshake slot")
        #expect(try admitted("203.0.113.10"))
    }

    /// The handshake limit's bookkeeping: a total and a per-host cap, each released once per handshake that ends.
    @Test func pendingHandshakesAreCappedInAllAndPerHost() {
        var p = PendingHandshakes()
        let first = p.admit("10.0.0.1", total: 3, perHost: 2), second = p.admit("10.0.0.1", total: 3, perHost: 2)
        #expect(first && second)
        let third = p.admit("10.0.0.1", total: 3, perHost: 2)
        #expect(!third, "a third handshake of one host")
        let other = p.admit("10.0.0.2", total: 3, perHost: 2)
        #expect(other)
        let fourth = p.admit("10.0.0.3", total: 3, perHost: 2)
        #expect(!fourth, "a fourth handshake in all")
        p.release("10.0.0.1")
        #expect(p.total == 2)
        let again = p.admit("10.0.0.1", total: 3, perHost: 2)
        #expect(again)
        p.release("10.0.0.9")   // never admitted: nothing to release
        #expect(p.total == 3)
    }
}

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
    /// A service with 32 pending-handshake slots, 4 per host, loopback not exempt; `dir` keeps its data directory.
    static func handshakeLimitedService(_ dir: TempDir) throws -> P2PService {
        let g = try TestGenesis()
        var config = P2PConfig(listenHost: "127.0.0.1", listenPort: 0, nodeKey: .generate())
        config.maxInboundPeers = 32
        config.maxInboundPerIP = 4
        config.exemptLoopbackFromAddressLimits = false
        return P2PService(config: config, chain: try g.chainService(dataDir: dir.path), logger: testLogger("pending-handshakes"))
    }

    @Test func aBannedAddressTakesNoHandshakeSlotAndASlash64IsOneHost() throws {
        let dir = TempDir("review18-pending")
        let service = try Self.handshakeLimitedService(dir)
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

    /// The handshake limit's bookkeeping: a total and a per-host cap, each released once per handshake that ends (an
    /// evicted one is released by its eviction, not again when its connection closes).
    @Test func pendingHandshakesAreCappedInAllAndPerHost() {
        var p = PendingHandshakes()
        let none: @Sendable () -> Void = {}
        let first = p.admit("10.0.0.1", total: 3, perHost: 2, close: none), second = p.admit("10.0.0.1", total: 3, perHost: 2, close: none)
        #expect(first != nil && second != nil && first?.evicted == nil)
        let third = p.admit("10.0.0.1", total: 3, perHost: 2, close: none)
        #expect(third == nil, "a third handshake of one host")
        let other = p.admit("10.0.0.2", total: 3, perHost: 2, close: none)
        #expect(other != nil)
        // Full: the newcomer's host holds none and the busiest two, so the busiest host's oldest handshake is evicted.
        let fourth = p.admit("10.0.0.3", total: 3, perHost: 2, close: none)
        #expect(fourth != nil && p.total == 3 && p.count(of: "10.0.0.1") == 1)
        fourth?.evicted?()
        // Every host holds one now: nobody is evicted for a fifth.
        let fifth = p.admit("10.0.0.4", total: 3, perHost: 2, close: none)
        #expect(fifth == nil, "a fifth handshake in all")
        p.release("10.0.0.1", id: first!.id)   // evicted: released already
        #expect(p.total == 3)
        p.release("10.0.0.1", id: second!.id)
        #expect(p.total == 2 && p.count(of: "10.0.0.1") == 0)
        let again = p.admit("10.0.0.1", total: 3, perHost: 2, close: none)
        #expect(again != nil && again?.evicted == nil)
        p.release("10.0.0.9", id: 1)   // never admitted: nothing to release
        p.release("10.0.0.1", id: second!.id)   // released already
        #expect(p.total == 3)
    }

    /// Performed (eighteenth-session audit, fixed in the nineteenth): eight IPv4 hosts in different groups open four
    /// connections each and send nothing, taking all 32 pending handshake slots for the handshake timeout, again and
    /// again. Now a newcomer evicts the oldest handshake of the host holding the most: the honest host gets in, and a
    /// flood of connections from 200 more addresses never evicts its one handshake (a host holding one is only ever
    /// evicted once no host holds two, which takes 32 distinct hosts).
    @Test func silentHostsCannotHoldEveryHandshakeSlot() throws {
        let dir = TempDir("review19-silent")
        let service = try Self.handshakeLimitedService(dir)
        func connect(_ ip: String) throws -> (channel: EmbeddedChannel, admitted: Bool) {
            let channel = EmbeddedChannel()
            channel.remoteAddress = try SocketAddress(ipAddress: ip, port: 40_000)
            try channel.connect(to: channel.remoteAddress!).wait()
            return (channel, !(try service.configure(channel, role: .responder, expectedPeer: nil)).overLimit)
        }
        var silent = [EmbeddedChannel]()
        for host in 1...8 {
            for _ in 0..<4 {
                let c = try connect("198.51.\(host).7")
                #expect(c.admitted)
                silent.append(c.channel)
            }
        }
        #expect(try !connect("198.51.1.7").admitted, "a fifth handshake of one host")
        let honest = try connect("203.0.113.7")
        #expect(honest.admitted, "every slot stayed with hosts that sent nothing")
        #expect(silent.filter { !$0.isActive }.count == 1, "the newcomer evicts exactly one silent handshake")
        // An attacker host that lost a slot cannot take it back from the others (it holds three, the busiest four).
        let evictedHost = try #require(silent.firstIndex { !$0.isActive }) / 4 + 1
        #expect(try !connect("198.51.\(evictedHost).7").admitted)
        // A flood from fresh addresses churns the attackers' handshakes, never the honest one.
        var flooded = 0
        for i in 0..<200 where try connect("192.0.\(i / 200).\(i % 200 + 1)").admitted { flooded += 1 }
        #expect(honest.channel.isActive, "the honest host's only handshake was evicted")
        #expect(flooded > 0 && flooded < 200, "\(flooded) of 200 fresh addresses admitted")
        #expect(service.pendingHandshakes.withLock { $0.count(of: "203.0.113.7") } == 1)
        #expect(service.pendingHandshakes.withLock { $0.total } == 32)
    }
}

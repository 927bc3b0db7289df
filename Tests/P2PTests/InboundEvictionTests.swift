@testable import P2P
import Testing
import Primitives

/// Inbound eviction (Specs/p2p.md §5): when every inbound slot is taken, which established peer a newcomer replaces.
@Suite struct InboundEvictionTests {
    static let t0 = ContinuousClock.now

    static func candidate(_ id: UInt64, _ group: String, age: Int, latencyMs: Int? = nil, blockAgo: Int? = nil) -> EvictionCandidate {
        EvictionCandidate(id: id, group: group, connectedAt: t0 - .seconds(age), latency: latencyMs.map { .milliseconds($0) },
                          lastNewBlock: blockAgo.map { t0 - .seconds($0) })
    }

    /// An attacker holding most slots from one address group, beside honest peers that serve the node: the newcomer
    /// replaces the attacker's youngest connection, never an honest one.
    @Test func theLargestGroupsYoungestGoesAndUsefulPeersStay() {
        var peers = [
            Self.candidate(1, "203.0.113", age: 50, latencyMs: 20),  // fast
            Self.candidate(2, "192.0.2", age: 40, blockAgo: 3),  // delivered a block
            Self.candidate(3, "100.64.1", age: 3_000),  // long connected
        ]
        // Ten idle connections from one /24, younger than the honest ones, no latency measured yet.
        for i in 0..<10 { peers.append(Self.candidate(UInt64(10 + i), "198.51.100", age: 30 - i)) }
        let victim = InboundEvictionTests.evict(peers)
        #expect(victim == 19, "the attacker group's youngest (age 21) is evicted, got \(victim.map(String.init) ?? "none")")
        // Evicted one by one, the attacker's connections go first, all of them before any honest peer.
        var left = peers
        var order = [UInt64]()
        while let v = InboundEvictionTests.evict(left) {
            order.append(v)
            left.removeAll { $0.id == v }
        }
        let honest: Set<UInt64> = [1, 2, 3]
        let firstHonest = order.firstIndex { honest.contains($0) } ?? order.count
        #expect(order.prefix(firstHonest).count >= 5, "evicted \(order)")
        #expect(!order.contains(1) && !order.contains(2), "a fast peer or a block supplier was evicted: \(order)")
    }

    /// Of equal groups, the one whose youngest connection is youngest; a lone protected peer is never evicted.
    @Test func protectedPeersAreNeverEvicted() {
        #expect(Self.evict([Self.candidate(1, "a", age: 10, latencyMs: 5)]) == nil)
        #expect(Self.evict([Self.candidate(1, "a", age: 10, blockAgo: 1)]) == nil)
        // Nothing measured: half by age are protected (0 of 1), so a lone idle peer can be replaced.
        #expect(Self.evict([Self.candidate(1, "a", age: 10)]) == 1)
        // Two single-peer groups: the younger goes (the older is in the protected half).
        #expect(Self.evict([Self.candidate(1, "a", age: 10), Self.candidate(2, "b", age: 5)]) == 2)
        // Four with latency are protected before the fifth is considered.
        let fast = (1...4).map { Self.candidate(UInt64($0), "g\($0)", age: 1, latencyMs: $0) }
        #expect(Self.evict(fast + [Self.candidate(9, "slow", age: 100, latencyMs: 900)]) == 9)
    }

    static func evict(_ peers: [EvictionCandidate]) -> UInt64? { PeerTable.evictionCandidate(among: peers) }
}

/// Seventh review: bans were kept until the same key was looked up again, so an attacker with many addresses and fresh
/// node keys (an IPv6 /48 has 2⁸⁰) added a ban that never left memory with every failed handshake, and the ban file
/// export walked them all under the table's lock. Now bans are bounded: expired ones go first, then the soonest ending.
@Suite struct BanTableBoundTests {
    @Test func bansFromEverNewAddressesStayBounded() throws {
        let table = PeerTable(ourKey: PrivateKey.generate().publicKey, maxInbound: 8, maxOutbound: 8, banThreshold: 1,
                              banDuration: .seconds(3_600))
        for i in 0..<(PeerTable.maxBans + 5_000) {
            let host = "2001:db8:\(i >> 16):\(i & 0xffff)::1"
            _ = table.penalize(key: nil, host: host, .invalidBlock)
        }
        #expect(table.bansHeld <= PeerTable.maxBans, "\(table.bansHeld) bans held")
        // The newest ban is in force (the bound drops the soonest ending first).
        #expect(table.isBanned(host: "2001:db8:\((PeerTable.maxBans + 4_999) >> 16):\((PeerTable.maxBans + 4_999) & 0xffff)::1"))
    }
}

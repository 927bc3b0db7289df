@testable import P2P
import Primitives
import Testing

/// Ninth review (P2P), F6: an IPv6 attacker banned by address used to step to another address of its /64 (2⁶⁴ of
/// them) and was let in again at once. Bans by address now cover the /64; IPv4 bans stay per address.
@Suite struct IPv6BanTests {
    @Test func aBannedIPv6HostCannotEscapeByChangingAddressInsideItsSlash64() throws {
        let table = PeerTable(ourKey: PrivateKey.generate().publicKey, maxInbound: 8, maxOutbound: 8, banThreshold: 100, banDuration: .seconds(600))
        #expect(table.penalize(key: PrivateKey.generate().publicKey, host: "2001:db8:0:1::5", .invalidBlock))
        // The attack: a fresh key from the next address of the same /64.
        let next = "2001:db8:0:1:8000::9"
        #expect(table.isBanned(host: next), "a ban on one IPv6 address is escaped by the next address of its /64")
        #expect(table.refusal(PrivateKey.generate().publicKey, host: next, endpoint: nil)?.0 == .banned)
        // Another /64 is another host.
        #expect(!table.isBanned(host: "2001:db8:0:2::5"))
        // IPv4: per address, as before.
        #expect(table.penalize(key: nil, host: "192.0.2.7", .invalidBlock))
        #expect(table.isBanned(host: "192.0.2.7"))
        #expect(!table.isBanned(host: "192.0.2.8"))
        // The ban survives a restart as the /64.
        let file = try #require(table.exportBans(force: true))
        #expect(file.bans.contains { $0.key == "host:2001:db8:0:1::/64" })
        let restarted = PeerTable(ourKey: PrivateKey.generate().publicKey, maxInbound: 8, maxOutbound: 8, banThreshold: 100, banDuration: .seconds(600))
        restarted.importBans(file)
        #expect(restarted.isBanned(host: "2001:db8:0:1:ffff:ffff:ffff:ffff"))
    }
}

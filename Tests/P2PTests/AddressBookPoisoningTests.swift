@testable import P2P
import Testing

/// Ninth review (P2P), F3: address-book poisoning. Sessions from a few hosts each shared 64 public addresses (one per
/// /24), the first 1000 learned addresses won, and every later honest address was refused. One source group now keeps
/// at most 64 addresses in the book, and a full book makes room for a new source.
@Suite struct AddressBookPoisoningTests {
    static func attackerAddress(_ n: Int) -> PeerEndpoint { PeerEndpoint(host: "203.\(n / 256).\(n % 256).1", port: 30300) }

    @Test func oneSourceCannotFillTheBook() {
        var book = AddressBook(bootstrap: [], backoffMin: .milliseconds(500), backoffMax: .seconds(30))
        let learned = (0..<1000).count { book.learn(Self.attackerAddress($0), from: "198.51.100.0/24") }
        #expect(learned <= book.maxLearnedPerSource, "one source put \(learned) addresses in the book")
        let honestLearned = book.learn(PeerEndpoint(host: "192.0.2.50", port: 30300), from: "192.0.2.0/24")
        #expect(honestLearned)
    }

    @Test func manySourcesFillingTheBookDoNotShutOutANewHonestSource() {
        var book = AddressBook(bootstrap: [], backoffMin: .milliseconds(500), backoffMax: .seconds(30))
        // The attack: 20 sources (hosts of the attacker's sessions) each sharing 64 distinct public addresses.
        var n = 0
        for source in 0..<20 {
            for _ in 0..<64 {
                book.learn(Self.attackerAddress(n), from: "198.51.\(source).0/24")
                n += 1
            }
        }
        #expect(book.entries.count <= book.maxLearned)
        // An honest peer shares its address afterwards: it is learned.
        let honest = PeerEndpoint(host: "192.0.2.50", port: 30300)
        let honestLearned = book.learn(honest, from: "192.0.2.0/24")
        #expect(honestLearned, "a full book shut out a new honest address")
        #expect(book.entries[honest] != nil)
        #expect(book.entries.count <= book.maxLearned)
    }
}

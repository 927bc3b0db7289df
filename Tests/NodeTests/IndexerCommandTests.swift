import ArgumentParser
import Testing
@testable import sharechain

/// `sharechain indexer` parses its options and refuses bad ones before connecting anywhere.
@Suite struct IndexerCommandTests {
    @Test func parsesAndValidates() throws {
        let c = try #require(try Sharechain.parseAsRoot(["indexer", "--rpc", "http://127.0.0.1:9", "--postgres", "postgres://u@h:5433/db", "--poll", "0.5"])
            as? IndexerCommand)
        #expect(c.rpc == "http://127.0.0.1:9" && c.postgres == "postgres://u@h:5433/db" && c.poll == 0.5 && !c.noSubscribe)
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer", "--postgres", "mysql://u@h/db"]) }
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer", "--postgres", "postgres://u@h/db", "--poll", "0"]) }
        #expect(throws: (any Error).self) { try Sharechain.parseAsRoot(["indexer"]) }
        #expect(Sharechain.helpMessage(for: IndexerCommand.self).contains("--postgres"))
    }
}

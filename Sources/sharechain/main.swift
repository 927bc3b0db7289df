import ArgumentParser
import Primitives

@main
struct Sharechain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharechain",
        abstract: "A share-chain ledger node for a decentralized private AI-inference network."
    )
}

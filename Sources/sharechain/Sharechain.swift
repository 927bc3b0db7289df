import ArgumentParser
import Consensus
import RPC

@main
struct Sharechain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharechain",
        abstract: "A share-chain ledger node for a decentralized private AI-inference network.",
        discussion: """
            Blocks every 10 s record compute shares (verified inference work by staked workers) and \
            fraud proofs; payouts are computed by consensus with exact integer arithmetic.
            """,
        // `sharechain --version`: the same string the node reports over JSON-RPC (`node_status`), with the protocol it speaks.
        version: "\(RPCConfiguration.defaultNodeVersion) (protocol \(Genesis.supportedProtocolVersion))",
        subcommands: [NodeCommand.self, DevnetCommand.self, DemoCommand.self, WorkerSimCommand.self, VerifierCommand.self, CheckerCommand.self, SimCommand.self, Keys.self, GenesisCommand.self, TxCommand.self, QueryCommand.self, IndexerCommand.self, ExplorerCommand.self]
    )
}

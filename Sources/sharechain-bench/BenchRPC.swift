import ArgumentParser
import Consensus
import Foundation
import Hummingbird
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Node
import Primitives
import RPC
import ServiceLifecycle
import Storage

/// `sharechain-bench rpc-server`: the servers `tools/bench-rpc` loads with wrk, in one process so they share
/// the machine equally: the node's JSON-RPC over a devnet chain whose block 1 holds 20 transfers, a minimal
/// Hummingbird server and a minimal SwiftNIO server that answer every request with a constant (the raw
/// loopback baselines). Runs until SIGINT/SIGTERM.
struct BenchRPCServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc-server",
        abstract: "Serve JSON-RPC and raw baseline HTTP servers for tools/bench-rpc (loopback only).",
        shouldDisplay: false)

    @Option(help: "JSON-RPC port.") var rpcPort = 18645
    @Option(help: "Raw Hummingbird baseline port.") var hummingbirdPort = 18646
    @Option(help: "Raw SwiftNIO baseline port.") var nioPort = 18647
    @Option(help: "Transactions in block 1.") var transactions = 20

    /// Bench chains never judge fraud proofs.
    struct NoAdjudicator: Adjudicator {
        struct Refused: Error {}
        func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw Refused() }
    }

    func validate() throws {
        try requireOptions(atLeast: 1, ["--transactions": transactions, "--rpc-port": rpcPort,
                                        "--hummingbird-port": hummingbirdPort, "--nio-port": nioPort])
        guard [rpcPort, hummingbirdPort, nioPort].allSatisfy({ $0 <= 65_535 }) else {
            throw ValidationError("ports must be at most 65535")
        }
        guard Set([rpcPort, hummingbirdPort, nioPort]).count == 3 else { throw ValidationError("the three ports must differ") }
    }

    func run() async throws {
        var logger = Logger(label: "bench-rpc")
        logger.logLevel = .warning
        let dir = NSTemporaryDirectory() + "sharechain-bench-rpc-\(ProcessInfo.processInfo.processIdentifier)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let genesis = try GenesisDocument.decode(Data(EmbeddedGenesis.devnet.utf8)).resolve()
        var options = DatabaseOptions.small
        options.syncWrites = false
        let store = try ChainStore(path: dir, genesis: genesis.chainId, options: options)
        let chain = ChainService(engine: try ChainEngine(genesis: genesis, store: store, adjudicator: NoAdjudicator()), clock: SystemClock.unixMillis)
        // Block 1: `transactions` transfers from one development account.
        let sender = DevelopmentKeys.account(0), recipient = DevelopmentKeys.account(1).publicKey
        for n in 0..<transactions {
            let body = TxBody.transfer(to: recipient, amount: Amount(UInt64(n + 1)))
            let probe = Transaction(chainId: genesis.chainId, sender: sender.publicKey, nonce: UInt64(n), fee: .zero, body: body).signed(by: sender)
            let fee = genesis.ledger.minFeePerByte * UInt64(probe.encodedSize)
            try await chain.submit(Transaction(chainId: genesis.chainId, sender: sender.publicKey, nonce: UInt64(n), fee: Amount(fee), body: body).signed(by: sender))
        }
        let key = DevelopmentKeys.validator(0)
        var identity = ValidatorIdentity(key: key, chains: [ValidatorRandao.chain(for: key, generation: 0)])
        let slot = genesis.slot(atMillis: await chain.now())
        guard let block = try await chain.produce(slot: slot, identity: &identity, deadline: .max), block.transactions.count == transactions else {
            throw ValidationError("could not produce the benchmark block")
        }
        FileHandle.standardOutput.write(Data("block 1: \(block.transactions.count) transactions, \(block.hash)\n".utf8))

        var config = RPCConfiguration()
        config.port = rpcPort
        let rpc = RPCServer(chain: chain, configuration: config, logger: logger)
        let constant = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"result":1}"#)
        let hummingbird = Application(
            responder: CallbackResponder<BasicRequestContext> { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: constant))
            },
            configuration: .init(address: .hostname("127.0.0.1", port: hummingbirdPort)), logger: logger)
        let nio = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ConstantHTTPHandler(body: constant))
                }
            }
            .bind(host: "127.0.0.1", port: nioPort).get()
        // The script waits for this line in a file: written unbuffered (print would sit in stdout's buffer).
        FileHandle.standardOutput.write(Data("ready: rpc \(rpcPort), hummingbird \(hummingbirdPort), nio \(nioPort)\n".utf8))
        let group = ServiceGroup(configuration: .init(services: [.init(service: rpc), .init(service: hummingbird)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await nio.close()
    }
}

/// Answers every HTTP request with the same JSON body (keep-alive).
final class ConstantHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let body: ByteBuffer
    init(body: ByteBuffer) { self.body = body }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var head = HTTPResponseHead(version: .http1_1, status: .ok)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

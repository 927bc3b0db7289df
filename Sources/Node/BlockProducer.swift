import Consensus
import Foundation
import Logging
import Primitives
import ServiceLifecycle

/// Produces a block whenever the node's validator leads a slot: waits for each slot's start, builds from
/// the mempool until the slot's half-way deadline, imports through the ordinary path, and hands the block
/// to `broadcast` (P2P relay). Skips production while `isSynced` says the node is behind.
public struct BlockProducerService: Service {
    public let chain: ChainService
    public let logger: Logger
    let identity: ValidatorIdentity
    let isSynced: @Sendable () async -> Bool
    let broadcast: @Sendable (Block) async -> Void

    public init(chain: ChainService, identity: ValidatorIdentity, logger: Logger,
                isSynced: @escaping @Sendable () async -> Bool = { true },
                broadcast: @escaping @Sendable (Block) async -> Void = { _ in }) {
        self.chain = chain
        self.identity = identity
        self.logger = logger
        self.isSynced = isSynced
        self.broadcast = broadcast
    }

    public func run() async throws {
        let genesis = chain.genesis
        let slotMillis = genesis.slotMillis
        logger.info("block producer started", metadata: ["validator": "\(identity.key.publicKey.hex)"])
        let initial = identity
        // Graceful shutdown cancels the loop; a cancelled sleep ends it without an error.
        await cancelWhenGracefulShutdown {
            var identity = initial
            while !Task.isCancelled {
                let now = await chain.now()
                let slot = genesis.slot(atMillis: now) + 1
                let start = genesis.slotStartMillis(slot)
                // Wake just after the slot starts (a few ms so the timestamp lands inside it).
                do { try await Task.sleep(for: .milliseconds(Int64(start + 5 - min(now, start + 5)))) } catch { return }
                await chain.retryEarly()
                guard await isSynced() else {
                    logger.debug("not producing: syncing", metadata: ["slot": "\(slot)"])
                    continue
                }
                do {
                    if let block = try await chain.produce(slot: slot, identity: &identity, deadline: start + slotMillis / 2) {
                        logger.info("produced block", metadata: [
                            "height": "\(block.header.height)", "slot": "\(slot)", "txs": "\(block.transactions.count)",
                            "hash": "\(block.hash.hex.prefix(16))",
                        ])
                        await broadcast(block)
                    }
                } catch {
                    logger.error("block production failed: \(error)", metadata: ["slot": "\(slot)"])
                }
            }
        }
    }
}

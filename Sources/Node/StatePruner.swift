import Consensus
import Logging
import ServiceLifecycle
import Storage

/// Prunes the state history and tree below the retained range after each new block (Specs/storage.md §11), a
/// few heights per step so that block import never waits long behind it (the store serializes the two).
public struct StatePrunerService: Service {
    public let chain: ChainService
    public let store: ChainStore
    public let mode: PruningMode
    public let logger: Logger

    public init(chain: ChainService, store: ChainStore, mode: PruningMode, logger: Logger) {
        self.chain = chain; self.store = store; self.mode = mode; self.logger = logger
    }

    /// Prunes up to the mode's target on the current tip; returns the heights pruned.
    @discardableResult
    public static func catchUp(store: ChainStore, mode: PruningMode) async throws -> Int {
        guard let tip = try store.tip(), let target = mode.retainFrom(tip: tip.height, finalized: try store.finalizedHeight() ?? 0) else { return 0 }
        var total = 0
        while true {
            let n = try store.pruneState(retainFrom: target, maxHeights: 16)
            total += n
            if n == 0 { return total }
            await Task.yield()
        }
    }

    public func run() async throws {
        logger.info("state pruning", metadata: ["mode": "\(mode)", "retainedFrom": "\((try? store.current.stateRetainedFrom()) ?? 0)"])
        // A service that returns would end the node (the group's default): an archive node just waits.
        guard mode != .archive else { try? await gracefulShutdown(); return }
        let events = await chain.blockEvents()
        await cancelWhenGracefulShutdown {
            // Blocks alone, subscribing again if a fast sync outruns pruning (returning would end the node); each
            // block's pruning catches up with whatever earlier events were dropped.
            await chain.forEachBlockEvent(startingWith: events) { event in
                guard case .newBlock = event else { return }
                await prune()
            }
        }
    }

    private func prune() async {
        do {
            let n = try await Self.catchUp(store: store, mode: mode)
            if n > 0 { logger.debug("pruned state", metadata: ["heights": "\(n)", "retainedFrom": "\((try? store.current.stateRetainedFrom()) ?? 0)"]) }
        } catch {
            logger.warning("state pruning failed: \(error)")
        }
    }
}

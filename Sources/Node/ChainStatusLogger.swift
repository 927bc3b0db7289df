import Consensus
import Foundation
import Logging
import ServiceLifecycle

/// Logs the chain's progress for operators: a line when the finalized height advances, and a status line every
/// `interval` (height, finalized height, how far the tip is behind the wall clock, mempool), so a node that stalls, or
/// follows no peer, is not silent.
public struct ChainStatusLogger: Service {
    let chain: ChainService
    let logger: Logger
    let interval: Duration

    public init(chain: ChainService, logger: Logger, interval: Duration = .seconds(60)) {
        self.chain = chain; self.logger = logger; self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var progress = FinalizedProgress()
            var lastStatus = ContinuousClock.now
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(2)) } catch { return }
                let s = await chain.status()
                if let line = progress.update(finalized: s.finalizedHeight) { logger.info("\(line)", metadata: ["height": "\(s.height)"]) }
                guard ContinuousClock.now - lastStatus >= interval else { continue }
                lastStatus = ContinuousClock.now
                let now = await chain.now()
                let slotNow = chain.genesis.slot(atMillis: now)
                logger.info("status", metadata: [
                    "height": "\(s.height)", "finalized": "\(s.finalizedHeight)",
                    "slotsBehind": "\(slotNow > s.slot ? slotNow - s.slot : 0)",
                    "mempoolTxs": "\(s.mempoolTransactions)",
                ])
            }
        }
    }
}

/// When the finalized height is worth a log line: each time it advances (not at start: the first answer is the
/// baseline).
struct FinalizedProgress: Equatable {
    private var last: UInt64?

    mutating func update(finalized: UInt64) -> String? {
        defer { last = max(last ?? 0, finalized) }
        guard let last, finalized > last else { return nil }
        return "finalized checkpoint at height \(finalized) (was \(last))"
    }
}

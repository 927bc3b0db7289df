import Foundation
import Logging
import ServiceLifecycle

/// Prints the devnet summary every few blocks (and once more at shutdown) from a node's RPC.
public struct SummaryService: Service {
    let summary: DevnetSummary
    let everyBlocks: UInt64
    let logger: Logger

    public init(summary: DevnetSummary, everyBlocks: UInt64, logger: Logger) {
        self.summary = summary
        self.everyBlocks = max(1, everyBlocks)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var last: UInt64?
            while !Task.isCancelled {
                if let tip = try? await summary.client.tip(), last.map({ tip.height >= $0.saturatingPlus(everyBlocks) }) ?? true {
                    last = tip.height
                    if let text = try? await summary.render() { printLine(text) }
                }
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
            }
        }
        if let text = try? await summary.render() { printLine("final " + text) }
    }
}

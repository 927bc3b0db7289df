import Consensus
import Foundation
import Ledger
import Primitives
import ServiceLifecycle

/// Writes a line to standard output at once (unbuffered, so it interleaves correctly with the logs).
public func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Prints one line per canonical block (the devnet's console view).
public struct BlockPrinter: Service {
    let chain: ChainService
    let hrp: String

    public init(chain: ChainService, hrp: String) { self.chain = chain; self.hrp = hrp }

    public func run() async throws {
        let events = await chain.blockEvents(buffer: 4096)
        await cancelWhenGracefulShutdown {
            // Blocks alone, subscribing again if it falls behind (returning would end the node).
            await chain.forEachBlockEvent(startingWith: events, buffer: 4096) { event in
                switch event {
                case .newBlock(let b, let receipts):
                    let failed = receipts.dropLast().filter { if case .failed = $0.status { return true }; return false }.count
                    let proposer = Address.encode(b.header.proposer, hrp: hrp)
                    printLine("block \(b.header.height)  slot \(b.header.slot)  \(b.hash.hex.prefix(16))  txs \(b.transactions.count)"
                          + (failed > 0 ? " (\(failed) failed)" : "") + "  proposer \(proposer.prefix(14))…")
                case .reorg(let change):
                    printLine("reorg: \(change.reverted.count) block(s) replaced at common ancestor \(change.commonAncestor.hex.prefix(16))")
                case .pendingTransaction:
                    break
                }
            }
        }
    }
}

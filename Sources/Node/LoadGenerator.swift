import Consensus
import Foundation
import Ledger
import Logging
import Primitives
import ServiceLifecycle

/// Devnet load: submits signed transfers between the development accounts at a steady rate.
public struct LoadGeneratorService: Service {
    let chain: ChainService
    let perSecond: Double
    let logger: Logger
    let senders: [PrivateKey]

    /// Rates the generator can pace (its interval in nanoseconds fits 64 bits): 0 (off) or 0.001…10⁶ per second.
    /// NaN and infinities are not. The node, devnet and demo options and the config field all check this.
    public static func isPaceable(_ perSecond: Double) -> Bool { perSecond == 0 || (perSecond >= 0.001 && perSecond <= 1e6) }
    /// The refusal every caller prints for a rate that is not paceable.
    public static let rateRule = "a rate in transfers per second from 0.001 to 1000000 (0: off)"

    public init(chain: ChainService, perSecond: Double, logger: Logger, accounts: Int = 8) {
        self.chain = chain
        self.perSecond = perSecond
        self.logger = logger
        senders = (0..<accounts).map(DevelopmentKeys.account)
    }

    public func run() async throws {
        // NodeConfig and the demo refuse other rates; a rate outside them here would trap in the conversions below.
        guard Self.isPaceable(perSecond), perSecond > 0 else { return }
        let chainId = chain.genesis.chainId
        let interval = Duration.nanoseconds(Int64(1e9 / perSecond))
        logger.info("load generator: \(perSecond) transfers/s from \(senders.count) development accounts")
        await cancelWhenGracefulShutdown {
            var i = 0
            var accepted = 0, rejected = 0
            while !Task.isCancelled {
                let from = senders[i % senders.count], to = senders[(i + 1 + i / senders.count) % senders.count]
                i += 1
                do {
                    let nonce = try await chain.nextNonce(for: from.publicKey)
                    var tx = Transaction(chainId: chainId, sender: from.publicKey, nonce: nonce, fee: 0,
                                         body: .transfer(to: to.publicKey, amount: 1))
                    tx.fee = Amount(UInt64(tx.signed(by: from).encodedSize) * chain.ledger.params.minFeePerByte)
                    try await chain.submit(tx.signed(by: from))
                    accepted += 1
                } catch {
                    rejected += 1
                    if rejected % 100 == 1 { logger.debug("load transaction rejected: \(error)") }
                }
                if i % Int(max(perSecond * 60, 1)) == 0 { logger.info("load: \(accepted) submitted, \(rejected) rejected") }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}

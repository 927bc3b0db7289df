import Logging
import ServiceLifecycle
import UnixSignals

/// Says in the node's log which signal stopped it. ServiceLifecycle starts the graceful shutdown on SIGINT or
/// SIGTERM but logs the signal only at debug level, so an operator reading an ordinary log saw the services stop
/// without a reason. Runs first, so it stops last: the line comes before the other services' shutdown lines.
public struct ShutdownSignalLogger: Service {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func run() async throws {
        // A second handler of the same signals: ServiceLifecycle's own handler still receives each one.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await signal in signals.cancelOnGracefulShutdown() {
            logger.notice("received \(signal): shutting down (the current block finishes, the database closes last)")
        }
    }
}

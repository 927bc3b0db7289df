import Primitives
import Foundation
import Logging
import Node
import RPC

/// Builds the node's JSON-RPC service from its configuration. `sharechain node` and `sharechain devnet`
/// append it last to their service list, so it is the first service to stop on shutdown (clients are cut off
/// before the chain and the database go away).
enum RPCWiring {
    /// swift-metrics is bootstrapped once per process, with the registry `GET /metrics` exposes.
    static let metricsBootstrapped: Void = RPCMetrics.bootstrapMetricsSystem()

    static func service(_ runtime: NodeRuntime, logger: Logger, network: any NetworkInfoProvider = NoNetworkInfo()) throws -> RPCServer {
        _ = metricsBootstrapped
        var config = RPCConfiguration()
        do {
            let (host, port) = try RPCConfiguration.parseAddress(runtime.config.rpcAddr)
            config.host = host
            config.port = port
        } catch {
            throw NodeStartupError("--rpc-addr: \(error)")
        }
        config.corsOrigins = runtime.config.rpcCorsOrigins
        config.allowedHosts = runtime.config.rpcAllowedHosts
        config.maxConnectionsPerHost = runtime.config.rpcMaxConnectionsPerHost
        if config.host != "127.0.0.1" && config.host != "::1" && config.host != "localhost" {
            logger.warning("JSON-RPC listens on \(config.host): anyone who can reach it can query the node and submit transactions")
        }
        var rpcLogger = logger
        rpcLogger[metadataKey: "service"] = "rpc"
        return RPCServer(chain: runtime.chain, configuration: config, network: network, logger: rpcLogger)
    }
}

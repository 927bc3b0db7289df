import Primitives
import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// Metric names (Specs/rpc.md, "Metrics"). Metrics measured in other modules (block import in Consensus,
/// verifier replays in Node) go through the swift-metrics API with these labels; the node bootstraps
/// swift-metrics with a Prometheus factory on the registry `GET /metrics` exposes.
public enum MetricNames {
    /// Gauge: canonical tip height.
    public static let height = "sharechain_chain_height"
    /// Gauge: finalized height.
    public static let finalizedHeight = "sharechain_chain_finalized_height"
    /// Gauge: justified checkpoint height (finality gadget).
    public static let justifiedHeight = "sharechain_chain_justified_height"
    /// Gauge: safe height (the depth label).
    public static let safeHeight = "sharechain_chain_safe_height"
    /// Gauge: connected peers.
    public static let peers = "sharechain_p2p_peers"
    /// Gauge: 1 while the node is catching up with its peers (`/health` says `syncing`), else 0.
    public static let syncing = "sharechain_p2p_syncing"
    /// Gauge: the highest tip height a connected peer announced (0 without one): with the height, sync progress.
    public static let bestPeerHeight = "sharechain_p2p_best_peer_height"
    /// Gauge: bytes queued for peers and not yet written, all peers together (capped by `maxTotalQueuedBytes`).
    public static let outboundQueuedBytes = "sharechain_p2p_outbound_queued_bytes"
    /// Gauge: pending transactions.
    public static let mempoolTransactions = "sharechain_mempool_transactions"
    /// Gauge: bytes of pending transactions.
    public static let mempoolBytes = "sharechain_mempool_bytes"
    /// Counter `{outcome}`: imported, side, known, invalid, unknown_parent, future, below_finality, fault.
    public static let blocksImported = "sharechain_blocks_imported_total"
    /// Histogram (seconds) of block import time (validation, execution and commit).
    public static let blockImportSeconds = "sharechain_block_import_seconds"
    /// Histogram (seconds) `{stage}`: signatures, execution, commit of the blocks an import applied.
    public static let blockImportStageSeconds = "sharechain_block_import_stage_seconds"
    /// Histogram (seconds) of the RocksDB write of an import's commits (log append, sync, memtable inserts).
    public static let storeWriteSeconds = "sharechain_store_write_seconds"
    /// Counter: entries in the commits' write batches (state, history, tree nodes, undo, block parts, indexes).
    public static let storeBatchEntries = "sharechain_store_batch_entries_total"
    /// Counter: bytes of those write batches.
    public static let storeBatchBytes = "sharechain_store_batch_bytes_total"
    /// Counter: ledger state keys the commits wrote or deleted.
    public static let stateKeysWritten = "sharechain_state_keys_written_total"
    /// Counter: state-tree nodes the commits wrote.
    public static let stateTreeNodesWritten = "sharechain_state_tree_nodes_written_total"
    /// Counter `{method, outcome}`; outcome is `ok` or the error name.
    public static let rpcRequests = "sharechain_rpc_requests_total"
    /// Gauge: open WebSocket connections.
    public static let rpcWebSocketConnections = "sharechain_rpc_websocket_connections"
    /// Gauge: active subscriptions.
    public static let rpcSubscriptions = "sharechain_rpc_subscriptions"
    /// Counter: WebSocket connections closed because their consumer fell behind.
    public static let rpcSlowConsumersDropped = "sharechain_rpc_slow_consumers_dropped_total"
    /// Counter: connections refused because their host held the per-host limit (`--rpc-max-connections-per-host`).
    public static let rpcConnectionsRefused = "sharechain_rpc_connections_refused_total"
    /// Gauge: bytes handed to RPC connections that their sockets have not taken yet, all connections together.
    public static let rpcUnsentBytes = "sharechain_rpc_unsent_bytes"
    /// Counter: RPC connections closed because their unsent bytes would pass the server-wide budget.
    public static let rpcUnsentBudgetClosed = "sharechain_rpc_unsent_budget_closed_total"
    /// Counter `{verdict}`: output, invalid_input, invalid_output, error.
    public static let verifierReplays = "sharechain_verifier_replays_total"
    /// Histogram (seconds) of one replay.
    public static let verifierReplaySeconds = "sharechain_verifier_replay_seconds"
}

/// The RPC server's metrics on a Prometheus registry.
public final class RPCMetrics: Sendable {
    /// The registry `GET /metrics` exposes.
    public let registry: PrometheusCollectorRegistry
    private let requestCounters = Mutex<[String: Prometheus.Counter]>([:])
    let height, finalized, justified, safe, peers, syncing, bestPeerHeight, outboundQueuedBytes, mempoolTransactions, mempoolBytes, webSocketConnections,
        subscriptions, unsentBytes: Prometheus.Gauge
    let slowConsumersDropped: Prometheus.Counter
    /// Connections refused over the per-host limit.
    public let connectionsRefused: Prometheus.Counter
    /// Connections closed over the unsent-bytes budget.
    public let unsentBudgetClosed: Prometheus.Counter

    /// Metrics on `registry` (by default the process-wide registry swift-metrics is bootstrapped with).
    public init(registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry) {
        self.registry = registry
        height = registry.makeGauge(descriptor: Self.descriptor(MetricNames.height, "Height of the canonical tip"))
        finalized = registry.makeGauge(descriptor: Self.descriptor(MetricNames.finalizedHeight, "Finalized checkpoint height (finality gadget)"))
        justified = registry.makeGauge(descriptor: Self.descriptor(MetricNames.justifiedHeight, "Justified checkpoint height (finality gadget)"))
        safe = registry.makeGauge(descriptor: Self.descriptor(MetricNames.safeHeight, "Safe height: finalityDepth below the tip (a label, not finality)"))
        peers = registry.makeGauge(descriptor: Self.descriptor(MetricNames.peers, "Connected peers"))
        syncing = registry.makeGauge(descriptor: Self.descriptor(MetricNames.syncing, "1 while catching up with peers, else 0"))
        bestPeerHeight = registry.makeGauge(descriptor: Self.descriptor(MetricNames.bestPeerHeight,
                                                                        "Highest tip height a connected peer announced (0 without one)"))
        outboundQueuedBytes = registry.makeGauge(descriptor: Self.descriptor(MetricNames.outboundQueuedBytes,
                                                                             "Bytes queued for peers and not yet written, all peers together"))
        mempoolTransactions = registry.makeGauge(descriptor: Self.descriptor(MetricNames.mempoolTransactions, "Transactions in the mempool"))
        mempoolBytes = registry.makeGauge(descriptor: Self.descriptor(MetricNames.mempoolBytes, "Bytes of transactions in the mempool"))
        webSocketConnections = registry.makeGauge(descriptor: Self.descriptor(MetricNames.rpcWebSocketConnections, "Open RPC WebSocket connections"))
        subscriptions = registry.makeGauge(descriptor: Self.descriptor(MetricNames.rpcSubscriptions, "Active RPC subscriptions"))
        slowConsumersDropped = registry.makeCounter(descriptor: Self.descriptor(MetricNames.rpcSlowConsumersDropped, "WebSocket connections closed because they fell behind"))
        connectionsRefused = registry.makeCounter(descriptor: Self.descriptor(MetricNames.rpcConnectionsRefused,
                                                                            "RPC connections refused over the per-host limit"))
        unsentBytes = registry.makeGauge(descriptor: Self.descriptor(MetricNames.rpcUnsentBytes,
                                                                     "Bytes handed to RPC connections and not yet taken by their sockets"))
        unsentBudgetClosed = registry.makeCounter(descriptor: Self.descriptor(MetricNames.rpcUnsentBudgetClosed,
                                                                            "RPC connections closed over the server-wide unsent-bytes budget"))
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Bootstraps swift-metrics (once per process) with a Prometheus factory on `registry`, so block import and
    /// verifier metrics land where `GET /metrics` reads.
    public static func bootstrapMetricsSystem(registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        let fine: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                .milliseconds(2500), .seconds(5), .seconds(10)]
        factory.durationHistogramBuckets[MetricNames.blockImportSeconds] = fine
        factory.durationHistogramBuckets[MetricNames.verifierReplaySeconds] = fine
        MetricsSystem.bootstrap(factory)
    }

    /// Stable outcome label of an error code (0: success).
    static func outcome(_ code: Int) -> String {
        switch code {
        case 0: return "ok"
        case RPCError.parseErrorCode: return "parse_error"
        case RPCError.invalidRequestCode: return "invalid_request"
        case RPCError.methodNotFoundCode: return "method_not_found"
        case RPCError.invalidParamsCode: return "invalid_params"
        case RPCError.internalErrorCode: return "internal_error"
        case RPCError.notFoundCode: return "not_found"
        case RPCError.transactionRejectedCode: return "rejected"
        case RPCError.limitExceededCode: return "limit_exceeded"
        case RPCError.unknownBlockTagCode: return "unknown_block_tag"
        case RPCError.prunedCode: return "pruned"
        case RPCError.unsupportedTransportCode: return "unsupported_transport"
        default: return "error"
        }
    }

    /// The success counter of a method, made once (the hot path then skips the lock and the key building).
    func okCounter(method: String) -> Prometheus.Counter {
        registry.makeCounter(descriptor: Self.descriptor(MetricNames.rpcRequests, "JSON-RPC calls by method and outcome"),
                             labels: [("method", method), ("outcome", "ok")])
    }

    /// Counts one call. `method` is a served method name, `unknown` or `-` (no method could be read), so the
    /// label set stays bounded whatever clients send.
    func request(method: String, outcome code: Int) {
        let key = method + "\u{0}" + String(code)
        let counter = requestCounters.withLock { counters -> Prometheus.Counter in
            if let c = counters[key] { return c }
            let c = registry.makeCounter(descriptor: Self.descriptor(MetricNames.rpcRequests, "JSON-RPC calls by method and outcome"),
                                         labels: [("method", method), ("outcome", RPCMetrics.outcome(code))])
            counters[key] = c
            return c
        }
        counter.increment()
    }

    /// The Prometheus text exposition.
    func exposition() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(8192)
        registry.emit(into: &out)
        return out
    }
}

import HummingbirdWSClient
import Logging
import Primitives
import RPC

/// The subscription went wrong before it was confirmed.
struct SubscriptionFailed: Error, CustomStringConvertible {
    let reason: String
    var description: String { "subscription failed: \(reason)" }
}

extension RPCChainClient {
    /// The node's WebSocket endpoint, next to its HTTP one.
    var webSocketURL: String {
        let host = rpc.host.contains(":") ? "[\(rpc.host)]" : rpc.host
        return "ws://\(host):\(rpc.port)/ws"
    }

    /// Subscribes to `newTickets` with status `revealed` over the node's WebSocket (`sub_subscribe`), and
    /// returns once the node has answered with a subscription id.
    public func subscribeRevealedTickets() async throws -> AsyncThrowingStream<Hash32, any Error> {
        let (ids, idSink) = AsyncThrowingStream<Hash32, any Error>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let (ready, readySink) = AsyncThrowingStream<Void, any Error>.makeStream()
        let url = webSocketURL
        let connection = Task {
            do {
                try await WebSocketClient.connect(url: url, logger: Logger(label: "sharechain.ws-client")) { inbound, outbound, _ in
                    try await outbound.write(.text(
                        #"{"jsonrpc":"2.0","method":"sub_subscribe","params":{"kind":"newTickets","filter":{"status":"revealed"}},"id":1}"#))
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message, let json = try? JSONParser().parse(text) else { continue }
                        if json["method"]?.string == "sub_notification" {
                            if let id = json["params"]?["result"]?["ticketId"]?.string, let hash = try? Hash32(hex: id) {
                                idSink.yield(hash)
                            }
                        } else if let error = json["error"] {
                            throw SubscriptionFailed(reason: JSONWriter.string(error))
                        } else if json["result"]?.string != nil {
                            readySink.yield()
                            readySink.finish()
                        }
                    }
                }
                readySink.finish(throwing: SubscriptionFailed(reason: "the node closed the connection"))
                idSink.finish()
            } catch {
                readySink.finish(throwing: error)
                idSink.finish(throwing: error)
            }
        }
        idSink.onTermination = { _ in connection.cancel() }
        let confirmed = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for try await _ in ready { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        guard confirmed else {
            connection.cancel()
            throw SubscriptionFailed(reason: "no answer from \(url)")
        }
        return ids
    }
}

import Consensus
import Ledger
import Primitives

/// A JSON-RPC error object: `{code, message, data?}` (Specs/rpc.md, "Errors"). Handlers throw it; anything
/// else a handler throws becomes `-32603 internal error` without details (they may hold local paths).
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code (section 4 of Specs/rpc.md).
    public let code: Int
    /// For people; may change.
    public let message: String
    /// Structured details for programs.
    public let data: JSON?

    /// An error object.
    public init(code: Int, message: String, data: JSON? = nil) {
        self.code = code; self.message = message; self.data = data
    }

    /// `code message`.
    public var description: String { "\(code) \(message)" }

    /// The wire form.
    public var json: JSON {
        var o: JSONObject = ["code": .int(code), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    // MARK: Standard codes (JSON-RPC 2.0)

    /// Not JSON, or not strict JSON.
    public static let parseErrorCode = -32700
    /// Not a valid request object.
    public static let invalidRequestCode = -32600
    /// No such method.
    public static let methodNotFoundCode = -32601
    /// Missing, unknown or malformed parameters.
    public static let invalidParamsCode = -32602
    /// A fault on the node's side (details are logged, not sent).
    public static let internalErrorCode = -32603

    // MARK: Application codes

    /// A block, transaction, account record, escrow, ticket... does not exist.
    public static let notFoundCode = -32000
    /// `tx_sendRaw`: the node refused the transaction; `data.reason` says exactly why.
    public static let transactionRejectedCode = -32001
    /// A request exceeds a limit (batch size, body size, page size, range, subscriptions).
    public static let limitExceededCode = -32002
    /// A block selector string that is not `latest`, `finalized` or `earliest`.
    public static let unknownBlockTagCode = -32003
    /// The data existed but this node no longer keeps it (historical state, side-chain receipts, inputs of
    /// tickets past their challenge period).
    public static let prunedCode = -32004
    /// The method needs another transport (subscriptions need a WebSocket).
    public static let unsupportedTransportCode = -32005

    static func parseError(_ detail: String) -> RPCError {
        RPCError(code: parseErrorCode, message: "parse error: \(detail)")
    }

    static func invalidRequest(_ detail: String) -> RPCError {
        RPCError(code: invalidRequestCode, message: "invalid request: \(detail)")
    }

    static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: methodNotFoundCode, message: "method not found", data: .object(["method": .string(method)]))
    }

    static func invalidParams(_ detail: String, param: String? = nil) -> RPCError {
        RPCError(code: invalidParamsCode, message: "invalid params: \(detail)",
                 data: param.map { .object(["param": .string($0)]) })
    }

    static let internalError = RPCError(code: internalErrorCode, message: "internal error")

    static func notFound(_ what: String, _ key: JSON) -> RPCError {
        RPCError(code: notFoundCode, message: "\(what) not found", data: .object(["what": .string(what), "key": key]))
    }

    static func limitExceeded(_ limit: String, maximum: Int, requested: Int? = nil) -> RPCError {
        var d: JSONObject = ["limit": .string(limit), "maximum": .int(maximum)]
        if let requested { d["requested"] = .int(requested) }
        let detail = requested.map { "\($0) > \(maximum)" } ?? "maximum \(maximum)"
        return RPCError(code: limitExceededCode, message: "limit exceeded: \(limit) (\(detail))", data: .object(d))
    }

    static func unknownBlockTag(_ tag: String) -> RPCError {
        RPCError(code: unknownBlockTagCode, message: "unknown block tag '\(tag)'",
                 data: .object(["tag": .string(tag), "allowed": .array(["latest", "safe", "finalized", "earliest"].map { .string($0) })]))
    }

    static func pruned(_ what: String, _ detail: String) -> RPCError {
        RPCError(code: prunedCode, message: "\(what) not available: \(detail)", data: .object(["what": .string(what)]))
    }

    /// A canonical block below the earliest this node stores (it joined by state sync at `earliest`; Specs/rpc.md §6).
    static func blockNotStored(_ height: UInt64, earliest: UInt64) -> RPCError {
        RPCError(code: prunedCode, message: "block \(height) not available: this node stores blocks from height \(earliest) on (it joined by state sync)",
                 data: .object(["what": "block", "height": .int(height), "earliestBlockHeight": .int(earliest)]))
    }

    static func unsupportedTransport(_ method: String) -> RPCError {
        RPCError(code: unsupportedTransportCode, message: "\(method) needs a WebSocket connection (/ws)",
                 data: .object(["method": .string(method)]))
    }

    // MARK: Transaction rejections

    /// The precise, stable rejection of a transaction by the mempool (a `fault` is not a rejection: the caller
    /// reports it as an internal error).
    static func rejected(_ e: MempoolError) -> RPCError {
        var d: JSONObject
        switch e {
        case .fault: return .internalError
        case .invalid(let env): d = envelopeData(env)
        case .alreadyKnown: d = ["reason": "alreadyKnown"]
        case .nonceTooLow(let n): d = ["reason": "nonceTooLow", "accountNonce": .int(n)]
        case .nonceTooFarAhead(let n, let g): d = ["reason": "nonceTooFarAhead", "accountNonce": .int(n), "maximumGap": .int(g)]
        case .replacementUnderpriced(let m): d = ["reason": "replacementUnderpriced", "minimumFee": .decimal(m.units)]
        case .senderQueueFull: d = ["reason": "senderQueueFull"]
        case .poolFull: d = ["reason": "mempoolFull"]
        case .cannotAffordQueuedFees(let balance, let required, let queued):
            d = ["reason": "cannotAffordQueuedFees", "balance": .decimal(balance.units), "required": .decimal(required.units), "queued": .int(queued)]
        }
        return RPCError(code: transactionRejectedCode, message: "transaction rejected: \(e)", data: .object(d))
    }

    static func envelopeData(_ e: EnvelopeError) -> JSONObject {
        switch e {
        case .wrongChain: return ["reason": "wrongChain"]
        case .badSignature: return ["reason": "badSignature"]
        case .nonceMismatch(let expected, let got): return ["reason": "nonceMismatch", "expected": .int(expected), "got": .int(got)]
        case .feeTooLow(let m, let o): return ["reason": "feeTooLow", "minimumFee": .decimal(m.units), "offered": .decimal(o.units)]
        case .cannotAffordFee(let b, let f): return ["reason": "cannotAffordFee", "balance": .decimal(b.units), "fee": .decimal(f.units)]
        case .oversized(let s, let m): return ["reason": "oversized", "size": .int(s), "maximum": .int(m)]
        }
    }
}

extension JSON: ExpressibleByStringLiteral {
    /// A string value.
    public init(stringLiteral value: String) { self = .string(value) }
}

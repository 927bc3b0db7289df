import Consensus
import Dispatch
import Foundation
import Ledger
import Primitives
import RPC
import Storage

/// A small chain (one validator, one funded account, one pool) in a temporary directory, and the RPC
/// dispatcher over it. Built once per fuzzing process.
final class Harness: Sendable {
    struct Refuse: Adjudicator {
        struct No: Error {}
        func adjudicate(_ request: AdjudicationRequest) throws -> AdjudicationVerdict { throw No() }
    }

    let server: RPCServer
    let dir: String

    init() {
        dir = NSTemporaryDirectory() + "sharechain-fuzz-rpc-\(ProcessInfo.processInfo.processIdentifier)"
        // Fixed keys: the fuzzer explores the RPC surface, not key handling.
        let validator = try! PrivateKey(secretBytes: SHA256.hash(Array("fuzz/validator".utf8)).bytes)
        let account = try! PrivateKey(secretBytes: SHA256.hash(Array("fuzz/account".utf8)).bytes)
        let pool = PoolConfig(id: 0, modelId: "tiny", executorSpec: "canon-f32-v1",
                              model: ModelSpec(hiddenSize: 8, numHeads: 2, numKVHeads: 1, headDim: 4, intermediateSize: 16, numLayers: 2,
                                               rmsNormEpsBits: 0x3586_37bd, ropeThetaBits: 0x461c_4000, qkvBias: true),
                              shards: [PoolShard(layerStart: 0, layerEnd: 2, finalNorm: true, weightsSHA256: .zero, priceInputToken: 1, priceOutputToken: 2)],
                              minWorkerStake: 100, windowBlocks: 5, commitGraceBlocks: 1, challengeBlocks: 1,
                              revealDeadlineBlocks: 3, fraudRevealBlocks: 3)
        let genesis = Genesis(chainName: "fuzz", genesisTime: 1_700_000_000, consensus: ConsensusParams(), ledger: LedgerParams(),
                              allocation: GenesisAllocation(
                                  balances: [.init(key: account.publicKey, amount: 1_000_000)],
                                  validators: [.init(key: validator.publicKey, stake: 1000, randaoCommitment: SHA256.hash([7]))],
                                  workers: [.init(key: account.publicKey, pool: 0, stake: 500)], pools: [pool]))
        var options = DatabaseOptions.small
        options.syncWrites = false
        let store = try! ChainStore(path: dir, genesis: genesis.chainId, options: options)
        let chain = ChainService(engine: try! ChainEngine(genesis: genesis, store: store, adjudicator: Refuse()),
                                 clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        server = RPCServer(chain: chain)
    }
}

let harness = Harness()

/// Runs the async dispatcher to completion from libFuzzer's synchronous callback.
func handle(_ bytes: [UInt8]) -> [UInt8]? {
    final class Box: @unchecked Sendable { var value: [UInt8]? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    let dispatcher = harness.server.dispatcher
    Task {
        box.value = await dispatcher.handle(bytes, context: CallContext(transport: .http, session: nil))
        done.signal()
    }
    done.wait()
    return box.value
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The parser: accepted text re-encodes to a value that parses back equal.
    if let v = try? JSONParser().parse(bytes) {
        precondition((try? JSONParser().parse(JSONWriter.encode(v))) == v, "writer output does not parse back")
    }
    // The dispatcher: every answer is JSON with the JSON-RPC shape, and bounded.
    if let out = handle(bytes) {
        precondition(out.count < 64 << 20, "unbounded answer")
        guard let answer = try? JSONParser().parse(out) else { preconditionFailure("answer is not JSON") }
        for r in answer.array ?? [answer] {
            precondition(r["jsonrpc"] == .string("2.0") && r["id"] != nil, "not a JSON-RPC response")
            precondition((r["result"] != nil) != (r["error"] != nil), "result and error")
            precondition(r["error"]?["code"] != .int(-32603), "internal error on input")
        }
    }
    return 0
}

import Foundation
@testable import Consensus
@testable import Ledger
@testable import Primitives


func key(_ label: String) -> PrivateKey {
    try! PrivateKey(secretBytes: SHA256.hash(Array("consensus-test/\(label)".utf8)).bytes)
}

/// A small genesis document in JSON form, for parsing tests.
func sampleGenesisJSON(validators: [PrivateKey], balances: [(PrivateKey, UInt64)], extra: String = "", poolExtra: String = "") -> String {
    let v = validators.map { k in
        """
        {"address": "\(Address.encode(k.publicKey, hrp: "shr"))", "stake": "1000", "randaoCommitment": "\(RandaoHashChain(seed: SHA256.hash(k.secretBytes), length: 64).commitment.hex)"}
        """
    }.joined(separator: ",")
    let b = balances.map { "{\"address\": \"\(Address.encode($0.0.publicKey, hrp: "shr"))\", \"amount\": \"\($0.1)\"}" }.joined(separator: ",")
    return """
    {
      "chainName": "test-chain", "genesisTime": 1700000000, \(extra)
      "consensus": {"slotSeconds": 10, "finalityDepth": 30},
      "ledger": {"addressPrefix": "shr", "unbondingBlocks": 300},
      "balances": [\(b)],
      "validators": [\(v)],
      "pools": [{
        "modelId": "tiny", "executorSpec": "canon-f32-v1",
        "model": {"hiddenSize": 64, "numHeads": 4, "numKVHeads": 2, "headDim": 16, "intermediateSize": 128, "numLayers": 2,
                  "rmsNormEpsBits": "0x3727c5ac", "ropeThetaBits": "0x461c4000", "qkvBias": false},
        "shards": [{"layerStart": 0, "layerEnd": 2, "finalNorm": true, "weightsSHA256": "\(String(repeating: "ab", count: 32))"}],
        "priceInputToken": "1", "priceOutputToken": "2", "minWorkerStake": "100"\(poolExtra)
      }]
    }
    """
}

import Consensus
import Ledger
import Primitives

/// Blocks and headers as they arrive from peers: decoding must never crash, and anything accepted must
/// re-encode to exactly the input (one encoding per value).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let block = try? Block(canonicalEncoding: bytes, maxTransactions: 1_000) {
        precondition(block.canonicalEncoding == bytes, "non-canonical block accepted")
        _ = block.signedHeader.hasValidSignature
        _ = Block.txRoot(block.transactions)
    }
    if let header = try? SignedHeader(canonicalEncoding: bytes) {
        precondition(header.canonicalEncoding == bytes, "non-canonical header accepted")
    }
    if let body = try? Block.decodeBody(bytes, maxTransactions: 1_000) {
        precondition(Block(signedHeader: SignedHeader(header: BlockHeader(chainId: .zero, height: 0, slot: 0, parent: .zero, timestamp: 0,
                                                                            proposer: PublicKey(rawValue: .zero), randaoReveal: .zero,
                                                                            txRoot: .zero, receiptsRoot: .zero, stateRoot: .zero),
                                                      signature: .zero),
                               transactions: body).bodyEncoding == bytes, "non-canonical body accepted")
    }
    return 0
}

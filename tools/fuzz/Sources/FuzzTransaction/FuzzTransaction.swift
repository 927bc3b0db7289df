import Ledger
import Primitives

/// Signed transactions and receipts as they arrive from peers, RPC and storage.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let tx = try? SignedTransaction(canonicalEncoding: bytes) {
        precondition(tx.canonicalEncoding == bytes, "non-canonical transaction accepted")
        precondition(tx.encodedSize == bytes.count)
        _ = tx.hasValidSignature
    }
    if let receipt = try? Receipt(canonicalEncoding: bytes) {
        precondition(receipt.canonicalEncoding == bytes, "non-canonical receipt accepted")
    }
    return 0
}

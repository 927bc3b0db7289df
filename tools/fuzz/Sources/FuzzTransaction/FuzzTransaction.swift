import Ledger
import Primitives
import Sealing

/// Signed transactions (every `TxBody` kind; seeds for each) and receipts as they arrive from peers, RPC and storage.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let tx = try? SignedTransaction(canonicalEncoding: bytes) {
        precondition(tx.canonicalEncoding == bytes, "non-canonical transaction accepted")
        precondition(tx.encodedSize == bytes.count)
        _ = tx.hasValidSignature
        // The sealed envelope a reveal carries is decoded by every validator (Ledger/Shares.swift).
        if case .revealSealedTicket(_, _, _, _, let envelope) = tx.transaction.body,
           let e = try? SealedEnvelope(decoding: envelope, maxPlaintextCount: TxLimits.maxInputBytes) {
            precondition(e.encoded == envelope, "non-canonical carried envelope accepted")
        }
    }
    if let receipt = try? Receipt(canonicalEncoding: bytes) {
        precondition(receipt.canonicalEncoding == bytes, "non-canonical receipt accepted")
    }
    return 0
}

import Ledger
import Primitives

/// Ledger records as a checker or worker node reads them from a JSON-RPC node's `encoded` fields
/// (Node/RPCChainClient.swift): that node may be remote and untrusted, so every record type's decoder sees the
/// input; accepted input must be the one canonical encoding of what it decoded to.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    check(bytes, PoolConfig.self)
    check(bytes, Escrow.self)
    check(bytes, WindowRecord.self)
    check(bytes, Ticket.self)
    check(bytes, Commitment.self)
    check(bytes, SealedCheck.self)
    check(bytes, CheckerRecord.self)
    check(bytes, FraudCase.self)
    check(bytes, PayoutRecord.self)
    check(bytes, WorkRecord.self)
    check(bytes, HopChallenge.self)
    return 0
}

func check<T: CanonicalCodable>(_ bytes: [UInt8], _: T.Type) {
    if let v = try? T(canonicalEncoding: bytes) {
        precondition(v.canonicalEncoding == bytes, "non-canonical \(T.self) accepted")
    }
}

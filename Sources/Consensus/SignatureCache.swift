import Dispatch
import Ledger
import Primitives
import Synchronization

/// Transaction ids whose signatures are known valid, and voucher signature checks known valid. A transaction id is
/// the hash of the signed encoding, signature included, so a cached id means exactly this signature on exactly this
/// transaction verified; a voucher check is cached by the hash of its owner, digest and signature (`id(of:)`).
/// Filled by mempool admission and by ahead-of-time verification during sync; consulted by block import,
/// so a block's transactions are not verified twice. Bounded (oldest ids forgotten first).
public final class SignatureCache: Sendable {
    private struct Storage {
        var ids = Set<Hash32>()
        var ring: [Hash32] = []
        var next = 0
    }

    public let capacity: Int
    private let storage: Mutex<Storage>

    public init(capacity: Int = 262_144) {
        self.capacity = max(1, capacity)
        storage = Mutex(Storage())
    }

    public func contains(_ id: Hash32) -> Bool { storage.withLock { $0.ids.contains(id) } }

    public func insert<S: Sequence>(_ ids: S) where S.Element == Hash32 {
        storage.withLock { s in
            for id in ids where !s.ids.contains(id) {
                if s.ring.count < capacity {
                    s.ring.append(id)
                } else {
                    s.ids.remove(s.ring[s.next])
                    s.ring[s.next] = id
                    s.next = (s.next + 1) % capacity
                }
                s.ids.insert(id)
            }
        }
    }

    public var count: Int { storage.withLock { $0.ids.count } }

    /// The cache key of a voucher signature check: exactly this owner, message digest and signature. Domain-separated
    /// from transaction ids (a transaction's signed encoding never starts with this label).
    public static func id(of check: VoucherSignature) -> Hash32 {
        SHA256.hash(Array("sharechain/voucher-signature-check".utf8) + check.owner.bytes + check.digest.bytes + check.signature.r.bytes
                    + check.signature.s.bytes)
    }

    /// Verifies, on all cores, the signatures of `txs` and the voucher checks `vouchers` not already cached; caches
    /// the valid ones. Returns the index of the first invalid transaction signature (nil if none) and the voucher
    /// checks found valid, cached or not. An invalid voucher is no reason to refuse a block: its claim fails in
    /// execution, which verifies every check not in the returned set.
    public func verify(_ txs: [SignedTransaction], vouchers: [VoucherSignature]) -> (firstBad: Int?, validVouchers: Set<VoucherSignature>) {
        let voucherIds = vouchers.map(Self.id(of:))
        let pendingVouchers = vouchers.indices.filter { !contains(voucherIds[$0]) }
        let pendingTxs = txs.indices.filter { !contains(txs[$0].id) }
        let n = pendingTxs.count + pendingVouchers.count
        var firstBad: Int?
        if n > 0 {
            let chunks = min(n, 64)
            let per = (n + chunks - 1) / chunks
            let bad = Mutex(Int.max)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = c * per, hi = min(n, lo + per)
                guard lo < hi else { return }
                var good = [Hash32]()
                good.reserveCapacity(hi - lo)
                for p in lo..<hi {
                    if p < pendingTxs.count {
                        let i = pendingTxs[p]
                        if txs[i].hasValidSignature { good.append(txs[i].id) } else { bad.withLock { $0 = min($0, i) } }
                    } else {
                        let j = pendingVouchers[p - pendingTxs.count]
                        if vouchers[j].isValid { good.append(voucherIds[j]) }
                    }
                }
                insert(good)
            }
            let b = bad.withLock { $0 }
            firstBad = b == Int.max ? nil : b
        }
        // Read back from the cache: a check verified valid just now, or earlier.
        let valid = Set(vouchers.indices.filter { contains(voucherIds[$0]) }.map { vouchers[$0] })
        return (firstBad, valid)
    }

    /// Verifies the signatures of `txs` not already cached, on all cores; caches the valid ones. Returns
    /// the index of the first invalid signature, or nil.
    public func verify(_ txs: [SignedTransaction]) -> Int? { verify(txs, vouchers: []).firstBad }
}

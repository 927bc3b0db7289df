import CSecp256k1
import Synchronization

/// Parsed x-only public keys by their bytes. Parsing a key takes a field square root (≈ 5 µs, an eighth of a
/// signature verification), and a chain verifies the same senders, workers and escrow owners again and again.
/// Bounded: when full it starts over, so an attacker cycling fresh keys costs the cache its hits, never memory.
/// Only successfully parsed keys are kept; parsing is a pure function of the bytes, so a hit verifies exactly as
/// a fresh parse would.
final class ParsedKeyCache: Sendable {
    static let shared = ParsedKeyCache(capacity: 1 << 16)

    private let capacity: Int
    private let entries: Mutex<[Hash32: secp256k1_xonly_pubkey]>

    init(capacity: Int) {
        self.capacity = capacity
        entries = Mutex([:])
    }

    /// Keys held now (at most `capacity`).
    var count: Int { entries.withLock { $0.count } }

    /// The parsed key, or nil when the bytes are not a valid x-only key.
    func parsed(_ key: Hash32) -> secp256k1_xonly_pubkey? {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        var parsed = secp256k1_xonly_pubkey()
        let ok = key.withUnsafeBytes { raw in
            secp256k1_xonly_pubkey_parse(Secp256k1Context.verification, &parsed, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard ok == 1 else { return nil }
        entries.withLock { cache in
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = parsed
        }
        return parsed
    }
}

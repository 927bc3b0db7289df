import Ledger
import Primitives

// What the attack suites read from receipts (one definition for every AttackReview suite).

/// The payout a receipt credited, as (paid, refunded); nil without one.
func payout(_ r: Receipt) -> (paid: UInt64, refunded: UInt64)? {
    for e in r.events { if case .payoutCredited(_, _, _, let p, let f) = e { return (p.units, f.units) } }
    return nil
}

/// The check fees a receipt paid.
func feesPaid(_ r: Receipt) -> UInt64 {
    r.events.reduce(UInt64(0)) { if case .checkFeePaid(_, _, _, _, _, let a) = $1 { return $0 + a.units }; return $0 }
}

/// Everything slashed from `key` in these receipts.
func slashed(_ receipts: [Receipt], _ key: PublicKey) -> UInt64 {
    receipts.flatMap(\.events).reduce(0) { if case .slashed(let k, _, let a, _, _) = $1, k == key { return $0 + a.units }; return $0 }
}

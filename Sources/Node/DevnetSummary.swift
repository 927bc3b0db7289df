import Consensus
import Foundation
import Ledger
import Primitives

/// The devnet's live summary: what the economy did so far, from any `ChainClient`.
public struct DevnetSummary: Sendable {
    public let client: any ChainClient
    public let pool: UInt32
    public let hrp: String
    /// Names for known keys (workers, client, verifier) in the printout.
    public let names: [PublicKey: String]
    /// Workers' stakes at genesis, when known: the printout then says what each worker's stake lost since.
    public let initialStakes: [PublicKey: Amount]
    /// Workers' balances at genesis, when known (with their stakes): the printout then gives each worker's net
    /// gain or loss since genesis, counting its balance, stake and the escrows it owns (a self-dealer's).
    public let initialBalances: [PublicKey: Amount]

    public init(client: any ChainClient, pool: UInt32 = 0, hrp: String = "shr", names: [PublicKey: String],
                initialStakes: [PublicKey: Amount] = [:], initialBalances: [PublicKey: Amount] = [:]) {
        self.client = client
        self.pool = pool
        self.hrp = hrp
        self.names = names
        self.initialStakes = initialStakes
        self.initialBalances = initialBalances
    }

    /// A summary whose worker lines compare with `allocation`: the genesis stakes and balances of `pool`'s workers.
    public init(client: any ChainClient, pool: UInt32 = 0, hrp: String = "shr", names: [PublicKey: String],
                genesis allocation: GenesisAllocation) {
        var stakes = [PublicKey: Amount](), balances = [PublicKey: Amount]()
        for w in allocation.workers where w.pool == pool { stakes[w.key] = w.stake }
        for b in allocation.balances where stakes[b.key] != nil { balances[b.key] = b.amount }
        self.init(client: client, pool: pool, hrp: hrp, names: names, initialStakes: stakes, initialBalances: balances)
    }

    /// What `key` holds now against genesis: balance, stake (`stake`, or read) and the escrows it owns, less its
    /// genesis balance and stake; nil without genesis figures for it. Pay comes in; slashes and fees go out (compute
    /// is off chain).
    public func net(of key: PublicKey, stake: Amount? = nil) async throws -> Int128? {
        guard let initialStake = initialStakes[key], let initialBalance = initialBalances[key] else { return nil }
        let bonded: Amount
        if let stake { bonded = stake } else { bonded = try await client.staker(.worker(pool: pool), key)?.stake ?? .zero }
        let escrowed = try await client.escrows(owner: key).reduce(UInt64(0)) { $0 &+ $1.1.balance.units }
        let now = Int128(try await client.account(key).balance.units) + Int128(bonded.units) + Int128(escrowed)
        return now - Int128(initialBalance.units) - Int128(initialStake.units)
    }

    func name(_ k: PublicKey) -> String { names[k] ?? String(Address.encode(k, hrp: hrp).prefix(12)) + "…" }

    /// A multi-line report.
    public func render() async throws -> String {
        let tip = try await client.tip()
        var lines = ["── devnet at height \(tip.height) (slot \(tip.slot)) " + String(repeating: "─", count: 40)]
        // Clients' escrows.
        var spent: UInt64 = 0, held: UInt64 = 0
        for (key, label) in names.sorted(by: { $0.value < $1.value }) where label.hasPrefix("client") {
            for (_, e) in try await client.escrows(owner: key) { spent += e.totalCharged.units; held += e.balance.units }
        }
        lines.append("escrow: \(spent) spent, \(held) still held")
        // Windows: what clients paid each worker, and what settled windows paid out or refunded.
        let windows = try await client.windows(pool)
        if let (current, record) = windows.last(where: { $0.1.status != .settled }) {
            let work = try await client.work(pool, window: current)
                .map { "\(name($0.0)) \($0.1.earned)" }.joined(separator: ", ")
            lines.append("window \(current) (\(record.status)): earned \(record.earned) (fees burned \(record.feesBurned)), by worker: \(work.isEmpty ? "none yet" : work)")
        }
        let settled = windows.filter { $0.1.status == .settled }
        if let (w, rec) = settled.last {
            let payouts = try await client.payouts(pool, w)
                .map { "\(name($0.worker)) \($0.record.paid)" + ($0.record.refunded > .zero ? " (refunded \($0.record.refunded))" : "") }
                .joined(separator: ", ")
            let paid = settled.reduce(UInt64(0)) { $0 + $1.1.paid.units }, refunded = settled.reduce(UInt64(0)) { $0 + $1.1.refunded.units }
            lines.append("settled windows: \(settled.count) (paid \(paid), refunded \(refunded)); last (\(w)): earned \(rec.earned) → \(payouts.isEmpty ? "no payout claimed yet" : payouts)")
        } else {
            lines.append("settled windows: none yet")
        }
        // Each worker: what it was paid over the settled windows still on record, its stake and status (what an
        // adversary lost shows as slashed stake and refunded pay).
        var paid = [PublicKey: (UInt64, UInt64)]()
        for (w, _) in settled {
            for p in try await client.payouts(pool, w) {
                let (a, b) = paid[p.worker] ?? (0, 0)
                paid[p.worker] = (a + p.record.paid.units, b + p.record.refunded.units)
            }
        }
        var workerLines = [String]()
        for (key, label) in names.sorted(by: { $0.value < $1.value }) {
            guard let staker = try await client.staker(.worker(pool: pool), key) else { continue }
            let status: String
            switch staker.status {
            case .active: status = "active"
            case .jailed: status = "jailed"
            case .tombstoned: status = "tombstoned"
            }
            let (p, r) = paid[key] ?? (0, 0)
            var stake = "stake \(staker.stake)"
            if let initial = initialStakes[key] {
                // Slashes (and unbonding) since genesis; more stake bonded since then shows as a gain.
                stake += initial > staker.stake ? " of \(initial), lost \(initial.units - staker.stake.units)"
                    : initial < staker.stake ? " of \(initial), bonded \(staker.stake.units - initial.units) more" : ""
            }
            if let net = try await net(of: key, stake: staker.stake) { stake += ", net \(net > 0 ? "+" : "")\(net)" }
            workerLines.append("\(label) paid \(p)" + (r > 0 ? " refunded \(r)" : "") + ", \(stake) (\(status))")
        }
        if !workerLines.isEmpty { lines.append("workers: " + workerLines.joined(separator: "; ")) }
        // Tickets.
        var counts = [String]()
        for s in TicketStatus.allCases {
            let n = try await client.ticketCount(status: s)
            if n > 0 { counts.append("\(s) \(n)") }
        }
        lines.append("tickets: \(counts.isEmpty ? "none open" : counts.joined(separator: ", "))")
        // Checkers (pools with checkers): stake, balance (fees and bounties arrive there) and bench; and where the
        // sealed tickets still on record stand.
        if try await client.pool(pool)?.checking != nil {
            var checkerLines = [String]()
            for (key, label) in names.sorted(by: { $0.value < $1.value }) {
                guard let staker = try await client.staker(.checker(pool: pool), key) else { continue }
                let record = try await client.checker(pool: pool, key)
                let benched = record.map { $0.benchedUntil > tip.height } ?? false
                checkerLines.append("\(label) stake \(staker.stake), balance \(try await client.account(key).balance)"
                                    + (record == nil ? " (unregistered)" : benched ? " (benched)" : ""))
            }
            if !checkerLines.isEmpty { lines.append("checkers: " + checkerLines.joined(separator: "; ")) }
            var outcomes = [String: Int]()
            for status in [TicketStatus.revealed, .fraudProven, .upheld] {
                var cursor: String?
                var listing = PagedListing("ticket_list")
                repeat {
                    let page = try await client.tickets(status: status, cursor: cursor, limit: 100)
                    for id in page.ids {
                        if let c = try await client.sealedCheck(id) { outcomes["\(c.status)", default: 0] += 1 }
                    }
                    cursor = page.next
                } while try listing.follow(cursor)
            }
            if !outcomes.isEmpty {
                lines.append("sealed checks: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        // Fraud cases and slashes.
        let cases = try await client.fraudCases()
        let proven = cases.filter { $0.status == .fraud || $0.status == .paid }
        if cases.isEmpty {
            lines.append("fraud proofs: none yet")
        } else {
            let slashed = proven.reduce(UInt64(0)) { $0 + $1.slashed.units }
            let bounty = proven.reduce(UInt64(0)) { $0 + $1.bounty.units }
            let who = Set(proven.map(\.worker)).map(name).sorted().joined(separator: ", ")
            let upheld = cases.filter { $0.status == .upheld }.count
            lines.append("fraud proofs: \(proven.count) proven (\(who): slashed \(slashed), bounty \(bounty)), \(upheld) failed")
        }
        return lines.joined(separator: "\n")
    }
}

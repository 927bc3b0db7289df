import Consensus
import Foundation
import Ledger
import Node
import Primitives
import RPC
import Storage
import Testing
import TestSupport

/// The demo as a user runs it (`sharechain demo --fast`): a validator, two honest workers, a cheating worker,
/// their clients and a verifier, all separate processes on loopback talking JSON-RPC. Asserts the economy
/// from the outside, then stops everything with SIGTERM and checks the node's database offline.
@Suite(.serialized, .tags(.system, .multiProcess)) struct DemoEndToEndTests {
    @Test(.timeLimit(.minutes(4))) func demoEconomyEndToEnd() async throws {
        let exe = try Paths.sharechain()
        let dir = TempDir("demo")
        func file(_ name: String) -> String { (dir.path as NSString).appendingPathComponent(name) }
        let (process, base, out) = try startDemo(exe: exe, dir: dir, extra: [])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let client = try RPCChainClient(url: "http://127.0.0.1:\(base + 100)")
        let cheater = DevelopmentKeys.worker(2).publicKey
        let verifier = DevelopmentKeys.verifier.publicKey
        // `sharechain verifier replay` by hand, as a separate process against the demo's node: a cheater's pass is
        // not the canonical output (exit 1), an honest pass is (exit 0). Tickets are pruned once their window pays
        // out (and a jailed cheater earns no new ones), so this runs early; each try takes a ticket that is live now
        // and tries a newer one if it was pruned meanwhile (exit 2).
        let rpcURL = "http://127.0.0.1:\(base + 100)"
        func replayLive(_ worker: PublicKey) async throws -> (status: Int32, output: String, ticket: Hash32)? {
            var result: (status: Int32, output: String, ticket: Hash32)?
            _ = await eventually(.seconds(90), every: .milliseconds(500)) {
                for status in [TicketStatus.revealed, .fraudProven, .upheld] {
                    guard let ids = try? await client.tickets(status: status, cursor: nil, limit: 100).ids else { continue }
                    for id in ids.reversed() {
                        guard let t = try? await client.ticket(id), t.worker == worker, t.leaf != nil,
                              let r = try? replayTicket(exe: exe, ticket: id, rpc: rpcURL) else { continue }
                        result = (r.status, r.output, id)
                        return r.status != 2
                    }
                }
                return false
            }
            return result
        }
        let mismatch = try #require(try await replayLive(cheater), "no cheater ticket could be replayed")
        #expect(mismatch.status == 1, "\(mismatch.output)")
        #expect(mismatch.output.contains("verdict     mismatch") && mismatch.output.contains("committed   0x"), "\(mismatch.output)")
        let match = try #require(try await replayLive(DevelopmentKeys.worker(0).publicKey), "no honest ticket could be replayed")
        #expect(match.status == 0, "\(match.output)")
        #expect(match.output.contains("verdict     match"), "\(match.output)")

        // Until the cheater is caught and two windows have paid workers.
        let ready = await eventually(.seconds(150), every: .seconds(1)) {
            guard let cases = try? await client.fraudCases(), let windows = try? await client.windows(0) else { return false }
            let paid = windows.filter { $0.1.status == .settled && $0.1.paid > .zero }.count
            return cases.contains { ($0.status == .fraud || $0.status == .paid) && $0.worker == cheater } && paid >= 2
        }
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try #require(ready, "the demo did not reach a caught cheater and two paid windows:\n\(log.suffix(3000))")
        let pool = try #require(try await client.pool(0))

        // Escrows: clients paid, never beyond an allocation.
        var spent: UInt64 = 0
        for i in 1...3 {
            for (_, e) in try await client.escrows(owner: DevelopmentKeys.account(i).publicKey) {
                #expect(e.shortfall == .zero)
                #expect(e.allocated <= e.balance)
                spent += e.totalCharged.units
            }
        }
        #expect(spent > 0)

        // Paid-out windows: honest workers paid what they earned (fully covered, under the cap), the cheater nothing
        // once convicted (its earnings refunded to its client).
        let honest = Set([DevelopmentKeys.worker(0).publicKey, DevelopmentKeys.worker(1).publicKey])
        var honestPaid: UInt64 = 0
        for (w, rec) in try await client.windows(0) where rec.status == .settled {
            for p in try await client.payouts(0, w) where honest.contains(p.worker) {
                #expect(p.record.refunded == .zero, "honest worker refunded in window \(w)")
                honestPaid += p.record.paid.units
            }
        }
        #expect(honestPaid > 0)
        // The convicted cheater's pay goes back to its client once its window settles.
        let refunded = await eventually(.seconds(90), every: .seconds(1)) {
            guard let windows = try? await client.windows(0) else { return false }
            for (w, rec) in windows where rec.status == .settled {
                guard let payouts = try? await client.payouts(0, w) else { return false }
                if payouts.contains(where: { $0.worker == cheater && $0.record.paid == .zero && $0.record.refunded > .zero }) { return true }
            }
            return false
        }
        #expect(refunded, "the convicted cheater's earnings were not refunded")

        // Honest workers: no selected ticket proven fraudulent or withheld.
        var honestTickets = 0
        for status in TicketStatus.allCases {
            var cursor: String?
            repeat {
                let page = try await client.tickets(status: status, cursor: cursor, limit: 100)
                for id in page.ids {
                    guard let t = try await client.ticket(id), honest.contains(t.worker) else { continue }
                    honestTickets += 1
                    #expect(status != .fraudProven && status != .withheld, "honest ticket \(id) is \(status)")
                }
                cursor = page.next
            } while cursor != nil
        }

        // The cheater: caught early, slashed by the fraud fraction, jailed; the verifier's claim won the bounty.
        let cases = try await client.fraudCases().filter { $0.worker == cheater && ($0.status == .fraud || $0.status == .paid) }
        let first = try #require(cases.min { $0.adjudicatedHeight < $1.adjudicatedHeight })
        #expect(first.adjudicatedHeight <= 6 * pool.windowBlocks, "caught only at height \(first.adjudicatedHeight)")
        #expect(cases.map(\.slashed.units).max() == 500_000, "half of the 1 000 000 bonded")
        #expect(cases.allSatisfy { $0.winner == verifier && $0.bounty.units == $0.slashed.units / 10 })
        let verifierAccount = try await client.account(verifier)
        #expect(verifierAccount.balance.units > 0)
        guard case .jailed? = try await client.staker(.worker(pool: 0), cheater)?.status else {
            Issue.record("the cheater is not jailed")
            return
        }
        _ = honestTickets

        // The verifier's Prometheus counters mirror its work, and say the subscription is live.
        let metrics = try await RPCClient(url: "http://127.0.0.1:\(base + 210)").request(method: .GET, path: "/metrics")
        let exposition = String(decoding: metrics.body, as: UTF8.self)
        func value(_ name: String) -> Double? {
            exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect((value("sharechain_verifier_service_replays_total") ?? 0) >= 1, "\(exposition.prefix(2000))")
        #expect((value("sharechain_verifier_service_mismatches_total") ?? 0) >= 1)
        #expect((value("sharechain_verifier_service_proofs_submitted_total") ?? 0) >= 1)
        #expect(value("sharechain_verifier_service_subscribed") == 1)

        // Stop everything cleanly.
        kill(process.processIdentifier, SIGTERM)
        let stopped = await eventually(.seconds(30), every: .milliseconds(200)) { !process.isRunning }
        #expect(stopped)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let finalLog = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(finalLog.contains("final ── devnet"))
        // The node checked the invariants after every block (--check-invariants); none failed, and the state
        // on disk balances.
        let nodeLog = (try? String(contentsOfFile: file("validator-0/log.txt"), encoding: .utf8)) ?? ""
        #expect(!nodeLog.contains("invariant violated") && !nodeLog.contains("fault"))
        // The verifier followed the node's ticket subscription over WebSocket (it may have polled until the
        // node's RPC came up).
        let verifierLog = (try? String(contentsOfFile: file("verifier/log.txt"), encoding: .utf8)) ?? ""
        #expect(verifierLog.contains("following revealed tickets by subscription"), "\(verifierLog.suffix(2000))")
        let genesis = try GenesisDocument.load(path: file("genesis.json"))
        let store = try ChainStore(path: file("validator-0/chain"), genesis: genesis.chainId)
        let report = try Invariants.check(store.current)
        #expect(report.burned > 0)
        try store.close()
    }
}

/// Starts `sharechain demo --fast` (cheater corrupting every output) in `dir` on a free port range: base (P2P),
/// base+100 (RPC), base+200… (metrics); returns the process, the base port and the output file.
func startDemo(exe: String, dir: TempDir, extra: [String], metricsPorts: [Int] = [200, 201, 202, 210]) throws -> (Process, Int, String) {
    let ports = try freePorts(1)
    var base = 32_000 + (ports[0] % 6_000)
    while !portsFree([base, base + 100] + metricsPorts.map { base + $0 }) { base += 7 }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: exe)
    process.arguments = ["demo", "--fast", "--data-dir", dir.path, "--base-port", "\(base)", "--weights-dir", Paths.models,
                         "--cheat", "1", "--summary-every", "1000000"] + extra
    let out = (dir.path as NSString).appendingPathComponent("demo-output.txt")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return (process, base, out)
}

/// Runs `sharechain verifier replay` on one ticket and returns its exit status and output.
func replayTicket(exe: String, ticket: Hash32, rpc: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: exe)
    process.arguments = ["verifier", "replay", "--ticket", "0x" + ticket.hex, "--rpc", rpc, "--weights-dir", Paths.models]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    // Read before waiting: the report is small, but a full pipe must never block the child.
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

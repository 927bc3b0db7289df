import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
import Storage
import TestSupport

/// Golden files of the checker fixture chain (`Tests/RPCTests/Resources/rpc-checker/<method>/<case>.json`).
let checkerGoldenRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/rpc-checker")

/// `checker_getAssignments` on a chain with checkers: goldens, the state each phase of a check shows, and the
/// derivation of `nextAction` from the check record.
@Suite(.serialized) struct CheckerAssignmentTests {
    func call(_ server: RPCServer, _ method: String, _ params: JSON) async throws -> JSON {
        let request = JSON.object(["jsonrpc": "2.0", "id": .int(1), "method": .string(method), "params": params])
        let out = try #require(await server.dispatcher.handle(JSONWriter.encode(request), context: CallContext(transport: .http, session: nil)))
        let answer = try JSONParser().parse(out)
        if let e = answer["error"] { throw GoldenError("\(method): \(JSONWriter.string(e))") }
        return try #require(answer["result"])
    }

    /// The golden cases of the checker fixture chain, compared exactly (rewritten with RPC_GOLDEN_UPDATE=1).
    @Test func goldenCases() async throws {
        let node = try await CheckerNode()
        let cases = try GoldenCase.all(root: checkerGoldenRoot)
        #expect(cases.count >= 5)
        var failures = [String]()
        for c in cases {
            let out = await node.server.dispatcher.handle(try c.requestBytes(node.variables), context: CallContext(transport: .http, session: nil))
            let actual = try out.map { try JSONParser().parse($0) }
            if updateGolden { try c.write(actual); continue }
            if actual != c.expected {
                failures.append("\(c): expected \(c.expected.map(JSONWriter.string) ?? "no response")\n   got \(actual.map(JSONWriter.string) ?? "no response")")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) golden mismatches:\n\(failures.joined(separator: "\n"))")
    }

    /// At the fixture tip (commit phase of the followed ticket): the checker that committed waits for the reveal
    /// phase, the one that did not must commit, the checker that was not drawn does not list the ticket; the
    /// answers agree with `ticket_get.check`.
    @Test func commitPhaseOverRPC() async throws {
        let node = try await CheckerNode()
        let f = node.facts, t = node.t
        func item(_ key: PrivateKey, pending: Bool = false) async throws -> JSON? {
            let page = try await call(node.server, "checker_getAssignments",
                                      .object(["address": .string(t.address(key)), "pending": .bool(pending), "limit": .int(100)]))
            #expect(page["height"] == .int(f.revealHeight + 1))
            return page["items"]?.array?.first { $0["ticketId"]?.string == "0x" + f.ticket.hex }
        }
        let committer = try #require(try await item(f.committer))
        #expect(committer["phase"] == "checking")
        #expect(committer["slot"] == .int(0))
        #expect(committer["committed"] == .bool(true))
        #expect(committer["revealed"] == .bool(false))
        #expect(committer["answerStatus"] == "committed")
        #expect(committer["nextAction"] == "wait")
        #expect(committer["pool"] == .int(0))
        #expect(committer["worker"] == .string(t.address(t.honest)))
        #expect(committer["revealHeight"] == .int(f.revealHeight))
        #expect(committer["commitEndHeight"] == .int(f.revealHeight + 3))
        #expect(committer["unblindEndHeight"] == .int(f.revealHeight + 6))
        #expect(committer["revealEndHeight"] == .int(f.revealHeight + 9))
        let silent = try #require(try await item(f.silent))
        #expect(silent["slot"] == .int(1))
        #expect(silent["committed"] == .bool(false))
        #expect(silent["answerStatus"] == "notCommitted")
        #expect(silent["nextAction"] == "commit")
        #expect(try await item(f.unassigned) == nil)
        // Both still owe something: both list it with pending.
        #expect(try await item(f.committer, pending: true) != nil)
        #expect(try await item(f.silent, pending: true) != nil)
        // The same committed flags as ticket_get's check.
        let check = try await call(node.server, "ticket_get", .object(["ticketId": .string("0x" + f.ticket.hex)]))["check"]
        let slots = try #require(check?["checkers"]?.array)
        #expect(slots.map { $0["checker"] } == [.string(t.address(f.committer)), .string(t.address(f.silent))])
        #expect(slots.map { $0["committed"] } == [.bool(true), .bool(false)])
    }

    /// Paging: every assignment once, newest first, across pages of one.
    @Test func pagingListsEveryAssignmentOnce() async throws {
        let node = try await CheckerNode()
        let f = node.facts, t = node.t
        for key in [f.committer, f.silent, f.unassigned] {
            var cursor: JSON = .null
            var seen = [String]()
            var heights = [UInt64]()
            repeat {
                var p: JSONObject = ["address": .string(t.address(key)), "limit": .int(1)]
                if cursor != .null { p["cursor"] = cursor }
                let page = try await call(node.server, "checker_getAssignments", .object(p))
                for i in page["items"]?.array ?? [] {
                    seen.append(i["ticketId"]?.string ?? "")
                    heights.append(UInt64(i["assignedHeight"]?.number ?? "") ?? 0)
                }
                cursor = page["nextCursor"] ?? .null
            } while cursor != .null
            // The model: tickets whose record names this checker.
            let view = try node.service.readView()
            let reader = LedgerReader(view)
            let expected = try f.tickets.filter { try reader.sealedCheck($0)?.slots.contains { $0.checker == key.publicKey } == true }
            #expect(Set(seen) == Set(expected.map { "0x" + $0.hex }))
            #expect(seen.count == expected.count, "no repeats")
            #expect(heights == heights.sorted(by: >), "newest first")
        }
    }

    /// The check through its phases, read directly from the store: reveal phase, the answers, the resolution.
    @Test func assignmentsFollowTheCheck() async throws {
        let t = TestChain(checking: fixtureChecking)
        let dir = TempDir("rpc-checker-phases")
        let (e, f, _) = try buildCheckerChain(t, dir: dir)
        func assignment(_ key: PrivateKey, pending: Bool = false) throws -> CheckerAssignment? {
            let page = try CheckerAssignments.page(try e.store.readView(), checker: key.publicKey, pool: nil, pendingOnly: pending,
                                                   after: nil, limit: 100)
            return page.items.first { $0.ticketId == f.ticket }
        }
        let r = f.revealHeight
        // The last block of the commit phase is the next one: the silent checker can still commit.
        while e.tipHeader.height < r + 2 { try t.extend(e) }
        #expect(try assignment(f.silent)?.nextAction == .commit)
        #expect(try assignment(f.committer)?.nextAction == .wait)
        // Commit phase over: the committer reveals next; the silent checker has missed its slot.
        try t.extend(e)
        #expect(try assignment(f.committer)?.nextAction == .reveal)
        #expect(try assignment(f.silent)?.nextAction == CheckerAction.none)
        #expect(try assignment(f.silent, pending: true) == nil, "nothing is owed any more")
        #expect(try assignment(f.silent)?.answerStatus == .notCommitted)
        // The worker unblinds, the committer reveals the right answer.
        try t.extend(e, [try t.tx(e, t.honest, .unblindOutput(items: [UnblindItem(ticketId: f.ticket, outputHash: f.output, salt: f.salt)])),
                         try t.tx(e, f.committer, .checkReveal(items: [CheckRevealItem(ticketId: f.ticket, answer: f.output,
                                                                                       nonce: fixtureNonce(f.committer, f.ticket))]))])
        let revealed = try #require(try assignment(f.committer))
        #expect(revealed.answerStatus == .matches)
        #expect(revealed.answer == f.output)
        #expect(revealed.unblindedOutputHash == f.output)
        #expect(revealed.nextAction == CheckerAction.none)
        #expect(try assignment(f.committer, pending: true) == nil)
        // Resolution at the end of r + A + U + V: passed (one answer, it matches).
        while e.tipHeader.height < r + 9 { try t.extend(e) }
        #expect(try assignment(f.committer)?.phase == .check(.passed))
        #expect(try assignment(f.silent)?.phase == .check(.passed))
    }

    /// Strict parameters.
    @Test func rejectsBadParameters() async throws {
        let node = try await CheckerNode()
        let t = node.t
        for params: JSON in [
            .object([:]),
            .object(["address": "shr1nonsense"]),
            .object(["address": .string(t.address(node.facts.committer)), "pending": "yes"]),
            .object(["address": .string(t.address(node.facts.committer)), "pool": "0"]),
            .object(["address": .string(t.address(node.facts.committer)), "pool": .int(7)]),
            .object(["address": .string(t.address(node.facts.committer)), "cursor": "0x00"]),
            .object(["address": .string(t.address(node.facts.committer)), "limit": .int(101)]),
        ] {
            await #expect(throws: GoldenError.self, "\(JSONWriter.string(params))") {
                _ = try await call(node.server, "checker_getAssignments", params)
            }
        }
    }

    /// `Render.checkerAssignment` and `CheckerAssignment(json:)` agree (the RPC chain client reads what the node writes).
    @Test func jsonRoundTrip() async throws {
        let node = try await CheckerNode()
        let render = Render(hrp: node.t.hrp)
        for key in [node.facts.committer, node.facts.silent] {
            let page = try CheckerAssignments.page(try node.service.readView(), checker: key.publicKey, pool: 0, pendingOnly: false,
                                                   after: nil, limit: 100)
            #expect(!page.items.isEmpty)
            for a in page.items {
                let back = try CheckerAssignment(json: render.checkerAssignment(a), key: { try? Params.parseAddress($0, hrp: node.t.hrp, name: "worker") })
                #expect(back == a)
            }
        }
    }
}

/// `CheckerAssignment.derive` on records of every phase.
@Suite struct CheckerAssignmentDeriveTests {
    let me = fixtureKey("checker-me").publicKey, other = fixtureKey("checker-other").publicKey
    let worker = fixtureKey("worker").publicKey
    let cfg = fixtureChecking
    let tid = SHA256.hash([7])
    let output = SHA256.hash([8])

    func ticket(_ status: TicketStatus) -> Ticket {
        Ticket(commitmentId: SHA256.hash([9]), sample: 0, point: 0, worker: worker, pool: 0, window: 0, shard: 0, status: status,
               selectedHeight: 10, revealDeadline: 13, challengeEnd: 30)
    }

    func derive(_ check: SealedCheck?, ticket t: Ticket?, tip: UInt64) -> CheckerAssignment {
        CheckerAssignment.derive(ticketId: tid, assignedHeight: 10, checker: me, slot: 1, checkerCount: 2, ticket: t, check: check,
                                 checking: t == nil ? nil : cfg, tip: tip)
    }

    func check(_ status: CheckStatus, mine: CheckerSlot, revealHeight: UInt64 = 12, unblinded: Hash32? = nil, keyDeadline: UInt64 = 0) -> SealedCheck {
        SealedCheck(status: status, slots: [CheckerSlot(checker: other, sealingKey: .zero), mine], revealHeight: revealHeight,
                    unblinded: unblinded, keyDeadline: keyDeadline)
    }

    @Test func goneRecords() {
        let settled = derive(nil, ticket: nil, tip: 50)
        #expect(settled.phase == .settled)
        #expect(settled.nextAction == CheckerAction.none)
        #expect(settled.answerStatus == .unknown)
        #expect(settled.pool == nil)
        let cancelled = derive(nil, ticket: ticket(.voided), tip: 50)
        #expect(cancelled.phase == .cancelled)
        #expect(cancelled.pool == 0)
        #expect(cancelled.nextAction == CheckerAction.none)
    }

    @Test func beforeTheReveal() {
        let c = SealedCheck(slots: [CheckerSlot(checker: other, sealingKey: .zero), CheckerSlot(checker: me, sealingKey: .zero)])
        let waiting = derive(c, ticket: ticket(.awaitingReveal), tip: 11)
        #expect(waiting.nextAction == .wait)
        #expect(waiting.revealHeight == nil && waiting.commitEndHeight == nil)
        #expect(derive(c, ticket: ticket(.withheld), tip: 20).nextAction == CheckerAction.none)
    }

    @Test func commitAndRevealWindows() {
        let fresh = CheckerSlot(checker: me, sealingKey: .zero)
        // r = 12, A = U = V = 3: commits in 13...15, reveals in 16...21.
        #expect(derive(check(.checking, mine: fresh), ticket: ticket(.revealed), tip: 12).nextAction == .commit)
        #expect(derive(check(.checking, mine: fresh), ticket: ticket(.revealed), tip: 14).nextAction == .commit)
        #expect(derive(check(.checking, mine: fresh), ticket: ticket(.revealed), tip: 15).nextAction == CheckerAction.none)
        let committed = CheckerSlot(checker: me, sealingKey: .zero, commitment: SHA256.hash([1]))
        #expect(derive(check(.checking, mine: committed), ticket: ticket(.revealed), tip: 14).nextAction == .wait)
        #expect(derive(check(.checking, mine: committed), ticket: ticket(.revealed), tip: 15).nextAction == .reveal)
        #expect(derive(check(.checking, mine: committed), ticket: ticket(.revealed), tip: 20).nextAction == .reveal)
        #expect(derive(check(.checking, mine: committed), ticket: ticket(.revealed), tip: 21).nextAction == CheckerAction.none)
        let a = derive(check(.checking, mine: committed), ticket: ticket(.revealed), tip: 14)
        #expect(a.answerStatus == .committed)
        #expect(a.commitEndHeight == 15 && a.unblindEndHeight == 18 && a.revealEndHeight == 21)
        #expect(a.slot == 1)
    }

    @Test func answersAndDisputes() {
        let wrong = SHA256.hash([2])
        let differing = CheckerSlot(checker: me, sealingKey: .zero, commitment: SHA256.hash([1]), answer: wrong)
        let revealedEarly = derive(check(.checking, mine: differing), ticket: ticket(.revealed), tip: 16)
        #expect(revealedEarly.answerStatus == .revealed)
        #expect(revealedEarly.nextAction == CheckerAction.none)
        let disputed = check(.disputed, mine: differing, unblinded: output, keyDeadline: 21)
        #expect(derive(disputed, ticket: ticket(.revealed), tip: 19).answerStatus == .differs)
        #expect(derive(disputed, ticket: ticket(.revealed), tip: 20).nextAction == .publishInput)
        #expect(derive(disputed, ticket: ticket(.revealed), tip: 21).nextAction == CheckerAction.none)
        let bad = CheckerSlot(checker: me, sealingKey: .zero, commitment: SHA256.hash([1]), answer: badInputAnswer)
        let b = derive(check(.disputed, mine: bad, unblinded: output, keyDeadline: 21), ticket: ticket(.revealed), tip: 19)
        #expect(b.answerStatus == .badInput)
        // Tenth review F2: a bad-input answer may be an input that opened and that the replay finds invalid; only its
        // publication slashes the colluders, so it is offered too (the node publishes only what its slot opens to).
        #expect(b.nextAction == .publishInput)
        let published = CheckerAssignment.derive(ticketId: tid, assignedHeight: 10, checker: me, slot: 1, checkerCount: 2,
                                                 ticket: ticket(.revealed), check: check(.disputed, mine: bad, unblinded: output, keyDeadline: 21),
                                                 checking: cfg, tip: 19, inputPublished: true)
        #expect(published.nextAction == CheckerAction.none, "an input is already published: nothing left to send")
        let right = CheckerSlot(checker: me, sealingKey: .zero, commitment: SHA256.hash([1]), answer: output)
        let m = derive(check(.disputed, mine: right, unblinded: output, keyDeadline: 21), ticket: ticket(.revealed), tip: 19)
        #expect(m.answerStatus == .matches)
        #expect(m.nextAction == CheckerAction.none)
        for s in [CheckStatus.passed, .replaying, .fraud, .upheld, .failed] {
            let x = derive(check(s, mine: differing, unblinded: output), ticket: ticket(.revealed), tip: 19)
            #expect(x.phase == .check(s))
            #expect(x.nextAction == CheckerAction.none)
        }
    }
}

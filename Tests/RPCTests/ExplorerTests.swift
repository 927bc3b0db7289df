import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
@testable import RPC
import Storage
import TestSupport

/// The explorer methods against the golden chain, checked against a model built from the blocks' receipts.
@Suite struct ExplorerTests {
    func call(_ node: GoldenNode, _ method: String, _ params: JSON) async throws -> JSON {
        let request = JSON.object(["jsonrpc": "2.0", "id": .int(1), "method": .string(method), "params": params])
        let out = try #require(await node.server.dispatcher.handle(JSONWriter.encode(request), context: CallContext(transport: .http, session: nil)))
        let answer = try JSONParser().parse(out)
        if let e = answer["error"] { throw GoldenError("\(method): \(JSONWriter.string(e))") }
        return try #require(answer["result"])
    }

    /// Every canonical block's transactions and receipts, from the store.
    func blocks(_ node: GoldenNode) throws -> [(height: UInt64, txs: [SignedTransaction], receipts: [Receipt])] {
        let view = try node.service.readView()
        let tip = try #require(try view.tip())
        var out = [(height: UInt64, txs: [SignedTransaction], receipts: [Receipt])]()
        for h in 0...tip.height {
            let hash = try #require(try view.canonicalHash(at: h))
            let txs = try Block.decodeBody(try #require(try view.body(hash)), maxTransactions: 100_000)
            let receipts = try ChainEngine.decodeReceipts(try #require(try view.receipts(hash)))
            out.append((h, txs, receipts))
        }
        return out
    }

    @Test func kindCodesAreTheEventTags() async throws {
        let node = try await GoldenNode()
        #expect(Event.kindNames.count == 53)
        #expect(Set(Event.kindNames).count == Event.kindNames.count)
        // The protocol-4 events (the golden chain has no checkers): each has its own code, its tag.
        let k = fixtureKey("event-kinds").publicKey, t = Hash32.zero
        let checkerEvents: [Event] = [
            .checkerRegistered(pool: 0, checker: k, sealingKey: t), .checkersAssigned(ticketId: t, checkers: [k]), .checkersUnavailable(ticketId: t),
            .answerCommitted(ticketId: t, checker: k), .outputUnblinded(ticketId: t, outputHash: t), .answerRevealed(ticketId: t, checker: k, answer: t),
            .checkPassed(ticketId: t, outputHash: t), .checkerAbsent(ticketId: t, checker: k, benchedUntil: 1), .disputeOpened(ticketId: t, keyDeadline: 1),
            .sealedInputPublished(ticketId: t), .sealedCheckFailed(ticketId: t, worker: k, reason: .badEnvelope),
            .checkFeeOwed(ticketId: t, checker: k, amount: Amount(1)), .checkFeePaid(pool: 0, window: 0, worker: k, ticketId: t, checker: k, amount: Amount(1)),
            .disputeBountyPaid(ticketId: t, to: k, amount: Amount(1)),
            // Protocol 5: hop challenges.
            .hopChallenged(challengeId: t, pool: 0, window: 0, shard: 0, worker: k, challenger: k, bond: Amount(1), deadline: 1),
            .hopChallengeAnswered(challengeId: t, ticketId: t, bondTo: k, bond: Amount(1)),
            .hopChallengeUnanswered(challengeId: t, worker: k, challenger: k, bond: Amount(1)),
            .hopBondPaid(challengeId: t, to: k, bond: Amount(1)),
        ]
        for e in checkerEvents {
            #expect(UInt16(e.canonicalEncoding[0]) == e.kindCode, "\(e.name)")
            #expect(Event.kindNames[Int(e.kindCode)] == e.name)
        }
        var seen = Set<String>()
        for b in try blocks(node) {
            for r in b.receipts {
                for e in r.events {
                    #expect(UInt16(e.canonicalEncoding[0]) == e.kindCode, "\(e.name)")
                    #expect(Event.kindNames[Int(e.kindCode)] == e.name)
                    #expect(Event.kindCode(named: e.name) == e.kindCode)
                    seen.insert(e.name)
                }
            }
        }
        #expect(seen.count >= 12, "the golden chain should exercise many event kinds, saw \(seen.sorted())")
        // The OpenRPC EventType enum names the same kinds.
        let doc = try JSONParser().parse(Array(OpenRPCDocument.json.utf8))
        let names = try #require(doc["components"]?["schemas"]?["EventType"]?["enum"]?.array).compactMap(\.string)
        #expect(Set(names) == Set(Event.kindNames))
    }

    /// Paging an address's history (small pages, both orders) lists exactly the events of the model: every
    /// event naming the address, plus every event of a transaction it sent; each once, in chain order.
    @Test func historyPagesEqualTheReceiptModel() async throws {
        let node = try await GoldenNode()
        let t = node.t
        let chain = try blocks(node)
        for key in [t.alice, t.bob, t.honest, t.cheat, t.verifier, t.validator] {
            var model = [JSON]()
            for b in chain {
                for (ri, r) in b.receipts.enumerated() {
                    let sender = ri < b.txs.count ? b.txs[ri].transaction.sender : nil
                    for (ei, e) in r.events.enumerated() where e.involvedKeys.contains(key.publicKey) || sender == key.publicKey {
                        model.append(.object(["h": .int(b.height), "r": .int(ri), "e": .int(ei), "type": .string(e.name)]))
                    }
                }
            }
            #expect(!model.isEmpty)
            for (order, limit) in [("desc", 3), ("asc", 2), ("asc", 100)] {
                var got = [JSON]()
                var cursor: JSON = .null
                var pages = 0
                repeat {
                    let page = try await call(node, "account_getHistory", .object([
                        "address": .string(t.address(key)), "limit": .int(limit), "order": .string(order), "cursor": cursor,
                    ]))
                    let items = try #require(page["items"]?.array)
                    #expect(items.count <= limit)
                    for i in items {
                        got.append(.object(["h": try #require(i["blockHeight"]), "r": try #require(i["receiptIndex"]),
                                            "e": try #require(i["eventIndex"]), "type": try #require(i["event"]?["type"])]))
                    }
                    cursor = try #require(page["nextCursor"])
                    pages += 1
                } while cursor != .null && pages < 1000
                #expect(got == (order == "asc" ? model : model.reversed()), "\(t.address(key)) \(order) \(limit)")
            }
        }
    }

    @Test func filtersNarrowTheHistory() async throws {
        let node = try await GoldenNode()
        let t = node.t
        let all = try #require(try await call(node, "account_getHistory", .object(["address": .string(t.address(t.honest)), "limit": .int(100)]))["items"]?.array)
        let payouts = try #require(try await call(node, "account_getHistory", .object([
            "address": .string(t.address(t.honest)), "kinds": .array(["payoutCredited"]), "limit": .int(100),
        ]))["items"]?.array)
        #expect(!payouts.isEmpty)
        #expect(payouts.count == all.filter { $0["event"]?["type"]?.string == "payoutCredited" }.count)
        let ranged = try #require(try await call(node, "account_getHistory", .object([
            "address": .string(t.address(t.honest)), "fromHeight": .int(3), "toHeight": .int(6), "limit": .int(100),
        ]))["items"]?.array)
        #expect(ranged.count == all.filter { ($0["blockHeight"]?.uint64 ?? 0) >= 3 && ($0["blockHeight"]?.uint64 ?? 0) <= 6 }.count)
        #expect(!ranged.isEmpty && ranged.count < all.count)
        let pool0 = try #require(try await call(node, "account_getHistory", .object([
            "address": .string(t.address(t.honest)), "pool": .int(0), "worker": .string(t.address(t.honest)), "limit": .int(100),
        ]))["items"]?.array)
        #expect(!pool0.isEmpty)
        #expect(pool0.allSatisfy { $0["pool"] == .int(0) && $0["worker"]?.string == t.address(t.honest) })
        let pool7 = try #require(try await call(node, "account_getHistory", .object(["address": .string(t.address(t.honest)), "pool": .int(7)]))["items"]?.array)
        #expect(pool7.isEmpty)
    }

    @Test func blockResultsHoldEveryReceiptAndEvent() async throws {
        let node = try await GoldenNode()
        for b in try blocks(node) {
            let res = try await call(node, "chain_getBlockResults", .array([.int(b.height)]))
            #expect(res["blockHeight"]?.uint64 == b.height)
            #expect(res["transactionCount"]?.uint64 == UInt64(b.txs.count))
            #expect(res["eventCount"]?.uint64 == UInt64(b.receipts.reduce(0) { $0 + $1.events.count }))
            let receipts = try #require(res["receipts"]?.array)
            #expect(receipts.count == b.receipts.count)
            if b.height > 0 {
                // Genesis has no block-processing receipt; every later block ends with one.
                #expect(receipts.count == b.txs.count + 1)
                #expect(receipts.last?["kind"]?.string == "blockProcessing")
                #expect(receipts.last?["events"]?.array?.count == b.receipts.last?.events.count)
            }
            let txs = try #require(res["transactions"]?.array)
            #expect(txs.map { $0["hash"]?.string } == b.txs.map { "0x" + $0.id.hex })
            #expect(zip(receipts, txs).allSatisfy { $0["transactionHash"] == $1["hash"] })
        }
        let latest = try await call(node, "chain_getBlockResults", .array(["latest"]))
        let finalized = try await call(node, "chain_getBlockResults", .array(["finalized"]))
        #expect((finalized["blockHeight"]?.uint64 ?? .max) <= (latest["blockHeight"]?.uint64 ?? 0))
        #expect(finalized["finalized"] == .bool(true))
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives
import TestSupport

/// Ninth review F1 (producer side): block space went to candidates before they were executed. A sender whose first
/// transaction moved its balance away had its later, large transactions skipped at their turn, and their space stayed
/// empty: one small paid transaction could empty most of a block. The builder now spends its budget on what it includes.
@Suite struct BlockBuildingReview9Tests {
    @Test func candidatesThatFailAtTheirTurnDoNotKeepTheirSpace() throws {
        let net = TestNetwork(validators: 1, accounts: 4, maxBlockBytes: 64 * 1024)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let attacker = net.accounts[3]
        let balance = try engine.tipState.account(attacker.publicKey).balance.units
        let chain = net.genesis.chainId
        let drain = Transaction(chainId: chain, sender: attacker.publicKey, nonce: 0, fee: 1_000,
                                body: .transfer(to: net.accounts[0].publicKey, amount: Amount(balance - 1_000))).signed(by: attacker)
        let large = (1...3).map { n in
            Transaction(chainId: chain, sender: attacker.publicKey, nonce: UInt64(n), fee: 50_000,
                        body: .fraudReveal(ticketId: .zero, salt: .zero, input: [UInt8](repeating: UInt8(n), count: 20_000))).signed(by: attacker)
        }
        var honest = [SignedTransaction]()
        for a in 1...2 {
            for n in 0..<100 { honest.append(try net.transfer(engine, from: a, to: net.accounts[0].publicKey, amount: 1, nonce: UInt64(n))) }
        }
        let candidates = [drain] + large + honest
        #expect(candidates.reduce(0) { $0 + $1.encodedSize } > net.genesis.consensus.maxBlockBytes, "the candidates must not all fit")
        let block = try net.produce(engine, txs: candidates)
        let ids = Set(block.transactions.map(\.id))
        #expect(ids.contains(drain.id))
        #expect(large.allSatisfy { !ids.contains($0.id) })
        #expect(honest.allSatisfy { ids.contains($0.id) }, "honest transactions left out: \(honest.filter { !ids.contains($0.id) }.count)")
        // The limits still hold on what is included.
        #expect(BlockValidation.encodedSize(of: block.transactions) <= net.genesis.consensus.maxBlockBytes)
    }

    /// The byte budget passes over a candidate that does not fit and still takes later, smaller ones; the count bound holds.
    @Test func theBuilderFillsTheBlockWithinBothLimits() throws {
        let net = TestNetwork(validators: 1, accounts: 4, maxBlockTransactions: 50, maxBlockBytes: 32 * 1024)
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        let big = Transaction(chainId: net.genesis.chainId, sender: net.accounts[3].publicKey, nonce: 0, fee: 100_000,
                              body: .fraudReveal(ticketId: .zero, salt: .zero, input: [UInt8](repeating: 9, count: 40_000))).signed(by: net.accounts[3])
        var small = [SignedTransaction]()
        for n in 0..<80 { small.append(try net.transfer(engine, from: 1, to: net.accounts[0].publicKey, amount: 1, nonce: UInt64(n))) }
        let block = try net.produce(engine, txs: [big] + small)
        #expect(block.transactions.count == 50)
        #expect(block.transactions.map(\.id) == small.prefix(50).map(\.id))
    }
}

/// The engine executes a block's adjudications when it builds the block and again when it imports it: its ledger
/// replays through a memo, so that is one replay per case.
@Suite struct AdjudicationMemoWiringTests {
    @Test func theEnginesLedgerRemembersVerdicts() throws {
        let net = TestNetwork()
        let dir = TempDir()
        let engine = try net.engine(at: dir)
        #expect(engine.ledger.adjudicator is MemoizedAdjudicator)
    }
}

import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

/// `Specs/vectors/blocks.json`: headers and blocks with their encodings, hashes and roots. Regenerate with
/// `REGENERATE_VECTORS=1 swift test --filter BlockVectorTests`; `tools/check_block_vectors.py` re-derives every
/// hash independently with hashlib.
@Suite struct BlockVectorTests {
    struct Vector: Codable, Equatable {
        var name: String
        var block: String
        var headerEncoding: String
        var blockHash: String
        var proposer: String
        var signatureValid: Bool
        var transactionIds: [String]
        var txRoot: String
        var height: UInt64
        var slot: UInt64
    }

    static var path: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Specs/vectors/blocks.json")
    }

    static func make() -> [Vector] {
        let proposer = key("vector-proposer"), alice = key("vector-alice")
        let chainId = SHA256.hash(Array("vector-chain".utf8))
        // Deterministic signatures: BIP-340 with zero auxiliary randomness.
        func sign(_ k: PrivateKey, _ h: Hash32) -> Signature { k.sign(digest: h, auxRand: .zero) }
        var out = [Vector]()
        for (name, count) in [("empty", 0), ("one-transfer", 1), ("three-transactions", 3)] {
            let txs: [SignedTransaction] = (0..<count).map { i in
                let body: TxBody = i == 2 ? .escrowOpen(pool: 0, amount: 500, expiryHeight: 99)
                    : .transfer(to: proposer.publicKey, amount: Amount(UInt64(10 + i)))
                let t = Transaction(chainId: chainId, sender: alice.publicKey, nonce: UInt64(i), fee: 400, body: body)
                return SignedTransaction(transaction: t, signature: sign(alice, t.signingHash))
            }
            let h = BlockHeader(chainId: chainId, height: UInt64(7 + count), slot: UInt64(100 + count), parent: SHA256.hash([UInt8(count)]),
                                timestamp: 1_700_000_000_000 + UInt64(count), proposer: proposer.publicKey, randaoReveal: SHA256.hash([9]),
                                txRoot: Block.txRoot(txs), receiptsRoot: SHA256.hash([4]), stateRoot: SHA256.hash([5]))
            let block = Block(signedHeader: SignedHeader(header: h, signature: sign(proposer, h.hash)), transactions: txs)
            out.append(Vector(name: name, block: block.canonicalEncoding.hex, headerEncoding: h.canonicalEncoding.hex, blockHash: block.hash.hex,
                              proposer: proposer.publicKey.hex, signatureValid: block.signedHeader.hasValidSignature,
                              transactionIds: txs.map(\.id.hex), txRoot: h.txRoot.hex, height: h.height, slot: h.slot))
        }
        return out
    }

    @Test func vectorsMatch() throws {
        if ProcessInfo.processInfo.environment["REGENERATE_VECTORS"] != nil {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try (enc.encode(Self.make()) + Data("\n".utf8)).write(to: Self.path)
        }
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: Self.path))
        #expect(vectors == Self.make())
        for v in vectors {
            let b = try Block(canonicalEncoding: try Hex.decode(v.block), maxTransactions: 100)
            #expect(b.hash.hex == v.blockHash)
            #expect(b.header.canonicalEncoding.hex == v.headerEncoding)
            #expect(b.signedHeader.hasValidSignature == v.signatureValid)
            #expect(b.transactions.map(\.id.hex) == v.transactionIds)
            #expect(Block.txRoot(b.transactions).hex == v.txRoot)
        }
    }
}

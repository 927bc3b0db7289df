import Consensus
import Ledger
import Primitives
import Testing

/// Each rule of `BlockValidation` fed one bad value: the exact typed error, with what the block has and what
/// the rule expects. No engine, store or clock: the rules are pure.
@Suite struct BlockValidationTests {
    let proposer = key("validation/proposer")
    let other = key("validation/other")
    let chainId = SHA256.hash(Array("validation/chain".utf8))

    func transfer(_ nonce: UInt64) -> SignedTransaction {
        Transaction(chainId: chainId, sender: proposer.publicKey, nonce: nonce, fee: Amount(1_000),
                    body: .transfer(to: other.publicKey, amount: Amount(5))).signed(by: proposer)
    }

    func header(txRoot: Hash32 = Block.txRoot([])) -> BlockHeader {
        BlockHeader(chainId: chainId, height: 7, slot: 9, parent: SHA256.hash([1]), timestamp: 1_000, proposer: proposer.publicKey,
                    randaoReveal: SHA256.hash([2]), txRoot: txRoot, receiptsRoot: Receipt.root([]), stateRoot: SHA256.hash([3]))
    }

    @Test func version() throws {
        try BlockValidation.validateVersion(BlockHeader.currentVersion)
        #expect(throws: BlockValidationError.wrongVersion(got: 2, expected: BlockHeader.currentVersion)) {
            try BlockValidation.validateVersion(2)
        }
    }

    @Test func chain() throws {
        try BlockValidation.validateChain(chainId, expected: chainId)
        let theirs = SHA256.hash([9])
        #expect(throws: BlockValidationError.wrongChain(got: theirs, expected: chainId)) {
            try BlockValidation.validateChain(theirs, expected: chainId)
        }
    }

    @Test func transactionCount() throws {
        try BlockValidation.validateTransactionCount(3, maximum: 3)
        #expect(throws: BlockValidationError.tooManyTransactions(count: 4, maximum: 3)) {
            try BlockValidation.validateTransactionCount(4, maximum: 3)
        }
    }

    @Test func size() throws {
        let txs = [transfer(0), transfer(1)]
        // The header is fixed size; the body is its encoding exactly: the count as shortest LEB128 (1 byte below 128
        // transactions, 2 from 128; it was counted as 5 whatever the count, refusing blocks the spec accepts), then the
        // transactions.
        func bodyBytes(_ t: [SignedTransaction]) -> Int { var w = CanonicalWriter(capacity: 64); w.list(t); return w.bytes.count }
        let bytes = BlockValidation.encodedSize(of: txs)
        #expect(bytes == BlockLimits.signedHeaderBytes + bodyBytes(txs))
        #expect(bytes == BlockLimits.signedHeaderBytes + 1 + txs[0].encodedSize + txs[1].encodedSize)
        #expect(BlockValidation.encodedSize(of: []) == BlockLimits.signedHeaderBytes + 1)
        let many = (0..<130).map { _ in txs[0] }
        #expect(BlockValidation.encodedSize(of: many) == BlockLimits.signedHeaderBytes + bodyBytes(many))
        try BlockValidation.validateSize(bytes, maximum: bytes)
        #expect(throws: BlockValidationError.tooLarge(bytes: bytes, maximum: bytes - 1)) {
            try BlockValidation.validateSize(bytes, maximum: bytes - 1)
        }
    }

    @Test func timestampWithinSlot() throws {
        try BlockValidation.validateTimestamp(10_000, slotStart: 10_000, slotMillis: 1_000)
        try BlockValidation.validateTimestamp(10_999, slotStart: 10_000, slotMillis: 1_000)
        #expect(throws: BlockValidationError.timestampOutsideSlot(timestamp: 9_999, slotStart: 10_000, slotEnd: 11_000)) {
            try BlockValidation.validateTimestamp(9_999, slotStart: 10_000, slotMillis: 1_000)
        }
        #expect(throws: BlockValidationError.timestampOutsideSlot(timestamp: 11_000, slotStart: 10_000, slotEnd: 11_000)) {
            try BlockValidation.validateTimestamp(11_000, slotStart: 10_000, slotMillis: 1_000)
        }
        // A slot no u64 clock reaches (saturated start, or an end that overflows) has no valid timestamp.
        #expect(throws: BlockValidationError.timestampOutsideSlot(timestamp: .max, slotStart: .max, slotEnd: nil)) {
            try BlockValidation.validateTimestamp(.max, slotStart: .max, slotMillis: 1_000)
        }
        #expect(throws: BlockValidationError.timestampOutsideSlot(timestamp: .max - 10, slotStart: .max - 100, slotEnd: nil)) {
            try BlockValidation.validateTimestamp(.max - 10, slotStart: .max - 100, slotMillis: 1_000)
        }
    }

    @Test func fromFutureIsATolerance() {
        #expect(!BlockValidation.isFromFuture(timestamp: 1_500, now: 1_000, toleranceMillis: 500))
        #expect(BlockValidation.isFromFuture(timestamp: 1_501, now: 1_000, toleranceMillis: 500))
    }

    @Test func proposerSignature() throws {
        let h = header()
        try BlockValidation.validateProposerSignature(SignedHeader(header: h, signedBy: proposer))
        #expect(throws: BlockValidationError.badSignature) {
            try BlockValidation.validateProposerSignature(SignedHeader(header: h, signedBy: other))
        }
        #expect(throws: BlockValidationError.badSignature) {
            try BlockValidation.validateProposerSignature(SignedHeader(header: h, signature: .zero))
        }
    }

    @Test func uniqueTransactions() throws {
        let a = transfer(0), b = transfer(1)
        try BlockValidation.validateUniqueTransactions([a, b])
        #expect(throws: BlockValidationError.duplicateTransaction(b.id)) {
            try BlockValidation.validateUniqueTransactions([a, b, b, a])
        }
    }

    @Test func txRoot() throws {
        let txs = [transfer(0), transfer(1)]
        try BlockValidation.validateTxRoot(Block.txRoot(txs), transactions: txs)
        let wrong = Block.txRoot([txs[1], txs[0]])
        #expect(throws: BlockValidationError.badTxRoot(got: wrong, expected: Block.txRoot(txs))) {
            try BlockValidation.validateTxRoot(wrong, transactions: txs)
        }
    }

    @Test func height() throws {
        try BlockValidation.validateHeight(8, parentHeight: 7)
        #expect(throws: BlockValidationError.wrongHeight(got: 9, expected: 8)) { try BlockValidation.validateHeight(9, parentHeight: 7) }
        #expect(throws: BlockValidationError.wrongHeight(got: 7, expected: 8)) { try BlockValidation.validateHeight(7, parentHeight: 7) }
    }

    @Test func slot() throws {
        try BlockValidation.validateSlot(10, parentSlot: 9)
        #expect(throws: BlockValidationError.slotNotAfterParent(slot: 9, parentSlot: 9)) { try BlockValidation.validateSlot(9, parentSlot: 9) }
        #expect(throws: BlockValidationError.slotNotAfterParent(slot: 3, parentSlot: 9)) { try BlockValidation.validateSlot(3, parentSlot: 9) }
    }

    @Test func leader() throws {
        try BlockValidation.validateLeader(proposer.publicKey, expected: proposer.publicKey)
        #expect(throws: BlockValidationError.wrongLeader(got: other.publicKey, expected: proposer.publicKey)) {
            try BlockValidation.validateLeader(other.publicKey, expected: proposer.publicKey)
        }
        // A slot without a leader admits no block.
        #expect(throws: BlockValidationError.wrongLeader(got: proposer.publicKey, expected: nil)) {
            try BlockValidation.validateLeader(proposer.publicKey, expected: nil)
        }
    }

    @Test func receiptsRoot() throws {
        let receipts = [Receipt(txId: transfer(0).id, status: .success, feePaid: Amount(1_000), events: [])]
        try BlockValidation.validateReceiptsRoot(Receipt.root(receipts), receipts: receipts)
        #expect(throws: BlockValidationError.badReceiptsRoot(got: Receipt.root([]), expected: Receipt.root(receipts))) {
            try BlockValidation.validateReceiptsRoot(Receipt.root([]), receipts: receipts)
        }
    }

    @Test func stateRoot() throws {
        let computed = SHA256.hash([4])
        try BlockValidation.validateStateRoot(computed, computed: computed)
        #expect(throws: BlockValidationError.badStateRoot(got: SHA256.hash([5]), expected: computed)) {
            try BlockValidation.validateStateRoot(SHA256.hash([5]), computed: computed)
        }
    }
}

import Foundation
import Ledger
import Primitives
import StateTree
import Testing
@testable import sharechain

/// Review B (security): `sharechain query proof --verify` against an untrusted RPC server. The server is asked about
/// one account and answers with a genuine, verifying proof about ANOTHER key (or another height, or a malformed value
/// read as "absent"). Before the fix the verifier took the key, the height and the value from the answer itself, so
/// any genuine proof of any key verified (`verified: true`) for any question.
@Suite struct ProofQueryAttackTests {
    struct Tree {
        var store = MemoryTreeStore()
        var root: Hash32 = TreeHash.placeholder
        init(_ pairs: [([UInt8], [UInt8])]) throws {
            let batch = try StateTree.apply(store, base: nil, version: 0,
                                            updates: TreeUpdate.sorted(pairs.map { TreeUpdate(key: $0.0, value: $0.1) }))
            store.commit(batch)
            root = batch.rootHash
        }
        func answer(key: [UInt8], value: [UInt8]?, height: UInt64 = 7) throws -> JSON {
            let proof = try StateTree.proof(store, version: 0, keyHash: TreeHash.key(key))
            return .object([
                "blockHeight": .int(height), "key": .string("0x" + Hex.encode(key)),
                "value": value.map { .string("0x" + Hex.encode($0)) } ?? .null,
                "proof": .string("0x" + Hex.encode(proof.canonicalEncoding)),
            ])
        }
    }

    static let alice = PrivateKey.generate().publicKey, mallory = PrivateKey.generate().publicKey

    @Test func anAnswerAboutAnotherKeyIsNotVerified() throws {
        let asked = StateKey.account(Self.alice), other = StateKey.account(Self.mallory)
        let tree = try Tree([(asked, [1, 2, 3]), (other, [9, 9, 9, 9])])
        // The server answers the question about alice with mallory's record and its genuine proof.
        let swapped = try tree.answer(key: other, value: [9, 9, 9, 9])
        // What the verifier did before the fix (the answer's own key): accepted.
        #expect(QueryCommand.StateProofQuery.check(swapped, key: nil, height: nil, stateRoot: tree.root),
                "pre-fix behaviour: the swapped answer verifies against the answer's own key")
        // Bound to the key the client asked for: refused.
        #expect(!QueryCommand.StateProofQuery.check(swapped, key: asked, height: nil, stateRoot: tree.root))
        // The honest answer still verifies.
        #expect(QueryCommand.StateProofQuery.check(try tree.answer(key: asked, value: [1, 2, 3]), key: asked, height: 7, stateRoot: tree.root))
        // An absent key (a proof of absence about another absent key is also refused by the key binding).
        let absentAsked = StateKey.account(PrivateKey.generate().publicKey)
        let absentOther = StateKey.account(PrivateKey.generate().publicKey)
        #expect(QueryCommand.StateProofQuery.check(try tree.answer(key: absentAsked, value: nil), key: absentAsked, height: 7, stateRoot: tree.root))
        #expect(!QueryCommand.StateProofQuery.check(try tree.answer(key: absentOther, value: nil), key: absentAsked, height: 7, stateRoot: tree.root))
    }

    @Test func anAnswerForAnotherHeightThanTheOneAskedIsNotVerified() throws {
        let asked = StateKey.account(Self.alice)
        let tree = try Tree([(asked, [1])])
        #expect(!QueryCommand.StateProofQuery.check(try tree.answer(key: asked, value: [1], height: 8), key: asked, height: 7, stateRoot: tree.root))
    }

    /// A value field that is not 0x-hex used to decode to nil and be checked as "absent": an absence proof then
    /// verified while the printed answer carried the server's made-up value.
    @Test func aMalformedValueIsNotReadAsAbsent() throws {
        let asked = StateKey.account(Self.alice)
        let tree = try Tree([(StateKey.account(Self.mallory), [5])])
        guard case .object(var o) = try tree.answer(key: asked, value: nil) else { Issue.record("no object"); return }
        o["value"] = .string("1000000000")  // not 0x-hex: the printed answer says alice holds this
        #expect(!QueryCommand.StateProofQuery.check(.object(o), key: asked, height: 7, stateRoot: tree.root))
    }

    /// The locally computed key of each --kind equals the key the node derives from the same record.
    @Test func expectedKeysAreTheLedgerKeys() throws {
        let a = Address.encode(Self.alice, hrp: "shr")
        func query(_ kind: String, _ record: String) throws -> QueryCommand.StateProofQuery {
            try QueryCommand.StateProofQuery.parse(["--kind", kind, record])
        }
        #expect(try query("account", a).expectedKey() == StateKey.account(Self.alice))
        #expect(try query("validator", "0x" + Hex.encode(Self.alice.bytes)).expectedKey() == StateKey.staker(.validator, Self.alice))
        #expect(try query("worker", "3:" + a).expectedKey() == StateKey.staker(.worker(pool: 3), Self.alice))
        #expect(try query("pool", "4").expectedKey() == StateKey.pool(4))
        #expect(try query("window", "4:9").expectedKey() == StateKey.window(4, 9))
        let id = SHA256.hash([1])
        #expect(try query("escrow", id.hex).expectedKey() == StateKey.escrow(id))
        #expect(try query("raw", "0x0102").expectedKey() == [1, 2])
    }
}

/// Ninth review (F4): `--verify` took the stateRoot from the node it verifies, so a node lying consistently (a
/// forged record, a proof over a made-up tree, a header JSON carrying that tree's root) got `verified: true`. With
/// `--state-root` the proof is checked against a root the user trusts, and the node is not asked for one.
@Suite struct ProofQueryTrustedRootTests {
    @Test func aConsistentlyLyingNodeIsNotVerifiedAgainstATrustedRoot() async throws {
        let asked = StateKey.account(ProofQueryAttackTests.alice)
        let real = try ProofQueryAttackTests.Tree([(asked, [1, 2, 3]), (StateKey.account(ProofQueryAttackTests.mallory), [4])])
        // The node's made-up tree: alice holds what the node claims.
        let forged = try ProofQueryAttackTests.Tree([(asked, [9, 9, 9])])
        let answer = try forged.answer(key: asked, value: [9, 9, 9])
        // Against the node's own (forged) root it verifies: that is all plain --verify can show.
        #expect(QueryCommand.StateProofQuery.check(answer, key: asked, height: 7, stateRoot: forged.root))
        // Against the trusted root it does not, and no node is contacted for a root (nothing listens on this URL).
        let q = try QueryCommand.StateProofQuery.parse(["--rpc", "http://127.0.0.1:1/", "--block", "7", "--state-root", real.root.hex, "0x00"])
        #expect(q.trustedRoot == real.root)
        let verified = try await QueryCommand.StateProofQuery.verify(answer, key: asked, height: 7, trustedRoot: q.trustedRoot, rpc: q.rpc)
        #expect(!verified, "a forged proof verified against the trusted root")
        // A trusted root needs the height it is from.
        #expect(throws: (any Error).self) { try QueryCommand.StateProofQuery.parse(["--state-root", real.root.hex, "0x00"]) }
    }
}

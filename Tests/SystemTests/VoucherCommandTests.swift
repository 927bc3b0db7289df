import Foundation
import Ledger
import Node
import Primitives
import Testing
import TestSupport

/// The client's and the worker's side of batched claims from the command line: `tx sign-voucher` prints a voucher
/// signed by the escrow owner, and `tx claim-usage-batch` turns several such vouchers into one transaction signed by
/// their payee, refusing a voucher for another payee or chain before signing anything.
@Suite struct VoucherCommandTests {
    /// Runs `sharechain arguments` to completion; its status and its output (stdout and stderr).
    func run(_ arguments: [String], in dir: TempDir) async throws -> (Int32, String) {
        let out = dir.file("out-\(UUID().uuidString).txt")
        let p = try launchFromRoot(try Paths.sharechain(), arguments, output: out)
        let exited = await eventually(.seconds(120), every: .milliseconds(50)) { !p.isRunning }
        if !exited { p.terminate() }
        #expect(exited, "sharechain \(arguments.joined(separator: " ")) did not finish")
        return (exited ? p.terminationStatus : -1, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test func signedVouchersBecomeOneBatchClaimOfTheirPayee() async throws {
        let dir = TempDir("vouchers")
        try "batch\n".write(toFile: dir.file("pass.txt"), atomically: true, encoding: .utf8)
        // Kept as an operator should (a passphrase file others can read is warned about, on standard error, which
        // `run` captures with the output).
        #expect(chmod(dir.file("pass.txt"), 0o600) == 0)
        for name in ["owner-1", "owner-2", "worker"] {
            let (status, output) = try await run(["keys", "new", "-o", dir.file("\(name).key"), "--passphrase-file", dir.file("pass.txt"),
                                                  "--scrypt-log-n", "10"], in: dir)
            #expect(status == 0, "\(output)")
        }
        let pass = KeyPassphrase(file: dir.file("pass.txt"), prompt: false)
        let owner1 = try KeyFile.load(path: dir.file("owner-1.key"), passphrase: pass).0
        let owner2 = try KeyFile.load(path: dir.file("owner-2.key"), passphrase: pass).0
        let worker = try KeyFile.load(path: dir.file("worker.key"), passphrase: pass).0
        let chainId = SHA256.hash(Array("voucher-command-test".utf8))
        let escrow1 = LedgerIds.escrow(owner: owner1.publicKey, nonce: 0), escrow2 = LedgerIds.escrow(owner: owner2.publicKey, nonce: 3)

        func sign(_ owner: String, _ escrow: Hash32, payee: PublicKey, input: UInt64) async throws -> String {
            let (status, output) = try await run(["tx", "sign-voucher", "--key", dir.file("\(owner).key"), "--passphrase-file", dir.file("pass.txt"),
                                                  "--chain-id", "0x" + chainId.hex, "--escrow", "0x" + escrow.hex, "--payee", "0x" + payee.hex,
                                                  "--shard", "1", "--window", "7", "--input-tokens", "\(input)", "--output-tokens", "5"], in: dir)
            #expect(status == 0, "\(output)")
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let v1 = try await sign("owner-1", escrow1, payee: worker.publicKey, input: 100)
        let v2 = try await sign("owner-2", escrow2, payee: worker.publicKey, input: 40)
        let decoded1 = try UsageVoucher(canonicalEncoding: try Hex.decode(v1))
        #expect(decoded1.escrowId == escrow1 && decoded1.payee == worker.publicKey && decoded1.shard == 1 && decoded1.window == 7)
        #expect(decoded1.cumulativeInputTokens == 100 && decoded1.cumulativeOutputTokens == 5)
        #expect(decoded1.chainId == chainId)
        // The owner's BIP-340 signature over the voucher, and nobody else's.
        #expect(VoucherSignature(owner: owner1.publicKey, digest: decoded1.signingHash, signature: decoded1.signature).isValid)
        #expect(!VoucherSignature(owner: worker.publicKey, digest: decoded1.signingHash, signature: decoded1.signature).isValid)

        let txArguments = ["tx", "claim-usage-batch", "--key", dir.file("worker.key"), "--passphrase-file", dir.file("pass.txt"),
                           "--chain-id", "0x" + chainId.hex, "--nonce", "4", "--fee", "9000"]
        let (status, output) = try await run(txArguments + ["--voucher", v1, "--voucher", v2], in: dir)
        #expect(status == 0, "\(output)")
        let printed = try JSONParser().parse(Array(output.utf8))
        let raw = try #require(printed["hex"]?.string)
        let tx = try SignedTransaction(canonicalEncoding: try Hex.decode(raw))
        #expect(tx.hasValidSignature)
        #expect(tx.transaction.sender == worker.publicKey && tx.transaction.nonce == 4 && tx.transaction.fee == 9000)
        guard case .claimUsageBatch(let vouchers) = tx.transaction.body else { Issue.record("not a batch claim: \(tx.transaction.body.kindName)"); return }
        let expected: [[UInt8]] = [try Hex.decode(v1), try Hex.decode(v2)]
        #expect(vouchers.map(\.canonicalEncoding) == expected)

        // Refused before signing: a voucher paying another key, and a voucher of another chain.
        let other = try await sign("owner-1", escrow1, payee: owner2.publicKey, input: 10)
        let (refusedStatus, refused) = try await run(txArguments + ["--voucher", v1, "--voucher", other], in: dir)
        #expect(refusedStatus != 0 && refused.contains("--voucher #2 pays"), "\(refused)")
        let (chainStatus, wrongChain) = try await run(["tx", "claim-usage-batch", "--key", dir.file("worker.key"), "--passphrase-file",
                                                       dir.file("pass.txt"), "--chain-id", "0x" + SHA256.hash([1]).hex, "--nonce", "4",
                                                       "--fee", "9000", "--voucher", v1], in: dir)
        #expect(chainStatus != 0 && wrongChain.contains("is for chain"), "\(wrongChain)")
    }

    /// The holder's side of protocol 5 from the command line: the worker signs a hop receipt for a leaf (`tx
    /// sign-hop-receipt`), and any account turns it into a `hopChallenge` transaction (the holder's own, or one that keeps
    /// the client's keys off the chain); a receipt of another chain is refused before anything is signed.
    @Test func aSignedHopReceiptBecomesAChallengeFromAnyAccount() async throws {
        let dir = TempDir("hop-receipts")
        try "hop\n".write(toFile: dir.file("pass.txt"), atomically: true, encoding: .utf8)
        // Kept as an operator should (a passphrase file others can read is warned about, on standard error, which
        // `run` captures with the output).
        #expect(chmod(dir.file("pass.txt"), 0o600) == 0)
        for name in ["worker", "holder", "other"] {
            let (status, output) = try await run(["keys", "new", "-o", dir.file("\(name).key"), "--passphrase-file", dir.file("pass.txt"),
                                                  "--scrypt-log-n", "10"], in: dir)
            #expect(status == 0, "\(output)")
        }
        let pass = KeyPassphrase(file: dir.file("pass.txt"), prompt: false)
        let worker = try KeyFile.load(path: dir.file("worker.key"), passphrase: pass).0
        let holder = try KeyFile.load(path: dir.file("holder.key"), passphrase: pass).0
        let chainId = SHA256.hash(Array("hop-command-test".utf8))
        let leaf = PassLeaf(index: 3, shard: 1, positionOffset: 16, tokenCount: 4, inputHash: SHA256.hash([1]), outputHash: SHA256.hash([2]))
        func sign(holder h: PublicKey, chain: Hash32) async throws -> String {
            let (status, output) = try await run(["tx", "sign-hop-receipt", "--key", dir.file("worker.key"), "--passphrase-file", dir.file("pass.txt"),
                                                  "--chain-id", "0x" + chain.hex, "--holder", "0x" + h.hex, "--pool", "0", "--window", "5",
                                                  "--leaf", "0x" + leaf.canonicalEncoding.hex], in: dir)
            #expect(status == 0, "\(output)")
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let receipt = try await sign(holder: holder.publicKey, chain: chainId)
        let decoded = try HopReceipt(canonicalEncoding: try Hex.decode(receipt))
        var unsigned = decoded
        unsigned.signature = .zero
        #expect(unsigned == HopReceipt(leaf: leaf, pool: 0, window: 5, worker: worker.publicKey, holder: holder.publicKey))
        #expect(worker.publicKey.verify(decoded.signature, digest: decoded.signingHash(chainId: chainId)))

        let txArguments = ["tx", "hop-challenge", "--passphrase-file", dir.file("pass.txt"), "--chain-id", "0x" + chainId.hex,
                           "--nonce", "2", "--fee", "5000"]
        let (status, output) = try await run(txArguments + ["--key", dir.file("holder.key"), "--receipt", receipt], in: dir)
        #expect(status == 0, "\(output)")
        let tx = try SignedTransaction(canonicalEncoding: try Hex.decode(try #require(try JSONParser().parse(Array(output.utf8))["hex"]?.string)))
        #expect(tx.hasValidSignature && tx.transaction.sender == holder.publicKey)
        #expect(tx.transaction.body == .hopChallenge(receipt: decoded))
        // Another account sends the same challenge: the chain asks the holder for nothing.
        let other = try KeyFile.load(path: dir.file("other.key"), passphrase: pass).0
        let (otherStatus, otherOutput) = try await run(txArguments + ["--key", dir.file("other.key"), "--receipt", receipt], in: dir)
        #expect(otherStatus == 0, "\(otherOutput)")
        let otherTx = try SignedTransaction(canonicalEncoding: try Hex.decode(try #require(try JSONParser().parse(Array(otherOutput.utf8))["hex"]?.string)))
        #expect(otherTx.hasValidSignature && otherTx.transaction.sender == other.publicKey)
        #expect(otherTx.transaction.body == .hopChallenge(receipt: decoded))
        // Refused before signing: a receipt signed for another chain.
        let otherChain = try await sign(holder: holder.publicKey, chain: SHA256.hash([9]))
        let (wrongChain, refusedChain) = try await run(txArguments + ["--key", dir.file("holder.key"), "--receipt", otherChain], in: dir)
        #expect(wrongChain != 0 && refusedChain.contains("not signed by its worker"), "\(refusedChain)")
    }
}

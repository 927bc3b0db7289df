import ArgumentParser
import Consensus
import Foundation
import Ledger
import Node
import Primitives
import RPC

/// Options every `sharechain tx` kind shares: who signs, for which chain, nonce, fee, and whether to submit.
struct TxOptions: ParsableArguments {
    @Option(help: "Key file of the sender (signs the transaction).") var key: String
    @Option(help: "File holding the passphrase of encrypted key files (else the environment variable SHARECHAIN_PASSPHRASE, else a prompt).")
    var passphraseFile: String?
    @Option(help: "JSON-RPC URL of a node: chain id, nonce and fee come from it (default with --submit: http://127.0.0.1:8645/).")
    var rpc: String?
    @Option(help: "Chain id (0x hex), for offline signing without --rpc.") var chainId: String?
    @Option(help: "Genesis document, for offline signing without --rpc (chain id, address prefix, minimum fee).") var genesis: String?
    @Option(help: "Nonce (default: the node's next nonce for the sender).") var nonce: UInt64?
    @Option(help: "Fee in base units (default: the node's suggested fee with --rpc, the minimum for the size offline).") var fee: UInt64?
    @Flag(help: "Submit to the node (tx_sendRaw) instead of only printing.") var submit = false
    @Flag(help: "With --submit: wait until the transaction is in a block and print its receipt; exit 1 if it failed there (accepted by the node is not the same as succeeded: a transaction can fail in its block and still pay its fee).")
    var wait = false
    @Option(help: "With --wait: seconds to wait for the block.") var waitSeconds: UInt64 = 120

    var rpcURL: String? { rpc ?? (submit ? "http://127.0.0.1:8645/" : nil) }

    func validate() throws {
        if wait && !submit { throw ValidationError("--wait needs --submit") }
    }

    func client() throws -> RPCClient? {
        guard let url = rpcURL else { return nil }
        do { return try RPCClient(url: url) } catch { throw ValidationError("--rpc: \(error)") }
    }

    /// The signing key and the address prefix of its key file.
    func signer() throws -> (PrivateKey, String) {
        let (k, file) = try loadKey(key, passphraseFile: passphraseFile)
        let hrp = (try? Bech32.decode(file.address).hrp) ?? "shr"
        return (k, hrp)
    }
}

/// Parses `validator` or `worker:POOL`.
func parseRole(_ s: String) throws -> StakeRole {
    if s == "validator" { return .validator }
    if s.hasPrefix("worker:"), let p = UInt32(s.dropFirst("worker:".count)) { return .worker(pool: p) }
    throw ValidationError("role must be 'validator' or 'worker:POOL', not '\(s)'")
}

func parseHash(_ s: String, _ what: String) throws -> Hash32 {
    do { return try Hash32(hex: s) } catch { throw ValidationError("\(what): \(error)") }
}

func parseKey(_ s: String, hrp: String, _ what: String) throws -> PublicKey {
    if s.hasPrefix("0x") { do { return try PublicKey(hex: s) } catch { throw ValidationError("\(what): \(error)") } }
    do { return try Address.decode(s, hrp: hrp) } catch { throw ValidationError("\(what): \(error)") }
}

/// The bytes of an `--input` tensor file.
func readInputFile(_ path: String) throws -> [UInt8] {
    do { return Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch { throw ValidationError("--input: \(error.localizedDescription)") }
}

func parseAmount(_ s: String, _ what: String) throws -> Amount {
    guard let a = Amount(decimal: s) else { throw ValidationError("\(what) must be a decimal amount in base units") }
    return a
}

/// Signs `body` from the options and prints it (hash, hex, decoded JSON), or submits it.
func finishTransaction(_ o: TxOptions, _ makeBody: (_ key: PrivateKey, _ hrp: String, _ chainId: Hash32) throws -> TxBody) async throws {
    let (key, hrp) = try o.signer()
    let client = try o.client()
    func call(_ method: String, _ params: JSONObject) async throws -> JSON {
        guard let client else { throw ValidationError("\(method) needs --rpc") }
        do { return try await client.call(method, .object(params)) } catch {
            FileHandle.standardError.write(Data("\(method): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
    var genesis: Genesis?
    if let g = o.genesis { genesis = try GenesisDocument.load(path: g) }
    let chainId: Hash32
    if let c = o.chainId { chainId = try parseHash(c, "--chain-id") }
    else if let genesis { chainId = genesis.chainId }
    else if client != nil {
        guard let s = try await call("node_chainId", [:]).string else { throw ValidationError("node_chainId: not a string") }
        chainId = try parseHash(s, "node_chainId")
    } else {
        throw ValidationError("give --rpc (or --chain-id / --genesis to sign offline)")
    }
    let body = try makeBody(key, genesis?.addressPrefix ?? hrp, chainId)
    let nonce: UInt64
    if let n = o.nonce { nonce = n } else if client != nil {
        let account = try await call("account_get", ["address": .string("0x" + key.publicKey.hex)])
        guard let n = account["pendingNonce"]?.uint64 else { throw ValidationError("account_get: no pendingNonce") }
        nonce = n
    } else {
        throw ValidationError("give --nonce to sign offline")
    }
    // The fee is a fixed-width field, so the size does not depend on its value.
    let size = Transaction(chainId: chainId, sender: key.publicKey, nonce: nonce, fee: .zero, body: body).signed(by: key).encodedSize
    let fee: Amount
    if let f = o.fee { fee = Amount(f) } else if client != nil {
        let estimate = try await call("tx_estimateFee", ["size": .int(size)])
        guard let s = estimate["suggestedFee"]?.string, let a = Amount(decimal: s) else { throw ValidationError("tx_estimateFee: no suggestedFee") }
        fee = a
    } else if let genesis {
        fee = Amount(genesis.ledger.minFeePerByte.multipliedReportingOverflow(by: UInt64(size)).partialValue)
    } else {
        throw ValidationError("give --fee (or --genesis) to sign offline")
    }
    let tx = Transaction(chainId: chainId, sender: key.publicKey, nonce: nonce, fee: fee, body: body).signed(by: key)
    let hex = "0x" + tx.canonicalEncoding.hex
    let render = Render(hrp: genesis?.addressPrefix ?? hrp)
    if o.submit {
        let result = try await call("tx_sendRaw", ["transaction": .string(hex)])
        guard o.wait, let client else {
            printJSON(.object(["submitted": result, "transaction": .object(render.transaction(tx, location: nil))]))
            return
        }
        let receipt = try await waitForReceipt(client, tx.id, seconds: o.waitSeconds)
        printJSON(.object(["submitted": result, "transaction": .object(render.transaction(tx, location: nil)), "receipt": receipt]))
        if receipt["status"]?.string != "success" {
            let reason = receipt["failure"]?["message"]?.string ?? receipt["failure"]?["reason"]?.string ?? "unknown"
            FileHandle.standardError.write(Data("transaction \(tx.id.hex) failed in block \(receipt["blockHeight"]?.uint64 ?? 0): \(reason) (its fee was paid)\n".utf8))
            throw ExitCode(1)
        }
    } else {
        printJSON(.object(["hash": render.hash(tx.id), "hex": .string(hex), "transaction": .object(render.transaction(tx, location: nil))]))
    }
}

/// Polls `tx_getReceipt` until the transaction is in a block (the node answers not-found while it is pending), for at
/// most `seconds`; a transaction the node no longer holds (dropped, replaced) ends the wait with an error.
func waitForReceipt(_ client: RPCClient, _ id: Hash32, seconds: UInt64) async throws -> JSON {
    let deadline = ContinuousClock.now + .seconds(Int64(clamping: seconds))
    var notPending = 0
    while true {
        do { return try await client.call("tx_getReceipt", .object(["hash": .string("0x" + id.hex)])) } catch {
            guard case .rpc(let e) = error, e.code == RPCError.notFoundCode else {
                FileHandle.standardError.write(Data("tx_getReceipt: \(error)\n".utf8))
                throw ExitCode(1)
            }
            // Three answers in a row: a single one may fall between the block's commit and the mempool's cleanup.
            if case .bool(false)? = e.data?["pending"] { notPending += 1 } else { notPending = 0 }
            if notPending >= 3 {
                FileHandle.standardError.write(Data("transaction \(id.hex) is neither in a block nor pending: the node dropped it (replaced or evicted)\n".utf8))
                throw ExitCode(1)
            }
        }
        guard ContinuousClock.now < deadline else {
            FileHandle.standardError.write(Data("transaction \(id.hex) is still pending after \(seconds) s\n".utf8))
            throw ExitCode(1)
        }
        try await Task.sleep(for: .milliseconds(500))
    }
}

/// `sharechain tx ...`: build and sign any transaction from a key file; print it or submit it.
struct TxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx",
        abstract: "Build and sign a transaction from a key file; print its hex and JSON, or --submit it to a node.",
        discussion: """
            With --rpc the chain id, the sender's next nonce and the suggested fee (tx_estimateFee) come from the node; offline, give \
            --chain-id or --genesis, --nonce and --fee (or --genesis for the minimum fee). Amounts are base units.

            Example: sharechain tx transfer --key alice.key --to shr1... --amount 1000 --rpc http://127.0.0.1:8645/ --submit
            """,
        subcommands: [Transfer.self, Bond.self, Unbond.self, EscrowOpen.self, EscrowTopUp.self, EscrowAllocate.self, EscrowClose.self,
                      ClaimUsage.self, ClaimUsageBatch.self, SignVoucher.self, CommitShares.self, RevealTicket.self,
                      SignHopReceipt.self, HopChallenge.self, AnswerHopChallenge.self, FraudCommit.self, FraudReveal.self, ClaimPayout.self,
                      DoubleSignEvidence.self, Unjail.self])

    struct Transfer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send tokens.")
        @OptionGroup var options: TxOptions
        @Option(help: "Recipient address or 0x key.") var to: String
        @Option(help: "Amount in base units.") var amount: String
        func run() async throws {
            try await finishTransaction(options) { _, hrp, _ in
                .transfer(to: try parseKey(to, hrp: hrp, "--to"), amount: try parseAmount(amount, "--amount"))
            }
        }
    }

    struct Bond: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bond stake as a validator or as a worker of a pool.",
            discussion: "A new validator must register a RANDAO commitment: --randao-commitment, or --randao-generation to derive it from the key.")
        @OptionGroup var options: TxOptions
        @Option(help: "validator or worker:POOL.") var role: String
        @Option(help: "Amount in base units (may be 0 to only replace a validator's RANDAO commitment).") var amount: String
        @Option(help: "RANDAO hash-chain tip (0x hex).") var randaoCommitment: String?
        @Option(help: "Derive the RANDAO commitment from the key's hash chain of this generation.") var randaoGeneration: UInt32?
        @Option(help: "Length of that hash chain.") var randaoLength: Int = ValidatorRandao.defaultLength
        func validate() throws {
            guard (1...KeyFile.maxRandaoChainLength).contains(randaoLength) else {
                throw ValidationError("--randao-length must be in 1...\(KeyFile.maxRandaoChainLength)")
            }
        }
        func run() async throws {
            try await finishTransaction(options) { key, _, _ in
                var commitment: Hash32?
                if let c = randaoCommitment { commitment = try parseHash(c, "--randao-commitment") }
                else if let g = randaoGeneration { commitment = ValidatorRandao.chain(for: key, generation: g, length: randaoLength).commitment }
                return .bond(role: try parseRole(role), amount: try parseAmount(amount, "--amount"), randaoCommitment: commitment)
            }
        }
    }

    struct Unbond: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start unbonding stake (paid back after the unbonding period).")
        @OptionGroup var options: TxOptions
        @Option(help: "validator or worker:POOL.") var role: String
        @Option(help: "Amount in base units.") var amount: String
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in .unbond(role: try parseRole(role), amount: try parseAmount(amount, "--amount")) }
        }
    }

    struct EscrowOpen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "escrow-open", abstract: "Open an escrow for a pool.")
        @OptionGroup var options: TxOptions
        @Option(help: "Pool id the escrow pays workers of.") var pool: UInt32
        @Option(help: "Deposit in base units.") var amount: String
        @Option(help: "Height after which the owner may close it.") var expiry: UInt64
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in .escrowOpen(pool: pool, amount: try parseAmount(amount, "--amount"), expiryHeight: expiry) }
        }
    }

    struct EscrowTopUp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "escrow-top-up", abstract: "Add funds to an escrow, optionally extending it.")
        @OptionGroup var options: TxOptions
        @Option(help: "Escrow id (0x hex).") var escrow: String
        @Option(help: "Amount in base units.") var amount: String
        @Option(help: "New expiry height.") var expiry: UInt64?
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in
                .escrowTopUp(escrowId: try parseHash(escrow, "--escrow"), amount: try parseAmount(amount, "--amount"), newExpiryHeight: expiry)
            }
        }
    }

    struct EscrowClose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "escrow-close",
            abstract: "Close an expired escrow: the first call starts the unlock period, a call after it refunds the rest.")
        @OptionGroup var options: TxOptions
        @Option(help: "Escrow id (0x hex).") var escrow: String
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in .escrowClose(escrowId: try parseHash(escrow, "--escrow")) }
        }
    }

    struct EscrowAllocate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "escrow-allocate", abstract: "Reserve part of an escrow for one payee (a worker can claim only from its allocation).")
        @OptionGroup var options: TxOptions
        @Option(help: "Escrow id (0x hex).") var escrow: String
        @Option(help: "Payee (worker) address or 0x key.") var payee: String
        @Option(help: "Amount in base units.") var amount: String
        func run() async throws {
            try await finishTransaction(options) { _, hrp, _ in
                .escrowAllocate(escrowId: try parseHash(escrow, "--escrow"), payee: try parseKey(payee, hrp: hrp, "--payee"),
                                amount: try parseAmount(amount, "--amount"))
            }
        }
    }

    struct ClaimUsage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "claim-usage",
            abstract: "Claim a cumulative usage voucher (signed by the escrow's owner) as its payee.")
        @OptionGroup var options: TxOptions
        @OptionGroup var fields: VoucherFields
        @Option(help: "Key file of the escrow owner, who signs the voucher.") var ownerKey: String?
        @Option(help: "Or the owner's voucher signature (0x hex, 64 bytes).") var voucherSignature: String?
        func run() async throws {
            try await finishTransaction(options) { sender, _, chainId in
                var v = try fields.voucher(chainId: chainId, payee: sender.publicKey)
                if let ownerKey { return .claimUsage(voucher: v.signed(by: try loadKey(ownerKey, passphraseFile: options.passphraseFile).0)) }
                guard let s = voucherSignature else { throw ValidationError("give --owner-key or --voucher-signature") }
                do { v.signature = try Signature(hex: s) } catch { throw ValidationError("--voucher-signature: \(error)") }
                return .claimUsage(voucher: v)
            }
        }
    }

    struct ClaimUsageBatch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "claim-usage-batch",
            abstract: "Claim several signed usage vouchers at once as their payee: one transaction, all or nothing.",
            discussion: "Each --voucher is a voucher's canonical encoding as `tx sign-voucher` prints it (the escrow owner signs it). "
                + "Each is charged exactly as its own claim-usage would be; if one fails, none is charged and the fee is paid.")
        @OptionGroup var options: TxOptions
        @Option(name: .customLong("voucher"), help: "A signed voucher (0x hex, 188 bytes); repeat for each, 1 to \(TxLimits.maxClaimBatch).")
        var vouchers: [String]
        func run() async throws {
            guard (1...TxLimits.maxClaimBatch).contains(vouchers.count) else {
                throw ValidationError("give 1 to \(TxLimits.maxClaimBatch) --voucher options (got \(vouchers.count))")
            }
            try await finishTransaction(options) { sender, hrp, chainId in
                .claimUsageBatch(vouchers: try vouchers.enumerated().map { i, hex in
                    let v: UsageVoucher
                    do { v = try UsageVoucher(canonicalEncoding: try Hex.decode(hex)) } catch { throw ValidationError("--voucher #\(i + 1): \(error)") }
                    guard v.payee == sender.publicKey else {
                        throw ValidationError("--voucher #\(i + 1) pays \(Address.encode(v.payee, hrp: hrp)), not the sender \(Address.encode(sender.publicKey, hrp: hrp))")
                    }
                    guard v.chainId == chainId else { throw ValidationError("--voucher #\(i + 1) is for chain \(v.chainId), not \(chainId)") }
                    return v
                })
            }
        }
    }

    struct SignVoucher: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-voucher",
            abstract: "Sign a cumulative usage voucher as the escrow's owner and print its encoding (not a transaction).",
            discussion: "The payee claims it with claim-usage-batch --voucher <printed hex> (or several at once).")
        @Option(help: "Key file of the escrow owner.") var key: String
        @Option(help: "File holding the passphrase of an encrypted key file.") var passphraseFile: String?
        @Option(help: "Chain id (0x hex).") var chainId: String
        @Option(help: "Payee (worker) address or 0x key.") var payee: String
        @Option(help: "Address prefix of --payee when it is an address.") var hrp: String = "shr"
        @OptionGroup var fields: VoucherFields
        func run() async throws {
            let owner = try loadKey(key, passphraseFile: passphraseFile).0
            let v = try fields.voucher(chainId: try parseHash(chainId, "--chain-id"), payee: try parseKey(payee, hrp: hrp, "--payee"))
            print("0x" + Hex.encode(v.signed(by: owner).canonicalEncoding))
        }
    }

    /// A voucher's escrow, shard, window and cumulative counters, as `claim-usage` and `sign-voucher` take them.
    struct VoucherFields: ParsableArguments {
        @Option(help: "Escrow id (0x hex).") var escrow: String
        @Option(help: "Shard the tokens were served on.") var shard: UInt32
        @Option(help: "Window the voucher pays into.") var window: UInt64
        @Option(help: "Cumulative input tokens of this (escrow, payee, shard, window).") var inputTokens: UInt64
        @Option(help: "Cumulative output tokens of this (escrow, payee, shard, window).") var outputTokens: UInt64

        /// The unsigned voucher for `payee` on `chainId`.
        func voucher(chainId: Hash32, payee: PublicKey) throws -> UsageVoucher {
            UsageVoucher(chainId: chainId, escrowId: try parseHash(escrow, "--escrow"), payee: payee, shard: shard, window: window,
                         cumulativeInputTokens: inputTokens, cumulativeOutputTokens: outputTokens)
        }
    }

    struct CommitShares: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "commit-shares", abstract: "Commit a window's passes (sum-tree root).")
        @OptionGroup var options: TxOptions
        @Option(help: "Pool id.") var pool: UInt32
        @Option(help: "Window the passes were served in.") var window: UInt64
        @Option(help: "Shard index.") var shard: UInt32
        @Option(help: "Leaves of the sum tree.") var leaves: UInt32
        @Option(help: "Token total (the root's sum).") var tokens: UInt64
        @Option(help: "Sum-tree root hash (0x hex).") var root: String
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in
                .commitShares(pool: pool, window: window, shard: shard, leafCount: leaves, tokenTotal: tokens, root: try parseHash(root, "--root"))
            }
        }
    }

    struct RevealTicket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reveal-ticket",
            abstract: "Reveal a sampled leaf: its sum-tree proof, its neighbours' proofs and the input tensor (TNS1 file).")
        @OptionGroup var options: TxOptions
        @Option(help: "Ticket id (0x hex).") var ticket: String
        @Option(help: "The leaf and its path: canonical LeafProof encoding (0x hex).") var leaf: String
        @Option(help: "The left neighbour's LeafProof (absent for the first leaf).") var left: String?
        @Option(help: "The right neighbour's LeafProof (absent for the last leaf).") var right: String?
        @Option(help: "Input tensor file (TNS1); its tensor hash is the leaf's input hash.") var input: String
        func run() async throws {
            let bytes = try readInputFile(input)
            func proof(_ s: String, _ what: String) throws -> LeafProof {
                do { return try LeafProof(canonicalEncoding: try Hex.decode(s)) } catch { throw ValidationError("\(what): \(error)") }
            }
            try await finishTransaction(options) { _, _, _ in
                .revealTicket(ticketId: try parseHash(ticket, "--ticket"), leaf: try proof(leaf, "--leaf"),
                              left: try left.map { try proof($0, "--left") }, right: try right.map { try proof($0, "--right") }, input: bytes)
            }
        }
    }

    struct SignHopReceipt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-hop-receipt",
            abstract: "Sign a hop receipt for a served pass as its worker and print its encoding (not a transaction).",
            discussion: "The receipt names the leaf the worker commits for the pass (Specs/economics.md §4.1); whoever holds it "
                + "may challenge it with hop-challenge --receipt <printed hex> after the window's commit deadline.")
        @Option(help: "Key file of the worker.") var key: String
        @Option(help: "File holding the passphrase of an encrypted key file.") var passphraseFile: String?
        @Option(help: "Chain id (0x hex).") var chainId: String
        @Option(help: "Holder address or 0x key: names who the pass was served to (a key of the client's choosing; a fresh one per request keeps its receipts unlinked).")
        var holder: String
        @Option(help: "Address prefix of --holder when it is an address.") var hrp: String = "shr"
        @Option(help: "Pool id.") var pool: UInt32
        @Option(help: "Window whose tree holds the pass.") var window: UInt64
        @Option(help: "The leaf: canonical PassLeaf encoding (0x hex), as committed (its output field blinded in a pool with checkers).")
        var leaf: String
        func run() async throws {
            let worker = try loadKey(key, passphraseFile: passphraseFile).0
            let l: PassLeaf
            do { l = try PassLeaf(canonicalEncoding: try Hex.decode(leaf)) } catch { throw ValidationError("--leaf: \(error)") }
            let r = HopReceipt(leaf: l, pool: pool, window: window, worker: worker.publicKey, holder: try parseKey(holder, hrp: hrp, "--holder"))
            print("0x" + Hex.encode(r.signed(by: worker, chainId: try parseHash(chainId, "--chain-id")).canonicalEncoding))
        }
    }

    struct HopChallenge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hop-challenge",
            abstract: "Challenge a worker's hop receipt (locks the hop bond); the worker must show the pass's leaf.",
            discussion: "Accepted in the blocks right after the receipt window's commit deadline (max(beaconDelay, beaconMaxDelay) of them). "
                + "Any account may send it, not only the receipt's holder: the sender pays the bond and is what the chain shows "
                + "next to the pass once it is answered, so a client that keeps its escrow key apart from its passes challenges "
                + "from another account. An answer pays the bond to the worker; no answer by the deadline convicts it and "
                + "returns the bond to the sender.")
        @OptionGroup var options: TxOptions
        @Option(help: "The signed receipt (0x hex, as sign-hop-receipt prints it).") var receipt: String
        func run() async throws {
            let r: HopReceipt
            do { r = try HopReceipt(canonicalEncoding: try Hex.decode(receipt)) } catch { throw ValidationError("--receipt: \(error)") }
            try await finishTransaction(options) { _, _, chainId in
                guard r.worker.verify(r.signature, digest: r.signingHash(chainId: chainId)) else {
                    throw ValidationError("the receipt is not signed by its worker for chain \(chainId)")
                }
                return .hopChallenge(receipt: r)
            }
        }
    }

    struct AnswerHopChallenge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "answer-hop-challenge",
            abstract: "Answer a hop challenge as the worker: the receipt's leaf in one of its commitments and the pass's input (TNS1 file).",
            discussion: "In a pool with checkers the answer carries no input (the chain refuses one there, code 98 inputInClear): "
                + "the pool keeps pass inputs off chain.")
        @OptionGroup var options: TxOptions
        @Option(help: "Challenge id (0x hex: the receipt's hash, as hop_list lists it).") var challenge: String
        @Option(help: "The commitment holding the leaf (0x hex).") var commitment: String
        @Option(help: "The leaf and its path: canonical LeafProof encoding (0x hex).") var leaf: String
        @Option(help: "Input tensor file (TNS1); its tensor hash is the leaf's input hash. Omit it in a pool with checkers.")
        var input: String?
        func run() async throws {
            let bytes = try input.map(readInputFile) ?? []
            let proof: LeafProof
            do { proof = try LeafProof(canonicalEncoding: try Hex.decode(leaf)) } catch { throw ValidationError("--leaf: \(error)") }
            try await finishTransaction(options) { _, _, _ in
                .answerHopChallenge(challengeId: try parseHash(challenge, "--challenge"), commitmentId: try parseHash(commitment, "--commitment"),
                                    leaf: proof, input: bytes)
            }
        }
    }

    struct FraudCommit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fraud-commit",
            abstract: "Commit a blind fraud claim against a ticket (locks the pool's bond); prints the salt to reveal it with.")
        @OptionGroup var options: TxOptions
        @Option(help: "Ticket id (0x hex).") var ticket: String
        @Option(help: "Pool of the ticket.") var pool: UInt32
        @Option(help: "Salt (0x hex, 32 bytes); random when absent. Keep it: the reveal needs it.") var salt: String?
        func run() async throws {
            let s = try salt.map { try parseHash($0, "--salt") } ?? SecureRandom.hash32()
            print("salt: 0x\(s.hex)")
            try await finishTransaction(options) { sender, _, _ in
                .fraudCommit(claim: fraudClaimHash(ticketId: try parseHash(ticket, "--ticket"), prover: sender.publicKey, salt: s), pool: pool)
            }
        }
    }

    struct FraudReveal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fraud-reveal",
            abstract: "Open a committed fraud claim (in a later block than its commitment) with the ticket's input tensor.")
        @OptionGroup var options: TxOptions
        @Option(help: "Ticket id (0x hex).") var ticket: String
        @Option(help: "The salt the claim was committed with (0x hex).") var salt: String
        @Option(help: "The ticket's input tensor file (TNS1), as revealed.") var input: String
        func run() async throws {
            let bytes = try readInputFile(input)
            try await finishTransaction(options) { _, _, _ in
                .fraudReveal(ticketId: try parseHash(ticket, "--ticket"), salt: try parseHash(salt, "--salt"), input: bytes)
            }
        }
    }

    struct ClaimPayout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "claim-payout", abstract: "Pay out a worker's settled window (anyone may submit; unpaid work is refunded to its payers).")
        @OptionGroup var options: TxOptions
        @Option(help: "Pool id.") var pool: UInt32
        @Option(help: "Window.") var window: UInt64
        @Option(help: "Worker address or 0x key (default: the sender).") var worker: String?
        func run() async throws {
            try await finishTransaction(options) { sender, hrp, _ in
                .claimPayout(pool: pool, window: window, worker: try worker.map { try parseKey($0, hrp: hrp, "--worker") } ?? sender.publicKey)
            }
        }
    }

    struct DoubleSignEvidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "double-sign-evidence", abstract: "Report two signed headers of one proposer for one slot.")
        @OptionGroup var options: TxOptions
        @Option(help: "First signed header (0x hex, canonical encoding).") var headerA: String
        @Option(help: "Second signed header.") var headerB: String
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in
                do { return .doubleSignEvidence(headerA: try Hex.decode(headerA), headerB: try Hex.decode(headerB)) } catch {
                    throw ValidationError("headers: \(error)")
                }
            }
        }
    }

    struct Unjail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return to the active set after the jail period.")
        @OptionGroup var options: TxOptions
        @Option(help: "validator or worker:POOL.") var role: String
        func run() async throws {
            try await finishTransaction(options) { _, _, _ in .unjail(role: try parseRole(role)) }
        }
    }
}

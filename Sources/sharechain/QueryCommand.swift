import Primitives
import ArgumentParser
import Foundation
import Ledger
import RPC
import StateTree

/// Where the node's JSON-RPC is.
struct RPCOptions: ParsableArguments {
    @Option(help: "JSON-RPC URL of a running node.") var rpc = "http://127.0.0.1:8645/"

    func client() throws -> RPCClient {
        do { return try RPCClient(url: rpc) } catch { throw ValidationError("--rpc: \(error)") }
    }

    /// Calls a method and returns the result; RPC errors exit with status 1 and the error on stderr.
    func call(_ method: String, _ params: JSONObject) async throws -> JSON {
        do { return try await client().call(method, .object(params)) } catch {
            FileHandle.standardError.write(Data("\(method): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Page options shared by list queries.
struct PageOptions: ParsableArguments {
    @Option(help: "Items per page (1-100).") var limit: Int?
    @Option(help: "Continue after this cursor (nextCursor of the previous page).") var cursor: String?

    func apply(_ p: inout JSONObject) {
        if let limit { p["limit"] = .int(limit) }
        if let cursor { p["cursor"] = .string(cursor) }
    }
}

func printJSON(_ v: JSON) { print(JSONWriter.pretty(v), terminator: "") }

/// A block selector argument: a height or latest/finalized/earliest.
func blockSelector(_ s: String) -> JSON { UInt64(s).map { .int($0) } ?? .string(s) }

/// `sharechain query ...`: read a running node through its JSON-RPC (Specs/rpc.md), printing JSON.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Query a running node over JSON-RPC (--rpc URL) and print the answer as JSON.",
        discussion: "Each subcommand is one RPC method; `query call METHOD [PARAMS-JSON]` reaches any method.",
        subcommands: [Status.self, Block.self, Headers.self, Receipts.self, Tx.self, Receipt.self, Account.self, AccountTxs.self,
                      Validators.self, Validator.self, Schedule.self, Pools.self, Pool.self, Escrow.self, Escrows.self, Window.self,
                      Windows.self, Payouts.self, Shares.self, Ticket.self, Tickets.self, Proofs.self, Proof.self, StateProofQuery.self, Mempool.self,
                      Peers.self, Call.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "node_status: version, chain, height, finalized, peers.")
        @OptionGroup var rpc: RPCOptions
        func run() async throws { printJSON(try await rpc.call("node_status", [:])) }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A block by height, tag (latest, finalized, earliest) or 0x hash.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Height, latest, finalized, earliest, or a 0x block hash.") var block = "latest"
        @Flag(help: "Full transactions instead of hashes.") var full = false
        func run() async throws {
            if block.hasPrefix("0x") {
                printJSON(try await rpc.call("chain_getBlockByHash", ["hash": .string(block), "fullTransactions": .bool(full)]))
            } else {
                printJSON(try await rpc.call("chain_getBlockByNumber", ["block": blockSelector(block), "fullTransactions": .bool(full)]))
            }
        }
    }

    struct Headers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Canonical headers from a height.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "First height.") var from: UInt64
        @Option(help: "How many (1-100).") var count: Int = 10
        func run() async throws { printJSON(try await rpc.call("chain_getHeaders", ["from": .int(from), "count": .int(count)])) }
    }

    struct Receipts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Receipts of a block (height, tag or 0x hash).")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Height, latest, finalized, earliest, or a 0x block hash.") var block = "latest"
        func run() async throws {
            printJSON(try await rpc.call("chain_getBlockReceipts", ["block": block.hasPrefix("0x") ? .string(block) : blockSelector(block)]))
        }
    }

    struct Tx: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A transaction by hash (included or pending).")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Transaction hash (0x hex).") var hash: String
        func run() async throws { printJSON(try await rpc.call("tx_getByHash", ["hash": .string(hash)])) }
    }

    struct Receipt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The receipt of an included transaction.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Transaction hash (0x hex).") var hash: String
        func run() async throws { printJSON(try await rpc.call("tx_getReceipt", ["hash": .string(hash)])) }
    }

    struct Account: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Balance, nonce, stakes and unbonding of an address.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Address (bech32m) or 0x public key.") var address: String
        func run() async throws { printJSON(try await rpc.call("account_get", ["address": .string(address)])) }
    }

    struct AccountTxs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "account-txs", abstract: "Transactions of an address, newest first.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Address (bech32m) or 0x public key.") var address: String
        @Flag(help: "Oldest first.") var ascending = false
        func run() async throws {
            var p: JSONObject = ["address": .string(address), "order": .string(ascending ? "asc" : "desc")]
            page.apply(&p)
            printJSON(try await rpc.call("account_getTransactions", p))
        }
    }

    struct Validators: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bonded validators.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        func run() async throws {
            var p = JSONObject()
            page.apply(&p)
            printJSON(try await rpc.call("validator_list", p))
        }
    }

    struct Validator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One validator: stake, status, unbonding, liveness.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Address (bech32m) or 0x public key.") var address: String
        func run() async throws { printJSON(try await rpc.call("validator_get", ["address": .string(address)])) }
    }

    struct Schedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Leaders of upcoming slots.")
        @OptionGroup var rpc: RPCOptions
        @Option(help: "First slot (default: the one after the tip).") var from: UInt64?
        @Option(help: "How many slots (1-100).") var count: Int = 10
        func run() async throws {
            var p: JSONObject = ["count": .int(count)]
            if let from { p["fromSlot"] = .int(from) }
            printJSON(try await rpc.call("validator_getSchedule", p))
        }
    }

    struct Pools: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Model pools.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        func run() async throws {
            var p = JSONObject()
            page.apply(&p)
            printJSON(try await rpc.call("pool_list", p))
        }
    }

    struct Pool: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One pool's configuration.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Pool id.") var pool: UInt32
        func run() async throws { printJSON(try await rpc.call("pool_get", ["pool": .int(UInt64(pool))])) }
    }

    struct Escrow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An escrow by id.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Id (0x hex).") var id: String
        func run() async throws { printJSON(try await rpc.call("escrow_get", ["escrowId": .string(id)])) }
    }

    struct Escrows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Escrows of an owner.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Owner address (bech32m) or 0x public key.") var owner: String
        func run() async throws {
            var p: JSONObject = ["owner": .string(owner)]
            page.apply(&p)
            printJSON(try await rpc.call("escrow_list", p))
        }
    }

    struct Window: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A settlement window of a pool.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Pool id.") var pool: UInt32
        @Argument(help: "Window number.") var window: UInt64
        func run() async throws { printJSON(try await rpc.call("window_get", ["pool": .int(UInt64(pool)), "window": .int(window)])) }
    }

    struct Windows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Windows of a pool.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Pool id.") var pool: UInt32
        func run() async throws {
            var p: JSONObject = ["pool": .int(UInt64(pool))]
            page.apply(&p)
            printJSON(try await rpc.call("window_list", p))
        }
    }

    struct Payouts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Settlement payouts of a window.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Pool id.") var pool: UInt32
        @Argument(help: "Window number.") var window: UInt64
        func run() async throws {
            var p: JSONObject = ["pool": .int(UInt64(pool)), "window": .int(window)]
            page.apply(&p)
            printJSON(try await rpc.call("window_getPayouts", p))
        }
    }

    struct Shares: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Share tallies of a pool by window and/or worker.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Pool id.") var pool: UInt32
        @Option(help: "Only this window.") var window: UInt64?
        @Option(help: "Only this worker (address or 0x public key).") var worker: String?
        func run() async throws {
            var p: JSONObject = ["pool": .int(UInt64(pool))]
            if let window { p["window"] = .int(window) }
            if let worker { p["worker"] = .string(worker) }
            page.apply(&p)
            printJSON(try await rpc.call("share_list", p))
        }
    }

    struct Ticket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A spot-check ticket (with its revealed input while challengeable).")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Id (0x hex).") var id: String
        func run() async throws { printJSON(try await rpc.call("ticket_get", ["ticketId": .string(id)])) }
    }

    struct Tickets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tickets by status: open, revealed, adjudicated, awaitingReveal, withheld, fraudProven, upheld, unchallenged.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Argument(help: "Ticket status (see above).") var status = "revealed"
        func run() async throws {
            var p: JSONObject = ["status": .string(status)]
            page.apply(&p)
            printJSON(try await rpc.call("ticket_list", p))
        }
    }

    struct Proofs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Adjudicated fraud proofs.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        func run() async throws {
            var p = JSONObject()
            page.apply(&p)
            printJSON(try await rpc.call("proof_list", p))
        }
    }

    struct Proof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fraud-proof", abstract: "The fraud-proof verdict on a ticket.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "Ticket id (0x hex).") var ticket: String
        func run() async throws { printJSON(try await rpc.call("proof_get", ["ticketId": .string(ticket)])) }
    }

    struct Mempool: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mempool size, or its content with --list.")
        @OptionGroup var rpc: RPCOptions
        @OptionGroup var page: PageOptions
        @Flag(help: "List pending transactions.") var list = false
        @Option(help: "Only this sender's transactions (with --list).") var sender: String?
        func run() async throws {
            guard list else { printJSON(try await rpc.call("mempool_status", [:])); return }
            var p = JSONObject()
            if let sender { p["sender"] = .string(sender) }
            page.apply(&p)
            printJSON(try await rpc.call("mempool_content", p))
        }
    }

    struct Peers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connected peers.")
        @OptionGroup var rpc: RPCOptions
        func run() async throws { printJSON(try await rpc.call("net_peers", [:])) }
    }

    struct Call: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Any method, with params as a JSON array or object.")
        @OptionGroup var rpc: RPCOptions
        @Argument(help: "JSON-RPC method name, e.g. chain_getBlock.") var method: String
        @Argument(help: "Params JSON, e.g. '[5, true]' or '{\"block\": \"latest\"}'.") var params = "[]"
        func run() async throws {
            let p: JSON
            do { p = try JSONParser().parse(params) } catch { throw ValidationError("params: \(error)") }
            do { printJSON(try await rpc.client().call(method, p)) } catch {
                FileHandle.standardError.write(Data("\(method): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

extension QueryCommand {
    /// `sharechain query proof`: a state record with its Merkle proof (`state_getProof`), optionally verified here.
    /// Against `--state-root` (a root the user trusts, from elsewhere) a verified answer does not rest on trusting the
    /// node; against the node's own header (plain `--verify`) it only shows the node is consistent with itself.
    struct StateProofQuery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "proof",
            abstract: "A state record with its Merkle proof against a block's stateRoot (state_getProof).",
            discussion: """
                RECORD by --kind: account / validator (an address), worker (POOL:ADDRESS), escrow / ticket / commitment \
                (0x id), pool (a number), window (POOL:WINDOW), raw (0x ledger key). With --state-root ROOT and a \
                numeric --block, the proof is checked locally (Specs/state-tree.md §4) against that root, one you trust \
                from elsewhere (another node, an explorer): "verified" then does not rest on trusting this node. With \
                --verify alone it is checked against the stateRoot of the same node's header (chain_getBlockByNumber): \
                that detects a node inconsistent with itself, not a node that lies consistently \
                ("verifiedAgainst": "node-header"). A proof that does not verify exits with status 1.
                """)
        @OptionGroup var rpc: RPCOptions
        @Option(help: "account, validator, worker, escrow, pool, window, ticket, commitment or raw.") var kind = "account"
        @Argument(help: "The record (see the discussion).") var record: String
        @Option(help: "Height or latest, safe, finalized, earliest.") var block = "latest"
        @Flag(help: "Verify the proof against the same node's block header (self-consistency only; see --state-root).") var verify = false
        @Option(name: .customLong("state-root"), help: "A stateRoot you trust (0x-hex) of the --block height: verify against it (implies --verify).")
        var stateRoot: String?

        func validate() throws {
            if stateRoot != nil {
                guard UInt64(block) != nil else { throw ValidationError("--state-root needs --block HEIGHT (the block the root is from)") }
                guard trustedRoot != nil else { throw ValidationError("--state-root: 32 bytes of 0x-hex") }
            }
        }

        var trustedRoot: Hash32? { stateRoot.flatMap { try? Hash32(hex: $0) } }

        func keyParam() throws -> JSON {
            func pair() throws -> (String, String) {
                let parts = record.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--kind \(kind) takes POOL:\(kind == "worker" ? "ADDRESS" : "WINDOW")") }
                return (parts[0], parts[1])
            }
            switch kind {
            case "raw": return .string(record)
            case "account", "validator", "escrow", "ticket", "commitment": return .object([kind: .string(record)])
            case "pool":
                guard let n = UInt64(record) else { throw ValidationError("--kind pool takes a pool number") }
                return .object(["pool": .int(n)])
            case "worker":
                let (pool, address) = try pair()
                guard let n = UInt64(pool) else { throw ValidationError("bad pool number \(pool)") }
                return .object(["worker": .object(["pool": .int(n), "address": .string(address)])])
            case "window":
                let (pool, window) = try pair()
                guard let n = UInt64(pool), let w = UInt64(window) else { throw ValidationError("bad POOL:WINDOW \(record)") }
                return .object(["window": .object(["pool": .int(n), "window": .int(w)])])
            default: throw ValidationError("unknown --kind \(kind)")
            }
        }

        /// The raw ledger key RECORD names, computed here: a verified answer must be about this key, not about
        /// whatever key the (untrusted) node chose to answer with.
        func expectedKey() throws -> [UInt8] {
            func address(_ s: String) throws -> PublicKey {
                if s.hasPrefix("0x") { return try parseKey(s, hrp: "", "record") }
                // Any human-readable part: only the key bytes matter here (the node checks the chain's own).
                guard let decoded = try? Bech32.decode(s, variant: .bech32m),
                      let bytes = try? Bech32.convertBits(decoded.data, from: 5, to: 8, pad: false), let key = PublicKey(bytes: bytes) else {
                    throw ValidationError("record: '\(s)' is not an address")
                }
                return key
            }
            func pair() throws -> (String, String) {
                let parts = record.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--kind \(kind) takes two parts separated by ':'") }
                return (parts[0], parts[1])
            }
            switch kind {
            case "raw":
                guard record.hasPrefix("0x"), let bytes = try? Hex.decode(record.dropFirst(2)) else { throw ValidationError("--kind raw takes 0x-hex") }
                return bytes
            case "account": return StateKey.account(try address(record))
            case "validator": return StateKey.staker(.validator, try address(record))
            case "escrow": return StateKey.escrow(try parseHash(record, "record"))
            case "ticket": return StateKey.ticket(try parseHash(record, "record"))
            case "commitment": return StateKey.commitment(try parseHash(record, "record"))
            case "pool":
                guard let n = UInt32(record) else { throw ValidationError("--kind pool takes a pool number") }
                return StateKey.pool(n)
            case "worker":
                let (pool, a) = try pair()
                guard let n = UInt32(pool) else { throw ValidationError("bad pool number \(pool)") }
                return StateKey.staker(.worker(pool: n), try address(a))
            case "window":
                let (pool, window) = try pair()
                guard let n = UInt32(pool), let w = UInt64(window) else { throw ValidationError("bad POOL:WINDOW \(record)") }
                return StateKey.window(n, w)
            default: throw ValidationError("unknown --kind \(kind)")
            }
        }

        func run() async throws {
            let answer = try await rpc.call("state_getProof", ["key": try keyParam(), "block": blockSelector(block)])
            guard !verify && stateRoot == nil else {
                let result = try await Self.verify(answer, key: try expectedKey(), height: UInt64(block), trustedRoot: trustedRoot, rpc: rpc)
                guard case .object(var o) = answer else { throw ExitCode(1) }
                o["verified"] = .bool(result)
                o["verifiedAgainst"] = .string(trustedRoot == nil ? "node-header" : "state-root")
                printJSON(.object(o))
                if !result { throw ExitCode(1) }
                return
            }
            printJSON(answer)
        }

        /// Checks `answer` against `trustedRoot` or, without one, against the header of its block read from the same
        /// node (which shows only that the node is consistent with itself): the answer must be about `key` (the key the
        /// caller asked for, computed locally) and, when the caller named a height, about that height; then the proof
        /// of the key's value (or absence) against the root. Nil `key`: the answer's own (no binding to a request; for
        /// callers that only have an answer).
        static func verify(_ answer: JSON, key expected: [UInt8]?, height expectedHeight: UInt64? = nil, trustedRoot: Hash32? = nil,
                           rpc: RPCOptions) async throws -> Bool {
            if let trustedRoot { return check(answer, key: expected, height: expectedHeight, stateRoot: trustedRoot) }
            guard let height = answer["blockHeight"]?.uint64 else {
                FileHandle.standardError.write(Data("state_getProof answer is malformed\n".utf8))
                return false
            }
            let block = try await rpc.call("chain_getBlockByNumber", ["block": .int(height), "fullTransactions": .bool(false)])
            guard let rootHex = block["stateRoot"]?.string ?? block["header"]?["stateRoot"]?.string, let root = try? Hash32(hex: rootHex) else {
                FileHandle.standardError.write(Data("block \(height) has no stateRoot\n".utf8))
                return false
            }
            return check(answer, key: expected, height: expectedHeight, stateRoot: root)
        }

        /// The pure part of `verify`: the answer names the expected key (and height), its value field is absent, null
        /// or well-formed 0x-hex, and its proof shows exactly that value (or absence) under `stateRoot`.
        static func check(_ answer: JSON, key expected: [UInt8]?, height expectedHeight: UInt64?, stateRoot root: Hash32) -> Bool {
            func hex(_ s: String) -> [UInt8]? { s.hasPrefix("0x") ? try? Hex.decode(s.dropFirst(2)) : nil }
            guard let height = answer["blockHeight"]?.uint64, let key = answer["key"]?.string.flatMap(hex),
                  let proofBytes = answer["proof"]?.string.flatMap(hex) else {
                FileHandle.standardError.write(Data("state_getProof answer is malformed\n".utf8))
                return false
            }
            if let expected, key != expected {
                FileHandle.standardError.write(Data("state_getProof answered for another key than the one asked\n".utf8))
                return false
            }
            if let expectedHeight, height != expectedHeight {
                FileHandle.standardError.write(Data("state_getProof answered for height \(height), not \(expectedHeight)\n".utf8))
                return false
            }
            // A value that is neither null nor 0x-hex must not be read as "absent".
            let value: [UInt8]?
            switch answer["value"] {
            case nil, .null?: value = nil
            case .string(let s)?:
                guard let v = hex(s) else { return false }
                value = v
            default: return false
            }
            guard let proof = try? StateProof(canonicalEncoding: proofBytes) else { return false }
            return proof.verify(root: root, key: key, value: value)
        }
    }
}

import Primitives

/// Rows of one table in PostgreSQL's text format (nil is NULL), ready for `COPY … FROM STDIN` or a
/// multi-row `INSERT`.
public struct TableRows: Sendable, Equatable {
    /// Table name (one of `IndexerSchema.dataTables`).
    public let table: String
    /// Column names, in the order of every row's values.
    public let columns: [String]
    /// PostgreSQL type of each column (for casts of bound text parameters).
    public let types: [String]
    /// The rows.
    public var rows: [[String?]]

    init(_ table: String, _ columns: [(String, String)]) {
        self.table = table
        self.columns = columns.map(\.0)
        self.types = columns.map(\.1)
        rows = []
    }

    mutating func add(_ values: [String?]) {
        precondition(values.count == columns.count, "\(table): \(values.count) values for \(columns.count) columns")
        rows.append(values)
    }
}

/// A change to a row an earlier block inserted (undone by `IndexerSchema.rollback` when its block goes).
public struct RowUpdate: Sendable, Equatable {
    /// Parameterized SQL (`$1`…), every parameter bound as text and cast in the statement.
    public let sql: String
    /// The parameters' text values (nil is NULL).
    public let binds: [String?]
}

/// Everything one block writes: its rows per table and the updates of earlier rows, derived from the node's
/// `chain_getBlockByNumber` (full transactions) and `chain_getBlockResults` answers.
public struct BlockRows: Sendable {
    /// The block's height.
    public let height: UInt64
    /// The block hash as 0x-hex (what the node reports).
    public let hash: String
    /// Its parent's hash (0x-hex).
    public let parent: String
    /// Transactions in the block.
    public let transactionCount: Int
    /// Tables written with COPY (rows no earlier block can hold).
    public internal(set) var appended: [TableRows]
    /// Tables written with `INSERT … ON CONFLICT DO NOTHING` (an account or a fraud case may already exist).
    public internal(set) var inserted: [TableRows]
    /// Updates of rows of earlier blocks, in event order.
    public internal(set) var updates: [RowUpdate]
    /// Every address the block names (proposer, senders, every address member of an event), in order of first
    /// appearance: the accounts whose state the block records (`attach(_:)`).
    public let touchedAddresses: [String]
    /// The touched accounts' state as of this block (`account_get` at its height), nil until `attach(_:)`.
    public private(set) var accountStates: [AccountState]?

    /// Builds the rows of a block from the node's answers; throws `malformed` when an answer does not have
    /// the documented shape, or when the two answers describe different blocks (a reorg between the calls).
    public init(block: JSON, results: JSON) throws(IndexerError) {
        let b = try Fields(block, "block")
        let r = try Fields(results, "block results")
        height = try b.uint("height")
        hash = try b.hash("hash")
        parent = try b.hash("parent")
        guard try r.hash("blockHash") == hash, try r.uint("blockHeight") == height else {
            throw .malformed("block \(height): the block and its results name different blocks (a reorg between the calls)")
        }
        let txs = try b.array("transactions")
        let receipts = try r.array("receipts")
        transactionCount = txs.count
        // One receipt per transaction, then the block-processing receipt (genesis has none).
        guard receipts.count == txs.count + 1 || (height == 0 && receipts.count == txs.count) else {
            throw .malformed("block \(height): \(txs.count) transactions but \(receipts.count) receipts (expected one more)")
        }
        let h = String(height)
        var blocks = TableRows("blocks", [("height", "bigint"), ("hash", "bytea"), ("parent", "bytea"), ("slot", "bigint"),
                                          ("timestamp_ms", "bigint"), ("proposer", "text"), ("size", "integer"),
                                          ("tx_count", "integer"), ("event_count", "integer")])
        var transactions = TableRows("transactions", [("height", "bigint"), ("position", "integer"), ("hash", "bytea"), ("sender", "text"),
                                                      ("nonce", "bigint"), ("fee", "numeric"), ("kind", "text"), ("size", "integer"),
                                                      ("body", "jsonb")])
        var receiptRows = TableRows("receipts", [("height", "bigint"), ("receipt_index", "integer"), ("tx_hash", "bytea"), ("kind", "text"),
                                                 ("status", "text"), ("failure", "text"), ("fee_paid", "numeric"), ("event_count", "integer")])
        var events = TableRows("events", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"), ("tx_hash", "bytea"),
                                          ("type", "text"), ("data", "jsonb")])
        var stakes = TableRows("stakes", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"), ("staker", "text"),
                                          ("type", "text"), ("role", "text"), ("pool", "bigint"), ("amount", "numeric"),
                                          ("entry_id", "numeric"), ("until_height", "bigint"), ("offence", "text")])
        var escrows = TableRows("escrows", [("escrow_id", "bytea"), ("owner", "text"), ("pool", "bigint"), ("amount", "numeric"),
                                            ("expiry_height", "numeric"), ("opened_height", "bigint"), ("closed_height", "bigint"),
                                            ("refund", "numeric")])
        var windows = TableRows("windows", [("pool", "bigint"), ("window_index", "numeric"), ("earned", "numeric"), ("settled_height", "bigint")])
        var payouts = TableRows("payouts", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"), ("pool", "bigint"),
                                            ("window_index", "numeric"), ("worker", "text"), ("paid", "numeric"), ("refunded", "numeric")])
        var refunds = TableRows("refunds", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"), ("pool", "bigint"),
                                            ("window_index", "numeric"), ("worker", "text"), ("owner", "text"), ("amount", "numeric")])
        var tickets = TableRows("tickets", [("ticket_id", "bytea"), ("commitment_id", "bytea"), ("sample", "bigint"), ("point", "numeric"),
                                            ("reveal_deadline", "bigint"), ("selected_height", "bigint"), ("revealed_height", "bigint"),
                                            ("leaf_index", "bigint"), ("challenge_end", "bigint"), ("withheld_height", "bigint"),
                                            ("voided_height", "bigint")])
        var escrowEvents = TableRows("escrow_events", [("height", "bigint"), ("receipt_index", "integer"), ("event_index", "integer"),
                                                       ("escrow_id", "bytea"), ("type", "text"), ("amount", "numeric"), ("expiry_height", "numeric"),
                                                       ("until_height", "bigint"), ("payee", "text"), ("fee", "numeric"), ("shortfall", "numeric")])
        var changedEscrows = [String]()
        var seenEscrows = Set<String>()
        var fraud = TableRows("fraud_cases", [("ticket_id", "bytea"), ("claim", "bytea"), ("prover", "text"), ("opened_height", "bigint"),
                                              ("status", "text"), ("origin", "text")])
        var checks = TableRows("checks", [("ticket_id", "bytea"), ("commitment_id", "bytea"), ("assigned_height", "bigint"),
                                          ("checkers", "text[]"), ("status", "text"), ("updated_height", "bigint")])
        var checkAnswers = TableRows("check_answers", [("ticket_id", "bytea"), ("checker", "text"), ("slot", "integer"),
                                                       ("assigned_height", "bigint")])
        // Commitments of the tickets drawn in this block (a `checkersAssigned` follows its ticket's `ticketSelected`).
        var drawnFrom = [String: String]()
        var checksChanged = false
        var updates = [RowUpdate]()
        var seenAccounts = Set<String>()
        var touched = [String]()
        func account(_ a: String?) {
            guard let a, seenAccounts.insert(a).inserted else { return }
            touched.append(a)
        }

        let proposer = try b.string("proposer")
        account(proposer)
        for (i, tx) in txs.enumerated() {
            let t = try Fields(tx, "transaction \(i) of block \(height)")
            let sender = try t.string("sender")
            account(sender)
            transactions.add([h, String(i), try t.bytea("hash"), sender, try t.uintText("nonce"), try t.amount("fee"), try t.string("kind"),
                              try t.uintText("size"), JSONWriter.string(try t.value("body"))])
        }
        var eventCount = 0
        for (ri, receipt) in receipts.enumerated() {
            let rc = try Fields(receipt, "receipt \(ri) of block \(height)")
            let txHash: String? = ri < txs.count ? try rc.bytea("transactionHash") : nil
            if ri < txs.count {
                guard txHash == (try Fields(txs[ri], "transaction").bytea("hash")) else {
                    throw .malformed("block \(height): receipt \(ri) is not the receipt of transaction \(ri)")
                }
            }
            let failure: String? = try rc.optionalObject("failure").map { (f: Fields) throws(IndexerError) -> String in try f.string("reason") }
            let evs = try rc.array("events")
            receiptRows.add([h, String(ri), txHash, try rc.string("kind"), try rc.string("status"), failure, try rc.amount("feePaid"),
                             String(evs.count)])
            for (ei, ev) in evs.enumerated() {
                eventCount += 1
                let e = try Fields(ev, "event \(ei) of receipt \(ri) of block \(height)")
                let type = try e.string("type")
                events.add([h, String(ri), String(ei), txHash, type, JSONWriter.string(ev)])
                for k in ["from", "to", "payer", "proposer", "staker", "owner", "payee", "worker", "prover", "validator", "firstWorker",
                          "checker", "challenger", "bondTo"] {
                    account(try e.optionalString(k))
                }
                let (r, x) = (String(ri), String(ei))
                // A column of a sealed check (`checks`): set with the height of this block, which rollback relies on.
                func check(_ set: String, _ binds: [String?] = []) throws(IndexerError) {
                    let n = binds.count
                    updates.append(RowUpdate(
                        sql: "UPDATE checks SET \(set), updated_height = $\(n + 1)::bigint WHERE ticket_id = $\(n + 2)::bytea",
                        binds: binds + [h, try e.bytea("ticketId")]))
                    checksChanged = true
                }
                // A column of one checker's answer (`check_answers`).
                func answer(_ set: String, _ binds: [String?]) throws(IndexerError) {
                    let n = binds.count
                    updates.append(RowUpdate(
                        sql: "UPDATE check_answers SET \(set) WHERE ticket_id = $\(n + 1)::bytea AND checker = $\(n + 2)::text",
                        binds: binds + [try e.bytea("ticketId"), try e.string("checker")]))
                }
                if IndexerSchema.escrowEventTypes.contains(type) {
                    let id = try e.hash("escrowId")
                    if seenEscrows.insert(id).inserted { changedEscrows.append(String(id.dropFirst(2))) }
                    let amount: String? = switch type {
                    case "usageClaimed": try e.amount("charged")
                    case "escrowClosed": try e.amount("refund")
                    case "escrowUnlocking": nil
                    default: try e.amount("amount")
                    }
                    escrowEvents.add([h, r, x, try e.bytea("escrowId"), type, amount, try e.optionalUInt("expiryHeight").map(String.init),
                                      try e.optionalUInt("untilHeight").map(String.init), try e.optionalString("payee"),
                                      try e.optionalAmount("fee"), try e.optionalAmount("shortfall")])
                }
                switch type {
                case "bonded", "unbondingStarted", "unbonded", "slashed", "jailed", "unjailed", "tombstoned":
                    var role: String?
                    var pool: String?
                    if let ro = try e.optionalObject("role") {
                        role = try ro.string("type")
                        pool = try ro.optionalUInt("pool").map(String.init)
                    }
                    var until = try e.optionalUInt("untilHeight")
                    if until == nil { until = try e.optionalUInt("matureHeight") }
                    stakes.add([h, r, x, try e.string("staker"), type, role, pool, try e.optionalAmount("amount"),
                                try e.optionalUInt("entryId").map(String.init), until.map(String.init), try e.optionalString("offence")])
                case "escrowOpened":
                    escrows.add([try e.bytea("escrowId"), try e.string("owner"), try e.uintText("pool"), try e.amount("amount"),
                                 try e.uintText("expiryHeight"), h, nil, nil])
                case "escrowClosed":
                    updates.append(RowUpdate(sql: "UPDATE escrows SET closed_height = $1::bigint, refund = $2::numeric WHERE escrow_id = $3::bytea",
                                             binds: [h, try e.amount("refund"), try e.bytea("escrowId")]))
                case "windowSettled":
                    windows.add([try e.uintText("pool"), try e.uintText("window"), try e.amount("earned"), h])
                case "payoutCredited":
                    payouts.add([h, r, x, try e.uintText("pool"), try e.uintText("window"), try e.string("worker"), try e.amount("paid"),
                                 try e.amount("refunded")])
                case "refundCredited":
                    refunds.add([h, r, x, try e.uintText("pool"), try e.uintText("window"), try e.string("worker"), try e.string("owner"),
                                 try e.amount("amount")])
                case "ticketSelected":
                    tickets.add([try e.bytea("ticketId"), try e.bytea("commitmentId"), try e.uintText("sample"), try e.uintText("point"),
                                 try e.uintText("revealDeadline"), h, nil, nil, nil, nil, nil])
                    drawnFrom[try e.bytea("ticketId")] = try e.bytea("commitmentId")
                case "ticketRevealed":
                    updates.append(RowUpdate(
                        sql: "UPDATE tickets SET revealed_height = $1::bigint, leaf_index = $2::bigint, challenge_end = $3::bigint WHERE ticket_id = $4::bytea",
                        binds: [h, try e.uintText("leafIndex"), try e.uintText("challengeEnd"), try e.bytea("ticketId")]))
                    try check("revealed_height = $1::bigint", [h])
                case "revealWithheld":
                    updates.append(RowUpdate(sql: "UPDATE tickets SET withheld_height = $1::bigint WHERE ticket_id = $2::bytea",
                                             binds: [h, try e.bytea("ticketId")]))
                    try check("withheld_height = $1::bigint", [h])
                case "ticketVoided":
                    updates.append(RowUpdate(sql: "UPDATE tickets SET voided_height = $1::bigint WHERE ticket_id = $2::bytea",
                                             binds: [h, try e.bytea("ticketId")]))
                    try check("cancelled_height = $1::bigint", [h])
                case "passReused":
                    // The sealed reveal reused a pass: the ledger drops the ticket's check.
                    try check("cancelled_height = $1::bigint", [h])
                case "checkersAssigned":
                    let tid = try e.bytea("ticketId")
                    var keys = [String]()
                    for (i, k) in try e.array("checkers").enumerated() {
                        // Addresses are bech32m (or hex): letters and digits only, so the array literal needs no quoting.
                        guard case .string(let a) = k, !a.isEmpty, a.utf8.allSatisfy({ Fields.isHexDigit($0) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) })
                        else { throw .malformed("block \(height): checker \(i) of a checkersAssigned event is not an address") }
                        keys.append(a)
                        checkAnswers.add([tid, a, String(i), h])
                    }
                    checks.add([tid, drawnFrom[tid], h, "{" + keys.joined(separator: ",") + "}", "assigned", h])
                    checksChanged = true
                case "outputUnblinded":
                    try check("unblinded_height = $1::bigint, output_hash = $2::bytea", [h, try e.bytea("outputHash")])
                    updates.append(RowUpdate(sql: "UPDATE check_answers SET matches = (answer = $1::bytea) WHERE ticket_id = $2::bytea",
                                             binds: [try e.bytea("outputHash"), try e.bytea("ticketId")]))
                case "checkPassed":
                    try check("passed_height = $1::bigint", [h])
                case "disputeOpened":
                    try check("disputed_height = $1::bigint, key_deadline = $2::bigint", [h, try e.uintText("keyDeadline")])
                case "sealedInputPublished":
                    try check("input_published_height = $1::bigint", [h])
                    // The dispute's replay is an adjudication like a public claim's: a fraud case with no claim or prover.
                    fraud.add([try e.bytea("ticketId"), nil, nil, h, "pending", "dispute"])
                case "sealedCheckFailed":
                    try check("failed_height = $1::bigint, failure_reason = $2::text", [h, try e.string("reason")])
                case "answerCommitted":
                    try answer("committed_height = $1::bigint", [h])
                case "answerRevealed":
                    try answer("""
                        revealed_height = $1::bigint, answer = $2::bytea,
                            matches = ($2::bytea = (SELECT output_hash FROM checks c WHERE c.ticket_id = check_answers.ticket_id))
                        """, [h, try e.bytea("answer")])
                case "checkerAbsent":
                    try answer("absent_height = $1::bigint, benched_until = $2::bigint", [h, try e.uintText("benchedUntil")])
                case "checkFeeOwed":
                    try answer("fee_owed = $1::numeric, fee_owed_height = $2::bigint", [try e.amount("amount"), h])
                case "checkFeePaid":
                    try answer("fee_paid = $1::numeric, fee_paid_height = $2::bigint", [try e.amount("amount"), h])
                case "fraudClaimOpened":
                    fraud.add([try e.bytea("ticketId"), try e.bytea("claim"), try e.string("prover"), h, "pending", "claim"])
                case "fraudProven":
                    updates.append(RowUpdate(
                        sql: """
                            UPDATE fraud_cases SET status = 'proven', worker = $1::text, slashed = $2::numeric, bounty = $3::numeric,
                                adjudicated_height = $4::bigint WHERE ticket_id = $5::bytea
                            """,
                        binds: [try e.string("worker"), try e.amount("slashed"), try e.amount("bounty"), h, try e.bytea("ticketId")]))
                    // A replay of a sealed check (a dispute's, or a public claim against a passed check) proved it false.
                    updates.append(RowUpdate(
                        sql: """
                            UPDATE checks SET verdict = 'fraud', verdict_height = $1::bigint, updated_height = $1::bigint
                            WHERE ticket_id = $2::bytea AND failed_height IS NULL AND (input_published_height IS NOT NULL OR passed_height IS NOT NULL)
                            """,
                        binds: [h, try e.bytea("ticketId")]))
                    checksChanged = true
                case "fraudRejected":
                    updates.append(RowUpdate(
                        sql: "UPDATE fraud_cases SET status = 'rejected', bonds_burned = $1::numeric, adjudicated_height = $2::bigint WHERE ticket_id = $3::bytea",
                        binds: [try e.amount("bondsBurned"), h, try e.bytea("ticketId")]))
                    // A dispute's replay confirmed the worker's output (a rejected public claim leaves a passed check as it is).
                    updates.append(RowUpdate(
                        sql: """
                            UPDATE checks SET verdict = 'upheld', verdict_height = $1::bigint, updated_height = $1::bigint
                            WHERE ticket_id = $2::bytea AND failed_height IS NULL AND input_published_height IS NOT NULL
                            """,
                        binds: [h, try e.bytea("ticketId")]))
                    checksChanged = true
                default:
                    break
                }
            }
        }
        guard try r.uint("eventCount") == UInt64(eventCount) else {
            throw .malformed("block \(height): eventCount \(try r.uint("eventCount")) but the receipts hold \(eventCount) events")
        }
        blocks.add([h, try b.bytea("hash"), try b.bytea("parent"), try b.uintText("slot"), try b.uintText("timestamp"), proposer,
                    try b.uintText("size"), String(txs.count), String(eventCount)])
        if !changedEscrows.isEmpty {
            // After the block's escrow rows and events are in: the changed escrows' balances from their events.
            updates.append(RowUpdate(
                sql: IndexerSchema.escrowFold(escrows: "SELECT decode(x, 'hex') FROM unnest(string_to_array($1::text, ',')) x", through: nil),
                binds: [changedEscrows.joined(separator: ",")]))
        }
        if !checks.rows.isEmpty {
            // The new checks' pool and worker, from their commitment's `sharesCommitted` event (checker events name neither).
            updates.append(RowUpdate(sql: IndexerSchema.checkOwners(through: "$1::bigint"), binds: [h]))
        }
        if checksChanged {
            // Then the phase of every check this block changed, from its height columns.
            updates.append(RowUpdate(sql: IndexerSchema.checkStatus(where: "updated_height = $1::bigint"), binds: [h]))
        }
        appended = [blocks, transactions, receiptRows, events, stakes, escrows, escrowEvents, windows, payouts, refunds, tickets, checks,
                    checkAnswers]
            .filter { !$0.rows.isEmpty }
        inserted = [fraud].filter { !$0.rows.isEmpty }
        self.updates = updates
        touchedAddresses = touched
        accountStates = touched.isEmpty ? [] : nil
    }

    /// Records the touched accounts' state as of this block: exactly one state per address of `touchedAddresses`
    /// (any order); throws `malformed` otherwise.
    public mutating func attach(_ states: [AccountState]) throws(IndexerError) {
        let byAddress = Dictionary(states.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        guard byAddress.count == states.count, states.count == touchedAddresses.count else {
            throw .malformed("block \(height): \(states.count) account states for \(touchedAddresses.count) touched addresses")
        }
        var ordered = [AccountState]()
        ordered.reserveCapacity(states.count)
        for a in touchedAddresses {
            guard let s = byAddress[a] else { throw .malformed("block \(height): no account state for \(a)") }
            ordered.append(s)
        }
        accountStates = ordered
    }

    /// `account_history` rows (one per touched account, at this height) and the `accounts` rows to upsert (first
    /// seen here, or updated to this block's state); nil until the states are attached.
    public var accountRows: (history: TableRows, accounts: TableRows)? {
        guard let states = accountStates else { return nil }
        var history = TableRows("account_history", [("address", "text"), ("height", "bigint"), ("balance", "numeric"), ("nonce", "bigint"),
                                                    ("staked", "numeric"), ("unbonding", "numeric")])
        var accounts = TableRows("accounts", [("address", "text"), ("first_height", "bigint"), ("balance", "numeric"), ("nonce", "bigint"),
                                              ("staked", "numeric"), ("unbonding", "numeric"), ("updated_height", "bigint")])
        let h = String(height)
        for s in states {
            history.add([s.address, h, s.balance, s.nonce, s.staked, s.unbonding])
            accounts.add([s.address, h, s.balance, s.nonce, s.staked, s.unbonding, h])
        }
        return (history, accounts)
    }

    /// Rows written in all, for progress figures.
    public var rowCount: Int { (appended + inserted).reduce(0) { $0 + $1.rows.count } + updates.count + 2 * (accountStates?.count ?? 0) }
}

/// One account's state as of one block (`account_get` with `block` = its height). Nil values: the node no longer
/// keeps the state of that height (pruned, `-32004`), so it is unknown.
public struct AccountState: Sendable, Equatable {
    /// The account's address (bech32m, as the node renders it).
    public let address: String
    /// Spendable balance (decimal base units).
    public let balance: String?
    /// The account nonce (transactions it sent).
    public let nonce: String?
    /// Σ of its stakes over every role (decimal base units).
    public let staked: String?
    /// Σ of its unbonding entries still maturing (decimal base units).
    public let unbonding: String?

    /// A state with every value known.
    public init(address: String, balance: String, nonce: UInt64, staked: String, unbonding: String) {
        self.address = address
        self.balance = balance
        self.nonce = String(nonce)
        self.staked = staked
        self.unbonding = unbonding
    }

    /// The state of an account at a height the node no longer keeps.
    public init(unknown address: String) {
        self.address = address
        balance = nil
        nonce = nil
        staked = nil
        unbonding = nil
    }

    /// Parses an `account_get` result (Specs/rpc.md §7): balance, nonce, and the stakes' and unbonding entries' sums.
    public init(accountGet json: JSON) throws(IndexerError) {
        let a = try Fields(json, "account_get")
        var staked: UInt64 = 0, unbonding: UInt64 = 0
        for (i, s) in try a.array("stakes").enumerated() {
            let f = try Fields(s, "account_get stake \(i)")
            let (x, o1) = staked.addingReportingOverflow(UInt64(try f.amount("stake")) ?? .max)
            staked = x
            for (j, u) in try f.array("unbonding").enumerated() {
                let (y, o2) = unbonding.addingReportingOverflow(UInt64(try Fields(u, "account_get unbonding \(j)").amount("amount")) ?? .max)
                unbonding = y
                if o2 { throw .malformed("account_get: unbonding sum overflows") }
            }
            if o1 { throw .malformed("account_get: stake sum overflows") }
        }
        self.init(address: try a.string("address"), balance: try a.amount("balance"), nonce: try a.uint("nonce"), staked: String(staked),
                  unbonding: String(unbonding))
    }
}

/// Typed access to a JSON object from the node, with errors that name the object and the member.
struct Fields {
    let o: JSONObject
    let what: String

    init(_ v: JSON, _ what: String) throws(IndexerError) {
        guard case .object(let o) = v else { throw .malformed("\(what) is not an object") }
        self.o = o
        self.what = what
    }

    func value(_ k: String) throws(IndexerError) -> JSON {
        guard let v = o[k] else { throw .malformed("\(what) has no '\(k)'") }
        return v
    }

    func string(_ k: String) throws(IndexerError) -> String {
        guard case .string(let s) = try value(k) else { throw .malformed("\(what): '\(k)' is not a string") }
        return s
    }

    func optionalString(_ k: String) throws(IndexerError) -> String? {
        switch o[k] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw .malformed("\(what): '\(k)' is not a string")
        }
    }

    func uint(_ k: String) throws(IndexerError) -> UInt64 {
        guard case .number(let n) = try value(k), let u = UInt64(n) else { throw .malformed("\(what): '\(k)' is not a non-negative integer") }
        return u
    }

    func uintText(_ k: String) throws(IndexerError) -> String { String(try uint(k)) }

    func optionalUInt(_ k: String) throws(IndexerError) -> UInt64? {
        switch o[k] {
        case nil, .null?: return nil
        case .number(let n)?:
            guard let u = UInt64(n) else { throw .malformed("\(what): '\(k)' is not a non-negative integer") }
            return u
        default: throw .malformed("\(what): '\(k)' is not a number")
        }
    }

    /// A decimal amount string, validated (it goes into a numeric column as text).
    func amount(_ k: String) throws(IndexerError) -> String {
        let s = try string(k)
        guard !s.isEmpty, s.utf8.count <= 20, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .malformed("\(what): '\(k)' is not a decimal amount")
        }
        return s
    }

    func optionalAmount(_ k: String) throws(IndexerError) -> String? {
        guard o[k] != nil, o[k] != .null else { return nil }
        return try amount(k)
    }

    func hash(_ k: String) throws(IndexerError) -> String {
        let s = try string(k)
        guard s.hasPrefix("0x"), s.utf8.count == 66, s.utf8.dropFirst(2).allSatisfy(Self.isHexDigit) else {
            throw .malformed("\(what): '\(k)' is not a 0x-hex hash")
        }
        return s.lowercased()
    }

    /// A 0x-hex hash as PostgreSQL's bytea text input (`\x…`).
    func bytea(_ k: String) throws(IndexerError) -> String { "\\x" + (try hash(k)).dropFirst(2) }

    func array(_ k: String) throws(IndexerError) -> [JSON] {
        guard case .array(let a) = try value(k) else { throw .malformed("\(what): '\(k)' is not an array") }
        return a
    }

    func optionalObject(_ k: String) throws(IndexerError) -> Fields? {
        switch o[k] {
        case nil, .null?: return nil
        case let v?: return try Fields(v, "\(what).\(k)")
        }
    }

    static func isHexDigit(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) }
}

import Logging
import NIOCore
import PostgresNIO
import Primitives

/// The indexer's PostgreSQL side: migrations, the indexed tip, one transaction per block, rollbacks.
///
/// Every block is one PostgreSQL transaction that writes its rows and moves `indexer_state` to it; a
/// rollback is one transaction that deletes the rows above the fork point and moves `indexer_state` back.
/// So after a crash the database is at some block boundary, and the indexer continues from
/// `indexer_state` (Specs/indexer.md §3).
public final class PostgresSink: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// Most bound parameters of one multi-row `INSERT` (PostgreSQL allows 65 535).
    static let maxBinds = 60_000

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Connects to `target`.
    public static func connect(_ target: PostgresTarget, logger: Logger) async throws(IndexerError) -> PostgresSink {
        do {
            let c = try await PostgresConnection.connect(configuration: target.configuration, id: 1, logger: logger)
            return PostgresSink(connection: c, logger: logger)
        } catch {
            throw .postgres("cannot connect to \(target): \(Self.describe(error))")
        }
    }

    /// Closes the connection.
    public func close() async { try? await connection.close() }

    /// The advisory lock key every writer of an index database takes in each write transaction.
    static let writerLockKey: Int64 = 0x5348_4152_4543_4800 >> 8

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            var parts = ["\(e.code)"]
            if let m = e.serverInfo?[.message] { parts.append(m) }
            if let d = e.serverInfo?[.detail] { parts.append(d) }
            if let u = e.underlying { parts.append("\(u)") }
            return parts.joined(separator: ": ")
        }
        return String(describing: error)
    }

    /// Runs one SQL statement (operators, tests and benchmarks: schema setup, `SET search_path`).
    public func execute(_ sql: String) async throws(IndexerError) { try await run(sql) }

    func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws(IndexerError) {
        do { try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) } catch {
            throw .postgres("\(Self.describe(error)) (in: \(sql.prefix(120)))")
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: () async throws(IndexerError) -> T) async throws(IndexerError) -> T {
        try await run("BEGIN")
        do throws(IndexerError) {
            let value = try await body()
            try await run("COMMIT")
            return value
        } catch {
            try? await run("ROLLBACK")
            throw error
        }
    }

    // MARK: Schema

    /// Creates `schema_version` if needed and applies every migration newer than the stored version, each in
    /// its own transaction that records it. Returns the version the database is at. Refuses a database whose
    /// version is newer than this build's.
    @discardableResult
    public func migrate() async throws(IndexerError) -> Int {
        // `CREATE TABLE IF NOT EXISTS` is not safe against itself: two indexers starting together on an empty database
        // can both pass the check, and one fails on the catalog's unique index. Serialize it on the writers' lock.
        try await transaction { () async throws(IndexerError) in
            do { _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writerLockKey))", logger: logger).collect() } catch {
                throw .postgres(Self.describe(error))
            }
            try await run("""
                CREATE TABLE IF NOT EXISTS schema_version (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        var current = 0
        for migration in IndexerSchema.migrations {
            let applied: Bool = try await transaction { () async throws(IndexerError) -> Bool in
                // One migrator at a time: a second indexer waits here, then sees the version already recorded.
                try await run("LOCK TABLE schema_version IN EXCLUSIVE MODE")
                let stored = try await storedSchemaVersion()
                current = stored
                guard stored <= IndexerSchema.version else { throw .schemaTooNew(stored: stored, supported: IndexerSchema.version) }
                guard migration.version > stored else { return false }
                for statement in migration.statements { try await run(statement) }
                var binds = PostgresBindings()
                binds.append(Int32(migration.version))
                binds.append(migration.description)
                try await run("INSERT INTO schema_version (version, description) VALUES ($1, $2)", binds)
                return true
            }
            if applied {
                current = migration.version
                logger.info("applied indexer schema migration", metadata: ["version": "\(migration.version)"])
            }
        }
        return max(current, try await storedSchemaVersion())
    }

    func storedSchemaVersion() async throws(IndexerError) -> Int {
        do {
            let rows = try await connection.query("SELECT coalesce(max(version), 0)::bigint FROM schema_version", logger: logger)
            for try await v in rows.decode(Int64.self) { return Int(v) }
            return 0
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    // MARK: State

    /// What the database holds: the chain id (0x-hex) and the last indexed block; nil before the first block.
    public struct IndexedTip: Sendable, Equatable {
        /// The chain id (0x-hex) the database indexes.
        public let chainId: String
        /// Height of the last indexed block.
        public let height: UInt64
        /// Its hash (0x-hex).
        public let hash: String
    }

    /// The last indexed block, nil when nothing is indexed yet.
    public func indexedTip() async throws(IndexerError) -> IndexedTip? {
        do {
            let rows = try await connection.query(
                "SELECT '0x' || encode(chain_id, 'hex'), height, '0x' || encode(hash, 'hex') FROM indexer_state WHERE id = 1", logger: logger)
            for try await (c, h, hash) in rows.decode((String, Int64, String).self) {
                return IndexedTip(chainId: c, height: try Self.height(h), hash: hash)
            }
            return nil
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    /// A height read from the database: negative only when someone wrote it by hand, which is an error, not a trap.
    static func height(_ h: Int64) throws(IndexerError) -> UInt64 {
        guard let u = UInt64(exactly: h) else { throw .postgres("the database holds the negative height \(h) (edited by hand?)") }
        return u
    }

    /// The indexed block's hash at `height` (0x-hex), nil when the database holds no block there.
    public func blockHash(at height: UInt64) async throws(IndexerError) -> String? {
        do {
            let rows = try await connection.query("SELECT '0x' || encode(hash, 'hex') FROM blocks WHERE height = \(Int64(clamping: height))",
                                                  logger: logger)
            for try await h in rows.decode(String.self) { return h }
            return nil
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    /// The lowest indexed height (the indexer starts at genesis, so normally 0).
    public func lowestIndexedHeight() async throws(IndexerError) -> UInt64? {
        do {
            let rows = try await connection.query("SELECT min(height) FROM blocks", logger: logger)
            for try await h in rows.decode(Int64?.self) { return try h.map(Self.height) }
            return nil
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    // MARK: Writes

    /// The height indexing started from (`indexer_state.first_height`: 0, or the earliest block of a state-synced node
    /// the database was first filled from), nil when nothing is indexed yet.
    public func firstIndexedHeight() async throws(IndexerError) -> UInt64? {
        do {
            let rows = try await connection.query("SELECT first_height FROM indexer_state WHERE id = 1", logger: logger)
            for try await h in rows.decode(Int64.self) { return try Self.height(h) }
            return nil
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    /// Writes one block in one transaction, moving `indexer_state` to it. The indexed tip must be the block's
    /// parent (or nothing, for the first block, at `firstHeight`: genesis, or a state-synced node's earliest block,
    /// recorded as `first_height`): otherwise nothing is written and `indexedTipMoved` is thrown.
    public func apply(_ block: BlockRows, chainId: String, firstHeight: UInt64 = 0) async throws(IndexerError) {
        try await transaction { () async throws(IndexerError) in
            let tip = try await lockedTip()
            if let tip {
                guard tip.chainId == chainId else { throw .wrongChain(stored: tip.chainId, node: chainId) }
                guard tip.height &+ 1 == block.height, tip.hash == block.parent else {
                    throw .indexedTipMoved("indexer_state is at \(tip.height) \(tip.hash), block \(block.height) has parent \(block.parent)")
                }
            } else {
                guard block.height == firstHeight else {
                    throw .indexedTipMoved("nothing indexed yet, but block \(block.height) is not the first one to index (\(firstHeight))")
                }
            }
            guard let accounts = block.accountRows else {
                throw .malformed("block \(block.height): the touched accounts' states were not fetched (BlockRows.attach)")
            }
            for t in block.appended { try await copy(t) }
            for t in block.inserted { try await insert(t, onConflict: "DO NOTHING") }
            try await copy(accounts.history)
            // First seen here: inserted with first_height; known: its state moves to this block's (first_height kept).
            try await insert(accounts.accounts, onConflict: """
                (address) DO UPDATE SET balance = excluded.balance, nonce = excluded.nonce, staked = excluded.staked,
                    unbonding = excluded.unbonding, updated_height = excluded.updated_height
                """)
            for u in block.updates { try await run(u.sql, Self.textBinds(u.binds)) }
            var binds = PostgresBindings()
            binds.append("\\x" + chainId.dropFirst(2))
            binds.append(Int64(clamping: block.height))
            binds.append("\\x" + block.hash.dropFirst(2))
            binds.append(Int64(clamping: block.height))
            try await run("""
                INSERT INTO indexer_state (id, chain_id, height, hash, first_height) VALUES (1, $1::text::bytea, $2, $3::text::bytea, $4)
                ON CONFLICT (id) DO UPDATE SET height = excluded.height, hash = excluded.hash, updated_at = now()
                """, binds)
        }
    }

    /// `indexer_state`, locked for the rest of the transaction (one writer at a time). The lock is a transaction
    /// advisory lock, not only the row's: before the first block there is no row to lock, and two indexers starting
    /// on an empty database would otherwise both write genesis (a unique violation instead of `indexedTipMoved`).
    func lockedTip() async throws(IndexerError) -> IndexedTip? {
        do {
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writerLockKey))", logger: logger).collect()
            let rows = try await connection.query(
                "SELECT '0x' || encode(chain_id, 'hex'), height, '0x' || encode(hash, 'hex') FROM indexer_state WHERE id = 1 FOR UPDATE",
                logger: logger)
            for try await (c, h, hash) in rows.decode((String, Int64, String).self) {
                return IndexedTip(chainId: c, height: try Self.height(h), hash: hash)
            }
            return nil
        } catch {
            throw .postgres(Self.describe(error))
        }
    }

    /// Takes every table back to block `height` (whose hash is `hash`), in one transaction.
    public func rollback(to height: UInt64, hash: String) async throws(IndexerError) {
        try await transaction { () async throws(IndexerError) in
            // The fork point was found outside this transaction: another indexer on the database may have rolled back
            // below it (or rewritten it) since. Setting the state to a block no longer in `blocks` would leave a gap
            // that stops every later start, so check it under the lock.
            guard let tip = try await lockedTip(), tip.height >= height else {
                throw .indexedTipMoved("rolling back to \(height): the indexed tip is below it now")
            }
            guard try await blockHash(at: height) == hash else {
                throw .indexedTipMoved("rolling back to \(height): the indexed block there is no longer \(hash)")
            }
            for statement in IndexerSchema.rollback {
                var binds = PostgresBindings()
                binds.append(Int64(clamping: height))
                try await run(statement, binds)
            }
            var binds = PostgresBindings()
            binds.append(Int64(clamping: height))
            binds.append("\\x" + hash.dropFirst(2))
            try await run("UPDATE indexer_state SET height = $1, hash = $2::text::bytea, updated_at = now() WHERE id = 1", binds)
        }
    }

    /// Inserts or refreshes the pools (genesis data: never rolled back).
    public func upsertPools(_ rows: TableRows) async throws(IndexerError) {
        guard !rows.rows.isEmpty else { return }
        let updates = rows.columns.filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        try await transaction { () async throws(IndexerError) in
            try await insert(rows, onConflict: "(id) DO UPDATE SET \(updates)")
        }
    }

    /// `COPY table (columns) FROM STDIN` of every row, in text format.
    public func copy(_ t: TableRows) async throws(IndexerError) {
        guard !t.rows.isEmpty else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: t.rows.count * 64 * t.columns.count)
        for row in t.rows { Self.appendCopyLine(Self.storable(row, types: t.types), to: &buffer) }
        do {
            try await connection.copyFrom(table: t.table, columns: t.columns, logger: logger) { writer in
                try await writer.write(buffer)
            }
        } catch {
            throw .postgres("COPY \(t.table): \(Self.describe(error))")
        }
    }

    /// Multi-row `INSERT … ON CONFLICT …` with every value bound as text and cast to its column's type,
    /// chunked under PostgreSQL's parameter limit.
    public func insert(_ t: TableRows, onConflict: String? = nil) async throws(IndexerError) {
        guard !t.rows.isEmpty else { return }
        let perStatement = max(1, Self.maxBinds / t.columns.count)
        var start = 0
        while start < t.rows.count {
            let chunk = t.rows[start..<min(start + perStatement, t.rows.count)]
            var sql = "INSERT INTO \(t.table) (\(t.columns.joined(separator: ", "))) VALUES "
            var binds = PostgresBindings(capacity: chunk.count * t.columns.count)
            var n = 0
            for (i, row) in chunk.enumerated() {
                if i > 0 { sql += ", " }
                sql += "("
                for (j, value) in Self.storable(row, types: t.types).enumerated() {
                    n += 1
                    if j > 0 { sql += ", " }
                    sql += "$\(n)::text::\(t.types[j])"
                    if let value { binds.append(value) } else { binds.appendNull() }
                }
                sql += ")"
            }
            if let onConflict { sql += " ON CONFLICT " + onConflict }
            try await run(sql, binds)
            start += chunk.count
        }
    }

    /// `row` with every U+0000 replaced by U+FFFD: PostgreSQL refuses the character in `text` and the `\u0000`
    /// escape in `jsonb`, and on-chain strings (genesis pool fields, any UTF-8) may hold it. Values without a NUL
    /// (nearly all) are returned as they are.
    static func storable(_ row: [String?], types: [String]) -> [String?] {
        guard row.contains(where: { $0.map(mayHoldNUL) ?? false }) else { return row }
        return zip(row, types).map { value, type in
            guard let value, mayHoldNUL(value) else { return value }
            if type == "jsonb", let json = try? JSONParser().parse(value) { return JSONWriter.string(withoutNUL(json)) }
            return value.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
        }
    }

    /// Whether `s` holds U+0000 or the text `\u0000` (how JSON escapes it).
    static func mayHoldNUL(_ s: String) -> Bool {
        var tail = 0  // bytes of `\u0000` matched so far
        for b in s.utf8 {
            if b == 0 { return true }
            switch (tail, b) {
            case (_, UInt8(ascii: "\\")): tail = 1
            case (1, UInt8(ascii: "u")): tail = 2
            case (2...4, UInt8(ascii: "0")): tail += 1
            case (5, UInt8(ascii: "0")): return true
            default: tail = 0
            }
        }
        return false
    }

    static func withoutNUL(_ json: JSON) -> JSON {
        let clean = { (s: String) in s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") }
        switch json {
        case .string(let s): return .string(clean(s))
        case .array(let a): return .array(a.map(withoutNUL))
        case .object(let o):
            var out = JSONObject()
            for m in o.members { out.appendUnchecked(clean(m.key), withoutNUL(m.value)) }
            return .object(out)
        default: return json
        }
    }

    static func textBinds(_ values: [String?]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for v in values {
            if let v { binds.append(v) } else { binds.appendNull() }
        }
        return binds
    }

    /// One line of `COPY … FROM STDIN` text format: tab-separated, `\N` for NULL, backslash escapes.
    static func appendCopyLine(_ row: [String?], to buffer: inout ByteBuffer) {
        for (i, value) in row.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            guard let value else {
                buffer.writeStaticString("\\N")
                continue
            }
            // Most values (numbers, hex, addresses) need no escape: one copy.
            if !value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                buffer.writeString(value)
                continue
            }
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    // MARK: Reading back (tests, benchmarks, operators)

    /// One number from a query (e.g. `SELECT count(*) …`), as text (numeric sums exceed Int64).
    public func scalar(_ sql: String) async throws(IndexerError) -> String? {
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::text"), logger: logger)
            for try await v in rows.decode(String?.self) { return v }
            return nil
        } catch {
            throw .postgres("\(Self.describe(error)) (in: \(sql.prefix(120)))")
        }
    }

    /// `md5` of every row of each data table in primary-key order: two databases with equal checksums hold
    /// the same rows.
    public func checksums() async throws(IndexerError) -> [String: String] {
        var out = [String: String]()
        for table in IndexerSchema.dataTables {
            let order = IndexerSchema.orderColumns[table] ?? "1"
            out[table] = try await scalar("SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY \(order)), '')) FROM \(table) t") ?? ""
        }
        return out
    }
}

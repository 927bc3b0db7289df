/// The indexer's PostgreSQL schema (Specs/indexer.md is normative; this file must match it). Migrations are
/// applied in order on start, each in one transaction that also records its version in `schema_version`.
public enum IndexerSchema {
    /// One schema change.
    public struct Migration: Sendable {
        /// The version the database is at after it.
        public let version: Int
        /// What it changes (recorded in `schema_version`).
        public let description: String
        /// Its SQL statements, run in one transaction.
        public let statements: [String]
    }

    /// The newest version this build writes.
    public static var version: Int { migrations.last?.version ?? 0 }

    /// Tables that hold indexed chain data (everything the per-table checksums cover), in write order.
    public static let dataTables = [
        "blocks", "transactions", "receipts", "events", "accounts", "account_history", "stakes", "escrows", "escrow_events", "pools",
        "windows", "payouts", "refunds", "tickets", "fraud_cases", "checks", "check_answers",
    ]

    /// The primary key (or ordering columns) of each data table, for checksums and exports.
    public static let orderColumns: [String: String] = [
        "blocks": "height", "transactions": "height, position", "receipts": "height, receipt_index",
        "events": "height, receipt_index, event_index", "accounts": "address", "account_history": "address, height",
        "stakes": "height, receipt_index, event_index", "escrows": "escrow_id", "escrow_events": "height, receipt_index, event_index", "pools": "id", "windows": "pool, window_index", "payouts": "height, receipt_index, event_index",
        "refunds": "height, receipt_index, event_index", "tickets": "ticket_id", "fraud_cases": "ticket_id",
        "checks": "ticket_id", "check_answers": "ticket_id, checker",
    ]

    public static let migrations: [Migration] = [
        Migration(version: 1, description: "chain tables: blocks, transactions, receipts, events, accounts, stakes, escrows, pools, windows, payouts, refunds, tickets, fraud cases", statements: [
            """
            CREATE TABLE indexer_state (
                id smallint PRIMARY KEY CHECK (id = 1),
                chain_id bytea NOT NULL,
                height bigint NOT NULL,
                hash bytea NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE blocks (
                height bigint PRIMARY KEY,
                hash bytea NOT NULL UNIQUE,
                parent bytea NOT NULL,
                slot bigint NOT NULL,
                timestamp_ms bigint NOT NULL,
                proposer text NOT NULL,
                size integer NOT NULL,
                tx_count integer NOT NULL,
                event_count integer NOT NULL
            )
            """,
            """
            CREATE TABLE transactions (
                height bigint NOT NULL,
                position integer NOT NULL,
                hash bytea NOT NULL,
                sender text NOT NULL,
                nonce bigint NOT NULL,
                fee numeric(20, 0) NOT NULL,
                kind text NOT NULL,
                size integer NOT NULL,
                body jsonb NOT NULL,
                PRIMARY KEY (height, position)
            )
            """,
            "CREATE INDEX transactions_hash ON transactions (hash)",
            "CREATE INDEX transactions_sender ON transactions (sender, height)",
            """
            CREATE TABLE receipts (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                tx_hash bytea,
                kind text NOT NULL,
                status text NOT NULL,
                failure text,
                fee_paid numeric(20, 0) NOT NULL,
                event_count integer NOT NULL,
                PRIMARY KEY (height, receipt_index)
            )
            """,
            """
            CREATE TABLE events (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                event_index integer NOT NULL,
                tx_hash bytea,
                type text NOT NULL,
                data jsonb NOT NULL,
                PRIMARY KEY (height, receipt_index, event_index)
            )
            """,
            "CREATE INDEX events_type ON events (type, height)",
            """
            CREATE TABLE accounts (
                address text PRIMARY KEY,
                first_height bigint NOT NULL
            )
            """,
            """
            CREATE TABLE stakes (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                event_index integer NOT NULL,
                staker text NOT NULL,
                type text NOT NULL,
                role text,
                pool bigint,
                amount numeric(20, 0),
                entry_id numeric(20, 0),
                until_height bigint,
                offence text,
                PRIMARY KEY (height, receipt_index, event_index)
            )
            """,
            "CREATE INDEX stakes_staker ON stakes (staker, height)",
            """
            CREATE TABLE escrows (
                escrow_id bytea PRIMARY KEY,
                owner text NOT NULL,
                pool bigint NOT NULL,
                amount numeric(20, 0) NOT NULL,
                expiry_height bigint NOT NULL,
                opened_height bigint NOT NULL,
                closed_height bigint,
                refund numeric(20, 0)
            )
            """,
            """
            CREATE TABLE pools (
                id bigint PRIMARY KEY,
                model_id text NOT NULL,
                executor_spec text NOT NULL,
                window_blocks bigint NOT NULL,
                challenge_blocks bigint NOT NULL,
                data jsonb NOT NULL
            )
            """,
            """
            CREATE TABLE windows (
                pool bigint NOT NULL,
                window_index numeric(20, 0) NOT NULL,
                earned numeric(20, 0) NOT NULL,
                settled_height bigint NOT NULL,
                PRIMARY KEY (pool, window_index)
            )
            """,
            """
            CREATE TABLE payouts (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                event_index integer NOT NULL,
                pool bigint NOT NULL,
                window_index numeric(20, 0) NOT NULL,
                worker text NOT NULL,
                paid numeric(20, 0) NOT NULL,
                refunded numeric(20, 0) NOT NULL,
                PRIMARY KEY (height, receipt_index, event_index)
            )
            """,
            "CREATE INDEX payouts_window ON payouts (pool, window_index)",
            """
            CREATE TABLE refunds (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                event_index integer NOT NULL,
                pool bigint NOT NULL,
                window_index numeric(20, 0) NOT NULL,
                worker text NOT NULL,
                owner text NOT NULL,
                amount numeric(20, 0) NOT NULL,
                PRIMARY KEY (height, receipt_index, event_index)
            )
            """,
            """
            CREATE TABLE tickets (
                ticket_id bytea PRIMARY KEY,
                commitment_id bytea NOT NULL,
                sample bigint NOT NULL,
                point numeric(20, 0) NOT NULL,
                reveal_deadline bigint NOT NULL,
                selected_height bigint NOT NULL,
                revealed_height bigint,
                leaf_index bigint,
                challenge_end bigint,
                withheld_height bigint,
                voided_height bigint
            )
            """,
            """
            CREATE TABLE fraud_cases (
                ticket_id bytea PRIMARY KEY,
                claim bytea NOT NULL,
                prover text NOT NULL,
                opened_height bigint NOT NULL,
                status text NOT NULL,
                worker text,
                slashed numeric(20, 0),
                bounty numeric(20, 0),
                bonds_burned numeric(20, 0),
                adjudicated_height bigint
            )
            """,
        ]),
        Migration(version: 2, description: "account state per indexed block (accounts columns, account_history); escrow events and balances", statements: [
            """
            ALTER TABLE accounts ADD COLUMN balance numeric(20, 0), ADD COLUMN nonce bigint, ADD COLUMN staked numeric(20, 0),
                ADD COLUMN unbonding numeric(20, 0), ADD COLUMN updated_height bigint
            """,
            """
            CREATE TABLE account_history (
                address text NOT NULL,
                height bigint NOT NULL,
                balance numeric(20, 0),
                nonce bigint,
                staked numeric(20, 0),
                unbonding numeric(20, 0),
                PRIMARY KEY (address, height)
            )
            """,
            "CREATE INDEX account_history_height ON account_history (height)",
            """
            CREATE TABLE escrow_events (
                height bigint NOT NULL,
                receipt_index integer NOT NULL,
                event_index integer NOT NULL,
                escrow_id bytea NOT NULL,
                type text NOT NULL,
                amount numeric(20, 0),
                expiry_height bigint,
                until_height bigint,
                payee text,
                fee numeric(20, 0),
                shortfall numeric(20, 0),
                PRIMARY KEY (height, receipt_index, event_index)
            )
            """,
            "CREATE INDEX escrow_events_escrow ON escrow_events (escrow_id, height)",
            """
            ALTER TABLE escrows ADD COLUMN balance numeric(20, 0) NOT NULL DEFAULT 0, ADD COLUMN allocated numeric(20, 0) NOT NULL DEFAULT 0,
                ADD COLUMN total_charged numeric(20, 0) NOT NULL DEFAULT 0, ADD COLUMN shortfall numeric(20, 0) NOT NULL DEFAULT 0,
                ADD COLUMN status text NOT NULL DEFAULT 'open', ADD COLUMN unlock_height bigint, ADD COLUMN deposited numeric(20, 0) NOT NULL DEFAULT 0
            """,
            // A version-1 database: its escrow events are in `events`; fold them into the new rows and columns.
            """
            INSERT INTO escrow_events (height, receipt_index, event_index, escrow_id, type, amount, expiry_height, until_height, payee, fee, shortfall)
            SELECT height, receipt_index, event_index, decode(substr(data->>'escrowId', 3), 'hex'), type,
                CASE type WHEN 'usageClaimed' THEN (data->>'charged')::numeric WHEN 'escrowClosed' THEN (data->>'refund')::numeric
                    WHEN 'escrowUnlocking' THEN NULL ELSE (data->>'amount')::numeric END,
                (data->>'expiryHeight')::bigint, (data->>'untilHeight')::bigint, data->>'payee', (data->>'fee')::numeric, (data->>'shortfall')::numeric
            FROM events WHERE type IN ('escrowOpened', 'escrowToppedUp', 'escrowAllocated', 'usageClaimed', 'escrowUnlocking', 'escrowClosed')
            """,
            escrowFold(escrows: "SELECT escrow_id FROM escrow_events", through: nil),
        ]),
        Migration(version: 3, description: "sealed checks (pools with checkers): checks, check_answers", statements: [
            """
            CREATE TABLE checks (
                ticket_id bytea PRIMARY KEY,
                commitment_id bytea,
                pool bigint,
                worker text,
                assigned_height bigint NOT NULL,
                checkers text[] NOT NULL,
                status text NOT NULL,
                revealed_height bigint,
                withheld_height bigint,
                cancelled_height bigint,
                unblinded_height bigint,
                output_hash bytea,
                passed_height bigint,
                disputed_height bigint,
                key_deadline bigint,
                input_published_height bigint,
                failed_height bigint,
                failure_reason text,
                verdict text,
                verdict_height bigint,
                resolved_height bigint,
                updated_height bigint NOT NULL
            )
            """,
            "CREATE INDEX checks_pool ON checks (pool, assigned_height)",
            "CREATE INDEX checks_worker ON checks (worker, assigned_height)",
            "CREATE INDEX checks_status ON checks (status, assigned_height)",
            """
            CREATE TABLE check_answers (
                ticket_id bytea NOT NULL,
                checker text NOT NULL,
                slot integer NOT NULL,
                assigned_height bigint NOT NULL,
                committed_height bigint,
                revealed_height bigint,
                answer bytea,
                matches boolean,
                absent_height bigint,
                benched_until bigint,
                fee_owed numeric(20, 0),
                fee_owed_height bigint,
                PRIMARY KEY (ticket_id, checker)
            )
            """,
            "CREATE INDEX check_answers_checker ON check_answers (checker, assigned_height)",
            // An older database's checks are in `events` only: fold them in (the same rows a fresh run writes).
            """
            INSERT INTO checks (ticket_id, commitment_id, assigned_height, checkers, status, updated_height)
            SELECT decode(substr(a.data->>'ticketId', 3), 'hex'), t.commitment_id, a.height,
                ARRAY(SELECT jsonb_array_elements_text(a.data->'checkers')), 'assigned', a.height
            FROM events a LEFT JOIN tickets t ON t.ticket_id = decode(substr(a.data->>'ticketId', 3), 'hex')
            WHERE a.type = 'checkersAssigned'
            """,
            """
            INSERT INTO check_answers (ticket_id, checker, slot, assigned_height)
            SELECT decode(substr(a.data->>'ticketId', 3), 'hex'), c.checker, c.n - 1, a.height
            FROM events a CROSS JOIN LATERAL jsonb_array_elements_text(a.data->'checkers') WITH ORDINALITY AS c(checker, n)
            WHERE a.type = 'checkersAssigned'
            """,
            checkOwners(through: nil),
            """
            UPDATE checks c SET revealed_height = e.height, updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'ticketRevealed' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET withheld_height = e.height, updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'revealWithheld' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET cancelled_height = e.height, updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type IN ('ticketVoided', 'passReused') AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET unblinded_height = e.height, output_hash = decode(substr(e.data->>'outputHash', 3), 'hex'),
                updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'outputUnblinded' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET passed_height = e.height, updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'checkPassed' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET disputed_height = e.height, key_deadline = (e.data->>'keyDeadline')::bigint,
                updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'disputeOpened' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET input_published_height = e.height, updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'sealedInputPublished' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET failed_height = e.height, failure_reason = e.data->>'reason',
                updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE e.type = 'sealedCheckFailed' AND decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id
            """,
            """
            UPDATE checks c SET verdict = CASE e.type WHEN 'fraudProven' THEN 'fraud' ELSE 'upheld' END, verdict_height = e.height,
                updated_height = greatest(c.updated_height, e.height)
            FROM events e WHERE decode(substr(e.data->>'ticketId', 3), 'hex') = c.ticket_id AND c.failed_height IS NULL
                AND ((e.type = 'fraudProven' AND (c.input_published_height IS NOT NULL OR c.passed_height IS NOT NULL))
                    OR (e.type = 'fraudRejected' AND c.input_published_height IS NOT NULL))
            """,
            """
            UPDATE check_answers a SET committed_height = e.height
            FROM events e WHERE e.type = 'answerCommitted' AND decode(substr(e.data->>'ticketId', 3), 'hex') = a.ticket_id
                AND e.data->>'checker' = a.checker
            """,
            """
            UPDATE check_answers a SET revealed_height = e.height, answer = decode(substr(e.data->>'answer', 3), 'hex')
            FROM events e WHERE e.type = 'answerRevealed' AND decode(substr(e.data->>'ticketId', 3), 'hex') = a.ticket_id
                AND e.data->>'checker' = a.checker
            """,
            """
            UPDATE check_answers a SET absent_height = e.height, benched_until = (e.data->>'benchedUntil')::bigint
            FROM events e WHERE e.type = 'checkerAbsent' AND decode(substr(e.data->>'ticketId', 3), 'hex') = a.ticket_id
                AND e.data->>'checker' = a.checker
            """,
            """
            UPDATE check_answers a SET fee_owed = (e.data->>'amount')::numeric, fee_owed_height = e.height
            FROM events e WHERE e.type = 'checkFeeOwed' AND decode(substr(e.data->>'ticketId', 3), 'hex') = a.ticket_id
                AND e.data->>'checker' = a.checker
            """,
            "UPDATE check_answers a SET matches = (a.answer = c.output_hash) FROM checks c WHERE c.ticket_id = a.ticket_id",
            checkStatus(where: "true"),
        ]),
        Migration(version: 4, description: "fraud cases of dispute replays (fraud_cases.origin); check fees paid (check_answers.fee_paid)", statements: [
            "ALTER TABLE fraud_cases ALTER COLUMN claim DROP NOT NULL, ALTER COLUMN prover DROP NOT NULL",
            "ALTER TABLE fraud_cases ADD COLUMN origin text NOT NULL DEFAULT 'claim'",
            "ALTER TABLE fraud_cases ALTER COLUMN origin DROP DEFAULT",
            "ALTER TABLE check_answers ADD COLUMN fee_paid numeric(20, 0), ADD COLUMN fee_paid_height bigint",
            // A dispute's replay already in `events`: its case, with the outcome its adjudication event gave.
            """
            INSERT INTO fraud_cases (ticket_id, claim, prover, opened_height, status, origin)
            SELECT decode(substr(e.data->>'ticketId', 3), 'hex'), NULL, NULL, e.height, 'pending', 'dispute'
            FROM events e WHERE e.type = 'sealedInputPublished'
            ON CONFLICT DO NOTHING
            """,
            """
            UPDATE fraud_cases f SET status = 'proven', worker = e.data->>'worker', slashed = (e.data->>'slashed')::numeric,
                bounty = (e.data->>'bounty')::numeric, adjudicated_height = e.height
            FROM events e WHERE f.origin = 'dispute' AND e.type = 'fraudProven'
                AND decode(substr(e.data->>'ticketId', 3), 'hex') = f.ticket_id AND e.height >= f.opened_height
            """,
            """
            UPDATE fraud_cases f SET status = 'rejected', bonds_burned = (e.data->>'bondsBurned')::numeric, adjudicated_height = e.height
            FROM events e WHERE f.origin = 'dispute' AND e.type = 'fraudRejected'
                AND decode(substr(e.data->>'ticketId', 3), 'hex') = f.ticket_id AND e.height >= f.opened_height
            """,
            // Payment events name their ticket from this version of the chain on (older ones are left NULL).
            """
            UPDATE check_answers a SET fee_paid = (e.data->>'amount')::numeric, fee_paid_height = e.height
            FROM events e WHERE e.type = 'checkFeePaid' AND e.data ? 'ticketId'
                AND decode(substr(e.data->>'ticketId', 3), 'hex') = a.ticket_id AND e.data->>'checker' = a.checker
            """,
        ]),
        // Tenth review, RPC F1: an escrow's expiry is any u64 above the height the owner picks (the ledger sets no upper
        // bound), and one above 2^63 − 1 made the block's COPY into `bigint` fail: every indexer stopped at that block for
        // good. The other `bigint` columns hold values the chain bounds (Specs/indexer.md §2).
        Migration(version: 5, description: "escrow expiry heights as numeric(20,0) (any u64 an owner picks)", statements: [
            "ALTER TABLE escrows ALTER COLUMN expiry_height TYPE numeric(20, 0)",
            "ALTER TABLE escrow_events ALTER COLUMN expiry_height TYPE numeric(20, 0)",
        ]),
        // A node that joined by state sync stores no block between genesis and its snapshot's: an indexer on an empty
        // database starts at the node's earliest block, and records where its history starts (Specs/indexer.md §1).
        Migration(version: 6, description: "indexer_state.first_height: the height indexing started from (0, or a state-synced node's earliest block)", statements: [
            "ALTER TABLE indexer_state ADD COLUMN IF NOT EXISTS first_height bigint NOT NULL DEFAULT 0",
        ]),
    ]

    /// The check phase a `checks` row's height columns describe (Specs/indexer.md §3.5), as an SQL expression.
    static let checkStatusExpression = """
        CASE WHEN verdict IS NOT NULL THEN verdict WHEN failed_height IS NOT NULL THEN 'failed'
            WHEN input_published_height IS NOT NULL THEN 'replaying' WHEN disputed_height IS NOT NULL THEN 'disputed'
            WHEN passed_height IS NOT NULL THEN 'passed' WHEN cancelled_height IS NOT NULL THEN 'cancelled'
            WHEN withheld_height IS NOT NULL THEN 'withheld' WHEN revealed_height IS NOT NULL THEN 'checking' ELSE 'assigned' END
        """

    /// Sets `status` and `resolved_height` of the `checks` rows matching `condition` from their height columns.
    static func checkStatus(where condition: String) -> String {
        """
        UPDATE checks SET status = \(checkStatusExpression),
            resolved_height = coalesce(verdict_height, failed_height, passed_height)
        WHERE \(condition)
        """
    }

    /// Fills `pool` and `worker` of the checks assigned at height `through` (SQL text, e.g. `$1`; nil: every check
    /// without a pool) from their commitment's `sharesCommitted` event (the newest one before the assignment: a
    /// commitment is drawn a few blocks after it is included, so the backward index scan is short).
    static func checkOwners(through: String?) -> String {
        let which = through.map { "c2.assigned_height = \($0)" } ?? "c2.pool IS NULL"
        return """
            UPDATE checks c SET pool = s.pool, worker = coalesce(c.worker, s.worker)
            FROM checks c2 CROSS JOIN LATERAL (
                SELECT (e.data->>'pool')::bigint AS pool, e.data->>'worker' AS worker FROM events e
                WHERE e.type = 'sharesCommitted' AND e.height < c2.assigned_height
                    AND e.data->>'commitmentId' = '0x' || encode(c2.commitment_id, 'hex')
                ORDER BY e.height DESC LIMIT 1
            ) s
            WHERE \(which) AND c.ticket_id = c2.ticket_id
            """
    }

    /// The escrow event types `escrow_events` holds (every event that changes an escrow record).
    static let escrowEventTypes: Set<String> = ["escrowOpened", "escrowToppedUp", "escrowAllocated", "usageClaimed", "escrowUnlocking", "escrowClosed"]

    /// Recomputes the state columns of the escrows `escrows` (a query of `escrow_id`s) from their `escrow_events`
    /// at or below height `through` (SQL text, e.g. `$1`; nil: all), exactly as the ledger changes an escrow record:
    /// deposits (opening and top-ups) less charged usage while open, nothing once closed (the refund went to the owner).
    static func escrowFold(escrows: String, through: String?) -> String {
        let limit = through.map { " AND height <= \($0)" } ?? ""
        return """
            UPDATE escrows e SET
                deposited = f.deposited,
                balance = CASE WHEN f.closed THEN 0 ELSE f.deposited - f.charged END,
                allocated = CASE WHEN f.closed THEN 0 ELSE f.allocated - f.charged END,
                total_charged = f.charged, shortfall = f.shortfall, expiry_height = f.expiry,
                status = CASE WHEN f.closed THEN 'closed' WHEN f.unlock IS NOT NULL THEN 'unlocking' ELSE 'open' END,
                unlock_height = CASE WHEN f.closed THEN NULL ELSE f.unlock END
            FROM (
                SELECT escrow_id,
                    coalesce(sum(amount) FILTER (WHERE type IN ('escrowOpened', 'escrowToppedUp')), 0) AS deposited,
                    coalesce(sum(amount) FILTER (WHERE type = 'usageClaimed'), 0) AS charged,
                    coalesce(sum(amount) FILTER (WHERE type = 'escrowAllocated'), 0) AS allocated,
                    coalesce(sum(shortfall), 0) AS shortfall,
                    coalesce(bool_or(type = 'escrowClosed'), false) AS closed,
                    max(until_height) FILTER (WHERE type = 'escrowUnlocking') AS unlock,
                    (array_agg(expiry_height ORDER BY height DESC, receipt_index DESC, event_index DESC)
                        FILTER (WHERE expiry_height IS NOT NULL))[1] AS expiry
                FROM escrow_events WHERE escrow_id IN (\(escrows))\(limit) GROUP BY escrow_id
            ) f
            WHERE e.escrow_id = f.escrow_id
            """
    }

    /// Statements that take every table back to the state after block `height` (rows of later blocks deleted,
    /// later updates undone). `$1` is the height.
    static let rollback: [String] = [
        "DELETE FROM blocks WHERE height > $1",
        "DELETE FROM transactions WHERE height > $1",
        "DELETE FROM receipts WHERE height > $1",
        "DELETE FROM events WHERE height > $1",
        "DELETE FROM accounts WHERE first_height > $1",
        "DELETE FROM account_history WHERE height > $1",
        // Each account updated above the fork point gets its last state at or below it back (its history row).
        """
        UPDATE accounts a SET balance = h.balance, nonce = h.nonce, staked = h.staked, unbonding = h.unbonding, updated_height = h.height
        FROM (SELECT DISTINCT ON (address) address, height, balance, nonce, staked, unbonding FROM account_history
              WHERE height <= $1 AND address IN (SELECT address FROM accounts WHERE updated_height > $1)
              ORDER BY address, height DESC) h
        WHERE a.address = h.address AND a.updated_height > $1
        """,
        // No history at or below the fork point (an account carried over from schema version 1): unknown again.
        "UPDATE accounts SET balance = NULL, nonce = NULL, staked = NULL, unbonding = NULL, updated_height = NULL WHERE updated_height > $1",
        "DELETE FROM stakes WHERE height > $1",
        "DELETE FROM escrows WHERE opened_height > $1",
        "UPDATE escrows SET closed_height = NULL, refund = NULL WHERE closed_height > $1",
        // Escrows changed above the fork point: their state columns again from their events at or below it.
        escrowFold(escrows: "SELECT escrow_id FROM escrow_events WHERE height > $1", through: "$1"),
        "DELETE FROM escrow_events WHERE height > $1",
        "DELETE FROM windows WHERE settled_height > $1",
        "DELETE FROM payouts WHERE height > $1",
        "DELETE FROM refunds WHERE height > $1",
        "DELETE FROM tickets WHERE selected_height > $1",
        "UPDATE tickets SET revealed_height = NULL, leaf_index = NULL, challenge_end = NULL WHERE revealed_height > $1",
        "UPDATE tickets SET withheld_height = NULL WHERE withheld_height > $1",
        "UPDATE tickets SET voided_height = NULL WHERE voided_height > $1",
        "DELETE FROM fraud_cases WHERE opened_height > $1",
        """
        UPDATE fraud_cases SET status = 'pending', worker = NULL, slashed = NULL, bounty = NULL, bonds_burned = NULL,
            adjudicated_height = NULL WHERE adjudicated_height > $1
        """,
        // Checks: rows assigned above the fork point go; every column a later block set (each with its height) is
        // cleared; then the answers' `matches` and the checks' `status` are derived again (as a fresh run writes them).
        "DELETE FROM check_answers WHERE assigned_height > $1",
        "DELETE FROM checks WHERE assigned_height > $1",
        """
        UPDATE check_answers SET
            committed_height = CASE WHEN committed_height > $1 THEN NULL ELSE committed_height END,
            revealed_height = CASE WHEN revealed_height > $1 THEN NULL ELSE revealed_height END,
            answer = CASE WHEN revealed_height > $1 THEN NULL ELSE answer END,
            matches = CASE WHEN revealed_height > $1 THEN NULL ELSE matches END,
            absent_height = CASE WHEN absent_height > $1 THEN NULL ELSE absent_height END,
            benched_until = CASE WHEN absent_height > $1 THEN NULL ELSE benched_until END,
            fee_owed = CASE WHEN fee_owed_height > $1 THEN NULL ELSE fee_owed END,
            fee_owed_height = CASE WHEN fee_owed_height > $1 THEN NULL ELSE fee_owed_height END,
            fee_paid = CASE WHEN fee_paid_height > $1 THEN NULL ELSE fee_paid END,
            fee_paid_height = CASE WHEN fee_paid_height > $1 THEN NULL ELSE fee_paid_height END
        WHERE greatest(committed_height, revealed_height, absent_height, fee_owed_height, fee_paid_height) > $1
        """,
        """
        UPDATE checks SET
            revealed_height = CASE WHEN revealed_height > $1 THEN NULL ELSE revealed_height END,
            withheld_height = CASE WHEN withheld_height > $1 THEN NULL ELSE withheld_height END,
            cancelled_height = CASE WHEN cancelled_height > $1 THEN NULL ELSE cancelled_height END,
            unblinded_height = CASE WHEN unblinded_height > $1 THEN NULL ELSE unblinded_height END,
            output_hash = CASE WHEN unblinded_height > $1 THEN NULL ELSE output_hash END,
            passed_height = CASE WHEN passed_height > $1 THEN NULL ELSE passed_height END,
            disputed_height = CASE WHEN disputed_height > $1 THEN NULL ELSE disputed_height END,
            key_deadline = CASE WHEN disputed_height > $1 THEN NULL ELSE key_deadline END,
            input_published_height = CASE WHEN input_published_height > $1 THEN NULL ELSE input_published_height END,
            failed_height = CASE WHEN failed_height > $1 THEN NULL ELSE failed_height END,
            failure_reason = CASE WHEN failed_height > $1 THEN NULL ELSE failure_reason END,
            verdict = CASE WHEN verdict_height > $1 THEN NULL ELSE verdict END,
            verdict_height = CASE WHEN verdict_height > $1 THEN NULL ELSE verdict_height END
        WHERE updated_height > $1
        """,
        "UPDATE check_answers a SET matches = (a.answer = c.output_hash) FROM checks c WHERE c.ticket_id = a.ticket_id AND c.updated_height > $1",
        """
        UPDATE checks SET status = \(checkStatusExpression), resolved_height = coalesce(verdict_height, failed_height, passed_height),
            updated_height = greatest(assigned_height, revealed_height, withheld_height, cancelled_height, unblinded_height, passed_height,
                disputed_height, input_published_height, failed_height, verdict_height)
        WHERE updated_height > $1
        """,
    ]
}

import Primitives
import RPC

/// Why the indexer stopped or refused to start. Every case says what to fix.
public enum IndexerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The `--postgres` URL is not `postgres://user[:password]@host[:port]/database`.
    case badPostgresURL(String)
    /// The database settings cannot be used: no URL given, or an unreadable or conflicting password file.
    case postgresSettings(String)
    /// PostgreSQL refused or dropped the connection, or a statement failed.
    case postgres(String)
    /// The node could not be reached or answered with an error.
    case node(String)
    /// The node's answer does not have the documented shape (Specs/rpc.md).
    case malformed(String)
    /// The database was indexed from another chain.
    case wrongChain(stored: String, node: String)
    /// The database's schema is newer than this build knows.
    case schemaTooNew(stored: Int, supported: Int)
    /// A reorg reaches below the first block the database holds (or genesis changed).
    case reorgBelowIndexedHistory(height: UInt64)
    /// The next block the database needs (`needed`) is below the earliest block the node stores (`earliest`: it joined
    /// by state sync, Specs/rpc.md §6): this node cannot fill the gap. Follow a node that holds those blocks, or index
    /// into an empty database (which then starts at the node's earliest block).
    case blocksNotOnNode(needed: UInt64, earliest: UInt64)
    /// The database is indexed to exactly `earliest − 1` (`indexed`), and the parent of the node's earliest stored block
    /// (`earliest`) is not the indexed block: the two follow different branches, and the node stores no block below
    /// `earliest` (it joined by state sync) to find where they part and roll back to it.
    case earliestBlockDoesNotFollow(indexed: UInt64, earliest: UInt64)
    /// The run was cancelled (shutdown).
    case cancelled
    /// `indexer_state` is not the parent of the block being written (another indexer on the same database
    /// moved it): nothing was written; the caller re-reads the state and continues.
    case indexedTipMoved(String)

    public var description: String {
        switch self {
        case .badPostgresURL(let u): return "'\(u)' is not a postgres://user[:password]@host[:port]/database URL"
        case .postgresSettings(let m): return m
        case .postgres(let m): return "PostgreSQL: \(m)"
        case .node(let m): return "node: \(m)"
        case .malformed(let m): return "unexpected answer from the node: \(m)"
        case .wrongChain(let s, let n): return "the database indexes chain \(s), the node serves chain \(n): use another database"
        case .schemaTooNew(let s, let v):
            return "the database has indexer schema version \(s); this build knows versions up to \(v): upgrade sharechain"
        case .reorgBelowIndexedHistory(let h):
            return "the node's chain differs from the indexed one at every height down to \(h): the database belongs to another history"
        case .blocksNotOnNode(let needed, let earliest):
            return "the database needs block \(needed), but the node stores blocks only from height \(earliest) on (it joined by state sync): "
                + "follow a node that has blocks \(needed)…\(earliest - 1), or index into an empty database (it starts at height \(earliest))"
        case .earliestBlockDoesNotFollow(let indexed, let earliest):
            return "the node's earliest stored block \(earliest) does not follow the indexed block \(indexed): the database and the node "
                + "are on different branches, and the node stores no block below height \(earliest) (it joined by state sync) to find "
                + "where they part: follow a node that stores block \(indexed), or index into an empty database (it starts at height \(earliest))"
        case .cancelled: return "cancelled"
        case .indexedTipMoved(let m): return "the indexed tip moved under this indexer: \(m)"
        }
    }
}

extension IndexerError {
    /// A node error from the RPC client.
    static func from(_ e: RPCClientError) -> IndexerError { .node(e.description) }
}

import Foundation
import Ledger
import Primitives
import Verifier

/// Why a ticket cannot be replayed (as opposed to a replay whose verdict is a mismatch).
public enum TicketReplayError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The node does not know the ticket.
    case unknownTicket(Hash32)
    /// The ticket has no revealed pass yet (or was never revealed).
    case notRevealed(Hash32, TicketStatus)
    /// The node has no input for the revealed pass (its reveal transaction is gone).
    case inputUnavailable(Hash32)
    /// The ticket's pool is unknown, or its leaf names a shard the pool does not have.
    case unknownShard(pool: UInt32, shard: UInt32)
    /// No file with the shard's pinned SHA-256 under the weights directory.
    case weightsMissing(sha256: Hash32, directory: String)

    public var description: String {
        switch self {
        case .unknownTicket(let id): "no ticket \(id.hex) on this node"
        case .notRevealed(let id, let s): "ticket \(id.hex) has no revealed pass (status \(s))"
        case .inputUnavailable(let id): "the node has no input for ticket \(id.hex)"
        case .unknownShard(let pool, let shard): "pool \(pool) has no shard \(shard)"
        case .weightsMissing(let sha, let dir): "no weight file with SHA-256 \(sha.hex) under \(dir)"
        }
    }
}

/// The outcome of replaying one ticket by hand (`sharechain verifier replay`).
public struct TicketReplayReport: Sendable, Equatable {
    public var ticketId: Hash32
    public var status: TicketStatus
    public var worker: PublicKey
    public var pool: UInt32
    public var window: UInt64
    public var shard: UInt32
    /// The output hash the worker committed to (in its pass leaf; blinded in a pool with checkers).
    public var committedOutputHash: Hash32
    /// The canonical replay's verdict against the output the leaf claims (`leafClaims`).
    public var check: TicketCheck
    /// The canonical output hash, when the pass has one.
    public var recomputedOutputHash: Hash32?

    /// Whether the committed output is the canonical one.
    public var matches: Bool { check == .match }
}

/// Replaying one revealed ticket with the canonical executor: shared by the verifier service (which proves
/// fraud on a mismatch) and `sharechain verifier replay` (which only reports).
public enum TicketReplay {
    /// Replays a revealed pass with the canonical executor: its output hash, or why it has none. A token count that
    /// disagrees with the input is an invalid input before anything runs, as validators adjudicate it.
    public static func replay(leaf: PassLeaf, input: [UInt8], pool: PoolConfig, weights: WeightsIndex,
                              replayer: ShardReplayer) throws -> ReplayVerdict {
        guard Int(leaf.shard) < pool.shards.count else { throw TicketReplayError.unknownShard(pool: pool.id, shard: leaf.shard) }
        let shard = pool.shards[Int(leaf.shard)]
        guard let path = weights.files[shard.weightsSHA256] else {
            throw TicketReplayError.weightsMissing(sha256: shard.weightsSHA256, directory: weights.directory)
        }
        if let why = PassChecks.tokenMismatch(input: input, tokenCount: leaf.tokenCount, pool: pool) { return .invalidInput(why) }
        return try replayer.replay(model: PoolModels.config(pool), shard: PoolModels.shard(shard),
                                   weights: WeightsRef(path: path, sha256: shard.weightsSHA256),
                                   input: input, positionOffset: leaf.positionOffset)
    }

    /// Replays a revealed pass against the output its leaf claims, as validators adjudicate it (`leafClaims`): the
    /// unblinded output of a sealed check, the derived-salt opening of a blinded leaf that fell back to a public
    /// reveal, or the leaf's output in a pool without checkers.
    public static func check(leaf: PassLeaf, input: [UInt8], pool: PoolConfig, check sealed: SealedCheck?, weights: WeightsIndex,
                             replayer: ShardReplayer) throws -> TicketCheck {
        judge(try replay(leaf: leaf, input: input, pool: pool, weights: weights, replayer: replayer),
              leaf: leaf, input: input, pool: pool, check: sealed)
    }

    /// A replay's verdict against the output the leaf claims.
    static func judge(_ verdict: ReplayVerdict, leaf: PassLeaf, input: [UInt8], pool: PoolConfig, check sealed: SealedCheck?) -> TicketCheck {
        switch verdict {
        case .output(let h): leafClaims(h, leaf: leaf, input: input, pool: pool, check: sealed) ? .match : .mismatch(recomputed: h)
        case .invalidInput(let why): .invalidInput(why)
        case .invalidOutput(let why): .invalidOutput(why)
        }
    }

    /// Fetches a ticket, its input and its pool from the node and replays it. Any status with a revealed pass
    /// can be replayed (also after adjudication: that is when a disputed proof is checked by hand).
    public static func run(ticket id: Hash32, client: any ChainClient, weights: WeightsIndex,
                           replayer: ShardReplayer = ShardReplayer(cacheBytes: 512 << 20, limits: ReplayLimits(maxTokens: Int(UInt32.max))))
        async throws -> TicketReplayReport
    {
        guard let ticket = try await client.ticket(id) else { throw TicketReplayError.unknownTicket(id) }
        guard let leaf = ticket.leaf else { throw TicketReplayError.notRevealed(id, ticket.status) }
        guard let input = try await client.ticketInput(id) else { throw TicketReplayError.inputUnavailable(id) }
        guard let pool = try await client.pool(ticket.pool) else { throw TicketReplayError.unknownShard(pool: ticket.pool, shard: leaf.shard) }
        let sealed = pool.checking == nil ? nil : try await client.sealedCheck(id)
        let verdict = try replay(leaf: leaf, input: input, pool: pool, weights: weights, replayer: replayer)
        let recomputed: Hash32? = if case .output(let h) = verdict { h } else { nil }
        return TicketReplayReport(ticketId: id, status: ticket.status, worker: ticket.worker, pool: ticket.pool, window: ticket.window,
                                  shard: leaf.shard, committedOutputHash: leaf.outputHash,
                                  check: judge(verdict, leaf: leaf, input: input, pool: pool, check: sealed), recomputedOutputHash: recomputed)
    }
}

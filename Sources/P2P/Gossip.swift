import Consensus
import Foundation
import Ledger
import Logging
import NIOCore
import Primitives
import Synchronization

/// Block and transaction gossip: what we have seen, what is known invalid, what waits to be relayed, and
/// whether our status changed. One lock over all of it: "known invalid" and "seen" are checked and updated
/// together for each announced block, and the relay queue and the dirty flag follow the same chain events.
final class Gossip: Sendable {
    struct State: Sendable {
        var seenBlocks = BoundedSet<Hash32>(capacity: 8192)
        var seenTxs = BoundedSet<Hash32>(capacity: 65_536)
        /// Blocks found invalid: whoever sends one again misbehaves too (the dedup cache must not shield them).
        var invalidBlocks = BoundedSet<Hash32>(capacity: 4096)
        /// Mempool admissions not yet relayed.
        var pendingTxRelay = [SignedTransaction]()
        /// Our tip changed since the last status announcement.
        var statusDirty = false
    }

    /// What to do with an announced block, decided under the lock.
    enum Admission: Equatable {
        case knownInvalid
        case seen
        case new
    }

    private let state = Mutex(State())
    private let chain: ChainService
    private let table: PeerTable
    private let sync: SyncManager
    private let limits: P2PLimits
    private let logger: Logger

    init(chain: ChainService, table: PeerTable, sync: SyncManager, limits: P2PLimits, logger: Logger) {
        self.chain = chain
        self.table = table
        self.sync = sync
        self.limits = limits
        self.logger = logger
    }

    /// Records a block we announce ourselves (the producer's), so a peer echoing it is not processed again.
    func markSeen(block hash: Hash32) { state.withLock { _ = $0.seenBlocks.insert(hash) } }

    /// Whether a block was found invalid.
    func isKnownInvalid(_ hash: Hash32) -> Bool { state.withLock { $0.invalidBlocks.contains(hash) } }

    /// Whether a block was seen and not found invalid (a repeat that needs no work and is no misbehaviour).
    private func isSeenAndNotInvalid(_ hash: Hash32) -> Bool {
        state.withLock { !$0.invalidBlocks.contains(hash) && $0.seenBlocks.contains(hash) }
    }

    /// Known invalid, already seen, or new (then marked seen), in one step. Only for a block whose signature and body
    /// were checked against its header, so the hash stands for this block alone.
    func admit(block hash: Hash32) -> Admission {
        state.withLock { s in
            if s.invalidBlocks.contains(hash) { return .knownInvalid }
            return s.seenBlocks.insert(hash) ? .new : .seen
        }
    }

    /// A block announced by a peer: checked, imported, relayed when valid, the peer scored when not.
    func receiveNewBlock(_ block: Block, from peer: Peer) async {
        let hash = block.hash
        peer.markKnown(block: hash)
        guard Plausibility.slotIsPlausible(block.header.slot, genesis: chain.genesis, nowMillis: UInt64(Date().timeIntervalSince1970 * 1000)) else {
            misbehave(peer, .invalidBlock, "block \(hash.hex.prefix(16)) has slot \(block.header.slot), far ahead of the clock")
            return
        }
        // The block hash covers the header only: neither its signature nor the body (only through `txRoot`). A copy of a
        // genuine header with a flipped signature bit or another body has the genuine block's hash, so the message is
        // bound to its hash before the hash is recorded as seen or invalid; else one forged copy would make this node
        // refuse the genuine block and ban every honest peer that relays it (p2p.md §7).
        if isSeenAndNotInvalid(hash) { return }
        guard block.signedHeader.hasValidSignature, Block.txRoot(block.transactions) == block.header.txRoot else {
            misbehave(peer, .invalidBlock, "block \(block.header.height) \(hash.hex.prefix(16)): its signature or body does not match its header")
            return
        }
        switch admit(block: hash) {
        case .knownInvalid:
            misbehave(peer, .invalidBlock, "block \(block.header.height) \(hash.hex.prefix(16)) is known to be invalid")
            return
        case .seen:
            return
        case .new:
            break
        }
        let outcome = await chain.importBlock(block)
        switch outcome {
        case .imported:
            peer.state.withLock { $0.lastNewBlock = .now }
            logger.debug("block from peer", metadata: ["height": "\(block.header.height)", "hash": "\(hash.hex.prefix(16))", "peer": "\(peer.label)"])
            relay(block, except: peer)
        case .sideChain:
            // Stored on a side branch after stateless checks only, never executed: relaying it could get this node
            // banned by a peer that executes it and finds it invalid (p2p.md §7: honest nodes never relay an invalid
            // block). Peers that need the branch fetch it by sync once it leads.
            peer.state.withLock { $0.lastNewBlock = .now }
            logger.debug("side-branch block from peer", metadata: ["height": "\(block.header.height)", "hash": "\(hash.hex.prefix(16))", "peer": "\(peer.label)"])
        case .alreadyKnown, .fromFuture:
            break
        case .unknownParent:
            // Forget it so a later announcement is processed again, and fetch the missing branch.
            state.withLock { _ = $0.seenBlocks.remove(hash) }
            sync.post(.orphan(peer))
        case .invalid(let e):
            state.withLock { _ = $0.invalidBlocks.insert(hash) }
            misbehave(peer, .invalidBlock, "block \(block.header.height) \(hash.hex.prefix(16)): \(e)")
        case .notStored(let why):
            // Nothing shows it invalid (e.g. a leader that a removal on its branch changed): no score. It does not make
            // its branch lead, or it would have been executed; sync fetches the branch if a peer shows it leading.
            logger.debug("side block not stored: \(why)", metadata: ["peer": "\(peer.label)", "height": "\(block.header.height)"])
        case .belowFinality:
            logger.debug("block forks below our finalized height; ignored", metadata: ["peer": "\(peer.label)", "height": "\(block.header.height)"])
        case .fault(let m):
            logger.error("importing a block from a peer failed: \(m)")
        }
    }

    /// Sends a block to every peer not known to have it (encoded once).
    func relay(_ block: Block, except: Peer?) {
        var frame: ByteBuffer?
        for p in table.peers where p !== except && !p.isClosed {
            guard p.markKnown(block: block.hash) else { continue }
            if frame == nil { frame = ByteBuffer(bytes: P2PMessage.newBlock(block).frame) }
            if let frame { p.send(frame: frame) }
        }
    }

    /// Transactions announced by a peer, into the mempool; invalid envelopes score the peer.
    func receiveTransactions(_ txs: [SignedTransaction], from peer: Peer) async {
        for tx in txs {
            peer.markKnown(tx: tx.id)
            guard state.withLock({ $0.seenTxs.insert(tx.id) }) else { continue }
            do {
                try await chain.submit(tx)
            } catch {
                switch error {
                case .invalid(.badSignature), .invalid(.wrongChain), .invalid(.oversized):
                    misbehave(peer, .invalidTransaction, "transaction \(tx.id.hex.prefix(16)): \(error)")
                    if peer.isClosed { return }
                case .fault(let m):
                    logger.error("cannot check a transaction from a peer: \(m)", metadata: ["peer": "\(peer.label)"])
                default:
                    break  // stale nonces, fees, full pools: normal gossip races, not misbehaviour
                }
            }
        }
    }

    /// A chain event: new blocks and reorgs change our status; new mempool transactions wait to be relayed.
    /// Returns the block to relay now, if any (only blocks near the head: peers fetch old ones themselves).
    func chainEvent(_ event: ChainEvent, currentSlot: UInt64) -> Block? {
        switch event {
        case .newBlock(let block, _):
            state.withLock { $0.statusDirty = true }
            return block.header.slot + 3 >= currentSlot ? block : nil
        case .reorg:
            state.withLock { $0.statusDirty = true }
            return nil
        case .pendingTransaction(let tx):
            state.withLock { s in
                _ = s.seenTxs.insert(tx.id)
                if s.pendingTxRelay.count < 65_536 { s.pendingTxRelay.append(tx) }
            }
            return nil
        }
    }

    /// Whether our status changed since the last call.
    func takeStatusDirty() -> Bool { state.withLock { s in defer { s.statusDirty = false }; return s.statusDirty } }

    /// Sends queued mempool admissions to the peers that do not have them, in frames under the cap.
    func flushTransactions() {
        let txs = state.withLock { s -> [SignedTransaction] in
            defer { s.pendingTxRelay = [] }
            return s.pendingTxRelay
        }
        guard !txs.isEmpty else { return }
        let budget = limits.maxPayloadBytes - 16
        for p in table.peers where !p.isClosed {
            let fresh = txs.filter { p.markKnown(tx: $0.id) }
            var batch = [SignedTransaction](), bytes = 0
            for tx in fresh {
                if !batch.isEmpty && (bytes + tx.encodedSize > budget || batch.count == P2PLimits.maxTransactionsPerMessage) {
                    p.send(.transactions(batch))
                    batch = []
                    bytes = 0
                }
                batch.append(tx)
                bytes += tx.encodedSize
            }
            if !batch.isEmpty { p.send(.transactions(batch)) }
        }
    }

    private func misbehave(_ peer: Peer, _ what: Misbehaviour, _ detail: String) {
        P2PService.penalize(table: table, logger: logger, peer, what, detail)
    }
}

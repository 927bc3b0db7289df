import Consensus
import Foundation
import Logging
import Metrics
import Primitives
import ServiceLifecycle

/// Produces a block whenever the node's validator leads a slot: waits for each slot's start, builds from
/// the mempool until the slot's half-way deadline, imports through the ordinary path, and hands the block
/// to `broadcast` (P2P relay). Skips production while `isSynced` says the node is behind. Never signs two blocks
/// for one slot: each slot is recorded in `protectionFile` before its block is signed (`BlockSigningProtection`).
public struct BlockProducerService: Service {
    public let chain: ChainService
    public let logger: Logger
    let identity: ValidatorIdentity
    /// Where the highest signed slot is kept (`<data-dir>/signed-blocks.json`).
    public let protectionFile: String
    let isSynced: @Sendable () async -> Bool
    let broadcast: @Sendable (Block) async -> Void

    public init(chain: ChainService, identity: ValidatorIdentity, protectionFile: String, logger: Logger,
                isSynced: @escaping @Sendable () async -> Bool = { true },
                broadcast: @escaping @Sendable (Block) async -> Void = { _ in }) {
        self.chain = chain
        self.identity = identity
        self.protectionFile = protectionFile
        self.logger = logger
        self.isSynced = isSynced
        self.broadcast = broadcast
    }

    /// Produces the block of `slot` if `identity` leads it and `protection` permits it, recording the slot in
    /// `protectionFile` first; nil when it does not lead, or the slot is not above every slot signed before (the
    /// clock went back, or the node restarted within a slot it signed).
    public static func produceIfPermitted(slot: UInt64, chain: ChainService, identity: inout ValidatorIdentity,
                                          protection: inout BlockSigningProtection, protectionFile: String,
                                          deadline: UInt64) async throws -> Block? {
        guard protection.permits(slot: slot), try await chain.leader(of: slot) == identity.key.publicKey else { return nil }
        var updated = protection
        updated.record(slot: slot)
        try updated.save(to: protectionFile)
        protection = updated
        return try await chain.produce(slot: slot, identity: &identity, deadline: deadline)
    }

    public func run() async throws {
        let genesis = chain.genesis
        let slotMillis = genesis.slotMillis
        let loaded = try BlockSigningProtection.load(protectionFile)
        logger.info("block producer started", metadata: ["validator": "\(identity.key.publicKey.hex)",
                                                        "lastSignedSlot": "\(loaded.lastSignedSlot.map(String.init) ?? "none")"])
        let initial = identity
        // Graceful shutdown cancels the loop; a cancelled sleep ends it without an error.
        await cancelWhenGracefulShutdown {
            var identity = initial
            var protection = loaded
            var scheduleNotice = ScheduleNotice()
            while !Task.isCancelled {
                let now = await chain.now()
                let slot = genesis.slot(atMillis: now) + 1
                let start = genesis.slotStartMillis(slot)
                // Wake just after the slot starts (a few ms so the timestamp lands inside it).
                do { try await Task.sleep(for: .milliseconds(Int64(start + 5 - min(now, start + 5)))) } catch { return }
                await chain.retryEarly()
                guard await isSynced() else {
                    logger.debug("not producing: syncing", metadata: ["slot": "\(slot)"])
                    continue
                }
                // A validator key that leads no slot (not bonded, jailed, or bonded too recently) would otherwise produce
                // nothing and say nothing: say so once per epoch, and when it enters the schedule.
                if let scheduled = try? await chain.isScheduled(identity.key.publicKey, slot: slot) {
                    Gauge(label: "sharechain_validator_scheduled").record(scheduled ? 1 : 0)
                    if let line = scheduleNotice.update(scheduled: scheduled, epoch: slot / chain.ledger.params.slotsPerEpoch) {
                        if scheduled { logger.notice("\(line)", metadata: ["slot": "\(slot)"]) } else { logger.warning("\(line)", metadata: ["slot": "\(slot)"]) }
                    }
                }
                if !protection.permits(slot: slot) {
                    logger.warning("not producing: a block was signed for this slot or a later one (did the clock go back?)",
                                   metadata: ["slot": "\(slot)", "lastSignedSlot": "\(protection.lastSignedSlot ?? 0)"])
                    continue
                }
                do {
                    if let block = try await Self.produceIfPermitted(slot: slot, chain: chain, identity: &identity, protection: &protection,
                                                                     protectionFile: protectionFile, deadline: start + slotMillis / 2) {
                        Counter(label: "sharechain_blocks_produced_total").increment()
                        logger.info("produced block", metadata: [
                            "height": "\(block.header.height)", "slot": "\(slot)", "txs": "\(block.transactions.count)",
                            "hash": "\(block.hash.hex.prefix(16))",
                        ])
                        await broadcast(block)
                    }
                } catch {
                    logger.error("block production failed: \(error)", metadata: ["slot": "\(slot)"])
                }
            }
        }
    }
}

/// When the block producer reports that its key is or is not in the validator set that schedules slots: a key out of
/// the set once per epoch (an operator sees why nothing is produced), and the first slot back in it.
struct ScheduleNotice: Equatable {
    private var lastEpochReported: UInt64?
    private var wasScheduled: Bool?

    /// The line to log for this slot's answer, if any.
    mutating func update(scheduled: Bool, epoch: UInt64) -> String? {
        defer { wasScheduled = scheduled }
        if scheduled {
            guard wasScheduled == false else { return nil }
            lastEpochReported = nil
            return "this validator is in the schedule: it leads slots from this epoch on"
        }
        guard lastEpochReported != epoch else { return nil }
        lastEpochReported = epoch
        return "this validator is not in the schedule of epoch \(epoch), so it leads no slot and produces nothing: its key is not bonded (at least validatorMinStake, `sharechain tx bond --role validator`), is jailed, or was bonded too recently (a validator bonded in epoch e leads from epoch e + 2)"
    }
}

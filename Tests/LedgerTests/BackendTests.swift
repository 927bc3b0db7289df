import Foundation
import Testing
@testable import Ledger
@testable import Primitives
import Storage
import TestSupport

/// The ledger over RocksDB must behave exactly as over memory: the same blocks give the same write sets and
/// state roots at every height.
@Suite struct BackendTests {
    @Test func rocksDBStateGivesTheSameRootsAsMemory() throws {
        var sim = try Simulation(seed: 99)
        sim.chain.checkInvariants = false
        for _ in 0..<150 { try sim.step() }

        let tmp = TempDir("backend")
        let dir = tmp.path
        var options = DatabaseOptions.small
        options.syncWrites = false
        let store = try ChainStore(path: dir, genesis: Chain.chainId, options: options)
        var parent = Hash32.zero
        func commit(_ ws: WriteSet, _ height: UInt64) throws {
            let hash = SHA256.hash(parent.bytes + [UInt8(height & 0xff), UInt8(height >> 8)])
            try store.commit(BlockRecord(hash: hash, height: height, parent: parent, header: [], body: [], receipts: [], transactions: []),
                             writeSet: ws)
            parent = hash
        }
        try commit(sim.chain.genesisWriteSet, 0)
        var root = StateCommitment.next(previous: Chain.chainId, height: 0, writeSet: sim.chain.genesisWriteSet)
        for (i, (ctx, txs)) in sim.chain.history.enumerated() {
            var state = LedgerState(base: store.current)
            _ = try sim.chain.ledger.applyBlock(ctx, transactions: txs, to: &state)
            let ws = try state.overlay.writeSet()
            root = StateCommitment.next(previous: root, height: ctx.height, writeSet: ws)
            #expect(root == sim.roots[i], "height \(ctx.height)")
            try commit(ws, ctx.height)
        }
        #expect(try store.current.dumpState() == sim.chain.state.dump())
        try store.close()
    }
}

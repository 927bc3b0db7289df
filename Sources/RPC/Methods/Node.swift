import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `node_*` and `rpc.discover`: the node's version, chain and status, and the OpenRPC document.
    func addNodeMethods(to m: inout MethodTable) {
        let r = render
        m.add("node_status") { _, _ in
            let s = await self.chain.status()
            async let syncing = self.network.isSyncing()
            async let peers = self.network.peers()
            return .object([
                "version": .string(self.config.nodeVersion), "chainName": .string(self.genesis.chainName),
                "chainId": r.hash(s.chainId), "genesisHash": r.hash(s.genesisHash), "height": .int(s.height),
                "tipHash": r.hash(s.tipHash), "slot": .int(s.slot), "timestamp": .int(s.timestamp),
                "finalizedHeight": .int(s.finalizedHeight), "earliestBlockHeight": .int(RPCNode.earliestBlock(s.earliestBlockHeight)),
                "syncing": .bool(await syncing), "peers": .int(await peers.count),
                "mempool": .object(["transactions": .int(s.mempoolTransactions), "bytes": .int(s.mempoolBytes)]),
            ])
        }
        m.add("node_version") { _, _ in .string(self.config.nodeVersion) }
        m.add("node_chainId") { _, _ in r.hash(self.genesis.chainId) }
        m.add("rpc.discover") { _, _ in try OpenRPC.document() }
    }
}

import Consensus
import Ledger
import Primitives
import StateTree
import Storage

extension RPCNode {
    /// `state_*`: Merkle proofs of ledger state against a block's `stateRoot` (Specs/state-tree.md).
    func addStateMethods(to m: inout MethodTable) {
        let r = render
        m.add("state_getProof", [ParamSpec("key"), .optional("block")]) { p, _ in
            let key = try self.stateKey(p)
            let view = try self.view()
            let (state, height) = try self.state(p, view)
            guard let hash = try view.canonicalHash(at: height) else { throw RPCError.notFound("block", .int(height)) }
            let root = try self.header(view, hash).header.stateRoot
            let value = try state.get(key)
            let proof: StateProof
            do { proof = try view.stateProof(height: height, key: key) } catch is StateTreeError {
                throw RPCError.pruned("state tree version", "the state tree at height \(height) is not retained by this node")
            }
            // Never serve a proof that does not verify: it would mean the node's tree and state disagree.
            guard proof.verify(root: root, key: key, value: value) else { throw StorageFault("state proof for height \(height) does not verify") }
            return .object([
                "blockHeight": .int(height), "blockHash": r.hash(hash), "stateRoot": r.hash(root),
                "key": .hex(key), "keyHash": r.hash(TreeHash.key(key)),
                "value": value.map { .hex($0) } ?? .null, "valueHash": value.map { r.hash(TreeHash.value($0)) } ?? .null,
                "proof": .hex(proof.canonicalEncoding),
            ])
        }
    }

    /// The `key` parameter of `state_getProof`: a raw ledger key as 0x-hex, or an object naming one record:
    /// `{"account": address}`, `{"validator": address}`, `{"worker": {"pool", "address"}}`, `{"escrow": id}`,
    /// `{"pool": n}`, `{"window": {"pool", "window"}}`, `{"ticket": id}`, `{"commitment": id}`.
    func stateKey(_ p: Params) throws(RPCError) -> [UInt8] {
        let kinds = ["raw", "account", "validator", "worker", "escrow", "pool", "window", "ticket", "commitment"]
        switch p.raw("key") {
        case .string?:
            return try rawKey(p, "key")
        case .object(let o)?:
            guard o.members.count == 1, let member = o.members.first else {
                throw .invalidParams("'key' must name exactly one of \(kinds.joined(separator: ", "))", param: "key")
            }
            let inner = try Params(.object(o), specs: kinds.map { .optional($0) }, hrp: p.hrp)
            switch member.key {
            case "raw": return try rawKey(inner, "raw")
            case "account": return StateKey.account(try inner.required("account", inner.address))
            case "validator": return StateKey.staker(.validator, try inner.required("validator", inner.address))
            case "worker":
                guard case .object = member.value else { throw .invalidParams("'key.worker' must be an object {pool, address}", param: "key.worker") }
                let w = try Params(member.value, specs: [ParamSpec("pool"), ParamSpec("address")], hrp: p.hrp)
                return StateKey.staker(.worker(pool: try w.required("pool", w.uint32)), try w.required("address", w.address))
            case "escrow": return StateKey.escrow(try inner.required("escrow", inner.hash))
            case "pool": return StateKey.pool(try inner.required("pool", inner.uint32))
            case "window":
                guard case .object = member.value else { throw .invalidParams("'key.window' must be an object {pool, window}", param: "key.window") }
                let w = try Params(member.value, specs: [ParamSpec("pool"), ParamSpec("window")], hrp: p.hrp)
                return StateKey.window(try w.required("pool", w.uint32), try w.required("window", w.uint64))
            case "ticket": return StateKey.ticket(try inner.required("ticket", inner.hash))
            default: return StateKey.commitment(try inner.required("commitment", inner.hash))
            }
        default:
            throw .invalidParams("'key' must be 0x-hex of a ledger key or an object naming one record", param: "key")
        }
    }

    private func rawKey(_ p: Params, _ name: String) throws(RPCError) -> [UInt8] {
        guard let s = try p.string(name), s.hasPrefix("0x"), let bytes = try? Hex.decode(s) else {  // one prefix: not 0x0x…
            throw .invalidParams("'\(name)' must be 0x-prefixed hex", param: name)
        }
        guard bytes.count <= StorageLimits.maxStateKeyBytes else {
            throw .limitExceeded("\(name) bytes", maximum: StorageLimits.maxStateKeyBytes, requested: bytes.count)
        }
        return bytes
    }
}

import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `validator_*`: the validator set, stakes and the leader schedule.
    func addValidatorMethods(to m: inout MethodTable) {
        let r = render
        m.add("validator_list", [.optional("limit"), .optional("cursor"), .optional("block")]) { p, _ in
            let limit = try p.limit()
            let prefix = StateKey.stakers(.validator)
            let cursor = try self.cursor(p, prefixes: [prefix], length: prefix.count + 32)
            let page = try LedgerReader(try self.state(p)).stakers(.validator, cursor: cursor, limit: limit)
            return self.page(page.items.map { k, s in
                var o = r.staker(s)
                o["address"] = r.address(k)
                return .object(o)
            }, next: page.nextCursor)
        }
        m.add("validator_get", [ParamSpec("address"), .optional("block")]) { p, _ in
            let key = try p.required("address", p.address)
            let state = try self.state(p)
            let reader = LedgerReader(state)
            guard let s = try reader.staker(.validator, key) else { throw RPCError.notFound("validator", r.address(key)) }
            var o = r.staker(s)
            o["address"] = r.address(key)
            o["unbonding"] = .array(try reader.unbondings(.validator, key).map { r.unbonding($0.id, $0.entry) })
            if let raw = try state.get(StateKey.liveness(key)) {
                let l = try Liveness(canonicalEncoding: raw)
                o["liveness"] = .object(["epoch": .int(l.epoch), "led": .int(l.led), "missed": .int(l.missed)])
            } else {
                o["liveness"] = .null
            }
            o["active"] = .bool(s.isActive(minimum: self.genesis.ledger.validatorMinStake))
            // What it leads with: this epoch's schedule, and the set the next epoch draws from (a validator bonded now
            // leads from the epoch after next; Specs/consensus.md §2 rule 4).
            func stake(in snapshot: ValidatorSnapshot?) -> JSON {
                snapshot?.stake(of: key).map { r.amount($0) } ?? .null
            }
            o["scheduledStake"] = stake(in: try reader.schedule())
            o["nextEpochStake"] = stake(in: try reader.nextSchedule())
            return .object(o)
        }
        m.add("validator_getSchedule", [.optional("fromSlot"), .optional("count")]) { p, _ in
            let view = try self.view()
            let state = LedgerState(base: view)
            let tip = try Ledger.tip(of: state)
            let from = try p.uint64("fromSlot") ?? (tip.slot + 1)
            guard from > tip.slot else {
                throw RPCError.invalidParams("'fromSlot' must be after the tip's slot \(tip.slot) (the schedule of past slots is in the blocks)", param: "fromSlot")
            }
            let count = try self.count(p, default: 10)
            let perEpoch = self.genesis.ledger.slotsPerEpoch
            let stored = try Ledger.currentSnapshot(of: state)
            var cache = [UInt64: ValidatorSnapshot]()
            var items = [JSON]()
            // Slots near 2^64 simply yield fewer items (no wrap-around).
            let (sum, overflow) = from.addingReportingOverflow(UInt64(count))
            let end = overflow ? UInt64.max : sum
            for slot in from..<end {
                let epoch = slot / perEpoch
                let snap = try cache[epoch] ?? LeaderSchedule.snapshot(for: slot, parentState: state, ledger: self.chain.ledger)
                cache[epoch] = snap
                let leader = LeaderSchedule.leader(of: slot, in: snap)
                items.append(.object(["slot": .int(slot), "epoch": .int(epoch), "leader": leader.map(r.address) ?? .null,
                                      "final": .bool(stored?.epoch == epoch)]))
            }
            return .object(["tipSlot": .int(tip.slot), "slotsPerEpoch": .int(perEpoch), "items": .array(items)])
        }
    }
}

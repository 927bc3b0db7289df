import Consensus
import Ledger
import Primitives
import Storage

extension RPCNode {
    /// `account_*`: balances, nonces, roles and the transactions of an address.
    func addAccountMethods(to m: inout MethodTable) {
        let r = render
        m.add("account_get", [ParamSpec("address"), .optional("block")]) { p, _ in
            let key = try p.required("address", p.address)
            let view = try self.view()
            let (state, height) = try self.state(p, view)
            let reader = LedgerReader(state)
            let account = try reader.account(key)
            var stakes = [JSON]()
            for (role, s) in try reader.roles(of: key) {
                var o = r.staker(s)
                o["role"] = r.role(role)
                o["unbonding"] = .array(try reader.unbondings(role, key).map { r.unbonding($0.id, $0.entry) })
                o["unbondingHeld"] = .int(try reader.adjudicationHold(role, key))
                stakes.append(.object(o))
            }
            // Unbonding can outlive the stake (a full unbond removes the staker record).
            let pools = try reader.pools()
            let roles = [StakeRole.validator] + pools.map { StakeRole.worker(pool: $0.id) }
                + pools.filter { $0.checking != nil }.map { StakeRole.checker(pool: $0.id) }
            for role in roles where try reader.staker(role, key) == nil {
                let u = try reader.unbondings(role, key)
                if !u.isEmpty {
                    stakes.append(.object(["role": r.role(role), "stake": "0", "status": "unbonded", "jailedUntil": .null,
                                           "randaoCommitment": .null, "since": .null, "unbonding": .array(u.map { r.unbonding($0.id, $0.entry) }),
                                           "unbondingHeld": .int(try reader.adjudicationHold(role, key))]))
                }
            }
            // Checker registrations (pools with checkers): the sealing key reveals are sealed to, and the bench.
            var checkers = [JSON]()
            for pool in pools where pool.checking != nil {
                guard let c = try reader.checker(pool: pool.id, key) else { continue }
                checkers.append(.object(["pool": .int(UInt64(pool.id)), "sealingKey": r.hash(c.sealingKey),
                                         "registeredHeight": .int(c.registeredHeight),
                                         "benchedUntil": c.benchedUntil == 0 ? .null : .int(c.benchedUntil),
                                         "encoded": .hex(c.canonicalEncoding)]))
            }
            // The mempool's view (its queue past the account nonce); read from the chain actor, not the snapshot.
            let pendingNonce = max(account.nonce, (try? await self.chain.nextNonce(for: key)) ?? account.nonce)
            return .object(["address": r.address(key), "publicKey": .string("0x" + key.hex), "balance": r.amount(account.balance),
                            "nonce": .int(account.nonce), "pendingNonce": .int(pendingNonce), "stakes": .array(stakes),
                            "checkers": .array(checkers), "height": .int(height)])
        }
        m.add("account_getTransactions", [ParamSpec("address"), .optional("limit"), .optional("cursor"), .optional("order")]) { p, _ in
            let key = try p.required("address", p.address)
            let limit = try p.limit()
            let order: ScanOrder = try p.choice("order", ["asc", "desc"]) == "asc" ? .ascending : .descending
            var cursor: AddressTxCursor?
            if let c = try self.cursor(p, length: 12) {
                cursor = AddressTxCursor(height: UInt64(bigEndianBytes: c[0..<8]), position: UInt32(bigEndianBytes: c[8..<12]))
            }
            let view = try self.view()
            let page = try view.addressTransactions(key.rawValue, after: cursor, limit: limit, order: order)
            return self.page(page.items.map { .object(["hash": r.hash($0.txHash), "blockHeight": .int($0.height), "position": .int(UInt64($0.position))]) },
                             next: page.nextCursor.map { $0.height.bigEndianBytes + $0.position.bigEndianBytes })
        }
    }
}

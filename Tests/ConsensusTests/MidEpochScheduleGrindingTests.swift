import Consensus
import Ledger
import Primitives
import Testing

/// consensus.md §2 rules 2–3 (eighteenth-session audit, fixed in the nineteenth): a validator leaving the current
/// epoch's schedule (an unbond below its scheduled stake, a jail, a tombstoning) was deleted from the list the draw runs
/// over, which moved every later cumulative stake and so re-drew every later slot of the epoch. A coalition holding
/// one-unit unbonds of `k` of its keys chose, at a block it proposed, among `2^k` schedules for the rest of an epoch whose
/// seed it knew. A removed validator is now marked, and only a slot drawn for it is drawn again.
@Suite struct MidEpochScheduleGrindingTests {
    /// `honest` validators holding two thirds of the stake and `coalition` keys holding one third, in key order.
    static func set(seed: UInt64, honest: Int = 20, coalition: Int = 10) -> (ValidatorSnapshot, Set<PublicKey>) {
        var rng = SplitMix64(seed: seed)
        let honestKeys = (0..<honest).map { key("grind-honest-\(seed)-\($0)").publicKey }
        let coalitionKeys = (0..<coalition).map { key("grind-coalition-\(seed)-\($0)").publicKey }
        // Stakes vary so that cumulative sums move when one is deleted; totals 2 : 1.
        var entries = honestKeys.map { ValidatorSnapshot.Entry(key: $0, stake: Amount(1_000 + rng.next() % 1_000)) }
        let honestTotal = entries.reduce(0) { $0 + $1.stake.units }
        let each = honestTotal / 2 / UInt64(coalition)
        entries += coalitionKeys.map { .init(key: $0, stake: Amount(each)) }
        entries.sort { $0.key < $1.key }
        var seedBytes = CanonicalWriter(capacity: 8)
        seedBytes.u64(seed)
        return (ValidatorSnapshot(epoch: 1, seed: SHA256.hash(seedBytes.bytes), validators: entries), Set(coalitionKeys))
    }

    /// The rule itself, on random sets and removals: after removing any validators, every slot that none of them led
    /// keeps its leader, and no slot goes to a removed validator.
    @Test func removingValidatorsMovesOnlyTheirOwnSlots() throws {
        var rng = SplitMix64(seed: 19)
        for round in 0..<60 {
            let (snapshot, _) = Self.set(seed: 1_000 + UInt64(round), honest: 3 + Int(rng.next() % 12), coalition: 1 + Int(rng.next() % 5))
            var reduced = snapshot
            let keys = snapshot.validators.map(\.key)
            var removed = Set<PublicKey>()
            for k in keys where rng.next() % 3 == 0 {
                if reduced.remove(k) { removed.insert(k) }
            }
            #expect(reduced.validators.count == keys.count - removed.count && !reduced.validators.isEmpty)
            #expect(reduced.entries.map(\.key) == keys, "removal keeps the list")
            for slot in UInt64(60)..<UInt64(120) {
                let before = try #require(LeaderSchedule.leader(of: slot, in: snapshot))
                let after = try #require(LeaderSchedule.leader(of: slot, in: reduced))
                #expect(!removed.contains(after), "slot \(slot) went to a removed validator")
                if !removed.contains(before) { #expect(after == before, "round \(round): slot \(slot) moved from a validator that stayed") }
            }
        }
    }

    /// Performed: at its block in slot 40 of a 60-slot epoch, a coalition with a third of the stake over 10 keys tries
    /// every one of the 1 023 non-empty sets of its keys to remove (16 epochs) (one-unit unbonds it holds pre-signed), and keeps the
    /// one that leads the most of the epoch's last 3 slots (the ones that bias the next seed, §3). With deletion it led
    /// all three in about a quarter of the epochs instead of `s³ ≈ 4 %`; now no removal gains it any slot, since a slot
    /// only moves when a removed key led it, and that slot was the coalition's already.
    @Test func aCoalitionRemovingItsOwnKeysMidEpochGainsNoSlot() async throws {
        var allThreeWithoutRemoving = 0
        var allThreeAtBest = 0
        for seed in UInt64(0)..<16 {
            // Other tests' tasks share the cooperative pool: a long synchronous loop starved their clocks on 2 cores.
            await Task.yield()
            let (snapshot, coalition) = Self.set(seed: seed)
            let keys = snapshot.validators.map(\.key).filter { coalition.contains($0) }
            func led(_ s: ValidatorSnapshot, _ slots: ClosedRange<UInt64>) -> Set<UInt64> {
                Set(slots.filter { slot in LeaderSchedule.leader(of: slot, in: s).map { coalition.contains($0) } ?? false })
            }
            let lastThree = UInt64(117)...UInt64(119)
            let rest = UInt64(101)...UInt64(119)
            let honestLed = Set(rest).subtracting(led(snapshot, rest))
            let base = led(snapshot, lastThree).count
            var best = base
            for mask in 1..<(1 << keys.count) {
                var s = snapshot
                for (i, k) in keys.enumerated() where mask & (1 << i) != 0 { _ = s.remove(k) }
                best = max(best, led(s, lastThree).count)
                // No slot an honest validator led changes hands.
                let stillHonest = Set(rest).subtracting(led(s, rest))
                #expect(honestLed.isSubset(of: stillHonest), "seed \(seed) mask \(mask): a removal took an honest validator's slot")
            }
            #expect(best <= base, "seed \(seed): removing keys gained the coalition \(best - base) of the last 3 slots")
            if base == 3 { allThreeWithoutRemoving += 1 }
            if best == 3 { allThreeAtBest += 1 }
        }
        #expect(allThreeAtBest == allThreeWithoutRemoving)
    }

    /// The draw falls back to the validators still in the set after `maxDraws` removed ones, so a set that is
    /// almost all removed still has a leader for every slot, one of those left, in proportion to their stakes.
    @Test func aSetAlmostAllRemovedStillDrawsAmongThoseLeft() throws {
        let keys = (0..<5).map { key("grind-last-\($0)").publicKey }.sorted()
        var s = ValidatorSnapshot(epoch: 0, seed: SHA256.hash([9]),
                                  validators: keys.enumerated().map { .init(key: $1, stake: Amount($0 < 3 ? 1_000_000_000 : 1)) })
        var results = [Bool]()
        for k in keys.prefix(4) + [keys[4], keys[0]] { results.append(s.remove(k)) }
        // The first four leave; the last one stays (a set keeps one), and a removed one is not removed twice.
        #expect(results == [true, true, true, true, false, false])
        for slot in UInt64(0)..<200 { #expect(LeaderSchedule.leader(of: slot, in: s) == keys[4]) }
        // Nothing removed: the draw is the first draw, the one every earlier epoch used.
        let plain = ValidatorSnapshot(epoch: 0, seed: SHA256.hash([9]), validators: keys.map { .init(key: $0, stake: Amount(10)) })
        var w = CanonicalWriter(capacity: 40)
        w.hash(plain.seed)
        w.u64(5)
        let x = Tags.leader.hash(w.bytes).prefixUInt64
        let target = x.multipliedFullWidth(by: 50).high
        #expect(LeaderSchedule.leader(of: 5, in: plain) == keys[Int(target / 10)])
    }
}

import Foundation
import Testing
import TestSupport
@testable import Ledger
@testable import Primitives

/// Every state record's decoder accepts exactly the canonical encodings: real records (every value the ledger vectors'
/// pre-states and write sets hold, `Specs/vectors/ledger`) round-trip byte for byte, and seeded mutations of them
/// (flipped, zeroed, set, inserted, dropped bytes, truncations, trailing bytes) are either refused or decode to a value
/// whose encoding is the mutated bytes. State arrives from the network in snapshot chunks and is read back from disk, so
/// a decoder that accepted two encodings of one value would let two stores agree on records and disagree on roots.
@Suite struct StateRecordStrictnessTests {
    /// Decodes and re-encodes one record type.
    typealias Codec = @Sendable ([UInt8]) throws -> [UInt8]

    static func codec<T: CanonicalCodable & Sendable>(_: T.Type) -> Codec { { try T(canonicalEncoding: $0).canonicalEncoding } }

    /// The record type stored under each prefix whose value is a canonical record (raw ids, empty index values and
    /// fixed-layout records are checked elsewhere).
    static let codecs: [(prefix: StateKey.Prefix, name: String, codec: Codec)] = [
        (.account, "Account", codec(Account.self)),
        (.staker, "Staker", codec(Staker.self)),
        (.unbonding, "UnbondingEntry", codec(UnbondingEntry.self)),
        (.stakeHistory, "Amount", codec(Amount.self)),
        (.escrow, "Escrow", codec(Escrow.self)),
        (.pool, "PoolConfig", codec(PoolConfig.self)),
        (.window, "WindowRecord", codec(WindowRecord.self)),
        (.workRecord, "WorkRecord", codec(WorkRecord.self)),
        (.commitment, "Commitment", codec(Commitment.self)),
        (.selectionQueue, "IdQueue", codec(IdQueue.self)),
        (.ticket, "Ticket", codec(Ticket.self)),
        (.revealDeadlineQueue, "IdQueue", codec(IdQueue.self)),
        (.offence, "UInt64", codec(UInt64.self)),
        (.fraudCase, "FraudCase", codec(FraudCase.self)),
        (.forfeiture, "UInt64", codec(UInt64.self)),
        (.liveness, "Liveness", codec(Liveness.self)),
        (.payout, "PayoutRecord", codec(PayoutRecord.self)),
        (.allocation, "Allocation", codec(Allocation.self)),
        (.payerLane, "PayerLane", codec(PayerLane.self)),
        (.revealedPass, "RevealedPass", codec(RevealedPass.self)),
        (.hopAnsweredPass, "RevealedPass", codec(RevealedPass.self)),
        (.fraudCommitment, "FraudCommitment", codec(FraudCommitment.self)),
        (.fraudClaim, "FraudClaim", codec(FraudClaim.self)),
        (.pruneQueue, "KeyQueue", codec(KeyQueue.self)),
        (.checkpoint, "Hash32", codec(Hash32.self)),
        (.voteTally, "VoteTally", codec(VoteTally.self)),
        (.checker, "CheckerRecord", codec(CheckerRecord.self)),
        (.checkerCount, "UInt64", codec(UInt64.self)),
        (.adjudicationHold, "UInt64", codec(UInt64.self)),
        (.ticketCheck, "SealedCheck", codec(SealedCheck.self)),
    ]

    /// The chain-wide singletons that hold canonical records.
    static let globals: [(name: StateKey.Global, codec: Codec)] = [
        (.supply, codec(UInt64.self)), (.burned, codec(UInt64.self)), (.randaoMix, codec(Hash32.self)),
        (.nextUnbondingId, codec(UInt64.self)), (.schedule, codec(ValidatorSnapshot.self)),
        (.nextAdjudication, codec(UInt64.self)), (.justified, codec(Checkpoint.self)), (.finalized, codec(Checkpoint.self)),
    ]

    struct Sample {
        let name: String
        let value: [UInt8]
        let codec: Codec
    }

    /// Every distinct (type, value) of the ledger vectors whose key has a codec above.
    static func samples() throws -> [Sample] {
        let dir = URL(fileURLWithPath: Paths.root).appendingPathComponent("Specs/vectors/ledger")
        guard let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)?
            .compactMap({ $0 as? URL }).filter({ $0.pathExtension == "json" }).sorted(by: { $0.path < $1.path }), !files.isEmpty
        else {
            Issue.record("no ledger vectors under \(dir.path)")
            return []
        }
        let byPrefix = Dictionary(codecs.map { ($0.prefix.rawValue, ($0.name, $0.codec)) }, uniquingKeysWith: { a, _ in a })
        let byGlobal = Dictionary(globals.map { (StateKey.global($0.name), ("global \($0.name.rawValue)", $0.codec)) },
                                  uniquingKeysWith: { a, _ in a })
        var seen = Set<[UInt8]>(), out = [Sample]()
        for file in files {
            guard let vector = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] else { continue }
            // Single-transaction vectors hold a pre-state and a write set; multi-block ones a write set per block.
            var entries = ["preState", "expectedWriteSet"].flatMap { vector[$0] as? [[String: Any]] ?? [] }
            for block in vector["blocks"] as? [[String: Any]] ?? [] { entries += block["expectedWriteSet"] as? [[String: Any]] ?? [] }
            for entry in entries {
                guard let keyHex = entry["key"] as? String, let valueHex = entry["value"] as? String,
                      let key = try? Hex.decode(keyHex), let value = try? Hex.decode(valueHex), let first = key.first else { continue }
                let found = first == StateKey.Prefix.global.rawValue ? byGlobal[key] : byPrefix[first]
                guard let (name, codec) = found else { continue }
                let tagged = Array(name.utf8) + [0] + value
                if seen.insert(tagged).inserted { out.append(Sample(name: name, value: value, codec: codec)) }
            }
        }
        return out
    }

    /// Seeded mutations of `bytes`: one edit each, of every kind, at random positions.
    static func mutations(of bytes: [UInt8], _ g: inout SplitMix64, count: Int) -> [[UInt8]] {
        var out = [[UInt8]]()
        out.append(bytes + [0])
        out.append(bytes + [UInt8(truncatingIfNeeded: g.next())])
        if !bytes.isEmpty { out.append(Array(bytes.dropLast())) }
        for _ in 0..<count {
            var m = bytes
            let at = bytes.isEmpty ? 0 : Int(g.next() % UInt64(bytes.count))
            switch g.next() % 7 {
            case 0 where !m.isEmpty: m[at] ^= UInt8(1 << (g.next() % 8))
            case 1 where !m.isEmpty: m[at] = 0
            case 2 where !m.isEmpty: m[at] = 0xFF
            case 3 where !m.isEmpty: m[at] = UInt8(truncatingIfNeeded: g.next())
            case 4: m.insert(UInt8(truncatingIfNeeded: g.next()), at: at)
            case 5 where !m.isEmpty: m.remove(at: at)
            default: m = Array(m.prefix(at))
            }
            if m != bytes { out.append(m) }
        }
        return out
    }

    @Test func realRecordsRoundTripAndMutationsAreRefusedOrCanonical() throws {
        let samples = try Self.samples()
        // The vectors exercise every record type listed: a type without a sample would go unchecked.
        let covered = Set(samples.map(\.name))
        for c in Self.codecs { #expect(covered.contains(c.name), "no ledger vector holds a \(c.name) record (prefix \(c.prefix))") }
        #expect(samples.count > 500, "only \(samples.count) distinct records in the ledger vectors")

        var g = SplitMix64(seed: 0x5EC0_2D5)
        var accepted = 0, refused = 0
        for s in samples {
            let reencoded = try s.codec(s.value)
            #expect(reencoded == s.value, "a stored \(s.name) record is not its own canonical encoding: \(s.value.hex)")
            for m in Self.mutations(of: s.value, &g, count: 24) {
                guard let again = try? s.codec(m) else {
                    refused += 1
                    continue
                }
                accepted += 1
                #expect(again == m, "\(s.name) accepted a non-canonical encoding \(m.hex) (re-encodes as \(again.hex))")
            }
        }
        // Most single edits break a record; some land on a free field (an amount, a hash) and stay valid.
        #expect(refused > accepted, "refused \(refused), accepted \(accepted)")
    }

    /// The check itself can fail: a decoder that ignores a trailing byte, or reads a boolean loosely, is caught.
    @Test func theCheckCatchesALooseDecoder() throws {
        struct Loose: CanonicalCodable, Equatable {
            var flag: Bool
            init(flag: Bool) { self.flag = flag }
            init(from r: inout CanonicalReader) throws(CodecError) { flag = try r.u8("flag") != 0 }
            func encode(to w: inout CanonicalWriter) { w.u8(flag ? 1 : 0) }
        }
        var g = SplitMix64(seed: 1)
        let codec = Self.codec(Loose.self)
        let caught = Self.mutations(of: Loose(flag: true).canonicalEncoding, &g, count: 64).contains { m in
            (try? codec(m)).map { $0 != m } ?? false
        }
        #expect(caught)
    }
}

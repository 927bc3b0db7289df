import Foundation
import Primitives

/// The highest slot this validator has signed a block for, so that it never signs two blocks for one slot (an
/// equivocation: slashed and tombstoned, Specs/consensus.md §5). The chain store alone does not prevent it: the
/// producer signs for the slot the wall clock says is next, so a clock stepped back, with the first block reorged
/// out or never stored, would lead it to sign that slot again. A value type; `BlockProducerService` writes it to
/// `<data-dir>/signed-blocks.json` before each block is signed.
public struct BlockSigningProtection: Codable, Sendable, Equatable {
    /// The highest slot signed, nil before the first block.
    public private(set) var lastSignedSlot: UInt64?

    public init(lastSignedSlot: UInt64? = nil) { self.lastSignedSlot = lastSignedSlot }

    /// Whether a block for `slot` may be signed: only above every slot signed before.
    public func permits(slot: UInt64) -> Bool { lastSignedSlot.map { slot > $0 } ?? true }

    /// Records a slot about to be signed.
    public mutating func record(slot: UInt64) { lastSignedSlot = max(lastSignedSlot ?? 0, slot) }

    /// Reads the record; a missing file is an empty record, an unreadable one an error (producing without it
    /// could sign a slot twice).
    public static func load(_ path: String) throws -> BlockSigningProtection {
        guard FileManager.default.fileExists(atPath: path) else { return BlockSigningProtection() }
        do { return try JSONDecoder().decode(Self.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw NodeStartupError("block-signing protection file \(path) is unreadable (\(error)); refusing to produce blocks without it")
        }
    }

    /// Replaces the file durably (`DurableFile`: a flushed temporary file renamed over it, the directory flushed):
    /// after a crash or a power loss it holds the old record or the new one, never an empty or torn file.
    public func save(to path: String) throws {
        do { try DurableFile.replace(path, with: try JSONEncoder().encode(self)) } catch let e as DurableFile.Failure {
            throw NodeStartupError("cannot write the block-signing protection file: \(e)")
        }
    }
}

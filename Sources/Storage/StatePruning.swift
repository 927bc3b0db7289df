import Primitives
import StateTree

/// How much state history a node keeps (Specs/storage.md §11).
public enum PruningMode: Sendable, Equatable, CustomStringConvertible {
    /// Everything from genesis: state queries and proofs at any height.
    case archive
    /// The last `keep` heights (never above the finalized height).
    case keepRecent(UInt64)
    /// Only what a reorg can need: the state from the finalized height on.
    case minimal

    public var description: String {
        switch self {
        case .archive: "archive"
        case .keepRecent(let n): "keep the last \(n) heights"
        case .minimal: "minimal"
        }
    }

    /// The lowest height to retain with tip `tip` and finalized height `finalized`; nil: prune nothing.
    public func retainFrom(tip: UInt64, finalized: UInt64) -> UInt64? {
        switch self {
        case .archive: return nil
        case .keepRecent(let n): return min(finalized, tip >= n ? tip - n : 0)
        case .minimal: return finalized
        }
    }
}

extension ChainStore {
    /// Prunes the state history and the state tree below `retainFrom` (at most the finalized height: those
    /// blocks are never reverted), at most `maxHeights` heights per call, each height one atomic batch (an
    /// interrupted prune resumes where it stopped). After it, the state as of any height `≥ retainFrom` reads
    /// exactly as before, and heights below it are refused (`stateRetainedFrom`). Returns the heights pruned.
    ///
    /// History: for each key a pruned height `h` wrote, the key's entries below `h` are deleted (the entry at `h`
    /// supersedes them at every retained height), and so is the entry at `h` itself when it is a deletion. Tree:
    /// the nodes no version `≥ retainFrom` uses (`StateTreeStore.pruneStep`).
    @discardableResult
    public func pruneState(retainFrom target: UInt64, maxHeights: Int = 64) throws(StorageError) -> Int {
        try writer.withLock { (_: inout Void) throws(StorageError) -> Int in
            let finalized = try current.finalizedHeight() ?? 0
            guard target <= finalized else {
                throw .invalidFinalizedHeight(requested: target, current: finalized, blockHeight: target)
            }
            let from = try current.stateRetainedFrom()
            guard target > from else { return 0 }
            let cf = columns
            var done = 0
            // Height h's writes supersede older entries at every height ≥ h, so pruning h is needed to retain h + 1.
            for h in from..<target {
                guard done < maxHeights else { break }
                let batch = try database.makeWriteBatch()
                let changeKey = KeyBytes.be64(h)
                if let record = try database.get(cf.historyChanges, changeKey) {
                    for key in try ChainSchema.decodeKeyList(record, key: changeKey) {
                        let prefix = ChainSchema.historyKeyPrefix(key)
                        let it = try database.makeIterator(cf.history, lowerBound: prefix, upperBound: prefix + KeyBytes.be64(h) + [0])
                        it.seekToFirst()
                        while let k = it.key() {
                            if k.count == prefix.count + 8, UInt64(bigEndianBytes: k.suffix(8)) < h {
                                batch.delete(cf.history, k)
                            } else if it.value() == [0] {
                                batch.delete(cf.history, k)  // a deletion at h: the key is absent at every retained height
                            }
                            it.next()
                        }
                        try it.checkStatus()
                    }
                    batch.delete(cf.historyChanges, changeKey)
                }
                _ = try tree.pruneStep(keepingFrom: h + 1, limit: .max, into: batch)
                batch.put(cf.meta, ChainSchema.MetaKey.stateRetainedFrom, (h + 1).canonicalEncoding)
                try database.write(batch, sync: syncWrites)
                done += 1
            }
            return done
        }
    }
}

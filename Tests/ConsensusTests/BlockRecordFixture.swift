import Testing
@testable import Storage

/// The canonical block at `height` of a store, as the record a snapshot import continues from.
func record(_ view: ReadView, _ height: UInt64) throws -> BlockRecord {
    let hash = try #require(try view.canonicalHash(at: height))
    let info = try #require(try view.blockInfo(hash))
    return BlockRecord(hash: hash, height: height, parent: info.parent, header: try #require(try view.header(hash)),
                       body: try #require(try view.body(hash)), receipts: try view.receipts(hash) ?? [], transactions: [])
}

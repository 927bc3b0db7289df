import Primitives

/// Everything needed to take one canonical block off the chain: the value (or absence) of every state
/// key it touched as it was before the block, and the index entries it added (with any transaction
/// index entry it overwrote). Written in the block's own commit batch, read and deleted by its revert.
public struct UndoRecord: Sendable, Equatable {
    /// Format tag of the record itself (independent of the schema version, checked on decode).
    public static let formatVersion: UInt8 = 2

    /// A state key and its value before the block (nil: the key was absent).
    public struct StateEntry: Sendable, Equatable {
        public let key: [UInt8]
        public let previous: [UInt8]?
        public init(key: [UInt8], previous: [UInt8]?) {
            self.key = key
            self.previous = previous
        }
    }

    /// A transaction the block indexed, and the transaction index entry it replaced, if any.
    public struct Transaction: Sendable, Equatable {
        public let txHash: Hash32
        public let position: UInt32
        public let addresses: [Hash32]
        public let previousLocation: TxLocation?
        public init(txHash: Hash32, position: UInt32, addresses: [Hash32], previousLocation: TxLocation?) {
            self.txHash = txHash
            self.position = position
            self.addresses = addresses
            self.previousLocation = previousLocation
        }
    }

    /// An address event history entry the block added (its key: address ‖ height ‖ receipt ‖ event).
    public struct AddressEvent: Sendable, Equatable {
        public let address: Hash32
        public let receipt: UInt32
        public let event: UInt32
        public init(address: Hash32, receipt: UInt32, event: UInt32) {
            self.address = address
            self.receipt = receipt
            self.event = event
        }
    }

    /// Height of the block this record undoes.
    public let height: UInt64
    /// Its parent: the tip after the revert.
    public let parent: Hash32
    /// In ascending key order (the write set's order).
    public let state: [StateEntry]
    public let transactions: [Transaction]
    /// The address event history entries the block added (format 2).
    public let addressEvents: [AddressEvent]

    public init(height: UInt64, parent: Hash32, state: [StateEntry], transactions: [Transaction], addressEvents: [AddressEvent] = []) {
        self.height = height
        self.parent = parent
        self.state = state
        self.transactions = transactions
        self.addressEvents = addressEvents
    }

    /// Bytes the encoding will take, so the writer allocates once.
    var encodedSizeEstimate: Int {
        var n = 64
        for e in state { n += e.key.count + (e.previous?.count ?? 0) + 12 }
        for t in transactions { n += 32 + 4 + 50 + 32 * t.addresses.count + 4 }
        n += 8 + 40 * addressEvents.count
        return n
    }
}

extension UndoRecord: CanonicalCodable {
    /// u8 format ‖ u64 height ‖ parent (32) ‖ list of (bytes key, optional bytes previous) ‖ list of
    /// (tx hash (32), u32 position, list of address (32), optional TxLocation previous) ‖ list of
    /// (address (32), u32 receipt, u32 event).
    public func encode(to w: inout CanonicalWriter) {
        w.u8(Self.formatVersion)
        w.u64(height)
        w.hash(parent)
        w.length(state.count)
        for e in state {
            w.bytes(e.key)
            w.optional(e.previous) { $0.bytes($1) }
        }
        w.length(transactions.count)
        for t in transactions {
            w.hash(t.txHash)
            w.u32(t.position)
            w.list(t.addresses) { $0.hash($1) }
            w.optional(t.previousLocation) { $0.encode($1) }
        }
        w.length(addressEvents.count)
        for e in addressEvents {
            w.hash(e.address)
            w.u32(e.receipt)
            w.u32(e.event)
        }
    }

    public init(from r: inout CanonicalReader) throws(CodecError) {
        let at = r.offset
        let format = try r.u8("undo.format")
        guard format == Self.formatVersion else { throw r.unknownTag("undo.format", format, at: at) }
        height = try r.u64("undo.height")
        parent = try r.hash("undo.parent")
        // Each state entry takes at least 2 bytes (empty key length + absence tag).
        state = try r.list("undo.state", max: StorageLimits.maxWriteSetEntries, minElementSize: 2) {
            (r: inout CanonicalReader) throws(CodecError) -> StateEntry in
            let key = try r.bytes("undo.state.key", max: StorageLimits.maxStateKeyBytes)
            let previous = try r.optional("undo.state.previous") { (r: inout CanonicalReader) throws(CodecError) -> [UInt8] in
                try r.bytes("undo.state.previous", max: StorageLimits.maxStateValueBytes)
            }
            return StateEntry(key: key, previous: previous)
        }
        transactions = try r.list("undo.transactions", max: StorageLimits.maxTransactionsPerBlock, minElementSize: 38) {
            (r: inout CanonicalReader) throws(CodecError) -> Transaction in
            let txHash = try r.hash("undo.tx.hash")
            let position = try r.u32("undo.tx.position")
            let addresses = try r.list("undo.tx.addresses", max: StorageLimits.maxAddressesPerTransaction, minElementSize: 32) {
                (r: inout CanonicalReader) throws(CodecError) -> Hash32 in try r.hash("undo.tx.address")
            }
            let previous = try r.optional("undo.tx.previous") { (r: inout CanonicalReader) throws(CodecError) -> TxLocation in
                try TxLocation(from: &r)
            }
            return Transaction(txHash: txHash, position: position, addresses: addresses, previousLocation: previous)
        }
        addressEvents = try r.list("undo.addressEvents", max: StorageLimits.maxAddressEventsPerBlock, minElementSize: 40) {
            (r: inout CanonicalReader) throws(CodecError) -> AddressEvent in
            AddressEvent(address: try r.hash("undo.event.address"), receipt: try r.u32("undo.event.receipt"), event: try r.u32("undo.event.index"))
        }
    }
}

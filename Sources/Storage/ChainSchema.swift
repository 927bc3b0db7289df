import Primitives

/// The chain store's on-disk layout (Specs/storage.md is normative; this file must match it).
public enum ChainSchema {
    /// The layout version this build reads and writes. Any change to a key or value layout below bumps
    /// it; a database with another version is refused at open rather than misread.
    public static let version: UInt32 = 2

    /// Column family names.
    public enum Family {
        /// Metadata records (schema version, genesis, tip, finalized height), ASCII keys.
        public static let meta = "meta"
        /// Ledger state: the ledger's own keys and values, byte for byte.
        public static let state = "state"
        /// Block hash → header bytes (canonical and side blocks).
        public static let headers = "headers"
        /// Block hash → body bytes (canonical and side blocks).
        public static let bodies = "bodies"
        /// Block hash → receipts bytes (canonical blocks only).
        public static let receipts = "receipts"
        /// Block hash → height and parent (canonical and side blocks).
        public static let blocks = "blocks"
        /// Height (8 bytes big-endian) → block hash of the canonical chain.
        public static let canonical = "canonical"
        /// Transaction hash → location (block hash, height, position) on the canonical chain.
        public static let txIndex = "tx_index"
        /// Address ‖ height BE ‖ position BE → transaction hash, canonical chain only.
        public static let addressIndex = "address_index"
        /// Address ‖ height BE ‖ receipt BE ‖ event BE → event summary (kind, pool, worker, transaction):
        /// every event of a canonical block that touches the address (schema version 2).
        public static let addressEvents = "address_events"
        /// Height BE ‖ block hash → undo record of a canonical block above the finalized height.
        public static let undo = "undo"
    }

    /// Every column family of a chain store, with its tuning profile.
    public static let columnFamilies: [ColumnFamilyDescriptor] = [
        ColumnFamilyDescriptor(Family.meta),
        ColumnFamilyDescriptor(Family.state, profile: .heavy),
        ColumnFamilyDescriptor(Family.headers),
        ColumnFamilyDescriptor(Family.bodies),
        ColumnFamilyDescriptor(Family.receipts),
        ColumnFamilyDescriptor(Family.blocks),
        ColumnFamilyDescriptor(Family.canonical),
        ColumnFamilyDescriptor(Family.txIndex),
        ColumnFamilyDescriptor(Family.addressIndex),
        ColumnFamilyDescriptor(Family.addressEvents),
        ColumnFamilyDescriptor(Family.undo),
    ]

    /// Keys of the `meta` column family.
    public enum MetaKey {
        /// Value: u32 LE schema version.
        public static let schema = Array("schema".utf8)
        /// Value: 32-byte genesis hash (chain identity) the database was created for.
        public static let genesis = Array("genesis".utf8)
        /// Value: tip hash (32) ‖ tip height (u64 LE). Absent before genesis is committed.
        public static let tip = Array("tip".utf8)
        /// Value: finalized height (u64 LE). Absent until a commit sets it.
        public static let finalized = Array("finalized".utf8)
    }

    /// Key of the `canonical` column family: the height, big-endian so heights sort numerically.
    public static func canonicalKey(_ height: UInt64) -> [UInt8] { KeyBytes.be64(height) }

    /// Key of the `undo` column family: height BE ‖ block hash (height first, so pruning everything at or
    /// below the finalized height is one range deletion).
    public static func undoKey(height: UInt64, hash: Hash32) -> [UInt8] {
        var k = KeyBytes.be64(height)
        k.append(contentsOf: hash.bytes)
        return k
    }

    /// Key of the `address_index` column family: address ‖ height BE ‖ position BE (44 bytes), so one
    /// address's transactions are contiguous and ordered by chain position.
    public static func addressKey(_ address: Hash32, height: UInt64, position: UInt32) -> [UInt8] {
        var k = address.bytes
        k.reserveCapacity(44)
        k.append(contentsOf: KeyBytes.be64(height))
        k.append(contentsOf: KeyBytes.be32(position))
        return k
    }

    /// Length of an address index key.
    public static let addressKeyLength = 44

    /// Key of the `address_events` column family: address ‖ height BE ‖ receipt index BE ‖ event index BE
    /// (48 bytes), so one address's events are contiguous and ordered by chain position (block, then the
    /// receipt in block order, the block-processing receipt last, then the event within its receipt).
    public static func addressEventKey(_ address: Hash32, height: UInt64, receipt: UInt32, event: UInt32) -> [UInt8] {
        var k = address.bytes
        k.reserveCapacity(addressEventKeyLength)
        k.append(contentsOf: KeyBytes.be64(height))
        k.append(contentsOf: KeyBytes.be32(receipt))
        k.append(contentsOf: KeyBytes.be32(event))
        return k
    }

    /// Length of an address event key.
    public static let addressEventKeyLength = 48
}

/// Bounds on what one commit may contain, so every undo record this store writes is decodable by the
/// strict reader with these same maximums (a commit over a limit is refused before anything is written).
public enum StorageLimits {
    /// Longest state key.
    public static let maxStateKeyBytes = 4096
    /// Longest state value.
    public static let maxStateValueBytes = 64 << 20
    /// Most state entries in one block's write set.
    public static let maxWriteSetEntries = 1 << 24
    /// Most transactions in one block.
    public static let maxTransactionsPerBlock = 1 << 20
    /// Most indexed addresses per transaction.
    public static let maxAddressesPerTransaction = 1024
    /// Most address-event index entries in one block.
    public static let maxAddressEventsPerBlock = 1 << 22
}

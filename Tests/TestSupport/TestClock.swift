import Foundation
import Synchronization

/// A settable clock (Unix milliseconds) for chain services built in-process.
public final class TestClock: Sendable {
    private let value: Mutex<UInt64?>

    public init(_ v: UInt64) { value = Mutex(v) }

    public func set(_ v: UInt64) { value.withLock { $0 = v } }

    /// Follow the real clock from now on.
    public func live() { value.withLock { $0 = nil } }

    public var now: UInt64 { value.withLock { $0 } ?? UInt64(Date().timeIntervalSince1970 * 1000) }
}

/// Guards for the companion processes (checker, verifier, worker simulator, devnet summary) against answers of their
/// RPC node that no honest node gives: heights near 2⁶⁴ and list cursors that never end. Such a node can make them
/// act wrongly (they trust it for the chain's state), but it must not make them trap, hang or grow without bound.

extension UInt64 {
    /// `self + other`, or `UInt64.max` where the sum would pass 2⁶⁴: a height or deadline that far away is "never".
    @inlinable func saturatingPlus(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}

/// Follows the cursors of one paged listing. A cursor seen before in the same listing (the node answers in a loop)
/// or more than `maxPages` pages end it with `PagedListingError` instead of an endless walk.
struct PagedListing {
    /// 10 000 pages of up to 100 items: a million, far above any listing a chain holds (live tickets, a window's
    /// workers or payers), and a bound on what a lying node can make a client collect.
    static let maxPages = 10_000

    let method: String
    private var seen = Set<String>()
    private(set) var pages = 0

    init(_ method: String) { self.method = method }

    /// Records a page with `next` as its next cursor; returns whether to fetch it (false at the end of the listing).
    mutating func follow(_ next: String?) throws(PagedListingError) -> Bool {
        pages += 1
        guard let next else { return false }
        guard seen.insert(next).inserted else { throw PagedListingError(method: method, reason: "the cursor \(next.prefix(80)) came twice") }
        guard pages < Self.maxPages else { throw PagedListingError(method: method, reason: "more than \(Self.maxPages) pages") }
        return true
    }
}

/// A paged listing from the node that does not end.
struct PagedListingError: Error, CustomStringConvertible {
    let method: String
    let reason: String
    var description: String { "the node's \(method) listing does not end: \(reason)" }
}

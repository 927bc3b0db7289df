import PropertyBased
import Testing

/// Runs `body` for `count` random 64-bit seeds (through `PropertyBased.propertyCheck`, so a failing case is
/// reported with the trait that replays it) and records an error the body throws as a failure of the test.
///
/// `propertyCheck` counts only the issues a body records: an error thrown from the body is discarded, so a `try`
/// that fails inside a plain `propertyCheck` ends its case silently and the test passes. Every seeded property
/// test goes through here instead.
public func checkSeeds(
    count: Int, sourceLocation: SourceLocation = #_sourceLocation, _ body: (UInt64) async throws -> Void
) async {
    await propertyCheck(count: count, input: Gen.uint64()) { seed in
        do {
            try await body(seed)
        } catch {
            Issue.record(error, "seed \(seed)", sourceLocation: sourceLocation)
        }
    }
}

import ArgumentParser

/// Refuses an interval option that is not a finite number of seconds between a millisecond and an hour: NaN,
/// infinities and huge values trapped when converted to milliseconds, and zero or negative ones made a poll loop spin
/// against the node's RPC (tenth review).
func requireInterval(_ seconds: Double, _ option: String) throws {
    guard seconds.isFinite, seconds >= 0.001, seconds <= 3_600 else {
        throw ValidationError("\(option) must be between 0.001 and 3600 seconds (got \(seconds))")
    }
}

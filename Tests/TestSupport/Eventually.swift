/// Polls `condition` until it holds or `timeout` passes: tests wait on conditions with generous deadlines, never on
/// fixed sleeps, so a loaded machine makes them slower, not flaky.
public func eventually(_ timeout: Duration, every: Duration = .milliseconds(50), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: every)
    }
    return await condition()
}

import Testing

extension Tag {
    /// Runs real processes, sockets or real-time slots: the SystemTests target, which `make test` runs after the
    /// unit tests and serially, so the CPU-heavy unit tests cannot starve their clocks on a 2-core machine.
    @Tag public static var system: Self
    /// Spawns the built `sharechain` binary (build it first: `swift build --build-tests`).
    @Tag public static var multiProcess: Self
}

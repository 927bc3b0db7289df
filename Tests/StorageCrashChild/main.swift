// The crash-test child: builds the deterministic `CrashWorkload` chain in a database until it is killed.
//
// Usage: StorageCrashChild <database path> <seed> [max steps]
// Before each step it writes "I <step>" to stdout, after the step returns "D"; both unbuffered, so the
// parent, after a SIGKILL, knows the last completed step and the one that may have been in flight.
// Exit status: 0 after max steps, 3 when the database is locked, 2 on any other error (message on stderr).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Storage
import StorageTestSupport

func emit(_ line: String, to fd: Int32 = 1) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, base + offset, buffer.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

let args = CommandLine.arguments
// Review B: `StorageCrashChild <path> snapshot <keys>`: a genesis-only store, then a snapshot import (I/D around it).
if args.count >= 4, args[2] == "snapshot", let keys = Int(args[3]) {
    do {
        let w = try SnapshotCrashWorkload(keys: keys)
        try w.run(path: args[1]) { emit("I import") }
        emit("D")
        exit(0)
    } catch {
        emit("error: \(error)", to: 2)
        exit(2)
    }
}
if args.count >= 4, args[2] == "prune", let blocks = UInt64(args[3]) {
    do {
        try PruneCrashWorkload(blocks: blocks).run(path: args[1]) { emit("I prune") }
        emit("D")
        exit(0)
    } catch {
        emit("error: \(error)", to: 2)
        exit(2)
    }
}
guard args.count >= 3, let seed = UInt64(args[2]) else {
    emit("usage: StorageCrashChild <database path> <seed> [max steps]", to: 2)
    exit(2)
}
let maxSteps = args.count >= 4 ? Int(args[3]) ?? Int.max : Int.max
let workload = CrashWorkload(seed: seed)

do {
    let store = try ChainStore(path: args[1], genesis: workload.genesisID)
    var steps = 0
    while steps < maxSteps {
        let step = try workload.nextStep(on: store)
        emit("I \(step)")
        try workload.perform(step, on: store)
        emit("D")
        steps += 1
    }
    try store.close()
    exit(0)
} catch let error as StorageError {
    emit("error: \(error)", to: 2)
    if case .locked = error { exit(3) }
    exit(2)
} catch {
    emit("error: \(error)", to: 2)
    exit(2)
}

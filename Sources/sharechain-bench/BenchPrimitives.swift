import ArgumentParser
import CBaseline
import Foundation
import Primitives

/// Hashing and signature throughput against the C libraries called directly from C in the same run.
struct BenchPrimitives: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "primitives", abstract: "SHA-256, tagged hashes, Schnorr sign and verify.")

    @Option(help: "Seconds per measurement.") var seconds: Double = 1.0

    func validate() throws {
        try requirePositiveSeconds(["--seconds": seconds])
    }

    func run() async throws {
        print("== primitives (one core) ==")
        let message = [UInt8](repeating: 0xab, count: 64)

        // SHA-256 of 64 bytes: Swift wrapper vs a C loop over the same OpenSSL call.
        let cSha = rate(seconds) { n in _ = cbaseline_sha256_64(Int64(n)) }
        let swiftSha = rate(seconds) { n in
            var acc: UInt64 = 0
            for _ in 0..<n { acc &+= SHA256.hash(message).prefixUInt64 }
            blackHole(acc)
        }
        report("sha256 (64 B)", swiftSha, baseline: cSha, unit: "hash/s", machine: "≈ 9 M/s low-level API")

        let tag = Tags.tx
        let swiftTagged = rate(seconds) { n in
            var acc: UInt64 = 0
            for _ in 0..<n { acc &+= tag.hash(message).prefixUInt64 }
            blackHole(acc)
        }
        report("tagged hash (64 B)", swiftTagged, baseline: cSha, unit: "hash/s", machine: "midstate: same cost as one plain hash")

        let key = PrivateKey.generate()
        let digest = Tags.txSig.hash(message)
        let aux = Hash32.zero
        let cSign = rate(seconds) { n in _ = cbaseline_schnorr_sign(Int64(n)) }
        let swiftSign = rate(seconds) { n in
            for _ in 0..<n { blackHole(key.sign(digest: digest, auxRand: aux)) }
        }
        report("schnorr sign", swiftSign, baseline: cSign, unit: "sig/s", machine: "25.6 µs ≈ 39 k/s")

        let sig = key.sign(digest: digest)
        let pub = key.publicKey
        let cVerify = rate(seconds) { n in _ = cbaseline_schnorr_verify(Int64(n)) }
        let swiftVerify = rate(seconds) { n in
            var ok = 0
            for _ in 0..<n where pub.verify(sig, digest: digest) { ok += 1 }
            precondition(ok == n)
        }
        report("schnorr verify", swiftVerify, baseline: cVerify, unit: "verify/s", machine: "46 µs ≈ 21.7 k/s per core")
    }
}

/// Operations per second of `body(n)`, calibrated to run about `seconds`.
func rate(_ seconds: Double, _ body: (Int) throws -> Void) rethrows -> Double {
    var n = 16
    while true {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body(n)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        if dt >= seconds { return Double(n) / dt }
        n = dt < seconds / 20 ? n * 10 : Int(Double(n) * seconds / max(dt, 1e-6) * 1.05) + 1
    }
}

/// CPU time consumed by the calling thread, in nanoseconds.
func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Like `rate`, in the calling thread's CPU time instead of wall-clock time.
func cpuRate(_ seconds: Double, _ body: (Int) -> Void) -> Double {
    var n = 16
    while true {
        let t0 = threadCPUNanoseconds()
        body(n)
        let dt = Double(threadCPUNanoseconds() - t0) / 1e9
        if dt >= seconds { return Double(n) / dt }
        n = dt < seconds / 20 ? n * 10 : Int(Double(n) * seconds / max(dt, 1e-6) * 1.05) + 1
    }
}

/// Refuses benchmark options below their minimum, naming them: a zero or negative count, or a measurement time that
/// is not a positive number, would otherwise crash or divide by zero deep inside a benchmark.
func requireOptions(atLeast minimum: Int, _ options: KeyValuePairs<String, Int>) throws {
    let bad = options.filter { $0.value < minimum }.map(\.key)
    guard bad.isEmpty else { throw ValidationError("\(bad.joined(separator: ", ")) must be at least \(minimum)") }
}

/// Refuses measurement times that are not positive, finite numbers of seconds, naming the options.
func requirePositiveSeconds(_ options: KeyValuePairs<String, Double>) throws {
    let bad = options.filter { !($0.value > 0 && $0.value.isFinite) }.map(\.key)
    guard bad.isEmpty else { throw ValidationError("\(bad.joined(separator: ", ")) must be a positive number of seconds") }
}

extension Duration {
    /// The duration in seconds, for rates.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Prints one benchmark line: figure, baseline, ratio, and the machine figure from DESIGN.md section 9.
func report(_ name: String, _ value: Double, baseline: Double?, unit: String, machine: String) {
    let v = format(value)
    if let baseline {
        let ratio = value / baseline
        print("\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(v.leftPad(10)) \(unit)   baseline \(format(baseline).leftPad(10))   ratio \(String(format: "%.2f", ratio))   [DESIGN §9: \(machine)]")
    } else {
        print("\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(v.leftPad(10)) \(unit)   [DESIGN §9: \(machine)]")
    }
}

func format(_ v: Double) -> String {
    if v >= 1e6 { return String(format: "%.2f M", v / 1e6) }
    if v >= 1e3 { return String(format: "%.1f k", v / 1e3) }
    return String(format: "%.1f", v)
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// Keeps the optimizer from deleting a computation.
@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

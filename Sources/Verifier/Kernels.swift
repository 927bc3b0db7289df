import CVerifierKernels
import Dispatch
import Synchronization

/// A zero-initialized float buffer aligned to 64 bytes, so rows whose stride is a multiple of 8 floats
/// can be read as `SIMD8<Float>`.
///
/// `@unchecked Sendable`: shared only read-only after construction (weights), or written by disjoint
/// index ranges from parallel workers inside one executor call (scratch).
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 8) * 4, alignment: 64)
        pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 8))
    }

    /// A buffer holding `values`, zero-padded to `paddedCount`.
    convenience init(_ values: [Float], paddedCount: Int) {
        self.init(count: paddedCount)
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// The floats read and written as vectors of 8.
    var vectors: MutableVec8Pointer { MutableVec8Pointer(pointer) }
}

/// Reads 8 consecutive floats as one `SIMD8<Float>` through untyped (raw) loads: memory bound to `Float`
/// may be read as vectors without breaking Swift's typed-pointer aliasing rules. Addresses are 32-byte
/// aligned (buffers are 64-byte aligned and strides multiples of 8 floats).
struct Vec8Pointer {
    let raw: UnsafeRawPointer

    init(_ p: UnsafePointer<Float>) { raw = UnsafeRawPointer(p) }
    init(raw: UnsafeRawPointer) { self.raw = raw }

    @inline(__always)
    subscript(i: Int) -> SIMD8<Float> { raw.load(fromByteOffset: i &* 32, as: SIMD8<Float>.self) }

    @inline(__always)
    static func + (p: Vec8Pointer, n: Int) -> Vec8Pointer { Vec8Pointer(raw: p.raw + n &* 32) }
}

/// Mutable counterpart of `Vec8Pointer` (raw stores).
struct MutableVec8Pointer {
    let raw: UnsafeMutableRawPointer

    init(_ p: UnsafeMutablePointer<Float>) { raw = UnsafeMutableRawPointer(p) }

    @inline(__always)
    subscript(i: Int) -> SIMD8<Float> {
        get { raw.load(fromByteOffset: i &* 32, as: SIMD8<Float>.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: i &* 32, as: SIMD8<Float>.self) }
    }
}

/// Rounds up to a multiple of 8.
@inline(__always)
func round8(_ n: Int) -> Int { (n + 7) & ~7 }

/// The fixed reduction of a dot product's 8 lane sums: ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).
@inline(__always)
func tree8(_ v: SIMD8<Float>) -> Float {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

/// A weight matrix W[rows][cols] arranged for the dot-product kernel: rows grouped in panels of 3, each
/// panel stored as chunks of 8 consecutive k for its 3 rows, so the kernel streams one contiguous block.
/// k is zero-padded to a multiple of 8 and rows to a multiple of 3; zero products leave lane sums
/// unchanged (a lane sum starts at +0 and never becomes −0), so padding does not change any result.
///
/// `@unchecked Sendable`: immutable after init.
final class PackedMatrix: @unchecked Sendable {
    static let panelRows = 3
    let rows: Int
    let cols: Int
    let chunks: Int
    let panels: Int
    private let storage: FloatBuffer

    /// Packs `source[r * rowStride + k * colStride]` for r < rows, k < cols.
    init(rows: Int, cols: Int, source: UnsafePointer<Float>, rowStride: Int, colStride: Int = 1) {
        self.rows = rows
        self.cols = cols
        chunks = round8(cols) / 8
        panels = (rows + Self.panelRows - 1) / Self.panelRows
        storage = FloatBuffer(count: panels * chunks * Self.panelRows * 8)
        let dst = storage.pointer
        for r in 0..<rows {
            let p = r / Self.panelRows, pr = r % Self.panelRows
            let src = source + r * rowStride
            for k in 0..<cols {
                let c = k >> 3, lane = k & 7
                dst[((p * chunks + c) * Self.panelRows + pr) * 8 + lane] = src[k * colStride]
            }
        }
    }

    /// Packs several row-major matrices with the same column count on top of each other.
    init(stacking parts: [[Float]], rowCounts: [Int], cols: Int) {
        let total = rowCounts.reduce(0, +)
        rows = total
        self.cols = cols
        chunks = round8(cols) / 8
        panels = (total + Self.panelRows - 1) / Self.panelRows
        storage = FloatBuffer(count: panels * chunks * Self.panelRows * 8)
        let dst = storage.pointer
        var r = 0
        for (part, n) in zip(parts, rowCounts) {
            precondition(part.count == n * cols)
            part.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let p = r / Self.panelRows, pr = r % Self.panelRows
                    for k in 0..<cols {
                        dst[((p * chunks + k >> 3) * Self.panelRows + pr) * 8 + (k & 7)] = src[i * cols + k]
                    }
                    r += 1
                }
            }
        }
    }

    var byteSize: Int { storage.count * 4 }

    @inline(__always)
    func panel(_ p: Int) -> Vec8Pointer {
        Vec8Pointer(raw: UnsafeRawPointer(storage.pointer + p * chunks * Self.panelRows * 8))
    }
}

/// Runs `body(i)` for i in 0..<count on up to `threads` workers (the caller is one of them). Work is
/// handed out through an atomic counter, so a core busy with something else does not stall the rest.
/// Callers give each index a disjoint set of output elements; no reduction is ever split.
func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = min(threads, count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        // Dispatch requires a @Sendable closure; `body` only touches disjoint outputs per index (see above).
        let work = UncheckedSendable(body)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { break }
                work.value(i)
            }
        }
    }
}

/// Carries a value into a @Sendable closure when the caller guarantees race freedom by construction.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Which matmul panel kernel runs. Both do the same IEEE operations in the same order, so they give the same
/// bits (VerifierTests compare them on every build): the choice is speed only, made at run time so one binary
/// is correct on every CPU and fast on AVX2 ones.
enum MatmulKernel: Sendable {
    /// `SIMD8<Float>` in Swift, compiled for the baseline: SSE2 on x86-64 (two 4-lane halves), NEON on arm64.
    case portable
    /// The C kernel with 8-lane AVX2 registers (Sources/CVerifierKernels), x86-64 CPUs with AVX2 only.
    case avx2

    /// The fastest kernel this CPU runs (cpuid, once).
    static let best: MatmulKernel = canon_cpu_has_avx2() ? .avx2 : .portable

    /// Whether this CPU can run the kernel.
    var isSupported: Bool { self == .portable || canon_cpu_has_avx2() }
}

enum Kernels {
    /// y[t·yStride + n] = tree8(lanes of dot(x row t, W row n)) (+ bias[n]) for t < tokens, n < w.rows.
    ///
    /// x rows start 32-byte aligned, `xStride` is a multiple of 8 and each row is zero beyond w.cols up to
    /// w.chunks·8. Lane j of the accumulator adds x[k]·w[k] for k ≡ j (mod 8) in increasing k, starting
    /// at +0: exactly the canonical dot product. Blocks of 3 tokens × 3 rows keep 9 accumulators in
    /// registers; threads take disjoint groups of panels.
    static func matmul(x: UnsafePointer<Float>, xStride: Int, tokens: Int, w: PackedMatrix,
                       bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, yStride: Int, threads: Int,
                       kernel: MatmulKernel = .best) {
        precondition(kernel.isSupported, "the \(kernel) kernel does not run on this CPU")
        let panelsPerTask = max(1, min(16, w.panels / max(1, threads * 8)))
        let tasks = (w.panels + panelsPerTask - 1) / panelsPerTask
        let xv = Vec8Pointer(x)
        let xs = xStride / 8
        parallelFor(tasks, threads: threads) { task in
            let p0 = task * panelsPerTask
            let p1 = min(w.panels, p0 + panelsPerTask)
            for p in p0..<p1 {
                switch kernel {
                case .portable: panel(xv, xs, tokens, w, p, bias, y, yStride)
                case .avx2:
                    // Both buffers are bound to Float (FloatBuffer and the callers' scratch rows).
                    canon_panel_avx2(x, xStride, tokens, w.panel(p).raw.assumingMemoryBound(to: Float.self), w.chunks,
                                     p * PackedMatrix.panelRows, w.rows, bias, y, yStride)
                }
            }
        }
    }

    @inline(__always)
    static func store(_ acc: SIMD8<Float>, _ t: Int, _ n: Int, _ rows: Int, _ bias: UnsafePointer<Float>?,
                      _ y: UnsafeMutablePointer<Float>, _ yStride: Int) {
        guard n < rows else { return }
        var v = tree8(acc)
        if let bias { v = v + bias[n] }
        y[t * yStride + n] = v
    }

    static func panel(_ x: Vec8Pointer, _ xs: Int, _ tokens: Int, _ w: PackedMatrix, _ p: Int,
                      _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ yStride: Int) {
        let wp = w.panel(p)
        let chunks = w.chunks
        let n0 = p * PackedMatrix.panelRows
        let rows = w.rows
        var t = 0
        // 3 tokens × 3 rows: 9 accumulators + 3 weights + 1 input + 1 product = 14 of the 16 AVX registers
        // (4 × 3 spills, measured 35–50 % slower).
        while t + 3 <= tokens {
            let x0 = x + t * xs, x1 = x0 + xs, x2 = x1 + xs
            var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
            var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
            var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
            var wc = wp
            for c in 0..<chunks {
                let w0 = wc[0], w1 = wc[1], w2 = wc[2]
                wc = wc + 3
                let v0 = x0[c], v1 = x1[c], v2 = x2[c]
                a00 += v0 * w0; a01 += v0 * w1; a02 += v0 * w2
                a10 += v1 * w0; a11 += v1 * w1; a12 += v1 * w2
                a20 += v2 * w0; a21 += v2 * w1; a22 += v2 * w2
            }
            store(a00, t, n0, rows, bias, y, yStride); store(a01, t, n0 + 1, rows, bias, y, yStride); store(a02, t, n0 + 2, rows, bias, y, yStride)
            store(a10, t + 1, n0, rows, bias, y, yStride); store(a11, t + 1, n0 + 1, rows, bias, y, yStride); store(a12, t + 1, n0 + 2, rows, bias, y, yStride)
            store(a20, t + 2, n0, rows, bias, y, yStride); store(a21, t + 2, n0 + 1, rows, bias, y, yStride); store(a22, t + 2, n0 + 2, rows, bias, y, yStride)
            t += 3
        }
        if t + 2 <= tokens {
            let x0 = x + t * xs, x1 = x0 + xs
            var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
            var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
            var wc = wp
            for c in 0..<chunks {
                let w0 = wc[0], w1 = wc[1], w2 = wc[2]
                wc = wc + 3
                let v0 = x0[c], v1 = x1[c]
                a00 += v0 * w0; a01 += v0 * w1; a02 += v0 * w2
                a10 += v1 * w0; a11 += v1 * w1; a12 += v1 * w2
            }
            store(a00, t, n0, rows, bias, y, yStride); store(a01, t, n0 + 1, rows, bias, y, yStride); store(a02, t, n0 + 2, rows, bias, y, yStride)
            store(a10, t + 1, n0, rows, bias, y, yStride); store(a11, t + 1, n0 + 1, rows, bias, y, yStride); store(a12, t + 1, n0 + 2, rows, bias, y, yStride)
            t += 2
        }
        if t < tokens {
            let x0 = x + t * xs
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
            var wc = wp
            for c in 0..<chunks {
                let v0 = x0[c]
                a0 += v0 * wc[0]; a1 += v0 * wc[1]; a2 += v0 * wc[2]
                wc = wc + 3
            }
            store(a0, t, n0, rows, bias, y, yStride); store(a1, t, n0 + 1, rows, bias, y, yStride); store(a2, t, n0 + 2, rows, bias, y, yStride)
        }
    }

    /// Canonical RMSNorm of one row: ss = dot(x, x) (8 lanes + tree); mean = ss / H;
    /// inv = 1 / sqrt(mean + eps); y = (x · inv) · w. Rows and `w` are zero-padded to a multiple of 8.
    @inline(__always)
    static func rmsnorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, width: Int, eps: Float,
                        _ y: UnsafeMutablePointer<Float>) {
        let chunks = round8(width) / 8
        let xv = Vec8Pointer(x)
        let wv = Vec8Pointer(w)
        let yv = MutableVec8Pointer(y)
        var acc = SIMD8<Float>()
        for c in 0..<chunks {
            let v = xv[c]
            acc += v * v
        }
        let mean = tree8(acc) / Float(width)
        let inv = 1 / (mean + eps).squareRoot()
        for c in 0..<chunks {
            yv[c] = (xv[c] * inv) * wv[c]
        }
    }
}

import Testing
@testable import Verifier

/// The matmul kernels chosen at run time give the same bits: the portable Swift kernel, the AVX2 C kernel (on a
/// CPU that has AVX2), and a scalar transcription of the canonical dot product (Specs/verifier-canon-f32-v1.md:
/// 8 lane sums in increasing k from +0, the fixed tree, then the bias). Shapes cover every token remainder of
/// the 3-token blocks and rows that do not fill a 3-row panel; values include signed zeros, subnormals,
/// infinities and NaN.
@Suite struct KernelDispatchTests {
    /// Deterministic floats with the awkward values mixed in.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed
        let special: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .infinity, -.infinity, .nan, 1e30, -1e-30]
        return (0..<n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            if (state >> 59) == 0 { return special[i % special.count] }
            return Float(Int32(truncatingIfNeeded: state >> 32)) / Float(1 << 24)
        }
    }

    /// The canonical dot product of one input row and one weight row, written out scalar.
    static func reference(_ x: [Float], _ w: [Float], bias: Float?) -> Float {
        var lanes = [Float](repeating: 0, count: 8)
        for k in 0..<x.count { lanes[k & 7] = lanes[k & 7] + x[k] * w[k] }
        let v = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        return bias.map { v + $0 } ?? v
    }

    func run(_ kernel: MatmulKernel, x: [Float], tokens: Int, cols: Int, w: PackedMatrix, bias: [Float]?, threads: Int) -> [UInt32] {
        let stride = round8(cols)
        let xb = FloatBuffer(count: tokens * stride)
        for t in 0..<tokens { for k in 0..<cols { xb.pointer[t * stride + k] = x[t * cols + k] } }
        let y = FloatBuffer(count: tokens * w.rows)
        let b = bias.map { FloatBuffer($0, paddedCount: round8($0.count)) }
        Kernels.matmul(x: xb.pointer, xStride: stride, tokens: tokens, w: w, bias: b.map { UnsafePointer($0.pointer) },
                       y: y.pointer, yStride: w.rows, threads: threads, kernel: kernel)
        return (0..<tokens * w.rows).map { y.pointer[$0].bitPattern }
    }

    @Test(arguments: [(1, 1, 1), (2, 5, 9), (3, 3, 8), (4, 7, 17), (5, 10, 64), (7, 4, 100), (32, 13, 896)])
    func kernelsAgreeBitForBit(tokens: Int, rows: Int, cols: Int) {
        let x = Self.values(tokens * cols, seed: UInt64(tokens * 1000 + cols))
        let wRows = Self.values(rows * cols, seed: UInt64(rows * 7 + cols))
        let w = wRows.withUnsafeBufferPointer { PackedMatrix(rows: rows, cols: cols, source: $0.baseAddress!, rowStride: cols) }
        for bias in [nil, Self.values(rows, seed: 99)] {
            var expected = [UInt32]()
            for t in 0..<tokens {
                for n in 0..<rows {
                    expected.append(Self.reference(Array(x[t * cols..<(t + 1) * cols]), Array(wRows[n * cols..<(n + 1) * cols]),
                                                   bias: bias?[n]).bitPattern)
                }
            }
            // NaN payloads may differ with the operand order the compiler picks for a commutative add; canon-f32-v1
            // only requires NaN to stay NaN (a pass with NaN has no valid output), so NaNs compare as one value.
            func canonical(_ bits: [UInt32]) -> [UInt32] { bits.map { Float(bitPattern: $0).isNaN ? 0x7fc0_0000 : $0 } }
            let portable = run(.portable, x: x, tokens: tokens, cols: cols, w: w, bias: bias, threads: 2)
            #expect(canonical(portable) == canonical(expected))
            if MatmulKernel.avx2.isSupported {
                #expect(canonical(run(.avx2, x: x, tokens: tokens, cols: cols, w: w, bias: bias, threads: 2)) == canonical(portable))
            }
        }
    }

    /// Which kernel this machine runs (shown in the test log; x86-64 CI machines have AVX2).
    @Test func bestKernelIsSupported() {
        #expect(MatmulKernel.best.isSupported)
        #if arch(x86_64)
        #expect(MatmulKernel.best == (MatmulKernel.avx2.isSupported ? .avx2 : .portable))
        #else
        #expect(MatmulKernel.best == .portable)
        #endif
    }
}

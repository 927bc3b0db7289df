/// The elementary functions of `canon-f32-v1` (Specs/verifier-canon-f32-v1.md, sections "exp" and
/// "rotary table"). Only IEEE basic operations (+, −, ×, ÷, comparisons, bit manipulation), each rounded
/// once: no libm, no fused multiply-add (Swift never contracts `a * b + c`). SIMD8 operations are
/// lane-wise IEEE operations, so a lane computes exactly what the scalar formula computes.
enum CanonMath {
    // MARK: float32 exp

    static let expLog2e = Float(bitPattern: 0x3FB8_AA3B)   // f32(log2 e) = 0x1.715476p+0
    static let expMagic: Float = 0x1.8p+23                   // 1.5 × 2^23
    static let expC1: Float = 0x1.63p-1                      // 0.693359375: n × C1 is exact for |n| ≤ 128
    static let expC2: Float = -0x1.bd0106p-13                // f32(ln 2 − C1)
    static let expP: [Float] = [1, 1, 0.5, 0x1.555556p-3, 0x1.555556p-5, 0x1.111112p-7, 0x1.6c16c2p-10, 0x1.a01a02p-13]
    static let expHi: Float = 88
    static let expLo: Float = -87

    /// exp of each lane: NaN → NaN; x > 88 → +∞; x < −87 → +0; else 2^n · P(r) with n = round(x · log2 e)
    /// (ties to even, via the 1.5·2^23 trick), r = (x − n·C1) − n·C2, P the degree-7 Taylor polynomial in
    /// Horner form, 2^n built from its exponent bits.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let xc = x.clamped(lowerBound: SIMD8(repeating: expLo), upperBound: SIMD8(repeating: expHi))
        let t = xc * expLog2e
        let big = t + expMagic
        let nBits = unsafeBitCast(big, to: SIMD8<Int32>.self) &- Int32(bitPattern: expMagic.bitPattern)
        let n = big - expMagic
        let r = (xc - n * expC1) - n * expC2
        var p = SIMD8<Float>(repeating: expP[7])
        p = p * r + expP[6]
        p = p * r + expP[5]
        p = p * r + expP[4]
        p = p * r + expP[3]
        p = p * r + expP[2]
        p = p * r + expP[1]
        p = p * r + expP[0]
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD8<Float>.self)
        var y = p * scale
        y.replace(with: SIMD8(repeating: .infinity), where: x .> expHi)
        y.replace(with: SIMD8(repeating: 0), where: x .< expLo)
        y.replace(with: x, where: x .!= x)
        return y
    }

    /// Scalar form of `exp(_: SIMD8<Float>)` (lane 0 of the vector computation).
    static func exp(_ x: Float) -> Float {
        exp(SIMD8(repeating: x))[0]
    }

    // MARK: float64 rotary table

    static let dMagic: Double = 0x1.8p+52
    static let dLn2: Double = 0x1.62e42fefa39efp-1
    static let dInvLn2: Double = 0x1.71547652b82fep+0
    static let dLn2Hi: Double = 0x1.62e42fee00000p-1
    static let dLn2Lo: Double = 0x1.a39ef35793c76p-33
    static let dSqrt2: Double = 0x1.6a09e667f3bcdp+0
    static let dTwoOverPi: Double = 0x1.45f306dc9c883p-1
    static let dPio2_1: Double = 0x1.921fb544p+0
    static let dPio2_2: Double = 0x1.0b4611a6p-34
    static let dPio2_3: Double = 0x1.3198a2e037073p-69

    /// f64 nearest to 1/(2k+1), k = 0...12.
    static let lnCoef: [Double] = (0...12).map { 1.0 / Double(2 * $0 + 1) }
    /// f64 nearest to 1/n!, n = 0...16.
    static let expCoef: [Double] = [
        0x1p+0, 0x1p+0, 0x1p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5, 0x1.1111111111111p-7,
        0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19,
        0x1.27e4fb7789f5cp-22, 0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33,
        0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-41, 0x1.ae7f3e733b81fp-45,
    ]
    /// f64 nearest to (−1)^n/(2n+1)!, n = 0...11.
    static let sinCoef: [Double] = [
        0x1p+0, -0x1.5555555555555p-3, 0x1.1111111111111p-7, -0x1.a01a01a01a01ap-13, 0x1.71de3a556c734p-19,
        -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33, -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49,
        -0x1.2f49b46814157p-57, 0x1.71b8ef6dcf572p-66, -0x1.761b41316381ap-75,
    ]
    /// f64 nearest to (−1)^n/(2n)!, n = 0...11.
    static let cosCoef: [Double] = [
        0x1p+0, -0x1p-1, 0x1.5555555555555p-5, -0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-16,
        -0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29, -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45,
        -0x1.6827863b97d97p-53, 0x1.e542ba4020225p-62, -0x1.0ce396db7f853p-70,
    ]

    @inline(__always)
    static func roundEven(_ x: Double) -> Double { (x + dMagic) - dMagic }

    /// Natural log of a positive normal double: x = m·2^e with m in [1, 2), halved when above √2; then
    /// ln m = 2s·Σ s^(2k)/(2k+1) with s = (m−1)/(m+1), Horner over z = s², k = 12 down to 0.
    static func ln(_ x: Double) -> Double {
        let b = x.bitPattern
        var e = Int((b >> 52) & 0x7FF) - 1023
        var m = Double(bitPattern: (b & ((1 << 52) - 1)) | (1023 << 52))
        if m > dSqrt2 {
            m = m / 2
            e += 1
        }
        let s = (m - 1) / (m + 1)
        let z = s * s
        var p = lnCoef[12]
        for k in stride(from: 11, through: 0, by: -1) { p = p * z + lnCoef[k] }
        return Double(e) * dLn2 + (2 * s) * p
    }

    /// exp of a double in [−700, 0]: k = round(y / ln 2), r = (y − k·LN2_HI) − k·LN2_LO, Taylor to r^16.
    static func expD(_ y: Double) -> Double {
        let kf = roundEven(y * dInvLn2)
        let r = (y - kf * dLn2Hi) - kf * dLn2Lo
        var p = expCoef[16]
        for n in stride(from: 15, through: 0, by: -1) { p = p * r + expCoef[n] }
        return p * Double(bitPattern: UInt64(Int64(kf) + 1023) << 52)
    }

    /// (sin a, cos a) for 0 ≤ a < 2^21: k = round(a·2/π), r = ((a − k·P1) − k·P2) − k·P3 (P1, P2 have 32
    /// significant bits so k·P1 and k·P2 are exact), Taylor polynomials in z = r², quadrant from k mod 4.
    static func sincos(_ a: Double) -> (sin: Double, cos: Double) {
        let kf = roundEven(a * dTwoOverPi)
        let r = ((a - kf * dPio2_1) - kf * dPio2_2) - kf * dPio2_3
        let z = r * r
        var ps = sinCoef[11]
        for n in stride(from: 10, through: 1, by: -1) { ps = ps * z + sinCoef[n] }
        let s = r + (r * z) * ps
        var pc = cosCoef[11]
        for n in stride(from: 10, through: 1, by: -1) { pc = pc * z + cosCoef[n] }
        let c = 1 + z * pc
        switch Int(kf) & 3 {
        case 0: return (s, c)
        case 1: return (c, -s)
        case 2: return (-s, -c)
        default: return (-c, s)
        }
    }

    /// Rotary inverse frequencies θ^(−2i/d), i < d/2, as exp(−((2i/d) · ln θ)).
    static func inverseFrequencies(theta: Double, headDim: Int) -> [Double] {
        let lt = ln(theta)
        return (0..<(headDim / 2)).map { i in expD(-((Double(2 * i) / Double(headDim)) * lt)) }
    }

    /// cos and sin tables, float32 [positions.count][d/2]: angle = Double(p) · invFreq[i], rounded to float32.
    static func rotaryTable(inverseFrequencies inv: [Double], positions: Range<Int>) -> (cos: [Float], sin: [Float]) {
        var cos: [Float] = []
        var sin: [Float] = []
        cos.reserveCapacity(positions.count * inv.count)
        sin.reserveCapacity(positions.count * inv.count)
        for p in positions {
            for f in inv {
                let (s, c) = sincos(Double(p) * f)
                cos.append(Float(c))
                sin.append(Float(s))
            }
        }
        return (cos, sin)
    }
}

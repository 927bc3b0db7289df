#include "cverifier_kernels.h"

// Never contract a*b+c into a fused multiply-add: canon-f32-v1 rounds the product and the sum separately
// (Specs/verifier-canon-f32-v1.md). The avx2 target does not include FMA either; this makes it explicit and
// holds for any compiler default.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

bool canon_cpu_has_avx2(void) { return __builtin_cpu_supports("avx2"); }

#define AVX2 __attribute__((target("avx2")))

/// The fixed reduction of 8 lane sums: ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)), in single precision.
AVX2 static inline float tree8(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

AVX2 static inline void store(__m256 acc, ptrdiff_t t, ptrdiff_t n, ptrdiff_t rows, const float *bias, float *y,
                              ptrdiff_t y_stride) {
    if (n >= rows) return;
    float v = tree8(acc);
    if (bias) v = v + bias[n];
    y[t * y_stride + n] = v;
}

/// acc + v * w: the product rounded, then the sum (never fused).
#define MAC(acc, v, w) acc = _mm256_add_ps(acc, _mm256_mul_ps(v, w))

AVX2 void canon_panel_avx2(const float *x, ptrdiff_t x_stride, ptrdiff_t tokens, const float *w_panel, ptrdiff_t chunks,
                           ptrdiff_t n0, ptrdiff_t rows, const float *bias, float *y, ptrdiff_t y_stride) {
    ptrdiff_t t = 0;
    // 3 tokens × 3 rows: 9 accumulators, 3 weights, 1 input and 1 product in the 16 vector registers.
    for (; t + 3 <= tokens; t += 3) {
        const float *x0 = x + t * x_stride, *x1 = x0 + x_stride, *x2 = x1 + x_stride;
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps();
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps();
        __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a22 = _mm256_setzero_ps();
        const float *wc = w_panel;
        for (ptrdiff_t c = 0; c < chunks; c++, wc += 24) {
            __m256 w0 = _mm256_loadu_ps(wc), w1 = _mm256_loadu_ps(wc + 8), w2 = _mm256_loadu_ps(wc + 16);
            __m256 v0 = _mm256_loadu_ps(x0 + 8 * c), v1 = _mm256_loadu_ps(x1 + 8 * c), v2 = _mm256_loadu_ps(x2 + 8 * c);
            MAC(a00, v0, w0); MAC(a01, v0, w1); MAC(a02, v0, w2);
            MAC(a10, v1, w0); MAC(a11, v1, w1); MAC(a12, v1, w2);
            MAC(a20, v2, w0); MAC(a21, v2, w1); MAC(a22, v2, w2);
        }
        store(a00, t, n0, rows, bias, y, y_stride); store(a01, t, n0 + 1, rows, bias, y, y_stride); store(a02, t, n0 + 2, rows, bias, y, y_stride);
        store(a10, t + 1, n0, rows, bias, y, y_stride); store(a11, t + 1, n0 + 1, rows, bias, y, y_stride); store(a12, t + 1, n0 + 2, rows, bias, y, y_stride);
        store(a20, t + 2, n0, rows, bias, y, y_stride); store(a21, t + 2, n0 + 1, rows, bias, y, y_stride); store(a22, t + 2, n0 + 2, rows, bias, y, y_stride);
    }
    if (t + 2 <= tokens) {
        const float *x0 = x + t * x_stride, *x1 = x0 + x_stride;
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps();
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps();
        const float *wc = w_panel;
        for (ptrdiff_t c = 0; c < chunks; c++, wc += 24) {
            __m256 w0 = _mm256_loadu_ps(wc), w1 = _mm256_loadu_ps(wc + 8), w2 = _mm256_loadu_ps(wc + 16);
            __m256 v0 = _mm256_loadu_ps(x0 + 8 * c), v1 = _mm256_loadu_ps(x1 + 8 * c);
            MAC(a00, v0, w0); MAC(a01, v0, w1); MAC(a02, v0, w2);
            MAC(a10, v1, w0); MAC(a11, v1, w1); MAC(a12, v1, w2);
        }
        store(a00, t, n0, rows, bias, y, y_stride); store(a01, t, n0 + 1, rows, bias, y, y_stride); store(a02, t, n0 + 2, rows, bias, y, y_stride);
        store(a10, t + 1, n0, rows, bias, y, y_stride); store(a11, t + 1, n0 + 1, rows, bias, y, y_stride); store(a12, t + 1, n0 + 2, rows, bias, y, y_stride);
        t += 2;
    }
    if (t < tokens) {
        const float *x0 = x + t * x_stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps();
        const float *wc = w_panel;
        for (ptrdiff_t c = 0; c < chunks; c++, wc += 24) {
            __m256 v0 = _mm256_loadu_ps(x0 + 8 * c);
            MAC(a0, v0, _mm256_loadu_ps(wc)); MAC(a1, v0, _mm256_loadu_ps(wc + 8)); MAC(a2, v0, _mm256_loadu_ps(wc + 16));
        }
        store(a0, t, n0, rows, bias, y, y_stride); store(a1, t, n0 + 1, rows, bias, y, y_stride); store(a2, t, n0 + 2, rows, bias, y, y_stride);
    }
}

#else

bool canon_cpu_has_avx2(void) { return false; }

void canon_panel_avx2(const float *x, ptrdiff_t x_stride, ptrdiff_t tokens, const float *w_panel, ptrdiff_t chunks,
                      ptrdiff_t n0, ptrdiff_t rows, const float *bias, float *y, ptrdiff_t y_stride) {
    // Unreachable: callers check canon_cpu_has_avx2(), false here.
    (void)x; (void)x_stride; (void)tokens; (void)w_panel; (void)chunks; (void)n0; (void)rows; (void)bias; (void)y; (void)y_stride;
    __builtin_trap();
}

#endif

bool canon_fp_environment_is_canonical(void) {
    // Halfway cases tell the four rounding modes apart: 1 + 2^-24 is 1 only under nearest-even, toward zero and down;
    // (1 + 2^-23) + 2^-24 is 1 + 2^-22 only under nearest-even and up.
    volatile float one = 1.0f, half_ulp = 0x1p-24f, one_up = 0x1.000002p0f;
    if (one + half_ulp != 1.0f) return false;
    if (one_up + half_ulp != 0x1.000004p0f) return false;
    // A subnormal result (flush-to-zero would give 0), and a subnormal operand (denormals-are-zero would read 0).
    volatile float smallest_normal = 0x1p-126f, two = 2.0f;
    float sub = smallest_normal / two;
    if (sub == 0.0f) return false;
    volatile float sub_in = 0x1p-127f;
    if (sub_in * two != 0x1p-126f) return false;
    return true;
}

// The canonical executor's matmul panel kernel for x86-64 CPUs with AVX2, selected at run time (cpuid), so one
// binary is correct on every x86-64 and arm64 CPU and fast on the AVX2 ones. Same operations in the same order
// as the portable Swift kernel (Sources/Verifier/Kernels.swift, `Kernels.panel`): bit-identical results.
#ifndef CVERIFIER_KERNELS_H
#define CVERIFIER_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/// Whether this CPU can run `canon_panel_avx2` (always false off x86-64).
bool canon_cpu_has_avx2(void);

/// One panel of 3 packed weight rows against `tokens` input rows: for each token t and row n0 + i < rows,
/// y[t * y_stride + n0 + i] = tree8(lane sums of x row t · weight row i) (+ bias[n0 + i]).
/// `x_stride` is in floats (a multiple of 8); `w_panel` holds `chunks` blocks of 3 × 8 floats.
/// Must only be called when `canon_cpu_has_avx2()` is true.
void canon_panel_avx2(const float *x, ptrdiff_t x_stride, ptrdiff_t tokens, const float *w_panel, ptrdiff_t chunks,
                      ptrdiff_t n0, ptrdiff_t rows, const float *bias, float *y, ptrdiff_t y_stride);

/// Whether this thread's floating-point environment is the one the canonical executor assumes: IEEE 754 binary32
/// arithmetic rounding to nearest, ties to even, with subnormal results and operands kept (no flush-to-zero or
/// denormals-are-zero, which a library built with -ffast-math can switch on for the whole process). Known-answer
/// arithmetic on volatile operands, so it tests the unit the kernels run on.
bool canon_fp_environment_is_canonical(void);

#endif

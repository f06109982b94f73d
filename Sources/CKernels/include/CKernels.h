// CKernels.h - C micro-kernels the interpreter calls where Swift's baseline x86-64 code is too slow.
#ifndef GRAPHC_CKERNELS_H
#define GRAPHC_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Serial single-precision GEMM, all row-major: C = alpha * op(A) * op(B) + beta * C, where
/// op(A) is m x k (A[i][p] = a[i*lda + p], or a[p*lda + i] when transA), op(B) is k x n
/// (B[p][j] = b[p*ldb + j], or b[j*ldb + p] when transB) and C[i][j] = c[i*ldc + j].
/// With beta == 0, C is not read. C must not overlap A or B. Requires m, n > 0 and k >= 0.
/// Packs per thread into thread-local buffers (reused across calls), so it may run on several
/// threads at once on disjoint parts of C.
void graphc_sgemm_serial(int transA, int transB, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb,
                         float beta, float *c, long ldc);

/// The micro-kernel in use: 2 = AVX2+FMA (chosen at run time when the CPU has it),
/// 1 = portable C (compiler-vectorized for the baseline target).
int graphc_sgemm_isa(void);

/// Forces the portable kernel (1) or returns to automatic selection (0); for tests that must
/// cover both paths on an AVX2 machine. Not thread-safe with concurrent GEMMs.
void graphc_sgemm_force_portable(int on);

/// y[i] = exp(x[i]) and y[i] = erf(x[i]) for n floats, vectorized where the CPU allows (x and
/// y may be the same array). exp is within about 1 ulp; erf within 5e-7 absolute.
void graphc_vexp_f32(const float *x, float *y, long n);
void graphc_verf_f32(const float *x, float *y, long n);

/// Attention tile steps (attention.c), for one query block of `rows` rows against `count` keys,
/// all row-major. Scores: s[r*lds + x] = scale * q[r*d..] . keys[x*d..], through kt, a scratch
/// of d*lds floats; writes columns up to count rounded up to 16 (lds must allow that; the
/// extra columns are garbage). Softmax: the online-softmax step per row (row_max, row_sum
/// updated; s becomes exp(s - new max); acc row r [dv floats] rescaled), rows with no finite
/// score so far become zeros. Accumulate: acc[r*dv + c] += sum_x w[r*ldw + x] * v[x*dv + c].
/// The kernel follows graphc_sgemm_isa() (AVX2+FMA or portable).
void graphc_attn_scores(long rows, long count, long d, float scale, const float *q, const float *keys,
                        float *kt, float *s, long lds);
void graphc_attn_softmax(long rows, long count, float *s, long lds, float *row_max, float *row_sum,
                         float *acc, long dv);
void graphc_attn_accumulate(long rows, long count, long dv, const float *w, long ldw, const float *v, float *acc);

/// 1 when the CPU has AVX2 and FMA (checked once).
int graphc_cpu_has_avx2_fma(void);

/// Register tile of the micro-kernel and cache blocking, for callers that split work.
enum { GRAPHC_SGEMM_MR = 6, GRAPHC_SGEMM_NR = 16 };

/// The calling thread's kernel thread budget: 0 when none was set on this thread (use the
/// process default), 1 while running inside a parallel body (so nested splits stay serial).
int graphc_thread_budget(void);
/// Sets the calling thread's budget (0 clears it) and returns the previous value.
int graphc_set_thread_budget(int threads);
/// Marks the calling thread as running a parallel body; returns the previous mark for
/// graphc_leave_parallel_body.
int graphc_enter_parallel_body(void);
void graphc_leave_parallel_body(int previous);

#ifdef __cplusplus
}
#endif

#endif

// sgemm.c - Packed, cache-blocked fp32 GEMM with an AVX2+FMA micro-kernel chosen at run time.
//
// Goto/BLIS blocking: B is packed per (KC x NC) block into NR-wide panels (kept in L3/L2), A per
// (MC x KC) block into MR-tall panels (kept in L2), and an MR x NR register tile runs over each
// panel pair (the B micro-panel stays in L1). Skinny products (few rows, B not transposed) read
// B in place instead of packing it, since packing would cost as much as the product itself.
// The AVX2 kernel is compiled with a per-function target attribute and selected with
// __builtin_cpu_supports, so the package needs no global CPU flags.

#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPHC_X86 1
#endif

#define MR GRAPHC_SGEMM_MR
#define NR GRAPHC_SGEMM_NR
#define KC 256
#define MC 144
#define NC 4080
/// Up to this many rows, B (not transposed) is read in place rather than packed.
#define DIRECT_B_MAX_M (4 * MR)

static long min_l(long a, long b) { return a < b ? a : b; }

/// Writes the rows x cols corner of an MR x NR accumulator tile: C = alpha*acc + beta*C
/// (C not read when beta == 0).
static void store_tile(const float *acc, float *c, long ldc, float alpha, float beta, int rows, int cols) {
  for (int i = 0; i < rows; i++) {
    float *cr = c + i * ldc;
    const float *ar = acc + i * NR;
    if (beta == 0) {
      for (int j = 0; j < cols; j++) cr[j] = alpha * ar[j];
    } else {
      for (int j = 0; j < cols; j++) cr[j] = alpha * ar[j] + beta * cr[j];
    }
  }
}

/// The micro-kernel contract: `a` is a packed MR-tall panel (a[p*MR + i]); `b` holds kc rows
/// of NR floats, row p at b + p*bs; the rows x cols corner of the product goes to C through
/// store_tile's rule.
typedef void (*ukernel_fn)(long kc, const float *a, const float *b, long bs, float *c, long ldc,
                           float alpha, float beta, int rows, int cols);

/// Portable kernel: plain loops the compiler vectorizes for the baseline target.
static void ukernel_portable(long kc, const float *a, const float *b, long bs, float *c, long ldc,
                             float alpha, float beta, int rows, int cols) {
  float acc[MR * NR];
  memset(acc, 0, sizeof acc);
  for (long p = 0; p < kc; p++) {
    const float *bp = b + p * bs, *ap = a + p * MR;
    for (int i = 0; i < MR; i++) {
      float av = ap[i];
      for (int j = 0; j < NR; j++) acc[i * NR + j] += av * bp[j];
    }
  }
  store_tile(acc, c, ldc, alpha, beta, rows, cols);
}

#if GRAPHC_X86
/// AVX2+FMA kernel: a 6 x 16 tile in 12 ymm accumulators, two B loads and six broadcasts per k.
__attribute__((target("avx2,fma")))
static void ukernel_avx2(long kc, const float *a, const float *b, long bs, float *c, long ldc,
                         float alpha, float beta, int rows, int cols) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    a += MR;
    b += bs;
  }
  if (rows == MR && cols == NR) {
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    float *cr = c;
#define GRAPHC_STORE_ROW(r0, r1)                                                          \
  do {                                                                                    \
    __m256 x0 = _mm256_mul_ps(va, r0), x1 = _mm256_mul_ps(va, r1);                       \
    if (beta != 0) {                                                                      \
      x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), x0);                                  \
      x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), x1);                              \
    }                                                                                     \
    _mm256_storeu_ps(cr, x0);                                                             \
    _mm256_storeu_ps(cr + 8, x1);                                                         \
    cr += ldc;                                                                            \
  } while (0)
    GRAPHC_STORE_ROW(c00, c01); GRAPHC_STORE_ROW(c10, c11); GRAPHC_STORE_ROW(c20, c21);
    GRAPHC_STORE_ROW(c30, c31); GRAPHC_STORE_ROW(c40, c41); GRAPHC_STORE_ROW(c50, c51);
#undef GRAPHC_STORE_ROW
  } else {
    float acc[MR * NR] __attribute__((aligned(32)));
    _mm256_store_ps(acc + 0, c00); _mm256_store_ps(acc + 8, c01);
    _mm256_store_ps(acc + 16, c10); _mm256_store_ps(acc + 24, c11);
    _mm256_store_ps(acc + 32, c20); _mm256_store_ps(acc + 40, c21);
    _mm256_store_ps(acc + 48, c30); _mm256_store_ps(acc + 56, c31);
    _mm256_store_ps(acc + 64, c40); _mm256_store_ps(acc + 72, c41);
    _mm256_store_ps(acc + 80, c50); _mm256_store_ps(acc + 88, c51);
    store_tile(acc, c, ldc, alpha, beta, rows, cols);
  }
}
#endif

static int force_portable;

static int cpu_has_avx2_fma(void) {
#if GRAPHC_X86
  static int cached = -1;  // benign race: every thread computes the same answer
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
#else
  return 0;
#endif
}

int graphc_sgemm_isa(void) {
  return (!__atomic_load_n(&force_portable, __ATOMIC_RELAXED) && cpu_has_avx2_fma()) ? 2 : 1;
}

void graphc_sgemm_force_portable(int on) { __atomic_store_n(&force_portable, on != 0, __ATOMIC_RELAXED); }

static ukernel_fn pick_kernel(void) {
#if GRAPHC_X86
  if (graphc_sgemm_isa() == 2) return ukernel_avx2;
#endif
  return ukernel_portable;
}

/// Packs op(A)[row..<row+mc, col..<col+kc] into MR-tall panels (kc x MR each), zero-filling
/// rows past the end.
static void pack_a(int transA, const float *a, long lda, long row, long col, long mc, long kc, float *dst) {
  for (long i0 = 0; i0 < mc; i0 += MR) {
    long h = min_l(MR, mc - i0);
    if (!transA) {
      for (long ii = 0; ii < MR; ii++) {
        if (ii < h) {
          const float *s = a + (row + i0 + ii) * lda + col;
          for (long p = 0; p < kc; p++) dst[p * MR + ii] = s[p];
        } else {
          for (long p = 0; p < kc; p++) dst[p * MR + ii] = 0;
        }
      }
    } else {
      for (long p = 0; p < kc; p++) {
        const float *s = a + (col + p) * lda + row + i0;
        long ii = 0;
        for (; ii < h; ii++) dst[p * MR + ii] = s[ii];
        for (; ii < MR; ii++) dst[p * MR + ii] = 0;
      }
    }
    dst += kc * MR;
  }
}

/// Packs op(B)[row..<row+kc, col..<col+nc] into NR-wide panels (kc x NR each), zero-filling
/// columns past the end.
static void pack_b(int transB, const float *b, long ldb, long row, long col, long kc, long nc, float *dst) {
  for (long j0 = 0; j0 < nc; j0 += NR) {
    long w = min_l(NR, nc - j0);
    if (!transB) {
      for (long p = 0; p < kc; p++) {
        const float *s = b + (row + p) * ldb + col + j0;
        long jj = 0;
        for (; jj < w; jj++) dst[p * NR + jj] = s[jj];
        for (; jj < NR; jj++) dst[p * NR + jj] = 0;
      }
    } else {
      for (long jj = 0; jj < NR; jj++) {
        if (jj < w) {
          const float *s = b + (col + j0 + jj) * ldb + row;
          for (long p = 0; p < kc; p++) dst[p * NR + jj] = s[p];
        } else {
          for (long p = 0; p < kc; p++) dst[p * NR + jj] = 0;
        }
      }
    }
    dst += kc * NR;
  }
}

/// A per-thread packing buffer that grows on demand and is kept for the thread's lifetime
/// (Dispatch's workers persist, so steady-state GEMMs allocate nothing).
typedef struct {
  float *data;
  size_t capacity;
} workspace;

static float *reserve(workspace *w, size_t floats) {
  if (w->capacity >= floats) return w->data;
  free(w->data);
  size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
  w->data = aligned_alloc(64, bytes);
  w->capacity = w->data ? floats : 0;
  return w->data;
}

static _Thread_local workspace packed_a_ws, packed_b_ws;

/// Unblocked reference product, used only when a packing buffer cannot be allocated.
static void sgemm_unpacked(int transA, int transB, long m, long n, long k, float alpha,
                           const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc) {
  for (long i = 0; i < m; i++) {
    for (long j = 0; j < n; j++) {
      float s = 0;
      for (long p = 0; p < k; p++) s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
  }
}

void graphc_sgemm_serial(int transA, int transB, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb,
                         float beta, float *c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0) {
    for (long i = 0; i < m; i++) {
      float *cr = c + i * ldc;
      if (beta == 0) memset(cr, 0, (size_t)n * sizeof(float));
      else if (beta != 1) for (long j = 0; j < n; j++) cr[j] *= beta;
    }
    return;
  }
  ukernel_fn kernel = pick_kernel();
  int directB = !transB && m <= DIRECT_B_MAX_M;
  long mcMax = min_l(m, MC), kcMax = min_l(k, KC);
  long ncPacked = directB ? NR : (min_l(n, NC) + NR - 1) / NR * NR;
  float *pa = reserve(&packed_a_ws, (size_t)((mcMax + MR - 1) / MR * MR * kcMax));
  float *pb = reserve(&packed_b_ws, (size_t)(ncPacked * kcMax));
  if (!pa || !pb) {
    sgemm_unpacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  for (long jc = 0; jc < n; jc += NC) {
    long nc = min_l(NC, n - jc);
    for (long pc = 0; pc < k; pc += KC) {
      long kc = min_l(KC, k - pc);
      float blockBeta = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
      if (!directB) pack_b(transB, b, ldb, pc, jc, kc, nc, pb);
      for (long ic = 0; ic < m; ic += MC) {
        long mc = min_l(MC, m - ic);
        pack_a(transA, a, lda, ic, pc, mc, kc, pa);
        for (long jr = 0; jr < nc; jr += NR) {
          int w = (int)min_l(NR, nc - jr);
          const float *panel;
          long bs;
          if (!directB) {
            panel = pb + jr * kc;
            bs = NR;
          } else if (w == NR) {
            panel = b + pc * ldb + jc + jr;
            bs = ldb;
          } else {
            pack_b(0, b, ldb, pc, jc + jr, kc, w, pb);
            panel = pb;
            bs = NR;
          }
          for (long ir = 0; ir < mc; ir += MR) {
            int h = (int)min_l(MR, mc - ir);
            kernel(kc, pa + ir * kc, panel, bs, c + (ic + ir) * ldc + jc + jr, ldc, alpha, blockBeta, h, w);
          }
        }
      }
    }
  }
}

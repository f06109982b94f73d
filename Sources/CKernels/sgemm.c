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
/// Up to this many columns, A (not transposed) is read in place rather than packed: packing
/// would cost about as much as the few B panels it serves.
#define DIRECT_A_MAX_N (8 * NR)

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

/// The micro-kernel contract: element (i, p) of the MR x kc A panel is a[i*ars + p*aks] (a
/// packed panel has ars = 1, aks = MR; rows of a row-major A in place have ars = lda, aks = 1)
/// and only rows < `rows` are read; `b` holds kc rows of NR floats, row p at b + p*bs; the
/// rows x cols corner of the product goes to C through store_tile's rule.
typedef void (*ukernel_fn)(long kc, const float *a, long ars, long aks, const float *b, long bs,
                           float *c, long ldc, float alpha, float beta, int rows, int cols);

/// Portable kernel: plain loops the compiler vectorizes for the baseline target.
static void ukernel_portable(long kc, const float *a, long ars, long aks, const float *b, long bs,
                             float *c, long ldc, float alpha, float beta, int rows, int cols) {
  float acc[MR * NR];
  memset(acc, 0, sizeof acc);
  for (long p = 0; p < kc; p++) {
    const float *bp = b + p * bs;
    for (int i = 0; i < rows; i++) {
      float av = a[i * ars + p * aks];
      for (int j = 0; j < NR; j++) acc[i * NR + j] += av * bp[j];
    }
  }
  store_tile(acc, c, ldc, alpha, beta, rows, cols);
}

#if GRAPHC_X86
/// AVX2+FMA kernel: a 6 x 16 tile in 12 ymm accumulators, two B loads and six broadcasts per k.
__attribute__((target("avx2,fma")))
static void ukernel_avx2(long kc, const float *a, long ars, long aks, const float *b, long bs,
                         float *c, long ldc, float alpha, float beta, int rows, int cols) {
  // Rows past `rows` re-read row 0 (valid memory); their sums are never stored.
  const float *a0 = a, *a1 = a + (rows > 1 ? ars : 0), *a2 = a + (rows > 2 ? 2 * ars : 0);
  const float *a3 = a + (rows > 3 ? 3 * ars : 0), *a4 = a + (rows > 4 ? 4 * ars : 0), *a5 = a + (rows > 5 ? 5 * ars : 0);
  long off = 0;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(a0 + off); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + off); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + off); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + off); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + off); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + off); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    off += aks;
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

int graphc_cpu_has_avx2_fma(void) {
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
  return (!__atomic_load_n(&force_portable, __ATOMIC_RELAXED) && graphc_cpu_has_avx2_fma()) ? 2 : 1;
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
    if (!transA && h == MR) {
      const float *s0 = a + (row + i0) * lda + col, *s1 = s0 + lda, *s2 = s1 + lda;
      const float *s3 = s2 + lda, *s4 = s3 + lda, *s5 = s4 + lda;
      for (long p = 0; p < kc; p++) {
        float *d = dst + p * MR;
        d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p];
      }
    } else if (!transA) {
      memset(dst, 0, (size_t)(kc * MR) * sizeof(float));
      for (long ii = 0; ii < h; ii++) {
        const float *s = a + (row + i0 + ii) * lda + col;
        for (long p = 0; p < kc; p++) dst[p * MR + ii] = s[p];
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

#if GRAPHC_X86
/// Transposes eight 8-float rows in place: r[i][j] becomes r[j][i].
__attribute__((target("avx2,fma")))
static inline void transpose8(__m256 *r) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/// One full NR-wide panel of a transposed B: rows j..j+15 of `b` (k-contiguous) become kc
/// rows of 16 floats, eight k at a time through two 8 x 8 transposes.
__attribute__((target("avx2,fma")))
static void pack_b_panel_trans_avx2(const float *b, long ldb, long kc, float *dst) {
  long p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int half = 0; half < 2; half++) {
      __m256 r[8];
      for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(b + (half * 8 + q) * ldb + p);
      transpose8(r);
      for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * NR + half * 8, r[q]);
    }
  }
  for (; p < kc; p++)
    for (int jj = 0; jj < NR; jj++) dst[p * NR + jj] = b[jj * ldb + p];
}
#endif

/// Packs op(B)[row..<row+kc, col..<col+nc] into NR-wide panels (kc x NR each), zero-filling
/// columns past the end.
static void pack_b(int transB, const float *b, long ldb, long row, long col, long kc, long nc, float *dst) {
  if (!transB) {
    // Row by row, so B (often a weight streamed from memory) is read sequentially; each row
    // scatters into the panels, whose rows are contiguous lines.
    long full = nc / NR, w = nc - full * NR;
    for (long p = 0; p < kc; p++) {
      const float *s = b + (row + p) * ldb + col;
      float *d = dst + p * NR;
      for (long j = 0; j < full; j++) memcpy(d + j * kc * NR, s + j * NR, NR * sizeof(float));
      if (w) {
        float *e = d + full * kc * NR;
        memcpy(e, s + full * NR, (size_t)w * sizeof(float));
        memset(e + w, 0, (size_t)(NR - w) * sizeof(float));
      }
    }
    return;
  }
#if GRAPHC_X86
  int avx2 = graphc_sgemm_isa() == 2;
#endif
  for (long j0 = 0; j0 < nc; j0 += NR) {
    long w = min_l(NR, nc - j0);
#if GRAPHC_X86
    if (avx2 && w == NR) {
      pack_b_panel_trans_avx2(b + (col + j0) * ldb + row, ldb, kc, dst);
      dst += kc * NR;
      continue;
    }
#endif
    if (w < NR) memset(dst, 0, (size_t)(kc * NR) * sizeof(float));
    for (long jj = 0; jj < w; jj++) {
      const float *s = b + (col + j0 + jj) * ldb + row;
      for (long p = 0; p < kc; p++) dst[p * NR + jj] = s[p];
    }
    dst += kc * NR;
  }
}

/// The calling thread's packing buffer for `floats` floats (scratch slots 0 and 1 belong to
/// sgemm); NULL if it cannot be allocated.
static float *reserve(int slot, size_t floats) { return graphc_thread_scratch(slot, floats * sizeof(float)); }

/// Products with at most SKINNY_MAX_M rows (batch-1 linear layers) go to the vector-matrix
/// loops below, which read B once, sequentially, without packing.
#define SKINNY_MAX_M 4

/// Scales rows [0, m) of C by beta (zero-fills when beta == 0, so C is not read).
static void scale_c(long m, long n, float beta, float *c, long ldc) {
  for (long i = 0; i < m; i++) {
    float *cr = c + i * ldc;
    if (beta == 0) memset(cr, 0, (size_t)n * sizeof(float));
    else if (beta != 1) for (long j = 0; j < n; j++) cr[j] *= beta;
  }
}

/// C += alpha * op(A) * B for row-major B: four rows of B at a time update every C row, so B
/// streams once and each C element is loaded and stored once per four rows of B. Plain loops
/// that the compiler vectorizes for whatever target the caller is compiled for.
static inline __attribute__((always_inline))
void skinny_nn_body(int transA, long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float *c, long ldc) {
  long p = 0;
  for (; p + 4 <= k; p += 4) {
    const float *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    for (long i = 0; i < m; i++) {
      float s0 = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
      float s1 = alpha * (transA ? a[(p + 1) * lda + i] : a[i * lda + p + 1]);
      float s2 = alpha * (transA ? a[(p + 2) * lda + i] : a[i * lda + p + 2]);
      float s3 = alpha * (transA ? a[(p + 3) * lda + i] : a[i * lda + p + 3]);
      float *cr = c + i * ldc;
      for (long j = 0; j < n; j++) cr[j] += s0 * b0[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j];
    }
  }
  for (; p < k; p++) {
    const float *bp = b + p * ldb;
    for (long i = 0; i < m; i++) {
      float s = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
      float *cr = c + i * ldc;
      for (long j = 0; j < n; j++) cr[j] += s * bp[j];
    }
  }
}

/// C += alpha * A * B^T with A rows contiguous (`a` row i at a + i*lda): dot products of A
/// rows with four B rows at a time, in 16 independent lanes per pair so the loops vectorize
/// without reassociation.
static inline __attribute__((always_inline))
void skinny_nt_body(long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float *c, long ldc) {
  enum { L = 16 };
  for (long i = 0; i < m; i++) {
    const float *ar = a + i * lda;
    float *cr = c + i * ldc;
    long j = 0;
    for (; j + 4 <= n; j += 4) {
      const float *b0 = b + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      float acc0[L] = {0}, acc1[L] = {0}, acc2[L] = {0}, acc3[L] = {0};
      long p = 0;
      for (; p + L <= k; p += L) {
        for (int l = 0; l < L; l++) {
          float x = ar[p + l];
          acc0[l] += x * b0[p + l]; acc1[l] += x * b1[p + l]; acc2[l] += x * b2[p + l]; acc3[l] += x * b3[p + l];
        }
      }
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int l = 0; l < L; l++) { s0 += acc0[l]; s1 += acc1[l]; s2 += acc2[l]; s3 += acc3[l]; }
      for (; p < k; p++) { float x = ar[p]; s0 += x * b0[p]; s1 += x * b1[p]; s2 += x * b2[p]; s3 += x * b3[p]; }
      cr[j] += alpha * s0; cr[j + 1] += alpha * s1; cr[j + 2] += alpha * s2; cr[j + 3] += alpha * s3;
    }
    for (; j < n; j++) {
      const float *bj = b + j * ldb;
      float acc[L] = {0};
      long p = 0;
      for (; p + L <= k; p += L) for (int l = 0; l < L; l++) acc[l] += ar[p + l] * bj[p + l];
      float sum = 0;
      for (int l = 0; l < L; l++) sum += acc[l];
      for (; p < k; p++) sum += ar[p] * bj[p];
      cr[j] += alpha * sum;
    }
  }
}

static void skinny_nn_portable(int transA, long m, long n, long k, float alpha, const float *a, long lda,
                               const float *b, long ldb, float *c, long ldc) {
  skinny_nn_body(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
static void skinny_nt_portable(long m, long n, long k, float alpha, const float *a, long lda,
                               const float *b, long ldb, float *c, long ldc) {
  skinny_nt_body(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
#if GRAPHC_X86
__attribute__((target("avx2,fma")))
static void skinny_nn_avx2(int transA, long m, long n, long k, float alpha, const float *a, long lda,
                           const float *b, long ldb, float *c, long ldc) {
  skinny_nn_body(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
__attribute__((target("avx2,fma")))
static void skinny_nt_avx2(long m, long n, long k, float alpha, const float *a, long lda,
                           const float *b, long ldb, float *c, long ldc) {
  skinny_nt_body(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
#endif

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

long graphc_sgemm_packed_size(long k, long n) { return (n + NR - 1) / NR * NR * (k > 0 ? k : 1); }

void graphc_sgemm_pack_b(int transB, long k, long n, const float *b, long ldb, float *dst) {
  if (k <= 0 || n <= 0) return;
  // pack_b with kc = k lays out exactly the whole-matrix format (panel j at dst + j*NR*k). A
  // transposed B is packed panel by panel, reading 16 k-contiguous rows: use it as is.
  if (transB) {
    pack_b(1, b, ldb, 0, 0, k, n, dst);
    return;
  }
  // Row-major B: by blocks of 64 rows (one block of B fits in L2), panel by panel, so each
  // panel gets a contiguous 4 KiB run instead of one line per row of B scattered over every
  // panel of the whole matrix (a TLB miss per store on big weights).
  enum { ROWS = 64 };
  for (long p0 = 0; p0 < k; p0 += ROWS) {
    long p1 = min_l(k, p0 + ROWS);
    for (long j0 = 0; j0 < n; j0 += NR) {
      long w = min_l(NR, n - j0);
      float *d = dst + j0 * k;
      for (long p = p0; p < p1; p++) {
        memcpy(d + p * NR, b + p * ldb + j0, (size_t)w * sizeof(float));
        if (w < NR) memset(d + p * NR + w, 0, (size_t)(NR - w) * sizeof(float));
      }
    }
  }
}

/// The serial GEMM; `packed` (may be NULL) is op(B) from this call's first column packed whole
/// by graphc_sgemm_pack_b, used instead of packing B per K block.
static void sgemm_serial(int transA, int transB, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb, const float *packed,
                         float beta, float *c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  if (m <= SKINNY_MAX_M) {
    int avx2 = graphc_sgemm_isa() == 2;
    scale_c(m, n, beta, c, ldc);
    if (!transB) {
#if GRAPHC_X86
      if (avx2) { skinny_nn_avx2(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc); return; }
#endif
      skinny_nn_portable(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc);
      return;
    }
    const float *rows = a;
    long rowStride = lda;
    if (transA) {  // gather the m columns of A into contiguous rows
      float *t = reserve(0, (size_t)(m * k));
      if (!t) { sgemm_unpacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, 1, c, ldc); return; }
      for (long i = 0; i < m; i++) for (long p = 0; p < k; p++) t[i * k + p] = a[p * lda + i];
      rows = t;
      rowStride = k;
    }
#if GRAPHC_X86
    if (avx2) { skinny_nt_avx2(m, n, k, alpha, rows, rowStride, b, ldb, c, ldc); return; }
#endif
    skinny_nt_portable(m, n, k, alpha, rows, rowStride, b, ldb, c, ldc);
    return;
  }
  ukernel_fn kernel = pick_kernel();
  int directB = !packed && !transB && m <= DIRECT_B_MAX_M;
  int directA = !transA && n <= DIRECT_A_MAX_N;
  long mcMax = min_l(m, MC), kcMax = min_l(k, KC);
  long ncPacked = packed ? 0 : directB ? NR : (min_l(n, NC) + NR - 1) / NR * NR;
  float *pa = reserve(0, (size_t)((mcMax + MR - 1) / MR * MR * kcMax));
  float *pb = packed ? NULL : reserve(1, (size_t)(ncPacked * kcMax));
  if (!pa || (!packed && !pb)) {
    sgemm_unpacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  for (long jc = 0; jc < n; jc += NC) {
    long nc = min_l(NC, n - jc);
    for (long pc = 0; pc < k; pc += KC) {
      long kc = min_l(KC, k - pc);
      float blockBeta = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
      if (!packed && !directB) pack_b(transB, b, ldb, pc, jc, kc, nc, pb);
      for (long ic = 0; ic < m; ic += MC) {
        long mc = min_l(MC, m - ic);
        if (!directA) pack_a(transA, a, lda, ic, pc, mc, kc, pa);
        for (long jr = 0; jr < nc; jr += NR) {
          int w = (int)min_l(NR, nc - jr);
          const float *panel;
          long bs;
          if (packed) {
            panel = packed + (jc + jr) * k + pc * NR;
            bs = NR;
          } else if (!directB) {
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
            float *ct = c + (ic + ir) * ldc + jc + jr;
            if (directA) kernel(kc, a + (ic + ir) * lda + pc, lda, 1, panel, bs, ct, ldc, alpha, blockBeta, h, w);
            else kernel(kc, pa + ir * kc, 1, MR, panel, bs, ct, ldc, alpha, blockBeta, h, w);
          }
        }
      }
    }
  }
}

void graphc_sgemm_serial(int transA, int transB, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb,
                         float beta, float *c, long ldc) {
  sgemm_serial(transA, transB, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc);
}

void graphc_sgemm_serial_packed(int transA, int transB, long m, long n, long k, float alpha,
                                const float *a, long lda, const float *b, long ldb, const float *packed,
                                float beta, float *c, long ldc) {
  sgemm_serial(transA, transB, m, n, k, alpha, a, lda, b, ldb, packed, beta, c, ldc);
}

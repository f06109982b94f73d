// attention.c - The fused attention kernel's tile steps: scores, online softmax, weights x V.
//
// One query block (rows <= 64) meets one key tile (count keys) at a time; these three steps
// are the kernel's arithmetic (Sources/Interpreter/Kernels/Attention.swift drives them and
// applies masks between the first two). AVX2+FMA at run time, portable C otherwise.

#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#define GRAPHC_ATTN_X86 1
#include <immintrin.h>

#include "exp8.h"
#endif

/// Transposes keys [count, d] to kt [d, lds], zero-padding columns count..<width.
static void transpose_keys(long count, long width, long d, const float *keys, float *kt, long lds) {
  for (long p = 0; p < d; p++) {
    float *row = kt + p * lds;
    for (long x = 0; x < count; x++) row[x] = keys[x * d + p];
    for (long x = count; x < width; x++) row[x] = 0;
  }
}

#if GRAPHC_ATTN_X86
/// 4 query rows x 16 keys per register tile; rows past the end repeat the last row and are
/// not stored.
__attribute__((target("avx2,fma")))
static void scores_avx2(long rows, long count, long d, float scale, const float *q, const float *keys,
                        float *kt, float *s, long lds) {
  long width = (count + 15) & ~15L;
  transpose_keys(count, width, d, keys, kt, lds);
  const __m256 sc = _mm256_set1_ps(scale);
  for (long r = 0; r < rows; r += 4) {
    const float *qr[4];
    for (int i = 0; i < 4; i++) qr[i] = q + (r + i < rows ? r + i : rows - 1) * d;
    long n = rows - r < 4 ? rows - r : 4;
    for (long x = 0; x < width; x += 16) {
      __m256 a[4][2];
      for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
      for (long p = 0; p < d; p++) {
        __m256 k0 = _mm256_loadu_ps(kt + p * lds + x), k1 = _mm256_loadu_ps(kt + p * lds + x + 8);
        for (int i = 0; i < 4; i++) {
          __m256 b = _mm256_broadcast_ss(qr[i] + p);
          a[i][0] = _mm256_fmadd_ps(b, k0, a[i][0]);
          a[i][1] = _mm256_fmadd_ps(b, k1, a[i][1]);
        }
      }
      for (long i = 0; i < n; i++) {
        _mm256_storeu_ps(s + (r + i) * lds + x, _mm256_mul_ps(a[i][0], sc));
        _mm256_storeu_ps(s + (r + i) * lds + x + 8, _mm256_mul_ps(a[i][1], sc));
      }
    }
  }
}

/// The online-softmax step of one row; returns the correction factor for its accumulator.
__attribute__((target("avx2,fma")))
static float softmax_row_avx2(long count, float *s, float *row_max, float *row_sum) {
  __m256 m8 = _mm256_set1_ps(-INFINITY);
  long x = 0;
  for (; x + 8 <= count; x += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(s + x));
  float t[8];
  _mm256_storeu_ps(t, m8);
  float m = *row_max;
  for (int i = 0; i < 8; i++) m = t[i] > m ? t[i] : m;
  for (long y = x; y < count; y++) m = s[y] > m ? s[y] : m;
  if (m == -INFINITY) {  // nothing visible yet: contributes nothing
    for (long y = 0; y < count; y++) s[y] = 0;
    return 1;
  }
  const __m256 shift = _mm256_set1_ps(m);
  __m256 sum8 = _mm256_setzero_ps();
  for (x = 0; x + 8 <= count; x += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + x), shift));
    _mm256_storeu_ps(s + x, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  if (x < count) {
    for (int i = 0; i < 8; i++) t[i] = x + i < count ? s[x + i] : -INFINITY;
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(t), shift));
    sum8 = _mm256_add_ps(sum8, e);
    _mm256_storeu_ps(t, e);
    for (long y = x; y < count; y++) s[y] = t[y - x];
  }
  _mm256_storeu_ps(t, sum8);
  float sum = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
  float correction = _mm256_cvtss_f32(exp8(_mm256_set1_ps(*row_max - m)));
  *row_sum = *row_sum * correction + sum;
  *row_max = m;
  return correction;
}

/// acc[r, c0..<c0 + 8*W] += w[r, :] v[:, c0..<c0 + 8*W] for R rows (R <= 4, W <= 2).
#define GRAPHC_ATTN_PV(R, W)                                                                   \
  do {                                                                                         \
    __m256 a[R][W];                                                                            \
    for (int i = 0; i < R; i++)                                                                \
      for (int j = 0; j < W; j++) a[i][j] = _mm256_loadu_ps(acc + (r + i) * dv + c + 8 * j);    \
    for (long x = 0; x < count; x++) {                                                         \
      __m256 vv[W];                                                                            \
      for (int j = 0; j < W; j++) vv[j] = _mm256_loadu_ps(v + x * dv + c + 8 * j);             \
      for (int i = 0; i < R; i++) {                                                            \
        __m256 b = _mm256_broadcast_ss(w + (r + i) * ldw + x);                                 \
        for (int j = 0; j < W; j++) a[i][j] = _mm256_fmadd_ps(b, vv[j], a[i][j]);              \
      }                                                                                        \
    }                                                                                          \
    for (int i = 0; i < R; i++)                                                                \
      for (int j = 0; j < W; j++) _mm256_storeu_ps(acc + (r + i) * dv + c + 8 * j, a[i][j]);   \
  } while (0)

__attribute__((target("avx2,fma")))
static void accumulate_avx2(long rows, long count, long dv, const float *w, long ldw, const float *v, float *acc) {
  long full = dv / 8 * 8, r = 0;
  for (; r + 4 <= rows; r += 4) {
    long c = 0;
    for (; c + 16 <= full; c += 16) GRAPHC_ATTN_PV(4, 2);
    for (; c < full; c += 8) GRAPHC_ATTN_PV(4, 1);
  }
  for (; r < rows; r++) {
    long c = 0;
    for (; c + 16 <= full; c += 16) GRAPHC_ATTN_PV(1, 2);
    for (; c < full; c += 8) GRAPHC_ATTN_PV(1, 1);
  }
  for (long rr = 0; rr < rows; rr++) {
    for (long c = full; c < dv; c++) {
      float t = acc[rr * dv + c];
      for (long x = 0; x < count; x++) t += w[rr * ldw + x] * v[x * dv + c];
      acc[rr * dv + c] = t;
    }
  }
}
#endif

static int use_avx2(void) { return graphc_sgemm_isa() == 2; }

void graphc_attn_scores(long rows, long count, long d, float scale, const float *q, const float *keys,
                        float *kt, float *s, long lds) {
#if GRAPHC_ATTN_X86
  if (use_avx2()) { scores_avx2(rows, count, d, scale, q, keys, kt, s, lds); return; }
#endif
  long width = (count + 15) & ~15L;
  transpose_keys(count, width, d, keys, kt, lds);
  for (long r = 0; r < rows; r++) {
    float *sr = s + r * lds;
    for (long x = 0; x < width; x++) sr[x] = 0;
    for (long p = 0; p < d; p++) {
      float qp = q[r * d + p];
      const float *kr = kt + p * lds;
      for (long x = 0; x < width; x++) sr[x] += qp * kr[x];
    }
    for (long x = 0; x < width; x++) sr[x] *= scale;
  }
}

void graphc_attn_softmax(long rows, long count, float *s, long lds, float *row_max, float *row_sum,
                         float *acc, long dv) {
  for (long r = 0; r < rows; r++) {
    float *sr = s + r * lds, correction;
#if GRAPHC_ATTN_X86
    if (use_avx2()) {
      correction = softmax_row_avx2(count, sr, row_max + r, row_sum + r);
    } else
#endif
    {
      float m = row_max[r];
      for (long x = 0; x < count; x++) m = sr[x] > m ? sr[x] : m;
      if (m == -INFINITY) {
        for (long x = 0; x < count; x++) sr[x] = 0;
        continue;
      }
      float sum = 0;
      for (long x = 0; x < count; x++) { sr[x] = expf(sr[x] - m); sum += sr[x]; }
      correction = expf(row_max[r] - m);
      row_sum[r] = row_sum[r] * correction + sum;
      row_max[r] = m;
    }
    if (correction != 1)
      for (long c = 0; c < dv; c++) acc[r * dv + c] *= correction;
  }
}

void graphc_attn_accumulate(long rows, long count, long dv, const float *w, long ldw, const float *v, float *acc) {
#if GRAPHC_ATTN_X86
  if (use_avx2()) { accumulate_avx2(rows, count, dv, w, ldw, v, acc); return; }
#endif
  for (long r = 0; r < rows; r++)
    for (long x = 0; x < count; x++) {
      float wx = w[r * ldw + x];
      for (long c = 0; c < dv; c++) acc[r * dv + c] += wx * v[x * dv + c];
    }
}

// qgemm.c - Integer GEMM for the quantized ops: 8-bit x 8/4-bit products in exact int32, fused requantization.
//
// Products are formed on int16: A rows are widened to int16 (pairs of consecutive k form one
// 32-bit lane), B is packed into 16-column panels of interleaved k pairs, and the AVX2
// micro-kernel multiplies them with vpmaddwd, which sums two int16 x int16 products into int32
// exactly (|a b| <= 2^15 for 8-bit values, so the pair sum fits). vpmaddubsw is not used: it
// saturates u8 x s8 pair sums at int16. Accumulation over k is in int32 with wrap-around, so
// the sums equal the interpreter's `&+=` loops bit for bit in any order. The epilogue adds the
// bias and requantizes a whole 6 x 16 tile with vector fixed-point arithmetic.
//
// Blocking: B is packed per NC-column block for the whole of k (no k blocking, so each tile's
// sums stay in registers to the end); A per MC-row block. Products with few rows read an 8-bit
// B in place instead (packing would cost as much as the product). The AVX2 code is compiled
// with a per-function target attribute and picked at run time, as in sgemm.c.

#include "CKernels.h"

#include <limits.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPHC_X86 1
#endif

#define QMR GRAPHC_QGEMM_MR
#define QNR GRAPHC_QGEMM_NR
/// Bytes of packed B per block (kept in L2) and of widened A per block.
#define QB_BYTES (384 * 1024)
#define QA_BYTES (96 * 1024)
/// Up to this many rows, an 8-bit B is read in place rather than packed.
#define QDIRECT_MAX_M 12

static long qmin_l(long a, long b) { return a < b ? a : b; }

/// Element (r, c) of an operand, widened to int32.
static inline int32_t q_get(const graphc_qoperand *o, long r, long c) {
  long e = o->offset + r * o->ld + c;
  switch (o->kind) {
    case GRAPHC_Q_S8: return ((const int8_t *)o->data)[e];
    case GRAPHC_Q_U8: return ((const uint8_t *)o->data)[e];
    default: {
      uint8_t byte = ((const uint8_t *)o->data)[e >> 1];
      return (int8_t)(uint8_t)((e & 1) ? byte : (uint8_t)(byte << 4)) >> 4;
    }
  }
}

// MARK: Scalar fixed point (the interpreter's FixedPoint.swift, bit for bit)

static inline int32_t q_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * b;
  int64_t nudge = ab >= 0 ? (1 << 30) : 1 - (1 << 30);
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t q_rdbpot(int32_t x, int e) {
  int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
  int32_t rem = x & mask, thr = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > thr ? 1 : 0);
}

static inline int32_t q_requant(int32_t acc, int32_t m0, int32_t shift, const graphc_qrequant *rq) {
  int32_t v;
  if (shift > 0) {
    int64_t s = (int64_t)acc * ((int64_t)1 << shift);
    v = q_srdhm(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s, m0);
  } else {
    v = q_rdbpot(q_srdhm(acc, m0), -shift);
  }
  v = (int32_t)((uint32_t)rq->zero_point + (uint32_t)v);
  v = v > rq->lo ? v : rq->lo;
  return v < rq->hi ? v : rq->hi;
}

/// Per-tile requantization parameters: for each of the tile's rows (channel_axis 0) or
/// columns (1), the bias, multiplier and shift of its channel.
typedef struct {
  int32_t bias[QNR], m0[QNR], shift[QNR];
  float scale[QNR];
} tile_params;

static void load_params(const graphc_qrequant *rq, long ch0, int count, tile_params *p) {
  for (int t = 0; t < QNR; t++) {
    long ch = ch0 + (t < count ? t : 0);
    long q = rq->per_channel ? ch : 0;
    p->bias[t] = rq->bias ? rq->bias[ch] : 0;
    p->m0[t] = rq->multiplier[q];
    p->shift[t] = rq->shift[q];
    p->scale[t] = rq->scale ? rq->scale[q] : 0.0f;
  }
}

/// The dequantized result of one sum (GRAPHC_Q_F32): the int32 sum converted to float (round
/// to nearest), times the channel's scale, clamped to [flo, fhi].
static inline float q_dequant(int32_t s, float scale, const graphc_qrequant *rq) {
  float v = (float)s * scale;
  v = v > rq->flo ? v : rq->flo;
  return v < rq->fhi ? v : rq->fhi;
}

/// Bytes per element of C.
static long q_csize(int c_kind) { return c_kind == GRAPHC_Q_F32 ? (long)sizeof(float) : 1; }

/// Writes the rows x cols corner of an int32 MR x NR tile (row stride NR) to C (elements of
/// c_kind, row stride ldc), requantized or dequantized.
static void epilogue_portable(const int32_t *acc, int rows, int cols, const graphc_qrequant *rq,
                              const tile_params *p, void *cv, long ldc, int c_kind) {
  for (int i = 0; i < rows; i++) {
    for (int j = 0; j < cols; j++) {
      int t = rq->channel_axis == 0 ? i : j;
      int32_t s = (int32_t)((uint32_t)acc[i * QNR + j] + (uint32_t)p->bias[t]);
      if (c_kind == GRAPHC_Q_F32) {
        ((float *)cv)[i * ldc + j] = q_dequant(s, p->scale[t], rq);
        continue;
      }
      int32_t v = q_requant(s, p->m0[t], p->shift[t], rq);
      ((uint8_t *)cv)[i * ldc + j] = c_kind == GRAPHC_Q_S8 ? (uint8_t)(int8_t)v : (uint8_t)v;
    }
  }
}

// MARK: Packing

/// Widens rows [r0, r0 + rows) of A (all k columns) to int16 rows of `kpad` (k rounded up to
/// even, the pad zeroed) at `dst`.
static void widen_a(const graphc_qoperand *a, long r0, long rows, long k, long kpad, int16_t *dst) {
  for (long i = 0; i < rows; i++) {
    int16_t *d = dst + i * kpad;
    long base = a->offset + (r0 + i) * a->ld;
    if (a->kind == GRAPHC_Q_S8) {
      const int8_t *s = (const int8_t *)a->data + base;
      for (long p = 0; p < k; p++) d[p] = s[p];
    } else if (a->kind == GRAPHC_Q_U8) {
      const uint8_t *s = (const uint8_t *)a->data + base;
      for (long p = 0; p < k; p++) d[p] = s[p];
    } else {
      for (long p = 0; p < k; p++) d[p] = (int16_t)q_get(a, r0 + i, p);
    }
    if (kpad > k) d[k] = 0;
  }
}

/// The address of B[p][col] for the vector loads: its byte, or for int4 the byte holding it
/// (callers ensure the element index is even).
static inline const uint8_t *q_row(const graphc_qoperand *b, long p, long col) {
  long e = b->offset + p * b->ld + col;
  return (const uint8_t *)b->data + (b->kind == GRAPHC_Q_S4 ? e >> 1 : e);
}

/// Whether 16-column vector loads may start at column `col` of every row: always for 8-bit
/// kinds; for int4 when every row's element index there is even.
static inline int q_vector_rows(const graphc_qoperand *b, long col) {
  return b->kind != GRAPHC_Q_S4 || ((b->offset + col) % 2 == 0 && b->ld % 2 == 0);
}

#if GRAPHC_X86
/// 16 consecutive elements of kind `kind` as int8: bytes for S8/U8 (U8 reinterpreted later by
/// zero extension), or eight bytes of int4 nibbles (`p` at an even element) sign-extended.
__attribute__((target("avx2,fma")))
static inline __m128i load16(const uint8_t *p, int kind) {
  if (kind != GRAPHC_Q_S4) return _mm_loadu_si128((const __m128i *)p);
  const __m128i low = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  __m128i x = _mm_loadl_epi64((const __m128i *)p);
  __m128i v = _mm_unpacklo_epi8(_mm_and_si128(x, low), _mm_and_si128(_mm_srli_epi16(x, 4), low));
  return _mm_sub_epi8(_mm_xor_si128(v, eight), eight);  // (v ^ 8) - 8 sign-extends a nibble
}

/// Rows p and p + 1 (r1 NULL: zeros) of 16 columns, interleaved and widened: lanes
/// (B[p][j], B[p+1][j]) for j in 0..<8 (first) and 8..<16 (second).
__attribute__((target("avx2,fma")))
static inline void interleave16(const uint8_t *r0, const uint8_t *r1, int kind, __m256i *lo, __m256i *hi) {
  __m128i x0 = load16(r0, kind);
  __m128i x1 = r1 ? load16(r1, kind) : _mm_setzero_si128();
  __m128i l = _mm_unpacklo_epi8(x0, x1), h = _mm_unpackhi_epi8(x0, x1);
  if (kind != GRAPHC_Q_U8) {
    *lo = _mm256_cvtepi8_epi16(l);
    *hi = _mm256_cvtepi8_epi16(h);
  } else {
    *lo = _mm256_cvtepu8_epi16(l);
    *hi = _mm256_cvtepu8_epi16(h);
  }
}

/// One full 16-column panel of B starting at column `col`, for all k rows.
__attribute__((target("avx2,fma")))
static void pack_b_panel_avx2(const graphc_qoperand *b, long col, long k, int16_t *dst) {
  for (long q = 0; q < (k + 1) / 2; q++) {
    __m256i lo, hi;
    interleave16(q_row(b, 2 * q, col), 2 * q + 1 < k ? q_row(b, 2 * q + 1, col) : NULL, b->kind, &lo, &hi);
    _mm256_storeu_si256((__m256i *)(dst + q * 2 * QNR), lo);
    _mm256_storeu_si256((__m256i *)(dst + q * 2 * QNR + QNR), hi);
  }
}
#endif

/// Packs columns [col, col + nc) of B (all k rows) into 16-column panels: panel j holds, for
/// each pair q, 16 lanes (B[2q][j0 + t], B[2q + 1][j0 + t]) of int16, zero past k and past nc.
static void pack_b(const graphc_qoperand *b, long col, long k, long nc, int avx2, int16_t *dst) {
  long kp = (k + 1) / 2;
  (void)avx2;
  for (long j0 = 0; j0 < nc; j0 += QNR) {
    long w = qmin_l(QNR, nc - j0);
#if GRAPHC_X86
    if (avx2 && w == QNR && q_vector_rows(b, col + j0)) {
      pack_b_panel_avx2(b, col + j0, k, dst);
      dst += kp * 2 * QNR;
      continue;
    }
#endif
    for (long q = 0; q < kp; q++) {
      int16_t *d = dst + q * 2 * QNR;
      for (long t = 0; t < QNR; t++) {
        d[2 * t] = t < w ? (int16_t)q_get(b, 2 * q, col + j0 + t) : 0;
        d[2 * t + 1] = t < w && 2 * q + 1 < k ? (int16_t)q_get(b, 2 * q + 1, col + j0 + t) : 0;
      }
    }
    dst += kp * 2 * QNR;
  }
}

// MARK: Micro-kernels

/// The micro-kernel contract: `a` holds `rows` widened A rows of `kp` int32 lanes (pairs),
/// row i at a + i * ars; `b` is a packed panel (kp pairs of 32 int16) or, with `direct`, the B
/// operand read in place from column `col` (16 readable columns, k rows); the int32 sums
/// of the rows x 16 tile go to `acc` (row stride NR).
static void ukernel_portable(long kp, const int32_t *a, long ars, const int16_t *b, int rows, int32_t *acc) {
  memset(acc, 0, sizeof(int32_t) * QMR * QNR);
  for (long q = 0; q < kp; q++) {
    const int16_t *bq = b + q * 2 * QNR;
    for (int i = 0; i < rows; i++) {
      int32_t pair = a[i * ars + q];
      int32_t a0 = (int16_t)(pair & 0xffff), a1 = (int16_t)((uint32_t)pair >> 16);
      int32_t *r = acc + i * QNR;
      for (int t = 0; t < QNR; t++)
        r[t] = (int32_t)((uint32_t)r[t] + (uint32_t)(a0 * bq[2 * t] + a1 * bq[2 * t + 1]));
    }
  }
}

#if GRAPHC_X86
#define Q_ROW(i)                                                                               \
  if (ROWS > i) {                                                                              \
    __m256i av = _mm256_set1_epi32(a##i[q]);                                                   \
    c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(av, b0));                          \
    c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(av, b1));                          \
  }

/// AVX2 kernel body for a ROWS x 16 tile (ROWS a constant after inlining): 2 x ROWS ymm
/// accumulators, two B vectors and ROWS broadcasts per k pair.
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
ukernel_avx2_body(const int ROWS, const int direct, const int kind, long k, const int32_t *a, long ars,
                  const void *b, long col, int32_t *acc) {
  const int32_t *a0 = a, *a1 = a + ars, *a2 = a + 2 * ars, *a3 = a + 3 * ars, *a4 = a + 4 * ars, *a5 = a + 5 * ars;
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  long kp = (k + 1) / 2;
  const int16_t *bp = b;
  const graphc_qoperand *bd = b;
  for (long q = 0; q < kp; q++) {
    __m256i b0, b1;
    if (direct) {
      interleave16(q_row(bd, 2 * q, col), 2 * q + 1 < k ? q_row(bd, 2 * q + 1, col) : NULL, kind, &b0, &b1);
    } else {
      b0 = _mm256_loadu_si256((const __m256i *)(bp + q * 2 * QNR));
      b1 = _mm256_loadu_si256((const __m256i *)(bp + q * 2 * QNR + QNR));
    }
    Q_ROW(0) Q_ROW(1) Q_ROW(2) Q_ROW(3) Q_ROW(4) Q_ROW(5)
  }
  _mm256_storeu_si256((__m256i *)(acc + 0), c00); _mm256_storeu_si256((__m256i *)(acc + 8), c01);
  if (ROWS > 1) { _mm256_storeu_si256((__m256i *)(acc + 16), c10); _mm256_storeu_si256((__m256i *)(acc + 24), c11); }
  if (ROWS > 2) { _mm256_storeu_si256((__m256i *)(acc + 32), c20); _mm256_storeu_si256((__m256i *)(acc + 40), c21); }
  if (ROWS > 3) { _mm256_storeu_si256((__m256i *)(acc + 48), c30); _mm256_storeu_si256((__m256i *)(acc + 56), c31); }
  if (ROWS > 4) { _mm256_storeu_si256((__m256i *)(acc + 64), c40); _mm256_storeu_si256((__m256i *)(acc + 72), c41); }
  if (ROWS > 5) { _mm256_storeu_si256((__m256i *)(acc + 80), c50); _mm256_storeu_si256((__m256i *)(acc + 88), c51); }
}
#undef Q_ROW

/// One instantiation per (rows bucket, B source), so short tiles do not pay for six rows.
/// `b` is a packed panel, or with a direct B the operand itself, read from column `col`.
typedef void (*qkernel_fn)(long k, const int32_t *a, long ars, const void *b, long col, int32_t *acc);
#define Q_KERNEL(R, D, S)                                                                      \
  __attribute__((target("avx2,fma"))) static void qk_##R##_##D##_##S(                         \
      long k, const int32_t *a, long ars, const void *b, long col, int32_t *acc) {            \
    ukernel_avx2_body(R, D, S, k, a, ars, b, col, acc);                                        \
  }
#define Q_KERNELS(D, S) Q_KERNEL(1, D, S) Q_KERNEL(2, D, S) Q_KERNEL(4, D, S) Q_KERNEL(6, D, S)
Q_KERNELS(0, 0)
Q_KERNELS(1, GRAPHC_Q_S8)
Q_KERNELS(1, GRAPHC_Q_U8)
Q_KERNELS(1, GRAPHC_Q_S4)
#undef Q_KERNELS
#undef Q_KERNEL

/// The kernel for `rows` (1...6) rows of B source `source` (0 packed, else 1 + the kind of a
/// B read in place).
static qkernel_fn pick_avx2(int rows, int source) {
  static const qkernel_fn table[4][4] = {
      {qk_1_0_0, qk_2_0_0, qk_4_0_0, qk_6_0_0},
      {qk_1_1_GRAPHC_Q_S8, qk_2_1_GRAPHC_Q_S8, qk_4_1_GRAPHC_Q_S8, qk_6_1_GRAPHC_Q_S8},
      {qk_1_1_GRAPHC_Q_U8, qk_2_1_GRAPHC_Q_U8, qk_4_1_GRAPHC_Q_U8, qk_6_1_GRAPHC_Q_U8},
      {qk_1_1_GRAPHC_Q_S4, qk_2_1_GRAPHC_Q_S4, qk_4_1_GRAPHC_Q_S4, qk_6_1_GRAPHC_Q_S4},
  };
  int bucket = rows <= 1 ? 0 : rows <= 2 ? 1 : rows <= 4 ? 2 : 3;
  return table[source][bucket];
}

// Vector fixed point: eight lanes of the scalar functions above.

/// round(a * b / 2^31) as gemmlowp, for b in [0, 2^31) (never INT32_MIN, so never saturating):
/// (a b + 2^30) >> 31 equals the nudged truncating division in every case.
__attribute__((target("avx2,fma"))) static inline __m256i srdhm8(__m256i a, __m256i b) {
  const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
  __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
  __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), nudge);
  // The result is bits 31..62 of each 64-bit sum (it fits int32): even lanes shift down by 31,
  // odd lanes up by 1 into their high half.
  return _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
}

__attribute__((target("avx2,fma"))) static inline __m256i requant8(__m256i acc, __m256i bias, __m256i m0, __m256i shift,
                                                                   __m256i zp, __m256i lo, __m256i hi) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  __m256i x = _mm256_add_epi32(acc, bias);
  __m256i left = _mm256_max_epi32(shift, zero), right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  // Saturating left shift: where shifting back does not restore x, clamp by x's sign.
  __m256i shifted = _mm256_sllv_epi32(x, left);
  __m256i exact = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), x);
  __m256i sat = _mm256_xor_si256(_mm256_set1_epi32(INT32_MAX), _mm256_srai_epi32(x, 31));
  x = _mm256_blendv_epi8(sat, shifted, exact);
  x = srdhm8(x, m0);
  // Rounding divide by 2^right, ties away from zero.
  __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  __m256i rem = _mm256_and_si256(x, mask);
  __m256i thr = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_and_si256(_mm256_srai_epi32(x, 31), one));
  x = _mm256_add_epi32(_mm256_srav_epi32(x, right), _mm256_and_si256(_mm256_cmpgt_epi32(rem, thr), one));
  x = _mm256_add_epi32(x, zp);
  return _mm256_min_epi32(_mm256_max_epi32(x, lo), hi);
}

/// The AVX2 form of q_dequant over a whole tile (the same conversion, multiply and clamps, so
/// bit for bit the portable result: no value is NaN, and max/min pick flo/fhi on ties as the
/// scalar comparisons do).
__attribute__((target("avx2,fma")))
static void epilogue_avx2_f32(const int32_t *acc, int rows, int cols, const graphc_qrequant *rq, const tile_params *p,
                              float *c, long ldc) {
  const __m256 lo = _mm256_set1_ps(rq->flo), hi = _mm256_set1_ps(rq->fhi);
  int byColumn = rq->channel_axis != 0;
  __m256i cb0 = _mm256_loadu_si256((const __m256i *)p->bias), cb1 = _mm256_loadu_si256((const __m256i *)(p->bias + 8));
  __m256 cs0 = _mm256_loadu_ps(p->scale), cs1 = _mm256_loadu_ps(p->scale + 8);
  for (int i = 0; i < rows; i++) {
    if (!byColumn) {
      cb0 = cb1 = _mm256_set1_epi32(p->bias[i]);
      cs0 = cs1 = _mm256_set1_ps(p->scale[i]);
    }
    __m256 v0 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + i * QNR)), cb0));
    __m256 v1 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + i * QNR + 8)), cb1));
    v0 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v0, cs0), lo), hi);
    v1 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v1, cs1), lo), hi);
    if (cols == QNR) {
      _mm256_storeu_ps(c + i * ldc, v0);
      _mm256_storeu_ps(c + i * ldc + 8, v1);
    } else {
      float tmp[QNR];
      _mm256_storeu_ps(tmp, v0);
      _mm256_storeu_ps(tmp + 8, v1);
      memcpy(c + i * ldc, tmp, (size_t)cols * sizeof(float));
    }
  }
}

__attribute__((target("avx2,fma")))
static void epilogue_avx2(const int32_t *acc, int rows, int cols, const graphc_qrequant *rq, const tile_params *p,
                          void *cv, long ldc, int c_kind) {
  if (c_kind == GRAPHC_Q_F32) {
    epilogue_avx2_f32(acc, rows, cols, rq, p, cv, ldc);
    return;
  }
  uint8_t *c = cv;
  const __m256i zp = _mm256_set1_epi32(rq->zero_point), lo = _mm256_set1_epi32(rq->lo), hi = _mm256_set1_epi32(rq->hi);
  int byColumn = rq->channel_axis != 0;
  __m256i cb0 = _mm256_loadu_si256((const __m256i *)p->bias), cb1 = _mm256_loadu_si256((const __m256i *)(p->bias + 8));
  __m256i cm0 = _mm256_loadu_si256((const __m256i *)p->m0), cm1 = _mm256_loadu_si256((const __m256i *)(p->m0 + 8));
  __m256i cs0 = _mm256_loadu_si256((const __m256i *)p->shift), cs1 = _mm256_loadu_si256((const __m256i *)(p->shift + 8));
  for (int i = 0; i < rows; i++) {
    if (!byColumn) {
      cb0 = cb1 = _mm256_set1_epi32(p->bias[i]);
      cm0 = cm1 = _mm256_set1_epi32(p->m0[i]);
      cs0 = cs1 = _mm256_set1_epi32(p->shift[i]);
    }
    __m256i v0 = requant8(_mm256_loadu_si256((const __m256i *)(acc + i * QNR)), cb0, cm0, cs0, zp, lo, hi);
    __m256i v1 = requant8(_mm256_loadu_si256((const __m256i *)(acc + i * QNR + 8)), cb1, cm1, cs1, zp, lo, hi);
    // Values are within [lo, hi], inside the 8-bit range, so the saturating packs are exact.
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
    __m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);
    __m128i bytes = c_kind == GRAPHC_Q_S8 ? _mm_packs_epi16(wl, wh) : _mm_packus_epi16(wl, wh);
    if (cols == QNR) {
      _mm_storeu_si128((__m128i *)(c + i * ldc), bytes);
    } else {
      uint8_t tmp[QNR];
      _mm_storeu_si128((__m128i *)tmp, bytes);
      memcpy(c + i * ldc, tmp, (size_t)cols);
    }
  }
}
#endif

static int q_force_portable;

void graphc_qgemm_force_portable(int on) { __atomic_store_n(&q_force_portable, on != 0, __ATOMIC_RELAXED); }

int graphc_qgemm_isa(void) { return __atomic_load_n(&q_force_portable, __ATOMIC_RELAXED) ? 1 : graphc_sgemm_isa(); }

long graphc_qgemm_packed_size(long k, long n) { return ((k + 1) & ~1L) * ((n + QNR - 1) / QNR * QNR); }

void graphc_qgemm_pack_b(const graphc_qoperand *b, long k, long n, int16_t *dst) {
  if (n > 0) pack_b(b, 0, k < 0 ? 0 : k, n, graphc_qgemm_isa() == 2, dst);
}

// MARK: Driver

/// Unblocked product, used only when a packing buffer cannot be allocated.
static void qgemm_unpacked(long m, long n, long k, const graphc_qoperand *a, const graphc_qoperand *b,
                           const graphc_qrequant *rq, long row0, long col0, uint8_t *c, long ldc, int c_kind) {
  long es = q_csize(c_kind);
  for (long i = 0; i < m; i++) {
    for (long j = 0; j < n; j++) {
      uint32_t sum = 0;
      for (long p = 0; p < k; p++) sum += (uint32_t)(q_get(a, i, p) * q_get(b, p, j));
      int32_t acc = (int32_t)sum;
      tile_params params;
      load_params(rq, rq->channel_axis == 0 ? row0 + i : col0 + j, 1, &params);
      epilogue_portable(&acc, 1, 1, rq, &params, c + (i * ldc + j) * es, ldc, c_kind);
    }
  }
}

void graphc_qgemm_serial(long m, long n, long k, const graphc_qoperand *a, const graphc_qoperand *b,
                        const graphc_qrequant *rq, long row0, long col0, void *cv, long ldc, int c_kind) {
  if (m <= 0 || n <= 0) return;
  if (k < 0) k = 0;
  uint8_t *c = cv;
  int avx2 = graphc_qgemm_isa() == 2;
  long kpad = (k + 1) & ~1L, kp = kpad / 2;
  long lanes = kpad > 2 ? kpad : 2;  // buffer sizing never sees k == 0
  // Direct B: few rows and the AVX2 kernel (which widens B rows itself), unless B comes packed.
  const int16_t *prepacked = b->packed;
  int direct = avx2 && m <= QDIRECT_MAX_M && !prepacked;
  long nc_fit = QB_BYTES / (long)sizeof(int16_t) / lanes / QNR * QNR;
  long nc_max = direct ? QNR : qmin_l((n + QNR - 1) / QNR * QNR, nc_fit > QNR ? nc_fit : QNR);
  long mc_fit = QA_BYTES / (long)sizeof(int16_t) / lanes / QMR * QMR;
  long mc_max = qmin_l(m, mc_fit > QMR ? mc_fit : QMR);
  // Whole MR tiles: a short tile's kernel may read (and discard) rows past mc.
  int16_t *pa = graphc_thread_scratch(2, (size_t)((mc_max + QMR - 1) / QMR * QMR * lanes) * sizeof(int16_t));
  int16_t *pb = graphc_thread_scratch(3, (size_t)(nc_max * lanes) * sizeof(int16_t));
  if (!pa || !pb) {
    qgemm_unpacked(m, n, k, a, b, rq, row0, col0, c, ldc, c_kind);
    return;
  }
  int32_t acc[QMR * QNR] __attribute__((aligned(32)));
  tile_params params;
  long ncBlock = direct || prepacked ? n : nc_max;
  // When A fits one block (a conv's weights, usually), it is widened once, not per B block.
  int single_a_block = mc_max >= m;
  if (single_a_block) widen_a(a, 0, m, k, kpad, pa);
  for (long jc = 0; jc < n; jc += ncBlock) {
    long nc = qmin_l(ncBlock, n - jc);
    if (!direct && !prepacked) pack_b(b, jc, k, nc, avx2, pb);
    for (long ic = 0; ic < m; ic += mc_max) {
      long mc = qmin_l(mc_max, m - ic);
      if (!single_a_block) widen_a(a, ic, mc, k, kpad, pa);
      for (long jr = 0; jr < nc; jr += QNR) {
        int w = (int)qmin_l(QNR, nc - jr);
        const void *panel;
        int source = 0;
        if (prepacked) {
          panel = prepacked + (jc + jr) * kpad;
        } else if (!direct) {
          panel = pb + jr * kpad;
        } else if (w == QNR && q_vector_rows(b, jc + jr)) {
          panel = b;
          source = 1 + b->kind;
        } else {
          pack_b(b, jc + jr, k, w, avx2, pb);
          panel = pb;
        }
        if (rq->channel_axis != 0) load_params(rq, col0 + jc + jr, w, &params);
        for (long ir = 0; ir < mc; ir += QMR) {
          int h = (int)qmin_l(QMR, mc - ir);
          const int32_t *ap = (const int32_t *)(pa + ir * kpad);
          if (rq->channel_axis == 0) load_params(rq, row0 + ic + ir, h, &params);
          uint8_t *ct = c + ((ic + ir) * ldc + jc + jr) * q_csize(c_kind);
#if GRAPHC_X86
          if (avx2) {
            pick_avx2(h, source)(k, ap, kp, panel, jc + jr, acc);
            epilogue_avx2(acc, h, w, rq, &params, ct, ldc, c_kind);
            continue;
          }
#endif
          ukernel_portable(kp, ap, kp, panel, h, acc);
          epilogue_portable(acc, h, w, rq, &params, ct, ldc, c_kind);
        }
      }
    }
  }
}

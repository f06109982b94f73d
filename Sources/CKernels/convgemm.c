// convgemm.c - im2col-free 2-D convolution ("indirect GEMM"): output-channel x 16-pixel register
// tiles fed straight from a zero-padded, stride-phase-split copy of the input.
//
// The product is the im2col GEMM Y[m][pixel] = sum_p W[m][p] * X(p, pixel) with p = (c, kh, kw),
// but instead of unfolding X into p rows the kernel reads each tap's 16 pixels in place: in the
// prepared input (`xp`) the taps of 16 consecutive output pixels of one row are 16 consecutive
// floats, since the padding is materialized and each stride phase q (input columns q, q + sw,
// ...) is its own plane. One offset per p (precomputed per call) locates a tap relative to the
// tile's first pixel. Weights are packed (once, for constant weights) into tiles of 6 or 4
// output channels, p-major, so the kernel broadcasts them as sgemm's micro-kernel broadcasts A.
// Sums run in p order from zero (FMA-contracted in the AVX2 kernel, as sgemm's).

#include "CKernels.h"
#include "convpad.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPHC_X86 1
#endif

/// Output pixels per register tile.
#define PX 16

static long round_up(long a, long b) { return (a + b - 1) / b * b; }

/// Rows of the output-channel tile starting at `row` of `m`: tiles of 6, with the remainder
/// (and, for m = 6n + 2, the last 6 as well) in tiles of 4, so that m = 16 is 6 + 6 + 4 and
/// m = 32 is 6 x 4 + 4 + 4 without computing padding rows.
static int tile_rows(long m, long row) {
  long left = m - row;
  if (left <= 4) return 4;
  if (left == 8) return 4;
  if (left % 6 == 2 && left <= 14) return 4;
  return 6;
}

long graphc_conv_gemm_packed_size(long m, long k) {
  long rows = 0;
  for (long i = 0; i < m;) {
    int mr = tile_rows(m, i);
    rows += mr;
    i += mr;
  }
  return rows * k;
}

void graphc_conv_gemm_pack_w(const float *w, long m, long k, float *dst) {
  for (long i = 0; i < m;) {
    int mr = tile_rows(m, i);
    for (long p = 0; p < k; p++)
      for (int r = 0; r < mr; r++) dst[p * mr + r] = i + r < m ? w[(i + r) * k + p] : 0;
    dst += (long)mr * k;
    i += mr;
  }
}

/// Geometry of the prepared input: rows and columns per phase plane, and the phase count.
typedef struct { long rows, cols, phases; } prep_geom;

static prep_geom geometry(const graphc_dw_shape *s) {
  prep_geom g;
  g.rows = (s->oh - 1) * s->sh + (s->kh - 1) * s->dh + 1;
  g.phases = s->sw;
  // A tile reads phase columns up to round_up(ow, PX) - 1 + ((kw - 1) * dw) / sw.
  g.cols = round_up(s->ow, PX) + ((s->kw - 1) * s->dw) / s->sw + 1;
  return g;
}

long graphc_conv_gemm_input_size(const graphc_dw_shape *s, long channels) {
  prep_geom g = geometry(s);
  return channels * g.phases * g.rows * g.cols;
}

void graphc_conv_gemm_prepare_input(const graphc_dw_shape *s, const float *x, long c0, long c1, float *xp) {
  prep_geom g = geometry(s);
  for (long c = c0; c < c1; c++)
    graphc_pad_rows(s, x + c * s->ih * s->iw, 0, g.rows, g.cols, xp + c * g.phases * g.rows * g.cols);
}

/// Finishes one row of `cols` sums into y with the epilogue of the row's channel (`ep` already
/// offset to this row: bias[0], z row at z), or copies them when `ep` is NULL; the formula and
/// clamp are graphc_conv_epilogue_f32's.
static inline __attribute__((always_inline))
void finish_row(const float *acc, float *y, int cols, const graphc_conv_epilogue *ep) {
  if (!ep) {
    memcpy(y, acc, (size_t)cols * sizeof(float));
    return;
  }
  const float b = ep->bias ? ep->bias[0] : 0, lo = ep->lo, hi = ep->hi;
  const float *z = ep->z;
  // One loop per form, so no load is conditional (masked loads are slow).
  if (z && !ep->z_after) {
    for (int j = 0; j < cols; j++) y[j] = clamp_f(acc[j] + (b + z[j]), lo, hi);
  } else if (z) {
    for (int j = 0; j < cols; j++) y[j] = clamp_f(acc[j] + b, lo, hi) + z[j];
  } else {
    for (int j = 0; j < cols; j++) y[j] = clamp_f(acc[j] + b, lo, hi);
  }
}

/// `ep` moved to row r of a tile (bias of channel r, residual row r at stride ldy).
static inline __attribute__((always_inline))
graphc_conv_epilogue row_epilogue(const graphc_conv_epilogue *ep, long r, long ldy) {
  graphc_conv_epilogue e = *ep;
  if (e.bias) e.bias += r;
  if (e.z) e.z += r * ldy;
  return e;
}

static void store_partial(const float *acc, int mr, float *y, long ldy, int cols, const graphc_conv_epilogue *ep) {
  for (int r = 0; r < mr; r++) {
    graphc_conv_epilogue e;
    if (ep) e = row_epilogue(ep, r, ldy);
    finish_row(acc + r * PX, y + r * ldy, cols, ep ? &e : NULL);
  }
}

/// One register tile: out[r][j] = sum_p wt[p * mr + r] * base[off[p] + j] for r < mr, j < 16,
/// finished by `ep` (NULL: raw sums) into y rows (stride ldy), the first `cols` columns.
typedef void (*tile_fn)(long k, const long *off, const float *base, const float *wt, int mr,
                        float *y, long ldy, int cols, const graphc_conv_epilogue *ep);

static void tile_portable(long k, const long *off, const float *base, const float *wt, int mr,
                          float *y, long ldy, int cols, const graphc_conv_epilogue *ep) {
  float acc[6 * PX];
  memset(acc, 0, sizeof acc);
  for (long p = 0; p < k; p++) {
    const float *b = base + off[p];
    const float *w = wt + p * mr;
    for (int r = 0; r < mr; r++)
      for (int j = 0; j < PX; j++) acc[r * PX + j] += w[r] * b[j];
  }
  store_partial(acc, mr, y, ldy, cols, ep);
}

#if GRAPHC_X86
/// Full-width store of one accumulator row pair with the epilogue, vectorized (same formula
/// and NaN behaviour as finish_row: max(lo, v) and min(hi, v) return v when v is NaN).
__attribute__((target("avx2,fma"))) static inline void store_row_avx2(__m256 a0, __m256 a1, float *y, const graphc_conv_epilogue *ep) {
  if (ep) {
    __m256 b = _mm256_set1_ps(ep->bias ? ep->bias[0] : 0), lo = _mm256_set1_ps(ep->lo), hi = _mm256_set1_ps(ep->hi);
    const float *z = ep->z;
    if (z && !ep->z_after) {
      a0 = _mm256_add_ps(a0, _mm256_add_ps(b, _mm256_loadu_ps(z)));
      a1 = _mm256_add_ps(a1, _mm256_add_ps(b, _mm256_loadu_ps(z + 8)));
    } else {
      a0 = _mm256_add_ps(a0, b);
      a1 = _mm256_add_ps(a1, b);
    }
    a0 = _mm256_min_ps(hi, _mm256_max_ps(lo, a0));
    a1 = _mm256_min_ps(hi, _mm256_max_ps(lo, a1));
    if (z && ep->z_after) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(z));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(z + 8));
    }
  }
  _mm256_storeu_ps(y, a0);
  _mm256_storeu_ps(y + 8, a1);
}

#define GRAPHC_TILE_AVX2(NAME, MR)                                                                 \
  __attribute__((target("avx2,fma"))) static void NAME(long k, const long *off, const float *base,   \
                                                       const float *wt, int mr, float *y, long ldy, \
                                                       int cols, const graphc_conv_epilogue *ep) {  \
    (void)mr;                                                                                       \
    __m256 acc[MR][2];                                                                              \
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                      \
    for (long p = 0; p < k; p++) {                                                                  \
      const float *b = base + off[p];                                                               \
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);                                 \
      for (int r = 0; r < MR; r++) {                                                                \
        __m256 w = _mm256_broadcast_ss(wt + r);                                                     \
        acc[r][0] = _mm256_fmadd_ps(w, b0, acc[r][0]);                                              \
        acc[r][1] = _mm256_fmadd_ps(w, b1, acc[r][1]);                                              \
      }                                                                                             \
      wt += MR;                                                                                     \
    }                                                                                               \
    if (cols == PX) {                                                                               \
      for (int r = 0; r < MR; r++) {                                                                \
        graphc_conv_epilogue e;                                                                     \
        if (ep) e = row_epilogue(ep, r, ldy);                                                       \
        store_row_avx2(acc[r][0], acc[r][1], y + r * ldy, ep ? &e : NULL);                          \
      }                                                                                             \
    } else {                                                                                        \
      float buf[MR * PX] __attribute__((aligned(32)));                                              \
      for (int r = 0; r < MR; r++) {                                                                \
        _mm256_store_ps(buf + r * PX, acc[r][0]);                                                   \
        _mm256_store_ps(buf + r * PX + 8, acc[r][1]);                                               \
      }                                                                                             \
      store_partial(buf, MR, y, ldy, cols, ep);                                                     \
    }                                                                                               \
  }
GRAPHC_TILE_AVX2(tile6_avx2, 6)
GRAPHC_TILE_AVX2(tile4_avx2, 4)
#undef GRAPHC_TILE_AVX2
#endif

static void pick_tiles(tile_fn *t4, tile_fn *t6) {
  *t4 = *t6 = tile_portable;
#if GRAPHC_X86
  if (graphc_sgemm_isa() == 2) {
    *t4 = tile4_avx2;
    *t6 = tile6_avx2;
  }
#endif
}

/// All output-channel tiles of one 16-pixel column block: channel i of the block at y + i * ldy
/// (and its residual at ep->z + i * ldy), finished by `ep` (NULL: raw sums).
static void channel_tiles(tile_fn t4, tile_fn t6, long k, const long *off, const float *base, const float *wpacked,
                          long m, float *y, long ldy, int cols, const graphc_conv_epilogue *ep) {
  const float *wt = wpacked;
  for (long i = 0; i < m;) {
    int mr = tile_rows(m, i);
    // A 4-row tile may hold fewer real rows (zero weights); store only those.
    int real = m - i < mr ? (int)(m - i) : mr;
    tile_fn t = mr == 6 ? t6 : t4;
    graphc_conv_epilogue e;
    if (ep) e = row_epilogue(ep, i, ldy);
    if (real == mr) {
      t(k, off, base, wt, mr, y + i * ldy, ldy, cols, ep ? &e : NULL);
    } else {
      float buf[6 * PX];
      t(k, off, base, wt, mr, buf, PX, cols, NULL);
      store_partial(buf, real, y + i * ldy, ldy, cols, ep ? &e : NULL);
    }
    wt += (long)mr * k;
    i += mr;
  }
}

/// The calling thread's scratch `slot` (4: offsets, 5: the pointwise tail) of `bytes`, or the
/// process stops as Swift's own allocations do when memory runs out: a kernel never returns
/// with its output silently unwritten.
static void *scratch_or_abort(int slot, size_t bytes) {
  void *p = graphc_thread_scratch(slot, bytes);
  if (!p) {
    fputs("graphc: out of memory in a conv kernel\n", stderr);
    abort();
  }
  return p;
}

/// Offsets table of k entries: the caller's stack array when it fits, else thread scratch.
static long *offsets(long k, long *stack, long capacity) {
  return k <= capacity ? stack : scratch_or_abort(4, (size_t)k * sizeof(long));
}

void graphc_conv_gemm_f32(const graphc_dw_shape *s, long channels, long m, const float *xp, const float *wpacked,
                          long r0, long r1, float *y, long ldy, const graphc_conv_epilogue *ep) {
  const prep_geom g = geometry(s);
  const long k = channels * s->kh * s->kw, OW = s->ow;
  long stackOff[1024];
  long *off = offsets(k, stackOff, 1024);
  for (long c = 0, p = 0; c < channels; c++)
    for (long kh = 0; kh < s->kh; kh++)
      for (long kw = 0; kw < s->kw; kw++, p++) {
        long tap = kw * s->dw;
        off[p] = ((c * g.phases + tap % s->sw) * g.rows + kh * s->dh) * g.cols + tap / s->sw;
      }
  tile_fn t4, t6;
  pick_tiles(&t4, &t6);
  // Output rows are written at row (oh - r0) of each channel block; channel i at y + i * ldy.
  for (long oh = r0; oh < r1; oh++) {
    const float *rowBase = xp + oh * s->sh * g.cols;
    float *yrow = y + (oh - r0) * OW;
    for (long ow0 = 0; ow0 < OW; ow0 += PX) {
      int cols = OW - ow0 < PX ? (int)(OW - ow0) : PX;
      graphc_conv_epilogue e;
      if (ep) {
        e = *ep;
        if (e.z) e.z += (oh - r0) * OW + ow0;
      }
      channel_tiles(t4, t6, k, off, rowBase + ow0, wpacked, m, yrow + ow0, ldy, cols, ep ? &e : NULL);
    }
  }
}

void graphc_conv_gemm_pointwise_f32(long k, long m, const float *x, long ldx, long n, const float *wpacked,
                                    float *y, long ldy, const graphc_conv_epilogue *ep) {
  long stackOff[1024];
  long *off = offsets(k, stackOff, 1024);
  for (long p = 0; p < k; p++) off[p] = p * ldx;
  tile_fn t4, t6;
  pick_tiles(&t4, &t6);
  long j0 = 0;
  graphc_conv_epilogue e;
  if (ep) e = *ep;
  const float *z0 = ep ? ep->z : NULL;
  for (; j0 + PX <= n; j0 += PX) {
    if (z0) e.z = z0 + j0;
    channel_tiles(t4, t6, k, off, x + j0, wpacked, m, y + j0, ldy, PX, ep ? &e : NULL);
  }
  if (j0 < n) {
    // The last columns through a zero-padded copy, so no tile reads past the end of X.
    int cols = (int)(n - j0);
    float stackTail[256 * PX];
    float *tail = k <= 256 ? stackTail : scratch_or_abort(5, (size_t)(k * PX) * sizeof(float));
    for (long p = 0; p < k; p++) {
      memcpy(tail + p * PX, x + p * ldx + j0, (size_t)cols * sizeof(float));
      memset(tail + p * PX + cols, 0, (size_t)(PX - cols) * sizeof(float));
      off[p] = p * PX;
    }
    if (z0) e.z = z0 + j0;
    channel_tiles(t4, t6, k, off, tail, wpacked, m, y + j0, ldy, cols, ep ? &e : NULL);
  }
}

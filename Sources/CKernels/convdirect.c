// convdirect.c - Direct depthwise 2-D convolution rows, the bias/residual/clamp epilogue of
// fused convolutions and 2-D MaxPool, each compiled twice (AVX2+FMA, chosen at run time, and
// portable).
//
// All are plain loops written so the compiler vectorizes them: the depthwise kernel reads
// zero-padded copies of its input rows (convpad.h) and adds every filter tap in the scalar
// reference order (initial, then kh, then kw ascending). Multiply-adds are not
// contracted to FMA, so the results are bit for bit those of the scalar loops (and of the
// Swift loops these replaced), which keeps calibration and golden IR stable.

#include "CKernels.h"
#include "convpad.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

/// Output columns accumulated at once (a multiple of the vector width).
#define DW_CHUNK 64

/// One output row `oh` of one channel into `yrow`. Columns whose every tap is inside the
/// input (`lo..<hi`) run in chunks without bounds checks; the border columns check each tap.
static inline __attribute__((always_inline))
void dw_row_body(const graphc_dw_shape *s, const float *x, const float *w, float initial, long oh,
                 float lo, float hi, float *yrow) {
  const long IH = s->ih, IW = s->iw, OW = s->ow, KH = s->kh, KW = s->kw;
  const long sw = s->sw, dw = s->dw, pw = s->pw;
  const long ih0 = oh * s->sh - s->ph;
  // Interior columns: ow * sw - pw >= 0 and ow * sw - pw + (KW - 1) * dw <= IW - 1.
  long first = ceil_div_nonneg(pw, sw);
  long lastSpan = IW - 1 + pw - (KW - 1) * dw;
  long end = lastSpan < 0 ? 0 : lastSpan / sw + 1;
  if (end > OW) end = OW;
  if (first > end) first = end;
  for (long ow = 0; ow < OW; ow++) {
    if (ow == first && first < end) {
      if (KH == 3 && KW == 3 && ih0 >= 0 && ih0 + 2 * s->dh < IH && (sw == 1 || sw == 2)) {
        // The common 3x3 case with all three input rows inside: nine taps per column in
        // registers, one store.
        const float *r0 = x + ih0 * IW - pw, *r1 = r0 + s->dh * IW, *r2 = r1 + s->dh * IW;
        const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        const long d1 = dw, d2 = 2 * dw;
        if (sw == 1) {
          for (long j = first; j < end; j++) {
            float a = initial;
            a += w0 * r0[j]; a += w1 * r0[j + d1]; a += w2 * r0[j + d2];
            a += w3 * r1[j]; a += w4 * r1[j + d1]; a += w5 * r1[j + d2];
            a += w6 * r2[j]; a += w7 * r2[j + d1]; a += w8 * r2[j + d2];
            yrow[j] = clamp_f(a, lo, hi);
          }
        } else {
          for (long j = first; j < end; j++) {
            float a = initial;
            a += w0 * r0[2 * j]; a += w1 * r0[2 * j + d1]; a += w2 * r0[2 * j + d2];
            a += w3 * r1[2 * j]; a += w4 * r1[2 * j + d1]; a += w5 * r1[2 * j + d2];
            a += w6 * r2[2 * j]; a += w7 * r2[2 * j + d1]; a += w8 * r2[2 * j + d2];
            yrow[j] = clamp_f(a, lo, hi);
          }
        }
        ow = end - 1;
        continue;
      }
      // Chunks of interior columns.
      for (long c0 = first; c0 < end; c0 += DW_CHUNK) {
        long n = end - c0 < DW_CHUNK ? end - c0 : DW_CHUNK;
        float acc[DW_CHUNK];
        for (long j = 0; j < n; j++) acc[j] = initial;
        for (long kh = 0; kh < KH; kh++) {
          long ih = ih0 + kh * s->dh;
          if (ih < 0 || ih >= IH) continue;
          const float *xrow = x + ih * IW;
          for (long kw = 0; kw < KW; kw++) {
            float wv = w[kh * KW + kw];
            const float *src = xrow + c0 * sw + kw * dw - pw;
            if (sw == 1) {
              for (long j = 0; j < n; j++) acc[j] += wv * src[j];
            } else if (sw == 2) {
              for (long j = 0; j < n; j++) acc[j] += wv * src[2 * j];
            } else {
              for (long j = 0; j < n; j++) acc[j] += wv * src[j * sw];
            }
          }
        }
        for (long j = 0; j < n; j++) yrow[c0 + j] = clamp_f(acc[j], lo, hi);
      }
      ow = end - 1;
      continue;
    }
    float acc = initial;
    for (long kh = 0; kh < KH; kh++) {
      long ih = ih0 + kh * s->dh;
      if (ih < 0 || ih >= IH) continue;
      const float *xrow = x + ih * IW;
      for (long kw = 0; kw < KW; kw++) {
        long iw = ow * sw - pw + kw * dw;
        if (iw < 0 || iw >= IW) continue;
        acc += w[kh * KW + kw] * xrow[iw];
      }
    }
    yrow[ow] = clamp_f(acc, lo, hi);
  }
}

/// Floats of the on-stack padded rows of the depthwise kernel (32 KiB).
#define DW_PAD_FLOATS 8192

/// Output rows [r0, r1) of one channel from zero-padded, phase-split copies of the input rows
/// (`graphc_pad_rows`), made a few output rows at a time on the stack: every tap of every
/// column is then a contiguous read, so each row is one vector loop with no border cases.
/// Padding taps add w * 0, which leaves each sum unchanged (up to the sign of a zero), so the
/// results are those of the bounds-checked loops. Returns 0 (doing nothing) when even one
/// output row's input does not fit the buffer or the window has more than 64 taps.
static inline __attribute__((always_inline))
int dw_rows_padded(const graphc_dw_shape *s, const float *x, const float *w, float initial, long r0, long r1,
                   float lo, float hi, float *y) {
  const long sw = s->sw, sh = s->sh, OW = s->ow, KH = s->kh, KW = s->kw, taps = KH * KW;
  const long cols = OW + ((KW - 1) * s->dw) / sw + 1, span = (KH - 1) * s->dh + 1;
  const long fit = DW_PAD_FLOATS / (sw * cols);
  if (fit < span || taps > 64) return 0;
  const long chunkRows = (fit - span) / sh + 1;
  float buf[DW_PAD_FLOATS];
  long tapOffset[64];
  for (long a = r0; a < r1; a += chunkRows) {
    long b = a + chunkRows < r1 ? a + chunkRows : r1;
    long nrows = (b - 1 - a) * sh + span;
    graphc_pad_rows(s, x, a * sh, nrows, cols, buf);
    for (long kh = 0; kh < KH; kh++)
      for (long kw = 0; kw < KW; kw++) {
        long t = kw * s->dw;
        tapOffset[kh * KW + kw] = ((t % sw) * nrows + kh * s->dh) * cols + t / sw;
      }
    for (long oh = a; oh < b; oh++) {
      const float *base = buf + (oh - a) * sh * cols;
      float *yrow = y + (oh - r0) * OW;
      if (KH == 3 && KW == 3) {
        const float *p0 = base + tapOffset[0], *p1 = base + tapOffset[1], *p2 = base + tapOffset[2];
        const float *p3 = base + tapOffset[3], *p4 = base + tapOffset[4], *p5 = base + tapOffset[5];
        const float *p6 = base + tapOffset[6], *p7 = base + tapOffset[7], *p8 = base + tapOffset[8];
        const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        for (long j = 0; j < OW; j++) {
          float v = initial;
          v += w0 * p0[j]; v += w1 * p1[j]; v += w2 * p2[j];
          v += w3 * p3[j]; v += w4 * p4[j]; v += w5 * p5[j];
          v += w6 * p6[j]; v += w7 * p7[j]; v += w8 * p8[j];
          yrow[j] = clamp_f(v, lo, hi);
        }
        continue;
      }
      for (long c0 = 0; c0 < OW; c0 += DW_CHUNK) {
        long n = OW - c0 < DW_CHUNK ? OW - c0 : DW_CHUNK;
        float acc[DW_CHUNK];
        for (long j = 0; j < n; j++) acc[j] = initial;
        for (long t = 0; t < taps; t++) {
          const float *src = base + tapOffset[t] + c0;
          float wv = w[t];
          for (long j = 0; j < n; j++) acc[j] += wv * src[j];
        }
        for (long j = 0; j < n; j++) yrow[c0 + j] = clamp_f(acc[j], lo, hi);
      }
    }
  }
  return 1;
}

static inline __attribute__((always_inline))
void dw_rows_body(const graphc_dw_shape *s, const float *x, const float *w, float initial, long r0, long r1,
                  float lo, float hi, float *y) {
  if (dw_rows_padded(s, x, w, initial, r0, r1, lo, hi, y)) return;
  for (long oh = r0; oh < r1; oh++) dw_row_body(s, x, w, initial, oh, lo, hi, y + (oh - r0) * s->ow);
}

static inline __attribute__((always_inline))
void epilogue_body(float *y, long n, float bias, const float *z, int zAfter, float lo, float hi) {
  if (z && !zAfter) {
    for (long i = 0; i < n; i++) y[i] = clamp_f(y[i] + (bias + z[i]), lo, hi);
  } else if (z) {
    for (long i = 0; i < n; i++) y[i] = clamp_f(y[i] + bias, lo, hi) + z[i];
  } else {
    for (long i = 0; i < n; i++) y[i] = clamp_f(y[i] + bias, lo, hi);
  }
}

static void dw_rows_portable(const graphc_dw_shape *s, const float *x, const float *w, float initial, long r0,
                             long r1, float lo, float hi, float *y) {
  dw_rows_body(s, x, w, initial, r0, r1, lo, hi, y);
}
static void epilogue_portable(float *y, long n, float bias, const float *z, int zAfter, float lo, float hi) {
  epilogue_body(y, n, bias, z, zAfter, lo, hi);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void dw_rows_avx2(const graphc_dw_shape *s, const float *x, const float *w, float initial, long r0,
                         long r1, float lo, float hi, float *y) {
  dw_rows_body(s, x, w, initial, r0, r1, lo, hi, y);
}
__attribute__((target("avx2,fma")))
static void epilogue_avx2(float *y, long n, float bias, const float *z, int zAfter, float lo, float hi) {
  epilogue_body(y, n, bias, z, zAfter, lo, hi);
}
#endif

void graphc_depthwise_rows_f32(const graphc_dw_shape *s, const float *x, const float *w, float initial,
                               long r0, long r1, float lo, float hi, float *y) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_sgemm_isa() == 2) { dw_rows_avx2(s, x, w, initial, r0, r1, lo, hi, y); return; }
#endif
  dw_rows_portable(s, x, w, initial, r0, r1, lo, hi, y);
}

void graphc_conv_epilogue_f32(float *y, long n, float bias, const float *z, int zAfter, float lo, float hi) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_sgemm_isa() == 2) { epilogue_avx2(y, n, bias, z, zAfter, lo, hi); return; }
#endif
  epilogue_portable(y, n, bias, z, zAfter, lo, hi);
}

/// Max over each window of one plane, taps in kh-then-kw order, a tap replacing the running
/// maximum only when greater (so a NaN first tap stays, later NaNs are skipped).
static inline __attribute__((always_inline))
void maxpool_body(const graphc_dw_shape *s, const float *x, float *y) {
  const long IH = s->ih, IW = s->iw, OH = s->oh, OW = s->ow, KH = s->kh, KW = s->kw, sw = s->sw, dw = s->dw;
  // Interior columns: every kw tap inside the row.
  long first, end, tmp;
  valid_range(-s->pw, sw, IW, OW, &first, &tmp);
  valid_range((KW - 1) * dw - s->pw, sw, IW, OW, &tmp, &end);
  if (end < first) end = first;
  for (long oh = 0; oh < OH; oh++) {
    float *yrow = y + oh * OW;
    long ih0 = oh * s->sh - s->ph, kh0 = 0, kh1 = KH;
    while (kh0 < KH && ih0 + kh0 * s->dh < 0) kh0++;
    while (kh1 > kh0 && ih0 + (kh1 - 1) * s->dh >= IH) kh1--;
    for (long ow = 0; ow < OW; ow++) {
      if (ow == first && first < end && kh0 < kh1) {
        const float *r = x + (ih0 + kh0 * s->dh) * IW - s->pw;
        for (long j = first; j < end; j++) yrow[j] = r[j * sw];
        for (long kh = kh0; kh < kh1; kh++) {
          const float *xr = x + (ih0 + kh * s->dh) * IW - s->pw;
          for (long kw = kh == kh0 ? 1 : 0; kw < KW; kw++) {
            const float *src = xr + kw * dw;
            if (sw == 2) {
              for (long j = first; j < end; j++) { float v = src[2 * j], m = yrow[j]; yrow[j] = v > m ? v : m; }
            } else {
              for (long j = first; j < end; j++) { float v = src[j * sw], m = yrow[j]; yrow[j] = v > m ? v : m; }
            }
          }
        }
        ow = end - 1;
        continue;
      }
      float best = -INFINITY;
      int any = 0;
      for (long kh = kh0; kh < kh1; kh++) {
        const float *xr = x + (ih0 + kh * s->dh) * IW;
        for (long kw = 0; kw < KW; kw++) {
          long iw = ow * sw - s->pw + kw * dw;
          if (iw < 0 || iw >= IW) continue;
          float v = xr[iw];
          if (!any || v > best) { best = v; any = 1; }
        }
      }
      yrow[ow] = best;
    }
  }
}

static void maxpool_portable(const graphc_dw_shape *s, const float *x, float *y) { maxpool_body(s, x, y); }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void maxpool_avx2(const graphc_dw_shape *s, const float *x, float *y) { maxpool_body(s, x, y); }
#endif

void graphc_maxpool2d_f32(const graphc_dw_shape *s, const float *x, float *y) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_sgemm_isa() == 2) { maxpool_avx2(s, x, y); return; }
#endif
  maxpool_portable(s, x, y);
}

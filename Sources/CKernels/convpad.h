// convpad.h - Helpers shared by the conv kernels (internal to CKernels): the clamp, the valid
// output range of a tap, and zero-padded, stride-phase-split copies of conv input rows.
#ifndef GRAPHC_CONVPAD_H
#define GRAPHC_CONVPAD_H

#include "CKernels.h"

#include <string.h>

/// Clip's clamp with NaN passing through: below lo gives lo, then above hi gives hi.
static inline __attribute__((always_inline)) float clamp_f(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

static inline __attribute__((always_inline)) long ceil_div_nonneg(long a, long b) { return a <= 0 ? 0 : (a + b - 1) / b; }

/// First output index o (clamped to [0, n]) with o * stride + base >= 0, and one past the last
/// with o * stride + base < extent: the outputs whose tap at offset `base` is inside the input.
static inline __attribute__((always_inline)) void valid_range(long base, long stride, long extent, long n, long *lo, long *hi) {
  long a = ceil_div_nonneg(-base, stride), b = ceil_div_nonneg(extent - base, stride);
  if (a > n) a = n;
  if (b > n) b = n;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

/// Copies padded rows [prow0, prow0 + nrows) of one input plane `xc` (ih x iw) into `dst`, laid
/// out [phase q < sw][row][cols]: padded row r is input row r - ph, and column j of phase q is
/// input column j * sw + q - pw; everything outside the input is 0. With this layout the taps
/// (kh, kw) of consecutive output columns of row oh are consecutive floats: phase
/// (kw * dw) % sw, row oh * sh + kh * dh, columns from ow + (kw * dw) / sw.
/// Valid columns [*jlo, *jhi) of phase q (0 <= j * sw + q - pw < iw), within [0, cols).
static inline __attribute__((always_inline))
void graphc_pad_phase_range(const graphc_dw_shape *s, long q, long cols, long *jlo, long *jhi) {
  long first = s->pw - q, lastPlus = s->iw + s->pw - q, sw = s->sw;
  long lo = first <= 0 ? 0 : (first + sw - 1) / sw;
  long hi = lastPlus <= 0 ? 0 : (lastPlus + sw - 1) / sw;
  if (hi > cols) hi = cols;
  if (lo > hi) lo = hi;
  *jlo = lo;
  *jhi = hi;
}

static inline __attribute__((always_inline))
void graphc_pad_rows(const graphc_dw_shape *s, const float *xc, long prow0, long nrows, long cols, float *dst) {
  const long IH = s->ih, IW = s->iw, sw = s->sw, planeSize = nrows * cols;
  // Valid column ranges of the first two phases, computed once (others per row).
  long lo[2] = {0, 0}, hi[2] = {0, 0};
  for (long q = 0; q < sw && q < 2; q++) graphc_pad_phase_range(s, q, cols, &lo[q], &hi[q]);
  // Stride 2: both phases of the columns where both are inside, in one pass (even/odd).
  long both0 = 0, both1 = 0;
  if (sw == 2) {
    both0 = lo[0] > lo[1] ? lo[0] : lo[1];
    both1 = hi[0] < hi[1] ? hi[0] : hi[1];
    if (both1 < both0) both1 = both0;
  }
  for (long r = 0; r < nrows; r++) {
    long ih = prow0 + r - s->ph;
    int inside = ih >= 0 && ih < IH;
    const float *src = xc + ih * IW - s->pw;
    if (sw == 2 && inside) {
      float *d0 = dst + r * cols, *d1 = d0 + planeSize;
      for (long j = both0; j < both1; j++) {
        d0[j] = src[2 * j];
        d1[j] = src[2 * j + 1];
      }
    }
    for (long q = 0; q < sw; q++) {
      float *d = dst + q * planeSize + r * cols;
      long jlo, jhi;
      if (q < 2) {
        jlo = lo[q];
        jhi = hi[q];
      } else {
        graphc_pad_phase_range(s, q, cols, &jlo, &jhi);
      }
      if (!inside || jlo == jhi) {
        memset(d, 0, (size_t)cols * sizeof(float));
        continue;
      }
      memset(d, 0, (size_t)jlo * sizeof(float));
      if (sw == 1) {
        memcpy(d + jlo, src + jlo, (size_t)(jhi - jlo) * sizeof(float));
      } else {
        // Stride 2 did [both0, both1) above.
        long skip0 = sw == 2 ? both0 : jhi, skip1 = sw == 2 ? both1 : jhi;
        for (long j = jlo; j < skip0 && j < jhi; j++) d[j] = src[j * sw + q];
        for (long j = skip1 > jlo ? skip1 : jlo; j < jhi; j++) d[j] = src[j * sw + q];
      }
      memset(d + jhi, 0, (size_t)(cols - jhi) * sizeof(float));
    }
  }
}

#endif

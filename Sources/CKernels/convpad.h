// convpad.h - Zero-padded, stride-phase-split copies of conv input rows, shared by the conv
// kernels (internal to CKernels).
#ifndef GRAPHC_CONVPAD_H
#define GRAPHC_CONVPAD_H

#include "CKernels.h"

#include <string.h>

/// Copies padded rows [prow0, prow0 + nrows) of one input plane `xc` (ih x iw) into `dst`, laid
/// out [phase q < sw][row][cols]: padded row r is input row r - ph, and column j of phase q is
/// input column j * sw + q - pw; everything outside the input is 0. With this layout the taps
/// (kh, kw) of consecutive output columns of row oh are consecutive floats: phase
/// (kw * dw) % sw, row oh * sh + kh * dh, columns from ow + (kw * dw) / sw.
static inline __attribute__((always_inline))
void graphc_pad_rows(const graphc_dw_shape *s, const float *xc, long prow0, long nrows, long cols, float *dst) {
  const long IH = s->ih, IW = s->iw, sw = s->sw;
  for (long q = 0; q < sw; q++) {
    float *plane = dst + q * nrows * cols;
    // Valid phase columns [jlo, jhi): 0 <= j * sw + q - pw < IW.
    long first = s->pw - q, lastPlus = IW + s->pw - q;
    long jlo = first <= 0 ? 0 : (first + sw - 1) / sw;
    long jhi = lastPlus <= 0 ? 0 : (lastPlus + sw - 1) / sw;
    if (jhi > cols) jhi = cols;
    if (jlo > jhi) jlo = jhi;
    for (long r = 0; r < nrows; r++) {
      float *d = plane + r * cols;
      long ih = prow0 + r - s->ph;
      if (ih < 0 || ih >= IH || jlo == jhi) {
        memset(d, 0, (size_t)cols * sizeof(float));
        continue;
      }
      const float *src = xc + ih * IW + q - s->pw;
      for (long j = 0; j < jlo; j++) d[j] = 0;
      if (sw == 1) {
        memcpy(d + jlo, src + jlo, (size_t)(jhi - jlo) * sizeof(float));
      } else {
        for (long j = jlo; j < jhi; j++) d[j] = src[j * sw];
      }
      for (long j = jhi; j < cols; j++) d[j] = 0;
    }
  }
}

#endif

// qim2col.c - im2col of 8-bit activations for the quantized convolution (padding = zero point).

#include "CKernels.h"
#include "convpad.h"

/// The unfolding, inlined into an AVX2 and a portable copy (plain loops the compiler vectorizes
/// for each target: most runs are a few dozen bytes, too short to pay for a memcpy call).
static inline __attribute__((always_inline))
void im2col8_body(const graphc_dw_shape *s, const uint8_t *x, long channels, long p0, long p1, uint8_t pad,
                  uint8_t *col) {
  const long IH = s->ih, IW = s->iw, OW = s->ow, width = p1 - p0, sw = s->sw;
  uint8_t *row = col;
  for (long c = 0; c < channels; c++) {
    const uint8_t *xc = x + c * IH * IW;
    for (long kh = 0; kh < s->kh; kh++) {
      for (long kw = 0; kw < s->kw; kw++) {
        long base = kw * s->dw - s->pw, vlo, vhi;
        valid_range(base, sw, IW, OW, &vlo, &vhi);
        // One output row (a run of ow) at a time: pad, the in-bounds taps, pad.
        // (oh, ow0) walks the output rows from p0's without a division per row.
        long oh = p0 / OW, ow0 = p0 % OW;
        for (long p = p0; p < p1; oh++, ow0 = 0) {
          long ow1 = ow0 + (p1 - p) < OW ? ow0 + (p1 - p) : OW;
          uint8_t *dst = row + (p - p0) - ow0;
          long ih = oh * s->sh - s->ph + kh * s->dh;
          long lo = vlo > ow0 ? vlo : ow0, hi = vhi < ow1 ? vhi : ow1;
          if (ih >= 0 && ih < IH && lo < hi) {
            const uint8_t *src = xc + ih * IW + base;
            for (long ow = ow0; ow < lo; ow++) dst[ow] = pad;
            if (sw == 1) {
              for (long ow = lo; ow < hi; ow++) dst[ow] = src[ow];
            } else if (sw == 2) {
              for (long ow = lo; ow < hi; ow++) dst[ow] = src[2 * ow];
            } else {
              for (long ow = lo; ow < hi; ow++) dst[ow] = src[ow * sw];
            }
            for (long ow = hi; ow < ow1; ow++) dst[ow] = pad;
          } else {
            for (long ow = ow0; ow < ow1; ow++) dst[ow] = pad;
          }
          p += ow1 - ow0;
        }
        row += width;
      }
    }
  }
}

static void im2col8_portable(const graphc_dw_shape *s, const uint8_t *x, long channels, long p0, long p1, uint8_t pad,
                             uint8_t *col) {
  im2col8_body(s, x, channels, p0, p1, pad, col);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2")))
static void im2col8_avx2(const graphc_dw_shape *s, const uint8_t *x, long channels, long p0, long p1, uint8_t pad,
                         uint8_t *col) {
  im2col8_body(s, x, channels, p0, p1, pad, col);
}
#endif

void graphc_im2col2d_8(const graphc_dw_shape *s, const uint8_t *x, long channels, long p0, long p1, uint8_t pad,
                       uint8_t *col) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_qgemm_isa() == 2) { im2col8_avx2(s, x, channels, p0, p1, pad, col); return; }
#endif
  im2col8_portable(s, x, channels, p0, p1, pad, col);
}

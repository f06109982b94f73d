// quantize.c - Float32 to 8-bit QuantizeLinear over a run with one scale and zero point, vectorized.

#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPHC_X86 1
#endif

/// One element: ONNX QuantizeLinear with float32 arithmetic. |q| < 2^24 makes q + z exact in
/// float; larger values clamp the same either way.
static inline int32_t quantize_one(float x, float scale, float z, float lo, float hi) {
  float q = nearbyintf(x / scale);  // the default rounding mode: to nearest, ties to even
  if (q != q) return (int32_t)z;
  q += z;
  q = q > lo ? q : lo;
  return (int32_t)(q < hi ? q : hi);
}

#if GRAPHC_X86
__attribute__((target("avx2,fma")))
static long quantize_avx2(const float *x, long n, float scale, float z, float lo, float hi, int is_signed, uint8_t *y) {
  const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(z), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i r[2];
    for (int h = 0; h < 2; h++) {
      __m256 q = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i + 8 * h), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m256 nan = _mm256_cmp_ps(q, q, _CMP_UNORD_Q);
      q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, vz), vlo), vhi);
      r[h] = _mm256_cvtps_epi32(_mm256_blendv_ps(q, vz, nan));
    }
    // In-range values: the saturating packs are exact.
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(r[0], r[1]), 0xD8);
    __m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);
    _mm_storeu_si128((__m128i *)(y + i), is_signed ? _mm_packs_epi16(wl, wh) : _mm_packus_epi16(wl, wh));
  }
  return i;
}
#endif

void graphc_quantize_f32_8(const float *x, long n, float scale, int32_t zero_point, int is_signed, void *out) {
  uint8_t *y = out;
  float z = (float)zero_point, lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  long i = 0;
#if GRAPHC_X86
  if (graphc_cpu_has_avx2_fma()) i = quantize_avx2(x, n, scale, z, lo, hi, is_signed, y);
#endif
  for (; i < n; i++) {
    int32_t v = quantize_one(x[i], scale, z, lo, hi);
    y[i] = is_signed ? (uint8_t)(int8_t)v : (uint8_t)v;
  }
}

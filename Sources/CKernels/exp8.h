// exp8.h - The 8-lane AVX2 exp shared by vmath.c and attention.c (internal; x86 only).
//
// Cephes' range reduction x = n ln2 + r and degree-6 polynomial (about 1 ulp), with overflow
// to +inf, underflow to 0 (so exp(-inf) = 0) and NaN passed through.
#ifndef GRAPHC_EXP8_H
#define GRAPHC_EXP8_H

#include <immintrin.h>

__attribute__((target("avx2,fma")))
static inline __m256 exp8(__m256 x) {
  // Beyond [-104, 89] the float result is 0 or +inf; the two-step scaling below gets there.
  const __m256 hi = _mm256_set1_ps(89.0f), lo = _mm256_set1_ps(-104.0f);
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 v = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(v, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  v = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), v);
  v = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), v);
  __m256 z = _mm256_mul_ps(v, v);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, _mm256_add_ps(v, _mm256_set1_ps(1.0f)));
  // y * 2^n in two factors 2^(n/2) and 2^(n - n/2), each a normal float, so overflow and
  // gradual underflow come out of the multiplications.
  __m256i n = _mm256_cvtps_epi32(fx), n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23)));
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23)));
  return _mm256_blendv_ps(y, x, nan);
}

#endif

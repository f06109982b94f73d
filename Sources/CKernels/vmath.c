// vmath.c - Vectorized float32 exp and erf (AVX2+FMA at run time, libm otherwise).
//
// exp: Cephes' range reduction x = n ln2 + r and degree-6 polynomial (about 1 ulp), with
// overflow to +inf and NaN passed through. erf: the rational approximation x P(x^2) / Q(x^2)
// on [-4, 4] that Eigen and XLA use (absolute error under 5e-7), NaN passed through.

#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "exp8.h"

__attribute__((target("avx2,fma")))
static __m256 erf8(__m256 x) {
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 v = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
  __m256 x2 = _mm256_mul_ps(v, v);
  __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
  p = _mm256_mul_ps(p, v);
  __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_blendv_ps(_mm256_div_ps(p, q), x, nan);
}

/// Applies an 8-lane function to n floats; the tail goes through a zero-padded buffer. x and
/// y may be the same array.
#define GRAPHC_MAP8(fn, x, y, n)                                           \
  do {                                                                     \
    long i = 0;                                                            \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i))); \
    if (i < n) {                                                           \
      float t[8] = {0};                                                    \
      for (long j = i; j < n; j++) t[j - i] = x[j];                        \
      _mm256_storeu_ps(t, fn(_mm256_loadu_ps(t)));                         \
      for (long j = i; j < n; j++) y[j] = t[j - i];                        \
    }                                                                      \
  } while (0)

__attribute__((target("avx2,fma"))) static void exp_avx2(const float *x, float *y, long n) { GRAPHC_MAP8(exp8, x, y, n); }
__attribute__((target("avx2,fma"))) static void erf_avx2(const float *x, float *y, long n) { GRAPHC_MAP8(erf8, x, y, n); }
#endif

void graphc_vexp_f32(const float *x, float *y, long n) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_cpu_has_avx2_fma()) { exp_avx2(x, y, n); return; }
#endif
  for (long i = 0; i < n; i++) y[i] = expf(x[i]);
}

void graphc_verf_f32(const float *x, float *y, long n) {
#if defined(__x86_64__) || defined(__i386__)
  if (graphc_cpu_has_avx2_fma()) { erf_avx2(x, y, n); return; }
#endif
  for (long i = 0; i < n; i++) y[i] = erff(x[i]);
}

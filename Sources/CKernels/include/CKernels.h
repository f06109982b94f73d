// CKernels.h - C micro-kernels the interpreter calls where Swift's baseline x86-64 code is too slow.
#ifndef GRAPHC_CKERNELS_H
#define GRAPHC_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Serial single-precision GEMM, all row-major: C = alpha * op(A) * op(B) + beta * C, where
/// op(A) is m x k (A[i][p] = a[i*lda + p], or a[p*lda + i] when transA), op(B) is k x n
/// (B[p][j] = b[p*ldb + j], or b[j*ldb + p] when transB) and C[i][j] = c[i*ldc + j].
/// With beta == 0, C is not read. C must not overlap A or B. Requires m, n > 0 and k >= 0.
/// Packs per thread into thread-local buffers (reused across calls), so it may run on several
/// threads at once on disjoint parts of C.
void graphc_sgemm_serial(int transA, int transB, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb,
                         float beta, float *c, long ldc);

/// Floats that graphc_sgemm_pack_b writes for a k x n op(B): n rounded up to
/// GRAPHC_SGEMM_NR, times k (at least 1).
long graphc_sgemm_packed_size(long k, long n);
/// Packs all of op(B) (k x n, laid out as for graphc_sgemm_serial) once, e.g. a constant
/// weight: NR-wide column panels, panel j (columns j*NR ..< j*NR+NR) at dst + j*NR*k, its row p
/// at + p*NR; columns past n are zero.
void graphc_sgemm_pack_b(int transB, long k, long n, const float *b, long ldb, float *dst);
/// graphc_sgemm_serial with B also given packed by graphc_sgemm_pack_b: `packed` points at the
/// panel of this call's first column (whole + j0*k for a block starting at column j0, a multiple
/// of GRAPHC_SGEMM_NR) and replaces per-call packing of B. transB, b and ldb still describe the
/// same B: the vector-matrix path (m <= 4) reads it in place. packed == NULL: graphc_sgemm_serial.
void graphc_sgemm_serial_packed(int transA, int transB, long m, long n, long k, float alpha,
                                const float *a, long lda, const float *b, long ldb, const float *packed,
                                float beta, float *c, long ldc);

/// The micro-kernel in use: 2 = AVX2+FMA (chosen at run time when the CPU has it),
/// 1 = portable C (compiler-vectorized for the baseline target).
int graphc_sgemm_isa(void);

/// Forces the portable kernel (1) or returns to automatic selection (0); for tests that must
/// cover both paths on an AVX2 machine. Not thread-safe with concurrent GEMMs.
void graphc_sgemm_force_portable(int on);

/// y[i] = exp(x[i]) and y[i] = erf(x[i]) for n floats, vectorized where the CPU allows (x and
/// y may be the same array). exp is within about 1 ulp; erf within 5e-7 absolute.
void graphc_vexp_f32(const float *x, float *y, long n);
void graphc_verf_f32(const float *x, float *y, long n);

/// Attention tile steps (attention.c), for one query block of `rows` rows against `count` keys,
/// all row-major. Scores: s[r*lds + x] = scale * q[r*d..] . keys[x*d..], through kt, a scratch
/// of d*lds floats; writes columns up to count rounded up to 16 (lds must allow that; the
/// extra columns are garbage). Softmax: the online-softmax step per row (row_max, row_sum
/// updated; s becomes exp(s - new max); acc row r [dv floats] rescaled), rows with no finite
/// score so far become zeros. Accumulate: acc[r*dv + c] += sum_x w[r*ldw + x] * v[x*dv + c].
/// The kernel follows graphc_sgemm_isa() (AVX2+FMA or portable).
void graphc_attn_scores(long rows, long count, long d, float scale, const float *q, const float *keys,
                        float *kt, float *s, long lds);
void graphc_attn_softmax(long rows, long count, float *s, long lds, float *row_max, float *row_sum,
                         float *acc, long dv);
void graphc_attn_accumulate(long rows, long count, long dv, const float *w, long ldw, const float *v, float *acc);

/// 1 when the CPU has AVX2 and FMA (checked once).
int graphc_cpu_has_avx2_fma(void);

/// Register tile of the micro-kernel and cache blocking, for callers that split work.
enum { GRAPHC_SGEMM_MR = 6, GRAPHC_SGEMM_NR = 16 };

/// The calling thread's kernel thread budget: 0 when none was set on this thread (use the
/// process default), 1 while running inside a parallel body (so nested splits stay serial).
int graphc_thread_budget(void);
/// Sets the calling thread's budget (0 clears it) and returns the previous value.
int graphc_set_thread_budget(int threads);
/// Marks the calling thread as running a parallel body; returns the previous mark for
/// graphc_leave_parallel_body.
int graphc_enter_parallel_body(void);
void graphc_leave_parallel_body(int previous);

/// A growable 64-byte aligned buffer of at least `bytes` bytes owned by the calling thread and
/// slot (0 and 1: sgemm; 2 and 3: qgemm; 4 and 5: conv gemm), reused across calls and freed when the thread exits;
/// NULL if it cannot be allocated. The contents do not survive a call for a larger size.
void *graphc_thread_scratch(int slot, size_t bytes);

/// Element kinds of the integer GEMM's operands and result (GRAPHC_Q_F32: result only, the
/// sums dequantized instead of requantized).
enum { GRAPHC_Q_S8 = 0, GRAPHC_Q_U8 = 1, GRAPHC_Q_S4 = 2, GRAPHC_Q_F32 = 3 };

/// A matrix operand of graphc_qgemm_serial: element (r, c) is element number
/// `offset + r * ld + c` of `data`, read as int8, uint8, or packed int4 (two per byte, the even
/// element in the low nibble, sign-extended).
typedef struct {
  const void *data;
  long offset;
  long ld;
  int kind;
  /// For B only, optional: this block's columns already packed by graphc_qgemm_pack_b (the
  /// pointer advanced by `kpad` int16 per column, kpad = k rounded up to even, for a block
  /// starting at a multiple of GRAPHC_QGEMM_NR); `data` is then not read.
  const int16_t *packed;
} graphc_qoperand;

/// Requantization of the int32 sums (gemmlowp/TFLite fixed point, bit for bit the interpreter's
/// `QuantizedMultiplier.apply`): y = clamp(zero_point + M(bias[ch] + acc), lo, hi), where M
/// multiplies by multiplier[ch] * 2^(shift[ch] - 31) with `shift` in -31...30. The channel `ch`
/// of C[i][j] is its global row (channel_axis 0) or column (1); with per_channel 0, multiplier
/// and shift are read at index 0. `bias` (per channel) may be NULL.
/// A GRAPHC_Q_F32 result is dequantized instead: y = clamp((float)(bias[ch] + acc) * scale[ch],
/// flo, fhi) in float32 (the int32 sum converted with round-to-nearest, one multiply, no FMA);
/// `scale` (per channel like `multiplier`) and flo/fhi are read only then.
typedef struct {
  const int32_t *bias;
  const int32_t *multiplier;
  const int32_t *shift;
  int per_channel;
  int channel_axis;
  int32_t zero_point, lo, hi;
  const float *scale;
  float flo, fhi;
} graphc_qrequant;

/// Serial integer GEMM: C[i][j] = requantize(sum_p A[i][p] * B[p][j]) for i < m, j < n, with
/// exact int32 sums (wrapping like the interpreter's `&+`). A is m x k, B is k x n; C[i][j] is
/// element `c[i * ldc + j]`, written as c_kind (GRAPHC_Q_S8 or GRAPHC_Q_U8 bytes, GRAPHC_Q_F32
/// floats). row0 and col0 are the global index of this block's first row and column, for the
/// channel lookup. Requires m, n > 0, k >= 0. Packs into thread scratch, so several threads may run it on disjoint blocks of C.
void graphc_qgemm_serial(long m, long n, long k, const graphc_qoperand *a, const graphc_qoperand *b,
                        const graphc_qrequant *rq, long row0, long col0, void *c, long ldc, int c_kind);

/// int16 elements of a k x n B packed whole by graphc_qgemm_pack_b.
long graphc_qgemm_packed_size(long k, long n);
/// Packs all of a k x n B (for reuse across calls, e.g. constant weights) into `dst`.
void graphc_qgemm_pack_b(const graphc_qoperand *b, long k, long n, int16_t *dst);

/// ONNX QuantizeLinear of n floats with one scale and zero point into int8 (is_signed) or
/// uint8: saturate(round_half_even(x / scale) + zero_point) in float32, NaN to the zero point.
void graphc_quantize_f32_8(const float *x, long n, float scale, int32_t zero_point, int is_signed, void *out);

/// Register tile of the integer micro-kernel, for callers that split work.
enum { GRAPHC_QGEMM_MR = 6, GRAPHC_QGEMM_NR = 16 };

/// The integer kernel in use: 2 = AVX2 (when the CPU has it), 1 = portable C. Forced to
/// portable by graphc_sgemm_force_portable, as the float kernel, or by
/// graphc_qgemm_force_portable alone (for tests of the integer kernels that must not change
/// which float kernel other tests running at the same time see).
int graphc_qgemm_isa(void);
void graphc_qgemm_force_portable(int on);

/// Window of a 2-D depthwise convolution (one channel): input IH x IW, output OH x OW, kernel
/// KH x KW, strides, dilations and leading pads (all positive except pads >= 0).
typedef struct { long ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw; } graphc_dw_shape;

/// Output rows [r0, r1) of one depthwise channel: y (row stride ow, starting at row r0) gets
/// clamp(initial + sum over the in-bounds taps of w[kh][kw] * x[ih][iw], lo, hi), the taps added
/// in kh-then-kw order; the clamp is Clip's (NaN passes; pass -inf/+inf for none).
void graphc_depthwise_rows_f32(const graphc_dw_shape *s, const float *x, const float *w, float initial,
                               long r0, long r1, float lo, float hi, float *y);

/// Epilogue of n accumulators of one conv output channel, in place: y = clamp(y + (bias + z))
/// when z is given and !z_after, y = clamp(y + bias) + z when z_after, else clamp(y + bias),
/// with graphc_depthwise_rows_f32's clamp.
void graphc_conv_epilogue_f32(float *y, long n, float bias, const float *z, int z_after, float lo, float hi);

/// im2col of a 2-D conv window (`s` as for depthwise; oh/ow the output size) over `channels`
/// planes of 8-bit elements (int8 or uint8, as bytes), for the output positions [p0, p1) (flat
/// oh * ow + ow): row (c, kh, kw) of col (length p1 - p0) holds the tap of each position, `pad`
/// in the padding (the input's zero point, so padding is real zero). Defined in qim2col.c.
void graphc_im2col2d_8(const graphc_dw_shape *s, const uint8_t *x, long channels, long p0, long p1, uint8_t pad,
                       uint8_t *col);

/// 2-D MaxPool of one plane (`s` as for depthwise): each output is the first in-bounds tap in
/// kh-then-kw order, replaced by each later tap that is greater; -inf for a window with no tap.
void graphc_maxpool2d_f32(const graphc_dw_shape *s, const float *x, float *y);

/// The epilogue the conv GEMM kernels apply at the store (see graphc_conv_epilogue_f32): bias
/// per output channel of the call (may be NULL), z the residual with Y's layout at the position
/// of the call's y (may be NULL), clamp bounds lo/hi (-inf/+inf for none).
typedef struct {
  const float *bias;
  const float *z;
  int z_after;
  float lo, hi;
} graphc_conv_epilogue;

/// im2col-free 2-D convolution (convgemm.c), `s` as for depthwise (oh/ow the output size), over
/// `channels` input planes and `m` output channels, weights W[m][channels][kh][kw] (k =
/// channels * kh * kw per output channel). Floats of the packed weights:
long graphc_conv_gemm_packed_size(long m, long k);
/// Packs W (m x k, row-major) into the kernel's output-channel tiles.
void graphc_conv_gemm_pack_w(const float *w, long m, long k, float *dst);
/// Floats of the prepared input (zero-padded, split into stride phases) for `channels` planes.
long graphc_conv_gemm_input_size(const graphc_dw_shape *s, long channels);
/// Prepares planes [c0, c1) of x (channels of ih x iw) into xp (sized for all channels).
void graphc_conv_gemm_prepare_input(const graphc_dw_shape *s, const float *x, long c0, long c1, float *xp);
/// Output rows [r0, r1) of all m channels: y[i * ldy + (oh - r0) * ow + ow] = sum over p =
/// (c, kh, kw) in order of W[i][p] * the tap (0 in the padding), from the prepared input and
/// packed weights, finished by `ep` (NULL: the raw sums). Follows graphc_sgemm_isa() (AVX2+FMA
/// or portable).
void graphc_conv_gemm_f32(const graphc_dw_shape *s, long channels, long m, const float *xp, const float *wpacked,
                          long r0, long r1, float *y, long ldy, const graphc_conv_epilogue *ep);
/// The same kernel for a 1x1 conv (a product with few output channels): y[i * ldy + j] =
/// sum_p W[i][p] * x[p * ldx + j] for j < n, reading x in place (no element past column n).
void graphc_conv_gemm_pointwise_f32(long k, long m, const float *x, long ldx, long n, const float *wpacked,
                                    float *y, long ldy, const graphc_conv_epilogue *ep);

#ifdef __cplusplus
}
#endif

#endif

// qgemm_bench.c - Times the integer GEMM's AVX2 micro-kernel alone, the whole serial GEMM, and the core's vector-integer issue limits.
//
//   clang -O2 -I Sources/CKernels/include scripts/qgemm_bench.c -o /tmp/qgemm_bench && /tmp/qgemm_bench
//
// Includes Sources/CKernels/qgemm.c, so it times the kernel as built (static functions and all).
// Prints, in cycles at the clock measured by a chain of dependent scalar adds: the issue cost
// of 12 vpmaddwd, 12 vpaddd, 12 32-bit broadcasts, and of one k pair of the 6 x 16 tile with
// 32-bit, 64-bit or no broadcasts (asm, no memory traffic); then the micro-kernel looping on one
// A tile and B panel for a few k (in L1 up to k = 512; at 1024 the 32 KB panel is in L2),
// and graphc_qgemm_serial on 64 x 1024 x 1024 with a prepacked B (the mlp_4x1024_b64 layer).
// The machine is shared: run it several times and keep the best figures.

#include "../Sources/CKernels/qgemm.c"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int graphc_sgemm_isa(void) { return 2; }

void *graphc_thread_scratch(int slot, size_t bytes) {
  static void *buf[4];
  static size_t size[4];
  if (size[slot] < bytes) {
    free(buf[slot]);
    buf[slot] = aligned_alloc(64, (bytes + 63) / 64 * 64);
    size[slot] = buf[slot] ? bytes : 0;
  }
  return buf[slot];
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ITERS 100000000L
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
/// vpmaddwd of broadcast `bc` and B vector `b` into a temporary, added to accumulator `acc`.
#define MA(bc, b, acc) "vpmaddwd " b "," bc ",%%ymm15\n vpaddd %%ymm15," acc "," acc "\n"
#define ROW(off, c0, c1) "vpbroadcastd " off "(%0),%%ymm14\n" MA("%%ymm14", "%%ymm12", c0) MA("%%ymm14", "%%ymm13", c1)
#define ROWQ(off, c0, c1) "vpbroadcastq " off "(%0),%%ymm14\n" MA("%%ymm14", "%%ymm12", c0) MA("%%ymm14", "%%ymm13", c1)
#define TIMED(label, body)                                                  \
  do {                                                                      \
    double t0 = now();                                                      \
    for (long i = 0; i < ITERS; i++) __asm__ volatile(body ::"r"(buf) : CLOBBERS); \
    printf("  %-34s %5.2f cycles\n", label, (now() - t0) / ITERS * ghz * 1e9); \
  } while (0)

static double clock_ghz(void) {
  long x = 0;
  double t0 = now();
  for (long i = 0; i < ITERS; i++) __asm__ volatile("add $1,%0\n add $1,%0\n add $1,%0\n add $1,%0" : "+r"(x));
  return 4.0 * ITERS / (now() - t0) * 1e-9;
}

static void issue_limits(double ghz) {
  static int32_t buf[64] __attribute__((aligned(64)));
  printf("issue cost per loop iteration (clock %.2f GHz):\n", ghz);
#define R12(op) op("%%ymm0") op("%%ymm1") op("%%ymm2") op("%%ymm3") op("%%ymm4") op("%%ymm5") op("%%ymm6") op("%%ymm7") op("%%ymm8") op("%%ymm9") op("%%ymm10") op("%%ymm11")
#define MADD(r) "vpmaddwd %%ymm14,%%ymm13," r "\n"
#define ADD(r) "vpaddd %%ymm14," r "," r "\n"
#define BCAST(r) "vpbroadcastd (%0)," r "\n"
  TIMED("12 vpmaddwd (independent)", R12(MADD));
  TIMED("12 vpaddd (12 chains)", R12(ADD));
  TIMED("12 vpbroadcastd ymm, m32", R12(BCAST));
  TIMED("6x16 k pair without broadcasts", "vmovdqu 64(%0),%%ymm12\n vmovdqu 96(%0),%%ymm13\n"
        MA("%%ymm14", "%%ymm12", "%%ymm0") MA("%%ymm14", "%%ymm13", "%%ymm1") MA("%%ymm14", "%%ymm12", "%%ymm2")
        MA("%%ymm14", "%%ymm13", "%%ymm3") MA("%%ymm14", "%%ymm12", "%%ymm4") MA("%%ymm14", "%%ymm13", "%%ymm5")
        MA("%%ymm14", "%%ymm12", "%%ymm6") MA("%%ymm14", "%%ymm13", "%%ymm7") MA("%%ymm14", "%%ymm12", "%%ymm8")
        MA("%%ymm14", "%%ymm13", "%%ymm9") MA("%%ymm14", "%%ymm12", "%%ymm10") MA("%%ymm14", "%%ymm13", "%%ymm11"));
  TIMED("6x16 k pair (the kernel's loop)", "vmovdqu 64(%0),%%ymm12\n vmovdqu 96(%0),%%ymm13\n"
        ROW("0", "%%ymm0", "%%ymm1") ROW("4", "%%ymm2", "%%ymm3") ROW("8", "%%ymm4", "%%ymm5")
        ROW("12", "%%ymm6", "%%ymm7") ROW("16", "%%ymm8", "%%ymm9") ROW("20", "%%ymm10", "%%ymm11"));
  TIMED("the same, 64-bit broadcasts", "vmovdqu 64(%0),%%ymm12\n vmovdqu 96(%0),%%ymm13\n"
        ROWQ("0", "%%ymm0", "%%ymm1") ROWQ("8", "%%ymm2", "%%ymm3") ROWQ("16", "%%ymm4", "%%ymm5")
        ROWQ("24", "%%ymm6", "%%ymm7") ROWQ("32", "%%ymm8", "%%ymm9") ROWQ("40", "%%ymm10", "%%ymm11"));
}

static void micro_kernel(double ghz, long k) {
  int16_t *a = aligned_alloc(64, QMR * k * 2), *b = aligned_alloc(64, k * QNR * 2);
  for (long i = 0; i < QMR * k; i++) a[i] = (int16_t)(rand() % 255 - 127);
  for (long i = 0; i < QNR * k; i++) b[i] = (int16_t)(rand() % 255 - 127);
  int32_t acc[QMR * QNR] __attribute__((aligned(32)));
  long reps = 400000000L / k;
  qkernel_fn f = pick_avx2(QMR, 0);
  double t0 = now();
  for (long r = 0; r < reps; r++) f(k, (const int32_t *)a, k / 2, b, 0, acc);
  double rate = reps * (double)QMR * QNR * k / (now() - t0);
  printf("  k = %4ld: %5.1f G MAC/s, %4.1f MAC/cycle\n", k, rate * 1e-9, rate / (ghz * 1e9));
  free(a);
  free(b);
}

static void whole_gemm(double ghz) {
  const long m = 64, n = 1024, k = 1024;
  int8_t *a = malloc(m * k), *b = malloc(k * n);
  uint8_t *c = malloc(m * n);
  for (long i = 0; i < m * k; i++) a[i] = (int8_t)(rand() % 255 - 127);
  for (long i = 0; i < k * n; i++) b[i] = (int8_t)(rand() % 255 - 127);
  int16_t *packed = aligned_alloc(64, (size_t)graphc_qgemm_packed_size(k, n) * 2);
  graphc_qoperand qa = {a, 0, k, GRAPHC_Q_S8, NULL}, qb = {b, 0, n, GRAPHC_Q_S8, NULL};
  graphc_qgemm_pack_b(&qb, k, n, packed);
  qb.packed = packed;
  int32_t *m0 = malloc(n * 4), *shift = malloc(n * 4);
  for (long j = 0; j < n; j++) m0[j] = 1 << 30, shift[j] = -10;
  graphc_qrequant rq = {NULL, m0, shift, 1, 1, 0, -128, 127, NULL, 0, 0};
  graphc_qgemm_serial(m, n, k, &qa, &qb, &rq, 0, 0, c, n, GRAPHC_Q_S8);
  const int runs = 200;
  double t0 = now();
  for (int r = 0; r < runs; r++) graphc_qgemm_serial(m, n, k, &qa, &qb, &rq, 0, 0, c, n, GRAPHC_Q_S8);
  double t = (now() - t0) / runs, rate = (double)m * n * k / t;
  printf("graphc_qgemm_serial 64 x 1024 x 1024, packed B: %.3f ms, %.1f G MAC/s, %.1f MAC/cycle\n", t * 1e3,
         rate * 1e-9, rate / (ghz * 1e9));
}

int main(void) {
  double ghz = clock_ghz();
  issue_limits(ghz);
  printf("6 x 16 micro-kernel, one A tile and B panel (L1 up to k = 512):\n");
  for (long k = 128; k <= 1024; k *= 2) micro_kernel(ghz, k);
  whole_gemm(ghz);
  return 0;
}

/* gemm.c — batched row-major matrix multiply on OpenBLAS cblas_sgemm. OpenBLAS is pinned to one
 * thread and the parallelism is ours: C is cut into a fixed list of tiles (batch index x blocks
 * of GEMM_ROWS rows x blocks of GEMM_COLS columns, sizes independent of the thread count), each
 * tile is one single-threaded cblas_sgemm over the full k, and OpenMP spreads the tiles. Every
 * element of C is therefore computed by the same call with the same operands whatever the
 * number of threads, which makes results bitwise reproducible, and OpenBLAS never spawns
 * threads inside our workers (no oversubscription). */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <cblas.h>
#include <pthread.h>

#define GEMM_ROWS 64
#define GEMM_COLS 256

static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;
static void gemm_pin_openblas(void) { openblas_set_num_threads(1); }

/* CBLAS rejects (prints and skips) a leading dimension below the row length even for a
 * one-row matrix; a row stride is meaningless there, so it is raised to a legal value. A
 * too-small stride on a real matrix is an ops-layer bug. */
static int fix_ld(int64_t *ld, int64_t rows, int64_t cols, const char *which) {
  int64_t need = cols > 1 ? cols : 1;
  if (*ld >= need) return 0;
  if (rows <= 1) { *ld = need; return 0; }
  return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_gemm: %s has row stride %lld < row length %lld", which,
                        (long long)*ld, (long long)cols);
}

int prism_cpu_gemm(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b,
                   float beta, float *c, int64_t ldc, int64_t stride_c) {
  if (batch <= 0 || m <= 0 || n <= 0) return 0;
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX)
    return prism_fail_int(PRISM_ERR_ARG, "matmul: a dimension exceeds the BLAS limit of 2^31-1 (m=%lld n=%lld k=%lld)",
                          (long long)m, (long long)n, (long long)k);
  if (stride_c == 0 && batch > 1) /* tiles of different batches would race on one C */
    return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_gemm: batch %lld with a broadcast (stride 0) output",
                          (long long)batch);
  int64_t row_blocks = (m + GEMM_ROWS - 1) / GEMM_ROWS, col_blocks = (n + GEMM_COLS - 1) / GEMM_COLS;
  int64_t units = batch * row_blocks * col_blocks;

  if (k <= 0) { /* C = beta * C; beta == 0 must not read C */
#pragma omp parallel for schedule(static) if (units > 1)
    for (int64_t u = 0; u < batch * m; u++) {
      float *row = c + (u / m) * stride_c + (u % m) * ldc;
      for (int64_t j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return 0;
  }
  /* stored shapes: A is [m, k] ([k, m] when trans_a), B is [k, n] ([n, k] when trans_b) */
  if (fix_ld(&lda, trans_a ? k : m, trans_a ? m : k, "A") || fix_ld(&ldb, trans_b ? n : k, trans_b ? k : n, "B") ||
      fix_ld(&ldc, m, n, "C"))
    return -1;
  pthread_once(&gemm_once, gemm_pin_openblas);
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;

#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t bi = u / (row_blocks * col_blocks), rb = (u / col_blocks) % row_blocks, cb = u % col_blocks;
    int64_t r0 = rb * GEMM_ROWS, c0 = cb * GEMM_COLS;
    int64_t mr = m - r0 < GEMM_ROWS ? m - r0 : GEMM_ROWS, nc = n - c0 < GEMM_COLS ? n - c0 : GEMM_COLS;
    /* rows r0.. of op(A) are columns r0.. of the stored A when transposed; likewise for B */
    const float *ab = a + bi * stride_a + (trans_a ? r0 : r0 * lda);
    const float *bb = b + bi * stride_b + (trans_b ? c0 * ldb : c0);
    float *cc = c + bi * stride_c + r0 * ldc + c0;
    cblas_sgemm(CblasRowMajor, ta, tb, (int)mr, (int)nc, (int)k, alpha, ab, (int)lda, bb, (int)ldb, beta, cc,
                (int)ldc);
  }
  return 0;
}

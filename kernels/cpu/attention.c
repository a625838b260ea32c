/* attention.c — fused scaled-dot-product attention on contiguous [BH, T, D] q, k, v (causal:
 * query i sees keys j <= i), forward and backward, saving lse [BH, T] for the backward.
 *
 * Work units are fixed tiles: ATT_BLOCK query rows of one bh for the forward and for dq, and
 * ATT_BLOCK key rows of one bh for dk and dv (flash-attention's backward: the probabilities are
 * recomputed from the saved lse rather than stored). Every output element belongs to exactly one
 * tile, so there are no atomics, and a tile's arithmetic does not depend on which thread runs it,
 * so results are bitwise identical at any thread count. Inside a tile the products (S = QK^T,
 * PV, dP = dO V^T, dS K, dS^T Q, P^T dO) are cblas_sgemm calls — OpenBLAS runs them
 * single-threaded (the backend pins it) and gives the same bits for the same call — and the
 * softmax rows use vexp.h's exp. Causal tiles only touch the keys up to their last query. */
#include "cpu_kernels.h"
#include "vexp.h"
#include "../../runtime/error.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define ATT_BLOCK 64

/* Per-thread scratch: `per_thread` floats for each thread of the widest team. */
static float *alloc_scratch(int64_t per_thread, int *nthreads, const char *fn) {
  *nthreads = omp_get_max_threads();
  float *p = malloc(sizeof(float) * (size_t)per_thread * (size_t)*nthreads);
  if (!p)
    prism_fail(PRISM_ERR_OOM, "%s: cannot allocate %lld floats of scratch", fn, (long long)(per_thread * *nthreads));
  return p;
}

/* C[m, n] = alpha * A[m, k] B[n, k]^T (rows of A against rows of B), row-major, packed ldc = n. */
static void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, alpha, a, (int)k, b, (int)k, 0.0f,
              c, (int)n);
}

/* C[m, n] = alpha * A[m, k] B[k, n], with A packed (lda = k) and B, C rows of length n. */
static void gemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)k, b, (int)n, 0.0f,
              c, (int)n);
}

int prism_cpu_attention(float *out, float *lse, const float *q, const float *k, const float *v,
                        int64_t bh, int64_t t, int64_t d, float scale, int causal) {
  if (bh == 0 || t == 0) return 0;
  int64_t nqb = (t + ATT_BLOCK - 1) / ATT_BLOCK;
  int nthreads;
  float *scratch = alloc_scratch(ATT_BLOCK * t, &nthreads, "attention");
  if (!scratch) return -1;
#pragma omp parallel num_threads(nthreads)
  {
    float *s = scratch + (size_t)omp_get_thread_num() * (size_t)(ATT_BLOCK * t);
#pragma omp for schedule(static)
    for (int64_t u = 0; u < bh * nqb; u++) {
      int64_t b = u / nqb, i0 = (u % nqb) * ATT_BLOCK;
      int64_t m = t - i0 < ATT_BLOCK ? t - i0 : ATT_BLOCK, nk = causal ? i0 + m : t;
      const float *qb = q + (b * t + i0) * d, *kb = k + b * t * d, *vb = v + b * t * d;
      float *ob = out + (b * t + i0) * d, *lb = lse + b * t + i0;
      gemm_nt(m, nk, d, scale, qb, kb, s);  /* s[r, j] = scale q_i . k_j, rows of length nk */
      for (int64_t r = 0; r < m; r++) {
        float *sr = s + r * nk;
        int64_t n_i = causal ? i0 + r + 1 : nk;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n_i; j++) mx = sr[j] > mx ? sr[j] : mx;
        prism_exp_shifted(sr, sr, mx, n_i);
        float l = 0.0f;
        for (int64_t j = 0; j < n_i; j++) l += sr[j];
        float inv = 1.0f / l;
        for (int64_t j = 0; j < n_i; j++) sr[j] *= inv;
        for (int64_t j = n_i; j < nk; j++) sr[j] = 0.0f;  /* masked keys */
        lb[r] = mx + logf(l);
      }
      gemm_nn(m, d, nk, 1.0f, s, vb, ob);
    }
  }
  free(scratch);
  return 0;
}

/* With P = exp(S - lse), dP = dO V^T, delta_i = dO_i . O_i and dS = P (dP - delta):
 * dq = scale dS K, dk = scale dS^T Q, dv = P^T dO. */
int prism_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                 const float *v, const float *out, const float *lse, int64_t bh, int64_t t, int64_t d,
                                 float scale, int causal) {
  if (bh == 0 || t == 0) return 0;
  int64_t nb = (t + ATT_BLOCK - 1) / ATT_BLOCK;
  float *delta = malloc(sizeof(float) * (size_t)(bh * t));
  if (!delta)
    return prism_fail_int(PRISM_ERR_OOM, "attention_backward: cannot allocate %lld floats of scratch",
                          (long long)(bh * t));
  int nthreads;
  float *scratch = alloc_scratch(2 * ATT_BLOCK * t, &nthreads, "attention_backward");
  if (!scratch) {
    free(delta);
    return -1;
  }

#pragma omp parallel num_threads(nthreads)
  {
    float *p = scratch + (size_t)omp_get_thread_num() * (size_t)(2 * ATT_BLOCK * t);
    float *dp = p + ATT_BLOCK * t;

#pragma omp for schedule(static)
    for (int64_t u = 0; u < bh * t; u++) {
      const float *dor = dout + u * d, *orow = out + u * d;
      float di = 0.0f;
      for (int64_t c = 0; c < d; c++) di += dor[c] * orow[c];
      delta[u] = di;
    }
    /* the implicit barrier publishes delta to every thread */

    /* dq, per tile of queries i0 .. i0+m-1 against keys 0 .. nk-1 */
#pragma omp for schedule(static)
    for (int64_t u = 0; u < bh * nb; u++) {
      int64_t b = u / nb, i0 = (u % nb) * ATT_BLOCK;
      int64_t m = t - i0 < ATT_BLOCK ? t - i0 : ATT_BLOCK, nk = causal ? i0 + m : t;
      const float *kb = k + b * t * d;
      gemm_nt(m, nk, d, scale, q + (b * t + i0) * d, kb, p);
      gemm_nt(m, nk, d, 1.0f, dout + (b * t + i0) * d, v + b * t * d, dp);
      for (int64_t r = 0; r < m; r++) {
        float *pr = p + r * nk, *dpr = dp + r * nk;
        int64_t n_i = causal ? i0 + r + 1 : nk;
        float di = delta[b * t + i0 + r];
        prism_exp_shifted(pr, pr, lse[b * t + i0 + r], n_i);
        for (int64_t j = 0; j < n_i; j++) pr[j] *= dpr[j] - di;  /* pr becomes dS */
        for (int64_t j = n_i; j < nk; j++) pr[j] = 0.0f;
      }
      gemm_nn(m, d, nk, scale, p, kb, dq + (b * t + i0) * d);
    }

    /* dk, dv, per tile of keys j0 .. j0+mk-1 against the queries i0 .. t-1 that can see them */
#pragma omp for schedule(static)
    for (int64_t u = 0; u < bh * nb; u++) {
      int64_t b = u / nb, j0 = (u % nb) * ATT_BLOCK;
      int64_t mk = t - j0 < ATT_BLOCK ? t - j0 : ATT_BLOCK, i0 = causal ? j0 : 0, nq = t - i0;
      const float *qb = q + (b * t + i0) * d, *dob = dout + (b * t + i0) * d;
      const float *lb = lse + b * t + i0, *deb = delta + b * t + i0;
      gemm_nt(mk, nq, d, scale, k + (b * t + j0) * d, qb, p);   /* p[jj, ii] = S[i, j] */
      gemm_nt(mk, nq, d, 1.0f, v + (b * t + j0) * d, dob, dp);  /* dp[jj, ii] = dP[i, j] */
      for (int64_t jj = 0; jj < mk; jj++) {
        float *pr = p + jj * nq, *dpr = dp + jj * nq;
        /* causal: query i sees key j iff i >= j, i.e. ii >= jj when i0 = j0 */
        int64_t first = causal ? jj : 0;
        for (int64_t ii = 0; ii < first; ii++) pr[ii] = dpr[ii] = 0.0f;
        prism_exp_sub(pr + first, pr + first, lb + first, nq - first);
        for (int64_t ii = first; ii < nq; ii++) dpr[ii] = pr[ii] * (dpr[ii] - deb[ii]);
      }
      gemm_nn(mk, d, nq, 1.0f, p, dob, dv + (b * t + j0) * d);
      gemm_nn(mk, d, nq, scale, dp, qb, dk + (b * t + j0) * d);
    }
  }
  free(scratch);
  free(delta);
  return 0;
}

/* backend.h — the op table every backend fills in (ggml's ggml-backend-impl.h idea).
 *
 * Ops (runtime/ops/) do shape logic, autograd and argument checking; then they call exactly
 * these kernels through `prism_backend_get(device)`. Kernels take raw device pointers and sizes
 * (llm.c style) plus, where broadcasting or strides matter, a prism_layout. Kernels never
 * allocate tensor memory and never fail on shapes (ops validated them); they return 0, or -1
 * after prism_fail() for a resource problem (e.g. scratch allocation).
 *
 * Determinism contract (SPEC §4): every kernel gives bitwise-identical results whatever the
 * thread count. Work is split into fixed-size chunks that do not depend on the number of threads,
 * and every reduction combines partial results in a fixed order.
 *
 * Conventions: row-major, float32 math, int64 indices; "rows × n" means a contiguous
 * [rows, n] matrix reduced/normalized along n. */
#ifndef PRISM_BACKEND_H
#define PRISM_BACKEND_H

#include <stdint.h>
#include <stddef.h>
#include "../runtime/tensor.h"

/* A strided description of an N-d view (elements). Used by copy and broadcasting binary ops. */
typedef struct prism_layout {
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  int64_t stride[PRISM_MAX_DIMS];
} prism_layout;

/* The layout of t's view as it is: its own shape and strides. */
static inline prism_layout prism_layout_of(const prism_tensor *t) {
  prism_layout l;
  l.ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) {
    l.shape[i] = t->shape[i];
    l.stride[i] = t->stride[i];
  }
  return l;
}

/* The row-major contiguous layout of the shape (ndim, shape). */
static inline prism_layout prism_layout_contiguous(int ndim, const int64_t *shape) {
  prism_layout l;
  l.ndim = ndim;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    l.shape[i] = shape[i];
    l.stride[i] = s;
    s *= shape[i];
  }
  return l;
}

typedef enum {
  PRISM_UNARY_NEG = 0, PRISM_UNARY_EXP, PRISM_UNARY_LOG, PRISM_UNARY_SQRT, PRISM_UNARY_RSQRT,
  PRISM_UNARY_TANH, PRISM_UNARY_SIGMOID, PRISM_UNARY_RELU, PRISM_UNARY_GELU /* exact erf form, PyTorch default */,
  PRISM_UNARY_SILU, PRISM_UNARY_ABS,
  PRISM_UNARY_POW_SCALAR, /* x^alpha */
  PRISM_UNARY_ADD_SCALAR, /* x + alpha */
  PRISM_UNARY_MUL_SCALAR, /* x * alpha */
  PRISM_UNARY_RSUB_SCALAR,/* alpha - x */
  PRISM_UNARY_RDIV_SCALAR,/* alpha / x */
  PRISM_UNARY_CLAMP,      /* min(max(x, alpha), beta); NaN stays NaN */
  PRISM_UNARY_COUNT
} prism_unary_op;

typedef enum {
  PRISM_BINARY_ADD = 0, PRISM_BINARY_SUB, PRISM_BINARY_MUL, PRISM_BINARY_DIV, PRISM_BINARY_POW,
  PRISM_BINARY_MAXIMUM, PRISM_BINARY_MINIMUM,
  /* comparisons: 1.0f where true, 0.0f where false (not differentiable) */
  PRISM_BINARY_EQ, PRISM_BINARY_NE, PRISM_BINARY_LT, PRISM_BINARY_LE, PRISM_BINARY_GT, PRISM_BINARY_GE,
  PRISM_BINARY_COUNT
} prism_binary_op;

typedef enum { PRISM_REDUCE_SUM = 0, PRISM_REDUCE_MAX, PRISM_REDUCE_COUNT } prism_reduce_op;

typedef struct prism_backend {
  const char *name;
  prism_device device;

  /* ---- memory (the caching allocator in tensor.c sits on top of these) ---- */
  void *(*alloc)(size_t nbytes);                 /* NULL on failure; 64-byte aligned on CPU */
  void (*free)(void *ptr, size_t nbytes);
  /* host <-> device (CPU: memcpy) */
  int (*upload)(void *dst_dev, const void *src_host, size_t nbytes);
  int (*download)(void *dst_host, const void *src_dev, size_t nbytes);

  /* ---- layout and fill: any dtype ---- */
  /* dst[i] = (dst dtype) src[i] over the logical index space of the layouts (same shape). */
  int (*copy)(void *dst, const prism_layout *dl, prism_dtype dt, const void *src, const prism_layout *sl, prism_dtype st);
  int (*fill)(void *dst, prism_dtype dt, int64_t n, double value);  /* contiguous */
  int (*arange)(void *dst, prism_dtype dt, int64_t n, double start, double step);

  /* ---- elementwise float32, contiguous ---- */
  int (*unary)(prism_unary_op op, float *y, const float *x, int64_t n, float alpha, float beta);
  /* gx = gy * dy/dx; x and y are the forward input and output (either may be NULL if the op
   * does not need it: see the op list in kernels/cpu/unary.c). */
  int (*unary_backward)(prism_unary_op op, float *gx, const float *gy, const float *x, const float *y,
                        int64_t n, float alpha, float beta);
  /* out (contiguous, layout ol) = a op b, where al/bl are a's and b's layouts already broadcast
   * to ol's shape (stride 0 on broadcast dims). */
  int (*binary)(prism_binary_op op, float *out, const prism_layout *ol, const float *a, const prism_layout *al,
                const float *b, const prism_layout *bl);
  /* out = where(mask != 0, value, x); mask and x broadcast to ol's shape like binary. */
  int (*masked_fill)(float *out, const prism_layout *ol, const float *x, const prism_layout *xl,
                     const float *mask, const prism_layout *ml, float value);

  /* ---- reductions over the middle axis of a contiguous [outer, n, inner] ---- */
  /* out[o, i] = sum_j / max_j x[o, j, i]; argmax (may be NULL) receives the first index of the max. */
  int (*reduce)(prism_reduce_op op, float *out, int64_t *argmax, const float *x, int64_t outer, int64_t n, int64_t inner);

  /* ---- matrix multiply: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], row-major ----
   * op(A) is [m, k] (A stored [k, m] when trans_a), op(B) is [k, n]; lda/ldb/ldc are row strides;
   * batch strides may be 0 (broadcast). */
  int (*gemm)(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b,
              float beta, float *c, int64_t ldc, int64_t stride_c);

  /* ---- softmax family, rows × n ---- */
  int (*softmax)(float *y, const float *x, int64_t rows, int64_t n);
  int (*softmax_backward)(float *gx, const float *gy, const float *y, int64_t rows, int64_t n);
  int (*log_softmax)(float *y, const float *x, int64_t rows, int64_t n);
  int (*log_softmax_backward)(float *gx, const float *gy, const float *y, int64_t rows, int64_t n);
  /* Fused softmax + cross-entropy (stable log-sum-exp). loss_rows[r] = lse_r - x[r, t_r];
   * lse (rows) is saved for backward. Targets are int64 in [0, n) (ops checks the range). */
  int (*cross_entropy)(float *loss_rows, float *lse, const float *logits, const int64_t *targets, int64_t rows, int64_t n);
  /* gx[r, j] = scale * (softmax(x)[r, j] - [j == t_r]) */
  int (*cross_entropy_backward)(float *gx, const float *logits, const float *lse, const int64_t *targets,
                                int64_t rows, int64_t n, float scale);
  /* Deterministic sum of n floats accumulated in double, fixed chunking (used for the mean loss). */
  int (*sum_f64)(double *out, const float *x, int64_t n);

  /* ---- fused causal/non-causal scaled-dot-product attention, contiguous [BH, T, D] ----
   * out = softmax(scale * q k^T (+ causal mask)) v; lse[BH, T] saved for backward. */
  int (*attention)(float *out, float *lse, const float *q, const float *k, const float *v,
                   int64_t bh, int64_t t, int64_t d, float scale, int causal);
  int (*attention_backward)(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                            const float *v, const float *out, const float *lse, int64_t bh, int64_t t, int64_t d,
                            float scale, int causal);

  /* ---- normalization over the last dim, rows × n; weight/bias may be NULL ---- */
  int (*rmsnorm)(float *y, float *rstd, const float *x, const float *w, int64_t rows, int64_t n, float eps);
  /* dw may be NULL; dw is overwritten (not accumulated) with the weight gradient */
  int (*rmsnorm_backward)(float *dx, float *dw, const float *dy, const float *x, const float *w,
                          const float *rstd, int64_t rows, int64_t n);
  int (*layernorm)(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                   int64_t rows, int64_t n, float eps);
  int (*layernorm_backward)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const float *mean, const float *rstd, int64_t rows, int64_t n);

  /* ---- indexing over a contiguous [outer, n_src, inner] source ---- */
  /* out[o, j, i] = src[o, idx[j], i] for j < n_idx (index_select, embedding) */
  int (*index_select)(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src,
                      int64_t n_idx, int64_t inner);
  /* gsrc[o, idx[j], i] += gout[o, j, i]; gsrc zeroed by the caller; deterministic order */
  int (*index_add)(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src,
                   int64_t n_idx, int64_t inner);
  /* out[o, j, i] = src[o, idx[o, j, i], i] for idx of shape [outer, n_idx, inner] (torch.gather) */
  int (*gather)(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src,
                int64_t n_idx, int64_t inner);
  /* gsrc[o, idx[o, j, i], i] += gout[o, j, i]; deterministic */
  int (*scatter_add)(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src,
                     int64_t n_idx, int64_t inner);
  /* keep (upper: j - i >= k; lower: j - i <= k) of each [rows, cols] matrix, zero elsewhere */
  int (*triangle)(float *out, const float *x, int64_t batch, int64_t rows, int64_t cols, int64_t k, int upper);

  /* ---- random numbers: Philox 4x32-10 (runtime/rng.h), element i uses counter offset + i/4,
   * lane i%4, so CPU and GPU produce the same stream ---- */
  int (*rand_uniform)(float *out, int64_t n, uint64_t key, uint64_t counter, float lo, float hi);
  int (*rand_normal)(float *out, int64_t n, uint64_t key, uint64_t counter, float mean, float std);
  /* mask[i] = (u_i >= p) ? 1/(1-p) : 0 ; y = x * mask */
  int (*dropout)(float *y, float *mask, const float *x, int64_t n, float p, uint64_t key, uint64_t counter);

  /* ---- optimizers, in place over n contiguous floats ---- */
  /* PyTorch AdamW: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
   * p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) */
  int (*adamw)(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
               float eps, float weight_decay, int64_t step);
  /* PyTorch SGD: g += wd p; if momentum: buf = first ? g : momentum buf + (1-dampening) g;
   * g = nesterov ? g + momentum buf : buf; p -= lr g */
  int (*sgd)(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float dampening,
             int nesterov, float weight_decay, int first);
  /* out = sum of squares of n floats, accumulated in double, fixed chunking (clip_grad_norm) */
  int (*sum_squares_f64)(double *out, const float *x, int64_t n);
} prism_backend;

/* Number of function pointers above (all but name and device); each backend's table is checked
 * against it with a static_assert so a missing kernel fails to compile. */
#define PRISM_BACKEND_KERNEL_COUNT 37
#define PRISM_BACKEND_STATIC_CHECK(table_type) \
  _Static_assert((sizeof(table_type) - offsetof(table_type, alloc)) / sizeof(void (*)(void)) == PRISM_BACKEND_KERNEL_COUNT, \
                 "backend table does not have PRISM_BACKEND_KERNEL_COUNT kernels")

/* The backend for a device; NULL (after prism_fail) when that backend is not built or present. */
const prism_backend *prism_backend_get(prism_device device);

/* Thread control for backends (CPU: OpenMP threads; OpenBLAS is pinned to 1 thread and called
 * from our own fixed partitioning, so the two never oversubscribe). */
void prism_backend_set_threads(int n);
int prism_backend_get_threads(void);

#endif

/* cpu_kernels.h — the CPU backend's kernels, one prototype per entry of prism_backend
 * (kernels/backend.h has the contracts). backend_cpu.c puts them in the table. Files:
 * memory.c (alloc/free/upload/download), copy.c (copy/fill/arange), unary.c, binary.c
 * (binary, masked_fill), reduce.c (reduce, sum_f64, sum_squares_f64), gemm.c, softmax.c
 * (softmax family + cross_entropy), attention.c, norm.c, index.c (index_select/add, gather,
 * scatter_add, triangle), random.c (rand_uniform/normal, dropout), optim.c (adamw, sgd). */
#ifndef PRISM_CPU_KERNELS_H
#define PRISM_CPU_KERNELS_H

#include "../backend.h"

/* Fixed work-chunk size for parallel loops: chunking never depends on the thread count. */
#define PRISM_CPU_CHUNK 16384

void *prism_cpu_alloc(size_t nbytes);
void prism_cpu_free(void *ptr, size_t nbytes);
int prism_cpu_upload(void *dst_dev, const void *src_host, size_t nbytes);
int prism_cpu_download(void *dst_host, const void *src_dev, size_t nbytes);
int prism_cpu_copy(void *dst, const prism_layout *dl, prism_dtype dt, const void *src, const prism_layout *sl, prism_dtype st);
int prism_cpu_fill(void *dst, prism_dtype dt, int64_t n, double value);
int prism_cpu_arange(void *dst, prism_dtype dt, int64_t n, double start, double step);
int prism_cpu_unary(prism_unary_op op, float *y, const float *x, int64_t n, float alpha, float beta);
int prism_cpu_unary_backward(prism_unary_op op, float *gx, const float *gy, const float *x, const float *y, int64_t n, float alpha, float beta);
int prism_cpu_binary(prism_binary_op op, float *out, const prism_layout *ol, const float *a, const prism_layout *al, const float *b, const prism_layout *bl);
int prism_cpu_masked_fill(float *out, const prism_layout *ol, const float *x, const prism_layout *xl, const float *mask, const prism_layout *ml, float value);
int prism_cpu_reduce(prism_reduce_op op, float *out, int64_t *argmax, const float *x, int64_t outer, int64_t n, int64_t inner);
int prism_cpu_gemm(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta, float *c, int64_t ldc, int64_t stride_c);
int prism_cpu_softmax(float *y, const float *x, int64_t rows, int64_t n);
int prism_cpu_softmax_backward(float *gx, const float *gy, const float *y, int64_t rows, int64_t n);
int prism_cpu_log_softmax(float *y, const float *x, int64_t rows, int64_t n);
int prism_cpu_log_softmax_backward(float *gx, const float *gy, const float *y, int64_t rows, int64_t n);
int prism_cpu_cross_entropy(float *loss_rows, float *lse, const float *logits, const int64_t *targets, int64_t rows, int64_t n);
int prism_cpu_cross_entropy_backward(float *gx, const float *logits, const float *lse, const int64_t *targets, int64_t rows, int64_t n, float scale);
int prism_cpu_sum_f64(double *out, const float *x, int64_t n);
int prism_cpu_attention(float *out, float *lse, const float *q, const float *k, const float *v, int64_t bh, int64_t t, int64_t d, float scale, int causal);
int prism_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v, const float *out, const float *lse, int64_t bh, int64_t t, int64_t d, float scale, int causal);
int prism_cpu_rmsnorm(float *y, float *rstd, const float *x, const float *w, int64_t rows, int64_t n, float eps);
int prism_cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd, int64_t rows, int64_t n);
int prism_cpu_layernorm(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int64_t rows, int64_t n, float eps);
int prism_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, const float *mean, const float *rstd, int64_t rows, int64_t n);
int prism_cpu_index_select(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src, int64_t n_idx, int64_t inner);
int prism_cpu_index_add(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src, int64_t n_idx, int64_t inner);
int prism_cpu_gather(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src, int64_t n_idx, int64_t inner);
int prism_cpu_scatter_add(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src, int64_t n_idx, int64_t inner);
int prism_cpu_triangle(float *out, const float *x, int64_t batch, int64_t rows, int64_t cols, int64_t k, int upper);
int prism_cpu_rand_uniform(float *out, int64_t n, uint64_t key, uint64_t counter, float lo, float hi);
int prism_cpu_rand_normal(float *out, int64_t n, uint64_t key, uint64_t counter, float mean, float std);
int prism_cpu_dropout(float *y, float *mask, const float *x, int64_t n, float p, uint64_t key, uint64_t counter);
int prism_cpu_adamw(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
int prism_cpu_sgd(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float dampening, int nesterov, float weight_decay, int first);
int prism_cpu_sum_squares_f64(double *out, const float *x, int64_t n);

#endif

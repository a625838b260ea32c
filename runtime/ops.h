/* ops.h — every differentiable (and a few non-differentiable) tensor op, the C API the Lua
 * bridge calls. One op family per file in runtime/ops/, forward and backward side by side.
 *
 * Conventions: dims are 0-based here and may be negative (-1 = last); the Lua bridge converts
 * from Lua's 1-based dims. Inputs are borrowed, results are new references. On bad arguments an
 * op returns NULL after prism_fail(PRISM_ERR_ARG, "<op>: <what is wrong>") naming the op and the
 * offending shapes; it never asserts. Each op records a tape node when prism_autograd_needed().
 * Float ops require float32 inputs; index arguments require int64 (int32 accepted and
 * converted). Integer tensors flow only through shape ops, copy/cast and indexing. */
#ifndef PRISM_OPS_H
#define PRISM_OPS_H

#include "autograd.h"
#include "../kernels/backend.h"

/* ---- ops/elementwise.c: broadcasting arithmetic and pointwise functions ---- */
prism_tensor *prism_op_binary(prism_binary_op op, const prism_tensor *a, const prism_tensor *b);
prism_tensor *prism_op_unary(prism_unary_op op, const prism_tensor *x, double alpha, double beta);
prism_tensor *prism_op_add(const prism_tensor *a, const prism_tensor *b);
prism_tensor *prism_op_sub(const prism_tensor *a, const prism_tensor *b);
prism_tensor *prism_op_mul(const prism_tensor *a, const prism_tensor *b);
prism_tensor *prism_op_div(const prism_tensor *a, const prism_tensor *b);
prism_tensor *prism_op_masked_fill(const prism_tensor *x, const prism_tensor *mask, double value);

/* ---- ops/shape.c: views and layout (differentiable) ---- */
prism_tensor *prism_op_view(const prism_tensor *x, int ndim, const int64_t *shape);   /* one -1 allowed; copies if not viewable (reshape semantics) */
prism_tensor *prism_op_transpose(const prism_tensor *x, int d0, int d1);
prism_tensor *prism_op_permute(const prism_tensor *x, int ndim, const int *dims);
prism_tensor *prism_op_contiguous(const prism_tensor *x);
prism_tensor *prism_op_narrow(const prism_tensor *x, int dim, int64_t start, int64_t length);
prism_tensor *prism_op_expand(const prism_tensor *x, int ndim, const int64_t *shape); /* -1 keeps a dim */
prism_tensor *prism_op_unsqueeze(const prism_tensor *x, int dim);
prism_tensor *prism_op_squeeze(const prism_tensor *x, int dim, bool all);
prism_tensor *prism_op_cat(prism_tensor *const *xs, int n, int dim);
prism_tensor *prism_op_stack(prism_tensor *const *xs, int n, int dim);
prism_tensor *prism_op_to_dtype(const prism_tensor *x, prism_dtype dtype);  /* float->float keeps grad */
prism_tensor *prism_op_to_device(const prism_tensor *x, prism_device device);
prism_tensor *prism_op_clone(const prism_tensor *x);
prism_tensor *prism_op_detach(const prism_tensor *x);

/* ---- ops/reduce.c ---- */
prism_tensor *prism_op_sum(const prism_tensor *x, int dim, bool keepdim, bool all);
prism_tensor *prism_op_mean(const prism_tensor *x, int dim, bool keepdim, bool all);
/* values (differentiable) and, if indices != NULL, int64 argmax (first occurrence) */
prism_tensor *prism_op_max(const prism_tensor *x, int dim, bool keepdim, bool all, prism_tensor **indices);

/* ---- ops/matmul.c: 1-D/2-D/batched with broadcast batch dims (torch.matmul rules) ---- */
prism_tensor *prism_op_matmul(const prism_tensor *a, const prism_tensor *b);
/* x @ w^T + b for x [..., in], w [out, in], b [out] or NULL (nn.Linear) */
prism_tensor *prism_op_linear(const prism_tensor *x, const prism_tensor *w, const prism_tensor *b);

/* ---- ops/softmax.c ---- */
prism_tensor *prism_op_softmax(const prism_tensor *x, int dim);
prism_tensor *prism_op_log_softmax(const prism_tensor *x, int dim);

/* ---- ops/loss.c: fused cross-entropy, mean over rows, nats ---- */
prism_tensor *prism_op_cross_entropy(const prism_tensor *logits2d, const prism_tensor *targets1d);

/* ---- ops/attention.c: q, k, v [B, H, T, D] -> [B, H, T, D]; scale <= 0 means 1/sqrt(D) ---- */
prism_tensor *prism_op_attention(const prism_tensor *q, const prism_tensor *k, const prism_tensor *v,
                                 bool causal, double scale);

/* ---- ops/norm.c: over the last dim; w/b may be NULL ---- */
prism_tensor *prism_op_rms_norm(const prism_tensor *x, const prism_tensor *w, double eps);
prism_tensor *prism_op_layer_norm(const prism_tensor *x, const prism_tensor *w, const prism_tensor *b, double eps);

/* ---- ops/index.c ---- */
prism_tensor *prism_op_index_select(const prism_tensor *x, int dim, const prism_tensor *idx);
prism_tensor *prism_op_embedding(const prism_tensor *weight, const prism_tensor *ids); /* ids any shape -> [..., dim] */
prism_tensor *prism_op_gather(const prism_tensor *x, int dim, const prism_tensor *idx);
prism_tensor *prism_op_triangle(const prism_tensor *x, int64_t k, bool upper); /* triu / tril */

/* ---- ops/random.c: dropout and initializers, drawing from runtime/rng.h streams ---- */
prism_tensor *prism_op_dropout(const prism_tensor *x, double p, bool training);
int prism_op_normal_(prism_tensor *t, double mean, double std);   /* in place, stream "init" */
int prism_op_uniform_(prism_tensor *t, double lo, double hi);
prism_tensor *prism_op_randn(int ndim, const int64_t *shape, prism_device device);
prism_tensor *prism_op_rand(int ndim, const int64_t *shape, prism_device device);

/* ---- ops/optim.c: fused in-place parameter updates (no autograd; bump versions) ---- */
int prism_op_adamw_step(prism_tensor *param, const prism_tensor *grad, prism_tensor *exp_avg, prism_tensor *exp_avg_sq,
                        double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step);
int prism_op_sgd_step(prism_tensor *param, const prism_tensor *grad, prism_tensor *momentum_buf, double lr,
                      double momentum, double dampening, bool nesterov, double weight_decay, bool first);
/* sqrt of the sum of squares over all tensors, in fixed order; *out receives the norm */
int prism_op_global_norm(prism_tensor *const *ts, int n, double *out);
/* t *= s in place (grad clipping) */
int prism_op_scale_(prism_tensor *t, double s);
/* dst += src in place (gradient accumulation), same shape */
int prism_op_add_(prism_tensor *dst, const prism_tensor *src);

#endif

/* unary.c — every prism_unary_op, forward and backward, over n contiguous floats. Each op is
 * one loop over fixed chunks of PRISM_CPU_CHUNK elements; elements are independent, so results
 * never depend on the thread count. y may alias x and gx may alias gy (in-place ops).
 *
 * What each backward reads (gy always; "x|y" = whichever the op saved, y preferred when both
 * are given because it is cheaper; a missing required input is an internal error):
 *   NEG, ADD_SCALAR, MUL_SCALAR, RSUB_SCALAR     -> nothing else
 *   EXP, SQRT, RSQRT, TANH, SIGMOID              -> y, or x (the output is recomputed)
 *   RELU                                         -> y, or x (gradient 0 where x <= 0)
 *   LOG, GELU, SILU, ABS, POW_SCALAR, RDIV_SCALAR, CLAMP -> x
 * Semantics follow PyTorch: GELU is the exact erf form; RELU and CLAMP let NaN through; CLAMP
 * takes alpha = min, beta = max (-INFINITY / INFINITY for no bound; min > max gives max) and its
 * backward passes the gradient where min <= x <= max; POW_SCALAR with exponent 0 has a zero
 * gradient; ABS's gradient is sign(x) * gy with sign(0) = 0. */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <math.h>

#define UNARY_SQRT1_2 0.70710678118654752440f
#define UNARY_INV_SQRT_2PI 0.39894228040143267794f

/* Runs BODY for every i in [0, n), chunked; BODY assigns element i. */
#define UNARY_LOOP(BODY)                                                                          \
  do {                                                                                            \
    int64_t nchunks_ = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;                               \
    _Pragma("omp parallel for schedule(static) if (nchunks_ > 1)")                                \
    for (int64_t c_ = 0; c_ < nchunks_; c_++) {                                                   \
      int64_t s_ = c_ * PRISM_CPU_CHUNK, e_ = s_ + PRISM_CPU_CHUNK < n ? s_ + PRISM_CPU_CHUNK : n; \
      _Pragma("omp simd") for (int64_t i = s_; i < e_; i++) { BODY; }                            \
    }                                                                                             \
  } while (0)

#define FWD(EXPR) UNARY_LOOP(float v = x[i]; y[i] = (EXPR))

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

static inline float clampf(float v, float lo, float hi) {
  /* comparisons with NaN are false, so NaN passes through unchanged */
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

int prism_cpu_unary(prism_unary_op op, float *y, const float *x, int64_t n, float alpha, float beta) {
  if (n <= 0) return 0;
  switch (op) {
  case PRISM_UNARY_NEG: FWD(-v); return 0;
  case PRISM_UNARY_EXP: FWD(expf(v)); return 0;
  case PRISM_UNARY_LOG: FWD(logf(v)); return 0;
  case PRISM_UNARY_SQRT: FWD(sqrtf(v)); return 0;
  case PRISM_UNARY_RSQRT: FWD(1.0f / sqrtf(v)); return 0;
  case PRISM_UNARY_TANH: FWD(tanhf(v)); return 0;
  case PRISM_UNARY_SIGMOID: FWD(sigmoidf(v)); return 0;
  case PRISM_UNARY_RELU: FWD((v > 0.0f || v != v) ? v : 0.0f); return 0;
  case PRISM_UNARY_GELU: FWD(0.5f * v * (1.0f + erff(v * UNARY_SQRT1_2))); return 0;
  case PRISM_UNARY_SILU: FWD(v * sigmoidf(v)); return 0;
  case PRISM_UNARY_ABS: FWD(fabsf(v)); return 0;
  case PRISM_UNARY_POW_SCALAR:
    /* the exponents PyTorch special-cases, with the same cheaper formulas */
    if (alpha == 2.0f) FWD(v * v);
    else if (alpha == 3.0f) FWD(v * v * v);
    else if (alpha == 0.5f) FWD(sqrtf(v));
    else if (alpha == -0.5f) FWD(1.0f / sqrtf(v));
    else if (alpha == -1.0f) FWD(1.0f / v);
    else if (alpha == -2.0f) FWD(1.0f / (v * v));
    else FWD(powf(v, alpha));
    return 0;
  case PRISM_UNARY_ADD_SCALAR: FWD(v + alpha); return 0;
  case PRISM_UNARY_MUL_SCALAR: FWD(v * alpha); return 0;
  case PRISM_UNARY_RSUB_SCALAR: FWD(alpha - v); return 0;
  case PRISM_UNARY_RDIV_SCALAR: FWD(alpha / v); return 0;
  case PRISM_UNARY_CLAMP: FWD(clampf(v, alpha, beta)); return 0;
  default: break;
  }
  return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_unary: unknown op %d", (int)op);
}

/* g = gy[i]; v = x[i]; u = y[i] */
#define BWD_G(EXPR) UNARY_LOOP(float g = gy[i]; gx[i] = (EXPR))
#define BWD_X(EXPR) UNARY_LOOP(float g = gy[i]; float v = x[i]; gx[i] = (EXPR))
#define BWD_Y(EXPR) UNARY_LOOP(float g = gy[i]; float u = y[i]; gx[i] = (EXPR))
/* ops whose gradient is a function of the output: use y, else recompute it from x */
#define BWD_OUT(OUT_OF_V, EXPR)                                     \
  do {                                                              \
    if (y) BWD_Y(EXPR);                                             \
    else UNARY_LOOP(float g = gy[i]; float u = OUT_OF_V(x[i]); gx[i] = (EXPR)); \
  } while (0)

static inline float sqrt_of(float v) { return sqrtf(v); }
static inline float rsqrt_of(float v) { return 1.0f / sqrtf(v); }

static inline float gelu_grad(float v) {
  float cdf = 0.5f * (1.0f + erff(v * UNARY_SQRT1_2));
  float pdf = UNARY_INV_SQRT_2PI * expf(-0.5f * v * v);
  return cdf + v * pdf;
}

static inline float silu_grad(float v) {
  float s = sigmoidf(v);
  return s * (1.0f + v * (1.0f - s));
}

static const char *unary_name(prism_unary_op op) {
  static const char *names[PRISM_UNARY_COUNT] = {
    "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu", "silu", "abs",
    "pow_scalar", "add_scalar", "mul_scalar", "rsub_scalar", "rdiv_scalar", "clamp"};
  return (unsigned)op < PRISM_UNARY_COUNT ? names[op] : "?";
}

int prism_cpu_unary_backward(prism_unary_op op, float *gx, const float *gy, const float *x, const float *y,
                             int64_t n, float alpha, float beta) {
  if (n <= 0) return 0;
  int needs_x = 0, needs_xy = 0;
  switch (op) {
  case PRISM_UNARY_EXP: case PRISM_UNARY_SQRT: case PRISM_UNARY_RSQRT: case PRISM_UNARY_TANH:
  case PRISM_UNARY_SIGMOID: case PRISM_UNARY_RELU:
    needs_xy = 1; break;
  case PRISM_UNARY_LOG: case PRISM_UNARY_GELU: case PRISM_UNARY_SILU: case PRISM_UNARY_ABS:
  case PRISM_UNARY_POW_SCALAR: case PRISM_UNARY_RDIV_SCALAR: case PRISM_UNARY_CLAMP:
    needs_x = 1; break;
  default: break;
  }
  if ((needs_x && !x) || (needs_xy && !x && !y))
    return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_unary_backward(%s): the saved %s is missing",
                          unary_name(op), needs_x ? "input" : "input or output");
  switch (op) {
  case PRISM_UNARY_NEG: BWD_G(-g); return 0;
  case PRISM_UNARY_EXP: BWD_OUT(expf, g * u); return 0;
  case PRISM_UNARY_LOG: BWD_X(g / v); return 0;
  case PRISM_UNARY_SQRT: BWD_OUT(sqrt_of, g / (2.0f * u)); return 0;
  case PRISM_UNARY_RSQRT: BWD_OUT(rsqrt_of, -0.5f * g * u * u * u); return 0;
  case PRISM_UNARY_TANH: BWD_OUT(tanhf, g * (1.0f - u * u)); return 0;
  case PRISM_UNARY_SIGMOID: BWD_OUT(sigmoidf, g * u * (1.0f - u)); return 0;
  case PRISM_UNARY_RELU:
    if (y) BWD_Y(u > 0.0f ? g : 0.0f);
    else BWD_X(v > 0.0f ? g : 0.0f);
    return 0;
  case PRISM_UNARY_GELU: BWD_X(g * gelu_grad(v)); return 0;
  case PRISM_UNARY_SILU: BWD_X(g * silu_grad(v)); return 0;
  case PRISM_UNARY_ABS: BWD_X(v > 0.0f ? g : (v < 0.0f ? -g : 0.0f)); return 0;
  case PRISM_UNARY_POW_SCALAR:
    if (alpha == 0.0f) UNARY_LOOP(gx[i] = 0.0f);
    else if (alpha == 1.0f) BWD_G(g);
    else if (alpha == 2.0f) BWD_X(g * 2.0f * v);
    else BWD_X(g * alpha * powf(v, alpha - 1.0f));
    return 0;
  case PRISM_UNARY_ADD_SCALAR: BWD_G(g); return 0;
  case PRISM_UNARY_MUL_SCALAR: BWD_G(g * alpha); return 0;
  case PRISM_UNARY_RSUB_SCALAR: BWD_G(-g); return 0;
  case PRISM_UNARY_RDIV_SCALAR: BWD_X(-g * alpha / (v * v)); return 0;
  case PRISM_UNARY_CLAMP: BWD_X((v >= alpha && v <= beta) ? g : 0.0f); return 0;
  default: break;
  }
  return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_unary_backward: unknown op %d", (int)op);
}

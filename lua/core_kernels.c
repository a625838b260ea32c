/* core_kernels.c — prism.core's fused kernels for the standard library: the nn functions
 * (linear, embedding, rms_norm, layer_norm, attention, cross_entropy, dropout) and the
 * optimizer updates (adamw_step, sgd_step, global_norm, scale_, add_). stdlib/prism/nn.lua and
 * optim.lua wrap them; keeping the C side to argument checks means the Lua modules own the
 * defaults and the PyTorch-facing names. */
#include <math.h>

#include "bridge.h"

static int k_linear(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "linear", "input");
  prism_tensor *w = bridge_check_tensor(L, 2, "linear", "weight");
  prism_tensor *b = bridge_opt_tensor(L, 3, "linear", "bias");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_linear(x, w, b);
  return bridge_finish(L, "linear");
}

static int k_embedding(lua_State *L) {
  prism_tensor *w = bridge_check_tensor(L, 1, "embedding", "weight");
  prism_tensor *ids = bridge_check_tensor(L, 2, "embedding", "ids");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_embedding(w, ids);
  return bridge_finish(L, "embedding");
}

static double check_eps(lua_State *L, int idx, const char *fn, double def) {
  double eps = bridge_opt_num(L, idx, fn, "eps", def);
  if (!(eps >= 0) || isinf(eps)) bridge_errorf(L, "%s: eps must be a finite number >= 0, got %g", fn, eps);
  return eps;
}

static int k_rms_norm(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "rms_norm", "input");
  prism_tensor *w = bridge_opt_tensor(L, 2, "rms_norm", "weight");
  double eps = check_eps(L, 3, "rms_norm", 1e-6);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_rms_norm(x, w, eps);
  return bridge_finish(L, "rms_norm");
}

static int k_layer_norm(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "layer_norm", "input");
  prism_tensor *w = bridge_opt_tensor(L, 2, "layer_norm", "weight");
  prism_tensor *b = bridge_opt_tensor(L, 3, "layer_norm", "bias");
  double eps = check_eps(L, 4, "layer_norm", 1e-5);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_layer_norm(x, w, b, eps);
  return bridge_finish(L, "layer_norm");
}

static int k_attention(lua_State *L) {
  prism_tensor *q = bridge_check_tensor(L, 1, "attention", "q");
  prism_tensor *k = bridge_check_tensor(L, 2, "attention", "k");
  prism_tensor *v = bridge_check_tensor(L, 3, "attention", "v");
  bool causal = bridge_opt_bool(L, 4, "attention", "causal", false);
  double scale = 0; /* the op's "1/sqrt(head_dim)" */
  if (!lua_isnoneornil(L, 5)) {
    scale = bridge_check_num(L, 5, "attention", "scale");
    if (!(scale > 0) || isinf(scale)) return bridge_errorf(L, "attention: scale must be a finite number > 0, got %g", scale);
  }
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_attention(q, k, v, causal, scale);
  return bridge_finish(L, "attention");
}

static int k_cross_entropy(lua_State *L) {
  prism_tensor *logits = bridge_check_tensor(L, 1, "cross_entropy", "logits");
  prism_tensor *targets = bridge_check_tensor(L, 2, "cross_entropy", "targets");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_cross_entropy(logits, targets);
  return bridge_finish(L, "cross_entropy");
}

static int k_dropout(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "dropout", "input");
  double p = bridge_check_num(L, 2, "dropout", "p");
  bool training = bridge_opt_bool(L, 3, "dropout", "training", true);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_dropout(x, p, training);
  return bridge_finish(L, "dropout");
}

static int k_adamw_step(lua_State *L) {
  const char *fn = "adamw_step";
  prism_tensor *p = bridge_check_tensor(L, 1, fn, "param");
  prism_tensor *g = bridge_check_tensor(L, 2, fn, "grad");
  prism_tensor *m = bridge_check_tensor(L, 3, fn, "exp_avg");
  prism_tensor *v = bridge_check_tensor(L, 4, fn, "exp_avg_sq");
  double lr = bridge_check_num(L, 5, fn, "lr");
  double b1 = bridge_check_num(L, 6, fn, "beta1");
  double b2 = bridge_check_num(L, 7, fn, "beta2");
  double eps = bridge_check_num(L, 8, fn, "eps");
  double wd = bridge_check_num(L, 9, fn, "weight_decay");
  int64_t step = bridge_check_int(L, 10, fn, "step");
  if (step < 1) return bridge_errorf(L, "adamw_step: step must be >= 1, got %lld", (long long)step);
  if (prism_op_adamw_step(p, g, m, v, lr, b1, b2, eps, wd, step) < 0) return bridge_raise(L, fn);
  return 0;
}

static int k_sgd_step(lua_State *L) {
  const char *fn = "sgd_step";
  prism_tensor *p = bridge_check_tensor(L, 1, fn, "param");
  prism_tensor *g = bridge_check_tensor(L, 2, fn, "grad");
  prism_tensor *buf = bridge_opt_tensor(L, 3, fn, "momentum buffer");
  double lr = bridge_check_num(L, 4, fn, "lr");
  double momentum = bridge_check_num(L, 5, fn, "momentum");
  double dampening = bridge_check_num(L, 6, fn, "dampening");
  bool nesterov = bridge_opt_bool(L, 7, fn, "nesterov", false);
  double wd = bridge_check_num(L, 8, fn, "weight_decay");
  bool first = bridge_opt_bool(L, 9, fn, "first", false);
  if (prism_op_sgd_step(p, g, buf, lr, momentum, dampening, nesterov, wd, first) < 0) return bridge_raise(L, fn);
  return 0;
}

static int k_global_norm(lua_State *L) {
  lua_settop(L, 1);
  int n;
  prism_tensor **ts = bridge_check_tensor_list(L, 1, "global_norm", true, &n);
  double norm = 0;
  if (n > 0 && prism_op_global_norm(ts, n, &norm) < 0) return bridge_raise(L, "global_norm");
  lua_pushnumber(L, norm);
  return 1;
}

static int k_scale_(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "scale_", "tensor");
  double s = bridge_check_num(L, 2, "scale_", "factor");
  if (prism_op_scale_(t, s) < 0) return bridge_raise(L, "scale_");
  lua_pushvalue(L, 1);
  return 1;
}

static int k_add_(lua_State *L) {
  prism_tensor *dst = bridge_check_tensor(L, 1, "add_", "destination");
  prism_tensor *src = bridge_check_tensor(L, 2, "add_", "source");
  if (prism_op_add_(dst, src) < 0) return bridge_raise(L, "add_");
  lua_pushvalue(L, 1);
  return 1;
}

const luaL_Reg bridge_core_kernels[] = {
    {"linear", k_linear},
    {"embedding", k_embedding},
    {"rms_norm", k_rms_norm},
    {"layer_norm", k_layer_norm},
    {"attention", k_attention},
    {"cross_entropy", k_cross_entropy},
    {"dropout", k_dropout},
    {"adamw_step", k_adamw_step},
    {"sgd_step", k_sgd_step},
    {"global_norm", k_global_norm},
    {"scale_", k_scale_},
    {"add_", k_add_},
    {NULL, NULL}};

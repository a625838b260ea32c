/* child_static.c — the static gate's forced-seed instantiation (SPEC §2–§3, §9; reference §5.6),
 * run in a jailed child that the parent bounds in time and memory.
 *
 * Both entrypoints must compile (prism:syntax with file:line) and define their symbol
 * (prism:contract); then build_model(ctx) runs under the forced seed with a ctx that cannot
 * reach data or write files. The result must be a prism.nn.Module; its parameters are counted
 * after a best-effort materializing forward (eval mode, no grad, a [1, min(T, 1024)] zero int64
 * tensor, errors ignored) so parameters a model creates on its first forward count too, with the
 * trusted parameters() captured before any submission code ran. Records: `params N`, and `fail`
 * when a gate rejects. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "bridge.h"
#include "child_internal.h"
#include "report.h"
#include "state.h"

typedef struct static_job {
  const prism_eval_config *cfg;
  prism_job *job;
  prism_failure failure;
  int64_t params;
} static_job;

/* Rewrites f's message as "<prefix><original message>". */
static void prefix_message(prism_failure *f, const char *prefix) {
  char msg[sizeof f->message];
  int room = (int)(sizeof msg - 1 - strlen(prefix));
  snprintf(msg, sizeof msg, "%s%.*s", prefix, room > 0 ? room : 0, f->message);
  memcpy(f->message, msg, sizeof msg);
}

/* A Lua error of build_model (or of the architecture chunk) as a static-gate failure. */
static void build_failure(lua_State *L, const char *msg, prism_failure *f) {
  prism_sandbox_failure(L, msg, "prism:build-model-instantiation", "prism:build-model-resource", f);
  if (!strcmp(f->rule_id, "prism:build-model-resource"))
    prefix_message(f, "build_model exceeded the static memory budget during construction: ");
  else if (!strcmp(f->rule_id, "prism:build-model-instantiation"))
    prefix_message(f, "build_model raised during forced-seed instantiation: ");
}

static void materialize(lua_State *L, const prism_eval_config *cfg, int model) {
  int64_t T = cfg->seq_len < 2 ? 2 : cfg->seq_len > 1024 ? 1024 : cfg->seq_len;
  int64_t shape[2] = {1, T};
  int top = lua_gettop(L);
  prism_sandbox_push_trusted(L, "train");
  lua_pushvalue(L, model);
  lua_pushboolean(L, 0);
  if (lua_pcall(L, 2, 0, 0) != 0) {
    lua_settop(L, top);
    return;
  }
  lua_pushvalue(L, model);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_tensor_zeros(PRISM_INT64, PRISM_CPU, 2, shape);
  if (!*slot) {
    lua_settop(L, top);
    return;
  }
  bridge_finish(L, "static gate");
  bool prev = prism_grad_set_enabled(false);
  lua_pcall(L, 1, 0, 0); /* errors ignored: the count below is what is checked */
  prism_grad_set_enabled(prev);
  lua_settop(L, top);
}

static int static_main(lua_State *L) {
  static_job *s = (static_job *)lua_touserdata(L, 1);
  const prism_eval_config *cfg = s->cfg;
  const prism_bundle *b = cfg->bundle;
  lua_settop(L, 0);
  /* Syntax first, architecture then training, before any submission code runs. */
  if (prism_sandbox_compile(L, b->arch_path, &s->failure) != 0) return 0;
  if (prism_sandbox_compile(L, b->train_path, &s->failure) != 0) return 0;
  lua_settop(L, 0);
  if (child_load_architecture(L, cfg, "prism:build-model-instantiation", "prism:build-model-resource", &s->failure) != 0) {
    if (!strcmp(s->failure.rule_id, "prism:build-model-instantiation"))
      prefix_message(&s->failure, "build_model raised during forced-seed instantiation: ");
    else if (!strcmp(s->failure.rule_id, "prism:build-model-resource"))
      prefix_message(&s->failure, "build_model exceeded the static memory budget during construction: ");
    return 0;
  }
  if (prism_sandbox_load_entry(L, b->train_path, "prism:contract", "prism:build-model-resource", &s->failure) != 0) {
    if (!strcmp(s->failure.rule_id, "prism:contract"))
      prefix_message(&s->failure, "the training entrypoint raised while loading: ");
    return 0;
  }
  if (prism_sandbox_resolve(L, -1, b->train_path, b->train_symbol, "training", &s->failure) != 0) return 0;
  lua_settop(L, 0);
  prism_ctx_push(L, s->job);
  if (child_build_model(L, cfg, 1) != 0) {
    build_failure(L, lua_tostring(L, -1), &s->failure);
    return 0;
  }
  int model = lua_gettop(L);
  if (!child_is_module(L, model)) {
    char what[96];
    prism_failure_set(&s->failure, "prism:build-model-return-type", b->arch_path, 0,
                      "build_model must return a prism.nn.Module, got %s", prism_sandbox_describe(L, model, what, sizeof what));
    return 0;
  }
  materialize(L, cfg, model);
  s->params = prism_sandbox_count_params(L, model);
  if (s->params < 0) {
    build_failure(L, lua_tostring(L, -1), &s->failure);
    return 0;
  }
  if (cfg->max_params > 0 && s->params > cfg->max_params) {
    char a[40], c[40];
    prism_failure_set(&s->failure, "prism:param-cap", b->arch_path, 0, "model has %s parameters, exceeding the %s parameter cap",
                      prism_format_count(s->params, a, sizeof a), prism_format_count(cfg->max_params, c, sizeof c));
  }
  lua_settop(L, 0);
  return 0;
}

int prism_child_static(const prism_eval_config *cfg, int report_fd) {
  prism_job job;
  memset(&job, 0, sizeof job);
  job.cfg = cfg;
  job.kind = PRISM_CTX_STATIC;
  job.report_fd = report_fd;
  job.artifacts_fd = -1;
  static_job s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.job = &job;
  s.params = -1;
  lua_State *L = child_open_state(cfg, &s.failure);
  if (!L) {
    prism_report_fail(report_fd, &s.failure);
    return 1;
  }
  if (lua_cpcall(L, static_main, &s) != 0) build_failure(L, lua_tostring(L, -1), &s.failure);
  /* The count hook stopped build_model: the parent's rule for a static check out of time. */
  if (prism_sandbox_deadline_hit(L)) prism_sandbox_deadline_failure(L, "prism:build-model-resource", &s.failure);
  if (!s.failure.rule_id[0] && prism_sandbox_lua_oom(L)) /* sticky, as in the run child */
    build_failure(L, "not enough memory (the error was caught by build_model's pcall)", &s.failure);
  prism_sandbox_close(L);
  if (s.params >= 0) prism_report_params(report_fd, s.params);
  if (s.failure.rule_id[0]) {
    prism_report_fail(report_fd, &s.failure);
    return 1;
  }
  return 0;
}

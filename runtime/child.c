/* child.c — the scored run inside the jailed run child (SPEC §3–§5; reference §1.4 adapted),
 * and the helpers the three child jobs share (child_internal.h).
 *
 * Step order: forced seed; the runtime's own names in the artifacts directory deleted; train
 * shards resolved (missing/empty → prism:data-missing before any Lua runs); one restricted
 * state; architecture loaded and its factory wrapped with the forced init BEFORE training.lua
 * is loaded (so require("architecture") returns the wrapped module); training loaded; forced
 * seed again; train(ctx) with a traceback handler. Then, whatever happened, the records go out
 * in this order — summary, params, done, and fail when the run failed:
 *   - a failure runtime code recorded in the job (param cap, quota, data error) wins, even if
 *     the submission caught the Lua error it raised;
 *   - else a Lua error escaping train: prism:runtime-error (resource errors: prism:resource-oom)
 *     with the submission's file:line and the traceback;
 *   - else no batch consumed: prism:zero-forward.
 * trained_state.safetensors and prism_run_manifest*.json are deleted after train returns
 * (never following symlinks: unlinkat removes the link itself), and the scored model's
 * parameters are saved only for a run that will be scored. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "backend.h"
#include "bridge.h"
#include "child_internal.h"
#include "clock.h"
#include "instrument.h"
#include "loader.h"
#include "report.h"
#include "rng.h"
#include "safetensors.h"
#include "state.h"

#define TRAINED_STATE "trained_state.safetensors"

/* ------------------------------------------------------------------ shared helpers */

lua_State *child_open_state(const prism_eval_config *cfg, prism_failure *err) {
  if (cfg->threads > 0) prism_backend_set_threads(cfg->threads);
  prism_rng_seed((uint64_t)cfg->seed);
  /* PRISM_LUA_MEM_LIMIT (bytes) overrides the default Lua-heap cap, like the tensor limits. */
  const char *lim = getenv("PRISM_LUA_MEM_LIMIT");
  char *end = NULL;
  unsigned long long v = lim && *lim && *lim != '-' ? strtoull(lim, &end, 10) : 0;
  prism_sandbox_opts opts = {.seed = (uint64_t)cfg->seed, .lua_mem_limit = end && *end == '\0' ? (size_t)v : 0};
  lua_State *L = prism_sandbox_new(cfg->bundle, &opts, err);
  if (L) prism_sandbox_set_deadline(L, cfg->lua_deadline, cfg->lua_deadline_limit);
  return L;
}

int child_load_architecture(lua_State *L, const prism_eval_config *cfg, const char *run_rule,
                            const char *resource_rule, prism_failure *err) {
  const prism_bundle *b = cfg->bundle;
  if (prism_sandbox_load_entry(L, b->arch_path, run_rule, resource_rule, err) != 0) return -1;
  if (prism_sandbox_resolve(L, -1, b->arch_path, b->arch_symbol, "architecture", err) != 0) {
    lua_pop(L, 1);
    return -1;
  }
  lua_pop(L, 1);
  prism_sandbox_wrap_factory(L, -1, b->arch_symbol);
  return 0;
}

int child_build_model(lua_State *L, const prism_eval_config *cfg, int ctx_idx) {
  prism_sandbox_push_factory(L);
  lua_pushvalue(L, ctx_idx);
  prism_rng_seed((uint64_t)cfg->seed);
  return prism_lua_pcall_traceback(L, 1, 1) == 0 ? 0 : -1;
}

bool child_is_module(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  prism_sandbox_push_trusted(L, "is_module");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  bool yes = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return yes;
}

void child_eval_mode(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  prism_sandbox_push_trusted(L, "train");
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 0);
  lua_call(L, 2, 0);
}

int64_t child_peak_rss_bytes(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (int64_t)ru.ru_maxrss * 1024;
}

/* ------------------------------------------------------------------ the run */

typedef struct run_job {
  const prism_eval_config *cfg;
  prism_job *job;
  prism_failure failure; /* "" = none */
  bool trained_state_saved;
  double wall;
} run_job;


/* Deletes the runtime's own names from the artifacts directory (links themselves, never their
 * targets). */
static void clean_artifacts(int dir_fd) {
  if (dir_fd < 0) return;
  unlinkat(dir_fd, TRAINED_STATE, 0);
  int fd = dup(dir_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0) close(fd);
    return;
  }
  rewinddir(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n >= 23 && !strncmp(e->d_name, "prism_run_manifest", 18) && !strcmp(e->d_name + n - 5, ".json"))
      unlinkat(dir_fd, e->d_name, 0);
  }
  closedir(d);
}

/* Saves the scored model's parameters (trusted named_parameters: registration order, tied
 * weights once). Returns true when the file was written. */
static bool save_trained_state(lua_State *L, run_job *r) {
  int top = lua_gettop(L);
  prism_instrument_push_model(L);
  if (lua_isnil(L, -1) || r->job->artifacts_fd < 0) {
    lua_settop(L, top);
    return false;
  }
  prism_sandbox_push_trusted(L, "named_parameters");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    fprintf(stderr, "prism: trained-state save skipped: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return false;
  }
  int list = lua_gettop(L);
  int n = (int)lua_objlen(L, list);
  prism_st_entry *entries = (prism_st_entry *)lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof *entries);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, list, i + 1);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    entries[i].name = lua_tostring(L, -2); /* kept alive by the list */
    entries[i].tensor = bridge_to_tensor(L, -1);
    lua_pop(L, 3);
  }
  char err[512];
  int rc = prism_safetensors_write_at(r->job->artifacts_fd, TRAINED_STATE, entries, n, -1, NULL, err, sizeof err);
  if (rc != PRISM_ST_OK) fprintf(stderr, "prism: trained-state save skipped: %s\n", err);
  lua_settop(L, top);
  return rc == PRISM_ST_OK;
}

static int run_main(lua_State *L) {
  run_job *r = (run_job *)lua_touserdata(L, 1);
  const prism_eval_config *cfg = r->cfg;
  const prism_bundle *b = cfg->bundle;
  lua_settop(L, 0);
  if (child_load_architecture(L, cfg, "prism:runtime-error", "prism:resource-oom", &r->failure) != 0) return 0;
  if (prism_sandbox_load_entry(L, b->train_path, "prism:runtime-error", "prism:resource-oom", &r->failure) != 0) return 0;
  if (prism_sandbox_resolve(L, -1, b->train_path, b->train_symbol, "training", &r->failure) != 0) return 0;
  int train = lua_gettop(L);
  prism_ctx_push(L, r->job);
  int ctx = lua_gettop(L);
  lua_pushvalue(L, train);
  lua_pushvalue(L, ctx);
  prism_rng_seed((uint64_t)cfg->seed);
  double t0 = prism_now();
  int rc = prism_lua_pcall_traceback(L, 1, 0);
  r->wall = prism_now() - t0;
  if (r->wall < 0) r->wall = 0;
  prism_grad_set_enabled(true); /* a forward that raised inside a no_grad scope cannot leak it here */
  if (rc != 0) prism_sandbox_failure(L, lua_tostring(L, -1), "prism:runtime-error", "prism:resource-oom", &r->failure);
  lua_settop(L, 0);
  return 0;
}

static int after_train(lua_State *L) {
  run_job *r = (run_job *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  if (!r->failure.rule_id[0] && r->cfg->rank == 0) r->trained_state_saved = save_trained_state(L, r);
  return 0;
}

static int report_failure(int fd, const prism_failure *f) {
  prism_report_fail(fd, f);
  return 1;
}

int prism_child_run(const prism_eval_config *cfg, int report_fd) {
  prism_job job;
  memset(&job, 0, sizeof job);
  job.cfg = cfg;
  job.kind = PRISM_CTX_RUN;
  job.report_fd = report_fd;
  job.artifacts_fd = -1;
  prism_failure f;
  memset(&f, 0, sizeof f);
  prism_rng_seed((uint64_t)cfg->seed);
  if (cfg->artifacts_dir) {
    job.artifacts_fd = open(cfg->artifacts_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (job.artifacts_fd < 0) {
      prism_failure_set(&f, "prism:internal", NULL, 0, "cannot open the artifacts directory %s", cfg->artifacts_dir);
      return report_failure(report_fd, &f);
    }
    if (cfg->rank == 0) clean_artifacts(job.artifacts_fd);
  }
  job.stream = prism_data_open_train(cfg->data_dir, &f);
  if (!job.stream) {
    if (!f.rule_id[0]) prism_failure_set(&f, "prism:data-missing", NULL, 0, "locked train data is missing (no random-token fallback)");
    if (job.artifacts_fd >= 0) close(job.artifacts_fd);
    return report_failure(report_fd, &f);
  }
  lua_State *L = child_open_state(cfg, &f);
  if (!L) {
    prism_doc_stream_close(job.stream);
    if (job.artifacts_fd >= 0) close(job.artifacts_fd);
    return report_failure(report_fd, &f);
  }
  run_job r;
  memset(&r, 0, sizeof r);
  r.cfg = cfg;
  r.job = &job;
  if (lua_cpcall(L, run_main, &r) != 0) {
    /* Only running out of Lua memory outside the submission's own pcall lands here. */
    prism_sandbox_failure(L, lua_tostring(L, -1), "prism:runtime-error", "prism:resource-oom", &r.failure);
    lua_settop(L, 0);
  }
  if (prism_sandbox_deadline_hit(L)) prism_sandbox_deadline_failure(L, "prism:budget-exceeded", &r.failure); /* even if pcall'd */
  /* The Lua-heap cap is sticky (anchors §C.1): once the allocator refused, the run fails even if
   * the submission's pcall caught the "not enough memory" error and went on training. */
  if (!r.failure.rule_id[0] && prism_sandbox_lua_oom(L))
    prism_sandbox_failure(L, "not enough memory (the error was caught by the submission's pcall)", "prism:resource-oom",
                          "prism:resource-oom", &r.failure);
  if (job.fatal.rule_id[0]) r.failure = job.fatal; /* recorded by the runtime: the submission cannot mask it */
  prism_capture_summary s;
  prism_instrument_summary(L, &s);
  if (!r.failure.rule_id[0] && s.batches == 0)
    prism_failure_set(&r.failure, "prism:zero-forward", NULL, 0,
                      "zero-batch / no-forward run: no online loss captured (train never consumed a batch from "
                      "ctx:iter_train_batches)");
  if (cfg->rank == 0) clean_artifacts(job.artifacts_fd);
  if (!r.failure.rule_id[0] && lua_cpcall(L, after_train, &r) != 0) lua_settop(L, 0);
  prism_report_summary(report_fd, s.documents, s.offsets, s.distinct_offsets, s.tokens,
                       prism_doc_stream_skipped_lines(job.stream), s.stopped_reason);
  if (s.scored_params >= 0) prism_report_params(report_fd, s.scored_params);
  prism_report_done(report_fd, r.wall, child_peak_rss_bytes(), (int64_t)prism_mem_peak_bytes(), r.trained_state_saved);
  prism_sandbox_close(L);
  prism_doc_stream_close(job.stream);
  if (job.artifacts_fd >= 0) close(job.artifacts_fd);
  if (r.failure.rule_id[0]) return report_failure(report_fd, &r.failure);
  return 0;
}

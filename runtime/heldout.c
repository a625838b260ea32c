/* heldout.c — the held-out child (SPEC §6; reference §3.2–3.4): the only process that opens the
 * val split. It builds the random-init twin (forced seed: bitwise the step-0 model) and the
 * trained model (forced seed, then the runtime's trained_state.safetensors loaded strictly by
 * the trusted named_parameters: every name, dtype and shape must match), both in eval mode,
 * and scores the first heldout_bytes of val — and of the train split, for the converged
 * reference — in [8, max_seq_len] windows on the bytes basis, exactly as the reference's
 * bpb_over_texts does. The run's tokenizer basis (SPEC §6's deliberate difference) arrives with
 * the reference tokenizers; until then val_bpb_basis is "bytes".
 *
 * Prefixes use the strict split loader (data.h prism_data_open_split): val from
 * cfg->val_dir's "val" split, train from cfg->data_dir's "train" split (train-*.jsonl in the
 * directory itself or under train/). A strict-loader error yields an empty prefix, as in the
 * reference: no val → heldout-skip; no train → no converged reference. Every failure here is a
 * skip with its reason (the run is still scored on bpb). */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "bridge.h"
#include "child_internal.h"
#include "instrument.h"
#include "report.h"
#include "safetensors.h"
#include "state.h"

#define HELDOUT_BATCH 8

typedef struct byte_buf {
  unsigned char *data;
  size_t len, cap;
} byte_buf;

typedef struct heldout_job {
  const prism_eval_config *cfg;
  prism_job *job;
  byte_buf val, train;
  double val_random, val_trained, train_converged;
  char skip[512]; /* "" = report heldout */
} heldout_job;

/* The deterministic prefix (reference §3.3): documents in order until their UTF-8 bytes reach
 * the budget, the boundary document included; budget <= 0 = the whole split. */
static int read_prefix(const char *root, const char *split, int64_t budget, byte_buf *out, char *why, size_t cap) {
  prism_failure err;
  memset(&err, 0, sizeof err);
  prism_doc_stream *s = root ? prism_data_open_split(root, split, &err) : NULL;
  if (!s) {
    snprintf(why, cap, "no %s split: %.400s", split, root ? err.message : "no directory given");
    return -1;
  }
  prism_doc d;
  int rc;
  while ((rc = prism_doc_stream_next(s, &d, &err)) == 1) {
    if (out->len + d.len > out->cap) {
      size_t ncap = out->cap ? out->cap : 65536;
      while (ncap < out->len + d.len) ncap *= 2;
      unsigned char *p = (unsigned char *)realloc(out->data, ncap);
      if (!p) {
        rc = -1;
        snprintf(err.message, sizeof err.message, "out of memory");
        break;
      }
      out->data = p;
      out->cap = ncap;
    }
    memcpy(out->data + out->len, d.text, d.len);
    out->len += d.len;
    if (budget > 0 && (int64_t)out->len >= budget) break;
  }
  prism_doc_stream_close(s);
  if (rc < 0) {
    snprintf(why, cap, "the %s split cannot be read: %.400s", split, err.message);
    out->len = 0;
    return -1;
  }
  return 0;
}

/* bpb of the model at idx over the byte stream (reference §3.4); NaN when nothing was scored. */
static double bpb_over_bytes(lua_State *L, int model, const prism_eval_config *cfg, const byte_buf *bytes) {
  int64_t V = cfg->vocab_size > 2 ? cfg->vocab_size : 2, T = cfg->seq_len > 2 ? cfg->seq_len : 2;
  double worst = 2.0 * log((double)V);
  size_t needed = (size_t)(HELDOUT_BATCH * T);
  int64_t *ids = (int64_t *)lua_newuserdata(L, needed * sizeof *ids); /* freed by the GC, even on error */
  double sum_nll = 0.0;
  int64_t covered = 0, scored = 0;
  size_t off = 0;
  for (; off + needed <= bytes->len; off += needed) {
    for (size_t i = 0; i < needed; i++) ids[i] = (int64_t)bytes->data[off + i] % V;
    double loss = prism_instrument_window_loss(L, model, ids, HELDOUT_BATCH, T);
    lua_pop(L, 1);
    if (!isfinite(loss)) loss = worst;
    sum_nll += loss * (double)(HELDOUT_BATCH * (T - 1));
    covered += (int64_t)needed;
    scored++;
  }
  size_t rem = bytes->len - off;
  if (rem >= 2) {
    for (size_t i = 0; i < rem; i++) ids[i] = (int64_t)bytes->data[off + i] % V;
    double loss = prism_instrument_window_loss(L, model, ids, 1, (int64_t)rem);
    lua_pop(L, 1);
    if (!isfinite(loss)) loss = worst;
    sum_nll += loss * (double)(rem - 1);
    covered += (int64_t)rem;
    scored++;
  }
  lua_pop(L, 1);
  if (covered <= 0 || scored == 0) return NAN;
  double bpb = (sum_nll / log(2.0)) / (double)covered;
  return isfinite(bpb) && bpb > 0 ? bpb : NAN;
}

/* Builds a model with the forced seed; pushes it, or sets the skip reason. */
static int build(lua_State *L, heldout_job *h, int ctx, const char *which) {
  if (child_build_model(L, h->cfg, ctx) != 0) {
    prism_failure f;
    prism_sandbox_failure(L, lua_tostring(L, -1), "prism:runtime-error", "prism:resource-oom", &f);
    snprintf(h->skip, sizeof h->skip, "building the %s model failed: %.400s", which, f.message);
    return -1;
  }
  if (!child_is_module(L, -1)) {
    char what[96];
    snprintf(h->skip, sizeof h->skip, "build_model returned %s, not a prism.nn.Module",
             prism_sandbox_describe(L, -1, what, sizeof what));
    return -1;
  }
  child_eval_mode(L, -1);
  return 0;
}

/* Strict load of trained_state.safetensors into the model's named parameters. */
static int load_trained(lua_State *L, heldout_job *h, int model) {
  char err[512];
  prism_st_file *f = h->job->artifacts_fd >= 0
                         ? prism_safetensors_open_at(h->job->artifacts_fd, "trained_state.safetensors", err, sizeof err)
                         : NULL;
  if (!f) {
    snprintf(h->skip, sizeof h->skip, "trained state unavailable: %.400s", h->job->artifacts_fd >= 0 ? err : "no artifacts directory");
    return -1;
  }
  prism_sandbox_push_trusted(L, "named_parameters");
  lua_pushvalue(L, model);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    prism_safetensors_close(f);
    snprintf(h->skip, sizeof h->skip, "listing the model's parameters failed: %.400s", lua_tostring(L, -1));
    return -1;
  }
  int list = lua_gettop(L);
  int n = (int)lua_objlen(L, list);
  prism_st_target *t = (prism_st_target *)lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof *t);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, list, i + 1);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    t[i].name = lua_tostring(L, -2);
    t[i].tensor = bridge_to_tensor(L, -1);
    lua_pop(L, 3);
  }
  int rc = prism_safetensors_load_into(f, t, n, err, sizeof err);
  prism_safetensors_close(f);
  lua_settop(L, list - 1);
  if (rc != PRISM_ST_OK) {
    snprintf(h->skip, sizeof h->skip, "trained state does not match the architecture: %.400s", err);
    return -1;
  }
  return 0;
}

static int heldout_main(lua_State *L) {
  heldout_job *h = (heldout_job *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  prism_failure f;
  if (child_load_architecture(L, h->cfg, "prism:runtime-error", "prism:resource-oom", &f) != 0) {
    snprintf(h->skip, sizeof h->skip, "the architecture cannot be loaded: %.400s", f.message);
    return 0;
  }
  prism_ctx_push(L, h->job);
  int ctx = lua_gettop(L);
  if (build(L, h, ctx, "random-init twin") != 0) return 0;
  h->val_random = bpb_over_bytes(L, lua_gettop(L), h->cfg, &h->val);
  lua_pop(L, 1);
  if (build(L, h, ctx, "trained") != 0) return 0;
  int model = lua_gettop(L);
  if (load_trained(L, h, model) != 0) return 0;
  h->val_trained = bpb_over_bytes(L, model, h->cfg, &h->val);
  if (h->train.len > 0) h->train_converged = bpb_over_bytes(L, model, h->cfg, &h->train);
  lua_settop(L, 0);
  return 0;
}

int prism_child_heldout(const prism_eval_config *cfg, int report_fd) {
  prism_job job;
  memset(&job, 0, sizeof job);
  job.cfg = cfg;
  job.kind = PRISM_CTX_HELDOUT;
  job.report_fd = report_fd;
  job.artifacts_fd = -1;
  heldout_job h;
  memset(&h, 0, sizeof h);
  h.cfg = cfg;
  h.job = &job;
  h.val_random = h.val_trained = h.train_converged = NAN;
  char why[512] = "";
  if (!cfg->val_dir) snprintf(h.skip, sizeof h.skip, "no val split given");
  else if (read_prefix(cfg->val_dir, "val", cfg->heldout_bytes, &h.val, why, sizeof why) != 0)
    snprintf(h.skip, sizeof h.skip, "%s", why);
  else if (h.val.len == 0) snprintf(h.skip, sizeof h.skip, "the val split is empty");
  if (!h.skip[0]) {
    if (read_prefix(cfg->data_dir, "train", cfg->heldout_bytes, &h.train, why, sizeof why) != 0) h.train.len = 0;
    if (cfg->artifacts_dir) job.artifacts_fd = open(cfg->artifacts_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    prism_failure f;
    lua_State *L = child_open_state(cfg, &f);
    if (!L) {
      snprintf(h.skip, sizeof h.skip, "%.500s", f.message);
    } else {
      if (lua_cpcall(L, heldout_main, &h) != 0 && !h.skip[0])
        snprintf(h.skip, sizeof h.skip, "held-out evaluation failed: %.400s", lua_tostring(L, -1));
      prism_sandbox_close(L);
    }
    if (!h.skip[0] && !(isfinite(h.val_random) && isfinite(h.val_trained)))
      snprintf(h.skip, sizeof h.skip, "a val bpb is not a finite positive number");
  }
  if (job.artifacts_fd >= 0) close(job.artifacts_fd);
  int64_t covered = (int64_t)h.val.len;
  free(h.val.data);
  free(h.train.data);
  if (h.skip[0]) {
    prism_report_heldout_skip(report_fd, h.skip);
    return 0;
  }
  prism_report_heldout(report_fd, h.val_random, h.val_trained, covered, h.train_converged, "bytes");
  return 0;
}

/* heldout.c — the held-out child (SPEC §6; reference §3.2–3.4): the only process that opens the
 * val split. It builds the random-init twin (forced seed: bitwise the step-0 model) and the
 * trained model (forced seed, then the runtime's trained_state.safetensors loaded strictly by
 * the trusted named_parameters: every name, dtype and shape must match), both in eval mode,
 * and scores the first heldout_bytes of val — and of the train split, for the converged
 * reference — in [8, max_seq_len] windows on the bytes basis, exactly as the reference's
 * bpb_over_texts does — unless the run used a runtime reference tokenizer (SPEC §6's deliberate
 * difference): then cfg->heldout_tokenizer ("gpt2" | "llama", passed by the parent from the run
 * record) tokenizes each prefix document with that same tokenizer (tokenizer.h, from
 * cfg->tokenizers_dir), ids reduced mod vocab, and every token carries its document's
 * bytes/tokens weight exactly as in the instrument, so the bpb is still bits per UTF-8 byte and
 * compares with the run's; val_bpb_basis names the basis. A tokenizer that cannot be opened is a
 * skip with its reason.
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
#include "tokenizer/tokenizer.h"

#define HELDOUT_BATCH 8

typedef struct byte_buf {
  unsigned char *data;
  size_t len, cap;
  size_t *doc_len; /* each document's byte length, in order */
  size_t n_docs, cap_docs;
} byte_buf;

/* The scored stream: ids (already mod vocab) and each token's byte weight. */
typedef struct token_stream {
  int64_t *ids;
  double *w;
  size_t n;
} token_stream;

typedef struct heldout_job {
  const prism_eval_config *cfg;
  prism_job *job;
  byte_buf val, train;
  token_stream val_ts, train_ts;
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
    if (out->n_docs == out->cap_docs) {
      size_t nc = out->cap_docs ? out->cap_docs * 2 : 256;
      size_t *p = (size_t *)realloc(out->doc_len, nc * sizeof *p);
      if (!p) {
        rc = -1;
        snprintf(err.message, sizeof err.message, "out of memory");
        break;
      }
      out->doc_len = p;
      out->cap_docs = nc;
    }
    out->doc_len[out->n_docs++] = d.len;
    if (d.len) memcpy(out->data + out->len, d.text, d.len);
    out->len += d.len;
    if (budget > 0 && (int64_t)out->len >= budget) break;
  }
  prism_doc_stream_close(s);
  if (rc < 0) {
    snprintf(why, cap, "the %s split cannot be read: %.400s", split, err.message);
    out->len = 0;
    out->n_docs = 0;
    return -1;
  }
  return 0;
}

/* The prefix as the scored stream: bytes mod V with weight 1 (reference §3.4), or, with a
 * reference tokenizer, each document's ids mod V weighted doc_bytes / doc_tokens (an empty
 * encoding contributes nothing, as in the instrument). 0, or -1 with why set. */
static int make_stream(prism_tokenizer *tok, int64_t V, const byte_buf *bytes, token_stream *out, char *why, size_t cap) {
  memset(out, 0, sizeof *out);
  if (!tok) {
    out->ids = (int64_t *)malloc((bytes->len ? bytes->len : 1) * sizeof *out->ids);
    out->w = (double *)malloc((bytes->len ? bytes->len : 1) * sizeof *out->w);
    if (!out->ids || !out->w) goto oom;
    for (size_t i = 0; i < bytes->len; i++) {
      out->ids[i] = (int64_t)bytes->data[i] % V;
      out->w[i] = 1.0;
    }
    out->n = bytes->len;
    return 0;
  }
  size_t id_cap = 0, w_cap = 0, off = 0;
  prism_failure err;
  for (size_t d = 0; d < bytes->n_docs; d++) {
    size_t len = bytes->doc_len[d], before = out->n;
    memset(&err, 0, sizeof err);
    if (prism_tokenizer_encode(tok, (const char *)bytes->data + off, len, &out->ids, &out->n, &id_cap, &err) != 0) {
      snprintf(why, cap, "%s: the %s tokenizer failed on a held-out document: %.300s", err.rule_id,
               prism_tokenizer_name(tok), err.message);
      goto fail;
    }
    off += len;
    size_t k = out->n - before;
    if (k == 0) continue;
    if (out->n > w_cap) {
      size_t nc = w_cap ? w_cap : 4096;
      while (nc < out->n) nc *= 2;
      double *p = (double *)realloc(out->w, nc * sizeof *p);
      if (!p) goto oom;
      out->w = p;
      w_cap = nc;
    }
    double w = (double)len / (double)k;
    for (size_t i = before; i < out->n; i++) {
      out->ids[i] %= V;
      out->w[i] = w;
    }
  }
  return 0;
oom:
  snprintf(why, cap, "out of memory building the held-out token stream");
fail:
  free(out->ids);
  free(out->w);
  memset(out, 0, sizeof *out);
  return -1;
}

/* bpb of the model at idx over the stream (reference §3.4 on its basis): windows of
 * HELDOUT_BATCH x T ids, then a trailing [1, n] row when n >= 2; covered = the byte weight of
 * every token of the scored windows. NaN when nothing was scored. */
static double bpb_over_stream(lua_State *L, int model, const prism_eval_config *cfg, const token_stream *ts) {
  int64_t V = cfg->vocab_size > 2 ? cfg->vocab_size : 2, T = cfg->seq_len > 2 ? cfg->seq_len : 2;
  double worst = 2.0 * log((double)V);
  size_t needed = (size_t)(HELDOUT_BATCH * T);
  double sum_nll = 0.0, covered = 0.0;
  int64_t scored = 0;
  size_t off = 0;
  for (; off + needed <= ts->n; off += needed) {
    double loss = prism_instrument_window_loss(L, model, ts->ids + off, HELDOUT_BATCH, T);
    lua_pop(L, 1);
    if (!isfinite(loss)) loss = worst;
    sum_nll += loss * (double)(HELDOUT_BATCH * (T - 1));
    for (size_t i = 0; i < needed; i++) covered += ts->w[off + i];
    scored++;
  }
  size_t rem = ts->n - off;
  if (rem >= 2) {
    double loss = prism_instrument_window_loss(L, model, ts->ids + off, 1, (int64_t)rem);
    lua_pop(L, 1);
    if (!isfinite(loss)) loss = worst;
    sum_nll += loss * (double)(rem - 1);
    for (size_t i = 0; i < rem; i++) covered += ts->w[off + i];
    scored++;
  }
  if (!(covered > 0) || scored == 0) return NAN;
  double bpb = (sum_nll / log(2.0)) / covered;
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
  h->val_random = bpb_over_stream(L, lua_gettop(L), h->cfg, &h->val_ts);
  lua_pop(L, 1);
  if (build(L, h, ctx, "trained") != 0) return 0;
  int model = lua_gettop(L);
  if (load_trained(L, h, model) != 0) return 0;
  h->val_trained = bpb_over_stream(L, model, h->cfg, &h->val_ts);
  if (h->train_ts.n > 0) h->train_converged = bpb_over_stream(L, model, h->cfg, &h->train_ts);
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
  /* the run's basis: a runtime reference tokenizer other than bytes, else bytes */
  const char *basis = "bytes";
  prism_tokenizer *tok = NULL;
  if (cfg->heldout_tokenizer && (!strcmp(cfg->heldout_tokenizer, "gpt2") || !strcmp(cfg->heldout_tokenizer, "llama"))) {
    basis = cfg->heldout_tokenizer;
    prism_failure terr;
    memset(&terr, 0, sizeof terr);
    tok = prism_tokenizer_open(basis, cfg->tokenizers_dir, &terr);
    if (!tok)
      snprintf(h.skip, sizeof h.skip, "the run's %s tokenizer cannot be opened for the held-out: %.40s: %.400s", basis,
               terr.rule_id, terr.message);
  }
  int64_t V = cfg->vocab_size > 2 ? cfg->vocab_size : 2;
  if (!h.skip[0]) {
    if (!cfg->val_dir) snprintf(h.skip, sizeof h.skip, "no val split given");
    else if (read_prefix(cfg->val_dir, "val", cfg->heldout_bytes, &h.val, why, sizeof why) != 0)
      snprintf(h.skip, sizeof h.skip, "%s", why);
    else if (h.val.len == 0) snprintf(h.skip, sizeof h.skip, "the val split is empty");
  }
  if (!h.skip[0]) {
    read_prefix(cfg->data_dir, "train", cfg->heldout_bytes, &h.train, why, sizeof why); /* failure: empty prefix */
    if (make_stream(tok, V, &h.val, &h.val_ts, why, sizeof why) != 0)
      snprintf(h.skip, sizeof h.skip, "%s", why);
    else if (tok && h.val_ts.n < 2)
      snprintf(h.skip, sizeof h.skip, "the val prefix has fewer than 2 %s tokens", basis);
    else if (make_stream(tok, V, &h.train, &h.train_ts, why, sizeof why) != 0)
      h.train_ts.n = 0; /* no converged reference */
  }
  if (!h.skip[0]) {
    if (cfg->artifacts_dir) job.artifacts_fd = open(cfg->artifacts_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    prism_failure f;
    lua_State *L = child_open_state(cfg, &f);
    if (!L) {
      snprintf(h.skip, sizeof h.skip, "%.500s", f.message);
    } else {
      if (lua_cpcall(L, heldout_main, &h) != 0 && !h.skip[0])
        snprintf(h.skip, sizeof h.skip, "held-out evaluation failed: %.400s", lua_tostring(L, -1));
      if (prism_sandbox_deadline_hit(L)) { /* window losses after the deadline are not the model's */
        prism_failure f2;
        prism_sandbox_deadline_failure(L, "prism:budget-exceeded", &f2);
        snprintf(h.skip, sizeof h.skip, "%s: %.400s", f2.rule_id, f2.message);
      }
      prism_sandbox_close(L);
    }
    if (!h.skip[0] && !(isfinite(h.val_random) && isfinite(h.val_trained)))
      snprintf(h.skip, sizeof h.skip, "a val bpb is not a finite positive number");
  }
  if (job.artifacts_fd >= 0) close(job.artifacts_fd);
  int64_t covered = (int64_t)h.val.len;
  free(h.val.data);
  free(h.train.data);
  free(h.val.doc_len);
  free(h.train.doc_len);
  free(h.val_ts.ids);
  free(h.val_ts.w);
  free(h.train_ts.ids);
  free(h.train_ts.w);
  if (tok) prism_tokenizer_free(tok);
  if (h.skip[0]) {
    prism_report_heldout_skip(report_fd, h.skip);
    return 0;
  }
  prism_report_heldout(report_fd, h.val_random, h.val_trained, covered, h.train_converged, basis);
  return 0;
}

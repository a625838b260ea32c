/* instrument.c — the online-loss capture (SPEC §5; reference §1.8–1.9, reproduced exactly).
 *
 * One capture per process, created by the first ctx:iter_train_batches call (whose batch size,
 * sequence length and tokenizer stick) and started by the first iterator that asks for a batch;
 * any other iterator yields nothing. The reference's generator becomes a resumable state
 * machine: RUN pulls tokens (tokenizing a document when its first token is pulled, so a
 * document pulled at the stopping point is already counted), checks the budgets before
 * buffering each token, and emits a window when B×T tokens are buffered; AFTER_YIELD checks
 * the budgets again when the submission asks for the next batch; TAIL emits the last ≥ 2
 * tokens as one [1, n] row unless a budget holds; the stopped reason becomes data_exhausted only
 * once the submission asks past the end. Each batch's loss is computed with gradients off and
 * reported (report.h `batch`) before the batch is returned, so every recorded loss is a
 * prediction on data the model has not been updated on.
 *
 * Tokenizers: none (UTF-8 bytes) or ctx:reference_tokenizer("bytes") → basis "bytes"; a
 * reference "gpt2"/"llama" object is recognised and encoded in C (tokenizer.h), basis = its
 * name, the basis the held-out then scores on; a custom Lua function or object with :encode →
 * basis "tokenizer". Every id is reduced mod vocab; each token weighs doc_bytes / doc_tokens.
 *
 * An error escaping the iterator (the model's forward, the tokenizer, the parameter cap, a data
 * error) leaves the capture dead, like a Python generator that raised: later requests yield
 * nothing. Failures that must not depend on the submission catching them (parameter cap, data
 * errors) are also recorded in the job (ctx.h) before the Lua error is raised. */
#include "instrument.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "backend.h"
#include "bridge.h"
#include "clock.h"
#include "ctx.h"
#include "report.h"
#include "state.h"
#include "tokenizer/tokenizer.h"

#define CAPTURE_KEY "prism.capture"
#define CAPTURE_TOKENIZER "prism.capture.tokenizer"
#define CAPTURE_MODEL "prism.capture.model"

enum { TOK_BYTES, TOK_FUNCTION, TOK_OBJECT, TOK_REFERENCE };
enum { PH_RUN, PH_AFTER_YIELD, PH_TAIL, PH_AFTER_TAIL, PH_DONE };

typedef struct offset_pair {
  int32_t shard;
  int64_t offset;
} offset_pair;

typedef struct capture {
  prism_job *job;
  int64_t B, T, vocab;
  double worst_nats;
  int tok_kind;
  prism_tokenizer *ref; /* TOK_REFERENCE: owned by the Lua object kept at CAPTURE_TOKENIZER */
  bool started, dead;
  int phase;
  double start_time;
  int64_t *buf_ids;  /* B*T slots */
  double *buf_w;
  int64_t buf_len;
  int64_t *doc_ids;  /* the current document's ids, reduced mod vocab */
  size_t doc_n, doc_pos, doc_cap;
  double doc_w;
  bool stream_done;
  int64_t tokens, batches, documents;
  offset_pair *offsets;
  size_t n_offsets, cap_offsets;
  char **shards;
  int32_t n_shards;
  const char *stopped;
  int64_t scored_params;
} capture;


static int capture_gc(lua_State *L) {
  capture *c = (capture *)lua_touserdata(L, 1);
  free(c->buf_ids);
  free(c->buf_w);
  free(c->doc_ids);
  free(c->offsets);
  for (int32_t i = 0; i < c->n_shards; i++) free(c->shards[i]);
  free(c->shards);
  memset(c, 0, sizeof *c);
  return 0;
}

static capture *get_capture(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, CAPTURE_KEY);
  capture *c = (capture *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return c;
}

/* Records a fatal failure in the job and raises it as a Lua error. */
static int fatal(lua_State *L, capture *c, const char *rule, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fatal(lua_State *L, capture *c, const char *rule, const char *fmt, ...) {
  prism_failure f;
  va_list ap;
  va_start(ap, fmt);
  char msg[900];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  prism_failure_set(&f, rule, NULL, 0, "%s", msg);
  prism_job_set_fatal(c->job, &f);
  return luaL_error(L, "%s: %s", rule, msg);
}

/* ------------------------------------------------------------------ parameter cap (§1.9) */

static void param_cap_check(lua_State *L, capture *c, int model_idx) {
  int64_t n = prism_sandbox_count_params(L, model_idx);
  if (n < 0) lua_error(L); /* listing the parameters raised: its message is on the stack */
  c->scored_params = n;
  prism_report_params(c->job->report_fd, n);
  int64_t cap = c->job->cfg->max_params;
  if (cap > 0 && n > cap) {
    char a[40], b[40];
    fatal(L, c, "prism:param-cap", "scored model has %s parameters, exceeding the %s parameter cap",
          prism_format_count(n, a, sizeof a), prism_format_count(cap, b, sizeof b));
  }
}

/* ------------------------------------------------------------------ the window loss */

/* Everything between the forward's output and the loss runs in C on references this function
 * owns; they are released before any Lua error is raised. */
static double loss_from_logits(lua_State *L, prism_tensor *out, const int64_t *ids, int64_t rows, int64_t cols) {
  char shp[96], msg[400] = "";
  if (out->dtype != PRISM_FLOAT32) {
    snprintf(msg, sizeof msg, "the model's forward returned %s logits; expected float32", prism_dtype_name(out->dtype));
    goto fail;
  }
  if (!(out->ndim == 3 || out->ndim == 2) || (out->ndim == 3 && (out->shape[0] != rows || out->shape[1] != cols)) ||
      (out->ndim == 2 && (rows != 1 || out->shape[0] != cols)) || out->shape[out->ndim - 1] < 1) {
    snprintf(msg, sizeof msg,
             "the model's forward returned logits of shape %s for tokens of shape [%lld, %lld]; expected "
             "[%lld, %lld, V] (or [%lld, V] for one row)",
             prism_shape_str(out->ndim, out->shape, shp, sizeof shp), (long long)rows, (long long)cols, (long long)rows,
             (long long)cols, (long long)cols);
    goto fail;
  }
  int64_t vl = out->shape[out->ndim - 1];
  int64_t n = rows * (cols - 1);
  bool prev = prism_grad_set_enabled(false);
  prism_tensor *lg3 = out->ndim == 2 ? prism_op_unsqueeze(out, 0) : prism_tensor_retain(out);
  prism_tensor *pred = lg3 ? prism_op_narrow(lg3, 1, 0, cols - 1) : NULL;
  int64_t shape2[2] = {n, vl};
  prism_tensor *pred2 = pred ? prism_op_view(pred, 2, shape2) : NULL;
  int64_t *tg = (int64_t *)malloc((size_t)n * sizeof *tg);
  prism_tensor *targets = NULL, *loss_t = NULL;
  double loss = NAN;
  if (tg && pred2) {
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j + 1 < cols; j++) tg[r * (cols - 1) + j] = ids[r * cols + j + 1] % vl;
    targets = prism_tensor_from_host(PRISM_INT64, pred2->storage->device, 1, &n, tg);
    loss_t = targets ? prism_op_cross_entropy(pred2, targets) : NULL;
    if (loss_t && prism_tensor_to_host_f64(loss_t, &loss) != 0) {
      prism_tensor_release(loss_t);
      loss_t = NULL;
    }
  }
  bool ok = loss_t != NULL;
  if (!ok)
    snprintf(msg, sizeof msg, "%scomputing the loss failed: %s",
             !tg || prism_error_kind_last() == PRISM_ERR_OOM ? "prism:resource-oom: " : "",
             tg ? prism_error_message() : "out of memory");
  free(tg);
  prism_tensor_release(loss_t);
  prism_tensor_release(targets);
  prism_tensor_release(pred2);
  prism_tensor_release(pred);
  prism_tensor_release(lg3);
  prism_grad_set_enabled(prev);
  if (ok) return loss;
fail:
  luaL_error(L, "iter_train_batches: %s", msg);
  return NAN;
}

/* The device of the model's first parameter (CPU when it has none). */
static prism_device model_device(lua_State *L, int model_idx) {
  if (!prism_backend_get(PRISM_CUDA)) return PRISM_CPU;
  prism_device d = PRISM_CPU;
  prism_sandbox_push_trusted(L, "parameters");
  lua_pushvalue(L, model_idx);
  if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    prism_tensor *t = bridge_to_tensor(L, -1);
    if (t) d = t->storage->device;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return d;
}

double prism_instrument_window_loss(lua_State *L, int model_idx, const int64_t *ids, int64_t rows, int64_t cols) {
  model_idx = model_idx < 0 ? lua_gettop(L) + model_idx + 1 : model_idx;
  if (cols < 2) luaL_error(L, "iter_train_batches: a window needs at least 2 tokens");
  int64_t shape[2] = {rows, cols};
  prism_device dev = model_device(L, model_idx);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_tensor_from_host(PRISM_INT64, dev, 2, shape, ids);
  bridge_finish(L, "iter_train_batches");
  int tok = lua_gettop(L);
  lua_pushvalue(L, model_idx);
  lua_pushvalue(L, tok);
  bool prev = prism_grad_set_enabled(false);
  int rc = lua_pcall(L, 1, 1, 0); /* model(tokens): the Module's __call -> forward */
  prism_grad_set_enabled(prev);
  if (rc != 0) lua_error(L);
  prism_tensor *out = bridge_to_tensor(L, -1);
  if (!out && lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    out = bridge_to_tensor(L, -1);
    if (!out) {
      lua_pop(L, 1);
      lua_getfield(L, -1, "logits");
      out = bridge_to_tensor(L, -1);
    }
  }
  if (!out) {
    char what[96];
    luaL_error(L, "iter_train_batches: the model's forward did not return a logits tensor (got %s); return a [B, T, V] "
                  "tensor, a table whose [1] is one, or a table with .logits",
               prism_sandbox_describe(L, tok + 1, what, sizeof what));
  }
  double loss = loss_from_logits(L, out, ids, rows, cols);
  lua_settop(L, tok);
  return loss;
}

/* ------------------------------------------------------------------ the document stream */

static void doc_reserve(lua_State *L, capture *c, size_t n) {
  if (n <= c->doc_cap) return;
  size_t cap = c->doc_cap ? c->doc_cap : 4096;
  while (cap < n) cap *= 2;
  int64_t *p = (int64_t *)realloc(c->doc_ids, cap * sizeof *p);
  if (!p) luaL_error(L, "prism:resource-oom: iter_train_batches: out of memory for a document of %lld tokens", (long long)n);
  c->doc_ids = p;
  c->doc_cap = cap;
}

static void note_offset(lua_State *L, capture *c, const prism_doc *d) {
  if (c->n_shards == 0 || strcmp(c->shards[c->n_shards - 1], d->shard) != 0) {
    char **s = (char **)realloc(c->shards, (size_t)(c->n_shards + 1) * sizeof *s);
    char *name = strdup(d->shard ? d->shard : "");
    if (!s || !name) {
      free(name);
      if (s) c->shards = s;
      luaL_error(L, "prism:resource-oom: iter_train_batches: out of memory");
    }
    c->shards = s;
    c->shards[c->n_shards++] = name;
  }
  if (c->n_offsets == c->cap_offsets) {
    size_t cap = c->cap_offsets ? c->cap_offsets * 2 : 1024;
    offset_pair *p = (offset_pair *)realloc(c->offsets, cap * sizeof *p);
    if (!p) luaL_error(L, "prism:resource-oom: iter_train_batches: out of memory");
    c->offsets = p;
    c->cap_offsets = cap;
  }
  c->offsets[c->n_offsets++] = (offset_pair){c->n_shards - 1, d->offset};
}

/* Tokenizes the document with a reference tokenizer, in C: ids into c->doc_ids, reduced mod
 * vocab like every other id. */
static size_t tokenize_reference(lua_State *L, capture *c, const prism_doc *d) {
  size_t n = 0;
  prism_failure err;
  memset(&err, 0, sizeof err);
  if (prism_tokenizer_encode(c->ref, d->text, d->len, &c->doc_ids, &n, &c->doc_cap, &err) != 0)
    luaL_error(L, "%s: iter_train_batches: the %s tokenizer failed on the document at %s line %lld: %s",
               err.rule_id[0] ? err.rule_id : "prism:tokenizer-load", prism_tokenizer_name(c->ref),
               d->shard ? d->shard : "?", (long long)d->offset + 1, err.message);
  for (size_t i = 0; i < n; i++) c->doc_ids[i] %= c->vocab;
  return n;
}

/* Tokenizes the document with the submission's tokenizer: ids into c->doc_ids. */
static size_t tokenize_lua(lua_State *L, capture *c, const prism_doc *d) {
  int top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, CAPTURE_TOKENIZER);
  if (c->tok_kind == TOK_OBJECT) {
    lua_getfield(L, -1, "encode");
    lua_insert(L, -2); /* encode, tokenizer */
    lua_pushlstring(L, d->text, d->len);
    lua_call(L, 2, 1);
  } else {
    lua_pushlstring(L, d->text, d->len);
    lua_call(L, 1, 1);
  }
  char where[300];
  snprintf(where, sizeof where, "%s line %lld", d->shard ? d->shard : "?", (long long)d->offset + 1);
  if (!lua_istable(L, -1))
    luaL_error(L, "iter_train_batches: the tokenizer returned %s for the document at %s; it must return an array of "
                  "integer token ids",
               luaL_typename(L, -1), where);
  size_t n = lua_objlen(L, -1);
  doc_reserve(L, c, n);
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, (int)i);
    double v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !(v >= 0) || v != floor(v) || v > 9007199254740992.0)
      luaL_error(L, "iter_train_batches: the tokenizer returned %s as id %d of the document at %s; token ids must be "
                    "integers >= 0",
                 lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1), (int)i, where);
    c->doc_ids[i - 1] = (int64_t)v % c->vocab;
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  return n;
}

/* Pulls the next (id, weight); false at the end of the stream. */
static bool next_token(lua_State *L, capture *c, int64_t *id, double *w) {
  while (c->doc_pos >= c->doc_n) {
    if (c->stream_done) return false;
    prism_doc d;
    prism_failure err;
    int rc = prism_doc_stream_next(c->job->stream, &d, &err);
    if (rc < 0) {
      prism_job_set_fatal(c->job, &err);
      luaL_error(L, "%s: %s", err.rule_id, err.message);
    }
    if (rc == 0) {
      c->stream_done = true;
      return false;
    }
    size_t n;
    if (c->tok_kind == TOK_BYTES) {
      doc_reserve(L, c, d.len);
      for (size_t i = 0; i < d.len; i++) c->doc_ids[i] = (int64_t)(unsigned char)d.text[i] % c->vocab;
      n = d.len;
    } else if (c->tok_kind == TOK_REFERENCE) {
      n = tokenize_reference(L, c, &d);
    } else {
      n = tokenize_lua(L, c, &d);
    }
    if (n == 0) continue; /* a document without ids is skipped, not counted */
    c->documents++;
    note_offset(L, c, &d);
    c->doc_n = n;
    c->doc_pos = 0;
    c->doc_w = (double)d.len / (double)n;
  }
  *id = c->doc_ids[c->doc_pos++];
  *w = c->doc_w;
  return true;
}

/* ------------------------------------------------------------------ budgets and batches */

static const char *budget_reason(const capture *c) {
  const prism_eval_config *cfg = c->job->cfg;
  if (cfg->token_budget >= 0 && c->tokens >= cfg->token_budget) return "token_budget";
  if (cfg->step_budget >= 0 && c->batches >= cfg->step_budget) return "step_budget";
  if (cfg->time_budget > 0 && prism_now() - c->start_time >= cfg->time_budget) return "wall_clock";
  return NULL;
}

/* Emits the first `count` buffered tokens as one batch: pushes { tokens = <[rows, cols]> }. */
static void emit(lua_State *L, capture *c, int model_idx, int64_t count) {
  int64_t rows = count == c->B * c->T ? c->B : 1, cols = count == c->B * c->T ? c->T : count;
  double nbytes = 0.0;
  for (int64_t i = 0; i < count; i++) nbytes += c->buf_w[i];
  double loss = prism_instrument_window_loss(L, model_idx, c->buf_ids, rows, cols);
  if (c->batches == 0) param_cap_check(L, c, model_idx); /* parameters made by the first forward count */
  bool nan_inf = !isfinite(loss);
  if (nan_inf) loss = c->worst_nats;
  int64_t predicted = rows * (cols > 1 ? cols - 1 : 0);
  c->batches++;
  c->buf_len = 0;
  prism_report_batch(c->job->report_fd, loss, predicted, nbytes, nan_inf);
  lua_createtable(L, 0, 1);
  lua_insert(L, -2);
  lua_setfield(L, -2, "tokens");
}

static void finish(capture *c, const char *reason) {
  if (reason && !c->stopped) c->stopped = reason;
  c->phase = PH_DONE;
}

/* One request: pushes a batch table, or nothing when the capture ends. */
static int step(lua_State *L, capture *c, int model_idx) {
  const int64_t needed = c->B * c->T;
  switch (c->phase) {
  case PH_AFTER_YIELD: {
    const char *r = budget_reason(c);
    if (r) {
      finish(c, r);
      return 0;
    }
    c->phase = PH_RUN;
  } /* fall through */
  case PH_RUN: {
    int64_t id;
    double w;
    while (next_token(L, c, &id, &w)) {
      const char *r = budget_reason(c);
      if (r) {
        finish(c, r);
        return 0;
      }
      c->buf_ids[c->buf_len] = id;
      c->buf_w[c->buf_len] = w;
      c->buf_len++;
      c->tokens++;
      if (c->buf_len >= needed) {
        emit(L, c, model_idx, needed);
        c->phase = PH_AFTER_YIELD;
        return 1;
      }
    }
    c->phase = PH_TAIL;
  } /* fall through */
  case PH_TAIL:
    if (c->buf_len >= 2 && !budget_reason(c)) {
      emit(L, c, model_idx, c->buf_len);
      c->phase = PH_AFTER_TAIL;
      return 1;
    }
    finish(c, "data_exhausted");
    return 0;
  case PH_AFTER_TAIL:
    finish(c, "data_exhausted");
    return 0;
  default:
    return 0;
  }
}

/* The iterator: upvalues (capture, model, owner). */
static int iter_next(lua_State *L) {
  capture *c = (capture *)lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  int model_idx = 1;
  if (c->dead || c->phase == PH_DONE) return 0;
  if (!c->started) {
    c->started = true;
    c->dead = true; /* stays dead if anything below raises */
    lua_pushboolean(L, 1);
    lua_replace(L, lua_upvalueindex(3));
    lua_pushvalue(L, model_idx);
    lua_setfield(L, LUA_REGISTRYINDEX, CAPTURE_MODEL);
    param_cap_check(L, c, model_idx);
    c->start_time = prism_now();
    c->phase = PH_RUN;
  } else if (!lua_toboolean(L, lua_upvalueindex(3))) {
    return 0;
  }
  c->dead = true;
  int n = step(L, c, model_idx);
  c->dead = false;
  return n;
}

/* ------------------------------------------------------------------ creation */

static int64_t opt_int(lua_State *L, int opts, const char *key, int64_t def) {
  lua_getfield(L, opts, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  double v = lua_tonumber(L, -1);
  if (lua_type(L, -1) != LUA_TNUMBER || v != floor(v) || fabs(v) > 1e15)
    luaL_error(L, "iter_train_batches: %s must be an integer, got %s", key,
               lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
  lua_pop(L, 1);
  return (int64_t)v;
}

static void check_opts(lua_State *L, int opts) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (!k || (strcmp(k, "batch_size") && strcmp(k, "seq_len") && strcmp(k, "tokenizer")))
      luaL_error(L, "iter_train_batches: unknown option %s (known: batch_size, seq_len, tokenizer)",
                 k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
}

/* Creates the capture from the first call's options; reports `capture`. */
static capture *create_capture(lua_State *L, prism_job *job, int opts) {
  const prism_eval_config *cfg = job->cfg;
  int64_t B = 8, T = cfg->seq_len;
  const char *tok_name = "bytes", *basis = "bytes";
  int kind = TOK_BYTES;
  prism_tokenizer *reft = NULL;
  if (opts) {
    check_opts(L, opts);
    B = opt_int(L, opts, "batch_size", 8);
    T = opt_int(L, opts, "seq_len", cfg->seq_len);
    lua_getfield(L, opts, "tokenizer");
    const char *ref = prism_ctx_tokenizer_name(L, -1);
    if (ref) {
      /* a reference tokenizer encodes in C; its basis is its name ("bytes", "gpt2", "llama"),
       * the basis the held-out then uses too (SPEC §6) */
      tok_name = basis = ref;
      if (strcmp(ref, "bytes") != 0) {
        kind = TOK_REFERENCE;
        reft = prism_ctx_tokenizer(L, -1);
      }
    } else if (lua_isfunction(L, -1)) {
      kind = TOK_FUNCTION;
    } else if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "encode");
      if (lua_isnil(L, -1))
        luaL_error(L, "iter_train_batches: a tokenizer table needs an encode method (tok:encode(text) -> ids)");
      lua_pop(L, 1);
      kind = TOK_OBJECT;
    } else if (!lua_isnil(L, -1)) {
      luaL_error(L, "iter_train_batches: tokenizer must be nil (UTF-8 bytes), ctx:reference_tokenizer(name), a "
                    "function(text) -> ids or an object with :encode(text), got %s",
                 luaL_typename(L, -1));
    }
    if (kind == TOK_FUNCTION || kind == TOK_OBJECT) tok_name = "custom", basis = "tokenizer";
    lua_setfield(L, LUA_REGISTRYINDEX, CAPTURE_TOKENIZER);
  }
  if (B < 1) B = 1;
  if (T < 2) T = 2;
  if (B > (1 << 20) || T > (1 << 24) || B * T > ((int64_t)1 << 26))
    luaL_error(L, "iter_train_batches: batch_size %lld x seq_len %lld is too large", (long long)B, (long long)T);
  capture *c = (capture *)lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  lua_newtable(L);
  lua_pushcfunction(L, capture_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  c->job = job;
  c->B = B;
  c->T = T;
  c->vocab = cfg->vocab_size > 2 ? cfg->vocab_size : 2;
  c->worst_nats = 2.0 * log((double)c->vocab);
  c->tok_kind = kind;
  c->ref = reft;
  c->scored_params = -1;
  c->buf_ids = (int64_t *)malloc((size_t)(B * T) * sizeof *c->buf_ids);
  c->buf_w = (double *)malloc((size_t)(B * T) * sizeof *c->buf_w);
  if (!c->buf_ids || !c->buf_w) luaL_error(L, "prism:resource-oom: iter_train_batches: out of memory for the batch buffer");
  lua_setfield(L, LUA_REGISTRYINDEX, CAPTURE_KEY);
  prism_report_capture(job->report_fd, (int)B, (int)T, tok_name, basis,
                       job->stream ? prism_doc_stream_shard_count(job->stream) : 0,
                       job->stream ? prism_doc_stream_available_bytes(job->stream) : 0);
  return c;
}

int prism_instrument_iter(lua_State *L) {
  prism_job *job = prism_ctx_job(L);
  lua_settop(L, 3);
  prism_sandbox_push_trusted(L, "is_module");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  if (!lua_toboolean(L, -1)) {
    char what[96];
    return luaL_error(L, "iter_train_batches: model must be a prism.nn.Module (the model that is scored), got %s",
                      prism_sandbox_describe(L, 2, what, sizeof what));
  }
  lua_pop(L, 1);
  if (!lua_isnil(L, 3) && !lua_istable(L, 3))
    return luaL_error(L, "iter_train_batches: options must be a table, got %s", luaL_typename(L, 3));
  capture *c = get_capture(L);
  if (!c) c = create_capture(L, job, lua_isnil(L, 3) ? 0 : 3);
  lua_getfield(L, LUA_REGISTRYINDEX, CAPTURE_KEY);
  lua_pushvalue(L, 2);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, iter_next, 3);
  return 1;
}

/* ------------------------------------------------------------------ after train */

static int cmp_pair(const void *a, const void *b) {
  const offset_pair *x = (const offset_pair *)a, *y = (const offset_pair *)b;
  if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void prism_instrument_summary(lua_State *L, prism_capture_summary *out) {
  memset(out, 0, sizeof *out);
  out->scored_params = -1;
  capture *c = get_capture(L);
  if (!c) return;
  out->created = true;
  out->started = c->started;
  out->batches = c->batches;
  out->documents = c->documents;
  out->offsets = (int64_t)c->n_offsets;
  out->tokens = c->tokens;
  out->skipped_lines = c->job->stream ? prism_doc_stream_skipped_lines(c->job->stream) : 0;
  out->stopped_reason = c->stopped;
  out->scored_params = c->scored_params;
  /* Shard names are interned in order, so (shard index, offset) pairs are distinct exactly when
   * (shard name, offset) pairs are. */
  if (c->n_offsets) {
    offset_pair *p = (offset_pair *)malloc(c->n_offsets * sizeof *p);
    if (p) {
      memcpy(p, c->offsets, c->n_offsets * sizeof *p);
      qsort(p, c->n_offsets, sizeof *p, cmp_pair);
      int64_t distinct = 1;
      for (size_t i = 1; i < c->n_offsets; i++) distinct += cmp_pair(&p[i - 1], &p[i]) != 0;
      out->distinct_offsets = distinct;
      free(p);
    } else {
      out->distinct_offsets = -1;
    }
  }
}

void prism_instrument_push_model(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, CAPTURE_MODEL); }

/* test_instrument.c — the scored run (prism_child_run) and its instrument, through the real
 * child job in a forked process and the records it reports: the reference's fixture golden
 * (40 sentences, V=128, T=16, B=1 → 132 batches, 2110 covered bytes, 1978 predicted tokens,
 * data_exhausted), determinism, budgets and stopped reasons, zero-forward, NaN/Inf forwards,
 * the step-0 anomaly signal, single use, the forced init on both build paths, the runtime
 * parameter cap, tokenizers, and the trained-state artifact. */
#include "child_harness.h"

#include <fcntl.h>

#include "safetensors.h"

#define TRAIN_NOOP(OPTS)                                                   \
  "local M = {}\n"                                                         \
  "function M.train(ctx)\n"                                                \
  "  local model = ctx:build_model()\n"                                    \
  "  for batch in ctx:iter_train_batches(model, " OPTS ") do end\n"       \
  "end\n"                                                                  \
  "return M\n"

static void test_golden(void) {
  prism_bundle *b = h_bundle(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(40));
  prism_run_record r;
  int rc = h_job(JOB_RUN, &cfg, &r, NULL);
  check(rc == 0 && !r.failure.rule_id[0], "golden: run succeeds", "rc %d, failure %s %s", rc, r.failure.rule_id,
        r.failure.message);
  check(r.n_batches == 132, "golden: 132 batches", "got %zu", r.n_batches);
  check(r.covered_bytes == 2110.0, "golden: covered_bytes 2110", "got %.17g", r.covered_bytes);
  check(r.predicted_tokens == 1978, "golden: predicted_tokens 1978", "got %lld", (long long)r.predicted_tokens);
  check(!strcmp(r.stopped_reason, "data_exhausted"), "golden: stopped data_exhausted", "got '%s'", r.stopped_reason);
  check(r.capture_started && r.batch_size == 1 && r.seq_len == 16 && !strcmp(r.train_bpb_basis, "bytes") &&
            r.shard_count == 1 && r.available_bytes > 2110,
        "golden: capture record", "B %d T %d basis %s shards %d avail %lld", r.batch_size, r.seq_len, r.train_bpb_basis,
        r.shard_count, (long long)r.available_bytes);
  check(r.consumed_documents == 40 && r.consumed_offsets == 40 && r.distinct_offsets == 40 && r.consumed_tokens == 2110,
        "golden: documents/offsets/tokens", "%lld %lld %lld %lld", (long long)r.consumed_documents,
        (long long)r.consumed_offsets, (long long)r.distinct_offsets, (long long)r.consumed_tokens);
  check(r.model_params == 128 * 8 + 8 * 128 + 128, "golden: scored model params 2176", "got %lld", (long long)r.model_params);
  double lnv = log(128.0);
  check(r.n_batches > 0 && r.online_loss[0] >= 0.5 * lnv && r.online_loss[0] <= 2.5 * lnv, "golden: step-0 loss near ln V",
        "got %g", r.n_batches ? r.online_loss[0] : NAN);
  double first = 0, last = 0;
  for (int i = 0; i < 10; i++) first += r.online_loss[i], last += r.online_loss[r.n_batches - 1 - i];
  check(last < first, "golden: the learner's last losses are below its first", "first10 %g last10 %g", first, last);
  check(r.nan_inf_batches == 0 && r.finished && r.trained_state_saved && r.peak_rss_bytes > 0 && r.wall_clock_seconds >= 0,
        "golden: done record", "nan %lld finished %d saved %d rss %lld", (long long)r.nan_inf_batches, r.finished,
        r.trained_state_saved, (long long)r.peak_rss_bytes);
  /* trained_state.safetensors: the scored model's parameters, in registration order */
  char err[256];
  int dfd = open(cfg.artifacts_dir, O_RDONLY | O_DIRECTORY);
  prism_st_file *f = prism_safetensors_open_at(dfd, "trained_state.safetensors", err, sizeof err);
  close(dfd);
  check(f && prism_safetensors_count(f) == 3 && !strcmp(prism_safetensors_name(f, 0), "emb.weight") &&
            !strcmp(prism_safetensors_name(f, 1), "head.weight") && !strcmp(prism_safetensors_name(f, 2), "head.bias"),
        "golden: trained_state.safetensors holds emb.weight, head.weight, head.bias in order", "%s", f ? "names differ" : err);
  prism_safetensors_close(f);

  prism_run_record r2;
  h_job(JOB_RUN, &cfg, &r2, NULL);
  int same = r2.n_batches == r.n_batches;
  for (size_t i = 0; same && i < r.n_batches; i++) same = memcmp(&r.online_loss[i], &r2.online_loss[i], sizeof(double)) == 0;
  check(same && r.sum_nll_nats == r2.sum_nll_nats, "golden: a second run gives bitwise identical online losses", "differ");
  prism_run_record_free(&r);
  prism_run_record_free(&r2);
}

static prism_run_record run_with(const char *arch, const char *train, prism_eval_config *cfg_out, const char *data,
                                 void (*tweak)(prism_eval_config *)) {
  prism_bundle *b = h_bundle(arch, train, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, data);
  if (tweak) tweak(&cfg);
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  if (cfg_out) *cfg_out = cfg;
  return r;
}

static void tok80(prism_eval_config *c) { c->token_budget = 80; c->step_budget = 10000; c->time_budget = 3600; }
static void step3(prism_eval_config *c) { c->step_budget = 3; }
static void tok0(prism_eval_config *c) { c->token_budget = 0; }
static void step0(prism_eval_config *c) { c->step_budget = 0; }
static void time03(prism_eval_config *c) { c->time_budget = 0.3; }

static void test_budgets(void) {
  prism_run_record r = run_with(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL, h_data(80), tok80);
  check(!r.failure.rule_id[0] && !strcmp(r.stopped_reason, "token_budget") && r.n_batches == 5 && r.consumed_tokens == 80 &&
            r.distinct_offsets == r.consumed_offsets && r.consumed_documents == 2,
        "budget: token_budget 80 -> 5 batches, stopped token_budget", "fail '%s' stopped '%s' batches %zu tokens %lld docs %lld",
        r.failure.rule_id, r.stopped_reason, r.n_batches, (long long)r.consumed_tokens, (long long)r.consumed_documents);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL, h_data(40), step3);
  check(!r.failure.rule_id[0] && !strcmp(r.stopped_reason, "step_budget") && r.n_batches == 3,
        "budget: step_budget 3 -> exactly 3 batches, stopped step_budget", "stopped '%s' batches %zu", r.stopped_reason,
        r.n_batches);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL, h_data(40), tok0);
  check(!strcmp(r.failure.rule_id, "prism:zero-forward") && r.have_summary && !strcmp(r.stopped_reason, "token_budget") &&
            r.n_batches == 0 && r.consumed_documents == 1 && r.consumed_tokens == 0,
        "budget: token_budget 0 -> no batch (the first document is still pulled), zero-forward",
        "fail '%s' stopped '%s' batches %zu docs %lld", r.failure.rule_id, r.stopped_reason, r.n_batches,
        (long long)r.consumed_documents);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL, h_data(40), step0);
  check(!strcmp(r.failure.rule_id, "prism:zero-forward") && !strcmp(r.stopped_reason, "step_budget") && r.n_batches == 0,
        "budget: step_budget 0 -> zero-forward", "fail '%s' stopped '%s'", r.failure.rule_id, r.stopped_reason);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL, h_data(12), NULL);
  check(!r.failure.rule_id[0] && !strcmp(r.stopped_reason, "data_exhausted") && r.distinct_offsets == 12,
        "budget: 12 lines without budgets -> data_exhausted", "stopped '%s'", r.stopped_reason);
  prism_run_record_free(&r);

  /* A slow loop (50 ms per batch) against a 0.3 s graceful budget: the partial stream is scored. */
  const char *slow = "local M = {}\n"
                     "function M.train(ctx)\n"
                     "  local model = ctx:build_model()\n"
                     "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do\n"
                     "    local t0 = os.clock(); while os.clock() - t0 < 0.05 do end\n"
                     "  end\n"
                     "end\n"
                     "return M\n";
  r = run_with(ARCH_TINY, slow, NULL, h_data(40), time03);
  check(!r.failure.rule_id[0] && !strcmp(r.stopped_reason, "wall_clock") && r.n_batches >= 1 && r.n_batches < 132,
        "budget: time_budget 0.3 s -> stopped wall_clock with a partial stream", "fail '%s' stopped '%s' batches %zu",
        r.failure.rule_id, r.stopped_reason, r.n_batches);
  prism_run_record_free(&r);
}

static void test_early_break(void) {
  const char *brk = "local M = {}\n"
                    "function M.train(ctx)\n"
                    "  local model = ctx:build_model()\n"
                    "  local n = 0\n"
                    "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do\n"
                    "    n = n + 1; if n == 2 then break end\n"
                    "  end\n"
                    "end\n"
                    "return M\n";
  prism_run_record r = run_with(ARCH_TINY, brk, NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.have_summary && r.stopped_reason[0] == '\0' && r.n_batches == 2,
        "stopped_reason: a loop that breaks early -> null", "fail '%s' stopped '%s' batches %zu", r.failure.rule_id,
        r.stopped_reason, r.n_batches);
  prism_run_record_free(&r);
  /* Breaking on the tail batch: data_exhausted is only set when the loop asks past the end. */
  const char *tail = "local M = {}\n"
                     "function M.train(ctx)\n"
                     "  local model = ctx:build_model()\n"
                     "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do\n"
                     "    if batch.tokens:size(1) == 1 and batch.tokens:size(2) == 14 then break end\n"
                     "  end\n"
                     "end\n"
                     "return M\n";
  r = run_with(ARCH_TINY, tail, NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.n_batches == 132 && r.stopped_reason[0] == '\0' && r.predicted_tokens == 1978,
        "stopped_reason: the [1, 14] tail is emitted; breaking on it leaves null", "batches %zu stopped '%s' predicted %lld",
        r.n_batches, r.stopped_reason, (long long)r.predicted_tokens);
  prism_run_record_free(&r);
}

static void test_zero_forward(void) {
  const char *idle = "local M = {}\nfunction M.train(ctx) local m = ctx:build_model() end\nreturn M\n";
  prism_bundle *b = h_bundle(ARCH_TINY, idle, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  h_write(cfg.artifacts_dir, "trained_state.safetensors", "miner bytes");
  h_write(cfg.artifacts_dir, "prism_run_manifest.v2.json", "{\"score\": 1}");
  h_write(cfg.artifacts_dir, "prism_run_manifest-mine.json", "{}");
  h_write(cfg.artifacts_dir, "keep.txt", "kept");
  prism_run_record r;
  int rc = h_job(JOB_RUN, &cfg, &r, NULL);
  check(rc != 0 && !strcmp(r.failure.rule_id, "prism:zero-forward") && r.have_summary && r.n_batches == 0 &&
            !r.capture_started && r.finished && !r.trained_state_saved,
        "zero-forward: a train that never iterates fails prism:zero-forward after its summary",
        "rc %d fail '%s' summary %d batches %zu", rc, r.failure.rule_id, r.have_summary, r.n_batches);
  check(!h_exists(cfg.artifacts_dir, "trained_state.safetensors") && !h_exists(cfg.artifacts_dir, "prism_run_manifest.v2.json") &&
            !h_exists(cfg.artifacts_dir, "prism_run_manifest-mine.json") && h_exists(cfg.artifacts_dir, "keep.txt"),
        "zero-forward: the miner's trained_state and manifests are deleted, other files kept", "artifacts not cleaned");
  prism_run_record_free(&r);

  /* A symlink planted at trained_state.safetensors is removed itself; its target is untouched. */
  b = h_bundle(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL);
  h_config(&cfg, b, h_data(10));
  char *outside = h_tmpdir();
  h_write(outside, "target.bin", "precious");
  char target[1024], link[1024];
  snprintf(target, sizeof target, "%s/target.bin", outside);
  snprintf(link, sizeof link, "%s/trained_state.safetensors", cfg.artifacts_dir);
  check(symlink(target, link) == 0, "setup: symlink", "symlink failed");
  rc = h_job(JOB_RUN, &cfg, &r, NULL);
  char *kept = h_read(outside, "target.bin");
  struct stat st;
  check(rc == 0 && r.trained_state_saved && kept && !strcmp(kept, "precious") && lstat(link, &st) == 0 && S_ISREG(st.st_mode),
        "trained state: a planted symlink is replaced by the runtime's regular file, its target untouched",
        "rc %d saved %d target '%s'", rc, r.trained_state_saved, kept ? kept : "(gone)");
  free(kept);
  prism_run_record_free(&r);
}

static void test_nan_inf(void) {
  const char *arch = "local nn = require('prism.nn')\n"
                     "local M = {}\n"
                     "local Bad = nn.Module:extend('Bad')\n"
                     "function Bad:init(V) self.emb = nn.Embedding(V, 8); self.head = nn.Linear(8, V) end\n"
                     "function Bad:forward(t) return self.head(self.emb(t)) * math.huge end\n"
                     "function M.build_model(ctx) return Bad(ctx.vocab_size) end\n"
                     "return M\n";
  prism_run_record r = run_with(arch, TRAIN_NOOP("{batch_size = 1, seq_len = 16}"), NULL, h_data(10), NULL);
  double worst = 2.0 * log(128.0);
  int all = r.n_batches > 0;
  for (size_t i = 0; i < r.n_batches; i++) all = all && r.online_loss[i] == worst;
  check(!r.failure.rule_id[0] && all && r.nan_inf_batches == (int64_t)r.n_batches,
        "nan/inf: a forward that returns Inf records 2 ln V for every batch and counts it",
        "fail '%s' batches %zu nan_inf %lld first %g", r.failure.rule_id, r.n_batches, (long long)r.nan_inf_batches,
        r.n_batches ? r.online_loss[0] : NAN);
  prism_run_record_free(&r);
}

static void test_step0_anomaly(void) {
  const char *arch = "local prism = require('prism')\n"
                     "local nn = require('prism.nn')\n"
                     "local M = {}\n"
                     "local Smug = nn.Module:extend('Smug')\n"
                     "function Smug:init(V)\n"
                     "  self.emb = nn.Embedding(V, 8); self.head = nn.Linear(8, V)\n"
                     "  self.bias = nn.Parameter(prism.zeros(V))\n"
                     "  local b = self.bias\n"
                     "  prism.no_grad(function() b:narrow(1, 98, 1):fill_(50) end)  -- logit of 'a' (97)\n"
                     "end\n"
                     "function Smug:forward(t) return self.head(self.emb(t)) + self.bias end\n"
                     "function M.build_model(ctx) return Smug(ctx.vocab_size) end\n"
                     "return M\n";
  char *data = h_tmpdir();
  char line[600] = "{\"id\":\"a\",\"text\":\"";
  for (int i = 0; i < 400; i++) strcat(line, "a");
  strcat(line, "\"}\n");
  h_write(data, "train-00000.jsonl", line);
  prism_run_record r = run_with(arch, TRAIN_NOOP("{batch_size = 1, seq_len = 16}"), NULL, data, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0 && r.online_loss[0] < 0.5 * log(128.0),
        "step-0 anomaly: a smuggled bias on 400 x 'a' gives a first loss below 0.5 ln V", "fail '%s' first %g",
        r.failure.rule_id, r.n_batches ? r.online_loss[0] : NAN);
  prism_run_record_free(&r);
}

static void test_single_use(void) {
  const char *train = "local M = {}\n"
                      "function M.train(ctx)\n"
                      "  local model = ctx:build_model()\n"
                      "  local it1 = ctx:iter_train_batches(model, {batch_size = 2, seq_len = 8})\n"
                      "  local it2 = ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16})\n"
                      "  local n2 = 0\n"
                      "  for b in it2 do\n"
                      "    assert(b.tokens:size(1) == 2 or b.tokens:size(1) == 1, 'rows')\n"
                      "    if b.tokens:size(1) == 2 then assert(b.tokens:size(2) == 8, 'first call opts stick') end\n"
                      "    assert(b.tokens.dtype == 'int64')\n"
                      "    n2 = n2 + 1\n"
                      "  end\n"
                      "  local n1 = 0\n"
                      "  for b in it1 do n1 = n1 + 1 end\n"
                      "  assert(n1 == 0 and n2 > 0, 'only the first started iterator yields')\n"
                      "  for b in ctx:iter_train_batches(model) do error('a later iterator yielded') end\n"
                      "end\n"
                      "return M\n";
  prism_run_record r = run_with(ARCH_TINY, train, NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.batch_size == 2 && r.seq_len == 8 && r.n_batches == 2110 / 16 + 1,
        "single use: the first call's options stick, later iterators yield nothing", "fail '%s' %s B %d T %d batches %zu",
        r.failure.rule_id, r.failure.message, r.batch_size, r.seq_len, r.n_batches);
  prism_run_record_free(&r);
}

static void test_forced_init(void) {
  const char *variants[] = {
      TRAIN_NOOP("{batch_size = 1, seq_len = 16}"),
      "local prism = require('prism')\n"
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  math.random(); math.random(10); local noise = prism.randn(7)\n"
      "  local model = ctx:build_model()\n"
      "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n",
      "local prism = require('prism')\n"
      "local arch = require('architecture')\n"
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  for i = 1, 5 do math.random() end; prism.rand(3)\n"
      "  assert(require('architecture') == arch, 'one module instance')\n"
      "  local model = arch.build_model(ctx)\n"
      "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n",
  };
  prism_run_record r[3];
  for (int i = 0; i < 3; i++) r[i] = run_with(ARCH_TINY, variants[i], NULL, h_data(10), step3);
  int ok = 1;
  for (int i = 0; i < 3; i++) ok = ok && !r[i].failure.rule_id[0] && r[i].n_batches == 3;
  for (int i = 1; ok && i < 3; i++) ok = memcmp(r[0].online_loss, r[i].online_loss, 3 * sizeof(double)) == 0;
  check(ok, "forced init: random draws before ctx:build_model or require('architecture').build_model change nothing",
        "%s %s / %s %s", r[1].failure.rule_id, r[1].failure.message, r[2].failure.rule_id, r[2].failure.message);
  for (int i = 0; i < 3; i++) prism_run_record_free(&r[i]);
}

static void cap50k(prism_eval_config *c) { c->max_params = 50000; }

static void test_param_cap(void) {
  const char *inline_big = "local nn = require('prism.nn')\n"
                           "local M = {}\n"
                           "function M.train(ctx)\n"
                           "  local model = nn.Sequential(nn.Embedding(ctx.vocab_size, 500), nn.Linear(500, ctx.vocab_size))\n"
                           "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do end\n"
                           "end\n"
                           "return M\n";
  prism_run_record r = run_with(ARCH_TINY, inline_big, NULL, h_data(10), cap50k);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") && r.n_batches == 0 &&
            strstr(r.failure.message, "scored model has 128,128 parameters, exceeding the 50,000 parameter cap"),
        "param cap: an inline over-cap model in training.lua fails prism:param-cap at run time", "fail '%s' '%s'",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
  const char *swallowed = "local nn = require('prism.nn')\n"
                          "local M = {}\n"
                          "function M.train(ctx)\n"
                          "  local model = nn.Sequential(nn.Embedding(ctx.vocab_size, 500), nn.Linear(500, ctx.vocab_size))\n"
                          "  pcall(function() for batch in ctx:iter_train_batches(model) do end end)\n"
                          "  local small = ctx:build_model()\n"
                          "  for batch in ctx:iter_train_batches(small) do end\n"
                          "end\n"
                          "return M\n";
  r = run_with(ARCH_TINY, swallowed, NULL, h_data(10), cap50k);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") && r.n_batches == 0,
        "param cap: catching the error does not help (the capture is dead and the failure stands)", "fail '%s'",
        r.failure.rule_id);
  prism_run_record_free(&r);
  const char *lazy = "local nn = require('prism.nn')\n"
                     "local M = {}\n"
                     "local Lazy = nn.Module:extend('Lazy')\n"
                     "function Lazy:init(V) self.emb = nn.Embedding(V, 8); self.head = nn.Linear(8, V) end\n"
                     "function Lazy:forward(t)\n"
                     "  if not self.extra then self.extra = nn.Linear(8, 8000) end\n"
                     "  return self.head(self.emb(t))\n"
                     "end\n"
                     "function M.build_model(ctx) return Lazy(ctx.vocab_size) end\n"
                     "return M\n";
  r = run_with(lazy, TRAIN_NOOP("{batch_size = 1, seq_len = 16}"), NULL, h_data(10), cap50k);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") && r.n_batches == 0 && strstr(r.failure.message, "74,176"),
        "param cap: parameters created by the first forward are caught before the batch is recorded",
        "fail '%s' '%s' batches %zu", r.failure.rule_id, r.failure.message, r.n_batches);
  prism_run_record_free(&r);
}

#define TRAIN_TOK(TOK)                                                                        \
  "local M = {}\n"                                                                            \
  "function M.train(ctx)\n"                                                                   \
  "  local model = ctx:build_model()\n"                                                       \
  "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16, tokenizer = " TOK "}) do end\n" \
  "end\n"                                                                                     \
  "return M\n"

/* An explicit staged dir that does not exist, so the check holds wherever files are staged. */
static void no_tokdir(prism_eval_config *c) { c->tokenizers_dir = "/nonexistent/prism-reference-tokenizers"; }

static void test_tokenizers(void) {
  /* Word lengths as ids: 8 words per sentence, 320 tokens = 20 full windows; each token weighs
   * doc_bytes / 8, so the covered bytes still add up to the 2110 bytes of the 40 documents. */
  prism_run_record r = run_with(ARCH_TINY,
                                TRAIN_TOK("function(text) local ids = {} for w in text:gmatch('%S+') do ids[#ids + 1] = #w end return ids end"),
                                NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.n_batches == 20 && r.predicted_tokens == 300 && fabs(r.covered_bytes - 2110) < 1e-9 &&
            !strcmp(r.tokenizer, "custom") && !strcmp(r.train_bpb_basis, "tokenizer") && r.consumed_tokens == 320,
        "tokenizer: a Lua function, byte weights doc_bytes/doc_tokens, basis tokenizer",
        "fail '%s' %s batches %zu predicted %lld covered %.17g tok %s basis %s", r.failure.rule_id, r.failure.message,
        r.n_batches, (long long)r.predicted_tokens, r.covered_bytes, r.tokenizer, r.train_bpb_basis);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_TOK("{encode = function(self, text) return {1, 2, 3} end}"), NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.consumed_tokens == 120 && r.n_batches == 8 && !strcmp(r.tokenizer, "custom"),
        "tokenizer: an object with :encode(text)", "fail '%s' %s tokens %lld batches %zu", r.failure.rule_id,
        r.failure.message, (long long)r.consumed_tokens, r.n_batches);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_TOK("function(text) return {5, -1} end"), NULL, h_data(40), NULL);
  check(!strcmp(r.failure.rule_id, "prism:runtime-error") && strstr(r.failure.message, "train-00000.jsonl line 1") &&
            strstr(r.failure.message, "-1"),
        "tokenizer: a negative id is an error naming the document", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, TRAIN_TOK("function(text) return {1.5} end"), NULL, h_data(40), NULL);
  check(!strcmp(r.failure.rule_id, "prism:runtime-error") && strstr(r.failure.message, "1.5"),
        "tokenizer: a non-integer id is an error", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  prism_run_record plain = run_with(ARCH_TINY, TRAIN_NOOP("{batch_size = 1, seq_len = 16}"), NULL, h_data(40), NULL);
  r = run_with(ARCH_TINY, TRAIN_TOK("ctx:reference_tokenizer('bytes')"), NULL, h_data(40), NULL);
  check(!r.failure.rule_id[0] && r.n_batches == plain.n_batches && !strcmp(r.tokenizer, "bytes") &&
            !strcmp(r.train_bpb_basis, "bytes") &&
            memcmp(r.online_loss, plain.online_loss, r.n_batches * sizeof(double)) == 0,
        "tokenizer: reference 'bytes' equals the default byte stream", "fail '%s' %s", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
  prism_run_record_free(&plain);

  r = run_with(ARCH_TINY, TRAIN_TOK("ctx:reference_tokenizer('gpt2')"), NULL, h_data(40), no_tokdir);
  check(!strcmp(r.failure.rule_id, "prism:tokenizer-missing") && strstr(r.failure.message, "gpt2") &&
            !strcmp(r.failure.file, "training.lua") && r.failure.line == 4,
        "tokenizer: gpt2 without staged files fails prism:tokenizer-missing at training.lua:4", "fail '%s' %s:%d '%s'",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);
}

static void test_errors(void) {
  const char *boom = "local M = {}\n"
                     "function M.train(ctx)\n"
                     "  local model = ctx:build_model()\n"
                     "  local x = nil\n"
                     "  return x.field\n"
                     "end\n"
                     "return M\n";
  prism_run_record r = run_with(ARCH_TINY, boom, NULL, h_data(10), NULL);
  check(!strcmp(r.failure.rule_id, "prism:runtime-error") && !strcmp(r.failure.file, "training.lua") && r.failure.line == 5 &&
            strstr(r.failure.message, "stack traceback") && r.have_summary,
        "errors: a Lua error in train -> prism:runtime-error at training.lua:5 with a traceback", "fail '%s' %s:%d '%s'",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  /* An error raised inside the stdlib points at the submission's call. */
  const char *shape = "local prism = require('prism')\n"
                      "local M = {}\n"
                      "function M.train(ctx)\n"
                      "  local a = prism.ones(2, 3)\n"
                      "  local b = a:matmul(prism.ones(4, 5))\n"
                      "end\n"
                      "return M\n";
  r = run_with(ARCH_TINY, shape, NULL, h_data(10), NULL);
  check(!strcmp(r.failure.rule_id, "prism:runtime-error") && !strcmp(r.failure.file, "training.lua") && r.failure.line == 5,
        "errors: a shape error inside a tensor op points at training.lua:5", "fail '%s' %s:%d '%s'", r.failure.rule_id,
        r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, "local M = {}\nfunction M.train(ctx)\n  local = 3\nend\nreturn M\n", NULL, h_data(10), NULL);
  check(!strcmp(r.failure.rule_id, "prism:syntax") && !strcmp(r.failure.file, "training.lua") && r.failure.line == 3,
        "errors: a syntax error in training.lua -> prism:syntax at training.lua:3", "fail '%s' %s:%d '%s'", r.failure.rule_id,
        r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  r = run_with(ARCH_TINY, "local M = {}\nfunction M.fit(ctx) end\nreturn M\n", NULL, h_data(10), NULL);
  check(!strcmp(r.failure.rule_id, "prism:contract") && strstr(r.failure.message, "missing train"),
        "errors: training.lua without train -> prism:contract", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  /* A global train function is accepted, as is a chunk that returns nothing. */
  r = run_with(ARCH_TINY,
               "function train(ctx)\n  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\nend\n",
               NULL, h_data(10), NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "contract: train defined as a global function", "fail '%s' '%s'",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  char *empty = h_tmpdir();
  r = run_with(ARCH_TINY, TRAIN_NOOP("{}"), NULL, empty, NULL);
  check(!strcmp(r.failure.rule_id, "prism:data-missing") && strstr(r.failure.message, "no random-token fallback") &&
            !r.have_summary && r.n_batches == 0,
        "data: an empty train directory -> prism:data-missing before any Lua runs", "fail '%s' '%s'", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);
}

static void test_data_stream(void) {
  /* Blank, malformed and text-less lines are skipped and counted; two shards are read in order. */
  char *data = h_tmpdir();
  h_write(data, "train-00000.jsonl",
          "{\"id\":\"a\",\"text\":\"first document\"}\n"
          "\n"
          "not json at all\n"
          "{\"id\":\"b\"}\n"
          "{\"id\":\"c\",\"text\":\"\"}\n"
          "{\"id\":\"d\",\"text\":\"second document\"}\n");
  h_write(data, "train-00001.jsonl",
          "{\"id\":\"e\",\"text\":\"third\"}\n{\"id\":\"f\",\"text\":\"fourth\"}\n{\"id\":\"g\",\"text\":\"fifth\"}\n");
  prism_run_record r = run_with(ARCH_TINY, TRAIN_NOOP("{batch_size = 1, seq_len = 4}"), NULL, data, NULL);
  int64_t bytes = 14 + 15 + 5 + 6 + 5;
  check(!r.failure.rule_id[0] && r.shard_count == 2 && r.consumed_documents == 5 && r.distinct_offsets == 5 &&
            r.consumed_offsets == 5 && r.skipped_lines == 4 && r.consumed_tokens == bytes &&
            r.covered_bytes == (double)(bytes / 4 * 4 + (bytes % 4 >= 2 ? bytes % 4 : 0)),
        "data: skipped lines counted, two shards in order, offsets distinct",
        "fail '%s' shards %d docs %lld distinct %lld skipped %lld tokens %lld covered %g", r.failure.rule_id, r.shard_count,
        (long long)r.consumed_documents, (long long)r.distinct_offsets, (long long)r.skipped_lines,
        (long long)r.consumed_tokens, r.covered_bytes);
  int increasing = 1;
  for (size_t i = 1; i < r.n_batches; i++) increasing = increasing && r.covered_bytes_cumulative[i] > r.covered_bytes_cumulative[i - 1];
  check(increasing && r.n_batches == 11, "data: covered_bytes_cumulative strictly increasing, one entry per batch",
        "batches %zu", r.n_batches);
  prism_run_record_free(&r);

  /* Invalid UTF-8 is a data error naming shard:line, after the batches before it were recorded. */
  data = h_data(10);
  char shard[1100];
  snprintf(shard, sizeof shard, "%s/train-00000.jsonl", data);
  FILE *f = fopen(shard, "ab");
  fputs("{\"id\":\"bad\",\"text\":\"caf\xff\"}\n", f);
  fclose(f);
  r = run_with(ARCH_TINY, TRAIN_NOOP("{batch_size = 1, seq_len = 16}"), NULL, data, NULL);
  check(!strcmp(r.failure.rule_id, "prism:data-invalid") && strstr(r.failure.message, "train-00000.jsonl") &&
            r.n_batches == 32 && r.have_summary,
        "data: invalid UTF-8 -> prism:data-invalid naming the shard, earlier batches kept", "fail '%s' '%s' batches %zu",
        r.failure.rule_id, r.failure.message, r.n_batches);
  prism_run_record_free(&r);
}

int main(void) {
  test_golden();
  test_budgets();
  test_early_break();
  test_zero_forward();
  test_nan_inf();
  test_step0_anomaly();
  test_single_use();
  test_forced_init();
  test_param_cap();
  test_tokenizers();
  test_errors();
  test_data_stream();
  return finish_tests();
}

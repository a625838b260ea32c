/* test_reftok.c — reference tokenizers inside the evaluation (SPEC §3.1, §5, §6): the ctx
 * tokenizer object (:encode, :decode, .vocab_size, .name) and the instrument's C path for it,
 * through the real run and held-out child jobs (tests/unit/child_harness.h). Always: ids a
 * custom Lua tokenizer returns are folded mod vocab (bitwise the same run as ids it folds
 * itself), a custom tokenizer's basis is "tokenizer", the bytes object's basis "bytes", and the
 * held-out stays on bytes unless told otherwise. When GPT-2 is staged (env
 * PRISM_REFERENCE_TOKENIZER_DIR, else the build's default dir): the run records tokenizer and
 * basis "gpt2", consumes exactly the ids tokenizer.h gives for the documents, equals a Lua
 * function returning tok:encode(text) bitwise, decode(encode(x)) == x inside the sandbox, and
 * the held-out told "gpt2" reports val_bpb_basis "gpt2" with finite values; otherwise those
 * checks print "skipped: ..." and are not counted. */
#include "child_harness.h"

#include "tokenizer/tokenizer.h"

#define TRAIN_TOK(TOK)                                                                                          \
  "local M = {}\n"                                                                                              \
  "function M.train(ctx)\n"                                                                                     \
  "  local model = ctx:build_model()\n"                                                                         \
  "  for batch in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16, tokenizer = " TOK "}) do end\n" \
  "end\n"                                                                                                       \
  "return M\n"

static const char *g_tokdir;

static void with_tokdir(prism_eval_config *c) { c->tokenizers_dir = g_tokdir; }

static prism_run_record run_tok(const char *train, const char *data, prism_eval_config *cfg_out) {
  prism_bundle *b = h_bundle(ARCH_TINY, train, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, data);
  with_tokdir(&cfg);
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  if (cfg_out) *cfg_out = cfg;
  return r;
}

static int same_losses(const prism_run_record *a, const prism_run_record *b) {
  return a->n_batches == b->n_batches && a->n_batches > 0 &&
         memcmp(a->online_loss, b->online_loss, a->n_batches * sizeof(double)) == 0;
}

static char *val_dir(void) {
  char *dir = h_tmpdir();
  char buf[8192];
  size_t o = 0;
  for (int i = 0; i < 30; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o,
                          "{\"id\":\"val-%d\",\"text\":\"a held-out sentence, number %d, of the locked val split\"}\n", i, i);
  h_write(dir, "val-00000.jsonl", buf);
  return dir;
}

static void test_custom(void) {
  const char *data = h_data(40);
  /* ids far beyond V = 128, and the same ids folded by the tokenizer itself */
  prism_run_record big = run_tok(TRAIN_TOK("function(text) local ids = {} for i = 1, #text do ids[i] = text:byte(i) + "
                                           "128 * (i % 7) + 1280000 end return ids end"),
                                 data, NULL);
  prism_run_record small = run_tok(TRAIN_TOK("function(text) local ids = {} for i = 1, #text do ids[i] = text:byte(i) % "
                                             "128 end return ids end"),
                                   data, NULL);
  check(!big.failure.rule_id[0] && same_losses(&big, &small),
        "custom: ids >= vocab are folded mod vocab (bitwise the run of the folded ids)", "fail '%s' %s batches %zu/%zu",
        big.failure.rule_id, big.failure.message, big.n_batches, small.n_batches);
  check(!strcmp(big.tokenizer, "custom") && !strcmp(big.train_bpb_basis, "tokenizer"),
        "custom: a Lua tokenizer function records tokenizer custom, basis tokenizer", "tok %s basis %s", big.tokenizer,
        big.train_bpb_basis);
  prism_run_record_free(&big);
  prism_run_record_free(&small);

  prism_run_record r = run_tok(TRAIN_TOK("ctx:reference_tokenizer('BYTES')"), data, NULL);
  check(!r.failure.rule_id[0] && !strcmp(r.tokenizer, "bytes") && !strcmp(r.train_bpb_basis, "bytes"),
        "bytes: the reference bytes object records basis bytes", "fail '%s' %s tok %s basis %s", r.failure.rule_id,
        r.failure.message, r.tokenizer, r.train_bpb_basis);
  prism_run_record_free(&r);

  r = run_tok("local M = {}\n"
              "function M.train(ctx)\n"
              "  local t = ctx:reference_tokenizer('bytes')\n"
              "  assert(t == ctx:reference_tokenizer('bytes'), 'one object per name')\n"
              "  assert(t.name == 'bytes' and t.vocab_size == 256, 'fields')\n"
              "  local ids = t:encode('h\\195\\169')\n"
              "  assert(#ids == 3 and ids[1] == 104 and ids[3] == 169, 'encode')\n"
              "  assert(t:decode(ids) == 'h\\195\\169' and t.decode({104}) == 'h', 'decode')\n"
              "  assert(not pcall(t.decode, t, {256}), 'id 256 refused')\n"
              "  assert(not pcall(function() t.name = 'x' end), 'read-only')\n"
              "  local ok, err = pcall(ctx.reference_tokenizer, ctx, 'gpt3')\n"
              "  assert(not ok and tostring(err):find('unknown reference tokenizer'), 'unknown name')\n"
              "  for batch in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"
              "end\n"
              "return M\n",
              data, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "bytes: the ctx tokenizer object's fields, encode, decode, errors",
        "fail '%s' %s", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  /* the held-out without a runtime tokenizer basis stays on bytes */
  prism_eval_config cfg;
  r = run_tok(TRAIN_TOK("function(text) return {1, 2, 3} end"), data, &cfg);
  prism_run_record_free(&r);
  cfg.val_dir = val_dir();
  cfg.heldout_tokenizer = NULL;
  h_job(JOB_HELDOUT, &cfg, &r, NULL);
  check(r.have_heldout && !strcmp(r.val_bpb_basis, "bytes") && isfinite(r.val_bpb_trained),
        "held-out: no runtime tokenizer basis -> val_bpb_basis bytes", "have %d basis '%s' skip '%s'", r.have_heldout,
        r.val_bpb_basis, r.heldout_skip);
  prism_run_record_free(&r);
}

static void test_gpt2(void) {
  const char *data = h_data(40);
  prism_failure err;
  prism_tokenizer *t = prism_tokenizer_open("gpt2", g_tokdir, &err);
  check(t != NULL, "gpt2: the staged tokenizer opens", "%s: %s", err.rule_id, err.message);
  if (!t) return;
  /* the ids tokenizer.h gives for the 40 documents */
  int64_t *ids = NULL;
  size_t n = 0, cap = 0;
  for (int i = 0; i < 40; i++) {
    char text[128];
    int len = snprintf(text, sizeof text, "the locked fineweb-edu train split sample sentence %d", i);
    if (prism_tokenizer_encode(t, text, (size_t)len, &ids, &n, &cap, &err) != 0) break;
  }
  free(ids);
  prism_tokenizer_free(t);

  prism_eval_config cfg;
  prism_run_record r = run_tok(TRAIN_TOK("ctx:reference_tokenizer('gpt2')"), data, &cfg);
  check(!r.failure.rule_id[0] && !strcmp(r.tokenizer, "gpt2") && !strcmp(r.train_bpb_basis, "gpt2"),
        "gpt2: the run records tokenizer gpt2 and basis gpt2", "fail '%s' %s tok %s basis %s", r.failure.rule_id,
        r.failure.message, r.tokenizer, r.train_bpb_basis);
  check(r.consumed_tokens == (int64_t)n && fabs(r.covered_bytes - 2110) < 1e-9,
        "gpt2: consumes exactly tokenizer.h's ids; byte weights still cover the 2110 bytes",
        "consumed %lld expected %zu covered %.17g", (long long)r.consumed_tokens, n, r.covered_bytes);
  prism_run_record lua = run_tok(TRAIN_TOK("(function() local t = ctx:reference_tokenizer('gpt2') return function(text) "
                                           "local ids = t:encode(text) assert(t:decode(ids) == text) return ids end end)()"),
                                 data, NULL);
  check(!lua.failure.rule_id[0] && same_losses(&r, &lua) && !strcmp(lua.train_bpb_basis, "tokenizer"),
        "gpt2: the C path equals tok:encode from Lua bitwise; decode(encode(x)) == x in the sandbox",
        "fail '%s' %s batches %zu/%zu", lua.failure.rule_id, lua.failure.message, r.n_batches, lua.n_batches);
  prism_run_record_free(&lua);
  prism_run_record_free(&r);

  cfg.val_dir = val_dir();
  cfg.heldout_tokenizer = "gpt2";
  h_job(JOB_HELDOUT, &cfg, &r, NULL);
  prism_run_record bytes;
  cfg.heldout_tokenizer = NULL;
  h_job(JOB_HELDOUT, &cfg, &bytes, NULL);
  check(r.have_heldout && !strcmp(r.val_bpb_basis, "gpt2") && isfinite(r.val_bpb_trained) && r.val_bpb_trained > 0 &&
            isfinite(r.train_bpb_converged) && bytes.have_heldout && r.val_bpb_trained != bytes.val_bpb_trained,
        "gpt2: the held-out on the gpt2 basis reports val_bpb_basis gpt2, finite, unlike the bytes basis",
        "have %d basis '%s' skip '%s' val %g conv %g bytes %g", r.have_heldout, r.val_bpb_basis, r.heldout_skip,
        r.val_bpb_trained, r.train_bpb_converged, bytes.val_bpb_trained);
  prism_run_record_free(&r);
  prism_run_record_free(&bytes);

  cfg.tokenizers_dir = "/nonexistent/prism-reference-tokenizers";
  cfg.heldout_tokenizer = "gpt2";
  h_job(JOB_HELDOUT, &cfg, &r, NULL);
  check(!r.have_heldout && strstr(r.heldout_skip, "prism:tokenizer-missing"),
        "gpt2: a held-out whose tokenizer is gone is skipped with the reason", "have %d skip '%s'", r.have_heldout,
        r.heldout_skip);
  prism_run_record_free(&r);
}

int main(void) {
  g_tokdir = prism_tokenizer_resolve_dir(NULL);
  test_custom();
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_tokdir, PRISM_TOK_GPT2_RANKS);
  if (access(path, R_OK) == 0) test_gpt2();
  else printf("skipped: gpt2 checks (no staged %s; run scripts/stage-tokenizers %s)\n", path, g_tokdir);
  return finish_tests();
}

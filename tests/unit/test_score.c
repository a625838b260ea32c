/* test_score.c — the one scoring routine (runtime/score.c) against the reference: every golden
 * row of reference §2.7 compared as the printed repr string, the tie-break caps, the docs' spec
 * example, the score-related acceptance cases of reference §7 (tests/test_prism_scoring_*.py,
 * test_prism_reexec_scoring_invariants.py, test_prism_harness_bpb_manifest.py, the held-out merge
 * of §3.5) and the leaderboard ordering and weights (§2.6, SPEC §7.5). */
#include "../../runtime/json.h"
#include "../../runtime/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NAME_WIDTH 70
#include "check.h"

static const char *repr(double v) {
  static char buf[8][64];
  static int slot;
  char *b = buf[slot++ & 7];
  prism_json_format_double(v, b, 64);
  return b;
}

/* The golden manifest of reference §2.7: covered_bytes 1000, sum_nll = bpb·1000·ln 2 (evaluated
 * left to right, as the reference's test helper does), one online loss, no anti-cheat flags. */
static prism_json *golden(double bpb) {
  prism_json *m = prism_json_object(), *me = prism_json_object(), *ol = prism_json_array();
  prism_json_append(ol, prism_json_double(1.0));
  prism_json_set(me, "online_loss", ol);
  prism_json_set(me, "covered_bytes", prism_json_int(1000));
  prism_json_set(me, "sum_neg_log_likelihood_nats", prism_json_double(bpb * 1000 * log(2)));
  prism_json_set(m, "metrics", me);
  prism_json_set(m, "anti_cheat", prism_json_object());
  return m;
}

static prism_json *parse(const char *text) {
  char err[256];
  prism_json *v = prism_json_parse(text, strlen(text), err, sizeof err);
  if (!v) printf("test bug: %s in %s\n", err, text);
  return v;
}

static void mset(prism_json *m, const char *block, const char *key, prism_json *v) {
  prism_json *b = prism_json_get(m, block);
  if (!b) {
    prism_json_set(m, block, prism_json_object());
    b = prism_json_get(m, block);
  }
  prism_json_set(b, key, v);
}

static prism_json *score(const prism_json *m) {
  prism_json *b = NULL;
  char err[512];
  if (prism_score_manifest(m, &b, err, sizeof err) != 0) return NULL;
  return b;
}

static double final_of(const prism_json *m) {
  prism_json *b = score(m);
  double f = b ? prism_json_number(prism_json_get(b, "final_score")) : NAN;
  prism_json_free(b);
  return f;
}

static char *flags_of(const prism_json *b) {
  prism_json *f = prism_json_get(b, "flags");
  return f ? prism_json_write(f, 0) : strdup("(none)");
}

/* Re-scoring a manifest that already carries its score block gives the same block. */
static bool idempotent(prism_json *m, const prism_json *block) {
  prism_json *with = prism_json_clone(m);
  prism_json_set(with, "score", prism_json_clone(block));
  prism_json *again = score(with);
  bool same = again && prism_json_equal(again, block);
  prism_json_free(again);
  prism_json_free(with);
  return same;
}

typedef struct {
  const char *name;
  double bpb;
  double delta, gap, val_trained, converged; /* NAN = absent */
  const char *train_basis, *val_basis;
  const char *want_bpb, *want_final, *want_flags, *want_gap, *want_gap_basis;
} golden_row;

static void test_golden(void) {
  const golden_row rows[] = {
      {"bpb 0.5", 0.5, NAN, NAN, NAN, NAN, NULL, NULL, "0.49999999999999994", "0.6666666666666666", "[]", NULL, NULL},
      {"bpb 1.0, delta 0.8", 1.0, 0.8, NAN, NAN, NAN, NULL, NULL, NULL, "0.5004139880113889", "[]", NULL, NULL},
      {"bpb 1.0, delta 0.1", 1.0, 0.1, NAN, NAN, NAN, NULL, NULL, NULL, "0.5000621371537562", "[]", NULL, NULL},
      {"bpb 5.0, delta -1.0", 5.0, -1.0, NAN, NAN, NAN, NULL, NULL, "5.0", "0.16661382222065252", "[]", NULL, NULL},
      {"bpb 5.03, delta +1.0", 5.03, 1.0, NAN, NAN, NAN, NULL, NULL, "5.03", "0.1658897994256799", "[]", NULL, NULL},
      {"bpb 1.0, delta 0.3, train_heldout_gap 2.5", 1.0, 0.3, 2.5, NAN, NAN, NULL, NULL, NULL, "0.2500908081709637",
       "[\"memorization_gap\"]", "2.5", NULL},
      {"bpb 1.0, val_bpb_trained 2.5 (no bases)", 1.0, NAN, NAN, 2.5, NAN, NULL, NULL, NULL, "0.25",
       "[\"memorization_gap\"]", "1.5", NULL},
      {"same + train basis tokenizer, val basis bytes", 1.0, NAN, NAN, 2.5, NAN, "tokenizer", "bytes", NULL, "0.5", "[]",
       NULL, NULL},
      {"bpb 1.0, val 3.0, converged 0.2, bases tokenizer/bytes", 1.0, NAN, NAN, 3.0, 0.2, "tokenizer", "bytes", NULL,
       "0.25", "[\"memorization_gap\"]", "2.8", "converged"},
      {"bpb 100", 100.0, NAN, NAN, NAN, NAN, NULL, NULL, NULL, "0.009900990099009903", "[\"bpb_out_of_band\"]", NULL,
       NULL},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const golden_row *r = &rows[i];
    prism_json *m = golden(r->bpb);
    if (!isnan(r->delta)) mset(m, "metrics", "heldout_delta", prism_json_double(r->delta));
    if (!isnan(r->gap)) mset(m, "metrics", "train_heldout_gap", prism_json_double(r->gap));
    if (!isnan(r->val_trained)) mset(m, "metrics", "val_bpb_trained", prism_json_double(r->val_trained));
    if (!isnan(r->converged)) mset(m, "metrics", "train_bpb_converged", prism_json_double(r->converged));
    if (r->train_basis) mset(m, "metrics", "train_bpb_basis", prism_json_string(r->train_basis));
    if (r->val_basis) mset(m, "metrics", "val_bpb_basis", prism_json_string(r->val_basis));
    prism_json *b = score(m);
    char name[128], detail[256];
    char *flags = b ? flags_of(b) : strdup("-");
    const prism_json *gap = prism_json_get(b, "train_heldout_gap");
    const char *gap_s = gap ? repr(prism_json_number(gap)) : NULL;
    const char *basis = prism_json_string_value(prism_json_get(b, "gap_basis"));
    const char *final_s = b ? repr(prism_json_number(prism_json_get(b, "final_score"))) : "error";
    const char *bpb_s = b ? repr(prism_json_number(prism_json_get(b, "prequential_bpb"))) : "error";
    bool ok = b && strcmp(final_s, r->want_final) == 0 && strcmp(flags, r->want_flags) == 0 &&
              (!r->want_bpb || strcmp(bpb_s, r->want_bpb) == 0) &&
              (r->want_gap ? gap_s && strcmp(gap_s, r->want_gap) == 0 : gap_s == NULL) &&
              (r->want_gap_basis ? basis && strcmp(basis, r->want_gap_basis) == 0 : basis == NULL) && idempotent(m, b);
    snprintf(name, sizeof name, "golden: %s", r->name);
    snprintf(detail, sizeof detail, "bpb %s final %s flags %s gap %s basis %s", bpb_s, final_s, flags,
             gap_s ? gap_s : "null", basis ? basis : "null");
    check(ok, name, detail);
    free(flags);
    prism_json_free(b);
    prism_json_free(m);
  }
}

static void test_tie_break_caps(void) {
  const struct { double bpb, cap; } caps[] = {{0.3, 1e-3}, {1.0, 6.234e-4}, {2.0, 2.773e-4}, {5.0, 6.939e-5}};
  for (int i = 0; i < 4; i++) {
    double cap = prism_score_tie_break(caps[i].bpb, INFINITY, 1.0); /* tanh(inf) = 1: the cap itself */
    char name[64], detail[64];
    snprintf(name, sizeof name, "tie-break cap at bpb %g is %.4g", caps[i].bpb, caps[i].cap);
    snprintf(detail, sizeof detail, "%s", repr(cap));
    check(fabs(cap - caps[i].cap) <= caps[i].cap * 1e-4 + (i == 0 ? 0 : 5e-8), name, detail);
  }
  check(prism_score_tie_break(0.3, 50.0, 1.0) == 1e-3, "cap bound is exactly 1e-3 at small bpb", "");
  check(prism_score_tie_break(1.0, 0.8, 0.5) < prism_score_tie_break(1.0, 0.8, 1.0), "penalty shrinks the tie-break", "");
  check(prism_score_tie_break(1.0, -0.5, 1.0) < 0, "negative delta gives a negative tie-break", "");
}

static void test_basics(void) {
  /* docs' spec example: sum_nll = 100·ln 2 nats over 200 bytes -> bpb 0.5 -> 1/1.5 */
  prism_json *m = parse("{\"metrics\": {\"covered_bytes\": 200, \"online_loss\": [1.0]}}");
  mset(m, "metrics", "sum_neg_log_likelihood_nats", prism_json_double(100 * log(2)));
  prism_json *b = score(m);
  double bpb = prism_json_number(prism_json_get(b, "prequential_bpb"));
  double fin = prism_json_number(prism_json_get(b, "final_score"));
  char d[128];
  snprintf(d, sizeof d, "bpb %s final %s", repr(bpb), repr(fin));
  check(b && fabs(bpb - 0.5) < 1e-15 && fabs(fin - 1 / 1.5) < 1e-15, "spec example: 100 ln2 nats / 200 bytes -> 0.5 -> 1/1.5", d);
  prism_json_free(b);
  prism_json_free(m);

  m = parse("{\"metrics\": {\"covered_bytes\": 512, \"sum_neg_log_likelihood_nats\": 37, \"online_loss\": [3.7]}}");
  b = score(m);
  bpb = prism_json_number(prism_json_get(b, "prequential_bpb"));
  check(b && fabs(bpb - 37 / log(2) / 512) < 1e-15 && prism_json_number(prism_json_get(b, "sum_neg_log2_likelihood_bits")) ==
                                                          37 * (1 / 0.6931471805599453),
        "37 nats / 512 bytes -> 37/ln2/512, bits by multiplication", repr(bpb));
  /* no compute or wall-clock term in the block */
  bool clean = prism_json_kind_of(prism_json_get(b, "wall_clock_term")) == PRISM_JSON_BOOL &&
               !prism_json_bool_value(prism_json_get(b, "wall_clock_term"));
  for (size_t i = 0; i < prism_json_length(b); i++) {
    const char *k = prism_json_key_at(b, i);
    if (strstr(k, "gpu") || strstr(k, "scaling") || strstr(k, "standardized") ||
        (strstr(k, "wall_clock") && strcmp(k, "wall_clock_term") != 0))
      clean = false;
  }
  check(clean, "block has wall_clock_term false and no gpu/scaling/wall-clock keys", "");
  const char *keys[] = {"schema", "primary_metric", "prequential_bpb", "bits_per_byte", "final_score", "lower_is_better",
                        "covered_bytes", "total_bytes_covered", "sum_neg_log2_likelihood_bits",
                        "cumulative_codelength_bits", "tokens_consumed", "compute_normalization", "wall_clock_term",
                        "anti_cheat_multiplier", "anomaly", "flags", "tie_breaker", "memorization_flag",
                        "memorization_penalty", "miner_reported_ignored"};
  bool all = prism_json_length(b) == sizeof keys / sizeof keys[0];
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) all = all && prism_json_get(b, keys[i]);
  check(all && !strcmp(prism_json_string_value(prism_json_get(b, "schema")), "prism_score.v2") &&
            !strcmp(prism_json_string_value(prism_json_get(b, "compute_normalization")), "tokens_bytes") &&
            !strcmp(prism_json_string_value(prism_json_get(b, "tie_breaker")), "heldout_delta"),
        "block has exactly the reference manifest_score_block keys", "");
  /* a gpu_count or compute block never changes the score */
  double f0 = prism_json_number(prism_json_get(b, "final_score"));
  mset(m, "compute", "gpu_count", prism_json_int(8));
  mset(m, "compute", "wall_clock_seconds", prism_json_double(1.0));
  check(final_of(m) == f0, "gpu_count / wall clock never change final_score", "");
  prism_json_free(b);
  prism_json_free(m);

  /* container path end to end: bits 100, bytes 250 -> bpb 0.4, final 1/1.4 */
  m = parse("{\"metrics\": {\"covered_bytes\": 250, \"online_loss\": [1.0]}}");
  mset(m, "metrics", "sum_neg_log_likelihood_nats", prism_json_double(100 * log(2)));
  b = score(m);
  check(b && fabs(prism_json_number(prism_json_get(b, "prequential_bpb")) - 0.4) < 1e-15 &&
            fabs(prism_json_number(prism_json_get(b, "final_score")) - 1 / 1.4) < 1e-15 &&
            prism_json_int_value(prism_json_get(b, "total_bytes_covered")) == 250,
        "bits 100 over 250 bytes -> bpb 0.4, final 1/1.4, total_bytes_covered 250", "");
  prism_json_free(b);
  prism_json_free(m);

  /* lower bpb -> higher final; same bits and bytes with other token counts -> same bpb */
  prism_json *lo = golden(0.8), *hi = golden(1.2);
  check(final_of(lo) > final_of(hi), "lower bpb gives a higher final score", "");
  mset(lo, "metrics", "predicted_tokens", prism_json_int(100));
  prism_json *lo2 = golden(0.8);
  mset(lo2, "metrics", "predicted_tokens", prism_json_int(9999));
  prism_json *b1 = score(lo), *b2 = score(lo2);
  check(prism_json_equal(prism_json_get(b1, "prequential_bpb"), prism_json_get(b2, "prequential_bpb")) &&
            prism_json_int_value(prism_json_get(b2, "tokens_consumed")) == 9999,
        "token count changes tokens_consumed, never bpb", "");
  prism_json_free(b1), prism_json_free(b2), prism_json_free(lo), prism_json_free(lo2), prism_json_free(hi);

  /* absent held-out -> pure 1/(1+bpb), penalty 1.0, no held-out keys */
  m = golden(2.0);
  b = score(m);
  double bp = prism_json_number(prism_json_get(b, "prequential_bpb"));
  check(prism_json_number(prism_json_get(b, "final_score")) == 1.0 / (1.0 + bp) &&
            prism_json_number(prism_json_get(b, "memorization_penalty")) == 1.0 && !prism_json_get(b, "heldout_delta") &&
            !prism_json_get(b, "val_bpb_trained"),
        "no held-out: final = 1/(1+bpb), penalty 1.0, no held-out keys", "");
  prism_json_free(b);
  prism_json_free(m);
}

static void expect_error(const char *name, prism_json *m, const char *want) {
  prism_json *b = NULL;
  char err[512] = "";
  int rc = prism_score_manifest(m, &b, err, sizeof err);
  check(rc == -1 && !b && strcmp(err, want) == 0, name, err);
  prism_json_free(b);
  prism_json_free(m);
}

static void test_errors(void) {
  expect_error("covered_bytes 0 -> error", parse("{\"metrics\": {\"covered_bytes\": 0, \"sum_neg_log_likelihood_nats\": 5, "
                                                 "\"online_loss\": [1]}}"),
               "prequential scoring requires covered_bytes > 0");
  expect_error("empty online_loss -> error", parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": 5, "
                                                   "\"online_loss\": []}}"),
               "prequential scoring requires a captured online-loss stream");
  expect_error("both reasons joined by '; '", parse("{\"metrics\": {\"online_loss\": \"x\"}, \"data\": {\"covered_bytes\": -3}}"),
               "prequential scoring requires covered_bytes > 0; prequential scoring requires a captured online-loss "
               "stream");
  expect_error("bpb 0 -> error", parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": 0, "
                                       "\"online_loss\": [0]}}"),
               "prequential bpb must be positive");
  /* inf nats cannot be written in JSON; a sum that overflows the bits product is the same case */
  expect_error("infinite bits -> error", parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": "
                                               "1.7e308, \"online_loss\": [1]}}"),
               "prequential bpb is not finite");
  expect_error("missing metrics -> error", parse("{\"data\": {\"covered_bytes\": 10}}"), "v2 manifest is missing a metrics block");
  expect_error("failed run is never scored", parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": 5, "
                                                   "\"online_loss\": [1]}, \"failure\": {\"rule_id\": \"prism:param-cap\"}}"),
               "the run failed (prism:param-cap): a failed run has no score");
  expect_error("non-numeric sum_nll -> error", parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": null, "
                                                     "\"online_loss\": [1]}}"),
               "metrics.sum_neg_log_likelihood_nats is not a number");

  /* covered_bytes: metrics first, then data; non-numbers and bools skipped; truncated */
  prism_json *m = parse("{\"metrics\": {\"covered_bytes\": \"1000\", \"sum_neg_log_likelihood_nats\": 693.1471805599453, "
                        "\"online_loss\": [1]}, \"data\": {\"covered_bytes\": 1000.9}}");
  prism_json *b = score(m);
  check(b && prism_json_int_value(prism_json_get(b, "covered_bytes")) == 1000 &&
            prism_json_kind_of(prism_json_get(b, "covered_bytes")) == PRISM_JSON_INT,
        "covered_bytes: string skipped, data fallback truncated 1000.9 -> 1000", "");
  prism_json_free(b);
  prism_json_free(m);
  m = parse("{\"metrics\": {\"covered_bytes\": true, \"sum_neg_log_likelihood_nats\": 5, \"online_loss\": [1]}}");
  expect_error("covered_bytes true is not a number", m, "prequential scoring requires covered_bytes > 0");
  /* tokens_consumed: predicted_tokens key wins even when null (falsy -> 0) */
  m = parse("{\"metrics\": {\"covered_bytes\": 10, \"sum_neg_log_likelihood_nats\": 5, \"online_loss\": [1], "
            "\"predicted_tokens\": null, \"tokens_seen\": 44}}");
  b = score(m);
  check(prism_json_int_value(prism_json_get(b, "tokens_consumed")) == 0, "predicted_tokens null -> tokens_consumed 0", "");
  prism_json_free(b);
  prism_json_remove(prism_json_get(m, "metrics"), "predicted_tokens");
  b = score(m);
  check(prism_json_int_value(prism_json_get(b, "tokens_consumed")) == 44, "no predicted_tokens -> tokens_seen", "");
  prism_json_free(b);
  prism_json_free(m);
}

static void test_flags(void) {
  prism_json *m = golden(0.2);
  mset(m, "anti_cheat", "step0_anomaly", prism_json_bool(true));
  mset(m, "metrics", "heldout_delta", prism_json_double(0.9));
  prism_json *b = score(m);
  char *f = flags_of(b);
  check(prism_json_number(prism_json_get(b, "final_score")) == 0.0 &&
            prism_json_number(prism_json_get(b, "anti_cheat_multiplier")) == 0.0 &&
            prism_json_bool_value(prism_json_get(b, "anomaly")) && strcmp(f, "[\"step0_anomaly\"]") == 0,
        "step0_anomaly -> flag, multiplier 0, final 0 (bpb 0.2, delta 0.9)", f);
  free(f);
  prism_json_free(b);
  prism_json_free(m);

  m = golden(100.0);
  mset(m, "anti_cheat", "step0_anomaly", prism_json_int(1));
  mset(m, "anti_cheat", "nan_inf_detected", prism_json_bool(true));
  mset(m, "anti_cheat", "memorization_flag", prism_json_string("yes"));
  b = score(m);
  f = flags_of(b);
  check(strcmp(f, "[\"bpb_out_of_band\", \"step0_anomaly\", \"nan_inf_detected\", \"memorization_gap\"]") == 0,
        "flag order: out_of_band, step0, nan_inf, memorization (truthy values)", f);
  free(f);
  prism_json_free(b);
  prism_json_free(m);

  m = golden(1.0);
  mset(m, "metrics", "step0_loss", prism_json_double(0.001));
  mset(m, "anti_cheat", "step0_anomaly", prism_json_bool(false));
  check(final_of(m) > 0.49, "scorer trusts anti_cheat.step0_anomaly, not step0_loss", "");
  prism_json_free(m);

  m = golden(63.9);
  b = score(m);
  f = flags_of(b);
  check(strcmp(f, "[]") == 0, "bpb within the sane band -> no bpb_out_of_band", f);
  free(f);
  prism_json_free(b);
  prism_json_free(m);
}

static prism_json *with_delta(double bpb, double delta) {
  prism_json *m = golden(bpb);
  if (!isnan(delta)) mset(m, "metrics", "heldout_delta", prism_json_double(delta));
  return m;
}

static bool beats(double bpb1, double d1, double bpb2, double d2) {
  prism_json *a = with_delta(bpb1, d1), *b = with_delta(bpb2, d2);
  bool r = final_of(a) > final_of(b);
  prism_json_free(a);
  prism_json_free(b);
  return r;
}

static void test_heldout_ordering(void) {
  prism_json *m = with_delta(1.0, 0.4);
  mset(m, "metrics", "val_bpb_trained", prism_json_double(1.3));
  mset(m, "metrics", "val_bpb_random_init", prism_json_double(1.7));
  prism_json *b = score(m);
  check(prism_json_number(prism_json_get(b, "heldout_delta")) == 0.4 &&
            prism_json_number(prism_json_get(b, "held_out_delta")) == 0.4 &&
            prism_json_number(prism_json_get(b, "val_bpb_trained")) == 1.3 &&
            prism_json_number(prism_json_get(b, "val_bpb_random_init")) == 1.7,
        "held-out fields echoed in the block", "");
  prism_json_free(b);
  prism_json_free(m);
  check(beats(1.0, 0.5, 1.0, 0.2), "equal bpb: larger delta wins", "");
  check(beats(0.50, 0.0, 0.60, 1.0), "0.50/delta 0 beats 0.60/delta 1", "");
  check(beats(5.0, -1.0, 5.03, 1.0), "5.0/delta -1 beats 5.03/delta +1", "");
  check(beats(3.0, 0.0, 4.0, -0.5), "bpb 4/delta -0.5 ranks below bpb 3/delta 0", "");
  prism_json *a = with_delta(1.0, 0.0), *c = with_delta(1.0 + 0.2 * 5e-3, 2.0);
  double fa = final_of(a), fc = final_of(c);
  char d[96];
  snprintf(d, sizeof d, "%s vs %s", repr(fa), repr(fc));
  check(fc - fa <= 1e-3, "within 0.2*eps of bpb a delta-2 run edges ahead by <= 1e-3", d);
  prism_json_free(a);
  prism_json_free(c);

  /* gap 2.5 -> penalty 0.5, flag, below its gap-0.1 twin */
  prism_json *g1 = with_delta(1.0, 0.3), *g2 = with_delta(1.0, 0.3);
  mset(g1, "metrics", "train_heldout_gap", prism_json_double(2.5));
  mset(g2, "metrics", "train_heldout_gap", prism_json_double(0.1));
  prism_json *b1 = score(g1), *b2 = score(g2);
  check(prism_json_number(prism_json_get(b1, "memorization_penalty")) == 0.5 &&
            prism_json_bool_value(prism_json_get(b1, "memorization_flag")) &&
            !prism_json_bool_value(prism_json_get(b2, "memorization_flag")) &&
            prism_json_number(prism_json_get(b1, "final_score")) < prism_json_number(prism_json_get(b2, "final_score")),
        "gap 2.5 -> penalty 0.5 and flag; ranks below the gap 0.1 twin", "");
  prism_json_free(b1), prism_json_free(b2), prism_json_free(g1), prism_json_free(g2);

  /* first non-null wins; a non-number there counts as absent and score is not consulted */
  m = golden(1.0);
  mset(m, "metrics", "heldout_delta", prism_json_null());
  mset(m, "metrics", "held_out_delta", prism_json_double(0.2));
  mset(m, "score", "heldout_delta", prism_json_double(0.9));
  b = score(m);
  check(prism_json_number(prism_json_get(b, "heldout_delta")) == 0.2, "null skipped: metrics.held_out_delta used before score", "");
  prism_json_free(b);
  mset(m, "metrics", "held_out_delta", prism_json_null());
  b = score(m);
  check(prism_json_number(prism_json_get(b, "heldout_delta")) == 0.9, "all metrics null: score.heldout_delta used", "");
  prism_json_free(b);
  mset(m, "metrics", "heldout_delta", prism_json_string("0.5"));
  b = score(m);
  check(!prism_json_get(b, "heldout_delta") && prism_json_number(prism_json_get(b, "final_score")) == prism_score_base(
                                                  prism_json_number(prism_json_get(b, "prequential_bpb"))),
        "first non-null is a string: delta absent, score block not consulted", "");
  prism_json_free(b);
  prism_json_free(m);
}

static void test_basis_gating(void) {
  prism_json *m = golden(1.0);
  mset(m, "metrics", "val_bpb_trained", prism_json_double(2.5));
  mset(m, "metrics", "train_bpb_basis", prism_json_string("tokenizer"));
  mset(m, "metrics", "val_bpb_basis", prism_json_string("bytes"));
  mset(m, "metrics", "train_heldout_gap", prism_json_double(1.5));
  mset(m, "anti_cheat", "memorization_flag", prism_json_bool(true));
  prism_json *b = score(m);
  check(!prism_json_bool_value(prism_json_get(b, "memorization_flag")) && !prism_json_get(b, "train_heldout_gap"),
        "tokenizer vs bytes, no converged: no flag (even explicit), gap null", "");
  prism_json_free(b);
  mset(m, "metrics", "val_bpb_basis", prism_json_string("tokenizer"));
  b = score(m);
  check(prism_json_bool_value(prism_json_get(b, "memorization_flag")), "same basis -> flagged", "");
  prism_json_free(b);
  prism_json_free(m);

  m = golden(1.0);
  mset(m, "metrics", "val_bpb_trained", prism_json_double(2.4));
  mset(m, "metrics", "train_bpb_converged", prism_json_double(0.3));
  mset(m, "metrics", "train_bpb_basis", prism_json_string("tokenizer"));
  mset(m, "metrics", "val_bpb_basis", prism_json_string("bytes"));
  b = score(m);
  check(prism_json_bool_value(prism_json_get(b, "memorization_flag")) &&
            fabs(prism_json_number(prism_json_get(b, "train_heldout_gap")) - 2.1) < 1e-12 &&
            prism_json_number(prism_json_get(b, "train_bpb_converged")) == 0.3 &&
            !strcmp(prism_json_string_value(prism_json_get(b, "gap_basis")), "converged"),
        "converged present: flagged regardless of basis, gap = val - converged", "");
  prism_json_free(b);
  mset(m, "metrics", "val_bpb_trained", prism_json_double(1.4));
  mset(m, "metrics", "train_bpb_converged", prism_json_double(1.2));
  b = score(m);
  check(!prism_json_bool_value(prism_json_get(b, "memorization_flag")), "converged benign (1.4 vs 1.2): not flagged", "");
  prism_json_free(b);
  prism_json_free(m);

  m = golden(1.0);
  mset(m, "metrics", "gap_basis", prism_json_string("converged"));
  mset(m, "metrics", "train_bpb_basis", prism_json_string("tokenizer"));
  mset(m, "metrics", "val_bpb_basis", prism_json_string("bytes"));
  mset(m, "metrics", "train_heldout_gap", prism_json_double(1.01));
  b = score(m);
  check(prism_json_bool_value(prism_json_get(b, "memorization_flag")), "gap_basis \"converged\" alone makes it comparable", "");
  prism_json_free(b);
  mset(m, "metrics", "train_heldout_gap", prism_json_double(1.0));
  b = score(m);
  check(!prism_json_bool_value(prism_json_get(b, "memorization_flag")), "gap exactly 1.0 is not flagged (strict >)", "");
  prism_json_free(b);
  prism_json_free(m);
}

static void test_merge(void) {
  /* a learner with a bytes-basis run: delta > 0, prequential gap */
  prism_json *m = golden(1.5);
  mset(m, "metrics", "train_bpb_basis", prism_json_string("bytes"));
  mset(m, "metrics", "prequential_bpb", prism_json_double(1.5));
  int rc = prism_score_merge_heldout(m, 3.0, 2.0, 4096, NAN, "bytes");
  prism_json *me = prism_json_get(m, "metrics"), *sc = prism_json_get(m, "score");
  check(rc == 0 && prism_json_number(prism_json_get(me, "heldout_delta")) == 1.0 &&
            prism_json_number(prism_json_get(me, "held_out_delta")) == 1.0 &&
            prism_json_kind_of(prism_json_get(me, "val_covered_bytes")) == PRISM_JSON_INT &&
            !strcmp(prism_json_string_value(prism_json_get(me, "gap_basis")), "prequential") &&
            prism_json_number(prism_json_get(me, "train_heldout_gap")) == 0.5 &&
            prism_json_number(prism_json_get(me, "train_val_gap")) == 0.5 &&
            !prism_json_bool_value(prism_json_get(me, "memorization_flag")) &&
            !strcmp(prism_json_string_value(prism_json_get(me, "val_bpb_basis")), "bytes") &&
            prism_json_number(prism_json_get(prism_json_get(m, "anti_cheat"), "memorization_gap")) == 0.5,
        "merge: learner delta 1.0, prequential gap 0.5, not flagged", "");
  prism_json *again = score(m);
  check(sc && prism_json_equal(sc, again) && prism_json_number(prism_json_get(sc, "heldout_delta")) == 1.0,
        "merge: score replaced by the re-scored block (delta echoed)", "");
  prism_json_free(again);
  prism_json_free(m);

  /* train bpb 0.0 -> gap == val_bpb_trained, flagged */
  m = golden(1.0);
  mset(m, "metrics", "prequential_bpb", prism_json_double(0.0));
  prism_score_merge_heldout(m, 3.0, 2.0, 100, NAN, NULL);
  me = prism_json_get(m, "metrics");
  check(prism_json_number(prism_json_get(me, "train_heldout_gap")) == 2.0 &&
            prism_json_bool_value(prism_json_get(me, "memorization_flag")) &&
            prism_json_bool_value(prism_json_get(prism_json_get(m, "anti_cheat"), "memorization_flag")),
        "merge: train_bpb 0.0 -> gap == val_bpb_trained, flagged", "");
  prism_json_free(m);

  /* tokenizer basis, no converged reference: no gap, no flag */
  m = golden(1.0);
  mset(m, "metrics", "train_bpb_basis", prism_json_string("tokenizer"));
  mset(m, "metrics", "prequential_bpb", prism_json_double(0.0));
  prism_score_merge_heldout(m, 3.0, 2.9, 100, NAN, "bytes");
  me = prism_json_get(m, "metrics");
  check(!prism_json_get(me, "train_heldout_gap") && !prism_json_get(me, "gap_basis") &&
            !prism_json_bool_value(prism_json_get(me, "memorization_flag")) &&
            !strcmp(prism_json_string_value(prism_json_get(me, "train_bpb_basis")), "tokenizer"),
        "merge: tokenizer basis vs bytes held-out -> gap null, not flagged", "");
  prism_json_free(m);

  /* ours: a gpt2 run held out on gpt2 compares (SPEC §6) */
  m = golden(1.0);
  mset(m, "metrics", "train_bpb_basis", prism_json_string("gpt2"));
  mset(m, "metrics", "prequential_bpb", prism_json_double(1.0));
  prism_score_merge_heldout(m, 4.0, 2.5, 100, NAN, "gpt2");
  me = prism_json_get(m, "metrics");
  check(prism_json_number(prism_json_get(me, "train_heldout_gap")) == 1.5 &&
            prism_json_bool_value(prism_json_get(prism_json_get(m, "score"), "memorization_flag")),
        "merge: gpt2 run with gpt2 held-out -> prequential gap 1.5, flagged", "");
  prism_json_free(m);

  /* converged reference */
  m = golden(1.0);
  prism_score_merge_heldout(m, 2.0, 1.4, 100, 1.2, "bytes");
  me = prism_json_get(m, "metrics");
  check(!strcmp(prism_json_string_value(prism_json_get(me, "gap_basis")), "converged") &&
            fabs(prism_json_number(prism_json_get(me, "train_heldout_gap")) - 0.2) < 1e-12 &&
            prism_json_number(prism_json_get(me, "train_bpb_converged")) == 1.2 &&
            !prism_json_bool_value(prism_json_get(prism_json_get(m, "score"), "memorization_flag")) &&
            !strcmp(prism_json_string_value(prism_json_get(prism_json_get(m, "score"), "gap_basis")), "converged"),
        "merge: converged 1.2 vs val 1.4 -> gap 0.2 converged, not flagged", "");
  prism_json_free(m);

  /* invalid held-out results leave the manifest untouched */
  m = golden(1.0);
  prism_json *before = prism_json_clone(m);
  bool untouched = prism_score_merge_heldout(m, 0.0, 1.0, 1, NAN, "bytes") == -1 &&
                   prism_score_merge_heldout(m, NAN, 1.0, 1, NAN, "bytes") == -1 &&
                   prism_score_merge_heldout(m, 2.0, INFINITY, 1, NAN, "bytes") == -1 && prism_json_equal(m, before);
  check(untouched, "merge: non-finite or non-positive val bpb -> -1, manifest untouched", "");
  prism_json_free(before);
  prism_json_free(m);

  /* a failed run keeps its (null) score block */
  m = golden(1.0);
  prism_json_set(m, "failure", parse("{\"rule_id\": \"prism:runtime-error\"}"));
  prism_json_set(m, "score", parse("{\"final_score\": null}"));
  prism_score_merge_heldout(m, 3.0, 2.0, 1, NAN, "bytes");
  check(prism_json_kind_of(prism_json_path(m, "score.final_score")) == PRISM_JSON_NULL,
        "merge on a failed run leaves score.final_score null", "");
  prism_json_free(m);
}

/* ------------------------------------------------------------------ leaderboard */

static void lb_fill(prism_lb_entry *e, const char *miner, const char *sid, const char *at, double score) {
  memset(e, 0, sizeof *e);
  e->miner = miner;
  e->submission_id = sid;
  e->accepted_at = at;
  e->final_score = score;
}

static void test_leaderboard(void) {
  prism_lb_entry e[8];
  /* lower bpb wins regardless of commit time */
  lb_fill(&e[0], "m1", "s1", "2024-01-01T00:00:00Z", 1.0 / (1 + 1.2));
  lb_fill(&e[1], "m2", "s2", "2024-06-01T00:00:00Z", 1.0 / (1 + 1.1));
  size_t k = prism_leaderboard_rank(e, 2);
  check(k == 2 && !strcmp(e[0].submission_id, "s2"), "lower bpb wins regardless of commit time", "");
  /* equal score -> earlier accepted_at; equal score and time -> submission_id */
  lb_fill(&e[0], "m1", "b", "2024-02-01T00:00:00Z", 0.5);
  lb_fill(&e[1], "m2", "a", "2024-03-01T00:00:00Z", 0.5);
  lb_fill(&e[2], "m3", "c", "2024-02-01T00:00:00Z", 0.5);
  prism_leaderboard_rank(e, 3);
  check(!strcmp(e[0].submission_id, "b") && !strcmp(e[1].submission_id, "c") && !strcmp(e[2].submission_id, "a"),
        "equal score: earlier accepted_at, then submission_id", "");
  /* scores within eps/100 tie -> commit order */
  lb_fill(&e[0], "m1", "late", "2024-05-01T00:00:00Z", 0.5 + 1e-11);
  lb_fill(&e[1], "m2", "early", "2024-04-01T00:00:00Z", 0.5);
  prism_leaderboard_rank(e, 2);
  check(!strcmp(e[0].submission_id, "early"), "scores within eps/100 tie -> earlier commit first", "");
  /* a held-out-delta difference is not collapsed by eps */
  prism_json *a = with_delta(1.0, 0.3), *b = with_delta(1.0, 0.2);
  double fa = final_of(a), fb = final_of(b);
  lb_fill(&e[0], "m1", "d02", "2024-01-01T00:00:00Z", fb);
  lb_fill(&e[1], "m2", "d03", "2024-09-01T00:00:00Z", fa);
  prism_leaderboard_rank(e, 2);
  check(fa - fb > 1e-9 && !strcmp(e[0].submission_id, "d03"), "held-out delta difference is not collapsed by eps", "");
  prism_json_free(a);
  prism_json_free(b);
  /* key is a tuple, smaller = better */
  lb_fill(&e[0], "m", "x", "2024-01-01", 0.6);
  lb_fill(&e[1], "m", "y", "2024-01-01", 0.5);
  check(prism_leaderboard_compare(&e[0], &e[1]) < 0 && prism_leaderboard_compare(&e[1], &e[0]) > 0 &&
            prism_leaderboard_compare(&e[0], &e[0]) == 0,
        "compare: higher score sorts first, total order", "");
  check(prism_leaderboard_bucket(0.5) == 500000000.0 && prism_leaderboard_bucket(0.5 + 0.5e-9) == 500000001.0 &&
            prism_leaderboard_bucket(NAN) == 0.0,
        "bucket = floor(score/1e-9 + 0.5), non-finite -> 0", "");

  /* per-miner dedupe keeps the best (then earliest, then id); weights normalize over best rows */
  lb_fill(&e[0], "alice", "a1", "2024-01-03T00:00:00Z", 0.30);
  lb_fill(&e[1], "bob", "b1", "2024-01-01T00:00:00Z", 0.20);
  lb_fill(&e[2], "alice", "a2", "2024-01-02T00:00:00Z", 0.50);
  lb_fill(&e[3], "bob", "b2", "2024-01-05T00:00:00Z", 0.30);
  lb_fill(&e[4], "carol", "c1", "2024-01-04T00:00:00Z", 0.20);
  lb_fill(&e[5], "alice", "a3", "2024-01-01T00:00:00Z", 0.50);
  k = prism_leaderboard_rank(e, 6);
  double sum = 0;
  for (size_t i = 0; i < 6; i++) sum += e[i].weight;
  char d[160];
  snprintf(d, sizeof d, "%s %s %s | %s %s %s", e[0].submission_id, e[1].submission_id, e[2].submission_id, repr(e[0].weight),
           repr(e[1].weight), repr(e[2].weight));
  check(k == 3 && !strcmp(e[0].submission_id, "a3") && !strcmp(e[1].submission_id, "b2") &&
            !strcmp(e[2].submission_id, "c1") && e[0].best && !e[3].best && e[3].weight == 0,
        "best per miner: alice a3 (tie with a2, earlier), bob b2, carol c1", d);
  check(fabs(sum - 1.0) < 1e-15 && e[0].weight == 0.5 / 1.0 && e[1].weight == 0.3 / 1.0,
        "weights = best score per miner / sum, sum to 1", d);
  /* order independent of input order */
  prism_lb_entry p[6];
  int perm[6] = {5, 3, 1, 0, 4, 2};
  for (int i = 0; i < 6; i++) p[i] = e[perm[i]];
  prism_leaderboard_rank(p, 6);
  bool same = true;
  for (int i = 0; i < 6; i++) same = same && !strcmp(p[i].submission_id, e[i].submission_id) && p[i].weight == e[i].weight;
  check(same, "ranking independent of input order", "");
  /* all best scores 0 -> every weight 0 */
  lb_fill(&e[0], "x", "x1", "t", 0.0);
  lb_fill(&e[1], "y", "y1", "t", 0.0);
  k = prism_leaderboard_rank(e, 2);
  check(k == 2 && e[0].weight == 0 && e[1].weight == 0, "all-zero best scores -> all weights 0 (nothing earned)", "");
  /* identical manifests -> bit-identical outputs */
  prism_json *m1 = golden(0.7), *m2 = golden(0.7);
  prism_json *s1 = score(m1), *s2 = score(m2);
  char *t1 = prism_json_write(s1, 2), *t2 = prism_json_write(s2, 2);
  check(!strcmp(t1, t2), "identical manifests -> byte-identical score blocks", "");
  free(t1), free(t2);
  prism_json_free(s1), prism_json_free(s2), prism_json_free(m1), prism_json_free(m2);
}

int main(void) {
  test_golden();
  test_tie_break_caps();
  test_basics();
  test_errors();
  test_flags();
  test_heldout_ordering();
  test_basis_gating();
  test_merge();
  test_leaderboard();
  return check_summary();
}

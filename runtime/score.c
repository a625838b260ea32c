/* score.c — prequential bpb, final score, held-out tie-break, memorization gap, leaderboard
 * (see score.h). This is a transcription of the reference scorer (scoring.py, §2 of the
 * reference notes) including its quirks, because the golden values pin it to the last digit:
 * bits use the multiplication form nats × (1/ln 2); covered_bytes is the first numeric value at
 * metrics.covered_bytes then data.covered_bytes, truncated; held-out values use "first non-null
 * wins, and a non-number there counts as absent"; the scorer trusts the manifest's anti_cheat
 * flags rather than recomputing them (the manifest builder sets them from the captured stream). */
#include "score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Computed, not M_LOG2E: Python's 1/math.log(2) is this division, and the literal could differ. */
static double nats_to_bits(void) {
  volatile double ln2 = 0.6931471805599453; /* math.log(2), correctly rounded */
  return 1.0 / ln2;
}

double prism_score_bits(double nats) { return nats * nats_to_bits(); }
double prism_score_base(double bpb) { return 1.0 / (1.0 + (bpb > 0 ? bpb : 0.0)); }

double prism_score_tie_break(double bpb, double delta, double penalty) {
  double resolution = prism_score_base(bpb) - prism_score_base(bpb + PRISM_HELDOUT_DELTA_BPB_EPSILON);
  double w = penalty > 0 ? penalty : 0.0;
  double a = PRISM_HELDOUT_TIE_BREAK_WEIGHT * w;
  double b = 0.5 * w * (resolution > 0 ? resolution : 0.0);
  double cap = a < b ? a : b;
  return cap * tanh(delta);
}

bool prism_json_truthy(const prism_json *v) {
  switch (prism_json_kind_of(v)) {
  case PRISM_JSON_NULL: return false;
  case PRISM_JSON_BOOL: return prism_json_bool_value(v);
  case PRISM_JSON_INT: return prism_json_int_value(v) != 0;
  case PRISM_JSON_DOUBLE: return prism_json_number(v) != 0.0;
  case PRISM_JSON_STRING: return prism_json_string_length(v) > 0;
  case PRISM_JSON_ARRAY:
  case PRISM_JSON_OBJECT: return prism_json_length(v) > 0;
  }
  return false;
}

static const prism_json *object_or_null(const prism_json *v) {
  return prism_json_kind_of(v) == PRISM_JSON_OBJECT ? v : NULL;
}

/* First non-null value among keys in metrics, then in score. */
static const prism_json *first_present(const prism_json *metrics, const prism_json *score, const char *const *keys) {
  const prism_json *blocks[2] = {metrics, score};
  for (int b = 0; b < 2; b++) {
    if (!blocks[b]) continue;
    for (const char *const *k = keys; *k; k++) {
      const prism_json *v = prism_json_get(blocks[b], *k);
      if (v && prism_json_kind_of(v) != PRISM_JSON_NULL) return v;
    }
  }
  return NULL;
}

/* The first non-null value must be a finite number (bools are not numbers) or it counts as absent. */
static bool first_number(const prism_json *metrics, const prism_json *score, const char *const *keys, double *out) {
  const prism_json *v = first_present(metrics, score, keys);
  if (!prism_json_is_number(v)) return false;
  double d = prism_json_number(v);
  if (!isfinite(d)) return false;
  *out = d;
  return true;
}

static const char *first_string(const prism_json *metrics, const prism_json *score, const char *const *keys) {
  const prism_json *v = first_present(metrics, score, keys);
  const char *s = prism_json_string_value(v);
  return s && *s ? s : NULL;
}

/* covered_bytes: first numeric value at metrics then data, truncated toward zero; default 0. */
static int64_t lookup_covered(const prism_json *manifest, const prism_json *metrics) {
  const prism_json *blocks[2] = {metrics, object_or_null(prism_json_get(manifest, "data"))};
  for (int b = 0; b < 2; b++) {
    const prism_json *v = prism_json_get(blocks[b], "covered_bytes");
    if (prism_json_is_number(v)) return prism_json_int_value(v);
  }
  return 0;
}

/* tokens_consumed: metrics.predicted_tokens if the key exists, else tokens_seen, else 0; falsy or
 * not a number -> 0; truncated. */
static int64_t lookup_tokens(const prism_json *metrics) {
  const prism_json *v = prism_json_get(metrics, "predicted_tokens");
  if (!v) v = prism_json_get(metrics, "tokens_seen");
  return prism_json_is_number(v) ? prism_json_int_value(v) : 0;
}

typedef struct {
  char *buf;
  size_t cap, len;
} reasons;

static void add_reason(reasons *r, const char *msg) {
  if (!r->buf || !r->cap) return;
  int n = snprintf(r->buf + r->len, r->cap - r->len, "%s%s", r->len ? "; " : "", msg);
  if (n > 0) r->len = r->len + (size_t)n < r->cap ? r->len + (size_t)n : r->cap - 1;
}

static int set_num(prism_json *o, const char *k, double v) { return prism_json_set(o, k, prism_json_double(v)); }
static int set_int(prism_json *o, const char *k, int64_t v) { return prism_json_set(o, k, prism_json_int(v)); }
static int set_bool(prism_json *o, const char *k, bool v) { return prism_json_set(o, k, prism_json_bool(v)); }
static int set_str(prism_json *o, const char *k, const char *v) { return prism_json_set(o, k, prism_json_string(v)); }

/* sum_neg_log_likelihood_nats: absent -> 0.0; anything but a number is an error (Python's float()
 * would raise on null and on most strings; we refuse all non-numbers rather than guess). */
static int lookup_sum_nll(const prism_json *metrics, double *out) {
  const prism_json *v = prism_json_get(metrics, "sum_neg_log_likelihood_nats");
  if (!v) {
    *out = 0.0;
    return 0;
  }
  if (!prism_json_is_number(v)) return -1;
  *out = prism_json_number(v);
  return 0;
}

int prism_score_manifest(const prism_json *manifest, prism_json **score_block, char *err, size_t errcap) {
  reasons r = {err, errcap, 0};
  if (err && errcap) err[0] = '\0';
  *score_block = NULL;
  if (prism_json_kind_of(manifest) != PRISM_JSON_OBJECT) {
    add_reason(&r, "manifest is not a JSON object");
    return -1;
  }
  const prism_json *failure = prism_json_get(manifest, "failure");
  if (failure && prism_json_kind_of(failure) != PRISM_JSON_NULL) {
    char msg[160];
    const char *rule = prism_json_string_value(prism_json_get(failure, "rule_id"));
    snprintf(msg, sizeof msg, "the run failed (%.100s): a failed run has no score", rule ? rule : "unknown rule");
    add_reason(&r, msg);
    return -1;
  }
  const prism_json *metrics = object_or_null(prism_json_get(manifest, "metrics"));
  if (!metrics) {
    add_reason(&r, "v2 manifest is missing a metrics block");
    return -1;
  }
  const prism_json *score_in = object_or_null(prism_json_get(manifest, "score"));
  const prism_json *anti = object_or_null(prism_json_get(manifest, "anti_cheat"));

  int64_t covered = lookup_covered(manifest, metrics);
  if (covered <= 0) add_reason(&r, "prequential scoring requires covered_bytes > 0");
  double sum_nll = 0.0;
  if (lookup_sum_nll(metrics, &sum_nll) != 0) add_reason(&r, "metrics.sum_neg_log_likelihood_nats is not a number");
  const prism_json *online = prism_json_get(metrics, "online_loss");
  if (prism_json_kind_of(online) != PRISM_JSON_ARRAY || prism_json_length(online) == 0)
    add_reason(&r, "prequential scoring requires a captured online-loss stream");
  if (r.len) return -1;

  double bits = prism_score_bits(sum_nll);
  double bpb = bits / (double)covered;
  if (!isfinite(bpb)) add_reason(&r, "prequential bpb is not finite");
  else if (bpb <= 0) add_reason(&r, "prequential bpb must be positive");
  if (r.len) return -1;

  /* held-out view (reference §2.3) */
  static const char *const k_delta[] = {"heldout_delta", "held_out_delta", NULL};
  static const char *const k_val_trained[] = {"val_bpb_trained", NULL};
  static const char *const k_val_random[] = {"val_bpb_random_init", NULL};
  static const char *const k_converged[] = {"train_bpb_converged", NULL};
  static const char *const k_gap_basis[] = {"gap_basis", NULL};
  static const char *const k_train_basis[] = {"train_bpb_basis", NULL};
  static const char *const k_val_basis[] = {"val_bpb_basis", NULL};
  static const char *const k_gap[] = {"train_heldout_gap", "train_val_gap", NULL};
  double delta = 0, val_trained = 0, val_random = 0, converged_bpb = 0, gap = 0;
  bool has_delta = first_number(metrics, score_in, k_delta, &delta);
  bool has_val_trained = first_number(metrics, score_in, k_val_trained, &val_trained);
  bool has_val_random = first_number(metrics, score_in, k_val_random, &val_random);
  bool has_converged = first_number(metrics, score_in, k_converged, &converged_bpb);
  const char *gap_basis = first_string(metrics, score_in, k_gap_basis);
  bool converged = (gap_basis && strcmp(gap_basis, "converged") == 0) || has_converged;
  const char *train_basis = first_string(metrics, score_in, k_train_basis);
  const char *val_basis = first_string(metrics, score_in, k_val_basis);
  bool comparable = converged || !train_basis || !val_basis || strcmp(train_basis, val_basis) == 0;
  bool has_gap = first_number(metrics, score_in, k_gap, &gap);
  if (!comparable) {
    has_gap = false;
  } else if (!has_gap && has_val_trained) {
    double ref = has_converged ? converged_bpb : bpb;
    if (isfinite(ref)) {
      gap = val_trained - ref;
      has_gap = true;
    }
  }
  bool explicit_flag = prism_json_truthy(prism_json_get(metrics, "memorization_flag")) ||
                       prism_json_truthy(prism_json_get(score_in, "memorization_flag")) ||
                       prism_json_truthy(prism_json_get(anti, "memorization_flag"));
  bool memorized = comparable && (explicit_flag || (has_gap && gap > PRISM_MEMORIZATION_GAP_THRESHOLD_BPB));
  double penalty = memorized ? PRISM_MEMORIZATION_PENALTY_FACTOR : 1.0;
  const char *reported_basis = converged ? "converged" : gap_basis;

  bool step0 = prism_json_truthy(prism_json_get(anti, "step0_anomaly"));
  bool nan_inf = prism_json_truthy(prism_json_get(anti, "nan_inf_detected"));
  double multiplier = step0 ? 0.0 : 1.0;
  double base = prism_score_base(bpb);
  double tie = has_delta ? prism_score_tie_break(bpb, delta, penalty) : 0.0;
  double final_score = (base * penalty + tie) * multiplier;

  prism_json *b = prism_json_object();
  prism_json *flags = prism_json_array();
  int rc = b && flags ? 0 : -1;
  if (rc == 0 && bpb > PRISM_BPB_SANE_MAX) rc |= prism_json_append(flags, prism_json_string("bpb_out_of_band"));
  if (rc == 0 && step0) rc |= prism_json_append(flags, prism_json_string("step0_anomaly"));
  if (rc == 0 && nan_inf) rc |= prism_json_append(flags, prism_json_string("nan_inf_detected"));
  if (rc == 0 && memorized) rc |= prism_json_append(flags, prism_json_string("memorization_gap"));
  if (rc != 0 || !b) {
    prism_json_free(flags);
    prism_json_free(b);
    add_reason(&r, "out of memory");
    return -1;
  }
  rc |= set_str(b, "schema", "prism_score.v2");
  rc |= set_str(b, "primary_metric", "prequential_bpb");
  rc |= set_num(b, "prequential_bpb", bpb);
  rc |= set_num(b, "bits_per_byte", bpb);
  rc |= set_num(b, "final_score", final_score);
  rc |= set_bool(b, "lower_is_better", true);
  rc |= set_int(b, "covered_bytes", covered);
  rc |= set_int(b, "total_bytes_covered", covered);
  rc |= set_num(b, "sum_neg_log2_likelihood_bits", bits);
  rc |= set_num(b, "cumulative_codelength_bits", bits);
  rc |= set_int(b, "tokens_consumed", lookup_tokens(metrics));
  rc |= set_str(b, "compute_normalization", "tokens_bytes");
  rc |= set_bool(b, "wall_clock_term", false);
  rc |= set_num(b, "anti_cheat_multiplier", multiplier);
  rc |= set_bool(b, "anomaly", step0);
  rc |= prism_json_set(b, "flags", flags);
  rc |= set_str(b, "tie_breaker", "heldout_delta");
  rc |= set_bool(b, "memorization_flag", memorized);
  rc |= set_num(b, "memorization_penalty", penalty);
  rc |= set_bool(b, "miner_reported_ignored", true);
  if (has_delta) {
    rc |= set_num(b, "heldout_delta", delta);
    rc |= set_num(b, "held_out_delta", delta);
  }
  if (has_val_trained) rc |= set_num(b, "val_bpb_trained", val_trained);
  if (has_val_random) rc |= set_num(b, "val_bpb_random_init", val_random);
  if (has_gap) rc |= set_num(b, "train_heldout_gap", gap);
  if (has_converged) rc |= set_num(b, "train_bpb_converged", converged_bpb);
  if (reported_basis) rc |= set_str(b, "gap_basis", reported_basis);
  if (rc != 0) {
    prism_json_free(b);
    add_reason(&r, "out of memory");
    return -1;
  }
  *score_block = b;
  return 0;
}

prism_json *prism_score_unscored_block(const prism_json *manifest) {
  const prism_json *metrics = object_or_null(prism_json_get(manifest, "metrics"));
  const prism_json *anti = object_or_null(prism_json_get(manifest, "anti_cheat"));
  int64_t covered = lookup_covered(manifest, metrics);
  double sum_nll = 0.0;
  bool have_nll = lookup_sum_nll(metrics, &sum_nll) == 0;
  double bits = prism_score_bits(sum_nll);
  double bpb = covered > 0 ? bits / (double)covered : NAN;
  bool step0 = prism_json_truthy(prism_json_get(anti, "step0_anomaly"));
  const char *basis = prism_json_string_value(prism_json_get(metrics, "train_bpb_basis"));
  prism_json *b = prism_json_object();
  if (!b) return NULL;
  int rc = 0;
  rc |= set_str(b, "schema", "prism_score.v2");
  rc |= set_str(b, "primary_metric", "prequential_bpb");
  rc |= prism_json_set(b, "prequential_bpb", have_nll && isfinite(bpb) ? prism_json_double(bpb) : prism_json_null());
  rc |= prism_json_set(b, "bits_per_byte", have_nll && isfinite(bpb) ? prism_json_double(bpb) : prism_json_null());
  rc |= prism_json_set(b, "final_score", prism_json_null());
  rc |= set_bool(b, "lower_is_better", true);
  rc |= set_int(b, "covered_bytes", covered);
  rc |= set_int(b, "total_bytes_covered", covered);
  rc |= prism_json_set(b, "sum_neg_log2_likelihood_bits",
                       have_nll && isfinite(bits) ? prism_json_double(bits) : prism_json_null());
  rc |= prism_json_set(b, "cumulative_codelength_bits",
                       have_nll && isfinite(bits) ? prism_json_double(bits) : prism_json_null());
  rc |= set_int(b, "tokens_consumed", lookup_tokens(metrics));
  rc |= set_str(b, "compute_normalization", "tokens_bytes");
  rc |= set_bool(b, "wall_clock_term", false);
  rc |= prism_json_set(b, "train_bpb_basis", prism_json_string(basis)); /* NULL -> null */
  rc |= set_num(b, "anti_cheat_multiplier", step0 ? 0.0 : 1.0);
  rc |= set_bool(b, "anomaly", step0);
  rc |= set_bool(b, "miner_reported_ignored", true);
  if (rc != 0) {
    prism_json_free(b);
    return NULL;
  }
  return b;
}

int prism_score_recompute(const prism_json *manifest, prism_json **block, char *err, size_t errcap) {
  if (prism_score_manifest(manifest, block, err, errcap) == 0) return 0;
  if (err && errcap && strcmp(err, "out of memory") == 0) return -1;
  *block = prism_score_unscored_block(manifest);
  return *block ? 1 : -1;
}

/* ------------------------------------------------------------------ held-out merge */

static prism_json *ensure_object(prism_json *parent, const char *key) {
  prism_json *o = prism_json_get(parent, key);
  if (prism_json_kind_of(o) == PRISM_JSON_OBJECT) return o;
  if (prism_json_set(parent, key, prism_json_object()) != 0) return NULL;
  return prism_json_get(parent, key);
}

int prism_score_merge_heldout(prism_json *manifest, double val_random, double val_trained, int64_t val_covered,
                              double train_converged, const char *val_basis) {
  if (prism_json_kind_of(manifest) != PRISM_JSON_OBJECT) return -1;
  if (!isfinite(val_random) || val_random <= 0 || !isfinite(val_trained) || val_trained <= 0) return -1;
  if (!val_basis || !*val_basis) val_basis = "bytes";
  prism_json *metrics = ensure_object(manifest, "metrics");
  prism_json *anti = ensure_object(manifest, "anti_cheat");
  if (!metrics || !anti) return -1;
  const prism_json *score_in = object_or_null(prism_json_get(manifest, "score"));

  double delta = val_random - val_trained;
  const char *train_basis = prism_json_string_value(prism_json_get(metrics, "train_bpb_basis"));
  char train_basis_copy[64] = "";
  if (train_basis) snprintf(train_basis_copy, sizeof train_basis_copy, "%s", train_basis);
  bool has_gap = false, flag = false;
  double gap = 0, train_bpb = 0;
  const char *gap_basis = NULL;
  static const char *const k_train_bpb[] = {"prequential_bpb", "bits_per_byte", NULL};
  if (isfinite(train_converged) && train_converged > 0) {
    gap = val_trained - train_converged;
    gap_basis = "converged";
    has_gap = true;
  } else if ((!train_basis || strcmp(train_basis, val_basis) == 0) &&
             first_number(metrics, score_in, k_train_bpb, &train_bpb)) {
    /* The reference only allows train basis null/"bytes" because its held-out is always bytes;
     * ours runs on the run's runtime tokenizer when there was one, so "same basis" is the rule. */
    gap = val_trained - train_bpb;
    gap_basis = "prequential";
    has_gap = true;
  }
  if (has_gap) flag = gap > PRISM_MEMORIZATION_GAP_THRESHOLD_BPB;

  int rc = 0;
  rc |= set_num(metrics, "val_bpb_trained", val_trained);
  rc |= set_num(metrics, "val_bpb_random_init", val_random);
  rc |= set_num(metrics, "heldout_delta", delta);
  rc |= set_num(metrics, "held_out_delta", delta);
  rc |= set_bool(metrics, "memorization_flag", flag);
  rc |= set_str(metrics, "val_bpb_basis", val_basis);
  rc |= set_int(metrics, "val_covered_bytes", val_covered);
  if (train_basis_copy[0]) rc |= set_str(metrics, "train_bpb_basis", train_basis_copy);
  if (isfinite(train_converged) && train_converged > 0) rc |= set_num(metrics, "train_bpb_converged", train_converged);
  if (has_gap) {
    rc |= set_str(metrics, "gap_basis", gap_basis);
    rc |= set_num(metrics, "train_heldout_gap", gap);
    rc |= set_num(metrics, "train_val_gap", gap);
  }
  rc |= set_bool(anti, "memorization_flag", flag);
  if (has_gap) {
    rc |= set_num(anti, "memorization_gap", gap);
    rc |= set_num(anti, "train_heldout_gap", gap);
  }
  if (rc != 0) return -1;
  prism_json *block = NULL;
  char err[512];
  if (prism_score_manifest(manifest, &block, err, sizeof err) == 0) {
    if (prism_json_set(manifest, "score", block) != 0) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ leaderboard */

double prism_leaderboard_bucket(double final_score) {
  if (!isfinite(final_score)) return 0.0;
  return floor(final_score / PRISM_LEADERBOARD_TIE_EPSILON + 0.5);
}

static int strcmp_null(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

int prism_leaderboard_compare(const prism_lb_entry *a, const prism_lb_entry *b) {
  double ka = -prism_leaderboard_bucket(a->final_score), kb = -prism_leaderboard_bucket(b->final_score);
  if (ka != kb) return ka < kb ? -1 : 1;
  int c = strcmp_null(a->accepted_at, b->accepted_at);
  if (c) return c;
  c = strcmp_null(a->submission_id, b->submission_id);
  if (c) return c;
  return strcmp_null(a->miner, b->miner);
}

static int cmp_entries(const void *a, const void *b) { return prism_leaderboard_compare(a, b); }

static int cmp_best_first(const void *pa, const void *pb) {
  const prism_lb_entry *a = pa, *b = pb;
  if (a->best != b->best) return a->best ? -1 : 1;
  return prism_leaderboard_compare(a, b);
}

size_t prism_leaderboard_rank(prism_lb_entry *e, size_t n) {
  if (!n) return 0;
  qsort(e, n, sizeof *e, cmp_entries);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false; /* quadratic, but a leaderboard is a few hundred manifests */
    for (size_t j = 0; j < i && !seen; j++) seen = e[j].best && strcmp_null(e[j].miner, e[i].miner) == 0;
    e[i].best = !seen;
    e[i].weight = 0.0;
    if (!seen) k++;
  }
  qsort(e, n, sizeof *e, cmp_best_first);
  double sum = 0.0;
  for (size_t i = 0; i < k; i++) sum += e[i].final_score > 0 && isfinite(e[i].final_score) ? e[i].final_score : 0.0;
  if (sum > 0)
    for (size_t i = 0; i < k; i++)
      e[i].weight = e[i].final_score > 0 && isfinite(e[i].final_score) ? e[i].final_score / sum : 0.0;
  return k;
}

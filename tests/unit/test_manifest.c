/* test_manifest.c — the run manifest (runtime/manifest.c) built from child report records parsed by
 * the real parent path (report.c): every reference key (§1.13, §1.16) and its derived value, the
 * failure and zero-forward manifests, the held-out merge, byte-identical output, and the write
 * step that removes planted manifests without following symlinks. */
#include "../../runtime/json.h"
#include "../../runtime/manifest.h"
#include "../../runtime/report.h"
#include "../../runtime/score.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_NAME_WIDTH 70
#include "check.h"
#include "jail.h"

/* Feeds report lines (printf-style, one call per line) through the parent's parser. */
static void feed(prism_run_record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void feed(prism_run_record *r, const char *fmt, ...) {
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[n++] = '\n';
  if (prism_report_parse(r, line, (size_t)n) != 0) printf("test bug: report line rejected: %s", line);
}

static prism_manifest_info base_info(void) {
  prism_manifest_info info = {0};
  info.submission_id = "sub-abc123";
  info.seed = 1337;
  info.world_size = 1;
  info.device = "cpu";
  info.data_dir = "/data/train";
  info.vocab_size = 4096;
  info.trained_state = "trained_state.safetensors";
  info.runtime_version = "0.1.0";
  info.luajit_version = "LuaJIT 2.1.0-beta3";
  info.git_revision = "abc1234";
  return info;
}

/* A learner: B=4, T=16 byte batches (60 predictions, 64 bytes each) with falling loss, then a
 * 14-token tail. */
static void learner(prism_run_record *r, int batches) {
  prism_run_record_init(r);
  feed(r, "capture 4 16 bytes bytes 2 %d", 64 * batches + 14);
  for (int i = 0; i < batches; i++) feed(r, "batch %a 60 %a 0", 8.3 - 0.05 * i, 64.0);
  feed(r, "batch %a 13 %a 0", 5.25, 14.0);
  feed(r, "params 1049216");
  feed(r, "summary 40 40 40 %d 3 data_exhausted", 64 * batches + 14);
  feed(r, "done %a 123456789 4096 1", 12.5);
}

static bool has_keys(const prism_json *o, const char *const *keys, char *missing, size_t cap) {
  size_t n = 0;
  for (; keys[n]; n++)
    if (!prism_json_get(o, keys[n])) {
      snprintf(missing, cap, "missing %s", keys[n]);
      return false;
    }
  if (prism_json_length(o) != n) {
    snprintf(missing, cap, "%zu keys, expected %zu", prism_json_length(o), n);
    return false;
  }
  return true;
}

static const char *str_at(const prism_json *m, const char *path) { return prism_json_string_value(prism_json_path(m, path)); }
static double num_at(const prism_json *m, const char *path) { return prism_json_number(prism_json_path(m, path)); }
static int64_t int_at(const prism_json *m, const char *path) { return prism_json_int_value(prism_json_path(m, path)); }
static bool bool_at(const prism_json *m, const char *path) { return prism_json_bool_value(prism_json_path(m, path)); }
static bool null_at(const prism_json *m, const char *path) {
  return prism_json_path(m, path) && prism_json_kind_of(prism_json_path(m, path)) == PRISM_JSON_NULL;
}

/* What `prism score` does: the stored block is exactly the recomputation. */
static bool verifies(const prism_json *m) {
  prism_json *b = NULL;
  char err[512];
  int rc = prism_score_recompute(m, &b, err, sizeof err);
  bool ok = rc >= 0 && prism_json_equal(b, prism_json_get(m, "score"));
  prism_json_free(b);
  return ok;
}

static void test_learner(void) {
  prism_run_record r;
  learner(&r, 131);
  prism_manifest_info info = base_info();
  prism_json *m = prism_manifest_build(&r, &info);
  char why[128] = "";
  static const char *const top[] = {"schema_version", "submission_id", "run_id", "mode", "run", "compute", "data",
                                    "metrics", "score", "anti_cheat", "artifacts", "miner_reported_ignored",
                                    "runtime", NULL};
  check(m && has_keys(m, top, why, sizeof why), "top-level keys: reference set + runtime, no failure", why);
  static const char *const run[] = {"seed", "forced_init", "deterministic_algorithms", "world_size", "rank",
                                    "local_rank", "device", "master_addr", "nproc_per_node", "stopped_reason",
                                    "heldout", NULL};
  check(has_keys(prism_json_get(m, "run"), run, why, sizeof why), "run keys", why);
  static const char *const compute[] = {"schema", "gpu_count", "world_size", "nproc_per_node", "device", "model_params",
                                        "peak_rss_bytes", "wall_clock_seconds", "estimated_flops", NULL};
  check(has_keys(prism_json_get(m, "compute"), compute, why, sizeof why), "compute keys (no peak_vram_bytes on CPU)", why);
  static const char *const data[] = {"data_dir", "shard_count", "available_bytes", "source", "random_token_fallback",
                                     "single_pass", "covered_bytes", "covered_bytes_cumulative", "consumed_documents",
                                     "consumed_batches", "consumed_offsets", "distinct_offsets", "skipped_lines",
                                     "stopped_reason", NULL};
  check(has_keys(prism_json_get(m, "data"), data, why, sizeof why), "data keys", why);
  static const char *const metrics[] = {"online_loss", "step0_loss", "random_init_baseline_nats", "consumed_batches",
                                        "covered_bytes", "predicted_tokens", "tokens_seen",
                                        "sum_neg_log_likelihood_nats", "sum_neg_log2_likelihood_bits",
                                        "cumulative_codelength_bits", "prequential_bpb", "bits_per_byte",
                                        "total_bytes_covered", "nan_inf_batches", "train_bpb_basis", "model_params",
                                        NULL};
  check(has_keys(prism_json_get(m, "metrics"), metrics, why, sizeof why), "metrics keys", why);
  static const char *const anti[] = {"step0_anomaly", "step0_anomaly_threshold_nats", "nan_inf_detected",
                                     "nan_inf_batches", "no_learning", "zero_forward", NULL};
  check(has_keys(prism_json_get(m, "anti_cheat"), anti, why, sizeof why), "anti_cheat keys", why);
  static const char *const runtime[] = {"name", "version", "backend", "luajit", "git_revision", "isolation", NULL};
  check(has_keys(prism_json_get(m, "runtime"), runtime, why, sizeof why) && !strcmp(str_at(m, "runtime.name"), "prism") &&
            !strcmp(str_at(m, "runtime.backend"), "cpu") && !strcmp(str_at(m, "runtime.git_revision"), "abc1234"),
        "runtime block", why);
  check(bool_at(m, "runtime.isolation.seccomp") == prism_jail_seccomp_active() &&
            num_at(m, "runtime.isolation.landlock_abi") == (double)prism_jail_landlock_abi(),
        "runtime.isolation: the seccomp filter and the Landlock ABI this build and kernel apply", NULL);

  check(!strcmp(str_at(m, "schema_version"), "prism_run_manifest.v2") && !strcmp(str_at(m, "run_id"), "prism-reexec-sub-abc123") &&
            !strcmp(str_at(m, "mode"), "gpu_proxy_eval") && bool_at(m, "miner_reported_ignored"),
        "schema_version, run_id = prism-reexec-<id>, mode", "");
  check(int_at(m, "run.seed") == 1337 && bool_at(m, "run.forced_init") && bool_at(m, "run.deterministic_algorithms") &&
            !strcmp(str_at(m, "run.stopped_reason"), "data_exhausted") &&
            !strcmp(str_at(m, "data.stopped_reason"), "data_exhausted") && !strcmp(str_at(m, "run.heldout"), "not_run"),
        "run: forced seed, stopped_reason in run and data", "");

  int64_t covered = 64 * 131 + 14;
  int64_t predicted = 60 * 131 + 13;
  check(int_at(m, "metrics.covered_bytes") == covered && int_at(m, "data.covered_bytes") == covered &&
            int_at(m, "metrics.total_bytes_covered") == covered &&
            prism_json_kind_of(prism_json_path(m, "metrics.covered_bytes")) == PRISM_JSON_INT,
        "covered_bytes 8398 (int) in metrics and data", "");
  check(int_at(m, "metrics.predicted_tokens") == predicted && int_at(m, "metrics.tokens_seen") == predicted &&
            int_at(m, "score.tokens_consumed") == predicted,
        "predicted_tokens = tokens_seen = tokens_consumed = B(T-1) per batch", "");
  double sum = 0;
  for (size_t i = 0; i < r.n_batches; i++) sum += r.online_loss[i] * (i + 1 < r.n_batches ? 60.0 : 13.0);
  double bits = sum * (1.0 / 0.6931471805599453);
  double bpb = bits / (double)covered;
  check(num_at(m, "metrics.sum_neg_log_likelihood_nats") == sum && num_at(m, "metrics.sum_neg_log2_likelihood_bits") == bits &&
            num_at(m, "metrics.cumulative_codelength_bits") == bits && num_at(m, "metrics.prequential_bpb") == bpb &&
            num_at(m, "metrics.bits_per_byte") == bpb,
        "bits = nats x (1/ln2), bpb = bits / covered (bit-exact)", "");
  check(num_at(m, "score.prequential_bpb") == bpb && num_at(m, "score.final_score") == 1.0 / (1.0 + bpb) &&
            !strcmp(str_at(m, "score.primary_metric"), "prequential_bpb") &&
            !strcmp(str_at(m, "score.compute_normalization"), "tokens_bytes") && !bool_at(m, "score.wall_clock_term") &&
            num_at(m, "score.sum_neg_log2_likelihood_bits") == bits && bpb > 0 && bpb != 1.0,
        "score block: bpb, final 1/(1+bpb), normalization, no wall clock term", "");
  check(verifies(m), "prism score reproduces the stored block exactly", "");
  const prism_json *ol = prism_json_path(m, "metrics.online_loss"), *cum = prism_json_path(m, "data.covered_bytes_cumulative");
  bool increasing = prism_json_length(cum) == r.n_batches;
  for (size_t i = 1; i < prism_json_length(cum); i++)
    increasing = increasing && prism_json_number(prism_json_at(cum, i)) > prism_json_number(prism_json_at(cum, i - 1));
  check(prism_json_length(ol) == 132 && int_at(m, "metrics.consumed_batches") == 132 && int_at(m, "data.consumed_batches") == 132 &&
            increasing && prism_json_kind_of(prism_json_at(cum, 0)) == PRISM_JSON_DOUBLE,
        "online_loss and covered_bytes_cumulative: one per batch, cumulative rising floats", "");
  check(num_at(m, "metrics.step0_loss") == prism_json_number(prism_json_at(ol, 0)) &&
            num_at(m, "metrics.random_init_baseline_nats") == log(4096.0) &&
            num_at(m, "anti_cheat.step0_anomaly_threshold_nats") == 0.5 * log(4096.0) && !bool_at(m, "anti_cheat.step0_anomaly") &&
            !bool_at(m, "anti_cheat.zero_forward") && !bool_at(m, "anti_cheat.no_learning") &&
            !bool_at(m, "anti_cheat.nan_inf_detected"),
        "step0 loss, baseline ln V, threshold 0.5 ln V, no anomaly, learning", "");
  check(int_at(m, "compute.model_params") == 1049216 && int_at(m, "metrics.model_params") == 1049216 &&
            num_at(m, "compute.estimated_flops") == 6.0 * 1049216.0 * (double)predicted &&
            int_at(m, "compute.gpu_count") == 0 && int_at(m, "compute.peak_rss_bytes") == 123456789 &&
            num_at(m, "compute.wall_clock_seconds") == 12.5 && !strcmp(str_at(m, "compute.schema"), "prism_compute.v1") &&
            int_at(m, "compute.world_size") == 1 && int_at(m, "compute.nproc_per_node") == 1,
        "compute: params, flops = 6 P tokens, telemetry, gpu_count 0 on CPU", "");
  check(int_at(m, "data.distinct_offsets") == 40 && int_at(m, "data.consumed_offsets") == 40 &&
            int_at(m, "data.skipped_lines") == 3 && int_at(m, "data.shard_count") == 2 &&
            !strcmp(str_at(m, "data.source"), "locked-fineweb-edu-train") && !bool_at(m, "data.random_token_fallback") &&
            bool_at(m, "data.single_pass") && !strcmp(str_at(m, "metrics.train_bpb_basis"), "bytes") &&
            !strcmp(str_at(m, "artifacts.trained_state"), "trained_state.safetensors"),
        "data coverage fields, bytes basis, trained_state recorded", "");

  /* byte-identical output for identical input */
  prism_run_record r2;
  learner(&r2, 131);
  prism_json *m2 = prism_manifest_build(&r2, &info);
  char *t1 = prism_json_write(m, 2), *t2 = prism_json_write(m2, 2);
  check(t1 && t2 && !strcmp(t1, t2), "identical input -> byte-identical manifest text", "");
  prism_json *back = prism_json_parse(t1, strlen(t1), NULL, 0);
  check(back && prism_json_equal(back, m) && verifies(back), "written text parses back equal and still verifies", "");
  prism_json_free(back);
  /* tampering with one loss breaks verification */
  prism_json *tampered = prism_json_clone(m);
  prism_json_set(prism_json_get(tampered, "metrics"), "sum_neg_log_likelihood_nats", prism_json_double(sum * 0.9));
  check(!verifies(tampered), "a doctored sum_nll no longer verifies", "");
  prism_json_free(tampered);
  free(t1), free(t2);
  prism_json_free(m2);
  prism_json_free(m);
  prism_run_record_free(&r2);
  prism_run_record_free(&r);
}

static void test_derived(void) {
  prism_manifest_info info = base_info();
  /* round-half-even of the unrounded byte-weight sum: 2.5 -> 2, 3.5 -> 4 */
  const struct { double w1, w2; int64_t want; } rounding[] = {{1.25, 1.25, 2}, {1.75, 1.75, 4}, {1.5, 1.25, 3}};
  for (int i = 0; i < 3; i++) {
    prism_run_record r;
    prism_run_record_init(&r);
    feed(&r, "capture 1 4 custom tokenizer 1 100");
    feed(&r, "batch %a 3 %a 0", 5.0, rounding[i].w1);
    feed(&r, "batch %a 3 %a 0", 5.0, rounding[i].w2);
    prism_json *m = prism_manifest_build(&r, &info);
    char name[96];
    snprintf(name, sizeof name, "covered %s -> %lld (round half to even)", i == 0 ? "2.5" : i == 1 ? "3.5" : "2.75",
             (long long)rounding[i].want);
    check(int_at(m, "metrics.covered_bytes") == rounding[i].want &&
              num_at(m, "data.covered_bytes_cumulative") != 0 && !strcmp(str_at(m, "metrics.train_bpb_basis"), "tokenizer"),
          name, "");
    prism_json_free(m);
    prism_run_record_free(&r);
  }
  /* a runtime tokenizer is named in the basis so the held-out on it compares */
  prism_run_record r;
  prism_run_record_init(&r);
  feed(&r, "capture 1 4 gpt2 tokenizer 1 100");
  feed(&r, "batch %a 3 %a 0", 5.0, 9.0);
  prism_json *m = prism_manifest_build(&r, &info);
  check(!strcmp(str_at(m, "metrics.train_bpb_basis"), "gpt2"), "gpt2 run -> train_bpb_basis \"gpt2\"", "");
  prism_json_free(m);
  prism_run_record_free(&r);

  /* step-0 anomaly: strictly below 0.5 ln V */
  double thr = 0.5 * log(4096.0);
  const struct { double loss; bool anomaly; } s0[] = {{0.1, true}, {thr, false}, {nextafter(thr, 0), true}};
  for (int i = 0; i < 3; i++) {
    prism_run_record_init(&r);
    feed(&r, "capture 1 4 bytes bytes 1 100");
    feed(&r, "batch %a 3 %a 0", s0[i].loss, 4.0);
    feed(&r, "batch %a 3 %a 0", 0.05, 4.0);
    m = prism_manifest_build(&r, &info);
    char *flags = prism_json_write(prism_json_path(m, "score.flags"), 0);
    char name[96];
    snprintf(name, sizeof name, "step0 loss %s -> anomaly %s", i == 0 ? "0.1" : i == 1 ? "= 0.5 ln V" : "just below 0.5 ln V",
             s0[i].anomaly ? "true, final 0" : "false");
    bool ok = bool_at(m, "anti_cheat.step0_anomaly") == s0[i].anomaly &&
              (s0[i].anomaly ? num_at(m, "score.final_score") == 0.0 && strstr(flags, "step0_anomaly") &&
                                   num_at(m, "score.anti_cheat_multiplier") == 0.0
                             : num_at(m, "score.final_score") > 0) &&
              verifies(m);
    check(ok, name, flags);
    free(flags);
    prism_json_free(m);
    prism_run_record_free(&r);
  }

  /* NaN/Inf batch: counted, flagged, still scored */
  prism_run_record_init(&r);
  feed(&r, "capture 1 4 bytes bytes 1 100");
  feed(&r, "batch %a 3 %a 1", 2 * log(4096.0), 4.0);
  feed(&r, "batch %a 3 %a 0", 6.0, 4.0);
  m = prism_manifest_build(&r, &info);
  char *flags = prism_json_write(prism_json_path(m, "score.flags"), 0);
  check(int_at(m, "metrics.nan_inf_batches") == 1 && int_at(m, "anti_cheat.nan_inf_batches") == 1 &&
            bool_at(m, "anti_cheat.nan_inf_detected") && !strcmp(flags, "[\"nan_inf_detected\"]") &&
            isfinite(num_at(m, "score.prequential_bpb")),
        "nan/inf batch -> nan_inf_batches 1, flag, finite bpb", flags);
  free(flags);
  prism_json_free(m);
  prism_run_record_free(&r);

  /* a CUDA device: gpu_count = world size, peak VRAM reported */
  learner(&r, 3);
  info.device = "cuda:0";
  info.world_size = 2;
  info.max_gpu_count = 8;
  m = prism_manifest_build(&r, &info);
  check(int_at(m, "compute.gpu_count") == 2 && int_at(m, "compute.peak_vram_bytes") == 4096 &&
            int_at(m, "compute.max_gpu_count") == 8 && int_at(m, "run.nproc_per_node") == 2,
        "cuda device: gpu_count, peak_vram_bytes, max_gpu_count", "");
  prism_json_free(m);
  prism_run_record_free(&r);
}

static void test_failures(void) {
  prism_manifest_info info = base_info();
  prism_run_record r;
  /* train never iterates: zero-forward, manifest still complete */
  prism_run_record_init(&r);
  feed(&r, "summary 0 0 0 0 0 -");
  feed(&r, "done %a 1000 0 1", 0.5);
  prism_json *m = prism_manifest_build(&r, &info);
  check(m && !strcmp(str_at(m, "failure.rule_id"), "prism:zero-forward") && strstr(str_at(m, "failure.message"), "no online loss") &&
            null_at(m, "failure.file") && null_at(m, "failure.line") && null_at(m, "score.final_score") &&
            prism_json_length(prism_json_path(m, "metrics.online_loss")) == 0 && int_at(m, "metrics.covered_bytes") == 0 &&
            int_at(m, "data.covered_bytes") == 0 && null_at(m, "metrics.step0_loss") &&
            bool_at(m, "anti_cheat.no_learning") && bool_at(m, "anti_cheat.zero_forward") &&
            null_at(m, "run.stopped_reason") && null_at(m, "artifacts.trained_state") &&
            !strcmp(str_at(m, "metrics.train_bpb_basis"), "bytes") && null_at(m, "metrics.prequential_bpb"),
        "never iterates -> prism:zero-forward, final null, empty stream, no trained_state", "");
  check(verifies(m) && !strcmp(prism_manifest_failure_rule(m), "prism:zero-forward"),
        "zero-forward manifest's null score block verifies too", "");
  prism_json_free(m);
  prism_run_record_free(&r);

  /* a runtime failure after some batches: failure block, final null even though scorable */
  learner(&r, 5);
  feed(&r, "fail prism:param-cap 12 training.lua scored%%20model%%20has%%20200000%%20parameters");
  m = prism_manifest_build(&r, &info);
  check(!strcmp(str_at(m, "failure.rule_id"), "prism:param-cap") && int_at(m, "failure.line") == 12 &&
            !strcmp(str_at(m, "failure.file"), "training.lua") &&
            !strcmp(str_at(m, "failure.message"), "scored model has 200000 parameters") && null_at(m, "score.final_score") &&
            prism_json_length(prism_json_path(m, "metrics.online_loss")) == 6 && verifies(m),
        "param-cap failure -> failure {rule_id, message, file, line}, final null, evidence kept", "");
  static const char *const unscored[] = {"schema", "primary_metric", "prequential_bpb", "bits_per_byte", "final_score",
                                         "lower_is_better", "covered_bytes", "total_bytes_covered",
                                         "sum_neg_log2_likelihood_bits", "cumulative_codelength_bits", "tokens_consumed",
                                         "compute_normalization", "wall_clock_term", "train_bpb_basis",
                                         "anti_cheat_multiplier", "anomaly", "miner_reported_ignored", NULL};
  char why[128] = "";
  check(has_keys(prism_json_get(m, "score"), unscored, why, sizeof why) && isfinite(num_at(m, "score.prequential_bpb")),
        "failed run's score block = the runner's block with final_score null", why);
  prism_json_free(m);
  prism_run_record_free(&r);

  /* watchdog kill (parent-side failure): no summary/done from the child */
  prism_run_record_init(&r);
  feed(&r, "capture 4 16 bytes bytes 1 1000");
  feed(&r, "batch %a 60 %a 0", 8.0, 64.0);
  prism_failure f;
  prism_failure_set(&f, "prism:budget-exceeded", NULL, 0, "training loop exceeded the wall-clock budget safety cap (1320s)");
  info.failure = &f;
  m = prism_manifest_build(&r, &info);
  check(!strcmp(str_at(m, "failure.rule_id"), "prism:budget-exceeded") && bool_at(m, "anti_cheat.budget_exceeded") &&
            !strcmp(str_at(m, "run.stopped_reason"), "wall_clock") && null_at(m, "score.final_score") &&
            !prism_json_path(m, "compute.wall_clock_seconds") && !prism_json_path(m, "compute.peak_rss_bytes") &&
            null_at(m, "artifacts.trained_state"),
        "watchdog: budget_exceeded, stopped wall_clock, no telemetry, final null", "");
  prism_json_free(m);
  prism_failure_set(&f, "prism:artifacts-quota", NULL, 0, "artifacts_dir exceeded the disk quota");
  m = prism_manifest_build(&r, &info);
  check(bool_at(m, "anti_cheat.artifacts_quota_exceeded") && !strcmp(str_at(m, "run.stopped_reason"), "artifacts_quota"),
        "quota watchdog: artifacts_quota_exceeded, stopped artifacts_quota", "");
  prism_json_free(m);
  prism_run_record_free(&r);
  info.failure = NULL;

  /* a stream whose bits overflow: the run fails as prism:score-invalid */
  prism_run_record_init(&r);
  feed(&r, "capture 4 16 bytes bytes 1 1000");
  feed(&r, "batch %a 60 %a 0", 1.5e307, 64.0);
  m = prism_manifest_build(&r, &info);
  check(!strcmp(str_at(m, "failure.rule_id"), "prism:score-invalid") && strstr(str_at(m, "failure.message"), "not finite") &&
            null_at(m, "score.final_score") && verifies(m),
        "overflowing stream -> prism:score-invalid with the scorer's reason", str_at(m, "failure.message"));
  prism_json_free(m);
  prism_run_record_free(&r);
}

static void test_heldout(void) {
  prism_manifest_info info = base_info();
  info.miner = "5F3sa2TJ";
  info.accepted_at = "2025-01-02T03:04:05Z";
  prism_run_record r;
  learner(&r, 20);
  feed(&r, "heldout %a %a 65536 - bytes", 8.2, 5.9);
  prism_json *m = prism_manifest_build(&r, &info);
  double bpb = num_at(m, "score.prequential_bpb");
  double delta = 8.2 - 5.9;
  double want = prism_score_base(bpb) + prism_score_tie_break(bpb, delta, 1.0);
  check(num_at(m, "metrics.heldout_delta") == delta && num_at(m, "score.heldout_delta") == delta &&
            num_at(m, "metrics.val_bpb_trained") == 5.9 && num_at(m, "score.val_bpb_random_init") == 8.2 &&
            int_at(m, "metrics.val_covered_bytes") == 65536 && !strcmp(str_at(m, "metrics.val_bpb_basis"), "bytes") &&
            !strcmp(str_at(m, "metrics.gap_basis"), "prequential") && num_at(m, "score.final_score") == want &&
            !strcmp(str_at(m, "run.heldout"), "scored") && verifies(m),
        "held-out merged: delta, val fields, prequential gap, final = base + tie", "");
  check(!strcmp(str_at(m, "miner"), "5F3sa2TJ") && !strcmp(str_at(m, "accepted_at"), "2025-01-02T03:04:05Z"),
        "leaderboard identity recorded when given", "");
  prism_json_free(m);
  prism_run_record_free(&r);

  learner(&r, 20);
  feed(&r, "heldout-skip no%%20val-*.jsonl%%20in%%20/data/val");
  m = prism_manifest_build(&r, &info);
  check(!strcmp(str_at(m, "run.heldout"), "skipped") && !strcmp(str_at(m, "run.heldout_skip_reason"), "no val-*.jsonl in /data/val") &&
            !prism_json_path(m, "metrics.heldout_delta") && !prism_json_path(m, "score.heldout_delta") &&
            num_at(m, "score.final_score") == prism_score_base(num_at(m, "score.prequential_bpb")),
        "held-out skipped: reason recorded, no held-out keys, final = 1/(1+bpb)", "");
  prism_json_free(m);
  prism_run_record_free(&r);
}

static void test_write(void) {
  char dir[] = "/tmp/prism_test_manifest_XXXXXX";
  if (!mkdtemp(dir)) {
    check(0, "mkdtemp", "");
    return;
  }
  char p[512], victim[512], err[512];
  const char *planted[] = {"prism_run_manifest.json", "prism_run_manifest_fake.json", "prism_run_manifest.v1.json"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, planted[i]);
    FILE *f = fopen(p, "w");
    fputs("{\"score\": {\"final_score\": 1.0}}", f);
    fclose(f);
  }
  snprintf(victim, sizeof victim, "%s/victim.txt", dir);
  FILE *f = fopen(victim, "w");
  fputs("keep", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/prism_run_manifest.v2.json", dir);
  int linked = symlink(victim, p);
  snprintf(p, sizeof p, "%s/notes.json", dir);
  f = fopen(p, "w");
  fputs("{}", f);
  fclose(f);

  prism_run_record r;
  learner(&r, 4);
  prism_manifest_info info = base_info();
  prism_json *m = prism_manifest_build(&r, &info);
  int rc = prism_manifest_write(dir, m, err, sizeof err);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cd %s && test \"$(ls -A | tr '\\n' ' ')\" = 'notes.json prism_run_manifest.v2.json victim.txt '", dir);
  check(rc == 0 && linked == 0 && system(cmd) == 0, "planted manifests deleted; only ours, notes.json, victim.txt remain", err);
  char buf[16] = "";
  f = fopen(victim, "r");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  struct stat st;
  snprintf(p, sizeof p, "%s/prism_run_manifest.v2.json", dir);
  check(!strcmp(buf, "keep") && lstat(p, &st) == 0 && S_ISREG(st.st_mode), "symlink replaced, its target untouched", buf);
  prism_json *back = prism_json_read_file(p, 1 << 24, err, sizeof err);
  char *text = prism_json_write(m, 2);
  f = fopen(p, "r");
  char file[1 << 16];
  n = fread(file, 1, sizeof file - 1, f);
  file[n] = '\0';
  fclose(f);
  check(back && prism_json_equal(back, m) && verifies(back) && !strcmp(file, text),
        "file = sorted indent-2 text, no trailing newline, verifies", err);
  free(text);
  prism_json_free(back);
  prism_json_free(m);
  prism_run_record_free(&r);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
}

int main(void) {
  test_learner();
  test_derived();
  test_failures();
  test_heldout();
  test_write();
  return check_summary();
}

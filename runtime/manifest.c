/* manifest.c — the run manifest (see manifest.h). Field names and meanings follow the reference
 * runner (§1.13) plus the host's compute reconciliation (§1.16) and held-out merge (§3.5), so a
 * validator's existing tooling reads ours; additions are `runtime`, `failure`, `data.skipped_lines`,
 * `run.heldout` and, when given, top-level `miner`/`accepted_at` (docs/validator.md).
 *
 * Derived values are computed here from the raw stream the parent accumulated, in one place:
 * covered_bytes is round-half-even of the unrounded byte-weight sum (Python's round()), the
 * step-0 anomaly is online_loss[0] < 0.5·ln(max(V, 2)) on the sanitized loss, zero_forward is
 * "no batch or no covered byte". The score block is whatever score.c says about the finished
 * manifest, so the file and `prism score` cannot disagree. */
#include "manifest.h"
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <luajit.h>

#include "score.h"

#ifndef PRISM_VERSION
#define PRISM_VERSION "0.0.0"
#endif

typedef struct {
  int rc; /* sticky: any failed set makes the build return NULL (out of memory) */
} builder;

static void put(builder *b, prism_json *o, const char *k, prism_json *v) {
  if (prism_json_set(o, k, v) != 0) b->rc = -1;
}
static void put_int(builder *b, prism_json *o, const char *k, int64_t v) { put(b, o, k, prism_json_int(v)); }
static void put_num(builder *b, prism_json *o, const char *k, double v) { put(b, o, k, prism_json_double(v)); }
static void put_bool(builder *b, prism_json *o, const char *k, bool v) { put(b, o, k, prism_json_bool(v)); }
static void put_str(builder *b, prism_json *o, const char *k, const char *v) { put(b, o, k, prism_json_string(v)); }
/* A finite double, else null. */
static void put_num_or_null(builder *b, prism_json *o, const char *k, bool ok, double v) {
  put(b, o, k, ok && isfinite(v) ? prism_json_double(v) : prism_json_null());
}
static const char *nonempty(const char *s) { return s && *s ? s : NULL; }

/* Reference basis names are "bytes" | "tokenizer"; a runtime tokenizer is named precisely
 * ("gpt2", "llama") so the held-out, which runs on that same tokenizer (SPEC §6), compares equal. */
static const char *train_basis(const prism_run_record *rec) {
  if (!rec->capture_started || !rec->train_bpb_basis[0] || strcmp(rec->train_bpb_basis, "bytes") == 0) return "bytes";
  if (strcmp(rec->tokenizer, "gpt2") == 0 || strcmp(rec->tokenizer, "llama") == 0) return rec->tokenizer;
  return rec->train_bpb_basis;
}

static prism_json *failure_block(builder *b, const prism_failure *f) {
  prism_json *o = prism_json_object();
  if (!o) {
    b->rc = -1;
    return NULL;
  }
  put_str(b, o, "rule_id", f->rule_id);
  put_str(b, o, "message", f->message);
  put(b, o, "file", f->file[0] ? prism_json_string(f->file) : prism_json_null());
  put(b, o, "line", f->line > 0 ? prism_json_int(f->line) : prism_json_null());
  return o;
}

static prism_json *doubles(builder *b, const double *v, size_t n) {
  prism_json *a = prism_json_array();
  if (!a) {
    b->rc = -1;
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    if (prism_json_append(a, prism_json_double(v[i])) != 0) b->rc = -1;
  return a;
}

/* 6 · params · tokens computed exactly, then rounded once to a double as Python's float(int) does. */
static double flops(int64_t params, int64_t tokens) {
  __int128 f = (__int128)6 * params * tokens;
  return (double)f;
}

static bool is_cuda(const char *device) { return device && strncmp(device, "cuda", 4) == 0; }

prism_json *prism_manifest_build(const prism_run_record *rec, const prism_manifest_info *info) {
  builder b = {0};
  const prism_failure *fail = NULL;
  if (info->failure && info->failure->rule_id[0]) fail = info->failure;
  else if (rec->failure.rule_id[0]) fail = &rec->failure;
  const char *sid = nonempty(info->submission_id) ? info->submission_id : "container";
  const char *device = nonempty(info->device) ? info->device : "cpu";
  int world = info->world_size > 0 ? info->world_size : 1;
  bool budget_kill = fail && strcmp(fail->rule_id, "prism:budget-exceeded") == 0;
  bool quota_kill = fail && strcmp(fail->rule_id, "prism:artifacts-quota") == 0;
  const char *stopped = nonempty(rec->stopped_reason);
  if (!stopped && budget_kill) stopped = "wall_clock"; /* what the reference's watchdog manifest says */
  if (!stopped && quota_kill) stopped = "artifacts_quota";

  /* derived stream values (reference §1.11) */
  int64_t covered = (int64_t)rint(rec->covered_bytes); /* default rounding mode: half to even */
  double bits = prism_score_bits(rec->sum_nll_nats);
  double bpb = covered > 0 ? bits / (double)covered : NAN;
  double baseline = log((double)(info->vocab_size > 2 ? info->vocab_size : 2));
  double threshold = 0.5 * baseline;
  bool have_step0 = rec->n_batches > 0;
  double step0 = have_step0 ? rec->online_loss[0] : NAN;
  bool anomaly = have_step0 && step0 < threshold;
  bool zero_forward = rec->n_batches == 0 || covered <= 0;

  prism_json *m = prism_json_object();
  prism_json *run = prism_json_object(), *compute = prism_json_object(), *data = prism_json_object();
  prism_json *metrics = prism_json_object(), *anti = prism_json_object(), *artifacts = prism_json_object();
  prism_json *runtime = prism_json_object();
  if (!m || !run || !compute || !data || !metrics || !anti || !artifacts || !runtime) {
    prism_json_free(m), prism_json_free(run), prism_json_free(compute), prism_json_free(data);
    prism_json_free(metrics), prism_json_free(anti), prism_json_free(artifacts), prism_json_free(runtime);
    return NULL;
  }
  put_str(&b, m, "schema_version", PRISM_MANIFEST_SCHEMA);
  put_str(&b, m, "submission_id", sid);
  char run_id[512];
  snprintf(run_id, sizeof run_id, "prism-reexec-%s", sid);
  put_str(&b, m, "run_id", run_id);
  put_str(&b, m, "mode", nonempty(info->mode) ? info->mode : "gpu_proxy_eval");
  if (nonempty(info->miner)) put_str(&b, m, "miner", info->miner);
  if (nonempty(info->accepted_at)) put_str(&b, m, "accepted_at", info->accepted_at);
  put_bool(&b, m, "miner_reported_ignored", true);

  put_int(&b, run, "seed", info->seed);
  put_bool(&b, run, "forced_init", true);
  put_bool(&b, run, "deterministic_algorithms", true);
  put_int(&b, run, "world_size", world);
  put_int(&b, run, "rank", info->rank);
  put_int(&b, run, "local_rank", info->local_rank);
  put_str(&b, run, "device", device);
  put_str(&b, run, "master_addr", "127.0.0.1");
  put_int(&b, run, "nproc_per_node", world);
  put_str(&b, run, "stopped_reason", stopped); /* NULL -> null */
  put_str(&b, run, "heldout", rec->have_heldout ? "scored" : rec->heldout_skip[0] ? "skipped" : "not_run");
  if (rec->heldout_skip[0] && !rec->have_heldout) put_str(&b, run, "heldout_skip_reason", rec->heldout_skip);
  put(&b, m, "run", run);

  put_str(&b, compute, "schema", "prism_compute.v1");
  put_int(&b, compute, "gpu_count", is_cuda(device) ? world : 0);
  put_int(&b, compute, "world_size", world);
  put_int(&b, compute, "nproc_per_node", world);
  put_str(&b, compute, "device", device);
  if (info->max_gpu_count > 0) put_int(&b, compute, "max_gpu_count", info->max_gpu_count);
  if (rec->model_params >= 0) {
    put_int(&b, compute, "model_params", rec->model_params);
    put_num(&b, compute, "estimated_flops", flops(rec->model_params, rec->predicted_tokens));
  }
  if (rec->finished) {
    if (rec->peak_rss_bytes >= 0) put_int(&b, compute, "peak_rss_bytes", rec->peak_rss_bytes);
    if (is_cuda(device) && rec->peak_tensor_bytes >= 0) put_int(&b, compute, "peak_vram_bytes", rec->peak_tensor_bytes);
    if (rec->wall_clock_seconds >= 0 && isfinite(rec->wall_clock_seconds))
      put_num(&b, compute, "wall_clock_seconds", rec->wall_clock_seconds);
  }
  put(&b, m, "compute", compute);

  put_str(&b, data, "data_dir", info->data_dir);
  put_int(&b, data, "shard_count", rec->shard_count);
  put_int(&b, data, "available_bytes", rec->available_bytes);
  put_str(&b, data, "source", nonempty(info->data_source) ? info->data_source : "locked-fineweb-edu-train");
  put_bool(&b, data, "random_token_fallback", false);
  put_bool(&b, data, "single_pass", true);
  put_int(&b, data, "covered_bytes", covered);
  put(&b, data, "covered_bytes_cumulative", doubles(&b, rec->covered_bytes_cumulative, rec->n_batches));
  put_int(&b, data, "consumed_documents", rec->consumed_documents);
  put_int(&b, data, "consumed_batches", (int64_t)rec->n_batches);
  put_int(&b, data, "consumed_offsets", rec->consumed_offsets);
  put_int(&b, data, "distinct_offsets", rec->distinct_offsets);
  put_int(&b, data, "skipped_lines", rec->skipped_lines);
  put_str(&b, data, "stopped_reason", stopped);
  put(&b, m, "data", data);

  put(&b, metrics, "online_loss", doubles(&b, rec->online_loss, rec->n_batches));
  put_num_or_null(&b, metrics, "step0_loss", have_step0, step0);
  put_num(&b, metrics, "random_init_baseline_nats", baseline);
  put_int(&b, metrics, "consumed_batches", (int64_t)rec->n_batches);
  put_int(&b, metrics, "covered_bytes", covered);
  put_int(&b, metrics, "predicted_tokens", rec->predicted_tokens);
  put_int(&b, metrics, "tokens_seen", rec->predicted_tokens);
  put_num(&b, metrics, "sum_neg_log_likelihood_nats", rec->sum_nll_nats);
  put_num_or_null(&b, metrics, "sum_neg_log2_likelihood_bits", true, bits);
  put_num_or_null(&b, metrics, "cumulative_codelength_bits", true, bits);
  put_num_or_null(&b, metrics, "prequential_bpb", covered > 0, bpb);
  put_num_or_null(&b, metrics, "bits_per_byte", covered > 0, bpb);
  put_int(&b, metrics, "total_bytes_covered", covered);
  put_int(&b, metrics, "nan_inf_batches", rec->nan_inf_batches);
  put_str(&b, metrics, "train_bpb_basis", train_basis(rec));
  put(&b, metrics, "model_params", rec->model_params >= 0 ? prism_json_int(rec->model_params) : prism_json_null());
  put(&b, m, "metrics", metrics);

  put_bool(&b, anti, "step0_anomaly", anomaly);
  put_num(&b, anti, "step0_anomaly_threshold_nats", threshold);
  put_bool(&b, anti, "nan_inf_detected", rec->nan_inf_batches > 0);
  put_int(&b, anti, "nan_inf_batches", rec->nan_inf_batches);
  put_bool(&b, anti, "no_learning", zero_forward);
  put_bool(&b, anti, "zero_forward", zero_forward);
  if (budget_kill) put_bool(&b, anti, "budget_exceeded", true);
  if (quota_kill) put_bool(&b, anti, "artifacts_quota_exceeded", true);
  put(&b, m, "anti_cheat", anti);

  /* The reference never keeps a trained state for a zero-forward run (§1.12). */
  bool saved = rec->trained_state_saved && !zero_forward && nonempty(info->trained_state);
  put(&b, artifacts, "trained_state", saved ? prism_json_string(info->trained_state) : prism_json_null());
  put(&b, m, "artifacts", artifacts);

  put_str(&b, runtime, "name", "prism");
  put_str(&b, runtime, "version", nonempty(info->runtime_version) ? info->runtime_version : PRISM_VERSION);
  put_str(&b, runtime, "backend", nonempty(info->backend) ? info->backend : "cpu");
  put_str(&b, runtime, "luajit", nonempty(info->luajit_version) ? info->luajit_version : LUAJIT_VERSION);
  put_str(&b, runtime, "git_revision", nonempty(info->git_revision) ? info->git_revision : prism_git_revision());
  /* The process layer this run had (docs/security.md): it depends on the kernel and the build. */
  prism_json *iso = prism_json_object();
  if (iso) {
    put_bool(&b, iso, "seccomp", prism_jail_seccomp_active());
    put_int(&b, iso, "landlock_abi", prism_jail_landlock_abi());
    put(&b, runtime, "isolation", iso);
  }
  put(&b, m, "runtime", runtime);

  if (fail) put(&b, m, "failure", failure_block(&b, fail));
  else if (rec->have_heldout)
    prism_score_merge_heldout(m, rec->val_bpb_random_init, rec->val_bpb_trained, rec->val_covered_bytes,
                              rec->train_bpb_converged, nonempty(rec->val_bpb_basis));

  /* The score is what the scorer says about this very manifest. A stream it refuses is a failed
   * run; the failure goes in first so that re-scoring the file gives the same null block. */
  prism_json *score = NULL;
  char why[1024];
  int sr = prism_score_manifest(m, &score, why, sizeof why);
  if (sr != 0 && !fail) {
    prism_failure f;
    if (zero_forward)
      prism_failure_set(&f, "prism:zero-forward", "", 0,
                        "zero-batch / no-forward run: no online loss captured (miner never trained on the "
                        "instrumented single-pass batches)");
    else
      prism_failure_set(&f, "prism:score-invalid", "", 0, "the captured stream cannot be scored: %s", why);
    put(&b, m, "failure", failure_block(&b, &f));
  }
  if (sr != 0) score = prism_score_unscored_block(m);
  if (!score) b.rc = -1;
  else put(&b, m, "score", score);
  if (b.rc != 0) {
    prism_json_free(m);
    return NULL;
  }
  return m;
}

const char *prism_manifest_failure_rule(const prism_json *manifest) {
  const prism_json *f = prism_json_get(manifest, "failure");
  if (prism_json_kind_of(f) == PRISM_JSON_NULL) return NULL;
  const char *r = prism_json_string_value(prism_json_get(f, "rule_id"));
  return r ? r : "prism:unknown";
}

static bool is_manifest_name(const char *name) {
  size_t n = strlen(name);
  return strncmp(name, "prism_run_manifest", 18) == 0 && n >= 23 && strcmp(name + n - 5, ".json") == 0;
}

int prism_manifest_write(const char *out_dir, const prism_json *manifest, char *err, size_t errcap) {
  int dfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    snprintf(err, errcap, "cannot open output directory %s: %s", out_dir, strerror(errno));
    return -1;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    snprintf(err, errcap, "cannot list %s: %s", out_dir, strerror(errno));
    close(dfd);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  /* unlinkat removes the entry itself (a symlink, never its target); a planted directory of that
   * name is removed if empty, else the run cannot leave an unambiguous manifest and says so. */
  while ((e = readdir(d)) != NULL) {
    if (!is_manifest_name(e->d_name)) continue;
    if (unlinkat(dfd, e->d_name, 0) != 0 && unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
      snprintf(err, errcap, "cannot remove %s/%s: %s", out_dir, e->d_name, strerror(errno));
      rc = -1;
      break;
    }
  }
  closedir(d);
  if (rc != 0) return rc;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", out_dir, PRISM_MANIFEST_NAME) >= sizeof path) {
    snprintf(err, errcap, "output directory path is too long");
    return -1;
  }
  return prism_json_write_file_atomic(path, manifest, 2, err, errcap);
}

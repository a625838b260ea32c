/* cmd_run.c — the `prism run` and `prism check` command lines (SPEC §1): option parsing with
 * strict values and every default, the bundled sample dataset as the default --data, and the
 * end-of-run summary, human-readable or --json. The evaluation itself is run.c; this file only
 * turns argv into prism_run_options and an outcome into text and an exit code. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "json.h"
#include "run.h"

#ifndef PRISM_SAMPLE_DATA_DIR
#define PRISM_SAMPLE_DATA_DIR "examples/data/sample"
#endif

enum { EXIT_USAGE = 2 };

static const char run_help[] =
    "usage: prism run BUNDLE [options]\n"
    "\n"
    "The whole evaluation of a submission (a directory or a .zip): intake, static gates, the\n"
    "forced-seed run of train(ctx) with the online-loss instrument, the held-out pass, the score.\n"
    "Writes OUT/prism_run_manifest.v2.json (also when the run fails) and prints a summary.\n"
    "\n"
    "options (defaults in brackets):\n"
    "  --data DIR             train data [the bundled sample dataset; env PRISM_SAMPLE_DATA]\n"
    "  --val DIR|none         val split for the held-out pass [none; with the bundled sample: its val/]\n"
    "  --out DIR              output directory [./prism-out/<bundle name>]\n"
    "  --device cpu|cuda      [cpu] (this build has no CUDA backend)\n"
    "  --nproc N              ranks [1] (only 1 until distributed training lands)\n"
    "  --seed N               forced seed [1337]\n"
    "  --vocab-size N         ctx.vocab_size [4096]\n"
    "  --seq-len N            ctx.max_seq_len [128]\n"
    "  --max-params N         parameter cap [150000000]\n"
    "  --token-budget N       stop after N tokens [none]\n"
    "  --step-budget N        stop after N batches [none]\n"
    "  --time-budget SEC      graceful wall-clock budget of the loop [1200]; 0 = none, no watchdog\n"
    "  --grace SEC            the watchdog kills the run at time budget + grace [120]\n"
    "  --artifacts-quota B    bytes the run may write to OUT [2GiB]; suffixes KiB MiB GiB\n"
    "  --heldout-bytes N      bytes of val (and train) the held-out scores [65536]; 0 = all\n"
    "  --tokenizers DIR       staged reference tokenizers [env PRISM_REFERENCE_TOKENIZER_DIR]\n"
    "  --threads N            kernel threads [all cores; env PRISM_THREADS]\n"
    "  --static-timeout SEC   time bound of the static build_model check [30]\n"
    "  --submission-id ID     the manifest's submission_id [the bundle name]\n"
    "  --miner ID             the manifest's miner, for prism leaderboard [omitted]\n"
    "  --accepted-at TIME     the manifest's accepted_at (ISO-8601 UTC), for ties [omitted]\n"
    "  --json                 print the summary as JSON on stdout\n"
    "  --quiet                no progress, no summary, no output from the submission\n"
    "  --help                 this message\n"
    "\n"
    "exit codes: 0 scored; 1 evaluation failed; 2 usage error; 3 rejected at intake or a static\n"
    "gate; 4 internal error. Every failure prints `prism: <rule-id>: <message>` on stderr.\n";

static const char check_help[] =
    "usage: prism check BUNDLE [options]\n"
    "\n"
    "Intake, the syntax of every .lua file, and the forced-seed build_model(ctx) parameter count in\n"
    "a jailed child; no training. Prints every violation as `prism: <rule-id>: <file>:<line>:\n"
    "<message>` on stderr; exits 0 when clean (printing the parameter count), 3 when rejected.\n"
    "\n"
    "options:\n"
    "  --max-params N         parameter cap [150000000]\n"
    "  --vocab-size N         ctx.vocab_size [4096]\n"
    "  --seq-len N            ctx.max_seq_len [128]\n"
    "  --seed N               forced seed [1337]\n"
    "  --tokenizers DIR       staged reference tokenizers [env PRISM_REFERENCE_TOKENIZER_DIR]\n"
    "  --threads N            kernel threads [all cores]\n"
    "  --static-timeout SEC   time bound of the static check [30]\n"
    "  --json                 print the result as JSON on stdout\n"
    "  --quiet                print only violations\n"
    "  --help                 this message\n";

/* ------------------------------------------------------------------ values */

static int usage_error(const char *cmd, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "prism %s: ", cmd);
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(see `prism %s --help`)\n", cmd);
  return EXIT_USAGE;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  if (!s || !*s) return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi || !(*s >= '0' && *s <= '9')) return false;
  *out = v;
  return true;
}

static bool parse_seconds(const char *s, double *out) {
  if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '.')) return false;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v) || v < 0 || v > 1e9) return false;
  *out = v;
  return true;
}

/* Bytes: an integer with an optional binary suffix (K, KiB, M, MiB, G, GiB). */
static bool parse_bytes(const char *s, int64_t *out) {
  if (!s || !(*s >= '0' && *s <= '9')) return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || v < 0) return false;
  int shift = 0;
  if (!*end) shift = 0;
  else if (!strcmp(end, "K") || !strcmp(end, "KiB")) shift = 10;
  else if (!strcmp(end, "M") || !strcmp(end, "MiB")) shift = 20;
  else if (!strcmp(end, "G") || !strcmp(end, "GiB")) shift = 30;
  else return false;
  if (v > (INT64_MAX >> shift)) return false;
  *out = (int64_t)v << shift;
  return true;
}

/* ------------------------------------------------------------------ parsing */

typedef struct parsed {
  prism_run_options o;
  bool json, data_given, val_given, val_none;
  int threads;
} parsed;

/* Returns -1 when argv was parsed, else the exit code to return now (help or a usage error). */
static int parse_args(const char *cmd, int argc, char **argv, parsed *p) {
  bool is_run = !strcmp(cmd, "run");
  prism_run_options *o = &p->o;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !strcmp(a, "-")) {
      if (o->bundle_path) return usage_error(cmd, "more than one bundle given ('%s' and '%s')", o->bundle_path, a);
      o->bundle_path = a;
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(is_run ? run_help : check_help, stdout);
      return 0;
    }
    if (!strcmp(a, "--json")) { p->json = true; continue; }
    if (!strcmp(a, "--quiet")) { o->quiet = true; continue; }
    /* every other option takes a value: --name VALUE or --name=VALUE */
    char name[64];
    const char *v;
    const char *eq = strchr(a, '=');
    if (eq && (size_t)(eq - a) < sizeof name) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = '\0';
      v = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", a);
      v = i + 1 < argc ? argv[++i] : NULL;
    }
#define RUN_ONLY if (!is_run) goto unknown
    int64_t n;
    double d;
    if (!strcmp(name, "--data")) { RUN_ONLY; if (!v || !*v) goto missing; o->data_dir = v; p->data_given = true; }
    else if (!strcmp(name, "--val")) {
      RUN_ONLY; if (!v || !*v) goto missing;
      p->val_given = true;
      if (!strcmp(v, "none")) p->val_none = true; else o->val_dir = v;
    }
    else if (!strcmp(name, "--out")) { RUN_ONLY; if (!v || !*v) goto missing; o->out_dir = v; }
    else if (!strcmp(name, "--submission-id")) { RUN_ONLY; if (!v || !*v) goto missing; o->submission_id = v; }
    else if (!strcmp(name, "--miner")) { RUN_ONLY; if (!v || !*v) goto missing; o->miner = v; }
    else if (!strcmp(name, "--accepted-at")) { RUN_ONLY; if (!v || !*v) goto missing; o->accepted_at = v; }
    else if (!strcmp(name, "--tokenizers")) { if (!v || !*v) goto missing; o->tokenizers_dir = v; }
    else if (!strcmp(name, "--device")) {
      RUN_ONLY; if (!v) goto missing;
      if (!strcmp(v, "cuda") || !strncmp(v, "cuda:", 5))
        return usage_error(cmd, "--device %s: no CUDA backend in this build%s", v, "");
      if (strcmp(v, "cpu")) return usage_error(cmd, "--device expects cpu or cuda, got '%s'%s", v, "");
      o->device = "cpu";
    }
    else if (!strcmp(name, "--nproc")) {
      RUN_ONLY;
      if (!parse_i64(v, 1, 8, &n)) return usage_error(cmd, "--nproc expects an integer in 1..8, got '%s'%s", v ? v : "", "");
      if (n > 1) return usage_error(cmd, "--nproc %s: only 1 process is supported until distributed training lands%s", v, "");
      o->nproc = 1;
    }
    else if (!strcmp(name, "--seed")) { if (!parse_i64(v, 0, INT64_MAX, &n)) goto bad_int; o->seed = n; }
    else if (!strcmp(name, "--vocab-size")) { if (!parse_i64(v, 2, 1 << 30, &n)) goto bad_int; o->vocab_size = n; }
    else if (!strcmp(name, "--seq-len")) { if (!parse_i64(v, 2, 1 << 24, &n)) goto bad_int; o->seq_len = n; }
    else if (!strcmp(name, "--max-params")) { if (!parse_i64(v, 1, INT64_MAX, &n)) goto bad_int; o->max_params = n; }
    else if (!strcmp(name, "--token-budget")) { RUN_ONLY; if (!parse_i64(v, 0, INT64_MAX, &n)) goto bad_int; o->token_budget = n; }
    else if (!strcmp(name, "--step-budget")) { RUN_ONLY; if (!parse_i64(v, 0, INT64_MAX, &n)) goto bad_int; o->step_budget = n; }
    else if (!strcmp(name, "--heldout-bytes")) { RUN_ONLY; if (!parse_i64(v, 0, INT64_MAX, &n)) goto bad_int; o->heldout_bytes = n; }
    else if (!strcmp(name, "--threads")) { if (!parse_i64(v, 1, 4096, &n)) goto bad_int; p->threads = (int)n; }
    else if (!strcmp(name, "--time-budget")) { RUN_ONLY; if (!parse_seconds(v, &d)) goto bad_sec; o->time_budget = d; }
    else if (!strcmp(name, "--grace")) { RUN_ONLY; if (!parse_seconds(v, &d)) goto bad_sec; o->grace = d; }
    else if (!strcmp(name, "--static-timeout")) { if (!parse_seconds(v, &d) || d <= 0) goto bad_sec; o->static_timeout = d; }
    else if (!strcmp(name, "--artifacts-quota")) {
      RUN_ONLY;
      if (!parse_bytes(v, &n)) return usage_error(cmd, "--artifacts-quota expects bytes (e.g. 2GiB), got '%s'%s", v ? v : "", "");
      o->artifacts_quota = n;
    }
    else goto unknown;
    continue;
#undef RUN_ONLY
  unknown:
    return usage_error(cmd, "unknown option '%s'%s", a, "");
  missing:
    return usage_error(cmd, "%s expects a value%s", name, "");
  bad_int:
    return usage_error(cmd, "%s expects a non-negative integer in range, got '%s'", name, v ? v : "");
  bad_sec:
    return usage_error(cmd, "%s expects a number of seconds, got '%s'", name, v ? v : "");
  }
  if (!o->bundle_path) return usage_error(cmd, "no bundle given%s%s", "", "");
  return -1;
}

/* Kernel threads for the children: --threads, else the process default (global --threads,
 * PRISM_THREADS, or all cores). Reading it sets OpenMP's count only; no pool is created. */
static int resolve_threads(int given) { return given > 0 ? given : prism_backend_get_threads(); }

/* ------------------------------------------------------------------ output */

/* `prism: <rule-id>: [<file>:<line>: ]<message>`, without repeating a location the message
 * (a Lua error) already starts with. */
static void print_failure(const prism_failure *f) {
  char where[300] = "";
  if (f->file[0]) {
    if (f->line > 0) snprintf(where, sizeof where, "%s:%d: ", f->file, f->line);
    else snprintf(where, sizeof where, "%s: ", f->file);
    if (!strncmp(f->message, f->file, strlen(f->file)) && f->message[strlen(f->file)] == ':') where[0] = '\0';
  }
  fprintf(stderr, "prism: %s: %s%s\n", f->rule_id, where, f->message);
}

static prism_json *failure_json(const prism_failure *f) {
  if (!f->rule_id[0]) return prism_json_null();
  prism_json *o = prism_json_object();
  prism_json_set(o, "rule_id", prism_json_string(f->rule_id));
  prism_json_set(o, "message", prism_json_string(f->message));
  prism_json_set(o, "file", f->file[0] ? prism_json_string(f->file) : prism_json_null());
  prism_json_set(o, "line", f->line > 0 ? prism_json_int(f->line) : prism_json_null());
  return o;
}

static const char *status_word(int code) {
  switch (code) {
  case 0: return "scored";
  case 1: return "failed";
  case 3: return "rejected";
  default: return "error";
  }
}

static prism_json *clone_or_null(const prism_json *v) { return v ? prism_json_clone(v) : prism_json_null(); }

static prism_json *summary_json(const prism_run_outcome *out, double elapsed) {
  const prism_json *m = out->manifest;
  prism_json *s = prism_json_object();
  prism_json_set(s, "bundle", prism_json_string(out->bundle_name));
  prism_json_set(s, "status", prism_json_string(status_word(out->exit_code)));
  prism_json_set(s, "exit_code", prism_json_int(out->exit_code));
  static const char *score_keys[] = {"prequential_bpb", "final_score", "flags", "anti_cheat_multiplier",
                                     "heldout_delta", "val_bpb_trained", "val_bpb_random_init",
                                     "memorization_flag"};
  for (size_t i = 0; i < sizeof score_keys / sizeof *score_keys; i++) {
    char path[64];
    snprintf(path, sizeof path, "score.%s", score_keys[i]);
    prism_json_set(s, score_keys[i], clone_or_null(m ? prism_json_path(m, path) : NULL));
  }
  static const char *metric_keys[] = {"consumed_batches", "predicted_tokens", "covered_bytes", "model_params"};
  for (size_t i = 0; i < sizeof metric_keys / sizeof *metric_keys; i++) {
    char path[64];
    snprintf(path, sizeof path, "metrics.%s", metric_keys[i]);
    prism_json_set(s, metric_keys[i], clone_or_null(m ? prism_json_path(m, path) : NULL));
  }
  prism_json_set(s, "stopped_reason", clone_or_null(m ? prism_json_path(m, "run.stopped_reason") : NULL));
  prism_json_set(s, "train_wall_clock_seconds", clone_or_null(m ? prism_json_path(m, "compute.wall_clock_seconds") : NULL));
  prism_json_set(s, "elapsed_seconds", prism_json_double(elapsed));
  prism_json_set(s, "heldout_skipped", out->heldout_skip[0] ? prism_json_string(out->heldout_skip) : prism_json_null());
  prism_json_set(s, "manifest", out->manifest_written ? prism_json_string(out->manifest_path) : prism_json_null());
  prism_json_set(s, "failure", failure_json(&out->failure));
  return s;
}

static void print_number_row(const char *label, const prism_json *v, const char *fmt) {
  if (prism_json_is_number(v)) {
    char num[40];
    snprintf(num, sizeof num, fmt, prism_json_number(v));
    printf("  %-16s %s\n", label, num);
  } else {
    printf("  %-16s -\n", label);
  }
}

static const char *grouped(const prism_json *v, char *buf, size_t cap) {
  if (!prism_json_is_number(v)) return "-";
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", (long long)prism_json_int_value(v));
  size_t len = strlen(digits), o = 0;
  for (size_t i = 0; i < len && o + 2 < cap; i++) {
    if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

static void print_summary(const prism_run_outcome *out, double elapsed) {
  const prism_json *m = out->manifest;
  char a[40], b[40];
  printf("prism run: %s: %s", out->bundle_name, status_word(out->exit_code));
  if (out->failure.rule_id[0]) printf(" (%s)", out->failure.rule_id);
  printf("\n");
  print_number_row("prequential bpb", m ? prism_json_path(m, "score.prequential_bpb") : NULL, "%.6f");
  print_number_row("final score", m ? prism_json_path(m, "score.final_score") : NULL, "%.6f");
  const prism_json *flags = m ? prism_json_path(m, "score.flags") : NULL;
  printf("  %-16s ", "flags");
  if (prism_json_length(flags) == 0) printf("none");
  for (size_t i = 0; i < prism_json_length(flags); i++)
    printf("%s%s", i ? ", " : "", prism_json_string_value(prism_json_at(flags, i)) ?: "?");
  printf("\n");
  const prism_json *delta = m ? prism_json_path(m, "metrics.heldout_delta") : NULL;
  if (prism_json_is_number(delta)) {
    printf("  %-16s delta %.6f (val bpb %.6f trained vs %.6f random init)\n", "held-out", prism_json_number(delta),
           prism_json_number(prism_json_path(m, "metrics.val_bpb_trained")),
           prism_json_number(prism_json_path(m, "metrics.val_bpb_random_init")));
  } else if (out->heldout_skip[0]) {
    printf("  %-16s skipped: %s\n", "held-out", out->heldout_skip);
  } else {
    printf("  %-16s not run (no --val)\n", "held-out");
  }
  const prism_json *stopped = m ? prism_json_path(m, "run.stopped_reason") : NULL;
  printf("  %-16s %s (stopped: %s)\n", "batches", grouped(m ? prism_json_path(m, "metrics.consumed_batches") : NULL, a, sizeof a),
         prism_json_string_value(stopped) ? prism_json_string_value(stopped) : "null");
  printf("  %-16s %s predicted\n", "tokens", grouped(m ? prism_json_path(m, "metrics.predicted_tokens") : NULL, a, sizeof a));
  printf("  %-16s %s covered\n", "bytes", grouped(m ? prism_json_path(m, "metrics.covered_bytes") : NULL, a, sizeof a));
  printf("  %-16s %s\n", "parameters", grouped(m ? prism_json_path(m, "metrics.model_params") : NULL, b, sizeof b));
  const prism_json *train_wall = m ? prism_json_path(m, "compute.wall_clock_seconds") : NULL;
  if (prism_json_is_number(train_wall))
    printf("  %-16s %.1f s (train %.1f s)\n", "wall time", elapsed, prism_json_number(train_wall));
  else
    printf("  %-16s %.1f s\n", "wall time", elapsed);
  printf("  %-16s %s\n", "manifest", out->manifest_written ? out->manifest_path : "(not written)");
}

static void emit_json(prism_json *j) {
  char *text = j ? prism_json_write(j, 2) : NULL;
  if (text) printf("%s\n", text);
  free(text);
  prism_json_free(j);
}

/* ------------------------------------------------------------------ commands */

int prism_cmd_run(int argc, char **argv) {
  parsed p;
  memset(&p, 0, sizeof p);
  prism_run_options_defaults(&p.o);
  int rc = parse_args("run", argc, argv, &p);
  if (rc >= 0) return rc;
  prism_run_options *o = &p.o;
  if (!o->tokenizers_dir) {
    const char *env = getenv("PRISM_REFERENCE_TOKENIZER_DIR");
    if (env && *env) o->tokenizers_dir = env;
  }
  if (!p.data_given) {
    const char *env = getenv("PRISM_SAMPLE_DATA");
    o->data_dir = env && *env ? env : PRISM_SAMPLE_DATA_DIR;
    /* The sample ships a val split: by default the held-out runs on it, as it would on a validator. */
    if (!p.val_given) o->val_dir = o->data_dir;
    fprintf(stderr, "prism: no --data given: using the bundled sample dataset at %s\n", o->data_dir);
  }
  if (p.val_none) o->val_dir = NULL;
  o->threads = resolve_threads(p.threads);
  o->progress = isatty(2);
  prism_run_outcome out;
  int code = prism_run_evaluate(o, &out);
  if (code == 2 || code == 130) { /* OUT not creatable (usage), or interrupted: no outcome to summarize */
    print_failure(&out.failure);
    prism_run_outcome_free(&out);
    return code;
  }
  for (int i = 0; i < out.n_warnings; i++) fprintf(stderr, "prism: warning: %s\n", out.warnings[i]);
  if (out.n_violations > 0) {
    for (int i = 0; i < out.n_violations; i++) print_failure(&out.violations[i]);
  } else if (out.failure.rule_id[0]) {
    print_failure(&out.failure);
  }
  if (p.json) emit_json(summary_json(&out, out.wall_seconds));
  else if (!o->quiet) print_summary(&out, out.wall_seconds);
  prism_run_outcome_free(&out);
  return code;
}

int prism_cmd_check(int argc, char **argv) {
  parsed p;
  memset(&p, 0, sizeof p);
  prism_run_options_defaults(&p.o);
  int rc = parse_args("check", argc, argv, &p);
  if (rc >= 0) return rc;
  prism_run_options *o = &p.o;
  if (!o->tokenizers_dir) {
    const char *env = getenv("PRISM_REFERENCE_TOKENIZER_DIR");
    if (env && *env) o->tokenizers_dir = env;
  }
  o->threads = resolve_threads(p.threads);
  prism_run_outcome out;
  int code = prism_run_check(o, &out);
  for (int i = 0; i < out.n_warnings; i++) fprintf(stderr, "prism: warning: %s\n", out.warnings[i]);
  for (int i = 0; i < out.n_violations; i++) print_failure(&out.violations[i]);
  if (p.json) {
    prism_json *s = prism_json_object();
    prism_json_set(s, "bundle", prism_json_string(out.bundle_name));
    prism_json_set(s, "status", prism_json_string(code == 0 ? "ok" : code == 3 ? "rejected" : "error"));
    prism_json_set(s, "exit_code", prism_json_int(code));
    prism_json_set(s, "model_params", out.static_params >= 0 ? prism_json_int(out.static_params) : prism_json_null());
    prism_json_set(s, "max_params", prism_json_int(o->max_params));
    prism_json *v = prism_json_array();
    for (int i = 0; i < out.n_violations; i++) prism_json_append(v, failure_json(&out.violations[i]));
    prism_json_set(s, "violations", v);
    prism_json *w = prism_json_array();
    for (int i = 0; i < out.n_warnings; i++) prism_json_append(w, prism_json_string(out.warnings[i]));
    prism_json_set(s, "warnings", w);
    emit_json(s);
  } else if (code == 0 && !o->quiet) {
    prism_json *pa = prism_json_int(out.static_params), *pb = prism_json_int(o->max_params);
    char ga[40], gb[40];
    printf("prism check: %s: ok: build_model(ctx) has %s parameters (cap %s)\n", out.bundle_name,
           grouped(pa, ga, sizeof ga), grouped(pb, gb, sizeof gb));
    prism_json_free(pa);
    prism_json_free(pb);
  } else if (!o->quiet) {
    printf("prism check: %s: %s: %d violation%s\n", out.bundle_name, code == 3 ? "rejected" : "error",
           out.n_violations, out.n_violations == 1 ? "" : "s");
  }
  prism_run_outcome_free(&out);
  return code;
}

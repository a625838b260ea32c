/* run.h — one evaluation, parent side (DESIGN "data flow of prism run"): intake → gate child
 * (syntax of every .lua file, forced-seed build_model, parameter count) → run child (train(ctx)
 * under the watchdog) → held-out child → score → manifest. The parent never runs miner code or
 * tensor ops itself; it forks jailed children (jail.h), builds its verdict from their report
 * records only (report.h), and always leaves a manifest, failures included. `prism check` is the
 * first two stages. The CLI (cmd_run.c) parses options into prism_run_options and prints the
 * outcome; everything here is callable without it. */
#ifndef PRISM_RUN_H
#define PRISM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "failure.h"
#include "json.h"
#include "report.h"

typedef struct prism_run_options {
  const char *bundle_path;
  const char *data_dir;       /* train data (required by prism_run_evaluate) */
  const char *val_dir;        /* NULL = no held-out */
  const char *out_dir;        /* NULL = ./prism-out/<bundle name> */
  const char *tokenizers_dir; /* NULL = none staged */
  const char *submission_id;  /* manifest submission_id; NULL = the bundle name */
  const char *miner;          /* manifest miner (leaderboard identity); NULL = omitted */
  const char *accepted_at;    /* manifest accepted_at (ISO-8601 UTC); NULL = omitted */
  const char *device;         /* "cpu" */
  int nproc;                  /* 1 */
  int64_t seed;               /* 1337 */
  int64_t vocab_size;         /* 4096 */
  int64_t seq_len;            /* 128 */
  int64_t max_params;         /* 150,000,000 */
  int64_t max_layers;         /* 96 (informational, like the reference) */
  int64_t token_budget;       /* -1 = none */
  int64_t step_budget;        /* -1 = none */
  double time_budget;         /* 1200 s graceful; <= 0 = none (and no watchdog) */
  double grace;               /* 120 s: the watchdog kills at time_budget + grace */
  double static_timeout;      /* 30 s bound of the gate child */
  double heldout_timeout;     /* 600 s bound of the held-out child */
  int64_t artifacts_quota;    /* 2 GiB */
  int64_t heldout_bytes;      /* 65536; <= 0 = the whole split */
  int threads;                /* kernel threads in the children; 0 = the process default */
  bool quiet;                 /* children's stdout/stderr silenced, no progress line */
  bool progress;              /* live progress line on stderr (a terminal) */
} prism_run_options;

void prism_run_options_defaults(prism_run_options *o);

typedef struct prism_run_outcome {
  int exit_code;                 /* SPEC §1: 0 scored, 1 failed, 3 rejected, 4 internal */
  const char *stage;             /* "intake" | "gate" | "run" | "score" | "done" */
  prism_failure failure;         /* the verdict's failure ("" rule_id when scored) */
  prism_failure *violations;     /* every gate violation, in report order (check prints all) */
  int n_violations;
  char **warnings;               /* intake warnings (unknown prism.yaml keys, ...) */
  int n_warnings;
  char bundle_name[256];
  int64_t static_params;         /* forced-seed parameter count from the gate; -1 unknown */
  prism_run_record record;       /* everything the run and held-out children reported */
  bool heldout_ran;              /* the held-out child produced numbers that were merged */
  char heldout_skip[256];        /* why the held-out did not contribute ("" = it did or no --val) */
  prism_json *manifest;          /* the manifest as written (NULL for check) */
  char out_dir[4096];
  char manifest_path[4096];
  bool manifest_written;
  double wall_seconds;
} prism_run_outcome;

/* The whole evaluation. Always returns the exit code (also in out->exit_code); on every path that
 * got past option validation a manifest is written to OUT/prism_run_manifest.v2.json. */
int prism_run_evaluate(const prism_run_options *o, prism_run_outcome *out);
/* Intake + gate child only (`prism check`): every violation in out->violations, the parameter
 * count in out->static_params. Exit code 0 clean, 3 rejected, 4 internal. */
int prism_run_check(const prism_run_options *o, prism_run_outcome *out);
void prism_run_outcome_free(prism_run_outcome *out);

/* Exit code for a failure rule id: prism:internal → 4; intake and static-gate rules → 3;
 * everything else (run time) → 1. */
int prism_run_exit_code_for(const prism_failure *f, bool at_gate);

/* The command lines (cmd_run.c): argv are the arguments after the command name. */
int prism_cmd_run(int argc, char **argv);
int prism_cmd_check(int argc, char **argv);

#endif

/* child.h — the three jobs that run inside jailed child processes (DESIGN: data flow of `prism run`).
 *
 * The parent (runtime/run.c) forks, applies the jail, and calls one of these; each loads the
 * bundle's Lua into fresh restricted states (sandbox/), writes report records (report.h) to
 * report_fd, and returns the process exit status. They never write the manifest and never print
 * anything the parent relies on. */
#ifndef PRISM_CHILD_H
#define PRISM_CHILD_H

#include <stdint.h>

#include "bundle.h"

typedef struct prism_eval_config {
  const prism_bundle *bundle;
  const char *data_dir;        /* train split (the instrument's only source) */
  const char *val_dir;         /* NULL = no held-out; opened only by prism_child_heldout */
  const char *artifacts_dir;   /* OUT dir: ctx:save target, trained_state.safetensors */
  const char *tokenizers_dir;  /* staged reference tokenizers, may be NULL */
  const char *heldout_tokenizer; /* the run's runtime tokenizer basis for the held-out ("gpt2" |
                                    "llama"); NULL or "bytes" = bytes (SPEC §6) */
  const char *device;          /* "cpu" */
  int64_t seed;                /* forced seed (1337) */
  int64_t vocab_size;          /* 4096 */
  int64_t seq_len;             /* ctx.max_seq_len, 128 */
  int64_t max_params;          /* 150,000,000 */
  int64_t max_layers;          /* 96, informational */
  int64_t token_budget;        /* -1 = none */
  int64_t step_budget;         /* -1 = none */
  double time_budget;          /* graceful, seconds; <= 0 = none */
  double grace;                /* watchdog grace, seconds (parent-side) */
  int64_t artifacts_quota;     /* bytes */
  int64_t heldout_bytes;       /* 65536 */
  int threads;
  int world_size, rank;        /* 1, 0 for now */
  double lua_deadline;         /* CLOCK_MONOTONIC seconds at which the count hook stops submission
                                  Lua (sandbox/hook.c); <= 0 = none. Set per child by run.c */
  const char *lua_deadline_limit; /* the limit that deadline enforces, as the error names it */
} prism_eval_config;

/* Forced-seed build_model(ctx): reports `params N` or `fail` (prism:build-model-return-type,
 * -instantiation, -resource, prism:param-cap, prism:syntax, prism:contract). */
int prism_child_static(const prism_eval_config *cfg, int report_fd);
/* The scored run: train(ctx) with the instrument; then saves trained_state.safetensors. Reports
 * capture/batch/params/summary/done, or fail. */
int prism_child_run(const prism_eval_config *cfg, int report_fd);
/* Held-out: random-init twin vs trained weights on the val prefix (and the train prefix).
 * Reports heldout or heldout-skip. */
int prism_child_heldout(const prism_eval_config *cfg, int report_fd);

#endif

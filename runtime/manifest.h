/* manifest.h — builds and writes `prism_run_manifest.v2.json` (SPEC §8; reference §1.13, §1.16,
 * §3.5) from what the children reported (prism_run_record) and what the parent knows about the
 * launch (prism_manifest_info). The score block comes from the one scoring routine (score.h), so
 * `prism score` on the written file reproduces it exactly. Every outcome gets a manifest: a failed
 * run carries `failure {rule_id, message, file, line}` and `score.final_score: null`. */
#ifndef PRISM_MANIFEST_H
#define PRISM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "failure.h"
#include "json.h"
#include "report.h"

#define PRISM_MANIFEST_NAME "prism_run_manifest.v2.json"
#define PRISM_MANIFEST_SCHEMA "prism_run_manifest.v2"

typedef struct prism_manifest_info {
  const char *submission_id;   /* NULL -> "container" (the reference's default) */
  const char *mode;            /* NULL -> "gpu_proxy_eval" (the reference's default execution mode) */
  const char *miner;           /* leaderboard identity (hotkey); NULL = key omitted */
  const char *accepted_at;     /* ISO-8601 UTC acceptance time for leaderboard ties; NULL = omitted */
  int64_t seed;
  int world_size, rank, local_rank;
  const char *device;          /* "cpu" | "cuda:0"; NULL -> "cpu" */
  const char *data_dir;
  const char *data_source;     /* NULL -> "locked-fineweb-edu-train" (reference constant) */
  int64_t vocab_size;          /* ctx.vocab_size: step-0 threshold 0.5·ln(max(V, 2)) */
  int64_t max_gpu_count;       /* 0 = omitted */
  const char *trained_state;   /* artifact file name; recorded only when rec->trained_state_saved */
  const prism_failure *failure; /* parent-side failure (watchdog, quota, ...); NULL or "" rule = none;
                                   otherwise rec->failure is used */
  const char *runtime_version; /* NULL -> PRISM_VERSION */
  const char *luajit_version;  /* NULL -> LUAJIT_VERSION of the linked headers */
  const char *git_revision;    /* NULL -> null */
  const char *backend;         /* NULL -> "cpu" */
} prism_manifest_info;

/* The full manifest. Held-out results in rec (have_heldout) are merged (score.h) unless the run
 * failed. When the stream cannot be scored and no failure was reported, the run failed:
 * prism:zero-forward when nothing was consumed or covered, else prism:score-invalid, with the
 * scorer's reasons as the message. NULL only on out-of-memory. */
prism_json *prism_manifest_build(const prism_run_record *rec, const prism_manifest_info *info);

/* The manifest's failure rule id, or NULL when it scored. */
const char *prism_manifest_failure_rule(const prism_json *manifest);

/* Deletes every `prism_run_manifest*.json` entry in out_dir (the entry itself, never a symlink's
 * target), then writes out_dir/prism_run_manifest.v2.json atomically, keys sorted, indent 2. */
int prism_manifest_write(const char *out_dir, const prism_json *manifest, char *err, size_t errcap);

#endif

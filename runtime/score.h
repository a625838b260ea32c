/* score.h — the one scoring routine (SPEC §7; reference §2, §3.5), used by `prism run` through
 * the manifest builder, by the held-out merge, and by `prism score` / `prism leaderboard`. It
 * reads only the manifest's JSON, never anything a miner printed, so a validator can recompute a
 * peer's score from the manifest alone and get the same bits. */
#ifndef PRISM_SCORE_H
#define PRISM_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Reference constants (scoring.py:16-34, 202). */
#define PRISM_BPB_SANE_MAX 64.0
#define PRISM_HELDOUT_TIE_BREAK_WEIGHT 1e-3
#define PRISM_HELDOUT_DELTA_BPB_EPSILON 5e-3
#define PRISM_MEMORIZATION_GAP_THRESHOLD_BPB 1.0
#define PRISM_MEMORIZATION_PENALTY_FACTOR 0.5
#define PRISM_LEADERBOARD_TIE_EPSILON 1e-9

/* bits = nats × (1/ln 2): the scorer's multiplication form, the only one used anywhere. */
double prism_score_bits(double nats);
/* base(x) = 1 / (1 + max(0, x)) */
double prism_score_base(double bpb);
/* min(1e-3·w, 0.5·w·max(0, base(bpb) − base(bpb+0.005)))·tanh(delta), w = max(0, penalty) */
double prism_score_tie_break(double bpb, double delta, double penalty);
/* Python truthiness of a JSON value (null/false/0/""/[]/{} are false; absent = NULL is false). */
bool prism_json_truthy(const prism_json *v);

/* Scores a manifest (reference §2.2–2.4). On success returns 0 and a new score block
 * (prism_score.v2 with flags, tie_breaker, memorization fields and the held-out echo). When the
 * manifest cannot be scored returns -1, *score_block = NULL, and err holds every reason joined by
 * "; " (e.g. "prequential scoring requires covered_bytes > 0"). A manifest carrying a `failure`
 * block is never scored: the run failed. */
int prism_score_manifest(const prism_json *manifest, prism_json **score_block, char *err, size_t errcap);

/* The score block of a run that has no score: the runner's block (reference §1.13) with
 * final_score null, bits/bpb recomputed from metrics the same way (null when not finite or when
 * nothing was covered). Deterministic from the manifest, so `prism score` can verify it too. */
prism_json *prism_score_unscored_block(const prism_json *manifest);

/* What `prism run` stores and `prism score` verifies: 0 = scored (block from
 * prism_score_manifest), 1 = not scorable (block from prism_score_unscored_block, err says why),
 * -1 = out of memory. */
int prism_score_recompute(const prism_json *manifest, prism_json **block, char *err, size_t errcap);

/* Held-out merge (reference §3.5; SPEC §6 basis): adds val_bpb_trained, val_bpb_random_init,
 * heldout_delta / held_out_delta, memorization_flag, val_bpb_basis, val_covered_bytes and the gap
 * fields to metrics and anti_cheat, then re-scores and replaces manifest.score when it scores.
 * train_converged: NAN = absent. val_basis: "bytes" | "gpt2" | "llama" (NULL = "bytes"). The
 * prequential gap is used only when the run's train_bpb_basis is absent or equals val_basis.
 * Returns 0, or -1 (manifest untouched) when either val bpb is not a finite number > 0. */
int prism_score_merge_heldout(prism_json *manifest, double val_random, double val_trained, int64_t val_covered,
                              double train_converged, const char *val_basis);

/* ---- leaderboard (reference §2.6, SPEC §7.5) ---- */
typedef struct prism_lb_entry {
  const char *miner;         /* hotkey; entries of one miner compete for one slot */
  const char *submission_id;
  const char *accepted_at;   /* ISO-8601 UTC, compared as a string like the reference */
  double final_score;
  double weight;             /* out: normalized weight of the miner's best entry, else 0 */
  bool best;                 /* out: this entry is its miner's best */
  void *user;                /* caller data, carried along */
} prism_lb_entry;

/* round-half-up bucket floor(score / 1e-9 + 0.5); 0 for non-finite scores. */
double prism_leaderboard_bucket(double final_score);
/* Ascending key (−bucket, accepted_at, submission_id), then miner for a total order. */
int prism_leaderboard_compare(const prism_lb_entry *a, const prism_lb_entry *b);
/* Sorts entries so that each miner's best entry comes first, in key order: entries[0..k) are the
 * ranked best-per-miner rows, the rest follow in key order with best = false and weight 0.
 * Weights = max(0, final_score) / Σ over the k best; when that sum is 0 (every best entry scored
 * 0, e.g. all step-0 anomalies) every weight is 0: nothing is earned. Returns k. */
size_t prism_leaderboard_rank(prism_lb_entry *entries, size_t n);

/* ---- CLI (runtime/cmd_score.c), dispatched from main.c ---- */
/* `prism score MANIFEST [--json]`: 0 the stored block matches the recomputation exactly, 1 it
 * differs (the differing keys are printed), 2 usage, 3 unreadable or invalid manifest. */
int prism_cmd_score(int argc, char **argv);
/* Both commands' manifest reader over bytes in memory (tests, the libFuzzer target): the strict
 * JSON parser and the envelope check they apply after reading a file (at most 256 MiB, an object
 * whose schema_version is "prism_run_manifest.v2"). NULL + why ("LABEL: ...") otherwise. */
prism_json *prism_score_parse_manifest(const char *label, const char *text, size_t len, char *why, size_t cap);
/* `prism leaderboard MANIFEST...|DIR... [--json]`: 0 printed, 2 usage, 3 nothing readable. */
int prism_cmd_leaderboard(int argc, char **argv);

#endif

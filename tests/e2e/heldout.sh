#!/usr/bin/env bash
# tests/e2e/heldout.sh — the held-out pass through the binary: a memorizer (trained on a narrow,
# repetitive train split, scored on unrelated val text) is flagged with the converged gap and
# penalized; a same-distribution learner is not; an input-independent model's held-out delta is
# 0 while the learner's is positive; without --val no held-out key appears and the score is
# exactly 1/(1 + bpb).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

ARGS=(--vocab-size 256 --seq-len 32 --heldout-bytes 4096 --time-budget 300 --grace 60)
M=prism_run_manifest.v2.json

# Same-distribution data, and a narrow train split (one sentence over and over) with real val text.
make_data "$TMP/data" 16000 6000
mkdir -p "$TMP/narrow/train" "$TMP/narrow/val"
"$PRISM" exec "$LIB/mkdata.lua" "$TMP/narrow/train/train-00000.jsonl" "lit:the cat sat on the mat. " 0 16000 500 t
cp "$TMP/data/val/val-00000.jsonl" "$TMP/narrow/val/"

run_prism learner run "$BUNDLES/e2e-learner" "${ARGS[@]}" --data "$TMP/data" --val "$TMP/data" --out "$TMP/learner"
expect_rc learner 0 "a learner on same-distribution data"
expect_json "the learner is not flagged" "$TMP/learner/$M" -- \
  'm.metrics.heldout_delta > 0 and m.metrics.memorization_flag == false' \
  'm.metrics.gap_basis == "converged" and finite(m.metrics.train_bpb_converged)' \
  'm.metrics.train_heldout_gap < 1 and m.score.memorization_penalty == 1'

run_prism memo run "$BUNDLES/e2e-learner" "${ARGS[@]}" --data "$TMP/narrow" --val "$TMP/narrow" --out "$TMP/memo"
expect_rc memo 0 "a memorizer is scored"
expect_json "the memorizer is flagged and penalized" "$TMP/memo/$M" -- \
  'm.metrics.gap_basis == "converged" and m.metrics.train_bpb_converged < m.metrics.val_bpb_trained' \
  'm.metrics.train_heldout_gap > 1 and m.metrics.memorization_flag == true' \
  'm.anti_cheat.memorization_flag == true and m.score.memorization_flag == true' \
  'm.score.memorization_penalty == 0.5' \
  'm.score.flags[len(m.score.flags)] == "memorization_gap"' \
  'm.score.final_score < 0.6 / (1 + m.score.prequential_bpb)'

run_prism const run "$BUNDLES/e2e-const" "${ARGS[@]}" --data "$TMP/data" --val "$TMP/data" --out "$TMP/const"
expect_rc const 0 "an input-independent model is scored"
expect_json "input-independent: held-out delta 0, the learner's larger" "$TMP/const/$M" "$TMP/learner/$M" -- \
  'math.abs(m.metrics.heldout_delta) < 1e-6 and m2.metrics.heldout_delta > m.metrics.heldout_delta + 0.1' \
  'm.metrics.val_bpb_trained == m.metrics.val_bpb_random_init'

run_prism noval run "$BUNDLES/e2e-learner" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/noval"
expect_rc noval 0 "a run without --val"
expect_json "no held-out keys without --val; final score is exactly 1/(1 + bpb)" "$TMP/noval/$M" -- \
  'm.metrics.heldout_delta == nil and m.metrics.val_bpb_trained == nil and m.score.heldout_delta == nil' \
  'm.score.final_score == 1 / (1 + m.score.prequential_bpb) and m.score.memorization_penalty == 1'

finish

#!/usr/bin/env bash
# tests/e2e/readme.sh — the README's main command, `prism run examples/tiny-1m`, on the bundled
# sample dataset: it announces the sample, exits 0, and its manifest has every key with a finite
# bpb, falling online losses, a positive held-out delta, and a score block that `prism score`
# reproduces bit for bit; a second run on two kernel threads instead of one gives the identical
# stream and score.
# A full pass over the sample takes minutes on two cores, so the suite bounds it with
# --token-budget and --heldout-bytes (the first 16 Ki tokens of the same stream, 8 KiB of
# held-out text); PRISM_E2E_FULL=1 runs the command exactly as the README gives it.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

# The example trains on the GPT-2 basis, as the reference example does: without the staged
# reference tokenizer it cannot run (scripts/setup and scripts/test stage it).
if ! "$PRISM" tokenizers verify >/dev/null 2>&1; then
  echo "skipped: the README example needs the staged reference tokenizers (scripts/stage-tokenizers build/reference-tokenizers)"
  finish
fi

M=prism_run_manifest.v2.json
if [ "${PRISM_E2E_FULL:-0}" = 1 ]; then
  BUDGET=()
  STOPPED=data_exhausted
else
  BUDGET=(--token-budget 16384 --heldout-bytes 8192)
  STOPPED=token_budget
fi

run_prism tiny run examples/tiny-1m "${BUDGET[@]}" --out "$TMP/tiny"
expect_rc tiny 0 "prism run examples/tiny-1m ${BUDGET[*]}"
expect_stderr tiny "^prism: no --data given: using the bundled sample dataset at .*examples/data/sample" \
  "the bundled sample dataset is announced"
expect_json "the example's manifest" "$TMP/tiny/$M" -- \
  'm.schema_version == "prism_run_manifest.v2" and m.submission_id == "tiny-1m" and m.failure == nil' \
  'type(m.run) == "table" and type(m.compute) == "table" and type(m.data) == "table"' \
  'type(m.metrics) == "table" and type(m.score) == "table" and type(m.anti_cheat) == "table"' \
  'type(m.artifacts) == "table" and m.miner_reported_ignored == true and type(m.runtime) == "table"' \
  'type(m.mode) == "string" and m.run_id == "prism-reexec-tiny-1m"' \
  "m.run.stopped_reason == \"$STOPPED\"" \
  'm.metrics.model_params == 1049216 and m.compute.model_params == 1049216' \
  'finite(m.score.prequential_bpb) and m.score.prequential_bpb > 0 and m.score.final_score > 0' \
  'm.metrics.random_init_baseline_nats == math.log(4096) and m.anti_cheat.step0_anomaly == false' \
  'len(m.metrics.online_loss) >= 31 and all(m.metrics.online_loss, finite)' \
  'm.metrics.online_loss[len(m.metrics.online_loss)] < m.metrics.online_loss[1] - 2' \
  'm.metrics.online_loss[len(m.metrics.online_loss) - 1] < m.metrics.online_loss[2] - 1.5' \
  'm.metrics.train_bpb_basis == "gpt2" and m.metrics.val_bpb_basis == "gpt2"' \
  'm.metrics.heldout_delta > 0 and m.score.heldout_delta == m.metrics.heldout_delta' \
  'm.artifacts.trained_state == "trained_state.safetensors"'
check "trained weights saved (1,049,216 float32 values)" test "$(stat -c %s "$TMP/tiny/trained_state.safetensors")" -gt 4196864
check "the summary prints bpb, score, batches and the manifest path" \
  grep -q "prequential bpb" "$TMP/tiny.out"
run_prism rescore score "$TMP/tiny/$M"
expect_rc rescore 0 "prism score reproduces the example's score block exactly"

run_prism tiny2 --threads 2 run examples/tiny-1m "${BUDGET[@]}" --out "$TMP/tiny2" --quiet
expect_rc tiny2 0 "a second run of the example"
expect_json "two runs: identical online_loss, bpb, final score" "$TMP/tiny/$M" "$TMP/tiny2/$M" -- \
  'same(m.metrics.online_loss, m2.metrics.online_loss)' \
  'm.score.prequential_bpb == m2.score.prequential_bpb and m.score.final_score == m2.score.final_score' \
  'same(m.score, m2.score)'
check "--quiet prints nothing on stdout" test ! -s "$TMP/tiny2.out"

finish

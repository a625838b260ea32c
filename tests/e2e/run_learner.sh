#!/usr/bin/env bash
# tests/e2e/run_learner.sh — `prism run` on an honest learner, end to end through the binary:
# exit 0, a manifest with every reference key and sane values (finite bpb, falling online loss,
# held-out delta > 0), bitwise-identical results across two runs, the --json summary agreeing
# with the manifest, `prism score` reproducing the score, stale and planted files in OUT replaced,
# a no-op loop scoring worse than the learner with a held-out delta of 0, and the token, step and
# graceful time budgets with their stopped reasons.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

make_data "$TMP/data" 24000 6000
ARGS=(--data "$TMP/data" --val "$TMP/data" --vocab-size 256 --seq-len 32 --heldout-bytes 4096 --time-budget 300 --grace 60)

# ---- the learner, with stale and planted files in its OUT ----
out1=$TMP/out1
mkdir -p "$out1"
echo '{"schema_version": "prism_run_manifest.v2", "score": {"final_score": 1.0}}' >"$out1/prism_run_manifest.v2.json"
echo '{"stale": true}' >"$out1/prism_run_manifest.attempt-0.json"
echo 'not a safetensors file' >"$out1/trained_state.safetensors"
run_prism learner1 run "$BUNDLES/e2e-learner" "${ARGS[@]}" --out "$out1"
expect_rc learner1 0 "the learner is scored"
M1=$out1/prism_run_manifest.v2.json
expect_json "the manifest has every reference key" "$M1" -- \
  'm.schema_version == "prism_run_manifest.v2"' 'm.submission_id == "e2e-learner"' \
  'm.run_id == "prism-reexec-e2e-learner"' 'type(m.mode) == "string"' 'm.miner_reported_ignored == true' \
  'm.run.seed == 1337 and m.run.forced_init == true and m.run.deterministic_algorithms == true' \
  'm.run.world_size == 1 and m.run.rank == 0 and m.run.local_rank == 0 and m.run.device == "cpu"' \
  'm.run.nproc_per_node == 1 and type(m.run.master_addr) == "string"' \
  'm.compute.schema == "prism_compute.v1" and m.compute.gpu_count == 0 and m.compute.world_size == 1' \
  'm.compute.model_params == 16640 and m.compute.estimated_flops == 6 * 16640 * m.metrics.predicted_tokens' \
  'm.compute.peak_rss_bytes > 0 and m.compute.wall_clock_seconds >= 0 and m.compute.peak_vram_bytes == nil' \
  'm.data.random_token_fallback == false and m.data.single_pass == true and m.data.shard_count == 1' \
  'm.data.source == "locked-fineweb-edu-train" and m.data.available_bytes > 0' \
  'm.data.consumed_documents > 0 and m.data.distinct_offsets == m.data.consumed_offsets' \
  'len(m.data.covered_bytes_cumulative) == m.data.consumed_batches' \
  'm.metrics.consumed_batches == len(m.metrics.online_loss) and m.metrics.consumed_batches >= 2' \
  'm.metrics.covered_bytes == m.data.covered_bytes and m.metrics.total_bytes_covered == m.metrics.covered_bytes' \
  'm.metrics.tokens_seen == m.metrics.predicted_tokens and m.metrics.predicted_tokens > 0' \
  'm.metrics.cumulative_codelength_bits == m.metrics.sum_neg_log2_likelihood_bits' \
  'm.metrics.random_init_baseline_nats == math.log(256) and m.metrics.step0_loss == m.metrics.online_loss[1]' \
  'm.metrics.train_bpb_basis == "bytes" and m.metrics.model_params == 16640 and m.metrics.nan_inf_batches == 0' \
  'm.anti_cheat.step0_anomaly == false and m.anti_cheat.nan_inf_detected == false' \
  'm.anti_cheat.no_learning == false and m.anti_cheat.zero_forward == false' \
  'm.anti_cheat.step0_anomaly_threshold_nats == 0.5 * math.log(256)' \
  'm.artifacts.trained_state == "trained_state.safetensors"' \
  'm.score.schema == "prism_score.v2" and m.score.primary_metric == "prequential_bpb"' \
  'm.score.lower_is_better == true and m.score.compute_normalization == "tokens_bytes"' \
  'm.score.wall_clock_term == false and m.score.anti_cheat_multiplier == 1 and m.score.anomaly == false' \
  'm.score.tie_breaker == "heldout_delta" and m.score.memorization_penalty == 1' \
  'm.runtime.name == "prism" and type(m.runtime.version) == "string" and m.runtime.backend == "cpu"' \
  'type(m.runtime.git_revision) == "string" and (m.runtime.git_revision:match("^%x%x%x%x%x%x%x+") ~= nil or m.runtime.git_revision == "unknown")' \
  'm.failure == nil'
expect_json "the learner's numbers are sane" "$M1" -- \
  'finite(m.score.prequential_bpb) and m.score.prequential_bpb > 0' \
  'm.score.prequential_bpb == m.metrics.prequential_bpb and m.score.bits_per_byte == m.score.prequential_bpb' \
  'm.score.final_score > 1 / (1 + m.score.prequential_bpb) - 1e-3' \
  'all(m.metrics.online_loss, finite)' \
  'm.metrics.online_loss[1] > 0.5 * math.log(256) and m.metrics.online_loss[1] < 2.5 * math.log(256)' \
  '(m.metrics.online_loss[len(m.metrics.online_loss) - 1] + m.metrics.online_loss[len(m.metrics.online_loss) - 2]) / 2 < m.metrics.online_loss[1] - 1' \
  'm.run.stopped_reason == "data_exhausted" and m.data.stopped_reason == "data_exhausted"' \
  'm.metrics.covered_bytes > 20000' \
  'm.metrics.heldout_delta > 0 and m.metrics.held_out_delta == m.metrics.heldout_delta' \
  'm.metrics.val_bpb_trained < m.metrics.val_bpb_random_init and m.metrics.val_bpb_basis == "bytes"' \
  'm.metrics.val_covered_bytes > 0 and m.metrics.memorization_flag == false' \
  'm.score.heldout_delta == m.metrics.heldout_delta and len(m.score.flags) == 0'
check "only one prism_run_manifest*.json in OUT" test "$(ls "$out1" | grep -c '^prism_run_manifest')" -eq 1
check "the planted trained_state was replaced" test "$(stat -c %s "$out1/trained_state.safetensors")" -gt 60000
check "the summary names the manifest" grep -q "prism_run_manifest.v2.json" "$TMP/learner1.out"
check "the summary shows the final score" grep -Eq "final score +0\.[0-9]+" "$TMP/learner1.out"

# ---- determinism: a second run (other thread count) gives the same stream and score ----
run_prism learner2 --threads 2 run "$BUNDLES/e2e-learner" "${ARGS[@]}" --out "$TMP/out2" --json
expect_rc learner2 0 "a second run of the learner"
M2=$TMP/out2/prism_run_manifest.v2.json
expect_json "two runs: identical online_loss, bpb, final score, held-out" "$M1" "$M2" -- \
  'same(m.metrics.online_loss, m2.metrics.online_loss)' \
  'm.score.prequential_bpb == m2.score.prequential_bpb and m.score.final_score == m2.score.final_score' \
  'm.metrics.val_bpb_trained == m2.metrics.val_bpb_trained and same(m.score, m2.score)' \
  'same(m.data.covered_bytes_cumulative, m2.data.covered_bytes_cumulative)'
expect_json "--json summary agrees with the manifest" "$TMP/learner2.out" "$M2" -- \
  'm.status == "scored" and m.exit_code == 0 and m.bundle == "e2e-learner"' \
  'm.final_score == m2.score.final_score and m.prequential_bpb == m2.score.prequential_bpb' \
  'm.consumed_batches == m2.metrics.consumed_batches and m.stopped_reason == "data_exhausted"' \
  'm.failure == null and type(m.manifest) == "string"'

# ---- prism score reproduces the score block exactly ----
run_prism rescore score "$M1"
expect_rc rescore 0 "prism score verifies the learner's manifest"

# ---- a no-op loop: worse than the learner, held-out delta exactly 0 ----
run_prism noop run "$BUNDLES/e2e-noop" "${ARGS[@]}" --out "$TMP/noop"
expect_rc noop 0 "the no-op loop is scored"
expect_json "the learner beats the no-op loop; no-op delta is 0" "$M1" "$TMP/noop/prism_run_manifest.v2.json" -- \
  'm.score.prequential_bpb < m2.score.prequential_bpb' \
  'm2.score.prequential_bpb > 0.5 * math.log(256) / math.log(2) and m2.score.prequential_bpb < 2.5 * math.log(256) / math.log(2)' \
  'math.abs(m2.metrics.heldout_delta) < 1e-9 and m.metrics.heldout_delta > m2.metrics.heldout_delta' \
  'm.score.final_score > m2.score.final_score'

# ---- budgets ----
run_prism tokens run "$BUNDLES/e2e-learner" "${ARGS[@]}" --out "$TMP/tokens" --token-budget 400
expect_rc tokens 0 "token budget"
expect_json "token budget: 3 batches of 128 tokens, stopped_reason token_budget" "$TMP/tokens/prism_run_manifest.v2.json" -- \
  'm.run.stopped_reason == "token_budget" and m.data.stopped_reason == "token_budget"' \
  'm.metrics.consumed_batches == 3 and m.score.final_score ~= null'
run_prism steps run "$BUNDLES/e2e-learner" "${ARGS[@]}" --out "$TMP/steps" --step-budget 3
expect_rc steps 0 "step budget"
expect_json "step budget: exactly 3 batches, stopped_reason step_budget" "$TMP/steps/prism_run_manifest.v2.json" -- \
  'm.run.stopped_reason == "step_budget" and m.metrics.consumed_batches == 3'
run_prism slow run "$BUNDLES/e2e-slow" --data "$TMP/data" --vocab-size 256 --seq-len 32 --out "$TMP/slow" \
  --time-budget 0.4 --grace 60
expect_rc slow 0 "a graceful time budget ends a slow loop inside the instrument"
expect_json "time budget: stopped_reason wall_clock, still scored" "$TMP/slow/prism_run_manifest.v2.json" -- \
  'm.run.stopped_reason == "wall_clock" and len(m.metrics.online_loss) >= 1' \
  'all(m.metrics.online_loss, finite) and m.score.final_score ~= null and m.anti_cheat.no_learning == false' \
  'm.metrics.consumed_batches < 100'

finish
